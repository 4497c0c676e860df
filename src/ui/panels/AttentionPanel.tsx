import { useMemo, useState } from 'react';
import { useLab, useLabStore } from '../context';
import { divergingScale, finiteExtent, sequentialScale } from '../lib/colour';
import { heatmapSvg, traceJson } from '../lib/exporters';
import { formatHead, type ValueMode } from '../lib/urlState';
import { kvGroups } from '../lib/kvGroups';
import { rovingAfter } from '../lib/keys';
import { Heatmap } from '../components/Heatmap';
import { Overview } from '../components/Overview';
import { centredOn, isWhole, windowFor, windowOf, type WindowAnchor } from '../lib/matrixWindow';
import { Counterfactual } from '../components/Counterfactual';
import { download, svgToPng } from '../components/download';
import {
  axisTokens,
  headMatrix,
  isAblated,
  selectAttention,
  selectNoData,
  selectRunId,
  selectRunTokens,
} from '../store/selectors';
import { attentionBlocks } from '../store/shape';

const MODE_TITLES: Record<ValueMode, string> = {
  probs: 'probabilities',
  scores: 'raw scores',
  weighted: 'attention × ‖value‖',
};

const VALUE_MODES = ['probs', 'scores', 'weighted'] as const;

const MODE_SYMBOLS: Record<ValueMode, string> = { probs: 'p', scores: 'e', weighted: 'p·‖vW_O‖' };

const MODE_CAPTIONS: Record<ValueMode, string> = {
  probs: 'Row i: how query token i spreads its attention over the key tokens (rows sum to 1).',
  scores: 'e_ij = q_i·k_j / √(d/h), before the mask: white is 0, red positive, blue negative.',
  weighted:
    'p_ij · ‖v_j W_O^h‖: each weight times the norm of key j’s value after the output projection, the size of what key j adds to query i (Kobayashi et al. 2020). A heavily attended key with a small value moves little.',
};

function FocusPicker() {
  const cfg = useLab((s) => s.modelInfo?.config);
  const focus = useLab((s) => s.focus);
  const setFocus = useLab((s) => s.setFocus);
  if (!cfg) return null;
  const blocks = attentionBlocks(cfg);
  const block = blocks.find((b) => b.stack === focus.stack && b.kind === focus.kind) ?? blocks[0];
  const groups = focus.kind === 'self' ? kvGroups(cfg) : null;
  return (
    <span className="focus-picker">
      {blocks.length > 1 && (
        <select
          aria-label="attention"
          data-testid="focus-block"
          value={`${focus.stack}/${focus.kind}`}
          onChange={(e) => {
            const [stack, kind] = e.target.value.split('/') as [
              typeof focus.stack,
              typeof focus.kind,
            ];
            setFocus({ ...focus, stack, kind });
          }}
        >
          {blocks.map((b) => (
            <option key={b.title} value={`${b.stack}/${b.kind}`}>
              {b.title}
            </option>
          ))}
        </select>
      )}
      <label>
        layer{' '}
        <select
          data-testid="focus-layer"
          value={focus.layer}
          onChange={(e) => setFocus({ ...focus, layer: Number(e.target.value) })}
        >
          {Array.from({ length: block.layers }, (_, i) => (
            <option key={i}>{i}</option>
          ))}
        </select>
      </label>
      <label>
        head{' '}
        <select
          data-testid="focus-head"
          value={focus.head}
          onChange={(e) => setFocus({ ...focus, head: Number(e.target.value) })}
        >
          {Array.from({ length: cfg.nHeads }, (_, i) => (
            <option key={i} value={i}>
              {groups ? `${i} (kv${groups[i]})` : i}
            </option>
          ))}
        </select>
      </label>
      {groups && (
        <span
          className="small"
          data-testid="focus-kv-group"
          data-kv-group={groups[focus.head]}
          title="grouped-query attention: the key/value head this query head shares"
        >
          KV group {groups[focus.head]}
        </span>
      )}
    </span>
  );
}

/** The focused head, large: scores or probabilities, pieces or words, zoomable, exportable. */
export function AttentionPanel() {
  const store = useLabStore();
  const runId = useLab(selectRunId);
  const focus = useLab((s) => s.focus);
  const mode = useLab((s) => s.mode);
  const words = useLab((s) => s.words);
  const zoom = useLab((s) => s.zoom);
  const setZoom = useLab((s) => s.setZoom);
  const setMode = useLab((s) => s.setMode);
  const setWords = useLab((s) => s.setWords);
  const setQuery = useLab((s) => s.setQuery);
  const query = useLab((s) => s.query);
  const modelName = useLab((s) => s.modelInfo?.name ?? '');
  const unscaled = useLab((s) => s.modelInfo?.config.unscaledScores ?? false);
  const noData = useLab(selectNoData);
  // Keyed on the focused attention and the tokens, not the run: chunks of other layers arriving
  // leave this picture alone.
  const att = useLab(selectAttention(focus));
  const tokens = useLab(selectRunTokens);
  const axis = useMemo(() => axisTokens(tokens, focus), [tokens, focus]);
  const matrix = useMemo(
    () => headMatrix(att, axis, focus.head, mode, words),
    [att, axis, focus.head, mode, words],
  );
  const ablated = isAblated(att, focus.head);
  const scale = useMemo(() => {
    if (mode === 'scores' && matrix) return divergingScale(finiteExtent(matrix.values));
    // α·‖v‖ is not bounded by 1: from 0 to the largest live cell.
    if (mode === 'weighted' && matrix) return sequentialScale(0, finiteExtent(matrix.values)[1]);
    return sequentialScale();
  }, [mode, matrix]);
  // A long matrix opens on a window (matrixWindow.ts); the overview strip moves it.
  const [anchor, setAnchor] = useState<WindowAnchor>(null);
  const win = windowFor(matrix?.rows ?? 0, matrix?.cols ?? 0, anchor);
  const whole = !matrix || isWhole(win, matrix.rows, matrix.cols);
  const { row0, rows: winRows, col0, cols: winCols } = win;
  const data = useMemo(() => {
    if (!matrix) return null;
    const shown = whole ? matrix : windowOf(matrix, { row0, rows: winRows, col0, cols: winCols });
    return { ...shown, hatchAll: ablated };
  }, [matrix, ablated, whole, row0, winRows, col0, winCols]);
  const title = `${modelName} ${formatHead(focus, focus.kind)} ${mode}${words ? ' (words)' : ''}`;
  const fileBase = `attention-${formatHead(focus, focus.kind)}-${mode}`;

  const svg = () =>
    matrix &&
    heatmapSvg({
      title,
      values: matrix.values,
      rows: matrix.rows,
      cols: matrix.cols,
      mask: matrix.mask,
      scale,
      rowLabels: matrix.rowLabels,
      colLabels: matrix.colLabels,
    });

  return (
    <section className="panel attention-panel" aria-labelledby="attention-title">
      <h2 id="attention-title">
        Attention <FocusPicker />
      </h2>
      <div className="toolbar">
        <span
          role="radiogroup"
          aria-label="values"
          className="segmented"
          onKeyDown={(e) => {
            // WAI-ARIA radio group: the arrows choose (and focus) the next value (lib/keys.ts).
            const next = rovingAfter(VALUE_MODES, mode, e.key, true);
            if (next === null) return;
            e.preventDefault();
            setMode(next);
            e.currentTarget.querySelector<HTMLElement>(`[data-testid="mode-${next}"]`)?.focus();
          }}
        >
          {VALUE_MODES.map((m) => (
            <button
              key={m}
              type="button"
              role="radio"
              aria-checked={mode === m}
              tabIndex={mode === m ? 0 : -1}
              data-testid={`mode-${m}`}
              onClick={() => setMode(m)}
            >
              {MODE_TITLES[m]}
            </button>
          ))}
        </span>
        <label className="switch" title="sum attention over a word's pieces (probabilities only)">
          <input
            type="checkbox"
            data-testid="words-toggle"
            checked={words}
            disabled={mode !== 'probs'}
            onChange={(e) => setWords(e.target.checked)}
          />
          words
        </label>
        <button
          type="button"
          data-testid="export-png"
          disabled={!matrix}
          onClick={async () => download(await svgToPng(svg()!), `${fileBase}.png`)}
        >
          PNG
        </button>
        <button
          type="button"
          data-testid="export-svg"
          disabled={!matrix}
          onClick={() => download(new Blob([svg()!], { type: 'image/svg+xml' }), `${fileBase}.svg`)}
        >
          SVG
        </button>
        <button
          type="button"
          data-testid="export-json"
          disabled={runId === null}
          onClick={() => {
            // Read at the click: the whole run is not worth a re-render per chunk.
            const run = store.getState().run;
            if (!run) return;
            const json = traceJson(run.trace, {
              model: modelName,
              requestId: run.id,
              tokens: run.tokens,
              interventions: run.interventions,
            });
            download(new Blob([json], { type: 'application/json' }), `trace-${run.id}.json`);
          }}
        >
          trace JSON
        </button>
      </div>
      <p className="caption">
        {mode === 'scores' && unscaled
          ? 'e_ij = q_i·k_j (this model does not scale by 1/√(d/h)), before the mask: white is 0, red positive, blue negative.'
          : MODE_CAPTIONS[mode]}{' '}
        {ablated && (
          <span className="counterfactual">this head is ablated: its output is zeroed</span>
        )}
        <Counterfactual />
      </p>
      {matrix && !whole && (
        <div className="window-bar">
          <Overview
            testId="attention-overview"
            requestId={runId}
            values={matrix.values}
            rows={matrix.rows}
            cols={matrix.cols}
            mask={matrix.mask}
            scale={scale}
            window={win}
            onMove={(r, c) => setAnchor(centredOn(win, r, c, matrix.rows, matrix.cols))}
          />
          <p className="caption" data-testid="attention-window">
            Showing {words ? 'words' : 'queries'} {row0}–{row0 + winRows - 1} of {matrix.rows}
            {winCols < matrix.cols ? `, keys ${col0}–${col0 + winCols - 1}` : ''}: drag on the
            overview to move the window.
          </p>
        </div>
      )}
      <Heatmap
        testId="attention-heatmap"
        label={`attention of ${formatHead(focus, focus.kind)}`}
        requestId={runId}
        data={data}
        empty={noData}
        scale={scale}
        zoom={zoom}
        onZoom={setZoom}
        rowTitle="query"
        colTitle="key"
        highlightRow={words ? undefined : query - row0}
        onCellClick={(r) => !words && setQuery(row0 + r)}
        describe={(r, c, v, masked) =>
          `query ${data?.rowLabels[r]} (#${row0 + r}) → key ${data?.colLabels[c]} (#${col0 + c}): ${
            masked ? 'masked' : `${MODE_SYMBOLS[mode]} = ${v.toPrecision(5)}`
          }`
        }
      />
    </section>
  );
}
