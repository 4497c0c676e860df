import { useState } from 'react';
import { useLab } from '../context';
import { CATEGORICAL } from '../lib/colour';
import { displayPiece } from '../lib/pieces';
import { formatHead } from '../lib/urlState';
import { Counterfactual } from '../components/Counterfactual';
import { axisTokens, selectAttention, selectRunId, selectRunTokens } from '../store/selectors';

const ROW = 20;
const WIDTH = 460;
const MIN_SHOWN = 0.02;
const MAX_TOKENS = 96;

/**
 * BertViz-style: tokens on the left attend to tokens on the right; a line's opacity is the
 * attention weight. All heads of the focused layer, one colour each; hover a token to isolate it.
 */
export function HeadView() {
  const runId = useLab(selectRunId);
  const focus = useLab((s) => s.focus);
  const setFocus = useLab((s) => s.setFocus);
  const [hover, setHover] = useState<number | null>(null);
  const [allHeads, setAllHeads] = useState(false);
  const att = useLab(selectAttention(focus));
  const { queries, keys } = axisTokens(useLab(selectRunTokens), focus);
  if (!att) return <p className="hint">Run the model to see its heads.</p>;
  const [heads, allQ, allK] = att.probs.shape;
  // Lines between hundreds of tokens are unreadable (and slow): draw the start of the input.
  const nq = Math.min(allQ, MAX_TOKENS);
  const nk = Math.min(allK, MAX_TOKENS);
  const shown = allHeads ? Array.from({ length: heads }, (_, h) => h) : [focus.head];
  const height = Math.max(nq, nk) * ROW + 10;
  const lines: React.ReactNode[] = [];
  for (const h of shown) {
    for (let i = 0; i < nq; i++) {
      if (hover !== null && hover !== i) continue;
      for (let j = 0; j < nk; j++) {
        const p = att.probs.data[(h * allQ + i) * allK + j];
        if (p < MIN_SHOWN || att.mask.data[i * allK + j] === 0) continue;
        lines.push(
          <line
            key={`${h}-${i}-${j}`}
            x1={150}
            y1={i * ROW + ROW / 2 + 5}
            x2={WIDTH - 150}
            y2={j * ROW + ROW / 2 + 5}
            stroke={CATEGORICAL[h % CATEGORICAL.length]}
            strokeOpacity={Math.min(1, p * (allHeads ? 0.8 : 1))}
            strokeWidth={1 + 3 * p}
          />,
        );
      }
    }
  }
  return (
    <section className="head-view" data-testid="head-view" data-request-id={runId ?? undefined}>
      <p className="caption">
        {formatHead(focus, focus.kind)}: left tokens attend to right tokens; hover a token to
        isolate its lines. <Counterfactual />
      </p>
      {(allQ > nq || allK > nk) && (
        <p className="warning">Showing the first {MAX_TOKENS} tokens.</p>
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
        {Array.from({ length: nq }, (_, i) => (
          <text
            key={`q${i}`}
            x={140}
            y={i * ROW + ROW / 2 + 9}
            textAnchor="end"
            className={`hv-token${hover === i ? ' active' : ''}`}
            onMouseEnter={() => setHover(i)}
            onMouseLeave={() => setHover(null)}
          >
            {displayPiece(queries[i]?.piece ?? String(i))}
          </text>
        ))}
        {Array.from({ length: nk }, (_, j) => (
          <text key={`k${j}`} x={WIDTH - 140} y={j * ROW + ROW / 2 + 9} className="hv-token">
            {displayPiece(keys[j]?.piece ?? String(j))}
          </text>
        ))}
      </svg>
    </section>
  );
}
