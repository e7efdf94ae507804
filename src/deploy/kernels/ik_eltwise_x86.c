/* Element-wise integer ops on x86: requant (a 32x32->64 multiply plus the bias in product
 * units, AVX-512 8 or AVX2 4 int64 lanes), residual add (AVX-512 8 or AVX2 4 int64 lanes), global average pool
 * (AVX-512 vpsadbw), input quantization (AVX-512) and max pool (AVX2: vertical
 * max of whole input rows 32 bytes at a time, then the window's columns). The rounding is
 * ik_x86.h's, the same as lb_requant; tails run the scalar definition. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "deploy/kernels/ik_simd.h"
#include "deploy/kernels/ik_x86.h"

static inline int32_t ld8(const void *x, int64_t i, int sgn) {
  return sgn ? (int32_t)((const int8_t *)x)[i] : (int32_t)((const uint8_t *)x)[i];
}

/* per-lane terms for one channel, replicated over 8 lanes */
typedef struct rq_terms {
  int64_t biasm[8], mul[8], shift[8], mask[8], half[8];
  ik_epi e;
} rq_terms;

static void terms(rq_terms *t, int64_t bias_p, int32_t M, int s, int32_t zp, int32_t lo, int32_t hi) {
  for (int i = 0; i < 8; i++) {
    t->mul[i] = M;
    t->biasm[i] = bias_p;
    t->shift[i] = s;
    t->mask[i] = s > 0 ? (int64_t)(((uint64_t)1 << s) - 1) : 0;
    t->half[i] = s > 0 ? (int64_t)1 << (s - 1) : INT64_MAX;
  }
  memset(&t->e, 0, sizeof t->e);
  t->e.biasm = t->biasm, t->e.mul = t->mul, t->e.shift = t->shift, t->e.mask = t->mask;
  t->e.half = t->half, t->e.zp = zp, t->e.lo = lo, t->e.hi = hi;
}

/* the scalar definition for elements [i, hw) */
static void rq_tail(const int32_t *acc, int64_t i, int64_t hw, const rq_terms *t, uint8_t *y) {
  for (; i < hw; i++)
    y[i] = (uint8_t)lb_requant_acc(acc[i], t->biasm[0], (int32_t)t->mul[0], (int)t->shift[0], t->e.zp, t->e.lo, t->e.hi);
}

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl")
static void requant_plane512(const int32_t *acc, int64_t hw, const rq_terms *t, uint8_t *y) {
  int64_t i = 0;
  for (; i + 8 <= hw; i += 8) {
    __m512i q = ik_rq8_avx512(_mm512_cvtepi32_epi64(_mm256_loadu_si256((const __m256i *)(acc + i))), &t->e, 0);
    _mm_storel_epi64((__m128i *)(y + i), _mm512_cvtepi64_epi8(q));
  }
  rq_tail(acc, i, hw, t, y);
}
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl")
/* Residual add: p = x1 * M1 + x2 * M2 + cz with cz = -(z1 * M1 + z2 * M2), |p| < 2^50 (the
 * caller keeps |z| <= 65536), then zy + p / 2^s rounded to nearest, ties to even, clamped. */
/* The same sum in doubles, 16 codes per step: with m = M * 2^-s and c = cz * 2^-s (exact: a
 * power-of-two scaling), a = x1 * m1 + (x2 * m2 + c) is p * 2^-s without rounding, since every
 * term and partial sum is an integer multiple of 2^-s below 2^50 * 2^-s (53 bits hold it).
 * Clamping a to [lo - zy, hi - zy] and converting with round-to-nearest-even then gives
 * clamp(zy + rshift_rne(p, s)) - zy, the int64 path's result, in about half the instructions. */
static inline __m512d add_half(__m512i x1, __m512i x2, int upper, __m512d m1, __m512d m2, __m512d c, __m512d dlo,
                               __m512d dhi) {
  __m256i a = upper ? _mm512_extracti64x4_epi64(x1, 1) : _mm512_castsi512_si256(x1);
  __m256i b = upper ? _mm512_extracti64x4_epi64(x2, 1) : _mm512_castsi512_si256(x2);
  __m512d v = _mm512_fmadd_pd(_mm512_cvtepi32_pd(a), m1, _mm512_fmadd_pd(_mm512_cvtepi32_pd(b), m2, c));
  return _mm512_min_pd(_mm512_max_pd(v, dlo), dhi);
}

static inline __m512i codes16(const void *x, int64_t i, int sgn) {
  __m128i b = _mm_loadu_si128((const __m128i *)((const uint8_t *)x + i));
  return sgn ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
}

static void add512(int64_t n, const void *x1, int s1, int32_t z1, int32_t M1, const void *x2, int s2, int32_t z2,
                   int32_t M2, int s, int32_t zy, int32_t lo, int32_t hi, uint8_t *y) {
  const int64_t cz = -((int64_t)z1 * M1 + (int64_t)z2 * M2);
  const __m512d m1 = _mm512_set1_pd(ldexp((double)M1, -s)), m2 = _mm512_set1_pd(ldexp((double)M2, -s));
  const __m512d c = _mm512_set1_pd(ldexp((double)cz, -s));
  const __m512d dlo = _mm512_set1_pd((double)lo - zy), dhi = _mm512_set1_pd((double)hi - zy);
  const __m512i vz = _mm512_set1_epi32(zy);
  const int64_t nv = n / 16 * 16;
#pragma omp parallel for schedule(static) if (n >= 262144)
  for (int64_t i = 0; i < nv; i += 16) {
    __m512i a = codes16(x1, i, s1), b = codes16(x2, i, s2);
    __m256i r0 = _mm512_cvt_roundpd_epi32(add_half(a, b, 0, m1, m2, c, dlo, dhi), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256i r1 = _mm512_cvt_roundpd_epi32(add_half(a, b, 1, m1, m2, c, dlo, dhi), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512i q = _mm512_add_epi32(_mm512_inserti64x4(_mm512_castsi256_si512(r0), r1, 1), vz);
    _mm_storeu_si128((__m128i *)(y + i), _mm512_cvtepi32_epi8(q));
  }
  for (int64_t i = nv; i < n; i++) {
    int64_t p = (int64_t)(ld8(x1, i, s1) - z1) * M1 + (int64_t)(ld8(x2, i, s2) - z2) * M2;
    int64_t v = (int64_t)zy + lb_rshift_rne(p, s);
    y[i] = (uint8_t)(v < lo ? lo : v > hi ? hi : v);
  }
}
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl")
/* Global average pool: each plane's code sum with vpsadbw (int8 codes moved to uint8 by +128,
 * taken back as 128 * hw), then the scalar requant of the plane's sum. */
static void gap512(int64_t planes, int64_t hw, const void *x, int sgn, int32_t zx, int32_t M, int s, int32_t zy,
                   int32_t lo, int32_t hi, uint8_t *y) {
  const __m512i flip = _mm512_set1_epi8(sgn ? (char)0x80 : 0), zero = _mm512_setzero_si512();
#pragma omp parallel for schedule(static) if (planes * hw >= 65536)
  for (int64_t pl = 0; pl < planes; pl++) {
    const uint8_t *xp = (const uint8_t *)x + pl * hw;
    __m512i acc = _mm512_setzero_si512();
    for (int64_t i = 0; i < hw; i += 64) {
      int64_t left = hw - i;
      __mmask64 m = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
      __m512i v = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, xp + i), flip);
      acc = _mm512_add_epi64(acc, _mm512_sad_epu8(_mm512_maskz_mov_epi8(m, v), zero));
    }
    int64_t a = _mm512_reduce_add_epi64(acc) - (sgn ? 128 * hw : 0) - (int64_t)zx * hw;
    y[pl] = (uint8_t)lb_requant(a, M, s, zy, lo, hi);
  }
}
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl")
/* Input quantization, 16 floats at a time with the reference's operations in its order: the
 * float product, rounding in the current mode (as rintf), the float add of zp; NaN -> zp. */
static int64_t quantize512(int64_t n, const float *x, float inv, int32_t zp, int32_t lo, int32_t hi, uint8_t *y) {
  const __m512 vinv = _mm512_set1_ps(inv), fzp = _mm512_set1_ps((float)zp);
  const __m512 flo = _mm512_set1_ps((float)lo), fhi = _mm512_set1_ps((float)hi);
  const __m512i vzp = _mm512_set1_epi32(zp);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 r = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), vinv), _MM_FROUND_CUR_DIRECTION);
    r = _mm512_add_ps(r, fzp);
    __mmask16 nan = _mm512_cmp_ps_mask(r, r, _CMP_UNORD_Q);
    __m512i q = _mm512_cvttps_epi32(_mm512_min_ps(_mm512_max_ps(r, flo), fhi));
    _mm_storeu_si128((__m128i *)(y + i), _mm512_cvtepi32_epi8(_mm512_mask_mov_epi32(q, nan, vzp)));
  }
  return i;
}
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
static void requant_plane256(const int32_t *acc, int64_t hw, const rq_terms *t, uint8_t *y) {
  int64_t i = 0;
  for (; i + 4 <= hw; i += 4) {
    __m256i q = ik_rq4_avx2(_mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)(acc + i))), &t->e, 0);
    int64_t o[4];
    _mm256_storeu_si256((__m256i *)o, q);
    for (int j = 0; j < 4; j++) y[i + j] = (uint8_t)o[j];
  }
  rq_tail(acc, i, hw, t, y);
}

/* 4 codes at x + i as int64 lanes minus z */
static inline __m256i codes4(const void *x, int64_t i, int sgn, int32_t z) {
  int32_t v;
  memcpy(&v, (const uint8_t *)x + i, 4);
  __m128i b = _mm_cvtsi32_si128(v);
  __m256i w = sgn ? _mm256_cvtepi8_epi64(b) : _mm256_cvtepu8_epi64(b);
  return _mm256_sub_epi64(w, _mm256_set1_epi64x(z));
}

static void add256(int64_t n, const void *x1, int s1, int32_t z1, int32_t M1, const void *x2, int s2, int32_t z2,
                   int32_t M2, const rq_terms *t, uint8_t *y) {
  const __m256i m1 = _mm256_set1_epi64x(M1), m2 = _mm256_set1_epi64x(M2);
#pragma omp parallel for schedule(static) if (n >= 262144)
  for (int64_t i = 0; i < n / 4 * 4; i += 4) {
    /* |x - z| < 2^9 and M < 2^31: the signed 32x32 multiply is exact */
    __m256i p = _mm256_add_epi64(_mm256_mul_epi32(codes4(x1, i, s1, z1), m1), _mm256_mul_epi32(codes4(x2, i, s2, z2), m2));
    int64_t o[4];
    _mm256_storeu_si256((__m256i *)o, ik_rne_clamp4(p, &t->e, 0));
    for (int j = 0; j < 4; j++) y[i + j] = (uint8_t)o[j];
  }
  for (int64_t i = n / 4 * 4; i < n; i++) {
    int64_t p = (int64_t)(ld8(x1, i, s1) - z1) * M1 + (int64_t)(ld8(x2, i, s2) - z2) * M2;
    int64_t v = (int64_t)t->e.zp + lb_rshift_rne(p, (int)t->shift[0]);
    y[i] = (uint8_t)(v < t->e.lo ? t->e.lo : v > t->e.hi ? t->e.hi : v);
  }
}

#define IK_POOL_ROW 4096 /* widest input row the vector max pool takes (a stack buffer) */

static void maxpool256(const lb_pool_desc *d, const void *x, int sgn, void *y) {
  const int64_t planes = (int64_t)d->n * d->c, in = (int64_t)d->h * d->w, on = (int64_t)d->oh * d->ow;
  const __m256i flip = _mm256_set1_epi8(sgn ? (char)0x80 : 0);
#pragma omp parallel for schedule(static) if (planes * in >= 262144)
  for (int64_t pl = 0; pl < planes; pl++) {
    /* codes moved to an unsigned order (int8 + 128) so one unsigned max serves both types */
    uint8_t row[IK_POOL_ROW];
    const uint8_t *xp = (const uint8_t *)x + pl * in;
    uint8_t *yp = (uint8_t *)y + pl * on;
    for (int oh = 0; oh < d->oh; oh++) {
      int h0 = oh * d->stride_h - d->pad_h, h1 = h0 + d->kh;
      if (h0 < 0) h0 = 0;
      if (h1 > d->h) h1 = d->h;
      int w = 0;
      for (; w + 32 <= d->w; w += 32) {
        __m256i m = _mm256_setzero_si256();
        for (int h = h0; h < h1; h++)
          m = _mm256_max_epu8(m, _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(xp + (int64_t)h * d->w + w)), flip));
        _mm256_storeu_si256((__m256i *)(row + w), m);
      }
      for (; w < d->w; w++) {
        uint8_t m = 0;
        for (int h = h0; h < h1; h++) {
          uint8_t v = (uint8_t)(xp[(int64_t)h * d->w + w] ^ (sgn ? 0x80 : 0));
          if (v > m) m = v;
        }
        row[w] = m;
      }
      for (int ow = 0; ow < d->ow; ow++) {
        int w0 = ow * d->stride_w - d->pad_w, w1 = w0 + d->kw;
        if (w0 < 0) w0 = 0;
        if (w1 > d->w) w1 = d->w;
        uint8_t m = 0;
        for (int q = w0; q < w1; q++)
          if (row[q] > m) m = row[q];
        yp[(int64_t)oh * d->ow + ow] = (uint8_t)(m ^ (sgn ? 0x80 : 0));
      }
    }
  }
}
#pragma GCC pop_options

int ik_requant_opt(lb_ik_isa isa, int n, int k, int64_t hw, const int32_t *acc, const int64_t *bias_p,
                   const int32_t *M, const int *s, int32_t zp, int32_t lo, int32_t hi, int y_signed, void *y) {
  (void)y_signed; /* lo/hi are inside the output type: its low byte is the code either way */
  if (isa == LB_IK_REF) return 0;
  const int64_t planes = (int64_t)n * k;
#pragma omp parallel for schedule(static) if (planes * hw >= 262144)
  for (int64_t pl = 0; pl < planes; pl++) {
    int ch = (int)(pl % k);
    rq_terms t;
    terms(&t, bias_p ? bias_p[ch] : 0, M[ch], s[ch], zp, lo, hi);
    if (isa >= LB_IK_AVX512VNNI) requant_plane512(acc + pl * hw, hw, &t, (uint8_t *)y + pl * hw);
    else requant_plane256(acc + pl * hw, hw, &t, (uint8_t *)y + pl * hw);
  }
  return 1;
}

int ik_add_opt(lb_ik_isa isa, int64_t n, const void *x1, int x1_signed, int32_t z1, int32_t M1, const void *x2,
               int x2_signed, int32_t z2, int32_t M2, int s, int32_t zy, int32_t lo, int32_t hi, int y_signed, void *y) {
  (void)y_signed;
  /* the vector path multiplies x - z in 32 bits: zero points must keep it small */
  if (isa == LB_IK_REF || z1 < -65536 || z1 > 65536 || z2 < -65536 || z2 > 65536) return 0;
  if (isa >= LB_IK_AVX512VNNI) {
    add512(n, x1, x1_signed, z1, M1, x2, x2_signed, z2, M2, s, zy, lo, hi, y);
    return 1;
  }
  rq_terms t;
  terms(&t, 0, 1, s, zy, lo, hi);
  add256(n, x1, x1_signed, z1, M1, x2, x2_signed, z2, M2, &t, y);
  return 1;
}

int ik_maxpool_opt(lb_ik_isa isa, const lb_pool_desc *d, const void *x, int x_signed, void *y) {
  if (isa == LB_IK_REF || d->w > IK_POOL_ROW) return 0;
  maxpool256(d, x, x_signed, y);
  return 1;
}

int ik_gap_opt(lb_ik_isa isa, int n, int c, int64_t hw, const void *x, int x_signed, int32_t zx, int32_t M, int s,
               int32_t zy, int32_t lo, int32_t hi, int y_signed, void *y) {
  (void)y_signed; /* lo/hi are inside the output type: its low byte is the code either way */
  if (isa < LB_IK_AVX512VNNI) return 0;
  gap512((int64_t)n * c, hw, x, x_signed, zx, M, s, zy, lo, hi, y);
  return 1;
}

int64_t ik_quantize_opt(lb_ik_isa isa, int64_t n, const float *x, float inv, int32_t zp, int32_t lo, int32_t hi,
                        void *y) {
  return isa >= LB_IK_AVX512VNNI ? quantize512(n, x, inv, zp, lo, hi, y) : 0;
}
