/**
 * Instrumentation of the traced forward: what it records of each block (attention matrices,
 * LayerNorm statistics, residual norms) for batch item 0, cut back to the real (unpadded)
 * lengths. The block code only calls the `BlockTracer` hooks; everything else lives here.
 */
import * as tf from '@tensorflow/tfjs-core';
import { valueNorms } from './analysis/valueNorms';
import type { AttentionResult } from './attention';
import type { BlockTracer } from './block';
import { weightTensor } from './halfWeights';
import { featureStats } from './layerNorm';
import type { AttentionParams } from './params';
import { summarise } from './analysis/attentionSummary';
import type { Recorder } from './recorder';
import type { AttentionSummary, AttentionTrace, Matrix, NormStats, ResidualNorms } from './trace';
import { row } from './trace';

/** The leading `sizes` of `t`; `t` itself when nothing is cut (a slice is a GPU pass on WebGL). */
export function leading(t: tf.Tensor, sizes: number[]): tf.Tensor {
  return sizes.every((size, axis) => size === t.shape[axis])
    ? t
    : tf.slice(
        t,
        sizes.map(() => 0),
        sizes,
      );
}

/** `[1, P, d] → [n, d]`: batch item 0, cut back to its n real (unpadded) tokens. */
export function realTokens(x: tf.Tensor, n: number): tf.Tensor {
  const d = x.shape[2]!;
  return tf.reshape(leading(x, [1, n, d]), [n, d]);
}

/**
 * Per-token mean and variance over features of the `[1, P, d]` tensors a chunk looks at
 * (LayerNorm inputs and outputs, points of the residual stream), from one reduction over their
 * stack: on WebGL each kernel is a GPU pass, and a separate reduction per tensor cost a dozen
 * passes per layer. Residual norms follow on the host: ‖x‖² = Σ x² = d·(σ² + μ²).
 */
export class TokenStats {
  private tensors: tf.Tensor[] = [];
  private stats?: Matrix; // [2, tensors, n]: mean, variance
  private width = 0;

  /** Add a tensor (once, however often it is added); returns its index. */
  add(x: tf.Tensor): number {
    const known = this.tensors.indexOf(x);
    return known >= 0 ? known : this.tensors.push(x) - 1;
  }

  /** Inside the tidy that made the tensors: queue the reduction of the first n tokens. */
  record(rec: Recorder, n: number): void {
    if (this.tensors.length === 0) return;
    this.width = this.tensors[0].shape[2]!;
    const { mean, variance } = featureStats(tf.concat(this.tensors, 0)); // [k, P] each
    this.stats = rec.record(leading(tf.stack([mean, variance]), [2, this.tensors.length, n]));
  }

  /** After the flush. */
  mean(i: number): Float32Array {
    return row(this.stats!, 0, i);
  }

  variance(i: number): Float32Array {
    return row(this.stats!, 1, i);
  }

  /** ‖x_t‖₂ per token. */
  norm(i: number): Float32Array {
    const [mean, variance] = [this.mean(i), this.variance(i)];
    return mean.map((m, t) => Math.sqrt(this.width * (variance[t] + m * m)));
  }

  normStats(name: string, input: number, output: number): NormStats {
    return {
      name,
      inputMean: this.mean(input),
      inputVar: this.variance(input),
      outputMean: this.mean(output),
      outputVar: this.variance(output),
    };
  }
}

/** What one layer's trace shows besides its tensors. */
export interface LayerView {
  /** Prefix of the LayerNorm names, e.g. `h.3.` or `decoder.h.3.`. */
  prefix: string;
  /** Real (unpadded) queries, and real keys per attention. */
  queries: number;
  keys: Record<'self' | 'cross', number>;
  /** 1 where a query may attend to a key, `[queries, keys]`, per attention. */
  masks: Record<'self' | 'cross', Matrix | undefined>;
  /** Per-head gate, 0 for an ablated head. */
  gates: Record<'self' | 'cross', Float32Array>;
  causal: boolean;
  captureQKV: boolean;
  /**
   * `exact`: the attention matrices; `summary`: only summaries (a long input's layer not shown in
   * full: its probabilities are read back apart, summarised, and dropped); `both`.
   */
  attention: 'exact' | 'summary' | 'both';
  /** The stack's tokens, for the summaries' induction score. */
  ids?: readonly number[];
}

/** A block tracer that records batch item 0, cut back to the real (unpadded) lengths. */
export class LayerTracer implements BlockTracer {
  private stats = new TokenStats();
  private norms: { name: string; input: number; output: number }[] = [];
  private residuals: { point: string; x: number }[] = [];
  private attentions: { kind: 'self' | 'cross'; mats: Record<string, Matrix> }[] = [];

  constructor(
    private rec: Recorder,
    private view: LayerView,
  ) {}

  norm(name: string, input: tf.Tensor, output: tf.Tensor): void {
    const [i, o] = [this.stats.add(input), this.stats.add(output)];
    this.norms.push({ name: this.view.prefix + name, input: i, output: o });
  }

  residual(point: string, x: tf.Tensor): void {
    this.residuals.push({ point, x: this.stats.add(x) });
  }

  /** Inside the block's tidy, once the block has run: queue the statistics of the whole layer. */
  recordStats(): void {
    this.stats.record(this.rec, this.view.queries);
  }

  attention(kind: 'self' | 'cross', r: AttentionResult, p: AttentionParams): void {
    const h = r.q.shape[1]!;
    const tq = this.view.queries;
    const tk = this.view.keys[kind];
    // [1, h, P, ·] → [h, rows, cols]: batch item 0, real queries (and keys) only.
    const cut = (t: tf.Tensor, rows: number, cols = t.shape[3]!) =>
      tf.reshape(leading(t, [1, h, rows, cols]), [h, rows, cols]);
    if (this.view.attention === 'summary') {
      this.attentions.push({ kind, mats: { probs: this.rec.record(cut(r.probs, tq, tk), true) } });
      return;
    }
    const mats: Record<string, Matrix> = {
      scores: this.rec.record(cut(r.scores, tq, tk)),
      probs: this.rec.record(cut(r.probs, tq, tk)),
    };
    if (this.view.captureQKV) {
      mats.q = this.rec.record(cut(r.q, tq));
      mats.k = this.rec.record(cut(r.k, tk));
      mats.v = this.rec.record(cut(r.v, tk));
      mats.headOutputs = this.rec.record(cut(r.heads, tq));
      const v = tf.reshape(leading(r.v, [1, h, tk, r.v.shape[3]!]), [h, tk, r.v.shape[3]!]);
      mats.valueNorms = this.rec.record(valueNorms(v, weightTensor(p.o.w)));
    }
    this.attentions.push({ kind, mats });
  }

  /** After the recorder has flushed: the chunk's plain-data parts. */
  finish(): {
    attentions: AttentionTrace[];
    summaries?: AttentionSummary[];
    norms: NormStats[];
    residual: ResidualNorms[];
  } {
    const common = (kind: 'self' | 'cross') => ({
      kind,
      causal: kind === 'self' && this.view.causal,
      mask: this.view.masks[kind]!,
      headGate: this.view.gates[kind],
    });
    const { attention } = this.view;
    return {
      attentions:
        attention === 'summary'
          ? []
          : this.attentions.map(({ kind, mats }) => ({
              ...common(kind),
              scores: mats.scores,
              probs: mats.probs,
              ...(mats.q
                ? {
                    q: mats.q,
                    k: mats.k,
                    v: mats.v,
                    headOutputs: mats.headOutputs,
                    valueNorms: mats.valueNorms,
                  }
                : {}),
            })),
      ...(attention === 'exact'
        ? {}
        : {
            summaries: this.attentions.map(({ kind, mats }) =>
              summarise({ ...common(kind), probs: mats.probs }, this.view.ids),
            ),
          }),
      norms: this.norms.map(({ name, input, output }) => this.stats.normStats(name, input, output)),
      residual: this.residuals.map(({ point, x }) => ({
        point,
        norms: this.stats.norm(x),
      })),
    };
  }
}
