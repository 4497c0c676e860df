// Matrix products for tfjs-wasm's memory (docs/performance.md, "Own GEMM kernels").
//
// Built by scripts/build-kernels.sh into gemmWasm.ts: with relaxed SIMD (fused multiply-add) and
// with plain SIMD128 (multiply, then add), each for a plain and for a shared memory (tfjs's
// threaded build; gemm_part is then one thread's part, gemmPool.ts). The module imports tfjs-wasm's
// memory and has no data, no stack and no heap of its own: every buffer it touches is an address
// the caller passes (tensors, and one scratch area per thread the caller allocates with tfjs's
// malloc).
//
//   C[M, N] = A[M, K] · B[K, N] (+ bias[N])      gemm_nn
//   C[M, N] = A[M, K] · B[N, K]ᵀ (+ bias[N])     gemm_nt (rows of B contiguous: kᵀ, Eᵀ)
//
// Both over a batch (strides in floats; 0 broadcasts an operand). B is never copied whole: a
// block of op(B), 256 deep and 256 wide, is packed into the scratch area (258 KB) as panels 8
// wide, and every 4-row tile of A runs against a panel from L1 (packed, since B's rows are
// 3–12 KB apart: read in place, a panel's lines fall into a few cache sets and evict each
// other). Up to 64 rows of A, A·B reads B in place instead, whole rows in address order
// (few_rows_nn); at M = 1, A·Bᵀ is dot products with B's rows (dots, the tied LM head h·Eᵀ).
#include "codes.h"
#include "simd.h"

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

// Lanes q = 0…3 of (v0[t], v1[t], v2[t], v3[t]) for t = 0…3: four rows' floats p…p+3 turned
// into four columns, one per p.
#define TRANSPOSE(v0, v1, v2, v3, c0, c1, c2, c3)                                                 \
  do {                                                                                             \
    v128_t t0 = wasm_i32x4_shuffle(v0, v1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(v2, v3, 0, 4, 1, 5); \
    v128_t t2 = wasm_i32x4_shuffle(v0, v1, 2, 6, 3, 7), t3 = wasm_i32x4_shuffle(v2, v3, 2, 6, 3, 7); \
    c0 = wasm_i32x4_shuffle(t0, t1, 0, 1, 4, 5);                                                   \
    c1 = wasm_i32x4_shuffle(t0, t1, 2, 3, 6, 7);                                                   \
    c2 = wasm_i32x4_shuffle(t2, t3, 0, 1, 4, 5);                                                   \
    c3 = wasm_i32x4_shuffle(t2, t3, 2, 3, 6, 7);                                                   \
  } while (0)

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
  int q = 0;
  for (; q + 4 <= nc; q += 4) { // four rows of b at a time, transposed in registers
    float *to = panels + q / NR * PANEL + q % NR;
    const float *r0 = b + (j0 + q) * k + p0, *r1 = r0 + k, *r2 = r1 + k, *r3 = r2 + k;
    int p = 0;
    for (; p + 4 <= kc; p += 4) {
      v128_t c0, c1, c2, c3;
      TRANSPOSE(wasm_v128_load(r0 + p), wasm_v128_load(r1 + p), wasm_v128_load(r2 + p),
                wasm_v128_load(r3 + p), c0, c1, c2, c3);
      wasm_v128_store(to + p * NR, c0);
      wasm_v128_store(to + (p + 1) * NR, c1);
      wasm_v128_store(to + (p + 2) * NR, c2);
      wasm_v128_store(to + (p + 3) * NR, c3);
    }
    for (; p < kc; p++) {
      to[p * NR] = r0[p];
      to[p * NR + 1] = r1[p];
      to[p * NR + 2] = r2[p];
      to[p * NR + 3] = r3[p];
    }
  }
  for (; q < ((nc + NR - 1) & ~(NR - 1)); q++) {
    float *to = panels + q / NR * PANEL + q % NR;
    if (q < nc) {
      const float *row = b + (j0 + q) * k + p0;
      for (int p = 0; p < kc; p++) to[p * NR] = row[p];
    } else
      for (int p = 0; p < kc; p++) to[p * NR] = 0.f;
  }
}

// Packing panels from codes (gemmCodes.h).
static void pack_codes(float *panels, const code_t *b, float scale, int n, int j0, int nc, int p0,
                       int kc);
static void pack_codes_t(float *panels, const code_t *b, float scale, int n, int k, int j0,
                         int nc, int p0, int kc);

// Columns j1 … j2−1 of C = A · op(B) (+ bias): per block of KC depths and NC columns of op(B),
// pack it once and run every row of A against each of its panels (A's [M, KC] block stays in L2,
// a panel in L1). With `codes`, B is [K, N] (or [N, K] transposed) as codes (codes.h) and b is
// unused.
static void product(const float *a, const float *b, const code_t *codes, float scale,
                    int transposed, float *c, const float *bias, int m, int n, int k, int j1,
                    int j2, float *scratch) {
  for (int p0 = 0; p0 < k || p0 == 0; p0 += KC) {
    int kc = k - p0 < KC ? k - p0 : KC;
    for (int j0 = j1; j0 < j2; j0 += NC) {
      int nc = j2 - j0 < NC ? j2 - j0 : NC;
      if (codes && transposed) pack_codes_t(scratch, codes, scale, n, k, j0, nc, p0, kc);
      else if (codes) pack_codes(scratch, codes, scale, n, j0, nc, p0, kc);
      else pack(scratch, b, transposed, n, k, j0, nc, p0, kc);
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

// Every path sums each output in the tiles' order (bias, then p = 0, 1, …, one multiply-add
// each), so a row's logits are the same bits whether it is computed alone (a generation step,
// the last position), among a few rows or among many.


// c[j1 … j2−1] += x[K] · b[K, N] over depths p0 … p0+kc−1, one row: b's rows stream through
// once, in order, each multiplied into all of c (which stays in L1: N ≤ 4096 is 16 KB). Eight rows
// of b a pass: eight streams from memory at once read faster than four (docs/performance.md,
// "Weights as 16-bit codes": 10.3 → 11.7 GB/s over GPT-2 small's linear layers in Node).
INLINE void gemv_nn_part(const float *x, const float *b, float *c, int n, int p0, int kc, int j1,
                         int j2) {
  int n4 = j1 + ((j2 - j1) & ~3);
  int p = p0, end = p0 + kc;
  for (; p + 8 <= end; p += 8) {
    const float *bp = b + p * n;
    for (int j = j1; j < n4; j += 4) {
      v128_t s = wasm_v128_load(c + j);
      for (int r = 0; r < 8; r++)
        s = MADD(wasm_v128_load32_splat(x + p + r), wasm_v128_load(bp + r * n + j), s);
      wasm_v128_store(c + j, s);
    }
  }
  for (; p < end; p++) {
    v128_t xp = wasm_f32x4_splat(x[p]);
    for (int j = j1; j < n4; j += 4)
      wasm_v128_store(c + j, MADD(xp, wasm_v128_load(b + p * n + j), wasm_v128_load(c + j)));
  }
  if (n4 == j2) return;
  v128_t s = load_partial(c + n4, j2 - n4);
  for (p = p0; p < end; p++)
    s = MADD(wasm_f32x4_splat(x[p]), load_partial(b + p * n + n4, j2 - n4), s);
  store_partial(c + n4, s, j2 - n4);
}

// Outputs j … j+4g−1 of x[K] · b[N, K]ᵀ (rows past n repeat row n−1; the caller stores only
// the valid lanes): g groups of four rows in one pass over x, so the groups' multiply-add chains
// run side by side. Each group's lane q sums row j+q in p order.
INLINE void dot_rows(int g, const float *x, const float *b, int n, int k, int j,
                     const float *bias, v128_t *out) {
  const float *r[4][4];
  v128_t acc[4];
  for (int t = 0; t < g; t++) {
    int row[4];
    for (int q = 0; q < 4; q++) {
      row[q] = j + 4 * t + q < n ? j + 4 * t + q : n - 1;
      r[t][q] = b + row[q] * k;
    }
    acc[t] = bias ? wasm_f32x4_make(bias[row[0]], bias[row[1]], bias[row[2]], bias[row[3]])
                  : wasm_f32x4_splat(0.f);
  }
  int p = 0;
  for (; p + 4 <= k; p += 4) {
    v128_t x0 = wasm_f32x4_splat(x[p]), x1 = wasm_f32x4_splat(x[p + 1]);
    v128_t x2 = wasm_f32x4_splat(x[p + 2]), x3 = wasm_f32x4_splat(x[p + 3]);
    for (int t = 0; t < g; t++) {
      v128_t c0, c1, c2, c3;
      TRANSPOSE(wasm_v128_load(r[t][0] + p), wasm_v128_load(r[t][1] + p),
                wasm_v128_load(r[t][2] + p), wasm_v128_load(r[t][3] + p), c0, c1, c2, c3);
      acc[t] = MADD(x3, c3, MADD(x2, c2, MADD(x1, c1, MADD(x0, c0, acc[t]))));
    }
  }
  for (; p < k; p++)
    for (int t = 0; t < g; t++)
      acc[t] = MADD(wasm_f32x4_splat(x[p]),
                    wasm_f32x4_make(r[t][0][p], r[t][1][p], r[t][2][p], r[t][3][p]), acc[t]);
  for (int t = 0; t < g; t++) out[t] = acc[t];
}

// c[N] = x[K] · b[N, K]ᵀ (+ bias), one row (the tied LM head's h·Eᵀ): 16 rows of b at a time.
static void dots(const float *x, const float *b, float *c, const float *bias, int n, int k) {
  v128_t out[4];
  int j = 0;
  for (; j + 16 <= n; j += 16) {
    dot_rows(4, x, b, n, k, j, bias, out);
    for (int t = 0; t < 4; t++) wasm_v128_store(c + j + 4 * t, out[t]);
  }
  for (; j < n; j += 4) {
    dot_rows(1, x, b, n, k, j, bias, out);
    if (j + 4 <= n) wasm_v128_store(c + j, out[0]);
    else store_partial(c + j, out[0], n - j);
  }
}

// Columns j1 … j2−1 of two rows of c[2, N] += x[2, K] · b[K, N] over depths p0 … p0+kc−1: b's rows stream through in
// order, four at a time, each multiplied into both rows of c (24 KB at N = 3072: stays in L1).
INLINE void stream2(const float *x, int ldx, const float *b, float *c, int n, int p0, int kc,
                    int j1, int j2) {
  int n4 = j1 + ((j2 - j1) & ~3);
  const float *x1r = x + ldx;
  float *c1 = c + n;
  int p = p0, end = p0 + kc;
  for (; p + 4 <= end; p += 4) {
    const float *b0 = b + p * n, *b1 = b0 + n, *b2 = b1 + n, *b3 = b2 + n;
    v128_t x00 = wasm_f32x4_splat(x[p]), x01 = wasm_f32x4_splat(x[p + 1]);
    v128_t x02 = wasm_f32x4_splat(x[p + 2]), x03 = wasm_f32x4_splat(x[p + 3]);
    v128_t x10 = wasm_f32x4_splat(x1r[p]), x11 = wasm_f32x4_splat(x1r[p + 1]);
    v128_t x12 = wasm_f32x4_splat(x1r[p + 2]), x13 = wasm_f32x4_splat(x1r[p + 3]);
    for (int j = j1; j < n4; j += 4) {
      v128_t v0 = wasm_v128_load(b0 + j), v1 = wasm_v128_load(b1 + j);
      v128_t v2 = wasm_v128_load(b2 + j), v3 = wasm_v128_load(b3 + j);
      v128_t s = MADD(x00, v0, wasm_v128_load(c + j));
      v128_t t = MADD(x10, v0, wasm_v128_load(c1 + j));
      s = MADD(x01, v1, s);
      t = MADD(x11, v1, t);
      s = MADD(x02, v2, s);
      t = MADD(x12, v2, t);
      wasm_v128_store(c + j, MADD(x03, v3, s));
      wasm_v128_store(c1 + j, MADD(x13, v3, t));
    }
  }
  for (; p < end; p++) {
    v128_t xp = wasm_f32x4_splat(x[p]), yp = wasm_f32x4_splat(x1r[p]);
    for (int j = j1; j < n4; j += 4) {
      v128_t v = wasm_v128_load(b + p * n + j);
      wasm_v128_store(c + j, MADD(xp, v, wasm_v128_load(c + j)));
      wasm_v128_store(c1 + j, MADD(yp, v, wasm_v128_load(c1 + j)));
    }
  }
  for (int r = 0; r < 2; r++) {
    if (n4 == j2) break;
    const float *xr = x + r * ldx;
    float *cr = c + r * n;
    v128_t s = load_partial(cr + n4, j2 - n4);
    for (p = p0; p < end; p++)
      s = MADD(wasm_f32x4_splat(xr[p]), load_partial(b + p * n + n4, j2 - n4), s);
    store_partial(cr + n4, s, j2 - n4);
  }
}

#define FEW_ROWS 64             // up to here, few_rows_nn; past it, the packed tiles (product)
#define STREAM_BYTES (128 * 1024) // a block of B's rows: from memory once, then from L2

// Columns j1 … j2−1 of C[M, N] = A[M, K] · B[K, N] (+ bias) for up to FEW_ROWS rows (a generation step, short
// inputs, the last position): B is read in place, in address order, with no packing. Per block
// of B's rows (contiguous, STREAM_BYTES), every pair of A's rows streams it into its two rows of
// C, the first pair from memory, the others from L2. The loads of B sit among the multiply-adds,
// so the hardware prefetcher fetches the next lines while they compute; packing read B in a
// phase of its own, with nothing to overlap (docs/performance.md, "Own GEMM kernels": 24 → 32
// GFLOP/s at c_fc M = 16 with B cold, 6 → 12 at M = 2).
static void few_rows_nn(const float *a, const float *b, float *c, const float *bias, int m, int n,
                        int k, int j1, int j2) {
  for (int i = 0; i < m; i++)
    for (int j = j1; j < j2; j++) c[i * n + j] = bias ? bias[j] : 0.f;
  int kb = STREAM_BYTES / 4 / n;
  kb = kb < 4 ? 4 : kb & ~3;
  for (int p0 = 0; p0 < k; p0 += kb) {
    int kc = k - p0 < kb ? k - p0 : kb;
    int i = 0;
    for (; i + 2 <= m; i += 2) stream2(a + i * k, k, b, c + i * n, n, p0, kc, j1, j2);
    if (i < m) gemv_nn_part(a + i * k, b, c + i * n, n, p0, kc, j1, j2);
  }
}

// Columns j1 … j2−1 of one product. Each output is summed in the same order whatever the
// columns asked for, so parts computed apart (threads, gemm_part) are the bits of the whole.
// A part of a product of a few rows (a thread's, gemmPool.ts) takes the packed tiles: streamed,
// two threads' pieces of B's rows came from memory little faster than one thread's whole rows.
static void nn(const float *a, const float *b, float *c, const float *bias, int m, int n, int k,
               int j1, int j2, float *scratch) {
  if (m <= FEW_ROWS && (m == 1 || j2 - j1 == n)) few_rows_nn(a, b, c, bias, m, n, k, j1, j2);
  else product(a, b, 0, 0.f, 0, c, bias, m, n, k, j1, j2, scratch);
}

#include "gemmCodes.h"

static void nt(const float *a, const float *b, float *c, const float *bias, int m, int n, int k,
               int j1, int j2, float *scratch) {
  if (m == 1) dots(a, b + j1 * k, c + j1, bias ? bias + j1 : 0, j2 - j1, k);
  else product(a, b, 0, 0.f, 1, c, bias, m, n, k, j1, j2, scratch);
}

// The scratch area's size in bytes, which the caller allocates once.
__attribute__((export_name("gemm_scratch_bytes"))) int gemm_scratch_bytes(void) {
  return (PAD + NR) * 4;
}

// Batched entry points. Strides are in floats; a stride of 0 repeats that operand. bias may be 0.
__attribute__((export_name("gemm_nn"))) void gemm_nn(const float *a, const float *b, float *c,
                                                      const float *bias, int m, int n, int k,
                                                      int batch, int sa, int sb, float *scratch) {
  for (int i = 0; i < batch; i++)
    nn(a + i * sa, b + i * sb, c + i * m * n, bias, m, n, k, 0, n, scratch);
}

__attribute__((export_name("gemm_nt"))) void gemm_nt(const float *a, const float *b, float *c,
                                                      const float *bias, int m, int n, int k,
                                                      int batch, int sa, int sb, float *scratch) {
  for (int i = 0; i < batch; i++)
    nt(a + i * sa, b + i * sb, c + i * m * n, bias, m, n, k, 0, n, scratch);
}

// One thread's part of gemm_nn (form = 0), gemm_nt (1), or either with B as codes whose
// exponent offset is bcode (form = 2·bcode, 2·bcode + 1; codes.h): batches i1 … i2−1, columns
// j1 … j2−1 of each (src/model/kernels/gemmPool.ts). The same bits as in the whole product.
__attribute__((export_name("gemm_part"))) void gemm_part(int form, const float *a, const void *b,
                                                          float *c, const float *bias, int m,
                                                          int n, int k, int sa, int sb, int i1,
                                                          int i2, int j1, int j2,
                                                          float *scratch) {
  for (int i = i1; i < i2; i++) {
    const float *ai = a + i * sa;
    float *ci = c + i * m * n;
    const code_t *codes = (const code_t *)b + i * sb;
    if (form > 1)
      (form & 1 ? nt_codes : nn_codes)(ai, codes, form >> 1, ci, bias, m, n, k, j1, j2, scratch);
    else (form ? nt : nn)(ai, (const float *)b + i * sb, ci, bias, m, n, k, j1, j2, scratch);
  }
}
