/**
 * RNN against attention, measured: one recurrent layer (rnn.ts) and one attention layer
 * (attention.ts) of the same width, on random weights, over n = 8, 16, … tokens, on whatever
 * backend tf runs. The RNN's n steps must run one after another; attention does every pair in
 * one go but holds an n × n matrix per head. Each length runs once untimed first (WebGL
 * compiles its shaders for a new shape then, and wasm/JIT code warms); then the median of five
 * timed runs, each up to its values being read back, is kept.
 */
import * as tf from '@tensorflow/tfjs-core';
import { multiHeadAttention } from './attention';
import { causalBias } from './masks';
import { linearTensors, type AttentionParams } from './params';
import { Rng } from './random';
import { disposeRnn, randomRnn, rnnLayer } from './rnn';

export interface RnnVsAttentionRow {
  n: number;
  rnnMs: number;
  attentionMs: number;
  /** Sequential steps from the first token to the last: n − 1 through the recurrence, 1 through attention. */
  rnnPath: number;
  attentionPath: number;
  /** float32 bytes of one layer's attention matrix, heads·n²·4, against the RNN's one state, d·4. */
  attentionMatrixBytes: number;
  rnnStateBytes: number;
}

export interface RnnVsAttentionOptions {
  width: number;
  heads: number;
  /** Largest n (a power of two ≥ 8). */
  maxN: number;
  /** Stop after a length whose RNN or attention run took longer than this. */
  timeBoundMs: number;
  /** Longer lengths are not tried once one attention matrix would exceed this many bytes. */
  maxMatrixBytes?: number;
  seed?: number;
  /** Told each measured row as soon as it exists. */
  onRow(row: RnnVsAttentionRow): void | Promise<void>;
  /** Checked between runs; true stops the measurement (no more rows). */
  shouldStop?(): boolean;
  now?(): number;
}

/** Why the measurement ended before `maxN`, or null when every length ran. */
export type StopReason = string | null;

/** 512 MB: a 12-head layer stops at n = 2048 (201 MB per matrix), a 4-head one reaches 4096. */
const MAX_MATRIX_BYTES = 512 * 2 ** 20;

/** n = 8, 16, … up to maxN. */
export function rnnLengths(maxN: number): number[] {
  const out: number[] = [];
  for (let n = 8; n <= maxN; n *= 2) out.push(n);
  return out;
}

function randomAttention(d: number, rng: Rng): AttentionParams {
  const linear = () => ({
    w: tf.tensor2d(
      Float32Array.from({ length: d * d }, () => rng.normal() / Math.sqrt(d)),
      [d, d],
    ),
  });
  return { q: linear(), k: linear(), v: linear(), o: linear() };
}

/**
 * Timed runs per length: their median is kept, so one run slowed by a garbage collection or a
 * burst of other work (or sped by a lucky cache state) does not set the row.
 */
const REPEATS = 5;

/** The middle value (the mean of the two middle ones for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Run `f` once to warm up, then up to REPEATS times timed up to its result's values being read;
 * the median time. A run over `boundMs` ends the repeats (the length is too slow to repeat).
 */
async function timed(f: () => tf.Tensor, now: () => number, boundMs: number): Promise<number> {
  const warm = f();
  await warm.data();
  warm.dispose();
  const times: number[] = [];
  for (let r = 0; r < REPEATS && (r === 0 || times[r - 1] <= boundMs); r++) {
    const t0 = now();
    const out = f();
    await out.data();
    times.push(now() - t0);
    out.dispose();
  }
  return median(times);
}

export async function measureRnnVsAttention(o: RnnVsAttentionOptions): Promise<StopReason> {
  const { width: d, heads } = o;
  const now = o.now ?? (() => performance.now());
  const rng = new Rng(o.seed ?? 1);
  const rnn = randomRnn(d, rng);
  const attn = randomAttention(d, rng);
  try {
    for (const n of rnnLengths(o.maxN)) {
      const bytes = heads * n * n * 4;
      if (bytes > (o.maxMatrixBytes ?? MAX_MATRIX_BYTES)) {
        return `n = ${n} not run: one attention matrix would take ${Math.round(bytes / 2 ** 20)} MB`;
      }
      if (o.shouldStop?.()) return 'stopped';
      const xs = tf.tensor2d(
        Float32Array.from({ length: n * d }, () => rng.normal()),
        [n, d],
      );
      const bias = causalBias(n);
      try {
        const rnnMs = await timed(() => rnnLayer(xs, rnn), now, o.timeBoundMs);
        if (o.shouldStop?.()) return 'stopped';
        const attentionMs = await timed(
          () =>
            tf.tidy(() => {
              const x = tf.reshape(xs, [1, n, d]);
              return multiHeadAttention(x, x, attn, heads, { bias }).out;
            }),
          now,
          o.timeBoundMs,
        );
        await o.onRow({
          n,
          rnnMs,
          attentionMs,
          rnnPath: n - 1,
          attentionPath: 1,
          attentionMatrixBytes: bytes,
          rnnStateBytes: d * 4,
        });
        const slowest = Math.max(rnnMs, attentionMs);
        if (slowest > o.timeBoundMs && n < o.maxN) {
          return `stopped after n = ${n}: a run took ${Math.round(slowest)} ms, over the ${o.timeBoundMs} ms bound`;
        }
      } finally {
        tf.dispose([xs, bias]);
      }
    }
    return null;
  } finally {
    disposeRnn(rnn);
    tf.dispose([attn.q, attn.k, attn.v, attn.o].flatMap(linearTensors));
  }
}
