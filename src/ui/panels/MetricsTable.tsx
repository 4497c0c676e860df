import { useEffect, useMemo, useState } from 'react';
import type { AttentionTrace } from '../../model/trace';
import { useLab } from '../context';
import { METRIC_LABELS, type HeadMetrics } from '../../model/analysis/headMetrics';
import { cachedMetrics, measureHead, measureKey } from '../lib/metricsCache';
import { formatHead, type HeadFocus } from '../lib/urlState';
import { Counterfactual } from '../components/Counterfactual';
import { drawQueue } from '../components/canvas';
import { attentionOf, selectRunId, selectTrace, summaryOf } from '../store/selectors';
import { attentionBlocks } from '../store/shape';

type Column = keyof HeadMetrics | 'head';
const METRICS = Object.keys(METRIC_LABELS) as (keyof HeadMetrics)[];

/** Heads up to this many cells (128 tokens) are measured as they arrive: a few ms a layer. */
const MEASURE_AT_ONCE = 128 * 128;

interface Row {
  ref: HeadFocus;
  /** The attention to measure; absent when the worker measured it (a long input's summary). */
  att?: AttentionTrace;
  ablated: boolean;
  /** The run's tokens, for a self-attention's induction score. */
  ids: number[] | undefined;
  /** Undefined until measured. */
  m: HeadMetrics | undefined;
  order: number;
}

/** One row per head: entropy, previous-token, sink, sparsity, induction; sortable; click to focus. */
export function MetricsTable() {
  const trace = useLab(selectTrace);
  const runId = useLab(selectRunId);
  const cfg = useLab((s) => s.modelInfo?.config);
  const focus = useLab((s) => s.focus);
  const setFocus = useLab((s) => s.setFocus);
  const repeatRandomTokens = useLab((s) => s.repeatRandomTokens);
  const repeatSeed = useLab((s) => s.repeatSeed);
  const [sort, setSort] = useState<{ by: Column; desc: boolean }>({ by: 'head', desc: false });
  // Bumped as heads are measured, one per queued task (metricsCache.ts): a 1,024-token head is
  // about a million cells, and measuring all of a model's heads at once was seconds of main
  // thread.
  const [measured, setMeasured] = useState(0);
  const rows = useMemo(() => {
    if (!cfg || !trace) return [];
    const out: Row[] = [];
    for (const b of attentionBlocks(cfg)) {
      for (let layer = 0; layer < b.layers; layer++) {
        const at = { stack: b.stack, layer, kind: b.kind };
        const summary = summaryOf({ trace }, at);
        if (summary) {
          summary.metrics.forEach((m, head) =>
            out.push({
              ref: { ...at, head },
              ablated: summary.headGate[head] === 0,
              ids: undefined,
              m,
              order: out.length,
            }),
          );
          continue;
        }
        const att = attentionOf({ trace }, at);
        if (!att) continue;
        const [heads, nq, nk] = att.probs.shape;
        // The induction score needs the tokens along both axes: self-attention only.
        const ids = b.kind === 'self' ? trace[b.stack]?.embedding.inputIds : undefined;
        for (let head = 0; head < heads; head++) {
          out.push({
            ref: { stack: b.stack, kind: b.kind, layer, head },
            att,
            ablated: att.headGate[head] === 0,
            ids,
            m:
              cachedMetrics(att, head) ??
              (nq * nk <= MEASURE_AT_ONCE ? measureHead(att, head, ids) : undefined),
            order: out.length,
          });
        }
      }
    }
    return out;
    // `measured` names no value read here: it says the cache has grown.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [cfg, trace, measured]);
  useEffect(() => {
    const keys: object[] = [];
    for (const { att, ref, m, ids } of rows) {
      if (m || !att) continue;
      const key = measureKey(att, ref.head);
      keys.push(key);
      drawQueue.schedule(key, () => {
        measureHead(att, ref.head, ids);
        setMeasured((n) => n + 1);
      });
    }
    return () => keys.forEach((k) => drawQueue.cancel(k));
  }, [rows]);
  const sorted = useMemo(() => {
    const missing = sort.desc ? -Infinity : Infinity;
    const key = (r: Row) => {
      if (sort.by === 'head') return r.order;
      const v = r.m?.[sort.by];
      return v === undefined || Number.isNaN(v) ? missing : v;
    };
    return [...rows].sort((a, b) => (key(a) - key(b)) * (sort.desc ? -1 : 1));
  }, [rows, sort]);
  const repeatButton = (
    <button
      type="button"
      data-testid="repeat-random-tokens"
      onClick={repeatRandomTokens}
      title="fill the input with random tokens, each once, then the same tokens again, and run it"
    >
      repeat random tokens (seed {repeatSeed})
    </button>
  );
  if (runId === null) {
    return <p className="hint">Run the model to measure its heads, or {repeatButton}</p>;
  }
  const header = (col: Column, label: string) => (
    <th
      aria-sort={sort.by === col ? (sort.desc ? 'descending' : 'ascending') : 'none'}
      onClick={() => setSort({ by: col, desc: sort.by === col ? !sort.desc : col !== 'head' })}
    >
      <button type="button" data-testid={`sort-${col}`}>
        {label}
        {sort.by === col ? (sort.desc ? ' ▼' : ' ▲') : ''}
      </button>
    </th>
  );
  return (
    <section data-testid="metrics-panel" data-request-id={runId}>
      <p className="caption">
        Averages over queries. Previous token: p(i→i−1). Sink: p(i→0). Sparsity: 1 − the share of
        visible keys needed to hold 90% of the attention. Induction: p(i → j+1), where j is the
        previous occurrence of token i, over the tokens that occurred before (on random tokens
        repeated twice, the standard induction score). <Counterfactual />
      </p>
      <div className="toolbar">{repeatButton}</div>
      <table className="metrics-table" data-testid="metrics-table">
        <thead>
          <tr>
            {header('head', 'head')}
            {METRICS.map((k) => header(k, METRIC_LABELS[k]))}
          </tr>
        </thead>
        <tbody>
          {sorted.map(({ ref, m, ablated }) => {
            const focused =
              ref.stack === focus.stack &&
              ref.kind === focus.kind &&
              ref.layer === focus.layer &&
              ref.head === focus.head;
            return (
              <tr
                key={formatHead(ref, ref.kind)}
                data-testid="metrics-row"
                data-head-ref={formatHead(ref, ref.kind)}
                className={`${focused ? 'focused' : ''}${ablated ? ' ablated' : ''}`}
                onClick={() => setFocus(ref)}
                tabIndex={0}
                onKeyDown={(e) => e.key === 'Enter' && setFocus(ref)}
              >
                <td>
                  {formatHead(ref, ref.kind)}
                  {ablated ? ' (ablated)' : ''}
                </td>
                {METRICS.map((k) => (
                  <td key={k} data-metric={k}>
                    {m ? (Number.isNaN(m[k]) ? '–' : m[k].toFixed(3)) : '…'}
                  </td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
