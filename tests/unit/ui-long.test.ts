/**
 * Long inputs in the UI: the heatmap's window, the head view's range, metrics in O(T²) once, and
 * the summaries growing by generated rows.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/model/random';
import { row, type AttentionTrace } from '../../src/model/trace';
import { foldRows, summarise, SUMMARY_CELLS } from '../../src/model/analysis/attentionSummary';
import { headMetrics, largestHolding } from '../../src/model/analysis/headMetrics';
import { maxPool } from '../../src/model/analysis/pool';
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

describe("a long input's summary takes generated rows", () => {
  /** A causal attention over `n` tokens: each row a random distribution over its visible keys. */
  function causalAttention(n: number, heads: number, rng: Rng) {
    const probs = new Float32Array(heads * n * n);
    const mask = new Float32Array(n * n);
    for (let h = 0; h < heads; h++) {
      for (let q = 0; q < n; q++) {
        const w = Array.from({ length: q + 1 }, () => rng.next() ** 4);
        const sum = w.reduce((a, b) => a + b, 0);
        w.forEach((x, k) => {
          probs[(h * n + q) * n + k] = x / sum;
          mask[q * n + k] = 1;
        });
      }
    }
    return { probs: { shape: [heads, n, n], data: probs }, mask: { shape: [n, n], data: mask } };
  }
  /** Rows `from … to − 1` of `a`, cut to `to` keys: what a cached step sends. */
  const stepRows = (a: ReturnType<typeof causalAttention>, from: number, to: number) => {
    const [heads, , n] = a.probs.shape;
    const probs = new Float32Array(heads * (to - from) * to);
    const mask = new Float32Array((to - from) * to);
    for (let q = from; q < to; q++) {
      mask.set(a.mask.data.subarray(q * n, q * n + to), (q - from) * to);
      for (let h = 0; h < heads; h++) {
        const at = (h * (to - from) + q - from) * to;
        probs.set(a.probs.data.subarray((h * n + q) * n, (h * n + q) * n + to), at);
      }
    }
    return {
      probs: { shape: [heads, to - from, to], data: probs },
      mask: { shape: [to - from, to], data: mask },
      headGate: new Float32Array(heads).fill(1),
    };
  };

  it('equals the summary of the whole matrix, pooled again by 2 past 128 cells', () => {
    const rng = new Rng(7);
    const [heads, prompt, total] = [2, 120, 140];
    const full = causalAttention(total, heads, rng);
    const ids = Array.from({ length: total }, () => rng.int(9));
    let summary = summarise(
      { kind: 'self', causal: true, ...stepRows(full, 0, prompt) },
      ids.slice(0, prompt),
    );
    expect(summary.factor).toBe(1);
    for (let n = prompt; n < total; n++) {
      summary = foldRows(summary, stepRows(full, n, n + 1), n, ids.slice(0, n + 1));
      // 129 cells a side would pass SUMMARY_CELLS: pooled again by 2.
      expect(summary.factor).toBe(n + 1 > SUMMARY_CELLS ? 2 : 1);
    }
    // Max-pooling by 2 of the whole matrix, cell for cell; the metrics to float64 rounding.
    expect(summary.pooled.shape).toEqual([heads, total / 2, total / 2]);
    for (let h = 0; h < heads; h++) {
      const whole = maxPool(row(full.probs, h), total, total, 2, full.mask.data);
      expect(row(summary.pooled, h)).toEqual(whole.values);
      expect(summary.pooledMask.data).toEqual(whole.mask);
      const m = headMetrics(row(full.probs, h), total, total, full.mask.data, ids);
      for (const [key, value] of Object.entries(summary.metrics[h]))
        expect(value, key).toBeCloseTo(m[key as keyof typeof m], 10);
    }
    expect(summary.metrics[0].induction).not.toBeNaN();
  });

  it('grows by a cell every `factor` rows, exactly the pooling of the whole matrix', () => {
    const rng = new Rng(3);
    const [heads, prompt, total] = [3, 300, 307];
    const full = causalAttention(total, heads, rng);
    let summary = summarise({ kind: 'self', causal: true, ...stepRows(full, 0, prompt) });
    expect(summary.factor).toBe(3);
    // Two rows in one step, then one at a time.
    summary = foldRows(summary, stepRows(full, prompt, prompt + 2), prompt);
    for (let n = prompt + 2; n < total; n++)
      summary = foldRows(summary, stepRows(full, n, n + 1), n);
    expect(summary.factor).toBe(3);
    expect(summary.pooled.shape).toEqual([heads, 103, 103]);
    for (let h = 0; h < heads; h++) {
      const whole = maxPool(row(full.probs, h), total, total, 3, full.mask.data);
      expect(row(summary.pooled, h)).toEqual(whole.values);
      expect(summary.pooledMask.data).toEqual(whole.mask);
      expect(summary.metrics[h].induction).toBeNaN(); // no tokens given
      expect(summary.metrics[h].entropy).toBeCloseTo(
        headMetrics(row(full.probs, h), total, total, full.mask.data).entropy,
        10,
      );
    }
  });
});
