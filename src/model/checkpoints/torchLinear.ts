/** Reading helpers shared by the families whose files hold torch.nn.Linear / LayerNorm tensors. */
import * as tf from '@tensorflow/tfjs-core';
import type { TensorReader } from '../checkpoint';
import type { LayerNormParams, Linear } from '../params';

/** nn.Linear: weight stored `[out, in]`, turned into `[in, out]`; bias `[out]` when asked for. */
export function torchLinear(
  r: TensorReader,
  name: string,
  inp: number,
  out: number,
  bias: boolean,
): Linear {
  return {
    w: r.transposed(`${name}.weight`, out, inp),
    ...(bias ? { b: r.tensor1d(`${name}.bias`, out) } : {}),
  };
}

/**
 * nn.LayerNorm `{name}.weight` / `{name}.bias`; older BERT exports name them `gamma` / `beta`
 * (transformers renames those on load, and so does this).
 */
export function torchLayerNorm(r: TensorReader, name: string, d: number): LayerNormParams {
  const legacy = !r.has(`${name}.weight`) && r.has(`${name}.gamma`);
  return {
    gamma: r.tensor1d(`${name}.${legacy ? 'gamma' : 'weight'}`, d),
    beta: r.tensor1d(`${name}.${legacy ? 'beta' : 'bias'}`, d),
  };
}

/** RMSNorm: γ only. */
export function rmsNormWeight(r: TensorReader, name: string, d: number): LayerNormParams {
  return { gamma: r.tensor1d(`${name}.weight`, d) };
}

/**
 * An untied output projection stored `[vocab, d]` (lm_head.weight, BERT's decoder), as the
 * `[d, cols]` column chunks `vocabularyLogits` takes. A tied model never reads it: the file may
 * hold a copy of the embeddings or not, as transformers saves either way.
 */
export function untiedHead(r: TensorReader, name: string, vocab: number, d: number): tf.Tensor2D[] {
  return r.rowChunks(name, vocab, d).map((c) => tf.tidy(() => tf.transpose(c) as tf.Tensor2D));
}
