/**
 * A recipe says how one shipped model is made: its config, data, tokenizer, schedule and
 * evaluation. `runRecipe` trains it deterministically from the recipe's seed and returns the
 * files of `public/models/NAME/`; writing them is the caller's business.
 */
import * as tf from '@tensorflow/tfjs-core';
import '../lib/gradients';
import { loadCheckpoint } from '../../src/model/checkpoint';
import { configToJson, saveCheckpoint } from '../../src/model/saveCheckpoint';
import type { ModelConfig } from '../../src/model/config';
import { initModel } from '../../src/model/init';
import { Rng } from '../../src/model/random';
import { disposeModel, type Model } from '../../src/model/model';
import { parameterCount } from '../../src/model/params';
import { Trainer, type Schedule } from '../../src/model/train';
import type { ModelExample } from '../../src/workers/protocol';

export interface Prepared {
  config: ModelConfig;
  /** Serialisable tokenizer (its `toJSON()` is written as lab-tokenizer.json). */
  tokenizer?: { toJSON(): unknown };
  /** Decoder tokens per training step (on average), for the tokens/s figure. */
  tokensPerStep: number;
  /** Loss of a freshly drawn training batch; runs inside the gradient tape. */
  batchLoss(model: Model, rng: Rng): tf.Scalar;
  /** A cheap validation loss for the loss curve. */
  validationLoss(model: Model): number;
  /** The final metrics, measured on the model as shipped (F16 weights). */
  metrics(model: Model): Record<string, unknown> | Promise<Record<string, unknown>>;
  /** What the data and batches are, for training.json. */
  data: Record<string, unknown>;
  /** The token ids of the splits, for a trainer outside tfjs (scripts/torch/). */
  tokenIds?: { train: Int32Array; validation: Int32Array };
}

/** One run of scripts/torch/train_lm.py; each later phase starts from the previous one's F16 file. */
export interface PyTorchPhase {
  schedule: Schedule;
  /** Seeds the batches and dropout of this phase. */
  seed: number;
  /** Fraction of each batch that is a text span written twice (see shakespeare.ts). */
  repeatedRows: number;
  /** Fraction of each batch that starts with random tokens written twice. */
  randomRepeatedRows: number;
  /** Fraction of each batch that is one random block written over and over (default 0). */
  filledRepeatedRows?: number;
  /** This phase's own batch, dropout and weight decay, where they differ from the settings'. */
  batch?: number;
  dropout?: number;
  weightDecay?: number;
  /** Ship the weights of the best validation point or of the last step. */
  keep: 'best' | 'last';
}

/** What scripts/torch/train_lm.py needs beyond the config. */
export interface PyTorchSettings {
  /** Rows of CONTEXT tokens per step. */
  batch: number;
  dropout: number;
  /** AdamW's, on weight matrices only. */
  weightDecay: number;
  phases: PyTorchPhase[];
}

export interface Recipe {
  name: string;
  title: string;
  description: string;
  /** index.json's how-to, shown on the page, and the first screen's example (its `ModelExample`). */
  howTo?: string;
  example?: ModelExample;
  seed: number;
  schedule: Schedule;
  /** Steps between two points of the loss curve. */
  evalEvery: number;
  /** Builds config, tokenizer and data; deterministic. */
  prepare(): Prepared;
  /** Set when `npm run train` trains this model with PyTorch (scripts/torch/) by default. */
  pytorch?: PyTorchSettings;
}

export interface Progress {
  step: number;
  steps: number;
  loss: number;
  valLoss?: number;
  learningRate: number;
  tokensPerSecond: number;
  etaSeconds: number;
}

export interface TrainingRecord {
  name: string;
  /** The loss curve, flat as the app's training panel reads it (see src/ui/lib/norms.ts). */
  steps: number[];
  /** Mean training loss over the steps since the previous point. */
  train_loss: number[];
  val_loss: number[];
  metrics: Record<string, unknown>;
  recipe: {
    schedule: Schedule;
    eval_every: number;
    data: Record<string, unknown>;
    config: Record<string, unknown>;
    parameters: number;
  };
  seed: number;
  wall_time_s: number;
  backend: string;
}

export interface RunResult {
  config: Record<string, unknown>;
  safetensors: Uint8Array;
  tokenizer?: unknown;
  training: TrainingRecord;
  /** The model as shipped (reloaded from the F16 file); the caller disposes it. */
  model: Model;
}

export interface RunOptions {
  /** Override the recipe's step count (and shorten the warmup to fit); for tests. */
  steps?: number;
  onProgress?: (p: Progress) => void;
}

/** The recipe's schedule, or a shorter one of `steps` whose warmup fits (for tests and trials). */
export function scheduleFor(recipe: Recipe, steps?: number): Schedule {
  if (steps === undefined) return recipe.schedule;
  return {
    ...recipe.schedule,
    steps,
    warmupSteps: Math.min(recipe.schedule.warmupSteps, Math.floor(steps / 4)),
  };
}

/** A different stream from the initialisation's, so batches do not mirror the weights. */
const BATCH_STREAM = 0x9e3779b9;

export async function runRecipe(recipe: Recipe, options: RunOptions = {}): Promise<RunResult> {
  const started = performance.now();
  const schedule = scheduleFor(recipe, options.steps);
  const steps = schedule.steps;
  const evalEvery = Math.min(recipe.evalEvery, steps);
  const prepared = recipe.prepare();
  const model = initModel(prepared.config, recipe.seed);
  const trainer = new Trainer(model, schedule);
  const rng = new Rng((recipe.seed ^ BATCH_STREAM) >>> 0);
  const curve = { steps: [] as number[], train_loss: [] as number[], val_loss: [] as number[] };
  let sum = 0;
  let count = 0;
  const loopStarted = performance.now();
  try {
    for (let step = 1; step <= steps; step++) {
      const r = trainer.trainStep(() => prepared.batchLoss(model, rng));
      if (!Number.isFinite(r.loss))
        throw new Error(`${recipe.name}: loss is ${r.loss} at step ${step}`);
      sum += r.loss;
      count++;
      const point = step % evalEvery === 0 || step === steps;
      let valLoss: number | undefined;
      if (point) {
        valLoss = prepared.validationLoss(model);
        curve.steps.push(step);
        curve.train_loss.push(sum / count);
        curve.val_loss.push(valLoss);
        sum = 0;
        count = 0;
      }
      const seconds = (performance.now() - loopStarted) / 1000;
      options.onProgress?.({
        step,
        steps,
        loss: r.loss,
        ...(valLoss === undefined ? {} : { valLoss }),
        learningRate: r.learningRate,
        tokensPerSecond: (step * prepared.tokensPerStep) / seconds,
        etaSeconds: (seconds / step) * (steps - step),
      });
    }
  } finally {
    trainer.dispose();
  }

  const parameters = parameterCount(model.params);
  const saved = saveCheckpoint(model, 'F16');
  disposeModel(model);
  const shipped = loadCheckpoint(saved.config, saved.safetensors);
  const metrics = await prepared.metrics(shipped);
  return {
    config: saved.config,
    safetensors: saved.safetensors,
    ...(prepared.tokenizer ? { tokenizer: prepared.tokenizer.toJSON() } : {}),
    model: shipped,
    training: {
      name: recipe.name,
      ...curve,
      metrics,
      recipe: {
        schedule,
        eval_every: evalEvery,
        data: prepared.data,
        config: configToJson(prepared.config),
        parameters,
      },
      seed: recipe.seed,
      wall_time_s: Math.round((performance.now() - started) / 100) / 10,
      backend: tf.getBackend(),
    },
  };
}
