/* nn element-wise ops: ReLU, hardtanh/ReLU6, residual add and dropout. Forward values by hand,
 * the gradient rule at the kinks, finite-difference checks away from them, accumulate and
 * NULL semantics, and dropout's mask statistics and determinism. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/nn.h"
#include "testutil.h"

#define N 257 /* odd: leaves a remainder after any vector width */

enum { OP_RELU, OP_HARDTANH, OP_ADD_A, OP_ADD_B, OP_DROPOUT };

typedef struct act_ctx {
  int op;
  float lo, hi, p;
  float *x, *b, *r, *y;
  uint8_t *mask;
} act_ctx;

static double act_loss(void *pv) {
  act_ctx *t = pv;
  lb_rng rng;
  switch (t->op) {
    case OP_RELU: lb_relu_forward(N, t->x, t->y); break;
    case OP_HARDTANH: lb_hardtanh_forward(N, t->lo, t->hi, t->x, t->y); break;
    case OP_ADD_A:
    case OP_ADD_B: lb_add_forward(N, t->x, t->b, t->y); break;
    default:
      lb_rng_seed(&rng, 99); /* same mask on every call: the loss is a smooth function of x */
      lb_dropout_forward(N, t->p, t->x, t->y, t->mask, &rng);
      break;
  }
  return lbt_dot(t->y, t->r, N);
}

/* x uniform in [lo, hi] but at least `gap` away from each kink in k[0..nk) */
static void fill_away(float *x, int64_t n, lb_rng *rng, float lo, float hi, const float *k, int nk, float gap) {
  for (int64_t i = 0; i < n; i++) {
    int near;
    do {
      x[i] = lo + (hi - lo) * lb_rng_uniform(rng);
      near = 0;
      for (int j = 0; j < nk; j++) near |= fabsf(x[i] - k[j]) < gap;
    } while (near);
  }
}

static void test_relu_hardtanh(lb_rng *rng) {
  /* forward by hand; NaN propagates as in PyTorch */
  float x[6] = {-2.0f, -0.5f, 0.0f, 0.5f, 3.0f, NAN}, y[6], dx[6], dy[6] = {1, 2, 3, 4, 5, 6};
  lb_relu_forward(6, x, y);
  CHECK(y[0] == 0.0f && y[1] == 0.0f && y[2] == 0.0f && y[3] == 0.5f && y[4] == 3.0f && isnan(y[5]));
  /* backward accumulates, and x == 0 passes nothing */
  for (int i = 0; i < 6; i++) dx[i] = 10.0f;
  lb_relu_backward(5, x, dy, dx);
  CHECK(dx[0] == 10.0f && dx[1] == 10.0f && dx[2] == 10.0f && dx[3] == 14.0f && dx[4] == 15.0f);
  lb_relu_backward(5, x, dy, NULL); /* skipped, must not crash */
  /* in place */
  float z[3] = {-1.0f, 2.0f, -0.0f};
  lb_relu_forward(3, z, z);
  CHECK(z[0] == 0.0f && z[1] == 2.0f && z[2] == 0.0f);

  /* hardtanh(-1, 2): clamp, gradient strictly inside only (0 exactly at the bounds) */
  float hx[7] = {-3.0f, -1.0f, -0.999f, 0.0f, 1.999f, 2.0f, 7.0f}, hy[7], hdx[7], hdy[7] = {1, 1, 1, 1, 1, 1, 1};
  lb_hardtanh_forward(7, -1.0f, 2.0f, hx, hy);
  const float want[7] = {-1.0f, -1.0f, -0.999f, 0.0f, 1.999f, 2.0f, 2.0f};
  CHECK(memcmp(hy, want, sizeof want) == 0);
  for (int i = 0; i < 7; i++) hdx[i] = 0.5f;
  lb_hardtanh_backward(7, -1.0f, 2.0f, hx, hdy, hdx);
  const float wantd[7] = {0.5f, 0.5f, 1.5f, 1.5f, 1.5f, 0.5f, 0.5f};
  CHECK(memcmp(hdx, wantd, sizeof wantd) == 0);
  lb_hardtanh_backward(7, -1.0f, 2.0f, hx, hdy, NULL);
  /* ReLU6 = hardtanh(0, 6) */
  float r6[4] = {-1.0f, 0.0f, 6.0f, 6.5f}, r6y[4];
  lb_hardtanh_forward(4, 0.0f, 6.0f, r6, r6y);
  CHECK(r6y[0] == 0.0f && r6y[1] == 0.0f && r6y[2] == 6.0f && r6y[3] == 6.0f);
  float nanin = NAN, nanout = 0.0f;
  lb_hardtanh_forward(1, 0.0f, 6.0f, &nanin, &nanout);
  CHECK(isnan(nanout));

  /* finite differences away from the kinks */
  float *buf = malloc(sizeof(float) * 4 * N);
  act_ctx t = {.x = buf, .r = buf + N, .y = buf + 2 * N};
  float *g = buf + 3 * N;
  lbt_fill_uniform(t.r, N, rng, -1.0f, 1.0f);
  const float k0 = 0.0f;
  fill_away(t.x, N, rng, -2.0f, 2.0f, &k0, 1, 0.05f);
  t.op = OP_RELU;
  memset(g, 0, sizeof(float) * N);
  lb_relu_backward(N, t.x, t.r, g);
  double e = lbt_grad_check(act_loss, &t, t.x, g, N, 0, 1e-3, 1e-3, rng);
  CHECK_MSG(e < 1e-3, "relu FD err %g", e);

  const float kinks[2] = {-1.0f, 2.0f};
  fill_away(t.x, N, rng, -3.0f, 4.0f, kinks, 2, 0.05f);
  t.op = OP_HARDTANH;
  t.lo = -1.0f;
  t.hi = 2.0f;
  memset(g, 0, sizeof(float) * N);
  lb_hardtanh_backward(N, t.lo, t.hi, t.x, t.r, g);
  int inside = 0;
  for (int i = 0; i < N; i++) inside += g[i] != 0.0f;
  CHECK(inside > N / 5 && inside < N - N / 5); /* both regions are exercised */
  e = lbt_grad_check(act_loss, &t, t.x, g, N, 0, 1e-3, 1e-3, rng);
  CHECK_MSG(e < 1e-3, "hardtanh FD err %g", e);
  free(buf);
}

static void test_add(lb_rng *rng) {
  float a[3] = {1.0f, -2.0f, 0.5f}, b[3] = {0.25f, 2.0f, -4.0f}, y[3];
  lb_add_forward(3, a, b, y);
  CHECK(y[0] == 1.25f && y[1] == 0.0f && y[2] == -3.5f);
  lb_add_forward(3, a, b, a); /* in place */
  CHECK(a[0] == 1.25f && a[1] == 0.0f && a[2] == -3.5f);

  float dy[3] = {1.0f, 2.0f, 3.0f}, da[3] = {1.0f, 1.0f, 1.0f}, db[3] = {-1.0f, 0.0f, 1.0f};
  lb_add_backward(3, dy, da, db);
  CHECK(da[0] == 2.0f && da[1] == 3.0f && da[2] == 4.0f);
  CHECK(db[0] == 0.0f && db[1] == 2.0f && db[2] == 4.0f);
  lb_add_backward(3, dy, NULL, db);
  CHECK(db[0] == 1.0f && db[1] == 4.0f && db[2] == 7.0f);
  lb_add_backward(3, dy, da, NULL);
  CHECK(da[0] == 3.0f && da[1] == 5.0f && da[2] == 7.0f);

  float *buf = malloc(sizeof(float) * 6 * N);
  act_ctx t = {.op = OP_ADD_A, .x = buf, .b = buf + N, .r = buf + 2 * N, .y = buf + 3 * N};
  float *ga = buf + 4 * N, *gb = buf + 5 * N;
  lbt_fill_uniform(buf, 3 * N, rng, -1.0f, 1.0f);
  memset(ga, 0, sizeof(float) * 2 * N);
  lb_add_backward(N, t.r, ga, gb);
  double e = lbt_grad_check(act_loss, &t, t.x, ga, N, 0, 1e-3, 1e-3, rng);
  CHECK_MSG(e < 1e-3, "add da FD err %g", e);
  e = lbt_grad_check(act_loss, &t, t.b, gb, N, 0, 1e-3, 1e-3, rng);
  CHECK_MSG(e < 1e-3, "add db FD err %g", e);
  free(buf);
}

static void test_dropout(lb_rng *rng) {
  enum { M = 100000 };
  float *x = malloc(sizeof(float) * M), *y = malloc(sizeof(float) * M), *dx = malloc(sizeof(float) * M);
  uint8_t *mask = malloc(M), *mask2 = malloc(M);
  lbt_fill_uniform(x, M, rng, -2.0f, 2.0f);

  /* p = 0: identity, all kept, no draws taken */
  lb_rng r1, r2;
  lb_rng_seed(&r1, 5);
  lb_rng_seed(&r2, 5);
  memset(mask, 7, M);
  lb_dropout_forward(M, 0.0f, x, y, mask, &r1);
  CHECK(memcmp(x, y, sizeof(float) * M) == 0);
  int all = 1;
  for (int i = 0; i < M; i++) all &= mask[i] == 1;
  CHECK(all);
  CHECK(lb_rng_u64(&r1) == lb_rng_u64(&r2));
  for (int i = 0; i < M; i++) dx[i] = 1.0f;
  lb_dropout_backward(M, 0.0f, mask, x, dx);
  CHECK(dx[0] == 1.0f + x[0] && dx[M - 1] == 1.0f + x[M - 1]);

  /* p = 0.3: mask follows the rng draws in element order; kept values scaled by 1/(1-p) */
  const float p = 0.3f, scale = 1.0f / (1.0f - p);
  lb_rng_seed(&r1, 11);
  lb_dropout_forward(M, p, x, y, mask, &r1);
  lb_rng_seed(&r2, 11);
  int kept = 0, order_ok = 1, val_ok = 1;
  for (int i = 0; i < M; i++) {
    uint8_t want = lb_rng_uniform(&r2) >= p;
    order_ok &= mask[i] == want;
    val_ok &= y[i] == (mask[i] ? x[i] * scale : 0.0f);
    kept += mask[i];
  }
  CHECK(order_ok);
  CHECK(val_ok);
  CHECK(lb_rng_u64(&r1) == lb_rng_u64(&r2)); /* exactly one draw per element */
  CHECK_MSG(fabs(kept / (double)M - 0.7) < 0.006, "kept fraction %g", kept / (double)M);
  /* same seed, same mask; another seed, another mask */
  lb_rng_seed(&r1, 11);
  lb_dropout_forward(M, p, x, y, mask2, &r1);
  CHECK(memcmp(mask, mask2, M) == 0);
  lb_rng_seed(&r1, 12);
  lb_dropout_forward(M, p, x, y, mask2, &r1);
  CHECK(memcmp(mask, mask2, M) != 0);

  /* backward accumulates mask * dy / (1-p) */
  for (int i = 0; i < M; i++) dx[i] = 0.5f;
  lb_dropout_backward(M, p, mask, x, dx);
  int bw_ok = 1;
  for (int i = 0; i < M; i++) bw_ok &= dx[i] == 0.5f + (mask[i] ? x[i] * scale : 0.0f);
  CHECK(bw_ok);
  lb_dropout_backward(M, p, mask, x, NULL);

  /* finite differences with a fixed mask */
  float *buf = malloc(sizeof(float) * 4 * N);
  act_ctx t = {.op = OP_DROPOUT, .p = 0.4f, .x = buf, .r = buf + N, .y = buf + 2 * N, .mask = mask};
  float *g = buf + 3 * N;
  lbt_fill_uniform(buf, 2 * N, rng, -1.0f, 1.0f);
  act_loss(&t);
  memset(g, 0, sizeof(float) * N);
  lb_dropout_backward(N, t.p, t.mask, t.r, g);
  double e = lbt_grad_check(act_loss, &t, t.x, g, N, 0, 1e-3, 1e-3, rng);
  CHECK_MSG(e < 1e-3, "dropout FD err %g", e);
  free(buf);
  free(x);
  free(y);
  free(dx);
  free(mask);
  free(mask2);
}

int main(void) {
  lb_rng rng;
  lb_rng_seed(&rng, 7);
  test_relu_hardtanh(&rng);
  test_add(&rng);
  test_dropout(&rng);
  return lbt_finish("test_nn_act");
}
