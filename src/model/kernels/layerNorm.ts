/**
 * LayerNorm as one wasm kernel (layer_norm in gemm.c; layerNorm.ts calls it where
 * `ownWasmKernel` allows) in place of nine tfjs kernels (two means, a square, a subtraction, an
 * rsqrt, an add, the scale and the shift), 25 of them a GPT-2-small forward (docs/performance.md,
 * "Short inputs"). Rows are independent: a row's output is the same bits whatever rows come with
 * it.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { gemmVariant, instantiateGemm } from './gemm';

export const LAYER_NORM = 'AttentionLabLayerNorm';

type LayerNormEntry = (
  x: number,
  gamma: number,
  beta: number,
  y: number,
  rows: number,
  d: number,
  eps: number,
) => void;

/** Emscripten's module, with the members tfjs's types leave out. */
interface EmscriptenModule {
  asm?: { memory?: WebAssembly.Memory };
  wasmMemory?: WebAssembly.Memory;
}

/** gemm.c's layer_norm on this backend's memory (registered only where our gemm runs: hasGemm). */
const entries = new WeakMap<object, LayerNormEntry>();

function entryFor(backend: BackendWasm): LayerNormEntry {
  const module = backend.wasm as unknown as EmscriptenModule;
  let entry = entries.get(module);
  if (!entry) {
    const memory = (module.asm?.memory ?? module.wasmMemory)!;
    const exports = instantiateGemm(gemmVariant()!, memory) as unknown as {
      layer_norm: LayerNormEntry;
    };
    entry = exports.layer_norm;
    entries.set(module, entry);
  }
  return entry;
}

/** x `[..., d]`, γ and β `[d]` (β optional), attribute `eps` → γ ⊙ (x − μ) / √(σ² + ε) + β. */
function layerNormRows({ inputs, attrs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const wasm = backend as BackendWasm;
  const { x, gamma, beta } = inputs as Record<string, tf.TensorInfo | undefined>;
  const d = x!.shape[x!.shape.length - 1];
  const rows = tf.util.sizeFromShape(x!.shape) / d;
  const out = wasm.makeOutput(x!.shape, 'float32');
  const at = (t: tf.TensorInfo) => wasm.getMemoryOffset(t.dataId);
  const eps = (attrs as { eps: number }).eps;
  entryFor(wasm)(at(x!), at(gamma!), beta ? at(beta) : 0, at(out), rows, d, eps);
  return out;
}

/** Registers the kernel on wasm (once), marked as ours for `ownWasmKernel`. */
export function registerLayerNorm(): void {
  if (tf.getKernel(LAYER_NORM, 'wasm')) return;
  tf.registerKernel({
    kernelName: LAYER_NORM,
    backendName: 'wasm',
    kernelFunc: layerNormRows,
    ours: true,
  } as tf.KernelConfig);
}
