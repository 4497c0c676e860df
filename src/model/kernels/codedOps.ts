/**
 * Kernels for weights kept as 16-bit codes (codes.h, halfWeights.ts) on the backend's instance of
 * our module: the product x · W + b with W widened as it is read, and W widened whole, for what
 * reads a weight outside our products (training's gradients, the trace's value norms, saving).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { registerOwnWasmKernel } from './direct';
import { gemmCodes, ownKernels } from './gemm';

export const CODED_LINEAR = 'AttentionLabCodedLinear';
export const WIDEN_CODES = 'AttentionLabWidenCodes';

/** Attributes of both: W's shape `[k, n]` and the codes' exponent offset. */
export interface CodedAttrs {
  k: number;
  n: number;
  bcode: number;
}

const attrsOf = (attrs: unknown) => attrs as CodedAttrs;

/** a `[..., k]`, codes (int32, two codes each), bias `[n]` optional → a · W + bias `[..., n]`. */
function codedLinear({ inputs, attrs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const { a, codes, bias } = inputs as Record<string, tf.TensorInfo | undefined>;
  const { k, n, bcode } = attrsOf(attrs);
  return gemmCodes(backend as BackendWasm, a!, codes!, [k, n], bcode, bias);
}

/** codes → W `[k, n]` as float32. */
function widenCodes({ inputs, attrs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const wasm = backend as BackendWasm;
  const { codes } = inputs as { codes: tf.TensorInfo };
  const { k, n, bcode } = attrsOf(attrs);
  const out = wasm.makeOutput([k, n], 'float32');
  const at = (t: tf.TensorInfo) => wasm.getMemoryOffset(t.dataId);
  ownKernels(wasm).widen_codes(at(codes), at(out), k, n, bcode);
  return out;
}

/** Registers the kernels on wasm (once). */
export function registerCodedOps(): void {
  registerOwnWasmKernel(CODED_LINEAR, codedLinear);
  registerOwnWasmKernel(WIDEN_CODES, widenCodes);
}
