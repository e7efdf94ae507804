/* nn fused ops: BN+ReLU and add+ReLU against the composition of the unfused kernels, bit for bit
 * (forward train/eval with running and saved stats, backward with pre-filled gradients and every
 * NULL combination, NaN/inf/-0 passing the ReLU as lb_relu_* lets them), by finite differences
 * away from the ReLU kink, and the same bits for 1 and 2 threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/nn.h"
#include "testutil.h"

static int same(const float *a, const float *b, int64_t n) { return memcmp(a, b, sizeof(float) * (size_t)n) == 0; }

/* Per-channel parameters, all of size C. */
typedef struct bn_par {
  float *gamma, *beta, *rm, *rv;
} bn_par;

static void par_alloc(bn_par *p, int c, lb_rng *rng) {
  p->gamma = lbt_falloc(c);
  p->beta = lbt_falloc(c);
  p->rm = lbt_falloc(c);
  p->rv = lbt_falloc(c);
  lbt_fill_uniform(p->gamma, c, rng, 0.5f, 1.5f);
  lbt_fill_uniform(p->beta, c, rng, -0.5f, 0.5f);
  lbt_fill_uniform(p->rm, c, rng, -0.2f, 0.2f);
  lbt_fill_uniform(p->rv, c, rng, 0.8f, 1.2f);
}

static void par_free(bn_par *p) {
  free(p->gamma);
  free(p->beta);
  free(p->rm);
  free(p->rv);
}

/* Fused train/eval forward == unfused forward then lb_relu_forward, including running stats,
 * saved stats, NULL gamma/beta (affine off) and NULL running/save pointers. */
static void test_bn_forward(int n, int c, int hw, float offset, lb_rng *rng) {
  lb_bn_desc d = {.n = n, .c = c, .hw = hw, .eps = 1e-5f, .momentum = 0.1f};
  CHECK_OK(lb_bn_init(&d));
  const int64_t tot = (int64_t)n * c * hw;
  float *x = lbt_falloc(tot), *z = lbt_falloc(tot), *yu = lbt_falloc(tot), *yf = lbt_falloc(tot);
  float *su = lbt_falloc(4 * c), *sf = lbt_falloc(4 * c); /* running mean, running var, save mean, save invstd */
  bn_par p;
  par_alloc(&p, c, rng);
  for (int64_t i = 0; i < tot; i++) x[i] = offset + (float)((i / hw) % c) * 0.25f + lb_rng_normal(rng);

  for (int affine = 1; affine >= 0; affine--) {
    const float *g = affine ? p.gamma : NULL, *b = affine ? p.beta : NULL;
    memcpy(su, p.rm, sizeof(float) * c);
    memcpy(su + c, p.rv, sizeof(float) * c);
    memcpy(sf, su, sizeof(float) * 2 * c);
    lb_bn_forward_train(&d, x, g, b, su, su + c, z, su + 2 * c, su + 3 * c);
    lb_relu_forward(tot, z, yu);
    lb_bn_relu_forward_train(&d, x, g, b, sf, sf + c, yf, sf + 2 * c, sf + 3 * c);
    CHECK_MSG(same(yu, yf, tot), "bn_relu train y (n=%d c=%d hw=%d affine=%d)", n, c, hw, affine);
    CHECK_MSG(same(su, sf, 4 * c), "bn_relu train stats (n=%d c=%d hw=%d affine=%d)", n, c, hw, affine);
    /* the ReLU really cut: both signs occur in the BN output */
    int64_t neg = 0, pos = 0;
    for (int64_t i = 0; i < tot; i++) {
      neg += z[i] < 0.0f;
      pos += yf[i] > 0.0f;
    }
    CHECK(neg > 0 && pos > 0);

    /* skipped running/save pointers change nothing else */
    memset(yf, 0, sizeof(float) * tot);
    lb_bn_relu_forward_train(&d, x, g, b, NULL, NULL, yf, NULL, NULL);
    CHECK(same(yu, yf, tot));

    lb_bn_forward_eval(&d, x, g, b, p.rm, p.rv, z);
    lb_relu_forward(tot, z, yu);
    lb_bn_relu_forward_eval(&d, x, g, b, p.rm, p.rv, yf);
    CHECK_MSG(same(yu, yf, tot), "bn_relu eval y (n=%d c=%d hw=%d affine=%d)", n, c, hw, affine);
  }
  free(x);
  free(z);
  free(yu);
  free(yf);
  free(su);
  free(sf);
  par_free(&p);
}

/* Eval on NaN, +-inf and an exact -0 output (x == running mean, gamma < 0, beta = -0): the fused
 * ReLU passes NaN and -0 and clamps -inf exactly as lb_relu_forward does. */
static void test_bn_eval_special(void) {
  lb_bn_desc d = {.n = 2, .c = 2, .hw = 4, .eps = 1e-5f, .momentum = 0.1f};
  CHECK_OK(lb_bn_init(&d));
  float x[16] = {NAN, INFINITY, -INFINITY, 0.5f, 1.0f, 1.0f, -3.0f, 2.0f,
                 1.0f, -2.0f, 0.0f, 4.0f, 1.0f, -1.0f, 1.0f, 0.25f};
  const float gamma[2] = {2.0f, -1.5f}, beta[2] = {0.5f, -0.0f}, rm[2] = {0.0f, 1.0f}, rv[2] = {1.0f, 4.0f};
  float z[16], yu[16], yf[16];
  lb_bn_forward_eval(&d, x, gamma, beta, rm, rv, z);
  lb_relu_forward(16, z, yu);
  lb_bn_relu_forward_eval(&d, x, gamma, beta, rm, rv, yf);
  CHECK(same(yu, yf, 16));
  CHECK(isnan(yf[0]) && yf[1] == INFINITY && yf[2] == 0.0f);
  CHECK(yf[4] == 0.0f && signbit(yf[4])); /* channel 1, x == mean: -0 kept */
}

/* Fused backward == lb_relu_backward into a zeroed buffer, then lb_bn_backward: pre-filled
 * gradients (accumulate), all eight NULL combinations, affine on and off. Non-finite dy where
 * the ReLU blocks must stay blocked. */
static void test_bn_backward_exact(int n, int c, int hw, lb_rng *rng) {
  lb_bn_desc d = {.n = n, .c = c, .hw = hw, .eps = 1e-5f, .momentum = 0.1f};
  CHECK_OK(lb_bn_init(&d));
  const int64_t tot = (int64_t)n * c * hw;
  float *x = lbt_falloc(tot), *z = lbt_falloc(tot), *y = lbt_falloc(tot), *dy = lbt_falloc(tot), *g = lbt_falloc(tot);
  float *st = lbt_falloc(4 * c);
  float *init = lbt_falloc(tot + 2 * c), *gu = lbt_falloc(tot + 2 * c), *gf = lbt_falloc(tot + 2 * c);
  bn_par p;
  par_alloc(&p, c, rng);
  lbt_fill_uniform(x, tot, rng, -2.0f, 3.0f);
  lbt_fill_uniform(init, tot + 2 * c, rng, -4.0f, 4.0f);
  memcpy(st, p.rm, sizeof(float) * c);
  memcpy(st + c, p.rv, sizeof(float) * c);

  for (int affine = 1; affine >= 0; affine--) {
    const float *gm = affine ? p.gamma : NULL, *bt = affine ? p.beta : NULL;
    lb_bn_forward_train(&d, x, gm, bt, st, st + c, z, st + 2 * c, st + 3 * c);
    lb_relu_forward(tot, z, y);
    lbt_fill_uniform(dy, tot, rng, -1.0f, 1.0f);
    int blocked = 0;
    for (int64_t i = 0; i < tot && blocked < 2; i++)
      if (!(y[i] > 0.0f)) dy[i] = blocked++ ? NAN : -INFINITY;
    CHECK(blocked == 2);
    /* channel 0 gets -0 gradients where they pass, and -0 in the pre-filled dx: the composition
     * turns them into +0 (0 + -0 in its zeroed buffer), so dx comes out +0 there, not -0 */
    for (int i = 0; i < n; i++)
      for (int j = 0; j < hw; j++) {
        const int64_t e = (int64_t)i * c * hw + j;
        if (y[e] > 0.0f) dy[e] = -0.0f;
        init[e] = -0.0f;
      }
    memset(g, 0, sizeof(float) * tot);
    lb_relu_backward(tot, z, dy, g);

    for (int mask = 0; mask < 8; mask++) {
      const int64_t off[3] = {0, tot, tot + c};
      float *ou[3], *of[3];
      memcpy(gu, init, sizeof(float) * (tot + 2 * c));
      memcpy(gf, init, sizeof(float) * (tot + 2 * c));
      for (int k = 0; k < 3; k++) {
        ou[k] = (mask >> k) & 1 ? gu + off[k] : NULL;
        of[k] = (mask >> k) & 1 ? gf + off[k] : NULL;
      }
      lb_bn_backward(&d, x, gm, st + 2 * c, st + 3 * c, g, ou[0], ou[1], ou[2]);
      lb_bn_relu_backward(&d, x, y, gm, st + 2 * c, st + 3 * c, dy, of[0], of[1], of[2]);
      /* absent outputs are untouched, present ones match the composition bit for bit */
      CHECK_MSG(same(gu, gf, tot + 2 * c), "bn_relu backward (n=%d c=%d hw=%d affine=%d mask=%d)", n, c, hw,
                affine, mask);
      if (mask == 7) {
        int finite = 1;
        for (int64_t i = 0; i < tot + 2 * c; i++) finite &= isfinite(gf[i]) != 0;
        CHECK_MSG(finite, "blocked non-finite dy leaked (n=%d c=%d hw=%d)", n, c, hw);
        CHECK(!same(gf, init, tot + 2 * c));
      }
      if (mask == 0) CHECK(same(gf, init, tot + 2 * c));
    }
  }
  free(x);
  free(z);
  free(y);
  free(dy);
  free(g);
  free(st);
  free(init);
  free(gu);
  free(gf);
  par_free(&p);
}

typedef struct fd_ctx {
  lb_bn_desc d;
  float *x, *gamma, *beta, *y, *r, *st;
} fd_ctx;

static double bn_relu_loss(void *ctx) {
  fd_ctx *t = ctx;
  const int c = t->d.c;
  lb_bn_relu_forward_train(&t->d, t->x, t->gamma, t->beta, t->st, t->st + c, t->y, t->st + 2 * c, t->st + 3 * c);
  return lbt_dot(t->y, t->r, (int64_t)t->d.n * c * t->d.hw);
}

/* Finite differences of the fused backward (dx, dgamma, dbeta). Every channel holds pairs
 * mean +- v with v in [0.5, 1.5], so |xhat| >= ~0.45 and, with |beta| <= 0.1, every BN output is
 * >= ~0.12 away from the kink, far more than a 1e-2 step moves it (checked below). */
static void test_bn_fd(int n, int c, int hw, lb_rng *rng) {
  fd_ctx t;
  t.d = (lb_bn_desc){.n = n, .c = c, .hw = hw, .eps = 1e-5f, .momentum = 0.1f};
  CHECK_OK(lb_bn_init(&t.d));
  const int64_t m = (int64_t)n * hw, tot = m * c;
  CHECK(m % 2 == 0);
  t.x = lbt_falloc(tot);
  t.y = lbt_falloc(tot);
  t.r = lbt_falloc(tot);
  t.gamma = lbt_falloc(c);
  t.beta = lbt_falloc(c);
  t.st = lbt_falloc(4 * c);
  float *z = lbt_falloc(tot), *grad = lbt_falloc(tot + 2 * c);
  for (int k = 0; k < c; k++) {
    const float mean = 0.5f * (float)k - 0.25f;
    for (int64_t e = 0; e < m / 2; e++) {
      const float v = 0.5f + lb_rng_uniform(rng);
      const int64_t e2 = e + m / 2; /* the partner element of the same channel */
      t.x[(e / hw * c + k) * hw + e % hw] = mean + v;
      t.x[(e2 / hw * c + k) * hw + e2 % hw] = mean - v;
    }
    t.st[k] = 0.0f;
    t.st[c + k] = 1.0f;
  }
  lbt_fill_uniform(t.r, tot, rng, -1.0f, 1.0f);
  lbt_fill_uniform(t.gamma, c, rng, 0.5f, 1.5f);
  lbt_fill_uniform(t.beta, c, rng, -0.1f, 0.1f);

  lb_bn_forward_train(&t.d, t.x, t.gamma, t.beta, t.st, t.st + c, z, t.st + 2 * c, t.st + 3 * c);
  double closest = INFINITY;
  int64_t neg = 0;
  for (int64_t i = 0; i < tot; i++) {
    closest = fmin(closest, fabs(z[i]));
    neg += z[i] < 0.0f;
  }
  CHECK_MSG(closest > 0.05, "BN output %g too close to the ReLU kink for the FD check", closest);
  CHECK(neg > 0 && neg < tot);

  bn_relu_loss(&t);
  memset(grad, 0, sizeof(float) * (tot + 2 * c));
  lb_bn_relu_backward(&t.d, t.x, t.y, t.gamma, t.st + 2 * c, t.st + 3 * c, t.r, grad, grad + tot, grad + tot + c);
  double ex = lbt_grad_check(bn_relu_loss, &t, t.x, grad, tot, 0, 1e-2, 1e-2, rng);
  double eg = lbt_grad_check(bn_relu_loss, &t, t.gamma, grad + tot, c, 0, 1e-2, 1e-2, rng);
  double eb = lbt_grad_check(bn_relu_loss, &t, t.beta, grad + tot + c, c, 0, 1e-2, 1e-2, rng);
  CHECK_MSG(ex < 5e-3, "bn_relu dx FD err %g (n=%d c=%d hw=%d)", ex, n, c, hw);
  CHECK_MSG(eg < 5e-3, "bn_relu dgamma FD err %g", eg);
  CHECK_MSG(eb < 5e-3, "bn_relu dbeta FD err %g", eb);
  free(t.x);
  free(t.y);
  free(t.r);
  free(t.gamma);
  free(t.beta);
  free(t.st);
  free(z);
  free(grad);
}

/* add_relu forward == lb_add_forward then lb_relu_forward, in and out of place, with NaN, inf
 * and -0 among the sums. */
static void test_add_forward(int64_t n, lb_rng *rng) {
  float *a = lbt_falloc(n), *b = lbt_falloc(n), *s = lbt_falloc(n);
  float *yu = lbt_falloc(n), *yf = lbt_falloc(n), *w = lbt_falloc(n);
  lbt_fill_uniform(a, n, rng, -1.0f, 1.0f);
  lbt_fill_uniform(b, n, rng, -1.0f, 1.0f);
  if (n >= 5) {
    a[0] = NAN;
    a[1] = INFINITY;
    b[1] = -INFINITY; /* NaN sum */
    a[2] = -0.0f;
    b[2] = -0.0f; /* -0 sum, kept by the ReLU */
    a[3] = -INFINITY;
    a[4] = INFINITY;
  }
  lb_add_forward(n, a, b, s);
  lb_relu_forward(n, s, yu);
  lb_add_relu_forward(n, a, b, yf);
  CHECK_MSG(same(yu, yf, n), "add_relu forward n=%lld", (long long)n);
  if (n >= 5) CHECK(isnan(yf[0]) && isnan(yf[1]) && yf[2] == 0.0f && signbit(yf[2]) && yf[3] == 0.0f);
  memcpy(w, a, sizeof(float) * n);
  lb_add_relu_forward(n, w, b, w); /* y aliases a */
  CHECK(same(yu, w, n));
  memcpy(w, b, sizeof(float) * n);
  lb_add_relu_forward(n, a, w, w); /* y aliases b */
  CHECK(same(yu, w, n));
  free(a);
  free(b);
  free(s);
  free(yu);
  free(yf);
  free(w);
}

/* add_relu backward == lb_relu_backward into a zeroed buffer, then lb_add_backward: pre-filled
 * da/db, each NULL combination, da == db, blocked non-finite dy. */
static void test_add_backward(int64_t n, lb_rng *rng) {
  float *a = lbt_falloc(n), *b = lbt_falloc(n), *y = lbt_falloc(n), *dy = lbt_falloc(n), *g = lbt_falloc(n);
  float *init = lbt_falloc(2 * n), *gu = lbt_falloc(2 * n), *gf = lbt_falloc(2 * n);
  lbt_fill_uniform(a, n, rng, -1.0f, 1.0f);
  lbt_fill_uniform(b, n, rng, -1.0f, 1.0f);
  lbt_fill_uniform(dy, n, rng, -1.0f, 1.0f);
  lbt_fill_uniform(init, 2 * n, rng, -2.0f, 2.0f);
  lb_add_relu_forward(n, a, b, y);
  int blocked = 0;
  for (int64_t i = 0; i < n && blocked < 2; i++)
    if (!(y[i] > 0.0f)) dy[i] = blocked++ ? INFINITY : NAN;
  for (int64_t i = 0, k = 0; i < n && k < 3; i++) /* -0 gradients into -0 buffers, as above */
    if (y[i] > 0.0f) {
      dy[i] = -0.0f;
      init[i] = init[n + i] = -0.0f;
      k++;
    }
  memset(g, 0, sizeof(float) * n);
  lb_relu_backward(n, y, dy, g);
  for (int mask = 0; mask < 4; mask++) {
    memcpy(gu, init, sizeof(float) * 2 * n);
    memcpy(gf, init, sizeof(float) * 2 * n);
    lb_add_backward(n, g, mask & 1 ? gu : NULL, mask & 2 ? gu + n : NULL);
    lb_add_relu_backward(n, y, dy, mask & 1 ? gf : NULL, mask & 2 ? gf + n : NULL);
    CHECK_MSG(same(gu, gf, 2 * n), "add_relu backward n=%lld mask=%d", (long long)n, mask);
    if (mask == 3) {
      int finite = 1;
      for (int64_t i = 0; i < 2 * n; i++) finite &= isfinite(gf[i]) != 0;
      CHECK(finite);
    }
  }
  /* y = relu(a + a): both gradients land in one buffer */
  memcpy(gu, init, sizeof(float) * n);
  memcpy(gf, init, sizeof(float) * n);
  lb_add_backward(n, g, gu, gu);
  lb_add_relu_backward(n, y, dy, gf, gf);
  CHECK(same(gu, gf, n));
  free(a);
  free(b);
  free(y);
  free(dy);
  free(g);
  free(init);
  free(gu);
  free(gf);
}

typedef struct add_ctx {
  int64_t n;
  float *a, *b, *y, *r;
} add_ctx;

static double add_relu_loss(void *ctx) {
  add_ctx *t = ctx;
  lb_add_relu_forward(t->n, t->a, t->b, t->y);
  return lbt_dot(t->y, t->r, t->n);
}

/* Finite differences with every sum >= 0.1 away from the kink (the step is 1e-2). */
static void test_add_fd(lb_rng *rng) {
  add_ctx t = {.n = 97};
  t.a = lbt_falloc(t.n);
  t.b = lbt_falloc(t.n);
  t.y = lbt_falloc(t.n);
  t.r = lbt_falloc(t.n);
  float *da = lbt_falloc(t.n), *db = lbt_falloc(t.n);
  lbt_fill_uniform(t.a, t.n, rng, -1.0f, 1.0f);
  lbt_fill_uniform(t.b, t.n, rng, -1.0f, 1.0f);
  lbt_fill_uniform(t.r, t.n, rng, -1.0f, 1.0f);
  int64_t neg = 0;
  for (int64_t i = 0; i < t.n; i++) {
    float s = t.a[i] + t.b[i];
    if (fabsf(s) < 0.1f) t.b[i] += s < 0.0f ? -0.2f : 0.2f;
    neg += t.a[i] + t.b[i] < 0.0f;
  }
  CHECK(neg > 0 && neg < t.n);
  add_relu_loss(&t);
  memset(da, 0, sizeof(float) * t.n);
  memset(db, 0, sizeof(float) * t.n);
  lb_add_relu_backward(t.n, t.y, t.r, da, db);
  double ea = lbt_grad_check(add_relu_loss, &t, t.a, da, t.n, 0, 1e-2, 1e-2, rng);
  double eb = lbt_grad_check(add_relu_loss, &t, t.b, db, t.n, 0, 1e-2, 1e-2, rng);
  CHECK_MSG(ea < 1e-3, "add_relu da FD err %g", ea);
  CHECK_MSG(eb < 1e-3, "add_relu db FD err %g", eb);
  free(t.a);
  free(t.b);
  free(t.y);
  free(t.r);
  free(da);
  free(db);
}

/* Same bits for 1 and 2 threads on sizes that take the parallel paths. */
static void test_threads(lb_rng *rng) {
  lb_bn_desc d = {.n = 16, .c = 16, .hw = 196, .eps = 1e-5f, .momentum = 0.1f};
  CHECK_OK(lb_bn_init(&d));
  const int64_t tot = (int64_t)d.n * d.c * d.hw, na = 300001;
  float *x = lbt_falloc(tot), *dy = lbt_falloc(tot), *a = lbt_falloc(na), *b = lbt_falloc(na), *dya = lbt_falloc(na);
  bn_par p;
  par_alloc(&p, 16, rng);
  lbt_fill_uniform(x, tot, rng, -1.0f, 2.0f);
  lbt_fill_uniform(dy, tot, rng, -1.0f, 1.0f);
  lbt_fill_uniform(a, na, rng, -1.0f, 1.0f);
  lbt_fill_uniform(b, na, rng, -1.0f, 1.0f);
  lbt_fill_uniform(dya, na, rng, -1.0f, 1.0f);
  const int64_t len = 3 * tot + 6 * 16 + 3 * na;
  float *out[2];
  const int saved = lb_get_num_threads();
  for (int r = 0; r < 2; r++) {
    lb_set_num_threads(r + 1);
    float *o = out[r] = lbt_falloc(len);
    memset(o, 0, sizeof(float) * (size_t)len);
    float *y = o, *ye = y + tot, *dx = ye + tot, *st = dx + tot, *ya = st + 6 * 16, *da = ya + na, *db = da + na;
    memcpy(st, p.rm, sizeof(float) * 16);
    memcpy(st + 16, p.rv, sizeof(float) * 16);
    lb_bn_relu_forward_train(&d, x, p.gamma, p.beta, st, st + 16, y, st + 32, st + 48);
    lb_bn_relu_backward(&d, x, y, p.gamma, st + 32, st + 48, dy, dx, st + 64, st + 80);
    lb_bn_relu_forward_eval(&d, x, p.gamma, p.beta, p.rm, p.rv, ye);
    lb_add_relu_forward(na, a, b, ya);
    lb_add_relu_backward(na, ya, dya, da, db);
  }
  lb_set_num_threads(saved);
  CHECK(same(out[0], out[1], len));
  free(out[0]);
  free(out[1]);
  free(x);
  free(dy);
  free(a);
  free(b);
  free(dya);
  par_free(&p);
}

int main(void) {
  lb_rng rng;
  lb_rng_seed(&rng, 20240612);
  test_bn_forward(4, 3, 5, 0.0f, &rng);
  test_bn_forward(3, 2, 33, 1000.0f, &rng); /* large mean, odd sizes (vector and lane tails) */
  test_bn_forward(16, 4, 1, -3.0f, &rng);   /* 1-D batch norm */
  test_bn_forward(12, 16, 196, 0.5f, &rng); /* parallel path */
  test_bn_eval_special();
  test_bn_backward_exact(4, 3, 5, &rng);
  test_bn_backward_exact(5, 2, 37, &rng);
  test_bn_backward_exact(12, 3, 1, &rng);
  test_bn_backward_exact(12, 16, 196, &rng); /* parallel path */
  test_bn_fd(4, 3, 5, &rng);
  test_bn_fd(6, 2, 11, &rng);
  test_bn_fd(12, 3, 1, &rng);
  test_add_forward(37, &rng);
  test_add_forward(300001, &rng); /* parallel path */
  test_add_backward(37, &rng);
  test_add_backward(300001, &rng);
  test_add_fd(&rng);
  test_threads(&rng);
  return lbt_finish("test_nn_fused");
}
