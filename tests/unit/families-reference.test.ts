/**
 * The Llama, Qwen2, GPT-Neo, BERT and DistilBERT checkpoints of tests/fixtures against the
 * independent float64 reference (reference/naiveFamilies.ts) under what the fixtures do not
 * cover: the interventions (mask toggle, head ablation, positions off), bucket padding, the
 * batch driver, and KV-cache step-through.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kvHeadOf } from '../../src/model/config';
import {
  createKVCache,
  decoderLogits,
  disposeModel,
  runForward,
  type ForwardOptions,
  type HeadRef,
  type Model,
} from '../../src/model/model';
import { parseSafetensors, readFloat32 } from '../../src/model/safetensors';
import { toNested } from '../../src/model/trace';
import { traceToReferenceJson } from '../../src/model/traceJson';
import { readModelDir, useFastestNodeBackend } from '../../scripts/lib/node-model';
import { FIXTURES, maxAbsDiff, readExpected } from './helpers';
import type { Weights } from './reference/naive';
import { familyReferenceForward, type FamilyOptions } from './reference/naiveFamilies';

/** The fixtures' bar: float32 against float64. */
const TOLERANCE = 1e-4;

function readWeights(dir: string): Weights {
  const file = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'model.safetensors'))));
  return Object.fromEntries(
    [...file.entries].map(([name, e]) => [name, { shape: e.shape, data: readFloat32(file, name) }]),
  );
}

interface Variant {
  name: string;
  options: ForwardOptions & FamilyOptions;
}

function variants(stack: 'encoder' | 'decoder', heads: number): Variant[] {
  const ablated: HeadRef[] = [
    { stack, layer: 0, head: 1 },
    ...Array.from({ length: heads }, (_, head) => ({ stack, layer: 1, head })),
  ];
  const mask: Variant =
    stack === 'decoder'
      ? { name: 'causal mask off', options: { causalMask: false } }
      : { name: 'causal mask on (the encoder experiment)', options: { causalEncoder: true } };
  return [
    { name: 'defaults', options: {} },
    mask,
    { name: 'heads ablated (one in layer 0, all of layer 1)', options: { ablatedHeads: ablated } },
    { name: 'positions off', options: { usePositions: false } },
    { name: 'padded to 16', options: { padTo: 16 } },
  ];
}

const measured: string[] = [];

beforeAll(async () => {
  await useFastestNodeBackend();
});

afterAll(() => console.log(`max abs error vs the float64 reference:\n${measured.join('\n')}`));

for (const name of [
  'llama-tiny-a',
  'qwen2-tiny-a',
  'gptneo-tiny-a',
  'bert-tiny-a',
  'distilbert-tiny-a',
]) {
  describe(`${name} against the reference`, () => {
    const dir = join(FIXTURES, name);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    const weights = readWeights(dir);
    const c = readExpected(name).cases[1];
    const input = {
      ids: c.input_ids,
      ...(c.token_type_ids ? { tokenTypeIds: c.token_type_ids as number[] } : {}),
    };
    let model: Model;
    beforeAll(() => {
      model = readModelDir(dir);
    });
    afterAll(() => disposeModel(model));

    it('the reference itself reproduces expected.json (a check of the reference)', () => {
      const ref = familyReferenceForward(config, weights, input);
      expect(maxAbsDiff(ref, c)).toBeLessThanOrEqual(1e-5);
    });

    const stack = String(config.model_type).includes('bert') ? 'encoder' : 'decoder';
    for (const v of variants(
      stack,
      config.num_attention_heads ?? config.n_heads ?? config.num_heads,
    )) {
      it(`${v.name}: every key within ${TOLERANCE}`, async () => {
        const trace = await runForward(model, input, v.options);
        const ours = traceToReferenceJson(trace, model.config);
        const ref = familyReferenceForward(config, weights, input, v.options);
        const err = maxAbsDiff(ours, ref);
        measured.push(`${err.toExponential(2)}  ${name}: ${v.name}`);
        expect(err).toBeLessThanOrEqual(TOLERANCE);
      });
    }

    if (stack === 'decoder') {
      it('the batch driver gives the traced logits', async () => {
        const trace = await runForward(model, input);
        const batch = tf.tidy(() =>
          decoderLogits(
            model,
            tf.tensor2d([input.ids], [1, input.ids.length], 'int32'),
          ).arraySync(),
        );
        const err = maxAbsDiff(batch[0], toNested(trace.decoder!.output!.logits!));
        measured.push(`${err.toExponential(2)}  ${name}: batch driver vs traced`);
        expect(err).toBeLessThanOrEqual(TOLERANCE);
      });

      it('KV-cache step-through (3 tokens, then one at a time) gives the full forward', async () => {
        const full = await runForward(model, input);
        const cache = createKVCache();
        const rows: unknown[] = [];
        try {
          for (let past = 0; past < input.ids.length;) {
            const n = past === 0 ? 3 : 1;
            const step = await runForward(
              model,
              { ids: input.ids.slice(past, past + n) },
              { cache },
            );
            rows.push(...(toNested(step.decoder!.output!.logits!) as unknown[]));
            past += n;
          }
        } finally {
          cache.dispose();
        }
        const err = maxAbsDiff(rows, toNested(full.decoder!.output!.logits!));
        measured.push(`${err.toExponential(2)}  ${name}: KV-cache steps vs full forward`);
        expect(err).toBeLessThanOrEqual(TOLERANCE);
      });
    }
  });
}

describe('grouped-query attention', () => {
  it('query heads that share a key/value head (kvHeadOf) see the same keys: llama-tiny-a', async () => {
    const model = readModelDir(join(FIXTURES, 'llama-tiny-a'));
    try {
      expect([0, 1, 2, 3].map((h) => kvHeadOf(model.config, h))).toEqual([0, 0, 1, 1]);
      const trace = await runForward(model, { ids: [1, 34, 70, 5] }, { captureQKV: true });
      const a = trace.decoder!.layers[0].attentions[0];
      const k = toNested(a.k!) as number[][][];
      const q = toNested(a.q!) as number[][][];
      expect(k[1]).toEqual(k[0]);
      expect(k[3]).toEqual(k[2]);
      expect(maxAbsDiff(k[2], k[0])).toBeGreaterThan(0.01);
      expect(maxAbsDiff(q[1], q[0])).toBeGreaterThan(0.01);
    } finally {
      disposeModel(model);
    }
  });
});
