/**
 * Activation patching (causal tracing): run a clean and a corrupted prompt of the same length,
 * then rerun the corrupted one with one activation taken from the clean run, and measure how much
 * of the logit difference (answer − foil, at the last position) comes back:
 *   restored = (LD_patched − LD_corrupted) / (LD_clean − LD_corrupted).
 * Two maps: each head's output (layers × heads) and the residual stream at each block's input
 * and position (layers × positions). The patched runs are batched: one run per layer with one
 * batch row per head (or per position), started at that layer from the corrupted run's residual.
 * docs/interpretability.md.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../model';
import { logitsOf } from '../parts';
import {
  decoderHidden,
  embedIds,
  NO_INTERVENTIONS,
  rowAt,
  tracerOf,
  type StreamInterventions,
} from './stream';

/** What the patched runs take from the clean and corrupted runs (kept: `disposePatchingRuns`). */
export interface PatchingRuns {
  /** Per layer: the clean run's head outputs `[1, h, T, d/h]`. */
  cleanHeads: tf.Tensor[];
  /** Per layer: each run's residual at the block's input `[1, T, d]`. */
  cleanInputs: tf.Tensor[];
  corruptedInputs: tf.Tensor[];
  /** Each run's logits at the last position `[vocab]`, to choose the answer and the foil. */
  cleanLogits: tf.Tensor1D;
  corruptedLogits: tf.Tensor1D;
  /** The interventions every run (clean, corrupted, patched) is made under. */
  interventions: StreamInterventions;
}

/** The last position's logits of the decoder on `ids`, keeping each block's input (and heads). */
function recordedRun(
  model: Model,
  ids: number[],
  iv: StreamInterventions,
  inputs: tf.Tensor[],
  heads?: tf.Tensor[],
): tf.Tensor1D {
  return tf.tidy(() => {
    const hidden = decoderHidden(model, embedIds(model, ids, iv), {
      probe: {
        tracer: () =>
          tracerOf({
            // A clone: the driver disposes a block's input once the next block has run.
            residual: (point, x) => point === 'input' && inputs.push(tf.keep(tf.clone(x))),
            attention: (r) => heads?.push(tf.keep(r.heads)),
          }),
      },
      interventions: iv,
    });
    return tf.reshape(logitsOf(model, rowAt(hidden, ids.length - 1)), [-1]) as tf.Tensor1D;
  });
}

/** The clean and corrupted runs under `iv` (an ablated head stays ablated in every run). */
export function patchingRuns(
  model: Model,
  clean: number[],
  corrupted: number[],
  iv: StreamInterventions = NO_INTERVENTIONS,
): PatchingRuns {
  if (clean.length !== corrupted.length) {
    throw new RangeError(
      `patching needs prompts of one length, not ${clean.length} and ${corrupted.length}`,
    );
  }
  const runs: PatchingRuns = {
    cleanHeads: [],
    cleanInputs: [],
    corruptedInputs: [],
    cleanLogits: null!,
    corruptedLogits: null!,
    interventions: iv,
  };
  runs.cleanLogits = recordedRun(model, clean, iv, runs.cleanInputs, runs.cleanHeads);
  runs.corruptedLogits = recordedRun(model, corrupted, iv, runs.corruptedInputs);
  return runs;
}

export function disposePatchingRuns(runs: PatchingRuns): void {
  tf.dispose([
    ...runs.cleanHeads,
    ...runs.cleanInputs,
    ...runs.corruptedInputs,
    runs.cleanLogits,
    runs.corruptedLogits,
  ]);
}

/** answer − foil at the last position of final hidden states `[B, T, d]`: `[B]`. */
function logitDifference(
  model: Model,
  hidden: tf.Tensor,
  answer: number,
  foil: number,
): tf.Tensor1D {
  const logits = logitsOf(model, rowAt(hidden, hidden.shape[1]! - 1)); // [B, vocab]
  const pair = tf.gather(logits, tf.tensor1d([answer, foil], 'int32'), 1); // [B, 2]
  const [a, f] = tf.split(pair, 2, 1);
  return tf.reshape(tf.sub(a, f), [-1]);
}

/** The logit difference with each head of `layer` patched in turn: `[heads]`, one batched run. */
export function patchHeads(
  model: Model,
  runs: PatchingRuns,
  layer: number,
  answer: number,
  foil: number,
): tf.Tensor1D {
  return tf.tidy(() => {
    const h = model.config.nHeads;
    const x = tf.tile(runs.corruptedInputs[layer], [h, 1, 1]); // batch row j patches head j
    const where = tf.reshape(tf.eye(h), [h, h, 1, 1]);
    const hidden = decoderHidden(model, x, {
      probe: { from: layer },
      patch: { layer, heads: runs.cleanHeads[layer], where },
      interventions: runs.interventions,
    });
    return logitDifference(model, hidden, answer, foil);
  });
}

/**
 * The logit difference with the residual at `layer`'s input patched at each of `positions` in
 * turn: `[positions]`, one batched run.
 */
export function patchResidual(
  model: Model,
  runs: PatchingRuns,
  layer: number,
  positions: number[],
  answer: number,
  foil: number,
): tf.Tensor1D {
  return tf.tidy(() => {
    const corrupted = runs.corruptedInputs[layer]; // [1, T, d]
    const t = corrupted.shape[1]!;
    const where = tf.expandDims(
      tf.cast(tf.oneHot(tf.tensor1d(positions, 'int32'), t), 'float32'),
      2,
    ); // [B, T, 1]
    // x·(1 − w) + y·w with w ∈ {0, 1}: exactly one run's bits in each row.
    const x = tf.add(tf.mul(corrupted, tf.sub(1, where)), tf.mul(runs.cleanInputs[layer], where));
    const run = { probe: { from: layer }, interventions: runs.interventions };
    return logitDifference(model, decoderHidden(model, x, run), answer, foil);
  });
}

/**
 * The answer (the clean run's prediction) and the foil (the corrupted run's, or its runner-up
 * where both runs predict the same token).
 */
export function answerAndFoil(
  clean: ArrayLike<number>,
  corrupted: ArrayLike<number>,
): { answer: number; foil: number } {
  const best = (xs: ArrayLike<number>, skip: number) => {
    let at = -1;
    for (let i = 0; i < xs.length; i++) if (i !== skip && (at < 0 || xs[i] > xs[at])) at = i;
    return at;
  };
  const answer = best(clean, -1);
  return { answer, foil: best(corrupted, answer) };
}

/**
 * Below this gap (nats) between the clean and corrupted logit differences there is nothing to
 * restore: the fraction is defined as 1 (patching a run with itself restores everything).
 */
export const NOTHING_TO_RESTORE = 1e-6;

export function restoredFraction(patched: number, clean: number, corrupted: number): number {
  const gap = clean - corrupted;
  return Math.abs(gap) < NOTHING_TO_RESTORE ? 1 : (patched - corrupted) / gap;
}
