/**
 * The KV cache of one head as the generation view draws it: the keys and values of every token so
 * far (`[tokens, d/h]`, from the trace's captured k and v), which rows the last step computed and
 * which it read from the cache, and the newest query with its attention over the cached keys.
 */
import { row, type AttentionTrace } from '../../model/trace';

export interface KVCacheView {
  /** Tokens in the cache after the step. */
  rows: number;
  headDim: number;
  /** Rows read from the cache: the step computed rows `cachedRows … rows − 1`. */
  cachedRows: number;
  /** `[rows, headDim]`. */
  keys: Float32Array;
  values: Float32Array;
  /** q of the newest token, `[headDim]`. */
  query: Float32Array;
  /** Its attention over the cache's keys, `[rows]`. */
  attention: Float32Array;
}

/**
 * One head's cache after a run whose first computed query row was `computedFrom` (0 for a full
 * run, which fills the cache at once; the old length for a cached generation step). Null when the
 * run did not capture q, k and v.
 */
export function kvCacheView(
  att: AttentionTrace,
  head: number,
  computedFrom: number,
): KVCacheView | null {
  if (!att.q || !att.k || !att.v) return null;
  const [, rows, headDim] = att.k.shape;
  const last = att.q.shape[1] - 1;
  return {
    rows,
    headDim,
    cachedRows: Math.min(computedFrom, rows),
    keys: row(att.k, head),
    values: row(att.v, head),
    query: row(att.q, head, last),
    attention: row(att.probs, head, last).subarray(0, rows),
  };
}

/**
 * What row `t` is in the step: read from the cache, computed again in it (a run, or the first
 * generation step, which fills the cache), or the newest token, whose query reads the cache.
 */
export function rowState(view: KVCacheView, t: number): 'cached' | 'computed' | 'new' {
  if (t === view.rows - 1) return 'new';
  return t < view.cachedRows ? 'cached' : 'computed';
}
