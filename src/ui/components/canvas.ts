import type { Raster } from '../lib/heatmap';
import { createPaintQueue } from '../lib/paintQueue';

/**
 * The 2D context of a canvas the app paints. It asks for a CPU-backed canvas
 * (`willReadFrequently`): with GPU-backed canvases every resize and `putImageData` was a
 * synchronous round trip to the GPU process, and while that process was busy (a software GPU
 * running the model's WebGL, or just compositing) the page's main thread stalled for 250–600 ms
 * after head toggles. Heatmap pictures are small; the compositor uploads them once per frame.
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
 * Where the panels' drawing happens (heatmaps, thumbnails, axes, formulas): in animation frames,
 * at most 8 ms of it per frame, one frame after React committed the run that asked for it.
 */
export const framePaints = createPaintQueue(8, requestAnimationFrame, () => performance.now());
