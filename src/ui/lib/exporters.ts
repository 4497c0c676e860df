/** Exports of the current view: the heatmap as standalone SVG, the trace as JSON. */
import { toNested, type Matrix, type Trace, type TraceChunk } from '../../model/trace';
import { cssColour, legendStops, type ColourScale } from './colour';

export interface SvgHeatmap {
  title: string;
  values: ArrayLike<number>;
  rows: number;
  cols: number;
  mask?: ArrayLike<number>;
  scale: ColourScale;
  rowLabels: string[];
  colLabels: string[];
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const CELL = 16;
const LABEL_W = 90;
const LABEL_H = 90;

/** A self-contained SVG document: one rect per cell, token labels, masked cells hatched, a legend. */
export function heatmapSvg(h: SvgHeatmap): string {
  const width = LABEL_W + h.cols * CELL + 20;
  const height = LABEL_H + h.rows * CELL + 60;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="10">`,
    '<defs><pattern id="masked" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">',
    '<rect width="4" height="4" fill="#c8c8c8"/><line x1="0" y1="0" x2="0" y2="4" stroke="#6e6e6e" stroke-width="1.5"/>',
    '</pattern><linearGradient id="legend">',
    ...legendStops(h.scale).map((s) => `<stop offset="${s.offset}" stop-color="${s.colour}"/>`),
    '</linearGradient></defs>',
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="4" y="14" font-size="12">${escapeXml(h.title)}</text>`,
    `<g transform="translate(${LABEL_W},${LABEL_H})">`,
  ];
  for (let r = 0; r < h.rows; r++) {
    for (let c = 0; c < h.cols; c++) {
      const i = r * h.cols + c;
      const masked = h.mask !== undefined && h.mask[i] === 0;
      const fill = masked ? 'url(#masked)' : cssColour(h.scale, h.values[i]);
      const value = masked ? 'masked' : h.values[i].toPrecision(4);
      parts.push(
        `<rect x="${c * CELL}" y="${r * CELL}" width="${CELL}" height="${CELL}" fill="${fill}"><title>${escapeXml(`${h.rowLabels[r] ?? r} → ${h.colLabels[c] ?? c}: ${value}`)}</title></rect>`,
      );
    }
  }
  h.rowLabels.forEach((l, r) =>
    parts.push(
      `<text x="-4" y="${r * CELL + CELL * 0.7}" text-anchor="end">${escapeXml(l)}</text>`,
    ),
  );
  h.colLabels.forEach((l, c) =>
    parts.push(
      `<text transform="translate(${c * CELL + CELL * 0.7},-4) rotate(-60)">${escapeXml(l)}</text>`,
    ),
  );
  const legendY = h.rows * CELL + 16;
  parts.push(
    `<rect x="0" y="${legendY}" width="${Math.max(120, h.cols * CELL)}" height="10" fill="url(#legend)"/>`,
    `<text x="0" y="${legendY + 22}">${h.scale.min.toPrecision(3)}</text>`,
    `<text x="${Math.max(120, h.cols * CELL)}" y="${legendY + 22}" text-anchor="end">${h.scale.max.toPrecision(3)}</text>`,
    '</g></svg>',
  );
  return parts.join('\n');
}

function nestedMatrices(value: unknown): unknown {
  if (value instanceof Float32Array) return Array.from(value);
  if (Array.isArray(value)) return value.map(nestedMatrices);
  if (typeof value === 'object' && value !== null) {
    const o = value as Record<string, unknown>;
    if (o.data instanceof Float32Array && Array.isArray(o.shape)) {
      return { shape: o.shape, data: toNested(o as unknown as Matrix) };
    }
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, nestedMatrices(v)]));
  }
  return value;
}

/** The trace as plain JSON: every matrix as `{shape, data: nested arrays}`. */
export function traceJson(trace: Trace | TraceChunk[], meta: Record<string, unknown>): string {
  return JSON.stringify({ ...meta, trace: nestedMatrices(trace) });
}
