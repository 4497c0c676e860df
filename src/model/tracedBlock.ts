/**
 * One block of a traced stack: what the blocks of a stack share (lengths, masks, RoPE tables,
 * the encoder output) and one block run under the tracer. The traced driver (`forward.ts`) runs
 * them in order; `retrace.ts` runs one again for a long input's layer in full.
 */
import * as tf from '@tensorflow/tfjs-core';
import { block } from './block';
import type { ForwardOptions } from './forward';
import type { KVCache } from './kvCache';
import {
  disposeMasks,
  gateTensor,
  headGates,
  layerWindows,
  selfMaskOf,
  stackMasks,
  type StackMasks,
} from './masks';
import type { Model } from './model';
import { ropeFor, stackParams } from './parts';
import type { Recorder } from './recorder';
import type { RopeTables } from './rope';
import type { LayerChunk, Matrix, Stack } from './trace';
import { LayerTracer, realTokens, type LayerView } from './tracer';

/** A layer of a stack. */
export interface LayerRef {
  stack: Stack;
  layer: number;
}

/** What the blocks of one traced stack share: lengths, masks, RoPE tables, the encoder output. */
export interface StackContext {
  stack: Stack;
  prefix: string;
  real: number;
  past: number;
  causal: boolean;
  windows: (number | null)[];
  masks: StackMasks;
  rope: RopeTables | undefined;
  cache?: KVCache;
  memory?: { x: tf.Tensor; length: number };
  /** The stack's tokens (the summaries' induction score). */
  ids?: readonly number[];
}

export function stackContext(
  model: Model,
  stack: Stack,
  lengths: { real: number; padded: number },
  opts: ForwardOptions,
  memory?: { x: tf.Tensor; length: number },
): StackContext {
  const cfg = model.config;
  const cache = stack === 'decoder' ? opts.cache : undefined;
  const past = cache?.length ?? 0;
  const { real, padded } = lengths;
  const causal =
    stack === 'decoder'
      ? (opts.causalMask ?? true)
      : cfg.architecture === 'encoder-only' && (opts.causalEncoder ?? false);
  const windows = layerWindows(cfg.attentionWindows, stackParams(model, stack).blocks.length);
  const masks = stackMasks(
    padded,
    real,
    past,
    causal,
    memory && { keys: memory.x.shape[1]!, real: memory.length },
    windows,
  );
  return {
    stack,
    prefix: cfg.architecture === 'encoder-decoder' ? `${stack}.` : '',
    real,
    past,
    causal,
    windows,
    masks,
    rope: ropeFor(model, padded, past, opts.usePositions ?? true),
    ...(cache ? { cache } : {}),
    ...(memory ? { memory } : {}),
  };
}

export function disposeStackContext(c: StackContext): void {
  disposeMasks(c.masks);
  if (c.rope) tf.dispose([c.rope.cos, c.rope.sin]);
}

/** How a layer's attention is traced: in full unless a long input's summaries are asked for. */
function attentionOutput(
  opts: ForwardOptions,
  stack: Stack,
  layer: number,
): LayerView['attention'] {
  const s = opts.summarise;
  if (!s) return 'exact';
  return s.detail?.stack === stack && s.detail.layer === layer ? 'both' : 'summary';
}

/**
 * One traced block: its output `[1, P, d]` and self-attention keys/values (the caller owns
 * them), and the chunk, to build once `rec` has been flushed.
 */
export function traceBlock(
  model: Model,
  c: StackContext,
  layer: number,
  x: tf.Tensor,
  opts: ForwardOptions,
  rec: Recorder,
): { x: tf.Tensor; k: tf.Tensor; v: tf.Tensor; chunk: () => LayerChunk } {
  const cfg = model.config;
  const { stack, real, past, masks } = c;
  const gates = headGates(opts.ablatedHeads ?? [], stack, layer, cfg.nHeads);
  const selfMask = selfMaskOf(masks, c.windows[layer]);
  const tracer = new LayerTracer(rec, {
    prefix: `${c.prefix}h.${layer}.`,
    queries: real,
    keys: { self: past + real, cross: c.memory?.length ?? 0 },
    masks: { self: selfMask.shown, cross: masks.cross?.shown },
    gates,
    causal: c.causal,
    captureQKV: opts.captureQKV ?? false,
    attention: attentionOutput(opts, stack, layer),
    ...(c.ids ? { ids: c.ids } : {}),
  });
  let hidden!: Matrix;
  const out = tf.tidy(() => {
    const self = { bias: selfMask.bias, gate: gateTensor(gates.self), rope: c.rope };
    const cross = masks.cross && { bias: masks.cross.bias, gate: gateTensor(gates.cross) };
    const io = {
      self: { ...self, past: c.cache?.layers[layer] },
      ...(c.memory && cross ? { memory: c.memory.x, cross } : {}),
    };
    const r = block(x, stackParams(model, stack).blocks[layer], cfg, io, tracer);
    tracer.recordStats();
    hidden = rec.record(realTokens(r.x, real));
    return { x: r.x, k: r.selfKeys.k, v: r.selfKeys.v };
  });
  return { ...out, chunk: () => ({ type: 'layer', stack, layer, ...tracer.finish(), hidden }) };
}
