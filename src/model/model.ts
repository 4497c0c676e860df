/**
 * The model: embeddings → blocks → final norm → logits, for decoder-only, encoder-only and
 * encoder–decoder transformers. Two drivers share the same block code:
 *  - `runForward` (forward.ts) runs one sequence and streams the trace layer by layer
 *    (inference, the UI);
 *  - `decoderLogits` / `encoderDecoderLogits` (drivers.ts) run a batch with no trace (training,
 *    untraced predictions).
 * This file holds the model's own types and re-exports the drivers, so callers import one module.
 */
import type { ModelConfig } from './config';
import { disposeParams, type ModelParams } from './params';
import type { Stack } from './trace';

export interface Model {
  config: ModelConfig;
  params: ModelParams;
}

export interface HeadRef {
  stack: Stack;
  layer: number;
  head: number;
  /** Which attention of the layer; decoder layers of encoder–decoder models have two. Default `self`. */
  attention?: 'self' | 'cross';
}

export function disposeModel(model: Model): void {
  disposeParams(model.params);
}

export { decoderLogits, encoderDecoderLogits, type LogitPositions } from './drivers';
export { runForward, type ForwardInput, type ForwardOptions } from './forward';
export { disposeKept, keptInputs, retraceLayer, type KeptInputs } from './retrace';
export type { LayerRef } from './tracedBlock';
export { checkTokenTypes, checkVocabulary, ForwardError } from './inputs';
export { createKVCache, type KVCache } from './kvCache';
