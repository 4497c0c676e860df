import * as tf from '@tensorflow/tfjs-core';
import type { Activation } from './config';
import { ownWasmKernel } from './kernels/direct';
import { GELU_NEW } from './kernels/fusedOps';
import { linear } from './linear';
import type { FeedForwardParams } from './params';

/** 2·√(2/π): ½(1 + tanh(z)) = σ(2z), so gelu_new is x·σ(2·√(2/π)·(x + 0.044715x³)). */
const TWO_SQRT_2_OVER_PI = 2 * Math.sqrt(2 / Math.PI);

export function activate(x: tf.Tensor, fn: Activation): tf.Tensor {
  switch (fn) {
    case 'gelu_new': {
      // On wasm, outside training, the same formula as one kernel of ours (kernels/fusedOps.ts).
      if (ownWasmKernel(GELU_NEW)) return tf.engine().runKernel(GELU_NEW, { x }) as tf.Tensor;
      // GPT-2's tanh approximation ½x(1 + tanh(√(2/π)(x + 0.044715x³))), written as one sigmoid
      // of a polynomial, x·(c + 0.044715c·x²) with c = 2√(2/π): six cheap element-wise kernels
      // instead of eight with Pow and Tanh, the slow ones (docs/performance.md).
      const inner = tf.mul(
        x,
        tf.add(tf.mul(tf.square(x), 0.044715 * TWO_SQRT_2_OVER_PI), TWO_SQRT_2_OVER_PI),
      );
      return tf.mul(x, tf.sigmoid(inner));
    }
    case 'gelu': // exact: ½x(1 + erf(x/√2))
      return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.div(x, Math.SQRT2)), 1));
    case 'relu':
      return tf.relu(x);
    case 'swish': // x·σ(x), Marian's activation
      return tf.mul(x, tf.sigmoid(x));
  }
}

/** FFN(x) = act(x W₁ + b₁) W₂ + b₂, applied to each token independently. */
export function feedForward(x: tf.Tensor, p: FeedForwardParams, fn: Activation): tf.Tensor {
  return linear(activate(linear(x, p.fc), fn), p.proj);
}
