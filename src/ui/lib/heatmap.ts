/**
 * Heatmap rasterisation: a `[rows, cols]` matrix becomes the RGBA bytes a canvas `ImageData`
 * takes. Each cell is `cellPx` pixels square so that masked cells can carry a hatch pattern that
 * survives being scaled up (the canvas then draws it with smoothing off).
 */
import { lutIndex, type ColourScale } from './colour';

export { maxPool, type Pooled } from '../../model/analysis/pool';

export interface HeatmapInput {
  values: ArrayLike<number>;
  rows: number;
  cols: number;
  scale: ColourScale;
  /** 1 where a cell is live, 0 where it was masked; `[rows, cols]`. */
  mask?: ArrayLike<number>;
  /** Pixels per cell side. */
  cellPx: number;
  /** Stripe the whole map (an ablated head). */
  hatchAll?: boolean;
}

export interface Raster {
  width: number;
  height: number;
  data: Uint8ClampedArray<ArrayBuffer>;
}

/**
 * Masked cells: light grey with dark diagonal stripes, so they never read as "probability 0".
 * On a diverging scale (raw scores, which exist before the mask) a masked cell keeps its score's
 * colour under the same stripes: the scores stay readable and the mask stays visible.
 */
export const MASK_BACKGROUND: readonly number[] = [200, 200, 200];
export const MASK_STRIPE: readonly number[] = [110, 110, 110];
const STRIPE_PERIOD = 4;

/** Pick a cell size so the raster stays small (≤ `maxPx` per side) but hatching stays visible. */
export function cellPixels(cells: number, maxPx = 1024): number {
  return Math.max(1, Math.min(12, Math.floor(maxPx / Math.max(1, cells))));
}

function isStripe(x: number, y: number): boolean {
  return (x + y) % STRIPE_PERIOD === 0;
}

export function rasterise(input: HeatmapInput): Raster {
  const { values, rows, cols, scale, mask, cellPx, hatchAll } = input;
  if (values.length < rows * cols) {
    throw new RangeError(`heatmap: ${values.length} values for a ${rows}×${cols} map`);
  }
  const width = cols * cellPx;
  const height = rows * cellPx;
  const data = new Uint8ClampedArray(width * height * 4);
  const lut = scale.lut;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const cell = r * cols + c;
      const masked = mask !== undefined && mask[cell] === 0;
      const shownMasked = masked && scale.kind === 'diverging' && Number.isFinite(values[cell]);
      const li = lutIndex(scale, values[cell]) * 4;
      for (let dy = 0; dy < cellPx; dy++) {
        const y = r * cellPx + dy;
        let p = (y * width + c * cellPx) * 4;
        for (let dx = 0; dx < cellPx; dx++, p += 4) {
          const x = c * cellPx + dx;
          if (shownMasked && cellPx > 2 && isStripe(x, y)) {
            data[p] = MASK_STRIPE[0];
            data[p + 1] = MASK_STRIPE[1];
            data[p + 2] = MASK_STRIPE[2];
          } else if (masked && !shownMasked) {
            const shade = cellPx > 2 && isStripe(x, y) ? MASK_STRIPE : MASK_BACKGROUND;
            data[p] = shade[0];
            data[p + 1] = shade[1];
            data[p + 2] = shade[2];
          } else if (hatchAll && isStripe(x, y)) {
            // Stripes over the colour: the values stay readable, the head reads as switched off.
            data[p] = lut[li] >> 1;
            data[p + 1] = lut[li + 1] >> 1;
            data[p + 2] = lut[li + 2] >> 1;
          } else {
            data[p] = lut[li];
            data[p + 1] = lut[li + 1];
            data[p + 2] = lut[li + 2];
          }
          data[p + 3] = 255;
        }
      }
    }
  }
  return { width, height, data };
}

/**
 * FNV-1a over the float32 bytes of the values shown: a canvas carries it as `data-checksum`, so
 * a test can tell, without reading pixels, whether two paints showed the same numbers.
 */
export function checksum(values: ArrayLike<number>): string {
  const f = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) f[i] = values[i];
  const bytes = new Uint8Array(f.buffer);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}
