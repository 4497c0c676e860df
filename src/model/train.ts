/**
 * Training maths shared by `npm run train` and the tests: the loss, the learning-rate schedule,
 * Adam with global-norm gradient clipping, and seeded batch sampling. No file system here.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from './random';
import { decoderLogits, type Model } from './model';
import { allTensors } from './params';
import { installWasmKernels } from './wasmKernels';

export interface Schedule {
  steps: number;
  /** Linear warmup from ~0 to the peak over this many steps (post-norm models need it). */
  warmupSteps: number;
  peakLearningRate: number;
  /** Cosine decay from the peak ends here at the last step. */
  finalLearningRate: number;
  /** Gradients are rescaled so their global L2 norm is at most this. */
  clipNorm: number;
}

/** Learning rate of 0-based `step`: linear warmup, then cosine decay to the final rate. */
export function learningRateAt(s: Schedule, step: number): number {
  if (step < s.warmupSteps) return (s.peakLearningRate * (step + 1)) / s.warmupSteps;
  const progress = Math.min(1, (step - s.warmupSteps) / Math.max(1, s.steps - 1 - s.warmupSteps));
  return (
    s.finalLearningRate +
    (s.peakLearningRate - s.finalLearningRate) * 0.5 * (1 + Math.cos(Math.PI * progress))
  );
}

/**
 * Mean cross-entropy −log p(target) in nats, over positions whose weight is 1 (all positions
 * without weights): logits `[B, T, V]`, targets and weights `[B, T]`.
 */
export function crossEntropy(
  logits: tf.Tensor3D,
  targets: tf.Tensor2D,
  weights?: tf.Tensor2D,
): tf.Scalar {
  return tf.tidy(() => {
    const vocab = logits.shape[2];
    const logProbs = tf.logSoftmax(tf.reshape(logits, [-1, vocab]));
    const oneHot = tf.oneHot(tf.cast(tf.reshape(targets, [-1]), 'int32'), vocab);
    const picked = tf.sum(tf.mul(logProbs, oneHot), 1);
    if (!weights) return tf.neg(tf.mean(picked)) as tf.Scalar;
    const w = tf.reshape(weights, [-1]);
    return tf.neg(tf.div(tf.sum(tf.mul(picked, w)), tf.sum(w))) as tf.Scalar;
  });
}

/** tf's Adam, with a learning rate that the schedule sets before every step. */
class ScheduledAdam extends tf.AdamOptimizer {
  setLearningRate(rate: number): void {
    this.learningRate = rate;
  }
}

/** Adam's moment decay rates: β₂ = 0.99 as nanoGPT uses for its small character models. */
const BETA1 = 0.9;
const BETA2 = 0.99;
const EPSILON = 1e-8;

export interface StepResult {
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  learningRate: number;
}

/** Optimises every parameter of a model whose tensors are variables (see `initModel`). */
export class Trainer {
  /** Steps taken so far. */
  step = 0;
  private readonly optimizer: ScheduledAdam;
  private readonly variables: tf.Variable[];

  constructor(
    model: Model,
    readonly schedule: Schedule,
  ) {
    this.variables = allTensors(model.params).map((t) => {
      if (!(t instanceof tf.Variable)) throw new Error('Trainer: the model was not made trainable');
      return t;
    });
    installWasmKernels();
    this.optimizer = new ScheduledAdam(schedule.peakLearningRate, BETA1, BETA2, EPSILON);
  }

  /** One optimiser step on the loss `lossOf` computes (inside the gradient tape). */
  trainStep(lossOf: () => tf.Scalar): StepResult {
    const learningRate = learningRateAt(this.schedule, this.step);
    this.optimizer.setLearningRate(learningRate);
    const { value, grads } = tf.variableGrads(lossOf, this.variables);
    const norm = tf.tidy(() =>
      tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g))))),
    );
    const clipped = tf.tidy(() => {
      const scale = tf.minimum(1, tf.div(this.schedule.clipNorm, tf.add(norm, 1e-6)));
      return Object.entries(grads).map(([name, g]) => ({ name, tensor: tf.mul(g, scale) }));
    });
    this.optimizer.applyGradients(clipped);
    const [loss, gradNorm] = [value.dataSync()[0], norm.dataSync()[0]];
    tf.dispose([value, norm, grads, clipped.map((c) => c.tensor)]);
    this.step++;
    return { loss, gradNorm, learningRate };
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}

export interface TokenBatch {
  inputs: Int32Array;
  targets: Int32Array;
  /** Rows and columns of both. */
  shape: [number, number];
}

/** `batch` windows of `length` tokens at random offsets, with the next token of each as target. */
export function sampleWindows(
  tokens: Int32Array,
  batch: number,
  length: number,
  rng: Rng,
): TokenBatch {
  if (tokens.length < length + 1) throw new Error(`need more than ${length} tokens to sample`);
  const inputs = new Int32Array(batch * length);
  const targets = new Int32Array(batch * length);
  for (let b = 0; b < batch; b++) {
    const start = rng.int(tokens.length - length);
    inputs.set(tokens.subarray(start, start + length), b * length);
    targets.set(tokens.subarray(start + 1, start + length + 1), b * length);
  }
  return { inputs, targets, shape: [batch, length] };
}

/** The first `count` non-overlapping windows of `length` tokens (all of them when omitted). */
export function consecutiveWindows(
  tokens: Int32Array,
  length: number,
  count = Infinity,
): TokenBatch {
  const n = Math.min(count, Math.floor((tokens.length - 1) / length));
  if (n < 1) throw new Error(`need more than ${length} tokens for one window`);
  return {
    inputs: tokens.slice(0, n * length),
    targets: tokens.slice(1, n * length + 1),
    shape: [n, length],
  };
}

/** Next-token loss of a decoder-only model on a batch (for use inside the gradient tape). */
export function languageModelLoss(model: Model, batch: TokenBatch): tf.Scalar {
  return tf.tidy(() =>
    crossEntropy(
      decoderLogits(model, tf.tensor2d(batch.inputs, batch.shape, 'int32')),
      tf.tensor2d(batch.targets, batch.shape, 'int32'),
    ),
  );
}

/** Mean next-token loss over the rows of `windows`, `rowsPerBatch` rows at a time, no gradient. */
export function evaluateLoss(model: Model, windows: TokenBatch, rowsPerBatch: number): number {
  installWasmKernels();
  const [rows, length] = windows.shape;
  let total = 0;
  for (let r = 0; r < rows; r += rowsPerBatch) {
    const n = Math.min(rowsPerBatch, rows - r);
    const part: TokenBatch = {
      inputs: windows.inputs.subarray(r * length, (r + n) * length),
      targets: windows.targets.subarray(r * length, (r + n) * length),
      shape: [n, length],
    };
    const loss = languageModelLoss(model, part);
    total += loss.dataSync()[0] * n;
    loss.dispose();
  }
  return total / rows;
}
