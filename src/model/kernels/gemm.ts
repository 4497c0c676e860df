/**
 * Our own matrix products on tfjs-wasm's memory (gemm.c): the module is instantiated on the
 * backend's WebAssembly.Memory, so it reads the tensors where tfjs keeps them and writes the
 * output tfjs allocated; nothing is copied or packed beyond one panel of B in a scratch area.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { GEMM_RELAXED, GEMM_SIMD } from './gemmWasm';

/** gemm.c's entry points: addresses in bytes, sizes and strides in floats. */
type GemmEntry = (
  a: number,
  b: number,
  c: number,
  bias: number,
  m: number,
  n: number,
  k: number,
  batch: number,
  strideA: number,
  strideB: number,
  scratch: number,
) => void;

interface GemmExports {
  gemm_nn: GemmEntry;
  gemm_nt: GemmEntry;
  gemm_scratch_bytes(): number; // the scratch area each call needs (258 KB)
}

export type GemmVariant = 'relaxed' | 'simd';

const BYTES: Record<GemmVariant, string> = { relaxed: GEMM_RELAXED, simd: GEMM_SIMD };

const decode = (base64: string) => Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));

/**
 * The fastest variant this engine validates: relaxed SIMD (fused multiply-add; Chromium by
 * default, Node 20 only with --experimental-wasm-relaxed-simd), else plain SIMD, else none.
 */
export function gemmVariant(): GemmVariant | null {
  for (const variant of ['relaxed', 'simd'] as const)
    if (WebAssembly.validate(decode(BYTES[variant]))) return variant;
  return null;
}

const compiled = new Map<GemmVariant, WebAssembly.Module>();

/** One instance of a variant on `memory` (which must not be shared: the module imports a plain one). */
export function instantiateGemm(variant: GemmVariant, memory: WebAssembly.Memory): GemmExports {
  let module = compiled.get(variant);
  if (!module) {
    module = new WebAssembly.Module(decode(BYTES[variant]));
    compiled.set(variant, module);
  }
  return new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as GemmExports;
}

interface BackendGemm {
  kernels: GemmExports;
  scratch: number; // address in tfjs's heap of gemm_scratch_bytes() bytes
}

/** Emscripten's module, with the members tfjs's types leave out. */
interface EmscriptenModule {
  asm?: { memory?: WebAssembly.Memory };
  wasmMemory?: WebAssembly.Memory;
  _malloc(bytes: number): number;
  _free(address: number): void;
}

const perBackend = new WeakMap<object, BackendGemm | null>();
let chosen: GemmVariant | null | undefined;

/**
 * The kernels for this backend, or null where they cannot run: no SIMD, or tfjs's threaded
 * build, whose memory is shared (the module would need a shared-memory build; docs/performance.md).
 */
function backendGemm(backend: BackendWasm): BackendGemm | null {
  const module = backend.wasm as unknown as EmscriptenModule;
  let gemm = perBackend.get(module);
  if (gemm === undefined) {
    if (chosen === undefined) chosen = gemmVariant();
    const memory = module.asm?.memory ?? module.wasmMemory;
    const plain = memory && !(memory.buffer instanceof ArrayBuffer) ? null : memory;
    const kernels = chosen && plain ? instantiateGemm(chosen, plain) : null;
    gemm = kernels && { kernels, scratch: module._malloc(kernels.gemm_scratch_bytes()) };
    perBackend.set(module, gemm);
  }
  return gemm;
}

/** Whether `gemm` can run on this backend (see backendGemm). */
export const hasGemm = (backend: BackendWasm) => backendGemm(backend) !== null;

/**
 * `a · b` (or `a · bᵀ` with `transposeB`) over the leading (batch) dimensions, plus `bias` [n]
 * if given, into a new tensor of the backend. Batches must be equal or one of them 1 (the
 * caller checks with `gemmFits`). a: […, m, k]; b: […, k, n], or […, n, k] transposed.
 */
export function gemm(
  backend: BackendWasm,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeB: boolean,
  bias?: tf.TensorInfo,
): tf.TensorInfo {
  const g = backendGemm(backend)!;
  const [m, k] = a.shape.slice(-2);
  const n = b.shape[b.shape.length - (transposeB ? 2 : 1)];
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(
    a.shape.slice(0, -2),
    b.shape.slice(0, -2),
  );
  const out = backend.makeOutput([...outer, m, n], 'float32');
  if (m * n === 0) return out;
  const address = (t: tf.TensorInfo) => backend.getMemoryOffset(t.dataId);
  const entry = transposeB ? g.kernels.gemm_nt : g.kernels.gemm_nn;
  entry(
    address(a),
    address(b),
    address(out),
    bias ? address(bias) : 0,
    m,
    n,
    k,
    Math.max(batchA, batchB),
    batchA === 1 ? 0 : m * k,
    batchB === 1 ? 0 : k * n,
    g.scratch,
  );
  return out;
}

/**
 * Whether `gemm` takes these operands: float32, and batch shapes equal or one of them a single
 * matrix (attention's heads against heads, a batch of rows against one weight matrix).
 */
export function gemmFits(backend: BackendWasm, a: tf.TensorInfo, b: tf.TensorInfo): boolean {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || !hasGemm(backend)) return false;
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const single = (s: number[]) => s.every((d) => d === 1);
  return (
    single(outerA) ||
    single(outerB) ||
    (outerA.length === outerB.length && outerA.every((d, i) => d === outerB[i]))
  );
}
