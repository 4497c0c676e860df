/**
 * Head metrics, each computed once per attention the run holds. A 1,024-token head costs
 * O(T²) (about a million cells); recomputing all of GPT-2 small's 144 heads on every chunk
 * frame, as the table did, was O(layers² · heads · T²) per run. Here a head is measured when
 * asked for and kept for as long as its attention is (a WeakMap on the trace's own object), so
 * the table can measure one head per task and only heads it has not seen yet.
 */
import { headMetrics, type HeadMetrics } from '../../model/analysis/headMetrics';
import { row, type AttentionTrace } from '../../model/trace';

interface Entry {
  metrics: (HeadMetrics | undefined)[];
  /** One object per head: a key the paint queue can schedule the head's measurement under. */
  keys: object[];
}

const measured = new WeakMap<AttentionTrace, Entry>();

function entryOf(att: AttentionTrace): Entry {
  let e = measured.get(att);
  if (!e) {
    const heads = att.probs.shape[0];
    e = {
      metrics: new Array(heads).fill(undefined),
      keys: Array.from({ length: heads }, () => ({})),
    };
    measured.set(att, e);
  }
  return e;
}

/** The head's metrics if already measured. */
export function cachedMetrics(att: AttentionTrace, head: number): HeadMetrics | undefined {
  return measured.get(att)?.metrics[head];
}

/**
 * The head's metrics, measured now unless they already were. `ids`: the run's tokens, given for a
 * self-attention (its induction score).
 */
export function measureHead(
  att: AttentionTrace,
  head: number,
  ids?: readonly number[],
): HeadMetrics {
  const e = entryOf(att);
  const [, nq, nk] = att.probs.shape;
  return (e.metrics[head] ??= headMetrics(row(att.probs, head), nq, nk, att.mask.data, ids));
}

/** A stable key for scheduling the head's measurement. */
export function measureKey(att: AttentionTrace, head: number): object {
  return entryOf(att).keys[head];
}
