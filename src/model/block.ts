import * as tf from '@tensorflow/tfjs-core';
import { multiHeadAttention, type AttentionInputs, type AttentionResult } from './attention';
import { blockedAttention, type BlockedInputs } from './blockedAttention';
import type { ModelConfig } from './config';
import { feedForward } from './feedForward';
import { normalize } from './norm';
import type { AttentionParams, BlockParams, FeedForwardParams, LayerNormParams } from './params';
import { gatedFeedForward } from './swiglu';

/** What a traced forward wants to see inside a block; training passes none. */
export interface BlockTracer {
  norm(name: string, input: tf.Tensor, output: tf.Tensor): void;
  residual(point: string, x: tf.Tensor): void;
  /** `p`: the attention's weights (the value norms read its output projection). */
  attention(kind: 'self' | 'cross', result: AttentionResult, p: AttentionParams): void;
}

export interface BlockInputs {
  /**
   * Self-attention's mask, gate, cache and RoPE tables (the block adds the model's scaling).
   * Blocked inputs (a `mask` instead of a `bias`) compute it in blocks of queries
   * (blockedAttention.ts): untraced forwards only, the tracer sees no attention then.
   */
  self: AttentionInputs | BlockedInputs;
  /** Encoder output and its attention inputs, for decoder blocks of encoder–decoder models. */
  memory?: tf.Tensor;
  cross?: AttentionInputs | BlockedInputs;
}

/** Attention with full scores and probabilities for the tracer, or in blocks of queries. */
function attend(
  xq: tf.Tensor,
  xkv: tf.Tensor,
  p: AttentionParams,
  nHeads: number,
  io: AttentionInputs | BlockedInputs,
  kind: 'self' | 'cross',
  tracer?: BlockTracer,
): Pick<AttentionResult, 'out' | 'kv'> {
  if ('mask' in io) return blockedAttention(xq, xkv, p, nHeads, io);
  const r = multiHeadAttention(xq, xkv, p, nHeads, io);
  tracer?.attention(kind, r, p);
  return r;
}

export interface BlockOutput {
  x: tf.Tensor;
  /** Self-attention's keys and values, past included, per key/value head: the next step's cache. */
  selfKeys: { k: tf.Tensor; v: tf.Tensor };
}

/** The MLP: SwiGLU where the block has a gate (Llama family), act(x W₁ + b₁) W₂ + b₂ otherwise. */
function mlp(h: tf.Tensor, p: FeedForwardParams, cfg: ModelConfig): tf.Tensor {
  return p.gate
    ? gatedFeedForward(h, { ...p, gate: p.gate }, cfg.activation)
    : feedForward(h, p, cfg.activation);
}

/**
 * One transformer block. Pre-norm (GPT-2, Llama, GPT-Neo):  x = x + f(N(x)).
 * Post-norm (the original Transformer, Marian, BERT):  x = N(x + f(x)).
 * N is LayerNorm, or RMSNorm where the config says so.
 */
export function block(
  x: tf.Tensor,
  p: BlockParams,
  cfg: ModelConfig,
  io: BlockInputs,
  tracer?: BlockTracer,
): BlockOutput {
  const subLayer = (
    input: tf.Tensor,
    ln: LayerNormParams,
    name: string,
    f: (h: tf.Tensor) => tf.Tensor,
  ) => {
    if (cfg.norm === 'pre') {
      const h = normalize(input, ln, cfg);
      tracer?.norm(name, input, h);
      return tf.add(input, f(h));
    }
    const sum = tf.add(input, f(input));
    const out = normalize(sum, ln, cfg);
    tracer?.norm(name, sum, out);
    return out;
  };

  tracer?.residual('input', x);
  let selfKeys: BlockOutput['selfKeys'] | undefined;
  x = subLayer(x, p.ln1, 'ln_1', (h) => {
    const self = cfg.unscaledScores ? { ...io.self, unscaled: true } : io.self;
    const r = attend(h, h, p.attn, cfg.nHeads, self, 'self', tracer);
    selfKeys = r.kv;
    return r.out;
  });
  tracer?.residual('after-attention', x);

  if (p.cross && p.lnCross && io.memory && io.cross) {
    const { memory, cross } = io;
    x = subLayer(x, p.lnCross, 'ln_cross_attn', (h) => {
      return attend(h, memory, p.cross!, cfg.nHeads, cross, 'cross', tracer).out;
    });
    tracer?.residual('after-cross-attention', x);
  }

  if (p.mlp && p.ln2) {
    const ff = p.mlp;
    x = subLayer(x, p.ln2, 'ln_2', (h) => mlp(h, ff, cfg));
    tracer?.residual('after-mlp', x);
  }
  return { x, selfKeys: selfKeys! };
}
