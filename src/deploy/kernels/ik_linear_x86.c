/* Linear (GEMV per batch row) for AVX2 and AVX-512 VNNI. Batch-1 linear is memory-bound, so
 * the weights stay at their bit width in memory and are widened in registers: a block of
 * `lanes` outputs stores, per group of input channels, one byte per (output, slot) holding
 * 8/bits fields (low bits first). Narrow fields are stored unsigned, u = w - wmin, and the
 * offset comes back through one correction per output:
 *   VNNI (u8 x s8 vpdpbusd, x moved to u8 by +128 when signed):
 *     acc = dot(xu, u) - zxu * sum(u) + (woff - zw) * (sum(xu) - C * zxu)
 *   AVX2 (int16 vpmaddwd on x - zx):  acc = dot(x - zx, u) + (woff - zw) * sum(x - zx)
 * with woff = wmin (narrow), 128 (unsigned 8-bit weights on VNNI, stored w - 128) or 0, all in
 * wrapping int32 like the accumulator. Padded channels store 0 and add nothing. */
#include <immintrin.h>
#include <omp.h>
#include <string.h>

#include "deploy/kernels/ik_simd.h"
#include "deploy/kernels/ik_x86.h"

/* lanes x slots bytes per channel group; a group covers slots * (8 / bits) channels */
typedef struct lin_geo {
  int lanes, slots, per, kb; /* per: fields per byte; kb: blocks of `lanes` outputs */
  int64_t groups;            /* channel groups (C padded) */
  int woff;
} lin_geo;

static lin_geo geo(const lb_ilinear *l) {
  lin_geo g;
  int vnni = l->isa >= LB_IK_AVX512VNNI;
  g.lanes = vnni ? 16 : 8;
  g.slots = vnni ? 4 : 2;
  g.per = 8 / l->wbits;
  g.kb = (l->k + g.lanes - 1) / g.lanes;
  int span = g.slots * g.per;
  g.groups = (l->c + span - 1) / span;
  if (l->wbits == 8) g.woff = (vnni && !l->w_signed) ? 128 : 0;
  else g.woff = l->w_signed ? -(1 << (l->wbits - 1)) : 0;
  return g;
}

lb_status ik_linear_opt_prepare(lb_ilinear *l) {
  if (l->isa == LB_IK_REF) return LB_OK;
  lin_geo g = geo(l);
  size_t wbytes = (size_t)g.kb * (size_t)g.groups * (size_t)g.lanes * (size_t)g.slots;
  size_t kpad = (size_t)g.kb * g.lanes;
  l->opt.bytes = ik_round(wbytes) + kpad * 4;
  l->opt.buf = lb_alloc_aligned(l->opt.bytes);
  if (!l->opt.buf) return lb_fail(LB_ERR_NOMEM, "ilinear: weight layout (%zu bytes)", l->opt.bytes);
  uint8_t *dst = l->opt.buf;
  l->opt.wsum = (int32_t *)(dst + ik_round(wbytes));
  memset(dst, 0, l->opt.bytes);
  const int bits = l->wbits, mask = bits == 8 ? 0xff : (1 << bits) - 1;
  for (int k = 0; k < l->k; k++) {
    const uint8_t *row = l->w.data + (int64_t)k * l->w.row_bytes;
    int blk = k / g.lanes, lane = k % g.lanes;
    uint32_t sum = 0;
    for (int64_t c = 0; c < l->c; c++) {
      int u = ik_wget(row, c, bits, l->w.sgn) - g.woff;
      sum += (uint32_t)u;
      int64_t grp = c / (g.slots * g.per), in = c % (g.slots * g.per);
      int field = (int)(in / g.slots), slot = (int)(in % g.slots); /* field j holds channels j*slots.. */
      uint8_t *b = dst + (((int64_t)blk * g.groups + grp) * g.lanes + lane) * g.slots + slot;
      *b |= (uint8_t)((u & mask) << (field * bits));
    }
    l->opt.wsum[k] = (int32_t)sum;
  }
  return LB_OK;
}

/* ---- AVX-512 VNNI ---- */
#define IK_LIN_XS 16384 /* bytes of x staged on the stack */
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")

/* 4 channels of x from c (zero beyond C) as a broadcast u8 quad */
static inline __m512i xquad(const uint8_t *x, int64_t c, int64_t C, uint32_t flip) {
  uint32_t v = 0;
  if (c + 4 <= C) memcpy(&v, x + c, 4);
  else if (c < C) memcpy(&v, x + c, (size_t)(C - c));
  return _mm512_set1_epi32((int32_t)(v ^ flip));
}

/* NB blocks of 16 outputs over all channel groups, BITS-wide fields widened in registers */
static inline __attribute__((always_inline)) void vnni_blocks(const lin_geo *g, const uint8_t *wb, const uint8_t *xs,
                                                              int staged, const uint8_t *x, int64_t C, uint32_t flip,
                                                              const int BITS, const int NB, __m512i acc[4]) {
  const int per = 8 / BITS;
  const int64_t span = 4 * per;
  const __m512i nib = _mm512_set1_epi8((char)((1 << BITS) - 1));
  #pragma GCC unroll 4
  for (int b = 0; b < NB; b++) acc[b] = _mm512_setzero_si512();
  for (int64_t grp = 0; grp < g->groups; grp++) {
    __m512i xq[4];
    #pragma GCC unroll 4
    for (int f = 0; f < per; f++)
      xq[f] = staged ? _mm512_set1_epi32(*(const ik_i32u *)(xs + grp * span + 4 * f)) : xquad(x, grp * span + 4 * f, C, flip);
    #pragma GCC unroll 4
    for (int b = 0; b < NB; b++) {
      __m512i v = _mm512_loadu_si512(wb + ((int64_t)b * g->groups + grp) * 64);
      if (BITS == 8) {
        acc[b] = _mm512_dpbusd_epi32(acc[b], xq[0], v);
      } else {
        #pragma GCC unroll 4
        for (int f = 0; f < per; f++) {
          __m512i u = f == 0 ? v : _mm512_srli_epi16(v, (unsigned)(f * BITS));
          acc[b] = _mm512_dpbusd_epi32(acc[b], xq[f], _mm512_and_si512(u, nib));
        }
      }
    }
  }
}

static void vnni_rows(const lb_ilinear *l, const lin_geo *g, const uint8_t *x, int32_t zx, int32_t *out, int blk0,
                      int blk1) {
  const int64_t C = l->c;
  const uint32_t flip = l->x_signed ? 0x80808080u : 0u;
  const int bits = l->wbits, per = g->per;
  const int32_t zxu = zx + (l->x_signed ? 128 : 0);
  uint32_t sxu = 0;
  for (int64_t c = 0; c < C; c++) sxu += (uint32_t)(x[c] ^ (flip & 0xff));
  const int64_t span = 4 * per;
  /* x as u8, zero-padded to whole groups, so each quad is one broadcast load (folded into
   * vpdpbusd); rows too long for the stack copy read their quads one by one */
  uint8_t xs[IK_LIN_XS] __attribute__((aligned(64)));
  const int staged = g->groups * span <= IK_LIN_XS;
  if (staged) {
    for (int64_t c = 0; c < C; c++) xs[c] = (uint8_t)(x[c] ^ (flip & 0xff));
    memset(xs + C, 0, (size_t)(g->groups * span - C));
  }
  for (int blk = blk0; blk < blk1; blk += 4) {
    int nb = blk1 - blk < 4 ? blk1 - blk : 4;
    const uint8_t *wb = (const uint8_t *)l->opt.buf + (int64_t)blk * g->groups * 64;
    __m512i acc[4];
    switch (bits * 8 + nb) { /* constant widths and block counts keep the accumulators in registers */
#define IK_LIN_CASE(BITS, NB) \
  case (BITS) * 8 + (NB): vnni_blocks(g, wb, xs, staged, x, C, flip, BITS, NB, acc); break;
#define IK_LIN_CASES(BITS) IK_LIN_CASE(BITS, 1) IK_LIN_CASE(BITS, 2) IK_LIN_CASE(BITS, 3) IK_LIN_CASE(BITS, 4)
      IK_LIN_CASES(8)
      IK_LIN_CASES(4)
      IK_LIN_CASES(2)
#undef IK_LIN_CASES
#undef IK_LIN_CASE
    default: return;
    }
    for (int b = 0; b < nb; b++) {
      int k0 = (blk + b) * 16, nk = l->k - k0 < 16 ? l->k - k0 : 16;
      int32_t t[16];
      _mm512_storeu_si512(t, acc[b]);
      for (int i = 0; i < nk; i++) {
        int k = k0 + i;
        uint32_t c1 = (uint32_t)(g->woff - l->w.zp[k]);
        out[k] = (int32_t)((uint32_t)t[i] - (uint32_t)zxu * (uint32_t)l->opt.wsum[k] + c1 * (sxu - (uint32_t)C * (uint32_t)zxu));
      }
    }
  }
}
#pragma GCC pop_options

/* ---- AVX2 ---- */
#pragma GCC push_options
#pragma GCC target("avx2,fma")

static inline int16_t xm16(const uint8_t *x, int64_t c, int64_t C, int sgn, int32_t zx) {
  if (c >= C) return 0;
  return (int16_t)((sgn ? (int32_t)(int8_t)x[c] : (int32_t)x[c]) - zx);
}

/* NB blocks of 8 outputs over all channel groups, BITS-wide fields (constants, as in VNNI) */
static inline __attribute__((always_inline)) void avx2_blocks(const lin_geo *g, const uint8_t *wb, const uint8_t *x,
                                                              int64_t C, int sgn, int32_t zx, int wsigned8,
                                                              const int BITS, const int NB, __m256i acc[4]) {
  const int per = 8 / BITS;
  const int64_t span = 2 * per;
  const __m256i nib = _mm256_set1_epi16((short)((1 << BITS) - 1));
  #pragma GCC unroll 4
  for (int b = 0; b < NB; b++) acc[b] = _mm256_setzero_si256();
  for (int64_t grp = 0; grp < g->groups; grp++) {
    __m256i xp[4];
    #pragma GCC unroll 4
    for (int f = 0; f < per; f++) {
      int64_t c = grp * span + 2 * f;
      uint32_t pair = (uint16_t)xm16(x, c, C, sgn, zx) | ((uint32_t)(uint16_t)xm16(x, c + 1, C, sgn, zx) << 16);
      xp[f] = _mm256_set1_epi32((int32_t)pair);
    }
    #pragma GCC unroll 4
    for (int b = 0; b < NB; b++) {
      __m128i raw = _mm_loadu_si128((const __m128i *)(wb + ((int64_t)b * g->groups + grp) * 16));
      __m256i v = wsigned8 ? _mm256_cvtepi8_epi16(raw) : _mm256_cvtepu8_epi16(raw);
      if (BITS == 8) {
        acc[b] = _mm256_add_epi32(acc[b], _mm256_madd_epi16(xp[0], v));
      } else {
        #pragma GCC unroll 4
        for (int f = 0; f < per; f++) {
          __m256i u = _mm256_and_si256(_mm256_srli_epi16(v, f * BITS), nib);
          acc[b] = _mm256_add_epi32(acc[b], _mm256_madd_epi16(xp[f], u));
        }
      }
    }
  }
}

static void avx2_rows(const lb_ilinear *l, const lin_geo *g, const uint8_t *x, int32_t zx, int32_t *out, int blk0,
                      int blk1) {
  const int64_t C = l->c;
  const int bits = l->wbits, sgn = l->x_signed;
  uint32_t sx = 0;
  for (int64_t c = 0; c < C; c++) sx += (uint32_t)xm16(x, c, C, sgn, zx);
  const int wsigned8 = bits == 8 && l->w_signed;
  for (int blk = blk0; blk < blk1; blk += 4) {
    int nb = blk1 - blk < 4 ? blk1 - blk : 4;
    const uint8_t *wb = (const uint8_t *)l->opt.buf + (int64_t)blk * g->groups * 16;
    __m256i acc[4];
    switch (bits * 8 + nb) {
#define IK_LIN_CASE(BITS, NB) \
  case (BITS) * 8 + (NB): avx2_blocks(g, wb, x, C, sgn, zx, wsigned8, BITS, NB, acc); break;
#define IK_LIN_CASES(BITS) IK_LIN_CASE(BITS, 1) IK_LIN_CASE(BITS, 2) IK_LIN_CASE(BITS, 3) IK_LIN_CASE(BITS, 4)
      IK_LIN_CASES(8)
      IK_LIN_CASES(4)
      IK_LIN_CASES(2)
#undef IK_LIN_CASES
#undef IK_LIN_CASE
    default: return;
    }
    for (int b = 0; b < nb; b++) {
      int k0 = (blk + b) * 8, nk = l->k - k0 < 8 ? l->k - k0 : 8;
      int32_t t[8];
      _mm256_storeu_si256((__m256i *)t, acc[b]);
      for (int i = 0; i < nk; i++) {
        int k = k0 + i;
        out[k] = (int32_t)((uint32_t)t[i] + (uint32_t)(g->woff - l->w.zp[k]) * sx);
      }
    }
  }
}
#pragma GCC pop_options

int ik_linear_opt_run(const lb_ilinear *l, int n, const void *x, int32_t zx, int32_t *acc) {
  if (!l->opt.buf) return 0;
  /* VNNI needs zx as a u8 code; the int16 path needs x - zx within int16 */
  if (l->isa >= LB_IK_AVX512VNNI && (l->x_signed ? (zx < -128 || zx > 127) : (zx < 0 || zx > 255))) return 0;
  if (zx < -32000 || zx > 32000) return 0;
  lin_geo g = geo(l);
  const int vnni = l->isa >= LB_IK_AVX512VNNI;
  /* split the output blocks over threads only when a row is big enough to pay for waking them
   * (a 1024x1024 int8 row is ~20 us on one core; a parallel region on a busy machine can cost
   * more than that) */
  const int64_t work = (int64_t)l->k * l->c;
  const int chunks = work >= (1 << 22) ? (g.kb + 3) / 4 : 1;
  for (int b = 0; b < n; b++) {
    const uint8_t *xr = (const uint8_t *)x + (int64_t)b * l->c;
    int32_t *o = acc + (int64_t)b * l->k;
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (int ch = 0; ch < chunks; ch++) {
      int b0 = chunks == 1 ? 0 : ch * 4, b1 = chunks == 1 ? g.kb : (ch * 4 + 4 < g.kb ? ch * 4 + 4 : g.kb);
      if (vnni) vnni_rows(l, &g, xr, zx, o, b0, b1);
      else avx2_rows(l, &g, xr, zx, o, b0, b1);
    }
  }
  return 1;
}
