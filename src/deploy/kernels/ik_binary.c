/* Binary convolution (XNOR-popcount), groups == 1.
 *
 * Each image is copied into a zero-padded packed buffer (Hp, Wp, ceil(C/8) bytes; padding
 * pixels and the unused high bits of a pixel's last byte are 0). With dil_w == 1 the S taps of
 * one kernel row are contiguous there, so a receptive field is R "segments" of S*ceil(C/8)
 * bytes (R*S segments of one pixel each otherwise), read as 64-bit words at a per-pixel offset:
 * no per-tap bit shuffling. Weights are laid out at prepare in the same segment/word order.
 * A product of two +-1 values is +1 exactly when the bits agree, so over the whole field
 *   acc = R*S*C - 2 * popcount(x ^ w) + delta(k, p)
 * where the padded taps (x bits 0, so x ^ w = w there) are corrected only at the border pixels:
 * delta = 2 * popcount(w over the padded taps) - (padded taps * C), precomputed at prepare.
 * AVX-512 variant: pixels are the lanes (8 per zmm, words gathered once per image), each weight
 * word broadcast, VPOPCNTDQ; tiles of 4 pixel vectors x 4 output channels. AVX2 variant: the
 * scalar POPCNT instruction on 64-bit words. */
#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/kernels/ik_simd.h"

typedef struct bin_geo {
  int cb;              /* bytes per pixel: ceil(C/8) */
  int Hp, Wp;          /* padded input */
  int nseg, segbytes;  /* segments per field and their length in bytes */
  int wps;             /* 64-bit words per segment */
  uint64_t lastmask;   /* the real bytes of a segment's last word */
  int64_t words;       /* nseg * wps */
  int64_t P, Pp;       /* output pixels per image, padded to 8 */
  int64_t nborder;     /* output pixels with a padded tap */
  size_t img_bytes;    /* padded image + slack for the last word's 8-byte reads */
  int32_t full;        /* R * S * C */
} bin_geo;

/* Output rows (or columns) whose window lies wholly inside the input. */
static int inner_count(int out, int stride, int pad, int k, int dil, int in) {
  int cnt = 0;
  for (int o = 0; o < out; o++) {
    int lo = o * stride - pad, hi = lo + (k - 1) * dil;
    cnt += lo >= 0 && hi < in;
  }
  return cnt;
}

static bin_geo bgeo(const lb_iconv *c) {
  const lb_conv2d_desc *d = &c->d;
  bin_geo g;
  g.cb = (d->c + 7) / 8;
  g.Hp = d->h + 2 * d->pad_h;
  g.Wp = d->w + 2 * d->pad_w;
  g.nseg = d->dil_w == 1 ? d->r : d->r * d->s;
  g.segbytes = d->dil_w == 1 ? d->s * g.cb : g.cb;
  g.wps = (g.segbytes + 7) / 8;
  int tail = g.segbytes - 8 * (g.wps - 1);
  g.lastmask = tail == 8 ? ~(uint64_t)0 : (((uint64_t)1 << (8 * tail)) - 1);
  g.words = (int64_t)g.nseg * g.wps;
  g.P = (int64_t)d->oh * d->ow;
  g.Pp = (g.P + 7) / 8 * 8;
  g.nborder = g.P - (int64_t)inner_count(d->oh, d->stride_h, d->pad_h, d->r, d->dil_h, d->h) *
                        inner_count(d->ow, d->stride_w, d->pad_w, d->s, d->dil_w, d->w);
  g.img_bytes = (size_t)g.Hp * (size_t)g.Wp * (size_t)g.cb + 64;
  g.full = d->r * d->s * d->c;
  return g;
}

/* The prepared buffer: weight words (K, words), segment offsets (nseg), pixel offsets (Pp),
 * border pixels (nborder) and their corrections (nborder, K). */
typedef struct bin_map {
  uint64_t *w;
  int64_t *segoff, *pixoff;
  int32_t *bpix, *delta;
} bin_map;

static size_t map_bytes(const lb_iconv *c, const bin_geo *g) {
  return ik_round((size_t)c->d.k * (size_t)g->words * 8) + ik_round((size_t)g->nseg * 8) + ik_round((size_t)g->Pp * 8) +
         ik_round((size_t)g->nborder * 4) + ik_round((size_t)g->nborder * (size_t)c->d.k * 4);
}

static bin_map map_of(const lb_iconv *c, const bin_geo *g, void *buf) {
  bin_map m;
  unsigned char *p = buf;
  m.w = (uint64_t *)p;
  p += ik_round((size_t)c->d.k * (size_t)g->words * 8);
  m.segoff = (int64_t *)p;
  p += ik_round((size_t)g->nseg * 8);
  m.pixoff = (int64_t *)p;
  p += ik_round((size_t)g->Pp * 8);
  m.bpix = (int32_t *)p;
  p += ik_round((size_t)g->nborder * 4);
  m.delta = (int32_t *)p;
  return m;
}

/* Weight bit of (k, ch, r, s) as 0/1. */
static int wbit(const lb_iconv *c, int k, int ch, int r, int s) {
  const lb_conv2d_desc *d = &c->d;
  return ik_wget(c->w.data + (int64_t)k * c->w.row_bytes, ((int64_t)ch * d->r + r) * d->s + s, 1, 1) > 0;
}

lb_status ik_binary_prepare(lb_iconv *c) {
  const lb_conv2d_desc *d = &c->d;
  bin_geo g = bgeo(c);
  c->opt.slots = omp_get_max_threads();
  c->opt.bytes = map_bytes(c, &g);
  c->opt.buf = lb_alloc_aligned(c->opt.bytes);
  if (!c->opt.buf) return lb_fail(LB_ERR_NOMEM, "iconv: binary weight layout (%zu bytes)", c->opt.bytes);
  memset(c->opt.buf, 0, c->opt.bytes);
  bin_map m = map_of(c, &g, c->opt.buf);
  /* segment byte j of segment q is tap (r, s) with channel byte j % cb */
  for (int q = 0; q < g.nseg; q++) {
    int r = d->dil_w == 1 ? q : q / d->s, s0 = d->dil_w == 1 ? 0 : q % d->s;
    m.segoff[q] = ((int64_t)r * d->dil_h * g.Wp + (int64_t)s0 * d->dil_w) * g.cb;
    for (int k = 0; k < d->k; k++)
      for (int j = 0; j < g.segbytes; j++)
        for (int bit = 0; bit < 8; bit++) {
          int s = s0 + j / g.cb, ch = (j % g.cb) * 8 + bit;
          if (ch < d->c && wbit(c, k, ch, r, s)) {
            int64_t at = (int64_t)q * g.wps * 64 + (int64_t)j * 8 + bit;
            m.w[(int64_t)k * g.words + at / 64] |= (uint64_t)1 << (at % 64);
          }
        }
  }
  /* +1 weights per (k, tap), so a border pixel's correction is a sum over its padded taps */
  int32_t *wpop = calloc((size_t)d->k * (size_t)d->r * (size_t)d->s, sizeof *wpop);
  if (!wpop) return lb_fail(LB_ERR_NOMEM, "iconv: binary tap counts");
  for (int k = 0; k < d->k; k++)
    for (int r = 0; r < d->r; r++)
      for (int q = 0; q < d->s; q++)
        for (int ch = 0; ch < d->c; ch++) wpop[((int64_t)k * d->r + r) * d->s + q] += wbit(c, k, ch, r, q);
  int64_t nb = 0;
  for (int oh = 0; oh < d->oh; oh++)
    for (int ow = 0; ow < d->ow; ow++) {
      int64_t p = (int64_t)oh * d->ow + ow;
      m.pixoff[p] = ((int64_t)oh * d->stride_h * g.Wp + (int64_t)ow * d->stride_w) * g.cb;
      int any = 0;
      for (int k = 0; k < d->k; k++) {
        int32_t corr = 0, missing = 0;
        for (int r = 0; r < d->r; r++)
          for (int s = 0; s < d->s; s++) {
            int ih = oh * d->stride_h - d->pad_h + r * d->dil_h, iw = ow * d->stride_w - d->pad_w + s * d->dil_w;
            if (ih >= 0 && ih < d->h && iw >= 0 && iw < d->w) continue;
            missing += d->c;
            corr += wpop[((int64_t)k * d->r + r) * d->s + s];
          }
        if (!missing) break;
        any = 1;
        m.delta[nb * d->k + k] = 2 * corr - missing;
      }
      if (any) m.bpix[nb++] = (int32_t)p;
    }
  free(wpop);
  return LB_OK;
}

/* a slot: the padded image, its fields, and one image's accumulators (the sign epilogue's) */
static size_t acc_off(const bin_geo *g) { return ik_round(g->img_bytes) + ik_round((size_t)(g->words * g->Pp) * 8); }
static size_t slot_bytes(const lb_iconv *c, const bin_geo *g) {
  return acc_off(g) + ik_round((size_t)c->d.k * (size_t)g->P * sizeof(int32_t));
}

size_t ik_binary_scratch(const lb_iconv *c) {
  bin_geo g = bgeo(c);
  return IK_ALIGN + (size_t)(c->opt.slots > 0 ? c->opt.slots : 1) * slot_bytes(c, &g);
}

/* Image b into the zero-padded packed buffer; the unused high bits of each pixel are cleared. */
static void pad_image(const lb_iconv *c, const bin_geo *g, const uint8_t *xbits, int b, uint8_t *img) {
  const lb_conv2d_desc *d = &c->d;
  const size_t rowb = (size_t)d->w * g->cb;
  const uint8_t hib = (uint8_t)((d->c & 7) ? (1u << (d->c & 7)) - 1u : 0xffu);
  memset(img, 0, g->img_bytes);
  for (int h = 0; h < d->h; h++) {
    uint8_t *o = img + ((int64_t)(h + d->pad_h) * g->Wp + d->pad_w) * g->cb;
    memcpy(o, xbits + ((int64_t)b * d->h + h) * (int64_t)rowb, rowb);
    if (hib != 0xff)
      for (int w = 0; w < d->w; w++) o[(int64_t)w * g->cb + g->cb - 1] &= hib;
  }
}

/* the final accumulators of one image: acc holds R*S*C - 2*popcount; the border pixels add delta */
static void border_fix(const lb_iconv *c, const bin_geo *g, const bin_map *m, int k0, int k1, int32_t *acc) {
  for (int64_t i = 0; i < g->nborder; i++)
    for (int k = k0; k < k1; k++) acc[(int64_t)k * g->P + m->bpix[i]] += m->delta[i * c->d.k + k];
}

#pragma GCC push_options
#pragma GCC target("popcnt")
/* Word-major fields X[word * Pp + p] of one image (8-byte reads; the last word masked). */
static void fields_scalar(const bin_geo *g, const bin_map *m, const uint8_t *img, uint64_t *X) {
  for (int q = 0; q < g->nseg; q++)
    for (int w = 0; w < g->wps; w++) {
      uint64_t mask = w == g->wps - 1 ? g->lastmask : ~(uint64_t)0;
      const uint8_t *src = img + m->segoff[q] + 8 * w;
      uint64_t *dst = X + ((int64_t)q * g->wps + w) * g->Pp;
      for (int64_t p = 0; p < g->Pp; p++) {
        uint64_t v;
        memcpy(&v, src + m->pixoff[p], 8);
        dst[p] = v & mask;
      }
    }
}

static void pop_scalar(const bin_geo *g, const uint64_t *W, const uint64_t *X, int k0, int k1, int32_t *acc) {
  for (int k = k0; k < k1; k++)
    for (int64_t p = 0; p < g->P; p++) {
      int64_t cnt = 0;
      for (int64_t w = 0; w < g->words; w++) cnt += __builtin_popcountll(X[w * g->Pp + p] ^ W[(int64_t)k * g->words + w]);
      acc[(int64_t)k * g->P + p] = g->full - 2 * (int32_t)cnt;
    }
}
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq")
static void fields_512(const bin_geo *g, const bin_map *m, const uint8_t *img, uint64_t *X) {
  for (int q = 0; q < g->nseg; q++)
    for (int w = 0; w < g->wps; w++) {
      const __m512i mask = _mm512_set1_epi64((long long)(w == g->wps - 1 ? g->lastmask : ~(uint64_t)0));
      const uint8_t *src = img + m->segoff[q] + 8 * w;
      uint64_t *dst = X + ((int64_t)q * g->wps + w) * g->Pp;
      for (int64_t p = 0; p < g->Pp; p += 8) {
        __m512i idx = _mm512_loadu_si512(m->pixoff + p);
        _mm512_storeu_si512(dst + p, _mm512_and_si512(_mm512_i64gather_epi64(idx, (const void *)src, 1), mask));
      }
    }
}

/* NK output channels x NV vectors of 8 pixels, starting at channel k0 and pixel p0 */
static inline __attribute__((always_inline)) void pop_tile(const bin_geo *g, const uint64_t *W, const uint64_t *X,
                                                           int k0, int64_t p0, const int NK, const int NV,
                                                           int32_t *acc) {
  __m512i a[4][4];
  #pragma GCC unroll 4
  for (int k = 0; k < NK; k++)
    #pragma GCC unroll 4
    for (int v = 0; v < NV; v++) a[k][v] = _mm512_setzero_si512();
  for (int64_t w = 0; w < g->words; w++) {
    __m512i x[4];
    #pragma GCC unroll 4
    for (int v = 0; v < NV; v++) x[v] = _mm512_loadu_si512(X + w * g->Pp + p0 + 8 * v);
    #pragma GCC unroll 4
    for (int k = 0; k < NK; k++) {
      __m512i wb = _mm512_set1_epi64((long long)W[(int64_t)(k0 + k) * g->words + w]);
      #pragma GCC unroll 4
      for (int v = 0; v < NV; v++) a[k][v] = _mm512_add_epi64(a[k][v], _mm512_popcnt_epi64(_mm512_xor_si512(x[v], wb)));
    }
  }
  const __m256i full = _mm256_set1_epi32(g->full);
  #pragma GCC unroll 4
  for (int k = 0; k < NK; k++)
    #pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      int64_t p = p0 + 8 * v, left = g->P - p;
      __mmask8 keep = left >= 8 ? (__mmask8)0xff : (__mmask8)((1u << left) - 1u);
      __m256i r = _mm256_sub_epi32(full, _mm256_slli_epi32(_mm512_cvtepi64_epi32(a[k][v]), 1));
      _mm256_mask_storeu_epi32(acc + (int64_t)(k0 + k) * g->P + p, keep, r);
    }
}

#define BIN_CASE(NK, NV) \
  case (NK) * 8 + (NV): pop_tile(g, W, X, k, p, NK, NV, acc); break;
#define BIN_CASES(NK) BIN_CASE(NK, 1) BIN_CASE(NK, 2) BIN_CASE(NK, 3) BIN_CASE(NK, 4)

static void pop_512(const bin_geo *g, const uint64_t *W, const uint64_t *X, int k0, int k1, int32_t *acc) {
  for (int k = k0; k < k1; k += 4) {
    int nk = k1 - k < 4 ? k1 - k : 4;
    for (int64_t p = 0; p < g->Pp; p += 32) {
      int nv = (int)((g->Pp - p) / 8 < 4 ? (g->Pp - p) / 8 : 4);
      switch (nk * 8 + nv) {
        BIN_CASES(1)
        BIN_CASES(2)
        BIN_CASES(3)
        BIN_CASES(4)
      default: break;
      }
    }
  }
}
#pragma GCC pop_options

/* One image's fields into X, then output channels [k0, k1). */
static void fields(int vpop, const bin_geo *g, const bin_map *m, const uint8_t *img, uint64_t *X) {
  if (vpop) fields_512(g, m, img, X);
  else fields_scalar(g, m, img, X);
}

static void channels(int vpop, const lb_iconv *c, const bin_geo *g, const bin_map *m, const uint64_t *X, int k0,
                     int k1, int32_t *acc) {
  if (vpop) pop_512(g, m->w, X, k0, k1, acc);
  else pop_scalar(g, m->w, X, k0, k1, acc);
  border_fix(c, g, m, k0, k1, acc);
}

/* The signs of one image's accumulators a (K, P) into image b of sg->y. */
static void signs(const lb_iconv *c, const bin_geo *g, const ik_sign_epi *sg, int b, const int32_t *a) {
  const int64_t outs = (int64_t)c->d.k * g->P;
  lb_ik_binarize_acc(c->isa, 1, c->d.k, g->P, a, sg->bias_p, sg->M, sg->neg, sg->lo, sg->hi, sg->y + b * outs);
}

int ik_binary_run(const lb_iconv *c, int n, const uint8_t *xbits, int32_t *acc, const ik_sign_epi *sg, void *scratch) {
  if (!c->opt.buf) return 0;
  bin_geo g = bgeo(c);
  bin_map m = map_of(c, &g, c->opt.buf);
  unsigned char *base = ik_align_ptr(scratch);
  const size_t sb = slot_bytes(c, &g), xoff = ik_round(g.img_bytes), aoff = acc_off(&g);
  const int T = c->opt.slots > 0 ? c->opt.slots : 1, K = c->d.k;
  const int vpop = c->isa >= LB_IK_AVX512VNNI && ik_cpu_has_vpopcntdq();
  const int64_t outs = (int64_t)K * g.P;
  if (n >= T) {
#pragma omp parallel for schedule(static) num_threads(T)
    for (int b = 0; b < n; b++) {
      unsigned char *slot = base + (size_t)omp_get_thread_num() * sb;
      int32_t *a = sg ? (int32_t *)(slot + aoff) : acc + b * outs;
      pad_image(c, &g, xbits, b, slot);
      fields(vpop, &g, &m, slot, (uint64_t *)(slot + xoff));
      channels(vpop, c, &g, &m, (const uint64_t *)(slot + xoff), 0, K, a);
      if (sg) signs(c, &g, sg, b, a);
    }
    return 1;
  }
  /* fewer images than threads: one thread builds the fields, all split the output channels */
  for (int b = 0; b < n; b++) {
    int32_t *a = sg ? (int32_t *)(base + aoff) : acc + b * outs;
    pad_image(c, &g, xbits, b, base);
    fields(vpop, &g, &m, base, (uint64_t *)(base + xoff));
    const int kb = (K + 3) / 4;
#pragma omp parallel for schedule(static) num_threads(T)
    for (int i = 0; i < kb; i++) {
      int k1 = 4 * i + 4 < K ? 4 * i + 4 : K;
      channels(vpop, c, &g, &m, (const uint64_t *)(base + xoff), 4 * i, k1, a);
    }
    if (sg) signs(c, &g, sg, b, a);
  }
  return 1;
}
