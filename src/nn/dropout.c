/* Inverted dropout: at training time each element is kept with probability 1-p and scaled by
 * 1/(1-p), so evaluation is the identity. One uniform draw per element, in element order, so
 * the mask depends only on the rng state (serial on purpose: determinism over speed). */
#include "lowbit/nn.h"

void lb_dropout_forward(int64_t n, float p, const float *x, float *y, uint8_t *mask, lb_rng *rng) {
  if (!(p > 0.0f)) {
    /* p = 0: identity, every element kept, no draws taken from rng */
    for (int64_t i = 0; i < n; i++) {
      y[i] = x[i];
      mask[i] = 1;
    }
    return;
  }
  /* p >= 1 lies outside the documented range; drop everything rather than scale by inf */
  const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  for (int64_t i = 0; i < n; i++) {
    uint8_t keep = lb_rng_uniform(rng) >= p; /* P(u >= p) = 1 - p for u uniform in [0,1) */
    mask[i] = keep;
    y[i] = keep ? x[i] * scale : 0.0f;
  }
}

void lb_dropout_backward(int64_t n, float p, const uint8_t *mask, const float *dy, float *dx) {
  if (!dx) return;
  const float scale = !(p > 0.0f) ? 1.0f : (p < 1.0f ? 1.0f / (1.0f - p) : 0.0f);
  for (int64_t i = 0; i < n; i++) dx[i] += mask[i] ? dy[i] * scale : 0.0f;
}
