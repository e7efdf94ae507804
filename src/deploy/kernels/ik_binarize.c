/* Binary (+-1) outputs: the sign of the product a uniform grid would requantize
 * (lowbit/ikernel.h, lb_binarize), and the packing of such codes into the bits the XNOR-popcount
 * convolution reads. The references, and the dispatch to their x86 twins (ik_binarize_x86.c). */
#include <string.h>

#include "deploy/kernels/ik_internal.h"
#include "deploy/kernels/ik_simd.h"

static inline int32_t code_at(const void *x, int64_t i, int sgn) {
  return sgn ? (int32_t)((const int8_t *)x)[i] : (int32_t)((const uint8_t *)x)[i];
}

void lb_ik_binarize_acc(lb_ik_isa isa, int n, int k, int64_t hw, const int32_t *acc, const int64_t *bias_p,
                        const int32_t *M, const int32_t *neg, int32_t lo, int32_t hi, int8_t *y) {
  if (ik_binarize_acc_opt(ik_isa_clamp(isa), n, k, hw, acc, bias_p, M, neg, lo, hi, y)) return;
  for (int b = 0; b < n; b++)
    for (int j = 0; j < k; j++) {
      const int64_t o = ((int64_t)b * k + j) * hw;
      const int64_t bp = bias_p ? bias_p[j] : 0;
      const int flip = neg && neg[j];
      for (int64_t i = 0; i < hw; i++) {
        int64_t p = (int64_t)acc[o + i] * M[j] + bp;
        y[o + i] = (int8_t)lb_binarize(flip ? -p : p, lo, hi);
      }
    }
}

void lb_ik_binarize_add(lb_ik_isa isa, int64_t n, const void *x1, int x1_signed, int32_t z1, int32_t M1,
                        const void *x2, int x2_signed, int32_t z2, int32_t M2, int32_t lo, int32_t hi, int8_t *y) {
  if (ik_binarize_add_opt(ik_isa_clamp(isa), n, x1, x1_signed, z1, M1, x2, x2_signed, z2, M2, lo, hi, y)) return;
  for (int64_t i = 0; i < n; i++) {
    int64_t p = (int64_t)(code_at(x1, i, x1_signed) - z1) * M1 + (int64_t)(code_at(x2, i, x2_signed) - z2) * M2;
    y[i] = (int8_t)lb_binarize(p, lo, hi);
  }
}

void lb_ik_binarize_gap(int n, int c, int64_t hw, const void *x, int x_signed, int32_t zx, int32_t lo, int32_t hi,
                        int8_t *y) {
  for (int64_t pl = 0; pl < (int64_t)n * c; pl++) {
    int64_t p = 0;
    for (int64_t i = 0; i < hw; i++) p += code_at(x, pl * hw + i, x_signed) - zx;
    y[pl] = (int8_t)lb_binarize(p, lo, hi);
  }
}

void lb_ik_binarize_input(int64_t n, const float *x, int32_t lo, int32_t hi, int8_t *y) {
  for (int64_t i = 0; i < n; i++) {
    int32_t v = x[i] >= 0.0f ? 1 : -1;
    y[i] = (int8_t)(v < lo ? lo : v > hi ? hi : v);
  }
}

void lb_ik_pack_binary(lb_ik_isa isa, int n, int c, int h, int w, const int8_t *x, uint8_t *xbits) {
  if (ik_pack_binary_opt(ik_isa_clamp(isa), n, c, h, w, x, xbits)) return;
  const int cb = (c + 7) / 8;
  const int64_t pix = (int64_t)n * h * w;
  memset(xbits, 0, (size_t)(pix * cb));
  for (int b = 0; b < n; b++)
    for (int ch = 0; ch < c; ch++)
      for (int64_t p = 0; p < (int64_t)h * w; p++)
        if (x[((int64_t)b * c + ch) * h * w + p] >= 0) xbits[((int64_t)b * h * w + p) * cb + (ch >> 3)] |= (uint8_t)(1u << (ch & 7));
}
