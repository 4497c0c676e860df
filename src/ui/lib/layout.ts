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

/**
 * First and last cell along one axis whose centre is in view: the cells that get a label. A cell
 * only partly scrolled into view has its label's anchor outside the map, where it would be drawn
 * over the other axis or the legend.
 */
export function labelledRange(
  offset: number,
  k: number,
  viewPx: number,
  cellPx: number,
  count: number,
): [number, number] {
  const size = k * cellPx;
  const first = Math.max(0, Math.ceil(-offset / size - 0.5));
  const last = Math.min(count - 1, Math.floor((viewPx - offset) / size - 0.5));
  return [first, last];
}

/** Pointer travel (px) below which a press is a click, not a pan: a hand is never quite still. */
export const DRAG_SLOP_PX = 4;

/** A pointer press on a heatmap: where it started, where it was last, and whether it panned. */
export interface Press {
  x0: number;
  y0: number;
  x: number;
  y: number;
  dragged: boolean;
}

export function pressAt(x: number, y: number): Press {
  return { x0: x, y0: y, x, y, dragged: false };
}

/** The press once the pointer is at (x, y): a drag from when it first left the slop circle on. */
export function pressMoved(p: Press, x: number, y: number, slop = DRAG_SLOP_PX): Press {
  return { ...p, dragged: p.dragged || Math.hypot(x - p.x0, y - p.y0) > slop };
}

export interface Cell {
  row: number;
  col: number;
}

/**
 * The keyboard cursor after `key` (arrows by one cell, Home/End to the row's ends, PageUp/PageDown
 * to the column's), starting at `start` when there is none yet; null for other keys.
 */
export function moveCursor(
  cursor: Cell | null,
  key: string,
  rows: number,
  cols: number,
  start: Cell = { row: 0, col: 0 },
): Cell | null {
  if (rows <= 0 || cols <= 0) return null;
  const c = cursor ?? start;
  const clamp = (row: number, col: number) => ({
    row: Math.min(rows - 1, Math.max(0, row)),
    col: Math.min(cols - 1, Math.max(0, col)),
  });
  const moves: Record<string, Cell> = {
    ArrowUp: { row: c.row - 1, col: c.col },
    ArrowDown: { row: c.row + 1, col: c.col },
    ArrowLeft: { row: c.row, col: c.col - 1 },
    ArrowRight: { row: c.row, col: c.col + 1 },
    Home: { row: c.row, col: 0 },
    End: { row: c.row, col: cols - 1 },
    PageUp: { row: 0, col: c.col },
    PageDown: { row: rows - 1, col: c.col },
  };
  const to = moves[key];
  if (!to) return null;
  // The first key press shows the cursor where it starts rather than moving it.
  return cursor ? clamp(to.row, to.col) : clamp(c.row, c.col);
}

/** The view panned just enough that `cell` is inside it (a zoomed map follows the cursor). */
export function revealCell(
  t: ViewTransform,
  cell: Cell,
  cellW: number,
  cellH: number,
  viewW: number,
  viewH: number,
): ViewTransform {
  const shift = (offset: number, index: number, size: number, view: number) => {
    const start = offset + index * size * t.k;
    const end = start + size * t.k;
    if (start < 0) return offset - start;
    if (end > view) return offset - (end - view);
    return offset;
  };
  return {
    k: t.k,
    x: shift(t.x, cell.col, cellW, viewW),
    y: shift(t.y, cell.row, cellH, viewH),
  };
}
