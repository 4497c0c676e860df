/** Long inputs in the UI: the heatmap's window, the head view's range, metrics in O(T²) once. */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/model/random';
import type { AttentionTrace } from '../../src/model/trace';
import { headMetrics, largestHolding } from '../../src/model/analysis/headMetrics';
import { cachedMetrics, measureHead, measureKey } from '../../src/ui/lib/metricsCache';
import {
  centredOn,
  isWhole,
  sliceWindow,
  tokenRange,
  WHOLE_UP_TO,
  WINDOW_ROWS,
  windowFor,
  windowOf,
} from '../../src/ui/lib/matrixWindow';

describe('heatmap window', () => {
  it('shows a short matrix whole', () => {
    const w = windowFor(WHOLE_UP_TO, WHOLE_UP_TO, null);
    expect(isWhole(w, WHOLE_UP_TO, WHOLE_UP_TO)).toBe(true);
  });

  it('opens a 1,024-token matrix on the last queries × all keys', () => {
    const w = windowFor(1024, 1024, null);
    expect(w).toEqual({ row0: 1024 - WINDOW_ROWS, rows: WINDOW_ROWS, col0: 0, cols: 1024 });
    expect(isWhole(w, 1024, 1024)).toBe(false);
  });

  it('centres on a cell of the overview and stays inside the matrix', () => {
    const w = windowFor(1024, 1024, null);
    expect(centredOn(w, 500, 3, 1024, 1024)).toEqual({ row0: 500 - WINDOW_ROWS / 2, col0: 0 });
    expect(windowFor(1024, 1024, centredOn(w, 2, 0, 1024, 1024)).row0).toBe(0);
    expect(windowFor(1024, 1024, centredOn(w, 1023, 0, 1024, 1024)).row0).toBe(1024 - WINDOW_ROWS);
    // An anchor from a longer input is clamped into a shorter one.
    expect(windowFor(300, 300, { row0: 900, col0: 0 }).row0).toBe(300 - WINDOW_ROWS);
  });

  it('cuts values, mask and labels alike', () => {
    const [rows, cols] = [5, 4];
    const values = Float32Array.from({ length: rows * cols }, (_, i) => i);
    const mask = Float32Array.from({ length: rows * cols }, (_, i) => i % 2);
    const w = { row0: 2, rows: 2, col0: 1, cols: 3 };
    expect(Array.from(sliceWindow(values, cols, w))).toEqual([9, 10, 11, 13, 14, 15]);
    const m = windowOf(
      {
        values,
        rows,
        cols,
        mask,
        rowLabels: ['a', 'b', 'c', 'd', 'e'],
        colLabels: ['w', 'x', 'y', 'z'],
      },
      w,
    );
    expect(m.rowLabels).toEqual(['c', 'd']);
    expect(m.colLabels).toEqual(['x', 'y', 'z']);
    expect(Array.from(m.mask!)).toEqual([1, 0, 1, 1, 0, 1]);
    expect([m.rows, m.cols]).toEqual([2, 3]);
  });
});

describe('head view range', () => {
  it('is the whole input when it fits', () => {
    expect(tokenRange(10, 50, 96)).toEqual([0, 50]);
  });
  it('is centred on the query, inside the input', () => {
    expect(tokenRange(500, 1024, 96)).toEqual([452, 548]);
    expect(tokenRange(3, 1024, 96)).toEqual([0, 96]);
    expect(tokenRange(1023, 1024, 96)).toEqual([928, 1024]);
  });
});

/** The definition: sort descending, add until the target is reached. */
function bySorting(values: number[], target: number): number {
  const sorted = [...values].sort((a, b) => b - a);
  let acc = 0;
  let needed = 0;
  while (needed < sorted.length && acc < target) acc += sorted[needed++];
  return needed;
}

describe('largest values holding a share of the mass', () => {
  it('agrees with sorting, ties and zeros included', () => {
    const rng = new Rng(7);
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(rng.next() * 40);
      // Few distinct values, so ties are common; some rows mostly zero.
      const values = Array.from({ length: n }, () =>
        rng.next() < 0.3 ? 0 : Math.floor(rng.next() * 5) / 8,
      );
      const mass = values.reduce((a, b) => a + b, 0);
      for (const share of [0, 0.5, 0.9, 1, 1.5]) {
        const target = share * mass - 1e-12;
        const a = Float64Array.from(values);
        expect(largestHolding(a, n, target), `${values} @ ${share}`).toBe(
          bySorting(values, target),
        );
      }
    }
  });

  it('reaches a 1,024-key row', () => {
    const a = new Float64Array(1024).fill(1 / 1024);
    a[0] = 0.5;
    // 0.5 + k/1024 ≥ 0.9 − ε first at k = 410 (409.6 rounded up) of the uniform rest.
    expect(largestHolding(Float64Array.from(a), 1024, 0.9 - 1e-12)).toBe(1 + 410);
    expect(bySorting(Array.from(a), 0.9 - 1e-12)).toBe(1 + 410);
  });
});

describe('metrics cache', () => {
  const t = 6;
  const causal = Float32Array.from({ length: t * t }, (_, i) =>
    i % t <= Math.floor(i / t) ? 1 : 0,
  );
  const probs = Float32Array.from({ length: 2 * t * t }, (_, i) => {
    const q = Math.floor(i / t) % t;
    return i % t <= q ? 1 / (q + 1) : 0;
  });
  const att = (): AttentionTrace => ({
    kind: 'self',
    causal: true,
    scores: { shape: [2, t, t], data: probs },
    probs: { shape: [2, t, t], data: probs },
    mask: { shape: [t, t], data: causal },
    headGate: new Float32Array([1, 1]),
  });

  it('measures a head once, and only that head', () => {
    const a = att();
    expect(cachedMetrics(a, 1)).toBeUndefined();
    const m = measureHead(a, 1);
    expect(m).toEqual(headMetrics(probs.subarray(t * t), t, t, causal));
    expect(measureHead(a, 1)).toBe(m);
    expect(cachedMetrics(a, 1)).toBe(m);
    expect(cachedMetrics(a, 0)).toBeUndefined();
    // A new attention (the next run) is measured afresh.
    expect(cachedMetrics(att(), 1)).toBeUndefined();
  });

  it('keys a head the same way every time', () => {
    const a = att();
    expect(measureKey(a, 0)).toBe(measureKey(a, 0));
    expect(measureKey(a, 0)).not.toBe(measureKey(a, 1));
  });
});
