/**
 * Linear layers' weights kept as 16-bit codes on wasm (src/model/halfWeights.ts,
 * kernels/codes.h): the encoding is exact where it applies and refuses what it cannot hold, and a
 * model whose weights are codes computes the same bits as the same model with float32 weights:
 * the traced forward (value norms read W_O widened; the embedding lookup and the LM head read
 * codes), generation steps, attribution, saving; with half the bytes and no tensor left behind.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { logitAttribution } from '../../src/model/analysis/attribution';
import { parseConfig } from '../../src/model/config';
import {
  codeIndex,
  decodeHalf,
  encodeHalf,
  halveWeights,
  weightTensor,
} from '../../src/model/halfWeights';
import { initModel } from '../../src/model/init';
import { linear } from '../../src/model/linear';
import { createKVCache, disposeModel, runForward, type Model } from '../../src/model/model';
import { allTensors, linearsOf, parameterCount, type Weight } from '../../src/model/params';
import { saveCheckpoint } from '../../src/model/saveCheckpoint';
import { useNodeBackend } from '../../scripts/lib/node-model';
import { FIXTURES } from './helpers';

beforeAll(async () => {
  await useNodeBackend('wasm');
});

/** The float16 value nearest v (float16's subnormals included), as a float32. */
function toHalf(v: number): number {
  if (v === 0) return v;
  const quantum = 2 ** (Math.max(Math.floor(Math.log2(Math.abs(v))), -14) - 10);
  return Math.fround(Math.round(v / quantum) * quantum);
}

/** Every float16 value of magnitude 2^-24 … 2^7 − (31 powers of two), both signs, and zeros. */
function halfValues(): Float32Array {
  const out: number[] = [0, -0];
  for (let bits = 1; bits < 0x7c00; bits++) {
    const e = bits >> 10;
    const m = bits & 0x3ff;
    const v = e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
    if (v < 2 ** 7) out.push(v, -v);
  }
  return Float32Array.from(out);
}

describe('encodeHalf', () => {
  it('keeps every float16 value of a 31-power span exactly, subnormals and −0 included', () => {
    const values = halfValues();
    const shapes: [number, number][] = [
      [1, values.length],
      [values.length / 8, 8],
      [8, values.length / 8],
    ];
    for (const shape of shapes)
      for (const grouped of [false, true]) {
        const encoded = encodeHalf(values, shape, grouped)!;
        expect(encoded).not.toBeNull();
        const back = decodeHalf(encoded.codes, encoded.bcode, shape, grouped);
        expect(Array.from(back)).toEqual(Array.from(values)); // toEqual tells −0 from 0
      }
  });

  it.each([
    ['a value with more than 10 mantissa bits', [0.5, 0.1]],
    ['a subnormal float32', [1, 1e-40]],
    ['an infinity', [1, Infinity]],
    ['a NaN', [1, NaN]],
    ['magnitudes over 32 powers of two', [2 ** -24, 2 ** 8]],
  ])('refuses %s', (_, values) => {
    expect(encodeHalf(Float32Array.from(values), [1, values.length])).toBeNull();
  });

  it('pairs columns (or, in row groups, rows) 8g+q and 8g+4+q in a word; the rest in order', () => {
    const byRows = Array.from({ length: 13 }, (_, j) => codeIndex(1, j, [2, 13], false));
    expect(byRows).toEqual([0, 2, 4, 6, 1, 3, 5, 7, 8, 9, 10, 11, 12].map((i) => 13 + i));
    // 10 rows of 3: rows 0–7 as 3 steps of 8 codes, then rows 8 and 9
    const grouped = (r: number) => [0, 1, 2].map((c) => codeIndex(r, c, [10, 3], true));
    expect([0, 4, 5, 9].map(grouped)).toEqual([
      [0, 8, 16],
      [1, 9, 17],
      [3, 11, 19],
      [27, 28, 29],
    ]);
  });
});

/**
 * A fixture's architecture, random weights, its weight matrices (linear layers, the token
 * embedding, an untied LM head) rounded to float16.
 */
function halfModel(name: string, seed: number): Model {
  const config = JSON.parse(readFileSync(join(FIXTURES, name, 'config.json'), 'utf8')) as object;
  const model = initModel(parseConfig(config), seed);
  const rounded = (w: Weight) => {
    const t = w as tf.Tensor2D;
    const out = tf.tensor2d(Float32Array.from(t.dataSync(), toHalf), t.shape);
    t.dispose();
    return out;
  };
  const p = model.params;
  for (const l of linearsOf(p)) l.w = rounded(l.w);
  p.tokenEmbedding = p.tokenEmbedding.map(rounded);
  if (p.lmHead) p.lmHead = p.lmHead.map(rounded);
  return model;
}

/** How many weight matrices halfModel rounds. */
const matrices = ({ params: p }: Model) =>
  linearsOf(p).length + p.tokenEmbedding.length + (p.lmHead?.length ?? 0);

const NAMES = ['gpt2-tiny-a', 'gptneo-tiny-a', 'llama-tiny-a'];

describe.each(NAMES)('%s with its weights as codes', (name) => {
  const ids = [3, 17, 5, 1, 30, 2, 9];
  let plain: Model;
  let half: Model;
  beforeAll(() => {
    plain = halfModel(name, 5);
    half = halfModel(name, 5);
    expect(halveWeights(half.params)).toBe(matrices(half));
    return () => [plain, half].forEach(disposeModel);
  });

  it('counts the same parameters in fewer bytes', () => {
    const bytes = (m: Model) => allTensors(m.params).reduce((n, t) => n + t.size * 4, 0);
    expect(parameterCount(half.params)).toBe(parameterCount(plain.params));
    expect(bytes(half)).toBeLessThan(bytes(plain));
  });

  it('computes the traced forward (Q/K/V, value norms) to the same bits', async () => {
    const traced = async (m: Model) => {
      const chunks: unknown[] = [];
      const output = await runForward(m, { ids }, { captureQKV: true }, async (c) => {
        chunks.push(c);
      });
      return { output, chunks };
    };
    expect(await traced(half)).toEqual(await traced(plain));
  });

  it('generates with a KV cache to the same bits, and leaves no tensor behind', async () => {
    const steps = async (m: Model) => {
      const cache = createKVCache();
      const logits = [];
      let input = ids;
      for (let s = 0; s < 3; s++) {
        const out = await runForward(m, { ids: input }, { cache, logits: 'last' });
        logits.push(Array.from(out.decoder!.output!.logits!.data));
        input = [(s * 11) % m.config.vocabSize];
      }
      cache.dispose();
      return logits;
    };
    const want = await steps(plain);
    const before = tf.memory().numTensors;
    expect(await steps(half)).toEqual(want);
    expect(await steps(half)).toEqual(want);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('attributes a logit (W_O widened) to the same bits', () => {
    const shares = (m: Model) => {
      const result = logitAttribution(m, ids, ids.length - 1, null);
      const values = Object.entries(result).map(([key, v]) =>
        v instanceof tf.Tensor ? [key, Array.from(v.dataSync())] : [key, v],
      );
      tf.dispose(Object.values(result).filter((v) => v instanceof tf.Tensor));
      return values;
    };
    expect(shares(half)).toEqual(shares(plain));
  });

  it('saves the same checkpoint', () => {
    const saved = (m: Model) => Array.from(saveCheckpoint(m).safetensors);
    expect(saved(half)).toEqual(saved(plain));
  });
});

describe('a linear layer with its weight as codes', () => {
  it('has the gradients of the float32 weight under a gradient tape', () => {
    const [plainWeights, halfWeights] = [halfModel(NAMES[0], 9), halfModel(NAMES[0], 9)];
    halveWeights(halfWeights.params);
    const layer = (m: Model) => linearsOf(m.params)[0];
    const x = tf.randomNormal([3, layer(plainWeights).w.shape[0]], 0, 1, 'float32', 4);
    const grad = (m: Model) =>
      tf.tidy(() =>
        Array.from(
          tf
            .grad((v: tf.Tensor) => tf.sum(linear(v, layer(m))))(x)
            .dataSync(),
        ),
      );
    expect(grad(halfWeights)).toEqual(grad(plainWeights));
    const widened = tf.tidy(() => Array.from(weightTensor(layer(halfWeights).w).dataSync()));
    expect(widened).toEqual(Array.from((layer(plainWeights).w as tf.Tensor2D).dataSync()));
    x.dispose();
    [plainWeights, halfWeights].forEach(disposeModel);
  });

  it('stays float32 where the values do not fit 16 bits', () => {
    const model = initModel(
      parseConfig(JSON.parse(readFileSync(join(FIXTURES, NAMES[0], 'config.json'), 'utf8'))),
      3,
    );
    expect(halveWeights(model.params)).toBe(0);
    disposeModel(model);
  });
});
