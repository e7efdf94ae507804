/* The direct NHWC convolution driver (see ik_nhwc.h): geometry, weight layouts, the padded
 * channels-last copy of each image, zero-point correction terms, per-channel requant terms and
 * the parallel loop over images (or over output rows when the batch is smaller than the thread
 * count). Every output element is computed by one tile in a fixed order, so results do not
 * depend on the thread count. */
#include <emmintrin.h>
#include <xmmintrin.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "deploy/kernels/ik_nhwc.h"

#define IK_FOLD_ROW 4096 /* widest padded row a folded copy takes (a stack buffer) */

void ik_plan_init(ik_plan *pl, const lb_iconv *c, int lanes, int cstep, int esize) {
  const lb_conv2d_desc *d = &c->d;
  memset(pl, 0, sizeof *pl);
  pl->C = d->c, pl->H = d->h, pl->W = d->w, pl->K = d->k, pl->R = d->r, pl->S = d->s;
  pl->sh = d->stride_h, pl->sw = d->stride_w, pl->dh = d->dil_h, pl->dw = d->dil_w;
  pl->ph = d->pad_h, pl->pw = d->pad_w, pl->OH = d->oh, pl->OW = d->ow;
  pl->P = (int64_t)d->oh * d->ow;
  pl->cstep = cstep;
  pl->Cp = (d->c + cstep - 1) / cstep * cstep;
  pl->Hp = d->h + 2 * d->pad_h;
  pl->Wp = d->w + 2 * d->pad_w;
  pl->lanes = lanes;
  pl->Kv = (d->k + lanes - 1) / lanes;
  pl->esize = esize;
  pl->taps = (int64_t)d->c * d->r * d->s;
  pl->csh = d->stride_h, pl->csw = d->stride_w;
  if (esize == 1 && d->r == 1 && d->s == 1 && d->pad_h == 0 && d->pad_w == 0 && (d->stride_h > 1 || d->stride_w > 1)) {
    pl->sub = 1; /* copying the unsampled pixels was most of a 1x1 stride-2 layer's time */
    pl->Hp = d->oh, pl->Wp = d->ow, pl->sh = pl->sw = 1;
  }
  if (esize == 1 && d->c == 1 && d->s >= 2 && d->s <= 4 && d->dil_w == 1 && d->w + 2 * d->pad_w <= IK_FOLD_ROW) {
    pl->fold = 1, pl->fW = d->w, pl->fpw = d->pad_w, pl->fsw = d->stride_w, pl->fS = d->s;
    pl->C = d->s, pl->Cp = 4, pl->S = 1, pl->sw = 1, pl->dw = 1, pl->pw = 0, pl->W = d->ow, pl->Wp = d->ow;
  }
  pl->img_bytes = (size_t)pl->Hp * (size_t)pl->Wp * (size_t)pl->Cp * (size_t)esize;
}

size_t ik_wlayout_bytes(const ik_plan *pl) {
  if (pl->amx) return ik_amx_wlayout_bytes(pl);
  return (size_t)pl->Kv * (size_t)pl->lanes * (size_t)pl->R * (size_t)pl->S * (size_t)pl->Cp * (size_t)pl->esize;
}

/* Builds the layout row by row, reading each packed row in order (the narrow-weight layouts
 * are rebuilt at every run, so this is kept cheap: no division in the inner loop): value
 * t = (ch * R + r) * S + s of row k goes to its place in the group of k vectors holding k.
 * Stored values: see ik_nhwc.h. */
void ik_wlayout_build(const ik_plan *pl, const lb_iconv *c, int G, void *dst) {
  if (pl->amx) {
    ik_amx_wlayout_build(pl, c, dst);
    return;
  }
  memset(dst, 0, ik_wlayout_bytes(pl));
  const int L = pl->lanes, cs = pl->cstep, cgs = pl->Cp / cs, bits = c->w.bits, sgn = c->w.sgn;
  const int C0 = pl->fold ? 1 : pl->C, S0 = pl->fold ? pl->fS : pl->S; /* the packed rows' geometry */
  const int off8 = (c->wbits == 8 && !c->w_signed) ? 128 : 0;
  for (int k = 0; k < pl->K; k++) {
    const uint8_t *row = c->w.data + (int64_t)k * c->w.row_bytes;
    const int kv0 = k / L / G * G, nkv = pl->Kv - kv0 < G ? pl->Kv - kv0 : G, kk = k - kv0 * L;
    const int64_t base = (int64_t)kv0 * L * pl->R * pl->S * pl->Cp; /* earlier groups are full */
    const int zk = pl->esize == 2 ? c->w.zp[k] : off8;
    const int64_t group = (int64_t)nkv * L * cs; /* one channel group of one tap */
    int64_t t = 0;
    for (int ch0 = 0; ch0 < C0; ch0++)
      for (int r = 0; r < pl->R; r++) {
        /* folded: tap q0 of the row is channel q0 of tap (r, 0); else channel ch0 of tap (r, q0) */
        int64_t at = base + (int64_t)r * pl->S * cgs * group + kk * cs;
        int64_t step = pl->fold ? 0 : (int64_t)cgs * group;
        if (!pl->fold) at += (int64_t)(ch0 / cs) * group + ch0 % cs;
        for (int q0 = 0; q0 < S0; q0++, t++, at += step) {
          int64_t to = pl->fold ? at + (int64_t)(q0 / cs) * group + q0 % cs : at;
          int v = ik_wget(row, t, bits, sgn) - zk;
          if (pl->esize == 1) ((int8_t *)dst)[to] = (int8_t)v;
          else ((int16_t *)dst)[to] = (int16_t)v;
        }
      }
  }
}

void ik_wsum_build(const lb_iconv *c, int32_t *wsum) {
  const int woff = (c->wbits == 8 && !c->w_signed) ? 128 : 0;
  for (int k = 0; k < c->d.k; k++) {
    const uint8_t *row = c->w.data + (int64_t)k * c->w.row_bytes;
    uint32_t sum = 0;
    for (int64_t t = 0; t < c->taps; t++) sum += (uint32_t)(ik_wget(row, t, c->w.bits, c->w.sgn) - woff);
    wsum[k] = (int32_t)sum;
  }
}

/* ---- scratch layout ---- */
typedef struct ik_scr {
  void *wl;                 /* weight layout (NULL when prepacked) */
  int32_t *c0, *c1;         /* zero-point terms (VNNI) */
  int64_t *rq;              /* 8 arrays of Kv*lanes: (unused), biasm, mul, shift, mask, half, md, bd */
  unsigned char *slot0;     /* first per-thread slot */
  size_t slot_bytes;
} ik_scr;

static size_t slot_bytes(const ik_plan *pl) {
  return ik_round(pl->img_bytes) + ik_round((size_t)pl->Hp * pl->Wp * 4) + ik_round((size_t)pl->P * 4);
}

static ik_scr scr_map(const lb_iconv *c, const ik_plan *pl, void *scratch) {
  ik_scr m;
  unsigned char *p = ik_align_ptr(scratch);
  size_t kl = (size_t)pl->Kv * pl->lanes;
  m.wl = NULL;
  if (!c->opt.layout) {
    m.wl = p;
    p += ik_round(ik_wlayout_bytes(pl));
  }
  m.c0 = (int32_t *)p;
  p += ik_round(kl * 4);
  m.c1 = (int32_t *)p;
  p += ik_round(kl * 4);
  m.rq = (int64_t *)p;
  p += ik_round(8 * kl * 8);
  m.slot0 = p;
  m.slot_bytes = slot_bytes(pl);
  return m;
}

size_t ik_nhwc_scratch(const lb_iconv *c, const ik_plan *pl, int n) {
  (void)n;
  size_t kl = (size_t)pl->Kv * pl->lanes;
  size_t b = IK_ALIGN + (c->opt.layout ? 0 : ik_round(ik_wlayout_bytes(pl))) + 2 * ik_round(kl * 4) + ik_round(8 * kl * 8);
  return b + (size_t)(c->opt.slots > 0 ? c->opt.slots : 1) * slot_bytes(pl);
}

/* 16 channels x 16 pixels of bytes (rows r[c] = channel c's pixels) into 16 pixels x 16
 * channels, 4 stages of unpacks; each output is one pixel's 16 channels. */
static inline __attribute__((always_inline)) void transpose16(const __m128i r[16], __m128i out[16]) {
  __m128i s1[8][2], s2[4][4], s3[2][8];
  for (int c = 0; c < 8; c++) {
    s1[c][0] = _mm_unpacklo_epi8(r[2 * c], r[2 * c + 1]); /* pixels 0..7, 2 channels each */
    s1[c][1] = _mm_unpackhi_epi8(r[2 * c], r[2 * c + 1]);
  }
  for (int c = 0; c < 4; c++)
    for (int h = 0; h < 2; h++) {
      s2[c][2 * h] = _mm_unpacklo_epi16(s1[2 * c][h], s1[2 * c + 1][h]); /* 4 pixels, 4 channels */
      s2[c][2 * h + 1] = _mm_unpackhi_epi16(s1[2 * c][h], s1[2 * c + 1][h]);
    }
  for (int c = 0; c < 2; c++)
    for (int q = 0; q < 4; q++) {
      s3[c][2 * q] = _mm_unpacklo_epi32(s2[2 * c][q], s2[2 * c + 1][q]); /* 2 pixels, 8 channels */
      s3[c][2 * q + 1] = _mm_unpackhi_epi32(s2[2 * c][q], s2[2 * c + 1][q]);
    }
  for (int o = 0; o < 8; o++) {
    out[2 * o] = _mm_unpacklo_epi64(s3[0][o], s3[1][o]);
    out[2 * o + 1] = _mm_unpackhi_epi64(s3[0][o], s3[1][o]);
  }
}

/* The sampled pixels (oh * csh, ow * csw) of one image as an OH x OW channels-last buffer (no
 * padding: plan sub). Stride 2 along rows packs the even bytes of 32 with SSE2, then transposes
 * 16 channels x 16 pixels; other strides and the tails copy bytes. */
static void sub_copy(const ik_plan *pl, const unsigned char *xb, const unsigned char *xend, int x_signed, uint8_t *o) {
  const int64_t plane = (int64_t)pl->H * pl->W;
  const int Cp = pl->Cp;
  const uint8_t fx = x_signed ? 0x80 : 0;
  const __m128i flip = _mm_set1_epi8((char)fx), even = _mm_set1_epi16(0xff);
  for (int oh = 0; oh < pl->OH; oh++) {
    const unsigned char *src = xb + (int64_t)oh * pl->csh * pl->W;
    uint8_t *orow = o + (int64_t)oh * pl->OW * Cp;
    int cb = 0;
    for (; cb + 16 <= pl->C && pl->csw == 2; cb += 16) {
      int w = 0;
      if (oh + 2 < pl->OH) /* the 16 planes are 16 short streams: fetch the rows two samples ahead */
        for (int c = 0; c < 16; c++)
          _mm_prefetch((const char *)(src + (cb + c) * plane + (int64_t)2 * pl->csh * pl->W), _MM_HINT_T0);
      /* 16 pixels at a time, the row's tail too when the 32-byte reads stay inside x */
      for (; w < pl->OW && src + (cb + 15) * plane + 2 * w + 32 <= xend; w += 16) {
        __m128i r[16], t[16];
        for (int c = 0; c < 16; c++) {
          const unsigned char *p = src + (cb + c) * plane + 2 * w;
          __m128i lo = _mm_and_si128(_mm_loadu_si128((const __m128i *)p), even);
          __m128i hi = _mm_and_si128(_mm_loadu_si128((const __m128i *)(p + 16)), even);
          r[c] = _mm_xor_si128(_mm_packus_epi16(lo, hi), flip);
        }
        transpose16(r, t);
        for (int q = 0; q < 16 && w + q < pl->OW; q++) _mm_storeu_si128((__m128i *)(orow + (int64_t)(w + q) * Cp + cb), t[q]);
      }
      for (; w < pl->OW; w++)
        for (int c = cb; c < cb + 16; c++) orow[(int64_t)w * Cp + c] = src[c * plane + (int64_t)w * 2] ^ fx;
    }
    for (int c = cb; c < pl->C; c++)
      for (int w = 0; w < pl->OW; w++) orow[(int64_t)w * Cp + c] = src[c * plane + (int64_t)w * pl->csw] ^ fx;
  }
}

/* Image b of a one-channel input as fold pixels (plan fold): each padded row is built once,
 * then every output column takes 4 bytes from it with the lanes past fS cleared. */
static void fold_copy(const ik_plan *pl, const void *x, int x_signed, int b, int zxu, uint8_t *o) {
  const int Wpo = pl->fW + 2 * pl->fpw;
  const uint8_t fx = x_signed ? 0x80 : 0;
  const uint32_t keep = pl->fS == 4 ? 0xffffffffu : ((uint32_t)1 << (8 * pl->fS)) - 1u;
  const uint8_t *xb = (const uint8_t *)x + (int64_t)b * pl->H * pl->fW;
  uint8_t tr[IK_FOLD_ROW + 4];
  memset(tr + Wpo, 0, 4); /* the last column's 4-byte read passes the row by up to 3 bytes */
  for (int hp = 0; hp < pl->Hp; hp++) {
    int h = hp - pl->ph;
    memset(tr, zxu, (size_t)Wpo);
    if (h >= 0 && h < pl->H)
      for (int w = 0; w < pl->fW; w++) tr[pl->fpw + w] = xb[(int64_t)h * pl->fW + w] ^ fx;
    uint8_t *orow = o + (int64_t)hp * pl->OW * 4;
    for (int ow = 0; ow < pl->OW; ow++) {
      uint32_t v;
      memcpy(&v, tr + (int64_t)ow * pl->fsw, 4);
      v &= keep; /* little-endian: byte t is tap t */
      memcpy(orow + 4 * ow, &v, 4);
    }
  }
}

/* Pixels of a channels-last input (C bytes each) into a channels-last buffer of Cp-byte pixels:
 * n pixels from src (pixel stride sstep) to dst (consecutive), int8 moved to uint8. */
static void xor_run(const uint8_t *src, int64_t len, __m128i flip, uint8_t fx, uint8_t *dst) {
  int64_t i = 0;
  for (; i + 16 <= len; i += 16)
    _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + i)), flip));
  for (; i < len; i++) dst[i] = src[i] ^ fx;
}

static void pixels_nhwc(const uint8_t *src, int64_t sstep, int64_t n, int C, int Cp, uint8_t fx, uint8_t *dst) {
  const __m128i flip = _mm_set1_epi8((char)fx);
  if (C == Cp && sstep == C) { /* one run */
    xor_run(src, n * C, flip, fx, dst);
    return;
  }
  for (int64_t p = 0; p < n; p++) xor_run(src + p * sstep, C, flip, fx, dst + p * Cp);
}

/* The image b as a padded channels-last buffer: u8 codes (int8 moved to uint8 by +128; padding
 * is the zero point, padded channels 0) or int16 x - zx (padding and padded channels 0). x is
 * NCHW, or channels-last when x_nhwc (u8 copies without folding only). */
static void image_copy(const ik_plan *pl, const void *x, const unsigned char *xend, int x_signed, int b, int32_t zx,
                       int zxu, int x_nhwc, void *img) {
  const int64_t plane = (int64_t)pl->H * pl->W;
  const unsigned char *xb = (const unsigned char *)x + (int64_t)b * pl->C * plane;
  if (pl->esize == 1 && pl->fold) {
    fold_copy(pl, x, x_signed, b, zxu, img);
    return;
  }
  if (pl->slack) /* what AMX tile loads read past the image meets zero weights or is dropped: keep it defined */
    memset((unsigned char *)img + pl->img_bytes - pl->slack, 0, pl->slack);
  if (pl->esize == 1) {
    uint8_t *o = img;
    const int Cp = pl->Cp;
    /* border pixels get zxu (padded channels 0); every pixel when padded channels exist,
     * since the copy below writes only the real ones */
    if (Cp != pl->C) { /* every pixel: one pixel, then copies doubling the filled part */
      size_t done = (size_t)Cp, total = pl->img_bytes;
      memset(o, zxu, (size_t)pl->C);
      memset(o + pl->C, 0, (size_t)(Cp - pl->C));
      while (done < total) {
        size_t k = done < total - done ? done : total - done;
        memcpy(o + done, o, k);
        done += k;
      }
    }
    const uint8_t fx = x_signed ? 0x80 : 0;
    if (pl->sub && x_nhwc) { /* the sampled pixels, row by row */
      for (int oh = 0; oh < pl->OH; oh++)
        pixels_nhwc(xb + ((int64_t)oh * pl->csh * pl->W) * pl->C, (int64_t)pl->csw * pl->C, pl->OW, pl->C, Cp, fx,
                    o + (int64_t)oh * pl->OW * Cp);
      return;
    }
    if (pl->sub) {
      sub_copy(pl, xb, xend, x_signed, o);
      return;
    }
    for (int hp = 0; hp < pl->Hp && Cp == pl->C; hp++) {
      int inner = hp >= pl->ph && hp < pl->ph + pl->H;
      for (int wp = 0; wp < pl->Wp; wp++) {
        if (inner && wp == pl->pw) wp += pl->W;
        if (wp >= pl->Wp) break;
        uint8_t *px = o + ((int64_t)hp * pl->Wp + wp) * Cp;
        memset(px, zxu, (size_t)pl->C);
        memset(px + pl->C, 0, (size_t)(Cp - pl->C));
      }
    }
    if (x_nhwc) { /* interior rows: runs of W pixels */
      for (int h = 0; h < pl->H; h++)
        pixels_nhwc(xb + (int64_t)h * pl->W * pl->C, pl->C, pl->W, pl->C, Cp, fx,
                    o + ((int64_t)(h + pl->ph) * pl->Wp + pl->pw) * Cp);
      return;
    }
    const __m128i flip = _mm_set1_epi8(x_signed ? (char)0x80 : 0);
    for (int h = 0; h < pl->H; h++) {
      uint8_t *orow = o + ((int64_t)(h + pl->ph) * pl->Wp + pl->pw) * Cp;
      const unsigned char *src = xb + (int64_t)h * pl->W;
      int cb = 0;
      for (; cb + 16 <= pl->C; cb += 16) {
        int w = 0;
        /* the 16 planes are 16 short streams: fetch the next rows ahead of their use */
        if (h + 2 < pl->H)
          for (int c = 0; c < 16; c++) _mm_prefetch((const char *)(src + (cb + c) * plane + 2 * pl->W), _MM_HINT_T0);
        for (; w + 16 <= pl->W; w += 16) {
          __m128i r[16], t[16];
          for (int c = 0; c < 16; c++)
            r[c] = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + (cb + c) * plane + w)), flip);
          transpose16(r, t);
          for (int q = 0; q < 16; q++) _mm_storeu_si128((__m128i *)(orow + (int64_t)(w + q) * Cp + cb), t[q]);
        }
        /* the row's tail: read 16 bytes anyway when they stay inside x (the next row or channel
         * follows), store only the real pixels */
        if (w < pl->W && src + (cb + 15) * plane + w + 16 <= xend) {
          __m128i r[16], t[16];
          for (int c = 0; c < 16; c++)
            r[c] = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + (cb + c) * plane + w)), flip);
          transpose16(r, t);
          for (int q = 0; q < pl->W - w; q++) _mm_storeu_si128((__m128i *)(orow + (int64_t)(w + q) * Cp + cb), t[q]);
          w = pl->W;
        }
        for (; w < pl->W; w++)
          for (int c = cb; c < cb + 16; c++) orow[(int64_t)w * Cp + c] = src[c * plane + w] ^ (x_signed ? 0x80 : 0);
      }
      for (int c = cb; c < pl->C; c++)
        for (int w = 0; w < pl->W; w++) orow[(int64_t)w * Cp + c] = src[c * plane + w] ^ (x_signed ? 0x80 : 0);
    }
  } else {
    int16_t *o = img;
    memset(o, 0, pl->img_bytes);
    for (int h = 0; h < pl->H && x_nhwc; h++) { /* channels-last input: whole pixels */
      const unsigned char *src = xb + (int64_t)h * pl->W * pl->C;
      int16_t *dst = o + ((int64_t)(h + pl->ph) * pl->Wp + pl->pw) * pl->Cp;
      for (int w = 0; w < pl->W; w++)
        for (int ch = 0; ch < pl->C; ch++)
          dst[(int64_t)w * pl->Cp + ch] =
              (int16_t)((x_signed ? (int32_t)(int8_t)src[(int64_t)w * pl->C + ch] : (int32_t)src[(int64_t)w * pl->C + ch]) - zx);
    }
    for (int ch = 0; ch < pl->C && !x_nhwc; ch++)
      for (int h = 0; h < pl->H; h++) {
        const unsigned char *src = xb + ch * plane + (int64_t)h * pl->W;
        int16_t *dst = o + ((int64_t)(h + pl->ph) * pl->Wp + pl->pw) * pl->Cp + ch;
        for (int w = 0; w < pl->W; w++)
          dst[(int64_t)w * pl->Cp] = (int16_t)((x_signed ? (int32_t)(int8_t)src[w] : (int32_t)src[w]) - zx);
      }
  }
}

/* Sum of the u8 codes over each output pixel's receptive field (padding counts as zxu). */
static void colsums(const ik_plan *pl, const uint8_t *img, int32_t *pixsum, int32_t *colsum) {
  for (int64_t i = 0; i < (int64_t)pl->Hp * pl->Wp; i++) {
    int32_t s = 0;
    for (int ch = 0; ch < pl->C; ch++) s += img[i * pl->Cp + ch];
    pixsum[i] = s;
  }
  for (int oh = 0; oh < pl->OH; oh++)
    for (int ow = 0; ow < pl->OW; ow++) {
      int32_t s = 0;
      for (int r = 0; r < pl->R; r++)
        for (int q = 0; q < pl->S; q++) s += pixsum[(int64_t)(oh * pl->sh + r * pl->dh) * pl->Wp + ow * pl->sw + q * pl->dw];
      colsum[(int64_t)oh * pl->OW + ow] = s;
    }
}

static void rows(const ik_plan *pl, ik_tile_fn tile, int G, const void *wl, const void *img, int oh0, int oh1,
                 const ik_epi *e, int32_t *acc, void *y) {
  if (pl->amx) {
    ik_amx_rows(pl, wl, img, oh0, oh1, e, acc, y);
    return;
  }
  size_t kvstride = (size_t)pl->lanes * pl->R * pl->S * pl->Cp * pl->esize;
  for (int oh = oh0; oh < oh1; oh++)
    for (int kv0 = 0; kv0 < pl->Kv; kv0 += G) {
      int nkv = pl->Kv - kv0 < G ? pl->Kv - kv0 : G;
      tile(pl, (const unsigned char *)wl + kv0 * kvstride, img, oh, 0, pl->OW, kv0, nkv, e, acc, y);
    }
}

void ik_nhwc_run(const lb_iconv *c, const ik_plan *pl, ik_tile_fn tile, int G, int n, const void *x, int32_t zx,
                 int32_t *acc, const ik_rq_args *rq, void *scratch) {
  ik_scr m = scr_map(c, pl, scratch);
  const void *wl = c->opt.layout ? c->opt.buf : NULL;
  if (!wl) {
    if (c->opt.packed) ik_wlayout_unpack(c->opt.buf, ik_wlayout_bytes(pl), c->opt.packed, c->w.sgn, m.wl);
    else ik_wlayout_build(pl, c, G, m.wl);
    wl = m.wl;
  }
  const int kl = pl->Kv * pl->lanes;
  const int xoff = c->x_signed ? 128 : 0, zxu = zx + xoff, x_nhwc = rq ? rq->x_nhwc : 0;
  ik_epi e;
  memset(&e, 0, sizeof e);
  int need_colsum = 0;
  if (pl->esize == 1) {
    /* acc = sum xu*ws - zxu*sum(ws) + (woff - zw)*(sum xu - taps*zxu), all mod 2^32 */
    const int woff = (c->wbits == 8 && !c->w_signed) ? 128 : 0;
    for (int k = 0; k < kl; k++) {
      uint32_t c0 = 0, c1 = 0;
      if (k < pl->K) {
        uint32_t wsum = (uint32_t)c->opt.wsum[k]; /* sum of (w - woff) over the taps, from prepare */
        c1 = (uint32_t)(woff - c->w.zp[k]);
        c0 = 0u - (uint32_t)zxu * wsum - c1 * (uint32_t)pl->taps * (uint32_t)zxu;
        if (c1) need_colsum = 1;
      }
      m.c0[k] = (int32_t)c0;
      m.c1[k] = (int32_t)c1;
    }
    e.c0 = m.c0;
    e.c1 = need_colsum ? m.c1 : NULL;
  }
  if (rq) {
    int64_t *biasm = m.rq + kl, *mul = m.rq + 2 * kl, *shift = m.rq + 3 * kl, *mask = m.rq + 4 * kl,
            *half = m.rq + 5 * kl;
    for (int k = 0; k < kl; k++) {
      int kk = k < pl->K ? k : pl->K - 1;
      int s = rq->s[kk];
      mul[k] = rq->M[kk];
      biasm[k] = rq->bias_p ? rq->bias_p[kk] : 0;
      shift[k] = s;
      mask[k] = s > 0 ? (int64_t)(((uint64_t)1 << s) - 1) : 0;
      half[k] = s > 0 ? (int64_t)1 << (s - 1) : INT64_MAX;
    }
    e.requant = 1;
    e.biasm = biasm, e.mul = mul, e.shift = shift, e.mask = mask, e.half = half;
    e.zp = rq->zp, e.lo = rq->lo, e.hi = rq->hi, e.y_signed = rq->y_signed, e.y_nhwc = rq->y_nhwc;
    /* Doubles give the same bits when every result that escapes the clamp is computed exactly:
     * such a v = (acc * M + biasm) / 2^s has |v| < B = max(|lo - zp|, |hi - zp|) + 1, so
     * |acc * M + biasm| < B * 2^s, an integer below 2^53 when B * 2^s <= 2^53. With m = M * 2^-s
     * and b = biasm * 2^-s, both exact doubles (biasm must be one: checked below), the fused
     * fma(acc, m, b) rounds the exact sum once, so it is v itself, and clamping to the integer
     * bounds before the round-to-nearest-even conversion changes nothing. Results outside the
     * band are correctly rounded and clamp the same way (the bounds are doubles). */
    double *md = (double *)(m.rq + 6 * kl), *bd = (double *)(m.rq + 7 * kl);
    int64_t bl = (int64_t)rq->lo - rq->zp, bh = (int64_t)rq->hi - rq->zp;
    int64_t band = (bl < 0 ? -bl : bl) > (bh < 0 ? -bh : bh) ? (bl < 0 ? -bl : bl) : (bh < 0 ? -bh : bh);
    e.dbl = 1;
    for (int k = 0; k < kl; k++) {
      md[k] = ldexp((double)mul[k], -(int)shift[k]);
      bd[k] = ldexp((double)biasm[k], -(int)shift[k]);
      if (ldexp((double)(band + 1), (int)shift[k]) > 9007199254740992.0) e.dbl = 0; /* 2^53 */
      if ((int64_t)(double)biasm[k] != biasm[k]) e.dbl = 0; /* not exact as a double */
    }
    e.md = md, e.bd = bd, e.dlo = (double)bl, e.dhi = (double)bh;
  }
  const int64_t outs = (int64_t)pl->K * pl->P;
  const unsigned char *xend = (const unsigned char *)x + (int64_t)n * pl->C * pl->H * pl->W; /* n images of codes */
  const int T = c->opt.slots > 0 ? c->opt.slots : 1;
  const size_t img_off = 0, pix_off = ik_round(pl->img_bytes), col_off = pix_off + ik_round((size_t)pl->Hp * pl->Wp * 4);
  if (n >= T) {
#pragma omp parallel for schedule(static) num_threads(T)
    for (int b = 0; b < n; b++) {
      unsigned char *slot = m.slot0 + (size_t)omp_get_thread_num() * m.slot_bytes;
      ik_epi eb = e;
      image_copy(pl, x, xend, c->x_signed, b, zx, zxu, x_nhwc, slot + img_off);
      if (need_colsum) {
        colsums(pl, slot + img_off, (int32_t *)(slot + pix_off), (int32_t *)(slot + col_off));
        eb.colsum = (int32_t *)(slot + col_off);
      }
      rows(pl, tile, G, wl, slot + img_off, 0, pl->OH, &eb, acc ? acc + b * outs : NULL,
           rq ? (unsigned char *)rq->y + b * outs : NULL);
    }
  } else {
    unsigned char *slot = m.slot0;
    for (int b = 0; b < n; b++) {
      ik_epi eb = e;
      image_copy(pl, x, xend, c->x_signed, b, zx, zxu, x_nhwc, slot + img_off);
      if (need_colsum) {
        colsums(pl, slot + img_off, (int32_t *)(slot + pix_off), (int32_t *)(slot + col_off));
        eb.colsum = (int32_t *)(slot + col_off);
      }
      /* AMX tiles run across output rows, so each thread takes a band of rows */
      const int parts = pl->amx ? T : pl->OH;
#pragma omp parallel for schedule(static) num_threads(T)
      for (int t = 0; t < parts; t++)
        rows(pl, tile, G, wl, slot + img_off, (int)((int64_t)pl->OH * t / parts), (int)((int64_t)pl->OH * (t + 1) / parts),
             &eb, acc ? acc + b * outs : NULL, rq ? (unsigned char *)rq->y + b * outs : NULL);
    }
  }
}
