import type { Raster } from '../lib/heatmap';
import { createPaintQueue } from '../lib/paintQueue';
import { notePaint } from '../../client/debug';

/**
 * The 2D context of a canvas the app paints. It asks for a CPU-backed canvas
 * (`willReadFrequently`): with GPU-backed canvases every resize and `putImageData` was a
 * synchronous round trip to the GPU process, and while that process was busy (a software GPU
 * running the model's WebGL, or just compositing) the page's main thread stalled after head
 * toggles (docs/performance.md). Heatmap pictures are small; the compositor uploads them once per frame.
 */
export function context2d(canvas: HTMLCanvasElement): CanvasRenderingContext2D {
  return canvas.getContext('2d', { willReadFrequently: true })!;
}

/** Show a raster at its own size (resizing only when the size changed: a resize reallocates). */
export function paintRaster(canvas: HTMLCanvasElement, r: Raster): void {
  if (canvas.width !== r.width) canvas.width = r.width;
  if (canvas.height !== r.height) canvas.height = r.height;
  context2d(canvas).putImageData(new ImageData(r.data, r.width, r.height), 0, 0);
}

/**
 * Where the panels' drawing happens (heatmaps, thumbnails, axes, formulas): in tasks of their
 * own right after React committed the run that asked for it, at most 20 ms of it per task, so
 * the page never has a long task (> 50 ms) and the drawing is done within a frame or two.
 */
export const drawQueue = createPaintQueue(20, nextTask, () => performance.now());

/** Run `f` in a task of its own, before rendering where the browser can (`scheduler.postTask`). */
function nextTask(f: () => void): void {
  if (typeof scheduler !== 'undefined') void scheduler.postTask(f, { priority: 'user-blocking' });
  else setTimeout(f, 0);
}

/**
 * A heatmap canvas's effect: draw it from the queue and stamp what it shows — the request id and
 * the checksum of its numbers, which the e2e tests and the bench read — or, with nothing for the
 * current request yet, keep the last picture marked as stale. `draw` paints the canvas it is
 * given and returns the checksum.
 * Returns the effect's cleanup.
 */
export function drawHeatmapCanvas(
  canvas: HTMLCanvasElement | null,
  panel: string,
  requestId: number | null,
  draw: ((canvas: HTMLCanvasElement) => string) | null,
): (() => void) | undefined {
  if (!canvas) return;
  if (!draw) {
    canvas.dataset.stale = 'true';
    return;
  }
  drawQueue.schedule(canvas, () => {
    canvas.dataset.checksum = draw(canvas);
    canvas.dataset.requestId = String(requestId ?? '');
    delete canvas.dataset.stale;
    if (requestId !== null) notePaint(requestId, panel);
  });
  return () => drawQueue.cancel(canvas);
}
