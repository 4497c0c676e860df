import * as tf from '@tensorflow/tfjs-core';
import { linear } from './linear';
import type { AttentionParams } from './params';
import { applyRope, type RopeTables } from './rope';

/** Additive mask value: large enough that exp() underflows to exactly 0, finite so no row gives NaN. */
export const MASKED = -1e9;

/**
 * [B, T, n·dh] → [B, n, T, dh]: each head sees its own dh-wide slice of q, k and v. With one
 * token (a generation step) the transpose moves nothing: a reshape, one kernel less.
 */
function splitHeads(x: tf.Tensor, headDim: number): tf.Tensor {
  const [b, t, d] = x.shape;
  if (t === 1) return tf.reshape(x, [b, d / headDim, 1, headDim]);
  return tf.transpose(tf.reshape(x, [b, t, d / headDim, headDim]), [0, 2, 1, 3]);
}

/**
 * Grouped-query attention: [B, n_kv, T, dh] → [B, n_kv · rep, T, dh], each key/value head
 * repeated for the `rep` consecutive query heads that share it (repeat_kv in modeling_llama.py),
 * so query head h reads key/value head ⌊h / rep⌋.
 */
export function repeatKv(x: tf.Tensor, rep: number): tf.Tensor {
  if (rep === 1) return x;
  const kvHeads = x.shape[1]!;
  const source = Array.from({ length: kvHeads * rep }, (_, h) => Math.floor(h / rep));
  return tf.gather(x, tf.tensor1d(source, 'int32'), 1);
}

/** [B, h, T, d/h] → [B, T, d]: concatenate the heads again (one token: a reshape). */
export function mergeHeads(x: tf.Tensor): tf.Tensor {
  const [b, h, t, dh] = x.shape;
  return tf.reshape(t === 1 ? x : tf.transpose(x, [0, 2, 1, 3]), [b, t, h * dh]);
}

export interface AttentionInputs {
  /** Additive mask broadcastable to [B, h, Tq, Tk]: 0 where allowed, MASKED where not. */
  bias: tf.Tensor;
  /** Per-head gate [1, h, 1, 1]: 0 ablates a head. */
  gate?: tf.Tensor;
  /**
   * Activation patching (src/model/analysis/patching.ts): where `where` [B, h, 1, 1] is 1, the
   * head's output is replaced by `heads` [1 or B, h, T, d/h] (another run's), after the gate.
   */
  patch?: { heads: tf.Tensor; where: tf.Tensor };
  /**
   * Keys and values of earlier tokens (step-through generation), [B, n_kv, Tpast, d/h] each: one
   * per key/value head, repeated for the query heads only when used (see `kv` below).
   */
  past?: { k: tf.Tensor; v: tf.Tensor };
  /** RoPE tables of the new tokens' positions: queries and keys are rotated before the scores. */
  rope?: RopeTables;
  /** Scores are q·k without the 1/√(d/h) factor (GPT-Neo). */
  unscaled?: boolean;
}

export interface AttentionResult {
  out: tf.Tensor; // [B, Tq, d]
  scores: tf.Tensor; // [B, h, Tq, Tk]  e_ij = q_i·k_j / √(d/h) (unscaled: q_i·k_j), before the mask
  probs: tf.Tensor; // [B, h, Tq, Tk]  softmax_j(e_ij + mask_ij)
  q: tf.Tensor; // [B, h, Tq, d/h] (rotated where the model uses RoPE)
  k: tf.Tensor; // [B, h, Tk, d/h] (past keys included; shared KV heads repeated per query head)
  v: tf.Tensor; // [B, h, Tk, d/h]
  heads: tf.Tensor; // [B, h, Tq, d/h]  Σ_j p_ij v_j, after the gate
  /**
   * Keys and values past included, [B, n_kv, Tk, d/h] each, before repeat_kv: what a KV cache
   * keeps, n_kv/h of the repeated `k` and `v` (the same tensors where n_kv = h).
   */
  kv: { k: tf.Tensor; v: tf.Tensor };
}

/**
 * Queries `[B, h, Tq, d/h]`, keys and values `[B, h, Tk, d/h]` (rotated where the model uses RoPE,
 * after the cached ones, shared heads repeated), and `kv`, the keys and values before repeat_kv:
 * what multiHeadAttention and the blocked attention (blockedAttention.ts) start from.
 */
export function headsOf(
  xq: tf.Tensor,
  xkv: tf.Tensor,
  p: AttentionParams,
  nHeads: number,
  io: Pick<AttentionInputs, 'rope' | 'past'>,
): Pick<AttentionResult, 'q' | 'k' | 'v' | 'kv'> & { headDim: number } {
  const headDim = p.q.w.shape[1] / nHeads;
  let q = splitHeads(linear(xq, p.q), headDim);
  let k = splitHeads(linear(xkv, p.k), headDim);
  let v = splitHeads(linear(xkv, p.v), headDim);
  if (io.rope) {
    q = applyRope(q, io.rope);
    k = applyRope(k, io.rope);
  }
  if (io.past) {
    k = tf.concat([io.past.k, k], 2);
    v = tf.concat([io.past.v, v], 2);
  }
  const rep = nHeads / k.shape[1]!;
  return { headDim, q, k: repeatKv(k, rep), v: repeatKv(v, rep), kv: { k, v } };
}

/** e_ij = q_i·k_j / √(d/h), or q_i·k_j where the model does not scale (GPT-Neo): `[B, h, Tq, Tk]`. */
export function attentionScores(
  q: tf.Tensor,
  k: tf.Tensor,
  headDim: number,
  unscaled?: boolean,
): tf.Tensor {
  const qk = tf.matMul(q, k, false, true);
  return unscaled ? qk : tf.div(qk, Math.sqrt(headDim));
}

/**
 * Heads' outputs `[B, h, Tq, d/h]` after the interventions: the gate (0 ablates a head), then,
 * where `patch.where` is 1, `patched` (the other run's rows for these queries) in their place.
 */
export function intervened(
  heads: tf.Tensor,
  io: Pick<AttentionInputs, 'gate' | 'patch'>,
  patched = io.patch?.heads,
): tf.Tensor {
  let out = io.gate ? tf.mul(heads, io.gate) : heads;
  // x·(1 − w) + y·w with w ∈ {0, 1} is exactly x or y: a patched head is the other run's bits.
  if (io.patch && patched)
    out = tf.add(tf.mul(out, tf.sub(1, io.patch.where)), tf.mul(patched, io.patch.where));
  return out;
}

/**
 * Multi-head attention. Queries come from `xq`, keys and values from `xkv` (the same tensor for
 * self-attention, the encoder output for cross-attention). Where `p.k` is narrower than `p.q`
 * the key/value heads are shared by groups of query heads (grouped-query attention).
 */
export function multiHeadAttention(
  xq: tf.Tensor,
  xkv: tf.Tensor,
  p: AttentionParams,
  nHeads: number,
  io: AttentionInputs,
): AttentionResult {
  const { headDim, q, k, v, kv } = headsOf(xq, xkv, p, nHeads, io);
  const scores = attentionScores(q, k, headDim, io.unscaled);
  const probs = tf.softmax(tf.add(scores, io.bias)); // masked keys get exactly 0
  const heads = intervened(tf.matMul(probs, v), io); // weighted sum of the values
  const out = linear(mergeHeads(heads), p.o);
  return { out, scores, probs, q, k, v, heads, kv };
}
