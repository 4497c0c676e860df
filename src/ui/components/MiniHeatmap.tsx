/** A thumbnail heatmap (model view): canvas only, no axes; carries request id and checksum. */
import { useEffect, useRef } from 'react';
import { row, type Matrix } from '../../model/trace';
import type { ColourScale } from '../lib/colour';
import { checksum, maxPool, rasterise } from '../lib/heatmap';
import { drawHeatmapCanvas, paintRaster } from './canvas';

export interface MiniHeatmapProps {
  /** `[heads, rows, cols]`; the thumbnail shows `matrix[index]`. */
  matrix: Matrix | null;
  index: number;
  /** `[rows, cols]`. */
  mask?: Matrix;
  scale: ColourScale;
  hatchAll?: boolean;
  requestId: number | null;
  size: number;
}

export function MiniHeatmap({
  matrix,
  index,
  mask,
  scale,
  hatchAll,
  requestId,
  size,
}: MiniHeatmapProps) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const draw = matrix
      ? (canvas: HTMLCanvasElement) => {
          const [, rows, cols] = matrix.shape;
          const values = row(matrix, index);
          // Drawn at the thumbnail's size in device pixels, not more: a model view holds up to a
          // few hundred thumbnails, and rasterising each at twice the size made GPT-2's repaint a
          // long task. Long inputs are pooled to about one cell per device pixel; short ones get
          // cells of a few pixels so that masked and ablated hatching shows even in a thumbnail.
          const pixels = Math.round(size * (window.devicePixelRatio || 1));
          const factor = Math.ceil(Math.max(rows, cols) / pixels);
          const shown =
            factor > 1
              ? maxPool(values, rows, cols, factor, mask?.data)
              : { values, rows, cols, mask: mask?.data };
          const cellPx = Math.max(
            1,
            Math.min(8, Math.ceil(pixels / Math.max(shown.rows, shown.cols))),
          );
          paintRaster(canvas, rasterise({ ...shown, scale, cellPx, hatchAll }));
          return checksum(values);
        }
      : null;
    return drawHeatmapCanvas(ref.current, 'model-view', requestId, draw);
  }, [matrix, index, mask, scale, hatchAll, requestId, size]);
  return <canvas ref={ref} className="mini-heatmap" style={{ width: size, height: size }} />;
}
