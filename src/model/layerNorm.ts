import * as tf from '@tensorflow/tfjs-core';
import { ownWasmKernel } from './kernels/direct';
import { LAYER_NORM } from './kernels/fusedOps';
import type { LayerNormParams } from './params';

/**
 * LayerNorm(x) = γ ⊙ (x − μ) / √(σ² + ε) + β, with μ, σ² over the features of each token.
 * Nine kernels: the centred x serves the variance and the output (`tf.moments` and a second
 * x − μ made twelve, 300 of a GPT-2-small token's ~1,200; docs/performance.md, generation).
 * On wasm, outside training, one kernel of ours (kernels/fusedOps.ts).
 */
export function layerNorm(x: tf.Tensor, p: LayerNormParams, eps: number): tf.Tensor {
  if (ownWasmKernel(LAYER_NORM)) {
    const inputs: tf.NamedTensorMap = p.beta
      ? { x, gamma: p.gamma, beta: p.beta }
      : { x, gamma: p.gamma };
    return tf.engine().runKernel(LAYER_NORM, inputs, { eps }) as tf.Tensor;
  }
  const centred = tf.sub(x, tf.mean(x, -1, true));
  const variance = tf.mean(tf.square(centred), -1, true); // [..., 1]: σ², the biased variance
  const scaled = tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, eps))), p.gamma);
  return p.beta ? tf.add(scaled, p.beta) : scaled;
}

/** Mean and biased variance over features, per token: what the LayerNorm panel plots. */
export function featureStats(x: tf.Tensor): { mean: tf.Tensor; variance: tf.Tensor } {
  const mean = tf.mean(x, -1, true);
  const variance = tf.mean(tf.square(tf.sub(x, mean)), -1); // four kernels; tf.moments made six
  return { mean: tf.reshape(mean, variance.shape), variance };
}
