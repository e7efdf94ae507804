/* nn pooling: descriptor validation and PyTorch's output-size rule (ceil_mode included), max
 * pool values/argmax/ties/padding by hand, average pool divisors at the padded border against
 * a direct per-cell reference, global average pooling, finite-difference backwards, accumulate
 * and NULL semantics. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/nn.h"
#include "testutil.h"

static lb_pool_desc mk(int n, int c, int h, int w, int k, int s, int p, int ceil_mode, int cip) {
  lb_pool_desc d = {.n = n, .c = c, .h = h, .w = w, .kh = k, .kw = k, .stride_h = s, .stride_w = s,
                    .pad_h = p, .pad_w = p, .count_include_pad = cip, .ceil_mode = ceil_mode};
  return d;
}

static void test_init(void) {
  /* {in, k, s, p, ceil, expected out}, worked out from PyTorch's pooling_output_shape */
  static const int cases[][6] = {
      {112, 3, 2, 1, 0, 56}, {7, 3, 2, 1, 0, 4}, {5, 2, 2, 0, 0, 2}, {5, 2, 2, 0, 1, 3},
      {5, 2, 2, 1, 0, 3},    {5, 2, 2, 1, 1, 3}, /* ceil would give 4; last window starts in right pad */
      {4, 3, 2, 0, 0, 1},    {4, 3, 2, 0, 1, 2}, {6, 3, 2, 1, 0, 3}, {6, 3, 2, 1, 1, 4},
      {32, 2, 2, 0, 0, 16},  {1, 1, 1, 0, 0, 1}, {7, 7, 1, 0, 0, 1}, {3, 1, 2, 0, 1, 2}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const int *t = cases[i];
    lb_pool_desc d = mk(1, 1, t[0], t[0], t[1], t[2], t[3], t[4], 1);
    CHECK_OK(lb_pool_init(&d));
    CHECK_MSG(d.oh == t[5] && d.ow == t[5], "in=%d k=%d s=%d p=%d ceil=%d: got %dx%d want %d", t[0], t[1], t[2],
              t[3], t[4], d.oh, d.ow, t[5]);
  }
  /* rectangular: each axis on its own */
  lb_pool_desc r = mk(2, 3, 5, 9, 2, 2, 0, 1, 0);
  r.kw = 3;
  r.stride_w = 3;
  r.pad_w = 1;
  CHECK_OK(lb_pool_init(&r));
  CHECK(r.oh == 3 && r.ow == 4); /* w: ceil((9+2-3)/3)+1 = 4, last start 9 < 9+1 */

  lb_pool_desc ok = mk(2, 3, 8, 8, 3, 2, 1, 0, 1), d;
  CHECK_STATUS(lb_pool_init(NULL), LB_ERR_ARG);
  int *fields[] = {&d.n, &d.c, &d.h, &d.w, &d.kh, &d.kw, &d.stride_h, &d.stride_w};
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    d = ok;
    *fields[i] = 0;
    CHECK_STATUS(lb_pool_init(&d), LB_ERR_ARG);
    d = ok;
    *fields[i] = -1;
    CHECK_STATUS(lb_pool_init(&d), LB_ERR_ARG);
  }
  d = ok;
  d.pad_h = 2; /* > 3/2 */
  CHECK_STATUS(lb_pool_init(&d), LB_ERR_ARG);
  d = ok;
  d.pad_w = -1;
  CHECK_STATUS(lb_pool_init(&d), LB_ERR_ARG);
  d = ok;
  d.ceil_mode = 2;
  CHECK_STATUS(lb_pool_init(&d), LB_ERR_ARG);
  d = ok;
  d.count_include_pad = -1;
  CHECK_STATUS(lb_pool_init(&d), LB_ERR_ARG);
  d = mk(1, 1, 2, 2, 5, 1, 1, 0, 1); /* 2 + 2 < 5: no window fits */
  CHECK_STATUS(lb_pool_init(&d), LB_ERR_SHAPE);
  d = mk(1, 1, 3, 3, 5, 1, 1, 1, 1); /* 3 + 2 = 5 fits exactly */
  CHECK_OK(lb_pool_init(&d));
  CHECK(d.oh == 1 && d.ow == 1);
}

static void test_maxpool_hand(void) {
  /* 4x4, k2 s2: plain max and argmax */
  const float x[16] = {1, 5, 2, 0, 3, 4, 8, 8, -1, -2, 6, 6, -3, -4, 6, 7};
  lb_pool_desc d = mk(1, 1, 4, 4, 2, 2, 0, 0, 1);
  CHECK_OK(lb_pool_init(&d));
  float y[4];
  int32_t am[4];
  lb_maxpool_forward(&d, x, y, am);
  CHECK(y[0] == 5 && y[1] == 8 && y[2] == -1 && y[3] == 7);
  CHECK(am[0] == 1 && am[1] == 6 && am[2] == 8 && am[3] == 15); /* ties 8,8: first in scan order */

  /* ties over a constant negative plane with padding: padding (-inf) never wins, the first
   * valid cell of each window does */
  float neg[9], yn[9];
  int32_t an[9];
  for (int i = 0; i < 9; i++) neg[i] = -5.0f;
  d = mk(1, 1, 3, 3, 3, 1, 1, 0, 1);
  CHECK_OK(lb_pool_init(&d));
  lb_maxpool_forward(&d, neg, yn, an);
  static const int32_t first[9] = {0, 0, 1, 0, 0, 1, 3, 3, 4};
  int ok = 1;
  for (int i = 0; i < 9; i++) ok &= yn[i] == -5.0f && an[i] == first[i];
  CHECK(ok);
  /* all -inf: value -inf, index still the window's first valid cell */
  for (int i = 0; i < 9; i++) neg[i] = -INFINITY;
  lb_maxpool_forward(&d, neg, yn, an);
  ok = 1;
  for (int i = 0; i < 9; i++) ok &= yn[i] == -INFINITY && an[i] == first[i];
  CHECK(ok);
  /* a NaN wins its windows, as in PyTorch */
  for (int i = 0; i < 9; i++) neg[i] = (float)i;
  neg[4] = NAN;
  lb_maxpool_forward(&d, neg, yn, an);
  ok = 1;
  for (int i = 0; i < 9; i++) ok &= isnan(yn[i]) && an[i] == 4; /* every 3x3 window covers the centre */
  CHECK(ok);

  /* ceil mode: 5x5 k2 s2 -> 3x3, the last windows are 1 wide */
  float x5[25], y5[9];
  int32_t a5[9];
  for (int i = 0; i < 25; i++) x5[i] = (float)((i * 7) % 25);
  d = mk(1, 1, 5, 5, 2, 2, 0, 1, 1);
  CHECK_OK(lb_pool_init(&d));
  lb_maxpool_forward(&d, x5, y5, a5);
  ok = 1;
  for (int oh = 0; oh < 3; oh++)
    for (int ow = 0; ow < 3; ow++) {
      float best = -INFINITY;
      int bi = -1;
      for (int h = 2 * oh; h < 2 * oh + 2 && h < 5; h++)
        for (int w = 2 * ow; w < 2 * ow + 2 && w < 5; w++)
          if (x5[h * 5 + w] > best) best = x5[h * 5 + w], bi = h * 5 + w;
      ok &= y5[oh * 3 + ow] == best && a5[oh * 3 + ow] == bi;
    }
  CHECK(ok);
  CHECK(a5[8] == 24); /* bottom-right window holds only the last cell */

  /* backward: overlapping windows add into the shared argmax; accumulates; NULL skipped */
  d = mk(1, 1, 3, 3, 2, 1, 0, 0, 1); /* 2x2 outputs, all windows contain the centre */
  CHECK_OK(lb_pool_init(&d));
  const float c3[9] = {0, 1, 0, 1, 9, 1, 0, 1, 0};
  float y4[4], dy[4] = {1, 2, 3, 4}, dx[9];
  int32_t a4[4];
  lb_maxpool_forward(&d, c3, y4, a4);
  for (int i = 0; i < 9; i++) dx[i] = 0.5f;
  lb_maxpool_backward(&d, dy, a4, dx);
  ok = 1;
  for (int i = 0; i < 9; i++) ok &= dx[i] == (i == 4 ? 10.5f : 0.5f);
  CHECK(ok);
  lb_maxpool_backward(&d, dy, a4, NULL);
  /* argmax may be NULL in forward (inference) */
  float y4b[4];
  lb_maxpool_forward(&d, c3, y4b, NULL);
  CHECK(memcmp(y4, y4b, sizeof y4) == 0);
}

/* Direct average pool: walk the k x k window cell by cell; cells inside the input are summed,
 * cells inside input+padding are counted for count_include_pad. */
static void avg_ref(const lb_pool_desc *d, const float *x, float *y) {
  for (int p = 0; p < d->n * d->c; p++)
    for (int oh = 0; oh < d->oh; oh++)
      for (int ow = 0; ow < d->ow; ow++) {
        double s = 0;
        int valid = 0, padded = 0;
        for (int i = 0; i < d->kh; i++)
          for (int j = 0; j < d->kw; j++) {
            int h = oh * d->stride_h - d->pad_h + i, w = ow * d->stride_w - d->pad_w + j;
            if (h < d->h + d->pad_h && w < d->w + d->pad_w) padded++;
            if (h >= 0 && h < d->h && w >= 0 && w < d->w) {
              valid++;
              s += x[(int64_t)p * d->h * d->w + h * d->w + w];
            }
          }
        y[((int64_t)p * d->oh + oh) * d->ow + ow] = (float)(s / (d->count_include_pad ? padded : valid));
      }
}

static void test_avgpool_hand(lb_rng *rng) {
  /* all ones, 6x6, k3 s2 p1 ceil: corner window 2x2 valid of 3x3 padded; the extra ceil
   * window is clipped at the padded border to 2x2 with 1x1 valid */
  float ones[36], y[16];
  for (int i = 0; i < 36; i++) ones[i] = 1.0f;
  lb_pool_desc d = mk(1, 1, 6, 6, 3, 2, 1, 1, 1);
  CHECK_OK(lb_pool_init(&d));
  CHECK(d.oh == 4);
  lb_avgpool_forward(&d, ones, y);
  CHECK_NEAR(y[0], 4.0 / 9.0, 1e-7);
  CHECK_NEAR(y[5], 1.0, 1e-7);            /* (1,1): fully inside */
  CHECK_NEAR(y[3], 2.0 / 6.0, 1e-7);      /* (0,3): rows 2/3 valid, cols 1 valid of 2 */
  CHECK_NEAR(y[15], 1.0 / 4.0, 1e-7);     /* (3,3) */
  d.count_include_pad = 0;
  lb_avgpool_forward(&d, ones, y);
  int ok = 1;
  for (int i = 0; i < 16; i++) ok &= y[i] == 1.0f;
  CHECK(ok);

  /* random inputs against the direct reference over several shapes */
  static const int cfg[][5] = {{7, 3, 2, 1, 0}, {6, 3, 2, 1, 1}, {5, 2, 2, 1, 1}, {8, 4, 3, 2, 1}, {5, 3, 1, 1, 0}};
  float x[2 * 3 * 64], ya[2 * 3 * 64], yr[2 * 3 * 64];
  for (size_t t = 0; t < sizeof cfg / sizeof cfg[0]; t++)
    for (int cip = 0; cip < 2; cip++) {
      d = mk(2, 3, cfg[t][0], cfg[t][0], cfg[t][1], cfg[t][2], cfg[t][3], cfg[t][4], cip);
      CHECK_OK(lb_pool_init(&d));
      lbt_fill_uniform(x, 2 * 3 * d.h * d.w, rng, -1.0f, 1.0f);
      lb_avgpool_forward(&d, x, ya);
      avg_ref(&d, x, yr);
      double e = lbt_max_abs_err(ya, yr, 2 * 3 * d.oh * d.ow);
      CHECK_MSG(e < 1e-6, "avgpool cfg %zu cip %d err %g", t, cip, e);
    }
}

typedef struct pool_ctx {
  lb_pool_desc d;
  int kind; /* 0 max, 1 avg, 2 gap */
  float *x, *y, *r;
  int32_t *am;
} pool_ctx;

static int64_t out_n(const pool_ctx *t) {
  return t->kind == 2 ? (int64_t)t->d.n * t->d.c : (int64_t)t->d.n * t->d.c * t->d.oh * t->d.ow;
}

static double pool_loss(void *p) {
  pool_ctx *t = p;
  if (t->kind == 0) lb_maxpool_forward(&t->d, t->x, t->y, t->am);
  else if (t->kind == 1) lb_avgpool_forward(&t->d, t->x, t->y);
  else lb_gap_forward(t->d.n, t->d.c, t->d.h * t->d.w, t->x, t->y);
  return lbt_dot(t->y, t->r, out_n(t));
}

/* Finite differences plus accumulate check for one config and kind. */
static void fd_case(lb_pool_desc d, int kind, lb_rng *rng) {
  CHECK_OK(lb_pool_init(&d));
  pool_ctx t = {.d = d, .kind = kind};
  int64_t nin = (int64_t)d.n * d.c * d.h * d.w, nout = (int64_t)d.n * d.c * d.oh * d.ow;
  t.x = malloc(sizeof(float) * nin);
  t.y = malloc(sizeof(float) * nout);
  t.r = malloc(sizeof(float) * nout);
  t.am = malloc(sizeof(int32_t) * nout);
  float *g = calloc((size_t)nin, sizeof(float)), *g2 = malloc(sizeof(float) * nin);
  /* distinct values 0.05 apart in random order: the max cannot flip under a 1e-3 step */
  for (int64_t i = 0; i < nin; i++) t.x[i] = 0.05f * (float)(i - nin / 2);
  for (int64_t i = nin - 1; i > 0; i--) {
    int64_t j = lb_rng_below(rng, (uint32_t)(i + 1));
    float s = t.x[i];
    t.x[i] = t.x[j];
    t.x[j] = s;
  }
  lbt_fill_uniform(t.r, out_n(&t), rng, -1.0f, 1.0f);
  pool_loss(&t);
  if (kind == 0) lb_maxpool_backward(&d, t.r, t.am, g);
  else if (kind == 1) lb_avgpool_backward(&d, t.r, g);
  else lb_gap_backward(d.n, d.c, d.h * d.w, t.r, g);
  /* avg and gap are linear, so a large step only lowers float noise; max needs step < gap/2 */
  double e = lbt_grad_check(pool_loss, &t, t.x, g, nin, 0, kind == 0 ? 1e-2 : 1e-1, 1e-2, rng);
  CHECK_MSG(e < 2e-3, "pool kind %d FD err %g (h=%d k=%d s=%d p=%d ceil=%d cip=%d)", kind, e, d.h, d.kh,
            d.stride_h, d.pad_h, d.ceil_mode, d.count_include_pad);
  /* accumulate into a pre-filled buffer */
  for (int64_t i = 0; i < nin; i++) g2[i] = (float)(i % 5) - 2.0f;
  pool_loss(&t);
  if (kind == 0) lb_maxpool_backward(&d, t.r, t.am, g2);
  else if (kind == 1) lb_avgpool_backward(&d, t.r, g2);
  else lb_gap_backward(d.n, d.c, d.h * d.w, t.r, g2);
  int ok = 1;
  for (int64_t i = 0; i < nin; i++) ok &= fabsf(g2[i] - ((float)(i % 5) - 2.0f + g[i])) < 1e-5f;
  CHECK_MSG(ok, "pool kind %d does not accumulate", kind);
  free(t.x);
  free(t.y);
  free(t.r);
  free(t.am);
  free(g);
  free(g2);
}

static void test_backward(lb_rng *rng) {
  fd_case(mk(2, 2, 7, 7, 3, 2, 1, 0, 1), 0, rng);
  fd_case(mk(1, 3, 5, 5, 2, 2, 0, 1, 1), 0, rng);
  fd_case(mk(2, 1, 6, 6, 3, 1, 1, 0, 1), 0, rng); /* overlapping windows */
  for (int cip = 0; cip < 2; cip++) {
    fd_case(mk(2, 2, 7, 7, 3, 2, 1, 0, cip), 1, rng);
    fd_case(mk(1, 2, 6, 6, 3, 2, 1, 1, cip), 1, rng);
    fd_case(mk(1, 2, 5, 5, 2, 2, 1, 1, cip), 1, rng);
  }
  fd_case(mk(3, 4, 5, 3, 1, 1, 0, 0, 1), 2, rng);
  lb_avgpool_backward(NULL, NULL, NULL); /* NULL dx: nothing to do, descriptor not read */
  lb_gap_backward(1, 1, 1, NULL, NULL);
}

static void test_gap(void) {
  const float x[2 * 4] = {1, 2, 3, 6, -1, -1, 4, 0};
  float y[2], dx[8];
  lb_gap_forward(1, 2, 4, x, y);
  CHECK(y[0] == 3.0f && y[1] == 0.5f);
  const float dy[2] = {4.0f, -8.0f};
  for (int i = 0; i < 8; i++) dx[i] = 1.0f;
  lb_gap_backward(1, 2, 4, dy, dx);
  int ok = 1;
  for (int i = 0; i < 8; i++) ok &= dx[i] == (i < 4 ? 2.0f : -1.0f);
  CHECK(ok);
}

/* Same bits for 1 and 2 threads on a case above the parallel threshold. */
static void test_threads(lb_rng *rng) {
  lb_pool_desc d = mk(4, 16, 28, 28, 3, 2, 1, 1, 0);
  CHECK_OK(lb_pool_init(&d));
  int64_t nin = (int64_t)d.n * d.c * d.h * d.w, nout = (int64_t)d.n * d.c * d.oh * d.ow;
  float *x = malloc(sizeof(float) * nin), *dy = malloc(sizeof(float) * nout);
  float *res[2];
  int32_t *am = malloc(sizeof(int32_t) * nout);
  lbt_fill_uniform(x, nin, rng, -1.0f, 1.0f);
  lbt_fill_uniform(dy, nout, rng, -1.0f, 1.0f);
  int saved = lb_get_num_threads();
  for (int r = 0; r < 2; r++) {
    lb_set_num_threads(r + 1);
    res[r] = calloc((size_t)(2 * nout + 2 * nin), sizeof(float));
    lb_maxpool_forward(&d, x, res[r], am);
    lb_maxpool_backward(&d, dy, am, res[r] + 2 * nout);
    lb_avgpool_forward(&d, x, res[r] + nout);
    lb_avgpool_backward(&d, dy, res[r] + 2 * nout + nin);
  }
  lb_set_num_threads(saved);
  CHECK(memcmp(res[0], res[1], sizeof(float) * (size_t)(2 * nout + 2 * nin)) == 0);
  free(res[0]);
  free(res[1]);
  free(x);
  free(dy);
  free(am);
}

int main(void) {
  lb_rng rng;
  lb_rng_seed(&rng, 3);
  test_init();
  test_maxpool_hand();
  test_avgpool_hand(&rng);
  test_gap();
  test_backward(&rng);
  test_threads(&rng);
  return lbt_finish("test_nn_pool");
}
