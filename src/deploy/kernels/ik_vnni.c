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
#include "deploy/kernels/ik_vnni_epi.h"

static inline __m512i bcast4(const uint8_t *p) { return _mm512_set1_epi32(*(const ik_i32u *)p); }

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
    __m512i px[16];
    #pragma GCC unroll 16
    for (int j = 0; j < NP; j++) px[j] = a[j][g];
    ik_epi_pixels(pl, e, px, NP, (kv0 + g) * 16, p0, acc, y);
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
