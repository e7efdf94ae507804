/* Binary (+-1) outputs on x86, bit-exact twins of ik_binarize.c and of the bit packing the
 * XNOR-popcount convolution reads (lowbit/ikernel.h).
 *
 * conv/linear: with M >= 0 the sign of p = acc * M + bias_p is a threshold on acc:
 * p >= 0 exactly when acc >= ceil(-bias_p / M) = -floor(bias_p / M), and with the channel's
 * sign flipped (-p >= 0) when acc <= floor(-bias_p / M). Each channel becomes one int32 compare
 * (16 AVX-512 or 8 AVX2 lanes) choosing between its two clamped codes; thresholds are computed
 * in int64 and a channel whose threshold lies outside int32 gets one code everywhere.
 * add / rescale: p = (x1 - z1) M1 + (x2 - z2) M2 in int64 lanes (vpmuldq, as the requantizing
 * add), then its sign.
 * pack: per group of 8 channels, the OR over its planes of (x >= 0 ? 1 << (c & 7) : 0) gives
 * the group's byte for 64 (32) pixels at once; several groups are interleaved per pixel. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "deploy/kernels/ik_simd.h"

static inline int8_t clamp_code(int32_t v, int32_t lo, int32_t hi) { return (int8_t)(v < lo ? lo : v > hi ? hi : v); }

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Channel j's rule: y = acc >= t ? above : below. */
typedef struct sign_rule {
  int32_t t;
  int8_t above, below;
} sign_rule;

static sign_rule channel_rule(int64_t bp, int32_t M, int neg, int32_t lo, int32_t hi) {
  int8_t plus = clamp_code(1, lo, hi), minus = clamp_code(-1, lo, hi);
  sign_rule r = {INT32_MIN, plus, minus};
  int64_t t;
  if (M == 0) { /* p = bias_p everywhere */
    r.above = r.below = (neg ? -bp : bp) >= 0 ? plus : minus;
    return r;
  }
  if (!neg) {
    t = -floor_div(bp, M);
  } else { /* acc <= floor(-bp / M): +1 below the threshold */
    t = floor_div(-bp, M) + 1;
    r.above = minus;
    r.below = plus;
  }
  if (t > INT32_MAX) r.above = r.below; /* no int32 acc reaches it */
  else if (t > INT32_MIN) r.t = (int32_t)t;
  return r; /* t <= INT32_MIN: every acc is above (r.t = INT32_MIN) */
}

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl")
static void acc_plane512(const int32_t *acc, int64_t hw, sign_rule r, int8_t *y) {
  const __m512i t = _mm512_set1_epi32(r.t);
  const __m128i up = _mm_set1_epi8(r.above), dn = _mm_set1_epi8(r.below);
  for (int64_t i = 0; i < hw; i += 16) {
    __mmask16 m = hw - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (hw - i)) - 1u);
    __mmask16 ge = _mm512_mask_cmpge_epi32_mask(m, _mm512_maskz_loadu_epi32(m, acc + i), t);
    _mm_mask_storeu_epi8(y + i, m, _mm_mask_blend_epi8(ge, dn, up));
  }
}

static inline __m512i codes8(const void *x, int64_t i, int sgn) {
  __m128i b = _mm_loadl_epi64((const __m128i *)((const uint8_t *)x + i));
  return sgn ? _mm512_cvtepi8_epi64(b) : _mm512_cvtepu8_epi64(b);
}

static void add512(int64_t n, const void *x1, int s1, int32_t z1, int32_t M1, const void *x2, int s2, int32_t z2,
                   int32_t M2, int8_t plus, int8_t minus, int8_t *y) {
  const __m512i m1 = _mm512_set1_epi64(M1), m2 = _mm512_set1_epi64(M2), zero = _mm512_setzero_si512();
  const __m512i cz = _mm512_set1_epi64(-((int64_t)z1 * M1 + (int64_t)z2 * M2));
  const __m128i up = _mm_set1_epi8(plus), dn = _mm_set1_epi8(minus);
  const int64_t nv = n / 8 * 8;
#pragma omp parallel for schedule(static) if (n >= 262144)
  for (int64_t i = 0; i < nv; i += 8) {
    __m512i p = _mm512_add_epi64(_mm512_mul_epi32(codes8(x1, i, s1), m1), _mm512_mul_epi32(codes8(x2, i, s2), m2));
    __mmask8 ge = _mm512_cmpge_epi64_mask(_mm512_add_epi64(p, cz), zero);
    _mm_storel_epi64((__m128i *)(y + i), _mm_mask_blend_epi8((__mmask16)ge, dn, up));
  }
}

/* Group g's byte (channels 8g..8g+7 of image b) for pixels [p, p + cnt), cnt <= 64. */
static __m512i group_bytes512(const int8_t *xb, int c, int64_t hw, int g, int64_t p, int64_t cnt) {
  __mmask64 m = cnt >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << cnt) - 1);
  __m512i v = _mm512_setzero_si512();
  for (int ch = 8 * g; ch < c && ch < 8 * g + 8; ch++) {
    __mmask64 pos = _mm512_mask_cmpge_epi8_mask(m, _mm512_maskz_loadu_epi8(m, xb + (int64_t)ch * hw + p),
                                                _mm512_setzero_si512());
    v = _mm512_or_si512(v, _mm512_maskz_mov_epi8(pos, _mm512_set1_epi8((char)(1 << (ch & 7)))));
  }
  return v;
}

static void pack512(int n, int c, int64_t hw, const int8_t *x, uint8_t *xbits) {
  const int cb = (c + 7) / 8;
#pragma omp parallel for schedule(static) if ((int64_t)n * c * hw >= 262144)
  for (int b = 0; b < n; b++) {
    const int8_t *xb = x + (int64_t)b * c * hw;
    uint8_t *ob = xbits + (int64_t)b * hw * cb;
    for (int64_t p = 0; p < hw; p += 64) {
      int64_t cnt = hw - p < 64 ? hw - p : 64;
      if (cb == 1) {
        __mmask64 m = cnt >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << cnt) - 1);
        _mm512_mask_storeu_epi8(ob + p, m, group_bytes512(xb, c, hw, 0, p, cnt));
        continue;
      }
      uint8_t tmp[64];
      for (int g = 0; g < cb; g++) { /* each pixel's cb bytes are consecutive */
        _mm512_storeu_si512(tmp, group_bytes512(xb, c, hw, g, p, cnt));
        for (int64_t q = 0; q < cnt; q++) ob[(p + q) * cb + g] = tmp[q];
      }
    }
  }
}
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
static void acc_plane256(const int32_t *acc, int64_t hw, sign_rule r, int8_t *y) {
  const __m256i t = _mm256_set1_epi32(r.t), up = _mm256_set1_epi32(r.above), dn = _mm256_set1_epi32(r.below);
  int64_t i = 0;
  for (; i + 8 <= hw; i += 8) {
    __m256i a = _mm256_loadu_si256((const __m256i *)(acc + i));
    __m256i v = _mm256_blendv_epi8(up, dn, _mm256_cmpgt_epi32(t, a)); /* t > acc: below */
    __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    _mm_storel_epi64((__m128i *)(y + i), _mm_packs_epi16(w, w));
  }
  for (; i < hw; i++) y[i] = acc[i] >= r.t ? r.above : r.below;
}

static inline __m256i codes4(const void *x, int64_t i, int sgn) {
  int32_t v;
  memcpy(&v, (const uint8_t *)x + i, 4);
  __m128i b = _mm_cvtsi32_si128(v);
  return sgn ? _mm256_cvtepi8_epi64(b) : _mm256_cvtepu8_epi64(b);
}

static void add256(int64_t n, const void *x1, int s1, int32_t z1, int32_t M1, const void *x2, int s2, int32_t z2,
                   int32_t M2, int8_t plus, int8_t minus, int8_t *y) {
  const __m256i m1 = _mm256_set1_epi64x(M1), m2 = _mm256_set1_epi64x(M2), zero = _mm256_setzero_si256();
  const __m256i cz = _mm256_set1_epi64x(-((int64_t)z1 * M1 + (int64_t)z2 * M2));
#pragma omp parallel for schedule(static) if (n >= 262144)
  for (int64_t i = 0; i < n / 4 * 4; i += 4) {
    __m256i p = _mm256_add_epi64(_mm256_mul_epi32(codes4(x1, i, s1), m1), _mm256_mul_epi32(codes4(x2, i, s2), m2));
    int neg = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(zero, _mm256_add_epi64(p, cz))));
    for (int j = 0; j < 4; j++) y[i + j] = (neg >> j) & 1 ? minus : plus;
  }
}

static __m256i group_bytes256(const int8_t *xb, int c, int64_t hw, int g, int64_t p) {
  __m256i v = _mm256_setzero_si256();
  const __m256i none = _mm256_set1_epi8(-1);
  for (int ch = 8 * g; ch < c && ch < 8 * g + 8; ch++) {
    __m256i xv = _mm256_loadu_si256((const __m256i *)(xb + (int64_t)ch * hw + p));
    v = _mm256_or_si256(v, _mm256_and_si256(_mm256_cmpgt_epi8(xv, none), _mm256_set1_epi8((char)(1 << (ch & 7)))));
  }
  return v;
}

static void pack256(int n, int c, int64_t hw, const int8_t *x, uint8_t *xbits) {
  const int cb = (c + 7) / 8;
#pragma omp parallel for schedule(static) if ((int64_t)n * c * hw >= 262144)
  for (int b = 0; b < n; b++) {
    const int8_t *xb = x + (int64_t)b * c * hw;
    uint8_t *ob = xbits + (int64_t)b * hw * cb;
    int64_t p = 0;
    for (; p + 32 <= hw; p += 32)
      for (int g = 0; g < cb; g++) {
        uint8_t tmp[32];
        _mm256_storeu_si256((__m256i *)tmp, group_bytes256(xb, c, hw, g, p));
        for (int q = 0; q < 32; q++) ob[(p + q) * cb + g] = tmp[q];
      }
    for (; p < hw; p++) /* the tail: the reference's rule */
      for (int g = 0; g < cb; g++) {
        uint8_t v = 0;
        for (int ch = 8 * g; ch < c && ch < 8 * g + 8; ch++) v |= (uint8_t)((xb[(int64_t)ch * hw + p] >= 0) << (ch & 7));
        ob[p * cb + g] = v;
      }
  }
}
#pragma GCC pop_options

int ik_binarize_acc_opt(lb_ik_isa isa, int n, int k, int64_t hw, const int32_t *acc, const int64_t *bias_p,
                        const int32_t *M, const int32_t *neg, int32_t lo, int32_t hi, int8_t *y) {
  if (isa == LB_IK_REF) return 0;
  for (int j = 0; j < k; j++)
    if (M[j] < 0) return 0; /* the thresholds assume a non-negative multiplier (lowering's) */
  const int64_t planes = (int64_t)n * k;
#pragma omp parallel for schedule(static) if (planes * hw >= 262144)
  for (int64_t pl = 0; pl < planes; pl++) {
    int j = (int)(pl % k);
    sign_rule r = channel_rule(bias_p ? bias_p[j] : 0, M[j], neg && neg[j], lo, hi);
    if (isa >= LB_IK_AVX512VNNI) acc_plane512(acc + pl * hw, hw, r, y + pl * hw);
    else acc_plane256(acc + pl * hw, hw, r, y + pl * hw);
  }
  return 1;
}

int ik_binarize_add_opt(lb_ik_isa isa, int64_t n, const void *x1, int x1_signed, int32_t z1, int32_t M1,
                        const void *x2, int x2_signed, int32_t z2, int32_t M2, int32_t lo, int32_t hi, int8_t *y) {
  /* the vector path multiplies x - z in 32 bits: zero points must keep it small */
  if (isa == LB_IK_REF || z1 < -65536 || z1 > 65536 || z2 < -65536 || z2 > 65536) return 0;
  int8_t plus = clamp_code(1, lo, hi), minus = clamp_code(-1, lo, hi);
  int64_t done = isa >= LB_IK_AVX512VNNI ? n / 8 * 8 : n / 4 * 4;
  if (isa >= LB_IK_AVX512VNNI) add512(n, x1, x1_signed, z1, M1, x2, x2_signed, z2, M2, plus, minus, y);
  else add256(n, x1, x1_signed, z1, M1, x2, x2_signed, z2, M2, plus, minus, y);
  for (int64_t i = done; i < n; i++) { /* the tail: the definition */
    int32_t a = x1_signed ? ((const int8_t *)x1)[i] : ((const uint8_t *)x1)[i];
    int32_t b = x2_signed ? ((const int8_t *)x2)[i] : ((const uint8_t *)x2)[i];
    y[i] = (int64_t)(a - z1) * M1 + (int64_t)(b - z2) * M2 >= 0 ? plus : minus;
  }
  return 1;
}

int ik_pack_binary_opt(lb_ik_isa isa, int n, int c, int h, int w, const int8_t *x, uint8_t *xbits) {
  if (isa == LB_IK_REF) return 0;
  if (isa >= LB_IK_AVX512VNNI) pack512(n, c, (int64_t)h * w, x, xbits);
  else pack256(n, c, (int64_t)h * w, x, xbits);
  return 1;
}
