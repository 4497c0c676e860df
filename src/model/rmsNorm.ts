import * as tf from '@tensorflow/tfjs-core';

/**
 * RMSNorm(x) = γ ⊙ x / √(mean(x²) + ε), over the features of each token: LayerNorm without
 * centring and without β (Zhang & Sennrich 2019; LlamaRMSNorm, Qwen2RMSNorm).
 */
export function rmsNorm(x: tf.Tensor, gamma: tf.Tensor1D, eps: number): tf.Tensor {
  const meanSquare = tf.mean(tf.square(x), -1, true); // [..., 1]
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(meanSquare, eps))), gamma);
}
