import { useMemo, useState } from 'react';
import { row } from '../../model/trace';
import { useLab } from '../context';
import { headMetrics, METRIC_LABELS, type HeadMetrics } from '../../model/analysis/headMetrics';
import { formatHead, type HeadFocus } from '../lib/urlState';
import { Counterfactual } from '../components/Counterfactual';
import { attentionOf, selectRunId, selectTrace } from '../store/selectors';
import { attentionBlocks } from '../store/shape';

type Column = keyof HeadMetrics | 'head';
const METRICS = Object.keys(METRIC_LABELS) as (keyof HeadMetrics)[];

/** One row per head: entropy, previous-token, sink, sparsity; sortable; click to focus. */
export function MetricsTable() {
  const trace = useLab(selectTrace);
  const runId = useLab(selectRunId);
  const cfg = useLab((s) => s.modelInfo?.config);
  const focus = useLab((s) => s.focus);
  const setFocus = useLab((s) => s.setFocus);
  const [sort, setSort] = useState<{ by: Column; desc: boolean }>({ by: 'head', desc: false });
  const rows = useMemo(() => {
    if (!cfg || !trace) return [];
    const out: { ref: HeadFocus; ablated: boolean; m: HeadMetrics; order: number }[] = [];
    for (const b of attentionBlocks(cfg)) {
      for (let layer = 0; layer < b.layers; layer++) {
        const att = attentionOf({ trace }, { stack: b.stack, layer, kind: b.kind });
        if (!att) continue;
        const [heads, nq, nk] = att.probs.shape;
        for (let head = 0; head < heads; head++) {
          out.push({
            ref: { stack: b.stack, kind: b.kind, layer, head },
            ablated: att.headGate[head] === 0,
            m: headMetrics(row(att.probs, head), nq, nk, att.mask.data),
            order: out.length,
          });
        }
      }
    }
    return out;
  }, [cfg, trace]);
  const sorted = useMemo(() => {
    const key = (r: (typeof rows)[number]) => (sort.by === 'head' ? r.order : r.m[sort.by]);
    return [...rows].sort((a, b) => (key(a) - key(b)) * (sort.desc ? -1 : 1));
  }, [rows, sort]);
  if (runId === null) return <p className="hint">Run the model to measure its heads.</p>;
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
        visible keys needed to hold 90% of the attention. <Counterfactual />
      </p>
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
                    {m[k].toFixed(3)}
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
