/**
 * Fresh parameters for the models the project trains itself, as trainable variables.
 *
 * GPT-2's scheme (as in nanoGPT): every weight matrix and embedding ~ N(0, 0.02²), the output
 * projections that write into the residual stream (attention `o`, MLP `proj`) ~ N(0, (0.02/√(2L))²)
 * so the stream's variance does not grow with depth, biases 0, LayerNorm γ = 1 and β = 0.
 *
 * Every random number comes from one seeded JavaScript generator, drawn in a fixed order, so a
 * seed gives the same bits on every backend (tf.randomNormal's seeding is backend-specific).
 * LayerNorms and biases draw nothing: a pre-norm and a post-norm model of the same shape and seed
 * start from identical weight matrices even though only one of them has a final LayerNorm.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from './config';
import type { Model } from './model';
import {
  EMBEDDING_CHUNK_ROWS,
  layersOf,
  stacksOf,
  type AttentionParams,
  type BlockParams,
  type LayerNormParams,
  type Linear,
  type ModelParams,
  type StackParams,
} from './params';

/** Seeded pseudo-random numbers (mulberry32): small, fast, identical on every platform. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform integer in [lo, hi], both included. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** Standard normal (Box–Muller; 1 − u keeps the logarithm finite). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

const STD = 0.02;

/**
 * A model of `config` with freshly initialised parameters, every tensor a trainable
 * `tf.Variable`. Dispose it with `disposeModel`.
 */
export function initModel(config: ModelConfig, seed: number): Model {
  const rng = new Rng(seed);
  const d = config.dModel;
  // tf.variable keeps its own reference to the data, so the temporary tensor can go at once.
  const variable = <R extends tf.Rank>(make: () => tf.Tensor<R>) =>
    tf.tidy(() => tf.variable(make()));
  const normal = (rows: number, cols: number, std: number) =>
    variable(() => {
      const values = new Float32Array(rows * cols);
      for (let i = 0; i < values.length; i++) values[i] = rng.normal() * std;
      return tf.tensor2d(values, [rows, cols]);
    });
  const zeros = (n: number) => variable(() => tf.zeros([n]) as tf.Tensor1D);
  const ones = (n: number) => variable(() => tf.ones([n]) as tf.Tensor1D);
  const norm = (): LayerNormParams => ({ gamma: ones(d), beta: zeros(d) });
  const linear = (inp: number, out: number, std: number, bias: boolean): Linear => ({
    w: normal(inp, out, std),
    ...(bias ? { b: zeros(out) } : {}),
  });
  const attention = (residualStd: number): AttentionParams => {
    const bias = config.attentionBias;
    return {
      q: linear(d, d, STD, bias),
      k: linear(d, d, STD, bias),
      v: linear(d, d, STD, bias),
      o: linear(d, d, residualStd, bias),
    };
  };
  /** Row chunks as the loaders make them, so large vocabularies stay WebGL-safe. */
  const rowChunks = (rows: number, cols: number): tf.Tensor2D[] => {
    const chunks: tf.Tensor2D[] = [];
    for (let r = 0; r < rows; r += EMBEDDING_CHUNK_ROWS)
      chunks.push(normal(Math.min(EMBEDDING_CHUNK_ROWS, rows - r), cols, STD));
    return chunks;
  };

  const params: ModelParams = { tokenEmbedding: rowChunks(config.vocabSize, d) };
  if (config.positions === 'learned')
    params.positionEmbedding = normal(config.contextLength, d, STD);
  for (const stack of stacksOf(config)) {
    const layers = layersOf(config, stack);
    const residualStd = STD / Math.sqrt(2 * layers);
    const crossAttention = stack === 'decoder' && config.architecture === 'encoder-decoder';
    const blocks: BlockParams[] = [];
    for (let i = 0; i < layers; i++) {
      const b: BlockParams = { ln1: norm(), attn: attention(residualStd) };
      if (crossAttention) {
        b.lnCross = norm();
        b.cross = attention(residualStd);
      }
      if (!config.attentionOnly) {
        b.ln2 = norm();
        b.mlp = {
          fc: linear(d, config.dFF, STD, true),
          proj: linear(config.dFF, d, residualStd, true),
        };
      }
      blocks.push(b);
    }
    const sp: StackParams = { blocks, ...(config.finalNorm ? { finalNorm: norm() } : {}) };
    params[stack] = sp;
  }
  if (!config.tiedEmbeddings) {
    // Stored [d, cols] per column chunk, as the loader keeps an untied head.
    params.lmHead = [];
    for (let c = 0; c < config.vocabSize; c += EMBEDDING_CHUNK_ROWS)
      params.lmHead.push(normal(d, Math.min(EMBEDDING_CHUNK_ROWS, config.vocabSize - c), STD));
  }
  return { config, params };
}
