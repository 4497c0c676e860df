/** What a run is asked for: the input and interventions the controls hold. */
import type { Interventions, ModelInfo, RunInput } from '../../workers/protocol';
import type { LabState, RunState } from './types';

/** Predictions asked of every run: the top-k list and its comparison with the baseline. */
export const TOP_K = 10;

export const DEFAULT_INTERVENTIONS: Interventions = {
  causalMask: true,
  usePositions: true,
  ablatedHeads: [],
};

export function interventionsOf(
  s: Pick<LabState, 'causalMask' | 'usePositions' | 'ablated'>,
): RunState['interventions'] {
  return { causalMask: s.causalMask, usePositions: s.usePositions, ablatedHeads: s.ablated };
}

/**
 * Whether runs capture q, k and v (and the value norms that come with them): the step-through
 * and its neuron view recompute from them, the KV cache view draws them, the attention × ‖value‖
 * mode draws the norms.
 */
export function wantsQKV(s: Pick<LabState, 'tab' | 'mode'>): boolean {
  return s.tab === 'step' || s.tab === 'generate' || s.mode === 'weighted';
}

export function isDefaultInterventions(i: Interventions): boolean {
  return i.causalMask && i.usePositions && i.ablatedHeads.length === 0;
}

export function isEncoderDecoder(info: ModelInfo | null): boolean {
  return info?.config.architecture === 'encoder-decoder';
}

export function inputOf(s: Pick<LabState, 'text' | 'sourceText' | 'modelInfo'>): RunInput | null {
  if (isEncoderDecoder(s.modelInfo)) {
    return s.sourceText.trim() ? { sourceText: s.sourceText, text: s.text } : null;
  }
  return s.text.trim() ? { text: s.text } : null;
}

/** What a baseline's predictions are valid for: the model and the input. */
export function inputKey(s: Pick<LabState, 'text' | 'sourceText' | 'modelName'>): string {
  return JSON.stringify([s.modelName, s.sourceText, s.text]);
}
