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
  inputs: tf.Tensor[];
  real: number;
  padded: number;
  memory?: { x: tf.Tensor; length: number };
}

export function keptInputs(): KeptInputs {
  return { options: {}, stacks: {} };
}

export function disposeKept(kept: KeptInputs): void {
  for (const s of Object.values(kept.stacks))
    tf.dispose([...s.inputs, ...(s.memory ? [s.memory.x] : [])]);
  kept.stacks = {};
}

/** Start keeping a stack's block inputs (and a copy of the encoder output it reads). */
export function keepStack(
  keep: KeptInputs,
  stack: Stack,
  lengths: { real: number; padded: number },
  memory?: { x: tf.Tensor; length: number },
): KeptStack {
  const kept: KeptStack = {
    inputs: [],
    ...lengths,
    ...(memory ? { memory: { x: memory.x.clone(), length: memory.length } } : {}),
  };
  keep.stacks[stack] = kept;
  return kept;
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
  const x = s?.inputs[layer];
  if (!s || !x) throw new Error(`the forward kept no input for ${stack} layer ${layer}`);
  const opts: ForwardOptions = { ...kept.options, captureQKV };
  const c = stackContext(model, stack, s, opts, s.memory);
  const rec = new Recorder();
  try {
    const out = traceBlock(model, c, layer, x, opts, rec);
    tf.dispose([out.x, out.k, out.v]);
    await rec.flush();
    return out.chunk();
  } finally {
    disposeStackContext(c);
  }
}
