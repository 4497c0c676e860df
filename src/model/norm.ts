import type * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from './config';
import { layerNorm } from './layerNorm';
import type { LayerNormParams } from './params';
import { rmsNorm } from './rmsNorm';

/** The model's normalisation: LayerNorm, or RMSNorm for the Llama family (which stores no β). */
export function normalize(x: tf.Tensor, p: LayerNormParams, cfg: ModelConfig): tf.Tensor {
  return cfg.normKind === 'rms'
    ? rmsNorm(x, p.gamma, cfg.layerNormEps)
    : layerNorm(x, p, cfg.layerNormEps);
}
