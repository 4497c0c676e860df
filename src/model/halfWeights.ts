/**
 * Linear layers' weights kept as 16-bit codes on wasm, where every value fits (kernels/codes.h):
 * the same floats in half the bytes. A float16 checkpoint's weights always fit; a generation step
 * reads each weight once and waits on memory for it, so it reads half as much
 * (docs/performance.md, "Weights as 16-bit codes"). Products widen the codes as they read them
 * and give the same bits as from float32 weights; anything else that reads a weight gets it
 * widened to float32 (`weightTensor`).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  CODED_PRODUCT,
  WIDEN_CODES,
  wasmCodes,
  wasmCodesTensor,
  wasmFloats,
  type CodedAttrs,
} from './kernels/codedOps';
import { ownWasmKernel } from './kernels/direct';
import { linearsOf, type HalfWeight, type ModelParams, type Weight } from './params';

/** A code's exponent field has 5 bits; 0 stands for zero: 31 exponents above the smallest. */
const EXPONENTS = 31;

/**
 * Where value (r, c) of a `[rows, cols]` matrix keeps its code (kernels/codes.h). By rows: in a
 * row's group of eight columns, columns 8g+q and 8g+4+q share a 32-bit word (q = 0…3: the low and
 * the high half); the last cols mod 8 in order. In row groups (`grouped`, for x · Wᵀ): rows
 * 8g+q and 8g+4+q share a word at each depth c; the last rows mod 8 row after row.
 */
export function codeIndex(r: number, c: number, [rows, cols]: number[], grouped: boolean): number {
  const [i, n] = grouped ? [r, rows] : [c, cols];
  if (i >= (n & ~7)) return r * cols + c;
  const q = i & 7;
  const pair = q < 4 ? 2 * q : 2 * q - 7;
  return grouped ? (r & ~7) * cols + 8 * c + pair : r * cols + (c & ~7) + pair;
}

/**
 * The exponent offset of 16-bit codes for `values`, or null where some value does not fit: more
 * than 10 mantissa bits, a subnormal, infinite or NaN float32, or nonzero magnitudes spread over
 * more than 31 powers of two (float16's span, subnormals included, is 40).
 */
export function codeOffset(values: Float32Array): number | null {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  let low = 255;
  let high = 0;
  for (let i = 0; i < bits.length; i++) {
    const u = bits[i];
    if ((u & 0x7fffffff) === 0) continue; // ±0
    const exponent = (u >>> 23) & 0xff;
    if ((u & 0x1fff) !== 0 || exponent === 0 || exponent === 255) return null;
    if (exponent < low) low = exponent;
    if (exponent > high) high = exponent;
  }
  if (low > high) low = high = 127; // all zeros: any offset
  // The scale 2^(low − 1) must be a normal float32: its exponent field is low + 126 ≤ 254.
  if (high - low >= EXPONENTS || low > 128) return null;
  return low + 126;
}

/** Writes the codes of `values` (a `[rows, cols]` matrix that fits, codeOffset) into `out`. */
export function writeCodes(
  values: Float32Array,
  [rows, cols]: [number, number],
  grouped: boolean,
  bcode: number,
  out: Uint16Array,
): void {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const low = bcode - 126;
  for (let r = 0, i = 0; r < rows; r++)
    for (let c = 0; c < cols; c++, i++) {
      const u = bits[i];
      const sign = (u >>> 16) & 0x8000;
      out[codeIndex(r, c, [rows, cols], grouped)] =
        (u & 0x7fffffff) === 0
          ? sign
          : sign | ((((u >>> 23) & 0xff) - low + 1) << 10) | ((u >>> 13) & 0x3ff);
    }
}

/** The 16-bit codes of `values` (a `[rows, cols]` matrix) and their exponent offset, or null. */
export function encodeHalf(
  values: Float32Array,
  shape: [number, number],
  grouped = false,
): { codes: Uint16Array; bcode: number } | null {
  const bcode = codeOffset(values);
  if (bcode === null) return null;
  const codes = new Uint16Array(values.length);
  writeCodes(values, shape, grouped, bcode, codes);
  return { codes, bcode };
}

/** The float32 values of codes: the reference the kernels are tested against. */
export function decodeHalf(
  codes: Uint16Array,
  bcode: number,
  shape: [number, number],
  grouped = false,
): Float32Array {
  const out = new Float32Array(codes.length);
  const bits = new Uint32Array(out.buffer);
  for (let r = 0, i = 0; r < shape[0]; r++)
    for (let c = 0; c < shape[1]; c++, i++) {
      const code = codes[codeIndex(r, c, shape, grouped)];
      const field = (code >>> 10) & 0x1f;
      const sign = (code & 0x8000) << 16;
      bits[i] = field === 0 ? sign : sign | ((field + bcode - 127) << 23) | ((code & 0x3ff) << 13);
    }
  return out;
}

/**
 * `w` as codes (in row groups if `grouped`), or null where a value does not fit. Read and written
 * in the wasm heap: a copy of every weight through JavaScript grew the renderer by 400 MB of
 * garbage at a GPT-2-small load (docs/performance.md, "Weights as 16-bit codes").
 */
function halve(w: tf.Tensor2D, grouped: boolean): HalfWeight | null {
  if (w.dtype !== 'float32' || w instanceof tf.Variable) return null; // a variable is trained
  const bcode = codeOffset(wasmFloats(w));
  if (bcode === null) return null;
  const shape: [number, number] = [w.shape[0], w.shape[1]];
  const codes = wasmCodesTensor(w.size);
  writeCodes(wasmFloats(w), shape, grouped, bcode, wasmCodes(codes)); // views after the allocation
  return { codes, bcode, shape, grouped };
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
