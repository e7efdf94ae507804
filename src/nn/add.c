/* Residual add y = a + b and its backward. y may alias a or b (in-place add). */
#include "lowbit/nn.h"

#define ADD_PAR_MIN (1 << 18) /* memory bound: threads only help on large tensors */

void lb_add_forward(int64_t n, const float *a, const float *b, float *y) {
#pragma omp parallel for schedule(static) if (n >= ADD_PAR_MIN)
  for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void lb_add_backward(int64_t n, const float *dy, float *da, float *db) {
  if (da) {
#pragma omp parallel for schedule(static) if (n >= ADD_PAR_MIN)
    for (int64_t i = 0; i < n; i++) da[i] += dy[i];
  }
  if (db) {
#pragma omp parallel for schedule(static) if (n >= ADD_PAR_MIN)
    for (int64_t i = 0; i < n; i++) db[i] += dy[i];
  }
}
