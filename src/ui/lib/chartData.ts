/**
 * What the line charts plot, decided outside the component: which points an axis can draw, the
 * y domain of one chart or of several that show the same quantity side by side (so equal
 * heights mean equal values), and the point nearest the pointer for the hover readout.
 */
export type Point = [number, number];

export interface SeriesPoints {
  name: string;
  points: Point[];
}

/** Whether a point can be placed: finite, and positive on a log axis. */
export function drawable([x, y]: Point, logX = false, logY = false): boolean {
  return Number.isFinite(x) && Number.isFinite(y) && (!logX || x > 0) && (!logY || y > 0);
}

/**
 * The y range of the drawable points: from 0 on a linear axis (a norm or a time reads against
 * zero); a single value is widened so the axis has a length; nothing gives [0, 1] or [1, 10].
 */
export function yDomainOf(series: SeriesPoints[], logY = false, logX = false): [number, number] {
  const ys = series.flatMap((s) =>
    s.points.filter((p) => drawable(p, logX, logY)).map((p) => p[1]),
  );
  if (ys.length === 0) return logY ? [1, 10] : [0, 1];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (logY) return [y0, y1 === y0 ? y0 * 10 : y1];
  return [Math.min(0, y0), y1 === y0 ? y0 + 1 : y1];
}

/** One domain for charts of the same quantity (the pre/post comparison): that of all their points. */
export function sharedYDomain(charts: SeriesPoints[][], logY = false): [number, number] {
  return yDomainOf(charts.flat(), logY);
}

export interface Nearest {
  series: string;
  index: number;
  x: number;
  y: number;
}

/**
 * The drawable point nearest (px, py) on screen, given each axis's data → pixel map; null when
 * no series has one.
 */
export function nearestPoint(
  series: SeriesPoints[],
  toPx: (x: number) => number,
  toPy: (y: number) => number,
  px: number,
  py: number,
  logX = false,
  logY = false,
): Nearest | null {
  let best: Nearest | null = null;
  let bestD = Infinity;
  for (const s of series) {
    s.points.forEach((p, index) => {
      if (!drawable(p, logX, logY)) return;
      const d = (toPx(p[0]) - px) ** 2 + (toPy(p[1]) - py) ** 2;
      if (d < bestD) {
        bestD = d;
        best = { series: s.name, index, x: p[0], y: p[1] };
      }
    });
  }
  return best;
}
