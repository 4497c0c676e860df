// Row-wise and element-wise kernels for tfjs-wasm's memory, linked into the same module as
// gemm.c (scripts/build-kernels.sh), registered by fusedOps.ts: each replaces a chain of tfjs
// kernels (docs/performance.md, "Short inputs and one-token steps"). Every output depends on its
// own row (LayerNorm) or element (gelu_new) only, so it is the same bits whatever comes with it.
#include "codes.h"
#include "simd.h"

// y = γ ⊙ (x − μ) / √(σ² + ε) + β for each row of x[rows, d] (LayerNorm, layerNorm.ts; beta may
// be 0): μ and σ² (the biased variance) summed in four lanes, then one pass writes the row. A
// row's output depends on that row only.
__attribute__((export_name("layer_norm"))) void layer_norm(const float *x, const float *gamma,
                                                           const float *beta, float *y, int rows,
                                                           int d, float eps) {
  int d4 = d & ~3;
  for (int r = 0; r < rows; r++, x += d, y += d) {
    v128_t s = wasm_f32x4_splat(0.f);
    for (int j = 0; j < d4; j += 4) s = wasm_f32x4_add(s, wasm_v128_load(x + j));
    float sum = wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1) +
                wasm_f32x4_extract_lane(s, 2) + wasm_f32x4_extract_lane(s, 3);
    for (int j = d4; j < d; j++) sum += x[j];
    float mean = sum / d;
    v128_t mu = wasm_f32x4_splat(mean);
    v128_t q = wasm_f32x4_splat(0.f);
    for (int j = 0; j < d4; j += 4) {
      v128_t c = wasm_f32x4_sub(wasm_v128_load(x + j), mu);
      q = wasm_f32x4_add(q, wasm_f32x4_mul(c, c));
    }
    float squares = wasm_f32x4_extract_lane(q, 0) + wasm_f32x4_extract_lane(q, 1) +
                    wasm_f32x4_extract_lane(q, 2) + wasm_f32x4_extract_lane(q, 3);
    for (int j = d4; j < d; j++) squares += (x[j] - mean) * (x[j] - mean);
    float scale = 1.f / __builtin_sqrtf(squares / d + eps);
    v128_t sc = wasm_f32x4_splat(scale);
    for (int j = 0; j < d4; j += 4) {
      v128_t v = wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(x + j), mu), sc),
                                wasm_v128_load(gamma + j));
      wasm_v128_store(y + j, beta ? wasm_f32x4_add(v, wasm_v128_load(beta + j)) : v);
    }
    for (int j = d4; j < d; j++) {
      float v = (x[j] - mean) * scale * gamma[j];
      y[j] = beta ? v + beta[j] : v;
    }
  }
}

// e^z (Cephes' expf: z = n·ln 2 + r, |r| ≤ ½ln 2, a degree-7 polynomial of r, then 2^n
// through the exponent bits): within 2 ulp; +∞ past 88.7, 0 below −87.3 (no subnormals).
INLINE v128_t exp4(v128_t x) {
  v128_t z = wasm_f32x4_max(wasm_f32x4_min(x, wasm_f32x4_splat(88.f)),
                            wasm_f32x4_splat(-87.3365478515625f));
  v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(z, wasm_f32x4_splat(1.44269504088896341f)));
  v128_t r = wasm_f32x4_sub(z, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(-2.12194440e-4f)));
  v128_t p = wasm_f32x4_splat(1.9875691500E-4f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.3981999507E-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(8.3334519073E-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(4.1665795894E-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.6666665459E-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(5.0000001201E-1f));
  p = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(p, wasm_f32x4_mul(r, r)), r),
                     wasm_f32x4_splat(1.f));
  v128_t two_n = wasm_i32x4_shl(
      wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  v128_t e = wasm_f32x4_mul(p, two_n);
  return wasm_v128_bitselect(wasm_f32x4_splat(__builtin_inff()), e,
                             wasm_f32x4_gt(x, wasm_f32x4_splat(88.7f)));
}

// gelu_new(x) = x·σ(c·(x + 0.044715·x³)), c = 2√(2/π) (feedForward.ts, activate) over n floats.
__attribute__((export_name("gelu_new"))) void gelu_new(const float *x, float *y, int n) {
  const v128_t c = wasm_f32x4_splat(1.5957691216057308f);
  const v128_t c3 = wasm_f32x4_splat(0.044715f * 1.5957691216057308f);
  const v128_t one = wasm_f32x4_splat(1.f);
  int j = 0;
  for (; j + 4 <= n; j += 4) {
    v128_t v = wasm_v128_load(x + j);
    v128_t inner = wasm_f32x4_mul(v, wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(v, v), c3), c));
    v128_t e = exp4(wasm_f32x4_neg(inner));
    wasm_v128_store(y + j, wasm_f32x4_div(v, wasm_f32x4_add(one, e)));
  }
  if (j == n) return;
  v128_t v = load_partial(x + j, n - j);
  v128_t inner = wasm_f32x4_mul(v, wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(v, v), c3), c));
  store_partial(y + j, wasm_f32x4_div(v, wasm_f32x4_add(one, exp4(wasm_f32x4_neg(inner)))), n - j);
}

// out = rows r1 … r2−1 of codes [rows, cols] (in row groups if `grouped`, codes.h) as floats,
// whose exponent offset is bcode: a weight kept as codes, as float32 for what reads it outside
// our products (halfWeights.ts), or a row of a token embedding kept as codes (gather.ts).
__attribute__((export_name("widen_codes"))) void widen_codes(const code_t *codes, float *out,
                                                             int rows, int cols, int r1, int r2,
                                                             int bcode, int grouped) {
  float scale = scale_of(bcode);
  if (!grouped) return widen_rows(codes + r1 * cols, cols, r2 - r1, 0, cols, scale, out, cols);
  for (int r = r1; r < r2; r++)
    for (int p = 0; p < cols; p++)
      out[(r - r1) * cols + p] = tiny1(codes[grouped_slot(r, p, rows, cols)]) * scale;
}

// The exponent offset (bcode, codes.h) of 16-bit codes for `count` floats (as bits), or 0 where
// one does not fit: more than 10 mantissa bits, a subnormal, infinite or NaN float, or nonzero
// magnitudes over more than 31 powers of two (float16's own span, subnormals included, is 40).
// It runs over every weight of a model as it loads, so five operations for four floats: the
// low 13 bits of all ORed together, the largest magnitude, and the smallest nonzero one (as the
// smallest magnitude − 1, unsigned, where 0 − 1 is the largest).
__attribute__((export_name("code_offset"))) int code_offset(const unsigned *bits, int count) {
  v128_t any = wasm_i32x4_splat(0), most = wasm_i32x4_splat(0), least = wasm_i32x4_splat(-1);
  v128_t magnitude = wasm_i32x4_splat(0x7fffffff), one = wasm_i32x4_splat(1);
  int i = 0;
  for (; i + 4 <= count; i += 4) {
    v128_t u = wasm_v128_load(bits + i), m = wasm_v128_and(u, magnitude);
    any = wasm_v128_or(any, u);
    most = wasm_u32x4_max(most, m);
    least = wasm_u32x4_min(least, wasm_i32x4_sub(m, one));
  }
  unsigned tail = 0, high = 0, low = 0xffffffffu;
  for (int q = 0; q < 4; q++) {
    tail |= (unsigned)wasm_i32x4_extract_lane(any, 0);
    unsigned h = (unsigned)wasm_i32x4_extract_lane(most, 0);
    unsigned l = (unsigned)wasm_i32x4_extract_lane(least, 0);
    high = h > high ? h : high;
    low = l < low ? l : low;
    any = wasm_i32x4_shuffle(any, any, 1, 2, 3, 0);
    most = wasm_i32x4_shuffle(most, most, 1, 2, 3, 0);
    least = wasm_i32x4_shuffle(least, least, 1, 2, 3, 0);
  }
  for (; i < count; i++) {
    unsigned m = bits[i] & 0x7fffffffu;
    tail |= bits[i];
    high = m > high ? m : high;
    low = m - 1 < low ? m - 1 : low;
  }
  if (tail & 0x1fff) return 0;              // more than 10 mantissa bits
  if (low == 0xffffffffu) return 127 + 126; // all zeros: any offset
  int lo = (low + 1) >> 23, hi = high >> 23;
  // A subnormal (exponent 0), infinity or NaN (255); the scale 2^(lo − 1) must be a normal float:
  // its exponent field is lo + 126 ≤ 254.
  if (lo == 0 || hi == 255 || hi - lo >= 31 || lo > 128) return 0;
  return lo + 126;
}

// Four floats' codes (as bits, fitting offset `low` + 126) in the low halves of four lanes: a
// fitting float's bits shifted by 13 are its exponent and 10 mantissa bits, from which the code's
// exponent field is the exponent − (low − 1); ±0 keeps only its sign.
INLINE v128_t code4(v128_t u, v128_t rebase) {
  v128_t em = wasm_v128_and(wasm_u32x4_shr(u, 13), wasm_i32x4_splat(0x3ffff));
  v128_t sign = wasm_v128_and(wasm_u32x4_shr(u, 16), wasm_i32x4_splat(0x8000));
  v128_t zero = wasm_i32x4_eq(em, wasm_i32x4_splat(0));
  return wasm_v128_or(sign, wasm_v128_andnot(wasm_i32x4_sub(em, rebase), zero));
}

// One code, as code4 does it.
INLINE code_t code1(unsigned u, int low) {
  code_t sign = (u >> 16) & 0x8000;
  if ((u & 0x7fffffffu) == 0) return sign;
  return sign | ((((u >> 23) & 0xff) - low + 1) << 10) | ((u >> 13) & 0x3ff);
}

// The codes (codes.h; in row groups if `grouped`) of floats [rows, cols] that fit (code_offset),
// a zero code after an odd count: what halfWeights.ts keeps in place of the floats. A group of
// eight a step: eight columns of a row, or eight rows' floats at a depth.
__attribute__((export_name("encode_codes"))) void encode_codes(const unsigned *bits, code_t *out,
                                                               int rows, int cols, int bcode,
                                                               int grouped) {
  int low = bcode - 126;
  v128_t lows = wasm_i32x4_splat((low - 1) << 10); // code4's rebase
  if (!grouped) {
    for (int r = 0; r < rows; r++) {
      const unsigned *row = bits + r * cols;
      code_t *to = out + r * cols;
      int c = 0;
      for (; c + 8 <= cols; c += 8) { // word q: column c+q low, c+4+q high
        v128_t a = code4(wasm_v128_load(row + c), lows), b = code4(wasm_v128_load(row + c + 4), lows);
        wasm_v128_store(to + c, wasm_v128_or(a, wasm_i32x4_shl(b, 16)));
      }
      for (; c < cols; c++) to[c] = code1(row[c], low);
    }
  } else {
    int r = 0;
    for (; r + 8 <= rows; r += 8) // word q of step c: row r+q low, r+4+q high
      for (int c = 0; c < cols; c++) {
        const unsigned *at = bits + r * cols + c;
        v128_t a = code4(wasm_i32x4_make(at[0], at[cols], at[2 * cols], at[3 * cols]), lows);
        v128_t b = code4(wasm_i32x4_make(at[4 * cols], at[5 * cols], at[6 * cols], at[7 * cols]),
                         lows);
        wasm_v128_store(out + r * cols + 8 * c, wasm_v128_or(a, wasm_i32x4_shl(b, 16)));
      }
    for (; r < rows; r++)
      for (int c = 0; c < cols; c++) out[r * cols + c] = code1(bits[r * cols + c], low);
  }
  if ((rows * cols) & 1) out[rows * cols] = 0;
}
