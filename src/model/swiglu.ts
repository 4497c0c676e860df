import * as tf from '@tensorflow/tfjs-core';
import type { Activation } from './config';
import { activate } from './feedForward';
import { linear } from './linear';
import type { FeedForwardParams } from './params';

/**
 * Gated feed-forward (SwiGLU with SiLU, Shazeer 2020; LlamaMLP):
 * down(act(gate(x)) ⊙ up(x)), with `fc` as the up projection and `proj` as the down one.
 */
export function gatedFeedForward(
  x: tf.Tensor,
  p: Required<FeedForwardParams>,
  fn: Activation,
): tf.Tensor {
  return linear(tf.mul(activate(linear(x, p.gate), fn), linear(x, p.fc)), p.proj);
}
