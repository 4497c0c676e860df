/**
 * Regression tests for faults the reference and property tests found in src/model: large
 * vocabularies, tensors left behind when a trace consumer throws, a KV cache left half-updated
 * by a cancelled step, and ConfigError's missing `code`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../src/model/checkpoint';
import { ConfigError } from '../../src/model/config';
import {
  createKVCache,
  decoderLogits,
  disposeModel,
  ForwardError,
  runForward,
  type ForwardInput,
} from '../../src/model/model';
import { writeSafetensors } from '../../src/model/safetensors';
import { toNested, type TraceChunk } from '../../src/model/trace';
import { useFastestNodeBackend } from '../../scripts/lib/node-model';
import { errorsAgainstReference, relativeErrors, worst } from './reference/compare';
import { labConfig, randomModel, type RandomModel } from './reference/random-model';

const TOLERANCE = 1e-5;

beforeAll(async () => {
  await useFastestNodeBackend();
});

describe('vocabularies larger than one embedding chunk (EMBEDDING_CHUNK_ROWS = 4096)', () => {
  for (const tied of [true, false]) {
    it(`ids on both sides of the chunk border match the reference, ${tied ? 'tied' : 'untied'} head`, async () => {
      const config = labConfig({
        vocab_size: 4100,
        n_embd: 8,
        n_head: 2,
        n_inner: 16,
        tie_word_embeddings: tied,
      });
      const m = randomModel(config, tied ? 31 : 32);
      try {
        const input = { ids: [4099, 4095, 4096, 3, 4097, 0] };
        const trace = await runForward(m.model, input, { captureQKV: true });
        const w = worst(errorsAgainstReference(m, input, { captureQKV: true }, trace));
        expect(w.error, w.path).toBeLessThanOrEqual(TOLERANCE);
        const batch = tf.tidy(() =>
          decoderLogits(m.model, tf.tensor2d([input.ids], [1, 6], 'int32')).arraySync(),
        );
        const err = worst(relativeErrors(batch[0], toNested(trace.decoder!.output!.logits!)));
        expect(err.error).toBeLessThanOrEqual(TOLERANCE);
      } finally {
        disposeModel(m.model);
      }
    });
  }
});

describe('a trace consumer that throws', () => {
  let decoder: RandomModel;
  let encDec: RandomModel;
  beforeAll(() => {
    decoder = randomModel(labConfig(), 41);
    encDec = randomModel(labConfig({ architecture: 'encoder-decoder', n_encoder_layer: 2 }), 42);
  });
  afterAll(() => {
    disposeModel(decoder.model);
    disposeModel(encDec.model);
  });

  const cases: [string, () => RandomModel, ForwardInput][] = [
    ['decoder-only', () => decoder, { ids: [1, 2, 3] }],
    ['encoder–decoder', () => encDec, { ids: [1, 2, 3], sourceIds: [4, 5] }],
  ];
  for (const [name, model, input] of cases) {
    for (const [kind, stack] of [
      ['embedding', 'encoder'],
      ['embedding', 'decoder'],
      ['layer', 'decoder'],
      ['output', 'encoder'],
      ['output', 'decoder'],
    ] as const) {
      if (stack === 'encoder' && name === 'decoder-only') continue;
      it(`leaves no tensor behind when it throws on the ${stack} ${kind} chunk (${name})`, async () => {
        const before = tf.memory().numTensors;
        const err = await runForward(model().model, input, {}, (c: TraceChunk) => {
          if (c.type === kind && c.stack === stack) throw new Error('consumer gone');
        }).catch((e: unknown) => e);
        expect((err as Error).message).toBe('consumer gone');
        expect(tf.memory().numTensors).toBe(before);
      });
    }
  }
});

describe('a cached step that fails leaves the cache as it was', () => {
  it('cancelled after one layer, the same step can be run again and equals the full forward', async () => {
    const m = randomModel(labConfig({ n_layer: 3 }), 43);
    const cache = createKVCache();
    try {
      const ids = [5, 7, 11, 13];
      const full = (await runForward(m.model, { ids })).decoder!.output!.logits!;
      await runForward(m.model, { ids: ids.slice(0, 3) }, { cache });
      let calls = 0;
      const err = await runForward(
        m.model,
        { ids: [ids[3]] },
        { cache, shouldStop: () => ++calls > 1 },
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ForwardError);
      expect((err as ForwardError).code).toBe('cancelled');
      expect(cache.length).toBe(3);
      expect(cache.layers.map((l) => l.k.shape[2])).toEqual([3, 3, 3]);
      const retry = (await runForward(m.model, { ids: [ids[3]] }, { cache })).decoder!.output!
        .logits!;
      const expected = (toNested(full) as number[][]).slice(3);
      expect(worst(relativeErrors(toNested(retry), expected)).error).toBeLessThanOrEqual(TOLERANCE);
    } finally {
      cache.dispose();
      disposeModel(m.model);
    }
  });
});

describe('ConfigError', () => {
  it('has a `code`, as docs/model-format.md promises for every load failure', () => {
    for (const config of [null, { model_type: 'bert' }, { ...labConfig(), n_head: 5 }]) {
      let err: unknown;
      try {
        loadCheckpoint(config, writeSafetensors({}));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as { code?: unknown }).code, (err as Error).message).toEqual(expect.any(String));
    }
  });
});
