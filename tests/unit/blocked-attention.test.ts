/**
 * Attention in blocks of queries (src/model/blockedAttention.ts) gives the full attention's
 * numbers: against multiHeadAttention on the fixtures' own weights (causal, local, padded,
 * cross-attention, RoPE with shared key/value heads, a KV cache, gates, patches), block sizes
 * that leave a remainder, and through the batch drivers at lengths of several blocks. It frees
 * every block's tensors.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { multiHeadAttention, type AttentionInputs } from '../../src/model/attention';
import { blockedAttention, QUERY_ROWS, type BlockMask } from '../../src/model/blockedAttention';
import { parseConfig } from '../../src/model/config';
import { initModel } from '../../src/model/init';
import { causalBias, paddingBias, windowedCausalBias } from '../../src/model/masks';
import { decoderLogits, disposeModel, type Model } from '../../src/model/model';
import { ropeFor } from '../../src/model/parts';
import { readModelDir, useFastestNodeBackend } from '../../scripts/lib/node-model';
import { FIXTURES } from './helpers';

const names = ['gpt2-tiny-a', 'gptneo-tiny-a', 'llama-tiny-a', 'marian-tiny-a', 'bert-tiny-a'];
const models = new Map<string, Model>();

beforeAll(async () => {
  await useFastestNodeBackend();
  for (const name of names) models.set(name, readModelDir(join(FIXTURES, name)));
});

afterAll(() => {
  for (const model of models.values()) disposeModel(model);
});

/** Largest |a − b| over two tensors of the same shape. */
function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  expect(a.shape).toEqual(b.shape);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** Random `[B, T, d]` inputs, seeded. */
const inputs = (b: number, t: number, d: number, seed: number) =>
  tf.randomNormal([b, t, d], 0, 1, 'float32', seed);

/**
 * The blocked attention of `model`'s layer against the full one, for every block size in
 * `rowsList`: the largest difference of the outputs (the keys and values must be the same
 * tensors' values exactly).
 */
function compare(
  model: Model,
  layer: number,
  xq: tf.Tensor,
  xkv: tf.Tensor,
  full: AttentionInputs,
  mask: BlockMask,
  rowsList: number[],
  cross = false,
): number {
  const blocks = model.params.decoder?.blocks ?? model.params.encoder!.blocks;
  const p = cross ? blocks[layer].cross! : blocks[layer].attn;
  const { bias, ...rest } = full;
  void bias;
  let worst = 0;
  for (const rows of rowsList) {
    tf.tidy(() => {
      const want = multiHeadAttention(xq, xkv, p, model.config.nHeads, full);
      const got = blockedAttention(xq, xkv, p, model.config.nHeads, { ...rest, mask }, rows);
      expect(got.kv.k.arraySync()).toEqual(want.kv.k.arraySync());
      expect(got.kv.v.arraySync()).toEqual(want.kv.v.arraySync());
      worst = Math.max(worst, maxDiff(got.out, want.out));
    });
  }
  return worst;
}

const ROWS = [1, 5, 8, 32];
const TOLERANCE = 1e-5;

describe('blocked attention equals the full attention', () => {
  it('causal (GPT-2), with a head gated off and a head patched', () => {
    const model = models.get('gpt2-tiny-a')!;
    const t = 29;
    const x = inputs(1, t, model.config.dModel, 1);
    const bias = causalBias(t);
    const h = model.config.nHeads;
    const dh = model.config.dModel / h;
    const gate = tf.tensor([1, 0, 1, 1].slice(0, h), [1, h, 1, 1]);
    const patch = {
      heads: tf.randomNormal([1, h, t, dh], 0, 1, 'float32', 2),
      where: tf.tensor([0, 0, 1, 0].slice(0, h), [1, h, 1, 1]),
    };
    const causal: BlockMask = { causal: true, window: null };
    expect(compare(model, 0, x, x, { bias }, causal, ROWS)).toBeLessThan(TOLERANCE);
    expect(compare(model, 1, x, x, { bias, gate, patch }, causal, ROWS)).toBeLessThan(TOLERANCE);
    tf.dispose([x, bias, gate, patch.heads, patch.where]);
  });

  it('a local layer (GPT-Neo, window 4) skips the keys outside the window', () => {
    const model = models.get('gptneo-tiny-a')!;
    const window = model.config.attentionWindows!.find((w) => w !== null)!;
    const layer = model.config.attentionWindows!.indexOf(window);
    const t = 27;
    const x = inputs(2, t, model.config.dModel, 3);
    const bias = windowedCausalBias(t, window);
    const mask: BlockMask = { causal: true, window };
    expect(compare(model, layer, x, x, { bias, unscaled: true }, mask, ROWS)).toBeLessThan(
      TOLERANCE,
    );
    tf.dispose([x, bias]);
  });

  it('RoPE with shared key/value heads (Llama), and queries after a KV cache', () => {
    const model = models.get('llama-tiny-a')!;
    const [past, t] = [11, 13];
    const x = inputs(1, t, model.config.dModel, 4);
    const rope = ropeFor(model, t, past, true)!;
    const kvHeads = model.params.decoder!.blocks[0].attn.k.w.shape[1] / 10; // head_dim 10
    const cache = {
      k: tf.randomNormal([1, kvHeads, past, 10], 0, 1, 'float32', 5),
      v: tf.randomNormal([1, kvHeads, past, 10], 0, 1, 'float32', 6),
    };
    // The traced driver's mask of t queries after `past` cached keys: the last t rows of [T, T].
    const bias = tf.slice(causalBias(past + t), [0, 0, past, 0], [1, 1, t, past + t]);
    const io = { bias, rope, past: cache };
    const causal: BlockMask = { causal: true, window: null };
    expect(compare(model, 1, x, x, io, causal, ROWS)).toBeLessThan(TOLERANCE);
    tf.dispose([x, bias, cache.k, cache.v]);
  });

  it('padding masks (BERT) and cross-attention over a padded source (Marian)', () => {
    const bert = models.get('bert-tiny-a')!;
    const ids = tf.tensor2d(
      [Array.from({ length: 19 }, (_, i) => 3 + i), [...Array(14).fill(5), 0, 0, 0, 0, 0]],
      undefined,
      'int32',
    );
    const x = inputs(2, 19, bert.config.dModel, 7);
    const pad = paddingBias(ids, 0);
    expect(compare(bert, 0, x, x, { bias: pad }, { bias: pad }, ROWS)).toBeLessThan(TOLERANCE);
    const marian = models.get('marian-tiny-a')!;
    const target = inputs(2, 9, marian.config.dModel, 8);
    const memory = inputs(2, 19, marian.config.dModel, 9);
    expect(
      compare(marian, 0, target, memory, { bias: pad }, { bias: pad }, [2, 4], true),
    ).toBeLessThan(TOLERANCE);
    // A bias with one row per query is sliced block by block.
    const rowsBias = tf.tile(pad, [1, 1, 9, 1]);
    expect(
      compare(marian, 0, target, memory, { bias: rowsBias }, { bias: rowsBias }, [2, 4], true),
    ).toBeLessThan(TOLERANCE);
    tf.dispose([ids, x, pad, target, memory, rowsBias]);
  });

  it('frees each block before the next: what stays does not grow with the number of blocks', () => {
    const model = models.get('gpt2-tiny-a')!;
    const x = inputs(1, 21, model.config.dModel, 10);
    const p = model.params.decoder!.blocks[0].attn;
    const mask: BlockMask = { causal: true, window: null };
    const left = (rows: number) => {
      const before = tf.memory().numTensors;
      const r = blockedAttention(x, x, p, model.config.nHeads, { mask }, rows);
      const after = tf.memory().numTensors;
      tf.dispose([r.out, r.kv.k, r.kv.v]);
      return after - before;
    };
    // The projections and head splits stay for the caller's tidy, as multiHeadAttention's do;
    // the 21 blocks of one query leave no more than one block of 21.
    const oneBlock = tf.tidy(() => left(21));
    expect(tf.tidy(() => left(1))).toBe(oneBlock);
    expect(tf.tidy(() => left(4))).toBe(oneBlock);
    x.dispose();
  });
});

describe('the batch drivers at several blocks of queries', () => {
  // The fixtures' architectures with a context of a few blocks, random weights.
  const config = (name: string) => ({
    ...(JSON.parse(readFileSync(join(FIXTURES, name, 'config.json'), 'utf8')) as object),
    max_position_embeddings: 2 * QUERY_ROWS + 37,
    n_positions: 2 * QUERY_ROWS + 37,
  });

  it.each(['gpt2-tiny-a', 'gptneo-tiny-a', 'llama-tiny-a'])(
    '%s: decoderLogits(…, "last") (blocked) is the last row of "all" (full attention)',
    (name) => {
      const model = initModel(parseConfig(config(name)), 11);
      const t = 2 * QUERY_ROWS + 37;
      const vocab = model.config.vocabSize;
      const ids = tf.tensor2d(
        [Array.from({ length: t }, (_, i) => (i * 7) % vocab)],
        [1, t],
        'int32',
      );
      const before = tf.memory().numTensors;
      const last = tf.tidy(() => decoderLogits(model, ids, 'last'));
      expect(tf.memory().numTensors).toBe(before + 1);
      const all = decoderLogits(model, ids);
      const want = tf.slice(all, [0, t - 1, 0], [1, 1, vocab]);
      const scale = tf.max(tf.abs(want)).dataSync()[0];
      expect(maxDiff(last, want)).toBeLessThan(1e-5 * Math.max(1, scale));
      tf.dispose([ids, last, all, want]);
      disposeModel(model);
    },
  );
});
