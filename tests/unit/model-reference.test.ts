/**
 * The model core against the independent float64 reference (tests/unit/reference/naive.ts) on
 * random checkpoints of the project's own format: every configuration the fixtures do not
 * reach, every trace quantity, and the drivers that must agree with the traced forward
 * (batched training logits, bucket padding, KV-cache step-through).
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createKVCache,
  decoderLogits,
  disposeModel,
  encoderDecoderLogits,
  runForward,
  type ForwardInput,
  type ForwardOptions,
  type HeadRef,
  type Model,
} from '../../src/model/model';
import { toNested, type Trace } from '../../src/model/trace';
import { useFastestNodeBackend } from '../../scripts/lib/node-model';
import {
  errorsAgainstReference,
  relativeErrors,
  traceToComparable,
  worst,
} from './reference/compare';
import { referenceForward } from './reference/naive';
import {
  labConfig,
  randomModel,
  SeededRandom,
  type LabConfig,
  type RandomModel,
} from './reference/random-model';

/** max|a − b| / max(1, max|b|) per tensor (see relativeErrors). */
const TOLERANCE = 1e-5;

/** Worst error per configuration and option set, printed at the end for the record. */
const measured: Record<string, { path: string; error: number }> = {};

beforeAll(async () => {
  await useFastestNodeBackend();
});

afterAll(() => {
  const rows = Object.entries(measured).map(
    ([name, w]) => `${w.error.toExponential(2)}  ${name}  (worst: ${w.path})`,
  );
  console.log(`max relative error per configuration:\n${rows.join('\n')}`);
});

function all(stack: 'encoder' | 'decoder', layer: number, heads: number): HeadRef[] {
  return Array.from({ length: heads }, (_, head) => ({ stack, layer, head }));
}

interface Variant {
  name: string;
  options: ForwardOptions;
}

interface ConfigCase {
  name: string;
  config: LabConfig;
  variants: Variant[];
}

const DECODER_VARIANTS: Variant[] = [
  { name: 'defaults', options: {} },
  { name: 'causal mask off', options: { causalMask: false } },
  {
    name: 'heads ablated (one in layer 0, all of layer 1), q/k/v captured',
    options: {
      ablatedHeads: [{ stack: 'decoder', layer: 0, head: 1 }, ...all('decoder', 1, 4)],
      captureQKV: true,
    },
  },
  { name: 'positions off', options: { usePositions: false } },
];

const CASES: ConfigCase[] = [
  {
    name: 'post-norm decoder-only, learned positions, gelu_new, untied head',
    config: labConfig({
      norm_placement: 'post',
      final_layer_norm: false,
      tie_word_embeddings: false,
    }),
    variants: DECODER_VARIANTS,
  },
  {
    name: 'pre-norm decoder-only, sinusoidal (interleaved), gelu',
    config: labConfig({ position_embedding: 'sinusoidal', activation_function: 'gelu' }),
    variants: DECODER_VARIANTS,
  },
  {
    name: 'post-norm decoder-only, sinusoidal-split, relu, scaled embedding',
    config: labConfig({
      norm_placement: 'post',
      final_layer_norm: false,
      position_embedding: 'sinusoidal-split',
      activation_function: 'relu',
      scale_embedding: true,
    }),
    variants: DECODER_VARIANTS,
  },
  {
    name: 'pre-norm decoder-only, no positions, swish, 3 layers',
    config: labConfig({ position_embedding: 'none', activation_function: 'swish', n_layer: 3 }),
    variants: DECODER_VARIANTS.slice(0, 3),
  },
  {
    name: 'encoder-only, post-norm with final norm, learned positions',
    config: labConfig({
      architecture: 'encoder-only',
      norm_placement: 'post',
      final_layer_norm: true,
      pad_token_id: 0,
    }),
    variants: [
      { name: 'defaults (no mask)', options: {} },
      {
        name: 'heads ablated, q/k/v captured',
        options: {
          ablatedHeads: [{ stack: 'encoder', layer: 1, head: 2 }, ...all('encoder', 0, 4)],
          captureQKV: true,
        },
      },
    ],
  },
  {
    name: 'attention-only without biases, pre-norm, 2 heads',
    config: labConfig({ attention_only: true, attention_bias: false, n_head: 2 }),
    variants: [
      { name: 'defaults', options: { captureQKV: true } },
      {
        name: 'head 0 of layer 1 ablated',
        options: { ablatedHeads: [{ stack: 'decoder', layer: 1, head: 0 }] },
      },
    ],
  },
  {
    name: 'encoder–decoder pre-norm, cross-attention, sinusoidal, gelu, 3+2 layers',
    config: labConfig({
      architecture: 'encoder-decoder',
      n_encoder_layer: 3,
      n_layer: 2,
      position_embedding: 'sinusoidal',
      activation_function: 'gelu',
      pad_token_id: 0,
    }),
    variants: [
      { name: 'defaults, q/k/v captured', options: { captureQKV: true } },
      {
        name: 'encoder, self and cross heads ablated (all cross heads of layer 1)',
        options: {
          ablatedHeads: [
            { stack: 'encoder', layer: 2, head: 0 },
            { stack: 'decoder', layer: 0, head: 3 },
            ...all('decoder', 1, 4).map((h) => ({ ...h, attention: 'cross' as const })),
          ],
          captureQKV: true,
        },
      },
      { name: 'causal mask off', options: { causalMask: false } },
    ],
  },
  {
    name: 'encoder–decoder post-norm, sinusoidal-split, swish, scaled embedding (Marian-like)',
    config: labConfig({
      architecture: 'encoder-decoder',
      n_encoder_layer: 2,
      n_layer: 2,
      norm_placement: 'post',
      final_layer_norm: false,
      position_embedding: 'sinusoidal-split',
      activation_function: 'swish',
      scale_embedding: true,
      pad_token_id: 0,
    }),
    variants: [
      { name: 'defaults', options: {} },
      { name: 'positions off', options: { usePositions: false } },
    ],
  },
];

/** Token ids avoid 0, the pad id of the configs that have one. */
function inputFor(c: LabConfig, rng: SeededRandom, length = 7): ForwardInput {
  const vocab = c.vocab_size as number;
  return c.architecture === 'encoder-decoder'
    ? { ids: rng.ids(length, 1, vocab), sourceIds: rng.ids(5, 1, vocab) }
    : { ids: rng.ids(length, 1, vocab) };
}

/** Trace vs reference, tensor by tensor; the worst error is recorded under `label`. */
function compareWithReference(
  label: string,
  m: RandomModel,
  input: ForwardInput,
  options: ForwardOptions,
  trace: Trace,
): void {
  const errors = errorsAgainstReference(m, input, options, trace);
  measured[label] = worst(errors);
  for (const [path, err] of Object.entries(errors))
    expect(err, path).toBeLessThanOrEqual(TOLERANCE);
}

CASES.forEach((c, index) => {
  describe(c.name, () => {
    let m: RandomModel;
    const rng = new SeededRandom(1000 + index);
    beforeAll(() => {
      m = randomModel(c.config, 17 + index);
    });
    afterAll(() => disposeModel(m.model));

    for (const v of c.variants) {
      it(`matches the float64 reference within ${TOLERANCE}: ${v.name}`, async () => {
        const input = inputFor(c.config, rng);
        const trace = await runForward(m.model, input, v.options);
        compareWithReference(`${c.name} / ${v.name}`, m, input, v.options, trace);
      });
    }

    it('matches the reference over the whole context', async () => {
      const input = inputFor(c.config, rng, c.config.n_positions as number);
      const trace = await runForward(m.model, input);
      compareWithReference(`${c.name} / full context`, m, input, {}, trace);
    });

    it('gives the same trace with bucket padding (padTo)', async () => {
      const input = inputFor(c.config, rng, 5);
      const plain = traceToComparable(
        await runForward(m.model, input, { captureQKV: true }),
        m.model.config,
      );
      const padded = traceToComparable(
        await runForward(m.model, input, { captureQKV: true, padTo: 12 }),
        m.model.config,
      );
      const w = worst(relativeErrors(padded, plain));
      measured[`${c.name} / padTo 12 vs unpadded`] = w;
      expect(w.error, w.path).toBeLessThanOrEqual(1e-6);
    });
  });
});

/** Logits of a traced forward as nested rows. */
async function tracedLogits(model: Model, input: ForwardInput): Promise<number[][]> {
  const trace = await runForward(model, input);
  return toNested((trace.decoder ?? trace.encoder)!.output!.logits!) as number[][];
}

describe('batched training drivers agree with the traced forward', () => {
  const rng = new SeededRandom(7);

  it('decoderLogits, B = 2, decoder-only', async () => {
    const m = randomModel(CASES[1].config, 71);
    try {
      const a = rng.ids(6, 1, 29);
      const b = rng.ids(6, 1, 29);
      const batch = tf.tidy(() =>
        decoderLogits(m.model, tf.tensor2d([a, b], [2, 6], 'int32')).arraySync(),
      );
      for (const [i, ids] of [a, b].entries()) {
        const err = worst(relativeErrors(batch[i], await tracedLogits(m.model, { ids })));
        measured[`decoderLogits B=2 row ${i} vs runForward`] = err;
        expect(err.error).toBeLessThanOrEqual(TOLERANCE);
        const ref = referenceForward(m.config, m.weights, { ids });
        expect(worst(relativeErrors(batch[i], ref.logits)).error).toBeLessThanOrEqual(TOLERANCE);
      }
    } finally {
      disposeModel(m.model);
    }
  });

  it('decoderLogits, B = 2, encoder-only with a padded row (pad keys masked)', async () => {
    const m = randomModel(CASES[4].config, 72);
    try {
      const a = rng.ids(6, 1, 29);
      const b = rng.ids(4, 1, 29);
      const batch = tf.tidy(() =>
        decoderLogits(m.model, tf.tensor2d([a, [...b, 0, 0]], [2, 6], 'int32')).arraySync(),
      );
      const errA = worst(relativeErrors(batch[0], await tracedLogits(m.model, { ids: a })));
      const errB = worst(
        relativeErrors(batch[1].slice(0, 4), await tracedLogits(m.model, { ids: b })),
      );
      measured['decoderLogits B=2 encoder-only, full row'] = errA;
      measured['decoderLogits B=2 encoder-only, padded row'] = errB;
      expect(errA.error).toBeLessThanOrEqual(TOLERANCE);
      expect(errB.error).toBeLessThanOrEqual(TOLERANCE);
    } finally {
      disposeModel(m.model);
    }
  });

  it('encoderDecoderLogits, B = 2, one source padded', async () => {
    const m = randomModel(CASES[6].config, 73);
    try {
      const src = [rng.ids(5, 1, 29), rng.ids(3, 1, 29)];
      const tgt = [rng.ids(4, 1, 29), rng.ids(4, 1, 29)];
      const batch = tf.tidy(() =>
        encoderDecoderLogits(
          m.model,
          tf.tensor2d([src[0], [...src[1], 0, 0]], [2, 5], 'int32'),
          tf.tensor2d(tgt, [2, 4], 'int32'),
        ).arraySync(),
      );
      for (let i = 0; i < 2; i++) {
        const input = { ids: tgt[i], sourceIds: src[i] };
        const err = worst(relativeErrors(batch[i], await tracedLogits(m.model, input)));
        measured[`encoderDecoderLogits B=2 row ${i} vs runForward`] = err;
        expect(err.error).toBeLessThanOrEqual(TOLERANCE);
        const ref = referenceForward(m.config, m.weights, input);
        expect(worst(relativeErrors(batch[i], ref.logits)).error).toBeLessThanOrEqual(TOLERANCE);
      }
    } finally {
      disposeModel(m.model);
    }
  });
});

describe('logits option', () => {
  it("'last' gives the last row of 'all', 'none' gives none", async () => {
    const m = randomModel(CASES[0].config, 74);
    try {
      const ids = new SeededRandom(8).ids(6, 1, 29);
      const full = (await runForward(m.model, { ids })).decoder!.output!;
      const last = (await runForward(m.model, { ids }, { logits: 'last' })).decoder!.output!;
      const none = (await runForward(m.model, { ids }, { logits: 'none' })).decoder!.output!;
      expect(last.logitPositions).toEqual([5]);
      expect(last.logits!.shape).toEqual([1, 29]);
      expect(Array.from(last.logits!.data)).toEqual(Array.from(full.logits!.data.slice(5 * 29)));
      expect(none.logits).toBeUndefined();
      expect(none.logitPositions).toEqual([]);
    } finally {
      disposeModel(m.model);
    }
  });
});

describe('KV-cache step-through equals the full forward', () => {
  /** Rows `from…from+n−1` of each head of `[heads, T, T]`, keys cut to `keys`. */
  const headRows = (m: number[][][], from: number, n: number, keys: number) =>
    m.map((h) => h.slice(from, from + n).map((r) => r.slice(0, keys)));

  async function stepThrough(
    m: RandomModel,
    input: ForwardInput,
    steps: number[],
  ): Promise<number> {
    const full = (await runForward(m.model, input)).decoder!;
    const cache = createKVCache();
    let worstError = 0;
    try {
      let past = 0;
      for (const n of steps) {
        const ids = input.ids.slice(past, past + n);
        const step = (
          await runForward(m.model, past === 0 ? { ...input, ids } : { ids }, { cache })
        ).decoder!;
        expect(step.output!.logitPositions).toEqual(ids.map((_, i) => past + i));
        const actual: Record<string, unknown> = {
          logits: toNested(step.output!.logits!),
          hidden: toNested(step.output!.hidden),
        };
        const expected: Record<string, unknown> = {
          logits: (toNested(full.output!.logits!) as number[][]).slice(past, past + n),
          hidden: (toNested(full.output!.hidden) as number[][]).slice(past, past + n),
        };
        step.layers.forEach((l, i) =>
          l.attentions.forEach((a, k) => {
            const keys = a.kind === 'self' ? past + n : a.probs.shape[2];
            const fullProbs = toNested(full.layers[i].attentions[k].probs) as number[][][];
            actual[`${i}.${a.kind}`] = toNested(a.probs);
            expected[`${i}.${a.kind}`] = headRows(fullProbs, past, n, keys);
          }),
        );
        worstError = Math.max(worstError, worst(relativeErrors(actual, expected)).error);
        past += n;
      }
      expect(cache.length).toBe(input.ids.length);
    } finally {
      cache.dispose();
    }
    return worstError;
  }

  const cases: [string, number, number[]][] = [
    ['decoder-only, learned positions', 0, [1, 1, 1, 1, 1, 1, 1]],
    ['decoder-only, sinusoidal, a 3-token prompt then one at a time', 1, [3, 1, 1, 1, 1]],
    ['decoder-only, sinusoidal-split', 2, [2, 1, 1, 1, 1, 1]],
    ['encoder–decoder (encoder output cached)', 6, [1, 1, 1, 1, 1, 1, 1]],
  ];
  for (const [name, caseIndex, steps] of cases) {
    it(name, async () => {
      const c = CASES[caseIndex].config;
      const m = randomModel(c, 80 + caseIndex);
      try {
        const input = inputFor(c, new SeededRandom(9 + caseIndex));
        const err = await stepThrough(m, input, steps);
        measured[`KV cache ${name}: steps vs full forward`] = { path: 'all rows', error: err };
        expect(err).toBeLessThanOrEqual(TOLERANCE);
      } finally {
        disposeModel(m.model);
      }
    });
  }
});

describe('the comparison tells a wrong model apart', () => {
  /** Trace of config `c`, compared with the reference of a config or options changed in one point. */
  const mutations: [string, number, LabConfig, ForwardOptions, ForwardOptions][] = [
    ['split vs interleaved sinusoids', 2, { position_embedding: 'sinusoidal' }, {}, {}],
    ['gelu vs its tanh approximation', 1, { activation_function: 'gelu_new' }, {}, {}],
    ['post-norm vs pre-norm', 0, { norm_placement: 'pre' }, {}, {}],
    ['embeddings scaled by √d or not', 2, { scale_embedding: false }, {}, {}],
    ['swish vs relu', 3, { activation_function: 'relu' }, {}, {}],
    ['layer-norm ε 1e−5 vs 1e−2', 0, { layer_norm_epsilon: 1e-2 }, {}, {}],
    ['causal mask on vs off', 0, {}, {}, { causalMask: false }],
    [
      'one head ablated vs none',
      5,
      {},
      { ablatedHeads: [{ stack: 'decoder', layer: 1, head: 1 }] },
      {},
    ],
    [
      'one cross head ablated vs none',
      6,
      {},
      { ablatedHeads: [{ stack: 'decoder', layer: 1, head: 1, attention: 'cross' }] },
      {},
    ],
  ];
  for (const [name, caseIndex, changed, traceOptions, referenceOptions] of mutations) {
    it(name, async () => {
      const c = CASES[caseIndex].config;
      const m = randomModel(c, 90 + caseIndex);
      try {
        const input = inputFor(c, new SeededRandom(5));
        const trace = await runForward(m.model, input, traceOptions);
        const expected = referenceForward({ ...c, ...changed }, m.weights, input, referenceOptions);
        const w = worst(relativeErrors(traceToComparable(trace, m.model.config), expected));
        measured[`mutation detected: ${name}`] = w;
        expect(w.error).toBeGreaterThan(10 * TOLERANCE);
      } finally {
        disposeModel(m.model);
      }
    });
  }
});
