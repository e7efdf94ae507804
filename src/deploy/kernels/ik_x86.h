/* Private: vector requantization shared by the x86 variants. Lanes hold int64 a = acc; the
 * result is clamp(zp + rshift_rne(a * M + biasm, s), lo, hi) per lane, exactly lb_requant_acc. Rounding
 * is floor shift plus one when the dropped bits exceed half, or equal it with an odd quotient;
 * s = 0 lanes carry mask 0 and half INT64_MAX so they never round. */
#ifndef LOWBIT_IK_X86_H
#define LOWBIT_IK_X86_H

#include <immintrin.h>
#include <string.h>

#include "deploy/kernels/ik_nhwc.h"

/* an unaligned int32 that may alias bytes: lets the compiler fold a broadcast into its load */
typedef int32_t ik_i32u __attribute__((may_alias, aligned(1)));

/* Transposes 8 pixels x 16 channels of bytes (rows[j] = pixel j's channels) and writes channel
 * k's np consecutive pixels to dst + k * stride, for k < nk: 24 unpacks instead of 128 byte
 * stores. */
static inline __attribute__((always_inline)) void ik_store_k16xnp(uint8_t *dst, int64_t stride, int nk, const int np,
                                                                  const __m128i rows[8]) {
  __m128i t[8], u[8], w[8];
  for (int i = 0; i < 4; i++) {
    t[2 * i] = _mm_unpacklo_epi8(rows[2 * i], rows[2 * i + 1]);     /* k0..7: pixel pairs */
    t[2 * i + 1] = _mm_unpackhi_epi8(rows[2 * i], rows[2 * i + 1]); /* k8..15 */
  }
  for (int i = 0; i < 2; i++) {
    u[4 * i + 0] = _mm_unpacklo_epi16(t[4 * i + 0], t[4 * i + 2]); /* k0..3, 4 pixels */
    u[4 * i + 1] = _mm_unpackhi_epi16(t[4 * i + 0], t[4 * i + 2]); /* k4..7 */
    u[4 * i + 2] = _mm_unpacklo_epi16(t[4 * i + 1], t[4 * i + 3]); /* k8..11 */
    u[4 * i + 3] = _mm_unpackhi_epi16(t[4 * i + 1], t[4 * i + 3]); /* k12..15 */
  }
  for (int i = 0; i < 4; i++) {
    w[2 * i] = _mm_unpacklo_epi32(u[i], u[4 + i]);     /* k 4i, 4i+1: 8 pixels each */
    w[2 * i + 1] = _mm_unpackhi_epi32(u[i], u[4 + i]); /* k 4i+2, 4i+3 */
  }
  uint8_t b[128]; /* w[i] holds channel 2i in its low 8 bytes and 2i+1 in its high 8 */
  for (int i = 0; i < 8; i++) _mm_storeu_si128((__m128i *)(b + 16 * i), w[i]);
  for (int k = 0; k < nk; k++) memcpy(dst + k * stride, b + 8 * k, (size_t)np);
}

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl")
/* 8 lanes of channels k.. (per-lane terms from e); a = the int32 accumulator sign-extended.
 * acc * M + biasm: one 32x32->64 multiply (vpmuldq) plus the bias in product units, exact in
 * int64 (each part is below 2^62). */
static inline __m512i ik_rq8_avx512(__m512i a, const ik_epi *e, int k) {
  const __m512i one = _mm512_set1_epi64(1);
  __m512i p = _mm512_add_epi64(_mm512_mul_epi32(a, _mm512_loadu_si512(e->mul + k)), _mm512_loadu_si512(e->biasm + k));
  __m512i q = _mm512_srav_epi64(p, _mm512_loadu_si512(e->shift + k));
  __m512i r = _mm512_and_si512(p, _mm512_loadu_si512(e->mask + k));
  __m512i half = _mm512_loadu_si512(e->half + k);
  __mmask8 inc = _mm512_cmpgt_epi64_mask(r, half) | (_mm512_cmpeq_epi64_mask(r, half) & _mm512_test_epi64_mask(q, one));
  q = _mm512_mask_add_epi64(q, inc, q, one);
  q = _mm512_add_epi64(q, _mm512_set1_epi64(e->zp));
  q = _mm512_max_epi64(q, _mm512_set1_epi64(e->lo));
  return _mm512_min_epi64(q, _mm512_set1_epi64(e->hi));
}
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
/* 4 lanes of p -> clamp(zp + rshift_rne(p, s), lo, hi) with per-lane terms from e at k */
static inline __m256i ik_rne_clamp4(__m256i p, const ik_epi *e, int k) {
  const __m256i one = _mm256_set1_epi64x(1), zero = _mm256_setzero_si256();
  __m256i sign = _mm256_cmpgt_epi64(zero, p);
  __m256i q = _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(p, sign), _mm256_loadu_si256((const __m256i *)(e->shift + k))), sign);
  __m256i r = _mm256_and_si256(p, _mm256_loadu_si256((const __m256i *)(e->mask + k)));
  __m256i half = _mm256_loadu_si256((const __m256i *)(e->half + k));
  __m256i odd = _mm256_cmpeq_epi64(_mm256_and_si256(q, one), one);
  __m256i inc = _mm256_or_si256(_mm256_cmpgt_epi64(r, half), _mm256_and_si256(_mm256_cmpeq_epi64(r, half), odd));
  q = _mm256_sub_epi64(q, inc); /* inc is -1 where it rounds up */
  q = _mm256_add_epi64(q, _mm256_set1_epi64x(e->zp));
  __m256i lo = _mm256_set1_epi64x(e->lo), hi = _mm256_set1_epi64x(e->hi);
  q = _mm256_blendv_epi8(q, lo, _mm256_cmpgt_epi64(lo, q));
  return _mm256_blendv_epi8(q, hi, _mm256_cmpgt_epi64(q, hi));
}

/* 4 lanes: p = a * M + biasm (a fits int32: a 32x32->64 multiply), then the rounding shift
 * (arithmetic right shift built from a logical one: ~(~p >> s) for negative p). */
static inline __m256i ik_rq4_avx2(__m256i a, const ik_epi *e, int k) {
  __m256i p = _mm256_add_epi64(_mm256_mul_epi32(a, _mm256_loadu_si256((const __m256i *)(e->mul + k))),
                               _mm256_loadu_si256((const __m256i *)(e->biasm + k)));
  return ik_rne_clamp4(p, e, k);
}
#pragma GCC pop_options

#endif
