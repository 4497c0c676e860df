/**
 * Rotary position embedding (RoPE, Su et al. 2021) in the Hugging Face layout: dimension m of a
 * head pairs with m + head_dim/2 ("rotate half"), and pair i turns by pos · θ^(−2i/head_dim).
 * Nothing is added to the input; queries and keys are rotated, so q·k depends on positions
 * only through their difference.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Radians per position of each dimension pair i = 0 … head_dim/2 − 1: θ^(−2i/head_dim). */
export function ropeFrequencies(headDim: number, theta: number): Float64Array {
  const half = headDim / 2;
  const out = new Float64Array(half);
  for (let i = 0; i < half; i++) out[i] = 1 / Math.pow(theta, (2 * i) / headDim);
  return out;
}

export interface RopeTables {
  cos: tf.Tensor2D; // [T, head_dim]
  sin: tf.Tensor2D; // [T, head_dim]
}

/**
 * cos and sin of pos · ω for positions offset … offset+count−1, each angle written twice
 * (columns i and i + head_dim/2), as `cat(freqs, freqs)` in LlamaRotaryEmbedding.
 */
export function ropeTables(count: number, headDim: number, theta: number, offset = 0): RopeTables {
  const freq = ropeFrequencies(headDim, theta);
  const half = headDim / 2;
  const cos = new Float32Array(count * headDim);
  const sin = new Float32Array(count * headDim);
  for (let t = 0; t < count; t++) {
    for (let i = 0; i < half; i++) {
      const angle = (offset + t) * freq[i];
      for (const col of [i, i + half]) {
        cos[t * headDim + col] = Math.cos(angle);
        sin[t * headDim + col] = Math.sin(angle);
      }
    }
  }
  return {
    cos: tf.tensor2d(cos, [count, headDim]),
    sin: tf.tensor2d(sin, [count, headDim]),
  };
}

/** rotate_half: (x₁, x₂) → (−x₂, x₁) over the two halves of the last axis. */
function rotateHalf(x: tf.Tensor): tf.Tensor {
  const [x1, x2] = tf.split(x, 2, -1);
  return tf.concat([tf.neg(x2), x1], -1);
}

/** x·cos + rotate_half(x)·sin for x `[B, h, T, head_dim]` and tables of T positions. */
export function applyRope(x: tf.Tensor, rope: RopeTables): tf.Tensor {
  return tf.add(tf.mul(x, rope.cos), tf.mul(rotateHalf(x), rope.sin));
}
