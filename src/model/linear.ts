import * as tf from '@tensorflow/tfjs-core';
import { ownWasmKernel } from './kernels/direct';
import type { Linear } from './params';

/**
 * x @ W + b for x of any rank `[..., in]` → `[..., out]`. The bias goes into the product
 * (tf.fused.matMul), so wasm adds it in the same kernel (wasmKernels.ts). On our wasm kernels
 * the product is one kernel call on x as it is: tf.fused.matMul and the reshapes around it were
 * five more kernels and a gradient wrapper, 72 times a GPT-2-small forward.
 */
export function linear(x: tf.Tensor, p: Linear): tf.Tensor {
  if (ownWasmKernel('_FusedMatMul')) {
    const inputs: tf.NamedTensorMap = p.b ? { a: x, b: p.w, bias: p.b } : { a: x, b: p.w };
    const attrs = { transposeA: false, transposeB: false, activation: 'linear' };
    return tf.engine().runKernel('_FusedMatMul', inputs, attrs) as tf.Tensor;
  }
  const inFeatures = x.shape[x.shape.length - 1];
  const y = tf.fused.matMul({ a: tf.reshape(x, [-1, inFeatures]), b: p.w, bias: p.b });
  return tf.reshape(y, [...x.shape.slice(0, -1), p.w.shape[1]]);
}
