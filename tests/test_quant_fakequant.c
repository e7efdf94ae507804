/* The "fakequant" op: forward values of every estimator against closed forms (ties to even,
 * clamping, PACT in [0, alpha], DoReFa levels k/qmax), gradients against their formulas (STE
 * mask, LSQ/LSQ+ against lb_fq_backward_lsq, PACT's dalpha = sum of dy over x >= alpha, DoReFa's
 * clip mask), finite differences on the smooth pieces, accumulation, the disabled quantizer,
 * the parameter layout, infer errors, determinism across thread counts and the model file. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "lowbit/qgraph.h"
#include "testutil.h"

enum { P_SCALE = 0, P_ZERO, P_ALPHA };

static lb_qspec spec_of(int bits, int is_signed, int symmetric) {
  return lbt_qspec(bits, is_signed, symmetric, 0, LB_QGRAN_TENSOR, 0, 0, LB_QSCALE_FLOAT);
}

static lb_qcfg cfg_of(lb_qspec q, lb_estimator est) {
  lb_qcfg c;
  memset(&c, 0, sizeof c);
  c.spec = q;
  c.est = est;
  c.observer = LB_OBS_MINMAX;
  return c;
}

/* input (sample shape) -> fakequant "fq". Returns NULL (after a CHECK) on failure. */
static lb_graph *fq_graph(lb_shape sample, const lb_qcfg *cfg, int enabled) {
  lb_graph *g = NULL;
  CHECK_OK(lb_graph_create(&g, "fq", sample));
  if (!g) return NULL;
  int ia[LB_QCFG_IATTRS];
  float fa[1];
  lb_qcfg_pack(cfg, enabled, ia, fa);
  int in0 = 0, id = -1;
  lb_status s = lb_graph_add(g, "fakequant", "fq", &in0, 1, ia, LB_QCFG_IATTRS, fa, 1, &id);
  CHECK_MSG(s == LB_OK, "%s", lb_last_error());
  CHECK_OK(lb_graph_init_params(g, 1));
  if (s) {
    lb_graph_free(g);
    return NULL;
  }
  return g;
}

static float *pval(lb_graph *g, const char *name) {
  const lb_param *p = lb_graph_find_param(g, name);
  CHECK_MSG(p != NULL, "no parameter %s", name);
  return p ? g->values + p->offset : NULL;
}

static void set_params(lb_graph *g, float scale, float zero, float alpha) {
  *pval(g, "fq.scale") = scale;
  *pval(g, "fq.zero") = zero;
  *pval(g, "fq.alpha") = alpha;
}

/* One forward and backward of the op itself (so that dx is visible: the executor gives the
 * graph input no gradient). dx and dp (3 values) are accumulated into, as the executor does;
 * dp[k] is only passed for trainable parameters. */
static void run_op(lb_graph *g, int batch, const float *x, const float *dy, float *y, float *dx, float *dp) {
  const lb_node *n = &g->nodes[1];
  lb_op_ctx c;
  memset(&c, 0, sizeof c);
  c.batch = batch;
  c.training = 1;
  c.in[0] = x;
  c.in_shape[0] = &g->nodes[0].shape;
  c.out = y;
  c.dout = dy;
  c.din[0] = dx;
  for (int j = 0; j < n->n_params; j++) {
    const lb_param *p = &g->params[n->first_param + j];
    c.param[j] = g->values + p->offset;
    c.dparam[j] = p->trainable ? dp + j : NULL;
  }
  n->op->forward(n, &c);
  if (dy) n->op->backward(n, &c);
}

/* The executor's output and parameter gradients (training forward), copied out. */
static void run_exec(lb_graph *g, int batch, const float *x, const float *dy, float *y, float *grads) {
  lb_exec *e = NULL;
  CHECK_OK(lb_exec_create(&e, g, batch));
  if (!e) return;
  lb_rng rng;
  lb_rng_seed(&rng, 5);
  const float *out = lb_exec_forward(e, x, batch, 1, &rng);
  CHECK(out != NULL);
  int64_t n = batch * lb_shape_numel(&g->nodes[1].shape);
  if (out) memcpy(y, out, (size_t)n * sizeof(float));
  lb_exec_zero_grad(e);
  lb_exec_backward(e, dy);
  memcpy(grads, lb_exec_grads(e), (size_t)g->n_values * sizeof(float));
  lb_exec_free(e);
}

/* Runs the op (accumulating into dx and dp) and the executor; checks that they agree: outputs
 * bitwise, parameter gradients exactly (against the op run once more from zero gradients). */
static void run_both(lb_graph *g, int batch, const float *x, const float *dy, float *y, float *dx, float *dp) {
  int64_t n = batch * lb_shape_numel(&g->nodes[1].shape);
  run_op(g, batch, x, dy, y, dx, dp);
  float *ye = lbt_falloc((size_t)n), *ge = lbt_falloc((size_t)g->n_values), dp0[3] = {0, 0, 0};
  run_op(g, batch, x, dy, ye, NULL, dp0);
  run_exec(g, batch, x, dy, ye, ge);
  CHECK(memcmp(ye, y, (size_t)n * sizeof(float)) == 0);
  for (int j = 0; j < 3; j++) {
    const lb_param *p = &g->params[g->nodes[1].first_param + j];
    CHECK_MSG(ge[p->offset] == (p->trainable ? dp0[j] : 0.0f), "%s: executor %g, op %g", p->name,
              (double)ge[p->offset], (double)dp0[j]);
  }
  free(ye);
  free(ge);
}

static void check_trainable(lb_graph *g, int scale, int zero, int alpha) {
  const lb_param *ps = lb_graph_find_param(g, "fq.scale"), *pz = lb_graph_find_param(g, "fq.zero"),
                 *pa = lb_graph_find_param(g, "fq.alpha");
  CHECK(ps && pz && pa);
  if (!ps || !pz || !pa) return;
  CHECK(ps->trainable == scale && pz->trainable == zero && pa->trainable == alpha);
  CHECK(pa->decay == alpha && ps->decay == 0 && pz->decay == 0);
  CHECK(ps->numel == 1 && pz->numel == 1 && pa->numel == 1);
  CHECK(ps->offset < pz->offset && pz->offset < pa->offset); /* declaration order */
}

/* STE on uint4 affine, scale 0.5, zero 3: ties to even and clamping, dx mask, accumulation. */
static void test_ste(void) {
  lb_graph *g = fq_graph(lb_shape1(3), &(lb_qcfg){.spec = spec_of(4, 0, 0), .est = LB_EST_STE}, 1);
  if (!g) return;
  check_trainable(g, 0, 0, 0);
  set_params(g, 0.5f, 3.0f, 1.0f);
  /* q = clamp(rint(x/0.5) + 3, 0, 15); y = (q - 3) * 0.5 */
  const float x[9] = {-2.0f, 0.25f, 0.75f, 1.25f, 6.0f, 6.4f, -1.5f, -1.6f, -1.8f};
  const float want[9] = {-1.5f, 0.0f, 1.0f, 1.0f, 6.0f, 6.0f, -1.5f, -1.5f, -1.5f};
  const float mask[9] = {0, 1, 1, 1, 1, 0, 1, 1, 0};
  float dy[9], y[9], dx[9], dp[3] = {0, 0, 0};
  for (int i = 0; i < 9; i++) {
    dy[i] = (float)(i + 1);
    dx[i] = 0.5f; /* backward accumulates */
  }
  run_both(g, 3, x, dy, y, dx, dp);
  for (int i = 0; i < 9; i++) {
    CHECK_MSG(y[i] == want[i], "x=%g: y=%g want %g", (double)x[i], (double)y[i], (double)want[i]);
    CHECK_MSG(dx[i] == 0.5f + dy[i] * mask[i], "x=%g: dx=%g", (double)x[i], (double)dx[i]);
  }
  lb_graph_free(g);
}

/* LSQ (uint4 symmetric) and LSQ+ (uint4 affine): forward closed form, dx mask, dscale/dzero
 * against lb_fq_backward_lsq and against the formula, grad factor over the batch tensor. */
static void test_lsq(int plus) {
  lb_qspec q = spec_of(4, 0, plus ? 0 : 1);
  lb_graph *g = fq_graph(lb_shape3(2, 2, 2), &(lb_qcfg){.spec = q, .est = plus ? LB_EST_LSQ_PLUS : LB_EST_LSQ}, 1);
  if (!g) return;
  check_trainable(g, 1, plus, 0);
  const float s = 0.25f, z = plus ? 2.0f : 0.0f;
  set_params(g, s, z, 1.0f);
  enum { B = 3, N = B * 8 };
  float x[N], dy[N], y[N], dx[N], dp[3] = {0.25f, -0.5f, 0.0f};
  lb_rng rng;
  lb_rng_seed(&rng, 3);
  lbt_fill_uniform(x, N, &rng, -1.5f, 4.5f);
  lbt_fill_uniform(dy, N, &rng, -1.0f, 1.0f);
  x[0] = 0.125f; /* a tie: rint(0.5) = 0 */
  x[1] = 0.375f; /* rint(1.5) = 2 */
  memset(dx, 0, sizeof dx);
  run_both(g, B, x, dy, y, dx, dp);
  /* closed form with exact arithmetic (s is a power of two) */
  int clamped = 0, inside = 0;
  double ds_formula = 0.0, dz_formula = 0.0;
  const float gf = (float)(1.0 / sqrt((double)N * 15.0));
  for (int i = 0; i < N; i++) {
    float v = x[i] / s, r = rintf(v) + z;
    float qc = r < 0.0f ? 0.0f : (r > 15.0f ? 15.0f : r);
    CHECK(y[i] == (qc - z) * s);
    int in = r >= 0.0f && r <= 15.0f;
    CHECK(dx[i] == dy[i] * (float)in);
    clamped += !in;
    inside += in;
    /* LSQ: round(v) - v inside, qmin - z below, qmax - z above; LSQ+'s dzero: -s outside */
    double term = in ? (double)rintf(v) - v : (r < 0.0f ? -z : 15.0 - z);
    ds_formula += (double)gf * dy[i] * term;
    if (!in) dz_formula += -(double)gf * dy[i] * s;
  }
  CHECK(clamped > 2 && inside > 2);
  CHECK_NEAR(y[0], 0.0, 0.0);
  CHECK_NEAR(y[1], 0.5, 0.0);
  /* against the kernel called directly on the (batch, sample) shape */
  lb_shape bs = lb_shape4(B, 2, 2, 2);
  CHECK(lb_lsq_grad_factor(&q, &bs) == gf);
  float kdx[N], kds = 0.0f, kdz = 0.0f;
  memset(kdx, 0, sizeof kdx);
  lb_fq_backward_lsq(&q, &bs, x, &s, &z, dy, gf, kdx, &kds, plus ? &kdz : NULL);
  CHECK(memcmp(kdx, dx, sizeof dx) == 0);
  CHECK(dp[P_SCALE] == 0.25f + kds);
  CHECK_NEAR(dp[P_SCALE] - 0.25f, ds_formula, 1e-6);
  if (plus) {
    CHECK(dp[P_ZERO] == -0.5f + kdz);
    CHECK_NEAR(dp[P_ZERO] + 0.5f, dz_formula, 1e-6);
  } else {
    CHECK(dp[P_ZERO] == -0.5f); /* a buffer: untouched */
  }
  CHECK(dp[P_ALPHA] == 0.0f);

  /* a negative stored scale acts as |s|, and its gradient changes sign */
  set_params(g, -s, z, 1.0f);
  float y2[N], dx2[N], dp2[3] = {0, 0, 0};
  memset(dx2, 0, sizeof dx2);
  run_op(g, B, x, dy, y2, dx2, dp2);
  CHECK(memcmp(y2, y, sizeof y) == 0 && memcmp(dx2, dx, sizeof dx) == 0);
  CHECK(dp2[P_SCALE] == -kds);
  lb_graph_free(g);
}

/* LSQ on a power-of-two spec quantizes with the rounded scale. */
static void test_lsq_pow2(void) {
  lb_qspec q = spec_of(4, 1, 1);
  q.scale_kind = LB_QSCALE_POW2;
  lb_graph *g = fq_graph(lb_shape1(16), &(lb_qcfg){.spec = q, .est = LB_EST_LSQ}, 1);
  if (!g) return;
  set_params(g, 0.3f, 0.0f, 1.0f);
  float x[16], y[16], want[16];
  lb_rng rng;
  lb_rng_seed(&rng, 9);
  lbt_fill_uniform(x, 16, &rng, -3, 3);
  run_op(g, 1, x, NULL, y, NULL, NULL);
  float s2 = 0.25f;
  lb_shape sh = lb_shape2(1, 16);
  lb_fq_forward(&q, &sh, x, &s2, NULL, want);
  CHECK(memcmp(y, want, sizeof y) == 0);
  lb_graph_free(g);
}

/* The loss sum(dy * y) as a function of one parameter, for finite differences. */
typedef struct fd_ctx {
  lb_graph *g;
  int batch;
  const float *x, *dy;
  float *y;
  int64_t n;
} fd_ctx;

static double fd_loss(void *p) {
  fd_ctx *f = p;
  run_op(f->g, f->batch, f->x, NULL, f->y, NULL, NULL);
  return lbt_dot(f->y, f->dy, f->n);
}

/* Where every element is clamped, LSQ's y = qmax*s (or qmin*s) is smooth in s, and LSQ's dscale
 * is the true derivative times the grad factor. */
static void test_lsq_fd_clamped(void) {
  lb_qspec q = spec_of(3, 1, 1); /* [-4, 3] */
  lb_graph *g = fq_graph(lb_shape1(6), &(lb_qcfg){.spec = q, .est = LB_EST_LSQ}, 1);
  if (!g) return;
  float *sp = pval(g, "fq.scale");
  *sp = 0.3f;
  float x[12], dy[12], y[12], dp[3] = {0, 0, 0};
  lb_rng rng;
  lb_rng_seed(&rng, 4);
  for (int i = 0; i < 12; i++) x[i] = (i % 2 ? 1.0f : -1.0f) * (2.0f + (float)i * 0.1f);
  lbt_fill_uniform(dy, 12, &rng, -1, 1);
  run_op(g, 2, x, dy, y, NULL, dp);
  float gf = (float)(1.0 / sqrt(12.0 * 3.0));
  float ana = dp[P_SCALE] / gf;
  fd_ctx f = {g, 2, x, dy, y, 12};
  double err = lbt_grad_check(fd_loss, &f, sp, &ana, 1, 0, 1e-2, 1e-3, &rng);
  CHECK_MSG(err < 1e-3, "LSQ clamped dscale vs finite differences: %g", err);
  lb_graph_free(g);
}

/* PACT on uint2 with alpha 1.5 (scale 0.5): clip, ties, dx on [0, alpha), dalpha. */
static void test_pact(void) {
  lb_graph *g = fq_graph(lb_shape1(10), &(lb_qcfg){.spec = spec_of(2, 0, 1), .est = LB_EST_PACT}, 1);
  if (!g) return;
  check_trainable(g, 0, 0, 1);
  CHECK(g->nodes[1].fa[0] == 6.0f); /* default initial alpha, kept for calibration */
  set_params(g, 1.0f, 0.0f, 1.5f);
  const float x[10] = {-1.0f, 0.0f, 0.2f, 0.25f, 0.75f, 1.0f, 1.25f, 1.5f, 3.0f, 1.49f};
  const float want[10] = {0.0f, 0.0f, 0.0f, 0.0f, 1.0f, 1.0f, 1.0f, 1.5f, 1.5f, 1.5f};
  const float mask[10] = {0, 1, 1, 1, 1, 1, 1, 0, 0, 1};
  float dy[10], y[10], dx[10], dp[3] = {0, 0, 0.125f};
  for (int i = 0; i < 10; i++) {
    dy[i] = (float)(i + 1) * 0.5f;
    dx[i] = 0.0f;
  }
  run_both(g, 1, x, dy, y, dx, dp);
  for (int i = 0; i < 10; i++) {
    CHECK_MSG(y[i] == want[i], "x=%g: y=%g want %g", (double)x[i], (double)y[i], (double)want[i]);
    CHECK_MSG(dx[i] == dy[i] * mask[i], "x=%g: dx=%g", (double)x[i], (double)dx[i]);
  }
  CHECK(dp[P_ALPHA] == 0.125f + dy[7] + dy[8]);
  CHECK(dp[P_SCALE] == 0.0f && dp[P_ZERO] == 0.0f);

  /* random data, uint4: output in [0, alpha] on the grid k*alpha/15; dalpha = sum over x >= alpha */
  lb_graph_free(g);
  g = fq_graph(lb_shape3(1, 4, 4), &(lb_qcfg){.spec = spec_of(4, 0, 0), .est = LB_EST_PACT, .init = 2.5f}, 1);
  if (!g) return;
  CHECK(g->nodes[1].fa[0] == 2.5f);
  const float alpha = 1.7f;
  set_params(g, 1.0f, 0.0f, alpha);
  enum { B = 4, N = B * 16 };
  float xr[N], dyr[N], yr[N], dxr[N], dpr[3] = {0, 0, 0};
  lb_rng rng;
  lb_rng_seed(&rng, 8);
  lbt_fill_uniform(xr, N, &rng, -2, 4);
  lbt_fill_uniform(dyr, N, &rng, -1, 1);
  memset(dxr, 0, sizeof dxr);
  run_both(g, B, xr, dyr, yr, dxr, dpr);
  float s = alpha / 15.0f;
  double sum = 0.0;
  int above = 0;
  for (int i = 0; i < N; i++) {
    CHECK(yr[i] >= 0.0f && yr[i] <= alpha);
    float k = rintf(yr[i] / s);
    CHECK(k >= 0.0f && k <= 15.0f && yr[i] == k * s);
    float c = xr[i] < 0.0f ? 0.0f : (xr[i] > alpha ? alpha : xr[i]);
    CHECK(k == rintf(c * (1.0f / s)));
    CHECK(dxr[i] == (xr[i] >= 0.0f && xr[i] < alpha ? dyr[i] : 0.0f));
    if (xr[i] >= alpha) {
      sum += dyr[i];
      above++;
    }
  }
  CHECK(above > 4);
  CHECK_NEAR(dpr[P_ALPHA], sum, 1e-6);

  /* finite differences where every element is clipped: y = alpha, smooth in alpha */
  for (int i = 0; i < N; i++) xr[i] = 2.0f + (float)i * 0.01f;
  memset(dpr, 0, sizeof dpr);
  run_op(g, B, xr, dyr, yr, NULL, dpr);
  fd_ctx f = {g, B, xr, dyr, yr, N};
  double err = lbt_grad_check(fd_loss, &f, pval(g, "fq.alpha"), &dpr[P_ALPHA], 1, 0, 1e-2, 1e-3, &rng);
  CHECK_MSG(err < 1e-3, "PACT dalpha vs finite differences: %g", err);
  lb_graph_free(g);
}

/* DoReFa activations on uint2: levels k * (1/3), dx on [0, 1]. */
static void test_dorefa(void) {
  lb_graph *g = fq_graph(lb_shape1(8), &(lb_qcfg){.spec = spec_of(2, 0, 1), .est = LB_EST_DOREFA}, 1);
  if (!g) return;
  check_trainable(g, 0, 0, 0);
  set_params(g, 7.0f, 1.0f, 7.0f); /* ignored by DoReFa */
  const float x[8] = {-0.5f, 0.0f, 0.1f, 0.2f, 0.5f, 0.9f, 1.0f, 2.0f};
  const int level[8] = {0, 0, 0, 1, 2, 3, 3, 3}; /* 0.5*3 = 1.5 rounds to even */
  const float mask[8] = {0, 1, 1, 1, 1, 1, 1, 0};
  float dy[8], y[8], dx[8], dp[3] = {0, 0, 0};
  for (int i = 0; i < 8; i++) {
    dy[i] = -(float)(i + 1);
    dx[i] = 1.0f;
  }
  run_both(g, 1, x, dy, y, dx, dp);
  for (int i = 0; i < 8; i++) {
    CHECK_MSG(y[i] == (float)level[i] * (1.0f / 3.0f), "x=%g: y=%.9g", (double)x[i], (double)y[i]);
    CHECK_NEAR(y[i], level[i] / 3.0, 1e-7);
    CHECK(dx[i] == 1.0f + dy[i] * mask[i]);
  }
  lb_graph_free(g);
}

/* Disabled quantizers are the identity, forward and backward, for every estimator. */
static void test_disabled(void) {
  for (int e = 0; e < LB_EST_COUNT; e++) {
    lb_qspec q = spec_of(e == LB_EST_LOG ? 8 : 2, 0, e != LB_EST_LSQ_PLUS); /* log: NNIE's 8-bit grid only */
    lb_graph *g = fq_graph(lb_shape1(5), &(lb_qcfg){.spec = q, .est = (lb_estimator)e}, 0);
    if (!g) continue;
    set_params(g, 0.1f, 1.0f, 0.2f);
    float x[10], dy[10], y[10], dx[10], dp[3] = {0, 0, 0};
    lb_rng rng;
    lb_rng_seed(&rng, (uint64_t)e + 20);
    lbt_fill_uniform(x, 10, &rng, -3, 3);
    lbt_fill_uniform(dy, 10, &rng, -1, 1);
    for (int i = 0; i < 10; i++) dx[i] = 2.0f;
    run_both(g, 2, x, dy, y, dx, dp);
    CHECK_MSG(memcmp(x, y, sizeof x) == 0, "%s: disabled forward is not the identity", lb_estimator_name((lb_estimator)e));
    for (int i = 0; i < 10; i++) CHECK(dx[i] == 2.0f + dy[i]);
    CHECK(dp[0] == 0.0f && dp[1] == 0.0f && dp[2] == 0.0f);
    lb_graph_free(g);
  }
}

static void expect_infer_error(const lb_qcfg *cfg, int gran, lb_status want, const char *what) {
  lb_graph *g = NULL;
  CHECK_OK(lb_graph_create(&g, "bad", lb_shape3(2, 3, 3)));
  if (!g) return;
  int ia[LB_QCFG_IATTRS];
  float fa[1];
  lb_qcfg_pack(cfg, 1, ia, fa);
  if (gran >= 0) ia[2] = gran;
  int in0 = 0, id;
  CHECK_STATUS(lb_graph_add(g, "fakequant", "badq", &in0, 1, ia, LB_QCFG_IATTRS, fa, 1, &id), want);
  CHECK_MSG(strstr(lb_last_error(), "badq") != NULL, "error does not name the node: %s", lb_last_error());
  CHECK_MSG(strstr(lb_last_error(), what) != NULL, "error '%s' does not say '%s'", lb_last_error(), what);
  CHECK(g->n_nodes == 1 && g->n_params == 0);
  lb_graph_free(g);
}

static void test_infer_errors(void) {
  lb_qcfg c = cfg_of(spec_of(4, 1, 1), LB_EST_PACT);
  expect_infer_error(&c, -1, LB_ERR_ARG, "unsigned");
  c.est = LB_EST_DOREFA;
  expect_infer_error(&c, -1, LB_ERR_ARG, "unsigned");
  c = cfg_of(spec_of(4, 0, 1), LB_EST_PACT);
  c.spec.scale_kind = LB_QSCALE_POW2;
  expect_infer_error(&c, -1, LB_ERR_ARG, "power of two");
  c = cfg_of(spec_of(4, 0, 1), LB_EST_PACT);
  c.init = -1.0f;
  expect_infer_error(&c, -1, LB_ERR_ARG, "alpha");
  c = cfg_of(spec_of(8, 1, 1), LB_EST_LSQ);
  expect_infer_error(&c, 1, LB_ERR_UNSUPPORTED, "per-tensor");
  expect_infer_error(&c, 2, LB_ERR_ARG, "granularity");
  c.spec.bits = 0;
  expect_infer_error(&c, -1, LB_ERR_ARG, "bits");
  c = cfg_of(spec_of(8, 1, 1), (lb_estimator)LB_EST_COUNT);
  expect_infer_error(&c, -1, LB_ERR_ARG, "estimator");
  c = cfg_of(spec_of(8, 0, 0), LB_EST_STE);
  c.spec.narrow = 1;
  expect_infer_error(&c, -1, LB_ERR_ARG, "narrow");
  /* wrong number of inputs */
  lb_graph *g = NULL;
  CHECK_OK(lb_graph_create(&g, "bad", lb_shape1(4)));
  if (!g) return;
  int ia[LB_QCFG_IATTRS];
  float fa[1];
  c = cfg_of(spec_of(8, 0, 0), LB_EST_STE);
  lb_qcfg_pack(&c, 1, ia, fa);
  int two[2] = {0, 0}, id;
  CHECK(lb_graph_add(g, "fakequant", "q2", two, 2, ia, LB_QCFG_IATTRS, fa, 1, &id) != LB_OK);
  lb_graph_free(g);
}

/* dalpha and dscale are the same bits for 1 and 3 threads on a tensor large enough to split. */
static void test_threads(void) {
#ifdef _OPENMP
  enum { F = 3 * 64 * 64, B = 8, N = B * F };
  float *x = lbt_falloc(N), *dy = lbt_falloc(N), *y = lbt_falloc(N), *dx1 = lbt_falloc(N), *dx3 = lbt_falloc(N);
  lb_rng rng;
  lb_rng_seed(&rng, 12);
  lbt_fill_uniform(x, N, &rng, -1, 3);
  lbt_fill_uniform(dy, N, &rng, -1, 1);
  int est[2] = {LB_EST_PACT, LB_EST_LSQ_PLUS};
  for (int k = 0; k < 2; k++) {
    lb_graph *g = fq_graph(lb_shape3(3, 64, 64), &(lb_qcfg){.spec = spec_of(4, 0, 0), .est = (lb_estimator)est[k]}, 1);
    if (!g) continue;
    set_params(g, 0.1f, 3.0f, 1.9f);
    float dp1[3] = {0, 0, 0}, dp3[3] = {0, 0, 0};
    int saved = omp_get_max_threads();
    memset(dx1, 0, N * sizeof(float));
    memset(dx3, 0, N * sizeof(float));
    omp_set_num_threads(1);
    run_op(g, B, x, dy, y, dx1, dp1);
    omp_set_num_threads(3);
    run_op(g, B, x, dy, y, dx3, dp3);
    omp_set_num_threads(saved);
    CHECK(memcmp(dp1, dp3, sizeof dp1) == 0);
    CHECK(memcmp(dx1, dx3, N * sizeof(float)) == 0);
    lb_graph_free(g);
  }
  free(x);
  free(dy);
  free(y);
  free(dx1);
  free(dx3);
#endif
}

/* A graph with a fakequant node survives the model file: same attributes, parameters, outputs. */
static void test_model_file(void) {
  const char *dir = lbt_tmp_init("lb_fq_");
  if (!dir) {
    CHECK(dir != NULL);
    return;
  }
  lb_graph *g = NULL;
  CHECK_OK(lb_graph_create(&g, "fqnet", lb_shape3(2, 3, 3)));
  if (!g) return;
  lb_qcfg c = cfg_of(spec_of(4, 0, 0), LB_EST_LSQ_PLUS);
  int ia[LB_QCFG_IATTRS];
  float fa[1];
  lb_qcfg_pack(&c, 1, ia, fa);
  int in0 = 0, q, f, l;
  CHECK_OK(lb_graph_add(g, "fakequant", "fq", &in0, 1, ia, LB_QCFG_IATTRS, fa, 1, &q));
  CHECK_OK(lb_graph_add(g, "flatten", "flat", &q, 1, NULL, 0, NULL, 0, &f));
  int lin[2] = {4, 1};
  CHECK_OK(lb_graph_add(g, "linear", "fc", &f, 1, lin, 2, NULL, 0, &l));
  CHECK_OK(lb_graph_init_params(g, 6));
  set_params(g, 0.2f, 5.0f, 1.0f);
  const char *path = lbt_tmp_path("fq.lbm");
  CHECK_OK(lb_lbm_save(path, g, NULL, 0));
  lb_graph *h = NULL;
  lb_section *extra = NULL;
  int n_extra = 0;
  CHECK_OK(lb_lbm_load(path, &h, &extra, &n_extra));
  lb_sections_free(extra, n_extra);
  if (h) {
    CHECK(h->n_values == g->n_values && memcmp(h->values, g->values, (size_t)g->n_values * sizeof(float)) == 0);
    CHECK(h->nodes[1].op == g->nodes[1].op && memcmp(h->nodes[1].ia, g->nodes[1].ia, sizeof g->nodes[1].ia) == 0);
    const lb_param *pz = lb_graph_find_param(h, "fq.zero");
    CHECK(pz && pz->trainable);
    float x[2 * 18], yg[8], yh[8];
    lb_rng rng;
    lb_rng_seed(&rng, 2);
    lbt_fill_uniform(x, 36, &rng, -1, 3);
    lb_exec *eg = NULL, *eh = NULL;
    CHECK_OK(lb_exec_create(&eg, g, 2));
    CHECK_OK(lb_exec_create(&eh, h, 2));
    if (eg && eh) {
      memcpy(yg, lb_exec_forward(eg, x, 2, 0, NULL), sizeof yg);
      memcpy(yh, lb_exec_forward(eh, x, 2, 0, NULL), sizeof yh);
      CHECK(memcmp(yg, yh, sizeof yg) == 0);
    }
    lb_exec_free(eg);
    lb_exec_free(eh);
    lb_graph_free(h);
  }
  lb_graph_free(g);
  CHECK(lbt_tmp_cleanup() == 0);
}

int main(void) {
  CHECK_OK(lb_quant_register_ops());
  CHECK_OK(lb_quant_register_ops()); /* idempotent */
  test_ste();
  test_lsq(0);
  test_lsq(1);
  test_lsq_pow2();
  test_lsq_fd_clamped();
  test_pact();
  test_dorefa();
  test_disabled();
  test_infer_errors();
  test_threads();
  test_model_file();
  return lbt_finish("quant_fakequant");
}
