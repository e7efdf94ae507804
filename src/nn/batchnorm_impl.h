/* Private to the batch-norm files: the pieces batchnorm.c (NCHW and the passes) and
 * batchnorm_nchw16c.c (the same per-plane work on nChw16c blocks) must share so that both
 * layouts give the same bits. */
#ifndef LOWBIT_NN_BATCHNORM_IMPL_H
#define LOWBIT_NN_BATCHNORM_IMPL_H

#include <stdint.h>
#include <string.h>

#include "lowbit/nn.h"

/* Independent double accumulators: they break the add-latency chain and let the compiler
 * vectorize the reduction while keeping a fixed summation order (no -ffast-math needed). */
#define BN_LANES 8
/* The gradient reaching the batch norm at element j: dy itself, or with a fused ReLU the value
 * lb_relu_backward would leave in a zeroed buffer from the BN output: 0 + (dy where y > 0, else
 * 0) (y > 0 exactly where the BN output was > 0; the 0 + turns a -0 into +0 as there).
 * The mask ANDs the bits, giving exactly `y > 0 ? dy : 0.0f` (a blocked NaN or inf stays
 * blocked, unlike a multiply by 0/1) without the branch GCC keeps for that select in the sums
 * loop: under the default -ftrapping-math it will not if-convert the float->double conversion
 * it sinks into the select, and a branch on the sign of the BN output mispredicts half the time
 * (the fused backward ran 2x slower, measured). relu is a literal at every call site, so each
 * inlined copy of the loops below is branch-free. */
static inline float bn_grad_in(const float *dy, const float *y, int64_t j, int relu) {
  float g = dy[j];
  if (relu) {
    uint32_t bits;
    memcpy(&bits, &g, sizeof bits);
    bits &= 0u - (uint32_t)(y[j] > 0.0f); /* all ones or zero */
    memcpy(&g, &bits, sizeof bits);
    g = 0.0f + g;
  }
  return g;
}

/* nChw16c: blk points at the 16 interleaved planes of one (image, channel block); element p of
 * block channel j is blk[p*16 + j]. Each does, per channel, exactly what the NCHW plane loops of
 * batchnorm.c do to a plane (same lanes, same order), so the results are the same bits. */
/* tot_s[j] += plane sum of (x - shift[j]), tot_q[j] += of its square (BN_LANES lanes each). */
void lb_bn_block_sums(const float *blk, int64_t hw, const double *shift, double *tot_s, double *tot_q);
/* sd[j] += plane sum of g, sx[j] += of g * (x - mean[j]), g = bn_grad_in (relu: 0 or 1). */
void lb_bn_block_grad_sums(const float *x, const float *dy, const float *y, int relu, int64_t hw,
                           const float *mean, double *sd, double *sx);
/* y = max(lo, (x - mf[j])*a[j] + b[j]). */
void lb_bn_block_affine(const float *x, float *y, int64_t hw, const float *mf, const float *a, const float *b,
                        float lo);
/* dx (+)= a[j]*g + b[j]*(x - mf[j]) + k[j], g = bn_grad_in; assign: dx = 0 + (...). */
void lb_bn_block_dx(const float *x, const float *dy, const float *y, int relu, float *dx, int64_t hw,
                    const float *mf, const float *a, const float *b, const float *k, int assign);

#endif
