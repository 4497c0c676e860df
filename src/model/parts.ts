/**
 * The parts of the model both drivers share: a stack's parameters, the input x₀ = token
 * embedding + position, and the logits of final hidden states.
 */
import * as tf from '@tensorflow/tfjs-core';
import { embedTokens, vocabularyLogits } from './embedding';
import type { Model } from './model';
import type { StackParams } from './params';
import { sinusoidalPositions } from './positions';
import type { Stack } from './trace';

export function stackParams(model: Model, stack: Stack): StackParams {
  const p = model.params[stack];
  if (!p) throw new Error(`this model has no ${stack}`);
  return p;
}

/** Positional encoding rows offset…offset+count−1, `[count, d]`, or null when the model has none. */
function positionRows(model: Model, count: number, offset: number): tf.Tensor2D | null {
  const cfg = model.config;
  if (cfg.positions === 'none' || cfg.positions === 'rotary') return null;
  if (cfg.positions === 'learned') {
    const table = model.params.positionEmbedding!;
    return tf.slice(table, [offset, 0], [count, cfg.dModel]);
  }
  return tf.tensor2d(sinusoidalPositions(count, cfg.dModel, cfg.positions, offset), [
    count,
    cfg.dModel,
  ]);
}

/** x₀ = E[ids] (· √d where the model scales) + P[positions]: `[B, T] → [B, T, d]`. */
export function embed(
  model: Model,
  ids: tf.Tensor,
  offset: number,
  usePositions: boolean,
): { x: tf.Tensor; pos: tf.Tensor2D | null } {
  const cfg = model.config;
  let x = embedTokens(model.params.tokenEmbedding, ids);
  if (cfg.scaleEmbedding) x = tf.mul(x, Math.sqrt(cfg.dModel));
  const pos = usePositions ? positionRows(model, ids.shape[1]!, offset) : null;
  return { x: pos ? tf.add(x, pos) : x, pos };
}

/** Final hidden states `[n, d]` → logits `[n, vocab]`, through the (tied or untied) LM head. */
export function logitsOf(model: Model, h: tf.Tensor2D): tf.Tensor2D {
  const p = model.params;
  const tied = !p.lmHead;
  return vocabularyLogits(h, p.lmHead ?? p.tokenEmbedding, tied, p.logitsBias);
}
