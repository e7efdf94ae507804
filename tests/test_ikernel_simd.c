/* Every optimized integer kernel variant this CPU runs against the reference (LB_IK_REF), bit
 * for bit: random conv shapes (odd sizes, channel and pixel tails, stride, padding, dilation,
 * groups), every weight width, int8/uint8 activations, zero points, the fused requant epilogue
 * (s = 0, large shifts, big biases, clamps), binary conv, linear (batch 1 and more), requant,
 * add and max pool. Also: results do not depend on the thread count. Skips (77) on a CPU
 * without AVX2. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/kernels/ik_simd.h"
#include "lowbit/ikernel.h"
#include "testutil.h"

static int g_amx_cases; /* conv cases that ran on AMX tiles */

static int rnd(lb_rng *r, int lo, int hi) { return lo + (int)lb_rng_below(r, (uint32_t)(hi - lo + 1)); }

static void fill_w(int8_t *w, int64_t n, int bits, int sgn, lb_rng *r) {
  for (int64_t i = 0; i < n; i++) {
    if (bits == 1) w[i] = lb_rng_below(r, 2) ? 1 : -1;
    else if (bits == 8) w[i] = (int8_t)(uint8_t)lb_rng_u64(r);
    else w[i] = (int8_t)(sgn ? rnd(r, -(1 << (bits - 1)), (1 << (bits - 1)) - 1) : rnd(r, 0, (1 << bits) - 1));
  }
}

static void fill_zp(int32_t *zp, int k, int bits, int sgn, lb_rng *r) {
  for (int i = 0; i < k; i++)
    zp[i] = sgn ? rnd(r, -(1 << (bits - 1)), (1 << (bits - 1)) - 1) : rnd(r, 0, (1 << bits) - 1);
}

static int32_t rand_zx(int xsgn, lb_rng *r) { return xsgn ? rnd(r, -128, 127) : rnd(r, 0, 255); }

/* Requant terms; the bias in product units is bias_q * M + frac with |frac| <= M/2 (lowering's
 * form), frac 0 in some channels (exact ties stay reachable). */
static void rand_rq(int k, int64_t *bias_p, int32_t *M, int *s, lb_rng *r) {
  for (int i = 0; i < k; i++) {
    int kind = rnd(r, 0, 5);
    int32_t bq = kind == 0 ? (int32_t)lb_rng_u64(r) : rnd(r, -5000, 5000);
    M[i] = kind == 1 ? INT32_MAX : (int32_t)((1u << 30) + lb_rng_below(r, 1u << 30));
    s[i] = kind == 2 ? 0 : kind == 3 ? 62 : rnd(r, 30, 44);
    if (kind == 2) M[i] = rnd(r, 0, 3);
    if (kind == 4) M[i] = 1 << 30, s[i] = rnd(r, 31, 32); /* exact ties whenever acc + bias is odd (or 2 mod 4) */
    int32_t frac = kind == 4 || rnd(r, 0, 2) == 0 ? 0 : rnd(r, -(M[i] / 2), M[i] / 2);
    bias_p[i] = lb_bias_product(bq, M[i], frac);
  }
}

typedef struct run_out {
  int32_t *acc;
  uint8_t *y;
} run_out;

/* The channels-last variants (input, output, both) give the same codes as the NCHW run y. */
static void nhwc_case(const lb_iconv *c, const lb_conv2d_desc *d, const uint8_t *x, int32_t zx, const int64_t *bias,
                      const int32_t *M, const int *sh, int32_t yzp, int32_t lo, int32_t hi, int ysg, const uint8_t *y,
                      void *scr) {
  const int64_t hw = (int64_t)d->h * d->w, ohw = (int64_t)d->oh * d->ow;
  const int64_t nx = (int64_t)d->n * d->c * hw, ny = (int64_t)d->n * d->k * ohw;
  uint8_t *xt = malloc((size_t)nx), *yt = malloc((size_t)ny);
  for (int b = 0; b < d->n; b++) /* NCHW -> NHWC */
    for (int ch = 0; ch < d->c; ch++)
      for (int64_t p = 0; p < hw; p++) xt[((int64_t)b * hw + p) * d->c + ch] = x[((int64_t)b * d->c + ch) * hw + p];
  for (int v = 1; v < 4; v++) { /* 1: x channels-last, 2: y, 3: both */
    int xn = v & 1, yn = v >> 1, diff = 0;
    lb_iconv_run_requant_nhwc(c, d->n, xn ? xt : x, xn, zx, bias, M, sh, yzp, lo, hi, ysg, yt, yn, scr);
    for (int b = 0; b < d->n; b++)
      for (int k = 0; k < d->k; k++)
        for (int64_t p = 0; p < ohw; p++)
          diff += y[((int64_t)b * d->k + k) * ohw + p] != yt[yn ? ((int64_t)b * ohw + p) * d->k + k : ((int64_t)b * d->k + k) * ohw + p];
    CHECK_MSG(diff == 0, "channels-last conv (x %d, y %d) n=%d c=%d %dx%d k=%d %dx%d st=%d,%d pad=%d,%d: %d differ", xn, yn,
              d->n, d->c, d->h, d->w, d->k, d->r, d->s, d->stride_h, d->stride_w, d->pad_h, d->pad_w, diff);
  }
  free(xt);
  free(yt);
}

static int conv_case(lb_ik_isa isa, lb_rng *r, int iter) {
  lb_conv2d_desc d;
  memset(&d, 0, sizeof d);
  d.n = rnd(r, 1, 4);
  d.groups = rnd(r, 0, 5) == 0 ? rnd(r, 2, 3) : 1;
  d.c = d.groups * rnd(r, 1, 20);
  d.k = d.groups * (rnd(r, 0, 3) == 0 ? rnd(r, 33, 80) : rnd(r, 1, 33));
  d.h = rnd(r, 1, 13), d.w = rnd(r, 1, 21);
  d.r = rnd(r, 1, 5), d.s = rnd(r, 1, 5);
  d.stride_h = rnd(r, 1, 3), d.stride_w = rnd(r, 1, 3);
  d.pad_h = rnd(r, 0, 2), d.pad_w = rnd(r, 0, 2);
  d.dil_h = rnd(r, 1, 2), d.dil_w = rnd(r, 1, 2);
  if (iter % 8 == 5) { /* 1x1 with a stride and no padding: the copy keeps only the sampled pixels */
    d.r = d.s = 1, d.pad_h = d.pad_w = 0;
    d.stride_h = rnd(r, 1, 3), d.stride_w = rnd(r, 0, 2) ? 2 : rnd(r, 1, 3);
    d.w = rnd(r, 20, 70), d.c = d.groups * rnd(r, 14, 40);
  }
  if (iter % 8 == 3) /* one input channel, 2..4 taps a row: the taps are folded into channels */
    d.groups = 1, d.c = 1, d.s = rnd(r, 2, 4), d.dil_w = 1;
  if (iter % 8 == 7) /* wide enough for AMX tiles with any stride and dilation (one tap fills a chunk) */
    d.groups = 1, d.c = rnd(r, 24, 70), d.h = rnd(r, 1, 20), d.w = rnd(r, 1, 40);
  if (lb_conv2d_init(&d) != LB_OK) return 0; /* window larger than the input: draw again */
  const int bitsv[3] = {8, 4, 2};
  int bits = bitsv[iter % 3], wsgn = rnd(r, 0, 1), xsgn = rnd(r, 0, 1), use_zp = rnd(r, 0, 2) == 0;
  const int64_t nx = (int64_t)d.n * d.c * d.h * d.w, nw = (int64_t)d.k * (d.c / d.groups) * d.r * d.s;
  const int64_t ny = (int64_t)d.n * d.k * d.oh * d.ow;
  uint8_t *x = malloc((size_t)nx);
  int8_t *w = malloc((size_t)nw);
  int32_t *zp = malloc((size_t)d.k * 4), *M = malloc((size_t)d.k * 4);
  int64_t *bias = malloc((size_t)d.k * sizeof *bias);
  int *sh = malloc((size_t)d.k * sizeof(int));
  for (int64_t i = 0; i < nx; i++) x[i] = (uint8_t)lb_rng_u64(r);
  fill_w(w, nw, bits, wsgn, r);
  fill_zp(zp, d.k, bits, wsgn, r);
  rand_rq(d.k, bias, M, sh, r);
  if (iter % 2) /* every shift <= 43: the fused epilogue rounds in doubles (ik_nhwc.c) */
    for (int i = 0; i < d.k; i++)
      if (sh[i] > 43) sh[i] = rnd(r, 30, 43);
  int32_t zx = use_zp ? rand_zx(xsgn, r) : 0;
  int ysg = rnd(r, 0, 1);
  int32_t lo = ysg ? rnd(r, -128, -100) : rnd(r, 0, 10), hi = ysg ? rnd(r, 100, 127) : rnd(r, 200, 255);
  int32_t yzp = ysg ? rnd(r, -20, 20) : rnd(r, 0, 40);
  run_out o[3];
  lb_ik_isa isas[3] = {LB_IK_REF, isa, isa};
  int bad = 0;
  for (int v = 0; v < 3; v++) {
    o[v].acc = malloc((size_t)ny * 4);
    o[v].y = malloc((size_t)ny);
    if (v == 2) omp_set_num_threads(1); /* prepare and run on one thread: same bits */
    lb_iconv *c = NULL;
    lb_status st = lb_iconv_prepare(&d, bits, wsgn, w, use_zp ? zp : NULL, xsgn, isas[v], &c);
    CHECK_OK(st);
    if (st == LB_OK) {
      size_t sb = lb_iconv_scratch(c, d.n), sr = lb_iconv_scratch_requant(c, d.n);
      void *scr = malloc(sb > sr ? sb : sr);
      lb_iconv_run(c, d.n, x, zx, o[v].acc, scr);
      free(scr);
      scr = malloc(sr); /* exactly the requant size, so ASan sees an overrun */
      lb_iconv_run_requant(c, d.n, x, zx, bias, M, sh, yzp, lo, hi, ysg, o[v].y, scr);
      if (v == 1 && lb_iconv_nhwc_ok(c, zx)) nhwc_case(c, &d, x, zx, bias, M, sh, yzp, lo, hi, ysg, o[1].y, scr);
      if (v == 1) g_amx_cases += ik_conv_opt_amx(c);
      free(scr);
      lb_iconv_free(c);
    }
    omp_set_num_threads(2);
    if (v > 0) {
      int da = 0, dy = 0;
      for (int64_t i = 0; i < ny; i++) da += o[v].acc[i] != o[0].acc[i], dy += o[v].y[i] != o[0].y[i];
      if (da || dy) {
        bad = 1;
        CHECK_MSG(0, "%s conv n=%d c=%d %dx%d k=%d %dx%d st=%d,%d pad=%d,%d dil=%d,%d g=%d bits=%d wsgn=%d xsgn=%d zp=%d "
                     "(threads %d): %d acc and %d y differ",
                  lb_ik_isa_name(isa), d.n, d.c, d.h, d.w, d.k, d.r, d.s, d.stride_h, d.stride_w, d.pad_h, d.pad_w,
                  d.dil_h, d.dil_w, d.groups, bits, wsgn, xsgn, use_zp, v == 2 ? 1 : 2, da, dy);
      }
    }
  }
  for (int v = 0; v < 3; v++) free(o[v].acc), free(o[v].y);
  free(x), free(w), free(zp), free(bias), free(M), free(sh);
  return bad ? -1 : 1;
}

static void binary_case(lb_ik_isa isa, lb_rng *r, int big) {
  lb_conv2d_desc d;
  memset(&d, 0, sizeof d);
  d.n = rnd(r, 1, 3), d.groups = 1, d.c = rnd(r, 1, 80), d.k = rnd(r, 1, 40);
  d.h = rnd(r, 1, 12), d.w = rnd(r, 1, 12), d.r = rnd(r, 1, 3), d.s = rnd(r, 1, 3);
  d.stride_h = rnd(r, 1, 2), d.stride_w = rnd(r, 1, 2), d.pad_h = rnd(r, 0, 1), d.pad_w = rnd(r, 0, 1);
  d.dil_h = rnd(r, 1, 2), d.dil_w = rnd(r, 0, 2) ? 1 : 2; /* dil_w 1: one segment per kernel row */
  if (big) d.c = 530, d.h = 4, d.w = 3, d.r = d.s = 3, d.k = 5; /* a receptive field over 64 words */
  if (lb_conv2d_init(&d) != LB_OK) return;
  const int64_t nx = (int64_t)d.n * d.c * d.h * d.w, nw = (int64_t)d.k * d.c * d.r * d.s;
  const int64_t ny = (int64_t)d.n * d.k * d.oh * d.ow;
  int8_t *x = malloc((size_t)nx), *w = malloc((size_t)nw);
  uint8_t *xb = malloc((size_t)(d.n * d.h * d.w * ((d.c + 7) / 8)));
  int32_t *a0 = malloc((size_t)ny * 4), *a1 = malloc((size_t)ny * 4);
  fill_w(x, nx, 1, 1, r);
  fill_w(w, nw, 1, 1, r);
  lb_ik_pack_binary(LB_IK_REF, d.n, d.c, d.h, d.w, x, xb);
  { /* the packing's twin writes the same bits */
    size_t nb = (size_t)(d.n * d.h * d.w * ((d.c + 7) / 8));
    uint8_t *xb1 = malloc(nb);
    memset(xb1, 0xA5, nb);
    lb_ik_pack_binary(isa, d.n, d.c, d.h, d.w, x, xb1);
    CHECK_MSG(memcmp(xb, xb1, nb) == 0, "%s pack_binary n=%d c=%d %dx%d", lb_ik_isa_name(isa), d.n, d.c, d.h, d.w);
    free(xb1);
  }
  if (d.c % 8) /* the unused high bits of a pixel's last byte must not matter */
    for (int64_t p = 0; p < (int64_t)d.n * d.h * d.w; p++)
      xb[p * ((d.c + 7) / 8) + (d.c - 1) / 8] |= (uint8_t)(lb_rng_u64(r) << (d.c % 8));
  lb_iconv *c0 = NULL, *c1 = NULL;
  CHECK_OK(lb_iconv_prepare(&d, 1, 1, w, NULL, 1, LB_IK_REF, &c0));
  CHECK_OK(lb_iconv_prepare(&d, 1, 1, w, NULL, 1, isa, &c1));
  if (c0 && c1) {
    void *s0 = malloc(lb_iconv_scratch(c0, d.n)), *s1 = malloc(lb_iconv_scratch(c1, d.n));
    lb_iconv_run_binary(c0, d.n, xb, a0, s0);
    lb_iconv_run_binary(c1, d.n, xb, a1, s1);
    int diff = 0;
    for (int64_t i = 0; i < ny; i++) diff += a0[i] != a1[i];
    CHECK_MSG(diff == 0, "%s binary conv n=%d c=%d %dx%d k=%d %dx%d st=%d,%d pad=%d,%d dil=%d,%d: %d differ",
              lb_ik_isa_name(isa), d.n, d.c, d.h, d.w, d.k, d.r, d.s, d.stride_h, d.stride_w, d.pad_h, d.pad_w,
              d.dil_h, d.dil_w, diff);
    /* the fused sign epilogue: the reference signs of the reference accumulators */
    int32_t *M = malloc((size_t)d.k * 4), *neg = malloc((size_t)d.k * 4);
    int64_t *bias = malloc((size_t)d.k * 8);
    for (int j = 0; j < d.k; j++)
      M[j] = (int32_t)lb_rng_below(r, 1u << 30) + 1, bias[j] = (int64_t)rnd(r, -20, 20) * M[j] + rnd(r, -9, 9),
      neg[j] = rnd(r, 0, 3) == 0;
    int8_t *g0 = malloc((size_t)ny), *g1 = malloc((size_t)ny);
    void *s2 = malloc(lb_iconv_scratch_binary_sign(c1, d.n));
    lb_ik_binarize_acc(LB_IK_REF, d.n, d.k, (int64_t)d.oh * d.ow, a0, bias, M, neg, -1, 1, g0);
    lb_iconv_run_binary_sign(c1, d.n, xb, bias, M, neg, -1, 1, g1, s2);
    CHECK_MSG(memcmp(g0, g1, (size_t)ny) == 0, "%s binary conv with signs n=%d c=%d k=%d", lb_ik_isa_name(isa), d.n,
              d.c, d.k);
    free(M), free(neg), free(bias), free(g0), free(g1), free(s2);
    free(s0), free(s1);
  }
  lb_iconv_free(c0), lb_iconv_free(c1);
  free(x), free(w), free(xb), free(a0), free(a1);
}

/* The sign steps of binary outputs: conv/linear (thresholds per channel; negative channels,
 * a zero multiplier, biases far outside the accumulator range, clamps from a ReLU/hardtanh) and
 * add, against the reference definition. */
static void sign_case(lb_ik_isa isa, lb_rng *r) {
  int n = rnd(r, 1, 3), k = rnd(r, 1, 9);
  int64_t hw = rnd(r, 0, 1) ? rnd(r, 1, 20) : rnd(r, 60, 300), cnt = n * k * hw;
  int32_t *acc = malloc((size_t)cnt * 4), M[9], neg[9];
  int64_t bias[9];
  int8_t *y0 = malloc((size_t)cnt), *y1 = malloc((size_t)cnt);
  for (int64_t i = 0; i < cnt; i++) acc[i] = rnd(r, 0, 3) ? rnd(r, -3000, 3000) : (int32_t)lb_rng_u64(r);
  for (int j = 0; j < k; j++) {
    M[j] = rnd(r, 0, 9) == 0 ? 0 : (int32_t)lb_rng_below(r, 1u << 31);
    int64_t scale = rnd(r, 0, 1) ? 1 : ((int64_t)1 << rnd(r, 20, 30));
    bias[j] = (int64_t)rnd(r, -3000, 3000) * M[j] + rnd(r, -1, 1) * (int64_t)(lb_rng_u64(r) % ((uint64_t)M[j] + 1)) +
              (rnd(r, 0, 7) == 0 ? rnd(r, -9, 9) * scale * 1000000 : 0);
    neg[j] = rnd(r, 0, 2) == 0;
  }
  static const int32_t clamps[3][2] = {{-1, 1}, {1, 1}, {-1, -1}}; /* none, a ReLU before, an all -1 clamp */
  int cl = rnd(r, 0, 2), use_neg = rnd(r, 0, 1), nob = rnd(r, 0, 5) == 0;
  int32_t lo = clamps[cl][0], hi = clamps[cl][1];
  lb_ik_binarize_acc(LB_IK_REF, n, k, hw, acc, nob ? NULL : bias, M, use_neg ? neg : NULL, lo, hi, y0);
  lb_ik_binarize_acc(isa, n, k, hw, acc, nob ? NULL : bias, M, use_neg ? neg : NULL, lo, hi, y1);
  CHECK_MSG(memcmp(y0, y1, (size_t)cnt) == 0, "%s binarize_acc n=%d k=%d hw=%lld", lb_ik_isa_name(isa), n, k,
            (long long)hw);
  uint8_t *x1 = malloc((size_t)cnt), *x2 = malloc((size_t)cnt);
  for (int64_t i = 0; i < cnt; i++) x1[i] = (uint8_t)lb_rng_u64(r), x2[i] = (uint8_t)lb_rng_u64(r);
  int s1 = rnd(r, 0, 1), s2 = rnd(r, 0, 1);
  int32_t z1 = rand_zx(s1, r), z2 = rand_zx(s2, r), M1 = (int32_t)lb_rng_below(r, 1u << 31),
          M2 = rnd(r, 0, 3) == 0 ? 0 : (int32_t)lb_rng_below(r, 1u << 31); /* M2 0: a rescale */
  lb_ik_binarize_add(LB_IK_REF, cnt, x1, s1, z1, M1, x2, s2, z2, M2, lo, hi, y0);
  lb_ik_binarize_add(isa, cnt, x1, s1, z1, M1, x2, s2, z2, M2, lo, hi, y1);
  CHECK_MSG(memcmp(y0, y1, (size_t)cnt) == 0, "%s binarize_add n=%lld", lb_ik_isa_name(isa), (long long)cnt);
  free(acc), free(y0), free(y1), free(x1), free(x2);
}

static void linear_case(lb_ik_isa isa, lb_rng *r, int iter) {
  const int bitsv[3] = {8, 4, 2};
  int bits = bitsv[iter % 3], n = rnd(r, 0, 2) ? 1 : rnd(r, 2, 5), K = rnd(r, 1, 70), C = rnd(r, 1, 300);
  if (iter == 29) K = rnd(r, 2048, 2100), C = rnd(r, 2048, 2100); /* big enough for the threaded split */
  if (iter == 59 || iter == 60) K = rnd(r, 1, 40), C = rnd(r, 16400, 17000); /* too long to stage x on the stack */
  int wsgn = rnd(r, 0, 1), xsgn = rnd(r, 0, 1), use_zp = rnd(r, 0, 2) == 0;
  int8_t *w = malloc((size_t)K * C);
  uint8_t *x = malloc((size_t)n * C);
  int32_t *zp = malloc((size_t)K * 4), *a0 = malloc((size_t)n * K * 4), *a1 = malloc((size_t)n * K * 4);
  fill_w(w, (int64_t)K * C, bits, wsgn, r);
  fill_zp(zp, K, bits, wsgn, r);
  for (int i = 0; i < n * C; i++) x[i] = (uint8_t)lb_rng_u64(r);
  int32_t zx = use_zp ? rand_zx(xsgn, r) : 0;
  lb_ilinear *l0 = NULL, *l1 = NULL;
  CHECK_OK(lb_ilinear_prepare(K, C, bits, wsgn, w, use_zp ? zp : NULL, xsgn, LB_IK_REF, &l0));
  CHECK_OK(lb_ilinear_prepare(K, C, bits, wsgn, w, use_zp ? zp : NULL, xsgn, isa, &l1));
  if (l0 && l1) {
    lb_ilinear_run(l0, n, x, zx, a0);
    lb_ilinear_run(l1, n, x, zx, a1);
    int diff = 0;
    for (int i = 0; i < n * K; i++) diff += a0[i] != a1[i];
    CHECK_MSG(diff == 0, "%s linear n=%d K=%d C=%d bits=%d wsgn=%d xsgn=%d zp=%d: %d differ", lb_ik_isa_name(isa), n, K,
              C, bits, wsgn, xsgn, use_zp, diff);
  }
  lb_ilinear_free(l0), lb_ilinear_free(l1);
  free(w), free(x), free(zp), free(a0), free(a1);
}

static void eltwise_case(lb_ik_isa isa, lb_rng *r) {
  /* requant */
  int n = rnd(r, 1, 3), k = rnd(r, 1, 9);
  int64_t hw = rnd(r, 1, 100);
  int64_t cnt = n * k * hw;
  int32_t *acc = malloc((size_t)cnt * 4), M[9];
  int64_t bias[9];
  int s[9];
  uint8_t *y0 = malloc((size_t)cnt), *y1 = malloc((size_t)cnt);
  for (int64_t i = 0; i < cnt; i++) acc[i] = rnd(r, 0, 3) ? rnd(r, -100000, 100000) : (int32_t)lb_rng_u64(r);
  rand_rq(k, bias, M, s, r);
  int ysg = rnd(r, 0, 1), nob = rnd(r, 0, 3) == 0;
  lb_ik_requant(LB_IK_REF, n, k, hw, acc, nob ? NULL : bias, M, s, ysg ? -7 : 9, ysg ? -128 : 0, ysg ? 127 : 255, ysg, y0);
  lb_ik_requant(isa, n, k, hw, acc, nob ? NULL : bias, M, s, ysg ? -7 : 9, ysg ? -128 : 0, ysg ? 127 : 255, ysg, y1);
  CHECK_MSG(memcmp(y0, y1, (size_t)cnt) == 0, "%s requant n=%d k=%d hw=%lld", lb_ik_isa_name(isa), n, k, (long long)hw);
  /* add */
  uint8_t *x1 = malloc((size_t)cnt), *x2 = malloc((size_t)cnt);
  for (int64_t i = 0; i < cnt; i++) x1[i] = (uint8_t)lb_rng_u64(r), x2[i] = (uint8_t)lb_rng_u64(r);
  int s1 = rnd(r, 0, 1), s2 = rnd(r, 0, 1), sy = rnd(r, 0, 1), sa = rnd(r, 0, 3) == 0 ? 0 : rnd(r, 1, 40);
  int32_t z1 = rand_zx(s1, r), z2 = rand_zx(s2, r), M1 = (int32_t)lb_rng_below(r, 1u << 31),
          M2 = (int32_t)lb_rng_below(r, 1u << 31);
  if (sa < 20) M1 >>= 20, M2 >>= 20;
  lb_ik_add(LB_IK_REF, cnt, x1, s1, z1, M1, x2, s2, z2, M2, sa, sy ? 3 : 100, sy ? -128 : 0, sy ? 127 : 255, sy, y0);
  lb_ik_add(isa, cnt, x1, s1, z1, M1, x2, s2, z2, M2, sa, sy ? 3 : 100, sy ? -128 : 0, sy ? 127 : 255, sy, y1);
  CHECK_MSG(memcmp(y0, y1, (size_t)cnt) == 0, "%s add n=%lld s=%d", lb_ik_isa_name(isa), (long long)cnt, sa);
  /* max pool */
  lb_pool_desc d = {.n = rnd(r, 1, 2), .c = rnd(r, 1, 5), .h = rnd(r, 2, 17), .w = rnd(r, 2, 40), .kh = rnd(r, 1, 3),
                    .kw = rnd(r, 1, 3), .stride_h = rnd(r, 1, 2), .stride_w = rnd(r, 1, 3), .ceil_mode = rnd(r, 0, 1)};
  d.pad_h = rnd(r, 0, d.kh / 2), d.pad_w = rnd(r, 0, d.kw / 2);
  if (lb_pool_init(&d) == LB_OK) {
    int64_t px = (int64_t)d.n * d.c * d.h * d.w, py = (int64_t)d.n * d.c * d.oh * d.ow;
    uint8_t *px_ = malloc((size_t)px), *p0 = malloc((size_t)py), *p1 = malloc((size_t)py);
    for (int64_t i = 0; i < px; i++) px_[i] = (uint8_t)lb_rng_u64(r);
    int xs = rnd(r, 0, 1);
    lb_ik_maxpool(LB_IK_REF, &d, px_, xs, p0);
    lb_ik_maxpool(isa, &d, px_, xs, p1);
    CHECK_MSG(memcmp(p0, p1, (size_t)py) == 0, "%s maxpool %dx%d k=%dx%d", lb_ik_isa_name(isa), d.h, d.w, d.kh, d.kw);
    free(px_), free(p0), free(p1);
  }
  /* global average pool (planes longer and shorter than a 64-byte vector) */
  {
    int gn = rnd(r, 1, 3), gc = rnd(r, 0, 3) ? rnd(r, 1, 9) : rnd(r, 60, 140), gs = rnd(r, 0, 1), gys = rnd(r, 0, 1);
    int64_t ghw = rnd(r, 0, 1) ? rnd(r, 1, 70) : rnd(r, 100, 300);
    int64_t gx = gn * gc * ghw;
    uint8_t *xg = malloc((size_t)gx), *g0 = malloc((size_t)(gn * gc)), *g1 = malloc((size_t)(gn * gc));
    for (int64_t i = 0; i < gx; i++) xg[i] = (uint8_t)lb_rng_u64(r);
    int32_t gzx = rand_zx(gs, r), gM = (int32_t)((1u << 30) + lb_rng_below(r, 1u << 30));
    int gsh = rnd(r, 31, 45);
    lb_ik_gap(LB_IK_REF, gn, gc, ghw, xg, gs, gzx, gM, gsh, gys ? 5 : 7, gys ? -128 : 0, gys ? 127 : 255, gys, g0);
    lb_ik_gap(isa, gn, gc, ghw, xg, gs, gzx, gM, gsh, gys ? 5 : 7, gys ? -128 : 0, gys ? 127 : 255, gys, g1);
    CHECK_MSG(memcmp(g0, g1, (size_t)(gn * gc)) == 0, "%s gap n=%d c=%d hw=%lld", lb_ik_isa_name(isa), gn, gc,
              (long long)ghw);
    uint8_t *xt = malloc((size_t)gx); /* the same planes channels-last */
    for (int b = 0; b < gn; b++)
      for (int ch = 0; ch < gc; ch++)
        for (int64_t p = 0; p < ghw; p++) xt[((int64_t)b * ghw + p) * gc + ch] = xg[((int64_t)b * gc + ch) * ghw + p];
    lb_ik_gap_nhwc(gn, gc, ghw, xt, gs, gzx, gM, gsh, gys ? 5 : 7, gys ? -128 : 0, gys ? 127 : 255, gys, g1);
    CHECK_MSG(memcmp(g0, g1, (size_t)(gn * gc)) == 0, "gap_nhwc n=%d c=%d hw=%lld", gn, gc, (long long)ghw);
    free(xt), free(xg), free(g0), free(g1);
  }
  free(acc), free(y0), free(y1), free(x1), free(x2);
}

/* lb_ik_quantize takes no variant: LOWBIT_KERNELS=ref selects the reference loop */
static void quantize_case(lb_rng *r) {
  int n = rnd(r, 1, 200), ys = rnd(r, 0, 1);
  float *x = malloc((size_t)n * sizeof *x), inv = 1.0f / (0.01f + (float)lb_rng_below(r, 1000) * 1e-4f);
  uint8_t *y0 = malloc((size_t)n), *y1 = malloc((size_t)n);
  for (int i = 0; i < n; i++) {
    int kind = rnd(r, 0, 9);
    x[i] = ((float)lb_rng_below(r, 2000001) - 1e6f) * 1e-4f; /* +-100, often on .5 steps after scaling */
    if (kind == 0) x[i] = (float)rnd(r, -300, 300) * 0.5f / inv; /* near exact ties */
    if (kind == 1) x[i] = rnd(r, 0, 1) ? NAN : INFINITY;
    if (kind == 2) x[i] = -1e30f;
  }
  int32_t zp = ys ? rnd(r, -20, 20) : rnd(r, 0, 60), lo = ys ? -128 : 0, hi = ys ? 127 : 255;
  setenv("LOWBIT_KERNELS", "ref", 1);
  lb_ik_quantize(n, x, inv, zp, lo, hi, ys, y0);
  unsetenv("LOWBIT_KERNELS");
  lb_ik_quantize(n, x, inv, zp, lo, hi, ys, y1);
  CHECK_MSG(memcmp(y0, y1, (size_t)n) == 0, "%s quantize n=%d", lb_ik_isa_name(lb_ik_select()), n);
  free(x), free(y0), free(y1);
}

int main(void) {
  lb_ik_isa best = lb_ik_select();
  if (best == LB_IK_REF) return lbt_skip("ikernel_simd", "this CPU runs only the reference kernels (no AVX2)");
  omp_set_num_threads(2);
  lb_rng rng;
  lb_rng_seed(&rng, 2024);
  for (int isa = LB_IK_AVX2; isa <= (int)best; isa++) {
    int ran = 0;
    for (int it = 0; ran < 120 && it < 2000; it++)
      if (conv_case((lb_ik_isa)isa, &rng, it)) ran++;
    CHECK(ran == 120);
    if (isa == LB_IK_AMX) CHECK_MSG(g_amx_cases >= 20, "%d conv cases ran on AMX tiles", g_amx_cases);
    for (int it = 0; it < 80; it++) binary_case((lb_ik_isa)isa, &rng, it == 0);
    for (int it = 0; it < 90; it++) linear_case((lb_ik_isa)isa, &rng, it);
    for (int it = 0; it < 60; it++) eltwise_case((lb_ik_isa)isa, &rng);
    for (int it = 0; it < 200; it++) sign_case((lb_ik_isa)isa, &rng);
    printf("ikernel_simd: %s compared with the reference (%d conv cases on AMX tiles)\n", lb_ik_isa_name((lb_ik_isa)isa),
           g_amx_cases);
  }
  for (int it = 0; it < 40; it++) quantize_case(&rng);
  return lbt_finish("ikernel_simd");
}
