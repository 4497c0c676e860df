/**
 * Row lookups (`tf.gather` on axis 0: token and position embeddings) on tfjs-wasm as one copy per
 * row inside the wasm heap. tfjs-wasm's own Gather walks every element through stride arithmetic,
 * about 20 µs per 768-float row: 13 chunks × 256 ids was 73 ms of a 256-token forward
 * (docs/performance.md, "Short inputs"). Also the token embedding's lookup in a table kept as
 * row chunks as one kernel (embedding.ts), in place of about 30.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { registerOwnWasmKernel } from './direct';
import { ownKernels } from './gemm';

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

export const EMBED_ROWS = 'AttentionLabEmbedRows';

/**
 * Inputs `ids` (int32, any shape) and the table's row chunks `c0`, `c1`, …, `[rows, d]` each (all
 * but the last as long as the first), float32 or 16-bit codes (int32, two codes each: codes.h);
 * attributes `rows` and `bcodes` per chunk (0 for float32, else the codes' exponent offset) and
 * `d` → `[...ids, d]`: each id's row, zeros for an id outside the table (as embedTokens).
 */
function embedRows({ inputs, attrs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const wasm = backend as BackendWasm;
  const { bcodes, rows, d } = attrs as { bcodes: number[]; rows: number[]; d: number };
  const { ids, ...named } = inputs as Record<string, tf.TensorInfo>;
  const chunks = Object.keys(named).map((_, c) => named[`c${c}`]);
  const size = rows[0];
  const vocab = size * (chunks.length - 1) + rows[rows.length - 1];
  const values = wasm.readSync(ids.dataId) as Int32Array;
  const out = wasm.makeOutput([...ids.shape, d], 'float32');
  const [heap, rowBytes, to] = [heapOf(wasm), d * 4, wasm.getMemoryOffset(out.dataId)];
  values.forEach((id, i) => {
    const at = to + i * rowBytes;
    if (!(id >= 0 && id < vocab)) return heap.fill(0, at, at + rowBytes);
    const c = Math.floor(id / size);
    const table = wasm.getMemoryOffset(chunks[c].dataId);
    const row = id % size;
    // A chunk kept as codes is in row groups (halfWeights.ts: the LM head reads it as E·hᵀ).
    if (bcodes[c])
      return ownKernels(wasm).widen_codes(table, at, rows[c], d, row, row + 1, bcodes[c], 1);
    const from = table + row * rowBytes;
    heap.copyWithin(at, from, from + rowBytes);
  });
  return out;
}

/** Registers the embedding lookup on wasm (once). */
export function registerEmbedRows(): void {
  registerOwnWasmKernel(EMBED_ROWS, embedRows);
}
