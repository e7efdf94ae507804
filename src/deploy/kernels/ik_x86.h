/* Private: vector requantization shared by the x86 variants. Lanes hold int64 a = acc (+ bias);
 * the result is clamp(zp + rshift_rne(a * M, s), lo, hi) per lane, exactly lb_requant. Rounding
 * is floor shift plus one when the dropped bits exceed half, or equal it with an odd quotient;
 * s = 0 lanes carry mask 0 and half INT64_MAX so they never round. */
#ifndef LOWBIT_IK_X86_H
#define LOWBIT_IK_X86_H

#include <immintrin.h>

#include "deploy/kernels/ik_nhwc.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl")
/* 8 lanes of channels k.. (per-lane terms from e), a without bias */
static inline __m512i ik_rq8_avx512(__m512i a, const ik_epi *e, int k) {
  const __m512i one = _mm512_set1_epi64(1);
  a = _mm512_add_epi64(a, _mm512_loadu_si512(e->bias + k));
  __m512i p = _mm512_mullo_epi64(a, _mm512_loadu_si512(e->mul + k));
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
/* 4 lanes: p = a * M + bias*M (a fits int32: a 32x32->64 multiply), then the rounding shift
 * (arithmetic right shift built from a logical one: ~(~p >> s) for negative p). */
static inline __m256i ik_rq4_avx2(__m256i a, const ik_epi *e, int k) {
  const __m256i one = _mm256_set1_epi64x(1), zero = _mm256_setzero_si256();
  __m256i p = _mm256_add_epi64(_mm256_mul_epi32(a, _mm256_loadu_si256((const __m256i *)(e->mul + k))),
                               _mm256_loadu_si256((const __m256i *)(e->biasm + k)));
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
#pragma GCC pop_options

#endif
