/**
 * Why attention is the expensive part of a long context: per layer, the score matrix and the
 * weighted sum cost ~n² multiply–adds while projections and the MLP cost ~n. Counted in
 * multiply–adds (forward pass, one sequence).
 */

export interface CostPoint {
  n: number;
  /** QKᵀ and P·V: 2·n²·d. */
  attention: number;
  /** Q, K, V, O projections (4·n·d²) plus the MLP (2·n·d·d_ff). */
  linear: number;
  /** Floats held by the attention matrices of one layer: heads·n². */
  attentionMemory: number;
}

export function costAt(n: number, d: number, dFF: number, heads: number): CostPoint {
  return {
    n,
    attention: 2 * n * n * d,
    linear: 4 * n * d * d + 2 * n * d * dFF,
    attentionMemory: heads * n * n,
  };
}

/** The sequence length where the n² term overtakes the n term: 2n²d = n(4d² + 2d·d_ff). */
export function crossoverLength(d: number, dFF: number): number {
  return (4 * d * d + 2 * d * dFF) / (2 * d);
}

/** Sequence lengths 1, 2, 4, … up to and including `maxN`. */
export function lengthsUpTo(maxN: number): number[] {
  const out: number[] = [];
  for (let n = 1; n < maxN; n *= 2) out.push(n);
  if (maxN >= 1) out.push(maxN);
  return out;
}

export function costSeries(maxN: number, d: number, dFF: number, heads: number): CostPoint[] {
  return lengthsUpTo(maxN).map((n) => costAt(n, d, dFF, heads));
}
