// Matrix products for tfjs-wasm's memory (docs/performance.md, "Own GEMM kernels").
//
// Built by scripts/build-kernels.sh into gemmWasm.ts, twice: with relaxed SIMD (fused
// multiply-add) and with plain SIMD128 (multiply, then add). The module imports tfjs-wasm's
// memory and has no data, no stack and no heap of its own: every buffer it touches is an address
// the caller passes (tensors, and one scratch area the caller allocates with tfjs's malloc).
//
//   C[M, N] = A[M, K] · B[K, N] (+ bias[N])      gemm_nn
//   C[M, N] = A[M, K] · B[N, K]ᵀ (+ bias[N])     gemm_nt (rows of B contiguous: kᵀ, Eᵀ)
//
// Both over a batch (strides in floats; 0 broadcasts an operand). B is never copied whole: a
// block of op(B), 256 deep and 256 wide, is packed into the scratch area (258 KB) as panels 8
// wide, and every 4-row tile of A runs against a panel from L1 (packed, since B's rows are
// 3–12 KB apart: read in place, a panel's lines fall into a few cache sets and evict each other). At M = 1 (a generation step)
// there is nothing to reuse: B streams through once, row by row (gemv_nn) or as dot products
// with its rows (dots, the tied LM head h·Eᵀ).
#include <wasm_simd128.h>

#ifdef RELAXED
#define MADD(a, b, c) wasm_f32x4_relaxed_madd(a, b, c)
#else
#define MADD(a, b, c) wasm_f32x4_add(wasm_f32x4_mul(a, b), c)
#endif

#ifndef MR
#define MR 4 // rows of A per tile
#endif
#define NR 8   // columns of C per tile (two f32x4)
#define KC 256 // depth of a panel: [256][8] floats, 8 KB, stays in L1 while every row tile uses it

#define INLINE static inline __attribute__((always_inline))

// One mr × 8 tile of C from a panel b ([kc][8], packed) over kc:
// acc = (C's tile if accumulate, else init or 0) + Σ_p a[i, p] · b[p, :]. Writes nr ≤ 8 columns;
// a partial tile goes through tmp, so nothing past the row's end is read or written.
INLINE void tile(int mr, const float *a, int lda, const float *b, int kc, const float *init,
                 int accumulate, float *c, int ldc, int nr, float *tmp) {
  v128_t acc[MR][2];
  v128_t i0 = init ? wasm_v128_load(init) : wasm_f32x4_splat(0.f);
  v128_t i1 = init ? wasm_v128_load(init + 4) : wasm_f32x4_splat(0.f);
  for (int r = 0; r < mr; r++) {
    if (accumulate) {
      const float *row = c + r * ldc;
      if (nr != NR) {
        for (int q = 0; q < NR; q++) tmp[q] = q < nr ? row[q] : 0.f;
        row = tmp;
      }
      acc[r][0] = wasm_v128_load(row);
      acc[r][1] = wasm_v128_load(row + 4);
    } else {
      acc[r][0] = i0;
      acc[r][1] = i1;
    }
  }
  for (int p = 0; p < kc; p++) {
    v128_t b0 = wasm_v128_load(b + p * NR);
    v128_t b1 = wasm_v128_load(b + p * NR + 4);
    for (int r = 0; r < mr; r++) {
      v128_t x = wasm_v128_load32_splat(a + r * lda + p);
      acc[r][0] = MADD(x, b0, acc[r][0]);
      acc[r][1] = MADD(x, b1, acc[r][1]);
    }
  }
  for (int r = 0; r < mr; r++) {
    float *out = nr == NR ? c + r * ldc : tmp;
    wasm_v128_store(out, acc[r][0]);
    wasm_v128_store(out + 4, acc[r][1]);
    if (nr != NR)
      for (int q = 0; q < nr; q++) c[r * ldc + q] = tmp[q];
  }
}

// Every row of A against one panel, MR rows at a time; the remainder gets its own tile size.
static void rows(const float *a, int lda, int m, const float *b, int kc, const float *init,
                 int accumulate, float *c, int ldc, int nr, float *tmp) {
  int i = 0;
  for (; i + MR <= m; i += MR)
    tile(MR, a + i * lda, lda, b, kc, init, accumulate, c + i * ldc, ldc, nr, tmp);
  const float *ar = a + i * lda;
  float *cr = c + i * ldc;
  switch (m - i) {
  case 3: tile(3, ar, lda, b, kc, init, accumulate, cr, ldc, nr, tmp); break;
  case 2: tile(2, ar, lda, b, kc, init, accumulate, cr, ldc, nr, tmp); break;
  case 1: tile(1, ar, lda, b, kc, init, accumulate, cr, ldc, nr, tmp); break;
  }
}

// Scratch layout (floats): NC/8 panels [KC][8] (258 KB), tmp [8], padded bias [8].
#define NC 256 // columns of op(B) packed at once: B's rows are read 1 KB at a time, in order
// Floats from one panel to the next: 16 past 8 KB, so that the stores of a packed row, one per
// panel, don't alias each other modulo 4 KB (measured: 4 × 768 × 3072 at 17 GFLOP/s, not 12).
#define PANEL (KC * NR + 16)
#define TMP (PANEL * NC / NR)
#define PAD (TMP + NR)

// Panels of columns j0 … j0+nc−1 and depths p0 … p0+kc−1 of op(B): panel t is [kc][8] at
// t·PANEL, columns past nc zero. b is [K, N] (transposed = 0) or [N, K] (transposed = 1).
static void pack(float *panels, const float *b, int transposed, int n, int k, int j0, int nc,
                 int p0, int kc) {
  if (!transposed) {
    for (int p = 0; p < kc; p++) {
      const float *row = b + (p0 + p) * n + j0;
      int q = 0;
      for (; q + NR <= nc; q += NR) {
        float *to = panels + q / NR * PANEL + p * NR;
        wasm_v128_store(to, wasm_v128_load(row + q));
        wasm_v128_store(to + 4, wasm_v128_load(row + q + 4));
      }
      for (int r = 0; q + r < ((nc + NR - 1) & ~(NR - 1)); r++)
        panels[q / NR * PANEL + p * NR + r] = q + r < nc ? row[q + r] : 0.f;
    }
    return;
  }
  for (int q = 0; q < ((nc + NR - 1) & ~(NR - 1)); q++) {
    float *to = panels + q / NR * PANEL + q % NR;
    if (q < nc) {
      const float *row = b + (j0 + q) * k + p0;
      for (int p = 0; p < kc; p++) to[p * NR] = row[p];
    } else
      for (int p = 0; p < kc; p++) to[p * NR] = 0.f;
  }
}

// C = A · op(B) (+ bias): per block of KC depths and NC columns of op(B), pack it once and run
// every row of A against each of its panels (A's [M, KC] block stays in L2, a panel in L1).
static void product(const float *a, const float *b, int transposed, float *c, const float *bias,
                    int m, int n, int k, float *scratch) {
  for (int p0 = 0; p0 < k || p0 == 0; p0 += KC) {
    int kc = k - p0 < KC ? k - p0 : KC;
    for (int j0 = 0; j0 < n; j0 += NC) {
      int nc = n - j0 < NC ? n - j0 : NC;
      pack(scratch, b, transposed, n, k, j0, nc, p0, kc);
      for (int q = 0; q < nc; q += NR) {
        int j = j0 + q, nr = nc - q < NR ? nc - q : NR;
        const float *init = 0;
        if (bias && p0 == 0) {
          if (nr == NR) init = bias + j;
          else {
            for (int r = 0; r < NR; r++) scratch[PAD + r] = r < nr ? bias[j + r] : 0.f;
            init = scratch + PAD;
          }
        }
        rows(a + p0, k, m, scratch + q / NR * PANEL, kc, init, p0 > 0, c + j, n, nr, scratch + TMP);
      }
    }
  }
}

// c[N] = x[K] · b[K, N] (+ bias), one row: four rows of b at a time added into c, so b streams
// through once in order (a tile of one row would wait on its two accumulators).
static void gemv_nn(const float *x, const float *b, float *c, const float *bias, int n, int k) {
  int n4 = n & ~3;
  for (int j = 0; j < n; j++) c[j] = bias ? bias[j] : 0.f;
  int p = 0;
  for (; p + 4 <= k; p += 4) {
    const float *b0 = b + p * n, *b1 = b0 + n, *b2 = b1 + n, *b3 = b2 + n;
    v128_t x0 = wasm_f32x4_splat(x[p]), x1 = wasm_f32x4_splat(x[p + 1]);
    v128_t x2 = wasm_f32x4_splat(x[p + 2]), x3 = wasm_f32x4_splat(x[p + 3]);
    for (int j = 0; j < n4; j += 4) {
      v128_t s = MADD(x0, wasm_v128_load(b0 + j), wasm_v128_load(c + j));
      v128_t t = MADD(x1, wasm_v128_load(b1 + j), wasm_f32x4_mul(x2, wasm_v128_load(b2 + j)));
      s = MADD(x3, wasm_v128_load(b3 + j), s);
      wasm_v128_store(c + j, wasm_f32x4_add(s, t));
    }
    for (int j = n4; j < n; j++) c[j] += x[p] * b0[j] + x[p + 1] * b1[j] + x[p + 2] * b2[j] + x[p + 3] * b3[j];
  }
  for (; p < k; p++)
    for (int j = 0; j < n; j++) c[j] += x[p] * b[p * n + j];
}

static void nn(const float *a, const float *b, float *c, const float *bias, int m, int n, int k,
               float *scratch) {
  if (m == 1) gemv_nn(a, b, c, bias, n, k);
  else product(a, b, 0, c, bias, m, n, k, scratch);
}

// Dot products of one row x [K] with rows of b [N, K]: four rows of b at a time.
static void dots(const float *x, const float *b, float *c, const float *bias, int n, int k) {
  int k4 = k & ~3;
  int j = 0;
  for (; j + 4 <= n; j += 4) {
    const float *b0 = b + j * k, *b1 = b0 + k, *b2 = b1 + k, *b3 = b2 + k;
    v128_t s0 = wasm_f32x4_splat(0.f), s1 = s0, s2 = s0, s3 = s0;
    for (int p = 0; p < k4; p += 4) {
      v128_t v = wasm_v128_load(x + p);
      s0 = MADD(v, wasm_v128_load(b0 + p), s0);
      s1 = MADD(v, wasm_v128_load(b1 + p), s1);
      s2 = MADD(v, wasm_v128_load(b2 + p), s2);
      s3 = MADD(v, wasm_v128_load(b3 + p), s3);
    }
    // Transpose-and-add: lane q of the result is the sum of s_q's four lanes.
    v128_t t0 = wasm_i32x4_shuffle(s0, s1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(s0, s1, 2, 6, 3, 7);
    v128_t t2 = wasm_i32x4_shuffle(s2, s3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(s2, s3, 2, 6, 3, 7);
    v128_t u0 = wasm_f32x4_add(t0, t1), u1 = wasm_f32x4_add(t2, t3);
    v128_t sum = wasm_f32x4_add(wasm_i32x4_shuffle(u0, u1, 0, 1, 4, 5),
                                wasm_i32x4_shuffle(u0, u1, 2, 3, 6, 7));
    for (int p = k4; p < k; p++) {
      float xp = x[p];
      sum = wasm_f32x4_add(sum, wasm_f32x4_make(xp * b0[p], xp * b1[p], xp * b2[p], xp * b3[p]));
    }
    if (bias) sum = wasm_f32x4_add(sum, wasm_v128_load(bias + j));
    wasm_v128_store(c + j, sum);
  }
  for (; j < n; j++) {
    const float *bj = b + j * k;
    float s = bias ? bias[j] : 0.f;
    for (int p = 0; p < k; p++) s += x[p] * bj[p];
    c[j] = s;
  }
}

static void nt(const float *a, const float *b, float *c, const float *bias, int m, int n, int k,
               float *scratch) {
  if (m == 1) dots(a, b, c, bias, n, k);
  else product(a, b, 1, c, bias, m, n, k, scratch);
}

// The scratch area's size in bytes, which the caller allocates once.
__attribute__((export_name("gemm_scratch_bytes"))) int gemm_scratch_bytes(void) {
  return (PAD + NR) * 4;
}

// Batched entry points. Strides are in floats; a stride of 0 repeats that operand. bias may be 0.
__attribute__((export_name("gemm_nn"))) void gemm_nn(const float *a, const float *b, float *c,
                                                      const float *bias, int m, int n, int k,
                                                      int batch, int sa, int sb, float *scratch) {
  for (int i = 0; i < batch; i++) nn(a + i * sa, b + i * sb, c + i * m * n, bias, m, n, k, scratch);
}

__attribute__((export_name("gemm_nt"))) void gemm_nt(const float *a, const float *b, float *c,
                                                      const float *bias, int m, int n, int k,
                                                      int batch, int sa, int sb, float *scratch) {
  for (int i = 0; i < batch; i++) nt(a + i * sa, b + i * sb, c + i * m * n, bias, m, n, k, scratch);
}
