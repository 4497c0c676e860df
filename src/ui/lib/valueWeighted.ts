/**
 * Attention × ‖value‖ (Kobayashi et al. 2020): α_ij ‖v_j W_O^h‖, how much key j actually adds to
 * query i's output through head h, from the probabilities and the value norms the worker traced
 * (model/analysis/valueNorms.ts). A weight on a key whose value vector is small moves little.
 */
import { row, type AttentionTrace } from '../../model/trace';
import type { ValueMode } from './urlState';

/** α_ij · n_j for one head: `probs` `[rows, cols]` row-major, `norms` `[cols]`. */
export function weightByValueNorms(
  probs: ArrayLike<number>,
  cols: number,
  norms: ArrayLike<number>,
): Float32Array {
  const out = new Float32Array(probs.length);
  for (let i = 0; i < probs.length; i++) out[i] = probs[i] * norms[i % cols];
  return out;
}

/**
 * Line strengths of the head view, `[heads, rows, cols]`: the probabilities, or in `weighted`
 * mode α_ij ‖v_j‖ divided by each head's largest (a line's opacity must stay within 0…1); null
 * when the run traced no value norms.
 */
export function lineWeights(att: AttentionTrace, mode: ValueMode): Float32Array | null {
  if (mode !== 'weighted') return att.probs.data;
  const norms = att.valueNorms;
  if (!norms) return null;
  const [heads, rows, cols] = att.probs.shape;
  const out = new Float32Array(heads * rows * cols);
  for (let h = 0; h < heads; h++) {
    const w = weightByValueNorms(row(att.probs, h), cols, row(norms, h));
    let max = 0;
    for (const x of w) max = Math.max(max, x);
    for (let i = 0; i < w.length; i++) out[h * rows * cols + i] = max > 0 ? w[i] / max : 0;
  }
  return out;
}
