/**
 * Fixes to tfjs's wasm backend, shared by training and inference: a missing gradient kernel, and
 * matrix products (plain, transposed, batched, with a bias) on our own SIMD kernels
 * (kernels/gemm.ts), or on tfjs's XNNPACK where those cannot run.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { gatherRows, registerEmbedRows } from './kernels/gather';
import { gemm, gemmFits } from './kernels/gemm';
import { registerCodedOps } from './kernels/codedOps';
import { registerFusedOps } from './kernels/fusedOps';

/**
 * The gradient of `gather` (every embedding lookup) is an UnsortedSegmentSum, which the wasm
 * backend lacks. This host-side version is exact and cheap at our sizes: one pass over the
 * upstream gradient, summing each row into the segment its id names.
 */
function registerWasmSegmentSum(): void {
  if (tf.getKernel('UnsortedSegmentSum', 'wasm')) return;
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: 'wasm',
    kernelFunc: ({ inputs, attrs, backend }) => {
      const wasm = backend as BackendWasm;
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const segments = (attrs as { numSegments: number }).numSegments;
      const ids = wasm.readSync(segmentIds.dataId) as Int32Array;
      const values = wasm.readSync(x.dataId) as Float32Array;
      const inner = values.length / Math.max(1, ids.length);
      const out = new Float32Array(segments * inner);
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i];
        if (id < 0 || id >= segments) continue;
        for (let j = 0; j < inner; j++) out[id * inner + j] += values[i * inner + j];
      }
      const shape = [segments, ...x.shape.slice(segmentIds.shape.length)];
      return wasm.makeOutput(shape, 'float32', undefined, out);
    },
  });
}

/** tfjs-wasm's own BatchMatMul entry point (what its kernel calls), on tensor ids. */
type RawMatMul = (
  aId: number,
  aShape: Uint8Array,
  aRank: number,
  bId: number,
  bShape: Uint8Array,
  bRank: number,
  transposeA: boolean,
  transposeB: boolean,
  outId: number,
) => void;

const rawMatMuls = new WeakMap<object, RawMatMul>();

function rawMatMul(backend: BackendWasm): RawMatMul {
  let raw = rawMatMuls.get(backend.wasm);
  if (!raw) {
    // Emscripten's cwrap, which tfjs's types leave out.
    const module = backend.wasm as unknown as {
      cwrap(name: string, returns: null, args: string[]): RawMatMul;
    };
    raw = module.cwrap('BatchMatMul', null, [
      'number',
      'array',
      'number',
      'number',
      'array',
      'number',
      'number',
      'number',
      'number',
    ]);
    rawMatMuls.set(backend.wasm, raw);
  }
  return raw;
}

const shapeBytes = (shape: number[]) => new Uint8Array(new Int32Array(shape).buffer);

/**
 * A batch of products `[…, m, k] · […, k, n]` (batch sizes equal, or one of them 1) as one 2-D
 * XNNPACK product per matrix, each on views into the operands' and the output's memory: tensor
 * ids registered with the backend for a slice of an existing buffer, unregistered afterwards
 * without freeing it (which also drops XNNPACK's weights packed for them). An operand with a
 * batch of 1 is passed as itself, so XNNPACK packs it once for the whole batch.
 */
function slicedMatMul(backend: BackendWasm, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
  const [m, k] = a.shape.slice(-2);
  const n = b.shape[b.shape.length - 1];
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  const batch = Math.max(batchA, batchB);
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(
    a.shape.slice(0, -2),
    b.shape.slice(0, -2),
  );
  const out = backend.makeOutput([...outer, m, n], 'float32');
  const { tfjs } = backend.wasm;
  const ids = backend as unknown as { dataIdNextNumber: number };
  const idOf = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.id;
  const views: number[] = [];
  const view = (t: tf.TensorInfo, size: number, i: number) => {
    const id = ids.dataIdNextNumber++;
    tfjs.registerTensor(id, size, backend.getMemoryOffset(t.dataId) + i * size * 4);
    views.push(id);
    return id;
  };
  const raw = rawMatMul(backend);
  const [aShape, bShape] = [shapeBytes([1, m, k]), shapeBytes([1, k, n])];
  for (let i = 0; i < batch; i++) {
    const aId = batchA === 1 ? idOf(a) : view(a, m * k, i);
    const bId = batchB === 1 ? idOf(b) : view(b, k * n, i);
    raw(aId, aShape, 3, bId, bShape, 3, false, false, view(out, m * n, i));
  }
  views.forEach((id) => tfjs.disposeData(id));
  return out;
}

/** The same matrix with its last two dimensions swapped, as a new tensor (tfjs's Transpose). */
function flipped(backend: BackendWasm, t: tf.TensorInfo): tf.TensorInfo {
  const rank = t.shape.length;
  const perm = [...Array(rank).keys()];
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  const transpose = tf.getKernel('Transpose', 'wasm')!;
  return transpose.kernelFunc({ inputs: { x: t }, backend, attrs: { perm } }) as tf.TensorInfo;
}

/**
 * Without our kernels (tfjs's threaded build, or no SIMD): tfjs-wasm multiplies only plain 2-D
 * matrices with XNNPACK; an operand marked transposed, which every weight gradient (Xᵀ·dY), input
 * gradient (dY·Wᵀ) and q·kᵀ asks for, or a batch of matrices (attention's products, one per head)
 * takes a loop about ten times slower (docs/performance.md). This copies a transposed operand
 * into its transpose first and runs a batch as 2-D products (slicedMatMul). h·Eᵀ with a large E
 * (the tied LM head) runs as (E·hᵀ)ᵀ, so the vocabulary table is never the one copied.
 */
const XNNPACK_MIN_ROWS = 8;

function xnnpackMatMul(original: tf.KernelConfig, args: Parameters<tf.KernelFunc>[0]) {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  const backend = args.backend as BackendWasm;
  const single = (t: tf.TensorInfo) => t.shape.slice(0, -2).every((n) => n === 1);
  const batched = !single(a) || !single(b);
  const size = (t: tf.TensorInfo) => tf.util.sizeFromShape(t.shape);
  if (transposeB && !transposeA && !batched && size(b) > size(a)) {
    const attrs = { ...args.attrs, transposeA: false, transposeB: true };
    const product = xnnpackMatMul(original, { ...args, inputs: { a: b, b: a }, attrs }); // b·aᵀ
    const out = flipped(backend, product);
    backend.disposeData(product.dataId);
    return out;
  }
  const rows = a.shape[a.shape.length - (transposeA ? 1 : 2)];
  // Below 8 rows (a generation step's one query) XNNPACK's packing of each matrix costs
  // more than the loop saves (docs/performance.md).
  if ((!transposeA && !transposeB && !batched) || (batched && rows < XNNPACK_MIN_ROWS))
    return original.kernelFunc(args) as tf.TensorInfo;
  const a2 = transposeA ? flipped(backend, a) : a;
  const b2 = transposeB ? flipped(backend, b) : b;
  const out = batched
    ? slicedMatMul(backend, a2, b2)
    : (original.kernelFunc({
        ...args,
        inputs: { a: a2, b: b2 },
        attrs: { ...args.attrs, transposeA: false, transposeB: false },
      }) as tf.TensorInfo);
  if (a2 !== a) backend.disposeData(a2.dataId);
  if (b2 !== b) backend.disposeData(b2.dataId);
  return out;
}

/**
 * BatchMatMul on our own kernels (kernels/gemm.ts) wherever they run: A·B and A·Bᵀ read both
 * operands in place, batched over heads; Aᵀ (weight gradients in training) is copied into its
 * transpose first. Elsewhere, tfjs's XNNPACK with the fixes above.
 */
const matMul =
  (original: tf.KernelConfig): tf.KernelFunc =>
  (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    const backend = args.backend as BackendWasm;
    if (!gemmFits(backend, a, b)) return xnnpackMatMul(original, args);
    const a2 = transposeA ? flipped(backend, a) : a;
    const out = gemm(backend, a2, b, transposeB);
    if (a2 !== a) backend.disposeData(a2.dataId);
    return out;
  };

/**
 * tf.fused.matMul with a bias and no activation (linear.ts) as one kernel: gemm.c starts each
 * output tile from the bias. Anything else goes to tfjs's own _FusedMatMul.
 */
const fusedMatMul =
  (original: tf.KernelConfig): tf.KernelFunc =>
  (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo>;
    const { transposeA, transposeB, activation } = args.attrs as {
      transposeA: boolean;
      transposeB: boolean;
      activation: string;
    };
    const backend = args.backend as BackendWasm;
    const n = b.shape[b.shape.length - (transposeB ? 2 : 1)];
    const plainBias =
      !bias ||
      (bias.dtype === 'float32' &&
        bias.shape[bias.shape.length - 1] === n &&
        tf.util.sizeFromShape(bias.shape) === n);
    if (
      activation !== 'linear' ||
      preluActivationWeights ||
      transposeA ||
      !plainBias ||
      !gemmFits(backend, a, b)
    )
      return original.kernelFunc(args);
    return gemm(backend, a, b, transposeB, bias);
  };

/** Replaces tfjs-wasm's kernel `name` (once) by `wrap(original)`, which may call the original. */
function replaceWasmKernel(name: string, wrap: (original: tf.KernelConfig) => tf.KernelFunc) {
  const original = tf.getKernel(name, 'wasm');
  if (!original || (original as { ours?: boolean }).ours) return;
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ ...original, ours: true, kernelFunc: wrap(original) } as tf.KernelConfig);
}

/**
 * Installs the wasm kernels above (once; a no-op before the wasm backend is imported). Training,
 * the worker's wasm fallback and the Node scripts all call it after choosing wasm.
 */
export function installWasmKernels(): void {
  registerWasmSegmentSum();
  replaceWasmKernel('BatchMatMul', matMul);
  replaceWasmKernel('_FusedMatMul', fusedMatMul);
  replaceWasmKernel('GatherV2', gatherRows);
  registerFusedOps();
  registerCodedOps();
  registerEmbedRows();
}
