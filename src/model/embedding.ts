import * as tf from '@tensorflow/tfjs-core';
import { EMBEDDING_CHUNK_ROWS } from './params';

/**
 * Look token ids up in an embedding table kept as row chunks: `[...ids] → [...ids, d]`.
 * Each chunk answers for the ids in its range and contributes zeros elsewhere, so no single
 * `gather` ever touches a texture wider than the chunk.
 */
export function embedTokens(chunks: tf.Tensor2D[], ids: tf.Tensor): tf.Tensor {
  const flat = tf.cast(tf.reshape(ids, [-1]), 'int32');
  if (chunks.length === 1)
    return tf.reshape(tf.gather(chunks[0], flat), [...ids.shape, chunks[0].shape[1]]);
  let sum: tf.Tensor | undefined;
  chunks.forEach((chunk, c) => {
    // An int32 scalar keeps the ids int32 (a plain number would make them float32).
    const local = tf.sub(flat, tf.scalar(c * EMBEDDING_CHUNK_ROWS, 'int32'));
    const inside = tf.expandDims(
      tf.cast(tf.logicalAnd(tf.greaterEqual(local, 0), tf.less(local, chunk.shape[0])), 'float32'),
      1,
    );
    const clamped = tf.maximum(
      tf.minimum(local, tf.scalar(chunk.shape[0] - 1, 'int32')),
      tf.scalar(0, 'int32'),
    );
    const rows = tf.mul(tf.gather(chunk, clamped), inside);
    sum = sum ? tf.add(sum, rows) : rows;
  });
  return tf.reshape(sum as tf.Tensor, [...ids.shape, chunks[0].shape[1]]);
}

/**
 * Logits of hidden states against the vocabulary: `[n, d] → [n, vocab]`. An untied head is
 * stored as `[d, cols]` chunks (h·W). A tied head uses the embedding table itself, h·Eᵀ: no
 * backend copies a vocab × d chunk into its transpose for it (on wasm our kernel reads the rows
 * of E in place, and tfjs's XNNPACK path computes it as (E·hᵀ)ᵀ; wasmKernels.ts).
 */
export function vocabularyLogits(
  h: tf.Tensor2D,
  chunks: tf.Tensor2D[],
  tied: boolean,
  bias?: tf.Tensor1D,
): tf.Tensor2D {
  const logits = joined(
    chunks.map((c) => tf.matMul(h, c, false, tied)), // h·E_cᵀ or h·W_c: [n, rows or cols]
  );
  return bias ? tf.add(logits, bias) : logits;
}

/** The chunks' results side by side. */
function joined(parts: tf.Tensor2D[]): tf.Tensor2D {
  return parts.length === 1 ? parts[0] : tf.concat(parts, 1);
}
