/**
 * Two fixes to tfjs's wasm backend, shared by training and inference: a missing gradient kernel
 * and a fast path for transposed matrix products.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

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

/**
 * The wasm backend multiplies plain 2-D matrices with XNNPACK (~20 GFLOP/s here) but falls back
 * to a loop ten times slower when either operand is marked transposed, which is what every
 * weight gradient (Xᵀ·dY), input gradient (dY·Wᵀ) and tied LM head (h·Eᵀ) asks for. Transposing
 * the operand explicitly first (a copy) and multiplying plainly gives the same numbers in a
 * tenth of the time. Batched products (attention) take the slow loop either way.
 */
function registerWasmPlainMatMul(): void {
  const original = tf.getKernel('BatchMatMul', 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!original || !transpose || (original as { plain?: boolean }).plain) return;
  const single = (t: tf.TensorInfo) => t.shape.slice(0, -2).every((n) => n === 1);
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({
    ...original,
    plain: true,
    kernelFunc: (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
      if ((!transposeA && !transposeB) || !single(a) || !single(b))
        return original.kernelFunc(args);
      const backend = args.backend as BackendWasm;
      const flip = (t: tf.TensorInfo) => {
        const rank = t.shape.length;
        const perm = [...Array(rank).keys()];
        [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
        return transpose.kernelFunc({
          inputs: { x: t },
          backend,
          attrs: { perm },
        }) as tf.TensorInfo;
      };
      const a2 = transposeA ? flip(a) : a;
      const b2 = transposeB ? flip(b) : b;
      const out = original.kernelFunc({
        ...args,
        inputs: { a: a2, b: b2 },
        attrs: { ...args.attrs, transposeA: false, transposeB: false },
      });
      if (a2 !== a) backend.disposeData(a2.dataId);
      if (b2 !== b) backend.disposeData(b2.dataId);
      return out;
    },
  } as tf.KernelConfig);
}

/**
 * Installs both wasm kernels above (once; a no-op before the wasm backend is imported). Training,
 * the worker's wasm fallback and the Node scripts all call it after choosing wasm.
 */
export function installWasmKernels(): void {
  registerWasmSegmentSum();
  registerWasmPlainMatMul();
}
