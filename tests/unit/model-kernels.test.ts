/**
 * The fast paths compute what the plain formulas do: gelu_new as one sigmoid against its tanh
 * definition, the wasm BatchMatMul and _FusedMatMul (our kernels, kernels/gemm.c) and linear()
 * calling the latter directly, and LayerNorm as one kernel against the cpu backend, the tied LM head without a transposed copy of the vocabulary, and the wasm GatherV2
 * (kernels/gather.ts) against the cpu backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/model/config';
import { embedTokens } from '../../src/model/embedding';
import { activate } from '../../src/model/feedForward';
import { GELU_NEW, LAYER_NORM } from '../../src/model/kernels/fusedOps';
import { EMBED_ROWS } from '../../src/model/kernels/gather';
import { layerNorm } from '../../src/model/layerNorm';
import { linear } from '../../src/model/linear';
import { initModel } from '../../src/model/init';
import { decoderLogits, disposeModel, type Model } from '../../src/model/model';
import { EMBEDDING_CHUNK_ROWS } from '../../src/model/params';
import { installWasmKernels } from '../../src/model/wasmKernels';

beforeAll(async () => {
  expect(await tf.setBackend('wasm')).toBe(true);
  await tf.ready();
  installWasmKernels();
});

describe('gelu_new', () => {
  /** GPT-2's definition, in float64: ½x(1 + tanh(√(2/π)(x + 0.044715x³))). */
  const reference = (x: number) =>
    0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  const xs = Array.from({ length: 4001 }, (_, i) => -20 + i / 100); // −20 … 20 in steps of 0.01

  for (const backend of ['cpu', 'wasm']) {
    it(`equals the tanh definition within float32 precision on ${backend}`, async () => {
      await tf.setBackend(backend);
      const got = tf.tidy(() => activate(tf.tensor1d(xs), 'gelu_new').dataSync());
      await tf.setBackend('wasm');
      // A few float32 roundings of a value of size |x|, and of the sigmoid near 0 and 1.
      const errors = xs.map((x, i) => Math.abs(got[i] - reference(x)) / Math.max(1, Math.abs(x)));
      expect(Math.max(...errors)).toBeLessThan(1e-6);
      // The function's shape, so a wrong constant cannot pass: gelu(1) = 0.8412, gelu(−1) = −0.1588.
      expect(got[xs.indexOf(21 - 20)]).toBeCloseTo(0.841192, 5);
      expect(got[xs.indexOf(19 - 20)]).toBeCloseTo(-0.158808, 5);
    });
  }

  it('runs as one kernel of ours on wasm, finite or 0 where the float32 chain overflows', async () => {
    const x = tf.tensor1d([-1e30, -100, 100, 1e30, Infinity, 0.5]);
    const profile = await tf.profile(() => activate(x, 'gelu_new'));
    const got = Array.from((profile.result as tf.Tensor).dataSync());
    tf.dispose([x, profile.result as tf.Tensor]);
    expect(profile.kernels.map((k) => k.name)).toEqual([GELU_NEW]);
    const big = [0, 0, 100, Math.fround(1e30), Infinity]; // (−0 is 0 here)
    expect(got.slice(0, 5).map((v) => v + 0)).toEqual(big);
    expect(got[5]).toBeCloseTo(reference(0.5), 6);
  });
});

/** `product` on the cpu backend and on wasm: the same shape, values within `tolerance`, no leak. */
async function expectWasmEqualsCpu(
  product: () => { shape: number[]; data: ArrayLike<number> },
  tolerance: number,
) {
  await tf.setBackend('cpu');
  const want = product();
  await tf.setBackend('wasm');
  const before = tf.memory().numTensors;
  const got = product();
  expect(tf.memory().numTensors).toBe(before);
  expect(got.shape).toEqual(want.shape);
  const diff = Math.max(...Array.from(want.data, (w, i) => Math.abs(w - got.data[i])));
  expect(diff).toBeLessThan(tolerance);
}

const values = (shape: number[], salt: number) =>
  tf.tensor(
    Array.from({ length: tf.util.sizeFromShape(shape) }, (_, i) => Math.sin(i * 1.7 + salt)),
    shape,
  );

describe('wasm BatchMatMul', () => {
  // [a shape, b shape, transposeA, transposeB]: batches of heads, broadcasts, 2-D, one query row.
  const cases: [number[], number[], boolean, boolean][] = [
    [[2, 3, 9, 4], [2, 3, 4, 6], false, false],
    [[2, 3, 9, 4], [2, 3, 6, 4], false, true],
    [[2, 3, 4, 9], [2, 3, 4, 6], true, false],
    [[2, 3, 4, 9], [2, 3, 6, 4], true, true],
    [[1, 9, 4], [3, 4, 6], false, false],
    [[3, 9, 4], [1, 4, 6], false, false],
    [[3, 9, 4], [4, 6], false, false],
    [[1, 3, 1, 4], [1, 3, 7, 4], false, true],
    [[9, 4], [6, 4], false, true],
    [[4, 9], [4, 6], true, false],
  ];

  for (const [aShape, bShape, transposeA, transposeB] of cases) {
    it(`gives the cpu backend's product for [${aShape}]${transposeA ? 'ᵀ' : ''} · [${bShape}]${transposeB ? 'ᵀ' : ''}`, () =>
      expectWasmEqualsCpu(
        () =>
          tf.tidy(() => {
            const out = tf.matMul(values(aShape, 1), values(bShape, 2), transposeA, transposeB);
            return { shape: out.shape, data: out.dataSync() };
          }),
        1e-5,
      ));
  }
});

describe('wasm _FusedMatMul (linear layers with their bias)', () => {
  // [a, b, transposeB, bias]: rows (one, several, batched) against a weight, the head's h·Eᵀ.
  const cases: [number[], number[], boolean, boolean][] = [
    [[9, 20], [20, 30], false, true],
    [[1, 20], [20, 30], false, true],
    [[1, 20], [30, 20], true, false],
    [[6, 20], [300, 20], true, true],
    [[2, 5, 20], [20, 11], false, true],
  ];
  for (const [aShape, bShape, transposeB, withBias] of cases)
    it(`gives the cpu backend's [${aShape}]·[${bShape}]${transposeB ? 'ᵀ' : ''}${withBias ? ' + bias' : ''}`, () =>
      expectWasmEqualsCpu(
        () =>
          tf.tidy(() => {
            const n = bShape[bShape.length - (transposeB ? 2 : 1)];
            const bias = withBias ? values([n], 3) : undefined;
            const out = tf.fused.matMul({
              a: values(aShape, 1),
              b: values(bShape, 2),
              transposeB,
              bias,
            });
            return { shape: out.shape, data: out.dataSync() };
          }),
        1e-4,
      ));
});

describe('linear on our wasm kernels', () => {
  // x of rank 3 straight into _FusedMatMul, with and without a bias.
  for (const withBias of [true, false])
    it(`gives the cpu backend's x·W${withBias ? ' + b' : ''} as one kernel`, async () => {
      const layer = () => ({
        w: values([20, 11], 2) as tf.Tensor2D,
        b: values([11], 3) as tf.Tensor1D,
      });
      const run = () =>
        tf.tidy(() => {
          const { w, b } = layer();
          const out = linear(values([2, 5, 20], 1), withBias ? { w, b } : { w });
          return { shape: out.shape, data: out.dataSync() };
        });
      await expectWasmEqualsCpu(run, 1e-5);
      const [x, { w, b }] = [values([2, 5, 20], 1), layer()];
      const profile = await tf.profile(() => linear(x, { w, b }));
      tf.dispose([x, w, b, profile.result as tf.Tensor]);
      expect(profile.kernels.map((k) => k.name)).toEqual(['_FusedMatMul']);
    });

  it('keeps the gradient of the plain ops under a tape', () => {
    const [x, w, b] = [values([3, 20], 1), values([20, 11], 2), values([11], 3)];
    const grads = (fn: (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor) =>
      tf.grads((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(fn(x, w, b))))([
        x,
        w,
        b,
      ]);
    const got = grads((x, w, b) => linear(x, { w: w as tf.Tensor2D, b: b as tf.Tensor1D }));
    const want = grads((x, w, b) => tf.add(tf.matMul(x, w), b));
    got.forEach((g, i) => {
      expect(g.shape).toEqual(want[i].shape);
      expect(tf.max(tf.abs(tf.sub(g, want[i]))).dataSync()[0]).toBeLessThan(1e-4);
    });
    tf.dispose([x, w, b, ...got, ...want]);
  });
});

describe('LayerNorm on our wasm kernel', () => {
  const eps = 1e-5;
  // d = 30: not a multiple of the four lanes; rows of very different means and scales.
  const x = () => tf.add(tf.mul(values([2, 3, 30], 5), tf.tensor([[[1]], [[40]]])), 7);
  const params = (withBeta: boolean) => ({
    gamma: values([30], 6) as tf.Tensor1D,
    ...(withBeta ? { beta: values([30], 7) as tf.Tensor1D } : {}),
  });

  for (const withBeta of [true, false])
    it(`gives the cpu backend's LayerNorm${withBeta ? '' : ' without β'} as one kernel`, async () => {
      const run = () =>
        tf.tidy(() => {
          const out = layerNorm(x(), params(withBeta), eps);
          return { shape: out.shape, data: out.dataSync() };
        });
      await expectWasmEqualsCpu(run, 1e-5);
      const [input, p] = [x(), params(withBeta)];
      const profile = await tf.profile(() => layerNorm(input, p, eps));
      tf.dispose([input, p.gamma, p.beta ?? [], profile.result as tf.Tensor]);
      expect(profile.kernels.map((k) => k.name)).toEqual([LAYER_NORM]);
    });

  it('gives a row the same bits alone as among others', () => {
    const [all, last] = tf.tidy(() => {
      const input = x();
      const p = params(true);
      const lastRow = tf.slice(input, [1, 2, 0], [1, 1, 30]);
      return [layerNorm(input, p, eps), layerNorm(lastRow, p, eps)].map((t) => t.dataSync());
    });
    expect(Array.from(last)).toEqual(Array.from(all.slice(-30)));
  });
});

describe('the token embedding on our wasm kernel', () => {
  // Three chunks, the last of 2 rows: ids in each, repeated, and outside the table (zeros).
  const size = EMBEDDING_CHUNK_ROWS;
  const chunks = () =>
    [values([size, 5], 8), values([size, 5], 9), values([2, 5], 10)] as tf.Tensor2D[];
  const ids = () =>
    tf.tensor2d(
      [
        [0, size + 1, 2 * size + 1, 3],
        [2 * size + 1, 2 * size + 2, -1, size],
      ],
      undefined,
      'int32',
    );

  it("gives the cpu backend's rows, as one kernel", async () => {
    const run = () =>
      tf.tidy(() => {
        const out = embedTokens(chunks(), ids());
        return { shape: out.shape, data: out.dataSync() };
      });
    await expectWasmEqualsCpu(run, 1e-7);
    expect(run().shape).toEqual([2, 4, 5]);
    const [table, input] = [chunks(), ids()];
    const profile = await tf.profile(() => embedTokens(table, input));
    const got = (profile.result as tf.Tensor).arraySync() as number[][][];
    tf.dispose([...table, input, profile.result as tf.Tensor]);
    expect(profile.kernels.map((k) => k.name)).toEqual([EMBED_ROWS]);
    expect(got[1][1]).toEqual([0, 0, 0, 0, 0]); // past the table
    expect(got[1][2]).toEqual([0, 0, 0, 0, 0]); // −1
  });
});

describe('the tied LM head', () => {
  let model: Model;
  const vocab = 2 * EMBEDDING_CHUNK_ROWS + 100; // three chunks
  const d = 64;

  beforeAll(() => {
    model = initModel(
      parseConfig({
        model_type: 'attention-lab',
        vocab_size: vocab,
        n_embd: d,
        n_head: 2,
        n_layer: 1,
        n_positions: 16,
      }),
      5,
    );
  });
  afterAll(() => disposeModel(model));

  /**
   * Largest number of bytes live on the wasm heap at once while `run` runs, beyond those live
   * before it: every tensor, including the copies a kernel makes inside itself (which tf.memory()
   * never sees), is malloc'ed by the backend through the module's `_malloc`.
   */
  function peakHeapBytes(run: () => void): number {
    // Emscripten's allocator, which tfjs's types leave out.
    const wasm = (tf.backend() as BackendWasm).wasm as unknown as {
      _malloc(size: number): number;
      _free(pointer: number): void;
    };
    const { _malloc: malloc, _free: free } = wasm;
    const sizes = new Map<number, number>();
    let live = 0;
    let peak = 0;
    wasm._malloc = (size: number) => {
      const pointer = malloc(size);
      sizes.set(pointer, size);
      live += size;
      peak = Math.max(peak, live);
      return pointer;
    };
    wasm._free = (pointer: number) => {
      live -= sizes.get(pointer) ?? 0;
      sizes.delete(pointer);
      free(pointer);
    };
    try {
      run();
    } finally {
      wasm._malloc = malloc;
      wasm._free = free;
    }
    return peak;
  }

  it('never copies a vocabulary chunk during a last-position forward on wasm', () => {
    expect(model.params.tokenEmbedding.length).toBe(3);
    const chunkBytes = EMBEDDING_CHUNK_ROWS * d * 4;
    const ids = tf.tensor2d([[5, 17, 3, 1000, 8000, 9]], undefined, 'int32');
    const peak = peakHeapBytes(() => tf.tidy(() => decoderLogits(model, ids, 'last').dataSync()));
    ids.dispose();
    // What a forward needs at 6 tokens: activations of a few KB, the [1, vocab] logits (33 KB)
    // and their pieces. A transposed copy of one chunk alone would be 1 MiB.
    expect(peak).toBeGreaterThan(vocab * 4);
    expect(peak).toBeLessThan(chunkBytes / 4);
  });
});

describe('wasm GatherV2 (embedding rows)', () => {
  const table = (dtype: 'float32' | 'int32') =>
    dtype === 'float32' ? values([7, 3, 2], 4) : tf.reshape(tf.range(0, 42, 1, 'int32'), [7, 3, 2]);
  // [ids, shape of ids, axis]: rows in any order and repeated, ids of rank 2; axis 1 is tfjs's.
  const cases: [number[], number[], number][] = [
    [[6, 0, 3, 3], [4], 0],
    [[1, 5, 2, 6, 0, 4], [2, 3], 0],
    [[2, 0], [2], 1],
  ];
  for (const dtype of ['float32', 'int32'] as const)
    for (const [ids, shape, axis] of cases)
      it(`gives the cpu backend's ${dtype} rows [${ids}] on axis ${axis}`, async () => {
        const gathered = () =>
          tf.tidy(() => {
            const out = tf.gather(table(dtype), tf.tensor(ids, shape, 'int32'), axis);
            return { shape: out.shape, data: Array.from(out.dataSync()) };
          });
        await tf.setBackend('cpu');
        const want = gathered();
        await tf.setBackend('wasm');
        const before = tf.memory().numTensors;
        expect(gathered()).toEqual(want); // a copy of the rows: the same bits
        expect(tf.memory().numTensors).toBe(before);
      });

  it('throws on an id outside the table, as tfjs does', () => {
    const run = (id: number) =>
      tf.tidy(() => tf.gather(table('float32'), tf.tensor1d([0, id], 'int32')).dataSync());
    expect(() => run(7)).toThrow(/index value 7/);
    expect(() => run(-1)).toThrow(/index value -1/);
  });
});
