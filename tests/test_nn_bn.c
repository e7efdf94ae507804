/* nn batch norm: descriptor validation, training statistics and running-stat update against
 * direct double computations, eval mode, the full backward by finite differences (batch
 * statistics depend on x), accumulate/NULL semantics and thread-count determinism. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/nn.h"
#include "testutil.h"

typedef struct bn_ctx {
  lb_bn_desc d;
  float *x, *gamma, *beta, *r, *y;
  float *rm, *rv, *sm, *si; /* running and saved stats, (C) */
} bn_ctx;

static double bn_loss(void *p) {
  bn_ctx *t = p;
  lb_bn_forward_train(&t->d, t->x, t->gamma, t->beta, t->rm, t->rv, t->y, t->sm, t->si);
  return lbt_dot(t->y, t->r, (int64_t)t->d.n * t->d.c * t->d.hw);
}

/* Per-channel mean and biased variance of x: (N,C,HW), two-pass in double. */
static void direct_stats(const lb_bn_desc *d, const float *x, int c, double *mean, double *var) {
  int64_t m = (int64_t)d->n * d->hw;
  double s = 0, q = 0;
  for (int i = 0; i < d->n; i++)
    for (int j = 0; j < d->hw; j++) s += x[((int64_t)i * d->c + c) * d->hw + j];
  *mean = s / (double)m;
  for (int i = 0; i < d->n; i++)
    for (int j = 0; j < d->hw; j++) {
      double v = x[((int64_t)i * d->c + c) * d->hw + j] - *mean;
      q += v * v;
    }
  *var = q / (double)m;
}

static void test_init(void) {
  lb_bn_desc ok = {.n = 2, .c = 3, .hw = 4, .eps = 1e-5f, .momentum = 0.1f};
  lb_bn_desc d = ok;
  CHECK_OK(lb_bn_init(&d));
  d.momentum = 0.0f;
  CHECK_OK(lb_bn_init(&d));
  d.momentum = 1.0f;
  CHECK_OK(lb_bn_init(&d));
  CHECK_STATUS(lb_bn_init(NULL), LB_ERR_ARG);
  int *dims[3] = {&d.n, &d.c, &d.hw};
  for (int k = 0; k < 3; k++) {
    d = ok;
    *dims[k] = 0;
    CHECK_STATUS(lb_bn_init(&d), LB_ERR_ARG);
    *dims[k] = -2;
    CHECK_STATUS(lb_bn_init(&d), LB_ERR_ARG);
  }
  float bad_eps[] = {0.0f, -1e-5f, NAN, INFINITY};
  for (int k = 0; k < 4; k++) {
    d = ok;
    d.eps = bad_eps[k];
    CHECK_STATUS(lb_bn_init(&d), LB_ERR_ARG);
  }
  float bad_mom[] = {-0.01f, 1.01f, NAN};
  for (int k = 0; k < 3; k++) {
    d = ok;
    d.momentum = bad_mom[k];
    CHECK_STATUS(lb_bn_init(&d), LB_ERR_ARG);
  }
}

/* Forward statistics, running update, affine output and eval mode on one small case.
 * offset shifts every channel far from 0 to exercise the variance's cancellation. */
static void test_forward(int n, int c, int hw, float offset, lb_rng *rng) {
  lb_bn_desc d = {.n = n, .c = c, .hw = hw, .eps = 1e-5f, .momentum = 0.1f};
  CHECK_OK(lb_bn_init(&d));
  int64_t tot = (int64_t)n * c * hw;
  float *x = malloc(sizeof(float) * tot), *y = malloc(sizeof(float) * tot), *y1 = malloc(sizeof(float) * tot);
  float g[8], b[8], one[8], zero[8], rm[8], rv[8], sm[8], si[8];
  for (int64_t i = 0; i < tot; i++) {
    int ch = (int)((i / hw) % c);
    x[i] = offset + (float)ch * 0.5f + (1.0f + (float)ch) * lb_rng_normal(rng);
  }
  for (int k = 0; k < c; k++) {
    g[k] = 0.5f + (float)k;
    b[k] = 0.25f - 0.5f * (float)k;
    one[k] = 1.0f;
    zero[k] = 0.0f;
    rm[k] = 0.5f;
    rv[k] = 2.0f;
  }
  /* gamma = 1, beta = 0: every channel of y has mean 0 and biased variance var/(var+eps) ~ 1 */
  lb_bn_forward_train(&d, x, one, zero, rm, rv, y, sm, si);
  for (int k = 0; k < c; k++) {
    double mean, var, ym, yv;
    direct_stats(&d, x, k, &mean, &var);
    direct_stats(&d, y, k, &ym, &yv);
    CHECK_NEAR(ym, 0.0, 1e-5);
    CHECK_NEAR(yv, var / (var + 1e-5), 2e-5);
    CHECK_NEAR(sm[k], mean, 1e-6 * fabs(mean) + 1e-6);
    CHECK_NEAR(si[k], 1.0 / sqrt(var + 1e-5), 1e-5 / sqrt(var));
    double m = (double)n * hw;
    CHECK_NEAR(rm[k], 0.9 * 0.5 + 0.1 * mean, 1e-6 * fabs(mean) + 1e-6);
    CHECK_NEAR(rv[k], 0.9 * 2.0 + 0.1 * var * m / (m - 1.0), 1e-5 * rv[k]);
  }
  /* affine output against the direct formula */
  for (int k = 0; k < c; k++) {
    rm[k] = 0.5f;
    rv[k] = 2.0f;
  }
  lb_bn_forward_train(&d, x, g, b, rm, rv, y, sm, si);
  double worst = 0;
  for (int64_t i = 0; i < tot; i++) {
    int ch = (int)((i / hw) % c);
    double mean, var;
    direct_stats(&d, x, ch, &mean, &var);
    double want = (x[i] - mean) / sqrt(var + 1e-5) * g[ch] + b[ch];
    worst = fmax(worst, fabs(y[i] - want) / fmax(fabs(want), 1.0));
  }
  CHECK_MSG(worst < 2e-5 * (1.0 + fabs(offset) / 4.0), "affine train forward err %g", worst);

  /* eval with the running stats just produced */
  lb_bn_forward_eval(&d, x, g, b, rm, rv, y1);
  worst = 0;
  for (int64_t i = 0; i < tot; i++) {
    int ch = (int)((i / hw) % c);
    double want = ((double)x[i] - rm[ch]) / sqrt((double)rv[ch] + 1e-5) * g[ch] + b[ch];
    worst = fmax(worst, fabs(y1[i] - want) / fmax(fabs(want), 1.0));
  }
  CHECK_MSG(worst < 1e-5 * (1.0 + fabs(offset)), "eval forward err %g", worst);
  /* the two modes differ (running stats lag the batch), so eval really used running stats */
  CHECK(lbt_max_abs_err(y, y1, tot) > 1e-2);
  free(x);
  free(y);
  free(y1);
}

/* Finite-difference check of dx (all elements), dgamma and dbeta; accumulate and NULL rules. */
static void test_backward(int n, int c, int hw, lb_rng *rng) {
  bn_ctx t;
  t.d = (lb_bn_desc){.n = n, .c = c, .hw = hw, .eps = 1e-5f, .momentum = 0.1f};
  CHECK_OK(lb_bn_init(&t.d));
  int64_t tot = (int64_t)n * c * hw;
  t.x = malloc(sizeof(float) * tot);
  t.y = malloc(sizeof(float) * tot);
  t.r = malloc(sizeof(float) * tot);
  float *dx = calloc((size_t)tot, sizeof(float)), *dx2 = malloc(sizeof(float) * tot);
  float *gamma = malloc(sizeof(float) * c), *beta = malloc(sizeof(float) * c);
  float *dg = calloc((size_t)c, sizeof(float)), *db = calloc((size_t)c, sizeof(float));
  float *dg2 = malloc(sizeof(float) * c), *db2 = malloc(sizeof(float) * c);
  float *st = malloc(sizeof(float) * 4 * c);
  t.gamma = gamma;
  t.beta = beta;
  t.rm = st;
  t.rv = st + c;
  t.sm = st + 2 * c;
  t.si = st + 3 * c;
  lbt_fill_uniform(t.x, tot, rng, -2.0f, 3.0f);
  lbt_fill_uniform(t.r, tot, rng, -1.0f, 1.0f);
  lbt_fill_uniform(gamma, c, rng, 0.5f, 1.5f);
  lbt_fill_uniform(beta, c, rng, -0.5f, 0.5f);
  for (int k = 0; k < c; k++) t.rv[k] = 1.0f;

  bn_loss(&t); /* fills y, save_mean, save_invstd for the current x */
  /* dL/dy = r */
  lb_bn_backward(&t.d, t.x, gamma, t.sm, t.si, t.r, dx, dg, db);
  double ex = lbt_grad_check(bn_loss, &t, t.x, dx, tot, 0, 1e-2, 1e-2, rng);
  double eg = lbt_grad_check(bn_loss, &t, gamma, dg, c, 0, 1e-2, 1e-2, rng);
  double eb = lbt_grad_check(bn_loss, &t, beta, db, c, 0, 1e-2, 1e-2, rng);
  CHECK_MSG(ex < 5e-3, "bn dx FD err %g (n=%d c=%d hw=%d)", ex, n, c, hw);
  CHECK_MSG(eg < 5e-3, "bn dgamma FD err %g", eg);
  CHECK_MSG(eb < 5e-3, "bn dbeta FD err %g", eb);
  /* dx sums to 0 per channel (gradient through the mean); a forgotten term would break this */
  for (int k = 0; k < c; k++) {
    double s = 0, sa = 0;
    for (int i = 0; i < n; i++)
      for (int j = 0; j < hw; j++) {
        s += dx[((int64_t)i * c + k) * hw + j];
        sa += fabs(dx[((int64_t)i * c + k) * hw + j]);
      }
    CHECK_NEAR(s, 0.0, 1e-5 * sa + 1e-6);
  }

  /* accumulate: pre-filled buffers get the same gradient added */
  bn_loss(&t);
  for (int64_t i = 0; i < tot; i++) dx2[i] = 0.25f * (float)(i % 7) - 0.5f;
  for (int k = 0; k < c; k++) {
    dg2[k] = 1.0f + (float)k;
    db2[k] = -2.0f;
  }
  float *fresh = calloc((size_t)tot + 2 * (size_t)c, sizeof(float));
  lb_bn_backward(&t.d, t.x, gamma, t.sm, t.si, t.r, fresh, fresh + tot, fresh + tot + c);
  lb_bn_backward(&t.d, t.x, gamma, t.sm, t.si, t.r, dx2, dg2, db2);
  double werr = 0;
  for (int64_t i = 0; i < tot; i++)
    werr = fmax(werr, fabs(dx2[i] - (0.25f * (float)(i % 7) - 0.5f + fresh[i])));
  for (int k = 0; k < c; k++) {
    werr = fmax(werr, fabs(dg2[k] - (1.0f + (float)k + fresh[tot + k])));
    werr = fmax(werr, fabs(db2[k] - (-2.0f + fresh[tot + c + k])));
  }
  CHECK_MSG(werr < 1e-5, "bn accumulate err %g", werr);

  /* NULL outputs are skipped; the others are unchanged by the omission */
  memset(dx2, 0, sizeof(float) * tot);
  lb_bn_backward(&t.d, t.x, gamma, t.sm, t.si, t.r, dx2, NULL, NULL);
  CHECK(memcmp(dx2, fresh, sizeof(float) * tot) == 0);
  memset(dg2, 0, sizeof(float) * c);
  lb_bn_backward(&t.d, t.x, gamma, t.sm, t.si, t.r, NULL, dg2, NULL);
  CHECK(memcmp(dg2, fresh + tot, sizeof(float) * c) == 0);
  memset(db2, 0, sizeof(float) * c);
  lb_bn_backward(&t.d, t.x, gamma, t.sm, t.si, t.r, NULL, NULL, db2);
  CHECK(memcmp(db2, fresh + tot + c, sizeof(float) * c) == 0);
  lb_bn_backward(&t.d, t.x, gamma, t.sm, t.si, t.r, NULL, NULL, NULL);

  free(fresh);
  free(t.x);
  free(t.y);
  free(t.r);
  free(dx);
  free(dx2);
  free(gamma);
  free(beta);
  free(dg);
  free(db);
  free(dg2);
  free(db2);
  free(st);
}

/* Same bits for 1, 2 and 3 threads on a case big enough to take the parallel path; 37 images
 * make the fixed image groups uneven and leave 3 threads unequal shares of them. */
static void test_threads(lb_rng *rng) {
  lb_bn_desc d = {.n = 37, .c = 16, .hw = 196, .eps = 1e-5f, .momentum = 0.1f};
  CHECK_OK(lb_bn_init(&d));
  int64_t tot = (int64_t)d.n * d.c * d.hw;
  float *x = malloc(sizeof(float) * tot), *dy = malloc(sizeof(float) * tot);
  float *out[3];
  float g[16], b[16];
  lbt_fill_uniform(x, tot, rng, -1.0f, 2.0f);
  lbt_fill_uniform(dy, tot, rng, -1.0f, 1.0f);
  lbt_fill_uniform(g, 16, rng, 0.5f, 1.5f);
  lbt_fill_uniform(b, 16, rng, -0.5f, 0.5f);
  int saved = lb_get_num_threads();
  for (int r = 0; r < 3; r++) {
    lb_set_num_threads(r + 1);
    out[r] = calloc((size_t)(2 * tot + 6 * 16), sizeof(float));
    float *y = out[r], *dx = y + tot, *st = dx + tot;
    for (int k = 0; k < 16; k++) st[16 + k] = 1.0f;
    lb_bn_forward_train(&d, x, g, b, st, st + 16, y, st + 32, st + 48);
    lb_bn_backward(&d, x, g, st + 32, st + 48, dy, dx, st + 64, st + 80);
  }
  lb_set_num_threads(saved);
  CHECK(memcmp(out[0], out[1], sizeof(float) * (size_t)(2 * tot + 6 * 16)) == 0);
  CHECK(memcmp(out[0], out[2], sizeof(float) * (size_t)(2 * tot + 6 * 16)) == 0);
  for (int r = 0; r < 3; r++) free(out[r]);
  free(x);
  free(dy);
}

/* Each channel's results do not depend on the other channels: with more channels than one round
 * of passes takes (the kernels work through C in rounds), channels on both sides of a round
 * boundary give the bits of the same channel normalized alone. */
static void test_rounds(lb_rng *rng) {
  enum { N = 5, C = 300, HW = 7 };
  lb_bn_desc d = {.n = N, .c = C, .hw = HW, .eps = 1e-5f, .momentum = 0.1f};
  CHECK_OK(lb_bn_init(&d));
  const int64_t tot = (int64_t)N * C * HW;
  float *x = malloc(sizeof(float) * tot), *dy = malloc(sizeof(float) * tot), *y = malloc(sizeof(float) * tot);
  float *dx = calloc((size_t)tot, sizeof(float)), *st = calloc(8 * C, sizeof(float));
  float g[C], b[C];
  lbt_fill_uniform(x, tot, rng, -1.0f, 3.0f);
  lbt_fill_uniform(dy, tot, rng, -1.0f, 1.0f);
  lbt_fill_uniform(g, C, rng, 0.5f, 1.5f);
  lbt_fill_uniform(b, C, rng, -0.5f, 0.5f);
  lb_bn_relu_forward_train(&d, x, g, b, st, st + C, y, st + 2 * C, st + 3 * C);
  lb_bn_relu_backward(&d, x, y, g, st + 2 * C, st + 3 * C, dy, dx, st + 4 * C, st + 5 * C);
  const int probe[] = {0, 127, 128, 255, 256, 299};
  for (int k = 0; k < 6; k++) {
    const int c = probe[k];
    lb_bn_desc d1 = {.n = N, .c = 1, .hw = HW, .eps = 1e-5f, .momentum = 0.1f};
    CHECK_OK(lb_bn_init(&d1));
    float x1[N * HW], dy1[N * HW], y1[N * HW], dx1[N * HW] = {0}, s1[6] = {0};
    for (int i = 0; i < N; i++) {
      memcpy(x1 + i * HW, x + ((int64_t)i * C + c) * HW, sizeof(float) * HW);
      memcpy(dy1 + i * HW, dy + ((int64_t)i * C + c) * HW, sizeof(float) * HW);
    }
    lb_bn_relu_forward_train(&d1, x1, g + c, b + c, s1, s1 + 1, y1, s1 + 2, s1 + 3);
    lb_bn_relu_backward(&d1, x1, y1, g + c, s1 + 2, s1 + 3, dy1, dx1, s1 + 4, s1 + 5);
    int same = 1;
    for (int i = 0; i < N; i++) {
      same &= memcmp(y1 + i * HW, y + ((int64_t)i * C + c) * HW, sizeof(float) * HW) == 0;
      same &= memcmp(dx1 + i * HW, dx + ((int64_t)i * C + c) * HW, sizeof(float) * HW) == 0;
    }
    for (int j = 0; j < 6; j++) same &= memcmp(&s1[j], &st[j * C + c], sizeof(float)) == 0;
    CHECK_MSG(same, "channel %d differs from the same channel alone", c);
  }
  free(x), free(dy), free(y), free(dx), free(st);
}

int main(void) {
  lb_rng rng;
  lb_rng_seed(&rng, 20240611);
  test_init();
  test_forward(4, 3, 5, 0.0f, &rng);
  test_forward(3, 2, 33, 1000.0f, &rng); /* large mean, odd sizes (lane remainders) */
  test_forward(16, 4, 1, -3.0f, &rng);   /* 1-D batch norm */
  test_backward(4, 3, 5, &rng);
  test_backward(5, 2, 11, &rng);
  test_backward(12, 3, 1, &rng);
  test_rounds(&rng);
  test_threads(&rng);
  return lbt_finish("test_nn_bn");
}
