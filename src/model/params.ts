/**
 * The parameters of a model as plain tensors, one interface per concept. Linear layers hold
 * `w` as `[in, out]` so that every projection reads `x @ W + b`, as on the lecture's slides.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface Linear {
  w: Weight; // [in, out]
  b?: tf.Tensor1D; // [out]
}

/** A weight matrix: float32, or (on wasm, where every value fits) 16-bit codes. */
export type Weight = tf.Tensor2D | HalfWeight;

/**
 * A weight matrix whose values all fit 16 bits (a float16 checkpoint's), kept as 16-bit codes on
 * wasm: half the bytes of float32, the same values (halfWeights.ts, kernels/codes.h).
 */
export interface HalfWeight {
  /** int32, two codes each (the first in the low half), row-major. */
  codes: tf.Tensor1D;
  /** Kept in row groups, for x · Wᵀ (a tied embedding: kernels/codes.h); else for x · W. */
  grouped: boolean;
  /** The codes' exponent offset (kernels/codes.h). */
  bcode: number;
  shape: [number, number];
}

export interface LayerNormParams {
  gamma: tf.Tensor1D; // [d]
  /** Absent for RMSNorm, which has no shift. */
  beta?: tf.Tensor1D; // [d]
}

/** With grouped-query attention k and v are narrower: `[d, n_kv · head_dim]`. */
export interface AttentionParams {
  q: Linear;
  k: Linear;
  v: Linear;
  o: Linear;
}

export interface FeedForwardParams {
  fc: Linear; // [d, d_ff] (SwiGLU's up projection)
  proj: Linear; // [d_ff, d] (SwiGLU's down projection)
  /** SwiGLU's gate `[d, d_ff]`: the MLP is then proj(act(gate(x)) ⊙ fc(x)). */
  gate?: Linear;
}

export interface BlockParams {
  /** LayerNorm of the self-attention sub-layer (before it in pre-norm, after it in post-norm). */
  ln1: LayerNormParams;
  attn: AttentionParams;
  lnCross?: LayerNormParams;
  cross?: AttentionParams;
  ln2?: LayerNormParams;
  mlp?: FeedForwardParams;
}

export interface StackParams {
  blocks: BlockParams[];
  finalNorm?: LayerNormParams;
}

/**
 * Large vocabularies are kept as row chunks: a WebGL texture wider than 4096 texels is refused
 * by many GPUs, and a 50k × 768 table would need one for `gather`.
 */
export const EMBEDDING_CHUNK_ROWS = 4096;

export interface ModelParams {
  /** Token embedding as row chunks of at most EMBEDDING_CHUNK_ROWS rows, `[rows, d]` each. */
  tokenEmbedding: Weight[];
  /** Learned positions `[context, d]`. */
  positionEmbedding?: tf.Tensor2D;
  encoder?: StackParams;
  decoder?: StackParams;
  /** Untied LM head as column chunks `[d, cols]`; absent when tied to the token embedding. */
  lmHead?: Weight[];
  logitsBias?: tf.Tensor1D; // [vocab]
  /** Token-type (segment) embeddings `[types, d]` (BERT). */
  tokenTypeEmbedding?: tf.Tensor2D;
  /** LayerNorm of the embedding sum (BERT, DistilBERT). */
  embeddingNorm?: LayerNormParams;
  /** Masked-LM head before the vocabulary: dense `[d, d]` → activation → LayerNorm. */
  mlmHead?: { dense: Linear; norm: LayerNormParams };
}

/** The chunks of at most EMBEDDING_CHUNK_ROWS rows that cover `rows` rows, in order. */
export function chunkSpans(rows: number): { start: number; size: number }[] {
  const spans: { start: number; size: number }[] = [];
  for (let start = 0; start < rows; start += EMBEDDING_CHUNK_ROWS)
    spans.push({ start, size: Math.min(EMBEDDING_CHUNK_ROWS, rows - start) });
  return spans;
}

/** Every linear layer of a model (attention, MLP, the masked-LM head's dense layer). */
export function linearsOf(p: ModelParams): Linear[] {
  const out: Linear[] = p.mlmHead ? [p.mlmHead.dense] : [];
  const attn = (a?: AttentionParams) => (a ? [a.q, a.k, a.v, a.o] : []);
  for (const stack of [p.encoder, p.decoder])
    for (const b of stack?.blocks ?? []) {
      out.push(...attn(b.attn), ...attn(b.cross));
      if (b.mlp) out.push(b.mlp.fc, b.mlp.proj, ...(b.mlp.gate ? [b.mlp.gate] : []));
    }
  return out;
}

/** Every tensor of a model, for counting and disposal. */
export function allTensors(p: ModelParams): tf.Tensor[] {
  const out: tf.Tensor[] = [...p.tokenEmbedding, ...(p.lmHead ?? [])].map(tensorOf);
  if (p.positionEmbedding) out.push(p.positionEmbedding);
  if (p.logitsBias) out.push(p.logitsBias);
  if (p.tokenTypeEmbedding) out.push(p.tokenTypeEmbedding);
  const ln = (n?: LayerNormParams) => (n ? (n.beta ? [n.gamma, n.beta] : [n.gamma]) : []);
  out.push(...ln(p.embeddingNorm), ...ln(p.mlmHead?.norm));
  for (const stack of [p.encoder, p.decoder]) {
    if (!stack) continue;
    out.push(...ln(stack.finalNorm));
    for (const b of stack.blocks) out.push(...ln(b.ln1), ...ln(b.lnCross), ...ln(b.ln2));
  }
  for (const l of linearsOf(p)) out.push(...linearTensors(l));
  return out;
}

/** A weight's tensor: the weight, or its codes. */
export const tensorOf = (w: Weight): tf.Tensor => ('codes' in w ? w.codes : w);

/** A linear layer's tensors: its weight (or the weight's codes) and its bias. */
export function linearTensors(l: Linear): tf.Tensor[] {
  return [tensorOf(l.w), ...(l.b ? [l.b] : [])];
}

export function disposeParams(p: ModelParams): void {
  for (const t of allTensors(p)) t.dispose();
}

/** Parameters: a weight kept as 16-bit codes counts its values, not its int32 elements. */
export function parameterCount(p: ModelParams): number {
  const coded = halfWeightsOf(p).reduce((n, w) => n + w.shape[0] * w.shape[1] - w.codes.size, 0);
  return allTensors(p).reduce((n, t) => n + t.size, 0) + coded;
}

/** Every weight kept as codes. */
export function halfWeightsOf(p: ModelParams): HalfWeight[] {
  const weights = [...linearsOf(p).map((l) => l.w), ...p.tokenEmbedding, ...(p.lmHead ?? [])];
  return weights.flatMap((w) => ('codes' in w ? [w] : []));
}
