// Products with B as 16-bit codes (codes.h), included by gemm.c: every path gives the bits that
// gemm.c's float32 path gives on the floats the codes stand for. A generation step and the last
// position (one row of A) widen B in registers; a few rows widen each block of B once into the
// scratch area; more rows widen as they pack panels.
#ifndef KERNELS_GEMM_CODES_H
#define KERNELS_GEMM_CODES_H

// Panels of columns j0 … j0+nc−1 and depths p0 … p0+kc−1 of B [K, N] as codes (codes.h),
// widened: as `pack` below.
static void pack_codes(float *panels, const code_t *b, float scale, int n, int j0, int nc, int p0,
                       int kc) {
  v128_t s = wasm_f32x4_splat(scale);
  for (int p = 0; p < kc; p++) {
    const code_t *row = b + (p0 + p) * n + j0;
    int q = 0;
    for (; q + NR <= nc; q += NR) { // a whole group (j0 is a multiple of 8)
      float *to = panels + q / NR * PANEL + p * NR;
      v128_t words = wasm_v128_load(row + q);
      wasm_v128_store(to, wasm_f32x4_mul(tiny_low(words), s));
      wasm_v128_store(to + 4, wasm_f32x4_mul(tiny_high(words), s));
    }
    for (int r = 0; q + r < ((nc + NR - 1) & ~(NR - 1)); r++) // the row's last columns
      panels[q / NR * PANEL + p * NR + r] = q + r < nc ? tiny1(row[q + r]) * scale : 0.f;
  }
}

// Panels of columns j0 … j0+nc−1 and depths p0 … p0+kc−1 of Bᵀ for B [N, K] as codes in row
// groups (codes.h; j0 a multiple of 8): a group's step is a panel's row, widened in order.
static void pack_codes_t(float *panels, const code_t *b, float scale, int n, int k, int j0,
                         int nc, int p0, int kc) {
  v128_t s = wasm_f32x4_splat(scale);
  int q = 0;
  for (; q + NR <= nc && j0 + q + NR <= (n & ~7); q += NR) {
    float *to = panels + q / NR * PANEL;
    const code_t *group = b + (j0 + q) * k + p0 * 8;
    for (int p = 0; p < kc; p++) {
      v128_t words = wasm_v128_load(group + p * 8);
      wasm_v128_store(to + p * NR, wasm_f32x4_mul(tiny_low(words), s));
      wasm_v128_store(to + p * NR + 4, wasm_f32x4_mul(tiny_high(words), s));
    }
  }
  for (; q < ((nc + NR - 1) & ~(NR - 1)); q++) { // the last rows, single codes; zeros past nc
    float *to = panels + q / NR * PANEL + q % NR;
    for (int p = 0; p < kc; p++)
      to[p * NR] = q < nc ? tiny1(b[grouped_slot(j0 + q, p0 + p, n, k)]) * scale : 0.f;
  }
}

// c[j1 … j2−1] += x · B for x[K] and B[K, N] as codes (j1 a multiple of 8), widened in
// registers: a generation step's linear layers read half the bytes of float32 weights. With
// `scaled`, x holds x·2^(e−127) (the codes' scale) and the tiny floats multiply it directly:
// x·2^(e−127) · tiny = x · w exactly, one multiplication a weight fewer. Each output sums
// p = 0, 1, … as gemv_nn_part does: the same bits as from the float32 weights.
INLINE void gemv_codes_body(int scaled, const float *x, const code_t *b, float scale, float *c,
                            int n, int k, int j1, int j2) {
  v128_t s = wasm_f32x4_splat(scale);
  int n8 = n & ~7, g2 = j2 < n8 ? j2 : n8;
#define WEIGHTS(t) (scaled ? (t) : wasm_f32x4_mul(t, s))
  int p = 0;
  for (; p + 8 <= k; p += 8) {
    const code_t *bp = b + p * n;
    for (int j = j1; j < g2; j += 8) {
      v128_t lo = wasm_v128_load(c + j), hi = wasm_v128_load(c + j + 4);
      for (int r = 0; r < 8; r++) {
        v128_t words = wasm_v128_load(bp + r * n + j), xr = wasm_v128_load32_splat(x + p + r);
        lo = MADD(xr, WEIGHTS(tiny_low(words)), lo);
        hi = MADD(xr, WEIGHTS(tiny_high(words)), hi);
      }
      wasm_v128_store(c + j, lo);
      wasm_v128_store(c + j + 4, hi);
    }
  }
  for (; p < k; p++) {
    v128_t xp = wasm_f32x4_splat(x[p]);
    for (int j = j1; j < g2; j += 8) {
      v128_t words = wasm_v128_load(b + p * n + j);
      wasm_v128_store(c + j, MADD(xp, WEIGHTS(tiny_low(words)), wasm_v128_load(c + j)));
      wasm_v128_store(c + j + 4, MADD(xp, WEIGHTS(tiny_high(words)), wasm_v128_load(c + j + 4)));
    }
  }
  for (int j = g2; j < j2; j += 4) { // the row's last columns, single codes
    int count = j2 - j < 4 ? j2 - j : 4;
    v128_t acc = load_partial(c + j, count);
    for (p = 0; p < k; p++)
      acc = MADD(wasm_f32x4_splat(x[p]), WEIGHTS(tiny_partial(b + p * n + j, count)), acc);
    store_partial(c + j, acc, count);
  }
#undef WEIGHTS
}

// xs[K] = x · scale; false where a value overflows (then the caller multiplies each weight).
// Exact otherwise: the scale is a power of two.
static int prescale(const float *x, int k, float scale, float *xs) {
  int fits = 1;
  for (int p = 0; p < k; p++) {
    xs[p] = x[p] * scale;
    if (__builtin_isinf(xs[p]) && !__builtin_isinf(x[p])) fits = 0;
  }
  return fits;
}

// gemv_codes_body on x·scale (written to xs, k floats) where no value overflows, else on x.
static void gemv_codes(const float *x, const code_t *b, float scale, float *c, int n, int k,
                       int j1, int j2, float *xs) {
  if (prescale(x, k, scale, xs)) gemv_codes_body(1, xs, b, scale, c, n, k, j1, j2);
  else gemv_codes_body(0, x, b, scale, c, n, k, j1, j2);
}

// Outputs 8g1 … 8g2−1 of x[K] · B[N, K]ᵀ for B in row groups (codes.h), g2 ≤ N/8: a load per
// depth gives a group's eight rows, in order; four groups side by side, so that their chains of
// multiply-adds interleave. Each row starts from its bias (or 0) and adds p = 0, 1, …, as
// dot_rows does: the same bits as from the floats. With `scaled`, x holds x·scale (gemv_codes).
INLINE void group_dots_body(int scaled, const float *x, const code_t *b, float scale, float *c,
                            const float *bias, int k, int g1, int g2) {
  v128_t s = wasm_f32x4_splat(scale);
#define WEIGHTS(t) (scaled ? (t) : wasm_f32x4_mul(t, s))
#define START(r) (bias ? wasm_v128_load(bias + (r)) : wasm_f32x4_splat(0.f))
  int g = g1;
  for (; g + 4 <= g2; g += 4) {
    const code_t *r0 = b + 8 * g * k, *r1 = r0 + 8 * k, *r2 = r1 + 8 * k, *r3 = r2 + 8 * k;
    v128_t a0 = START(8 * g), a1 = START(8 * g + 4), a2 = START(8 * g + 8);
    v128_t a3 = START(8 * g + 12), a4 = START(8 * g + 16), a5 = START(8 * g + 20);
    v128_t a6 = START(8 * g + 24), a7 = START(8 * g + 28);
    for (int p = 0; p < k; p++) {
      v128_t xp = wasm_v128_load32_splat(x + p);
      v128_t w0 = wasm_v128_load(r0 + 8 * p), w1 = wasm_v128_load(r1 + 8 * p);
      v128_t w2 = wasm_v128_load(r2 + 8 * p), w3 = wasm_v128_load(r3 + 8 * p);
      a0 = MADD(xp, WEIGHTS(tiny_low(w0)), a0);
      a1 = MADD(xp, WEIGHTS(tiny_high(w0)), a1);
      a2 = MADD(xp, WEIGHTS(tiny_low(w1)), a2);
      a3 = MADD(xp, WEIGHTS(tiny_high(w1)), a3);
      a4 = MADD(xp, WEIGHTS(tiny_low(w2)), a4);
      a5 = MADD(xp, WEIGHTS(tiny_high(w2)), a5);
      a6 = MADD(xp, WEIGHTS(tiny_low(w3)), a6);
      a7 = MADD(xp, WEIGHTS(tiny_high(w3)), a7);
    }
    float *out = c + 8 * g;
    wasm_v128_store(out, a0);
    wasm_v128_store(out + 4, a1);
    wasm_v128_store(out + 8, a2);
    wasm_v128_store(out + 12, a3);
    wasm_v128_store(out + 16, a4);
    wasm_v128_store(out + 20, a5);
    wasm_v128_store(out + 24, a6);
    wasm_v128_store(out + 28, a7);
  }
  for (; g < g2; g++) {
    const code_t *r0 = b + 8 * g * k;
    v128_t a0 = START(8 * g), a1 = START(8 * g + 4);
    for (int p = 0; p < k; p++) {
      v128_t xp = wasm_v128_load32_splat(x + p), w0 = wasm_v128_load(r0 + 8 * p);
      a0 = MADD(xp, WEIGHTS(tiny_low(w0)), a0);
      a1 = MADD(xp, WEIGHTS(tiny_high(w0)), a1);
    }
    wasm_v128_store(c + 8 * g, a0);
    wasm_v128_store(c + 8 * g + 4, a1);
  }
#undef START
#undef WEIGHTS
}

// c[j1 … j2−1] = x[K] · B[N, K]ᵀ (+ bias) for B as codes in row groups (codes.h; the tied LM
// head h·Eᵀ; j1 a multiple of 8): the groups as above on x·scale (in xs) where no value
// overflows, as gemv_codes; the last N mod 8 rows one lane each.
static void dots_codes(const float *x, const code_t *b, float scale, float *c, const float *bias,
                       int n, int k, int j1, int j2, float *xs) {
  int scaled = prescale(x, k, scale, xs);
  const float *xv = scaled ? xs : x;
  int g2 = (j2 < (n & ~7) ? j2 : n & ~7) / 8;
  if (scaled) group_dots_body(1, xv, b, scale, c, bias, k, j1 / 8, g2);
  else group_dots_body(0, xv, b, scale, c, bias, k, j1 / 8, g2);
  for (int r = 8 * g2 > j1 ? 8 * g2 : j1; r < j2; r++) { // plain rows, in lane 0
    v128_t acc = wasm_f32x4_splat(bias ? bias[r] : 0.f);
    for (int p = 0; p < k; p++) {
      float w = tiny1(b[r * k + p]);
      acc = MADD(wasm_f32x4_splat(xv[p]), wasm_f32x4_splat(scaled ? w : w * scale), acc);
    }
    c[r] = wasm_f32x4_extract_lane(acc, 0);
  }
}

// few_rows_nn with B as codes (codes.h): one row widens in registers (gemv_codes); a few rows
// widen each block of B's rows once into the scratch area, then stream it as few_rows_nn does.
// The caller checks that a block, or x (m = 1), fits (n, k ≤ TMP).
static void few_rows_codes(const float *a, const code_t *b, float scale, float *c,
                           const float *bias, int m, int n, int k, int j1, int j2,
                           float *scratch) {
  for (int i = 0; i < m; i++)
    for (int j = j1; j < j2; j++) c[i * n + j] = bias ? bias[j] : 0.f;
  if (m == 1) return gemv_codes(a, b, scale, c, n, k, j1, j2, scratch);
  // As few_rows_nn: a multiple of 4 rows (stream2 takes B's rows four at a time), within the
  // scratch area.
  int kb = STREAM_BYTES / 4 / n, room = TMP / n;
  kb = kb < 4 ? 4 : kb & ~3;
  if (kb > room) kb = room > 4 ? room & ~3 : room;
  for (int p0 = 0; p0 < k; p0 += kb) {
    int kc = k - p0 < kb ? k - p0 : kb;
    widen_rows(b + p0 * n, n, kc, 0, n, scale, scratch, n);
    int i = 0;
    for (; i + 2 <= m; i += 2) stream2(a + i * k + p0, k, scratch, c + i * n, n, 0, kc, 0, n);
    if (i < m) gemv_nn_part(a + i * k + p0, scratch, c + i * n, n, 0, kc, 0, n);
  }
}

// nt with B [N, K] as codes in row groups (codes.h) whose exponent offset is bcode: the same bits
// as nt on the widened B.
static void nt_codes(const float *a, const code_t *b, int bcode, float *c, const float *bias,
                     int m, int n, int k, int j1, int j2, float *scratch) {
  float scale = scale_of(bcode);
  if (m == 1 && k <= TMP) dots_codes(a, b, scale, c, bias, n, k, j1, j2, scratch);
  else product(a, 0, b, scale, 1, c, bias, m, n, k, j1, j2, scratch);
}

// nn with B [K, N] as codes (codes.h) whose exponent offset is bcode: the same bits as nn on the
// widened B.
static void nn_codes(const float *a, const code_t *b, int bcode, float *c, const float *bias,
                     int m, int n, int k, int j1, int j2, float *scratch) {
  float scale = scale_of(bcode);
  if (m <= FEW_ROWS && (m == 1 ? k <= TMP : j2 - j1 == n && n <= TMP))
    few_rows_codes(a, b, scale, c, bias, m, n, k, j1, j2, scratch);
  else product(a, 0, b, scale, 0, c, bias, m, n, k, j1, j2, scratch);
}

#endif
