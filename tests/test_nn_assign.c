/* The *_backward_ex passes that assign their input gradient (the executor's way of skipping the
 * zeroing pass) against the accumulating passes run into zeroed buffers, bit for bit: conv on
 * every dx path (stride 1 direct, strided col2im, grouped, depthwise), BN and BN+ReLU, add and
 * add+ReLU (one, both and the same buffer for both operands). The assigned buffers start as NaN
 * garbage, so a value left unwritten shows; -0 in dy must come out as the +0 accumulating gives.
 * Also: the accumulate mode of the conv _ex pass adds to what is there. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/nn.h"
#include "testutil.h"

static int same(const float *a, const float *b, int64_t n) { return memcmp(a, b, sizeof(float) * (size_t)n) == 0; }

static float *garbage(int64_t n) {
  float *p = lbt_falloc(n);
  for (int64_t i = 0; i < n; i++) p[i] = NAN;
  return p;
}

static float *zeros(int64_t n) {
  float *p = lbt_falloc(n);
  memset(p, 0, sizeof(float) * (size_t)n);
  return p;
}

/* some -0 and exact zeros in dy, the cases where 0 + v and v differ in bits */
static void signed_zeros(float *dy, int64_t n) {
  for (int64_t i = 0; i < n; i += 7) dy[i] = (i / 7) % 2 ? -0.0f : 0.0f;
}

static void conv_case(int n, int c, int h, int w, int k, int r, int stride, int pad, int groups, lb_rng *rng) {
  lb_conv2d_desc d = {.n = n, .c = c, .h = h, .w = w, .k = k, .r = r, .s = r, .stride_h = stride, .stride_w = stride,
                      .pad_h = pad, .pad_w = pad, .dil_h = 1, .dil_w = 1, .groups = groups};
  CHECK_OK(lb_conv2d_init(&d));
  const int64_t nx = (int64_t)n * c * h * w, nw = (int64_t)k * (c / groups) * r * r, ny = (int64_t)n * k * d.oh * d.ow;
  float *x = lbt_falloc(nx), *wt = lbt_falloc(nw), *dy = lbt_falloc(ny);
  lbt_fill_uniform(x, nx, rng, -1, 1);
  lbt_fill_uniform(wt, nw, rng, -1, 1);
  lbt_fill_uniform(dy, ny, rng, -1, 1);
  signed_zeros(dy, ny);
  float *scratch = lbt_falloc((int64_t)lb_conv2d_scratch_floats(&d) + 16);
  float *dx_acc = zeros(nx), *dx_set = garbage(nx), *dw_acc = zeros(nw), *dw_set = zeros(nw);
  lb_conv2d_backward(&d, x, wt, dy, dx_acc, dw_acc, NULL, scratch);
  lb_conv2d_backward_ex(&d, x, wt, dy, dx_set, 1, dw_set, NULL, scratch);
  CHECK_MSG(same(dx_acc, dx_set, nx), "conv dx assign c=%d k=%d stride %d groups %d", c, k, stride, groups);
  CHECK(same(dw_acc, dw_set, nw));
  /* accumulate mode of _ex: a second pass doubles what the first left (to rounding: col2im and
   * the depthwise kernel add tap by tap into what is there) */
  lb_conv2d_backward_ex(&d, x, wt, dy, dx_set, 0, NULL, NULL, scratch);
  float big = 0;
  for (int64_t i = 0; i < nx; i++) big = fmaxf(big, fabsf(dx_acc[i]));
  int doubled = 1;
  for (int64_t i = 0; i < nx; i++) doubled &= fabsf(dx_set[i] - 2 * dx_acc[i]) <= 1e-5f * (fabsf(2 * dx_acc[i]) + big);
  CHECK_MSG(doubled, "conv dx accumulate after assign c=%d stride %d", c, stride);
  free(x), free(wt), free(dy), free(scratch), free(dx_acc), free(dx_set), free(dw_acc), free(dw_set);
}

static void bn_case(int relu, lb_rng *rng) {
  lb_bn_desc d = {.n = 3, .c = 5, .hw = 37, .eps = 1e-5f, .momentum = 0.1f};
  const int64_t cnt = (int64_t)d.n * d.c * d.hw;
  float *x = lbt_falloc(cnt), *y = lbt_falloc(cnt), *dy = lbt_falloc(cnt), *gamma = lbt_falloc(d.c), *beta = lbt_falloc(d.c);
  float *mean = lbt_falloc(d.c), *invstd = lbt_falloc(d.c);
  lbt_fill_uniform(x, cnt, rng, -2, 2);
  lbt_fill_uniform(dy, cnt, rng, -1, 1);
  signed_zeros(dy, cnt);
  lbt_fill_uniform(gamma, d.c, rng, 0.5f, 1.5f);
  lbt_fill_uniform(beta, d.c, rng, -0.5f, 0.5f);
  if (relu) lb_bn_relu_forward_train(&d, x, gamma, beta, NULL, NULL, y, mean, invstd);
  else lb_bn_forward_train(&d, x, gamma, beta, NULL, NULL, y, mean, invstd);
  float *dx_acc = zeros(cnt), *dx_set = garbage(cnt), *dg0 = zeros(d.c), *db0 = zeros(d.c), *dg1 = zeros(d.c), *db1 = zeros(d.c);
  if (relu) lb_bn_relu_backward(&d, x, y, gamma, mean, invstd, dy, dx_acc, dg0, db0);
  else lb_bn_backward(&d, x, gamma, mean, invstd, dy, dx_acc, dg0, db0);
  lb_bn_backward_ex(&d, x, relu ? y : NULL, gamma, mean, invstd, dy, dx_set, 1, dg1, db1);
  CHECK_MSG(same(dx_acc, dx_set, cnt) && same(dg0, dg1, d.c) && same(db0, db1, d.c), "bn%s backward assign", relu ? "+relu" : "");
  free(x), free(y), free(dy), free(gamma), free(beta), free(mean), free(invstd), free(dx_acc), free(dx_set), free(dg0),
      free(db0), free(dg1), free(db1);
}

static void add_case(int relu, lb_rng *rng) {
  const int64_t n = 1000;
  float *y = lbt_falloc(n), *dy = lbt_falloc(n);
  lbt_fill_uniform(y, n, rng, -1, 1);
  lbt_fill_uniform(dy, n, rng, -1, 1);
  signed_zeros(dy, n);
  for (int mode = 0; mode < 4; mode++) { /* which of da, db assign */
    float *da0 = zeros(n), *db0 = zeros(n), *da1 = (mode & 1) ? garbage(n) : zeros(n), *db1 = (mode & 2) ? garbage(n) : zeros(n);
    if (relu) lb_add_relu_backward(n, y, dy, da0, db0);
    else lb_add_backward(n, dy, da0, db0);
    lb_add_backward_ex(n, relu ? y : NULL, dy, da1, mode & 1, db1, (mode >> 1) & 1);
    CHECK_MSG(same(da0, da1, n) && same(db0, db1, n), "add%s backward assign mode %d", relu ? "+relu" : "", mode);
    free(da0), free(db0), free(da1), free(db1);
  }
  /* x + x: the same buffer as both operands, the first assigning: 2 * g */
  float *dd0 = zeros(n), *dd1 = garbage(n);
  if (relu) lb_add_relu_backward(n, y, dy, dd0, dd0);
  else lb_add_backward(n, dy, dd0, dd0);
  lb_add_backward_ex(n, relu ? y : NULL, dy, dd1, 1, dd1, 0);
  CHECK_MSG(same(dd0, dd1, n), "add%s backward, one buffer for both operands", relu ? "+relu" : "");
  free(dd0), free(dd1), free(y), free(dy);
}

int main(void) {
  lb_rng rng;
  lb_rng_seed(&rng, 77);
  conv_case(2, 16, 9, 11, 8, 3, 1, 1, 1, &rng); /* stride 1: dx as a direct conv */
  conv_case(3, 5, 13, 10, 7, 3, 2, 1, 1, &rng); /* strided: col2im */
  conv_case(2, 8, 8, 8, 12, 1, 2, 0, 1, &rng);  /* 1x1 stride 2: half the inputs get no gradient */
  conv_case(2, 6, 7, 9, 9, 3, 1, 1, 3, &rng);   /* grouped */
  conv_case(2, 8, 10, 10, 8, 3, 1, 1, 8, &rng); /* depthwise */
  conv_case(2, 16, 9, 11, 16, 3, 1, 1, 1, &rng);  /* oneDNN's shapes where built with it */
  conv_case(2, 16, 10, 10, 32, 3, 2, 1, 1, &rng);
  for (int relu = 0; relu < 2; relu++) {
    bn_case(relu, &rng);
    add_case(relu, &rng);
  }
  return lbt_finish("test_nn_assign");
}
