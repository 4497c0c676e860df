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
  const { sum, count } = inductionSums(probs, nQueries, nKeys, ids, 0);
  return count ? sum / count : NaN;
}

/** The induction score's sum and count over rows `firstRow …` (`probs` holds those rows). */
function inductionSums(
  probs: ArrayLike<number>,
  nQueries: number,
  nKeys: number,
  ids: readonly number[],
  firstRow: number,
): { sum: number; count: number } {
  const last = new Map<number, number>();
  let sum = 0;
  let count = 0;
  for (let i = 0; i < Math.min(firstRow + nQueries, ids.length); i++) {
    const j = last.get(ids[i]);
    if (i >= firstRow && j !== undefined && j + 1 < nKeys) {
      sum += probs[(i - firstRow) * nKeys + j + 1];
      count++;
    }
    last.set(ids[i], i);
  }
  return { sum, count };
}

/**
 * The sums and counts behind a head's metrics, over some of its query rows: the metrics are means
 * over rows, so the tallies of two row ranges add up to the tally of both (a long input's summary
 * takes a generated row this way: attentionSummary.ts).
 */
export interface HeadTally {
  rows: number;
  entropy: number;
  normalised: number;
  /** Rows that see ≥ 2 keys: the count of `normalised` and `sparsity`. */
  spread: number;
  previous: number;
  previousCount: number;
  first: number;
  self: number;
  selfCount: number;
  sparsity: number;
  induction: number;
  inductionCount: number;
}

/**
 * The tally of query rows `firstRow … firstRow + nQueries − 1`, whose probabilities (and mask)
 * `probs` holds row by row, `[nQueries, nKeys]`; `ids`: the tokens of a self-attention (all of
 * them, from 0), for the induction score.
 */
export function headTally(
  probs: ArrayLike<number>,
  nQueries: number,
  nKeys: number,
  mask?: ArrayLike<number>,
  ids?: readonly number[],
  firstRow = 0,
): HeadTally {
  const t: HeadTally = {
    rows: nQueries,
    entropy: 0,
    normalised: 0,
    spread: 0,
    previous: 0,
    previousCount: 0,
    first: 0,
    self: 0,
    selfCount: 0,
    sparsity: 0,
    induction: 0,
    inductionCount: 0,
  };
  const visibleP = new Float64Array(nKeys);
  for (let r = 0; r < nQueries; r++) {
    const i = firstRow + r;
    const base = r * nKeys;
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
    t.entropy += h;
    t.first += probs[base];
    if (i >= 1 && i - 1 < nKeys) {
      t.previous += probs[base + i - 1];
      t.previousCount++;
    }
    if (i < nKeys) {
      t.self += probs[base + i];
      t.selfCount++;
    }
    if (visible >= 2 && rowMass > 0) {
      t.normalised += h / Math.log2(visible);
      t.spread++;
      const needed = largestHolding(visibleP, visible, MASS * rowMass - 1e-12);
      t.sparsity += 1 - needed / visible;
    }
  }
  if (ids) {
    const { sum, count } = inductionSums(probs, nQueries, nKeys, ids, firstRow);
    t.induction = sum;
    t.inductionCount = count;
  }
  return t;
}

/** The tally of both row ranges. */
export function addTallies(a: HeadTally, b: HeadTally): HeadTally {
  const sum = { ...a };
  for (const key of Object.keys(b) as (keyof HeadTally)[]) sum[key] += b[key];
  return sum;
}

/** The metrics of a tally; `withInduction`: whether it was taken with the tokens (self-attention). */
export function metricsOf(t: HeadTally, withInduction: boolean): HeadMetrics {
  const mean = (sum: number, count: number) => (count ? sum / count : 0);
  return {
    entropy: mean(t.entropy, t.rows),
    normalisedEntropy: mean(t.normalised, t.spread),
    previousToken: mean(t.previous, t.previousCount),
    firstToken: mean(t.first, t.rows),
    selfAttention: mean(t.self, t.selfCount),
    sparsity: mean(t.sparsity, t.spread),
    induction: withInduction && t.inductionCount ? t.induction / t.inductionCount : NaN,
  };
}

/** The head's metrics; `ids`: the tokens of a self-attention, for the induction score. */
export function headMetrics(
  probs: ArrayLike<number>,
  nQueries: number,
  nKeys: number,
  mask?: ArrayLike<number>,
  ids?: readonly number[],
): HeadMetrics {
  return metricsOf(headTally(probs, nQueries, nKeys, mask, ids), ids !== undefined);
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
