/**
 * Windows onto a long matrix. At 1,024 tokens a head is a million cells, under half a pixel each
 * on the big heatmap: it opens instead on a window (the last `WINDOW_ROWS` queries × all keys,
 * where the newest tokens are), and a small overview of the whole matrix moves the window.
 * Everything here is O(cells of the window) or O(1), never O(T²) per interaction.
 */

export interface MatrixWindow {
  row0: number;
  rows: number;
  col0: number;
  cols: number;
}

/** Matrices up to this many rows and columns are shown whole. */
export const WHOLE_UP_TO = 128;
/** Queries in a window of a longer matrix. */
export const WINDOW_ROWS = 64;

/** Where the user put the window (its top-left cell); null: the default, the last queries. */
export type WindowAnchor = { row0: number; col0: number } | null;

function clamp(v: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, v));
}

/** The window shown for a `totalRows × totalCols` matrix: the whole of a short one. */
export function windowFor(
  totalRows: number,
  totalCols: number,
  anchor: WindowAnchor,
): MatrixWindow {
  if (totalRows <= WHOLE_UP_TO && totalCols <= WHOLE_UP_TO) {
    return { row0: 0, rows: totalRows, col0: 0, cols: totalCols };
  }
  const rows = Math.min(totalRows, WINDOW_ROWS);
  // All keys: a query's attention is read along its whole row (sinks sit at key 0).
  const cols = totalCols;
  const row0 = clamp(anchor ? anchor.row0 : totalRows - rows, 0, totalRows - rows);
  const col0 = clamp(anchor ? anchor.col0 : 0, 0, totalCols - cols);
  return { row0, rows, col0, cols };
}

/** Whether the window is the whole matrix. */
export function isWhole(w: MatrixWindow, totalRows: number, totalCols: number): boolean {
  return w.row0 === 0 && w.col0 === 0 && w.rows === totalRows && w.cols === totalCols;
}

/** The anchor that centres a window of `w`'s size on cell (row, col), kept inside the matrix. */
export function centredOn(
  w: MatrixWindow,
  row: number,
  col: number,
  totalRows: number,
  totalCols: number,
): { row0: number; col0: number } {
  return {
    row0: clamp(Math.round(row - w.rows / 2), 0, totalRows - w.rows),
    col0: clamp(Math.round(col - w.cols / 2), 0, totalCols - w.cols),
  };
}

/** The cells of `values` (`[totalRows, totalCols]`, row-major) inside the window, row-major. */
export function sliceWindow(
  values: ArrayLike<number>,
  totalCols: number,
  w: MatrixWindow,
): Float32Array {
  const out = new Float32Array(w.rows * w.cols);
  for (let r = 0; r < w.rows; r++) {
    const from = (w.row0 + r) * totalCols + w.col0;
    for (let c = 0; c < w.cols; c++) out[r * w.cols + c] = values[from + c];
  }
  return out;
}

/** A labelled matrix as the heatmap draws it. */
export interface LabelledMatrix {
  values: ArrayLike<number>;
  rows: number;
  cols: number;
  mask?: ArrayLike<number>;
  rowLabels: string[];
  colLabels: string[];
}

/** The window of a labelled matrix: values, mask and labels cut alike. */
export function windowOf<M extends LabelledMatrix>(
  m: M,
  w: MatrixWindow,
): LabelledMatrix & { values: Float32Array } {
  return {
    values: sliceWindow(m.values, m.cols, w),
    rows: w.rows,
    cols: w.cols,
    ...(m.mask ? { mask: sliceWindow(m.mask, m.cols, w) } : {}),
    rowLabels: m.rowLabels.slice(w.row0, w.row0 + w.rows),
    colLabels: m.colLabels.slice(w.col0, w.col0 + w.cols),
  };
}

/**
 * `size` consecutive tokens out of `total`, centred on `focus` where the ends allow: the head
 * view draws lines between at most `size` tokens.
 */
export function tokenRange(focus: number, total: number, size: number): [number, number] {
  if (total <= size) return [0, total];
  const start = clamp(Math.round(focus - size / 2), 0, total - size);
  return [start, start + size];
}
