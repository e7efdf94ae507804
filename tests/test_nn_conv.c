/* 2-D convolution: the fast path (SIMD where built, else BLAS) and the portable BLAS path against
 * the plain-loop reference on many configurations, accumulate semantics, determinism, finite-
 * difference gradient checks, and descriptor validation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/nn.h"
#include "nn/conv2d_impl.h"
#include "testutil.h"

typedef struct cfg {
  int n, c, h, w, k, r, s, sh, sw, ph, pw, dh, dw, g;
} cfg;

static lb_conv2d_desc make_desc(const cfg *t) {
  lb_conv2d_desc d = {t->n, t->c, t->h, t->w, t->k, t->r, t->s, t->sh, t->sw, t->ph, t->pw, t->dh, t->dw, t->g, 0, 0, 0, 0};
  return d;
}

static const char *cfg_str(const cfg *t, char *buf, size_t cap) {
  snprintf(buf, cap, "n%d c%d %dx%d k%d %dx%d s%d,%d p%d,%d d%d,%d g%d", t->n, t->c, t->h, t->w, t->k, t->r, t->s,
           t->sh, t->sw, t->ph, t->pw, t->dh, t->dw, t->g);
  return buf;
}

/* FAST: the public dispatch (oneDNN where built in); SIMD: our own SIMD kernels called
 * directly, so they stay checked on the shapes the dispatch hands to oneDNN; BLAS: im2col. */
enum { IMPL_FAST, IMPL_SIMD, IMPL_BLAS };
static const char *impl_names[] = {"fast", "simd", "blas"};

static void run_forward(int impl, const lb_conv2d_desc *d, const float *x, const float *w, const float *b, float *y,
                        float *scratch) {
  if (impl == IMPL_FAST) lb_conv2d_forward(d, x, w, b, y, scratch);
#ifdef LB_CONV_SIMD
  else if (impl == IMPL_SIMD) lb_conv2d_simd_forward(d, x, w, b, y, scratch);
#endif
  else lb_conv2d_blas_forward(d, x, w, b, y, scratch);
}

static void run_backward(int impl, const lb_conv2d_desc *d, const float *x, const float *w, const float *dy, float *dx,
                         float *dw, float *db, float *scratch) {
  if (impl == IMPL_FAST) lb_conv2d_backward(d, x, w, dy, dx, dw, db, scratch);
#ifdef LB_CONV_SIMD
  else if (impl == IMPL_SIMD) {
    if (db) lb_conv2d_bias_grad(d, dy, db);
    lb_conv2d_simd_backward(d, x, w, dy, dx, 0, dw, scratch);
  }
#endif
  else lb_conv2d_blas_backward(d, x, w, dy, dx, dw, db, scratch);
}

static size_t scratch_of(int impl, const lb_conv2d_desc *d) {
#ifdef LB_CONV_SIMD
  if (impl == IMPL_SIMD) return lb_conv2d_simd_scratch_floats(d);
#endif
  return impl == IMPL_FAST ? lb_conv2d_scratch_floats(d) : lb_conv2d_blas_scratch_floats(d);
}

/* The SIMD kernels take everything but depthwise convs, where built for the target. */
static int impl_takes(int impl, const lb_conv2d_desc *d) {
#ifdef LB_CONV_SIMD
  return impl != IMPL_SIMD || !(d->c == d->groups && d->k == d->groups);
#else
  (void)d;
  return impl != IMPL_SIMD;
#endif
}

/* CHECK got against the reference want: lbt_scaled_err within 1e-4. */
static void expect_close(const float *got, const float *want, size_t n, const char *iname, const char *what,
                         const char *name) {
  double e = lbt_scaled_err(got, want, n);
  CHECK_MSG(e <= 1e-4, "%s %s %s: err %g", iname, what, name, e);
}

/* Compare one implementation with the reference on one configuration; returns 1 if it ran. */
static int compare_cfg(int impl, const cfg *t, lb_rng *rng) {
  char name[128];
  lb_conv2d_desc d = make_desc(t);
  if (lb_conv2d_init(&d) != LB_OK || !impl_takes(impl, &d)) return 0;
  cfg_str(t, name, sizeof name);
  const char *iname = impl_names[impl];
  const size_t nx = (size_t)d.n * d.c * d.h * d.w, ny = (size_t)d.n * d.k * d.oh * d.ow;
  const size_t nw = (size_t)d.k * (d.c / d.groups) * d.r * d.s, nk = (size_t)d.k;
  float *x = lbt_falloc(nx), *w = lbt_falloc(nw), *b = lbt_falloc(nk), *dy = lbt_falloc(ny);
  float *y = lbt_falloc(ny), *y_ref = lbt_falloc(ny);
  float *dx0 = lbt_falloc(nx), *dw0 = lbt_falloc(nw), *db0 = lbt_falloc(nk);
  float *dx = lbt_falloc(nx), *dw = lbt_falloc(nw), *db = lbt_falloc(nk);
  float *dx_ref = lbt_falloc(nx), *dw_ref = lbt_falloc(nw), *db_ref = lbt_falloc(nk);
  const size_t ns = scratch_of(impl, &d);
  /* one float of guard past the scratch the kernel asked for */
  float *scratch = lbt_falloc(ns + 1);
  scratch[ns] = 12345.0f;
  lbt_fill_uniform(x, (int64_t)nx, rng, -1, 1);
  lbt_fill_uniform(w, (int64_t)nw, rng, -1, 1);
  lbt_fill_uniform(b, (int64_t)nk, rng, -1, 1);
  lbt_fill_uniform(dy, (int64_t)ny, rng, -1, 1);
  /* gradients start non-zero: backward must add to them */
  lbt_fill_uniform(dx0, (int64_t)nx, rng, -1, 1);
  lbt_fill_uniform(dw0, (int64_t)nw, rng, -1, 1);
  lbt_fill_uniform(db0, (int64_t)nk, rng, -1, 1);
  for (size_t i = 0; i < ny; i++) y[i] = NAN; /* forward must overwrite every output */
  for (size_t i = 0; i < ns; i++) scratch[i] = NAN; /* and never read scratch it did not write */

  /* forward, with and without bias */
  lb_conv2d_forward_ref(&d, x, w, b, y_ref);
  run_forward(impl, &d, x, w, b, y, scratch);
  expect_close(y, y_ref, ny, iname, "forward", name);
  lb_conv2d_forward_ref(&d, x, w, NULL, y_ref);
  run_forward(impl, &d, x, w, NULL, y, scratch);
  expect_close(y, y_ref, ny, iname, "forward (no bias)", name);

  /* backward, all gradients at once, accumulating */
  memcpy(dx, dx0, sizeof(float) * nx);
  memcpy(dw, dw0, sizeof(float) * nw);
  memcpy(db, db0, sizeof(float) * nk);
  memcpy(dx_ref, dx0, sizeof(float) * nx);
  memcpy(dw_ref, dw0, sizeof(float) * nw);
  memcpy(db_ref, db0, sizeof(float) * nk);
  lb_conv2d_backward_ref(&d, x, w, dy, dx_ref, dw_ref, db_ref);
  run_backward(impl, &d, x, w, dy, dx, dw, db, scratch);
  expect_close(dx, dx_ref, nx, iname, "dx", name);
  expect_close(dw, dw_ref, nw, iname, "dw", name);
  expect_close(db, db_ref, nk, iname, "db", name);

  /* each gradient alone (the others NULL) must give the same values */
  memcpy(dx, dx0, sizeof(float) * nx);
  run_backward(impl, &d, x, w, dy, dx, NULL, NULL, scratch);
  expect_close(dx, dx_ref, nx, iname, "dx only", name);
  memcpy(dw, dw0, sizeof(float) * nw);
  run_backward(impl, &d, x, w, dy, NULL, dw, NULL, scratch);
  expect_close(dw, dw_ref, nw, iname, "dw only", name);
  memcpy(db, db0, sizeof(float) * nk);
  run_backward(impl, &d, x, w, dy, NULL, NULL, db, scratch);
  expect_close(db, db_ref, nk, iname, "db only", name);
  CHECK_MSG(scratch[ns] == 12345.0f, "%s %s: wrote past the scratch it asked for", iname, name);

  free(x), free(w), free(b), free(dy);
  free(y), free(y_ref);
  free(dx0), free(dw0), free(db0);
  free(dx), free(dw), free(db);
  free(dx_ref), free(dw_ref), free(db_ref);
  free(scratch);
  return 1;
}

/* Hand-picked shapes: every path and mode (direct/col, dx as conv or col2im, packs spanning
 * several images and several packs per slot, tile remainders) plus ResNet-8-like layers. */
static const cfg fixed_cfgs[] = {
    /* n  c   h   w   k  r  s sh sw ph pw dh dw g */
    {2, 3, 9, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},      /* small plane, stride 1 */
    {3, 16, 28, 28, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1},  /* ResNet-8 stage 1 (direct mode) */
    {2, 16, 28, 28, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1},  /* stage 2 entry, stride 2 */
    {2, 32, 14, 14, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1},  /* 14x14 */
    {2, 64, 7, 7, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1},    /* 7x7, many images per pack */
    {2, 16, 28, 28, 32, 1, 1, 2, 2, 0, 0, 1, 1, 1},  /* 1x1 stride-2 shortcut */
    {2, 1, 28, 28, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1},   /* first layer, C = 1 */
    {2, 8, 16, 16, 12, 1, 1, 1, 1, 0, 0, 1, 1, 1},   /* pointwise, big plane */
    {3, 6, 5, 7, 10, 1, 1, 1, 1, 0, 0, 1, 1, 2},     /* pointwise, small plane, groups */
    {2, 4, 6, 6, 5, 1, 1, 1, 1, 1, 1, 1, 1, 1},      /* 1x1 with padding: dx via col2im */
    {2, 4, 11, 13, 6, 3, 5, 1, 2, 2, 1, 2, 1, 2},    /* non-square, dilation, groups 2 */
    {1, 5, 10, 9, 7, 2, 3, 3, 2, 0, 2, 1, 2, 1},     /* batch 1, stride 3, even kernel */
    {3, 6, 12, 12, 6, 3, 3, 1, 1, 1, 1, 1, 1, 6},    /* depthwise */
    {2, 4, 13, 11, 4, 5, 3, 2, 1, 2, 1, 2, 1, 4},    /* depthwise, strided and dilated */
    {2, 3, 8, 8, 6, 3, 3, 1, 1, 1, 1, 1, 1, 3},      /* channel multiplier 2 */
    {19, 2, 40, 40, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1},   /* several packs per slot */
    {13, 3, 6, 5, 17, 3, 3, 1, 1, 2, 2, 2, 2, 1},    /* odd batch, K past a tile */
    {2, 20, 9, 9, 33, 3, 3, 2, 2, 2, 2, 1, 1, 1},    /* remainders in every tile dim */
    {2, 3, 1, 1, 4, 1, 1, 1, 1, 0, 0, 1, 1, 1},      /* 1x1 image */
    {2, 2, 3, 3, 3, 3, 3, 1, 1, 2, 2, 1, 1, 1},      /* padding larger than the kernel reach */
    {2, 4, 7, 7, 4, 3, 3, 2, 2, 0, 0, 2, 2, 2},      /* stride and dilation together */
    {2, 5, 9, 8, 7, 1, 1, 2, 3, 0, 0, 1, 1, 1},      /* strided 1x1, uneven strides, odd plane */
    {2, 16, 9, 10, 32, 1, 1, 3, 2, 0, 0, 1, 1, 1},   /* the same, wide enough for oneDNN's dw */
    {2, 3, 9, 11, 32, 3, 3, 2, 1, 1, 0, 1, 1, 1},    /* narrow first layer, strided, uneven pads */
    {2, 4, 7, 6, 24, 2, 3, 1, 2, 1, 1, 1, 1, 1},     /* the same with K not a multiple of 16 */
};

static int fixed_count(void) { return (int)(sizeof fixed_cfgs / sizeof fixed_cfgs[0]); }

static cfg random_cfg(lb_rng *rng) {
  cfg t;
  const int gsel = (int)lb_rng_below(rng, 4);
  t.n = 1 + (int)lb_rng_below(rng, 4);
  if (gsel == 3) { /* depthwise */
    t.g = 1 + (int)lb_rng_below(rng, 5);
    t.c = t.k = t.g;
  } else {
    t.g = 1 + gsel;
    t.c = t.g * (1 + (int)lb_rng_below(rng, 4));
    t.k = t.g * (1 + (int)lb_rng_below(rng, 6));
  }
  t.h = 1 + (int)lb_rng_below(rng, 12);
  t.w = 1 + (int)lb_rng_below(rng, 12);
  t.r = 1 + (int)lb_rng_below(rng, 4);
  t.s = 1 + (int)lb_rng_below(rng, 4);
  t.sh = 1 + (int)lb_rng_below(rng, 2);
  t.sw = 1 + (int)lb_rng_below(rng, 2);
  t.ph = (int)lb_rng_below(rng, 3);
  t.pw = (int)lb_rng_below(rng, 3);
  t.dh = 1 + (int)lb_rng_below(rng, 2);
  t.dw = 1 + (int)lb_rng_below(rng, 2);
  return t;
}

static void test_against_reference(void) {
  lb_rng rng;
  lb_rng_seed(&rng, 7);
  int ran = 0;
  for (int i = 0; i < fixed_count(); i++) {
    CHECK(compare_cfg(IMPL_FAST, &fixed_cfgs[i], &rng));
    compare_cfg(IMPL_SIMD, &fixed_cfgs[i], &rng);
    CHECK(compare_cfg(IMPL_BLAS, &fixed_cfgs[i], &rng));
  }
  for (int i = 0; i < 80; i++) {
    cfg t = random_cfg(&rng);
    ran += compare_cfg(IMPL_FAST, &t, &rng);
    compare_cfg(IMPL_SIMD, &t, &rng);
    compare_cfg(IMPL_BLAS, &t, &rng);
  }
  CHECK_MSG(ran >= 40, "only %d random configurations were valid", ran);
  /* random shapes rarely reach oneDNN's 16 channels: a few that do, odd sizes included */
  static const cfg wide[] = {
      {3, 16, 9, 7, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1}, {2, 24, 11, 11, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1},
      {2, 17, 6, 9, 33, 2, 3, 1, 2, 0, 2, 1, 1, 1}, {1, 16, 5, 5, 16, 5, 5, 3, 3, 2, 2, 1, 1, 1},
  };
  for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++) CHECK(compare_cfg(IMPL_FAST, &wide[i], &rng));
}

/* Built with oneDNN, the ResNet convs (3x3, the 1x1 shortcut, the one-channel stem) run on it;
 * grouped, dilated, narrow (K < 16) and mid-width-input (C = 6) convs stay on ours. */
static void test_dispatch(void) {
  const cfg onednn[] = {fixed_cfgs[1], fixed_cfgs[2], fixed_cfgs[3], fixed_cfgs[4], fixed_cfgs[5], fixed_cfgs[6]};
  const cfg own[] = {fixed_cfgs[0], fixed_cfgs[10], {2, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0, 1, 1, 1},
                     {2, 32, 8, 8, 32, 3, 3, 1, 1, 2, 2, 2, 2, 1}};
  const int built = lb_conv2d_onednn_version() != NULL;
  for (size_t i = 0; i < sizeof onednn / sizeof onednn[0]; i++) {
    lb_conv2d_desc d = make_desc(&onednn[i]);
    CHECK_OK(lb_conv2d_init(&d));
    CHECK_MSG(strcmp(lb_conv2d_backend(&d), built ? "onednn" : "simd") == 0 ||
                  (!built && strcmp(lb_conv2d_backend(&d), "blas") == 0),
              "ResNet conv %zu runs on %s", i, lb_conv2d_backend(&d));
  }
  for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
    lb_conv2d_desc d = make_desc(&own[i]);
    CHECK_OK(lb_conv2d_init(&d));
    CHECK_MSG(strcmp(lb_conv2d_backend(&d), "onednn") != 0, "shape %zu should stay on our kernels", i);
  }
  lb_conv2d_desc dw = make_desc(&fixed_cfgs[12]);
  CHECK_OK(lb_conv2d_init(&dw));
  CHECK(strcmp(lb_conv2d_backend(&dw), "depthwise") == 0);
}

/* Same inputs, same thread count: identical bits, forward and backward. */
static void test_determinism(void) {
  const cfg t = {24, 16, 14, 14, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1};
  lb_conv2d_desc d = make_desc(&t);
  CHECK_OK(lb_conv2d_init(&d));
  lb_rng rng;
  lb_rng_seed(&rng, 11);
  const size_t nx = (size_t)d.n * d.c * d.h * d.w, ny = (size_t)d.n * d.k * d.oh * d.ow;
  const size_t nw = (size_t)d.k * d.c * d.r * d.s;
  float *x = lbt_falloc(nx), *w = lbt_falloc(nw), *dy = lbt_falloc(ny), *s = lbt_falloc(lb_conv2d_scratch_floats(&d));
  float *y[2], *dx[2], *dw[2], db[2][32];
  lbt_fill_uniform(x, (int64_t)nx, &rng, -1, 1);
  lbt_fill_uniform(w, (int64_t)nw, &rng, -1, 1);
  lbt_fill_uniform(dy, (int64_t)ny, &rng, -1, 1);
  for (int run = 0; run < 2; run++) {
    y[run] = lbt_falloc(ny), dx[run] = lbt_falloc(nx), dw[run] = lbt_falloc(nw);
    memset(dx[run], 0, sizeof(float) * nx);
    memset(dw[run], 0, sizeof(float) * nw);
    memset(db[run], 0, sizeof db[run]);
    lb_conv2d_forward(&d, x, w, NULL, y[run], s);
    lb_conv2d_backward(&d, x, w, dy, dx[run], dw[run], db[run], s);
  }
  CHECK(memcmp(y[0], y[1], sizeof(float) * ny) == 0);
  CHECK(memcmp(dx[0], dx[1], sizeof(float) * nx) == 0);
  CHECK(memcmp(dw[0], dw[1], sizeof(float) * nw) == 0);
  CHECK(memcmp(db[0], db[1], sizeof db[0]) == 0);
  for (int run = 0; run < 2; run++) free(y[run]), free(dx[run]), free(dw[run]);
  free(x), free(w), free(dy), free(s);
}

/* ---- finite differences: loss = sum(y * r) in double ---------------------------------------- */
typedef struct gc_ctx {
  const lb_conv2d_desc *d;
  int ref;
  float *x, *w, *b, *y, *r, *scratch;
  size_t ny;
} gc_ctx;

static double gc_loss(void *p) {
  gc_ctx *c = p;
  if (c->ref) lb_conv2d_forward_ref(c->d, c->x, c->w, c->b, c->y);
  else lb_conv2d_forward(c->d, c->x, c->w, c->b, c->y, c->scratch);
  return lbt_dot(c->y, c->r, (int64_t)c->ny);
}

static void grad_check_cfg(const cfg *t, int ref, lb_rng *rng) {
  char name[128];
  lb_conv2d_desc d = make_desc(t);
  CHECK_OK(lb_conv2d_init(&d));
  cfg_str(t, name, sizeof name);
  const size_t nx = (size_t)d.n * d.c * d.h * d.w, ny = (size_t)d.n * d.k * d.oh * d.ow;
  const size_t nw = (size_t)d.k * (d.c / d.groups) * d.r * d.s, nk = (size_t)d.k;
  gc_ctx c = {&d, ref, lbt_falloc(nx), lbt_falloc(nw), lbt_falloc(nk), lbt_falloc(ny), lbt_falloc(ny),
              lbt_falloc(lb_conv2d_scratch_floats(&d)), ny};
  float *dx = lbt_falloc(nx), *dw = lbt_falloc(nw), *db = lbt_falloc(nk);
  lbt_fill_uniform(c.x, (int64_t)nx, rng, -1, 1);
  lbt_fill_uniform(c.w, (int64_t)nw, rng, -1, 1);
  lbt_fill_uniform(c.b, (int64_t)nk, rng, -1, 1);
  lbt_fill_uniform(c.r, (int64_t)ny, rng, -1, 1);
  memset(dx, 0, sizeof(float) * nx);
  memset(dw, 0, sizeof(float) * nw);
  memset(db, 0, sizeof(float) * nk);
  /* dL/dy = r */
  if (ref) lb_conv2d_backward_ref(&d, c.x, c.w, c.r, dx, dw, db);
  else lb_conv2d_backward(&d, c.x, c.w, c.r, dx, dw, db, c.scratch);
  /* the loss is linear in each parameter, so a large step only reduces rounding noise */
  const double ex = lbt_grad_check(gc_loss, &c, c.x, dx, (int64_t)nx, 60, 0.05, 0.05, rng);
  const double ew = lbt_grad_check(gc_loss, &c, c.w, dw, (int64_t)nw, 60, 0.05, 0.05, rng);
  const double eb = lbt_grad_check(gc_loss, &c, c.b, db, (int64_t)nk, 0, 0.05, 0.05, rng);
  CHECK_MSG(ex <= 2e-3, "%s grad x %s: err %g", ref ? "ref" : "fast", name, ex);
  CHECK_MSG(ew <= 2e-3, "%s grad w %s: err %g", ref ? "ref" : "fast", name, ew);
  CHECK_MSG(eb <= 2e-3, "%s grad b %s: err %g", ref ? "ref" : "fast", name, eb);
  free(c.x), free(c.w), free(c.b), free(c.y), free(c.r);
  free(c.scratch), free(dx), free(dw), free(db);
}

static void test_grad_check(void) {
  static const cfg gc[] = {
      {2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},
      {2, 4, 9, 8, 6, 3, 2, 2, 1, 1, 0, 2, 1, 2},
      {1, 3, 6, 6, 3, 3, 3, 2, 2, 1, 1, 1, 1, 3},
      {3, 2, 5, 5, 5, 1, 1, 1, 1, 0, 0, 1, 1, 1},
  };
  lb_rng rng;
  lb_rng_seed(&rng, 3);
  for (size_t i = 0; i < sizeof gc / sizeof gc[0]; i++) {
    grad_check_cfg(&gc[i], 1, &rng);
    grad_check_cfg(&gc[i], 0, &rng);
  }
}

/* ---- descriptor validation ------------------------------------------------------------------ */
static lb_status init_with(cfg t) {
  lb_conv2d_desc d = make_desc(&t);
  lb_clear_error();
  lb_status s = lb_conv2d_init(&d);
  if (s != LB_OK) CHECK_MSG(lb_last_error()[0] != '\0', "failure without a message");
  return s;
}

static void test_init(void) {
  const cfg ok = {2, 4, 8, 8, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2};
  cfg t;
  CHECK_OK(init_with(ok));
#define BAD(field, value, want)                                                                   \
  do {                                                                                            \
    t = ok;                                                                                       \
    t.field = value;                                                                              \
    CHECK_STATUS(init_with(t), want);                                                             \
  } while (0)
  BAD(n, 0, LB_ERR_ARG);
  BAD(c, -1, LB_ERR_ARG);
  BAD(h, 0, LB_ERR_ARG);
  BAD(w, -3, LB_ERR_ARG);
  BAD(k, 0, LB_ERR_ARG);
  BAD(r, 0, LB_ERR_ARG);
  BAD(s, -1, LB_ERR_ARG);
  BAD(sh, 0, LB_ERR_ARG);
  BAD(sw, -2, LB_ERR_ARG);
  BAD(ph, -1, LB_ERR_ARG);
  BAD(pw, -1, LB_ERR_ARG);
  BAD(dh, 0, LB_ERR_ARG);
  BAD(dw, 0, LB_ERR_ARG);
  BAD(g, 0, LB_ERR_ARG);
  BAD(g, -2, LB_ERR_ARG);
  BAD(g, 3, LB_ERR_SHAPE);  /* divides neither C=4 nor K=6 */
  BAD(g, 4, LB_ERR_SHAPE);  /* divides C=4, not K=6 */
  BAD(c, 5, LB_ERR_SHAPE);  /* groups 2 does not divide C=5 */
  BAD(r, 11, LB_ERR_SHAPE); /* 11 > 8 + 2 */
  BAD(dh, 6, LB_ERR_SHAPE); /* dilated kernel 13 > 10 */
  BAD(h, 1000000000, LB_ERR_ARG);
  BAD(ph, 2000000000, LB_ERR_ARG);
#undef BAD
  t = ok;
  t.c = t.k = t.g = 4; /* depthwise is fine */
  CHECK_OK(init_with(t));
  t = ok;
  t.r = 10; /* exactly the padded height: one output row */
  CHECK_OK(init_with(t));
  CHECK_STATUS(lb_conv2d_init(NULL), LB_ERR_ARG);

  /* derived output sizes */
  static const struct {
    cfg t;
    int oh, ow;
  } sizes[] = {
      {{1, 1, 28, 28, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1}, 14, 14},
      {{1, 1, 7, 7, 1, 3, 3, 1, 1, 0, 0, 2, 2, 1}, 3, 3},
      {{1, 1, 10, 9, 1, 2, 3, 3, 2, 0, 2, 1, 2, 1}, 3, 5},
      {{1, 1, 5, 5, 1, 1, 1, 1, 1, 2, 0, 1, 1, 1}, 9, 5},
  };
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    lb_conv2d_desc d = make_desc(&sizes[i].t);
    CHECK_OK(lb_conv2d_init(&d));
    CHECK(d.oh == sizes[i].oh && d.ow == sizes[i].ow);
  }
}

int main(void) {
  test_dispatch();
  lb_set_num_threads(2);
  test_init();
  test_against_reference();
  test_determinism();
  test_grad_check();
  return lbt_finish("test_nn_conv");
}
