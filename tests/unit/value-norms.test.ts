/**
 * ‖v_j W_O^h‖ (src/model/analysis/valueNorms.ts) against a float64 reference, for few keys (the
 * direct product) and many (through the Gram matrix), including a value vector of zeros.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useFastestNodeBackend } from '../../scripts/lib/node-model';
import { valueNorms } from '../../src/model/analysis/valueNorms';

const [h, dh, d] = [3, 8, 24];
const value = (i: number, salt: number) => Math.sin(i * 0.917 + salt) * (1 + (i % 3));

/** ‖v[head, key] · W_O[head·dh … head·dh + dh − 1, :]‖ in float64. */
function reference(v: number[], wO: number[], keys: number): number[] {
  const out: number[] = [];
  for (let head = 0; head < h; head++)
    for (let key = 0; key < keys; key++) {
      let squares = 0;
      for (let col = 0; col < d; col++) {
        let sum = 0;
        for (let p = 0; p < dh; p++)
          sum += v[(head * keys + key) * dh + p] * wO[(head * dh + p) * d + col];
        squares += sum * sum;
      }
      out.push(Math.sqrt(squares));
    }
  return out;
}

afterAll(async () => {
  await useFastestNodeBackend();
});

describe.each(['cpu', 'wasm'])('valueNorms on %s', (backend) => {
  beforeAll(async () => {
    if (backend === 'wasm') expect(await useFastestNodeBackend()).toBe('wasm');
    else await tf.setBackend(backend);
  });
  // d/h = 8, d = 24: the Gram matrix pays past 12 keys (t·d > d/h·d + t·d/h).
  it.each([2, 11, 13, 40])('equals a float64 reference with %i keys', (keys) => {
    const v = Array.from({ length: h * keys * dh }, (_, i) => value(i, 1));
    for (let p = 0; p < dh; p++) v[p] = 0; // head 0, key 0: no value at all
    const wO = Array.from({ length: h * dh * d }, (_, i) => value(i, 2));
    const before = tf.memory().numTensors;
    const got = tf.tidy(() =>
      valueNorms(tf.tensor3d(v, [h, keys, dh]), tf.tensor2d(wO, [h * dh, d])).dataSync(),
    );
    expect(tf.memory().numTensors).toBe(before);
    const want = reference(v, wO, keys);
    expect(got[0]).toBe(0);
    for (let i = 0; i < want.length; i++)
      expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-5 * (1 + want[i]));
  });
});
