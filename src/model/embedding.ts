import * as tf from './tf';
import { EMBEDDING_CHUNK_ROWS } from './params';

/**
 * Look token ids up in an embedding table kept as row chunks: `[...ids] → [...ids, d]`.
 * Each chunk answers for the ids in its range and contributes zeros elsewhere, so no single
 * `gather` ever touches a texture wider than the chunk.
 */
export function embedTokens(chunks: tf.Tensor2D[], ids: tf.Tensor): tf.Tensor {
  const flat = ids.reshape([-1]).toInt();
  if (chunks.length === 1)
    return tf.gather(chunks[0], flat).reshape([...ids.shape, chunks[0].shape[1]]);
  let sum: tf.Tensor | undefined;
  chunks.forEach((chunk, c) => {
    // An int32 scalar keeps the ids int32 (a plain number would make them float32).
    const local = flat.sub(tf.scalar(c * EMBEDDING_CHUNK_ROWS, 'int32'));
    const inside = tf
      .logicalAnd(local.greaterEqual(0), local.less(chunk.shape[0]))
      .toFloat()
      .expandDims(1);
    const rows = tf
      .gather(
        chunk,
        tf.maximum(
          tf.minimum(local, tf.scalar(chunk.shape[0] - 1, 'int32')),
          tf.scalar(0, 'int32'),
        ),
      )
      .mul(inside);
    sum = sum ? sum.add(rows) : rows;
  });
  return (sum as tf.Tensor).reshape([...ids.shape, chunks[0].shape[1]]);
}

/**
 * Logits of hidden states against the vocabulary: `[n, d] → [n, vocab]`. With a tied head the
 * table's chunks are used transposed (h·Eᵀ); an untied head is stored as `[d, cols]` chunks.
 */
export function vocabularyLogits(
  h: tf.Tensor2D,
  chunks: tf.Tensor2D[],
  tied: boolean,
  bias?: tf.Tensor1D,
): tf.Tensor2D {
  const parts = chunks.map((c) => tf.matMul(h, c, false, tied));
  const logits = parts.length === 1 ? parts[0] : tf.concat(parts, 1);
  return (bias ? logits.add(bias) : logits) as tf.Tensor2D;
}
