/* NNIE's 8-bit logarithmic quantizer: the grid, the rounding rule and the straight-through
 * gradient (rules in quant.h, "NNIE's 8-bit logarithmic quantizer"; methods/qat.md 4.4).
 *
 * The 128 levels of a call are computed once (double exp2, one rounding to float), so every
 * element costs one double log2. Elements are independent: any thread count gives the same
 * bits. */
#include <float.h>
#include <math.h>

#include "lowbit/quant.h"

#define LOGQ_PAR_MIN (1 << 15) /* elements before threads pay off (one log2 each) */

static double guard_c(float c) {
  if (!(c > 0.0f)) return (double)FLT_EPSILON; /* also NaN */
  if (isinf(c)) return (double)FLT_MAX;
  return (double)c;
}

int lb_logq_z(float c) { return (int)rint(16.0 * log2(guard_c(c))) - LB_LOGQ_KMAX; }

float lb_logq_level(int z, int k) {
  double v = exp2((double)(k + z) / 16.0);
  return v > (double)FLT_MAX ? FLT_MAX : (float)v;
}

void lb_logq_forward(int64_t n, float c, const float *x, float *y) {
  if (n <= 0) return;
  const int z = lb_logq_z(c);
  float level[LB_LOGQ_KMAX + 1];
  for (int k = 0; k <= LB_LOGQ_KMAX; k++) level[k] = lb_logq_level(z, k);
#pragma omp parallel for schedule(static) if (n >= LOGQ_PAR_MIN)
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    if (isnan(v)) {
      y[i] = v;
      continue;
    }
    if (v == 0.0f) {
      y[i] = 0.0f;
      continue;
    }
    const int neg = v < 0.0f;
    const double t = 16.0 * log2(fabs((double)v)) - (double)z; /* +inf for an infinite v */
    if (t <= (neg ? -15.0 : -16.0)) {                          /* at most half the smallest level */
      y[i] = 0.0f;
      continue;
    }
    const double r = rint(t); /* half-to-even in the default rounding mode */
    const int kmin = neg ? 1 : 0;
    const int k = r < (double)kmin ? kmin : r > (double)LB_LOGQ_KMAX ? LB_LOGQ_KMAX : (int)r;
    y[i] = neg ? -level[k] : level[k];
  }
}

void lb_logq_backward_ste(int64_t n, const float *dy, float *dx) {
  if (!dx) return;
#pragma omp parallel for schedule(static) if (n >= LOGQ_PAR_MIN)
  for (int64_t i = 0; i < n; i++) dx[i] += dy[i];
}

float lb_logq_absmax(int64_t n, const float *x) {
  float m = 0.0f;
  /* a max does not depend on the order of its terms: the same value for any thread count */
#pragma omp parallel for schedule(static) reduction(max : m) if (n >= LOGQ_PAR_MIN)
  for (int64_t i = 0; i < n; i++) {
    float a = fabsf(x[i]);
    if (a > m) m = a;
  }
  return m;
}
