/**
 * Row lookups (`tf.gather` on axis 0: token and position embeddings) on tfjs-wasm as one copy per
 * row inside the wasm heap. tfjs-wasm's own Gather walks every element through stride arithmetic,
 * about 20 µs per 768-float row: 13 chunks × 256 ids was 73 ms of a 256-token forward
 * (docs/performance.md, "Short inputs").
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** The Emscripten module's byte view of the heap, which tfjs's types leave out. */
const heapOf = (backend: BackendWasm) => (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8;

/**
 * GatherV2 for axis 0 without batch dimensions, on 4-byte elements (float32, int32): `x[ids]`,
 * `[...ids, ...x.shape[1:]]`. Anything else goes to tfjs's kernel. An id outside `x` throws, as
 * tfjs's does.
 */
export const gatherRows =
  (original: tf.KernelConfig): tf.KernelFunc =>
  (args) => {
    const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const { axis, batchDims } = args.attrs as { axis: number; batchDims: number };
    const backend = args.backend as BackendWasm;
    const fourBytes = x.dtype === 'float32' || x.dtype === 'int32';
    if (axis !== 0 || batchDims !== 0 || !fourBytes || x.shape.length === 0)
      return original.kernelFunc(args);
    const ids = backend.readSync(indices.dataId) as Int32Array | Float32Array;
    const rows = x.shape[0];
    const rowBytes = tf.util.sizeFromShape(x.shape.slice(1)) * 4;
    for (const id of ids)
      if (!(id >= 0 && id < rows))
        throw new Error(`GatherV2: the index value ${id} is not in [0, ${rows - 1}]`);
    const out = backend.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
    if (rowBytes === 0) return out;
    const from = backend.getMemoryOffset(x.dataId);
    const to = backend.getMemoryOffset(out.dataId);
    const heap = heapOf(backend); // after makeOutput, which may have grown the memory
    ids.forEach((id, i) =>
      heap.copyWithin(to + i * rowBytes, from + id * rowBytes, from + (id + 1) * rowBytes),
    );
    return out;
  };
