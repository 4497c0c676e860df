/** LayerNorm statistics, residual-stream norms across depth, and training curves, made plottable. */
import type { NormStats, StackTrace } from '../../model/trace';

export interface NormSummary {
  name: string;
  inputMean: number[];
  inputStd: number[];
  outputMean: number[];
  outputStd: number[];
}

const std = (variance: Float32Array) => Array.from(variance, (v) => Math.sqrt(Math.max(0, v)));

export function summariseNorm(stats: NormStats): NormSummary {
  return {
    name: stats.name,
    inputMean: Array.from(stats.inputMean),
    inputStd: std(stats.inputVar),
    outputMean: Array.from(stats.outputMean),
    outputStd: std(stats.outputVar),
  };
}

/** Every LayerNorm of a stack in the order the forward pass meets them. */
export function stackNorms(stack: StackTrace): NormSummary[] {
  const out: NormSummary[] = [];
  for (const layer of stack.layers) if (layer) out.push(...layer.norms.map(summariseNorm));
  if (stack.output?.finalNorm) out.push(summariseNorm(stack.output.finalNorm));
  return out;
}

export interface DepthPoint {
  /** e.g. `0 after-attention`. */
  label: string;
  /** ‖x_t‖ per token. */
  norms: number[];
}

/** Residual-stream norms from the embedding through every layer's recorded points. */
export function residualAcrossDepth(stack: StackTrace): DepthPoint[] {
  const out: DepthPoint[] = [];
  for (const layer of stack.layers) {
    if (!layer) continue;
    for (const r of layer.residual) {
      // `input` of layer L equals the previous point; keep it only for the first layer.
      if (r.point === 'input' && out.length > 0) continue;
      out.push({ label: `${layer.layer} ${r.point}`, norms: Array.from(r.norms) });
    }
  }
  return out;
}

export function mean(xs: ArrayLike<number>): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

export interface TrainingCurve {
  steps: number[];
  trainLoss: number[];
  /** Validation loss, at `valSteps` (the training steps, unless `val_steps` says otherwise). */
  valLoss?: number[];
  valSteps?: number[];
}

const numbers = (v: unknown): v is number[] =>
  Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x));

/** `training.json` → curve, or null when it has no usable loss curve. */
export function parseTrainingCurve(json: unknown): TrainingCurve | null {
  if (typeof json !== 'object' || json === null) return null;
  const j = json as Record<string, unknown>;
  if (!numbers(j.steps) || !numbers(j.train_loss) || j.steps.length !== j.train_loss.length) {
    return null;
  }
  const curve: TrainingCurve = { steps: j.steps, trainLoss: j.train_loss };
  if (numbers(j.val_loss)) {
    const valSteps = numbers(j.val_steps) ? j.val_steps : j.steps;
    if (valSteps.length === j.val_loss.length) {
      curve.valLoss = j.val_loss;
      curve.valSteps = valSteps;
    }
  }
  return curve;
}
