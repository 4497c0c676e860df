import type { PositionKind } from './config';

/**
 * Sinusoidal positional encodings, `[count, d]` row-major, for positions offset…offset+count−1.
 * angle(pos, j) = pos / 10000^(2⌊j/2⌋/d). `sinusoidal` interleaves PE(pos, 2i) = sin, PE(pos, 2i+1) = cos
 * (Vaswani et al.); `sinusoidal-split` puts every sine first and every cosine after (Marian).
 */
export function sinusoidalPositions(
  count: number,
  d: number,
  layout: Extract<PositionKind, 'sinusoidal' | 'sinusoidal-split'>,
  offset = 0,
): Float32Array {
  const out = new Float32Array(count * d);
  const sines = Math.ceil(d / 2);
  for (let t = 0; t < count; t++) {
    const pos = offset + t;
    for (let j = 0; j < d; j++) {
      const angle = pos / Math.pow(10000, (2 * Math.floor(j / 2)) / d);
      if (layout === 'sinusoidal') {
        out[t * d + j] = j % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
      } else {
        // column j (even) → sine at j/2; column j (odd) → cosine at sines + (j−1)/2
        const col = j % 2 === 0 ? j / 2 : sines + (j - 1) / 2;
        out[t * d + col] = j % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
      }
    }
  }
  return out;
}
