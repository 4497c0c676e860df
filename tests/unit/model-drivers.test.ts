/**
 * The batch drivers' `last` option gives exactly the last row of `all`, for both architectures;
 * the traced driver's readbacks and the order in which it dispatches and emits.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ChunkStream } from '../../src/model/chunkStream';
import {
  decoderLogits,
  disposeModel,
  encoderDecoderLogits,
  runForward,
  type Model,
} from '../../src/model/model';
import type { Recorder } from '../../src/model/recorder';
import type { TraceChunk } from '../../src/model/trace';
import { readModelDir, useFastestNodeBackend } from '../../scripts/lib/node-model';
import { FIXTURES } from './helpers';

beforeAll(async () => {
  await useFastestNodeBackend();
});

const loaded: Model[] = [];
function load(name: string): Model {
  const model = readModelDir(join(FIXTURES, name));
  loaded.push(model);
  return model;
}

afterEach(() => {
  for (const model of loaded.splice(0)) disposeModel(model);
  vi.restoreAllMocks();
});

describe('logits only where needed', () => {
  it('decoderLogits(…, "last") is the last row of "all"', () => {
    const model = load('gpt2-tiny-a');
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
    const model = load('marian-tiny-a');
    const src = tf.tensor2d([[5, 9, 14, 0]], undefined, 'int32');
    const tgt = tf.tensor2d([[60, 12, 19]], undefined, 'int32');
    const all = encoderDecoderLogits(model, src, tgt);
    const last = encoderDecoderLogits(model, src, tgt, 'last');
    expect(last.shape).toEqual([1, 1, 61]);
    expect(last.arraySync()).toEqual(tf.slice(all, [0, 2, 0], [1, 1, 61]).arraySync());
    tf.dispose([src, tgt, all, last]);
  });
});

describe('readbacks', () => {
  it('runForward reports one readback wait per chunk, just before it emits that chunk', async () => {
    const model = load('gpt2-tiny-a');
    const log: string[] = [];
    await runForward(
      model,
      { ids: [1, 2, 3] },
      { onReadback: () => void log.push('wait') },
      (chunk) => void log.push(chunk.type === 'layer' ? `layer ${chunk.layer}` : chunk.type),
    );
    const layers = Array.from({ length: model.config.nLayers }, (_, i) => `layer ${i}`);
    expect(log).toEqual(['embedding', ...layers, 'output'].flatMap((c) => ['wait', c]));
  });

  it('a wait is the time from starting to wait until the values are back, not the time emitting', async () => {
    // A clock that only moves when the test moves it, and recorders whose downloads finish when
    // the test says so.
    let clock = 0;
    vi.spyOn(performance, 'now').mockImplementation(() => clock);
    const downloads: (() => void)[] = [];
    const recorder = () =>
      ({
        flush: () => new Promise<void>((resolve) => downloads.push(resolve)),
      }) as unknown as Recorder;
    const emitted: string[] = [];
    const waits: number[] = [];
    const stream = new ChunkStream(
      async (chunk) => {
        emitted.push(chunk.type);
        clock += 1000; // posting and painting take long; none of it is waiting on the device
      },
      (ms) => waits.push(ms),
    );
    const chunk = (type: 'embedding' | 'output') => () => ({ type }) as TraceChunk;

    await stream.push(recorder(), chunk('embedding'));
    expect(emitted).toEqual([]); // held until the next chunk's kernels are dispatched
    const second = stream.push(recorder(), chunk('output'));
    clock += 30;
    downloads[0]();
    await second;
    expect(emitted).toEqual(['embedding']);
    const finished = stream.finish();
    clock += 7;
    downloads[1]();
    await finished;
    expect(emitted).toEqual(['embedding', 'output']);
    expect(waits).toEqual([30, 7]);
  });

  it('dispatches the next layer before it emits the previous one, and emits in order', async () => {
    const model = load('gpt2-tiny-a');
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
