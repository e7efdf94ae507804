/* AVX2 conv tiles: activations as int16 x - zx and weights as int16 w - zw[k], so vpmaddwd
 * multiplies pairs of input channels and adds them into int32 with no correction terms and no
 * saturation (|x - zx| <= 255 and |w - zw| <= 383, far from int16's edge). vpmaddubsw is not
 * used: its int16 pair sums saturate. */
#include <immintrin.h>
#include <string.h>

#include "deploy/kernels/ik_nhwc.h"
#include "deploy/kernels/ik_x86.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma")

static inline __m256i bcast2(const int16_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

static inline void epilogue(const ik_plan *pl, const ik_epi *e, __m256i v, int kb, int64_t p, int32_t *acc, void *y) {
  int nk = pl->K - kb < 8 ? pl->K - kb : 8;
  if (!e->requant) {
    int32_t t[8];
    _mm256_storeu_si256((__m256i *)t, v);
    int32_t *o = acc + (int64_t)kb * pl->P + p;
    for (int l = 0; l < nk; l++) o[(int64_t)l * pl->P] = t[l];
    return;
  }
  int64_t q[8];
  _mm256_storeu_si256((__m256i *)q, ik_rq4_avx2(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(v)), e, kb));
  _mm256_storeu_si256((__m256i *)(q + 4), ik_rq4_avx2(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(v, 1)), e, kb + 4));
  if (e->y_nhwc) { /* channels-last: the pixel's channels are consecutive */
    uint8_t *yo = (uint8_t *)y + p * pl->K + kb;
    for (int l = 0; l < nk; l++) yo[l] = (uint8_t)q[l];
    return;
  }
  uint8_t *yo = (uint8_t *)y + (int64_t)kb * pl->P + p;
  for (int l = 0; l < nk; l++) yo[(int64_t)l * pl->P] = (uint8_t)q[l];
}

static inline __attribute__((always_inline)) void tile_nk(const ik_plan *pl, const int16_t *w, const int16_t *img,
                                                          int oh, int ow0, const int NP, const int NKV, int kv0,
                                                          const ik_epi *e, int32_t *acc, void *y) {
  __m256i a[8][2];
  #pragma GCC unroll 8
  for (int j = 0; j < NP; j++)
    #pragma GCC unroll 8
    for (int g = 0; g < NKV; g++) a[j][g] = _mm256_setzero_si256();
  const int64_t cp = pl->Cp, pstep = (int64_t)pl->sw * cp;
  const int16_t *base = img + ((int64_t)oh * pl->sh * pl->Wp + (int64_t)ow0 * pl->sw) * cp;
  const int c2n = pl->Cp / 2;
  const int16_t *wp = w;
  for (int r = 0; r < pl->R; r++)
    for (int s = 0; s < pl->S; s++) {
      const int16_t *xp = base + ((int64_t)r * pl->dh * pl->Wp + (int64_t)s * pl->dw) * cp;
      for (int c2 = 0; c2 < c2n; c2++, wp += NKV * 16) {
        __m256i wv[2];
        #pragma GCC unroll 8
        for (int g = 0; g < NKV; g++) wv[g] = _mm256_loadu_si256((const __m256i *)(wp + g * 16));
        #pragma GCC unroll 8
        for (int j = 0; j < NP; j++) {
          __m256i b = bcast2(xp + j * pstep + 2 * c2);
          #pragma GCC unroll 8
          for (int g = 0; g < NKV; g++) a[j][g] = _mm256_add_epi32(a[j][g], _mm256_madd_epi16(b, wv[g]));
        }
      }
    }
  const int64_t p0 = (int64_t)oh * pl->OW + ow0;
  #pragma GCC unroll 8
  for (int j = 0; j < NP; j++)
    #pragma GCC unroll 8
    for (int g = 0; g < NKV; g++) epilogue(pl, e, a[j][g], (kv0 + g) * 8, p0 + j, acc, y);
}

#define IK_CASE(NKV, NP) \
  case (NKV) * 16 + (NP): tile_nk(pl, wl, img, oh, ow, NP, NKV, kv0, e, acc, y); break;
#define IK_CASES(NKV) \
  IK_CASE(NKV, 1) IK_CASE(NKV, 2) IK_CASE(NKV, 3) IK_CASE(NKV, 4) IK_CASE(NKV, 5) IK_CASE(NKV, 6) IK_CASE(NKV, 7) IK_CASE(NKV, 8)

void ik_tile_avx2(const ik_plan *pl, const void *wl, const void *img, int oh, int ow0, int np, int kv0, int nkv,
                  const ik_epi *e, int32_t *acc, void *y) {
  const int npmax = nkv == 1 ? 8 : 6; /* 16 ymm registers */
  for (int ow = ow0; ow < ow0 + np;) {
    int cnt = ow0 + np - ow < npmax ? ow0 + np - ow : npmax;
    switch (nkv * 16 + cnt) {
      IK_CASES(1)
      IK_CASES(2)
    default: break;
    }
    ow += cnt;
  }
}

#pragma GCC pop_options
