/**
 * Kernels for weights kept as 16-bit codes (codes.h, halfWeights.ts) on the backend's instance of
 * our module: products with W widened as it is read (x · W + b, or x · Wᵀ for the rows of a tied
 * embedding), and W widened whole, for what reads a weight outside our products (gradients, the
 * trace's value norms, saving).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { registerOwnWasmKernel } from './direct';
import { gemmCodes, ownKernels } from './gemm';

export const CODED_PRODUCT = 'AttentionLabCodedProduct';
export const WIDEN_CODES = 'AttentionLabWidenCodes';

/**
 * W's shape `[rows, cols]`, the codes' exponent offset, and whether W is kept in row groups and
 * read as x · Wᵀ (codes.h).
 */
export interface CodedAttrs {
  rows: number;
  cols: number;
  bcode: number;
  transposed: boolean;
}

const attrsOf = (attrs: unknown) => attrs as CodedAttrs;

/**
 * a `[..., k]`, codes (int32, two codes each), bias `[n]` optional → a · W + bias, or a · Wᵀ
 * (`transposed`: W in row groups), `[..., n]`.
 */
function codedProduct({ inputs, attrs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const { a, codes, bias } = inputs as Record<string, tf.TensorInfo | undefined>;
  const { rows, cols, bcode, transposed } = attrsOf(attrs);
  const [k, n] = transposed ? [cols, rows] : [rows, cols];
  return gemmCodes(backend as BackendWasm, a!, codes!, { k, n, bcode, transposed }, bias);
}

/** codes → W `[rows, cols]` as float32. */
function widenCodes({ inputs, attrs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const wasm = backend as BackendWasm;
  const { codes } = inputs as { codes: tf.TensorInfo };
  const { rows, cols, bcode, transposed } = attrsOf(attrs);
  const out = wasm.makeOutput([rows, cols], 'float32');
  const at = (t: tf.TensorInfo) => wasm.getMemoryOffset(t.dataId);
  ownKernels(wasm).widen_codes(at(codes), at(out), rows, cols, 0, rows, bcode, transposed ? 1 : 0);
  return out;
}

const backend = () => tf.backend() as BackendWasm;
const offsetOf = (t: tf.Tensor) => backend().getMemoryOffset(t.dataId);

/** The exponent offset of 16-bit codes for a float32 tensor on wasm, 0 where a value does not fit. */
export function codeOffset(t: tf.Tensor): number {
  return ownKernels(backend()).code_offset(offsetOf(t), t.size);
}

/** The codes (codes.h; in row groups if `grouped`) of a float32 matrix on wasm that fits. */
export function encodeCodes(t: tf.Tensor2D, bcode: number, grouped: boolean): tf.Tensor1D {
  const info = backend().makeOutput([Math.ceil(t.size / 2)], 'int32');
  const codes = tf.engine().makeTensorFromTensorInfo(info) as tf.Tensor1D;
  const [rows, cols] = t.shape;
  ownKernels(backend()).encode_codes(offsetOf(t), offsetOf(codes), rows, cols, bcode, +grouped);
  return codes;
}

/** Registers the kernels on wasm (once). */
export function registerCodedOps(): void {
  registerOwnWasmKernel(CODED_PRODUCT, codedProduct);
  registerOwnWasmKernel(WIDEN_CODES, widenCodes);
}
