/* quant/fake_quant: forward, STE and LSQ/LSQ+ gradients against closed-form values (ties round
 * half to even, clamp boundaries), against PyTorch 1.13 (tests/fixtures/quant_fixtures.h from
 * tools/gen_quant_fixtures.py: forward and dx bit for bit, dscale/dzero to 1e-6 relative),
 * accumulate semantics, NULL outputs, and determinism across thread counts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures/quant_fixtures.h"
#include "lowbit/quant.h"
#include "testutil.h"

static float fbits(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static int same_bits(const float *a, const float *b, int64_t n, int64_t *first) {
  for (int64_t i = 0; i < n; i++)
    if (memcmp(&a[i], &b[i], sizeof(float)) != 0) {
      *first = i;
      return 0;
    }
  return 1;
}

static lb_qspec spec(int bits, int is_signed, int sym, int narrow, lb_qgran gran, int axis, int group) {
  return lbt_qspec(bits, is_signed, sym, narrow, gran, axis, group, LB_QSCALE_FLOAT);
}

/* ---- closed form ------------------------------------------------------------------------ */
static void test_ties_and_bounds(void) {
  lb_qspec q = spec(8, 1, 1, 0, LB_QGRAN_TENSOR, 0, 0);
  lb_shape sh = lb_shape1(12);
  float x[12] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 127.0f, 127.5f, -128.0f, -128.5f, 126.5f, -127.5f};
  float want[12] = {0.0f, 2.0f, 2.0f, 0.0f, -2.0f, -2.0f, 127.0f, 127.0f, -128.0f, -128.0f, 126.0f, -128.0f};
  float s = 1.0f, y[12];
  lb_fq_forward(&q, &sh, x, &s, NULL, y);
  for (int i = 0; i < 12; i++) CHECK_MSG(y[i] == want[i], "x=%g y=%g want %g", x[i], y[i], want[i]);
  /* rint(-0.5) = -0, plus the zero point 0 gives +0, as PyTorch's integer zero point does */
  CHECK(!signbit(y[3]));
  /* STE: 127.5 -> 128 and -128.5 -> -128 (even): 128 is clamped, -128 is inside */
  float dy[12], dx[12];
  for (int i = 0; i < 12; i++) dy[i] = (float)(i + 1), dx[i] = 100.0f;
  lb_fq_backward_ste(&q, &sh, x, &s, NULL, dy, dx);
  for (int i = 0; i < 12; i++) {
    float w = 100.0f + (i == 7 ? 0.0f : dy[i]);
    CHECK_MSG(dx[i] == w, "i=%d dx=%g want %g", i, dx[i], w);
  }
  /* affine uint4, scale 0.5, zero 3: q = rint(2x) + 3 in [0, 15] */
  lb_qspec u = spec(4, 0, 0, 0, LB_QGRAN_TENSOR, 0, 0);
  lb_shape s5 = lb_shape1(6);
  float xu[6] = {-1.5f, -1.75f, 6.0f, 6.25f, 0.25f, 0.75f};
  float wu[6] = {-1.5f, -1.5f, 6.0f, 6.0f, 0.0f, 1.0f};
  float su = 0.5f, zu = 3.0f, yu[6];
  lb_fq_forward(&u, &s5, xu, &su, &zu, yu);
  for (int i = 0; i < 6; i++) CHECK_MSG(yu[i] == wu[i], "x=%g y=%g want %g", xu[i], yu[i], wu[i]);
  /* zero point rounds half to even and is clamped: 3.5 -> 4, 2.5 -> 2, 20 -> 15 */
  float z35 = 3.5f, z25 = 2.5f, z20 = 20.0f, one = 0.0f, yy;
  lb_shape s1 = lb_shape1(1);
  lb_fq_forward(&u, &s1, &one, &su, &z35, &yy);
  CHECK(yy == 0.0f);
  float xm = -2.0f; /* rint(-4) + zp */
  lb_fq_forward(&u, &s1, &xm, &su, &z35, &yy);
  CHECK(yy == -2.0f); /* zp 4: q = 0 */
  lb_fq_forward(&u, &s1, &xm, &su, &z25, &yy);
  CHECK(yy == -1.0f); /* zp 2: q = -2 -> 0, y = (0-2)*0.5 */
  lb_fq_forward(&u, &s1, &xm, &su, &z20, &yy);
  CHECK(yy == -2.0f); /* zp 15: q = 11 */
  /* symmetric specs ignore the zero array */
  lb_qspec us = u;
  us.symmetric = 1;
  lb_fq_forward(&us, &s1, &xm, &su, &z35, &yy);
  CHECK(yy == 0.0f);
}

static void test_lsq_closed_form(void) {
  /* uint8 affine, scale 0.5, zero 10: x*inv + zp */
  lb_qspec q = spec(8, 0, 0, 0, LB_QGRAN_TENSOR, 0, 0);
  lb_shape sh = lb_shape1(4);
  float x[4] = {1.3f, -10.0f, 200.0f, 0.25f};
  float dy[4] = {1.0f, 2.0f, -1.0f, 4.0f};
  float s = 0.5f, z = 10.0f, gf = 0.5f;
  float dx[4] = {0}, ds = 1.0f, dz = -1.0f;
  lb_fq_backward_lsq(&q, &sh, x, &s, &z, dy, gf, dx, &ds, &dz);
  /* x=1.3: u = 2.6 -> q 13 inside: dy*((q-zp)*s - x)*inv*gf = 1*(1.5-1.3)*2*0.5 = 0.2 (float)
   * x=-10: 10 - 20 = -10 -> below: 2*(0-10)*0.5 = -10; dz: -2*0.5*0.5 = -0.5
   * x=200: 410 above: -1*(255-10)*0.5 = -122.5; dz: 1*0.5*0.5 = 0.25
   * x=0.25: 10.5 -> 10 (even) inside: 4*((0)*0.5 - 0.25)*2*0.5 = -1 */
  float inside = 1.0f * ((3.0f * 0.5f) - 1.3f) * 2.0f * 0.5f;
  double want_s = 1.0 + ((double)inside - 10.0 - 122.5 - 1.0);
  CHECK_NEAR(ds, want_s, 1e-5);
  CHECK_NEAR(dz, -1.0 - 0.5 + 0.25, 1e-7);
  CHECK(dx[0] == 1.0f && dx[1] == 0.0f && dx[2] == 0.0f && dx[3] == 4.0f);
  /* symmetric: dzero untouched */
  lb_qspec qs = spec(8, 1, 1, 0, LB_QGRAN_TENSOR, 0, 0);
  float dz2 = 7.0f, ds2 = 0.0f;
  lb_fq_backward_lsq(&qs, &sh, x, &s, NULL, dy, 1.0f, NULL, &ds2, &dz2);
  CHECK(dz2 == 7.0f);
  /* all NULL outputs: nothing happens, no crash */
  lb_fq_backward_lsq(&q, &sh, x, &s, &z, dy, gf, NULL, NULL, NULL);
  lb_fq_backward_ste(&q, &sh, x, &s, &z, dy, NULL);
  /* grad factor: 1/sqrt(N qmax) */
  lb_shape w = lb_shape4(16, 3, 3, 3);
  lb_qspec pc = spec(4, 1, 1, 0, LB_QGRAN_CHANNEL, 0, 0);
  CHECK(lb_lsq_grad_factor(&pc, &w) == (float)(1.0 / sqrt(27.0 * 7.0)));
  lb_qspec pt = spec(8, 0, 0, 0, LB_QGRAN_TENSOR, 0, 0);
  CHECK(lb_lsq_grad_factor(&pt, &w) == (float)(1.0 / sqrt(432.0 * 255.0)));
  lb_qspec pg = spec(8, 1, 1, 0, LB_QGRAN_GROUP, 0, 9);
  CHECK(lb_lsq_grad_factor(&pg, &w) == (float)(1.0 / sqrt(9.0 * 127.0)));
}

/* Per-group equals per-channel on the (groups, group) reshape. */
static void test_group(void) {
  lb_shape sh = lb_shape2(4, 12), rs = lb_shape2(12, 4);
  lb_qspec g = spec(4, 0, 0, 0, LB_QGRAN_GROUP, 0, 4), c = spec(4, 0, 0, 0, LB_QGRAN_CHANNEL, 0, 0);
  lb_rng r;
  lb_rng_seed(&r, 3);
  float x[48], dy[48], s[12], z[12], y1[48], y2[48], dx1[48] = {0}, dx2[48] = {0};
  float ds1[12] = {0}, ds2[12] = {0}, dz1[12] = {0}, dz2[12] = {0};
  lbt_fill_uniform(x, 48, &r, -2.0f, 2.0f);
  lbt_fill_uniform(dy, 48, &r, -1.0f, 1.0f);
  for (int i = 0; i < 12; i++) s[i] = 0.05f + 0.02f * (float)i, z[i] = (float)(i % 5) + 0.25f;
  lb_fq_forward(&g, &sh, x, s, z, y1);
  lb_fq_forward(&c, &rs, x, s, z, y2);
  int64_t at = 0;
  CHECK(same_bits(y1, y2, 48, &at));
  lb_fq_backward_lsq(&g, &sh, x, s, z, dy, 0.3f, dx1, ds1, dz1);
  lb_fq_backward_lsq(&c, &rs, x, s, z, dy, 0.3f, dx2, ds2, dz2);
  CHECK(same_bits(dx1, dx2, 48, &at) && same_bits(ds1, ds2, 12, &at) && same_bits(dz1, dz2, 12, &at));
}

/* ---- PyTorch fixtures --------------------------------------------------------------------- */
static void test_fixtures(void) {
  int ncases = (int)(sizeof qfx_cases / sizeof qfx_cases[0]);
  for (int k = 0; k < ncases; k++) {
    const qfx_case *c = &qfx_cases[k];
    lb_shape sh;
    memset(&sh, 0, sizeof sh);
    sh.ndim = c->ndim;
    for (int i = 0; i < c->ndim; i++) sh.d[i] = c->dims[i];
    int per_ch = c->kind == 1 || c->kind == 3;
    lb_qspec q = spec(c->bits, c->is_signed, c->symmetric, c->narrow, per_ch ? LB_QGRAN_CHANNEL : LB_QGRAN_TENSOR,
                      c->axis, 0);
    CHECK_OK(lb_qspec_validate(&q, &sh));
    int32_t qmin, qmax;
    lb_qspec_range(&q, &qmin, &qmax);
    CHECK_MSG(qmin == c->qmin && qmax == c->qmax, "%s: range [%d,%d]", c->name, (int)qmin, (int)qmax);
    CHECK_MSG(lb_qspec_num_params(&q, &sh) == c->np, "%s", c->name);
    CHECK_MSG(lb_lsq_grad_factor(&q, &sh) == fbits(c->grad_factor), "%s: grad factor", c->name);
    int n = c->n, np = c->np;
    float *x = lbt_falloc((size_t)n), *dy = lbt_falloc((size_t)n), *want_y = lbt_falloc((size_t)n);
    float *want_dx = lbt_falloc((size_t)n), *y = lbt_falloc((size_t)n), *dx = lbt_falloc((size_t)n);
    float s[8], z[8], ds[8], dz[8], want_ds[8], want_dz[8];
    for (int i = 0; i < n; i++) {
      x[i] = fbits(qfx_data[c->x + i]);
      dy[i] = fbits(qfx_data[c->dy + i]);
      want_y[i] = fbits(qfx_data[c->y + i]);
      want_dx[i] = fbits(qfx_data[c->dx + i]);
      dx[i] = -0.0f; /* -0 + v == v bit for bit, even for v = -0 */
    }
    for (int i = 0; i < np; i++) {
      s[i] = fbits(qfx_data[c->s + i]);
      z[i] = fbits(qfx_data[c->z + i]);
      ds[i] = dz[i] = 0.0f;
    }
    int64_t at = -1;
    lb_fq_forward(&q, &sh, x, s, z, y);
    CHECK_MSG(same_bits(y, want_y, n, &at), "%s: forward differs at %lld: x=%.9g y=%.9g torch %.9g", c->name,
              (long long)at, at >= 0 ? x[at] : 0.0, at >= 0 ? y[at] : 0.0, at >= 0 ? want_y[at] : 0.0);
    if (c->kind < 2) {
      lb_fq_backward_ste(&q, &sh, x, s, z, dy, dx);
    } else {
      lb_fq_backward_lsq(&q, &sh, x, s, z, dy, fbits(c->grad_factor), dx, ds, dz);
      /* PyTorch sums float terms in its own order, we sum the same float terms in double: compare
       * with the exact sum of PyTorch's terms to 1e-6 relative, and with PyTorch's own result to
       * 1e-6 of the terms' magnitude sum (its float rounding under cancellation). */
      for (int i = 0; i < np; i++) {
        want_ds[i] = fbits(qfx_data[c->ds + i]);
        want_dz[i] = fbits(qfx_data[c->dz + i]);
        double ex_s = fbits(qfx_data[c->ds64 + i]), abs_s = fbits(qfx_data[c->ds64 + np + i]);
        double ex_z = fbits(qfx_data[c->dz64 + i]), abs_z = fbits(qfx_data[c->dz64 + np + i]);
        CHECK_MSG(fabs(ds[i] - ex_s) <= 1e-6 * fabs(ex_s) + 1e-9 * abs_s, "%s: dscale[%d] %.9g, exact sum of torch terms "
                  "%.9g", c->name, i, ds[i], ex_s);
        CHECK_MSG(fabs(ds[i] - want_ds[i]) <= 1e-6 * fmax(fabs(want_ds[i]), abs_s), "%s: dscale[%d] %.9g, torch %.9g",
                  c->name, i, ds[i], want_ds[i]);
        if (c->symmetric) continue;
        CHECK_MSG(fabs(dz[i] - ex_z) <= 1e-6 * fabs(ex_z) + 1e-9 * abs_z, "%s: dzero[%d] %.9g, exact sum of torch terms "
                  "%.9g", c->name, i, dz[i], ex_z);
        CHECK_MSG(fabs(dz[i] - want_dz[i]) <= 1e-6 * fmax(fabs(want_dz[i]), abs_z), "%s: dzero[%d] %.9g, torch %.9g",
                  c->name, i, dz[i], want_dz[i]);
      }
    }
    at = -1;
    CHECK_MSG(same_bits(dx, want_dx, n, &at), "%s: dx differs at %lld: x=%.9g dx=%g torch %g", c->name,
              (long long)at, at >= 0 ? x[at] : 0.0, at >= 0 ? dx[at] : 0.0, at >= 0 ? want_dx[at] : 0.0);
    /* in place */
    memcpy(y, x, sizeof(float) * (size_t)n);
    lb_fq_forward(&q, &sh, y, s, z, y);
    CHECK_MSG(same_bits(y, want_y, n, &at), "%s: in-place forward", c->name);
    /* accumulate: a second call adds the same amounts again */
    if (c->kind >= 2) {
      float ds1[8], dz1[8];
      memcpy(ds1, ds, sizeof ds1);
      memcpy(dz1, dz, sizeof dz1);
      lb_fq_backward_lsq(&q, &sh, x, s, z, dy, fbits(c->grad_factor), dx, ds, dz);
      for (int i = 0; i < np; i++) {
        CHECK_MSG(ds[i] == ds1[i] + ds1[i], "%s: dscale accumulates", c->name);
        if (!c->symmetric) CHECK_MSG(dz[i] == dz1[i] + dz1[i], "%s: dzero accumulates", c->name);
      }
    } else {
      lb_fq_backward_ste(&q, &sh, x, s, z, dy, dx);
    }
    for (int i = 0; i < n; i++) CHECK_MSG(dx[i] == want_dx[i] + want_dx[i], "%s: dx accumulates at %d", c->name, i);
    free(x);
    free(dy);
    free(want_y);
    free(want_dx);
    free(y);
    free(dx);
  }
}

/* ---- threads ------------------------------------------------------------------------------- */
static void run_all(const lb_qspec *q, const lb_shape *sh, const float *x, const float *s, const float *z,
                    const float *dy, float *y, float *dx, float *ds, float *dz, int64_t n, int64_t np) {
  memset(dx, 0, sizeof(float) * (size_t)n);
  memset(ds, 0, sizeof(float) * (size_t)np);
  memset(dz, 0, sizeof(float) * (size_t)np);
  lb_fq_forward(q, sh, x, s, z, y);
  lb_fq_backward_ste(q, sh, x, s, z, dy, dx);
  lb_fq_backward_lsq(q, sh, x, s, z, dy, 0.01f, dx, ds, dz);
}

static void test_threads(void) {
  /* large enough to take the parallel paths (per tensor: chunked partial sums) */
  lb_shape shapes[3] = {lb_shape2(300, 1000), lb_shape4(8, 16, 40, 40), lb_shape2(1000, 96)};
  lb_qspec specs[3] = {spec(8, 0, 0, 0, LB_QGRAN_TENSOR, 0, 0), spec(4, 1, 0, 0, LB_QGRAN_CHANNEL, 1, 0),
                       spec(3, 1, 0, 0, LB_QGRAN_GROUP, 0, 32)};
  int saved = lb_get_num_threads();
  for (int t = 0; t < 3; t++) {
    int64_t n = lb_shape_numel(&shapes[t]), np = lb_qspec_num_params(&specs[t], &shapes[t]);
    float *x = lbt_falloc((size_t)n), *dy = lbt_falloc((size_t)n), *s = lbt_falloc((size_t)np);
    float *z = lbt_falloc((size_t)np), *y[2], *dx[2], *ds[2], *dz[2];
    lb_rng r;
    lb_rng_seed(&r, 77 + (uint64_t)t);
    lbt_fill_uniform(x, n, &r, -3.0f, 3.0f);
    lbt_fill_uniform(dy, n, &r, -1.0f, 1.0f);
    lbt_fill_uniform(s, np, &r, 0.01f, 0.1f);
    lbt_fill_uniform(z, np, &r, -3.0f, 3.0f);
    for (int k = 0; k < 2; k++) {
      y[k] = lbt_falloc((size_t)n);
      dx[k] = lbt_falloc((size_t)n);
      ds[k] = lbt_falloc((size_t)np);
      dz[k] = lbt_falloc((size_t)np);
      lb_set_num_threads(k + 1);
      run_all(&specs[t], &shapes[t], x, s, z, dy, y[k], dx[k], ds[k], dz[k], n, np);
    }
    int64_t at;
    CHECK_MSG(same_bits(y[0], y[1], n, &at), "case %d: forward differs across threads", t);
    CHECK_MSG(same_bits(dx[0], dx[1], n, &at), "case %d: dx differs across threads", t);
    CHECK_MSG(same_bits(ds[0], ds[1], np, &at), "case %d: dscale differs across threads", t);
    CHECK_MSG(same_bits(dz[0], dz[1], np, &at), "case %d: dzero differs across threads", t);
    /* clamped values exist, so the reductions saw all three branches */
    CHECK(ds[0][0] != 0.0f && dz[0][0] != 0.0f);
    free(x);
    free(dy);
    free(s);
    free(z);
    for (int k = 0; k < 2; k++) {
      free(y[k]);
      free(dx[k]);
      free(ds[k]);
      free(dz[k]);
    }
  }
  lb_set_num_threads(saved);
}

int main(void) {
  test_ties_and_bounds();
  test_lsq_closed_form();
  test_group();
  test_fixtures();
  test_threads();
  return lbt_finish("test_quant_fq");
}
