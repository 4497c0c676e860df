/**
 * Generation's pure parts: choosing the next token (model/sampling.ts) and the KV cache as the
 * generation view draws it (ui/lib/kvCache.ts). The worker's use of both is tested in
 * workerEngine.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  argmax,
  GREEDY,
  sampleToken,
  samplingDistribution,
  stepUniform,
  type Sampling,
} from '../../src/model/sampling';
import { Rng } from '../../src/model/random';
import type { AttentionTrace } from '../../src/model/trace';
import { kvCacheView, rowState } from '../../src/ui/lib/kvCache';

const sampling = (s: Partial<Sampling>): Sampling => ({ ...GREEDY, temperature: 1, ...s });

/** Logits whose softmax at temperature 1 is exactly `probs`. */
const logitsOf = (probs: number[]) => Float32Array.from(probs, Math.log);

/** Uniform numbers spread evenly over [0, 1): every token is hit in proportion to its probability. */
const grid = (n: number) => Array.from({ length: n }, (_, i) => (i + 0.5) / n);

const randomLogits = (rng: Rng, n: number) =>
  Float32Array.from({ length: n }, () => 4 * rng.normal());

describe('sampling', () => {
  it('is greedy by default: the argmax, the first among equals', () => {
    const logits = Float32Array.from([0.5, 2, -1, 2]);
    expect(argmax(logits)).toBe(1);
    for (const u of grid(10)) expect(sampleToken(logits, GREEDY, u)).toBe(1);
  });

  it('equals greedy as the temperature goes to 0, and at top-k = 1 at any temperature', () => {
    const rng = new Rng(3);
    for (let trial = 0; trial < 20; trial++) {
      const logits = randomLogits(rng, 50);
      const best = argmax(logits);
      for (const u of grid(25)) {
        expect(sampleToken(logits, sampling({ temperature: 1e-4 }), u)).toBe(best);
        expect(sampleToken(logits, sampling({ temperature: 5, topK: 1 }), u)).toBe(best);
      }
    }
    // At a moderate temperature the draw does leave the argmax: the test above can fail.
    const flat = logitsOf([0.4, 0.3, 0.3]);
    expect(new Set(grid(10).map((u) => sampleToken(flat, sampling({}), u))).size).toBe(3);
  });

  it('draws each token with its softmax probability at the temperature', () => {
    const probs = [0.5, 0.25, 0.125, 0.125];
    const counts = [0, 0, 0, 0];
    for (const u of grid(800)) counts[sampleToken(logitsOf(probs), sampling({}), u)]++;
    expect(counts).toEqual(probs.map((p) => p * 800));
    // Temperature 2 takes the square root of the probabilities (then renormalises).
    const d = samplingDistribution(logitsOf(probs), sampling({ temperature: 2 }));
    const roots = probs.map(Math.sqrt);
    const z = roots.reduce((a, b) => a + b);
    d.ids.forEach((id, i) => expect(d.probs[i]).toBeCloseTo(roots[id] / z, 6));
  });

  it('top-k keeps the k most likely tokens, renormalised', () => {
    const d = samplingDistribution(logitsOf([0.1, 0.4, 0.2, 0.3]), sampling({ topK: 2 }));
    expect(d.ids).toEqual([1, 3]);
    expect(d.probs[0]).toBeCloseTo(0.4 / 0.7, 6);
    expect(d.probs[1]).toBeCloseTo(0.3 / 0.7, 6);
  });

  it('top-p keeps the smallest set whose probabilities reach p', () => {
    const logits = logitsOf([0.1, 0.4, 0.2, 0.3]);
    const kept = (topP: number) => samplingDistribution(logits, sampling({ topP })).ids;
    // (Away from the exact sums 0.4, 0.7, 0.9: the logits are float32.)
    expect(kept(0.39)).toEqual([1]);
    expect(kept(0.41)).toEqual([1, 3]);
    expect(kept(0.69)).toEqual([1, 3]);
    expect(kept(0.71)).toEqual([1, 3, 2]);
    expect(kept(1)).toEqual([1, 3, 2, 0]);
    const d = samplingDistribution(logits, sampling({ topP: 0.9 }));
    expect(d.probs.reduce((a, b) => a + b)).toBeCloseTo(1, 12);
    // After top-k, p is measured on the renormalised top k: 0.4/0.7 ≥ 0.5.
    expect(samplingDistribution(logits, sampling({ topK: 2, topP: 0.5 })).ids).toEqual([1]);
  });

  it('orders the kept tokens as a full sort would: most likely first, the smaller id among equals', () => {
    const rng = new Rng(5);
    // 3,000 logits rounded to a few values: many ties.
    const logits = Float32Array.from({ length: 3000 }, () => Math.round(2 * rng.normal()) / 2);
    const max = Math.max(...logits);
    for (const s of [{}, { topK: 50 }, { topP: 0.5 }, { topK: 700, topP: 0.8, temperature: 0.7 }]) {
      const got = samplingDistribution(logits, sampling(s));
      const { temperature, topK, topP } = sampling(s);
      const w = Array.from(logits, (l) => Math.exp((l - max) / temperature));
      const sorted = w.map((_, i) => i).sort((a, b) => w[b] - w[a] || a - b);
      const top = topK > 0 ? sorted.slice(0, topK) : sorted;
      const total = top.reduce((sum, id) => sum + w[id], 0);
      let mass = 0;
      const kept = top.filter((id) => (mass < topP - 1e-12 ? (mass += w[id] / total) : 0));
      expect(got.ids, JSON.stringify(s)).toEqual(kept);
      got.ids.forEach((id, i) => expect(got.probs[i]).toBeCloseTo(w[id] / total / mass, 12));
    }
  });

  it('the same seed gives the same sequence; the draw depends on the seed and position only', () => {
    const rng = new Rng(9);
    const table = Array.from({ length: 30 }, () => randomLogits(rng, 40));
    const generate = (seed: number) => {
      const ids: number[] = [];
      for (let t = 0; t < table.length; t++) {
        ids.push(sampleToken(table[t], sampling({ temperature: 1.5, seed }), stepUniform(seed, t)));
      }
      return ids;
    };
    expect(generate(7)).toEqual(generate(7));
    expect(generate(7)).not.toEqual(generate(8));
    expect(stepUniform(7, 3)).toBe(stepUniform(7, 3));
    const us = Array.from({ length: 1000 }, (_, t) => stepUniform(1, t));
    expect(Math.min(...us)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...us)).toBeLessThan(1);
    expect(us.reduce((a, b) => a + b) / us.length).toBeCloseTo(0.5, 1);
  });
});

describe('the KV cache view', () => {
  // 2 heads, 3 tokens, d/h = 2; the last query row is the newest token's.
  const counting = (shape: number[]) => {
    const n = shape.reduce((a, b) => a * b);
    return { shape, data: Float32Array.from({ length: n }, (_, i) => i) };
  };
  const att = (withQKV: boolean): AttentionTrace => ({
    kind: 'self',
    causal: true,
    scores: counting([2, 3, 3]),
    probs: counting([2, 3, 3]),
    mask: counting([3, 3]),
    headGate: Float32Array.from([1, 1]),
    ...(withQKV ? { q: counting([2, 3, 2]), k: counting([2, 3, 2]), v: counting([2, 3, 2]) } : {}),
  });

  it('gives one head’s keys, values, newest query and its attention, and the cached rows', () => {
    const view = kvCacheView(att(true), 1, 2)!;
    expect(view.rows).toBe(3);
    expect(view.headDim).toBe(2);
    expect(view.cachedRows).toBe(2);
    expect(Array.from(view.keys)).toEqual([6, 7, 8, 9, 10, 11]);
    expect(Array.from(view.values)).toEqual([6, 7, 8, 9, 10, 11]);
    expect(Array.from(view.query)).toEqual([10, 11]);
    expect(Array.from(view.attention)).toEqual([15, 16, 17]);
    expect([0, 1, 2].map((t) => rowState(view, t))).toEqual(['cached', 'cached', 'new']);
    const full = kvCacheView(att(true), 0, 0)!;
    expect(full.cachedRows).toBe(0);
    expect([0, 1, 2].map((t) => rowState(full, t))).toEqual(['computed', 'computed', 'new']);
  });

  it('is null for a run that did not capture q, k and v', () => {
    expect(kvCacheView(att(false), 0, 0)).toBeNull();
  });
});
