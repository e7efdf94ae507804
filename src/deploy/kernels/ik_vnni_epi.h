/* Private: the epilogue of the AVX-512 conv tiles (VNNI registers, AMX tiles stored to memory):
 * np pixels' int32 accumulators for 16 output channels, one vector per pixel, get the
 * zero-point corrections and are written as int32 or requantized bytes. Include inside an
 * AVX-512 target region. */
#ifndef LOWBIT_IK_VNNI_EPI_H
#define LOWBIT_IK_VNNI_EPI_H

#include <immintrin.h>

#include "deploy/kernels/ik_nhwc.h"
#include "deploy/kernels/ik_x86.h"

/* 16 outputs of channels kb.. at pixel p with the zero-point corrections applied. */
static inline __attribute__((always_inline)) __m512i ik_epi_correct(const ik_epi *e, __m512i v, int kb, int64_t p) {
  if (e->c0) v = _mm512_add_epi32(v, _mm512_loadu_si512(e->c0 + kb));
  if (e->c1) v = _mm512_add_epi32(v, _mm512_mullo_epi32(_mm512_loadu_si512(e->c1 + kb), _mm512_set1_epi32(e->colsum[p])));
  return v;
}

static inline __attribute__((always_inline)) void ik_epi_store_acc(const ik_plan *pl, __m512i v, int kb, int64_t p,
                                                                   int32_t *acc) {
  int nk = pl->K - kb < 16 ? pl->K - kb : 16;
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32((int32_t)pl->P));
  _mm512_mask_i32scatter_epi32(acc + (int64_t)kb * pl->P + p, (__mmask16)((1u << nk) - 1u), idx, v, 4);
}

/* the 16 requantized bytes (channels kb..kb+15) of one pixel */
static inline __attribute__((always_inline)) __m128i ik_epi_requant16(const ik_epi *e, __m512i v, int kb) {
  __m512i lo = ik_rq8_avx512(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(v)), e, kb);
  __m512i hi = ik_rq8_avx512(_mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(v, 1)), e, kb + 8);
  return _mm_unpacklo_epi64(_mm512_cvtepi64_epi8(lo), _mm512_cvtepi64_epi8(hi));
}

/* the same bytes through doubles, when e->dbl says they are exact (ik_nhwc.c): about half the
 * instructions of the int64 rounding */
static inline __attribute__((always_inline)) __m128i ik_epi_requant16_dbl(const ik_epi *e, __m512i v, int kb) {
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

/* Pixels p0 .. p0+np-1 (np <= 16) of channels kb..kb+15: v[j] is pixel j's accumulators. */
static inline __attribute__((always_inline)) void ik_epi_pixels(const ik_plan *pl, const ik_epi *e, const __m512i *v,
                                                                const int np, int kb, int64_t p0, int32_t *acc,
                                                                void *y) {
  if (!e->requant) {
    #pragma GCC unroll 16
    for (int j = 0; j < np; j++) ik_epi_store_acc(pl, ik_epi_correct(e, v[j], kb, p0 + j), kb, p0 + j, acc);
    return;
  }
  const int nk = pl->K - kb < 16 ? pl->K - kb : 16;
  #pragma GCC unroll 2
  for (int h = 0; h < np; h += 8) { /* 8 pixels per byte transpose */
    __m128i rows[8];
    #pragma GCC unroll 8
    for (int j = 0; j < 8; j++)
      rows[j] = h + j >= np ? rows[0]
                : e->dbl ? ik_epi_requant16_dbl(e, ik_epi_correct(e, v[h + j], kb, p0 + h + j), kb)
                         : ik_epi_requant16(e, ik_epi_correct(e, v[h + j], kb, p0 + h + j), kb);
    const int np8 = np - h < 8 ? np - h : 8;
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

#endif
