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
import { layersOf, stacksOf, type ModelConfig } from './config';
import type { Model } from './model';
import {
  chunkSpans,
  type AttentionParams,
  type BlockParams,
  type LayerNormParams,
  type Linear,
  type ModelParams,
  type StackParams,
} from './params';
import { Rng } from './random';

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
  const rowChunks = (rows: number, cols: number): tf.Tensor2D[] =>
    chunkSpans(rows).map(({ size }) => normal(size, cols, STD));

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
    params.lmHead = chunkSpans(config.vocabSize).map(({ size }) => normal(d, size, STD));
  }
  return { config, params };
}
