import * as tf from '@tensorflow/tfjs-core';
import type { Linear } from './params';

/** x @ W + b for x of any rank `[..., in]` → `[..., out]`. */
export function linear(x: tf.Tensor, p: Linear): tf.Tensor {
  const inFeatures = x.shape[x.shape.length - 1];
  const y = tf.matMul(tf.reshape(x, [-1, inFeatures]), p.w);
  const out = p.b ? tf.add(y, p.b) : y;
  return tf.reshape(out, [...x.shape.slice(0, -1), p.w.shape[1]]);
}
