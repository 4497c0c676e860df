/**
 * When model code may call a wasm kernel of ours directly, through `tf.engine().runKernel`, with
 * shapes the tfjs op would first reshape, or in place of a chain of element-wise ops: each tfjs
 * kernel costs 5–15 µs of dispatch, and a GPT-2-small token ran ~1,200 of them
 * (docs/performance.md, "Short inputs").
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { hasGemm } from './gemm';

/**
 * Whether kernel `name` of ours is installed (installWasmKernels) on the current backend, wasm,
 * with our gemm module (hasGemm: else tfjs's `_FusedMatMul` runs, which wants 3-D operands), and
 * no gradient tape is recording: these calls have no gradients, so training
 * takes the plain tfjs ops.
 */
export function ownWasmKernel(name: string): boolean {
  if (tf.getBackend() !== 'wasm' || tf.engine().state.gradientDepth > 0) return false;
  const ours = (tf.getKernel(name, 'wasm') as { ours?: boolean } | undefined)?.ours === true;
  return ours && hasGemm(tf.backend() as BackendWasm);
}

/** Registers kernel `name` of ours on wasm (once), marked as ours for `ownWasmKernel`. */
export function registerOwnWasmKernel(kernelName: string, kernelFunc: tf.KernelFunc): void {
  if (tf.getKernel(kernelName, 'wasm')) return;
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc, ours: true } as tf.KernelConfig);
}
