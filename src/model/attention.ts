import * as tf from '@tensorflow/tfjs-core';
import { linear } from './linear';
import type { AttentionParams } from './params';

/** Additive mask value: large enough that exp() underflows to exactly 0, finite so no row gives NaN. */
export const MASKED = -1e9;

/** [B, T, d] → [B, h, T, d/h]: each head sees its own d/h-wide slice of q, k and v. */
function splitHeads(x: tf.Tensor, nHeads: number): tf.Tensor {
  const [b, t, d] = x.shape;
  return tf.transpose(tf.reshape(x, [b, t, nHeads, d / nHeads]), [0, 2, 1, 3]);
}

/** [B, h, T, d/h] → [B, T, d]: concatenate the heads again. */
function mergeHeads(x: tf.Tensor): tf.Tensor {
  const [b, h, t, dh] = x.shape;
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, t, h * dh]);
}

export interface AttentionInputs {
  /** Additive mask broadcastable to [B, h, Tq, Tk]: 0 where allowed, MASKED where not. */
  bias: tf.Tensor;
  /** Per-head gate [1, h, 1, 1]: 0 ablates a head. */
  gate?: tf.Tensor;
  /** Keys and values of earlier tokens (step-through generation), [B, h, Tpast, d/h] each. */
  past?: { k: tf.Tensor; v: tf.Tensor };
}

export interface AttentionResult {
  out: tf.Tensor; // [B, Tq, d]
  scores: tf.Tensor; // [B, h, Tq, Tk]  e_ij = q_i·k_j / √(d/h), before the mask
  probs: tf.Tensor; // [B, h, Tq, Tk]  softmax_j(e_ij + mask_ij)
  q: tf.Tensor; // [B, h, Tq, d/h]
  k: tf.Tensor; // [B, h, Tk, d/h] (past keys included)
  v: tf.Tensor; // [B, h, Tk, d/h]
  heads: tf.Tensor; // [B, h, Tq, d/h]  Σ_j p_ij v_j, after the gate
}

/**
 * Multi-head attention. Queries come from `xq`, keys and values from `xkv` (the same tensor for
 * self-attention, the encoder output for cross-attention).
 */
export function multiHeadAttention(
  xq: tf.Tensor,
  xkv: tf.Tensor,
  p: AttentionParams,
  nHeads: number,
  io: AttentionInputs,
): AttentionResult {
  const q = splitHeads(linear(xq, p.q), nHeads);
  let k = splitHeads(linear(xkv, p.k), nHeads);
  let v = splitHeads(linear(xkv, p.v), nHeads);
  if (io.past) {
    k = tf.concat([io.past.k, k], 2);
    v = tf.concat([io.past.v, v], 2);
  }
  const headDim = q.shape[3]!;
  const scores = tf.div(tf.matMul(q, k, false, true), Math.sqrt(headDim)); // q·k / √(d/h)
  const probs = tf.softmax(tf.add(scores, io.bias)); // masked keys get exactly 0
  let heads = tf.matMul(probs, v); // weighted sum of the values
  if (io.gate) heads = tf.mul(heads, io.gate);
  const out = linear(mergeHeads(heads), p.o);
  return { out, scores, probs, q, k, v, heads };
}
