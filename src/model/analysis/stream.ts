/**
 * What the interpretability tools (logitLens.ts, attribution.ts, patching.ts) share: which models
 * they read, the decoder's residual stream point by point, and a decoder run that starts at any
 * block, looks inside each one and can patch one layer's heads. docs/interpretability.md.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AttentionResult } from '../attention';
import type { BlockTracer } from '../block';
import type { ModelConfig } from '../config';
import { decoderSelfInputs, runStack, type StackProbe } from '../drivers';
import type { Model } from '../model';
import { embed } from '../parts';

export type InterpretTool = 'logit-lens' | 'logit-attribution' | 'activation-patching';

/** Why `tool` cannot read a model of this config, or null when it can. */
export function unsupportedReason(cfg: ModelConfig, tool: InterpretTool): string | null {
  if (cfg.architecture === 'encoder-decoder') {
    return 'not for encoder–decoder models yet: the tools follow one decoder-only residual stream, and here the encoder’s output enters every decoder layer through cross-attention';
  }
  if (cfg.architecture === 'encoder-only') {
    return 'not for encoder-only (masked) models: they fill in a [MASK] through a transform head after post-norm blocks, where these tools read a next-token prediction';
  }
  if (tool === 'logit-attribution' && cfg.norm === 'post') {
    return 'not for post-norm models: every sub-layer’s output is normalised again, so the final residual is not a sum of the heads’ and MLPs’ outputs';
  }
  return null;
}

/** The residual points the logit lens reads, in order: the embeddings, then after each sub-layer. */
export function residualPoints(cfg: ModelConfig): string[] {
  const points = ['embeddings'];
  for (let layer = 0; layer < cfg.nLayers; layer++) {
    points.push(`${layer} attn`);
    if (!cfg.attentionOnly) points.push(`${layer} mlp`);
  }
  return points;
}

/** The block's residual points after a sub-layer (its input is the previous one's last). */
export const SUB_LAYER_POINTS = new Set(['after-attention', 'after-mlp']);

/** A block tracer that sees only the residual points and the attention (no norm statistics). */
export function tracerOf(hooks: {
  residual?: (point: string, x: tf.Tensor) => void;
  attention?: (result: AttentionResult) => void;
}): BlockTracer {
  return {
    norm: () => {},
    residual: (point, x) => hooks.residual?.(point, x),
    attention: (_kind, result) => hooks.attention?.(result),
  };
}

/** x₀ `[1, T, d]`: the ids' token embeddings plus their positions. */
export function embedIds(model: Model, ids: number[]): tf.Tensor {
  return embed(model, tf.tensor2d([ids], [1, ids.length], 'int32'), 0, true).x;
}

/** Replace some heads' outputs at one layer by another run's (see `AttentionInputs.patch`). */
export interface HeadPatch {
  layer: number;
  heads: tf.Tensor; // [1, h, T, d/h]
  where: tf.Tensor; // [B, h, 1, 1], 1 where patched
}

/**
 * The decoder from `x` `[B, T, d]` (the input of block `probe.from`, default 0) to its final
 * hidden states `[B, T, d]`, after the final norm, with the model's own masks and RoPE.
 */
export function decoderHidden(
  model: Model,
  x: tf.Tensor,
  probe: StackProbe = {},
  patch?: HeadPatch,
): tf.Tensor {
  const self = decoderSelfInputs(model, x.shape[1]!);
  const inputs = patch
    ? (layer: number) =>
        layer === patch.layer
          ? { ...self(layer), patch: { heads: patch.heads, where: patch.where } }
          : self(layer)
    : self;
  return runStack(model, 'decoder', x, inputs, undefined, undefined, probe);
}

/** Row `position` of `[B, T, d]`: `[B, d]`. */
export function rowAt(x: tf.Tensor, position: number): tf.Tensor2D {
  const [b, , d] = x.shape as [number, number, number];
  return tf.reshape(tf.slice(x, [0, position, 0], [b, 1, d]), [b, d]);
}
