import * as tf from '@tensorflow/tfjs-core';
import { EMBED_ROWS } from './kernels/gather';
import { ownWasmKernel } from './kernels/direct';
import { codedProduct, weightTensor } from './halfWeights';
import { EMBEDDING_CHUNK_ROWS, tensorOf, type Weight } from './params';

/**
 * Look token ids up in an embedding table kept as row chunks: `[...ids] → [...ids, d]`.
 * No single `gather` ever touches a texture wider than one chunk: every chunk looks every id up
 * at its offset within a chunk, and each id then takes the row of its own chunk through a 0/1
 * weight (a product that adds exact zeros to that row). Ids outside the table get zeros.
 * About 30 kernels whatever the number of chunks, instead of 11 per chunk (13 for GPT-2); on
 * wasm, outside training, one kernel of ours that copies each id's row (kernels/gather.ts).
 */
export function embedTokens(table: Weight[], ids: tf.Tensor): tf.Tensor {
  if (ids.dtype === 'int32' && ownWasmKernel(EMBED_ROWS)) {
    const named = Object.fromEntries(table.map((c, i) => [`c${i}`, tensorOf(c)]));
    const attrs = {
      bcodes: table.map((c) => ('codes' in c ? c.bcode : 0)),
      rows: table.map((c) => c.shape[0]),
      d: table[0].shape[1],
    };
    return tf.engine().runKernel(EMBED_ROWS, { ids, ...named }, attrs as never) as tf.Tensor;
  }
  const chunks = table.map(weightTensor); // chunks kept as codes, widened: the caller's tidy frees them
  const flat = tf.cast(tf.reshape(ids, [-1]), 'int32'); // [n]
  const d = chunks[0].shape[1];
  if (chunks.length === 1) return tf.reshape(tf.gather(chunks[0], flat), [...ids.shape, d]);
  // Int32 scalars keep the ids int32 (a plain number would make them float32).
  const size = tf.scalar(EMBEDDING_CHUNK_ROWS, 'int32');
  const local = tf.mod(flat, size); // row within its chunk
  const last = chunks[chunks.length - 1];
  const rows = chunks.map((chunk, c) =>
    // The last chunk is shorter: clamp, the weight below drops those rows.
    tf.gather(
      chunk,
      c === chunks.length - 1 ? tf.minimum(local, tf.scalar(last.shape[0] - 1, 'int32')) : local,
    ),
  );
  const vocab = EMBEDDING_CHUNK_ROWS * (chunks.length - 1) + last.shape[0];
  const inside = tf.logicalAnd(tf.greaterEqual(flat, 0), tf.less(flat, vocab));
  const chunkOf = tf.where(inside, tf.floorDiv(flat, size), tf.scalar(-1, 'int32')); // −1: none
  // oneHot in int32, then cast: tfjs-wasm 4.22's OneHot writes int32 bits whatever the dtype asked.
  const weight = tf.expandDims(tf.cast(tf.oneHot(chunkOf, chunks.length), 'float32'), 1); // [n, 1, C]
  const picked = tf.matMul(weight, tf.stack(rows, 1)); // [n, 1, C]·[n, C, d] → [n, 1, d]
  return tf.reshape(picked, [...ids.shape, d]);
}

/**
 * Logits of hidden states against the vocabulary: `[n, d] → [n, vocab]`. An untied head is
 * stored as `[d, cols]` chunks (h·W). A tied head uses the embedding table itself, h·Eᵀ: no
 * backend copies a vocab × d chunk into its transpose for it (on wasm our kernel reads the rows
 * of E in place, and tfjs's XNNPACK path computes it as (E·hᵀ)ᵀ; wasmKernels.ts).
 */
export function vocabularyLogits(
  h: tf.Tensor2D,
  chunks: Weight[],
  tied: boolean,
  bias?: tf.Tensor1D,
): tf.Tensor2D {
  const logits = joined(
    // h·E_cᵀ or h·W_c: [n, rows or cols]; a chunk kept as codes on our kernel where it can run
    chunks.map(
      (c) =>
        (codedProduct(h, c, undefined, tied) as tf.Tensor2D | null) ??
        tf.matMul(h, weightTensor(c), false, tied),
    ),
  );
  return bias ? tf.add(logits, bias) : logits;
}

/** The chunks' results side by side. */
function joined(parts: tf.Tensor2D[]): tf.Tensor2D {
  return parts.length === 1 ? parts[0] : tf.concat(parts, 1);
}
