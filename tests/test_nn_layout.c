/* nChw16c (lb_layout): the conversions against the index formula, and every kernel that takes
 * the layout giving the same bits as on NCHW: batch norm (train, eval, backward; plain and with
 * ReLU; accumulate and assign; serial and parallel sizes) and global average pooling. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/nn.h"
#include "testutil.h"

static void test_conversions(lb_rng *rng) {
  const int n = 3, c = 32, hw = 7;
  const int64_t tot = (int64_t)n * c * hw;
  float *a = malloc(sizeof(float) * tot), *b = malloc(sizeof(float) * tot), *back = malloc(sizeof(float) * tot);
  lbt_fill_uniform(a, tot, rng, -1, 1);
  lb_layout_to_nchw16c(n, c, hw, a, b);
  int wrong = 0;
  for (int i = 0; i < n; i++)
    for (int ch = 0; ch < c; ch++)
      for (int p = 0; p < hw; p++)
        wrong += a[((int64_t)i * c + ch) * hw + p] != b[(((int64_t)i * (c / 16) + ch / 16) * hw + p) * 16 + ch % 16];
  CHECK(wrong == 0);
  lb_layout_to_nchw(n, c, hw, b, back);
  CHECK(memcmp(a, back, sizeof(float) * tot) == 0);
  free(a);
  free(b);
  free(back);
}

typedef struct bn_run {
  float *y, *dx, *stats; /* y and dx in NCHW; stats: running mean/var, saved, dgamma, dbeta */
} bn_run;

/* Forward (train or eval) then backward in one layout; results converted back to NCHW. */
static bn_run bn_in_layout(lb_bn_desc d, int layout, int relu, int train, int assign, const float *x,
                           const float *dy, const float *dx0, const float *g, const float *b) {
  const int64_t tot = (int64_t)d.n * d.c * d.hw;
  d.layout = layout;
  CHECK_OK(lb_bn_init(&d));
  float *xl = malloc(sizeof(float) * tot), *dyl = malloc(sizeof(float) * tot), *yl = malloc(sizeof(float) * tot);
  float *dxl = malloc(sizeof(float) * tot);
  bn_run r = {malloc(sizeof(float) * tot), malloc(sizeof(float) * tot), calloc(6 * (size_t)d.c, sizeof(float))};
  float *st = r.stats;
  for (int k = 0; k < d.c; k++) st[d.c + k] = 1.0f + 0.01f * (float)k;
  if (layout == LB_LAYOUT_NCHW16C) {
    lb_layout_to_nchw16c(d.n, d.c, d.hw, x, xl);
    lb_layout_to_nchw16c(d.n, d.c, d.hw, dy, dyl);
    lb_layout_to_nchw16c(d.n, d.c, d.hw, dx0, dxl);
  } else {
    memcpy(xl, x, sizeof(float) * tot);
    memcpy(dyl, dy, sizeof(float) * tot);
    memcpy(dxl, dx0, sizeof(float) * tot);
  }
  if (!train) {
    (relu ? lb_bn_relu_forward_eval : lb_bn_forward_eval)(&d, xl, g, b, st, st + d.c, yl);
  } else {
    (relu ? lb_bn_relu_forward_train : lb_bn_forward_train)(&d, xl, g, b, st, st + d.c, yl, st + 2 * d.c,
                                                            st + 3 * d.c);
    lb_bn_backward_ex(&d, xl, relu ? yl : NULL, g, st + 2 * d.c, st + 3 * d.c, dyl, dxl, assign, st + 4 * d.c,
                      st + 5 * d.c);
  }
  if (layout == LB_LAYOUT_NCHW16C) {
    lb_layout_to_nchw(d.n, d.c, d.hw, yl, r.y);
    lb_layout_to_nchw(d.n, d.c, d.hw, dxl, r.dx);
  } else {
    memcpy(r.y, yl, sizeof(float) * tot);
    memcpy(r.dx, dxl, sizeof(float) * tot);
  }
  free(xl);
  free(dyl);
  free(yl);
  free(dxl);
  return r;
}

static void test_bn(int n, int c, int hw, lb_rng *rng) {
  const int64_t tot = (int64_t)n * c * hw;
  float *x = malloc(sizeof(float) * tot), *dy = malloc(sizeof(float) * tot), *dx0 = malloc(sizeof(float) * tot);
  float *g = malloc(sizeof(float) * c), *b = malloc(sizeof(float) * c);
  lbt_fill_uniform(x, tot, rng, -1.0f, 3.0f);
  lbt_fill_uniform(dy, tot, rng, -1.0f, 1.0f);
  lbt_fill_uniform(dx0, tot, rng, -0.5f, 0.5f);
  lbt_fill_uniform(g, c, rng, 0.5f, 1.5f);
  lbt_fill_uniform(b, c, rng, -0.5f, 0.5f);
  lb_bn_desc d = {.n = n, .c = c, .hw = hw, .eps = 1e-5f, .momentum = 0.1f};
  for (int mode = 0; mode < 8; mode++) {
    const int relu = mode & 1, train = (mode >> 1) & 1, assign = mode >> 2;
    if (!train && assign) continue;
    bn_run p = bn_in_layout(d, LB_LAYOUT_NCHW, relu, train, assign, x, dy, dx0, g, b);
    bn_run q = bn_in_layout(d, LB_LAYOUT_NCHW16C, relu, train, assign, x, dy, dx0, g, b);
    CHECK_MSG(memcmp(p.y, q.y, sizeof(float) * tot) == 0, "bn %dx%dx%d relu %d train %d: y differs", n, c, hw, relu,
              train);
    CHECK_MSG(memcmp(p.dx, q.dx, sizeof(float) * tot) == 0, "bn %dx%dx%d relu %d assign %d: dx differs", n, c, hw,
              relu, assign);
    CHECK(memcmp(p.stats, q.stats, sizeof(float) * 6 * (size_t)c) == 0);
    free(p.y), free(p.dx), free(p.stats), free(q.y), free(q.dx), free(q.stats);
  }
  free(x), free(dy), free(dx0), free(g), free(b);
}

static void test_bn_init(void) {
  lb_bn_desc d = {.n = 2, .c = 24, .hw = 4, .eps = 1e-5f, .momentum = 0.1f, .layout = LB_LAYOUT_NCHW16C};
  CHECK_STATUS(lb_bn_init(&d), LB_ERR_SHAPE); /* 24 channels are not whole blocks */
  d.c = 32;
  CHECK_OK(lb_bn_init(&d));
  d.layout = 7;
  CHECK_STATUS(lb_bn_init(&d), LB_ERR_ARG);
}

static void test_gap(lb_rng *rng) {
  const int n = 3, c = 32, hw = 49;
  const int64_t tot = (int64_t)n * c * hw;
  float *x = malloc(sizeof(float) * tot), *xb = malloc(sizeof(float) * tot);
  float *dx = malloc(sizeof(float) * tot), *dxb = malloc(sizeof(float) * tot), *back = malloc(sizeof(float) * tot);
  float y[3 * 32], yb[3 * 32], dy[3 * 32];
  lbt_fill_uniform(x, tot, rng, -1, 1);
  lbt_fill_uniform(dx, tot, rng, -1, 1);
  lbt_fill_uniform(dy, n * c, rng, -1, 1);
  lb_layout_to_nchw16c(n, c, hw, x, xb);
  lb_layout_to_nchw16c(n, c, hw, dx, dxb);
  lb_gap_forward(n, c, hw, x, y);
  lb_gap_forward_nchw16c(n, c, hw, xb, yb);
  CHECK(memcmp(y, yb, sizeof y) == 0);
  lb_gap_backward(n, c, hw, dy, dx);
  lb_gap_backward_nchw16c(n, c, hw, dy, dxb);
  lb_layout_to_nchw(n, c, hw, dxb, back);
  CHECK(memcmp(dx, back, sizeof(float) * tot) == 0);
  free(x), free(xb), free(dx), free(dxb), free(back);
}

int main(void) {
  lb_rng rng;
  lb_rng_seed(&rng, 20261207);
  test_conversions(&rng);
  test_bn_init();
  test_bn(3, 32, 13, &rng);   /* serial; a lane remainder */
  test_bn(2, 16, 1, &rng);    /* one value per plane: everything is remainder */
  test_bn(37, 32, 49, &rng);  /* parallel, uneven image groups */
  test_bn(20, 16, 784, &rng); /* parallel, long planes */
  test_bn(5, 160, 49, &rng);  /* channels in two rounds of passes, parallel */
  test_gap(&rng);
  return lbt_finish("test_nn_layout");
}
