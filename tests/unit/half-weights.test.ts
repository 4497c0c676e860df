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
import { halveWeights, weightTensor } from '../../src/model/halfWeights';
import { codeOffset, encodeCodes } from '../../src/model/kernels/codedOps';
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

// The codes' layout and encoding written out again here, independently of rows.c and codes.h.

const EXPONENTS = 31;

/**
 * Where value (r, c) of a `[rows, cols]` matrix keeps its code (kernels/codes.h). By rows: in a
 * row's group of eight columns, columns 8g+q and 8g+4+q share a 32-bit word (q = 0…3: the low and
 * the high half); the last cols mod 8 in order. In row groups (`grouped`, for x · Wᵀ): rows
 * 8g+q and 8g+4+q share a word at each depth c; the last rows mod 8 row after row.
 */
function codeIndex(r: number, c: number, [rows, cols]: number[], grouped: boolean): number {
  const [i, n] = grouped ? [r, rows] : [c, cols];
  if (i >= (n & ~7)) return r * cols + c;
  const q = i & 7;
  const pair = q < 4 ? 2 * q : 2 * q - 7;
  return grouped ? (r & ~7) * cols + 8 * c + pair : r * cols + (c & ~7) + pair;
}

/**
 * The exponent offset of 16-bit codes for `values`, or null where some value does not fit: more
 * than 10 mantissa bits, a subnormal, infinite or NaN float32, or nonzero magnitudes spread over
 * more than 31 powers of two (float16's span, subnormals included, is 40).
 */
function referenceOffset(values: Float32Array): number | null {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  let low = 255;
  let high = 0;
  for (let i = 0; i < bits.length; i++) {
    const u = bits[i];
    if ((u & 0x7fffffff) === 0) continue; // ±0
    const exponent = (u >>> 23) & 0xff;
    if ((u & 0x1fff) !== 0 || exponent === 0 || exponent === 255) return null;
    if (exponent < low) low = exponent;
    if (exponent > high) high = exponent;
  }
  if (low > high) low = high = 127; // all zeros: any offset
  // The scale 2^(low − 1) must be a normal float32: its exponent field is low + 126 ≤ 254.
  if (high - low >= EXPONENTS || low > 128) return null;
  return low + 126;
}

/** Writes the codes of `values` (a `[rows, cols]` matrix that fits, codeOffset) into `out`. */
function writeCodes(
  values: Float32Array,
  [rows, cols]: [number, number],
  grouped: boolean,
  bcode: number,
  out: Uint16Array,
): void {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const low = bcode - 126;
  for (let r = 0, i = 0; r < rows; r++)
    for (let c = 0; c < cols; c++, i++) {
      const u = bits[i];
      const sign = (u >>> 16) & 0x8000;
      out[codeIndex(r, c, [rows, cols], grouped)] =
        (u & 0x7fffffff) === 0
          ? sign
          : sign | ((((u >>> 23) & 0xff) - low + 1) << 10) | ((u >>> 13) & 0x3ff);
    }
}

/** The 16-bit codes of `values` (a `[rows, cols]` matrix) and their exponent offset, or null. */
function encodeHalf(
  values: Float32Array,
  shape: [number, number],
  grouped = false,
): { codes: Uint16Array; bcode: number } | null {
  const bcode = referenceOffset(values);
  if (bcode === null) return null;
  const codes = new Uint16Array(values.length);
  writeCodes(values, shape, grouped, bcode, codes);
  return { codes, bcode };
}

/** The float32 values of codes: the reference the kernels are tested against. */
function decodeHalf(
  codes: Uint16Array,
  bcode: number,
  shape: [number, number],
  grouped = false,
): Float32Array {
  const out = new Float32Array(codes.length);
  const bits = new Uint32Array(out.buffer);
  for (let r = 0, i = 0; r < shape[0]; r++)
    for (let c = 0; c < shape[1]; c++, i++) {
      const code = codes[codeIndex(r, c, shape, grouped)];
      const field = (code >>> 10) & 0x1f;
      const sign = (code & 0x8000) << 16;
      bits[i] = field === 0 ? sign : sign | ((field + bcode - 127) << 23) | ((code & 0x3ff) << 13);
    }
  return out;
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

describe('16-bit codes', () => {
  /** The kernels' codes of `values` as a `[rows, cols]` tensor, or null where they refuse it. */
  const kernelCodes = (values: Float32Array, shape: [number, number], grouped: boolean) => {
    const w = tf.tensor2d(values, shape);
    const bcode = codeOffset(w);
    if (bcode === 0) return (w.dispose(), null);
    const codes = encodeCodes(w, bcode, grouped);
    const widened = tf.tidy(() => weightTensor({ codes, bcode, shape, grouped }).dataSync());
    const words = Int32Array.from(codes.dataSync());
    tf.dispose([w, codes]);
    return { bcode, codes: new Uint16Array(words.buffer, 0, values.length), widened };
  };

  it('keeps every float16 value of a 31-power span exactly, subnormals and −0 included', () => {
    const values = halfValues();
    const n = values.length;
    // 45,056 values: rows and columns that are and are not multiples of 8
    const shapes: [number, number][] = [
      [1, n],
      [n / 11, 11],
      [11, n / 11],
      [n / 8, 8],
    ];
    for (const shape of shapes)
      for (const grouped of [false, true]) {
        const want = encodeHalf(values, shape, grouped)!;
        const got = kernelCodes(values, shape, grouped)!;
        expect(got.bcode).toBe(want.bcode);
        expect(got.codes).toEqual(want.codes);
        expect(Array.from(decodeHalf(want.codes, want.bcode, shape, grouped))).toEqual(
          Array.from(values),
        );
        expect(Array.from(got.widened)).toEqual(Array.from(values)); // toEqual tells −0 from 0
      }
  });

  it.each([
    ['a value with more than 10 mantissa bits', [0.5, 0.1]],
    ['a subnormal float32', [1, 1e-40]],
    ['an infinity', [1, Infinity]],
    ['a NaN', [1, NaN]],
    ['magnitudes over 32 powers of two', [2 ** -24, 2 ** 8]],
  ])('refuses %s', (_, values) => {
    const floats = Float32Array.from(values);
    expect(encodeHalf(floats, [1, values.length])).toBeNull();
    expect(kernelCodes(floats, [1, values.length], false)).toBeNull();
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
