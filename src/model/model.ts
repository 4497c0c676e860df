/**
 * The model: embeddings → blocks → final norm → logits, for decoder-only, encoder-only and
 * encoder–decoder transformers. Two drivers share the same block code:
 *  - `runForward` runs one sequence and streams the trace layer by layer (inference, the UI);
 *  - `decoderLogits` / `encoderDecoderLogits` run a batch with no trace (training).
 */
import * as tf from '@tensorflow/tfjs-core';
import { MASKED, type AttentionInputs, type AttentionResult } from './attention';
import { block, type BlockTracer } from './block';
import type { ModelConfig } from './config';
import { embedTokens, vocabularyLogits } from './embedding';
import { featureStats, layerNorm } from './layerNorm';
import { disposeParams, stacksOf, type ModelParams, type StackParams } from './params';
import { sinusoidalPositions } from './positions';
import { Recorder } from './recorder';
import type {
  AttentionTrace,
  Matrix,
  NormStats,
  ResidualNorms,
  Stack,
  Trace,
  TraceChunk,
} from './trace';
import { assembleTrace, row } from './trace';

export interface Model {
  config: ModelConfig;
  params: ModelParams;
}

export interface HeadRef {
  stack: Stack;
  layer: number;
  head: number;
  /** Which attention of the layer; decoder layers of encoder–decoder models have two. Default `self`. */
  attention?: 'self' | 'cross';
}

export interface ForwardInput {
  /** Token ids of the decoder (or of the only stack). */
  ids: number[];
  /** Encoder input of an encoder–decoder model. */
  sourceIds?: number[];
}

export interface ForwardOptions {
  /** Causal mask on decoder self-attention (default true). Off is a counterfactual for causal models. */
  causalMask?: boolean;
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
}

export class ForwardError extends Error {
  override name = 'ForwardError';
  constructor(
    readonly code: 'empty-input' | 'too-long' | 'bad-token' | 'missing-source' | 'cancelled',
    message: string,
  ) {
    super(message);
  }
}

/** Keys and values of tokens already processed, per decoder layer, and the encoder's output. */
export interface KVCache {
  /** Number of decoder tokens already cached. */
  length: number;
  layers: { k: tf.Tensor; v: tf.Tensor }[];
  memory?: { x: tf.Tensor; length: number };
  dispose(): void;
}

export function createKVCache(): KVCache {
  const cache: KVCache = {
    length: 0,
    layers: [],
    dispose() {
      for (const l of cache.layers) tf.dispose([l.k, l.v]);
      if (cache.memory) cache.memory.x.dispose();
      cache.layers = [];
      cache.memory = undefined;
      cache.length = 0;
    },
  };
  return cache;
}

export function disposeModel(model: Model): void {
  disposeParams(model.params);
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

function stackParams(model: Model, stack: Stack): StackParams {
  const p = model.params[stack];
  if (!p) throw new Error(`this model has no ${stack}`);
  return p;
}

/** Positional encoding rows offset…offset+count−1, `[count, d]`, or null when the model has none. */
function positionRows(model: Model, count: number, offset: number): tf.Tensor2D | null {
  const cfg = model.config;
  if (cfg.positions === 'none') return null;
  if (cfg.positions === 'learned') {
    const table = model.params.positionEmbedding!;
    return tf.slice(table, [offset, 0], [count, cfg.dModel]);
  }
  return tf.tensor2d(sinusoidalPositions(count, cfg.dModel, cfg.positions, offset), [
    count,
    cfg.dModel,
  ]);
}

/** x₀ = E[ids] (· √d where the model scales) + P[positions]: `[B, T] → [B, T, d]`. */
function embed(
  model: Model,
  ids: tf.Tensor,
  offset: number,
  usePositions: boolean,
): { x: tf.Tensor; pos: tf.Tensor2D | null } {
  const cfg = model.config;
  let x = embedTokens(model.params.tokenEmbedding, ids);
  if (cfg.scaleEmbedding) x = tf.mul(x, Math.sqrt(cfg.dModel));
  const pos = usePositions ? positionRows(model, ids.shape[1]!, offset) : null;
  return { x: pos ? tf.add(x, pos) : x, pos };
}

function logitsOf(model: Model, h: tf.Tensor2D): tf.Tensor2D {
  const p = model.params;
  const tied = !p.lmHead;
  return vocabularyLogits(h, p.lmHead ?? p.tokenEmbedding, tied, p.logitsBias);
}

/** Additive causal mask `[1, 1, T, T]`: key j is hidden from query i when j > i. */
function causalBias(t: number): tf.Tensor {
  return tf.tidy(() =>
    tf.reshape(tf.mul(tf.sub(tf.linalg.bandPart(tf.ones([t, t]), -1, 0), 1), -MASKED), [
      1,
      1,
      t,
      t,
    ]),
  );
}

/** Additive padding mask `[B, 1, 1, S]` from the pad id: padded keys are never attended to. */
function paddingBias(ids: tf.Tensor, padId: number | null): tf.Tensor {
  const [b, s] = ids.shape;
  if (padId === null) return tf.zeros([b, 1, 1, s]);
  return tf.tidy(() =>
    tf.reshape(tf.mul(tf.cast(tf.equal(ids, padId), 'float32'), MASKED), [b, 1, 1, s]),
  );
}

// ---------------------------------------------------------------------------------------------
// Training drivers: batches, no trace. Everything here is differentiable.

function runStack(
  model: Model,
  stack: Stack,
  x: tf.Tensor,
  self: AttentionInputs,
  memory?: tf.Tensor,
  cross?: AttentionInputs,
): tf.Tensor {
  const p = stackParams(model, stack);
  for (const b of p.blocks) x = block(x, b, model.config, { self, memory, cross }).x;
  return p.finalNorm ? layerNorm(x, p.finalNorm, model.config.layerNormEps) : x;
}

/** Which positions get logits in the batch drivers: a 50k vocabulary makes every row costly. */
export type LogitPositions = 'all' | 'last';

function logitsAt(model: Model, h: tf.Tensor, positions: LogitPositions): tf.Tensor3D {
  const [b, t, d] = h.shape as [number, number, number];
  const rows = positions === 'last' ? tf.slice(h, [0, t - 1, 0], [b, 1, d]) : h;
  const n = positions === 'last' ? 1 : t;
  return tf.reshape(logitsOf(model, tf.reshape(rows, [b * n, d]) as tf.Tensor2D), [b, n, -1]);
}

/** Decoder-only (or encoder-only) logits for a batch: `[B, T]` int32 ids → `[B, T or 1, vocab]`. */
export function decoderLogits(
  model: Model,
  ids: tf.Tensor2D,
  positions: LogitPositions = 'all',
): tf.Tensor3D {
  const stack = stacksOf(model.config)[0];
  const causal = stack === 'decoder';
  const bias = causal ? causalBias(ids.shape[1]) : paddingBias(ids, model.config.padTokenId);
  const h = runStack(model, stack, embed(model, ids, 0, true).x, { bias });
  return logitsAt(model, h, positions);
}

/** Encoder–decoder logits (teacher forcing): source `[B, S]`, decoder input `[B, T]` → `[B, T, vocab]`. */
export function encoderDecoderLogits(
  model: Model,
  sourceIds: tf.Tensor2D,
  ids: tf.Tensor2D,
  positions: LogitPositions = 'all',
): tf.Tensor3D {
  const sourceBias = paddingBias(sourceIds, model.config.padTokenId);
  const memory = runStack(model, 'encoder', embed(model, sourceIds, 0, true).x, {
    bias: sourceBias,
  });
  const h = runStack(
    model,
    'decoder',
    embed(model, ids, 0, true).x,
    { bias: causalBias(ids.shape[1]) },
    memory,
    {
      bias: sourceBias,
    },
  );
  return logitsAt(model, h, positions);
}

// ---------------------------------------------------------------------------------------------
// The traced driver: one sequence, streamed chunk by chunk.

function checkIds(ids: number[], cfg: ModelConfig, what: string, offset: number): void {
  if (ids.length === 0)
    throw new ForwardError('empty-input', `${what} is empty: give at least one token`);
  if (offset + ids.length > cfg.contextLength) {
    throw new ForwardError(
      'too-long',
      `${what} has ${offset + ids.length} tokens; this model's context holds ${cfg.contextLength}`,
    );
  }
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= cfg.vocabSize) {
      throw new ForwardError(
        'bad-token',
        `${what}: token id ${id} is outside the vocabulary (0–${cfg.vocabSize - 1})`,
      );
    }
  }
}

/**
 * Host-side mask `[queries, keys]`, 1 = may attend. Queries are positions past…past+tq−1 of
 * which the first `realQ` are real; keys 0…tk−1 of which the first `realK` are real.
 */
function allowedMatrix(
  tq: number,
  tk: number,
  realK: number,
  past: number,
  causal: boolean,
): Float32Array {
  const m = new Float32Array(tq * tk);
  for (let i = 0; i < tq; i++) {
    for (let j = 0; j < tk; j++) m[i * tk + j] = j < realK && (!causal || j <= past + i) ? 1 : 0;
  }
  return m;
}

function biasOf(allowed: Float32Array, tq: number, tk: number): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.sub(tf.tensor(allowed, [1, 1, tq, tk]), 1), -MASKED));
}

function cropMask(allowed: Float32Array, tk: number, rows: number, cols: number): Matrix {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) out.set(allowed.subarray(i * tk, i * tk + cols), i * cols);
  return { shape: [rows, cols], data: out };
}

function gateOf(
  opts: ForwardOptions,
  stack: Stack,
  layer: number,
  attention: 'self' | 'cross',
  nHeads: number,
): Float32Array {
  const gate = new Float32Array(nHeads).fill(1);
  for (const h of opts.ablatedHeads ?? []) {
    if (
      h.stack === stack &&
      h.layer === layer &&
      (h.attention ?? 'self') === attention &&
      h.head < nHeads
    )
      gate[h.head] = 0;
  }
  return gate;
}

/** The leading `sizes` of `t`; `t` itself when nothing is cut (a slice is a GPU pass on WebGL). */
function leading(t: tf.Tensor, sizes: number[]): tf.Tensor {
  return sizes.every((size, axis) => size === t.shape[axis])
    ? t
    : tf.slice(
        t,
        sizes.map(() => 0),
        sizes,
      );
}

/** `[1, P, d] → [n, d]`: batch item 0, cut back to its n real (unpadded) tokens. */
function realTokens(x: tf.Tensor, n: number): tf.Tensor {
  const d = x.shape[2]!;
  return tf.reshape(leading(x, [1, n, d]), [n, d]);
}

/**
 * Per-token mean and variance over features of the `[1, P, d]` tensors a chunk looks at
 * (LayerNorm inputs and outputs, points of the residual stream), from one reduction over their
 * stack: on WebGL each kernel is a GPU pass, and a separate reduction per tensor cost a dozen
 * passes per layer. Residual norms follow on the host: ‖x‖² = Σ x² = d·(σ² + μ²).
 */
class TokenStats {
  private tensors: tf.Tensor[] = [];
  private stats?: Matrix; // [2, tensors, n]: mean, variance
  private width = 0;

  /** Add a tensor (once, however often it is added); returns its index. */
  add(x: tf.Tensor): number {
    const known = this.tensors.indexOf(x);
    return known >= 0 ? known : this.tensors.push(x) - 1;
  }

  /** Inside the tidy that made the tensors: queue the reduction of the first n tokens. */
  record(rec: Recorder, n: number): void {
    if (this.tensors.length === 0) return;
    this.width = this.tensors[0].shape[2]!;
    const { mean, variance } = featureStats(tf.concat(this.tensors, 0)); // [k, P] each
    this.stats = rec.record(leading(tf.stack([mean, variance]), [2, this.tensors.length, n]));
  }

  /** After the flush. */
  mean(i: number): Float32Array {
    return row(this.stats!, 0, i);
  }

  variance(i: number): Float32Array {
    return row(this.stats!, 1, i);
  }

  /** ‖x_t‖₂ per token. */
  norm(i: number): Float32Array {
    const [mean, variance] = [this.mean(i), this.variance(i)];
    return mean.map((m, t) => Math.sqrt(this.width * (variance[t] + m * m)));
  }

  normStats(name: string, input: number, output: number): NormStats {
    return {
      name,
      inputMean: this.mean(input),
      inputVar: this.variance(input),
      outputMean: this.mean(output),
      outputVar: this.variance(output),
    };
  }
}

/** A block tracer that records batch item 0, cut back to the real (unpadded) lengths. */
class LayerTracer implements BlockTracer {
  private stats = new TokenStats();
  private norms: { name: string; input: number; output: number }[] = [];
  private residuals: { point: string; x: number }[] = [];
  private attentions: { kind: 'self' | 'cross'; mats: Record<string, Matrix> }[] = [];

  constructor(
    private rec: Recorder,
    private prefix: string,
    private queries: number,
    private keys: Record<'self' | 'cross', number>,
    private masks: Record<'self' | 'cross', Matrix | undefined>,
    private gates: Record<'self' | 'cross', Float32Array>,
    private causal: boolean,
    private captureQKV: boolean,
  ) {}

  norm(name: string, input: tf.Tensor, output: tf.Tensor): void {
    const [i, o] = [this.stats.add(input), this.stats.add(output)];
    this.norms.push({ name: this.prefix + name, input: i, output: o });
  }

  residual(point: string, x: tf.Tensor): void {
    this.residuals.push({ point, x: this.stats.add(x) });
  }

  /** Inside the block's tidy, once the block has run: queue the statistics of the whole layer. */
  recordStats(): void {
    this.stats.record(this.rec, this.queries);
  }

  attention(kind: 'self' | 'cross', r: AttentionResult): void {
    const h = r.q.shape[1]!;
    const tq = this.queries;
    const tk = this.keys[kind];
    // [1, h, P, ·] → [h, rows, cols]: batch item 0, real queries (and keys) only.
    const cut = (t: tf.Tensor, rows: number, cols = t.shape[3]!) =>
      tf.reshape(leading(t, [1, h, rows, cols]), [h, rows, cols]);
    const mats: Record<string, Matrix> = {
      scores: this.rec.record(cut(r.scores, tq, tk)),
      probs: this.rec.record(cut(r.probs, tq, tk)),
    };
    if (this.captureQKV) {
      mats.q = this.rec.record(cut(r.q, tq));
      mats.k = this.rec.record(cut(r.k, tk));
      mats.v = this.rec.record(cut(r.v, tk));
      mats.headOutputs = this.rec.record(cut(r.heads, tq));
    }
    this.attentions.push({ kind, mats });
  }

  /** After the recorder has flushed: the chunk's plain-data parts. */
  finish(): { attentions: AttentionTrace[]; norms: NormStats[]; residual: ResidualNorms[] } {
    return {
      attentions: this.attentions.map(({ kind, mats }) => ({
        kind,
        causal: kind === 'self' && this.causal,
        scores: mats.scores,
        probs: mats.probs,
        mask: this.masks[kind]!,
        headGate: this.gates[kind],
        ...(mats.q ? { q: mats.q, k: mats.k, v: mats.v, headOutputs: mats.headOutputs } : {}),
      })),
      norms: this.norms.map(({ name, input, output }) => this.stats.normStats(name, input, output)),
      residual: this.residuals.map(({ point, x }) => ({
        point,
        norms: this.stats.norm(x),
      })),
    };
  }
}

/**
 * Emits chunks in order while keeping the device busy. A chunk's downloads are queued as soon as
 * its kernels are, but its values are awaited only after the next chunk's kernels have been
 * dispatched: the device computes layer i + 1 while the host waits for, posts and paints layer
 * i, instead of the two taking turns.
 */
class ChunkStream {
  private pending?: { reading: Promise<void>; chunk: () => TraceChunk };

  constructor(
    private opts: ForwardOptions,
    private emit: (chunk: TraceChunk) => Promise<void>,
  ) {}

  /** Queue `rec`'s downloads; resolves once the chunk before this one has been emitted. */
  async push(rec: Recorder, chunk: () => TraceChunk): Promise<void> {
    const reading = rec.flush();
    // Awaited by `deliver` or `abandon`; until then a failed download must not count as unhandled.
    reading.catch(() => undefined);
    const previous = this.pending;
    this.pending = { reading, chunk };
    if (previous) await this.deliver(previous);
  }

  /** Emit the chunk still in flight. */
  async finish(): Promise<void> {
    const last = this.pending;
    this.pending = undefined;
    if (last) await this.deliver(last);
  }

  /** After an error: wait for the chunk in flight to release its tensors, and drop it. */
  async abandon(): Promise<void> {
    const last = this.pending;
    this.pending = undefined;
    await last?.reading.catch(() => undefined);
  }

  private async deliver({ reading, chunk }: NonNullable<ChunkStream['pending']>): Promise<void> {
    const started = performance.now();
    await reading;
    this.opts.onReadback?.(performance.now() - started);
    await this.emit(chunk());
  }
}

type KeysValues = { k: tf.Tensor; v: tf.Tensor }[];

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
): Promise<TracedStackResult> {
  const cfg = model.config;
  const cache = stack === 'decoder' ? opts.cache : undefined;
  const past = cache?.length ?? 0;
  const real = ids.length;
  // A cache grows by exact lengths; padding would put garbage keys into it.
  const padded = cache ? real : Math.max(real, opts.padTo ?? real);
  const usePositions = opts.usePositions ?? true;
  const causal = stack === 'decoder' && (opts.causalMask ?? true);
  const prefix = cfg.architecture === 'encoder-decoder' ? `${stack}.` : '';

  // Embedding chunk
  let rec = new Recorder();
  let positions: Matrix | undefined;
  let hidden0!: Matrix;
  let x = tf.tidy(() => {
    const idTensor = tf.tensor2d(
      [...ids, ...new Array<number>(padded - real).fill(0)],
      [1, padded],
      'int32',
    );
    const { x: e, pos } = embed(model, idTensor, past, usePositions);
    if (pos) positions = rec.record(leading(pos, [real, cfg.dModel]));
    hidden0 = rec.record(realTokens(e, real));
    return e;
  });

  const selfKeys = past + padded;
  const selfAllowed = allowedMatrix(padded, selfKeys, past + real, past, causal);
  const selfBias = biasOf(selfAllowed, padded, selfKeys);
  const selfMask = cropMask(selfAllowed, selfKeys, real, past + real);
  let crossBias: tf.Tensor | undefined;
  let crossMask: Matrix | undefined;
  if (memory) {
    const mk = memory.x.shape[1]!;
    const crossAllowed = allowedMatrix(padded, mk, memory.length, 0, false);
    crossBias = biasOf(crossAllowed, padded, mk);
    crossMask = cropMask(crossAllowed, mk, real, memory.length);
  }

  const blocks = stackParams(model, stack).blocks;
  try {
    await stream.push(rec, () => ({
      type: 'embedding',
      stack,
      inputIds: ids,
      ...(positions ? { positions } : {}),
      hidden: hidden0,
    }));
    for (let layer = 0; layer < blocks.length; layer++) {
      if (opts.shouldStop?.())
        throw new ForwardError('cancelled', 'the forward was superseded or cancelled');
      rec = new Recorder();
      const gates = {
        self: gateOf(opts, stack, layer, 'self', cfg.nHeads),
        cross: gateOf(opts, stack, layer, 'cross', cfg.nHeads),
      };
      const tracer = new LayerTracer(
        rec,
        `${prefix}h.${layer}.`,
        real,
        { self: past + real, cross: memory?.length ?? 0 },
        { self: selfMask, cross: crossMask },
        gates,
        causal,
        opts.captureQKV ?? false,
      );
      let hidden!: Matrix;
      const out = tf.tidy(() => {
        const gate = (g: Float32Array) =>
          g.every((v) => v === 1) ? undefined : tf.tensor(g, [1, cfg.nHeads, 1, 1]);
        const layerPast = cache?.layers[layer];
        const r = block(
          x,
          blocks[layer],
          cfg,
          {
            self: { bias: selfBias, gate: gate(gates.self), past: layerPast },
            ...(memory
              ? { memory: memory.x, cross: { bias: crossBias!, gate: gate(gates.cross) } }
              : {}),
          },
          tracer,
        );
        tracer.recordStats();
        hidden = rec.record(realTokens(r.x, real));
        return { x: r.x, k: r.selfKeys.k, v: r.selfKeys.v };
      });
      x.dispose();
      x = out.x;
      if (cache) staged.push({ k: out.k, v: out.v });
      else tf.dispose([out.k, out.v]);
      await stream.push(rec, () => ({ type: 'layer', stack, layer, ...tracer.finish(), hidden }));
    }
  } catch (e) {
    rec.discard();
    x.dispose();
    throw e;
  } finally {
    tf.dispose([selfBias, ...(crossBias ? [crossBias] : [])]);
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
    const h = norm ? layerNorm(x, norm, cfg.layerNormEps) : x.clone();
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
): Promise<{ final: tf.Tensor; real: number }> {
  const result = await traceStack(model, stack, ids, opts, stream, staged, memory);
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
  const stream = new ChunkStream(opts, async (c) => {
    chunks.push(c);
    await onChunk?.(c);
  });
  const stacks = stacksOf(cfg);
  const cache = opts.cache;
  const past = cache?.length ?? 0;
  checkIds(input.ids, cfg, stacks.length === 2 ? 'the target text' : 'the input', past);
  const source = input.sourceIds;
  const encode = stacks.length === 2 && !cache?.memory;
  if (encode) {
    if (!source)
      throw new ForwardError('missing-source', 'an encoder–decoder model needs a source text');
    checkIds(source, cfg, 'the source text', 0);
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
