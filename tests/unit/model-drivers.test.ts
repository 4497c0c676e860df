/**
 * The batch drivers' `last` option gives exactly the last row of `all`, for both architectures;
 * the traced driver's readbacks and the order in which it dispatches and emits.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { decoderLogits, encoderDecoderLogits, runForward } from '../../src/model/model';
import { readModelDir, useFastestNodeBackend } from '../../scripts/lib/node-model';
import { FIXTURES } from './helpers';

beforeAll(async () => {
  await useFastestNodeBackend();
});

describe('logits only where needed', () => {
  it('decoderLogits(…, "last") is the last row of "all"', () => {
    const model = readModelDir(join(FIXTURES, 'gpt2-tiny-a'));
    const ids = tf.tensor2d(
      [
        [5, 17, 3, 42],
        [1, 2, 3, 4],
      ],
      undefined,
      'int32',
    );
    const all = decoderLogits(model, ids);
    const last = decoderLogits(model, ids, 'last');
    expect(last.shape).toEqual([2, 1, 64]);
    expect(last.arraySync()).toEqual(tf.slice(all, [0, 3, 0], [2, 1, 64]).arraySync());
    tf.dispose([ids, all, last]);
  });

  it('encoderDecoderLogits(…, "last") is the last row of "all"', () => {
    const model = readModelDir(join(FIXTURES, 'marian-tiny-a'));
    const src = tf.tensor2d([[5, 9, 14, 0]], undefined, 'int32');
    const tgt = tf.tensor2d([[60, 12, 19]], undefined, 'int32');
    const all = encoderDecoderLogits(model, src, tgt);
    const last = encoderDecoderLogits(model, src, tgt, 'last');
    expect(last.shape).toEqual([1, 1, 61]);
    expect(last.arraySync()).toEqual(tf.slice(all, [0, 2, 0], [1, 1, 61]).arraySync());
    tf.dispose([src, tgt, all, last]);
  });

  it('runForward reports the time it waited for each readback', async () => {
    const model = readModelDir(join(FIXTURES, 'gpt2-tiny-a'));
    const waits: number[] = [];
    await runForward(model, { ids: [1, 2, 3] }, { onReadback: (ms) => waits.push(ms) });
    // one readback for the embedding, one per layer, one for the output
    expect(waits).toHaveLength(1 + model.config.nLayers + 1);
    expect(waits.every((ms) => ms >= 0)).toBe(true);
  });

  it('dispatches the next layer before it emits the previous one, and emits in order', async () => {
    const model = readModelDir(join(FIXTURES, 'gpt2-tiny-a'));
    const log: string[] = [];
    let checks = 0;
    await runForward(
      model,
      { ids: [1, 2, 3] },
      // Called just before each layer's kernels are dispatched.
      { shouldStop: () => (log.push(`dispatch ${checks++}`), false) },
      (chunk) => void log.push(chunk.type === 'layer' ? `emit ${chunk.layer}` : chunk.type),
    );
    const n = model.config.nLayers;
    expect(log).toEqual([
      'dispatch 0',
      'embedding',
      ...Array.from({ length: n - 1 }, (_, i) => [`dispatch ${i + 1}`, `emit ${i}`]).flat(),
      `emit ${n - 1}`,
      'output',
    ]);
  });
});
