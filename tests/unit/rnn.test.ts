/**
 * The RNN of the RNN-vs-attention view (src/model/rnn.ts) against hand-computed steps, and the
 * measurement loop (src/model/rnnVsAttention.ts): its rows, its stops, and no leaked tensors.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { rnnLayer, rnnStep, type RnnParams } from '../../src/model/rnn';
import {
  measureRnnVsAttention,
  median,
  rnnLengths,
  type RnnVsAttentionRow,
} from '../../src/model/rnnVsAttention';
import { useFastestNodeBackend } from '../../scripts/lib/node-model';

beforeAll(async () => {
  await useFastestNodeBackend();
});

/** W_x = [[1, 2], [0, −1]], W_h = [[0.5, 0], [0, 0.5]], b = [0.1, −0.2] (rows are inputs). */
function params(): RnnParams {
  return {
    wx: tf.tensor2d([1, 2, 0, -1], [2, 2]),
    wh: tf.tensor2d([0.5, 0, 0, 0.5], [2, 2]),
    b: tf.tensor1d([0.1, -0.2]),
  };
}

describe('rnnStep', () => {
  it('is tanh(x W_x + h W_h + b), worked by hand', () => {
    const p = params();
    // x = [1, 3], h = [0.2, −0.4]:
    // x W_x = [1·1 + 3·0, 1·2 + 3·(−1)] = [1, −1]; h W_h = [0.1, −0.2]; + b → [1.2, −1.4].
    const h = rnnStep(tf.tensor2d([[1, 3]]), tf.tensor2d([[0.2, -0.4]]), p);
    const got = Array.from(h.dataSync());
    expect(got[0]).toBeCloseTo(Math.tanh(1.2), 6);
    expect(got[1]).toBeCloseTo(Math.tanh(-1.4), 6);
  });

  it('runs a sequence step by step from h₀ = 0, each state feeding the next', () => {
    const p = params();
    const xs = [
      [1, 0],
      [0, 1],
      [-1, 2],
    ];
    let h = [0, 0];
    for (const [a, c] of xs) {
      // Row vector times [in, out] matrices, as in the step above.
      const pre = [a * 1 + c * 0 + h[0] * 0.5 + 0.1, a * 2 + c * -1 + h[1] * 0.5 - 0.2];
      h = pre.map(Math.tanh);
    }
    const before = tf.memory().numTensors;
    const last = rnnLayer(tf.tensor2d(xs), p);
    const got = Array.from(last.dataSync());
    last.dispose();
    expect(got[0]).toBeCloseTo(h[0], 6);
    expect(got[1]).toBeCloseTo(h[1], 6);
    // The input tensor made above is the only one left.
    expect(tf.memory().numTensors).toBe(before + 1);
  });
});

describe('measureRnnVsAttention', () => {
  it('measures n = 8 … maxN with the path lengths and the n² matrix, leaking nothing', async () => {
    const rows: RnnVsAttentionRow[] = [];
    const before = tf.memory().numTensors;
    const stop = await measureRnnVsAttention({
      width: 16,
      heads: 4,
      maxN: 32,
      timeBoundMs: Infinity,
      onRow: (r) => void rows.push(r),
    });
    expect(stop).toBeNull();
    expect(tf.memory().numTensors).toBe(before);
    expect(rows.map((r) => r.n)).toEqual([8, 16, 32]);
    expect(rows.map((r) => r.rnnPath)).toEqual([7, 15, 31]);
    expect(rows.every((r) => r.attentionPath === 1)).toBe(true);
    expect(rows.map((r) => r.attentionMatrixBytes)).toEqual([4, 16, 64].map((k) => k * 64 * 4));
    expect(rows.every((r) => r.rnnStateBytes === 64)).toBe(true);
    expect(rows.every((r) => r.rnnMs >= 0 && r.attentionMs >= 0)).toBe(true);
  });

  it('stops after the first length whose run exceeds the time bound, and says so', async () => {
    let t = 0;
    const rows: RnnVsAttentionRow[] = [];
    const stop = await measureRnnVsAttention({
      width: 8,
      heads: 2,
      maxN: 64,
      timeBoundMs: 15,
      // Every reading of the clock moves it by n ms of the length being run: 8, 16, … per run.
      now: () => (t += 8 * 2 ** rows.length),
      onRow: (r) => void rows.push(r),
    });
    expect(rows.map((r) => [r.n, r.rnnMs, r.attentionMs])).toEqual([
      [8, 8, 8],
      [16, 16, 16],
    ]);
    expect(stop).toMatch(/after n = 16.*16 ms, over the 15 ms bound/);
  });

  it('keeps the median of five timed runs: one run slowed (or sped) by other work does not set the row', async () => {
    // Each timed run reads the clock twice; the runs take 50, 1, 2, 3, 4 ms (RNN), then 9, 7, 8,
    // 100, 6 (attention): medians 3 and 8, where the fastest would be 1 and 6.
    const durations = [50, 1, 2, 3, 4, 9, 7, 8, 100, 6];
    let t = 0;
    let reads = 0;
    const rows: RnnVsAttentionRow[] = [];
    await measureRnnVsAttention({
      width: 8,
      heads: 2,
      maxN: 8,
      timeBoundMs: Infinity,
      now: () => (reads++ % 2 === 0 ? t : (t += durations[(reads - 2) / 2])),
      onRow: (r) => void rows.push(r),
    });
    expect(rows.map((r) => [r.rnnMs, r.attentionMs])).toEqual([[3, 8]]);
    expect(reads).toBe(2 * durations.length);
  });

  it('takes the middle value, or the mean of the two middle ones', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
  });

  it('does not try a length whose attention matrix is over the byte bound', async () => {
    const rows: RnnVsAttentionRow[] = [];
    const stop = await measureRnnVsAttention({
      width: 8,
      heads: 2,
      maxN: 64,
      timeBoundMs: Infinity,
      maxMatrixBytes: 2 * 16 * 16 * 4,
      onRow: (r) => void rows.push(r),
    });
    expect(rows.map((r) => r.n)).toEqual([8, 16]);
    expect(stop).toMatch(/n = 32 not run/);
  });

  it('lists powers of two from 8', () => {
    expect(rnnLengths(4096)).toEqual([8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]);
    expect(rnnLengths(4)).toEqual([]);
  });
});
