/**
 * Long inputs: what a traced forward keeps (each block's input) so that one of its layers can be
 * traced again later, in full, when the page asks for it (docs/performance.md, long inputs).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ForwardOptions } from './forward';
import type { Model } from './model';
import { Recorder } from './recorder';
import type { LayerChunk, Stack } from './trace';
import { disposeStackContext, stackContext, traceBlock, type LayerRef } from './tracedBlock';

/**
 * What a traced forward kept to trace one of its layers again (the page asks for the exact
 * matrices of a long input's layer): per stack, each block's input `[1, P, d]` and the encoder
 * output it read, and the run's options. The caller disposes it (`disposeKept`).
 */
export interface KeptInputs {
  options: Pick<ForwardOptions, 'causalMask' | 'causalEncoder' | 'usePositions' | 'ablatedHeads'>;
  stacks: Partial<Record<Stack, KeptStack>>;
}

export interface KeptStack {
  /**
   * Per block, its input in pieces along the tokens: the forward's `[1, P, d]`, then one `[1, n, d]`
   * per cached generation step (no copy of the whole input per step).
   */
  inputs: tf.Tensor[][];
  real: number;
  padded: number;
  memory?: { x: tf.Tensor; length: number };
}

/** Where a traced forward puts each block's input. */
export interface Keeper {
  add(layer: number, x: tf.Tensor): void;
}

export function keptInputs(): KeptInputs {
  return { options: {}, stacks: {} };
}

export function disposeKept(kept: KeptInputs): void {
  for (const s of Object.values(kept.stacks))
    tf.dispose([...s.inputs.flat(), ...(s.memory ? [s.memory.x] : [])]);
  kept.stacks = {};
}

/** Start keeping a stack's block inputs (and a copy of the encoder output it reads). */
export function keepStack(
  keep: KeptInputs,
  stack: Stack,
  lengths: { real: number; padded: number },
  memory?: { x: tf.Tensor; length: number },
): Keeper {
  const kept: KeptStack = {
    inputs: [],
    ...lengths,
    ...(memory ? { memory: { x: memory.x.clone(), length: memory.length } } : {}),
  };
  keep.stacks[stack] = kept;
  return { add: (layer, x) => (kept.inputs[layer] = [x.clone()]) };
}

/**
 * Keep a cached step's `n` new tokens after those of the forward that filled the cache (never
 * padded: a cache grows by exact lengths). A step that fails leaves the stack half extended: the
 * caller then drops what was kept.
 */
export function extendStack(keep: KeptInputs, stack: Stack, n: number): Keeper {
  const kept = keep.stacks[stack];
  if (!kept || kept.padded !== kept.real)
    throw new Error(`no unpadded ${stack} forward was kept to extend`);
  kept.real += n;
  kept.padded += n;
  return { add: (layer, x) => kept.inputs[layer].push(x.clone()) };
}

/**
 * Trace one layer of a kept forward again, from its block's kept input, with the same options
 * (`captureQKV` as asked now): the same kernels on the same tensors give the same numbers. Its
 * chunk has the exact matrices only: the page has the layer's summaries from the run.
 */
export async function retraceLayer(
  model: Model,
  kept: KeptInputs,
  { stack, layer }: LayerRef,
  captureQKV: boolean,
): Promise<LayerChunk> {
  const s = kept.stacks[stack];
  const pieces = s?.inputs[layer];
  if (!s || !pieces) throw new Error(`the forward kept no input for ${stack} layer ${layer}`);
  const opts: ForwardOptions = { ...kept.options, captureQKV };
  const c = stackContext(model, stack, s, opts, s.memory);
  const x = pieces.length === 1 ? pieces[0] : tf.concat(pieces, 1);
  const rec = new Recorder();
  try {
    const out = traceBlock(model, c, layer, x, opts, rec);
    tf.dispose([out.x, out.k, out.v]);
    await rec.flush();
    return out.chunk();
  } finally {
    if (x !== pieces[0]) x.dispose();
    disposeStackContext(c);
  }
}
