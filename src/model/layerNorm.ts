import * as tf from '@tensorflow/tfjs-core';
import type { LayerNormParams } from './params';

/** LayerNorm(x) = γ ⊙ (x − μ) / √(σ² + ε) + β, with μ, σ² over the features of each token. */
export function layerNorm(x: tf.Tensor, p: LayerNormParams, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true); // [..., 1] each; σ² is the biased variance
  const normalized = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps)));
  const scaled = tf.mul(normalized, p.gamma);
  return p.beta ? tf.add(scaled, p.beta) : scaled;
}

/** Mean and biased variance over features, per token: what the LayerNorm panel plots. */
export function featureStats(x: tf.Tensor): { mean: tf.Tensor; variance: tf.Tensor } {
  return tf.moments(x, -1);
}
