/**
 * The whole of a long matrix, small (max-pooled to about a cell per pixel), with the big
 * heatmap's window drawn on it: click or drag to move the window.
 */
import { useEffect, useRef, type PointerEvent } from 'react';
import type { ColourScale } from '../lib/colour';
import { checksum, maxPool, rasterise } from '../lib/heatmap';
import type { MatrixWindow } from '../lib/matrixWindow';
import { drawHeatmapCanvas, paintRaster } from './canvas';

export interface OverviewProps {
  testId: string;
  requestId: number | null;
  values: ArrayLike<number>;
  rows: number;
  cols: number;
  mask?: ArrayLike<number>;
  scale: ColourScale;
  window: MatrixWindow;
  /** The cell the pointer is on: the window is to be centred there. */
  onMove(row: number, col: number): void;
  size?: number;
}

export function Overview(props: OverviewProps) {
  const { values, rows, cols, mask, scale, requestId, testId, window: w } = props;
  const size = props.size ?? 128;
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const draw = (canvas: HTMLCanvasElement) => {
      const factor = Math.max(1, Math.ceil(Math.max(rows, cols) / size));
      const pooled = maxPool(values, rows, cols, factor, mask);
      paintRaster(canvas, rasterise({ ...pooled, scale, cellPx: 1 }));
      return checksum(values);
    };
    return drawHeatmapCanvas(ref.current, testId, requestId, draw);
  }, [values, rows, cols, mask, scale, size, requestId, testId]);

  const width = cols >= rows ? size : Math.round((size * cols) / rows);
  const height = rows >= cols ? size : Math.round((size * rows) / cols);
  const move = (e: PointerEvent<HTMLDivElement>) => {
    const rect = e.currentTarget.getBoundingClientRect();
    const row = Math.floor(((e.clientY - rect.top) / rect.height) * rows);
    const col = Math.floor(((e.clientX - rect.left) / rect.width) * cols);
    props.onMove(row, col);
  };
  return (
    <div
      className="overview"
      role="slider"
      aria-label="window onto the whole matrix"
      aria-valuemin={0}
      aria-valuemax={rows - w.rows}
      aria-valuenow={w.row0}
      tabIndex={0}
      style={{ width, height }}
      onPointerDown={(e) => {
        e.currentTarget.setPointerCapture(e.pointerId);
        move(e);
      }}
      onPointerMove={(e) => {
        if (e.buttons & 1) move(e);
      }}
      onKeyDown={(e) => {
        // A slider owns the arrows (lib/keys.ts): ↑/↓ move the window by half its rows, ←/→ by
        // half its columns.
        const rowStep = e.key === 'ArrowUp' ? -w.rows / 2 : e.key === 'ArrowDown' ? w.rows / 2 : 0;
        const colStep =
          e.key === 'ArrowLeft' ? -w.cols / 2 : e.key === 'ArrowRight' ? w.cols / 2 : 0;
        if (rowStep === 0 && colStep === 0) return;
        e.preventDefault();
        props.onMove(w.row0 + w.rows / 2 + rowStep, w.col0 + w.cols / 2 + colStep);
      }}
    >
      <canvas ref={ref} data-testid={testId} style={{ width, height }} />
      <div
        className="overview-window"
        data-testid={`${testId}-window`}
        data-row0={w.row0}
        data-rows={w.rows}
        style={{
          left: `${(100 * w.col0) / cols}%`,
          top: `${(100 * w.row0) / rows}%`,
          width: `${(100 * w.cols) / cols}%`,
          height: `${(100 * w.rows) / rows}%`,
        }}
      />
    </div>
  );
}
