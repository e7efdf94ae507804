/* Depthwise 2-D convolution (groups == C == K): one R x S filter per channel. im2col would copy
 * R*S times the input for a GEMM with one output row, so direct loops are used instead: for each
 * kernel tap, a whole output row is updated at once (contiguous and vectorizable at stride 1). */
#include "nn/conv2d_impl.h"

/* x: (N,C,H,W), w: (C,1,R,S), b: (C) or NULL, y: (N,C,OH,OW). */
void lb_conv2d_dw_forward(const lb_conv2d_desc *d, const float *x, const float *w, const float *b, float *y) {
  const size_t plane_in = (size_t)d->h * d->w, plane_out = (size_t)d->oh * d->ow;
  const int planes = d->n * d->c, sw = d->stride_w;
#pragma omp parallel for schedule(static) if ((size_t)planes * plane_out * d->r * d->s >= LB_CONV_PAR_MIN)
  for (int pl = 0; pl < planes; pl++) {
    const int c = pl % d->c;
    const float *xp = x + (size_t)pl * plane_in, *wc = w + (size_t)c * d->r * d->s;
    float *yp = y + (size_t)pl * plane_out;
    const float bv = b ? b[c] : 0.0f;
    for (size_t i = 0; i < plane_out; i++) yp[i] = bv;
    /* taps in a fixed (r, s) order for every output element */
    for (int r = 0; r < d->r; r++) {
      int oh_lo, oh_hi;
      lb_conv_valid_range(d->oh, d->h, d->stride_h, d->pad_h, r * d->dil_h, &oh_lo, &oh_hi);
      for (int s = 0; s < d->s; s++) {
        int ow_lo, ow_hi;
        lb_conv_valid_range(d->ow, d->w, sw, d->pad_w, s * d->dil_w, &ow_lo, &ow_hi);
        const float wv = wc[r * d->s + s];
        const int col0 = s * d->dil_w - d->pad_w;
        for (int oh = oh_lo; oh < oh_hi; oh++) {
          const float *xr = xp + (size_t)(oh * d->stride_h - d->pad_h + r * d->dil_h) * d->w;
          float *yr = yp + (size_t)oh * d->ow;
          if (sw == 1) {
#pragma omp simd
            for (int ow = ow_lo; ow < ow_hi; ow++) yr[ow] = LB_MADD(wv, xr[ow + col0], yr[ow]);
          } else {
            for (int ow = ow_lo; ow < ow_hi; ow++) yr[ow] = LB_MADD(wv, xr[ow * sw + col0], yr[ow]);
          }
        }
      }
    }
  }
}

/* Largest number of taps whose partial sums are kept at once in dw_backward (more taps: passes). */
#define DW_TAP_BLOCK 64

/* dy: (N,C,OH,OW); accumulates dx: (N,C,H,W) and dw: (C,1,R,S) (either may be NULL). */
void lb_conv2d_dw_backward(const lb_conv2d_desc *d, const float *x, const float *w, const float *dy, float *dx,
                           float *dw) {
  const size_t plane_in = (size_t)d->h * d->w, plane_out = (size_t)d->oh * d->ow;
  const int planes = d->n * d->c, sw = d->stride_w, taps = d->r * d->s;
  const int par = (size_t)planes * plane_out * taps >= LB_CONV_PAR_MIN;
  if (dx) {
    /* each thread owns whole dx planes: no races, fixed summation order */
#pragma omp parallel for schedule(static) if (par)
    for (int pl = 0; pl < planes; pl++) {
      const int c = pl % d->c;
      const float *dyp = dy + (size_t)pl * plane_out, *wc = w + (size_t)c * taps;
      float *dxp = dx + (size_t)pl * plane_in;
      for (int r = 0; r < d->r; r++) {
        int oh_lo, oh_hi;
        lb_conv_valid_range(d->oh, d->h, d->stride_h, d->pad_h, r * d->dil_h, &oh_lo, &oh_hi);
        for (int s = 0; s < d->s; s++) {
          int ow_lo, ow_hi;
          lb_conv_valid_range(d->ow, d->w, sw, d->pad_w, s * d->dil_w, &ow_lo, &ow_hi);
          const float wv = wc[r * d->s + s];
          const int col0 = s * d->dil_w - d->pad_w;
          for (int oh = oh_lo; oh < oh_hi; oh++) {
            float *xr = dxp + (size_t)(oh * d->stride_h - d->pad_h + r * d->dil_h) * d->w;
            const float *gr = dyp + (size_t)oh * d->ow;
            if (sw == 1) {
#pragma omp simd
              for (int ow = ow_lo; ow < ow_hi; ow++) xr[ow + col0] = LB_MADD(wv, gr[ow], xr[ow + col0]);
            } else {
              for (int ow = ow_lo; ow < ow_hi; ow++) xr[ow * sw + col0] = LB_MADD(wv, gr[ow], xr[ow * sw + col0]);
            }
          }
        }
      }
    }
  }
  if (dw) {
    /* one thread per channel, images in order: the reduction over the batch never depends on
     * the thread count. Row dot products in float, running sums in double. */
#pragma omp parallel for schedule(static) if (par)
    for (int c = 0; c < d->c; c++) {
      for (int t0 = 0; t0 < taps; t0 += DW_TAP_BLOCK) {
        const int t1 = taps - t0 < DW_TAP_BLOCK ? taps : t0 + DW_TAP_BLOCK;
        double acc[DW_TAP_BLOCK] = {0};
        for (int n = 0; n < d->n; n++) {
          const float *xp = x + ((size_t)n * d->c + c) * plane_in;
          const float *dyp = dy + ((size_t)n * d->c + c) * plane_out;
          for (int t = t0; t < t1; t++) {
            const int r = t / d->s, s = t % d->s;
            int oh_lo, oh_hi, ow_lo, ow_hi;
            lb_conv_valid_range(d->oh, d->h, d->stride_h, d->pad_h, r * d->dil_h, &oh_lo, &oh_hi);
            lb_conv_valid_range(d->ow, d->w, sw, d->pad_w, s * d->dil_w, &ow_lo, &ow_hi);
            const int col0 = s * d->dil_w - d->pad_w;
            float sum = 0.0f;
            for (int oh = oh_lo; oh < oh_hi; oh++) {
              const float *xr = xp + (size_t)(oh * d->stride_h - d->pad_h + r * d->dil_h) * d->w;
              const float *gr = dyp + (size_t)oh * d->ow;
              if (sw == 1) {
#pragma omp simd reduction(+ : sum)
                for (int ow = ow_lo; ow < ow_hi; ow++) sum += gr[ow] * xr[ow + col0];
              } else {
                for (int ow = ow_lo; ow < ow_hi; ow++) sum += gr[ow] * xr[ow * sw + col0];
              }
            }
            acc[t - t0] += sum;
          }
        }
        for (int t = t0; t < t1; t++) dw[(size_t)c * taps + t] += (float)acc[t - t0];
      }
    }
  }
}
