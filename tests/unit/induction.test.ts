/**
 * The induction score (model/analysis/headMetrics.ts) on constructed attention matrices, and the
 * input of "repeat random tokens" (model/analysis/repeatedTokens.ts) on the shipped tokenizers.
 * The score of the shipped induction model's heads is checked in shipped.test.ts and in the app
 * (tests/e2e/gen-tools.test.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { headMetrics, inductionScore } from '../../src/model/analysis/headMetrics';
import { repeatedRandomTokens } from '../../src/model/analysis/repeatedTokens';
import { Rng } from '../../src/model/random';
import { tokenizerFromJson } from '../../src/model/tokenizer';
import { repeatedSpans } from '../../scripts/recipes/inductionProbe';

/** A `[n, n]` attention matrix where query i puts all its mass on key `target(i)`. */
function pointing(n: number, target: (i: number) => number): Float32Array {
  const p = new Float32Array(n * n);
  for (let i = 0; i < n; i++) p[i * n + target(i)] = 1;
  return p;
}

/** A random causal attention matrix (rows sum to 1). */
function randomCausal(n: number, rng: Rng): Float32Array {
  const p = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = 0; j <= i; j++) sum += p[i * n + j] = Math.exp(2 * rng.normal());
    for (let j = 0; j <= i; j++) p[i * n + j] /= sum;
  }
  return p;
}

describe('induction score', () => {
  const half = [5, 6, 7, 8];
  const ids = [...half, ...half];
  const n = ids.length;
  const L = half.length;

  it('is 1 for a perfect induction head, 0 for a previous-token head', () => {
    // Second half: query i attends to the token after its first occurrence, i − L + 1.
    const induction = pointing(n, (i) => (i >= L ? i - L + 1 : 0));
    expect(inductionScore(induction, n, n, ids)).toBe(1);
    expect(
      inductionScore(
        pointing(n, (i) => Math.max(0, i - 1)),
        n,
        n,
        ids,
      ),
    ).toBe(0);
  });

  it('equals the standard diagonal mean on random tokens repeated twice', () => {
    const rng = new Rng(5);
    for (let trial = 0; trial < 10; trial++) {
      const p = randomCausal(n, rng);
      // TransformerLens: pattern.diagonal(offset = 1 − L) over the second half, averaged.
      let diagonal = 0;
      for (let q = L; q < n; q++) diagonal += p[q * n + q - L + 1];
      expect(inductionScore(p, n, n, ids)).toBeCloseTo(diagonal / L, 6);
    }
  });

  it('averages a uniform causal head’s 1/(i+1) over the repeated tokens', () => {
    const uniform = Float32Array.from({ length: n * n }, (_, x) => {
      const i = Math.floor(x / n);
      return x % n <= i ? 1 / (i + 1) : 0;
    });
    expect(inductionScore(uniform, n, n, ids)).toBeCloseTo((1 / 5 + 1 / 6 + 1 / 7 + 1 / 8) / 4, 6);
  });

  it('looks back to the latest earlier occurrence, and is NaN when nothing repeats', () => {
    // Token 1 at 0, 2, 4: query 4's previous occurrence is 2, so its target is 3.
    const seq = [1, 2, 1, 2, 1];
    const p = pointing(5, (i) => [0, 0, 1, 2, 3][i]);
    expect(inductionScore(p, 5, 5, seq)).toBe(1);
    expect(
      inductionScore(
        pointing(3, () => 0),
        3,
        3,
        [1, 2, 3],
      ),
    ).toBeNaN();
  });

  it('is one of the head metrics when the tokens are given', () => {
    const p = pointing(n, (i) => (i >= L ? i - L + 1 : 0));
    expect(headMetrics(p, n, n, undefined, ids).induction).toBe(1);
    expect(headMetrics(p, n, n).induction).toBeNaN();
  });
});

const MODELS = join(import.meta.dirname, '..', '..', 'public', 'models');
const shippedTokenizer = (name: string) =>
  tokenizerFromJson(JSON.parse(readFileSync(join(MODELS, name, 'lab-tokenizer.json'), 'utf8')));

describe('repeat random tokens', () => {
  for (const [name, length] of [
    ['lm-prenorm', 50],
    ['induction', 31],
  ] as const) {
    it(`${name}: distinct random tokens whose text encodes back to them, twice`, () => {
      const tokenizer = shippedTokenizer(name);
      const { text, ids } = repeatedRandomTokens(tokenizer, tokenizer.vocabSize, length, 1);
      expect(new Set(ids).size).toBe(ids.length);
      // The seam between the copies may cost a token or two, never more.
      expect(ids.length).toBeGreaterThanOrEqual(length - 2);
      expect(tokenizer.encode(text)).toEqual([...ids, ...ids]);
      expect(repeatedRandomTokens(tokenizer, tokenizer.vocabSize, length, 1).text).toBe(text);
      expect(repeatedRandomTokens(tokenizer, tokenizer.vocabSize, length, 2).text).not.toBe(text);
    });
  }

  it('writes the ids themselves for a model without a tokenizer', () => {
    const { text, ids } = repeatedRandomTokens(null, 10, 4, 3);
    expect(new Set(ids).size).toBe(4);
    expect(text).toBe([...ids, ...ids].join(' '));
  });
});

describe('the text probe', () => {
  it('writes evenly spaced spans of the stream twice', () => {
    const ids = Array.from({ length: 10 }, (_, i) => i);
    expect(repeatedSpans(ids, 2, 3)).toEqual([
      [0, 1, 2, 0, 1, 2],
      [3, 4, 5, 3, 4, 5],
    ]);
    expect(repeatedSpans(ids, 1, 10)).toEqual([[...ids, ...ids]]);
  });
});
