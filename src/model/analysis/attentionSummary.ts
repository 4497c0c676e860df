/**
 * What the page keeps of a long input's layer that it does not show in full (docs/performance.md,
 * long inputs). GPT-2 small's trace at 1,024 tokens holds 1.2 GB of scores and probabilities,
 * while the thumbnails draw at most a few hundred device pixels a side and the metrics table
 * shows six numbers a head. So such a layer crosses to the page as its probabilities max-pooled
 * to at most SUMMARY_CELLS a side, and its head metrics measured here on the exact values; the
 * exact matrices of a layer come when the page asks for them.
 */
import { row, type AttentionSummary, type AttentionTrace } from '../trace';
import { headMetrics } from './headMetrics';
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
  const metrics = [];
  for (let h = 0; h < heads; h++) {
    const probs = row(att.probs, h);
    const p = maxPool(probs, nq, nk, factor, att.mask.data);
    pooled.set(p.values, h * rows * cols);
    pooledMask = p.mask!;
    metrics.push(headMetrics(probs, nq, nk, att.mask.data, att.kind === 'self' ? ids : undefined));
  }
  return {
    kind: att.kind,
    causal: att.causal,
    pooled: { shape: [heads, rows, cols], data: pooled },
    pooledMask: { shape: [rows, cols], data: pooledMask },
    factor,
    headGate: att.headGate,
    metrics,
  };
}
