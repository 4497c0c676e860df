/**
 * Multi-head attention computed in blocks of queries, for forwards that trace nothing (the batch
 * drivers' `last`-position path: the worker's bare forward). Each block of queries does q·kᵀ,
 * mask, softmax and ·v over the keys it may see, and frees its `[B, h, rows, keys]` scores and
 * probabilities before the next block starts, so the peak holds `rows × T × h` of them, not
 * `T × T × h`: memory linear in T (docs/performance.md, "Memory of the untraced forward"). The
 * numbers are the full attention's (multiHeadAttention, attention.ts): a causal block skips only
 * keys whose probability is exactly 0 there.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  attentionScores,
  headsOf,
  intervened,
  mergeHeads,
  MASKED,
  type AttentionInputs,
  type AttentionResult,
} from './attention';
import { linear } from './linear';
import type { AttentionParams } from './params';

/** Queries per block: at 1,024 tokens and 12 heads, one block's scores are 6 MB, not 50 MB. */
export const QUERY_ROWS = 128;

/**
 * Where each block's additive mask comes from: a causal mask (a local one on layers with a
 * `window`), built block by block over only the keys it lets the block see; or the rows of a
 * given bias broadcastable to `[B, h, Tq, Tk]` (padding masks `[B, 1, 1, Tk]`, all keys).
 */
export type BlockMask = { causal: true; window: number | null } | { bias: tf.Tensor };

/** Attention inputs of a blocked attention: a `mask` in place of the full `bias`. */
export interface BlockedInputs extends Omit<AttentionInputs, 'bias'> {
  mask: BlockMask;
}

/**
 * The additive causal mask every block of `rows` queries shares, `[rows, rows + lag]` with lag =
 * window − 1 (0 on a global layer): query i sits at column i + lag and sees the columns up to
 * its own, and on a local layer only the `window` last of them. A block's mask is this band
 * moved to its keys (blockBias): the same 0 / MASKED values as masks.ts builds, without a
 * `[T, T]` mask or per-block mask arithmetic.
 */
function causalBand(rows: number, window: number | null): tf.Tensor2D {
  const lag = window === null ? 0 : window - 1;
  const width = rows + lag;
  const band = new Float32Array(rows * width);
  for (let i = 0; i < rows; i++) {
    for (let c = 0; c < width; c++) {
      const seen = c <= i + lag && (window === null || c >= i);
      band[i * width + c] = seen ? 0 : MASKED;
    }
  }
  return tf.tensor2d(band, [rows, width]);
}

/**
 * Queries `start…start+rows−1` of `tq`, over `tk` keys (the last `tq` of which are the queries'
 * own): the keys `[from, to)` they may see and their additive mask `[1 or B, 1, rows, to − from]`.
 */
function blockBias(
  mask: BlockMask,
  band: tf.Tensor2D | null,
  start: number,
  rows: number,
  tq: number,
  tk: number,
): { from: number; to: number; bias: tf.Tensor } {
  if ('bias' in mask) {
    const bias =
      mask.bias.shape[2] === 1
        ? mask.bias
        : tf.slice(mask.bias, [0, 0, start, 0], [-1, -1, rows, -1]);
    return { from: 0, to: tk, bias };
  }
  // The block's first query sits at key position `first`; band column c is key first − lag + c.
  const first = tk - tq + start;
  const lag = mask.window === null ? 0 : mask.window - 1;
  const from = mask.window === null ? 0 : Math.max(0, first - lag);
  const to = first + rows;
  const column = from - first + lag; // < 0 on a global layer: keys every query of the block sees
  let bias = tf.slice(band!, [0, Math.max(0, column)], [rows, rows + lag - Math.max(0, column)]);
  if (column < 0)
    bias = tf.pad(bias, [
      [0, 0],
      [-column, 0],
    ]);
  return { from, to, bias: tf.reshape(bias, [1, 1, rows, to - from]) };
}

/** Rows `[start, start + rows)` of axis 2 of a `[B, h, T, d/h]` tensor (no copy when all of it). */
function rowsOf(x: tf.Tensor, start: number, rows: number): tf.Tensor {
  const [b, h, t, dh] = x.shape as number[];
  return start === 0 && rows === t ? x : tf.slice(x, [0, 0, start, 0], [b, h, rows, dh]);
}

/**
 * multiHeadAttention's output and keys/values (`out` [B, Tq, d], `kv`), its query rows taken
 * `rows` at a time. No scores or probabilities come out: nothing to trace.
 */
export function blockedAttention(
  xq: tf.Tensor,
  xkv: tf.Tensor,
  p: AttentionParams,
  nHeads: number,
  io: BlockedInputs,
  rows = QUERY_ROWS,
): Pick<AttentionResult, 'out' | 'kv'> {
  const { headDim, q, k: keys, v: values, kv } = headsOf(xq, xkv, p, nHeads, io);
  const [tq, tk] = [q.shape[2]!, keys.shape[2]!];
  const band = 'causal' in io.mask ? causalBand(Math.min(rows, tq), io.mask.window) : null;
  const blocks: tf.Tensor[] = [];
  for (let start = 0; start < tq; start += rows) {
    const n = Math.min(rows, tq - start);
    // One block's [B, h, n, keys] tensors live only inside this tidy.
    blocks.push(
      tf.tidy(() => {
        const { from, to, bias } = blockBias(io.mask, band, start, n, tq, tk);
        const kBlock = rowsOf(keys, from, to - from);
        const vBlock = rowsOf(values, from, to - from);
        const scores = attentionScores(rowsOf(q, start, n), kBlock, headDim, io.unscaled);
        const heads = tf.matMul(tf.softmax(tf.add(scores, bias)), vBlock); // [B, h, n, d/h]
        return intervened(heads, io, io.patch && rowsOf(io.patch.heads, start, n));
      }),
    );
  }
  band?.dispose();
  const heads = blocks.length === 1 ? blocks[0] : tf.concat(blocks, 2);
  if (heads !== blocks[0]) tf.dispose(blocks);
  const out = linear(mergeHeads(heads), p.o);
  return { out, kv };
}
