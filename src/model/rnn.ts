/**
 * The lecture's first topic: a recurrent layer reads a sequence one token at a time,
 * h_t = tanh(W_x x_t + W_h h_{t−1} + b), so token 1 reaches token n only through n − 1 steps,
 * each waiting for the last. Written here, as everywhere in the project, with row vectors:
 * h_t = tanh(x_t W_x + h_{t−1} W_h + b).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from './random';

export interface RnnParams {
  wx: tf.Tensor2D; // [d, d]
  wh: tf.Tensor2D; // [d, d]
  b: tf.Tensor1D; // [d]
}

/** One step: x `[1, d]`, h `[1, d]` → h_t `[1, d]`. */
export function rnnStep(x: tf.Tensor, h: tf.Tensor, p: RnnParams): tf.Tensor {
  return tf.tidy(() => tf.tanh(tf.add(tf.add(tf.matMul(x, p.wx), tf.matMul(h, p.wh)), p.b)));
}

/**
 * The layer over xs `[n, d]` from h_0 = 0, step by step; resolves to the last state `[1, d]`
 * (the caller owns it). Earlier states are freed as soon as the next exists: only the state
 * carries information forward, which is the point of the comparison.
 */
export function rnnLayer(xs: tf.Tensor2D, p: RnnParams): tf.Tensor {
  const [n, d] = xs.shape;
  let h: tf.Tensor = tf.zeros([1, d]);
  for (let t = 0; t < n; t++) {
    const next = tf.tidy(() => rnnStep(tf.slice(xs, [t, 0], [1, d]), h, p));
    h.dispose();
    h = next;
  }
  return h;
}

/** Random weights ~ N(0, 1/d) (variance-preserving, so tanh neither saturates nor dies). */
export function randomRnn(d: number, rng: Rng): RnnParams {
  const matrix = () =>
    tf.tensor2d(
      Float32Array.from({ length: d * d }, () => rng.normal() / Math.sqrt(d)),
      [d, d],
    );
  return { wx: matrix(), wh: matrix(), b: tf.zeros([d]) };
}

export function disposeRnn(p: RnnParams): void {
  tf.dispose([p.wx, p.wh, p.b]);
}
