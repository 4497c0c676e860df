import * as tf from '@tensorflow/tfjs-core';
import type { Activation } from './config';
import { linear } from './linear';
import type { FeedForwardParams } from './params';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

export function activate(x: tf.Tensor, fn: Activation): tf.Tensor {
  switch (fn) {
    case 'gelu_new': // GPT-2's tanh approximation: ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
      return tf.mul(
        tf.mul(x, 0.5),
        tf.add(tf.tanh(tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), SQRT_2_OVER_PI)), 1),
      );
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
