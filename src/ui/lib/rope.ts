/**
 * RoPE explained with plain numbers, for the positions panel: each dimension pair's rotation
 * frequency, and how the dot product of two fixed vectors, rotated as a query at position i and
 * a key at position j, depends on i − j only. The layout is the model's (src/model/rope.ts):
 * dimension m pairs with m + head_dim/2, and pair p turns by pos · ω_p, ω_p = θ^(−2p/head_dim).
 */
import { headDim, type ModelConfig } from '../../model/config';
import { ropeFrequencies } from '../../model/rope';

export interface RopeSpec {
  theta: number;
  headDim: number;
  /** ω_p for each pair p = 0 … head_dim/2 − 1, radians per position. */
  frequencies: Float64Array;
}

/** The model's RoPE, or null when it does not rotate queries and keys. */
export function ropeSpec(cfg: ModelConfig): RopeSpec | null {
  if (cfg.positions !== 'rotary' || cfg.ropeTheta === undefined) return null;
  const d = headDim(cfg);
  return { theta: cfg.ropeTheta, headDim: d, frequencies: ropeFrequencies(d, cfg.ropeTheta) };
}

/** `x` (one head's head_dim values) rotated to position `pos`: x·cos + rotate_half(x)·sin. */
export function rotateTo(
  x: ArrayLike<number>,
  pos: number,
  frequencies: Float64Array,
): Float64Array {
  const half = frequencies.length;
  const out = new Float64Array(2 * half);
  for (let p = 0; p < half; p++) {
    const c = Math.cos(pos * frequencies[p]);
    const s = Math.sin(pos * frequencies[p]);
    out[p] = x[p] * c - x[p + half] * s;
    out[p + half] = x[p + half] * c + x[p] * s;
  }
  return out;
}

/** Σ a_m·b_m over the two dimensions of pair `pair` (m = pair, pair + head_dim/2), or over all. */
function dot(a: Float64Array, b: Float64Array, pair: number | null): number {
  const half = a.length / 2;
  if (pair !== null) return a[pair] * b[pair] + a[pair + half] * b[pair + half];
  let s = 0;
  for (let m = 0; m < a.length; m++) s += a[m] * b[m];
  return s;
}

/**
 * The fixed vector the panel rotates: every pair the unit vector (1, 0), so that pair p of two
 * copies at positions i and j contributes cos((i − j)·ω_p).
 */
export function pairUnitVector(headDimension: number): Float64Array {
  const x = new Float64Array(headDimension);
  x.fill(1, 0, headDimension / 2);
  return x;
}

/**
 * q rotated to position `offset` · k rotated to position 0, for offset = 0 … count − 1 (RoPE
 * makes it the same for any i, j with i − j = offset); over one pair, or all pairs when `pair`
 * is null.
 */
export function dotByOffset(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  frequencies: Float64Array,
  count: number,
  pair: number | null = null,
): Float64Array {
  const key = rotateTo(k, 0, frequencies);
  const out = new Float64Array(count);
  for (let offset = 0; offset < count; offset++) {
    out[offset] = dot(rotateTo(q, offset, frequencies), key, pair);
  }
  return out;
}

/** Radians per position → positions per full turn (2π / ω). */
export function wavelength(frequency: number): number {
  return (2 * Math.PI) / frequency;
}
