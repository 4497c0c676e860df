// Weights kept as 16-bit codes (src/model/halfWeights.ts), widened to float32 as the kernels read
// them. A checkpoint stored in float16 holds 16-bit values: as float32 tensors they took twice
// the bytes, and a generation step, which reads every weight once, waits on memory for them.
//
// A code is s·2¹⁵ + c·2¹⁰ + m: the float (−1)^s · 2^(c + e − 127) · (1 + m/1024) for c ≥ 1, ±0
// for c = 0, where e is the tensor's exponent offset (`bcode`, the exponent field of the scale
// 2^(e − 127)). This is float16 with its exponent moved to the tensor's range, so that float16's
// subnormals are normal here. Moved to float32's fields, a code is a tiny normal float32 (or ±0),
// which times the scale is the weight, exactly; no operand is ever a subnormal float32, whose
// multiplications cost ~100 cycles on x86 CPUs (docs/performance.md, "Weights as 16-bit codes").
//
// A row of N codes: the columns in groups of eight, each group four 32-bit words, word q holding
// column 8g+q in its low half and column 8g+4+q in its high half, so that either half becomes
// four floats with two shifts and a mask; the last N mod 8 columns one code each, in order.
//
// A matrix read as x · Wᵀ (a tied embedding: N rows of K codes, one dot product each) is kept in
// row groups instead: rows 8g … 8g+7 as K steps of four words, word q of step p holding row
// 8g+q's code of depth p in its low half and row 8g+4+q's in its high half, so that one load
// gives eight rows' weights at one depth, in row order, read in address order; the last N mod 8
// rows follow, one after the other. Either way row r's codes start at r·K (or r·N).
#ifndef KERNELS_CODES_H
#define KERNELS_CODES_H
#include "simd.h"

typedef unsigned short code_t;

#define FIELDS 0x8fffe000 // float32's sign, and the code's c and m moved under its exponent

// Columns 8g … 8g+3 of a group's four words, as tiny floats (times the scale: the weights).
// Arithmetic shift: the sign lands in bit 31 (and in bits 28–30, which the mask clears).
INLINE v128_t tiny_low(v128_t words) {
  v128_t bits = wasm_i32x4_shr(wasm_i32x4_shl(words, 16), 3);
  return wasm_v128_and(bits, wasm_i32x4_splat((int)FIELDS));
}

// Columns 8g+4 … 8g+7 (the mask also clears what the low half left in bits 0–12).
INLINE v128_t tiny_high(v128_t words) {
  return wasm_v128_and(wasm_i32x4_shr(words, 3), wasm_i32x4_splat((int)FIELDS));
}

// One code (a column past the last group) as a tiny float.
INLINE float tiny1(code_t code) {
  unsigned bits = ((unsigned)(int)(short)code << 13) & FIELDS;
  return __builtin_bit_cast(float, bits);
}

// Where row r's code of depth p is in N rows of K codes kept in row groups.
INLINE int grouped_slot(int r, int p, int n, int k) {
  if (r >= (n & ~7)) return r * k + p;
  int q = r & 7;
  return (r & ~7) * k + 8 * p + (q < 4 ? 2 * q : 2 * q - 7);
}

INLINE float scale_of(int bcode) { return __builtin_bit_cast(float, (unsigned)bcode << 23); }

// Up to 4 single codes from p (count ≥ 1) as tiny floats, zero past count: read in bounds.
INLINE v128_t tiny_partial(const code_t *p, int count) {
  return wasm_f32x4_make(tiny1(p[0]), count > 1 ? tiny1(p[1]) : 0.f,
                         count > 2 ? tiny1(p[2]) : 0.f, count > 3 ? tiny1(p[3]) : 0.f);
}

// Columns j1 … j2−1 of `rows` rows of codes (row stride n; j1 a multiple of 8, j2 a multiple of 8
// or n) widened into `to` (row stride ldt).
static void widen_rows(const code_t *b, int n, int rows, int j1, int j2, float scale, float *to,
                       int ldt) {
  v128_t s = wasm_f32x4_splat(scale);
  int n8 = n & ~7, g2 = j2 < n8 ? j2 : n8;
  for (int r = 0; r < rows; r++) {
    const code_t *row = b + r * n;
    float *out = to + r * ldt - j1;
    int j = j1;
    for (; j < g2; j += 8) {
      v128_t words = wasm_v128_load(row + j);
      wasm_v128_store(out + j, wasm_f32x4_mul(tiny_low(words), s));
      wasm_v128_store(out + j + 4, wasm_f32x4_mul(tiny_high(words), s));
    }
    for (; j < j2; j++) out[j] = tiny1(row[j]) * scale;
  }
}

#endif
