/* Softmax cross-entropy with label smoothing (PyTorch's CrossEntropyLoss(label_smoothing=s)),
 * its gradient, and top-1 accuracy counting. logits, probs: (N,K); labels: (N) in [0,K).
 * Rows are independent and summed in row order, so the loss is deterministic. */
#include <math.h>

#include "lowbit/nn.h"

/* With target t = (1-s)*onehot(y) + s/K (which sums to 1), the row loss is
 *   -sum_j t_j log p_j = lse - (1-s)*z_y - (s/K)*sum_j z_j,   lse = log sum_j exp(z_j),
 * with lse = max + log sum exp(z - max) so that no exp overflows. probs may be NULL when only
 * the loss is wanted. */
float lb_softmax_xent_forward(int n, int k, const float *logits, const int32_t *labels, float smoothing,
                              float *probs) {
  if (n <= 0 || k <= 0) return 0.0f;
  const double s = (double)smoothing;
  double total = 0.0;
  for (int i = 0; i < n; i++) {
    const float *z = logits + (int64_t)i * k;
    double mx = z[0];
    for (int j = 1; j < k; j++)
      if (z[j] > mx) mx = z[j];
    double se = 0.0, sz = 0.0;
    for (int j = 0; j < k; j++) {
      se += exp((double)z[j] - mx);
      sz += (double)z[j];
    }
    const double lse = mx + log(se);
    if (probs) {
      float *p = probs + (int64_t)i * k;
      for (int j = 0; j < k; j++) p[j] = (float)(exp((double)z[j] - mx) / se);
    }
    total += lse - (1.0 - s) * (double)z[labels[i]] - s / (double)k * sz;
  }
  return (float)(total / (double)n);
}

/* dlogits += scale * (probs - target) / N. */
void lb_softmax_xent_backward(int n, int k, const float *probs, const int32_t *labels, float smoothing,
                              float scale, float *dlogits) {
  if (!dlogits || n <= 0 || k <= 0) return;
  const double f = (double)scale / (double)n;
  const double off = (double)smoothing / (double)k; /* smoothing mass of every class */
  for (int i = 0; i < n; i++) {
    const float *p = probs + (int64_t)i * k;
    float *g = dlogits + (int64_t)i * k;
    const int y = labels[i];
    for (int j = 0; j < k; j++) {
      double t = off + (j == y ? 1.0 - (double)smoothing : 0.0);
      g[j] += (float)(f * ((double)p[j] - t));
    }
  }
}

/* First maximal index wins (strict '>'), as torch.argmax. */
int lb_count_correct(int n, int k, const float *logits, const int32_t *labels) {
  int correct = 0;
  for (int i = 0; i < n; i++) {
    const float *z = logits + (int64_t)i * k;
    int best = 0;
    for (int j = 1; j < k; j++)
      if (z[j] > z[best]) best = j;
    correct += best == labels[i];
  }
  return correct;
}
