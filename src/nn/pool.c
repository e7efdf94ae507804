/* Max, average and global average pooling on (N,C,H,W), forward and backward.
 * Output size and window clipping follow PyTorch (ceil_mode included). Every kernel is
 * parallel over the N*C planes; each plane is handled by one thread in a fixed order, so the
 * results do not depend on the thread count. */
#include <math.h>

#include "lowbit/nn.h"

#define POOL_PAR_MIN 16384 /* elements; below this threads cost more than they save */

/* PyTorch's pooling_output_shape (dilation 1): floor or ceil of (in + 2p - k)/s, plus one; in
 * ceil mode the last window must start inside the input or the left padding, else it is
 * dropped. Returns <= 0 when no window fits. */
static int64_t pool_out_size(int64_t in, int k, int pad, int stride, int ceil_mode) {
  int64_t num = in + 2 * (int64_t)pad - k + (ceil_mode ? stride - 1 : 0);
  if (num < 0) return 0; /* floor division of a negative count: no window */
  int64_t out = num / stride + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) out--;
  return out;
}

lb_status lb_pool_init(lb_pool_desc *d) {
  if (!d) return lb_fail(LB_ERR_ARG, "pool: NULL descriptor");
  if (d->n <= 0 || d->c <= 0 || d->h <= 0 || d->w <= 0)
    return lb_fail(LB_ERR_ARG, "pool: input dims must be positive (%d,%d,%d,%d)", d->n, d->c, d->h, d->w);
  if (d->kh <= 0 || d->kw <= 0) return lb_fail(LB_ERR_ARG, "pool: kernel must be positive (%dx%d)", d->kh, d->kw);
  if (d->stride_h <= 0 || d->stride_w <= 0)
    return lb_fail(LB_ERR_ARG, "pool: stride must be positive (%d,%d)", d->stride_h, d->stride_w);
  if (d->pad_h < 0 || d->pad_w < 0 || d->pad_h > d->kh / 2 || d->pad_w > d->kw / 2)
    return lb_fail(LB_ERR_ARG, "pool: pad (%d,%d) must be in [0, kernel/2] for kernel %dx%d", d->pad_h, d->pad_w,
                   d->kh, d->kw);
  if ((d->count_include_pad != 0 && d->count_include_pad != 1) || (d->ceil_mode != 0 && d->ceil_mode != 1))
    return lb_fail(LB_ERR_ARG, "pool: count_include_pad and ceil_mode must be 0 or 1");
  if ((double)d->n * d->c * d->h * d->w > 9.0e18) return lb_fail(LB_ERR_SHAPE, "pool: tensor too large");
  int64_t oh = pool_out_size(d->h, d->kh, d->pad_h, d->stride_h, d->ceil_mode);
  int64_t ow = pool_out_size(d->w, d->kw, d->pad_w, d->stride_w, d->ceil_mode);
  if (oh <= 0 || ow <= 0)
    return lb_fail(LB_ERR_SHAPE, "pool: window %dx%d (pad %d,%d) larger than input %dx%d", d->kh, d->kw, d->pad_h,
                   d->pad_w, d->h, d->w);
  /* an int32 argmax indexes the input plane */
  if ((int64_t)d->h * d->w > INT32_MAX || oh > INT32_MAX || ow > INT32_MAX)
    return lb_fail(LB_ERR_SHAPE, "pool: plane %dx%d too large", d->h, d->w);
  d->oh = (int)oh;
  d->ow = (int)ow;
  return LB_OK;
}

/* y: (N,C,OH,OW); argmax: (N,C,OH,OW) as h*W+w inside the input plane. Windows are clipped to
 * the input (padding is -inf and never wins); strict '>' keeps the first maximum in scan
 * order, and a NaN wins as in PyTorch. An all -inf window reports its first valid cell. */
void lb_maxpool_forward(const lb_pool_desc *d, const float *x, float *y, int32_t *argmax) {
  const int H = d->h, W = d->w, OH = d->oh, OW = d->ow;
  const int64_t planes = (int64_t)d->n * d->c;
#pragma omp parallel for schedule(static) if (planes * H * W >= POOL_PAR_MIN)
  for (int64_t pl = 0; pl < planes; pl++) {
    const float *xp = x + pl * H * W;
    float *yp = y + pl * OH * OW;
    int32_t *ap = argmax ? argmax + pl * OH * OW : NULL;
    for (int oh = 0; oh < OH; oh++) {
      int h0 = oh * d->stride_h - d->pad_h, h1 = h0 + d->kh;
      if (h0 < 0) h0 = 0;
      if (h1 > H) h1 = H;
      for (int ow = 0; ow < OW; ow++) {
        int w0 = ow * d->stride_w - d->pad_w, w1 = w0 + d->kw;
        if (w0 < 0) w0 = 0;
        if (w1 > W) w1 = W;
        float best = -INFINITY;
        int32_t bi = h0 * W + w0;
        for (int h = h0; h < h1; h++) {
          for (int w = w0; w < w1; w++) {
            float v = xp[h * W + w];
            if (v > best || isnan(v)) {
              best = v;
              bi = h * W + w;
            }
          }
        }
        yp[oh * OW + ow] = best;
        if (ap) ap[oh * OW + ow] = bi;
      }
    }
  }
}

/* dx[argmax] += dy. Overlapping windows may share a cell; one thread owns a plane, so the
 * additions happen in output order. */
void lb_maxpool_backward(const lb_pool_desc *d, const float *dy, const int32_t *argmax, float *dx) {
  if (!dx) return;
  const int64_t hw = (int64_t)d->h * d->w, ohw = (int64_t)d->oh * d->ow;
  const int64_t planes = (int64_t)d->n * d->c;
#pragma omp parallel for schedule(static) if (planes * hw >= POOL_PAR_MIN)
  for (int64_t pl = 0; pl < planes; pl++) {
    float *dp = dx + pl * hw;
    const float *gp = dy + pl * ohw;
    const int32_t *ap = argmax + pl * ohw;
    for (int64_t o = 0; o < ohw; o++) dp[ap[o]] += gp[o];
  }
}

/* One average-pool window, clipped as PyTorch: first to the padded border (in + pad), which
 * is what count_include_pad divides by, then to the input, which is what is summed. */
typedef struct pool_win {
  int h0, h1, w0, w1;
  int div; /* divisor; 0 for an empty window (cannot happen once initialised) */
} pool_win;

static pool_win avg_window(const lb_pool_desc *d, int oh, int ow) {
  pool_win r;
  int h0 = oh * d->stride_h - d->pad_h, w0 = ow * d->stride_w - d->pad_w;
  int h1 = h0 + d->kh, w1 = w0 + d->kw;
  if (h1 > d->h + d->pad_h) h1 = d->h + d->pad_h;
  if (w1 > d->w + d->pad_w) w1 = d->w + d->pad_w;
  int full = (h1 - h0) * (w1 - w0);
  r.h0 = h0 < 0 ? 0 : h0;
  r.w0 = w0 < 0 ? 0 : w0;
  r.h1 = h1 > d->h ? d->h : h1;
  r.w1 = w1 > d->w ? d->w : w1;
  int valid = (r.h1 - r.h0) * (r.w1 - r.w0);
  int div = d->count_include_pad ? full : valid;
  /* an initialised descriptor always has a valid cell per window; guard anyway */
  if (valid <= 0) {
    r.h1 = r.h0;
    div = 0;
  }
  r.div = div;
  return r;
}

void lb_avgpool_forward(const lb_pool_desc *d, const float *x, float *y) {
  const int H = d->h, W = d->w, OH = d->oh, OW = d->ow;
  const int64_t planes = (int64_t)d->n * d->c;
#pragma omp parallel for schedule(static) if (planes * H * W >= POOL_PAR_MIN)
  for (int64_t pl = 0; pl < planes; pl++) {
    const float *xp = x + pl * H * W;
    float *yp = y + pl * OH * OW;
    for (int oh = 0; oh < OH; oh++) {
      for (int ow = 0; ow < OW; ow++) {
        pool_win r = avg_window(d, oh, ow);
        float s = 0.0f;
        for (int h = r.h0; h < r.h1; h++)
          for (int w = r.w0; w < r.w1; w++) s += xp[h * W + w];
        yp[oh * OW + ow] = r.div ? s / (float)r.div : 0.0f;
      }
    }
  }
}

void lb_avgpool_backward(const lb_pool_desc *d, const float *dy, float *dx) {
  if (!dx) return;
  const int H = d->h, W = d->w, OH = d->oh, OW = d->ow;
  const int64_t planes = (int64_t)d->n * d->c;
#pragma omp parallel for schedule(static) if (planes * H * W >= POOL_PAR_MIN)
  for (int64_t pl = 0; pl < planes; pl++) {
    float *dp = dx + pl * H * W;
    const float *gp = dy + pl * OH * OW;
    for (int oh = 0; oh < OH; oh++) {
      for (int ow = 0; ow < OW; ow++) {
        pool_win r = avg_window(d, oh, ow);
        if (!r.div) continue;
        float g = gp[oh * OW + ow] / (float)r.div;
        for (int h = r.h0; h < r.h1; h++)
          for (int w = r.w0; w < r.w1; w++) dp[h * W + w] += g;
      }
    }
  }
}

/* x: (N,C,HW) -> y: (N,C), mean accumulated in double. */
void lb_gap_forward(int n, int c, int hw, const float *x, float *y) {
  const int64_t planes = (int64_t)n * c;
#pragma omp parallel for schedule(static) if (planes * hw >= POOL_PAR_MIN)
  for (int64_t pl = 0; pl < planes; pl++) {
    const float *xp = x + pl * hw;
    double s = 0.0;
    for (int i = 0; i < hw; i++) s += (double)xp[i];
    y[pl] = (float)(s / (double)hw);
  }
}

/* nChw16c: one block of 16 channels at a time, each channel summed over p in the same order as
 * lb_gap_forward, so the same bits. */
void lb_gap_forward_nchw16c(int n, int c, int hw, const float *x, float *y) {
  const int64_t blocks = (int64_t)n * (c / 16);
#pragma omp parallel for schedule(static) if (blocks * 16 * hw >= POOL_PAR_MIN)
  for (int64_t b = 0; b < blocks; b++) {
    const float *xb = x + b * 16 * hw;
    double s[16] = {0};
    for (int i = 0; i < hw; i++)
      for (int j = 0; j < 16; j++) s[j] += (double)xb[i * 16 + j];
    for (int j = 0; j < 16; j++) y[b * 16 + j] = (float)(s[j] / (double)hw);
  }
}

void lb_gap_backward_nchw16c(int n, int c, int hw, const float *dy, float *dx) {
  if (!dx) return;
  const int64_t blocks = (int64_t)n * (c / 16);
#pragma omp parallel for schedule(static) if (blocks * 16 * hw >= POOL_PAR_MIN)
  for (int64_t b = 0; b < blocks; b++) {
    float g[16];
    for (int j = 0; j < 16; j++) g[j] = (float)((double)dy[b * 16 + j] / (double)hw);
    float *db = dx + b * 16 * hw;
    for (int i = 0; i < hw; i++)
      for (int j = 0; j < 16; j++) db[i * 16 + j] += g[j];
  }
}

void lb_gap_backward(int n, int c, int hw, const float *dy, float *dx) {
  if (!dx) return;
  const int64_t planes = (int64_t)n * c;
#pragma omp parallel for schedule(static) if (planes * hw >= POOL_PAR_MIN)
  for (int64_t pl = 0; pl < planes; pl++) {
    const float g = (float)((double)dy[pl] / (double)hw);
    float *dp = dx + pl * hw;
    for (int i = 0; i < hw; i++) dp[i] += g;
  }
}
