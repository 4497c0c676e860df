/**
 * Colour scales for heatmaps. Probabilities use a perceptually uniform, colour-blind-safe
 * sequential palette (viridis); raw scores are signed, so they use a diverging palette
 * (ColorBrewer RdBu, also colour-blind-safe) centred on zero. Both are sampled once into a
 * lookup table so that rasterising a 512×512 heatmap does no string parsing per cell.
 */
import { color, interpolateRdBu, interpolateViridis } from 'd3';

export type ScaleKind = 'sequential' | 'diverging';

export interface ColourScale {
  kind: ScaleKind;
  /** Value mapped to the first and last colour. Diverging scales are symmetric around 0. */
  min: number;
  max: number;
  /** `steps` RGBA entries, 4 bytes each. */
  lut: Uint8ClampedArray;
  steps: number;
}

const LUT_STEPS = 256;

function sampleInterpolator(interpolate: (t: number) => string, steps: number): Uint8ClampedArray {
  const lut = new Uint8ClampedArray(steps * 4);
  for (let i = 0; i < steps; i++) {
    const c = color(interpolate(i / (steps - 1)))!.rgb();
    lut.set([Math.round(c.r), Math.round(c.g), Math.round(c.b), 255], i * 4);
  }
  return lut;
}

const lutCache = new Map<ScaleKind, Uint8ClampedArray>();

function lutFor(kind: ScaleKind): Uint8ClampedArray {
  let lut = lutCache.get(kind);
  if (!lut) {
    // RdBu runs red → blue; reversed so that positive scores are warm.
    const interpolate =
      kind === 'sequential' ? interpolateViridis : (t: number) => interpolateRdBu(1 - t);
    lut = sampleInterpolator(interpolate, LUT_STEPS);
    lutCache.set(kind, lut);
  }
  return lut;
}

/** Extent of the finite values where `mask` (if given) allows the cell. */
export function finiteExtent(
  values: ArrayLike<number>,
  mask?: ArrayLike<number>,
): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    if (mask && mask[i] === 0) continue;
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [0, 0];
}

/** Probabilities: fixed [0, 1] unless `max` is given (to stretch faint heads). */
export function sequentialScale(min = 0, max = 1): ColourScale {
  return {
    kind: 'sequential',
    min,
    max: max > min ? max : min + 1,
    lut: lutFor('sequential'),
    steps: LUT_STEPS,
  };
}

/** Scores: symmetric around zero so that white always means 0. */
export function divergingScale(extent: [number, number]): ColourScale {
  const m = Math.max(Math.abs(extent[0]), Math.abs(extent[1])) || 1;
  return { kind: 'diverging', min: -m, max: m, lut: lutFor('diverging'), steps: LUT_STEPS };
}

/** Index into the LUT for a value (clamped; NaN maps to the middle). */
export function lutIndex(scale: ColourScale, value: number): number {
  const t = (value - scale.min) / (scale.max - scale.min);
  if (Number.isNaN(t)) return scale.steps >> 1;
  const i = Math.round(t * (scale.steps - 1));
  return i < 0 ? 0 : i >= scale.steps ? scale.steps - 1 : i;
}

export function colourOf(scale: ColourScale, value: number): [number, number, number] {
  const i = lutIndex(scale, value) * 4;
  return [scale.lut[i], scale.lut[i + 1], scale.lut[i + 2]];
}

export function cssColour(scale: ColourScale, value: number): string {
  const [r, g, b] = colourOf(scale, value);
  return `rgb(${r},${g},${b})`;
}

/** Black or white text, whichever reads better on the given background. */
export function textColourOn([r, g, b]: [number, number, number]): '#000' | '#fff' {
  // Relative luminance (sRGB approximation) against the midpoint.
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 140 ? '#000' : '#fff';
}

/** Evenly spaced legend stops `{offset, colour}` for an SVG/CSS gradient. */
export function legendStops(
  scale: ColourScale,
  count = 11,
): { offset: number; colour: string; value: number }[] {
  return Array.from({ length: count }, (_, i) => {
    const offset = i / (count - 1);
    const value = scale.min + offset * (scale.max - scale.min);
    return { offset, value, colour: cssColour(scale, value) };
  });
}

/** Okabe–Ito: categorical colours that stay distinct under the common colour-vision deficiencies. */
export const CATEGORICAL = [
  '#0072B2',
  '#E69F00',
  '#009E73',
  '#CC79A7',
  '#56B4E9',
  '#D55E00',
  '#000000',
  '#F0E442',
];
