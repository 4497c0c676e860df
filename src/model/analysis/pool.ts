/**
 * Max-pooling of an attention matrix: the thumbnails draw it, and a long input's summaries
 * (attentionSummary.ts) keep it instead of the whole matrix.
 */

export interface Pooled {
  values: Float32Array;
  rows: number;
  cols: number;
  mask?: Float32Array;
}

/**
 * Shrink a matrix by `factor` in both directions for a thumbnail, keeping each block's maximum
 * (a sharp head stays visible; an average would wash it out). A block is masked only when all of
 * its cells are.
 */
export function maxPool(
  values: ArrayLike<number>,
  rows: number,
  cols: number,
  factor: number,
  mask?: ArrayLike<number>,
): Pooled {
  const outRows = Math.ceil(rows / factor);
  const outCols = Math.ceil(cols / factor);
  const out = new Float32Array(outRows * outCols).fill(-Infinity);
  const outMask = mask ? new Float32Array(outRows * outCols) : undefined;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const o = Math.floor(r / factor) * outCols + Math.floor(c / factor);
      const live = !mask || mask[r * cols + c] !== 0;
      if (outMask && live) outMask[o] = 1;
      if (live && values[r * cols + c] > out[o]) out[o] = values[r * cols + c];
    }
  }
  for (let i = 0; i < out.length; i++) if (out[i] === -Infinity) out[i] = 0;
  return { values: out, rows: outRows, cols: outCols, ...(outMask ? { mask: outMask } : {}) };
}
