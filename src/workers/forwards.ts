/**
 * The two forwards a run can take. Traced: the model's streaming driver, each chunk posted as
 * soon as it is read back, then `done`. Untraced: the batch driver, predictions only, read back
 * once (baselines and the bench). Both resolve to the logits of the predicted position (the
 * last, or a masked LM's first `[MASK]`), which the next generation step chooses its token from.
 */
import * as tf from '@tensorflow/tfjs-core';
import { stacksOf } from '../model/config';
import {
  decoderLogits,
  encoderDecoderLogits,
  ForwardError,
  runForward,
  type ForwardOptions,
  type KeptInputs,
  type KVCache,
  type LayerRef,
  type Model,
} from '../model/model';
import { stackParams } from '../model/parts';
import type { TraceChunk } from '../model/trace';
import { EngineError } from './engineErrors';
import { mainStack, type Prepared } from './inputs';
import type { Continuation, Interventions, LogitRows, Prediction, Response } from './protocol';

export type Post = (message: Response, transfer: Transferable[]) => void;

/** What a forward needs from the engine. */
export interface ForwardContext {
  model: Model;
  piece: (id: number) => string;
  post: Post;
  /** True once this request's output is no longer wanted (a newer run, a cancel). */
  stopped: () => boolean;
  /** Let the messages that arrived meanwhile be handled, so `stopped` can change. */
  yieldToMessages: () => Promise<void>;
  /** Pad to length buckets (WebGL reuses compiled shaders; see `bucketLength`). */
  padToBuckets: boolean;
}

/** A run's forward, whether from `run` or `generate`. */
export interface ForwardJob {
  id: number;
  input: Prepared;
  interventions: Interventions;
  captureQKV: boolean;
  topK: number;
  logits: LogitRows;
  cache?: KVCache;
  /** Position of the first token computed (cached tokens come before it). */
  queryStart: number;
  startedAt: number;
  /** What `done` says of the sequence `generate` would continue, given the token it appends. */
  continuation?: (nextId: number) => Continuation;
  /**
   * A long input: summaries for every layer but `detail` (unless only new rows are computed),
   * block inputs kept in `keep` (a cached step appends to those of the forward before it).
   */
  long?: { detail?: LayerRef; keep: KeptInputs };
}

/**
 * A traced forward lets pending messages in (`yieldToMessages`) between chunks at most this often
 * (ms): a frame, since the page shows chunks at most once a frame (ui/store/frameBatch.ts). A
 * round trip per chunk cost a generation step on wasm about 1.3 ms of its ~60 in 14 chunks; a
 * newer run or a cancel still stops the forward within a frame and a layer.
 */
const YIELD_EVERY_MS = 16;

function now(): number {
  return performance.now();
}

/** The smallest bucket (16, 32, 64, …) holding `length` tokens, never beyond the context. */
export function bucketLength(length: number, contextLength: number): number {
  let bucket = 16;
  while (bucket < length) bucket *= 2;
  return Math.min(bucket, contextLength);
}

/**
 * Bytes of every layer's scores and probabilities in a full trace of `input`: what decides that
 * an input is long (the engine's `summaryAbove`).
 */
export function attentionBytes(model: Model, input: Prepared): number {
  const cfg = model.config;
  const source = input.sourceIds?.length ?? 0;
  let cells = 0;
  for (const stack of stacksOf(cfg)) {
    const t = stack === 'encoder' && source > 0 ? source : input.ids.length;
    const keys = stack === 'decoder' ? t + source : t;
    cells += stackParams(model, stack).blocks.length * cfg.nHeads * t * keys;
  }
  return cells * 2 * Float32Array.BYTES_PER_ELEMENT;
}

/**
 * What a chunk's message moves to the page instead of copying: the one buffer its read-back
 * matrices share (the one behind `hidden`). Arrays made on the host (masks, head gates) are
 * copied instead: the model hands the same mask object to every layer, and moving it with
 * layer 0 would leave layer 1 holding a detached array.
 */
export function transferablesOf(chunk: TraceChunk): ArrayBuffer[] {
  return [chunk.hidden.data.buffer as ArrayBuffer];
}

/**
 * Top-k of softmax(logits), computed in float64. Two indexed passes (select, then the
 * normaliser): this runs on every forward's 50k logits, and `for…of` over a Float32Array or a
 * separate pass for the maximum cost twice as long (docs/performance.md, page-side overhead).
 */
export function topK(logits: Float32Array, k: number, piece: (id: number) => string): Prediction[] {
  const n = logits.length;
  const keep = Math.max(1, k); // the first is the maximum the normaliser needs
  const best: number[] = [];
  for (let id = 0; id < n; id++) {
    const v = logits[id];
    if (best.length === keep && v <= logits[best[keep - 1]]) continue;
    let at = best.length === keep ? keep - 1 : best.length;
    best[at] = id;
    while (at > 0 && logits[best[at - 1]] < v) {
      best[at] = best[at - 1];
      best[--at] = id;
    }
  }
  const max = logits[best[0]];
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(logits[i] - max);
  return best
    .slice(0, k)
    .map((id) => ({ id, piece: piece(id), prob: Math.exp(logits[id] - max) / sum }));
}

/**
 * Predictions without a trace: the model's batch driver (no recording, one readback). It knows
 * no interventions, so it only runs the unmodified model.
 */
export async function bareForward(ctx: ForwardContext, job: ForwardJob): Promise<Float32Array> {
  const { interventions: i, input } = job;
  if (!i.causalMask || !i.usePositions || i.ablatedHeads.length > 0) {
    throw new EngineError('bad-input', 'a run without a trace cannot apply interventions');
  }
  const { model } = ctx;
  const cfg = model.config;
  const forwardStart = now();
  const at = input.maskPosition;
  const last = tf.tidy(() => {
    const shape: [number, number] = [1, input.ids.length];
    const ids = tf.tensor2d([input.ids], shape, 'int32');
    const types = input.tokenTypeIds && tf.tensor2d([input.tokenTypeIds], shape, 'int32');
    const logits = input.sourceIds
      ? encoderDecoderLogits(model, tf.tensor2d([input.sourceIds], undefined, 'int32'), ids, 'last')
      : at === undefined
        ? decoderLogits(model, ids, 'last', types)
        : tf.slice(decoderLogits(model, ids, 'all', types), [0, at, 0], [1, 1, -1]);
    return tf.reshape(logits, [cfg.vocabSize]);
  });
  const readStart = now();
  const values = (await last.data()) as Float32Array;
  last.dispose();
  const end = now();
  const predictions = topK(values, Math.max(1, job.topK), ctx.piece);
  ctx.post(
    {
      type: 'done',
      id: job.id,
      predictions: predictions.slice(0, job.topK),
      ...maskPositionOf(input),
      timings: {
        forwardMs: end - forwardStart,
        readbackMs: end - readStart,
        transferMs: 0,
        totalMs: end - job.startedAt,
      },
    },
    [],
  );
  return values;
}

/** The `done` message's flag for a masked LM's fill-in predictions. */
function maskPositionOf(input: Prepared): { maskPosition?: number } {
  return input.maskPosition === undefined ? {} : { maskPosition: input.maskPosition };
}

/** Run the forward, stream its chunks, post `done`; resolves to the predicted position's logits. */
export async function tracedForward(ctx: ForwardContext, job: ForwardJob): Promise<Float32Array> {
  const { model } = ctx;
  const cfg = model.config;
  const main = mainStack(cfg);
  const longest = Math.max(job.input.ids.length, job.input.sourceIds?.length ?? 0);
  // The protocol's `causalMask` is the model's own mask; for an encoder-only model, whose own
  // is none, `false` is the experiment of a causal one.
  const encoderOnly = cfg.architecture === 'encoder-only';
  const options: ForwardOptions = {
    causalMask: job.interventions.causalMask,
    ...(encoderOnly ? { causalEncoder: !job.interventions.causalMask } : {}),
    usePositions: job.interventions.usePositions,
    ablatedHeads: job.interventions.ablatedHeads,
    captureQKV: job.captureQKV,
    logits: job.logits,
    shouldStop: ctx.stopped,
    ...(job.cache ? { cache: job.cache } : {}),
    ...(ctx.padToBuckets && !job.cache ? { padTo: bucketLength(longest, cfg.contextLength) } : {}),
    // A cached step's new rows are small ([heads, 1, keys] a layer): they cross in full, and the
    // page folds them into the summaries it holds (analysis/attentionSummary.ts, foldRows).
    ...(job.long ? { keep: job.long.keep } : {}),
    ...(job.long && job.queryStart === 0 ? { summarise: { detail: job.long.detail } } : {}),
  };
  let postMs = 0;
  let inCallbackMs = 0;
  let readbackMs = 0;
  options.onReadback = (ms) => (readbackMs += ms);
  let predictions: Prediction[] = [];
  let predicted = null as Float32Array | null;
  const forwardStart = now();
  let yielded = forwardStart;
  await runForward(model, job.input, options, async (chunk) => {
    if (ctx.stopped()) {
      throw new ForwardError('cancelled', 'the forward was superseded or cancelled');
    }
    const t = now();
    // Read what `done` needs before the logits' buffer moves to the page.
    if (chunk.type === 'output' && chunk.stack === main && chunk.logits) {
      const [rows, vocab] = chunk.logits.shape;
      // The fill-in at the first [MASK] (the engine asks for every row then), else the last row.
      const row = job.input.maskPosition ?? rows - 1;
      const at = chunk.logits.data.subarray(row * vocab, (row + 1) * vocab);
      predictions = topK(at, Math.max(1, job.topK), ctx.piece);
      predicted = at.slice(); // a copy: the chunk's buffer moves to the page
    }
    const queryStart = chunk.stack === 'encoder' ? 0 : job.queryStart;
    ctx.post(
      {
        type: 'chunk',
        id: job.id,
        chunk,
        queryStart,
        sentAt: performance.timeOrigin + performance.now(),
      },
      transferablesOf(chunk),
    );
    postMs += now() - t;
    if (now() - yielded >= YIELD_EVERY_MS) {
      await ctx.yieldToMessages();
      yielded = now();
    }
    inCallbackMs += now() - t;
  });
  const end = now();
  if (!predicted) throw new EngineError('forward-failed', 'no logits came back');
  ctx.post(
    {
      type: 'done',
      id: job.id,
      predictions: predictions.slice(0, job.topK),
      ...maskPositionOf(job.input),
      ...(job.continuation ? { continuation: job.continuation(predictions[0].id) } : {}),
      timings: {
        forwardMs: end - forwardStart - inCallbackMs - readbackMs,
        readbackMs,
        transferMs: postMs,
        totalMs: end - job.startedAt,
      },
    },
    [],
  );
  return predicted;
}
