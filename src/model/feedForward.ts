import * as tf from './tf';
import type { Activation } from './config';
import { linear } from './linear';
import type { FeedForwardParams } from './params';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

export function activate(x: tf.Tensor, fn: Activation): tf.Tensor {
  switch (fn) {
    case 'gelu_new': // GPT-2's tanh approximation: ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
      return x.mul(0.5).mul(tf.tanh(x.add(x.pow(3).mul(0.044715)).mul(SQRT_2_OVER_PI)).add(1));
    case 'gelu': // exact: ½x(1 + erf(x/√2))
      return x.mul(0.5).mul(tf.erf(x.div(Math.SQRT2)).add(1));
    case 'relu':
      return tf.relu(x);
    case 'swish': // x·σ(x), Marian's activation
      return x.mul(tf.sigmoid(x));
  }
}

/** FFN(x) = act(x W₁ + b₁) W₂ + b₂, applied to each token independently. */
export function feedForward(x: tf.Tensor, p: FeedForwardParams, fn: Activation): tf.Tensor {
  return linear(activate(linear(x, p.fc), fn), p.proj);
}
