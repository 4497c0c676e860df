/**
 * The parts of the model both drivers share: a stack's parameters, the input x₀ = token
 * embedding + position (+ token type, then a LayerNorm, for BERT), the RoPE tables, and the
 * logits of final hidden states.
 */
import * as tf from '@tensorflow/tfjs-core';
import { headDim } from './config';
import { embedTokens, vocabularyLogits } from './embedding';
import { activate } from './feedForward';
import { linear } from './linear';
import type { Model } from './model';
import { normalize } from './norm';
import type { StackParams } from './params';
import { sinusoidalPositions } from './positions';
import { ropeTables, type RopeTables } from './rope';
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
    // A gather, not a slice: tfjs-wasm's Slice copies its whole input out of the heap first
    // (readSync), the 1,024 × 768 table of GPT-2 for one row of a generation step: 1.2–2.3 ms
    // against 0.05 (docs/performance.md, generation).
    const rows = tf.range(offset, offset + count, 1, 'int32');
    return tf.gather(model.params.positionEmbedding!, rows) as tf.Tensor2D;
  }
  return tf.tensor2d(sinusoidalPositions(count, cfg.dModel, cfg.positions, offset), [
    count,
    cfg.dModel,
  ]);
}

/**
 * x₀ = E[ids] (· √d where the model scales) + P[positions] (+ T[token types]), then the
 * embedding LayerNorm where the model has one: `[B, T] → [B, T, d]`. `typeIds` `[B, T]` int32
 * (default all 0) are read only by models with token-type embeddings.
 */
export function embed(
  model: Model,
  ids: tf.Tensor,
  offset: number,
  usePositions: boolean,
  typeIds?: tf.Tensor,
): { x: tf.Tensor; pos: tf.Tensor2D | null; types: tf.Tensor | null } {
  const cfg = model.config;
  const p = model.params;
  let x = embedTokens(p.tokenEmbedding, ids);
  if (cfg.scaleEmbedding) x = tf.mul(x, Math.sqrt(cfg.dModel));
  const pos = usePositions ? positionRows(model, ids.shape[1]!, offset) : null;
  if (pos) x = tf.add(x, pos);
  const types = p.tokenTypeEmbedding
    ? tf.gather(p.tokenTypeEmbedding, typeIds ?? tf.zerosLike(ids))
    : null;
  if (types) x = tf.add(x, types);
  if (p.embeddingNorm) x = normalize(x, p.embeddingNorm, cfg);
  return { x, pos, types };
}

/** RoPE tables of positions offset…offset+count−1, or undefined when the model (or run) has none. */
export function ropeFor(
  model: Model,
  count: number,
  offset: number,
  usePositions: boolean,
): RopeTables | undefined {
  const cfg = model.config;
  if (cfg.positions !== 'rotary' || !usePositions) return undefined;
  return ropeTables(count, headDim(cfg), cfg.ropeTheta ?? 10000, offset);
}

/** Final hidden states `[n, d]` → logits `[n, vocab]`, through the (tied or untied) LM head. */
export function logitsOf(model: Model, h: tf.Tensor2D): tf.Tensor2D {
  const p = model.params;
  const tied = !p.lmHead;
  // A masked LM transforms first: LayerNorm(act(dense(h))) (BertPredictionHeadTransform).
  const z = p.mlmHead
    ? (normalize(
        activate(linear(h, p.mlmHead.dense), model.config.activation),
        p.mlmHead.norm,
        model.config,
      ) as tf.Tensor2D)
    : h;
  return vocabularyLogits(z, p.lmHead ?? p.tokenEmbedding, tied, p.logitsBias);
}
