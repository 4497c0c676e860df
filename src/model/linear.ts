import * as tf from '@tensorflow/tfjs-core';
import type { Linear } from './params';

/**
 * x @ W + b for x of any rank `[..., in]` → `[..., out]`. The bias goes into the product
 * (tf.fused.matMul), so wasm adds it in the same kernel (wasmKernels.ts).
 */
export function linear(x: tf.Tensor, p: Linear): tf.Tensor {
  const inFeatures = x.shape[x.shape.length - 1];
  const y = tf.fused.matMul({ a: tf.reshape(x, [-1, inFeatures]), b: p.w, bias: p.b });
  return tf.reshape(y, [...x.shape.slice(0, -1), p.w.shape[1]]);
}
