/* Binary convolution (XNOR-popcount), groups == 1. Per image, every output pixel's receptive
 * field becomes a bit row (taps (r, s) in order, C bits each, padded to 64-bit words) with a
 * validity mask (padded taps 0); weights are reordered into the same bit order at prepare. Then
 *   acc = valid_bits - 2 * popcount((x ^ w) & mask)
 * since a product of two +-1 values is +1 exactly when the bits agree.
 * AVX-512 variant: VPOPCNTDQ over 8 pixels per zmm (pixels are the lanes; the weight word is
 * broadcast). AVX2 variant: the scalar POPCNT instruction on 64-bit words (AVX2 has no vector
 * popcount; the nibble-LUT vpshufb trick needs a horizontal sum per pixel and measured no
 * better here). */
#include <immintrin.h>
#include <omp.h>
#include <string.h>

#include "deploy/kernels/ik_simd.h"

typedef struct bin_geo {
  int64_t bits, words; /* bits per receptive field, 64-bit words */
  int64_t P;           /* output pixels per image, padded to 8 in the word-major layout */
  int64_t Pp;
} bin_geo;

static bin_geo bgeo(const lb_iconv *c) {
  bin_geo g;
  g.bits = (int64_t)c->d.r * c->d.s * c->d.c;
  g.words = (g.bits + 63) / 64;
  g.P = (int64_t)c->d.oh * c->d.ow;
  g.Pp = (g.P + 7) / 8 * 8;
  return g;
}

static inline void setbit(uint64_t *w, int64_t i) { w[i >> 6] |= (uint64_t)1 << (i & 63); }

lb_status ik_binary_prepare(lb_iconv *c) {
  bin_geo g = bgeo(c);
  c->opt.slots = omp_get_max_threads();
  c->opt.bytes = (size_t)c->d.k * (size_t)g.words * 8;
  c->opt.buf = lb_alloc_aligned(c->opt.bytes);
  if (!c->opt.buf) return lb_fail(LB_ERR_NOMEM, "iconv: binary weight layout");
  memset(c->opt.buf, 0, c->opt.bytes);
  uint64_t *wb = c->opt.buf;
  const lb_conv2d_desc *d = &c->d;
  for (int k = 0; k < d->k; k++) {
    const uint8_t *row = c->w.data + (int64_t)k * c->w.row_bytes;
    for (int ch = 0; ch < d->c; ch++)
      for (int r = 0; r < d->r; r++)
        for (int s = 0; s < d->s; s++)
          if (ik_wget(row, ((int64_t)ch * d->r + r) * d->s + s, 1, 1) > 0)
            setbit(wb + (int64_t)k * g.words, ((int64_t)r * d->s + s) * d->c + ch);
  }
  return LB_OK;
}

static size_t slot_bytes(const bin_geo *g) { return ik_round((size_t)(2 * g->words * g->Pp) * 8 + (size_t)g->Pp * 4); }

size_t ik_binary_scratch(const lb_iconv *c) {
  bin_geo g = bgeo(c);
  return IK_ALIGN + (size_t)(c->opt.slots > 0 ? c->opt.slots : 1) * slot_bytes(&g);
}

/* Bit rows of image b, word-major: X[w * Pp + p], M likewise; nvalid[p] = valid bits. */
static void bit_rows(const lb_iconv *c, const bin_geo *g, const uint8_t *xbits, int b, uint64_t *X, uint64_t *M,
                     int32_t *nvalid) {
  const lb_conv2d_desc *d = &c->d;
  const int cb = (d->c + 7) / 8;
  memset(X, 0, (size_t)(g->words * g->Pp) * 8);
  memset(M, 0, (size_t)(g->words * g->Pp) * 8);
  /* one pixel's words when they fit, else bit by bit below; byte copies into the words assume
   * a little-endian host (bit i of the row is bit i%8 of byte i/8), as the model file does */
  uint64_t row[64], msk[64];
  for (int oh = 0; oh < d->oh; oh++)
    for (int ow = 0; ow < d->ow; ow++) {
      int64_t p = (int64_t)oh * d->ow + ow;
      int32_t nv = 0;
      int fast = g->words <= 64;
      if (fast) memset(row, 0, sizeof row), memset(msk, 0, sizeof msk);
      for (int r = 0; r < d->r; r++) {
        int ih = oh * d->stride_h - d->pad_h + r * d->dil_h;
        if (ih < 0 || ih >= d->h) continue;
        for (int s = 0; s < d->s; s++) {
          int iw = ow * d->stride_w - d->pad_w + s * d->dil_w;
          if (iw < 0 || iw >= d->w) continue;
          const uint8_t *px = xbits + (((int64_t)b * d->h + ih) * d->w + iw) * cb;
          int64_t at = ((int64_t)r * d->s + s) * d->c;
          nv += d->c;
          if (fast && (d->c & 7) == 0) { /* whole bytes: the tap starts on a byte boundary */
            memcpy((uint8_t *)row + at / 8, px, (size_t)cb);
            memset((uint8_t *)msk + at / 8, 0xff, (size_t)cb);
            continue;
          }
          for (int ch = 0; ch < d->c; ch++) {
            int64_t i = at + ch;
            uint64_t bit = (uint64_t)((px[ch >> 3] >> (ch & 7)) & 1);
            if (fast) {
              row[i >> 6] |= bit << (i & 63);
              msk[i >> 6] |= (uint64_t)1 << (i & 63);
            } else {
              X[(i >> 6) * g->Pp + p] |= bit << (i & 63);
              M[(i >> 6) * g->Pp + p] |= (uint64_t)1 << (i & 63);
            }
          }
        }
      }
      if (fast)
        for (int64_t w = 0; w < g->words; w++) X[w * g->Pp + p] = row[w], M[w * g->Pp + p] = msk[w];
      nvalid[p] = nv;
    }
}

static void scalar_k(const bin_geo *g, const uint64_t *W, const uint64_t *X, const uint64_t *M, const int32_t *nvalid,
                     int K, int32_t *acc) {
  for (int k = 0; k < K; k++)
    for (int64_t p = 0; p < g->P; p++) {
      int64_t cnt = 0;
      for (int64_t w = 0; w < g->words; w++)
        cnt += __builtin_popcountll((X[w * g->Pp + p] ^ W[(int64_t)k * g->words + w]) & M[w * g->Pp + p]);
      acc[(int64_t)k * g->P + p] = nvalid[p] - 2 * (int32_t)cnt;
    }
}

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vpopcntdq")
static void vpop_k(const bin_geo *g, const uint64_t *W, const uint64_t *X, const uint64_t *M, const int32_t *nvalid,
                   int K, int32_t *acc) {
  for (int k0 = 0; k0 < K; k0 += 4) {
    int nk = K - k0 < 4 ? K - k0 : 4;
    for (int64_t p = 0; p < g->Pp; p += 8) {
      __m512i a[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
      for (int64_t w = 0; w < g->words; w++) {
        __m512i xv = _mm512_loadu_si512(X + w * g->Pp + p), mv = _mm512_loadu_si512(M + w * g->Pp + p);
        for (int j = 0; j < nk; j++) {
          __m512i wv = _mm512_set1_epi64((long long)W[(int64_t)(k0 + j) * g->words + w]);
          a[j] = _mm512_add_epi64(a[j], _mm512_popcnt_epi64(_mm512_and_si512(_mm512_xor_si512(xv, wv), mv)));
        }
      }
      int np = g->P - p < 8 ? (int)(g->P - p) : 8;
      __m256i nv = _mm256_loadu_si256((const __m256i *)(nvalid + p));
      for (int j = 0; j < nk; j++) {
        __m256i v = _mm256_sub_epi32(nv, _mm256_slli_epi32(_mm512_cvtepi64_epi32(a[j]), 1));
        _mm256_mask_storeu_epi32(acc + (int64_t)(k0 + j) * g->P + p, (__mmask8)((1u << np) - 1u), v);
      }
    }
  }
}
#pragma GCC pop_options

int ik_binary_run(const lb_iconv *c, int n, const uint8_t *xbits, int32_t *acc, void *scratch) {
  if (!c->opt.buf) return 0;
  bin_geo g = bgeo(c);
  unsigned char *base = ik_align_ptr(scratch);
  const size_t sb = slot_bytes(&g);
  const int T = c->opt.slots > 0 ? c->opt.slots : 1, K = c->d.k;
  const int vpop = c->isa == LB_IK_AVX512VNNI && ik_cpu_has_vpopcntdq();
  const int64_t outs = (int64_t)K * g.P;
#pragma omp parallel for schedule(static) num_threads(T)
  for (int b = 0; b < n; b++) {
    unsigned char *slot = base + (size_t)omp_get_thread_num() * sb;
    uint64_t *X = (uint64_t *)slot, *M = X + g.words * g.Pp;
    int32_t *nvalid = (int32_t *)(M + g.words * g.Pp);
    bit_rows(c, &g, xbits, b, X, M, nvalid);
    for (int64_t p = g.P; p < g.Pp; p++) nvalid[p] = 0;
    if (vpop) vpop_k(&g, c->opt.buf, X, M, nvalid, K, acc + b * outs);
    else scalar_k(&g, c->opt.buf, X, M, nvalid, K, acc + b * outs);
  }
  return 1;
}
