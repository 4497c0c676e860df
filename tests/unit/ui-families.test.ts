/**
 * The panels' logic for the Hugging Face families: RoPE explained with plain numbers (against
 * hand-computed values and the model's own rotation), grouped-query sharing, the predictions'
 * label for a masked LM, and the fill-in position kept with the run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type ModelConfig } from '../../src/model/config';
import { applyRope, ropeTables } from '../../src/model/rope';
import { dotByOffset, pairUnitVector, ropeSpec, rotateTo, wavelength } from '../../src/ui/lib/rope';
import { isGrouped, kvGroups, kvGroupSuffix, kvSharingCaption } from '../../src/ui/lib/kvGroups';
import { predictionLabel } from '../../src/ui/lib/predictionLabel';
import { newRun, reduceRun } from '../../src/ui/store/runReducer';
import { useFastestNodeBackend } from '../../scripts/lib/node-model';
import { FIXTURES } from './helpers';

const fixtureConfig = (name: string): ModelConfig =>
  parseConfig(JSON.parse(readFileSync(join(FIXTURES, name, 'config.json'), 'utf8')));

/** Two pairs: ω = (1, 10000^(−2/4)) = (1, 0.01). */
const FREQS = Float64Array.of(1, 0.01);

beforeAll(async () => {
  await useFastestNodeBackend();
});

describe('RoPE explained', () => {
  it('reads θ and the head size from the model: ω_i = θ^(−2i/d)', () => {
    const llama = ropeSpec(fixtureConfig('llama-tiny-a'))!;
    expect(llama).toMatchObject({ theta: 500000, headDim: 10 });
    // 500000^(−0.2) and 500000^(−0.4), worked out by hand (a calculator), not by the formula.
    expect(Array.from(llama.frequencies.slice(0, 3))).toEqual([
      1,
      expect.closeTo(0.072477966, 8),
      expect.closeTo(0.005253056, 8),
    ]);
    expect(llama.frequencies).toHaveLength(5);
    // Qwen2: head size 24 / 4 = 6, θ = 10⁶: 1, 10⁻², 10⁻⁴.
    const qwen = ropeSpec(fixtureConfig('qwen2-tiny-a'))!;
    expect(Array.from(qwen.frequencies)).toEqual([
      1,
      expect.closeTo(1e-2, 12),
      expect.closeTo(1e-4, 14),
    ]);
    expect(ropeSpec(fixtureConfig('gpt2-tiny-a'))).toBeNull();
    expect(ropeSpec(fixtureConfig('bert-tiny-a'))).toBeNull();
    expect(wavelength(1)).toBeCloseTo(6.283185, 6);
  });

  it('rotates pair i = (m, m + d/2) by pos·ω_i', () => {
    const out = rotateTo([1, 0, 0, 0], 1, FREQS);
    expect(Array.from(out)).toEqual([Math.cos(1), 0, Math.sin(1), 0]);
    // Pair 1 (dimensions 1 and 3) turns 100 times slower: one radian at position 100.
    const slow = rotateTo([0, 1, 0, 0], 100, FREQS);
    [0, Math.cos(1), 0, Math.sin(1)].forEach((v, m) => expect(slow[m]).toBeCloseTo(v, 12));
  });

  it('rotates as the model does (applyRope, rotate-half)', () => {
    const d = 8;
    const x = [0.3, -1.2, 0.5, 2, -0.7, 0.1, 1.4, -0.4];
    const model = tf.tidy(() =>
      Array.from(applyRope(tf.tensor4d(x, [1, 1, 1, d]), ropeTables(1, d, 10000, 7)).dataSync()),
    );
    const ours = rotateTo(x, 7, ropeSpecOf(d, 10000));
    model.forEach((v, m) => expect(ours[m]).toBeCloseTo(v, 5));
  });

  it('q·k of unit vectors is Σ_i cos((i − j)·ω_i), or one pair’s cosine', () => {
    const unit = pairUnitVector(4);
    expect(Array.from(unit)).toEqual([1, 1, 0, 0]);
    const sum = dotByOffset(unit, unit, FREQS, 3);
    [2, Math.cos(1) + Math.cos(0.01), Math.cos(2) + Math.cos(0.02)].forEach((v, o) =>
      expect(sum[o]).toBeCloseTo(v, 12),
    );
    const pair0 = dotByOffset(unit, unit, FREQS, 3, 0);
    [1, Math.cos(1), Math.cos(2)].forEach((v, o) => expect(pair0[o]).toBeCloseTo(v, 12));
    // Orthogonal within pair 0: q = (1, 0), k = (0, 1) give sin of the offset's angle.
    expect(Array.from(dotByOffset([1, 0, 0, 0], [0, 0, 1, 0], FREQS, 2))).toEqual([0, Math.sin(1)]);
  });

  it('depends on positions only through i − j', () => {
    const q = [0.4, -1, 2, 0.3, 1.1, -0.6];
    const k = [-0.2, 0.9, 0.5, 1.5, -1.3, 0.8];
    const freqs = ropeSpecOf(6, 500000);
    const byOffset = dotByOffset(q, k, freqs, 40);
    for (const [i, j] of [
      [5, 5],
      [12, 3],
      [39, 0],
      [30, 7],
    ]) {
      const a = rotateTo(q, i, freqs);
      const b = rotateTo(k, j, freqs);
      const direct = a.reduce((s, v, m) => s + v * b[m], 0);
      expect(direct).toBeCloseTo(byOffset[i - j], 10);
    }
  });
});

/** ω of a head of size d with base θ, through a config as the panel reads it. */
function ropeSpecOf(d: number, theta: number): Float64Array {
  const cfg = { ...fixtureConfig('llama-tiny-a'), headDim: d, ropeTheta: theta };
  return ropeSpec(cfg)!.frequencies;
}

describe('grouped-query sharing', () => {
  it('names the key/value head each query head reads', () => {
    const llama = fixtureConfig('llama-tiny-a');
    expect(kvGroups(llama)).toEqual([0, 0, 1, 1]);
    expect(kvSharingCaption(llama)).toBe(
      '4 query heads share 2 key/value heads (2 per key/value head)',
    );
    expect(kvGroupSuffix(llama, 3)).toBe(' · KV group 1');
    const qwen = fixtureConfig('qwen2-tiny-a');
    expect(kvGroups(qwen)).toEqual([0, 0, 0, 0]);
    expect(kvSharingCaption(qwen)).toBe(
      '4 query heads share 1 key/value head (4 per key/value head)',
    );
    const twelve = { ...llama, nHeads: 12, nKvHeads: 4 };
    expect(kvSharingCaption(twelve)).toBe(
      '12 query heads share 4 key/value heads (3 per key/value head)',
    );
    expect(kvGroups(twelve)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]);
  });

  it('says nothing for ordinary multi-head attention', () => {
    const gpt2 = fixtureConfig('gpt2-tiny-a');
    expect(isGrouped(gpt2)).toBe(false);
    expect(kvGroups(gpt2)).toBeNull();
    expect(kvSharingCaption(gpt2)).toBeNull();
    expect(kvGroupSuffix(gpt2, 1)).toBe('');
    const allKv = { ...fixtureConfig('llama-tiny-a'), nKvHeads: 4 };
    expect(kvGroups(allKv)).toBeNull();
  });
});

describe('the predictions’ label', () => {
  it('is the fill-in at the [MASK] for a masked LM, with a hint when there is none', () => {
    const bert = fixtureConfig('bert-tiny-a');
    expect(predictionLabel(bert, 2, 7)).toEqual({ title: 'Fill-in for [MASK] at position 2' });
    const none = predictionLabel(bert, undefined, 7);
    expect(none.title).toBe('Predictions at the last position (7)');
    expect(none.hint).toMatch(/type \[MASK\]/);
    expect(predictionLabel(fixtureConfig('distilbert-tiny-a'), undefined, 3).hint).toBeDefined();
  });

  it('is the next token for a causal LM', () => {
    expect(predictionLabel(fixtureConfig('llama-tiny-a'), undefined, 5)).toEqual({
      title: 'Next token',
    });
  });

  it('keeps the engine’s mask position with the run, and none without it', () => {
    const spec = {
      input: { text: 'a [MASK] b' },
      interventions: { causalMask: true, usePositions: true, ablatedHeads: [] },
      captureQKV: false,
    };
    const timings = { forwardMs: 1, readbackMs: 1, transferMs: 1, totalMs: 3 };
    const predictions = [{ id: 4, piece: 'x', prob: 0.5 }];
    const masked = reduceRun(newRun(1, spec), {
      type: 'done',
      id: 1,
      predictions,
      timings,
      maskPosition: 2,
    });
    expect(masked).toMatchObject({ done: true, predictions, maskPosition: 2 });
    const plain = reduceRun(newRun(2, spec), { type: 'done', id: 2, predictions, timings });
    expect(plain.done).toBe(true);
    expect(plain.maskPosition).toBeUndefined();
  });
});
