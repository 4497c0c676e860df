/**
 * The traced driver: one sequence through embeddings → blocks → final norm → logits, streamed
 * to the caller chunk by chunk (an `embedding` chunk, one `layer` chunk per block, an `output`
 * chunk, per stack) for the worker and the UI. What it records lives in `tracer.ts`, how chunks
 * are read back in `chunkStream.ts`, one block in `tracedBlock.ts`, and what a long input keeps
 * to trace a layer again in `retrace.ts`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ChunkStream } from './chunkStream';
import { stacksOf } from './config';
import { checkIds, checkTokenTypes, ForwardError } from './inputs';
import type { KeysValues, KVCache } from './kvCache';
import type { HeadRef, Model } from './model';
import { normalize } from './norm';
import { embed, logitsOf, stackParams } from './parts';
import { Recorder } from './recorder';
import { extendStack, keepStack, type KeptInputs } from './retrace';
import type { Matrix, Stack, Trace, TraceChunk } from './trace';
import { assembleTrace } from './trace';
import { disposeStackContext, stackContext, traceBlock, type LayerRef } from './tracedBlock';
import { leading, realTokens, TokenStats } from './tracer';

export interface ForwardInput {
  /** Token ids of the decoder (or of the only stack). */
  ids: number[];
  /** Encoder input of an encoder–decoder model. */
  sourceIds?: number[];
  /** Token types (segments) of `ids`, for models with token-type embeddings (BERT); default all 0. */
  tokenTypeIds?: number[];
}

export interface ForwardOptions {
  /** Causal mask on decoder self-attention (default true). Off is a counterfactual for causal models. */
  causalMask?: boolean;
  /**
   * A causal mask on an encoder-only model's self-attention (default false: BERT attends both
   * ways). On is the counterfactual for bidirectional models, as `causalMask: false` is for causal ones.
   */
  causalEncoder?: boolean;
  /** Add positional information (default true). */
  usePositions?: boolean;
  ablatedHeads?: HeadRef[];
  /** Also trace per-head q, k, v and head outputs. */
  captureQKV?: boolean;
  /** Which positions get logits (default `all`): a 50k vocabulary makes every row costly. */
  logits?: 'all' | 'last' | 'none';
  /** Pad sequences to this length so GPU shaders compiled for it are reused; the trace is cut back. */
  padTo?: number;
  /** Step-through generation: keys and values of earlier tokens; `ids` are then only the new tokens. */
  cache?: KVCache;
  /** Checked between layers; when it returns true the forward stops with a `cancelled` error. */
  shouldStop?: () => boolean;
  /**
   * Told, per chunk, how long the host waited for its values to come back from the device (the
   * wait starts once the next chunk's kernels have been dispatched).
   */
  onReadback?: (ms: number) => void;
  /**
   * Long inputs (docs/performance.md): every layer's attention comes as summaries (pooled
   * probabilities, head metrics), and in full only for the `detail` layer; the exact matrices of
   * the others are never read back.
   */
  summarise?: { detail?: LayerRef };
  /**
   * Filled with each block's input, so that `retraceLayer` can trace a layer again later; a
   * cached step appends its new rows to what the forward that filled the cache kept.
   */
  keep?: KeptInputs;
}

interface TracedStackResult {
  /** Output of the last block (before any final norm), `[1, P, d]`, owned by the caller. */
  x: tf.Tensor;
  /** Real (unpadded) length. */
  real: number;
}

/**
 * Embedding and blocks of one stack, each pushed to the stream as a chunk. With a KV cache the
 * new keys and values go to `staged`, which the caller commits once the whole forward succeeded.
 */
async function traceStack(
  model: Model,
  stack: Stack,
  ids: number[],
  opts: ForwardOptions,
  stream: ChunkStream,
  staged: KeysValues,
  memory?: { x: tf.Tensor; length: number },
  typeIds?: number[],
): Promise<TracedStackResult> {
  const cfg = model.config;
  const cache = stack === 'decoder' ? opts.cache : undefined;
  const past = cache?.length ?? 0;
  const real = ids.length;
  // A cache grows by exact lengths; padding would put garbage keys into it.
  const padded = cache ? real : Math.max(real, opts.padTo ?? real);
  const usePositions = opts.usePositions ?? true;
  const pad = (xs: number[]) => [...xs, ...new Array<number>(padded - real).fill(0)];

  // Embedding chunk
  let rec = new Recorder();
  let positions: Matrix | undefined;
  let tokenTypes: Matrix | undefined;
  let hidden0!: Matrix;
  let x = tf.tidy(() => {
    const idTensor = tf.tensor2d(pad(ids), [1, padded], 'int32');
    const typeTensor = typeIds ? tf.tensor2d(pad(typeIds), [1, padded], 'int32') : undefined;
    const { x: e, pos, types } = embed(model, idTensor, past, usePositions, typeTensor);
    if (pos) positions = rec.record(leading(pos, [real, cfg.dModel]));
    if (types) tokenTypes = rec.record(realTokens(types, real));
    hidden0 = rec.record(realTokens(e, real));
    return e;
  });

  const c = { ...stackContext(model, stack, { real, padded }, opts, memory), ids };
  // A cached step on a kept forward (a long input's generation) extends its block inputs.
  const kept =
    opts.keep &&
    (past > 0
      ? extendStack(opts.keep, stack, real)
      : keepStack(opts.keep, stack, { real, padded }, memory));
  try {
    await stream.push(rec, () => ({
      type: 'embedding',
      stack,
      inputIds: ids,
      ...(positions ? { positions } : {}),
      ...(tokenTypes ? { tokenTypeIds: typeIds ?? ids.map(() => 0), tokenTypes } : {}),
      hidden: hidden0,
    }));
    for (let layer = 0; layer < c.windows.length; layer++) {
      if (opts.shouldStop?.())
        throw new ForwardError('cancelled', 'the forward was superseded or cancelled');
      rec = new Recorder();
      kept?.add(layer, x);
      const out = traceBlock(model, c, layer, x, opts, rec);
      x.dispose();
      x = out.x;
      if (cache) staged.push({ k: out.k, v: out.v });
      else tf.dispose([out.k, out.v]);
      await stream.push(rec, out.chunk);
    }
  } catch (e) {
    rec.discard();
    x.dispose();
    throw e;
  } finally {
    disposeStackContext(c);
  }
  return { x, real };
}

/** Final norm and logits; resolves to the stack's final hidden state `[1, P, d]` (the caller owns it). */
async function traceOutput(
  model: Model,
  stack: Stack,
  { x, real }: TracedStackResult,
  offset: number,
  opts: ForwardOptions,
  stream: ChunkStream,
): Promise<tf.Tensor> {
  const cfg = model.config;
  const which = opts.logits ?? 'all';
  const rows = which === 'all' ? [...Array(real).keys()] : which === 'last' ? [real - 1] : [];
  const rec = new Recorder();
  const stats = new TokenStats();
  let hidden!: Matrix;
  let logits: Matrix | undefined;
  const norm = stackParams(model, stack).finalNorm;
  const prefix = cfg.architecture === 'encoder-decoder' ? `${stack}.` : '';
  const final = tf.tidy(() => {
    const h = norm ? normalize(x, norm, cfg) : x.clone();
    if (norm) {
      stats.add(x);
      stats.add(h);
      stats.record(rec, real);
    }
    const tokens = realTokens(h, real);
    hidden = rec.record(tokens);
    if (rows.length) logits = rec.record(logitsOf(model, tf.gather(tokens, rows) as tf.Tensor2D));
    return h;
  });
  try {
    await stream.push(rec, () => ({
      type: 'output',
      stack,
      ...(norm ? { finalNorm: stats.normStats(`${prefix}ln_f`, 0, 1) } : {}),
      hidden,
      ...(logits ? { logits } : {}),
      logitPositions: rows.map((r) => offset + r),
    }));
  } catch (e) {
    final.dispose();
    throw e;
  }
  return final;
}

/** Embedding, blocks and output of one stack; resolves to its final hidden state (the caller owns it). */
async function traceWholeStack(
  model: Model,
  stack: Stack,
  ids: number[],
  offset: number,
  opts: ForwardOptions,
  stream: ChunkStream,
  staged: KeysValues,
  memory?: { x: tf.Tensor; length: number },
  typeIds?: number[],
): Promise<{ final: tf.Tensor; real: number }> {
  const result = await traceStack(model, stack, ids, opts, stream, staged, memory, typeIds);
  try {
    return {
      final: await traceOutput(model, stack, result, offset, opts, stream),
      real: result.real,
    };
  } finally {
    result.x.dispose();
  }
}

/**
 * Run one sequence through the model and stream its trace: an `embedding` chunk, one `layer`
 * chunk per block as soon as it is read back, then an `output` chunk, per stack. Resolves to
 * the assembled trace. Every tensor it makes is disposed, whether it finishes or throws, and a
 * KV cache only takes the new keys and values once the whole forward has been emitted.
 */
export async function runForward(
  model: Model,
  input: ForwardInput,
  opts: ForwardOptions = {},
  onChunk?: (chunk: TraceChunk) => void | Promise<void>,
): Promise<Trace> {
  const cfg = model.config;
  const chunks: TraceChunk[] = [];
  const stream = new ChunkStream(async (c) => {
    chunks.push(c);
    await onChunk?.(c);
  }, opts.onReadback);
  const stacks = stacksOf(cfg);
  const cache = opts.cache;
  const past = cache?.length ?? 0;
  checkIds(input.ids, cfg, stacks.length === 2 ? 'the target text' : 'the input', past);
  if (input.tokenTypeIds) checkTokenTypes(input.tokenTypeIds, input.ids.length, cfg);
  const source = input.sourceIds;
  const encode = stacks.length === 2 && !cache?.memory;
  if (encode) {
    if (!source)
      throw new ForwardError('missing-source', 'an encoder–decoder model needs a source text');
    checkIds(source, cfg, 'the source text', 0);
  }

  if (opts.keep && past === 0) {
    const { causalMask, causalEncoder, usePositions, ablatedHeads } = opts;
    opts.keep.options = { causalMask, causalEncoder, usePositions, ablatedHeads };
  }
  const main = stacks[stacks.length - 1];
  const staged: KeysValues = [];
  let ownMemory: tf.Tensor | undefined;
  try {
    let memory = cache?.memory;
    if (encode) {
      const noLogits = { ...opts, logits: 'none' as const };
      const enc = await traceWholeStack(model, 'encoder', source!, 0, noLogits, stream, staged);
      memory = { x: enc.final, length: enc.real };
      if (cache) cache.memory = memory;
      else ownMemory = enc.final;
    }
    const { final } = await traceWholeStack(
      model,
      main,
      input.ids,
      past,
      opts,
      stream,
      staged,
      memory,
      input.tokenTypeIds,
    );
    final.dispose();
    await stream.finish();
  } catch (e) {
    await stream.abandon();
    tf.dispose(staged.flatMap((s) => [s.k, s.v]));
    throw e;
  } finally {
    ownMemory?.dispose();
  }
  if (cache && main === 'decoder') {
    tf.dispose(cache.layers.flatMap((l) => [l.k, l.v]));
    cache.layers = staged;
    cache.length = past + input.ids.length;
  }
  return assembleTrace(chunks);
}
