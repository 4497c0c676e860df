/**
 * A matrix drawn on a canvas from an RGBA raster, with d3 axes of token labels, a legend, a
 * tooltip with the exact value, and zoom (wheel, buttons) and pan (drag). The canvas carries the
 * request id and a checksum of the numbers it last painted, so tests can check what is on it.
 * Focused, the arrow keys move a cell cursor, shown like a hover and announced (aria-live).
 */
import { useEffect, useRef, useState, type PointerEvent } from 'react';
import { axisLeft, axisTop, scaleLinear, select } from 'd3';
import type { ColourScale } from '../lib/colour';
import type { LabelledMatrix } from '../lib/matrixWindow';
import { checksum, rasterise, cellPixels } from '../lib/heatmap';
import {
  cellAt,
  charsThatFit,
  clampTransform,
  fitLabel,
  IDENTITY,
  labelIndices,
  labelledRange,
  moveCursor,
  panBy,
  pressAt,
  pressMoved,
  revealCell,
  zoomAt,
  type Cell,
  type Press,
  type ViewTransform,
} from '../lib/layout';
import { context2d, drawHeatmapCanvas, drawQueue, paintRaster } from './canvas';
import { Legend } from './Legend';

export interface HeatmapData extends LabelledMatrix {
  /** Stripe the whole map: an ablated head. */
  hatchAll?: boolean;
}

export interface HeatmapProps {
  testId: string;
  /** The request whose numbers these are; null for data not tied to a run. */
  requestId: number | null;
  data: HeatmapData | null;
  scale: ColourScale;
  /** Largest side of the map area, px. */
  size?: number;
  zoom?: ViewTransform;
  onZoom?(t: ViewTransform): void;
  rowTitle?: string;
  colTitle?: string;
  /** Tooltip text for a cell; default "row → col: value". */
  describe?(row: number, col: number, value: number, masked: boolean): string;
  onCellClick?(row: number, col: number): void;
  highlightRow?: number;
  /**
   * Why there is nothing to draw and nothing coming (an empty or rejected input): shown instead
   * of the map, and the last picture is dropped rather than kept as "updating".
   */
  empty?: string | null;
  /** Axis margins; 0 hides the axes. */
  margin?: { top: number; left: number };
  label: string;
}

const DEFAULT_MARGIN = { top: 64, left: 84 };
const MIN_LABEL_SPACING = 11;
const MAX_CELL = 36;

function defaultDescribe(d: HeatmapData) {
  return (r: number, c: number, v: number, masked: boolean) =>
    `${d.rowLabels[r] ?? r} → ${d.colLabels[c] ?? c}: ${masked ? 'masked' : v.toPrecision(4)}`;
}

/** A heatmap's picture at its own resolution, with the checksum of the numbers behind it. */
interface Raster {
  data: HeatmapData;
  scale: ColourScale;
  canvas: HTMLCanvasElement;
  sum: string;
}

/** The raster only changes with the numbers, not with zoom or hover: made once per data. */
function rasterFor(
  cache: { current: Raster | null },
  data: HeatmapData,
  scale: ColourScale,
): Raster {
  if (cache.current?.data !== data || cache.current.scale !== scale) {
    const r = rasterise({ ...data, scale, cellPx: cellPixels(Math.max(data.rows, data.cols)) });
    const canvas = document.createElement('canvas');
    paintRaster(canvas, r);
    cache.current = { data, scale, canvas, sum: checksum(data.values) };
  }
  return cache.current;
}

export function Heatmap(props: HeatmapProps) {
  const { data, scale, requestId, testId, highlightRow, empty } = props;
  const size = props.size ?? 420;
  const margin = props.margin ?? DEFAULT_MARGIN;
  const [localZoom, setLocalZoom] = useState<ViewTransform>(IDENTITY);
  const zoom = props.zoom ?? localZoom;
  const setZoom = props.onZoom ?? setLocalZoom;
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const topAxis = useRef<SVGGElement>(null);
  const leftAxis = useRef<SVGGElement>(null);
  const press = useRef<Press | null>(null);
  const [tip, setTip] = useState<{ x: number; y: number; text: string } | null>(null);
  const [cursor, setCursor] = useState<Cell | null>(null);

  // While a run recomputes (no data for this layer yet) the last picture stays, dimmed and
  // labelled "updating", at its own size, until this layer's chunk replaces it; with nothing
  // coming (`empty`) it goes.
  const [last, setLast] = useState<HeatmapData | null>(data);
  if (data && data !== last) setLast(data);
  if (empty && last) setLast(null);
  const shown = empty ? null : (data ?? last);
  const rows = shown?.rows ?? 1;
  const cols = shown?.cols ?? 1;
  // Square cells for attention; a wide matrix (positions × features) gets wide-and-short ones.
  const cellW = Math.min(MAX_CELL, size / cols);
  const cellH = Math.min(MAX_CELL, size / rows);
  const width = Math.round(cellW * cols);
  const height = Math.round(cellH * rows);
  const view = clampTransform(zoom, width, height, width, height);
  // A cursor outside a smaller matrix (a shorter text) is dropped, not clamped: it named a cell.
  const shownCursor = cursor && cursor.row < rows && cursor.col < cols ? cursor : null;

  const raster = useRef<Raster | null>(null);

  useEffect(() => {
    // Nothing (yet) for the current request: the last picture stays, marked as stale.
    const draw = data
      ? (canvas: HTMLCanvasElement) => {
          const picture = rasterFor(raster, data, scale);
          const dpr = window.devicePixelRatio || 1;
          const [w, h] = [Math.round(width * dpr), Math.round(height * dpr)];
          if (canvas.width !== w) canvas.width = w;
          if (canvas.height !== h) canvas.height = h;
          const ctx = context2d(canvas);
          ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
          ctx.clearRect(0, 0, width, height);
          ctx.imageSmoothingEnabled = false;
          ctx.save();
          ctx.translate(view.x, view.y);
          ctx.scale(view.k, view.k);
          ctx.drawImage(picture.canvas, 0, 0, width, height);
          if (highlightRow !== undefined && highlightRow >= 0 && highlightRow < rows) {
            ctx.strokeStyle = '#ff2d95';
            ctx.lineWidth = 2 / view.k;
            ctx.strokeRect(0, highlightRow * cellH, width, cellH);
          }
          if (shownCursor) {
            ctx.strokeStyle = '#00b4ff';
            ctx.lineWidth = 2 / view.k;
            ctx.strokeRect(shownCursor.col * cellW, shownCursor.row * cellH, cellW, cellH);
          }
          ctx.restore();
          canvas.dataset.rows = String(rows);
          canvas.dataset.cols = String(cols);
          return picture.sum;
        }
      : null;
    return drawHeatmapCanvas(canvasRef.current, testId, requestId, draw);
  }, [
    testId,
    data,
    scale,
    width,
    height,
    view.x,
    view.y,
    view.k,
    highlightRow,
    shownCursor,
    rows,
    cols,
    cellW,
    cellH,
    requestId,
  ]);

  useEffect(() => {
    if (margin.top === 0) return;
    const axes = topAxis.current!;
    if (empty) {
      // No map: no labels of the last one either.
      select(axes).selectAll('*').remove();
      select(leftAxis.current!).selectAll('*').remove();
      return;
    }
    if (!data) return;
    drawQueue.schedule(axes, () => {
      const [r0, r1] = labelledRange(view.y, view.k, height, cellH, rows);
      const [c0, c1] = labelledRange(view.x, view.k, width, cellW, cols);
      const x = scaleLinear()
        .domain([0, cols])
        .range([view.x, view.x + width * view.k]);
      const y = scaleLinear()
        .domain([0, rows])
        .range([view.y, view.y + height * view.k]);
      const topChars = charsThatFit(margin.top * 1.1);
      const leftChars = charsThatFit(margin.left - 8);
      const top = axisTop(x)
        .tickValues(
          labelIndices(cols, cellW * view.k, MIN_LABEL_SPACING, c0, c1).map((i) => i + 0.5),
        )
        .tickFormat((v) => fitLabel(data.colLabels[Math.floor(+v)] ?? '', topChars))
        .tickSizeOuter(0);
      const left = axisLeft(y)
        .tickValues(
          labelIndices(rows, cellH * view.k, MIN_LABEL_SPACING, r0, r1).map((i) => i + 0.5),
        )
        .tickFormat((v) => fitLabel(data.rowLabels[Math.floor(+v)] ?? '', leftChars))
        .tickSizeOuter(0);
      const t = select(axes).call(top);
      t.select('.domain').remove();
      t.selectAll('text')
        .attr('transform', 'rotate(-60)')
        .attr('dx', '0.4em')
        .attr('dy', '0.3em')
        .style('text-anchor', 'start');
      select(leftAxis.current!).call(left).select('.domain').remove();
    });
    return () => drawQueue.cancel(axes);
  }, [
    data,
    empty,
    view.x,
    view.y,
    view.k,
    width,
    height,
    cellW,
    cellH,
    rows,
    cols,
    margin.top,
    margin.left,
  ]);

  // Wheel zoom needs a non-passive listener to keep the page from scrolling.
  useEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas) return;
    const onWheel = (e: WheelEvent) => {
      e.preventDefault();
      const factor = Math.exp(-e.deltaY * 0.002);
      setZoom(
        clampTransform(zoomAt(view, factor, e.offsetX, e.offsetY), width, height, width, height),
      );
    };
    canvas.addEventListener('wheel', onWheel, { passive: false });
    return () => canvas.removeEventListener('wheel', onWheel);
  }, [view, width, height, setZoom]);

  const hit = (e: PointerEvent<HTMLCanvasElement>) => {
    const rect = e.currentTarget.getBoundingClientRect();
    const px = e.clientX - rect.left;
    const py = e.clientY - rect.top;
    return { px, py, cell: cellAt(view, px, py, cellW, cellH, rows, cols) };
  };

  const describeCell = (c: Cell): string | null => {
    if (!data) return null;
    const i = c.row * data.cols + c.col;
    const masked = data.mask !== undefined && data.mask[i] === 0;
    return (props.describe ?? defaultDescribe(data))(c.row, c.col, data.values[i], masked);
  };

  const onPointerMove = (e: PointerEvent<HTMLCanvasElement>) => {
    const p = press.current;
    if (p) {
      // Panning only once the pointer has really moved: a click that wobbles stays a click.
      const moved = pressMoved(p, e.clientX, e.clientY);
      if (!moved.dragged) return;
      press.current = { ...moved, x: e.clientX, y: e.clientY };
      const next = panBy(view, e.clientX - p.x, e.clientY - p.y);
      setZoom(clampTransform(next, width, height, width, height));
      return;
    }
    const { px, py, cell: c } = hit(e);
    const text = c && describeCell(c);
    if (!text) return setTip(null);
    setTip({ x: px + margin.left + 12, y: py + margin.top + 12, text });
  };

  const onKeyDown = (e: React.KeyboardEvent<HTMLCanvasElement>) => {
    if (e.key === '+' || e.key === '=') return zoomButton(1.5);
    if (e.key === '-') return zoomButton(1 / 1.5);
    if (e.key === '0') return setZoom(IDENTITY);
    if (e.key === 'Escape') return setCursor(null);
    if ((e.key === 'Enter' || e.key === ' ') && shownCursor && props.onCellClick) {
      e.preventDefault();
      return props.onCellClick(shownCursor.row, shownCursor.col);
    }
    if (e.altKey || e.ctrlKey || e.metaKey || !data) return;
    const start = { row: Math.max(0, Math.min(rows - 1, highlightRow ?? 0)), col: 0 };
    const next = moveCursor(shownCursor, e.key, rows, cols, start);
    if (!next) return;
    // The map's arrows, not the page's (the step-through's ←/→ listen on the window).
    e.preventDefault();
    e.stopPropagation();
    setTip(null);
    setCursor(next);
    setZoom(
      clampTransform(
        revealCell(view, next, cellW, cellH, width, height),
        width,
        height,
        width,
        height,
      ),
    );
  };

  // The cursor is shown like a hover: the same text, at the cell.
  const cursorText = shownCursor && describeCell(shownCursor);
  const cursorTip = cursorText &&
    shownCursor && {
      x: margin.left + view.x + (shownCursor.col + 1) * cellW * view.k + 4,
      y: margin.top + view.y + (shownCursor.row + 1) * cellH * view.k + 4,
      text: cursorText,
    };
  const shownTip = tip ?? cursorTip;

  const zoomButton = (factor: number) =>
    setZoom(
      clampTransform(zoomAt(view, factor, width / 2, height / 2), width, height, width, height),
    );

  return (
    <figure className="heatmap" aria-label={props.label}>
      {empty && (
        <p className="heatmap-no-data hint" data-testid={`${testId}-empty`}>
          {empty}
        </p>
      )}
      <div
        className="heatmap-frame"
        hidden={Boolean(empty)}
        style={{ width: margin.left + width, height: margin.top + height }}
      >
        {margin.top > 0 && (
          <svg className="heatmap-axes" width={margin.left + width} height={margin.top + height}>
            <g
              ref={topAxis}
              data-axis="top"
              transform={`translate(${margin.left},${margin.top})`}
            />
            <g
              ref={leftAxis}
              data-axis="left"
              transform={`translate(${margin.left},${margin.top})`}
            />
            {props.colTitle && (
              <text className="axis-title" x={margin.left} y={10}>
                {props.colTitle}
              </text>
            )}
            {props.rowTitle && (
              <text
                className="axis-title"
                transform={`translate(10,${margin.top + height}) rotate(-90)`}
              >
                {props.rowTitle}
              </text>
            )}
          </svg>
        )}
        <canvas
          ref={canvasRef}
          data-testid={testId}
          role="img"
          aria-label={`${props.label}: arrow keys move a cell cursor${props.onCellClick ? ', Enter selects its row' : ''}`}
          aria-describedby={`${testId}-cursor`}
          tabIndex={0}
          style={{ left: margin.left, top: margin.top, width, height }}
          onPointerDown={(e) => {
            press.current = pressAt(e.clientX, e.clientY);
            e.currentTarget.setPointerCapture(e.pointerId);
          }}
          onPointerUp={(e) => {
            const dragged = press.current?.dragged ?? false;
            press.current = null;
            const c = hit(e).cell;
            if (!dragged && c && props.onCellClick) props.onCellClick(c.row, c.col);
          }}
          onPointerMove={onPointerMove}
          onPointerLeave={() => setTip(null)}
          onDoubleClick={() => setZoom(IDENTITY)}
          onKeyDown={onKeyDown}
          onBlur={() => setCursor(null)}
        />
        {shownTip && (
          <div className="heatmap-tip" role="tooltip" style={{ left: shownTip.x, top: shownTip.y }}>
            {shownTip.text}
          </div>
        )}
        <p
          className="visually-hidden"
          id={`${testId}-cursor`}
          data-testid={`${testId}-cursor`}
          aria-live="polite"
        >
          {cursorText ?? ''}
        </p>
        {!data && (
          <div className="heatmap-empty" data-testid={`${testId}-status`}>
            {shown ? 'updating…' : 'waiting for this layer…'}
          </div>
        )}
      </div>
      <figcaption hidden={Boolean(empty)}>
        <Legend scale={scale} masked={data?.mask !== undefined} />
        <span className="zoom-buttons">
          <button
            type="button"
            onClick={() => zoomButton(1.5)}
            aria-label="zoom in"
            title="zoom in (+)"
          >
            +
          </button>
          <button
            type="button"
            onClick={() => zoomButton(1 / 1.5)}
            aria-label="zoom out"
            title="zoom out (−)"
          >
            −
          </button>
          <button
            type="button"
            onClick={() => setZoom(IDENTITY)}
            title="reset zoom (0, double-click)"
          >
            reset
          </button>
        </span>
      </figcaption>
    </figure>
  );
}
