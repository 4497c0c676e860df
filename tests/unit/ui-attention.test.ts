import { describe, expect, it } from 'vitest';
import katex from 'katex';
import { Rng } from '../../src/model/random';
import type { AttentionTrace, Matrix } from '../../src/model/trace';
import { argmax, softmax, stepFormula, stepQuery } from '../../src/ui/lib/stepThrough';
import { headMetrics } from '../../src/model/analysis/headMetrics';
import { aggregateMask, aggregateToWords, wordGroups, wordText } from '../../src/ui/lib/words';
import { positionalSimilarity } from '../../src/ui/lib/positions';

/** Deterministic pseudo-random numbers, uniform in [−0.5, 0.5). */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next() - 0.5;
}

function randomMatrix(shape: number[], rand: () => number): Matrix {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Float32Array.from({ length: n }, () => rand() * 2) };
}

/**
 * An independent reference in matrix form, the way a textbook writes it:
 * S = QKᵀ/√d_h, S[mask=0] = −1e9, P = softmax(S), O = gate · P·V.
 */
function referenceAttention(
  heads: number,
  t: number,
  dh: number,
  causal: boolean,
  gate: number[],
  seed: number,
) {
  const rand = rng(seed);
  const q = randomMatrix([heads, t, dh], rand);
  const k = randomMatrix([heads, t, dh], rand);
  const v = randomMatrix([heads, t, dh], rand);
  const mask = new Float32Array(t * t).map((_, idx) =>
    !causal || idx % t <= Math.floor(idx / t) ? 1 : 0,
  );
  const scores = new Float32Array(heads * t * t);
  const probs = new Float32Array(heads * t * t);
  const out = new Float32Array(heads * t * dh);
  for (let h = 0; h < heads; h++) {
    const at = (m: Matrix, i: number, c: number) => m.data[(h * t + i) * dh + c];
    for (let i = 0; i < t; i++) {
      const s: number[] = [];
      for (let j = 0; j < t; j++) {
        let acc = 0;
        for (let c = 0; c < dh; c++) acc += at(q, i, c) * at(k, j, c);
        scores[(h * t + i) * t + j] = acc / Math.sqrt(dh);
        s.push(mask[i * t + j] ? acc / Math.sqrt(dh) : -1e9);
      }
      const mx = Math.max(...s);
      const e = s.map((x) => Math.exp(x - mx));
      const z = e.reduce((a, b) => a + b, 0);
      for (let j = 0; j < t; j++) probs[(h * t + i) * t + j] = e[j] / z;
      for (let c = 0; c < dh; c++) {
        let acc = 0;
        for (let j = 0; j < t; j++) acc += probs[(h * t + i) * t + j] * at(v, j, c);
        out[(h * t + i) * dh + c] = acc * gate[h];
      }
    }
  }
  const att: AttentionTrace = {
    kind: 'self',
    causal,
    scores: { shape: [heads, t, t], data: scores },
    probs: { shape: [heads, t, t], data: probs },
    mask: { shape: [t, t], data: mask },
    headGate: Float32Array.from(gate),
    q,
    k,
    v,
    headOutputs: { shape: [heads, t, dh], data: out },
  };
  return att;
}

describe('step-through arithmetic', () => {
  it('recomputes scores, probabilities and the weighted sum of every query', () => {
    const att = referenceAttention(3, 6, 4, true, [1, 1, 1], 7);
    for (let h = 0; h < 3; h++) {
      for (let t = 0; t < 6; t++) {
        const s = stepQuery(att, h, t);
        expect(s.scoreError).toBeLessThan(1e-5);
        expect(s.probError).toBeLessThan(1e-6);
        expect(s.outputError).toBeLessThan(1e-5);
        expect(s.scale).toBeCloseTo(0.5);
        // Causal: keys after t are masked and get exactly 0.
        expect(s.allowed).toEqual(Array.from({ length: 6 }, (_, j) => j <= t));
        for (let j = t + 1; j < 6; j++) {
          expect(s.masked[j]).toBe(-Infinity);
          expect(s.probs[j]).toBe(0);
        }
        expect(s.probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10);
      }
    }
  });

  it('applies the head gate and detects a trace that disagrees', () => {
    const att = referenceAttention(2, 4, 8, false, [1, 0], 3);
    const off = stepQuery(att, 1, 2);
    expect(off.gate).toBe(0);
    // The gate silences the head's output; its probabilities are still what it would attend to.
    expect(Array.from(off.output)).toEqual(new Array(8).fill(0));
    expect(off.probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10);
    expect(off.probError).toBeLessThan(1e-6);
    expect(off.outputError).toBe(0);
    att.probs.data[(0 * 4 + 2) * 4 + 1] += 0.01;
    expect(stepQuery(att, 0, 2).probError).toBeCloseTo(0.01, 5);
  });

  it('refuses without q/k/v and out-of-range queries', () => {
    const att = referenceAttention(1, 3, 2, true, [1], 1);
    expect(() => stepQuery(att, 0, 3)).toThrow(RangeError);
    delete att.q;
    expect(() => stepQuery(att, 0, 0)).toThrow(/captureQKV/);
  });

  it('softmax ignores −∞ and survives an all-masked row', () => {
    const p = softmax([0, -Infinity, Math.log(3)]);
    expect(p[0]).toBeCloseTo(0.25);
    expect(p[1]).toBe(0);
    expect(p[2]).toBeCloseTo(0.75);
    expect(Array.from(softmax([-Infinity, -Infinity]))).toEqual([0, 0]);
    expect(argmax([0.1, 0.5, 0.5])).toBe(1);
  });

  it('writes the formula with the numbers of the chosen key', () => {
    const att = referenceAttention(1, 3, 4, true, [1], 9);
    const s = stepQuery(att, 0, 2);
    const tex = stepFormula(s, 1);
    expect(tex).toContain('\\sqrt{4}');
    expect(tex).toContain(s.probs[1].toFixed(4));
    expect(stepFormula(stepQuery(att, 0, 0), 2)).toContain('-\\infty');
    // Valid TeX for KaTeX in strict mode (the panel renders it with katex.render).
    for (const f of [tex, stepFormula(stepQuery(att, 0, 0), 2)]) {
      expect(() =>
        katex.renderToString(f, { displayMode: true, throwOnError: true, strict: 'error' }),
      ).not.toThrow();
    }
  });
});

describe('head metrics', () => {
  const causal = (n: number) =>
    Float32Array.from({ length: n * n }, (_, i) => (i % n <= Math.floor(i / n) ? 1 : 0));

  it('a previous-token head', () => {
    const n = 5;
    const p = new Float32Array(n * n);
    p[0] = 1;
    for (let i = 1; i < n; i++) p[i * n + i - 1] = 1;
    const m = headMetrics(p, n, n, causal(n));
    expect(m.previousToken).toBe(1);
    expect(m.entropy).toBe(0);
    expect(m.normalisedEntropy).toBe(0);
    expect(m.firstToken).toBeCloseTo((1 + 1) / 5); // rows 0 and 1 put all mass on token 0
    expect(m.selfAttention).toBeCloseTo(1 / 5);
    // Row i sees i+1 keys and needs one: sparsity = mean(1 − 1/(i+1)) over i ≥ 1.
    expect(m.sparsity).toBeCloseTo((1 / 2 + 2 / 3 + 3 / 4 + 4 / 5) / 4);
  });

  it('a uniform causal head: maximal entropy, mass on the first token falls as 1/(i+1)', () => {
    const n = 4;
    const p = Float32Array.from({ length: n * n }, (_, idx) => {
      const i = Math.floor(idx / n);
      return idx % n <= i ? 1 / (i + 1) : 0;
    });
    const m = headMetrics(p, n, n, causal(n));
    expect(m.entropy).toBeCloseTo((0 + 1 + Math.log2(3) + 2) / 4);
    expect(m.normalisedEntropy).toBeCloseTo(1);
    expect(m.firstToken).toBeCloseTo((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4);
    expect(m.previousToken).toBeCloseTo((1 / 2 + 1 / 3 + 1 / 4) / 3);
  });

  it('an attention sink on token 0 without a mask', () => {
    const n = 3;
    const p = Float32Array.from({ length: n * n }, (_, i) => (i % n === 0 ? 1 : 0));
    const m = headMetrics(p, n, n);
    expect(m.firstToken).toBe(1);
    expect(m.sparsity).toBeCloseTo(2 / 3);
  });
});

describe('subword → word aggregation', () => {
  it('groups GPT-2, SentencePiece and character pieces into words', () => {
    const gpt = ['The', ' trans', 'former', ' attends', ',', ' then', '<|endoftext|>'];
    expect(wordGroups(gpt)).toEqual([[0], [1, 2], [3, 4], [5], [6]]);
    expect(wordText(gpt, [1, 2])).toBe(' transformer');
    expect(wordGroups(['\u2581Das', '\u2581Ha', 'us', '</s>'])).toEqual([[0], [1, 2], [3]]);
    expect(wordGroups(['a', 'b', ' ', 'c', 'd'])).toEqual([
      [0, 1],
      [2, 3, 4],
    ]);
    expect(wordGroups([])).toEqual([]);
  });

  it('sums over key pieces and averages over query pieces: rows still sum to 1', () => {
    const n = 4;
    const rand = rng(11);
    const p = new Float32Array(n * n);
    for (let i = 0; i < n; i++) {
      const raw = Array.from({ length: n }, () => Math.abs(rand()) + 0.01);
      const z = raw.reduce((a, b) => a + b, 0);
      raw.forEach((x, j) => (p[i * n + j] = x / z));
    }
    const groups = [[0], [1, 2], [3]];
    const w = aggregateToWords(p, n, groups, groups);
    for (let r = 0; r < 3; r++) expect(w[r * 3] + w[r * 3 + 1] + w[r * 3 + 2]).toBeCloseTo(1, 6);
    // Word 1 → word 1: average of rows 1 and 2, each summed over keys 1 and 2.
    expect(w[1 * 3 + 1]).toBeCloseTo((p[5] + p[6] + p[9] + p[10]) / 2, 6);
    const mask = Float32Array.from({ length: n * n }, (_, i) =>
      i % n <= Math.floor(i / n) ? 1 : 0,
    );
    expect(Array.from(aggregateMask(mask, n, groups, groups))).toEqual([1, 0, 0, 1, 1, 0, 1, 1, 1]);
  });

  it("a layer's aggregated mask is reused for its heads, but not across other words", () => {
    const n = 4;
    const mask = Float32Array.from({ length: n * n }, (_, i) =>
      i % n <= Math.floor(i / n) ? 1 : 0,
    );
    const groups = [[0], [1, 2], [3]];
    const first = aggregateMask(mask, n, groups, groups);
    expect(aggregateMask(mask, n, [[0], [1, 2], [3]], [[0], [1, 2], [3]])).toBe(first);
    // The same mask read with other words (another tokenization of the axis) is aggregated anew.
    const other = [
      [0, 1],
      [2, 3],
    ];
    expect(Array.from(aggregateMask(mask, n, other, other))).toEqual([1, 0, 1, 1]);
    expect(Array.from(aggregateMask(mask, n, groups, [[0], [1], [2, 3]]))).toEqual([
      1, 0, 0, 1, 1, 1, 1, 1, 1,
    ]);
  });

  it('agrees with the sum over every piece pair at 1,024 tokens in uneven words', () => {
    const n = 1024;
    const rand = rng(12);
    const p = Float32Array.from({ length: n * n }, () => Math.abs(rand()));
    const groups: number[][] = [];
    for (let i = 0; i < n;) {
      const len = 1 + (i % 3);
      groups.push(Array.from({ length: Math.min(len, n - i) }, (_, k) => i + k));
      i += len;
    }
    const w = aggregateToWords(p, n, groups, groups);
    for (const [qw, kw] of [
      [0, 0],
      [17, 3],
      [groups.length - 1, groups.length - 1],
      [300, 299],
    ]) {
      let sum = 0;
      for (const i of groups[qw]) for (const j of groups[kw]) sum += p[i * n + j];
      expect(w[qw * groups.length + kw]).toBeCloseTo(sum / groups[qw].length, 5);
    }
  });
});

describe('positional similarity', () => {
  it('is the Gram matrix of the positions, or their cosines', () => {
    const pos: Matrix = { shape: [3, 2], data: Float32Array.from([1, 0, 0, 2, 3, 4]) };
    expect(Array.from(positionalSimilarity(pos))).toEqual([1, 0, 3, 0, 4, 8, 3, 8, 25]);
    const cos = positionalSimilarity(pos, true);
    expect(cos[0]).toBeCloseTo(1);
    expect(cos[2]).toBeCloseTo(0.6);
    expect(cos[5]).toBeCloseTo(0.8);
  });

  it('sinusoidal positions: similarity depends on the offset only', () => {
    const n = 8;
    const d = 16;
    const data = new Float32Array(n * d);
    for (let t = 0; t < n; t++) {
      for (let i = 0; i < d / 2; i++) {
        const w = 1 / 10000 ** ((2 * i) / d);
        data[t * d + 2 * i] = Math.sin(t * w);
        data[t * d + 2 * i + 1] = Math.cos(t * w);
      }
    }
    const s = positionalSimilarity({ shape: [n, d], data });
    expect(s[1 * n + 3]).toBeCloseTo(s[4 * n + 6], 4);
    expect(s[0]).toBeCloseTo(d / 2, 4);
  });
});
