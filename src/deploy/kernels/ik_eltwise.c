/* Reference epilogues and element-wise integer ops (requant, residual add, pools, global average
 * pool, quantize/dequantize) and their dispatch to the optimized variants. */
#include <math.h>

#include "deploy/kernels/ik_internal.h"
#include "deploy/kernels/ik_simd.h"

#define LB_GAP_NHWC_MAX_C 64

static inline int32_t ld8(const void *x, int64_t i, int sgn) {
  return sgn ? (int32_t)((const int8_t *)x)[i] : (int32_t)((const uint8_t *)x)[i];
}
static inline void st8(void *y, int64_t i, int sgn, int32_t v) {
  if (sgn) ((int8_t *)y)[i] = (int8_t)v;
  else ((uint8_t *)y)[i] = (uint8_t)v;
}

void ik_requant_ref(int n, int k, int64_t hw, const int32_t *acc, const int64_t *bias_p, const int32_t *M,
                    const int *s, int32_t zp, int32_t lo, int32_t hi, int y_signed, void *y) {
  const int64_t planes = (int64_t)n * k;
#pragma omp parallel for schedule(static) if (planes * hw >= 65536)
  for (int64_t pl = 0; pl < planes; pl++) {
    int ch = (int)(pl % k);
    int64_t b = bias_p ? bias_p[ch] : 0;
    for (int64_t i = 0; i < hw; i++) st8(y, pl * hw + i, y_signed, lb_requant_acc(acc[pl * hw + i], b, M[ch], s[ch], zp, lo, hi));
  }
}

void lb_ik_requant(lb_ik_isa isa, int n, int k, int64_t hw, const int32_t *acc, const int64_t *bias_p,
                   const int32_t *M, const int *s, int32_t zp, int32_t lo, int32_t hi, int y_signed, void *y) {
  if (ik_requant_opt(ik_isa_clamp(isa), n, k, hw, acc, bias_p, M, s, zp, lo, hi, y_signed, y)) return;
  ik_requant_ref(n, k, hw, acc, bias_p, M, s, zp, lo, hi, y_signed, y);
}

void lb_ik_add(lb_ik_isa isa, int64_t n, const void *x1, int x1_signed, int32_t z1, int32_t M1, const void *x2,
               int x2_signed, int32_t z2, int32_t M2, int s, int32_t zy, int32_t lo, int32_t hi, int y_signed, void *y) {
  if (ik_add_opt(ik_isa_clamp(isa), n, x1, x1_signed, z1, M1, x2, x2_signed, z2, M2, s, zy, lo, hi, y_signed, y)) return;
#pragma omp parallel for schedule(static) if (n >= 65536)
  for (int64_t i = 0; i < n; i++) {
    int64_t p = (int64_t)(ld8(x1, i, x1_signed) - z1) * M1 + (int64_t)(ld8(x2, i, x2_signed) - z2) * M2;
    int64_t v = (int64_t)zy + lb_rshift_rne(p, s);
    st8(y, i, y_signed, (int32_t)(v < lo ? lo : v > hi ? hi : v));
  }
}

/* A pooling window clipped to the input, and the count an average divides by. */
typedef struct ik_win {
  int h0, h1, w0, w1, cnt;
} ik_win;

static ik_win pool_window(const lb_pool_desc *d, int oh, int ow) {
  ik_win r;
  int hs = oh * d->stride_h - d->pad_h, ws = ow * d->stride_w - d->pad_w;
  /* the full window stops at the right/bottom padding (ceil mode can overhang it) */
  int he = hs + d->kh < d->h + d->pad_h ? hs + d->kh : d->h + d->pad_h;
  int we = ws + d->kw < d->w + d->pad_w ? ws + d->kw : d->w + d->pad_w;
  r.h0 = hs > 0 ? hs : 0;
  r.w0 = ws > 0 ? ws : 0;
  r.h1 = he < d->h ? he : d->h;
  r.w1 = we < d->w ? we : d->w;
  r.cnt = d->count_include_pad ? (he - hs) * (we - ws) : (r.h1 - r.h0) * (r.w1 - r.w0);
  return r;
}

/* Max pool (avg = 0: y = the window's max, input type) or average pool (avg = 1: y =
 * requant(sum of x - zx, M[count], s[count])), one definition for both walks. */
static void pool_ref(const lb_pool_desc *d, const void *x, int x_signed, int avg, int32_t zx, const int32_t *M,
                     const int *s, int32_t zy, int32_t lo, int32_t hi, int y_signed, void *y) {
  const int64_t planes = (int64_t)d->n * d->c, in = (int64_t)d->h * d->w, on = (int64_t)d->oh * d->ow;
#pragma omp parallel for schedule(static) if (planes * in >= 65536)
  for (int64_t pl = 0; pl < planes; pl++)
    for (int oh = 0; oh < d->oh; oh++)
      for (int ow = 0; ow < d->ow; ow++) {
        ik_win r = pool_window(d, oh, ow);
        int32_t m = INT32_MIN;
        int64_t a = 0;
        for (int h = r.h0; h < r.h1; h++)
          for (int w = r.w0; w < r.w1; w++) {
            int32_t v = ld8(x, pl * in + (int64_t)h * d->w + w, x_signed);
            if (v > m) m = v;
            a += v - zx;
          }
        int64_t o = pl * on + (int64_t)oh * d->ow + ow;
        if (avg) st8(y, o, y_signed, lb_requant(a, M[r.cnt], s[r.cnt], zy, lo, hi));
        else st8(y, o, x_signed, m);
      }
}

void lb_ik_maxpool(lb_ik_isa isa, const lb_pool_desc *d, const void *x, int x_signed, void *y) {
  if (ik_maxpool_opt(ik_isa_clamp(isa), d, x, x_signed, y)) return;
  pool_ref(d, x, x_signed, 0, 0, NULL, NULL, 0, 0, 0, x_signed, y);
}

/* one variant: the window sums are short and the requant per window dominates */
void lb_ik_avgpool(lb_ik_isa isa, const lb_pool_desc *d, const void *x, int x_signed, int32_t zx, const int32_t *M,
                   const int *s, int32_t zy, int32_t lo, int32_t hi, int y_signed, void *y) {
  (void)isa;
  pool_ref(d, x, x_signed, 1, zx, M, s, zy, lo, hi, y_signed, y);
}

void lb_ik_gap(lb_ik_isa isa, int n, int c, int64_t hw, const void *x, int x_signed, int32_t zx, int32_t M, int s,
               int32_t zy, int32_t lo, int32_t hi, int y_signed, void *y) {
  if (ik_gap_opt(ik_isa_clamp(isa), n, c, hw, x, x_signed, zx, M, s, zy, lo, hi, y_signed, y)) return;
  const int64_t planes = (int64_t)n * c;
#pragma omp parallel for schedule(static) if (planes * hw >= 65536)
  for (int64_t pl = 0; pl < planes; pl++) {
    int64_t a = 0;
    for (int64_t i = 0; i < hw; i++) a += ld8(x, pl * hw + i, x_signed);
    a -= (int64_t)zx * hw;
    st8(y, pl, y_signed, lb_requant(a, M, s, zy, lo, hi));
  }
}

void lb_ik_gap_nhwc(int n, int c, int64_t hw, const void *x, int x_signed, int32_t zx, int32_t M, int s, int32_t zy,
                    int32_t lo, int32_t hi, int y_signed, void *y) {
#pragma omp parallel for schedule(static) if ((int64_t)n * c * hw >= 65536)
  for (int b = 0; b < n; b++) {
    int64_t a[LB_GAP_NHWC_MAX_C];
    for (int ch0 = 0; ch0 < c; ch0 += LB_GAP_NHWC_MAX_C) { /* channel blocks: the sums stay in registers/L1 */
      int nc = c - ch0 < LB_GAP_NHWC_MAX_C ? c - ch0 : LB_GAP_NHWC_MAX_C;
      for (int k = 0; k < nc; k++) a[k] = 0;
      for (int64_t i = 0; i < hw; i++)
        for (int k = 0; k < nc; k++) a[k] += ld8(x, ((int64_t)b * hw + i) * c + ch0 + k, x_signed);
      for (int k = 0; k < nc; k++)
        st8(y, (int64_t)b * c + ch0 + k, y_signed, lb_requant(a[k] - (int64_t)zx * hw, M, s, zy, lo, hi));
    }
  }
}

/* NaN inputs quantize to the zero point (the real value 0): a clamp cannot order them. */
void lb_ik_quantize(int64_t n, const float *x, float inv, int32_t zp, int32_t lo, int32_t hi, int y_signed, void *y) {
  const float flo = (float)lo, fhi = (float)hi, fzp = (float)zp;
  /* no variant argument: the variant this process selects (LOWBIT_KERNELS=ref gives this loop) */
  for (int64_t i = ik_quantize_opt(lb_ik_select(), n, x, inv, zp, lo, hi, y); i < n; i++) {
    float r = rintf(x[i] * inv) + fzp;
    int32_t q = r != r ? zp : r < flo ? lo : r > fhi ? hi : (int32_t)r;
    st8(y, i, y_signed, q);
  }
}

void lb_ik_dequantize(int64_t n, const void *x, int x_signed, int32_t zp, float scale, float *y) {
  for (int64_t i = 0; i < n; i++) y[i] = (float)(ld8(x, i, x_signed) - zp) * scale;
}

void lb_ik_dequantize_acc(int n, int k, int64_t hw, const int32_t *acc, const float *fbias, const float *scale,
                          float *y) {
  for (int64_t pl = 0; pl < (int64_t)n * k; pl++) {
    int ch = (int)(pl % k);
    float b = fbias ? fbias[ch] : 0.0f;
    for (int64_t i = 0; i < hw; i++) y[pl * hw + i] = fmaf((float)acc[pl * hw + i], scale[ch], b);
  }
}
