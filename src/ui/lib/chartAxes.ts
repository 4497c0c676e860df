/**
 * Axis ticks of the line charts. Numbers are written out in plain decimals: d3's `~g` picks the
 * fewest significant digits a tick step needs and so prints 20 as "2e+1" when ticks step by 10;
 * `~r` rounds to the same digits but never switches to exponent notation. Label ticks (one name
 * per integer x, like "3 after-residual") are thinned until they no longer overlap.
 */
import type { NumberValue, ScaleContinuousNumeric } from 'd3';

/** Width of one character of an 11 px axis label, a little generous (styles.css `svg text`). */
export const TICK_CHAR_PX = 7;
/** Gap left between two neighbouring labels. */
const LABEL_GAP_PX = 8;

/** Formatter for `count` ticks of a linear scale (`~r`) or a log scale (SI prefixes). */
export function numberTickFormat(
  scale: ScaleContinuousNumeric<number, number>,
  count: number,
  log: boolean,
): (value: NumberValue) => string {
  return log ? scale.tickFormat(count, '~s') : scale.tickFormat(count, '~r');
}

/** How far a label centred on its tick reaches to either side: the margin it needs at an end. */
export function labelOverhangPx(label: string): number {
  return (label.length * TICK_CHAR_PX) / 2;
}

/**
 * Every how many integer positions a label is shown so that labels `spacingPx` apart (one per
 * position) do not overlap: 1 when all fit.
 */
export function labelStep(labels: readonly string[], spacingPx: number): number {
  if (labels.length < 2 || spacingPx <= 0) return 1;
  const widest = Math.max(...labels.map((l) => l.length)) * TICK_CHAR_PX + LABEL_GAP_PX;
  return Math.max(1, Math.ceil(widest / spacingPx));
}
