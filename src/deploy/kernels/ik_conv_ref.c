/* Reference integer convolutions: the definitions every optimized variant must match bit for
 * bit. Direct loops over the valid taps, one output element at a time. */
#include <string.h>

#include "deploy/kernels/ik_internal.h"

size_t ik_conv_ref_scratch(const lb_iconv *c, int n) {
  (void)n;
  return ik_round((size_t)c->d.k * (size_t)c->taps * sizeof(int16_t)) + IK_ALIGN;
}

static inline int xget(const void *x, int64_t i, int sgn) {
  return sgn ? (int)((const int8_t *)x)[i] : (int)((const uint8_t *)x)[i];
}

/* x: (n,C,H,W) codes, acc: (n,K,OH,OW). Weights are unpacked (minus their zero point) into
 * scratch once, then every output sums (x - zx) * (w - zw) over its valid taps. */
void ik_conv_ref(const lb_iconv *c, int n, const void *x, int32_t zx, int32_t *acc, void *scratch) {
  const lb_conv2d_desc *d = &c->d;
  int16_t *wu = ik_align_ptr(scratch);
  for (int k = 0; k < d->k; k++) ik_wmat_unpack_row16(&c->w, k, wu + (int64_t)k * c->taps);
  const int C = d->c, H = d->h, W = d->w, K = d->k, R = d->r, S = d->s, OH = d->oh, OW = d->ow;
  const int cg = c->cg, kg = c->kg, sgn = c->x_signed;
  const int64_t planes = (int64_t)n * K;
#pragma omp parallel for schedule(static)
  for (int64_t pl = 0; pl < planes; pl++) {
    int b = (int)(pl / K), k = (int)(pl % K), g = k / kg;
    const int16_t *wk = wu + (int64_t)k * c->taps;
    int32_t *out = acc + pl * OH * OW;
    for (int oh = 0; oh < OH; oh++)
      for (int ow = 0; ow < OW; ow++) {
        int64_t a = 0;
        for (int ci = 0; ci < cg; ci++) {
          int64_t xplane = ((int64_t)b * C + (int64_t)g * cg + ci) * H * W;
          for (int r = 0; r < R; r++) {
            int ih = oh * d->stride_h - d->pad_h + r * d->dil_h;
            if (ih < 0 || ih >= H) continue;
            for (int s = 0; s < S; s++) {
              int iw = ow * d->stride_w - d->pad_w + s * d->dil_w;
              if (iw < 0 || iw >= W) continue;
              a += (int64_t)(xget(x, xplane + (int64_t)ih * W + iw, sgn) - zx) * wk[((int64_t)ci * R + r) * S + s];
            }
          }
        }
        out[oh * OW + ow] = (int32_t)(uint32_t)(uint64_t)a; /* int32 accumulator (wraps like the SIMD ones) */
      }
  }
}

/* xbits: (n,H,W,ceil(C/8)) bytes, bit c%8 of byte c/8 is channel c (1 = +1). acc sums x*w over
 * the valid taps only. */
void ik_conv_binary_ref(const lb_iconv *c, int n, const uint8_t *xbits, int32_t *acc) {
  const lb_conv2d_desc *d = &c->d;
  const int H = d->h, W = d->w, K = d->k, R = d->r, S = d->s, OH = d->oh, OW = d->ow;
  const int cg = c->cg, kg = c->kg, cb = (d->c + 7) / 8;
  const int64_t planes = (int64_t)n * K;
#pragma omp parallel for schedule(static)
  for (int64_t pl = 0; pl < planes; pl++) {
    int b = (int)(pl / K), k = (int)(pl % K), g = k / kg;
    const uint8_t *wk = c->w.data + (int64_t)k * c->w.row_bytes;
    int32_t *out = acc + pl * OH * OW;
    for (int oh = 0; oh < OH; oh++)
      for (int ow = 0; ow < OW; ow++) {
        int64_t a = 0;
        for (int r = 0; r < R; r++) {
          int ih = oh * d->stride_h - d->pad_h + r * d->dil_h;
          if (ih < 0 || ih >= H) continue;
          for (int s = 0; s < S; s++) {
            int iw = ow * d->stride_w - d->pad_w + s * d->dil_w;
            if (iw < 0 || iw >= W) continue;
            const uint8_t *px = xbits + (((int64_t)b * H + ih) * W + iw) * cb;
            for (int ci = 0; ci < cg; ci++) {
              int ch = g * cg + ci;
              int xv = (px[ch >> 3] >> (ch & 7)) & 1 ? 1 : -1;
              a += xv * ik_wget(wk, ((int64_t)ci * R + r) * S + s, 1, 1);
            }
          }
        }
        out[oh * OW + ow] = (int32_t)a;
      }
  }
}
