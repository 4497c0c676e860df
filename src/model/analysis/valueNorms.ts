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
 */
export function valueNorms(v: tf.Tensor, wO: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [h, , dh] = v.shape;
    const perHead = tf.reshape(wO, [h, dh, wO.shape[1]!]); // [h, d/h, d]: head h's rows of W_O
    const moved = tf.matMul(v, perHead); // [h, T, d]
    return tf.sqrt(tf.sum(tf.square(moved), -1)); // [h, T]
  });
}
