/**
 * Linear layers' weights kept as 16-bit codes on wasm, where every value fits (kernels/codes.h):
 * the same floats in half the bytes. A float16 checkpoint's weights always fit; a generation step
 * reads each weight once and waits on memory for it, so it reads half as much
 * (docs/performance.md, "Weights as 16-bit codes"). Products widen the codes as they read them
 * and give the same bits as from float32 weights; anything else that reads a weight gets it
 * widened to float32 (`weightTensor`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { CODED_LINEAR, WIDEN_CODES, type CodedAttrs } from './kernels/codedOps';
import { ownWasmKernel } from './kernels/direct';
import { linearsOf, type HalfWeight, type Linear, type ModelParams } from './params';

/** A code's exponent field has 5 bits; 0 stands for zero: 31 exponents above the smallest. */
const EXPONENTS = 31;

/**
 * Where column j of a row of n columns keeps its code (kernels/codes.h): in a group of eight,
 * columns 8g+q and 8g+4+q share a 32-bit word (q = 0…3: the low and the high half); the last
 * n mod 8 columns in order.
 */
export function codeSlot(j: number, n: number): number {
  if (j >= (n & ~7)) return j;
  const q = j & 7;
  return (j & ~7) + (q < 4 ? 2 * q : 2 * (q - 4) + 1);
}

/**
 * The 16-bit codes of `values` (rows of `cols`) and their exponent offset, or null where some
 * value does not fit: more than 10 mantissa bits, a subnormal, infinite or NaN float32, or
 * nonzero magnitudes spread over more than 31 powers of two (float16's span, subnormals
 * included, is 40).
 */
export function encodeHalf(
  values: Float32Array,
  cols: number,
): { codes: Uint16Array; bcode: number } | null {
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
  const codes = new Uint16Array(bits.length);
  const slots = Int32Array.from({ length: cols }, (_, j) => codeSlot(j, cols));
  for (let i = 0; i < bits.length; i++) {
    const u = bits[i];
    const sign = (u >>> 16) & 0x8000;
    const row = i - (i % cols);
    codes[row + slots[i - row]] =
      (u & 0x7fffffff) === 0
        ? sign
        : sign | ((((u >>> 23) & 0xff) - low + 1) << 10) | ((u >>> 13) & 0x3ff);
  }
  return { codes, bcode: low + 126 };
}

/** The float32 values of codes (rows of `cols`): the reference the kernels are tested against. */
export function decodeHalf(codes: Uint16Array, bcode: number, cols: number): Float32Array {
  const out = new Float32Array(codes.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < codes.length; i++) {
    const row = i - (i % cols);
    const code = codes[row + codeSlot(i - row, cols)];
    const field = (code >>> 10) & 0x1f;
    const sign = (code & 0x8000) << 16;
    bits[i] = field === 0 ? sign : sign | ((field + bcode - 127) << 23) | ((code & 0x3ff) << 13);
  }
  return out;
}

/** `w` as codes, or null where a value does not fit or the codes cannot be used here. */
function halve(w: tf.Tensor2D): HalfWeight | null {
  if (w.dtype !== 'float32' || w instanceof tf.Variable) return null; // a variable is trained
  const encoded = encodeHalf(w.dataSync() as Float32Array, w.shape[1]);
  if (!encoded) return null;
  const { codes, bcode } = encoded;
  // Two codes to an int32 element: an odd count gets a zero code at the end.
  const padded = codes.length % 2 === 0 ? codes : Uint16Array.from([...codes, 0]);
  const words = new Int32Array(padded.buffer, padded.byteOffset, padded.length / 2);
  return { codes: tf.tensor1d(words, 'int32'), bcode, shape: [w.shape[0], w.shape[1]] };
}

/**
 * Replaces, in place, every linear layer's float32 weight whose values all fit by its codes, and
 * frees the float32 tensor; on the wasm backend with our kernels only (elsewhere nothing reads
 * codes). Returns how many weights it replaced.
 */
export function halveWeights(params: ModelParams): number {
  if (!ownWasmKernel(CODED_LINEAR)) return 0;
  let count = 0;
  for (const l of linearsOf(params)) {
    if ('codes' in l.w) continue;
    const half = halve(l.w);
    if (!half) continue;
    l.w.dispose();
    l.w = half;
    count++;
  }
  return count;
}

const attrsOf = (w: HalfWeight): CodedAttrs => ({ k: w.shape[0], n: w.shape[1], bcode: w.bcode });

/**
 * A weight as a float32 tensor `[in, out]`: the tensor itself, or (codes) a new one, which the
 * caller disposes (a tidy). Runs under a gradient tape too: codes are no variable to differentiate.
 */
export function weightTensor(w: tf.Tensor2D | HalfWeight): tf.Tensor2D {
  if (!('codes' in w)) return w;
  const named = { codes: w.codes } as tf.NamedTensorMap;
  return tf.engine().runKernel(WIDEN_CODES, named, attrsOf(w) as never) as tf.Tensor2D;
}

/** x `[..., in]` · W as codes (+ b) → `[..., out]` on our kernel, if it can run now, else null. */
export function codedLinear(x: tf.Tensor, p: Linear): tf.Tensor | null {
  if (!('codes' in p.w) || !ownWasmKernel(CODED_LINEAR)) return null;
  const inputs = { a: x, codes: p.w.codes, ...(p.b ? { bias: p.b } : {}) } as tf.NamedTensorMap;
  return tf.engine().runKernel(CODED_LINEAR, inputs, attrsOf(p.w) as never) as tf.Tensor;
}
