/**
 * Our own matrix products on tfjs-wasm's memory (gemm.c): the module is instantiated on the
 * backend's WebAssembly.Memory, so it reads the tensors where tfjs keeps them and writes the
 * output tfjs allocated; nothing is copied or packed beyond one panel of B in a scratch area.
 * On tfjs's threaded build (a shared memory) the products can be split over threads (gemmPool.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { GEMM_RELAXED, GEMM_RELAXED_SHARED, GEMM_SIMD, GEMM_SIMD_SHARED } from './gemmWasm';
import {
  type GemmJob,
  type GemmPool,
  type HelperThread,
  productForm,
  startGemmPool,
} from './gemmPool';

/** Operands and sizes, in the order gemm.c's entry points take them: addresses in bytes. */
export type Operands = [
  a: number,
  b: number,
  c: number,
  bias: number,
  m: number,
  n: number,
  k: number,
];

/** gemm_nn and gemm_nt: strides in floats. */
type GemmEntry = (
  ...args: [...Operands, batch: number, strideA: number, strideB: number, scratch: number]
) => void;

export interface GemmExports {
  gemm_nn: GemmEntry;
  gemm_nt: GemmEntry;
  /**
   * One part of either, or of A·B with B as codes (form: productForm in gemmPool.ts): batches
   * i1 … i2−1, columns j1 … j2−1.
   */
  gemm_part(
    form: number,
    ...args: [...Operands, sa: number, sb: number, i1: number, i2: number, j1: number, j2: number,
      scratch: number] // prettier-ignore
  ): void;
  gemm_scratch_bytes(): number; // the scratch area each call needs (258 KB)
  /** rows.c, linked into the same module: addresses in bytes, sizes in floats (fusedOps.ts). */
  layer_norm(x: number, gamma: number, beta: number, y: number, rows: number, d: number,
    eps: number): void; // prettier-ignore
  gelu_new(x: number, y: number, n: number): void;
  /** The exponent offset of codes for `count` floats at `floats`, 0 where one does not fit. */
  code_offset(floats: number, count: number): number;
  /** The codes of floats [rows, cols] (codes.h; in row groups if `grouped`). */
  encode_codes(floats: number, codes: number, rows: number, cols: number, bcode: number,
    grouped: number): void; // prettier-ignore
  /** Rows r1 … r2−1 of 16-bit codes [rows, cols] (codes.h; in row groups if `grouped`) as floats. */
  widen_codes(codes: number, out: number, rows: number, cols: number, r1: number, r2: number,
    bcode: number, grouped: number): void; // prettier-ignore
}

export type GemmVariant = 'relaxed' | 'simd';

/** Each variant built for a plain memory (tfjs's single-threaded build) and for a shared one. */
const BYTES: Record<'plain' | 'shared', Record<GemmVariant, string>> = {
  plain: { relaxed: GEMM_RELAXED, simd: GEMM_SIMD },
  shared: { relaxed: GEMM_RELAXED_SHARED, simd: GEMM_SIMD_SHARED },
};

const decode = (base64: string) => Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));

const isShared = (memory: WebAssembly.Memory) => !(memory.buffer instanceof ArrayBuffer);

/**
 * The fastest variant this engine validates: relaxed SIMD (fused multiply-add; Chromium by
 * default, Node 20 only with --experimental-wasm-relaxed-simd), else plain SIMD, else none.
 */
export function gemmVariant(shared = false): GemmVariant | null {
  for (const variant of ['relaxed', 'simd'] as const)
    if (WebAssembly.validate(decode(BYTES[shared ? 'shared' : 'plain'][variant]))) return variant;
  return null;
}

const compiled = new Map<string, WebAssembly.Module>();

/** The compiled module of a variant for a plain or a shared memory. */
function gemmModule(variant: GemmVariant, shared: boolean): WebAssembly.Module {
  const key = `${variant} ${shared}`;
  let module = compiled.get(key);
  if (!module) {
    module = new WebAssembly.Module(decode(BYTES[shared ? 'shared' : 'plain'][variant]));
    compiled.set(key, module);
  }
  return module;
}

/** One instance of a variant on `memory`, plain or shared. */
export function instantiateGemm(variant: GemmVariant, memory: WebAssembly.Memory): GemmExports {
  const module = gemmModule(variant, isShared(memory));
  return new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as GemmExports;
}

interface BackendGemm {
  variant: GemmVariant;
  memory: WebAssembly.Memory;
  kernels: GemmExports;
  scratch: number; // address in tfjs's heap of gemm_scratch_bytes() bytes
  pool?: GemmPool; // helper threads (startGemmThreads), on a shared memory only
}

/** Emscripten's module, with the members tfjs's types leave out. */
interface EmscriptenModule {
  asm?: { memory?: WebAssembly.Memory };
  wasmMemory?: WebAssembly.Memory;
  _malloc(bytes: number): number;
  _free(address: number): void;
}

const perBackend = new WeakMap<object, BackendGemm | null>();

const chosen = new Map<boolean, GemmVariant | null>();

/**
 * The kernels for this backend, or null where they cannot run (no SIMD): the build for a plain
 * memory on tfjs's single-threaded build, for a shared one on its threaded build.
 */
function backendGemm(backend: BackendWasm): BackendGemm | null {
  const module = backend.wasm as unknown as EmscriptenModule;
  let gemm = perBackend.get(module);
  if (gemm === undefined) {
    const memory = module.asm?.memory ?? module.wasmMemory;
    const shared = memory !== undefined && isShared(memory);
    if (!chosen.has(shared)) chosen.set(shared, gemmVariant(shared));
    const variant = chosen.get(shared) ?? null;
    const kernels = variant && memory ? instantiateGemm(variant, memory) : null;
    const scratch = kernels ? module._malloc(kernels.gemm_scratch_bytes()) : 0;
    gemm = kernels && { variant: variant!, memory: memory!, kernels, scratch };
    perBackend.set(module, gemm);
  }
  return gemm;
}

/** Whether `gemm` can run on this backend (see backendGemm). */
export const hasGemm = (backend: BackendWasm) => backendGemm(backend) !== null;

/** This backend's instance of the module (where hasGemm), for the kernels beside the products. */
export const ownKernels = (backend: BackendWasm): GemmExports => backendGemm(backend)!.kernels;

/** The threads our products run on: 1 unless startGemmThreads started helpers. */
export const gemmThreads = (backend: BackendWasm) => backendGemm(backend)?.pool?.threads ?? 1;

/**
 * Starts `threads − 1` helper threads (`spawn` makes one) for this backend's products: needs
 * tfjs's threaded build (a shared memory) and our kernels. Throws, with no helper left running,
 * if one fails to start (gemmPool.ts).
 */
export async function startGemmThreads(
  backend: BackendWasm,
  threads: number,
  spawn: () => HelperThread,
): Promise<void> {
  const g = backendGemm(backend);
  if (!g || !isShared(g.memory)) throw new Error('our kernels do not run on a shared memory here');
  if (threads <= 1 || g.pool) return;
  const emscripten = backend.wasm as unknown as EmscriptenModule;
  g.pool = await startGemmPool({
    module: gemmModule(g.variant, true),
    memory: g.memory,
    kernels: g.kernels,
    scratch: g.scratch,
    malloc: (bytes) => emscripten._malloc(bytes),
    threads,
    spawn,
  });
}

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
  run(g, {
    transposed: transposeB,
    a: address(a),
    b: address(b),
    c: address(out),
    bias: bias ? address(bias) : 0,
    m,
    n,
    k,
    batch: Math.max(batchA, batchB),
    strideA: batchA === 1 ? 0 : m * k,
    strideB: batchB === 1 ? 0 : k * n,
  });
  return out;
}

/** A product on this backend's threads (gemmPool.ts), or whole on this one: the same bits. */
function run(g: BackendGemm, job: GemmJob): void {
  if (g.pool) return g.pool.run(job);
  const operands: Operands = [job.a, job.b, job.c, job.bias, job.m, job.n, job.k];
  g.kernels.gemm_part(productForm(job), ...operands, job.strideA, job.strideB, 0, job.batch, 0,
    job.n, g.scratch); // prettier-ignore
}

/**
 * `a · W` (+ `bias` [n]) for W `[k, n]` kept as 16-bit codes (codes.h) with exponent offset
 * `bcode`, or `a · Wᵀ` for W `[n, k]` (`transposed`: the rows of a tied embedding): a `[…, m, k]`
 * → `[…, m, n]`, the same bits as with W as floats.
 */
export function gemmCodes(
  backend: BackendWasm,
  a: tf.TensorInfo,
  codes: tf.TensorInfo,
  { k, n, bcode, transposed }: { k: number; n: number; bcode: number; transposed: boolean },
  bias?: tf.TensorInfo,
): tf.TensorInfo {
  const g = backendGemm(backend)!;
  const out = backend.makeOutput([...a.shape.slice(0, -1), n], 'float32');
  const m = tf.util.sizeFromShape(a.shape.slice(0, -1));
  if (m * n === 0) return out;
  const address = (t: tf.TensorInfo) => backend.getMemoryOffset(t.dataId);
  run(g, {
    ...{ transposed, a: address(a), b: address(codes), c: address(out), bcode },
    ...{ bias: bias ? address(bias) : 0, m, n, k, batch: 1, strideA: 0, strideB: 0 },
  });
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
