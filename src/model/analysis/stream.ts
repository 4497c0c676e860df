/**
 * What the interpretability tools (logitLens.ts, attribution.ts, patching.ts) share: which models
 * they read, the decoder's residual stream point by point, and a decoder run that starts at any
 * block, looks inside each one, applies the page's interventions and can patch one layer's
 * heads. docs/interpretability.md.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AttentionInputs, AttentionResult } from '../attention';
import type { BlockTracer } from '../block';
import type { ModelConfig } from '../config';
import { runStack, type StackProbe } from '../drivers';
import { gateTensor, headGates, layerWindows, selfMaskOf, stackMasks } from '../masks';
import type { HeadRef, Model } from '../model';
import { embed, ropeFor } from '../parts';

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

/**
 * The sidebar's interventions, applied as the traced forward applies them (forward.ts): the
 * causal mask on or off, positions added or not, heads ablated by a 0 gate on their output.
 */
export interface StreamInterventions {
  causalMask: boolean;
  usePositions: boolean;
  ablatedHeads: HeadRef[];
}

export const NO_INTERVENTIONS: StreamInterventions = {
  causalMask: true,
  usePositions: true,
  ablatedHeads: [],
};

/** x₀ `[1, T, d]`: the ids' token embeddings plus their positions (unless removed). */
export function embedIds(
  model: Model,
  ids: number[],
  iv: StreamInterventions = NO_INTERVENTIONS,
): tf.Tensor {
  return embed(model, tf.tensor2d([ids], [1, ids.length], 'int32'), 0, iv.usePositions).x;
}

/**
 * Decoder self-attention inputs per layer for length t under `iv`: the traced forward's masks
 * (`stackMasks`: causal or not, narrowed to the window on local layers), its head gates and the
 * RoPE tables (none with positions removed). Made in the caller's tidy.
 */
function selfInputs(
  model: Model,
  t: number,
  iv: StreamInterventions,
): (layer: number) => AttentionInputs {
  const cfg = model.config;
  const windows = layerWindows(cfg.attentionWindows, cfg.nLayers);
  const masks = stackMasks(t, t, 0, iv.causalMask, undefined, windows);
  const rope = ropeFor(model, t, 0, iv.usePositions);
  const gates = windows.map((_, layer) =>
    gateTensor(headGates(iv.ablatedHeads, 'decoder', layer, cfg.nHeads).self),
  );
  return (layer) => ({
    bias: selfMaskOf(masks, windows[layer]).bias,
    ...(gates[layer] ? { gate: gates[layer] } : {}),
    ...(rope ? { rope } : {}),
  });
}

/** Replace some heads' outputs at one layer by another run's (see `AttentionInputs.patch`). */
export interface HeadPatch {
  layer: number;
  heads: tf.Tensor; // [1, h, T, d/h]
  where: tf.Tensor; // [B, h, 1, 1], 1 where patched
}

/** How `decoderHidden` runs: from which block, looking at what, patched, under interventions. */
export interface StreamRun {
  probe?: StackProbe;
  patch?: HeadPatch;
  interventions?: StreamInterventions;
}

/**
 * The decoder from `x` `[B, T, d]` (the input of block `probe.from`, default 0) to its final
 * hidden states `[B, T, d]`, after the final norm, with the model's own masks and RoPE as the
 * interventions leave them.
 */
export function decoderHidden(
  model: Model,
  x: tf.Tensor,
  { probe = {}, patch, interventions = NO_INTERVENTIONS }: StreamRun = {},
): tf.Tensor {
  const self = selfInputs(model, x.shape[1]!, interventions);
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
