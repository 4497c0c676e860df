/**
 * What the page keeps of a long input's layer that it does not show in full (docs/performance.md,
 * long inputs). GPT-2 small's trace at 1,024 tokens holds 1.2 GB of scores and probabilities,
 * while the thumbnails draw at most a few hundred device pixels a side and the metrics table
 * shows six numbers a head. So such a layer crosses to the page as its probabilities max-pooled
 * to at most SUMMARY_CELLS a side, and its head metrics measured here on the exact values; the
 * exact matrices of a layer come when the page asks for them. A generated token's rows cross in
 * full and are folded into the summaries on the page (`foldRows`), exactly.
 */
import { row, type AttentionSummary, type AttentionTrace } from '../trace';
import { addTallies, headTally, metricsOf } from './headMetrics';
import { maxPool } from './pool';

/** Pooled cells a side: thumbnails are at most 72 CSS pixels, so 144 device pixels at 2×. */
export const SUMMARY_CELLS = 128;

/** `ids`: the tokens along both axes of a self-attention, for the induction score. */
export function summarise(
  att: Pick<AttentionTrace, 'kind' | 'causal' | 'probs' | 'mask' | 'headGate'>,
  ids?: readonly number[],
): AttentionSummary {
  const [heads, nq, nk] = att.probs.shape;
  const factor = Math.max(1, Math.ceil(Math.max(nq, nk) / SUMMARY_CELLS));
  const rows = Math.ceil(nq / factor);
  const cols = Math.ceil(nk / factor);
  const pooled = new Float32Array(heads * rows * cols);
  let pooledMask: Float32Array = new Float32Array(rows * cols);
  const tallies = [];
  const tokens = att.kind === 'self' ? ids : undefined;
  for (let h = 0; h < heads; h++) {
    const probs = row(att.probs, h);
    const p = maxPool(probs, nq, nk, factor, att.mask.data);
    pooled.set(p.values, h * rows * cols);
    pooledMask = p.mask!;
    tallies.push(headTally(probs, nq, nk, att.mask.data, tokens));
  }
  return {
    kind: att.kind,
    causal: att.causal,
    pooled: { shape: [heads, rows, cols], data: pooled },
    pooledMask: { shape: [rows, cols], data: pooledMask },
    factor,
    headGate: att.headGate,
    metrics: tallies.map((t) => metricsOf(t, tokens !== undefined)),
    tallies,
  };
}

/**
 * `summary` with a generation step's new query rows added: `step` holds their exact attention,
 * `[heads, rows, keys]`, the first of them being query `firstRow`; `ids` are all the stack's
 * tokens, the new ones included. The metrics are means over rows, so their sums take the rows
 * exactly. The pooling keeps its factor: the grid grows by a cell a side every `factor` tokens
 * (earlier queries never see a new key: a cached step is causal), and once it passes
 * SUMMARY_CELLS it is pooled again by 2, which is max-pooling by twice the factor, exactly
 * (the blocks nest). A new `summarise` of the whole matrix may pick a smaller factor.
 */
export function foldRows(
  summary: AttentionSummary,
  step: Pick<AttentionTrace, 'probs' | 'mask' | 'headGate'>,
  firstRow: number,
  ids?: readonly number[],
): AttentionSummary {
  const [heads, rows0, cols0] = summary.pooled.shape;
  const [, nq, nk] = step.probs.shape;
  const factor = summary.factor;
  const rows = Math.max(rows0, Math.ceil((firstRow + nq) / factor));
  const cols = Math.max(cols0, Math.ceil(nk / factor));
  const pooled = new Float32Array(heads * rows * cols);
  const mask = new Float32Array(rows * cols);
  for (let r = 0; r < rows0; r++) {
    mask.set(summary.pooledMask.data.subarray(r * cols0, (r + 1) * cols0), r * cols);
    for (let h = 0; h < heads; h++) {
      const from = (h * rows0 + r) * cols0;
      pooled.set(summary.pooled.data.subarray(from, from + cols0), (h * rows + r) * cols);
    }
  }
  for (let q = 0; q < nq; q++) {
    const r = Math.floor((firstRow + q) / factor);
    for (let j = 0; j < nk; j++) {
      if (step.mask.data[q * nk + j] === 0) continue;
      const cell = r * cols + Math.floor(j / factor);
      mask[cell] = 1;
      for (let h = 0; h < heads; h++) {
        const p = step.probs.data[(h * nq + q) * nk + j];
        const at = h * rows * cols + cell;
        if (p > pooled[at]) pooled[at] = p; // probabilities are ≥ 0, the cells start at 0
      }
    }
  }
  const tokens = summary.kind === 'self' ? ids : undefined;
  const tallies = summary.tallies.map((t, h) =>
    addTallies(t, headTally(row(step.probs, h), nq, nk, step.mask.data, tokens, firstRow)),
  );
  const grown: AttentionSummary = {
    ...summary,
    pooled: { shape: [heads, rows, cols], data: pooled },
    pooledMask: { shape: [rows, cols], data: mask },
    headGate: step.headGate,
    metrics: tallies.map((t) => metricsOf(t, tokens !== undefined)),
    tallies,
  };
  return Math.max(rows, cols) > SUMMARY_CELLS ? poolAgain(grown) : grown;
}

/** The summary max-pooled by 2 more. */
function poolAgain(s: AttentionSummary): AttentionSummary {
  const [heads, rows, cols] = s.pooled.shape;
  const [outRows, outCols] = [Math.ceil(rows / 2), Math.ceil(cols / 2)];
  const pooled = new Float32Array(heads * outRows * outCols);
  let pooledMask: Float32Array = new Float32Array(outRows * outCols);
  for (let h = 0; h < heads; h++) {
    const p = maxPool(row(s.pooled, h), rows, cols, 2, s.pooledMask.data);
    pooled.set(p.values, h * outRows * outCols);
    pooledMask = p.mask!;
  }
  return {
    ...s,
    pooled: { shape: [heads, outRows, outCols], data: pooled },
    pooledMask: { shape: [outRows, outCols], data: pooledMask },
    factor: s.factor * 2,
  };
}
