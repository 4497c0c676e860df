/**
 * Chains of element-wise tfjs kernels as one wasm kernel each (layer_norm and gelu_new in
 * rows.c), which model code calls where `ownWasmKernel` allows: LayerNorm in place of nine
 * kernels (two means, a square, a subtraction, an rsqrt, an add, the scale and the shift; 25 of
 * them a GPT-2-small forward), gelu_new in place of six (docs/performance.md, "Short inputs").
 * Both work row by row or element by element: a row's output is the same bits whatever rows come
 * with it.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { gemmVariant, instantiateGemm } from './gemm';

export const LAYER_NORM = 'AttentionLabLayerNorm';
export const GELU_NEW = 'AttentionLabGeluNew';

/** rows.c's element-wise entry points: addresses in bytes, sizes in floats. */
interface FusedExports {
  layer_norm(
    x: number,
    gamma: number,
    beta: number,
    y: number,
    rows: number,
    d: number,
    eps: number,
  ): void;
  gelu_new(x: number, y: number, n: number): void;
}

/** Emscripten's module, with the members tfjs's types leave out. */
interface EmscriptenModule {
  asm?: { memory?: WebAssembly.Memory };
  wasmMemory?: WebAssembly.Memory;
}

const instances = new WeakMap<object, FusedExports>();

/** The module on this backend's memory (the kernels run only where our gemm does: hasGemm). */
function fusedOn(backend: BackendWasm): FusedExports {
  const module = backend.wasm as unknown as EmscriptenModule;
  let exports = instances.get(module);
  if (!exports) {
    const memory = (module.asm?.memory ?? module.wasmMemory)!;
    exports = instantiateGemm(gemmVariant()!, memory) as unknown as FusedExports;
    instances.set(module, exports);
  }
  return exports;
}

const addressOf = (backend: BackendWasm, t: tf.TensorInfo) => backend.getMemoryOffset(t.dataId);

/** x `[..., d]`, γ and β `[d]` (β optional), attribute `eps` → γ ⊙ (x − μ) / √(σ² + ε) + β. */
function layerNorm({ inputs, attrs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const wasm = backend as BackendWasm;
  const { x, gamma, beta } = inputs as Record<string, tf.TensorInfo | undefined>;
  const d = x!.shape[x!.shape.length - 1];
  const out = wasm.makeOutput(x!.shape, 'float32');
  const at = (t: tf.TensorInfo) => addressOf(wasm, t);
  const [rows, eps] = [tf.util.sizeFromShape(x!.shape) / d, (attrs as { eps: number }).eps];
  fusedOn(wasm).layer_norm(at(x!), at(gamma!), beta ? at(beta) : 0, at(out), rows, d, eps);
  return out;
}

/** x → x·σ(c·(x + 0.044715·x³)), c = 2√(2/π): GPT-2's gelu_new. */
function geluNew({ inputs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const wasm = backend as BackendWasm;
  const { x } = inputs as { x: tf.TensorInfo };
  const out = wasm.makeOutput(x.shape, 'float32');
  fusedOn(wasm).gelu_new(addressOf(wasm, x), addressOf(wasm, out), tf.util.sizeFromShape(x.shape));
  return out;
}

/** Registers the kernels on wasm (once), marked as ours for `ownWasmKernel`. */
export function registerFusedOps(): void {
  for (const [kernelName, kernelFunc] of [
    [LAYER_NORM, layerNorm],
    [GELU_NEW, geluNew],
  ] as const)
    if (!tf.getKernel(kernelName, 'wasm'))
      tf.registerKernel({
        kernelName,
        backendName: 'wasm',
        kernelFunc,
        ours: true,
      } as tf.KernelConfig);
}
