/**
 * The KV cache of grouped-query models (llama-tiny-a: 4 query heads, 2 key/value heads;
 * qwen2-tiny-a: 4 and 1) keeps one key/value row per KV head, repeated for the query heads only
 * inside attention, and greedy generation through it gives what uncached forwards of the longer
 * inputs give.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kvHeadCount } from '../../src/model/config';
import { createKVCache, disposeModel, runForward, type Model } from '../../src/model/model';
import { toNested } from '../../src/model/trace';
import { readModelDir, useFastestNodeBackend } from '../../scripts/lib/node-model';
import { FIXTURES, maxAbsDiff, readExpected } from './helpers';

const TOLERANCE = 1e-4;
/** Tokens generated after the prompt. */
const STEPS = 4;

beforeAll(async () => {
  await useFastestNodeBackend();
});

function argmax(row: number[]): number {
  return row.reduce((best, x, i) => (x > row[best] ? i : best), 0);
}

/** The logits row of the last position of a decoder trace. */
function lastRow(trace: Awaited<ReturnType<typeof runForward>>): number[] {
  const rows = toNested(trace.decoder!.output!.logits!) as number[][];
  return rows[rows.length - 1];
}

for (const name of ['llama-tiny-a', 'qwen2-tiny-a']) {
  describe(`${name}: the KV cache`, () => {
    let model: Model;
    beforeAll(() => {
      model = readModelDir(join(FIXTURES, name));
    });
    afterAll(() => disposeModel(model));

    it('holds [1, n_kv, T, head_dim] keys and values per layer, fewer heads than queries', async () => {
      const cfg = model.config;
      const kvHeads = kvHeadCount(cfg);
      expect(kvHeads).toBeLessThan(cfg.nHeads);
      const headDim = cfg.dModel / cfg.nHeads;
      const cache = createKVCache();
      try {
        const ids = readExpected(name).cases[0].input_ids;
        await runForward(model, { ids: ids.slice(0, 4) }, { cache });
        await runForward(model, { ids: ids.slice(4, 5) }, { cache });
        expect(cache.length).toBe(5);
        expect(cache.layers).toHaveLength(cfg.nLayers);
        for (const { k, v } of cache.layers) {
          expect(k.shape).toEqual([1, kvHeads, 5, headDim]);
          expect(v.shape).toEqual([1, kvHeads, 5, headDim]);
        }
      } finally {
        cache.dispose();
      }
    });

    it(`greedy generation of ${STEPS} tokens with the cache equals uncached forwards`, async () => {
      const prompt = readExpected(name).cases[0].input_ids;
      const cache = createKVCache();
      const before = tf.memory().numTensors;
      const ids = [...prompt];
      const errors: number[] = [];
      try {
        let row = lastRow(await runForward(model, { ids }, { cache }));
        for (let step = 0; step < STEPS; step++) {
          ids.push(argmax(row));
          row = lastRow(await runForward(model, { ids: ids.slice(-1) }, { cache }));
          const uncached = lastRow(await runForward(model, { ids }));
          errors.push(maxAbsDiff(row, uncached));
          expect(argmax(row)).toBe(argmax(uncached));
        }
        expect(cache.length).toBe(prompt.length + STEPS);
      } finally {
        cache.dispose();
      }
      console.log(
        `${name}: cached vs uncached logits per step:`,
        errors.map((e) => e.toExponential(2)),
      );
      expect(Math.max(...errors)).toBeLessThanOrEqual(TOLERANCE);
      expect(tf.memory().numTensors).toBe(before);
    });
  });
}
