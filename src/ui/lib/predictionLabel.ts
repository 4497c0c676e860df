/**
 * What the predictions list is predicting: a causal LM's next token, or a masked LM's fill-in at
 * the input's first [MASK] (the engine's `done.maskPosition`). A masked LM given no [MASK] is
 * told how to ask for one: its predictions at the last position are of little use.
 */
import type { ModelConfig } from '../../model/config';

export interface PredictionLabel {
  title: string;
  /** Says how to get fill-in predictions; only for a masked LM without a [MASK] in its input. */
  hint?: string;
}

export function predictionLabel(
  cfg: ModelConfig,
  maskPosition: number | undefined,
  lastPosition: number,
): PredictionLabel {
  if (maskPosition !== undefined)
    return { title: `Fill-in for [MASK] at position ${maskPosition}` };
  if (!cfg.mlmHead) return { title: 'Next token' };
  return {
    title: `Predictions at the last position (${lastPosition})`,
    hint: 'No [MASK] in the text: type [MASK] where a word should go to see what the model fills in there.',
  };
}
