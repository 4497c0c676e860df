import { useState } from 'react';
import { useLab } from '../context';
import { CATEGORICAL } from '../lib/colour';
import { displayPiece } from '../lib/pieces';
import { formatHead } from '../lib/urlState';
import { kvGroupSuffix } from '../lib/kvGroups';
import { lineWeights } from '../lib/valueWeighted';
import { tokenRange } from '../lib/matrixWindow';
import { Counterfactual } from '../components/Counterfactual';
import { axisTokens, selectAttention, selectRunId, selectRunTokens } from '../store/selectors';

const ROW = 20;
const WIDTH = 460;
const MIN_SHOWN = 0.02;
const MAX_TOKENS = 96;

/**
 * BertViz-style: tokens on the left attend to tokens on the right; a line's opacity is the
 * attention weight (or, in the attention × ‖value‖ mode, α·‖v W_O‖ over the head's largest).
 * All heads of the focused layer, one colour each; hover a query to isolate its lines, a key
 * to see who attends to it, with the weights written beside the queries.
 */
export function HeadView() {
  const runId = useLab(selectRunId);
  const focus = useLab((s) => s.focus);
  const setFocus = useLab((s) => s.setFocus);
  const query = useLab((s) => s.query);
  const setQuery = useLab((s) => s.setQuery);
  const [hover, setHover] = useState<number | null>(null);
  const [hoverKey, setHoverKey] = useState<number | null>(null);
  const mode = useLab((s) => s.mode);
  const [allHeads, setAllHeads] = useState(false);
  const att = useLab(selectAttention(focus));
  const cfg = useLab((s) => s.modelInfo?.config);
  const { queries, keys } = axisTokens(useLab(selectRunTokens), focus);
  if (!att) {
    return (
      <p className="hint">
        {runId === null ? 'Run the model to see its heads.' : `Waiting for layer ${focus.layer}…`}
      </p>
    );
  }
  const [heads, allQ, allK] = att.probs.shape;
  // Until a run with value norms arrives (switching mode starts one), the probabilities.
  const weights = lineWeights(att, mode) ?? att.probs.data;
  const weighted = weights !== att.probs.data;
  // Lines between hundreds of tokens are unreadable (and slow): draw a window of MAX_TOKENS
  // tokens around the selected query, the same positions on both sides; lines to keys outside
  // it are not drawn. Work: O(heads × MAX_TOKENS²) whatever the input's length.
  const [q0, q1] = tokenRange(query, allQ, MAX_TOKENS);
  const [k0, k1] = allK === allQ ? [q0, q1] : tokenRange(0, allK, MAX_TOKENS);
  const nq = q1 - q0;
  const nk = k1 - k0;
  const shown = allHeads ? Array.from({ length: heads }, (_, h) => h) : [focus.head];
  const height = Math.max(nq, nk) * ROW + 10;
  const lines: React.ReactNode[] = [];
  for (const h of shown) {
    for (let a = 0; a < nq; a++) {
      const i = q0 + a;
      if (hover !== null && hover !== i) continue;
      for (let b = 0; b < nk; b++) {
        const j = k0 + b;
        if (hoverKey !== null && hoverKey !== j) continue;
        const p = weights[(h * allQ + i) * allK + j];
        if (p < MIN_SHOWN || att.mask.data[i * allK + j] === 0) continue;
        lines.push(
          <line
            key={`${h}-${i}-${j}`}
            data-testid="hv-line"
            data-query={i}
            data-key={j}
            x1={150}
            y1={a * ROW + ROW / 2 + 5}
            x2={WIDTH - 150}
            y2={b * ROW + ROW / 2 + 5}
            stroke={CATEGORICAL[h % CATEGORICAL.length]}
            strokeOpacity={Math.min(1, p * (allHeads ? 0.8 : 1))}
            strokeWidth={1 + 3 * p}
          />,
        );
      }
    }
  }
  const page = (delta: number) =>
    setQuery(Math.max(0, Math.min(allQ - 1, query + delta * Math.floor(MAX_TOKENS / 2))));
  return (
    <section className="head-view" data-testid="head-view" data-request-id={runId ?? undefined}>
      <p className="caption">
        {formatHead(focus, focus.kind)}
        {cfg && focus.kind === 'self' ? kvGroupSuffix(cfg, focus.head) : ''}: left tokens attend to
        right tokens; hover a query to isolate its lines, a key to see who attends to it
        {weighted ? '; line strength is attention × ‖value‖' : ''}. <Counterfactual />
      </p>
      {(allQ > nq || allK > nk) && (
        <p className="warning" data-testid="head-view-window">
          Showing tokens {q0}–{q1 - 1} of {allQ} (around query {query}); lines to keys outside them
          are not drawn.{' '}
          <button type="button" disabled={q0 === 0} onClick={() => page(-1)}>
            ◀ earlier
          </button>{' '}
          <button type="button" disabled={q1 === allQ} onClick={() => page(1)}>
            later ▶
          </button>
        </p>
      )}
      <label className="switch">
        <input type="checkbox" checked={allHeads} onChange={(e) => setAllHeads(e.target.checked)} />
        all heads of layer {focus.layer}
      </label>
      {allHeads && (
        <span className="chart-key">
          {Array.from({ length: heads }, (_, h) => (
            <button key={h} type="button" onClick={() => setFocus({ ...focus, head: h })}>
              <span
                className="key-swatch"
                style={{ background: CATEGORICAL[h % CATEGORICAL.length] }}
              />{' '}
              H{h}
            </button>
          ))}
        </span>
      )}
      <svg width={WIDTH} height={height} role="img" aria-label="attention lines between tokens">
        {lines}
        {Array.from({ length: nq }, (_, a) => (
          <text
            key={`q${q0 + a}`}
            x={140}
            y={a * ROW + ROW / 2 + 9}
            textAnchor="end"
            className={`hv-token${hover === q0 + a ? ' active' : ''}`}
            onMouseEnter={() => setHover(q0 + a)}
            onMouseLeave={() => setHover(null)}
          >
            {displayPiece(queries[q0 + a]?.piece ?? String(q0 + a))}
          </text>
        ))}
        {hoverKey !== null &&
          Array.from({ length: nq }, (_, a) => {
            const i = q0 + a;
            if (att.mask.data[i * allK + hoverKey] === 0) return null;
            // What the mode shows: p_ij, or p_ij·‖v_j W_O‖.
            const norm = weighted ? att.valueNorms!.data[focus.head * allK + hoverKey] : 1;
            const p = att.probs.data[(focus.head * allQ + i) * allK + hoverKey] * norm;
            return (
              <text
                key={`w${i}`}
                data-testid="hv-incoming"
                data-query={i}
                data-weight={p}
                x={152}
                y={a * ROW + ROW / 2 + 9}
                className="hv-weight"
              >
                {p.toFixed(2)}
              </text>
            );
          })}
        {Array.from({ length: nk }, (_, b) => (
          <text
            key={`k${k0 + b}`}
            data-testid="hv-key"
            data-key={k0 + b}
            x={WIDTH - 140}
            y={b * ROW + ROW / 2 + 9}
            className={`hv-token${hoverKey === k0 + b ? ' active' : ''}`}
            onMouseEnter={() => setHoverKey(k0 + b)}
            onMouseLeave={() => setHoverKey(null)}
          >
            {displayPiece(keys[k0 + b]?.piece ?? String(k0 + b))}
          </text>
        ))}
      </svg>
    </section>
  );
}
