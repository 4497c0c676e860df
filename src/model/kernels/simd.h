// What gemm.c and rows.c share: the SIMD header, forced inlining, and reads and writes of the
// last 1–3 floats of a row that stay in bounds.
#ifndef KERNELS_SIMD_H
#define KERNELS_SIMD_H
#include <wasm_simd128.h>

#define INLINE static inline __attribute__((always_inline))

// Up to 4 floats from p (count ≥ 1), zero past count: the partial columns, read in bounds.
INLINE v128_t load_partial(const float *p, int count) {
  return wasm_f32x4_make(p[0], count > 1 ? p[1] : 0.f, count > 2 ? p[2] : 0.f,
                         count > 3 ? p[3] : 0.f);
}

// Lanes 0 … count−1 of v to p (count ≤ 4): the partial columns, written in bounds.
INLINE void store_partial(float *p, v128_t v, int count) {
  p[0] = wasm_f32x4_extract_lane(v, 0);
  if (count > 1) p[1] = wasm_f32x4_extract_lane(v, 1);
  if (count > 2) p[2] = wasm_f32x4_extract_lane(v, 2);
  if (count > 3) p[3] = wasm_f32x4_extract_lane(v, 3);
}

#endif
