/**
 * The neuron view (as BertViz has it): one query–key pair of one head, dimension by dimension.
 * The score is a sum of d/h products, e_ij = (Σ_c q_ic k_jc) / √(d/h) (or the bare sum for a
 * model that does not scale, GPT-Neo); seeing each q_c, k_c and their product shows which
 * dimensions make a key match (large products of one sign) and which cancel. The sum is
 * recomputed here and checked against the score the model traced.
 */
import { row, type AttentionTrace } from '../../model/trace';
import { hasQKV, scoreScale } from './stepThrough';

export interface NeuronTerms {
  head: number;
  query: number;
  key: number;
  /** q_i and k_j of the head, `[d/h]` each. */
  q: Float32Array;
  k: Float32Array;
  /** q_ic · k_jc per dimension c. */
  products: Float64Array;
  /** Σ_c q_ic k_jc. */
  sum: number;
  /** The model's scale: 1/√(d/h), or 1 where it leaves scores unscaled (`scoreScale`). */
  scale: number;
  unscaled: boolean;
  /** sum · scale: the score. */
  scaled: number;
  /** The score the model traced, e_ij (before the mask). */
  traced: number;
}

export function neuronTerms(
  att: AttentionTrace,
  head: number,
  query: number,
  key: number,
  unscaled = false,
): NeuronTerms {
  if (!hasQKV(att)) throw new Error('the neuron view needs q and k: run with captureQKV');
  const q = row(att.q, head, query);
  const k = row(att.k, head, key);
  const products = new Float64Array(q.length);
  let sum = 0;
  for (let c = 0; c < q.length; c++) {
    products[c] = q[c] * k[c];
    sum += products[c];
  }
  const scale = scoreScale(q.length, unscaled);
  return {
    head,
    query,
    key,
    q,
    k,
    products,
    sum,
    scale,
    unscaled,
    scaled: sum * scale,
    traced: row(att.scores, head, query)[key],
  };
}

/** The `n` dimensions with the largest |product|, largest first: what makes this key match. */
export function topDimensions(products: ArrayLike<number>, n: number): number[] {
  return Array.from({ length: products.length }, (_, c) => c)
    .sort((a, b) => Math.abs(products[b]) - Math.abs(products[a]))
    .slice(0, n);
}
