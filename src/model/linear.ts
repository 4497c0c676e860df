import * as tf from '@tensorflow/tfjs-core';
import { codedProduct, weightTensor } from './halfWeights';
import { ownWasmKernel } from './kernels/direct';
import type { Linear } from './params';

/**
 * x @ W + b for x of any rank `[..., in]` → `[..., out]`. The bias goes into the product
 * (tf.fused.matMul), so wasm adds it in the same kernel (wasmKernels.ts). On our wasm kernels
 * the product is one kernel call on x as it is: tf.fused.matMul and the reshapes around it were
 * five more kernels and a gradient wrapper, 72 times a GPT-2-small forward. A weight kept as
 * 16-bit codes (halfWeights.ts) is widened as the product reads it, or whole where our kernels
 * cannot run (under a gradient tape).
 */
export function linear(x: tf.Tensor, p: Linear): tf.Tensor {
  const coded = codedProduct(x, p.w, p.b);
  if (coded) return coded;
  const w = weightTensor(p.w);
  if (ownWasmKernel('_FusedMatMul')) {
    const inputs: tf.NamedTensorMap = p.b ? { a: x, b: w, bias: p.b } : { a: x, b: w };
    const attrs = { transposeA: false, transposeB: false, activation: 'linear' };
    return tf.engine().runKernel('_FusedMatMul', inputs, attrs) as tf.Tensor;
  }
  const inFeatures = x.shape[x.shape.length - 1];
  const y = tf.fused.matMul({ a: tf.reshape(x, [-1, inFeatures]), b: w, bias: p.b });
  return tf.reshape(y, [...x.shape.slice(0, -1), w.shape[1]]);
}
