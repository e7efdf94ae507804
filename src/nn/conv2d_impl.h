/* Private helpers shared by the 2-D convolution files (conv2d.c, conv2d_simd.c,
 * conv2d_depthwise.c). Tests include it to check the portable path on SIMD machines too. */
#ifndef LOWBIT_NN_CONV2D_IMPL_H
#define LOWBIT_NN_CONV2D_IMPL_H

#include "lowbit/nn.h"

/* fp-contract is off under -std=c11, so a*b+c is never fused on its own; ask for the fused
 * instruction explicitly where the target has one (fmaf without hardware FMA is a slow libm call). */
#if defined(__FMA__) || defined(__AVX512F__)
#include <math.h>
#define LB_MADD(a, b, c) fmaf((a), (b), (c))
#else
#define LB_MADD(a, b, c) ((a) * (b) + (c))
#endif

/* Below this many floats of work a loop runs on one thread: waking the team costs more. */
#define LB_CONV_PAR_MIN 16384

/* Along one axis, output index o reads input index o*stride - pad + off (off = tap*dilation);
 * that index lies inside [0, in) exactly for o in [*lo, *hi) (an empty range gives lo == hi). */
static inline void lb_conv_valid_range(int out, int in, int stride, int pad, int off, int *lo, int *hi) {
  const int first = pad - off;         /* need o*stride >= first */
  const int last = in - 1 + pad - off; /* need o*stride <= last */
  int l = first <= 0 ? 0 : (first + stride - 1) / stride;
  int h = last < 0 ? 0 : last / stride + 1;
  if (h > out) h = out;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

/* The SIMD implicit-GEMM path exists where the compiler targets AVX2+FMA or AVX-512. */
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#define LB_CONV_SIMD 1
#endif

/* im2col of one input plane xp(H,W) for kernel tap (r,s): dst(OH*OW), zero where the window
 * reads padding. */
void lb_conv2d_im2col_plane(const lb_conv2d_desc *d, const float *xp, int r, int s, float *dst);
/* dx plane(H,W) += the im2col rows of input channel c (row (c*R+r)*S+s at col + row*ld, each
 * OH*OW long), taps in a fixed order. */
void lb_conv2d_col2im_plane(const lb_conv2d_desc *d, const float *col, size_t ld, int c, float *dxp);

/* db(K) += sum over n, oh, ow of dy(N,K,OH,OW); deterministic for any thread count. */
void lb_conv2d_bias_grad(const lb_conv2d_desc *d, const float *dy, float *db);

/* Depthwise (groups == C == K) direct loops; no scratch. */
void lb_conv2d_dw_forward(const lb_conv2d_desc *d, const float *x, const float *w, const float *b, float *y);
void lb_conv2d_dw_backward(const lb_conv2d_desc *d, const float *x, const float *w, const float *dy, float *dx,
                           float *dw);

/* 1x1, stride > 1, no padding, groups 1 (conv2d_subsample.c): dx (either layout) from W^T dy
 * at the sampled pixels only; dx_assign zeroes the others. The oneDNN path's dx for such shapes
 * (our SIMD kernels compute dx and dw of them together, faster than this file's NCHW loops). */
int lb_conv2d_is_subsample(const lb_conv2d_desc *d);
void lb_conv2d_subsample_dx(const lb_conv2d_desc *d, const float *w, const float *dy, float *dx, int dx_assign);

/* C <= 4, groups 1, no dilation (conv2d_narrow.c): dx (NCHW; dy in either layout) as one dot
 * product per input pixel. The oneDNN path's dx for such first layers, where oneDNN works on a
 * 16-channel padded copy. */
int lb_conv2d_is_narrow(const lb_conv2d_desc *d);
void lb_conv2d_narrow_dx(const lb_conv2d_desc *d, const float *w, const float *dy, float *dx, int dx_assign);

/* Portable path (im2col + BLAS). Same contracts as the public functions. */
size_t lb_conv2d_blas_scratch_floats(const lb_conv2d_desc *d);
void lb_conv2d_blas_forward(const lb_conv2d_desc *d, const float *x, const float *w, const float *b, float *y,
                            float *scratch);
void lb_conv2d_blas_backward(const lb_conv2d_desc *d, const float *x, const float *w, const float *dy, float *dx,
                             float *dw, float *db, float *scratch);

#ifdef LB_HAVE_ONEDNN
/* oneDNN path (conv2d_onednn.c) for the shapes where it beats our kernels. Each returns 0 and
 * does nothing when d stays on our kernels (shape, LOWBIT_CONV=own, or oneDNN refused it);
 * scratch 0 means the same. The backward leaves db to lb_conv2d_bias_grad. */
size_t lb_conv2d_onednn_scratch_floats(const lb_conv2d_desc *d);
int lb_conv2d_onednn_forward(const lb_conv2d_desc *d, const float *x, const float *w, const float *b, float *y,
                             float *scratch);
int lb_conv2d_onednn_backward(const lb_conv2d_desc *d, const float *x, const float *w, const float *dy, float *dx,
                              int dx_assign, float *dw, float *scratch);
#endif

#ifdef LB_CONV_SIMD
/* SIMD path for non-depthwise convs; its backward leaves db to lb_conv2d_bias_grad. */
size_t lb_conv2d_simd_scratch_floats(const lb_conv2d_desc *d);
void lb_conv2d_simd_forward(const lb_conv2d_desc *d, const float *x, const float *w, const float *b, float *y,
                            float *scratch);
/* dx_assign: overwrite dx (its old contents ignored) instead of accumulating */
void lb_conv2d_simd_backward(const lb_conv2d_desc *d, const float *x, const float *w, const float *dy, float *dx,
                             int dx_assign, float *dw, float *scratch);
#endif

#endif
