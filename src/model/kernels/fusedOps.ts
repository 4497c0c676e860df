/**
 * Chains of element-wise tfjs kernels as one wasm kernel each (layer_norm and gelu_new in
 * rows.c, on the backend's instance of our module), which model code calls where
 * `ownWasmKernel` allows: LayerNorm in place of nine kernels (two means, a square, a
 * subtraction, an rsqrt, an add, the scale and the shift; 25 of them a GPT-2-small forward),
 * gelu_new in place of six (docs/performance.md, "Short inputs"). Both work row by row or
 * element by element: a row's output is the same bits whatever rows come with it.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { registerOwnWasmKernel } from './direct';
import { ownKernels } from './gemm';

export const LAYER_NORM = 'AttentionLabLayerNorm';
export const GELU_NEW = 'AttentionLabGeluNew';

const addressOf = (backend: BackendWasm, t: tf.TensorInfo) => backend.getMemoryOffset(t.dataId);

/** x `[..., d]`, γ and β `[d]` (β optional), attribute `eps` → γ ⊙ (x − μ) / √(σ² + ε) + β. */
function layerNorm({ inputs, attrs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const wasm = backend as BackendWasm;
  const { x, gamma, beta } = inputs as Record<string, tf.TensorInfo | undefined>;
  const d = x!.shape[x!.shape.length - 1];
  const out = wasm.makeOutput(x!.shape, 'float32');
  const at = (t: tf.TensorInfo) => addressOf(wasm, t);
  const [rows, eps] = [tf.util.sizeFromShape(x!.shape) / d, (attrs as { eps: number }).eps];
  ownKernels(wasm).layer_norm(at(x!), at(gamma!), beta ? at(beta) : 0, at(out), rows, d, eps);
  return out;
}

/** x → x·σ(c·(x + 0.044715·x³)), c = 2√(2/π): GPT-2's gelu_new. */
function geluNew({ inputs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const wasm = backend as BackendWasm;
  const { x } = inputs as { x: tf.TensorInfo };
  const out = wasm.makeOutput(x.shape, 'float32');
  ownKernels(wasm).gelu_new(
    addressOf(wasm, x),
    addressOf(wasm, out),
    tf.util.sizeFromShape(x.shape),
  );
  return out;
}

/** Registers the kernels on wasm (once). */
export function registerFusedOps(): void {
  registerOwnWasmKernel(LAYER_NORM, layerNorm);
  registerOwnWasmKernel(GELU_NEW, geluNew);
}
