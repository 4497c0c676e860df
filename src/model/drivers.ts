/**
 * The batch drivers: embeddings → blocks → final norm → logits for a batch, with no trace.
 * Training differentiates through them; the worker's untraced forward uses `last`, which also
 * computes attention in blocks of queries (blockedAttention.ts) so its memory grows linearly in T.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AttentionInputs } from './attention';
import { block, type BlockTracer } from './block';
import type { BlockedInputs } from './blockedAttention';
import { stacksOf } from './config';
import { causalBias, layerWindows, paddingBias, windowedCausalBias } from './masks';
import type { Model } from './model';
import { normalize } from './norm';
import { embed, logitsOf, ropeFor, stackParams } from './parts';
import type { Stack } from './trace';

/**
 * What the interpretability tools (src/model/analysis/) ask of a stack's run: start at a later
 * block (`x` is then that block's input), and look inside each block. A tracer's tensors go with
 * the block's tidy unless it keeps them (`tf.keep`).
 */
export interface StackProbe {
  from?: number;
  tracer?: (layer: number) => BlockTracer;
}

/** Full attention inputs (for a tracer), or blocked ones (untraced, memory linear in T). */
type Attending = AttentionInputs | BlockedInputs;

/** `self` is one set of attention inputs for every layer, or one per layer (local attention). */
export function runStack(
  model: Model,
  stack: Stack,
  x: tf.Tensor,
  selfInputs: Attending | ((layer: number) => Attending),
  memory?: tf.Tensor,
  cross?: Attending,
  probe: StackProbe = {},
): tf.Tensor {
  const p = stackParams(model, stack);
  const input = x;
  for (const [layer, b] of p.blocks.entries()) {
    if (layer < (probe.from ?? 0)) continue;
    const self = typeof selfInputs === 'function' ? selfInputs(layer) : selfInputs;
    const tracer = probe.tracer?.(layer);
    // A tidy per block: its attention scores and probabilities ([B, h, T, T], several of each)
    // go as soon as its output exists, so the forward holds one layer's attention at a time, not
    // every layer's (docs/performance.md, "Memory of the untraced forward"). Under a gradient
    // tape this is safe: the tape keeps its own copies of what backprop needs.
    const next = tf.tidy(() => block(x, b, model.config, { self, memory, cross }, tracer).x);
    if (x !== input) x.dispose();
    x = next;
  }
  return p.finalNorm ? normalize(x, p.finalNorm, model.config) : x;
}

/**
 * Decoder self-attention inputs per layer for a batch of length t: the causal mask (narrowed to
 * the window on local layers) and the RoPE tables, shared by every layer.
 */
export function decoderSelfInputs(model: Model, t: number): (layer: number) => AttentionInputs {
  const cfg = model.config;
  const rope = ropeFor(model, t, 0, true);
  const windows = layerWindows(cfg.attentionWindows, cfg.nLayers);
  const biases = new Map<number | null, tf.Tensor>();
  for (const w of windows) {
    if (!biases.has(w)) biases.set(w, w === null ? causalBias(t) : windowedCausalBias(t, w));
  }
  return (layer) => ({ bias: biases.get(windows[layer])!, ...(rope ? { rope } : {}) });
}

/**
 * The same, blocked: each layer's causal mask (local where the model has windows) is built block
 * by block of queries over only the keys the block sees, never `[T, T]` at once.
 */
function blockedSelfInputs(model: Model, t: number): (layer: number) => BlockedInputs {
  const rope = ropeFor(model, t, 0, true);
  const windows = layerWindows(model.config.attentionWindows, model.config.nLayers);
  return (layer) => ({ mask: { causal: true, window: windows[layer] }, ...(rope ? { rope } : {}) });
}

/** Which positions get logits in the batch drivers: a 50k vocabulary makes every row costly. */
export type LogitPositions = 'all' | 'last';

function logitsAt(model: Model, h: tf.Tensor, positions: LogitPositions): tf.Tensor3D {
  const [b, t, d] = h.shape as [number, number, number];
  const rows = positions === 'last' ? tf.slice(h, [0, t - 1, 0], [b, 1, d]) : h;
  const n = positions === 'last' ? 1 : t;
  return tf.reshape(logitsOf(model, tf.reshape(rows, [b * n, d]) as tf.Tensor2D), [b, n, -1]);
}

/**
 * Decoder-only (or encoder-only) logits for a batch: `[B, T]` int32 ids → `[B, T or 1, vocab]`.
 * `tokenTypeIds` `[B, T]` int32 (default all 0) are read only by models with token types.
 * `last` is inference (training wants every position's loss): its attention goes in blocks of
 * queries; `all` keeps the full attention, whose fewer, larger kernels training is tuned to.
 */
export function decoderLogits(
  model: Model,
  ids: tf.Tensor2D,
  positions: LogitPositions = 'all',
  tokenTypeIds?: tf.Tensor2D,
): tf.Tensor3D {
  const stack = stacksOf(model.config)[0];
  const blocked = positions === 'last';
  const t = ids.shape[1];
  const padding = () => paddingBias(ids, model.config.padTokenId);
  const self: Attending | ((layer: number) => Attending) =
    stack === 'decoder'
      ? (blocked ? blockedSelfInputs : decoderSelfInputs)(model, t)
      : blocked
        ? { mask: { bias: padding() } }
        : { bias: padding() };
  const h = runStack(model, stack, embed(model, ids, 0, true, tokenTypeIds).x, self);
  return logitsAt(model, h, positions);
}

/** Encoder–decoder logits (teacher forcing): source `[B, S]`, decoder input `[B, T]` → `[B, T, vocab]`. */
export function encoderDecoderLogits(
  model: Model,
  sourceIds: tf.Tensor2D,
  ids: tf.Tensor2D,
  positions: LogitPositions = 'all',
): tf.Tensor3D {
  const sourceBias = paddingBias(sourceIds, model.config.padTokenId);
  // `last`: attention in blocks of queries, as in decoderLogits.
  const blocked = positions === 'last';
  const source: Attending = blocked ? { mask: { bias: sourceBias } } : { bias: sourceBias };
  const memory = runStack(model, 'encoder', embed(model, sourceIds, 0, true).x, source);
  const self: Attending = blocked
    ? { mask: { causal: true, window: null } }
    : { bias: causalBias(ids.shape[1]) };
  const h = runStack(model, 'decoder', embed(model, ids, 0, true).x, self, memory, source);
  return logitsAt(model, h, positions);
}
