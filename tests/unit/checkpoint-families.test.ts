/**
 * Which tensors a family's file may omit: a tied head is read from the embeddings whether or not
 * the file also stores it, an untied one must be stored (and is then used); names load with or
 * without the family's prefix; BERT's older `gamma`/`beta` LayerNorm names load too.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, loadCheckpoint } from '../../src/model/checkpoint';
import { disposeModel, runForward } from '../../src/model/model';
import { parseSafetensors, readFloat32, writeSafetensors } from '../../src/model/safetensors';
import { toNested } from '../../src/model/trace';
import { useFastestNodeBackend } from '../../scripts/lib/node-model';
import { FIXTURES, maxAbsDiff, readExpected } from './helpers';

type Tensors = Record<string, { shape: number[]; data: Float32Array }>;

beforeAll(async () => {
  await useFastestNodeBackend();
});

function fixture(name: string): { config: Record<string, unknown>; tensors: Tensors } {
  const dir = join(FIXTURES, name);
  const file = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'model.safetensors'))));
  return {
    config: JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')),
    tensors: Object.fromEntries(
      [...file.entries].map(([n, e]) => [n, { shape: e.shape, data: readFloat32(file, n) }]),
    ),
  };
}

/** Logits of the fixture's first case through a file made of `tensors`. */
async function logits(
  name: string,
  config: Record<string, unknown>,
  tensors: Tensors,
): Promise<number[][]> {
  const model = loadCheckpoint(config, writeSafetensors(tensors));
  try {
    const c = readExpected(name).cases[0];
    const types = c.token_type_ids as number[] | undefined;
    const trace = await runForward(model, {
      ids: c.input_ids,
      ...(types ? { tokenTypeIds: types } : {}),
    });
    const st = trace.decoder ?? trace.encoder;
    return toNested(st!.output!.logits!) as number[][];
  } finally {
    disposeModel(model);
  }
}

function loadError(config: unknown, tensors: Tensors): CheckpointError {
  const before = tf.memory().numTensors;
  try {
    disposeModel(loadCheckpoint(config, writeSafetensors(tensors)));
  } catch (e) {
    expect(tf.memory().numTensors).toBe(before);
    return e as CheckpointError;
  }
  throw new Error('the checkpoint was accepted');
}

const scaled = (t: { shape: number[]; data: Float32Array }, k: number) => ({
  shape: t.shape,
  data: t.data.map((v) => v * k),
});

/** [fixture, its head tensor, the embedding it is tied to] */
const HEADS: [string, string, string][] = [
  ['llama-tiny-a', 'lm_head.weight', 'model.embed_tokens.weight'],
  ['qwen2-tiny-a', 'lm_head.weight', 'model.embed_tokens.weight'],
  ['gptneo-tiny-a', 'lm_head.weight', 'transformer.wte.weight'],
  ['bert-tiny-a', 'cls.predictions.decoder.weight', 'bert.embeddings.word_embeddings.weight'],
  ['distilbert-tiny-a', 'vocab_projector.weight', 'distilbert.embeddings.word_embeddings.weight'],
];

describe('tied and untied heads', () => {
  for (const [name, head, embedding] of HEADS) {
    const { config, tensors } = fixture(name);
    const untied = config.tie_word_embeddings === false;

    it(`${name}: as stored (${untied ? 'untied, head stored' : 'tied, head not stored'})`, () => {
      expect(head in tensors).toBe(untied);
    });

    it(`${name}: tied, the head read from the embeddings whether the file holds a copy or not`, async () => {
      const tied = { ...config, tie_word_embeddings: true };
      const bare = { ...tensors };
      delete bare[head];
      const withCopy = { ...bare, [head]: tensors[embedding] };
      // A stored head that differs from the embeddings is ignored, as transformers ties it.
      const withOther = { ...bare, [head]: scaled(tensors[embedding], 3) };
      const a = await logits(name, tied, bare);
      expect(await logits(name, tied, withCopy)).toEqual(a);
      expect(await logits(name, tied, withOther)).toEqual(a);
    });

    it(`${name}: untied, a missing head is refused by name`, () => {
      const bare = { ...tensors };
      delete bare[head];
      const e = loadError({ ...config, tie_word_embeddings: false }, bare);
      expect(e).toBeInstanceOf(CheckpointError);
      expect(e.code).toBe('missing-tensor');
      expect(e.message).toContain(head.replace(/^(model|transformer)\./, ''));
    });

    it(`${name}: untied, the stored head is the one used`, async () => {
      const untiedConfig = { ...config, tie_word_embeddings: false };
      const base = { ...tensors, [head]: tensors[head] ?? tensors[embedding] };
      const doubled = { ...base, [head]: scaled(base[head], 2) };
      const a = await logits(name, untiedConfig, base);
      const b = await logits(name, untiedConfig, doubled);
      expect(maxAbsDiff(b, a)).toBeGreaterThan(0.1);
      if (name.includes('bert')) return; // the MLM head adds a bias after the projection
      expect(
        maxAbsDiff(
          b,
          a.map((r) => r.map((v) => 2 * v)),
        ),
      ).toBeLessThan(1e-4);
    });
  }
});

describe('tensor names', () => {
  for (const [name, prefix] of [
    ['llama-tiny-a', 'model.'],
    ['qwen2-tiny-a', 'model.'],
    ['gptneo-tiny-a', 'transformer.'],
    ['bert-tiny-a', 'bert.'],
    ['distilbert-tiny-a', 'distilbert.'],
  ]) {
    it(`${name}: the same model without the "${prefix}" prefix`, async () => {
      const { config, tensors } = fixture(name);
      const stripped = Object.fromEntries(
        Object.entries(tensors).map(([n, t]) => [
          n.startsWith(prefix) ? n.slice(prefix.length) : n,
          t,
        ]),
      );
      expect(await logits(name, config, stripped)).toEqual(await logits(name, config, tensors));
    });
  }

  it('bert-tiny-a: LayerNorm.gamma / LayerNorm.beta, as older BERT files name them', async () => {
    const { config, tensors } = fixture('bert-tiny-a');
    const legacy = Object.fromEntries(
      Object.entries(tensors).map(([n, t]) => [
        n
          .replace(/LayerNorm\.weight$/, 'LayerNorm.gamma')
          .replace(/LayerNorm\.bias$/, 'LayerNorm.beta'),
        t,
      ]),
    );
    expect(Object.keys(legacy).some((n) => n.endsWith('.gamma'))).toBe(true);
    expect(await logits('bert-tiny-a', config, legacy)).toEqual(
      await logits('bert-tiny-a', config, tensors),
    );
  });

  it('bert-tiny-a: the decoder bias under its older name cls.predictions.decoder.bias', async () => {
    const { config, tensors } = fixture('bert-tiny-a');
    const older: Tensors = {
      ...tensors,
      'cls.predictions.decoder.bias': tensors['cls.predictions.bias'],
    };
    delete older['cls.predictions.bias'];
    expect(await logits('bert-tiny-a', config, older)).toEqual(
      await logits('bert-tiny-a', config, tensors),
    );
  });

  it('a k_proj of the wrong width for num_key_value_heads is refused by shape', () => {
    const { config, tensors } = fixture('llama-tiny-a');
    const e = loadError({ ...config, num_key_value_heads: 4 }, tensors);
    expect(e.code).toBe('shape-mismatch');
    expect(e.message).toContain('k_proj');
  });
});
