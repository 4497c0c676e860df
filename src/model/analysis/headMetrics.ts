/**
 * Summary numbers for one attention head, computed from its probability matrix `[queries, keys]`
 * and mask: what the head-metrics table sorts by and what the model view can colour by.
 */

export interface HeadMetrics {
  /** Mean over queries of −Σ p log p, in bits. */
  entropy: number;
  /** Entropy over log2(number of visible keys), averaged over queries that see ≥ 2 keys: 0 = one key, 1 = uniform. */
  normalisedEntropy: number;
  /** Mean p(i → i−1) over queries i ≥ 1: high for previous-token heads. */
  previousToken: number;
  /** Mean p(i → 0): the attention sink on the first token. */
  firstToken: number;
  /** Mean p(i → i). */
  selfAttention: number;
  /** 1 − (mean fraction of visible keys needed to hold 90% of the mass); queries seeing ≥ 2 keys. */
  sparsity: number;
}

export const METRIC_LABELS: Record<keyof HeadMetrics, string> = {
  entropy: 'entropy (bits)',
  normalisedEntropy: 'entropy / max',
  previousToken: 'previous token',
  firstToken: 'first token (sink)',
  selfAttention: 'self',
  sparsity: 'sparsity',
};

const MASS = 0.9;

export function headMetrics(
  probs: ArrayLike<number>,
  nQueries: number,
  nKeys: number,
  mask?: ArrayLike<number>,
): HeadMetrics {
  let entropy = 0;
  let normalised = 0;
  let normalisedCount = 0;
  let previous = 0;
  let previousCount = 0;
  let first = 0;
  let self = 0;
  let selfCount = 0;
  let sparsity = 0;
  const sorted: number[] = [];
  for (let i = 0; i < nQueries; i++) {
    const base = i * nKeys;
    let h = 0;
    let visible = 0;
    let rowMass = 0;
    sorted.length = 0;
    for (let j = 0; j < nKeys; j++) {
      if (mask && mask[base + j] === 0) continue;
      visible++;
      const p = probs[base + j];
      rowMass += p;
      sorted.push(p);
      if (p > 0) h -= p * Math.log2(p);
    }
    entropy += h;
    first += probs[base];
    if (i >= 1 && i - 1 < nKeys) {
      previous += probs[base + i - 1];
      previousCount++;
    }
    if (i < nKeys) {
      self += probs[base + i];
      selfCount++;
    }
    if (visible >= 2 && rowMass > 0) {
      normalised += h / Math.log2(visible);
      normalisedCount++;
      sorted.sort((a, b) => b - a);
      let acc = 0;
      let needed = 0;
      while (needed < sorted.length && acc < MASS * rowMass - 1e-12) acc += sorted[needed++];
      sparsity += 1 - needed / visible;
    }
  }
  return {
    entropy: nQueries ? entropy / nQueries : 0,
    normalisedEntropy: normalisedCount ? normalised / normalisedCount : 0,
    previousToken: previousCount ? previous / previousCount : 0,
    firstToken: nQueries ? first / nQueries : 0,
    selfAttention: selfCount ? self / selfCount : 0,
    sparsity: normalisedCount ? sparsity / normalisedCount : 0,
  };
}
