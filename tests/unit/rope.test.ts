/**
 * RoPE, RMSNorm and SwiGLU as modules: the rotate-half layout, relative-position property of
 * rotated dot products, and the formulas on hand-picked numbers.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { repeatKv } from '../../src/model/attention';
import { rmsNorm } from '../../src/model/rmsNorm';
import { applyRope, ropeFrequencies, ropeTables } from '../../src/model/rope';
import { gatedFeedForward } from '../../src/model/swiglu';
import { useFastestNodeBackend } from '../../scripts/lib/node-model';

beforeAll(async () => {
  await useFastestNodeBackend();
});

const HEAD_DIM = 8;
const THETA = 10000;

/** `x` rotated to each of `positions`: `[positions, head_dim]`. */
function rotated(x: number[], positions: number[]): number[][] {
  return tf.tidy(() => {
    const rows = positions.map((p) => {
      const tables = ropeTables(1, HEAD_DIM, THETA, p);
      return applyRope(tf.tensor4d(x, [1, 1, 1, HEAD_DIM]), tables);
    });
    return tf.reshape(tf.concat(rows, 2), [positions.length, HEAD_DIM]).arraySync() as number[][];
  });
}

const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);

describe('RoPE', () => {
  it('frequencies are θ^(−2i/d), one per dimension pair', () => {
    const f = ropeFrequencies(HEAD_DIM, THETA);
    expect(Array.from(f)).toEqual([1, 0.1, 0.01, 0.001].map((v, i) => expect.closeTo(v, 12 - i)));
  });

  it('rotate-half layout: dimension m turns towards m + d/2 by pos·ω_m', () => {
    const e0 = [1, 0, 0, 0, 0, 0, 0, 0];
    const [r] = rotated(e0, [2]);
    // pair (0, 4) at position 2 turns by 2·ω₀ = 2 rad: e₀ → cos 2 · e₀ + sin 2 · e₄
    expect(r[0]).toBeCloseTo(Math.cos(2), 6);
    expect(r[4]).toBeCloseTo(Math.sin(2), 6);
    for (const m of [1, 2, 3, 5, 6, 7]) expect(r[m]).toBeCloseTo(0, 7);
    const e5 = [0, 0, 0, 0, 0, 1, 0, 0];
    const [s] = rotated(e5, [3]);
    // the second half turns back: e₅ → −sin(3·ω₁) · e₁ + cos(3·ω₁) · e₅
    expect(s[1]).toBeCloseTo(-Math.sin(0.3), 6);
    expect(s[5]).toBeCloseTo(Math.cos(0.3), 6);
  });

  it('position 0 leaves a vector as it is, and every rotation keeps its length', () => {
    const x = [0.3, -1.2, 0.5, 2, -0.7, 0.1, 1.5, -0.4];
    const [r0, r7] = rotated(x, [0, 7]);
    r0.forEach((v, i) => expect(v).toBeCloseTo(x[i], 6));
    expect(Math.sqrt(dot(r7, r7))).toBeCloseTo(Math.sqrt(dot(x, x)), 5);
  });

  it('q·k of fixed vectors depends only on i − j', () => {
    const q = [0.9, -0.3, 1.1, 0.2, -0.5, 0.8, -1.4, 0.6];
    const k = [-0.2, 0.7, 0.4, -1.0, 1.3, -0.6, 0.1, 0.9];
    const positions = [0, 1, 2, 3, 5, 8, 13, 21];
    const rq = rotated(q, positions);
    const rk = rotated(k, positions);
    const byOffset = new Map<number, number[]>();
    positions.forEach((i, a) =>
      positions.forEach((j, b) => {
        const list = byOffset.get(i - j) ?? [];
        list.push(dot(rq[a], rk[b]));
        byOffset.set(i - j, list);
      }),
    );
    const shared = [...byOffset.values()].filter((l) => l.length > 1);
    expect(shared.length).toBeGreaterThan(3);
    for (const list of shared) for (const v of list) expect(v).toBeCloseTo(list[0], 4);
    // and it does depend on the offset
    expect(Math.abs(byOffset.get(1)![0] - byOffset.get(3)![0])).toBeGreaterThan(0.01);
  });
});

describe('RMSNorm, SwiGLU, repeat_kv', () => {
  it('RMSNorm: γ · x / √(mean(x²) + ε)', () => {
    const out = tf.tidy(() =>
      rmsNorm(tf.tensor2d([[3, 4]]), tf.tensor1d([1, 2]), 0).arraySync(),
    ) as number[][];
    const rms = Math.sqrt((9 + 16) / 2);
    expect(out[0][0]).toBeCloseTo(3 / rms, 6);
    expect(out[0][1]).toBeCloseTo((2 * 4) / rms, 6);
  });

  it('SwiGLU: down(silu(gate(x)) ⊙ up(x))', () => {
    const silu = (z: number) => z / (1 + Math.exp(-z));
    const out = tf.tidy(() =>
      gatedFeedForward(
        tf.tensor2d([[1.5, 0.5]]),
        {
          gate: { w: tf.tensor2d([[1], [0.5]]) }, // gate(x) = 1.5 + 0.25
          fc: { w: tf.tensor2d([[2], [1]]) }, // up(x) = 3 + 0.5
          proj: { w: tf.tensor2d([[3, -1]]) },
        },
        'swish',
      ).arraySync(),
    ) as number[][];
    const h = silu(1.75) * 3.5;
    expect(out[0][0]).toBeCloseTo(3 * h, 5);
    expect(out[0][1]).toBeCloseTo(-h, 5);
  });

  it('repeat_kv: query head h reads key/value head ⌊h / rep⌋', () => {
    const kv = tf.tensor4d([10, 20], [1, 2, 1, 1]);
    const out = tf.tidy(() => repeatKv(kv, 3).dataSync());
    expect(Array.from(out)).toEqual([10, 10, 10, 20, 20, 20]);
    kv.dispose();
  });
});
