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
  /** `inductionScore` of the run's tokens; NaN without them (cross-attention) or no repeated token. */
  induction: number;
}

export const METRIC_LABELS: Record<keyof HeadMetrics, string> = {
  entropy: 'entropy (bits)',
  normalisedEntropy: 'entropy / max',
  previousToken: 'previous token',
  firstToken: 'first token (sink)',
  selfAttention: 'self',
  sparsity: 'sparsity',
  induction: 'induction',
};

const MASS = 0.9;

/**
 * The induction score: mean attention from each token that occurred before to the token after its
 * previous occurrence, p(i → j+1) where j < i is the last position holding the same token. On
 * random tokens repeated twice (each once per half: `repeatedRandomTokens`) this is the standard
 * score (Olsson et al., 2022; TransformerLens's `induction_score`): the mean over the second half
 * of the attention to the token after the same token in the first. NaN when no token repeats.
 * `ids` are the tokens along both axes (self-attention).
 */
export function inductionScore(
  probs: ArrayLike<number>,
  nQueries: number,
  nKeys: number,
  ids: readonly number[],
): number {
  const last = new Map<number, number>();
  let sum = 0;
  let count = 0;
  for (let i = 0; i < Math.min(nQueries, ids.length); i++) {
    const j = last.get(ids[i]);
    if (j !== undefined && j + 1 < nKeys) {
      sum += probs[i * nKeys + j + 1];
      count++;
    }
    last.set(ids[i], i);
  }
  return count ? sum / count : NaN;
}

/** The head's metrics; `ids`: the tokens of a self-attention, for the induction score. */
export function headMetrics(
  probs: ArrayLike<number>,
  nQueries: number,
  nKeys: number,
  mask?: ArrayLike<number>,
  ids?: readonly number[],
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
  const visibleP = new Float64Array(nKeys);
  for (let i = 0; i < nQueries; i++) {
    const base = i * nKeys;
    let h = 0;
    let visible = 0;
    let rowMass = 0;
    for (let j = 0; j < nKeys; j++) {
      if (mask && mask[base + j] === 0) continue;
      const p = probs[base + j];
      visibleP[visible++] = p;
      rowMass += p;
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
      const needed = largestHolding(visibleP, visible, MASS * rowMass - 1e-12);
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
    induction: ids ? inductionScore(probs, nQueries, nKeys, ids) : NaN,
  };
}

/**
 * How many of the largest of `a[0..n)` it takes for their sum to reach `target` (all `n` when it
 * is never reached). Reorders `a`. A quickselect with sums instead of a sort: O(n) expected, so a
 * head's metrics cost O(queries × keys) — sorting every row made a 1,024-token head
 * O(T² log T) with a comparator call per step, seconds for GPT-2 small's 144 heads.
 */
export function largestHolding(a: Float64Array, n: number, target: number): number {
  let lo = 0;
  let hi = n;
  let acc = 0;
  let count = 0;
  while (lo < hi) {
    const pivot = medianOfThree(a[lo], a[(lo + hi) >> 1], a[hi - 1]);
    // Three-way partition of [lo, hi): greater than the pivot | equal | less.
    let gt = lo;
    let i = lo;
    let lt = hi;
    let greaterSum = 0;
    while (i < lt) {
      const v = a[i];
      if (v > pivot) {
        a[i] = a[gt];
        a[gt++] = v;
        greaterSum += v;
        i++;
      } else if (v < pivot) {
        a[i] = a[--lt];
        a[lt] = v;
      } else i++;
    }
    if (acc + greaterSum >= target) {
      hi = gt; // the answer lies among the greater values
      continue;
    }
    acc += greaterSum;
    count += gt - lo;
    // The equal values, one at a time (as the sorted walk would add them).
    for (let k = gt; k < lt; k++) {
      acc += pivot;
      count++;
      if (acc >= target) return count;
    }
    lo = lt;
  }
  return count;
}

function medianOfThree(x: number, y: number, z: number): number {
  return Math.max(Math.min(x, y), Math.min(Math.max(x, y), z));
}
