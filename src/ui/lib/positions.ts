/** Positional-encoding similarity: the Gram matrix p_i·p_j of the positions actually added. */
import type { Matrix } from '../../model/trace';

/** `[T, T]` with entry (i, j) = p_i·p_j, or the cosine of the angle when `cosine` is set. */
export function positionalSimilarity(positions: Matrix, cosine = false): Float32Array {
  const [n, d] = positions.shape;
  const p = positions.data;
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += p[i * d + c] * p[i * d + c];
    norms[i] = Math.sqrt(s);
  }
  const out = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += p[i * d + c] * p[j * d + c];
      if (cosine) s = norms[i] && norms[j] ? s / (norms[i] * norms[j]) : 0;
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  }
  return out;
}
