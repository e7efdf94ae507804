/* 2-D convolution: descriptor validation, dispatch, and the portable GEMM-based path.
 *
 * Dispatch (fixed by the descriptor, so forward, backward and the scratch size always agree):
 *  - depthwise (C/g == K/g == 1): direct loops, conv2d_depthwise.c;
 *  - where oneDNN is built in and measured faster (conv2d_onednn.c): oneDNN's kernels;
 *  - with AVX2/AVX-512: implicit-GEMM kernels parallel over images, conv2d_simd.c;
 *  - otherwise the portable path below, built on the real BLAS:
 *     - pointwise (1x1, stride 1, no padding, big planes): x is already the GEMM operand, one
 *       GEMM per image and group, no scratch;
 *     - everything else: im2col over a chunk of images into col (C/g*R*S, B*OH*OW), then one GEMM
 *       per chunk and group so that BLAS sees large matrices. Backward gathers dy of the chunk
 *       into (K/g, B*OH*OW), accumulates dw with one GEMM per chunk (fixed chunk order:
 *       deterministic), and turns W^T dy back into dx by col2im.
 *    Its loops are deliberately serial: OpenBLAS (pthreads build) keeps its own spinning thread
 *    pool, and interleaving it with OpenMP regions made the whole conv 3-5x slower on 2 cores.
 * Where oneDNN runs a strided 1x1 convolution (a subsampling shortcut), its dx comes from
 * conv2d_subsample.c instead, which touches only the pixels the convolution read; for a first
 * layer (C <= 4) from conv2d_narrow.c, which does not pad C to 16 as oneDNN does. */
#include "lowbit/nn.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/conv2d_impl.h"

/* Aim for about this many floats of scratch per chunk (col + gathered output): big enough that
 * the GEMMs are efficient, small enough to stay near the caches. */
#define LB_CONV_CHUNK_FLOATS ((size_t)1 << 21)
/* Pointwise convs on smaller planes go through im2col (a plain copy) to batch the GEMM. */
#define LB_CONV_POINTWISE_MIN_PLANE 128

enum { PATH_DEPTHWISE, PATH_POINTWISE, PATH_IM2COL };

static int is_depthwise(const lb_conv2d_desc *d) { return d->c == d->groups && d->k == d->groups; }

lb_status lb_conv2d_init(lb_conv2d_desc *d) {
  if (!d) return lb_fail(LB_ERR_ARG, "conv2d: descriptor is NULL");
  if (d->n <= 0 || d->c <= 0 || d->h <= 0 || d->w <= 0)
    return lb_fail(LB_ERR_ARG, "conv2d: input dims (N,C,H,W)=(%d,%d,%d,%d) must be positive", d->n, d->c,
                   d->h, d->w);
  if (d->k <= 0 || d->r <= 0 || d->s <= 0)
    return lb_fail(LB_ERR_ARG, "conv2d: filter dims K=%d R=%d S=%d must be positive", d->k, d->r, d->s);
  if (d->stride_h < 1 || d->stride_w < 1)
    return lb_fail(LB_ERR_ARG, "conv2d: stride (%d,%d) must be >= 1", d->stride_h, d->stride_w);
  if (d->pad_h < 0 || d->pad_w < 0)
    return lb_fail(LB_ERR_ARG, "conv2d: padding (%d,%d) must be >= 0", d->pad_h, d->pad_w);
  if (d->dil_h < 1 || d->dil_w < 1)
    return lb_fail(LB_ERR_ARG, "conv2d: dilation (%d,%d) must be >= 1", d->dil_h, d->dil_w);
  if (d->groups < 1) return lb_fail(LB_ERR_ARG, "conv2d: groups=%d must be >= 1", d->groups);
  if (d->c % d->groups != 0)
    return lb_fail(LB_ERR_SHAPE, "conv2d: groups=%d does not divide C=%d", d->groups, d->c);
  if (d->k % d->groups != 0)
    return lb_fail(LB_ERR_SHAPE, "conv2d: groups=%d does not divide K=%d", d->groups, d->k);
  /* Spans in 64 bits, then keep every index the kernels form well inside int. */
  const int64_t span_h = (int64_t)d->h + 2 * (int64_t)d->pad_h, span_w = (int64_t)d->w + 2 * (int64_t)d->pad_w;
  const int64_t eff_h = (int64_t)d->dil_h * (d->r - 1) + 1, eff_w = (int64_t)d->dil_w * (d->s - 1) + 1;
  if (span_h > INT_MAX / 2 || span_w > INT_MAX / 2 || eff_h > INT_MAX / 2 || eff_w > INT_MAX / 2)
    return lb_fail(LB_ERR_ARG, "conv2d: padded input or dilated kernel too large");
  if (eff_h > span_h || eff_w > span_w)
    return lb_fail(LB_ERR_SHAPE,
                   "conv2d: dilated kernel %lldx%lld larger than padded input %lldx%lld (output would be empty)",
                   (long long)eff_h, (long long)eff_w, (long long)span_h, (long long)span_w);
  const int64_t oh = (span_h - eff_h) / d->stride_h + 1, ow = (span_w - eff_w) / d->stride_w + 1;
  const int64_t cg = d->c / d->groups;
  if ((int64_t)d->c * d->h * d->w > INT_MAX || (int64_t)d->k * oh * ow > INT_MAX ||
      cg * d->r * d->s * oh * ow > INT_MAX || (int64_t)d->k * cg * d->r * d->s > INT_MAX)
    return lb_fail(LB_ERR_ARG, "conv2d: per-image tensor too large (more than INT_MAX elements)");
  d->oh = (int)oh;
  d->ow = (int)ow;
  if ((d->x_layout != LB_LAYOUT_NCHW && d->x_layout != LB_LAYOUT_NCHW16C) ||
      (d->y_layout != LB_LAYOUT_NCHW && d->y_layout != LB_LAYOUT_NCHW16C))
    return lb_fail(LB_ERR_ARG, "conv2d: unknown layout (x %d, y %d)", d->x_layout, d->y_layout);
  if (d->x_layout != LB_LAYOUT_NCHW || d->y_layout != LB_LAYOUT_NCHW) {
    if ((d->x_layout == LB_LAYOUT_NCHW16C && d->c % 16) || (d->y_layout == LB_LAYOUT_NCHW16C && d->k % 16))
      return lb_fail(LB_ERR_SHAPE, "conv2d: the nChw16c layout needs channels in multiples of 16 (C=%d, K=%d)", d->c,
                     d->k);
    if (!lb_conv2d_takes_nchw16c(d))
      return lb_fail(LB_ERR_UNSUPPORTED, "conv2d: the nChw16c layout needs oneDNN to run this convolution (%s)",
                     lb_conv2d_onednn_version() ? "shape not taken, or LOWBIT_CONV=own" : "built without oneDNN");
  }
  return LB_OK;
}

int lb_conv2d_takes_nchw16c(const lb_conv2d_desc *d) {
#ifdef LB_HAVE_ONEDNN
  return !is_depthwise(d) && lb_conv2d_onednn_scratch_floats(d) > 0;
#else
  (void)d;
  return 0;
#endif
}

/* Path of the portable (BLAS) implementation. */
static int conv_path(const lb_conv2d_desc *d) {
  if (is_depthwise(d)) return PATH_DEPTHWISE;
  if (d->r == 1 && d->s == 1 && d->stride_h == 1 && d->stride_w == 1 && d->pad_h == 0 && d->pad_w == 0 &&
      d->oh * d->ow >= LB_CONV_POINTWISE_MIN_PLANE)
    return PATH_POINTWISE;
  return PATH_IM2COL;
}

/* Images per im2col chunk (fixed by the descriptor, so results do not depend on the caller). */
static int conv_chunk(const lb_conv2d_desc *d) {
  const size_t plane = (size_t)d->oh * d->ow;
  const size_t per_image = plane * ((size_t)(d->c / d->groups) * d->r * d->s + (size_t)(d->k / d->groups));
  size_t b = LB_CONV_CHUNK_FLOATS / per_image;
  if (b < 1) b = 1;
  if (b > (size_t)d->n) b = (size_t)d->n;
  if (b * plane > INT_MAX) b = INT_MAX / plane; /* GEMM leading dimensions are int */
  return (int)b;
}

size_t lb_conv2d_blas_scratch_floats(const lb_conv2d_desc *d) {
  if (conv_path(d) != PATH_IM2COL) return 0;
  const size_t rows = (size_t)(d->c / d->groups) * d->r * d->s + (size_t)(d->k / d->groups);
  return rows * (size_t)conv_chunk(d) * (size_t)d->oh * d->ow;
}

/* One im2col row block: dst(OH*OW) = x plane xp(H,W) seen through kernel tap (r,s), zero outside. */
void lb_conv2d_im2col_plane(const lb_conv2d_desc *d, const float *xp, int r, int s, float *dst) {
  const int ow_n = d->ow, sw = d->stride_w;
  int oh_lo, oh_hi, ow_lo, ow_hi;
  lb_conv_valid_range(d->oh, d->h, d->stride_h, d->pad_h, r * d->dil_h, &oh_lo, &oh_hi);
  lb_conv_valid_range(d->ow, d->w, sw, d->pad_w, s * d->dil_w, &ow_lo, &ow_hi);
  if (ow_lo >= ow_hi) oh_hi = oh_lo; /* no valid column: the whole block is padding */
  memset(dst, 0, sizeof(float) * (size_t)oh_lo * ow_n);
  const int col0 = s * d->dil_w - d->pad_w;
  for (int oh = oh_lo; oh < oh_hi; oh++) {
    float *o = dst + (size_t)oh * ow_n;
    const float *xr = xp + (size_t)(oh * d->stride_h - d->pad_h + r * d->dil_h) * d->w;
    for (int ow = 0; ow < ow_lo; ow++) o[ow] = 0.0f;
    if (sw == 1) {
#pragma omp simd
      for (int ow = ow_lo; ow < ow_hi; ow++) o[ow] = xr[ow + col0];
    } else {
      for (int ow = ow_lo; ow < ow_hi; ow++) o[ow] = xr[ow * sw + col0];
    }
    for (int ow = ow_hi; ow < ow_n; ow++) o[ow] = 0.0f;
  }
  memset(dst + (size_t)oh_hi * ow_n, 0, sizeof(float) * (size_t)(d->oh - oh_hi) * ow_n);
}

/* col(C/g*R*S, nb*P) from images [n0, n0+nb), channels of group g. */
static void im2col_chunk(const lb_conv2d_desc *d, const float *x, int n0, int nb, int g, float *col) {
  const int cg = d->c / d->groups, rs = d->r * d->s, rows = cg * rs;
  const size_t plane_in = (size_t)d->h * d->w, plane_out = (size_t)d->oh * d->ow;
  const size_t ld = (size_t)nb * plane_out;
  for (int q = 0; q < rows; q++)
    for (int b = 0; b < nb; b++) {
      const int c = q / rs, r = (q % rs) / d->s, s = q % d->s;
      const float *xp = x + ((size_t)(n0 + b) * d->c + (size_t)g * cg + c) * plane_in;
      lb_conv2d_im2col_plane(d, xp, r, s, col + (size_t)q * ld + (size_t)b * plane_out);
    }
}

/* dx plane(H,W) += the im2col rows of channel c, image b (the transpose of im2col_plane, summed over
 * taps in a fixed order). */
void lb_conv2d_col2im_plane(const lb_conv2d_desc *d, const float *col, size_t ld, int c, float *dxp) {
  const int ow_n = d->ow, sw = d->stride_w;
  for (int r = 0; r < d->r; r++) {
    int oh_lo, oh_hi;
    lb_conv_valid_range(d->oh, d->h, d->stride_h, d->pad_h, r * d->dil_h, &oh_lo, &oh_hi);
    for (int s = 0; s < d->s; s++) {
      int ow_lo, ow_hi;
      lb_conv_valid_range(d->ow, d->w, sw, d->pad_w, s * d->dil_w, &ow_lo, &ow_hi);
      const float *src = col + (size_t)((c * d->r + r) * d->s + s) * ld;
      const int col0 = s * d->dil_w - d->pad_w;
      for (int oh = oh_lo; oh < oh_hi; oh++) {
        float *xr = dxp + (size_t)(oh * d->stride_h - d->pad_h + r * d->dil_h) * d->w;
        const float *o = src + (size_t)oh * ow_n;
        if (sw == 1) {
#pragma omp simd
          for (int ow = ow_lo; ow < ow_hi; ow++) xr[ow + col0] += o[ow];
        } else {
          for (int ow = ow_lo; ow < ow_hi; ow++) xr[ow * sw + col0] += o[ow];
        }
      }
    }
  }
}

/* dx(images [n0,n0+nb), channels of group g) += col2im(col(C/g*R*S, nb*P)). */
static void col2im_chunk(const lb_conv2d_desc *d, const float *col, int n0, int nb, int g, float *dx) {
  const int cg = d->c / d->groups;
  const size_t plane_in = (size_t)d->h * d->w, plane_out = (size_t)d->oh * d->ow;
  const size_t ld = (size_t)nb * plane_out;
  for (int b = 0; b < nb; b++)
    for (int c = 0; c < cg; c++) {
      float *dxp = dx + ((size_t)(n0 + b) * d->c + (size_t)g * cg + c) * plane_in;
      lb_conv2d_col2im_plane(d, col + (size_t)b * plane_out, ld, c, dxp);
    }
}

/* y(images of the chunk, channels of group g) = t(K/g, nb*P) + bias. */
static void scatter_out(const lb_conv2d_desc *d, const float *t, int n0, int nb, int g, const float *bias,
                        float *y) {
  const int kg = d->k / d->groups;
  const size_t plane = (size_t)d->oh * d->ow, ld = (size_t)nb * plane;
  for (int b = 0; b < nb; b++)
    for (int k = 0; k < kg; k++) {
      const int ko = g * kg + k;
      float *dst = y + ((size_t)(n0 + b) * d->k + ko) * plane;
      const float *src = t + (size_t)k * ld + (size_t)b * plane;
      if (bias) {
        const float bv = bias[ko];
#pragma omp simd
        for (size_t p = 0; p < plane; p++) dst[p] = src[p] + bv;
      } else {
        memcpy(dst, src, sizeof(float) * plane);
      }
    }
}

/* t(K/g, nb*P) = dy(images of the chunk, channels of group g): the inverse of scatter_out. */
static void gather_dy(const lb_conv2d_desc *d, const float *dy, int n0, int nb, int g, float *t) {
  const int kg = d->k / d->groups;
  const size_t plane = (size_t)d->oh * d->ow, ld = (size_t)nb * plane;
  for (int k = 0; k < kg; k++)
    for (int b = 0; b < nb; b++)
      memcpy(t + (size_t)k * ld + (size_t)b * plane, dy + ((size_t)(n0 + b) * d->k + g * kg + k) * plane,
             sizeof(float) * plane);
}

/* dy in nChw16c: each channel's plane is strided by 16; summed per image in float, in order
 * (deterministic, but not the bits of the vectorized NCHW sum). */
static void bias_grad_nchw16c(const lb_conv2d_desc *d, const float *dy, float *db) {
  const size_t plane = (size_t)d->oh * d->ow;
#pragma omp parallel for schedule(static) if ((size_t)d->n * d->k * plane >= LB_CONV_PAR_MIN)
  for (int k = 0; k < d->k; k++) {
    double acc = 0;
    for (int n = 0; n < d->n; n++) {
      const float *p = dy + (((size_t)n * (d->k / 16) + k / 16) * plane) * 16 + k % 16;
      float sum = 0.0f;
      for (size_t i = 0; i < plane; i++) sum += p[i * 16];
      acc += sum;
    }
    db[k] += (float)acc;
  }
}

void lb_conv2d_bias_grad(const lb_conv2d_desc *d, const float *dy, float *db) {
  const size_t plane = (size_t)d->oh * d->ow;
  if (d->y_layout == LB_LAYOUT_NCHW16C) {
    bias_grad_nchw16c(d, dy, db);
    return;
  }
#pragma omp parallel for schedule(static) if ((size_t)d->n * d->k * plane >= LB_CONV_PAR_MIN)
  for (int k = 0; k < d->k; k++) {
    /* float sums per plane (vectorized), double across images: accurate and order-fixed */
    double acc = 0;
    for (int n = 0; n < d->n; n++) {
      const float *p = dy + ((size_t)n * d->k + k) * plane;
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (size_t i = 0; i < plane; i++) sum += p[i];
      acc += sum;
    }
    db[k] += (float)acc;
  }
}

/* Pointwise: y_n,g(K/g, P) = W_g(K/g, C/g) x_n,g(C/g, P) straight from the NCHW tensors. */
static void pointwise_forward(const lb_conv2d_desc *d, const float *x, const float *w, const float *b, float *y) {
  const int cg = d->c / d->groups, kg = d->k / d->groups, plane = d->oh * d->ow;
  if (b) {
    for (int n = 0; n < d->n; n++)
      for (int k = 0; k < d->k; k++) {
        float *dst = y + ((size_t)n * d->k + k) * plane;
        const float bv = b[k];
        for (int p = 0; p < plane; p++) dst[p] = bv;
      }
  }
  for (int n = 0; n < d->n; n++)
    for (int g = 0; g < d->groups; g++)
      lb_sgemm(0, 0, kg, plane, cg, 1.0f, w + (size_t)g * kg * cg, cg,
               x + ((size_t)n * d->c + (size_t)g * cg) * plane, plane, b ? 1.0f : 0.0f,
               y + ((size_t)n * d->k + (size_t)g * kg) * plane, plane);
}

static void pointwise_backward(const lb_conv2d_desc *d, const float *x, const float *w, const float *dy,
                               float *dx, float *dw) {
  const int cg = d->c / d->groups, kg = d->k / d->groups, plane = d->oh * d->ow;
  for (int n = 0; n < d->n; n++)
    for (int g = 0; g < d->groups; g++) {
      const float *dyg = dy + ((size_t)n * d->k + (size_t)g * kg) * plane;
      if (dw) /* dw_g(K/g, C/g) += dy_n,g x_n,g^T, images in order */
        lb_sgemm(0, 1, kg, cg, plane, 1.0f, dyg, plane, x + ((size_t)n * d->c + (size_t)g * cg) * plane, plane,
                 1.0f, dw + (size_t)g * kg * cg, cg);
      if (dx) /* dx_n,g(C/g, P) += W_g^T dy_n,g */
        lb_sgemm(1, 0, cg, plane, kg, 1.0f, w + (size_t)g * kg * cg, cg, dyg, plane, 1.0f,
                 dx + ((size_t)n * d->c + (size_t)g * cg) * plane, plane);
    }
}

void lb_conv2d_blas_forward(const lb_conv2d_desc *d, const float *x, const float *w, const float *b, float *y,
                            float *scratch) {
  switch (conv_path(d)) {
  case PATH_DEPTHWISE: lb_conv2d_dw_forward(d, x, w, b, y); return;
  case PATH_POINTWISE: pointwise_forward(d, x, w, b, y); return;
  default: break;
  }
  const int cg = d->c / d->groups, kg = d->k / d->groups, crs = cg * d->r * d->s;
  const int plane = d->oh * d->ow, chunk = conv_chunk(d);
  float *col = scratch, *t = scratch + (size_t)crs * chunk * plane;
  for (int n0 = 0; n0 < d->n; n0 += chunk) {
    const int nb = d->n - n0 < chunk ? d->n - n0 : chunk, ld = nb * plane;
    for (int g = 0; g < d->groups; g++) {
      im2col_chunk(d, x, n0, nb, g, col);
      lb_sgemm(0, 0, kg, ld, crs, 1.0f, w + (size_t)g * kg * crs, crs, col, ld, 0.0f, t, ld);
      scatter_out(d, t, n0, nb, g, b, y);
    }
  }
}

void lb_conv2d_blas_backward(const lb_conv2d_desc *d, const float *x, const float *w, const float *dy, float *dx,
                             float *dw, float *db, float *scratch) {
  if (db) lb_conv2d_bias_grad(d, dy, db);
  if (!dx && !dw) return;
  switch (conv_path(d)) {
  case PATH_DEPTHWISE: lb_conv2d_dw_backward(d, x, w, dy, dx, dw); return;
  case PATH_POINTWISE: pointwise_backward(d, x, w, dy, dx, dw); return;
  default: break;
  }
  const int cg = d->c / d->groups, kg = d->k / d->groups, crs = cg * d->r * d->s;
  const int plane = d->oh * d->ow, chunk = conv_chunk(d);
  float *col = scratch, *t = scratch + (size_t)crs * chunk * plane;
  for (int n0 = 0; n0 < d->n; n0 += chunk) {
    const int nb = d->n - n0 < chunk ? d->n - n0 : chunk, ld = nb * plane;
    for (int g = 0; g < d->groups; g++) {
      const float *wg = w + (size_t)g * kg * crs;
      gather_dy(d, dy, n0, nb, g, t);
      if (dw) { /* dw_g(K/g, CRS) += dy_g(K/g, ld) col^T(ld, CRS); chunks in order */
        im2col_chunk(d, x, n0, nb, g, col);
        lb_sgemm(0, 1, kg, crs, ld, 1.0f, t, ld, col, ld, 1.0f, dw + (size_t)g * kg * crs, crs);
      }
      if (dx) { /* dcol(CRS, ld) = W_g^T dy_g, reusing the col buffer, then scattered into dx */
        lb_sgemm(1, 0, crs, ld, kg, 1.0f, wg, crs, t, ld, 0.0f, col, ld);
        col2im_chunk(d, col, n0, nb, g, dx);
      }
    }
  }
}

/* ---- public entry points ------------------------------------------------------------------- */

size_t lb_conv2d_scratch_floats(const lb_conv2d_desc *d) {
  if (is_depthwise(d)) return 0;
#ifdef LB_HAVE_ONEDNN
  const size_t dnn = lb_conv2d_onednn_scratch_floats(d);
  if (dnn) return dnn;
#endif
#ifdef LB_CONV_SIMD
  return lb_conv2d_simd_scratch_floats(d);
#else
  return lb_conv2d_blas_scratch_floats(d);
#endif
}

const char *lb_conv2d_backend(const lb_conv2d_desc *d) {
  if (is_depthwise(d)) return "depthwise";
#ifdef LB_HAVE_ONEDNN
  if (lb_conv2d_onednn_scratch_floats(d)) return "onednn";
#endif
#ifdef LB_CONV_SIMD
  return "simd";
#else
  return "blas";
#endif
}

/* lb_conv2d_init accepted the nChw16c layout because oneDNN took the shape; our kernels would
 * read the blocked tensors as NCHW, so a descriptor that gets here is a caller's bug (e.g. a
 * layout set after init). The kernels have no status to return: stop with the reason. */
static void layout_not_taken(void) {
  fprintf(stderr, "lowbit: conv2d: nChw16c tensors reached a kernel that only reads NCHW\n");
  abort();
}

/* x: (N,C,H,W), w: (K,C/g,R,S), b: (K) or NULL, y: (N,K,OH,OW). */
void lb_conv2d_forward(const lb_conv2d_desc *d, const float *x, const float *w, const float *b, float *y,
                       float *scratch) {
  if (is_depthwise(d)) {
    lb_conv2d_dw_forward(d, x, w, b, y);
    return;
  }
#ifdef LB_HAVE_ONEDNN
  if (lb_conv2d_onednn_forward(d, x, w, b, y, scratch)) return;
#endif
  if (d->x_layout || d->y_layout) layout_not_taken();
#ifdef LB_CONV_SIMD
  lb_conv2d_simd_forward(d, x, w, b, y, scratch);
#else
  lb_conv2d_blas_forward(d, x, w, b, y, scratch);
#endif
}

/* dy: (N,K,OH,OW); accumulates dx: (N,C,H,W), dw: (K,C/g,R,S), db: (K). */
void lb_conv2d_backward(const lb_conv2d_desc *d, const float *x, const float *w, const float *dy, float *dx,
                        float *dw, float *db, float *scratch) {
  lb_conv2d_backward_ex(d, x, w, dy, dx, 0, dw, db, scratch);
}

/* dx_assign: the SIMD path writes each dx plane once (stride 1) or zeroes it right before its
 * col2im, in cache; the others zero all of dx first. */
void lb_conv2d_backward_ex(const lb_conv2d_desc *d, const float *x, const float *w, const float *dy, float *dx,
                           int dx_assign, float *dw, float *db, float *scratch) {
  const int64_t nx = (int64_t)d->n * d->c * d->h * d->w;
  if (is_depthwise(d)) {
    if (dx && dx_assign) memset(dx, 0, sizeof(float) * (size_t)nx);
    if (db) lb_conv2d_bias_grad(d, dy, db);
    lb_conv2d_dw_backward(d, x, w, dy, dx, dw);
    return;
  }
#ifdef LB_HAVE_ONEDNN
  if (lb_conv2d_onednn_backward(d, x, w, dy, dx, dx_assign, dw, scratch)) {
    if (db) lb_conv2d_bias_grad(d, dy, db);
    return;
  }
#endif
  if (d->x_layout || d->y_layout) layout_not_taken();
#ifdef LB_CONV_SIMD
  if (db) lb_conv2d_bias_grad(d, dy, db);
  lb_conv2d_simd_backward(d, x, w, dy, dx, dx_assign, dw, scratch);
#else
  if (dx && dx_assign) memset(dx, 0, sizeof(float) * (size_t)nx);
  lb_conv2d_blas_backward(d, x, w, dy, dx, dw, db, scratch);
#endif
}
