import * as tf from './tf';
import type { Linear } from './params';

/** x @ W + b for x of any rank `[..., in]` → `[..., out]`. */
export function linear(x: tf.Tensor, p: Linear): tf.Tensor {
  const inFeatures = x.shape[x.shape.length - 1];
  const y = tf.matMul(x.reshape([-1, inFeatures]), p.w);
  const out = p.b ? y.add(p.b) : y;
  return out.reshape([...x.shape.slice(0, -1), p.w.shape[1]]);
}
