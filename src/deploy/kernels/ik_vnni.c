/* AVX-512 VNNI conv tiles: vpdpbusd multiplies u8 activations by s8 weights, four input
 * channels per 32-bit lane, into int32 (wrapping, never saturating: unlike vpmaddubsw there is
 * no int16 intermediate). Signed activations were moved to u8 by +128 and unsigned 8-bit weights
 * to s8 by -128 when the image and layout were built; the zero-point terms c0/c1 (ik_nhwc.c)
 * undo both exactly in modular int32. The requant epilogue runs on the registers. */
#include <immintrin.h>
#include <string.h>

#include "deploy/kernels/ik_nhwc.h"
#include "deploy/kernels/ik_x86.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")

static inline __m512i bcast4(const uint8_t *p) { return _mm512_set1_epi32(*(const ik_i32u *)p); }

/* 16 outputs of channels kb.. at pixel p with the zero-point corrections applied. */
static inline __attribute__((always_inline)) __m512i correct(const ik_epi *e, __m512i v, int kb, int64_t p) {
  if (e->c0) v = _mm512_add_epi32(v, _mm512_loadu_si512(e->c0 + kb));
  if (e->c1) v = _mm512_add_epi32(v, _mm512_mullo_epi32(_mm512_loadu_si512(e->c1 + kb), _mm512_set1_epi32(e->colsum[p])));
  return v;
}

static inline __attribute__((always_inline)) void store_acc(const ik_plan *pl, __m512i v, int kb, int64_t p,
                                                            int32_t *acc) {
  int nk = pl->K - kb < 16 ? pl->K - kb : 16;
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32((int32_t)pl->P));
  _mm512_mask_i32scatter_epi32(acc + (int64_t)kb * pl->P + p, (__mmask16)((1u << nk) - 1u), idx, v, 4);
}

/* the 16 requantized bytes (channels kb..kb+15) of one pixel */
static inline __attribute__((always_inline)) __m128i requant16(const ik_epi *e, __m512i v, int kb) {
  __m512i lo = ik_rq8_avx512(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(v)), e, kb);
  __m512i hi = ik_rq8_avx512(_mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(v, 1)), e, kb + 8);
  return _mm_unpacklo_epi64(_mm512_cvtepi64_epi8(lo), _mm512_cvtepi64_epi8(hi));
}

/* the same bytes through doubles, when e->dbl says they are exact (ik_nhwc.c): about half the
 * instructions of the int64 rounding */
static inline __attribute__((always_inline)) __m128i requant16_dbl(const ik_epi *e, __m512i v, int kb) {
  const __m512d lo = _mm512_set1_pd(e->dlo), hi = _mm512_set1_pd(e->dhi);
  __m512d a0 = _mm512_fmadd_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(v)), _mm512_loadu_pd(e->md + kb),
                                _mm512_loadu_pd(e->bd + kb));
  __m512d a1 = _mm512_fmadd_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(v, 1)), _mm512_loadu_pd(e->md + kb + 8),
                                _mm512_loadu_pd(e->bd + kb + 8));
  a0 = _mm512_min_pd(_mm512_max_pd(a0, lo), hi);
  a1 = _mm512_min_pd(_mm512_max_pd(a1, lo), hi);
  __m256i r0 = _mm512_cvt_roundpd_epi32(a0, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256i r1 = _mm512_cvt_roundpd_epi32(a1, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512i r = _mm512_inserti64x4(_mm512_castsi256_si512(r0), r1, 1);
  return _mm512_cvtepi32_epi8(_mm512_add_epi32(r, _mm512_set1_epi32(e->zp)));
}

static inline __attribute__((always_inline)) void tile_nk(const ik_plan *pl, const int8_t *w, const uint8_t *img,
                                                          int oh, int ow0, const int NP, const int NKV, int kv0,
                                                          const ik_epi *e, int32_t *acc, void *y) {
  __m512i a[16][4];
  #pragma GCC unroll 16
  for (int j = 0; j < NP; j++)
    #pragma GCC unroll 8
    for (int g = 0; g < NKV; g++) a[j][g] = _mm512_setzero_si512();
  const int64_t cp = pl->Cp, pstep = (int64_t)pl->sw * cp;
  const uint8_t *base = img + ((int64_t)oh * pl->sh * pl->Wp + (int64_t)ow0 * pl->sw) * cp;
  const int c4n = pl->Cp / 4;
  const int8_t *wp = w;
  for (int r = 0; r < pl->R; r++)
    for (int s = 0; s < pl->S; s++) {
      const uint8_t *xp = base + ((int64_t)r * pl->dh * pl->Wp + (int64_t)s * pl->dw) * cp;
      for (int c4 = 0; c4 < c4n; c4++, wp += NKV * 64) {
        __m512i wv[4];
        #pragma GCC unroll 8
        for (int g = 0; g < NKV; g++) wv[g] = _mm512_loadu_si512(wp + g * 64);
        #pragma GCC unroll 16
        for (int j = 0; j < NP; j++) {
          __m512i b = bcast4(xp + j * pstep + 4 * c4);
          #pragma GCC unroll 8
          for (int g = 0; g < NKV; g++) a[j][g] = _mm512_dpbusd_epi32(a[j][g], b, wv[g]);
        }
      }
    }
  const int64_t p0 = (int64_t)oh * pl->OW + ow0;
  #pragma GCC unroll 8
  for (int g = 0; g < NKV; g++) {
    const int kb = (kv0 + g) * 16;
    if (!e->requant) {
      #pragma GCC unroll 16
      for (int j = 0; j < NP; j++) store_acc(pl, correct(e, a[j][g], kb, p0 + j), kb, p0 + j, acc);
      continue;
    }
    #pragma GCC unroll 2
    for (int h = 0; h < NP; h += 8) { /* 8 pixels per byte transpose */
      __m128i rows[8];
      #pragma GCC unroll 8
      for (int j = 0; j < 8; j++)
        rows[j] = h + j >= NP ? rows[0]
                  : e->dbl ? requant16_dbl(e, correct(e, a[h + j][g], kb, p0 + h + j), kb)
                           : requant16(e, correct(e, a[h + j][g], kb, p0 + h + j), kb);
      const int nk = pl->K - kb < 16 ? pl->K - kb : 16, np8 = NP - h < 8 ? NP - h : 8;
      if (e->y_nhwc) { /* channels-last: each pixel's 16 channels are consecutive */
        uint8_t *d = (uint8_t *)y + (p0 + h) * pl->K + kb;
        #pragma GCC unroll 8
        for (int j = 0; j < np8; j++) {
          if (nk == 16) _mm_storeu_si128((__m128i *)(d + (int64_t)j * pl->K), rows[j]);
          else _mm_mask_storeu_epi8(d + (int64_t)j * pl->K, (__mmask16)((1u << nk) - 1u), rows[j]);
        }
        continue;
      }
      ik_store_k16xnp((uint8_t *)y + (int64_t)kb * pl->P + p0 + h, pl->P, nk, np8, rows);
    }
  }
}

#define IK_CASE(NKV, NP) \
  case (NKV) * 32 + (NP): tile_nk(pl, wl, img, oh, ow, NP, NKV, kv0, e, acc, y); break;
#define IK_CASES(NKV) \
  IK_CASE(NKV, 1) IK_CASE(NKV, 2) IK_CASE(NKV, 3) IK_CASE(NKV, 4) IK_CASE(NKV, 5) IK_CASE(NKV, 6) IK_CASE(NKV, 7) IK_CASE(NKV, 8)
#define IK_CASES16(NKV) \
  IK_CASES(NKV) IK_CASE(NKV, 9) IK_CASE(NKV, 10) IK_CASE(NKV, 11) IK_CASE(NKV, 12) IK_CASE(NKV, 13) IK_CASE(NKV, 14) \
  IK_CASE(NKV, 15) IK_CASE(NKV, 16)

void ik_tile_vnni(const ik_plan *pl, const void *wl, const void *img, int oh, int ow0, int np, int kv0, int nkv,
                  const ik_epi *e, int32_t *acc, void *y) {
  /* acc + weight + broadcast registers stay within 32; one k vector takes 16 pixels so that
   * enough independent vpdpbusd chains cover the instruction's latency */
  const int npmax = nkv == 1 ? 16 : nkv <= 3 ? 8 : 6;
  for (int ow = ow0; ow < ow0 + np;) {
    int cnt = ow0 + np - ow < npmax ? ow0 + np - ow : npmax;
    switch (nkv * 32 + cnt) {
      IK_CASES16(1)
      IK_CASES(2)
      IK_CASES(3)
      IK_CASES(4)
    default: break;
    }
    ow += cnt;
  }
}

#pragma GCC pop_options
