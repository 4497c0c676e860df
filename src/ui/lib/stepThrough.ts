/**
 * The step-through: attention for one query, one step at a time, recomputed in plain
 * JavaScript from the q/k/v the model captured, so that each step shown is arithmetic the reader
 * can check — and so that the recomputation checks the model (its scores and probabilities
 * must agree with the trace).
 */
import { row, type AttentionTrace } from '../../model/trace';

export interface QueryStep {
  head: number;
  query: number;
  /** d/h: the per-head width the scores are scaled by. */
  headDim: number;
  /** q_t·k_j for every key j. */
  dots: Float64Array;
  /** The model's score scale: 1/√(d/h), or 1 where it leaves scores unscaled (GPT-Neo). */
  scale: number;
  unscaled: boolean;
  /** dots·scale. */
  scaled: Float64Array;
  /** Whether the query may see key j. */
  allowed: boolean[];
  /** scaled, with −∞ where masked. */
  masked: Float64Array;
  /** softmax over the allowed keys. */
  probs: Float64Array;
  /** 1, or 0 for an ablated head: the gate multiplies the head's output, not its probabilities. */
  gate: number;
  /** gate · Σ_j p_j v_j. */
  output: Float64Array;
  /** Largest |recomputed − traced| for scores, probabilities and the head output (NaN if not traced). */
  scoreError: number;
  probError: number;
  outputError: number;
}

export function hasQKV(
  att: AttentionTrace,
): att is AttentionTrace & Required<Pick<AttentionTrace, 'q' | 'k' | 'v'>> {
  return att.q !== undefined && att.k !== undefined && att.v !== undefined;
}

/** Softmax over the finite entries (−∞ → 0); all −∞ gives all zeros rather than NaN. */
export function softmax(xs: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) if (xs[i] > m) m = xs[i];
  const out = new Float64Array(xs.length);
  if (m === -Infinity) return out;
  let sum = 0;
  for (let i = 0; i < xs.length; i++) {
    out[i] = xs[i] === -Infinity ? 0 : Math.exp(xs[i] - m);
    sum += out[i];
  }
  for (let i = 0; i < xs.length; i++) out[i] /= sum;
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * What the model multiplies q·k by: 1/√(d/h), or 1 for a model trained without the scaling
 * (`config.unscaledScores`, GPT-Neo: block.ts passes `unscaled`). One owner for the step-through
 * and the neuron view, so both show exactly what the model computes.
 */
export function scoreScale(headDim: number, unscaled: boolean): number {
  return unscaled ? 1 : 1 / Math.sqrt(headDim);
}

/** `unscaled`: the model's `config.unscaledScores` (GPT-Neo). */
export function stepQuery(
  att: AttentionTrace,
  head: number,
  query: number,
  unscaled = false,
): QueryStep {
  if (!hasQKV(att)) throw new Error('step-through needs q, k and v: run with captureQKV');
  const [, nQueries, headDim] = att.q.shape;
  const nKeys = att.k.shape[1];
  if (query < 0 || query >= nQueries) throw new RangeError(`query ${query} of ${nQueries}`);
  const q = row(att.q, head, query);
  const scale = scoreScale(headDim, unscaled);
  const dots = new Float64Array(nKeys);
  const scaled = new Float64Array(nKeys);
  const masked = new Float64Array(nKeys);
  const allowed: boolean[] = [];
  const maskRow = row(att.mask, query);
  for (let j = 0; j < nKeys; j++) {
    const k = row(att.k, head, j);
    let dot = 0;
    for (let c = 0; c < headDim; c++) dot += q[c] * k[c];
    dots[j] = dot;
    scaled[j] = dot * scale;
    allowed.push(maskRow[j] !== 0);
    masked[j] = allowed[j] ? scaled[j] : -Infinity;
  }
  const gate = att.headGate[head] ?? 1;
  const probs = softmax(masked);
  const output = new Float64Array(headDim);
  for (let j = 0; j < nKeys; j++) {
    if (probs[j] === 0) continue;
    const v = row(att.v, head, j);
    for (let c = 0; c < headDim; c++) output[c] += gate * probs[j] * v[c];
  }
  return {
    head,
    query,
    headDim,
    dots,
    scale,
    unscaled,
    scaled,
    allowed,
    masked,
    probs,
    gate,
    output,
    scoreError: maxAbsDiff(scaled, row(att.scores, head, query)),
    probError: maxAbsDiff(probs, row(att.probs, head, query)),
    outputError: att.headOutputs ? maxAbsDiff(output, row(att.headOutputs, head, query)) : NaN,
  };
}

/** Index of the key with the largest probability (the first on ties). */
export { argmax } from '../../model/sampling';

/** The step's formulas in TeX, with the numbers of key `j` filled in. */
export function stepFormula(step: QueryStep, j: number): string {
  const t = step.query;
  const e = Number.isFinite(step.masked[j]) ? step.masked[j].toFixed(3) : '-\\infty';
  // A model without the 1/√(d/h) scaling (GPT-Neo) is shown as it computes: e = q·k.
  const score = step.unscaled
    ? `q_{${t}} \\cdot k_j \\ (\\text{unscaled})`
    : `\\frac{q_{${t}} \\cdot k_j}{\\sqrt{d/h}}`;
  const value = step.unscaled
    ? step.dots[j].toFixed(3)
    : `\\frac{${step.dots[j].toFixed(3)}}{\\sqrt{${step.headDim}}}`;
  return [
    '\\begin{gathered}',
    `e_{${t}j} = ${score},\\quad`,
    `p_{${t}j} = \\frac{\\exp e_{${t}j}}{\\sum_{j' \\text{ unmasked}} \\exp e_{${t}j'}},\\quad`,
    `o_{${t}} = \\sum_j p_{${t}j}\\, v_j`,
    `\\\\[4pt] e_{${t},${j}} = ${value} \\to ${e},\\quad`,
    `p_{${t},${j}} = ${step.probs[j].toFixed(4)}`,
    '\\end{gathered}',
  ].join(' ');
}
