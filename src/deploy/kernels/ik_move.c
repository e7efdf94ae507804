/* Data-movement kernels on codes (ik_move.h): whole contiguous runs go through memcpy/memset,
 * the _ref versions walk element by element. */
#include "deploy/kernels/ik_move.h"

#include <string.h>

void lb_ik_slice(int64_t outer, int64_t d, int64_t inner, int64_t start, int64_t step, int64_t count,
                 const uint8_t *x, uint8_t *y) {
  for (int64_t o = 0; o < outer; o++) {
    const uint8_t *xo = x + o * d * inner;
    if (step == 1) { /* one run per outer index */
      memcpy(y, xo + start * inner, (size_t)(count * inner));
      y += count * inner;
      continue;
    }
    for (int64_t i = 0; i < count; i++, y += inner) memcpy(y, xo + (start + i * step) * inner, (size_t)inner);
  }
}

void lb_ik_slice_ref(int64_t outer, int64_t d, int64_t inner, int64_t start, int64_t step, int64_t count,
                     const uint8_t *x, uint8_t *y) {
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < count; i++)
      for (int64_t r = 0; r < inner; r++) y[(o * count + i) * inner + r] = x[(o * d + start + i * step) * inner + r];
}

void lb_ik_pad(int64_t outer, int64_t d, int64_t inner, int64_t begin, int64_t end, uint8_t fill, const uint8_t *x,
               uint8_t *y) {
  for (int64_t o = 0; o < outer; o++) {
    memset(y, fill, (size_t)(begin * inner));
    y += begin * inner;
    memcpy(y, x + o * d * inner, (size_t)(d * inner));
    y += d * inner;
    memset(y, fill, (size_t)(end * inner));
    y += end * inner;
  }
}

void lb_ik_pad_ref(int64_t outer, int64_t d, int64_t inner, int64_t begin, int64_t end, uint8_t fill,
                   const uint8_t *x, uint8_t *y) {
  int64_t dy = begin + d + end;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < dy; i++)
      for (int64_t r = 0; r < inner; r++) {
        int64_t src = i - begin;
        y[(o * dy + i) * inner + r] = src >= 0 && src < d ? x[(o * d + src) * inner + r] : fill;
      }
}

void lb_ik_concat(int64_t outer, int64_t inner, int n, const int64_t *d, const uint8_t *const *x, uint8_t *y) {
  for (int64_t o = 0; o < outer; o++)
    for (int j = 0; j < n; j++) {
      size_t run = (size_t)(d[j] * inner);
      memcpy(y, x[j] + (size_t)o * run, run);
      y += run;
    }
}

void lb_ik_concat_ref(int64_t outer, int64_t inner, int n, const int64_t *d, const uint8_t *const *x, uint8_t *y) {
  int64_t dy = 0;
  for (int j = 0; j < n; j++) dy += d[j];
  for (int64_t o = 0; o < outer; o++) {
    int64_t at = 0;
    for (int j = 0; j < n; j++) {
      for (int64_t i = 0; i < d[j]; i++)
        for (int64_t r = 0; r < inner; r++) y[(o * dy + at + i) * inner + r] = x[j][(o * d[j] + i) * inner + r];
      at += d[j];
    }
  }
}
