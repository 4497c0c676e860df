/**
 * The trace: every quantity a transformer lecture talks about, for one forward pass.
 * It is produced as a stream of chunks (one per embedding, per layer, per output) so that the
 * UI can paint layer 0 while layer 1 is still being computed. All matrices are plain
 * `Float32Array`s with a shape: they cross the worker boundary as transferables.
 */
import type { HeadMetrics, HeadTally } from './analysis/headMetrics';

export interface Matrix {
  /** Row-major, outermost first, e.g. `[heads, queries, keys]`. */
  shape: number[];
  data: Float32Array;
}

export type Stack = 'encoder' | 'decoder';

export interface AttentionTrace {
  kind: 'self' | 'cross';
  /** Whether a causal mask was applied (only ever for decoder self-attention). */
  causal: boolean;
  /** e_ij = q_i·k_j / √(d/h) before the mask, `[heads, queries, keys]`. */
  scores: Matrix;
  /** softmax over keys after the mask, `[heads, queries, keys]`; an ablated head keeps its pattern (the gate acts on its output). */
  probs: Matrix;
  /** 1 where query i may attend to key j, 0 where masked (causal or padding), `[queries, keys]`. */
  mask: Matrix;
  /** Per-head gate that was applied (1 = on, 0 = ablated), `[heads]`. */
  headGate: Float32Array;
  /** Only when `captureQKV` is set: per-head projections `[heads, tokens, d/h]`. */
  q?: Matrix;
  k?: Matrix;
  v?: Matrix;
  /** Only when `captureQKV` is set: Σ_j p_ij v_j per head, after the gate, `[heads, queries, d/h]`. */
  headOutputs?: Matrix;
  /**
   * Only when `captureQKV` is set: ‖v_j W_O^h‖ per head and key, the norm of each value vector
   * after the head's slice of the output projection (analysis/valueNorms.ts), `[heads, keys]`.
   */
  valueNorms?: Matrix;
}

/** Mean and (biased) variance over features, per token, of what enters and leaves a LayerNorm. */
export interface NormStats {
  /** Hugging Face-style name, e.g. `h.0.ln_1`, `ln_f`, `encoder.h.1.ln_2`. */
  name: string;
  inputMean: Float32Array;
  inputVar: Float32Array;
  outputMean: Float32Array;
  outputVar: Float32Array;
}

/** ‖x_t‖₂ of the residual stream, per token, at a named point. */
export interface ResidualNorms {
  /** `input`, `after-attention`, `after-cross-attention`, `after-mlp`. */
  point: string;
  norms: Float32Array;
}

export interface EmbeddingChunk {
  type: 'embedding';
  stack: Stack;
  inputIds: number[];
  /** The positional encoding that was added, `[tokens, d]`; absent when positions are off or the model has none. */
  positions?: Matrix;
  /** Token types (segments) of the input, for models with token-type embeddings (BERT). */
  tokenTypeIds?: number[];
  /** The token-type embedding that was added, `[tokens, d]` (BERT). */
  tokenTypes?: Matrix;
  /**
   * Token embedding (scaled where the model scales it) plus position (plus token type, then the
   * embedding LayerNorm, for BERT): hidden state 0, `[tokens, d]`.
   */
  hidden: Matrix;
}

/**
 * What the page keeps of one attention of a long input (docs/performance.md, long inputs): enough
 * for the thumbnails and the head metrics. The exact matrices of a layer come on request.
 */
export interface AttentionSummary {
  kind: 'self' | 'cross';
  causal: boolean;
  /** Probabilities max-pooled over `factor` × `factor` cells, `[heads, ⌈queries/factor⌉, ⌈keys/factor⌉]`. */
  pooled: Matrix;
  /** 1 where any cell of the pooled block may be attended to, `[⌈queries/factor⌉, ⌈keys/factor⌉]`. */
  pooledMask: Matrix;
  factor: number;
  headGate: Float32Array;
  /** Measured on the exact probabilities, per head. */
  metrics: HeadMetrics[];
  /** The sums behind `metrics`, per head: what a generated row is added to (`foldRows`). */
  tallies: HeadTally[];
}

export interface LayerChunk {
  type: 'layer';
  stack: Stack;
  layer: number;
  /**
   * Self-attention first, then cross-attention for decoder layers of encoder–decoder models.
   * Empty in a long input's layer sent as `summaries` only.
   */
  attentions: AttentionTrace[];
  /** Long inputs: every layer's attentions summarised, in the same order. */
  summaries?: AttentionSummary[];
  norms: NormStats[];
  residual: ResidualNorms[];
  /** Output of the layer, `[tokens, d]`. */
  hidden: Matrix;
}

export interface OutputChunk {
  type: 'output';
  stack: Stack;
  /** The final LayerNorm, where the model has one. */
  finalNorm?: NormStats;
  /** Last hidden state (after the final norm where there is one), `[tokens, d]`. */
  hidden: Matrix;
  /** `[rows, vocab]`, rows being the positions listed in `logitPositions`. */
  logits?: Matrix;
  logitPositions: number[];
}

export type TraceChunk = EmbeddingChunk | LayerChunk | OutputChunk;

export interface StackTrace {
  embedding: EmbeddingChunk;
  layers: LayerChunk[];
  output?: OutputChunk;
}

export interface Trace {
  encoder?: StackTrace;
  decoder?: StackTrace;
}

/** Put streamed chunks back together. Chunks may arrive in any order within a stack. */
export function assembleTrace(chunks: Iterable<TraceChunk>): Trace {
  const trace: Trace = {};
  const layers: Record<Stack, LayerChunk[]> = { encoder: [], decoder: [] };
  const outputs: Partial<Record<Stack, OutputChunk>> = {};
  for (const chunk of chunks) {
    if (chunk.type === 'embedding') trace[chunk.stack] = { embedding: chunk, layers: [] };
    else if (chunk.type === 'layer') layers[chunk.stack][chunk.layer] = chunk;
    else outputs[chunk.stack] = chunk;
  }
  for (const stack of ['encoder', 'decoder'] as const) {
    const st = trace[stack];
    if (!st) continue;
    st.layers = layers[stack];
    if (outputs[stack]) st.output = outputs[stack];
  }
  return trace;
}

/** Row `i` of a matrix with shape `[..., n]` as a view (no copy). */
export function row(m: Matrix, ...index: number[]): Float32Array {
  let offset = 0;
  let stride = m.data.length;
  for (let a = 0; a < index.length; a++) {
    stride /= m.shape[a];
    offset += index[a] * stride;
  }
  return m.data.subarray(offset, offset + stride);
}

/** A matrix as nested arrays (for JSON export and the trace command). */
export function toNested(m: Matrix): unknown {
  const build = (dim: number, offset: number): unknown => {
    const n = m.shape[dim];
    if (dim === m.shape.length - 1) return Array.from(m.data.subarray(offset, offset + n));
    const stride = m.shape.slice(dim + 1).reduce((a, b) => a * b, 1);
    return Array.from({ length: n }, (_, i) => build(dim + 1, offset + i * stride));
  };
  return m.shape.length === 0 ? m.data[0] : build(0, 0);
}
