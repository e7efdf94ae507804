/* Element-wise activations: ReLU and hardtanh (ReLU6 = hardtanh(0, 6)).
 * y may alias x (in-place). Forward propagates NaN as PyTorch does; backward lets the
 * gradient through only strictly inside the linear region (PyTorch's rule at the kinks). */
#include "lowbit/nn.h"

/* Element-wise work is memory bound; threads only pay off on large tensors. */
#define ACT_PAR_MIN (1 << 18)

void lb_relu_forward(int64_t n, const float *x, float *y) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
  for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

void lb_relu_backward(int64_t n, const float *x, const float *dy, float *dx) {
  if (!dx) return;
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
  /* branch-free select: signs of real activations are close to random, a branch mispredicts */
  for (int64_t i = 0; i < n; i++) {
    float g = dy[i];
    dx[i] += x[i] > 0.0f ? g : 0.0f;
  }
}

void lb_hardtanh_forward(int64_t n, float lo, float hi, const float *x, float *y) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    y[i] = v < lo ? lo : (v > hi ? hi : v);
  }
}

void lb_hardtanh_backward(int64_t n, float lo, float hi, const float *x, const float *dy, float *dx) {
  if (!dx) return;
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
  for (int64_t i = 0; i < n; i++) {
    float g = dy[i], v = x[i];
    dx[i] += (v > lo && v < hi) ? g : 0.0f;
  }
}
