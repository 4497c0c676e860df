/**
 * How much each key can move the residual stream through one head: ‖v_j W_O^h‖, the norm of
 * key j's value vector after the head's slice of the output projection (Kobayashi et al. 2020,
 * "Attention is not only a weight"). Attention weight times this norm, α_ij ‖v_j W_O^h‖, is the
 * size of what key j adds to query i's output; a key with a large weight but a tiny value norm
 * contributes little (the first-token "sink" is the classic case). The output bias is added
 * once after the heads are summed and belongs to no key, so it is left out.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * `v`: `[h, T, d/h]` per-head values (bias included; shared KV heads already repeated per query
 * head); `wO`: the output projection `[h·d/h, d]` (x @ W layout, rows grouped by head).
 * Returns `[h, T]`.
 *
 * Two ways to the same numbers, whichever multiplies less: v_j W_O^h for every key (T·d/h·d per
 * head), or through the head's Gram matrix G_h = W_O^h W_O^hᵀ, ‖v W_O^h‖² = v G_h vᵀ (d/h·d/h·d
 * once, then T·d/h·d/h): past about d/h keys (GPT-2 small: 70) the second, 5× fewer at 256 keys
 * (docs/performance.md, "Page-side overhead of generation and of the trace").
 */
export function valueNorms(v: tf.Tensor, wO: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [h, t, dh] = v.shape as [number, number, number];
    const d = wO.shape[1]!;
    const perHead = tf.reshape(wO, [h, dh, d]); // [h, d/h, d]: head h's rows of W_O
    if (t * d <= dh * d + t * dh) {
      const moved = tf.matMul(v, perHead); // [h, T, d]
      return tf.sqrt(tf.sum(tf.square(moved), -1)); // [h, T]
    }
    const gram = tf.matMul(perHead, perHead, false, true); // [h, d/h, d/h]
    const squared = tf.sum(tf.mul(tf.matMul(v, gram), v), -1); // [h, T]: v G vᵀ per key
    return tf.sqrt(tf.relu(squared)); // ≥ 0 but for rounding where a value vector is ~0
  });
}
