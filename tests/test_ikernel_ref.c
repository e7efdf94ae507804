/* Integer kernel references against independent obvious computations: rshift_rne by floor
 * division, requant saturation and multipliers near 2^31, the multiplier search, a direct 7-loop
 * convolution on the unpacked int8 weight values (groups, depthwise, 1x1, stride, padding,
 * dilation, every weight width, int8/uint8, zero points), binary convolution by +-1 products
 * over the valid taps, linear, requant, add, pools, global average pool, quantize/dequantize,
 * and prepare's refusals. All kernels run with the reference variant (LB_IK_REF). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/ikernel.h"
#include "testutil.h"

/* round(p / 2^s), ties to even, by truncating division and an explicit remainder test */
static int64_t rne_div(int64_t p, int s) {
  if (s == 0) return p;
  int64_t d = (int64_t)1 << s;
  int64_t q = p / d, r = p % d;
  if (r < 0) { /* make it floor */
    q--;
    r += d;
  }
  if (2 * r > d || (2 * r == d && (q % 2 != 0))) q++;
  return q;
}

static void test_rshift(void) {
  /* ties in both directions: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> 0, -1.5 -> -2, -2.5 -> -2 */
  CHECK(lb_rshift_rne(1, 1) == 0);
  CHECK(lb_rshift_rne(3, 1) == 2);
  CHECK(lb_rshift_rne(5, 1) == 2);
  CHECK(lb_rshift_rne(-1, 1) == 0);
  CHECK(lb_rshift_rne(-3, 1) == -2);
  CHECK(lb_rshift_rne(-5, 1) == -2);
  CHECK(lb_rshift_rne(7, 2) == 2);   /* 1.75 */
  CHECK(lb_rshift_rne(-7, 2) == -2); /* -1.75 */
  CHECK(lb_rshift_rne(-6, 2) == -2); /* -1.5 -> -2 (even) */
  CHECK(lb_rshift_rne(-10, 2) == -2); /* -2.5 -> -2 */
  CHECK(lb_rshift_rne(123456789, 0) == 123456789);
  CHECK(lb_rshift_rne(-123456789, 0) == -123456789);
  lb_rng rng;
  lb_rng_seed(&rng, 11);
  for (int i = 0; i < 20000; i++) {
    int s = (int)lb_rng_below(&rng, 63);
    int64_t p = (int64_t)(lb_rng_u64(&rng) >> 2) - ((int64_t)1 << 61);
    if (i % 3 == 0) p >>= lb_rng_below(&rng, 60); /* small magnitudes too */
    if (i % 5 == 0 && s > 0) p = (int64_t)(((uint64_t)p & ~(((uint64_t)1 << s) - 1)) | ((uint64_t)1 << (s - 1))); /* exact tie */
    CHECK_MSG(lb_rshift_rne(p, s) == rne_div(p, s), "p=%lld s=%d", (long long)p, s);
  }
}

static void test_requant(void) {
  /* saturation at both ends, M near 2^31, s = 0 */
  CHECK(lb_requant(1000, 1 << 30, 30, 0, -128, 127) == 127);
  CHECK(lb_requant(-1000, 1 << 30, 30, 0, -128, 127) == -128);
  CHECK(lb_requant(100, 1 << 30, 30, 5, -128, 127) == 105);
  CHECK(lb_requant(3, 1, 0, 0, -1000, 1000) == 3); /* s = 0: the product itself */
  CHECK(lb_requant(-3, 7, 0, 2, -1000, 1000) == -19);
  const int32_t Mmax = INT32_MAX;
  /* a * (2^31-1) / 2^31 = a - a/2^31: for a = 2^20 that is 2^20 - 2^-11 -> 2^20 */
  CHECK(lb_requant(1 << 20, Mmax, 31, 0, INT32_MIN, INT32_MAX) == (1 << 20));
  CHECK(lb_requant(INT32_MAX, Mmax, 31, 0, INT32_MIN, INT32_MAX) == INT32_MAX - 1);
  CHECK(lb_requant(INT32_MIN, Mmax, 31, 0, INT32_MIN, INT32_MAX) == INT32_MIN + 1);
  lb_rng rng;
  lb_rng_seed(&rng, 12);
  for (int i = 0; i < 20000; i++) {
    int64_t a = (int64_t)(int32_t)lb_rng_u64(&rng) + (int64_t)(int32_t)lb_rng_u64(&rng) / 4;
    int32_t M = (int32_t)(lb_rng_u64(&rng) & 0x7fffffff);
    if (i % 2) M = (int32_t)((1u << 30) | (M & 0x3fffffff));
    int s = (int)lb_rng_below(&rng, 63);
    int32_t zp = (int32_t)lb_rng_below(&rng, 256) - 128;
    int64_t v = zp + rne_div(a * M, s);
    int32_t want = (int32_t)(v < -128 ? -128 : v > 127 ? 127 : v);
    CHECK_MSG(lb_requant(a, M, s, zp, -128, 127) == want, "a=%lld M=%d s=%d", (long long)a, M, s);
  }
}

static void test_multiplier(void) {
  int32_t M;
  int s;
  CHECK_OK(lb_requant_multiplier(1.0, &M, &s));
  CHECK(M == (1 << 30) && s == 30);
  CHECK_OK(lb_requant_multiplier(0.25, &M, &s));
  CHECK(M == (1 << 30) && s == 32);
  CHECK_OK(lb_requant_multiplier(0.75, &M, &s));
  CHECK(M == 3 << 29 && s == 31);
  /* just below 1: f * 2^31 rounds up to 2^31, which must become 2^30 with one shift less */
  CHECK_OK(lb_requant_multiplier(1.0 - 1e-12, &M, &s));
  CHECK(M == (1 << 30) && s == 30);
  lb_rng rng;
  lb_rng_seed(&rng, 13);
  for (int i = 0; i < 2000; i++) {
    double m = exp((lb_rng_uniform(&rng) - 0.5) * 40.0);
    CHECK_OK(lb_requant_multiplier(m, &M, &s));
    CHECK(M >= (1 << 30) && s >= 0 && s <= 62);
    CHECK_MSG(fabs(ldexp((double)M, -s) - m) <= m * ldexp(1.0, -31), "m=%g M=%d s=%d", m, M, s);
  }
  CHECK_STATUS(lb_requant_multiplier(0.0, &M, &s), LB_ERR_ARG);
  CHECK_STATUS(lb_requant_multiplier(-1.0, &M, &s), LB_ERR_ARG);
  CHECK_STATUS(lb_requant_multiplier(NAN, &M, &s), LB_ERR_ARG);
  CHECK_STATUS(lb_requant_multiplier(INFINITY, &M, &s), LB_ERR_ARG);
  CHECK_STATUS(lb_requant_multiplier(ldexp(1.0, 40), &M, &s), LB_ERR_ARG); /* needs s < 0 */
  CHECK_STATUS(lb_requant_multiplier(ldexp(1.0, -40), &M, &s), LB_ERR_ARG); /* needs s > 62 */
}

static int wrange(int bits, int sgn, int *lo) {
  if (bits == 1) {
    *lo = -1;
    return 1;
  }
  *lo = sgn ? -(1 << (bits - 1)) : 0;
  return sgn ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
}

static void fill_codes(uint8_t *x, int64_t n, lb_rng *rng) {
  for (int64_t i = 0; i < n; i++) x[i] = (uint8_t)lb_rng_u64(rng);
}

/* weights as given to prepare (int8 array; unsigned 8-bit values as their bytes) and their
 * integer values */
static void fill_weights(int8_t *w, int *wv, int64_t n, int bits, int sgn, lb_rng *rng) {
  int lo, hi = wrange(bits, sgn, &lo);
  for (int64_t i = 0; i < n; i++) {
    int v = lo + (int)lb_rng_below(rng, (uint32_t)(hi - lo + 1));
    if (bits == 1 && v == 0) v = 1;
    wv[i] = v;
    w[i] = (int8_t)(uint8_t)(v & 0xff);
  }
}

static int xval(const uint8_t *x, int64_t i, int sgn) { return sgn ? (int)(int8_t)x[i] : (int)x[i]; }

typedef struct cshape {
  int n, c, h, w, k, r, s, sh, sw, ph, pw, dh, dw, g;
} cshape;

static void check_conv(const cshape *t, int bits, int wsgn, int xsgn, int use_zp, lb_rng *rng) {
  lb_conv2d_desc d = {.n = t->n, .c = t->c, .h = t->h, .w = t->w, .k = t->k, .r = t->r, .s = t->s,
                      .stride_h = t->sh, .stride_w = t->sw, .pad_h = t->ph, .pad_w = t->pw,
                      .dil_h = t->dh, .dil_w = t->dw, .groups = t->g};
  if (lb_conv2d_init(&d) != LB_OK) {
    CHECK_MSG(0, "bad test shape");
    return;
  }
  const int cg = d.c / d.groups, kg = d.k / d.groups;
  const int64_t nx = (int64_t)d.n * d.c * d.h * d.w, nw = (int64_t)d.k * cg * d.r * d.s;
  const int64_t ny = (int64_t)d.n * d.k * d.oh * d.ow;
  uint8_t *x = malloc((size_t)nx);
  int8_t *w = malloc((size_t)nw);
  int *wv = malloc((size_t)nw * sizeof *wv);
  int32_t *zw = malloc((size_t)d.k * sizeof *zw), *acc = malloc((size_t)ny * 4);
  fill_codes(x, nx, rng);
  fill_weights(w, wv, nw, bits, wsgn, rng);
  int wlo, whi = wrange(bits, wsgn, &wlo);
  for (int k = 0; k < d.k; k++) zw[k] = use_zp ? wlo + (int)lb_rng_below(rng, (uint32_t)(whi - wlo + 1)) : 0;
  int32_t zx = use_zp ? xval(x, 0, xsgn) : 0;
  lb_iconv *c = NULL;
  CHECK_OK(lb_iconv_prepare(&d, bits, wsgn, w, use_zp ? zw : NULL, xsgn, LB_IK_REF, &c));
  if (!c) goto done;
  CHECK(lb_iconv_weight_bytes(c) == (size_t)d.k * (size_t)((cg * d.r * d.s * bits + 7) / 8));
  void *scratch = malloc(lb_iconv_scratch_requant(c, d.n) + 1);
  lb_iconv_run(c, d.n, x, zx, acc, scratch);
  int bad = 0;
  for (int b = 0; b < d.n; b++)
    for (int k = 0; k < d.k; k++)
      for (int oh = 0; oh < d.oh; oh++)
        for (int ow = 0; ow < d.ow; ow++) {
          int64_t a = 0;
          int g = k / kg;
          for (int ci = 0; ci < cg; ci++)
            for (int r = 0; r < d.r; r++)
              for (int s = 0; s < d.s; s++) {
                int ih = oh * d.stride_h - d.pad_h + r * d.dil_h, iw = ow * d.stride_w - d.pad_w + s * d.dil_w;
                /* padding is the code zx: it contributes (zx - zx) * w = 0 */
                int xv = (ih < 0 || ih >= d.h || iw < 0 || iw >= d.w)
                             ? zx
                             : xval(x, (((int64_t)b * d.c + g * cg + ci) * d.h + ih) * d.w + iw, xsgn);
                a += (int64_t)(xv - zx) * (wv[(((int64_t)k * cg + ci) * d.r + r) * d.s + s] - zw[k]);
              }
          int32_t got = acc[(((int64_t)b * d.k + k) * d.oh + oh) * d.ow + ow];
          if (got != a && bad++ < 3)
            fprintf(stderr, "conv b=%d k=%d (%d,%d): got %d want %lld\n", b, k, oh, ow, got, (long long)a);
        }
  CHECK_MSG(bad == 0, "conv %dx%dx%dx%d k=%d %dx%d g=%d bits=%d wsgn=%d xsgn=%d zp=%d: %d wrong", d.n, d.c, d.h, d.w,
            d.k, d.r, d.s, d.groups, bits, wsgn, xsgn, use_zp, bad);
  /* the fused epilogue is run + requant */
  int64_t *bias = malloc((size_t)d.k * sizeof *bias);
  int32_t *M = malloc((size_t)d.k * 4);
  int *sh = malloc((size_t)d.k * sizeof *sh);
  for (int k = 0; k < d.k; k++) {
    M[k] = (int32_t)((1u << 30) + lb_rng_below(rng, 1u << 30));
    int32_t frac = (int32_t)lb_rng_below(rng, (uint32_t)M[k]) - M[k] / 2;
    bias[k] = lb_bias_product((int32_t)lb_rng_below(rng, 2001) - 1000, M[k], frac);
    sh[k] = 36 + (int)lb_rng_below(rng, 6);
  }
  uint8_t *y = malloc((size_t)ny), *y2 = malloc((size_t)ny);
  int ysg = (int)lb_rng_below(rng, 2);
  int32_t lo = ysg ? -128 : 0, hi = ysg ? 127 : 255, zp = ysg ? -3 : 7;
  lb_iconv_run_requant(c, d.n, x, zx, bias, M, sh, zp, lo, hi, ysg, y, scratch);
  bad = 0;
  for (int64_t i = 0; i < ny; i++) {
    int k = (int)((i / ((int64_t)d.oh * d.ow)) % d.k);
    int32_t want = lb_requant_acc(acc[i], bias[k], M[k], sh[k], zp, lo, hi);
    y2[i] = (uint8_t)want;
    if (y[i] != y2[i]) bad++;
  }
  CHECK_MSG(bad == 0, "run_requant differs from run + requant in %d places", bad);
  free(bias), free(M), free(sh), free(y), free(y2), free(scratch);
  lb_iconv_free(c);
done:
  free(x), free(w), free(wv), free(zw), free(acc);
}

static void test_conv(void) {
  lb_rng rng;
  lb_rng_seed(&rng, 21);
  const cshape shapes[] = {
      {2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},  /* plain 3x3 pad 1 */
      {1, 4, 9, 9, 6, 3, 3, 2, 2, 1, 1, 1, 1, 2},  /* groups 2, stride 2 */
      {2, 5, 6, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 5},  /* depthwise */
      {1, 8, 5, 5, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1},  /* 1x1 */
      {1, 3, 9, 8, 2, 3, 2, 1, 2, 2, 1, 2, 3, 1},  /* dilation, rectangular, big padding */
      {1, 2, 4, 4, 2, 5, 5, 3, 3, 2, 2, 1, 1, 1},  /* window larger than stride, most taps padded */
      {3, 6, 3, 3, 4, 3, 1, 1, 1, 0, 1, 1, 1, 2},
  };
  const int bitsv[] = {8, 4, 2};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    for (int bi = 0; bi < 3; bi++)
      for (int m = 0; m < 8; m++) check_conv(&shapes[i], bitsv[bi], m & 1, (m >> 1) & 1, (m >> 2) & 1, &rng);
}

static void test_binary(void) {
  lb_rng rng;
  lb_rng_seed(&rng, 31);
  const cshape shapes[] = {{2, 10, 5, 6, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1},
                           {1, 16, 6, 6, 4, 3, 3, 2, 2, 1, 1, 1, 1, 2},
                           {1, 3, 4, 5, 2, 3, 3, 1, 1, 2, 2, 2, 1, 1}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    const cshape *t = &shapes[i];
    lb_conv2d_desc d = {.n = t->n, .c = t->c, .h = t->h, .w = t->w, .k = t->k, .r = t->r, .s = t->s,
                        .stride_h = t->sh, .stride_w = t->sw, .pad_h = t->ph, .pad_w = t->pw,
                        .dil_h = t->dh, .dil_w = t->dw, .groups = t->g};
    CHECK_OK(lb_conv2d_init(&d));
    const int cg = d.c / d.groups, kg = d.k / d.groups, cb = (d.c + 7) / 8;
    const int64_t nx = (int64_t)d.n * d.c * d.h * d.w, nw = (int64_t)d.k * cg * d.r * d.s;
    const int64_t ny = (int64_t)d.n * d.k * d.oh * d.ow;
    int8_t *x = malloc((size_t)nx), *w = malloc((size_t)nw);
    int *wv = malloc((size_t)nw * sizeof *wv);
    uint8_t *xb = malloc((size_t)(d.n * d.h * d.w * cb));
    int32_t *acc = malloc((size_t)ny * 4);
    for (int64_t j = 0; j < nx; j++) x[j] = lb_rng_below(&rng, 2) ? 1 : -1;
    fill_weights(w, wv, nw, 1, 1, &rng);
    lb_ik_pack_binary(LB_IK_REF, d.n, d.c, d.h, d.w, x, xb);
    /* packing: bit c of pixel p is x >= 0 */
    int pk = 0;
    for (int b = 0; b < d.n; b++)
      for (int ch = 0; ch < d.c; ch++)
        for (int p = 0; p < d.h * d.w; p++) {
          int bit = (xb[((int64_t)b * d.h * d.w + p) * cb + ch / 8] >> (ch % 8)) & 1;
          pk += bit != (x[((int64_t)b * d.c + ch) * d.h * d.w + p] >= 0);
        }
    CHECK(pk == 0);
    lb_iconv *c = NULL;
    CHECK_OK(lb_iconv_prepare(&d, 1, 1, w, NULL, 1, LB_IK_REF, &c));
    if (!c) continue;
    CHECK(lb_iconv_weight_bytes(c) == (size_t)d.k * (size_t)((cg * d.r * d.s + 7) / 8));
    void *scratch = malloc(lb_iconv_scratch(c, d.n) + 1);
    lb_iconv_run_binary(c, d.n, xb, acc, scratch);
    int bad = 0;
    for (int b = 0; b < d.n; b++)
      for (int k = 0; k < d.k; k++)
        for (int oh = 0; oh < d.oh; oh++)
          for (int ow = 0; ow < d.ow; ow++) {
            int64_t a = 0;
            for (int ci = 0; ci < cg; ci++)
              for (int r = 0; r < d.r; r++)
                for (int s = 0; s < d.s; s++) {
                  int ih = oh * d.stride_h - d.pad_h + r * d.dil_h, iw = ow * d.stride_w - d.pad_w + s * d.dil_w;
                  if (ih < 0 || ih >= d.h || iw < 0 || iw >= d.w) continue;
                  a += x[(((int64_t)b * d.c + (k / kg) * cg + ci) * d.h + ih) * d.w + iw] *
                       wv[(((int64_t)k * cg + ci) * d.r + r) * d.s + s];
                }
            bad += acc[(((int64_t)b * d.k + k) * d.oh + oh) * d.ow + ow] != a;
          }
    CHECK_MSG(bad == 0, "binary conv shape %zu: %d wrong", i, bad);
    free(scratch);
    lb_iconv_free(c);
    free(x), free(w), free(wv), free(xb), free(acc);
  }
}

static void test_linear(void) {
  lb_rng rng;
  lb_rng_seed(&rng, 41);
  const int dims[][3] = {{1, 7, 13}, {3, 10, 64}, {2, 5, 33}};
  const int bitsv[] = {8, 4, 2};
  for (int di = 0; di < 3; di++)
    for (int bi = 0; bi < 3; bi++)
      for (int m = 0; m < 8; m++) {
        int n = dims[di][0], K = dims[di][1], C = dims[di][2], bits = bitsv[bi];
        int wsg = m & 1, xsg = (m >> 1) & 1, usezp = (m >> 2) & 1;
        uint8_t *x = malloc((size_t)n * C);
        int8_t *w = malloc((size_t)K * C);
        int *wv = malloc((size_t)K * C * sizeof *wv);
        int32_t zw[16], acc[64];
        fill_codes(x, (int64_t)n * C, &rng);
        fill_weights(w, wv, (int64_t)K * C, bits, wsg, &rng);
        int lo, hi = wrange(bits, wsg, &lo);
        for (int k = 0; k < K; k++) zw[k] = usezp ? lo + (int)lb_rng_below(&rng, (uint32_t)(hi - lo + 1)) : 0;
        int32_t zx = usezp ? 17 : 0;
        lb_ilinear *l = NULL;
        CHECK_OK(lb_ilinear_prepare(K, C, bits, wsg, w, usezp ? zw : NULL, xsg, LB_IK_REF, &l));
        if (l) {
          CHECK(lb_ilinear_weight_bytes(l) == (size_t)K * (size_t)((C * bits + 7) / 8));
          lb_ilinear_run(l, n, x, zx, acc);
          int bad = 0;
          for (int b = 0; b < n; b++)
            for (int k = 0; k < K; k++) {
              int64_t a = 0;
              for (int i = 0; i < C; i++) a += (int64_t)(xval(x, b * C + i, xsg) - zx) * (wv[k * C + i] - zw[k]);
              bad += acc[b * K + k] != a;
            }
          CHECK_MSG(bad == 0, "linear n=%d K=%d C=%d bits=%d m=%d: %d wrong", n, K, C, bits, m, bad);
        }
        lb_ilinear_free(l);
        free(x), free(w), free(wv);
      }
}

static void test_prepare_errors(void) {
  lb_conv2d_desc d = {.n = 1, .c = 2, .h = 4, .w = 4, .k = 2, .r = 1, .s = 1, .stride_h = 1, .stride_w = 1,
                      .dil_h = 1, .dil_w = 1, .groups = 1};
  CHECK_OK(lb_conv2d_init(&d));
  int8_t w[4] = {1, -1, 1, 1};
  int32_t zp[2] = {0, 0};
  lb_iconv *c = NULL;
  CHECK_STATUS(lb_iconv_prepare(&d, 3, 1, w, NULL, 0, LB_IK_REF, &c), LB_ERR_ARG);
  CHECK_STATUS(lb_iconv_prepare(&d, 1, 1, w, zp, 0, LB_IK_REF, &c), LB_ERR_ARG); /* binary takes no zp */
  int8_t w8[4] = {8, 0, 0, 0};
  CHECK_STATUS(lb_iconv_prepare(&d, 4, 1, w8, NULL, 0, LB_IK_REF, &c), LB_ERR_ARG); /* 8 > int4 max */
  int8_t wn[4] = {-1, 0, 0, 0};
  CHECK_STATUS(lb_iconv_prepare(&d, 2, 0, wn, NULL, 0, LB_IK_REF, &c), LB_ERR_ARG); /* negative unsigned */
  int8_t w0[4] = {1, 0, 1, 1};
  CHECK_STATUS(lb_iconv_prepare(&d, 1, 1, w0, NULL, 0, LB_IK_REF, &c), LB_ERR_ARG); /* 0 is not binary */
  int32_t zbad[2] = {0, 200};
  CHECK_STATUS(lb_iconv_prepare(&d, 8, 1, w, zbad, 0, LB_IK_REF, &c), LB_ERR_ARG);
  CHECK(c == NULL);
  lb_conv2d_desc bad = d;
  bad.groups = 3;
  CHECK(lb_iconv_prepare(&bad, 8, 1, w, NULL, 0, LB_IK_REF, &c) != LB_OK);
  CHECK_STATUS(lb_iconv_prepare(&d, 8, 1, w, NULL, 0, (lb_ik_isa)7, &c), LB_ERR_ARG);
  /* 8-bit unsigned weights arrive as bytes: 200 is (int8)-56 */
  int8_t wu[4] = {(int8_t)200, 0, 1, 2};
  CHECK_OK(lb_iconv_prepare(&d, 8, 0, wu, NULL, 0, LB_IK_REF, &c));
  lb_iconv_free(c);
  lb_ilinear *l = NULL;
  CHECK_STATUS(lb_ilinear_prepare(2, 2, 1, 1, w, NULL, 0, LB_IK_REF, &l), LB_ERR_UNSUPPORTED);
  CHECK_STATUS(lb_ilinear_prepare(0, 2, 8, 1, w, NULL, 0, LB_IK_REF, &l), LB_ERR_SHAPE);
  CHECK(l == NULL);
  setenv("LOWBIT_KERNELS", "ref", 1);
  CHECK(lb_ik_select() == LB_IK_REF);
  unsetenv("LOWBIT_KERNELS");
  CHECK(strcmp(lb_ik_isa_name(LB_IK_REF), "ref") == 0);
}

static void test_eltwise(void) {
  lb_rng rng;
  lb_rng_seed(&rng, 51);
  /* requant over (n, K, hw) with a bias in product units, per-channel M/s, a ReLU clamp */
  int32_t acc[2 * 3 * 5], M[3] = {INT32_MAX, 1 << 30, 1500000000};
  int s[3] = {31, 33, 0};
  uint8_t y[30];
  for (int i = 0; i < 30; i++) acc[i] = (int32_t)lb_rng_below(&rng, 4001) - 2000;
  acc[0] = INT32_MAX; /* acc + bias must not wrap */
  M[2] = 1;
  /* -50 and 70 on the accumulator grid, and parts of a multiplier below it */
  const int64_t bias[3] = {-50 * (int64_t)INT32_MAX - 12345, 1 << 29, 70};
  lb_ik_requant(LB_IK_REF, 2, 3, 5, acc, bias, M, s, 3, 3, 255, 0, y);
  for (int i = 0; i < 30; i++) {
    int k = (i / 5) % 3;
    int64_t v = 3 + rne_div((int64_t)acc[i] * M[k] + bias[k], s[k]);
    CHECK_MSG(y[i] == (v < 3 ? 3 : v > 255 ? 255 : v), "requant %d", i);
  }
  /* add with mixed signedness, one rounding */
  enum { N = 300 };
  uint8_t a1[N], a2[N], ya[N];
  fill_codes(a1, N, &rng);
  fill_codes(a2, N, &rng);
  lb_ik_add(LB_IK_REF, N, a1, 1, -5, 1234567890, a2, 0, 130, 987654321, 31, -2, -128, 127, 1, ya);
  int bad = 0;
  for (int i = 0; i < N; i++) {
    int64_t p = (int64_t)((int8_t)a1[i] + 5) * 1234567890 + (int64_t)(a2[i] - 130) * 987654321;
    int64_t v = -2 + rne_div(p, 31);
    bad += (int8_t)ya[i] != (v < -128 ? -128 : v > 127 ? 127 : v);
  }
  CHECK(bad == 0);
  /* pools: every window enumerated cell by cell against the padded geometry */
  for (int ci = 0; ci < 2; ci++)
    for (int cm = 0; cm < 2; cm++) {
      lb_pool_desc d = {.n = 2, .c = 3, .h = 7, .w = 6, .kh = 3, .kw = 2, .stride_h = 2, .stride_w = 2,
                        .pad_h = 1, .pad_w = 1, .count_include_pad = ci, .ceil_mode = cm};
      CHECK_OK(lb_pool_init(&d));
      int64_t nx = (int64_t)d.n * d.c * d.h * d.w, ny = (int64_t)d.n * d.c * d.oh * d.ow;
      uint8_t *x = malloc((size_t)nx), *ym = malloc((size_t)ny), *yv = malloc((size_t)ny);
      fill_codes(x, nx, &rng);
      int32_t Mc[10];
      int sc[10];
      for (int q = 1; q < 10; q++) CHECK_OK(lb_requant_multiplier(1.0 / q, &Mc[q], &sc[q]));
      Mc[0] = 0, sc[0] = 0;
      for (int xs = 0; xs < 2; xs++) {
        lb_ik_maxpool(LB_IK_REF, &d, x, xs, ym);
        lb_ik_avgpool(LB_IK_REF, &d, x, xs, 9, Mc, sc, -1, -128, 127, 1, yv);
        bad = 0;
        for (int64_t pl = 0; pl < (int64_t)d.n * d.c; pl++)
          for (int oh = 0; oh < d.oh; oh++)
            for (int ow = 0; ow < d.ow; ow++) {
              int mx = -1000, cnt_all = 0, cnt_valid = 0;
              int64_t sum = 0;
              for (int i = 0; i < d.kh; i++)
                for (int j = 0; j < d.kw; j++) {
                  int h = oh * d.stride_h - d.pad_h + i, w = ow * d.stride_w - d.pad_w + j;
                  if (h >= d.h + d.pad_h || w >= d.w + d.pad_w) continue; /* beyond the padding (ceil mode) */
                  cnt_all++;
                  if (h < 0 || w < 0 || h >= d.h || w >= d.w) continue;
                  cnt_valid++;
                  int v = xval(x, (pl * d.h + h) * d.w + w, xs);
                  if (v > mx) mx = v;
                  sum += v - 9;
                }
              int cnt = ci ? cnt_all : cnt_valid;
              int64_t o = (pl * d.oh + oh) * d.ow + ow;
              bad += xval(ym, o, xs) != mx;
              bad += (int8_t)yv[o] != lb_requant(sum, Mc[cnt], sc[cnt], -1, -128, 127);
            }
        CHECK_MSG(bad == 0, "pools cip=%d ceil=%d xs=%d: %d wrong", ci, cm, xs, bad);
      }
      free(x), free(ym), free(yv);
    }
  /* global average pool: plain sums */
  uint8_t gx[2 * 3 * 10], gy[6];
  fill_codes(gx, 60, &rng);
  int32_t gM;
  int gs;
  CHECK_OK(lb_requant_multiplier(0.1, &gM, &gs));
  lb_ik_gap(LB_IK_REF, 2, 3, 10, gx, 0, 100, gM, gs, 128, 0, 255, 0, gy);
  for (int pl = 0; pl < 6; pl++) {
    int64_t sum = 0;
    for (int i = 0; i < 10; i++) sum += gx[pl * 10 + i] - 100;
    CHECK(gy[pl] == lb_requant(sum, gM, gs, 128, 0, 255));
  }
  /* quantize: rint ties to even after the multiply, clamp, NaN to the zero point */
  float qx[8] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 1000.0f, -1000.0f, NAN};
  int8_t q[8];
  lb_ik_quantize(8, qx, 1.0f, 1, -128, 127, 1, q);
  const int8_t qw[8] = {1, 3, 3, 1, -1, 127, -128, 1};
  CHECK(memcmp(q, qw, 8) == 0);
  float dq[8];
  lb_ik_dequantize(8, q, 1, 1, 0.5f, dq);
  for (int i = 0; i < 8; i++) CHECK(dq[i] == (float)(q[i] - 1) * 0.5f);
  /* one rounding: fmaf((float)acc, scale, bias) */
  int32_t da[6] = {1, -2, 3, 16777217, 5, -6};
  float db[3] = {10.1f, -20.0f, 0.3f}, ds[3] = {0.5f, 0.1f, 2.0f}, dy[6];
  lb_ik_dequantize_acc(1, 3, 2, da, db, ds, dy);
  for (int i = 0; i < 6; i++) CHECK(dy[i] == fmaf((float)da[i], ds[i / 2], db[i / 2]));
}

int main(void) {
  test_rshift();
  test_requant();
  test_multiplier();
  test_conv();
  test_binary();
  test_linear();
  test_prepare_errors();
  test_eltwise();
  return lbt_finish("ikernel_ref");
}
