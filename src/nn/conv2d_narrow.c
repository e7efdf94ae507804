/* dx of a convolution with few input channels (a first layer: C <= 4) on the oneDNN path.
 *
 * oneDNN 2.6 computes it in a 16-channel padded blocked layout (16 times the work and memory of
 * the one real channel) and reorders it back: 1.5-1.7 ms a step for ResNet-8's stem at batch
 * 128, which fp32 training never asks for but QAT does (the input quantizer's scale learns from
 * it). Here each input pixel is one dot product: the K filter values of every tap it feeds,
 * against dy at the matching output pixel, where nChw16c keeps the 16 channels of a block side
 * by side. Sixteen lanes (k mod 16) accumulate over blocks and taps in a fixed order and are
 * then added as a fixed tree, in either dy layout, so NCHW and nChw16c give the same bits. */
#include "nn/conv2d_impl.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

/* Filter values rearranged as [c][r][s][K rounded up to 16], zero past K, on the stack. */
#define NARROW_MAX_W 16384
#define NARROW_MAX_R 64 /* kernel rows */

int lb_conv2d_is_narrow(const lb_conv2d_desc *d) {
  const int kpad = (d->k + 15) / 16 * 16;
  return d->c <= 4 && d->groups == 1 && d->dil_h == 1 && d->dil_w == 1 && d->r <= NARROW_MAX_R &&
         (int64_t)d->c * d->r * d->s * kpad <= NARROW_MAX_W;
}

/* ((v0+v8) + (v4+v12)) ... : halves added pairwise down to one lane, the same tree as the
 * AVX-512 path's extract-and-add steps. */
static float lanes_total(float v[16]) {
  for (int half = 8; half >= 1; half /= 2)
    for (int i = 0; i < half; i++) v[i] = v[i] + v[i + half];
  return v[0];
}

#ifdef __AVX512F__
/* lanes_total's tree on a vector */
static inline float vec_total(__m512 v) {
  __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  b = _mm_add_ps(b, _mm_movehl_ps(b, b));
  b = _mm_add_ss(b, _mm_shuffle_ps(b, b, 1));
  return _mm_cvtss_f32(b);
}

#endif

/* The output index a tap reads for input index i: (i + pad - tap) / stride when that divides and
 * lies in [0, out), else -1. Stride 1 (the usual first layer) needs no division. */
static inline int tap_out(int i, int pad, int tap, int stride, int out) {
  const int t = i + pad - tap;
  if (t < 0) return -1;
  if (stride == 1) return t < out ? t : -1;
  return t % stride == 0 && t / stride < out ? t / stride : -1;
}

/* One input pixel (n, c, h, w): the lanes' sums over blocks kb, then taps r, s in order. orow:
 * per r, the output row tap r reads for this h (-1: none). With AVX-512 and nChw16c dy the 16
 * lanes are one vector; otherwise one float each, with the same operations. */
static float pixel_dot(const lb_conv2d_desc *d, const float *wt, const float *dy, int n, int c, const int *orow,
                       int w) {
  const int kb_n = (d->k + 15) / 16, blocked = d->y_layout == LB_LAYOUT_NCHW16C;
  const int64_t ohw = (int64_t)d->oh * d->ow;
#ifdef __AVX512F__
  __m512 vv = _mm512_setzero_ps();
#endif
  float v[16] = {0};
  for (int kb = 0; kb < kb_n; kb++)
    for (int r = 0; r < d->r; r++) {
      if (orow[r] < 0) continue;
      for (int s = 0; s < d->s; s++) {
        const int oc = tap_out(w, d->pad_w, s, d->stride_w, d->ow);
        if (oc < 0) continue;
        const int64_t pix = (int64_t)orow[r] * d->ow + oc;
        const float *wp = wt + (((int64_t)c * d->r + r) * d->s + s) * kb_n * 16 + kb * 16;
        /* blocked dy's 16 lanes (offset 0 for NCHW dy, where that offset could point past dy) */
        const float *bp = dy + (blocked ? (((int64_t)n * kb_n + kb) * ohw + pix) * 16 : 0);
#ifdef __AVX512F__
        if (blocked) {
          vv = _mm512_fmadd_ps(_mm512_loadu_ps(wp), _mm512_loadu_ps(bp), vv);
          continue;
        }
#endif
        for (int l = 0; l < 16 && kb * 16 + l < d->k; l++)
          v[l] = LB_MADD(wp[l], blocked ? bp[l] : dy[((int64_t)n * d->k + kb * 16 + l) * ohw + pix], v[l]);
      }
    }
#ifdef __AVX512F__
  if (blocked) return vec_total(vv);
#endif
  return lanes_total(v);
}

#ifdef __AVX512F__
/* pixel_dot for the 8 pixels w0..w0+7 of a row at once, nChw16c dy, stride_w 1, every column tap
 * inside dy for all 8: the same operations per pixel, as 8 independent chains (one pixel's
 * chain alone waits on each multiply-add's latency). */
#define NARROW_RUN 8
static void pixels_run(const lb_conv2d_desc *d, const float *wt, const float *dy, int n, int c, const int *orow,
                       int w0, float *out) {
  const int kb_n = d->k / 16;
  const int64_t ohw = (int64_t)d->oh * d->ow;
  __m512 v[NARROW_RUN];
  for (int j = 0; j < NARROW_RUN; j++) v[j] = _mm512_setzero_ps();
  for (int kb = 0; kb < kb_n; kb++)
    for (int r = 0; r < d->r; r++) {
      if (orow[r] < 0) continue;
      for (int s = 0; s < d->s; s++) {
        const float *dp = dy + (((int64_t)n * kb_n + kb) * ohw + (int64_t)orow[r] * d->ow + w0 + d->pad_w - s) * 16;
        const __m512 wv = _mm512_loadu_ps(wt + (((int64_t)c * d->r + r) * d->s + s) * kb_n * 16 + kb * 16);
#pragma GCC unroll 8
        for (int j = 0; j < NARROW_RUN; j++) v[j] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(dp + j * 16), v[j]);
      }
    }
  for (int j = 0; j < NARROW_RUN; j++) out[j] = vec_total(v[j]);
}
#endif

void lb_conv2d_narrow_dx(const lb_conv2d_desc *d, const float *w, const float *dy, float *dx, int dx_assign) {
  float wt[NARROW_MAX_W];
  const int kb_n = (d->k + 15) / 16;
  const int64_t rs = (int64_t)d->r * d->s;
  for (int c = 0; c < d->c; c++)
    for (int64_t t = 0; t < rs; t++)
      for (int k = 0; k < kb_n * 16; k++)
        wt[((int64_t)c * rs + t) * kb_n * 16 + k] = k < d->k ? w[((int64_t)k * d->c + c) * rs + t] : 0.0f;
  const int64_t planes = (int64_t)d->n * d->c, hw = (int64_t)d->h * d->w;
#pragma omp parallel for schedule(static) if (planes * hw * d->k >= LB_CONV_PAR_MIN)
  for (int64_t p = 0; p < planes; p++) {
    const int n = (int)(p / d->c), c = (int)(p % d->c);
    float *dxp = dx + p * hw; /* x is NCHW: oneDNN's blocked layouts need C >= 16 here */
    int orow[NARROW_MAX_R];
    for (int h = 0; h < d->h; h++) {
      for (int r = 0; r < d->r; r++) orow[r] = tap_out(h, d->pad_h, r, d->stride_h, d->oh);
      float *row = dxp + (int64_t)h * d->w;
      int x = 0;
#ifdef __AVX512F__
      /* columns whose every tap lands inside dy: s - pad <= x <= ow - 1 + s - pad for all s */
      const int lo = d->s - 1 - d->pad_w, hi = d->ow - 1 - d->pad_w; /* x in [lo, hi] */
      if (d->y_layout == LB_LAYOUT_NCHW16C && d->stride_w == 1) {
        for (; x < d->w && x < lo; x++) row[x] = (dx_assign ? 0.0f : row[x]) + pixel_dot(d, wt, dy, n, c, orow, x);
        float v[NARROW_RUN];
        for (; x + NARROW_RUN - 1 <= hi && x + NARROW_RUN <= d->w; x += NARROW_RUN) {
          pixels_run(d, wt, dy, n, c, orow, x, v);
          for (int j = 0; j < NARROW_RUN; j++) row[x + j] = (dx_assign ? 0.0f : row[x + j]) + v[j];
        }
      }
#endif
      for (; x < d->w; x++) row[x] = (dx_assign ? 0.0f : row[x]) + pixel_dot(d, wt, dy, n, c, orow, x);
    }
  }
}
