/**
 * Training: the schedule, the loss against a hand computation, the wasm kernels against the cpu
 * backend's gradients, seeded initialisation, and a short run of the real recipe runner that must
 * lower the loss and give bit-identical weights when repeated.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/model/config';
import { initModel } from '../../src/model/init';
import { Rng } from '../../src/model/random';
import { disposeModel, encoderDecoderLogits } from '../../src/model/model';
import { allTensors } from '../../src/model/params';
import { installWasmKernels } from '../../src/model/wasmKernels';
import {
  consecutiveWindows,
  crossEntropy,
  languageModelLoss,
  learningRateAt,
  sampleWindows,
  type Schedule,
} from '../../src/model/train';
import { runRecipe, type Recipe } from '../../scripts/recipes/recipe';
import { useFastestNodeBackend } from '../../scripts/lib/node-model';

const tiny = (extra: Record<string, unknown> = {}) =>
  parseConfig({
    model_type: 'attention-lab',
    vocab_size: 23,
    n_embd: 16,
    n_head: 2,
    n_layer: 2,
    n_positions: 12,
    ...extra,
  });

beforeAll(async () => {
  expect(await useFastestNodeBackend()).toBe('wasm');
  installWasmKernels();
});

describe('learning-rate schedule', () => {
  const s: Schedule = {
    steps: 100,
    warmupSteps: 10,
    peakLearningRate: 1e-3,
    finalLearningRate: 1e-4,
    clipNorm: 1,
  };
  it('warms up linearly, peaks, and decays by a cosine to the final rate', () => {
    expect(learningRateAt(s, 0)).toBeCloseTo(1e-4, 12);
    expect(learningRateAt(s, 4)).toBeCloseTo(5e-4, 12);
    expect(learningRateAt(s, 10)).toBeCloseTo(1e-3, 12);
    // halfway through the decay: the mean of peak and final
    expect(learningRateAt(s, 10 + 89 / 2)).toBeCloseTo(5.5e-4, 12);
    expect(learningRateAt(s, 99)).toBeCloseTo(1e-4, 12);
    for (let i = 11; i < 100; i++)
      expect(learningRateAt(s, i)).toBeLessThanOrEqual(learningRateAt(s, i - 1));
  });
});

describe('crossEntropy', () => {
  it('equals −log softmax(target) computed by hand, with and without weights', () => {
    const rng = new Rng(5);
    const [b, t, v] = [2, 3, 5];
    const logits = Array.from({ length: b * t * v }, () => rng.normal() * 3);
    const targets = Array.from({ length: b * t }, () => rng.int(v));
    const weights = [1, 0, 1, 1, 1, 0];
    const nll = targets.map((y, i) => {
      const row = logits.slice(i * v, (i + 1) * v);
      const max = Math.max(...row);
      const logSum = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
      return logSum - row[y];
    });
    const mean = nll.reduce((a, x) => a + x, 0) / nll.length;
    const weighted = nll.reduce((a, x, i) => a + x * weights[i], 0) / 4;
    const lt = tf.tensor3d(logits, [b, t, v]);
    const tt = tf.tensor2d(targets, [b, t], 'int32');
    const wt = tf.tensor2d(weights, [b, t]);
    expect(crossEntropy(lt, tt).dataSync()[0]).toBeCloseTo(mean, 5);
    expect(crossEntropy(lt, tt, wt).dataSync()[0]).toBeCloseTo(weighted, 5);
    tf.dispose([lt, tt, wt]);
  });
});

describe('batches', () => {
  it('samples windows whose targets are the inputs shifted by one', () => {
    const tokens = Int32Array.from({ length: 50 }, (_, i) => i);
    const batch = sampleWindows(tokens, 4, 8, new Rng(1));
    for (let r = 0; r < 4; r++) {
      const start = batch.inputs[r * 8];
      for (let i = 0; i < 8; i++) {
        expect(batch.inputs[r * 8 + i]).toBe(start + i);
        expect(batch.targets[r * 8 + i]).toBe(start + i + 1);
      }
    }
    const again = sampleWindows(tokens, 4, 8, new Rng(1));
    expect(Array.from(again.inputs)).toEqual(Array.from(batch.inputs));
    const windows = consecutiveWindows(tokens, 8, 3);
    expect(windows.shape).toEqual([3, 8]);
    expect(Array.from(windows.targets.subarray(16))).toEqual([17, 18, 19, 20, 21, 22, 23, 24]);
  });
});

describe('initModel', () => {
  it('is a function of the seed, with GPT-2 statistics', () => {
    const hostValues = (seed: number, extra = {}) => {
      const m = initModel(tiny(extra), seed);
      const values = allTensors(m.params).map((t) => Array.from(t.dataSync()));
      disposeModel(m);
      return values;
    };
    const a = hostValues(3);
    expect(hostValues(3)).toEqual(a);
    expect(hostValues(4)[0]).not.toEqual(a[0]);
    const embedding = a[0];
    const mean = embedding.reduce((s, x) => s + x, 0) / embedding.length;
    const std = Math.sqrt(embedding.reduce((s, x) => s + (x - mean) ** 2, 0) / embedding.length);
    expect(Math.abs(mean)).toBeLessThan(0.004);
    expect(std).toBeGreaterThan(0.017);
    expect(std).toBeLessThan(0.023);
  });

  it('gives pre-norm and post-norm twins the same weight matrices', () => {
    const pre = initModel(tiny({ norm_placement: 'pre' }), 9);
    const post = initModel(tiny({ norm_placement: 'post' }), 9);
    expect(pre.params.decoder!.finalNorm).toBeDefined();
    expect(post.params.decoder!.finalNorm).toBeUndefined();
    const matrices = (m: typeof pre) =>
      allTensors(m.params)
        .filter((t) => t.rank === 2)
        .map((t) => Array.from(t.dataSync()));
    expect(matrices(post)).toEqual(matrices(pre));
    disposeModel(pre);
    disposeModel(post);
  });
});

describe('wasm training kernels', () => {
  /** Gradients of every parameter on the current backend, for the same seeded model and batch. */
  async function gradients(backend: string, encoderDecoder: boolean): Promise<Float32Array[]> {
    await tf.setBackend(backend);
    const config = encoderDecoder
      ? tiny({ architecture: 'encoder-decoder', n_encoder_layer: 1, pad_token_id: 0 })
      : tiny();
    const model = initModel(config, 21);
    const rng = new Rng(8);
    const tokens = Int32Array.from({ length: 200 }, () => rng.int(23));
    const batch = sampleWindows(tokens, 3, 12, rng);
    const variables = allTensors(model.params) as tf.Variable[];
    const loss = encoderDecoder
      ? () =>
          tf.tidy(() => {
            const ids = tf.tensor2d(batch.inputs, batch.shape, 'int32');
            const logits = encoderDecoderLogits(model, tf.reverse(ids, 1) as tf.Tensor2D, ids);
            return crossEntropy(logits, tf.tensor2d(batch.targets, batch.shape, 'int32'));
          })
      : () => languageModelLoss(model, batch);
    const { value, grads } = tf.variableGrads(loss, variables);
    const out = variables.map((v) => grads[v.name].dataSync() as Float32Array);
    tf.dispose([value, grads]);
    disposeModel(model);
    return out;
  }

  for (const encoderDecoder of [false, true]) {
    it(`give the cpu backend's gradients (${encoderDecoder ? 'encoder–decoder' : 'decoder-only'})`, async () => {
      const reference = await gradients('cpu', encoderDecoder);
      const wasm = await gradients('wasm', encoderDecoder);
      expect(wasm.length).toBe(reference.length);
      reference.forEach((g, i) => {
        const scale = Math.max(...Array.from(g, Math.abs));
        const diff = Math.max(...Array.from(g, (x, j) => Math.abs(x - wasm[i][j])));
        expect(scale).toBeGreaterThan(0);
        expect(diff).toBeLessThan(1e-4 * scale + 1e-9);
      });
    });
  }
});

describe('a short training run', () => {
  // Tokens cycling 0, 1, …, 22 with a little noise: learnable in a few dozen steps.
  const rng = new Rng(2);
  const tokens = Int32Array.from({ length: 2000 }, (_, i) =>
    rng.next() < 0.1 ? rng.int(23) : i % 23,
  );
  const recipe: Recipe = {
    name: 'tiny',
    title: 'tiny',
    description: 'test recipe',
    seed: 99,
    schedule: {
      steps: 30,
      warmupSteps: 5,
      peakLearningRate: 1e-2,
      finalLearningRate: 1e-3,
      clipNorm: 1,
    },
    evalEvery: 10,
    prepare: () => ({
      config: tiny(),
      tokensPerStep: 8 * 12,
      batchLoss: (model, r) => languageModelLoss(model, sampleWindows(tokens, 8, 12, r)),
      validationLoss: (model) => {
        const loss = languageModelLoss(model, consecutiveWindows(tokens, 12, 8));
        const value = loss.dataSync()[0];
        loss.dispose();
        return value;
      },
      metrics: () => ({}),
      data: {},
    }),
  };

  let tensorsBefore = 0;
  beforeAll(async () => {
    await tf.setBackend('wasm');
    tensorsBefore = tf.memory().numTensors;
  });
  afterAll(() => expect(tf.memory().numTensors).toBe(tensorsBefore));

  it('lowers the loss and is bit-identical when repeated with the same seed', async () => {
    const first = await runRecipe(recipe);
    const second = await runRecipe(recipe);
    disposeModel(first.model);
    disposeModel(second.model);
    const { train_loss, val_loss, steps } = first.training;
    expect(steps).toEqual([10, 20, 30]);
    expect(train_loss[2]).toBeLessThan(train_loss[0] * 0.8);
    expect(val_loss[2]).toBeLessThan(Math.log(23) * 0.8);
    expect(second.training.train_loss).toEqual(train_loss);
    expect(second.training.val_loss).toEqual(val_loss);
    expect(Buffer.from(second.safetensors).equals(Buffer.from(first.safetensors))).toBe(true);
    expect(first.training.backend).toBe('wasm');
  });
});
