/**
 * The traced forward in the reference's layout, and the error measure the reference tests use.
 */
import type { ModelConfig } from '../../../src/model/config';
import type { ForwardInput, ForwardOptions } from '../../../src/model/model';
import { toNested, type Trace } from '../../../src/model/trace';
import { traceToReferenceJson } from '../../../src/model/traceJson';
import { maxAbsDiff } from '../helpers';
import { referenceForward } from './naive';
import type { RandomModel } from './random-model';

/** `traceToReferenceJson` plus the keys `referenceForward` adds (see naive.ts). */
export function traceToComparable(trace: Trace, cfg: ModelConfig): Record<string, unknown> {
  const lnStats: Record<string, unknown> = {};
  const residualNorms: Record<string, number[]> = {};
  const scores: Record<string, unknown> = {};
  const positions: Record<string, unknown> = {};
  const qkv: Record<string, unknown> = {};
  for (const stack of ['encoder', 'decoder'] as const) {
    const st = trace[stack];
    if (!st) continue;
    const prefix = cfg.architecture === 'encoder-decoder' ? `${stack}.` : '';
    if (st.embedding.positions) positions[stack] = toNested(st.embedding.positions);
    const norms = st.layers.flatMap((l) => l.norms);
    if (st.output?.finalNorm) norms.push(st.output.finalNorm);
    for (const n of norms) {
      lnStats[n.name] = {
        input_mean: Array.from(n.inputMean),
        input_var: Array.from(n.inputVar),
        output_mean: Array.from(n.outputMean),
        output_var: Array.from(n.outputVar),
      };
    }
    st.layers.forEach((l, i) => {
      for (const r of l.residual) residualNorms[`${prefix}h.${i}.${r.point}`] = Array.from(r.norms);
      for (const a of l.attentions) {
        const name = `${prefix}h.${i}.${a.kind}`;
        scores[name] = toNested(a.scores);
        if (a.q && a.k && a.v && a.headOutputs && a.valueNorms) {
          qkv[name] = {
            q: toNested(a.q),
            k: toNested(a.k),
            v: toNested(a.v),
            head_outputs: toNested(a.headOutputs),
            value_norms: toNested(a.valueNorms),
          };
        }
      }
    });
  }
  return {
    ...traceToReferenceJson(trace, cfg),
    ln_stats: lnStats,
    residual_norms: residualNorms,
    scores,
    positions,
    qkv,
  };
}

function largestMagnitude(x: unknown): number {
  if (typeof x === 'number') return Math.abs(x);
  if (Array.isArray(x)) return x.reduce((m: number, v) => Math.max(m, largestMagnitude(v)), 0);
  throw new Error(`not a number or an array: ${JSON.stringify(x)?.slice(0, 40)}`);
}

/**
 * Relative error of every tensor (every number or array leaf) of `expected`, keyed by its path:
 * max|a − b| / max(1, max|b|). A tensor of values below 1 (probabilities, LayerNorm means) is
 * held to an absolute bound, a larger one (logits, variances) to one relative to its own scale,
 * so an error is never hidden by a larger neighbour nor magnified by a value near zero.
 * Keys and lengths must agree: a missing tensor fails instead of being skipped.
 */
export function relativeErrors(
  actual: unknown,
  expected: unknown,
  path = '$',
): Record<string, number> {
  if (
    typeof expected === 'object' &&
    expected !== null &&
    !Array.isArray(expected) &&
    typeof actual === 'object' &&
    actual !== null &&
    !Array.isArray(actual)
  ) {
    const ka = Object.keys(actual).sort().join();
    const kb = Object.keys(expected).sort().join();
    if (ka !== kb) throw new Error(`${path}: keys ${ka} vs ${kb}`);
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(expected))
      Object.assign(out, relativeErrors((actual as Record<string, unknown>)[k], v, `${path}.${k}`));
    return out;
  }
  return { [path]: maxAbsDiff(actual, expected, path) / Math.max(1, largestMagnitude(expected)) };
}

/** The worst entry of `relativeErrors`; a NaN counts as the worst of all. */
export function worst(errors: Record<string, number>): { path: string; error: number } {
  return Object.entries(errors).reduce(
    (w, [path, error]) => (Number.isNaN(w.error) || error <= w.error ? w : { path, error }),
    {
      path: '(none)',
      error: 0,
    },
  );
}

/** Per-tensor relative errors of a traced forward of `m` against the reference's. */
export function errorsAgainstReference(
  m: RandomModel,
  input: ForwardInput,
  options: ForwardOptions,
  trace: Trace,
): Record<string, number> {
  const expected = referenceForward(m.config, m.weights, input, options);
  return relativeErrors(traceToComparable(trace, m.model.config), expected);
}
