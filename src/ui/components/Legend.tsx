import { legendStops, type ColourScale } from '../lib/colour';

/** Colour bar from the scale's minimum to its maximum, plus the swatch for masked cells. */
export function Legend({ scale, masked }: { scale: ColourScale; masked?: boolean }) {
  const stops = legendStops(scale);
  const gradient = `linear-gradient(to right, ${stops.map((s) => `${s.colour} ${s.offset * 100}%`).join(', ')})`;
  const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(2));
  return (
    <span className="legend" data-testid="legend">
      <span className="legend-value">{fmt(scale.min)}</span>
      <span className="legend-bar" style={{ background: gradient }} />
      <span className="legend-value">{fmt(scale.max)}</span>
      {masked && (
        <>
          <span className="legend-masked" aria-hidden="true" />
          <span className="legend-value">masked</span>
        </>
      )}
    </span>
  );
}
