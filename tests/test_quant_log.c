/* NNIE's 8-bit logarithmic quantizer (methods/qat.md 4.4): the kernel's grid and rounding, the
 * straight-through gradient, the running max c in the graph ops (training raises it, evaluation
 * leaves it), and the nnie backend: plan, apply, calibrate and check on a zoo resnet8 for
 * 1x28x28 images. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/qgraph.h"
#include "testutil.h"

/* Whether y is 0 or +-2^((k+z)/16) with k in [0,127] (positive) or [1,127] (negative). */
static int on_grid(float y, int z) {
  if (y == 0.0f) return 1;
  int kmin = y < 0.0f ? 1 : 0;
  for (int k = kmin; k <= LB_LOGQ_KMAX; k++)
    if (fabsf(y) == lb_logq_level(z, k)) return 1;
  return 0;
}

static void test_levels(void) {
  /* c = 1: z = -127 and the largest level is 2^0 = 1 */
  CHECK(lb_logq_z(1.0f) == -127);
  CHECK(lb_logq_level(-127, 127) == 1.0f && lb_logq_level(-127, 111) == 0.5f);
  CHECK(lb_logq_z(2.0f) == -111 && lb_logq_z(0.5f) == -143);
  CHECK(lb_logq_z(0.0f) == lb_logq_z(FLT_EPSILON) && lb_logq_z(-3.0f) == lb_logq_z(FLT_EPSILON) &&
        lb_logq_z(NAN) == lb_logq_z(FLT_EPSILON) && lb_logq_z(INFINITY) == lb_logq_z(FLT_MAX));
  /* the largest level is c to within half a step: 2^(1/32) */
  float cs[] = {1e-3f, 0.37f, 1.0f, 3.3f, 6.0f, 100.0f, 65504.0f};
  for (int i = 0; i < 7; i++) {
    double top = lb_logq_level(lb_logq_z(cs[i]), LB_LOGQ_KMAX);
    CHECK_MSG(fabs(log2(top / cs[i])) <= 1.0 / 32 + 1e-9, "c=%g: top level %g", (double)cs[i], top);
  }
  /* each level is 2^(j/16) correctly rounded to float (the double exp2 path against long double) */
  int bad = 0;
  for (int j = -300; j <= 300; j++) bad += lb_logq_level(j, 0) != (float)exp2l((long double)j / 16.0L);
  CHECK_MSG(bad == 0, "%d levels differ from exp2l", bad);
}

static void test_kernel(void) {
  enum { N = 20000 };
  float *x = lbt_falloc(N), *y = lbt_falloc(N);
  lb_rng rng;
  lb_rng_seed(&rng, 11);
  float cs[] = {1.0f, 0.05f, 7.5f};
  for (int ci = 0; ci < 3; ci++) {
    float c = cs[ci];
    int z = lb_logq_z(c);
    /* log-uniform magnitudes from far below the grid to far above c, both signs */
    for (int i = 0; i < N; i++) {
      float u = lb_rng_uniform(&rng);
      float m = c * exp2f(-12.0f + 14.0f * u);
      x[i] = (i & 1) ? -m : m;
    }
    lb_logq_forward(N, c, x, y);
    int off = 0, far = 0;
    for (int i = 0; i < N; i++) {
      off += !on_grid(y[i], z);
      if (y[i] != 0.0f && (y[i] < 0.0f) != (x[i] < 0.0f)) far++;
      /* nearest in the log domain between the ends of the grid */
      double t = 16.0 * log2(fabs((double)x[i])) - z;
      int kmin = x[i] < 0.0f ? 1 : 0;
      if (t >= kmin && t <= LB_LOGQ_KMAX && y[i] != 0.0f)
        far += fabs(16.0 * log2(fabs((double)y[i])) - z - t) > 0.5 + 1e-6;
    }
    CHECK_MSG(off == 0, "c=%g: %d outputs off the grid", (double)c, off);
    CHECK_MSG(far == 0, "c=%g: %d outputs not the nearest level (or the wrong sign)", (double)c, far);
    /* monotone: sort the inputs (insertion into a small sorted sample), outputs never decrease */
    enum { M = 2000 };
    float xs[M], ys[M];
    for (int i = 0; i < M; i++) xs[i] = -2.0f * c + 4.0f * c * (float)i / (M - 1);
    lb_logq_forward(M, c, xs, ys);
    int drops = 0;
    for (int i = 1; i < M; i++) drops += ys[i] < ys[i - 1];
    CHECK_MSG(drops == 0, "c=%g: output decreases %d times", (double)c, drops);
    /* exact levels map to themselves: k in [0,127] positive, [1,127] negative */
    float lv[2 * (LB_LOGQ_KMAX + 1)], lq[2 * (LB_LOGQ_KMAX + 1)];
    for (int k = 0; k <= LB_LOGQ_KMAX; k++) {
      lv[2 * k] = lb_logq_level(z, k);
      lv[2 * k + 1] = -lb_logq_level(z, k);
    }
    lb_logq_forward(2 * (LB_LOGQ_KMAX + 1), c, lv, lq);
    int moved = 0;
    for (int k = 0; k <= LB_LOGQ_KMAX; k++) moved += lq[2 * k] != lv[2 * k] || (k >= 1 && lq[2 * k + 1] != lv[2 * k + 1]);
    CHECK_MSG(moved == 0, "c=%g: %d levels moved", (double)c, moved);
    CHECK(lq[1] == -lb_logq_level(z, 1)); /* -L_0 is not a negative level: the nearest one is -L_1 */
    /* above c: saturate at the largest level */
    float big[4] = {c * 1.1f, c * 1000.0f, -c * 50.0f, INFINITY}, bq[4];
    lb_logq_forward(4, c, big, bq);
    float top = lb_logq_level(z, LB_LOGQ_KMAX);
    CHECK(bq[0] == top && bq[1] == top && bq[2] == -top && bq[3] == top);
  }
  /* the zero rule, with c = 2^(-1/16): z = -128, L_0 = 2^-8 exactly, its half 2^-9 goes to 0 */
  float c = (float)exp2(-1.0 / 16);
  CHECK(lb_logq_z(c) == -128 && lb_logq_level(-128, 0) == 0x1p-8f);
  float l1 = lb_logq_level(-128, 1);
  float e[10] = {0x1p-9f, nextafterf(0x1p-9f, 1.0f), 0x1p-10f, 0.0f, -0.0f, NAN, -0x1p-8f,
                 -l1 * 0.5f * (1 - 1e-6f), -l1 * 0.5f * (1 + 1e-6f), 0x1p-8f * 1.02f};
  float eq[10];
  lb_logq_forward(10, c, e, eq);
  CHECK(eq[0] == 0.0f && eq[1] == 0x1p-8f && eq[2] == 0.0f);
  CHECK(eq[3] == 0.0f && !signbit(eq[3]) && eq[4] == 0.0f && !signbit(eq[4]) && isnan(eq[5]));
  CHECK(eq[6] == -l1 && eq[7] == 0.0f && eq[8] == -l1);
  CHECK(eq[9] == 0x1p-8f); /* 16*log2(1.02) = 0.46 steps: still L_0 */
  /* between two levels: the geometric midpoint decides (no float lies on it) */
  float lo = lb_logq_level(-128, 40), hi = lb_logq_level(-128, 41);
  float mid = (float)sqrt((double)lo * hi);
  float b[2] = {mid * (1 - 1e-6f), mid * (1 + 1e-6f)}, bq[2];
  lb_logq_forward(2, c, b, bq);
  CHECK(bq[0] == lo && bq[1] == hi);
  /* in place, and the same bits as element by element */
  for (int i = 0; i < N; i++) x[i] = (float)(lb_rng_uniform(&rng) * 4.0 - 2.0);
  lb_logq_forward(N, 1.5f, x, y);
  float one;
  int diff = 0;
  for (int i = 0; i < N; i += 97) {
    lb_logq_forward(1, 1.5f, &x[i], &one);
    diff += one != y[i];
  }
  lb_logq_forward(N, 1.5f, x, x);
  CHECK(diff == 0 && !memcmp(x, y, N * sizeof *x));
  /* STE: dx += dy everywhere */
  float dy[4] = {1.0f, -2.0f, 0.5f, 3.0f}, dx[4] = {1.0f, 1.0f, 1.0f, 1.0f};
  lb_logq_backward_ste(4, dy, dx);
  CHECK(dx[0] == 2.0f && dx[1] == -1.0f && dx[2] == 1.5f && dx[3] == 4.0f);
  lb_logq_backward_ste(4, dy, NULL);
  CHECK(lb_logq_absmax(4, dy) == 3.0f && lb_logq_absmax(0, dy) == 0.0f);
  free(x);
  free(y);
}

static lb_qcfg log_cfg(void) {
  lb_qcfg c;
  memset(&c, 0, sizeof c);
  c.spec = lbt_qspec(8, 1, 1, 0, LB_QGRAN_TENSOR, 0, 0, LB_QSCALE_FLOAT);
  c.est = LB_EST_LOG;
  c.observer = LB_OBS_MINMAX;
  return c;
}

static float *pval(lb_graph *g, const char *name) {
  const lb_param *p = lb_graph_find_param(g, name);
  CHECK_MSG(p != NULL, "no parameter %s", name);
  return p ? g->values + p->offset : NULL;
}

/* One executor forward (training or not) and, in training, a backward from dy. */
static void step(lb_graph *g, const float *x, int batch, int training, const float *dy, float *y, float *gx) {
  lb_exec *e = NULL;
  CHECK_OK(lb_exec_create(&e, g, batch));
  if (!e) return;
  lb_rng rng;
  lb_rng_seed(&rng, 3);
  const float *out = lb_exec_forward(e, x, batch, training, &rng);
  int64_t n = batch * lb_shape_numel(&g->nodes[g->output].shape);
  if (out) memcpy(y, out, (size_t)n * sizeof *y);
  if (training && dy) {
    lb_exec_zero_grad(e);
    lb_exec_backward(e, dy);
    if (gx) memcpy(gx, lb_exec_grads(e), (size_t)g->n_values * sizeof *gx);
  }
  lb_exec_free(e);
}

/* The running max in the activation op (fakequant) and the weight op (qlinear). */
static void test_running_max(void) {
  lb_qcfg cfg = log_cfg();
  int ia[LB_NODE_IATTRS] = {0};
  float fa[LB_NODE_FATTRS] = {0};
  lb_graph *g = NULL;
  CHECK_OK(lb_graph_create(&g, "t", lb_shape1(6)));
  if (!g) return;
  int in0 = 0, fq = -1, lin = -1;
  lb_qcfg_pack(&cfg, 1, ia, fa);
  CHECK_OK(lb_graph_add(g, "fakequant", "fq", &in0, 1, ia, LB_QCFG_IATTRS, fa, 1, &fq));
  memset(ia, 0, sizeof ia);
  ia[LB_LINEAR_OUT] = 3;
  ia[LB_LINEAR_BIAS] = 0;
  lb_qcfg_pack(&cfg, 1, ia + LB_QLINEAR_IA, fa);
  CHECK_OK(lb_graph_add(g, "qlinear", "lin", &fq, 1, ia, LB_NODE_IATTRS, fa, 1, &lin));
  CHECK_OK(lb_graph_init_params(g, 4));
  const lb_param *sp = lb_graph_find_param(g, "fq.scale"), *wsp = lb_graph_find_param(g, "lin.w_scale");
  CHECK(sp && !sp->trainable && wsp && !wsp->trainable && wsp->numel == 1);
  float *c = pval(g, "fq.scale"), *wc = pval(g, "lin.w_scale"), *w = pval(g, "lin.weight");
  if (!c || !wc || !w) {
    lb_graph_free(g);
    return;
  }
  *c = 0.5f;
  *wc = 0.01f;
  float wmax = lb_logq_absmax(18, w);
  float x[12] = {0.1f, -2.0f, 0.3f, 0.7f, -0.2f, 1.0f, 0.4f, 0.9f, -1.5f, 0.05f, 0.2f, 0.0f};
  float y[6], dy[6] = {1, -1, 0.5f, 2, 0.25f, -3};
  float *grads = lbt_falloc((size_t)g->n_values);
  step(g, x, 2, 1, dy, y, grads);
  CHECK(*c == 2.0f);     /* raised to the batch's max|x| */
  CHECK(*wc == wmax);    /* raised to max|w| */
  /* the weight gradient is the float linear's at the quantized weight, passed straight through:
   * dW[o][i] = sum_b dy[b][o] * xq[b][i] */
  float xq[12], wq[18];
  lb_logq_forward(12, 2.0f, x, xq);
  lb_logq_forward(18, wmax, w, wq);
  const lb_param *wp = lb_graph_find_param(g, "lin.weight");
  int wrong = 0;
  for (int o = 0; o < 3; o++)
    for (int i = 0; i < 6; i++) {
      double d = (double)dy[o] * xq[i] + (double)dy[3 + o] * xq[6 + i];
      wrong += fabs(grads[wp->offset + o * 6 + i] - d) > 1e-5;
    }
  CHECK_MSG(wrong == 0, "%d weight gradients differ", wrong);
  for (int b = 0; b < 2; b++)
    for (int o = 0; o < 3; o++) {
      double s = 0;
      for (int i = 0; i < 6; i++) s += (double)wq[o * 6 + i] * xq[b * 6 + i];
      CHECK_NEAR(y[b * 3 + o], s, 1e-5);
    }
  /* a smaller batch in training: c never decreases */
  float small[6] = {0.1f, 0.2f, -0.3f, 0.1f, 0.0f, 0.05f};
  step(g, small, 1, 1, dy, y, NULL);
  CHECK(*c == 2.0f && *wc == wmax);
  /* evaluation: c is left alone, values above it saturate */
  float large[6] = {5.0f, -9.0f, 0.1f, 0.2f, 0.3f, 0.4f};
  step(g, large, 1, 0, NULL, y, NULL);
  CHECK(*c == 2.0f && *wc == wmax);
  /* a larger weight after an update raises w_scale at the next training forward only */
  w[0] = 3.0f * wmax;
  step(g, small, 1, 0, NULL, y, NULL);
  CHECK(*wc == wmax);
  step(g, small, 1, 1, dy, y, NULL);
  CHECK(*wc == 3.0f * wmax);
  free(grads);
  lb_graph_free(g);

  /* the graph ops refuse a log quantizer that is not 8-bit per tensor */
  lb_qcfg bad = log_cfg();
  bad.spec.bits = 4;
  CHECK_OK(lb_graph_create(&g, "t", lb_shape1(6)));
  lb_qcfg_pack(&bad, 1, ia, fa);
  CHECK(lb_graph_add(g, "fakequant", "fq", &in0, 1, ia, LB_QCFG_IATTRS, fa, 1, &fq) != LB_OK);
  CHECK(strstr(lb_last_error(), "8-bit") != NULL);
  bad = log_cfg();
  bad.spec.gran = LB_QGRAN_CHANNEL;
  memset(ia, 0, sizeof ia);
  ia[LB_LINEAR_OUT] = 3;
  lb_qcfg_pack(&bad, 1, ia + LB_QLINEAR_IA, fa);
  CHECK(lb_graph_add(g, "qlinear", "lin", &in0, 1, ia, LB_NODE_IATTRS, fa, 1, &lin) != LB_OK);
  CHECK(strstr(lb_last_error(), "per tensor") != NULL);
  lb_graph_free(g);
}

static lb_qplan_request req(const char *backend, int bits, lb_estimator est) {
  return lbt_qplan_request(backend, bits, bits, est);
}

static void make_dataset(lb_dataset *d, int n, uint64_t seed) {
  lb_rng rng;
  lb_rng_seed(&rng, seed);
  memset(d, 0, sizeof *d);
  d->n = n;
  d->c = 1;
  d->h = d->w = 28;
  d->classes = 10;
  d->images = malloc((size_t)n * 28 * 28);
  d->labels = malloc((size_t)n * sizeof *d->labels);
  for (size_t i = 0; i < (size_t)n * 28 * 28; i++) d->images[i] = (uint8_t)lb_rng_below(&rng, 256);
  for (int i = 0; i < n; i++) d->labels[i] = (int32_t)lb_rng_below(&rng, 10);
}

static int count_log(const lb_graph *qg, int *others) {
  int n = 0;
  *others = 0;
  for (int i = 1; i < qg->n_nodes; i++) {
    const lb_node *nd = &qg->nodes[i];
    const char *op = nd->op->name;
    int base = !strcmp(op, "fakequant") ? LB_FQ_IA : !strcmp(op, "qconv2d") ? LB_QCONV_IA : !strcmp(op, "qlinear") ? LB_QLINEAR_IA : -1;
    if (base < 0) continue;
    lb_qcfg c;
    int en = 0;
    CHECK_OK(lb_qcfg_unpack(nd->ia + base, nd->fa, &c, &en));
    if (c.est == LB_EST_LOG && en && c.spec.bits == 8 && c.spec.is_signed && c.spec.gran == LB_QGRAN_TENSOR)
      n++;
    else
      (*others)++;
  }
  return n;
}

static void test_backend(lb_graph *g) {
  const lb_backend *b = lb_backend_find("nnie");
  CHECK(b && b->log_grid && b->fixed_bits == 8 && b->quantize_add_inputs && !b->act_unsigned_after_relu);
  lb_qplan p;
  lb_qplan_request r = req("nnie", 4, LB_EST_STE);
  CHECK_STATUS(lb_qplan_make(g, &r, &p), LB_ERR_UNSUPPORTED);
  CHECK_MSG(strstr(lb_last_error(), "nnie runs 8-bit only") != NULL, "%s", lb_last_error());
  r = req("nnie", 8, LB_EST_LSQ);
  CHECK_STATUS(lb_qplan_make(g, &r, &p), LB_ERR_UNSUPPORTED);
  CHECK_MSG(strstr(lb_last_error(), "log grid") && strstr(lb_last_error(), "lsq"), "%s", lb_last_error());
  r = req("nnie", 8, LB_EST_LOG);
  r.a_observer = LB_OBS_MSE;
  CHECK_STATUS(lb_qplan_make(g, &r, &p), LB_ERR_UNSUPPORTED);
  r = req("tensorrt", 8, LB_EST_LOG);
  CHECK_STATUS(lb_qplan_make(g, &r, &p), LB_ERR_UNSUPPORTED);
  CHECK(strstr(lb_last_error(), "uniform grid") != NULL);

  lb_dataset d;
  make_dataset(&d, 40, 7);
  lb_augment norm;
  memset(&norm, 0, sizeof norm);
  norm.mean[0] = 0.5f;
  norm.std[0] = 0.25f;
  enum { B = 6 };
  float *x = lbt_falloc((size_t)B * 28 * 28), *all = lbt_falloc((size_t)d.n * 28 * 28);
  int32_t idx[40], y[40];
  for (int i = 0; i < d.n; i++) idx[i] = i;
  lb_batch_fill(&d, idx, d.n, &norm, 0, NULL, all, y);
  lb_batch_fill(&d, idx + 30, B, &norm, 0, NULL, x, y);
  int64_t n_out = (int64_t)B * lb_shape_numel(&g->nodes[g->output].shape);
  float *want = lbt_falloc((size_t)n_out), *got = lbt_falloc((size_t)n_out);
  step(g, x, B, 0, NULL, want, NULL);

  lb_estimator ests[2] = {LB_EST_STE, LB_EST_LOG};
  for (int k = 0; k < 2; k++) {
    r = req("nnie", 8, ests[k]);
    if (k) r.w_observer = r.a_observer = LB_OBS_EMA_MINMAX;
    lb_graph *qg = NULL;
    CHECK_OK(lb_qplan_make(g, &r, &p));
    CHECK_OK(lb_quant_apply(g, &p, &qg));
    lb_qplan_free(&p);
    if (!qg) continue;
    CHECK_OK(lb_quant_calibrate(qg, &d, &norm, d.n, 8));
    int others = 0, nlog = count_log(qg, &others);
    CHECK_MSG(nlog > 10 && others == 0, "%d log quantizers, %d others", nlog, others);
    /* the stem's input quantizer: c = max|x| over the calibration images */
    float *c0 = pval(qg, "stem.conv.in0.q.scale");
    if (c0) CHECK(*c0 == lb_logq_absmax((int64_t)d.n * 28 * 28, all));
    const lb_param *wp = lb_graph_find_param(qg, "stem.conv.weight");
    float *wc = pval(qg, "stem.conv.w_scale");
    if (wp && wc) CHECK(*wc == lb_logq_absmax(wp->numel, qg->values + wp->offset));
    step(qg, x, B, 0, NULL, got, NULL);
    double err = lbt_max_abs_err(got, want, n_out) / lbt_max_abs(want, (size_t)n_out);
    printf("  nnie W8A8 (%s) output error %.4f (%d log quantizers)\n", lb_estimator_name(ests[k]), err, nlog);
    CHECK_MSG(err < 0.1, "nnie W8A8 error %g", err);
    int v = -1;
    char rep[4096];
    CHECK_OK(lb_backend_check(qg, b, rep, sizeof rep, &v));
    CHECK_MSG(v == 0, "nnie model on nnie: %d violations:\n%s", v, rep);
    CHECK_OK(lb_backend_check(qg, lb_backend_find("tensorrt"), rep, sizeof rep, &v));
    CHECK_MSG(v > 0 && strstr(rep, "stem.conv: weights are on NNIE's log grid (method log); tensorrt needs a uniform grid"),
              "%s", rep);
    if (k == 1 && lbt_tmp_init("lbtest_log")) {
      /* lowbit check on the saved model */
      const char *path = lbt_tmp_path("nnie.lbm");
      CHECK_OK(lb_lbm_save(path, qg, NULL, 0));
      CHECK_MSG(lbt_run_cli("check --backend nnie %s", path) == 0 && strstr(lbt_out, "follows the nnie rules"), "%s%s",
                lbt_out, lbt_err);
      CHECK(lbt_run_cli("check --backend qdq %s", path) == 1 && strstr(lbt_out, "log grid"));
      CHECK(lbt_run_cli("backends") == 0 && strstr(lbt_out, "nnie") && strstr(lbt_out, "log grid"));
      CHECK(lbt_tmp_cleanup() == 0);
    }
    lb_graph_free(qg);
  }
  /* a tensorrt model is on the wrong grid for nnie */
  lb_graph *tq = NULL;
  r = req("tensorrt", 8, LB_EST_STE);
  CHECK_OK(lb_qplan_make(g, &r, &p));
  CHECK_OK(lb_quant_apply(g, &p, &tq));
  lb_qplan_free(&p);
  if (tq) {
    int v = -1;
    char rep[1 << 14];
    CHECK_OK(lb_backend_check(tq, b, rep, sizeof rep, &v));
    CHECK_MSG(v > 0 && strstr(rep, "stem.conv: weights use a uniform grid (method ste); nnie quantizes on its 8-bit log grid"),
              "%s", rep);
    lb_graph_free(tq);
  }
  free(x);
  free(all);
  free(want);
  free(got);
  lb_dataset_free(&d);
}

int main(void) {
  CHECK_OK(lb_quant_register_ops());
  test_levels();
  test_kernel();
  test_running_max();
  lb_graph *g = NULL;
  CHECK_OK(lb_zoo_build("resnet8", 1, 28, 28, 10, &g));
  if (g) {
    CHECK_OK(lb_graph_alloc_values(g));
    CHECK_OK(lb_graph_init_params(g, 1));
    test_backend(g);
    lb_graph_free(g);
  }
  return lbt_finish("test_quant_log");
}
