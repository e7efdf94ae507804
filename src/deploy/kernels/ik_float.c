/* The float steps of a program (lowbit/ikernel.h): the tensors a profile leaves unquantized.
 * Plain loops the compiler vectorizes without reordering any sum: each element is one
 * correctly rounded operation, so the deploy-exact simulation repeats them bit for bit. */
#include <math.h>

#include "lowbit/ikernel.h"

void lb_ik_fclamp(int64_t n, float lo, float hi, float *y) {
  if (isinf(lo) && lo < 0 && isinf(hi) && hi > 0) return;
  for (int64_t i = 0; i < n; i++) y[i] = lb_fclamp(y[i], lo, hi);
}

void lb_ik_fadd(int64_t n, const float *a, const float *b, float lo, float hi, float *y) {
  for (int64_t i = 0; i < n; i++) y[i] = lb_fclamp(a[i] + b[i], lo, hi);
}

void lb_ik_fgap(int n, int c, int64_t hw, const float *x, float *y) {
  for (int64_t pl = 0; pl < (int64_t)n * c; pl++) {
    double s = 0.0;
    for (int64_t i = 0; i < hw; i++) s += (double)x[pl * hw + i];
    y[pl] = (float)(s / (double)hw);
  }
}
