import { useEffect, useMemo, useRef, useState } from 'react';
import type { Sampling } from '../../workers/protocol';
import { useLab } from '../context';
import { divergingScale, finiteExtent, sequentialScale } from '../lib/colour';
import { checksum, rasterise } from '../lib/heatmap';
import { generateBlocked } from '../lib/generation';
import { kvCacheView, rowState, type KVCacheView } from '../lib/kvCache';
import { displayPiece } from '../lib/pieces';
import { context2d, drawHeatmapCanvas, paintRaster } from '../components/canvas';
import { Counterfactual } from '../components/Counterfactual';
import { NoQKV } from '../components/NoQKV';
import { selectAttention, selectRunDone, selectRunId, selectRunTokens } from '../store/selectors';

/** Pixels per cell: the cache fits about this tall, each cell at least 2 and at most 12 px. */
const CACHE_PX = 384;

/** The frame around the rows computed in the step (the new row's label has the same colour). */
const FRAME_COLOUR = '#e4007c';

function cellPx(rows: number): number {
  return Math.max(2, Math.min(12, Math.floor(CACHE_PX / Math.max(1, rows))));
}

interface CacheFigureProps {
  caption: React.ReactNode;
  testId: string;
  values: Float32Array;
  rows: number;
  cols: number;
  /** Pixels per cell: the cache's, so that q's columns line up with K's. */
  px: number;
  /** Rows from here on were computed in the step: framed. */
  framedFrom: number;
  requestId: number | null;
  sequential?: boolean;
  figureTestId?: string;
  position?: number;
}

/**
 * One `[rows, cols]` matrix of the cache on a canvas, captioned, the rows computed in the step
 * framed. Stamps the request id and the checksum of its numbers for the tests.
 */
function CacheFigure(props: CacheFigureProps) {
  const { caption, testId, values, rows, cols, px, framedFrom, requestId, sequential } = props;
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const draw = (canvas: HTMLCanvasElement) => {
      const scale = sequential ? sequentialScale() : divergingScale(finiteExtent(values));
      paintRaster(canvas, rasterise({ values, rows, cols, scale, cellPx: px }));
      if (framedFrom < rows) {
        const ctx = context2d(canvas);
        ctx.strokeStyle = FRAME_COLOUR;
        ctx.lineWidth = 2;
        ctx.strokeRect(1, framedFrom * px + 1, cols * px - 2, (rows - framedFrom) * px - 2);
      }
      return checksum(values);
    };
    return drawHeatmapCanvas(ref.current, 'kv-cache', requestId, draw);
  }, [values, rows, cols, px, sequential, framedFrom, requestId]);
  return (
    <figure data-testid={props.figureTestId} data-position={props.position}>
      <figcaption>{caption}</figcaption>
      <canvas ref={ref} data-testid={testId} className="kv-canvas" />
    </figure>
  );
}

function SamplingControls({
  sampling,
  onChange,
}: {
  sampling: Sampling;
  onChange: (s: Sampling) => void;
}) {
  const field = (
    key: keyof Sampling,
    label: string,
    attrs: { min: number; max?: number; step: number },
  ) => (
    <label>
      {label}{' '}
      <input
        type="number"
        {...attrs}
        value={sampling[key]}
        data-testid={`sampling-${key === 'topK' ? 'top-k' : key === 'topP' ? 'top-p' : key}`}
        onChange={(e) => {
          const v = Number(e.target.value);
          if (Number.isFinite(v)) onChange({ ...sampling, [key]: v });
        }}
      />
    </label>
  );
  const greedy = sampling.temperature <= 0 || sampling.topK === 1;
  return (
    <fieldset className="sampling" data-testid="sampling" data-greedy={greedy}>
      <legend>Next token</legend>
      {field('temperature', 'temperature', { min: 0, max: 5, step: 0.1 })}
      {field('topK', 'top-k', { min: 0, step: 1 })}
      {field('topP', 'top-p', { min: 0, max: 1, step: 0.05 })}
      {field('seed', 'seed', { min: 0, step: 1 })}
      <span className="caption">
        {greedy
          ? 'greedy: the most likely token (temperature 0 or top-k 1)'
          : 'drawn from softmax(logits / temperature), cut to the top k (0: all), then to the smallest set holding p; the same seed draws the same tokens'}
      </span>
    </fieldset>
  );
}

function CacheView({
  view,
  labels,
  requestId,
}: {
  view: KVCacheView;
  labels: string[];
  requestId: number | null;
}) {
  const { rows, headDim, cachedRows } = view;
  const px = cellPx(rows);
  const shared = { rows, px, framedFrom: cachedRows, requestId };
  return (
    <div className="kv-grid">
      <ol className="kv-rows" style={{ lineHeight: `${px}px`, fontSize: Math.min(px, 11) }}>
        {Array.from({ length: rows }, (_, t) => {
          const state = rowState(view, t);
          return (
            <li
              key={t}
              data-testid="kv-row"
              data-state={state}
              className={`kv-${state}`}
              style={{ height: px }}
            >
              {px >= 8 ? `#${t} ${labels[t] ?? ''}` : ''}
            </li>
          );
        })}
      </ol>
      <CacheFigure {...shared} caption="K" testId="kv-keys" values={view.keys} cols={headDim} />
      <CacheFigure {...shared} caption="V" testId="kv-values" values={view.values} cols={headDim} />
      <CacheFigure
        {...shared}
        caption="p"
        testId="kv-attention"
        values={view.attention}
        cols={1}
        sequential
        framedFrom={rows}
      />
      <CacheFigure
        {...shared}
        caption={
          <>
            q<sub>{rows - 1}</sub> (the new query)
          </>
        }
        testId="kv-query-row"
        values={view.query}
        rows={1}
        cols={headDim}
        framedFrom={0}
        figureTestId="kv-query"
        position={rows - 1}
      />
    </div>
  );
}

/**
 * Generation you can watch: each step appends a token (greedy, or sampled with a seed) and
 * computes only its row; the head's key/value cache grows by that row, framed, below the rows
 * read from the cache, beside the new query and its attention over the cache.
 */
export function GenerationPanel() {
  const runId = useLab(selectRunId);
  const runDone = useLab(selectRunDone);
  const runFailed = useLab((s) => s.run?.error != null);
  const computedFrom = useLab((s) => s.run?.computedFrom ?? 0);
  const busy = useLab((s) => s.inFlight !== null);
  const cfg = useLab((s) => s.modelInfo?.config);
  const focus = useLab((s) => s.focus);
  const setFocus = useLab((s) => s.setFocus);
  const generateNext = useLab((s) => s.generateNext);
  const tokens = useLab(selectRunTokens)?.decoder;
  const continuation = useLab((s) => s.run?.continuation ?? null);
  const [sampling, setSampling] = useState<Sampling>({ temperature: 0, topK: 0, topP: 1, seed: 1 });
  const layer = focus.stack === 'decoder' ? focus.layer : 0;
  const head = focus.head;
  const att = useLab(selectAttention({ stack: 'decoder', layer, kind: 'self' }));
  const view = useMemo(
    () => (att ? kvCacheView(att, head, computedFrom) : null),
    [att, head, computedFrom],
  );
  const labels = useMemo(() => (tokens ?? []).map((t) => displayPiece(t.piece)), [tokens]);
  if (!cfg) return null;
  if (cfg.architecture === 'encoder-only') {
    return (
      <p className="hint">
        An encoder-only model reads its whole input at once: it has no KV cache.
      </p>
    );
  }
  if (runId === null) return <p className="hint">Run the model to watch it generate.</p>;
  const blocked = generateBlocked(tokens?.length ?? 0, cfg.contextLength, continuation);

  const pick = (l: number, h: number) =>
    setFocus({ stack: 'decoder', kind: 'self', layer: l, head: h });
  const options = (n: number) =>
    Array.from({ length: n }, (_, i) => (
      <option key={i} value={i}>
        {i}
      </option>
    ));
  return (
    <section
      className="generation"
      data-testid="kv-cache"
      data-request-id={runId}
      data-rows={view?.rows ?? 0}
      data-cached-rows={view?.cachedRows ?? 0}
    >
      <div className="toolbar">
        <SamplingControls sampling={sampling} onChange={setSampling} />
        <label>
          layer{' '}
          <select
            value={layer}
            data-testid="kv-layer"
            onChange={(e) => pick(Number(e.target.value), head)}
          >
            {options(cfg.nLayers)}
          </select>
        </label>
        <label>
          head{' '}
          <select
            value={head}
            data-testid="kv-head"
            onChange={(e) => pick(layer, Number(e.target.value))}
          >
            {options(cfg.nHeads)}
          </select>
        </label>
        <button
          type="button"
          data-testid="kv-generate"
          disabled={!runDone || busy || runFailed || blocked !== null}
          title={blocked ?? undefined}
          onClick={() => generateNext(sampling)}
        >
          generate next token
        </button>
      </div>
      <p className="caption">
        Decoder layer {layer}, head {head}: keys and values of every token so far (rows; d/h ={' '}
        {view?.headDim ?? '…'} columns).{' '}
        {view && view.cachedRows > 0
          ? `Rows 0–${view.cachedRows - 1} were read from the cache; the framed row was computed in this step, for the one new token.`
          : 'Every row was computed in this step (framed): a run keeps no cache (on WebGL its input is padded to a length bucket), so the first generation step recomputes all rows and fills the cache; each later step computes only the new token’s row.'}{' '}
        p: the new query’s attention over the cached keys. <Counterfactual />
      </p>
      {!att ? (
        <p className="hint">Waiting for layer {layer}…</p>
      ) : !view ? (
        <NoQKV />
      ) : (
        <CacheView view={view} labels={labels} requestId={runId} />
      )}
    </section>
  );
}
