/* dx of a 1x1 convolution with stride > 1 and no padding (a subsampling projection, such as a
 * ResNet shortcut): input pixel (i*sh, j*sw) receives W^T dy(i, j), every other pixel nothing.
 *
 * oneDNN 2.6 writes the whole of dx for it, so a dx that another branch already holds has to be
 * accumulated through a full copy and a reorder-with-sum. Here only the sampled pixels are read
 * and written (a quarter of dx at stride 2), which makes accumulating about as cheap as reading
 * dy. Each element adds its K terms to its old value in the order k = 0..K-1, in either layout,
 * so NCHW and nChw16c give the same bits, for any thread count. */
#include <string.h>

#include "nn/conv2d_impl.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

int lb_conv2d_is_subsample(const lb_conv2d_desc *d) {
  return d->groups == 1 && d->r == 1 && d->s == 1 && d->pad_h == 0 && d->pad_w == 0 &&
         (d->stride_h > 1 || d->stride_w > 1);
}

/* dy(n, k, i, j) in either layout */
static inline float dy_at(const lb_conv2d_desc *d, const float *dy, int n, int k, int i, int j) {
  if (d->y_layout == LB_LAYOUT_NCHW16C)
    return dy[((((int64_t)n * (d->k / 16) + k / 16) * d->oh + i) * d->ow + j) * 16 + k % 16];
  return dy[(((int64_t)n * d->k + k) * d->oh + i) * d->ow + j];
}

/* nChw16c dx: the 16 channels of block cb at jn sampled pixels of output row i, j0 onwards,
 * dy in either layout. The portable form; blocked_run_avx512 below does the same operations
 * with its accumulators in registers, which GCC does not manage for these loops. */
static inline __attribute__((always_inline)) void blocked_run(const lb_conv2d_desc *d, const float *w,
                                                              const float *dy, float *dxp, int n, int cb, int i,
                                                              int j0, const int jn) {
  float acc[8][16];
  float *row = dxp + (int64_t)i * d->stride_h * d->w * 16;
  for (int jj = 0; jj < jn; jj++)
    for (int l = 0; l < 16; l++) acc[jj][l] = row[(int64_t)(j0 + jj) * d->stride_w * 16 + l];
  for (int k = 0; k < d->k; k++) {
    const float *wk = w + (int64_t)k * d->c + cb * 16;
    for (int jj = 0; jj < jn; jj++) {
      const float v = dy_at(d, dy, n, k, i, j0 + jj);
#pragma omp simd
      for (int l = 0; l < 16; l++) acc[jj][l] = LB_MADD(wk[l], v, acc[jj][l]);
    }
  }
  for (int jj = 0; jj < jn; jj++)
    for (int l = 0; l < 16; l++) row[(int64_t)(j0 + jj) * d->stride_w * 16 + l] = acc[jj][l];
}

#ifdef __AVX512F__
/* blocked_run for nChw16c dy with AVX-512: the same operations in the same order (one fused
 * multiply-add per term, lane for lane), with the accumulators pinned in registers. */
static inline __attribute__((always_inline)) void blocked_run_avx512(const lb_conv2d_desc *d, const float *w,
                                                                     const float *dy, float *dxp, int n, int cb,
                                                                     int i, int j0, const int jn) {
  __m512 acc[8];
#pragma GCC unroll 8
  for (int jj = 0; jj < 8; jj++) acc[jj] = _mm512_setzero_ps(); /* dead stores, for the warning */
  float *row = dxp + (int64_t)i * d->stride_h * d->w * 16;
  const int64_t step = (int64_t)d->stride_w * 16;
#pragma GCC unroll 8
  for (int jj = 0; jj < jn; jj++) acc[jj] = _mm512_loadu_ps(row + (j0 + jj) * step);
  for (int kb = 0; kb < d->k / 16; kb++) {
    const float *dyb = dy + ((((int64_t)n * (d->k / 16) + kb) * d->oh + i) * d->ow + j0) * 16;
    const float *wb = w + (int64_t)kb * 16 * d->c + cb * 16;
    for (int kl = 0; kl < 16; kl++) {
      const __m512 wk = _mm512_loadu_ps(wb + (int64_t)kl * d->c);
#pragma GCC unroll 8
      for (int jj = 0; jj < jn; jj++) acc[jj] = _mm512_fmadd_ps(wk, _mm512_set1_ps(dyb[jj * 16 + kl]), acc[jj]);
    }
  }
#pragma GCC unroll 8
  for (int jj = 0; jj < jn; jj++) _mm512_storeu_ps(row + (j0 + jj) * step, acc[jj]);
}
#define BLOCKED_RUN(jn)                                                        \
  do {                                                                         \
    if (d->y_layout == LB_LAYOUT_NCHW16C)                                      \
      blocked_run_avx512(d, w, dy, dxp, n, cb, i, j0, jn);                     \
    else                                                                       \
      blocked_run(d, w, dy, dxp, n, cb, i, j0, jn);                            \
  } while (0)
#else
#define BLOCKED_RUN(jn) blocked_run(d, w, dy, dxp, n, cb, i, j0, jn)
#endif

static void blocked_plane(const lb_conv2d_desc *d, const float *w, const float *dy, float *dxp, int n, int cb) {
  for (int i = 0; i < d->oh; i++)
    for (int j0 = 0; j0 < d->ow; j0 += 8) {
      const int jn = d->ow - j0 < 8 ? d->ow - j0 : 8;
      switch (jn) { /* a constant per case, so each call is specialized */
      case 8: BLOCKED_RUN(8); break;
      case 7: BLOCKED_RUN(7); break;
      case 6: BLOCKED_RUN(6); break;
      case 5: BLOCKED_RUN(5); break;
      case 4: BLOCKED_RUN(4); break;
      default: BLOCKED_RUN(jn); break;
      }
    }
}

/* NCHW dx: image n, sampled pixels [p0, p0 + pn) of the OH x OW grid, every channel. The
 * chunk of dy (K x pn) is read once per channel, from cache. */
#define PLAIN_CHUNK 256
static void plain_chunk(const lb_conv2d_desc *d, const float *w, const float *dy, float *dx, int n, int p0, int pn) {
  float acc[PLAIN_CHUNK];
  int64_t at[PLAIN_CHUNK]; /* offset of each sampled pixel in a dx plane */
  const int64_t hw = (int64_t)d->h * d->w, ohw = (int64_t)d->oh * d->ow;
  for (int t = 0; t < pn; t++) {
    const int i = (p0 + t) / d->ow, j = (p0 + t) % d->ow;
    at[t] = (int64_t)i * d->stride_h * d->w + (int64_t)j * d->stride_w;
  }
  for (int c = 0; c < d->c; c++) {
    float *dxp = dx + ((int64_t)n * d->c + c) * hw;
    for (int t = 0; t < pn; t++) acc[t] = dxp[at[t]];
    for (int k = 0; k < d->k; k++) {
      const float wk = w[(int64_t)k * d->c + c];
      if (d->y_layout == LB_LAYOUT_NCHW16C) {
        for (int t = 0; t < pn; t++)
          acc[t] = LB_MADD(wk, dy_at(d, dy, n, k, (p0 + t) / d->ow, (p0 + t) % d->ow), acc[t]);
      } else {
        const float *dyp = dy + ((int64_t)n * d->k + k) * ohw + p0;
#pragma omp simd
        for (int t = 0; t < pn; t++) acc[t] = LB_MADD(wk, dyp[t], acc[t]);
      }
    }
    for (int t = 0; t < pn; t++) dxp[at[t]] = acc[t];
  }
}

void lb_conv2d_subsample_dx(const lb_conv2d_desc *d, const float *w, const float *dy, float *dx, int dx_assign) {
  const int64_t work = (int64_t)d->n * d->c * d->h * d->w;
  if (d->x_layout == LB_LAYOUT_NCHW16C) { /* per image and channel block: a plane of pixels */
    const int64_t plane = (int64_t)d->h * d->w * 16, tasks = (int64_t)d->n * (d->c / 16);
#pragma omp parallel for schedule(static) if (work >= LB_CONV_PAR_MIN)
    for (int64_t t = 0; t < tasks; t++) {
      float *dxp = dx + t * plane;
      if (dx_assign) memset(dxp, 0, sizeof(float) * (size_t)plane); /* then accumulate onto zeros */
      blocked_plane(d, w, dy, dxp, (int)(t / (d->c / 16)), (int)(t % (d->c / 16)));
    }
    return;
  }
  if (dx_assign) {
#pragma omp parallel for schedule(static) if (work >= LB_CONV_PAR_MIN)
    for (int64_t b = 0; b < work; b += 4096)
      memset(dx + b, 0, sizeof(float) * (size_t)(work - b < 4096 ? work - b : 4096));
  }
  const int chunks = (int)(((int64_t)d->oh * d->ow + PLAIN_CHUNK - 1) / PLAIN_CHUNK);
  const int64_t tasks = (int64_t)d->n * chunks;
#pragma omp parallel for schedule(static) if (work >= LB_CONV_PAR_MIN)
  for (int64_t t = 0; t < tasks; t++) {
    const int n = (int)(t / chunks), p0 = (int)(t % chunks) * PLAIN_CHUNK;
    const int64_t left = (int64_t)d->oh * d->ow - p0;
    plain_chunk(d, w, dy, dx, n, p0, left < PLAIN_CHUNK ? (int)left : PLAIN_CHUNK);
  }
}
