/**
 * Properties the lecture states about the model's quantities, checked on random checkpoints:
 * softmax rows, exact zeros of masks and ablations, the sinusoidal formula, LayerNorm statistics,
 * and that no forward leaks a tensor, whether it finishes or throws.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featureStats, layerNorm } from '../../src/model/layerNorm';
import { LAYER_NORM } from '../../src/model/kernels/fusedOps';
import {
  createKVCache,
  disposeModel,
  ForwardError,
  runForward,
  type ForwardInput,
  type ForwardOptions,
  type HeadRef,
  type Model,
} from '../../src/model/model';
import { sinusoidalPositions } from '../../src/model/positions';
import { toNested, type AttentionTrace, type Trace } from '../../src/model/trace';
import { useFastestNodeBackend } from '../../scripts/lib/node-model';
import { maxAbsDiff } from './helpers';
import {
  labConfig,
  loadWeights,
  randomWeights,
  SeededRandom,
  type FloatTensors,
  type LabConfig,
} from './reference/random-model';

beforeAll(async () => {
  await useFastestNodeBackend();
});

const DECODER = labConfig({ n_layer: 3 });
const POST_NORM = labConfig({
  norm_placement: 'post',
  final_layer_norm: false,
  position_embedding: 'sinusoidal',
});
const ENC_DEC = labConfig({
  architecture: 'encoder-decoder',
  n_encoder_layer: 2,
  n_layer: 2,
  position_embedding: 'sinusoidal-split',
});

function attentionsOf(trace: Trace): AttentionTrace[] {
  return [trace.encoder, trace.decoder].flatMap((st) =>
    st ? st.layers.flatMap((l) => l.attentions) : [],
  );
}

/** With a model loaded from random weights, disposed afterwards. */
async function withModel<T>(
  cfg: LabConfig,
  weights: FloatTensors,
  f: (m: Model) => Promise<T>,
): Promise<T> {
  const model = loadWeights(cfg, weights);
  try {
    return await f(model);
  } finally {
    disposeModel(model);
  }
}

describe('attention probabilities', () => {
  const cases: [string, LabConfig, ForwardInput, ForwardOptions][] = [
    ['decoder, causal', DECODER, { ids: [3, 1, 4, 1, 5, 9, 2] }, {}],
    ['decoder, causal, padded to 12', DECODER, { ids: [3, 1, 4, 1, 5] }, { padTo: 12 }],
    ['decoder, mask off', DECODER, { ids: [3, 1, 4, 1, 5, 9, 2] }, { causalMask: false }],
    ['encoder–decoder', ENC_DEC, { ids: [2, 7, 1, 8], sourceIds: [2, 8, 1, 8, 2, 8] }, {}],
  ];
  for (const [name, cfg, input, opts] of cases) {
    it(`rows sum to 1, masked entries are exactly 0, the mask is reported (${name})`, async () => {
      await withModel(cfg, randomWeights(cfg, 5), async (m) => {
        const trace = await runForward(m, input, opts);
        for (const stack of ['encoder', 'decoder'] as const) {
          for (const a of trace[stack]?.layers.flatMap((l) => l.attentions) ?? []) {
            const [heads, queries, keys] = a.probs.shape;
            expect(a.mask.shape).toEqual([queries, keys]);
            const causal = stack === 'decoder' && a.kind === 'self' && opts.causalMask !== false;
            expect(a.causal).toBe(causal);
            for (let h = 0; h < heads; h++) {
              for (let i = 0; i < queries; i++) {
                let rowSum = 0;
                for (let j = 0; j < keys; j++) {
                  const p = a.probs.data[(h * queries + i) * keys + j];
                  const allowed = !causal || j <= i;
                  expect(a.mask.data[i * keys + j]).toBe(allowed ? 1 : 0);
                  if (allowed) expect(p).toBeGreaterThan(0);
                  else expect(p).toBe(0);
                  rowSum += p;
                }
                expect(Math.abs(rowSum - 1)).toBeLessThan(1e-6);
              }
            }
          }
        }
      });
    });
  }

  it('a cached step attends to every earlier token and reports a one-row mask', async () => {
    await withModel(DECODER, randomWeights(DECODER, 6), async (m) => {
      const cache = createKVCache();
      try {
        await runForward(m, { ids: [4, 4, 2] }, { cache });
        const step = await runForward(m, { ids: [9] }, { cache });
        for (const a of attentionsOf(step)) {
          expect(a.mask.shape).toEqual([1, 4]);
          expect(Array.from(a.mask.data)).toEqual([1, 1, 1, 1]);
          expect(a.probs.shape).toEqual([4, 1, 4]);
        }
      } finally {
        cache.dispose();
      }
    });
  });
});

describe('head ablation', () => {
  /** The same weights with the value projection (and bias) of one head set to zero. */
  function zeroValues(
    weights: FloatTensors,
    tensor: string,
    parts: number,
    head: number,
    cfg: LabConfig,
  ): FloatTensors {
    const d = cfg.n_embd as number;
    const dh = d / (cfg.n_head as number);
    const from = (parts - 1) * d + head * dh; // V is the last of the fused parts
    const out = { ...weights };
    const w = Float32Array.from(weights[`${tensor}.weight`].data);
    for (let r = 0; r < d; r++) w.fill(0, r * parts * d + from, r * parts * d + from + dh);
    out[`${tensor}.weight`] = { shape: [d, parts * d], data: w };
    const b = Float32Array.from(weights[`${tensor}.bias`].data);
    b.fill(0, from, from + dh);
    out[`${tensor}.bias`] = { shape: [parts * d], data: b };
    return out;
  }

  const cases: [string, LabConfig, ForwardInput, HeadRef, string, number][] = [
    [
      'self-attention',
      DECODER,
      { ids: [5, 3, 8, 2, 6] },
      { stack: 'decoder', layer: 1, head: 2 },
      'h.1.attn.c_attn',
      3,
    ],
    [
      'cross-attention',
      ENC_DEC,
      { ids: [5, 3, 8], sourceIds: [1, 2, 3, 4] },
      { stack: 'decoder', layer: 0, head: 1, attention: 'cross' },
      'decoder.h.0.crossattention.c_attn',
      2,
    ],
  ];
  for (const [name, cfg, input, ref, tensor, parts] of cases) {
    it(`an ablated ${name} head outputs exactly 0 and equals zeroing its values`, async () => {
      const weights = randomWeights(cfg, 8);
      const ablated = await withModel(cfg, weights, (m) =>
        runForward(m, input, { ablatedHeads: [ref], captureQKV: true }),
      );
      const intact = await withModel(cfg, weights, (m) =>
        runForward(m, input, { captureQKV: true }),
      );
      const zeroed = await withModel(cfg, zeroValues(weights, tensor, parts, ref.head, cfg), (m) =>
        runForward(m, input, { captureQKV: true }),
      );
      const layerOf = (t: Trace) => t.decoder!.layers[ref.layer];
      const attn = (t: Trace) =>
        layerOf(t).attentions.find((a) => a.kind === (ref.attention ?? 'self'))!;
      const out = attn(ablated).headOutputs!;
      const [heads, queries, dh] = out.shape;
      expect(Array.from(attn(ablated).headGate)).toEqual(
        Array.from({ length: heads }, (_, h) => (h === ref.head ? 0 : 1)),
      );
      for (let h = 0; h < heads; h++) {
        const slice = out.data.subarray(h * queries * dh, (h + 1) * queries * dh);
        if (h === ref.head) expect(slice.every((v) => v === 0)).toBe(true);
        else expect(slice.some((v) => v !== 0)).toBe(true);
      }
      // The ablation changes the output; zeroing the head's values changes it the same way.
      const hidden = (t: Trace) => [
        ...t.decoder!.layers.map((l) => toNested(l.hidden)),
        toNested(t.decoder!.output!.logits!),
      ];
      expect(maxAbsDiff(hidden(ablated), hidden(intact))).toBeGreaterThan(1e-3);
      expect(maxAbsDiff(hidden(ablated), hidden(zeroed))).toBeLessThanOrEqual(1e-6);
    });
  }
});

describe('sinusoidal positions', () => {
  it('match hand-computed values, interleaved and split, with an offset', () => {
    // d = 4: frequencies 1 and 1/10000^(2/4) = 1/100
    const pos1 = [0.8414709848, 0.5403023059, 0.0099998333, 0.9999500004]; // sin 1, cos 1, sin .01, cos .01
    const pos2 = [0.9092974268, -0.4161468365, 0.0199986667, 0.9998000067];
    const close = (a: Float32Array, b: number[]) => maxAbsDiff(Array.from(a), b);
    const inter = sinusoidalPositions(3, 4, 'sinusoidal');
    expect(close(inter, [0, 1, 0, 1, ...pos1, ...pos2])).toBeLessThan(1e-7);
    const split = sinusoidalPositions(3, 4, 'sinusoidal-split');
    const toSplit = (p: number[]) => [p[0], p[2], p[1], p[3]];
    expect(close(split, [0, 0, 1, 1, ...toSplit(pos1), ...toSplit(pos2)])).toBeLessThan(1e-7);
    expect(close(sinusoidalPositions(1, 4, 'sinusoidal', 2), pos2)).toBeLessThan(1e-7);
    // d = 6, position 3: frequencies 1, 10000^(−1/3) = 0.0464158883, 10000^(−2/3) = 0.0021544347
    const pos3 = [
      0.1411200081, -0.9899924966, 0.1387981011, 0.9903206991, 0.0064632591, 0.9999791129,
    ];
    expect(close(sinusoidalPositions(1, 6, 'sinusoidal', 3), pos3)).toBeLessThan(1e-7);
  });

  it('p_i · p_j = Σ_k cos(ω_k (i − j)): it depends only on i − j', () => {
    const d = 16;
    const n = 40;
    for (const layout of ['sinusoidal', 'sinusoidal-split'] as const) {
      const p = sinusoidalPositions(n, d, layout);
      const dot = (i: number, j: number) =>
        Array.from({ length: d }, (_, c) => p[i * d + c] * p[j * d + c]).reduce((a, b) => a + b);
      let worst = 0;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          let expected = 0;
          for (let k = 0; k < d / 2; k++) expected += Math.cos((i - j) / 10000 ** ((2 * k) / d));
          worst = Math.max(worst, Math.abs(dot(i, j) - expected));
        }
      }
      expect(worst, layout).toBeLessThan(1e-5);
      // and it is not constant: the similarity falls off with the distance
      expect(dot(10, 10)).toBeGreaterThan(dot(10, 11) + 0.1);
    }
  });

  it('are what the traced forward adds, from the cache offset on', async () => {
    await withModel(POST_NORM, randomWeights(POST_NORM, 9), async (m) => {
      const trace = await runForward(m, { ids: [1, 2, 3] });
      expect(trace.decoder!.embedding.positions!.data).toEqual(
        sinusoidalPositions(3, 16, 'sinusoidal'),
      );
      const cache = createKVCache();
      try {
        await runForward(m, { ids: [1, 2, 3] }, { cache });
        const step = await runForward(m, { ids: [4] }, { cache });
        expect(step.decoder!.embedding.positions!.data).toEqual(
          sinusoidalPositions(1, 16, 'sinusoidal', 3),
        );
      } finally {
        cache.dispose();
      }
    });
  });
});

describe('LayerNorm', () => {
  it('layerNorm follows γ ⊙ (x − μ) / √(σ² + ε) + β per token', () => {
    const rng = new SeededRandom(3);
    const [rows, d, eps] = [6, 8, 1e-5];
    const x = Array.from({ length: rows * d }, () => 3 * rng.normal() + 2);
    const gamma = Array.from({ length: d }, () => rng.normal());
    const beta = Array.from({ length: d }, () => rng.normal());
    const out = tf.tidy(() =>
      layerNorm(
        tf.tensor3d(x, [2, 3, d]),
        { gamma: tf.tensor1d(gamma), beta: tf.tensor1d(beta) },
        eps,
      ).arraySync(),
    ) as number[][][];
    const expected = Array.from({ length: rows }, (_, r) => {
      const v = x.slice(r * d, (r + 1) * d);
      const mean = v.reduce((a, b) => a + b) / d;
      const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / d;
      return v.map((xi, c) => (gamma[c] * (xi - mean)) / Math.sqrt(variance + eps) + beta[c]);
    });
    expect(maxAbsDiff(out.flat(), expected)).toBeLessThan(1e-5);
  });

  it('runs nine kernels, one of ours on wasm; featureStats four (a GPT-2 token: 25 and 13 times)', async () => {
    // Names read at once: tf.profile hands back the same object each time.
    const names = async (f: () => tf.TensorContainer) =>
      (await tf.profile(f)).kernels.map((k) => k.name);
    const backend = tf.getBackend();
    for (const on of ['cpu', 'wasm']) {
      await tf.setBackend(on);
      const x = tf.ones([1, 3, 8]);
      const p = { gamma: tf.ones([8]) as tf.Tensor1D, beta: tf.zeros([8]) as tf.Tensor1D };
      const kernels = await names(() => layerNorm(x, p, 1e-5));
      if (on === 'wasm') expect(kernels).toEqual([LAYER_NORM]);
      else expect(kernels).toHaveLength(9);
      // Mean, Sub, Square, Mean, and the mean's reshape (free: no copy).
      expect(
        (await names(() => Object.values(featureStats(x)))).filter((k) => k !== 'Reshape'),
      ).toEqual(['Mean', 'Sub', 'Square', 'Mean']);
      tf.dispose([x, p.gamma, p.beta]);
    }
    await tf.setBackend(backend);
  });

  it('with γ = 1, β = 0 its output has mean 0 and variance σ²/(σ² + ε) ≈ 1; a constant row gives β', () => {
    const rng = new SeededRandom(4);
    const d = 16;
    const x = Array.from({ length: 5 * d }, () => rng.normal() * 4 - 1);
    x.fill(0.75, 4 * d); // a constant row: σ² = 0
    const eps = 1e-5;
    const [out, beta] = tf.tidy(() => {
      const b = tf.tensor1d(Array.from({ length: d }, (_, c) => c / 10));
      const unit = layerNorm(
        tf.tensor2d(x, [5, d]),
        { gamma: tf.ones([d]), beta: tf.zeros([d]) },
        eps,
      );
      const shifted = layerNorm(tf.tensor2d(x, [5, d]), { gamma: tf.ones([d]), beta: b }, eps);
      return [unit.arraySync(), shifted.arraySync()] as number[][][];
    });
    for (let r = 0; r < 4; r++) {
      const v = x.slice(r * d, (r + 1) * d);
      const mu = v.reduce((a, b) => a + b) / d;
      const s2 = v.reduce((a, b) => a + (b - mu) ** 2, 0) / d;
      const mean = out[r].reduce((a, b) => a + b) / d;
      const variance = out[r].reduce((a, b) => a + (b - mean) ** 2, 0) / d;
      expect(Math.abs(mean)).toBeLessThan(1e-6);
      expect(Math.abs(variance - s2 / (s2 + eps))).toBeLessThan(1e-5);
    }
    expect(
      maxAbsDiff(
        beta[4],
        Array.from({ length: d }, (_, c) => c / 10),
      ),
    ).toBeLessThan(1e-5);
  });

  for (const [name, cfg] of [
    ['pre-norm with ln_f', DECODER],
    ['post-norm', POST_NORM],
    ['encoder–decoder', ENC_DEC],
  ] as const) {
    it(`traced stats of γ = 1, β = 0 norms: output mean 0, variance σ²/(σ² + ε) (${name})`, async () => {
      const weights = randomWeights(cfg, 10);
      for (const [key, t] of Object.entries(weights)) {
        if (!/ln_\w+\.|ln_f\./.test(key)) continue;
        weights[key] = {
          shape: t.shape,
          data: new Float32Array(t.data.length).fill(key.endsWith('.weight') ? 1 : 0),
        };
      }
      await withModel(cfg, weights, async (m) => {
        const trace = await runForward(m, { ids: [1, 5, 9, 13, 17], sourceIds: [2, 4, 6] });
        const norms = [trace.encoder, trace.decoder].flatMap((st) =>
          st
            ? [
                ...st.layers.flatMap((l) => l.norms),
                ...(st.output?.finalNorm ? [st.output.finalNorm] : []),
              ]
            : [],
        );
        const layers = (cfg.n_layer as number) + ((cfg.n_encoder_layer as number | undefined) ?? 0);
        expect(norms.length).toBeGreaterThanOrEqual(2 * layers);
        for (const n of norms) {
          n.outputMean.forEach((mu) => expect(Math.abs(mu), n.name).toBeLessThan(1e-6));
          n.outputVar.forEach((v, t) => {
            const s2 = n.inputVar[t];
            expect(Math.abs(v - s2 / (s2 + 1e-5)), n.name).toBeLessThan(1e-5);
            expect(Math.abs(v - 1), n.name).toBeLessThan(1e-3);
          });
        }
      });
    });
  }
});

describe('no tensor leaks', () => {
  let decoder: Model;
  let encDec: Model;
  beforeAll(() => {
    decoder = loadWeights(DECODER, randomWeights(DECODER, 11));
    encDec = loadWeights(ENC_DEC, randomWeights(ENC_DEC, 12));
  });
  afterAll(() => {
    disposeModel(decoder);
    disposeModel(encDec);
  });

  /** Every combination of the options, with and without ablations. */
  function* everyOption(stack: 'decoder' | 'encoder'): Generator<ForwardOptions> {
    for (const causalMask of [true, false])
      for (const usePositions of [true, false])
        for (const ablatedHeads of [[], [{ stack, layer: 0, head: 1 }]])
          for (const captureQKV of [false, true])
            for (const logits of ['all', 'last', 'none'] as const)
              for (const padTo of [undefined, 10])
                yield { causalMask, usePositions, ablatedHeads, captureQKV, logits, padTo };
  }

  it('over 96 forwards of every option combination, decoder-only and encoder–decoder', async () => {
    const input = { ids: [1, 2, 3, 4, 5], sourceIds: [6, 7, 8] };
    await runForward(decoder, input, { captureQKV: true });
    await runForward(encDec, input, { captureQKV: true });
    const before = tf.memory().numTensors;
    let forwards = 0;
    for (const opts of everyOption('decoder')) {
      await runForward(decoder, input, opts);
      await runForward(encDec, input, opts);
      forwards += 2;
    }
    expect(forwards).toBe(192);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('over step-through generation, once the cache is disposed', async () => {
    const before = tf.memory().numTensors;
    const runs: [Model, ForwardInput][] = [
      [decoder, { ids: [1, 2, 3] }],
      [encDec, { ids: [1], sourceIds: [6, 7, 8, 9] }],
    ];
    for (const [model, input] of runs) {
      const cache = createKVCache();
      await runForward(model, input, { cache, captureQKV: true });
      for (let t = 0; t < 5; t++)
        await runForward(model, { ids: [t + 4] }, { cache, logits: 'last' });
      expect(tf.memory().numTensors).toBeGreaterThan(before); // the cache holds its keys
      cache.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  const failures: [string, () => Model, ForwardInput, ForwardOptions, string][] = [
    ['cancelled after one layer', () => decoder, { ids: [1, 2, 3] }, {}, 'cancelled'],
    ['cancelled in the encoder', () => encDec, { ids: [1], sourceIds: [4, 5] }, {}, 'cancelled'],
    ['too long', () => decoder, { ids: new Array<number>(13).fill(1) }, {}, 'too-long'],
    ['empty', () => decoder, { ids: [] }, {}, 'empty-input'],
    ['a token outside the vocabulary', () => decoder, { ids: [1, 29] }, {}, 'bad-token'],
    [
      'a source too long',
      () => encDec,
      { ids: [1], sourceIds: new Array<number>(13).fill(2) },
      {},
      'too-long',
    ],
    ['no source', () => encDec, { ids: [1] }, {}, 'missing-source'],
  ];
  for (const [name, model, input, opts, code] of failures) {
    it(`when the forward throws: ${name}`, async () => {
      const before = tf.memory().numTensors;
      let calls = 0;
      const stop = code === 'cancelled' ? { shouldStop: () => ++calls > 1 } : {};
      for (let i = 0; i < 3; i++) {
        const err = await runForward(model(), input, { ...opts, ...stop, padTo: 8 }).catch(
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(ForwardError);
        expect((err as ForwardError).code).toBe(code);
        calls = 0;
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('when a cancelled encoder–decoder forward stops in the decoder', async () => {
    const before = tf.memory().numTensors;
    let calls = 0;
    // two encoder layers pass, the first decoder layer check stops
    const err = await runForward(
      encDec,
      { ids: [1, 2], sourceIds: [3, 4] },
      { shouldStop: () => ++calls > 2 },
    ).catch((e: unknown) => e);
    expect((err as ForwardError).code).toBe('cancelled');
    expect(calls).toBe(3);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('when a cached step is too long for the context', async () => {
    const before = tf.memory().numTensors;
    const cache = createKVCache();
    await runForward(decoder, { ids: new Array<number>(10).fill(3) }, { cache });
    const err = await runForward(decoder, { ids: [1, 2, 3] }, { cache }).catch((e: unknown) => e);
    expect((err as ForwardError).code).toBe('too-long');
    expect((err as Error).message).toMatch(/13 tokens.*holds 12/);
    cache.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
