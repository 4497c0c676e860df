/**
 * Weight matrices (linear layers, the token embedding, an untied LM head) kept as 16-bit codes on
 * wasm, where every value fits (kernels/codes.h): the same floats in half the bytes. A float16 checkpoint's weights always fit; a generation step
 * reads each weight once and waits on memory for it, so it reads half as much
 * (docs/performance.md, "Weights as 16-bit codes"). Products widen the codes as they read them
 * and give the same bits as from float32 weights; anything else that reads a weight gets it
 * widened to float32 (`weightTensor`).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  CODED_PRODUCT,
  codeOffset,
  encodeCodes,
  WIDEN_CODES,
  type CodedAttrs,
} from './kernels/codedOps';
import { ownWasmKernel } from './kernels/direct';
import { linearsOf, type HalfWeight, type ModelParams, type Weight } from './params';

/**
 * `w` as codes (in row groups if `grouped`), or null where a value does not fit; checked and
 * encoded in the wasm heap by our kernels (rows.c): through JavaScript the same work took
 * 2.6 s more at a GPT-2-small load, and a copy of every weight grew the renderer by 400 MB
 * (docs/performance.md, "Weights as 16-bit codes").
 */
function halve(w: tf.Tensor2D, grouped: boolean): HalfWeight | null {
  if (w.dtype !== 'float32' || w instanceof tf.Variable) return null; // a variable is trained
  const shape: [number, number] = [w.shape[0], w.shape[1]];
  const bcode = codeOffset(w);
  return bcode === 0 ? null : { codes: encodeCodes(w, bcode, grouped), bcode, shape, grouped };
}

/**
 * Replaces, in place, every weight matrix (linear layers, the token embedding's chunks, an untied
 * LM head's) whose values all fit by its codes, and frees the float32 tensor; on the wasm backend
 * with our kernels only (elsewhere nothing reads codes). Returns how many it replaced.
 */
export function halveWeights(params: ModelParams): number {
  if (!ownWasmKernel(CODED_PRODUCT)) return 0;
  let count = 0;
  const halved = (w: Weight, grouped = false): Weight => {
    const half = 'codes' in w ? null : halve(w, grouped);
    if (!half) return w;
    (w as tf.Tensor2D).dispose();
    count++;
    return half;
  };
  for (const l of linearsOf(params)) l.w = halved(l.w);
  // In row groups: a tied LM head reads the embedding's rows as E·hᵀ (kernels/codes.h).
  params.tokenEmbedding = params.tokenEmbedding.map((w) => halved(w, true));
  if (params.lmHead) params.lmHead = params.lmHead.map((w) => halved(w));
  return count;
}

const attrsOf = (w: HalfWeight): CodedAttrs => ({
  ...{ rows: w.shape[0], cols: w.shape[1] },
  ...{ bcode: w.bcode, transposed: w.grouped },
});

/**
 * A weight as a float32 tensor `[in, out]`: the tensor itself, or (codes) a new one, which the
 * caller disposes (a tidy). Runs under a gradient tape too: codes are no variable to differentiate.
 */
export function weightTensor(w: Weight): tf.Tensor2D {
  if (!('codes' in w)) return w;
  const named = { codes: w.codes } as tf.NamedTensorMap;
  return tf.engine().runKernel(WIDEN_CODES, named, attrsOf(w) as never) as tf.Tensor2D;
}

/**
 * x `[..., k]` · W + b for W `[k, n]`, or x · Wᵀ for W `[n, k]` (`transposed`), on our kernel
 * where W is codes kept for that product and the kernel can run now; else null.
 */
export function codedProduct(
  x: tf.Tensor,
  w: Weight,
  b?: tf.Tensor1D,
  transposed = false,
): tf.Tensor | null {
  // Codes kept for x · W cannot give x · Wᵀ, nor row groups x · W: those take widened weights.
  if (!('codes' in w) || w.grouped !== transposed || !ownWasmKernel(CODED_PRODUCT)) return null;
  const inputs = { a: x, codes: w.codes, ...(b ? { bias: b } : {}) } as tf.NamedTensorMap;
  return tf.engine().runKernel(CODED_PRODUCT, inputs, attrsOf(w) as never) as tf.Tensor;
}
