/* Conversions between NCHW and nChw16c (lb_layout): element (i, c, p) of an (N,C,HW) tensor is
 * at (i*C + c)*HW + p in NCHW and at ((i*C/16 + c/16)*HW + p)*16 + c%16 in nChw16c. */
#include "lowbit/nn.h"

#define LAYOUT_PAR_MIN 65536

void lb_layout_to_nchw16c(int n, int c, int64_t hw, const float *src, float *dst) {
  const int64_t blocks = (int64_t)n * (c / 16);
#pragma omp parallel for schedule(static) if (blocks * hw * 16 >= LAYOUT_PAR_MIN)
  for (int64_t b = 0; b < blocks; b++) {
    const float *s = src + b * 16 * hw; /* block b: channels 16*(b % (C/16)).. of image b / (C/16) */
    float *d = dst + b * 16 * hw;
    for (int64_t p = 0; p < hw; p++)
      for (int j = 0; j < 16; j++) d[p * 16 + j] = s[j * hw + p];
  }
}

void lb_layout_to_nchw(int n, int c, int64_t hw, const float *src, float *dst) {
  const int64_t blocks = (int64_t)n * (c / 16);
#pragma omp parallel for schedule(static) if (blocks * hw * 16 >= LAYOUT_PAR_MIN)
  for (int64_t b = 0; b < blocks; b++) {
    const float *s = src + b * 16 * hw;
    float *d = dst + b * 16 * hw;
    for (int j = 0; j < 16; j++)
      for (int64_t p = 0; p < hw; p++) d[j * hw + p] = s[p * 16 + j];
  }
}
