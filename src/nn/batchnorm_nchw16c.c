/* Batch norm's per-plane work on nChw16c blocks (see batchnorm_impl.h): the 16 channels of a
 * block are the innermost, contiguous index, so every loop below runs across them and the
 * compiler vectorizes over channels; per channel the arithmetic and its order are those of the
 * NCHW plane loops in batchnorm.c, lane for lane. */
#include "nn/batchnorm_impl.h"

#define BLK 16
/* The workers take relu as a parameter and are called with literals: inlined, each copy loses
 * the branch (see bn_grad_in); GCC does not inline them on its own, and then cannot vectorize. */
#if defined(__GNUC__)
#define BN_INLINE static inline __attribute__((always_inline))
#else
#define BN_INLINE static inline
#endif
/* The loops over a block's 16 channels carry `omp simd`: each channel's arithmetic is its own
 * (no reduction across j), so vectorizing keeps every bit, and GCC's -O2 cost model would not
 * vectorize them (runtime alias checks). The lane totals stay scalar, in lane order. */

void lb_bn_block_sums(const float *blk, int64_t hw, const double *shift, double *tot_s, double *tot_q) {
  double s[BN_LANES][BLK] = {{0}}, q[BN_LANES][BLK] = {{0}};
  const int64_t whole = hw / BN_LANES * BN_LANES;
  for (int64_t p = 0; p < whole; p += BN_LANES)
    for (int l = 0; l < BN_LANES; l++)
#pragma omp simd
      for (int j = 0; j < BLK; j++) {
        const double v = (double)blk[(p + l) * BLK + j] - shift[j];
        s[l][j] += v;
        q[l][j] += v * v;
      }
  for (int64_t p = whole; p < hw; p++) /* the remainder goes to lane 0, as in bn_sums */
#pragma omp simd
    for (int j = 0; j < BLK; j++) {
      const double v = (double)blk[p * BLK + j] - shift[j];
      s[0][j] += v;
      q[0][j] += v * v;
    }
  for (int j = 0; j < BLK; j++) {
    double ts = 0, tq = 0;
    for (int l = 0; l < BN_LANES; l++) {
      ts += s[l][j];
      tq += q[l][j];
    }
    tot_s[j] += ts;
    tot_q[j] += tq;
  }
}

BN_INLINE void block_grad_sums(const float *x, const float *dy, const float *y, int relu, int64_t hw,
                                   const float *mean, double *sd, double *sx) {
  double d[BN_LANES][BLK] = {{0}}, e[BN_LANES][BLK] = {{0}};
  const int64_t whole = hw / BN_LANES * BN_LANES;
  for (int64_t p = 0; p < whole; p += BN_LANES)
    for (int l = 0; l < BN_LANES; l++)
#pragma omp simd
      for (int j = 0; j < BLK; j++) {
        const int64_t o = (p + l) * BLK + j;
        const double g = (double)bn_grad_in(dy, y, o, relu);
        d[l][j] += g;
        e[l][j] += g * ((double)x[o] - (double)mean[j]);
      }
  for (int64_t p = whole; p < hw; p++)
#pragma omp simd
    for (int j = 0; j < BLK; j++) {
      const int64_t o = p * BLK + j;
      const double g = (double)bn_grad_in(dy, y, o, relu);
      d[0][j] += g;
      e[0][j] += g * ((double)x[o] - (double)mean[j]);
    }
  for (int j = 0; j < BLK; j++) {
    double td = 0, te = 0;
    for (int l = 0; l < BN_LANES; l++) {
      td += d[l][j];
      te += e[l][j];
    }
    sd[j] += td;
    sx[j] += te;
  }
}

/* relu as a literal in each call, so each inlined copy is branch-free (see bn_grad_in) */
void lb_bn_block_grad_sums(const float *x, const float *dy, const float *y, int relu, int64_t hw,
                           const float *mean, double *sd, double *sx) {
  if (relu)
    block_grad_sums(x, dy, y, 1, hw, mean, sd, sx);
  else
    block_grad_sums(x, dy, NULL, 0, hw, mean, sd, sx);
}

void lb_bn_block_affine(const float *x, float *y, int64_t hw, const float *mf, const float *a, const float *b,
                        float lo) {
  for (int64_t p = 0; p < hw; p++) {
    const float *xp = x + p * BLK;
    float *yp = y + p * BLK;
#pragma omp simd
    for (int j = 0; j < BLK; j++) {
      const float v = (xp[j] - mf[j]) * a[j] + b[j];
      yp[j] = v < lo ? lo : v;
    }
  }
}

BN_INLINE void block_dx(const float *x, const float *dy, const float *y, int relu, float *dx, int64_t hw,
                            const float *mf, const float *a, const float *b, const float *k, int assign) {
  for (int64_t p = 0; p < hw; p++) {
    const int64_t o = p * BLK;
    if (assign) {
#pragma omp simd
      for (int j = 0; j < BLK; j++)
        dx[o + j] = 0.0f + (a[j] * bn_grad_in(dy, y, o + j, relu) + b[j] * (x[o + j] - mf[j]) + k[j]);
    } else {
#pragma omp simd
      for (int j = 0; j < BLK; j++)
        dx[o + j] += a[j] * bn_grad_in(dy, y, o + j, relu) + b[j] * (x[o + j] - mf[j]) + k[j];
    }
  }
}

void lb_bn_block_dx(const float *x, const float *dy, const float *y, int relu, float *dx, int64_t hw,
                    const float *mf, const float *a, const float *b, const float *k, int assign) {
  if (relu)
    block_dx(x, dy, y, 1, dx, hw, mf, a, b, k, assign);
  else
    block_dx(x, dy, NULL, 0, dx, hw, mf, a, b, k, assign);
}
