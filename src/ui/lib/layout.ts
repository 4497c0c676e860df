/**
 * Axis label layout and zoom/pan maths for heatmaps. A heatmap is `rows × cols` cells of
 * `cellSize` px in content space; the view shows it through a transform `screen = content·k + (x, y)`.
 */

export interface ViewTransform {
  k: number;
  x: number;
  y: number;
}

export const IDENTITY: ViewTransform = { k: 1, x: 0, y: 0 };
export const MIN_ZOOM = 1;
export const MAX_ZOOM = 16;

/**
 * Which of `count` labels to draw along an axis where each cell is `cellPx` wide on screen:
 * every label when they fit, otherwise every n-th, n chosen so labels are ≥ `minSpacingPx` apart.
 * Only indices inside `[first, last]` (the visible range) are returned.
 */
export function labelIndices(
  count: number,
  cellPx: number,
  minSpacingPx: number,
  first = 0,
  last = count - 1,
): number[] {
  if (count <= 0 || cellPx <= 0) return [];
  const every = Math.max(1, Math.ceil(minSpacingPx / cellPx));
  const out: number[] = [];
  const start = Math.max(0, Math.ceil(first / every) * every);
  for (let i = start; i <= Math.min(last, count - 1); i += every) out.push(i);
  return out;
}

/** Shorten a label to `maxChars`, marking the cut with an ellipsis. */
export function fitLabel(text: string, maxChars: number): string {
  if (maxChars <= 0) return '';
  const chars = Array.from(text);
  if (chars.length <= maxChars) return text;
  if (maxChars === 1) return '…';
  return chars.slice(0, maxChars - 1).join('') + '…';
}

/** How many characters of a label fit in `px` at roughly `charPx` per character. */
export function charsThatFit(px: number, charPx = 7): number {
  return Math.max(0, Math.floor(px / charPx));
}

/**
 * Keep the content covering the view: no panning past the edges, and zoom never below 1
 * (where the whole map is visible).
 */
export function clampTransform(
  t: ViewTransform,
  viewW: number,
  viewH: number,
  contentW: number,
  contentH: number,
): ViewTransform {
  const k = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, t.k));
  const minX = Math.min(0, viewW - contentW * k);
  const minY = Math.min(0, viewH - contentH * k);
  return { k, x: Math.min(0, Math.max(minX, t.x)), y: Math.min(0, Math.max(minY, t.y)) };
}

/** Zoom by `factor` keeping the content point under the screen point (px, py) fixed. */
export function zoomAt(t: ViewTransform, factor: number, px: number, py: number): ViewTransform {
  const k = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, t.k * factor));
  const cx = (px - t.x) / t.k;
  const cy = (py - t.y) / t.k;
  return { k, x: px - cx * k, y: py - cy * k };
}

export function panBy(t: ViewTransform, dx: number, dy: number): ViewTransform {
  return { k: t.k, x: t.x + dx, y: t.y + dy };
}

/** The cell under a screen point, or null outside the map. */
export function cellAt(
  t: ViewTransform,
  px: number,
  py: number,
  cellW: number,
  cellH: number,
  rows: number,
  cols: number,
): { row: number; col: number } | null {
  const col = Math.floor((px - t.x) / t.k / cellW);
  const row = Math.floor((py - t.y) / t.k / cellH);
  if (row < 0 || col < 0 || row >= rows || col >= cols) return null;
  return { row, col };
}

/** First and last cell index visible along one axis. */
export function visibleRange(
  offset: number,
  k: number,
  viewPx: number,
  cellPx: number,
  count: number,
): [number, number] {
  const first = Math.max(0, Math.floor(-offset / k / cellPx));
  const last = Math.min(count - 1, Math.ceil((viewPx - offset) / k / cellPx) - 1);
  return [first, last];
}
