/* BN folding during QAT (methods/qat.md 4.3): the strategies none, merge, freeze and fold
 * (PyTorch's ConvBn2d) against an unfolded float conv -> BN, qconvbn2d's gradients by finite
 * differences, the folded weight under an enabled quantizer and in calibration, and the
 * transforms on resnet8 with a model file round trip. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/nn.h"
#include "lowbit/qgraph.h"
#include "testutil.h"

enum { C = 3, H = 6, W = 6, K = 4, B = 5 };

static float *param(lb_graph *g, const char *name) {
  const lb_param *p = lb_graph_find_param(g, name);
  CHECK_MSG(p != NULL, "no parameter %s", name);
  return p ? g->values + p->offset : NULL;
}

static int count_op(const lb_graph *g, const char *op) {
  int c = 0;
  for (int i = 0; i < g->n_nodes; i++) c += !strcmp(g->nodes[i].op->name, op);
  return c;
}

/* Non-trivial BN state: gamma (one negative), beta, running mean and variance. */
static void randomize_bn(float *gamma, float *beta, float *mean, float *var, int k, lb_rng *rng) {
  for (int j = 0; j < k; j++) {
    gamma[j] = (j == 1 ? -1.0f : 1.0f) * (0.5f + lb_rng_uniform(rng));
    beta[j] = lb_rng_uniform(rng) - 0.5f;
    mean[j] = 0.6f * (lb_rng_uniform(rng) - 0.5f);
    var[j] = 0.3f + 2.0f * lb_rng_uniform(rng);
  }
}

/* input (3,6,6) -> conv 3x3 pad 1 to 4 channels, no bias -> bn [-> relu] */
static lb_graph *make_float(uint64_t seed, int relu) {
  lb_graph *g = NULL;
  int in0 = 0, id;
  CHECK_OK(lb_graph_create(&g, "t", lb_shape3(C, H, W)));
  int ia[] = {K, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0};
  float fa[] = {1e-5f, 0.1f};
  CHECK_OK(lb_graph_add(g, "conv2d", "conv", &in0, 1, ia, 11, NULL, 0, &id));
  CHECK_OK(lb_graph_add(g, "batchnorm", "bn", &id, 1, NULL, 0, fa, 2, &id));
  if (relu) CHECK_OK(lb_graph_add(g, "relu", "act", &id, 1, NULL, 0, NULL, 0, &id));
  CHECK_OK(lb_graph_init_params(g, seed));
  lb_rng rng;
  lb_rng_seed(&rng, seed + 100);
  randomize_bn(param(g, "bn.weight"), param(g, "bn.bias"), param(g, "bn.running_mean"), param(g, "bn.running_var"), K, &rng);
  return g;
}

static lb_graph *apply_fold(const lb_graph *g, lb_bn_fold fold) {
  lb_qplan_request r = lbt_qplan_request("academic", 8, 8, LB_EST_STE);
  r.bn_fold = fold;
  lb_qplan p;
  lb_graph *qg = NULL;
  CHECK_OK(lb_qplan_make(g, &r, &p));
  CHECK_OK(lb_quant_apply(g, &p, &qg));
  lb_qplan_free(&p);
  return qg;
}

/* Forward (and, with dy, backward) on a fresh executor; output copied to y. */
static void run(lb_graph *g, const float *x, int training, float *y, const float *dy, float *grads) {
  lb_exec *e = NULL;
  lb_rng rng;
  lb_rng_seed(&rng, 3);
  CHECK_OK(lb_exec_create(&e, g, B));
  if (!e) return;
  const float *out = lb_exec_forward(e, x, B, training, &rng);
  CHECK(out != NULL);
  if (out) memcpy(y, out, (size_t)B * K * H * W * sizeof *y);
  if (dy && out) {
    lb_exec_zero_grad(e);
    lb_exec_backward(e, dy);
    memcpy(grads, lb_exec_grads(e), (size_t)g->n_values * sizeof *grads);
  }
  lb_exec_free(e);
}

static void test_names(void) {
  lb_bn_fold f;
  const char *names[] = {"none", "merge", "freeze", "fold", "naive", "whitepaper"};
  CHECK(LB_BN_FOLD_COUNT == 6);
  for (int i = 0; i < 6; i++) {
    CHECK_OK(lb_bn_fold_parse(names[i], &f));
    CHECK(f == (lb_bn_fold)i && !strcmp(lb_bn_fold_name(f), names[i]));
  }
  CHECK_STATUS(lb_bn_fold_parse("pytorch", &f), LB_ERR_NOT_FOUND);
  CHECK(strstr(lb_last_error(), "freeze") != NULL);
}

/* qat.md 4.3(e): with FQ off and BN in eval mode, merge, freeze and fold reproduce conv -> BN. */
static void test_eval_equivalence(const float *x) {
  lb_graph *g = make_float(11, 1);
  float *want = lbt_falloc((size_t)B * K * H * W), *got = lbt_falloc((size_t)B * K * H * W);
  run(g, x, 0, want, NULL, NULL);
  for (int f = LB_BN_FOLD_NONE; f < LB_BN_FOLD_COUNT; f++) {
    lb_graph *qg = apply_fold(g, (lb_bn_fold)f);
    if (!qg) continue;
    int folded = f != LB_BN_FOLD_NONE && f != LB_BN_FOLD_MERGE;
    CHECK_MSG(count_op(qg, "batchnorm") == (f == LB_BN_FOLD_NONE), "%s: BN nodes", lb_bn_fold_name((lb_bn_fold)f));
    CHECK(count_op(qg, "qconvbn2d") == folded && count_op(qg, "qconv2d") == !folded);
    if (f == LB_BN_FOLD_MERGE) CHECK(lb_graph_find_param(qg, "conv.bias") != NULL);
    run(qg, x, 0, got, NULL, NULL);
    double err = lbt_scaled_err(got, want, (size_t)B * K * H * W);
    CHECK_MSG(err < 1e-5, "%s: eval output differs from conv -> BN by %g", lb_bn_fold_name((lb_bn_fold)f), err);
    lb_graph_free(qg);
  }
  free(want);
  free(got);
  lb_graph_free(g);
}

/* fold, naive and whitepaper in training with the quantizer off: each is conv -> BN with batch
 * statistics written differently, so outputs, running statistics and gradients must be conv ->
 * BN's. */
static void test_fold_training_one(const float *x, lb_rng *rng, lb_bn_fold strategy) {
  lb_graph *g = make_float(12, 1);
  lb_graph *qg = apply_fold(g, strategy);
  if (!qg) {
    lb_graph_free(g);
    return;
  }
  const char *sname = lb_bn_fold_name(strategy);
  size_t n = (size_t)B * K * H * W;
  float *want = lbt_falloc(n), *got = lbt_falloc(n), *dy = lbt_falloc(n);
  float *gw = lbt_falloc((size_t)g->n_values), *gq = lbt_falloc((size_t)qg->n_values);
  lbt_fill_uniform(dy, (int64_t)n, rng, -1, 1);
  run(g, x, 1, want, dy, gw);
  run(qg, x, 1, got, dy, gq);
  CHECK_MSG(lbt_scaled_err(got, want, n) < 1e-5, "%s training output differs by %g", sname, lbt_scaled_err(got, want, n));
  const char *fp[] = {"bn.running_mean", "bn.running_var", "conv.weight", "bn.weight", "bn.bias"};
  const char *qp[] = {"conv.bn_running_mean", "conv.bn_running_var", "conv.weight", "conv.bn_weight", "conv.bn_bias"};
  for (int i = 0; i < 5; i++) {
    const lb_param *a = lb_graph_find_param(g, fp[i]), *b = lb_graph_find_param(qg, qp[i]);
    CHECK(a && b && a->numel == b->numel);
    if (!a || !b) continue;
    const float *va = i < 2 ? g->values + a->offset : gw + a->offset;
    const float *vb = i < 2 ? qg->values + b->offset : gq + b->offset;
    double err = lbt_scaled_err(vb, va, (size_t)a->numel);
    CHECK_MSG(err < 1e-4, "%s training: %s differs from %s by %g", sname, qp[i], fp[i], err);
  }
  free(want);
  free(got);
  free(dy);
  free(gw);
  free(gq);
  lb_graph_free(qg);
  lb_graph_free(g);
}

static void test_fold_training(const float *x, lb_rng *rng) {
  test_fold_training_one(x, rng, LB_BN_FOLD_PYTORCH);
  test_fold_training_one(x, rng, LB_BN_FOLD_NAIVE);
  test_fold_training_one(x, rng, LB_BN_FOLD_WHITEPAPER);
}

/* Finite differences of sum(y * r) for qconvbn2d (training mode) with the quantizer disabled
 * (smooth). */
typedef struct fd {
  lb_graph *g;
  lb_exec *e;
  const float *x, *r;
  int training;
} fd;

static double fd_loss(void *ctx) {
  fd *t = ctx;
  lb_rng rng;
  lb_rng_seed(&rng, 3);
  const float *y = lb_exec_forward(t->e, t->x, B, t->training, &rng);
  return y ? lbt_dot(y, t->r, (int64_t)B * K * H * W) : 0.0;
}

static void test_gradients(const float *x, lb_rng *rng) {
  lb_graph *g = make_float(13, 0); /* no ReLU: its kink would spoil the differences */
  float *r = lbt_falloc((size_t)B * K * H * W);
  lbt_fill_uniform(r, (int64_t)B * K * H * W, rng, -1, 1);
  lb_bn_fold strat[] = {LB_BN_FOLD_FREEZE, LB_BN_FOLD_PYTORCH, LB_BN_FOLD_NAIVE, LB_BN_FOLD_WHITEPAPER};
  for (int s = 0; s < 4; s++) {
    lb_graph *qg = apply_fold(g, strat[s]);
    if (!qg) continue;
    int node = lb_graph_find_node(qg, "conv");
    qg->nodes[node].fa[LB_QCONVBN_MOMENTUM] = 0.0f; /* running statistics stay put between passes */
    fd t = {qg, NULL, x, r, 1};
    CHECK_OK(lb_exec_create(&t.e, qg, B));
    if (!t.e) {
      lb_graph_free(qg);
      continue;
    }
    fd_loss(&t);
    lb_exec_zero_grad(t.e);
    lb_exec_backward(t.e, r);
    const float *grads = lb_exec_grads(t.e);
    const char *names[] = {"conv.weight", "conv.bn_weight", "conv.bn_bias"};
    for (int i = 0; i < 3; i++) {
      const lb_param *p = lb_graph_find_param(qg, names[i]);
      if (!p) continue;
      float *ana = lbt_falloc((size_t)p->numel);
      memcpy(ana, grads + p->offset, (size_t)p->numel * sizeof *ana);
      double err = lbt_grad_check(fd_loss, &t, qg->values + p->offset, ana, p->numel, 40, 1e-2, 1e-2, rng);
      CHECK_MSG(err < 5e-3, "%s: d/d %s finite-difference error %g", lb_bn_fold_name(strat[s]), names[i], err);
      free(ana);
    }
    lb_exec_free(t.e);
    lb_graph_free(qg);
  }
  free(r);
  lb_graph_free(g);
}

/* Enabled 4-bit quantizer: the quantized tensor is w*gamma/sigma_run, and calibration observes it. */
static void test_quantized_weight(const float *x) {
  const lb_bn_fold strat[] = {LB_BN_FOLD_FREEZE, LB_BN_FOLD_PYTORCH, LB_BN_FOLD_NAIVE, LB_BN_FOLD_WHITEPAPER};
  for (int s = 0; s < 4; s++) {
    lb_graph *g = NULL;
    int in0 = 0, id;
    CHECK_OK(lb_graph_create(&g, "t", lb_shape3(C, H, W)));
    int ia[LB_NODE_IATTRS] = {K, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0};
    float fa[LB_NODE_FATTRS] = {0, 1e-5f, 0.1f, (float)strat[s]};
    lb_qcfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.spec = lbt_qspec(4, 1, 1, 0, LB_QGRAN_TENSOR, 0, 0, LB_QSCALE_FLOAT);
    cfg.est = LB_EST_STE;
    cfg.observer = LB_OBS_MINMAX;
    lb_qcfg_pack(&cfg, 1, ia + LB_QCONV_IA, fa);
    CHECK_OK(lb_graph_add(g, "qconvbn2d", "cb", &in0, 1, ia, LB_NODE_IATTRS, fa, LB_NODE_FATTRS, &id));
    CHECK_OK(lb_graph_init_params(g, 21));
    if (lbt_failures) {
      lb_graph_free(g);
      return;
    }
    lb_rng rng;
    lb_rng_seed(&rng, 22);
    float *gamma = param(g, "cb.bn_weight"), *beta = param(g, "cb.bn_bias"), *mean = param(g, "cb.bn_running_mean");
    float *var = param(g, "cb.bn_running_var"), *w = param(g, "cb.weight");
    randomize_bn(gamma, beta, mean, var, K, &rng);
    int per = C * 9;
    float wf[K * C * 9], wq[K * C * 9], wq_unfolded[K * C * 9], f[K], amax = 0;
    for (int j = 0; j < K; j++) {
      f[j] = gamma[j] / sqrtf(var[j] + 1e-5f);
      for (int i = 0; i < per; i++) {
        wf[j * per + i] = w[j * per + i] * f[j];
        if (fabsf(wf[j * per + i]) > amax) amax = fabsf(wf[j * per + i]);
      }
    }
    float scale = amax / 7.0f;
    *param(g, "cb.w_scale") = scale;
    for (int e = 0; e < K * per; e++) {
      float q = rintf(wf[e] / scale);
      wq[e] = (q < -8 ? -8 : q > 7 ? 7 : q) * scale;
      float u = rintf(w[e] / scale * 1.0f); /* quantizing w itself, then folding: what must not happen */
      wq_unfolded[e] = (u < -8 ? -8 : u > 7 ? 7 : u) * scale * f[e / per];
    }
    size_t n = (size_t)B * K * H * W;
    float *got = lbt_falloc(n), *want = lbt_falloc(n), *wrong = lbt_falloc(n);
    lb_conv2d_desc d = {.n = B, .c = C, .h = H, .w = W, .k = K, .r = 3, .s = 3, .stride_h = 1, .stride_w = 1,
                        .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1, .groups = 1};
    CHECK_OK(lb_conv2d_init(&d));
    lb_conv2d_forward_ref(&d, x, wq, NULL, want);
    lb_conv2d_forward_ref(&d, x, wq_unfolded, NULL, wrong);
    for (size_t e = 0; e < n; e++) {
      int j = (int)(e / (H * W)) % K;
      want[e] += beta[j] - f[j] * mean[j];
      wrong[e] += beta[j] - f[j] * mean[j];
    }
    run(g, x, 0, got, NULL, NULL);
    double err = lbt_scaled_err(got, want, n), err_wrong = lbt_scaled_err(got, wrong, n);
    CHECK_MSG(err < 1e-5, "strategy %d: quantized folded weight: error %g", s, err);
    CHECK_MSG(err_wrong > 100 * err + 1e-3, "strategy %d: indistinguishable from quantizing w (%g vs %g)", s, err_wrong, err);

    /* calibration: the min/max observer on the folded weight gives the same scale */
    lb_dataset ds;
    memset(&ds, 0, sizeof ds);
    ds.n = 4;
    ds.c = C;
    ds.h = H;
    ds.w = W;
    ds.classes = 2;
    ds.images = calloc((size_t)4 * C * H * W, 1);
    ds.labels = calloc(4, sizeof *ds.labels);
    CHECK_OK(lb_quant_calibrate(g, &ds, NULL, 4, 2));
    lb_observer o;
    lb_shape ws = lb_shape4(K, C, 3, 3);
    float want_scale = 0, want_zero = 0;
    CHECK_OK(lb_observer_init(&o, LB_OBS_MINMAX, &cfg.spec, &ws));
    CHECK_OK(lb_observer_update(&o, &ws, wf));
    CHECK_OK(lb_observer_compute(&o, &want_scale, &want_zero));
    lb_observer_free(&o);
    CHECK_MSG(*param(g, "cb.w_scale") == want_scale, "calibrated scale %g, folded weight's %g",
              (double)*param(g, "cb.w_scale"), (double)want_scale);
    lb_dataset_free(&ds);
    free(got);
    free(want);
    free(wrong);
    lb_graph_free(g);
  }
}

/* resnet8: node counts per strategy, eval equivalence with quantizers off, calibration, and a
 * model file round trip. */
static void test_resnet8(void) {
  lb_graph *g = NULL;
  CHECK_OK(lb_zoo_build("resnet8", 1, 28, 28, 10, &g));
  if (!g) return;
  CHECK_OK(lb_graph_init_params(g, 1));
  lb_rng rng;
  lb_rng_seed(&rng, 31);
  int pairs = 0, n_bn = count_op(g, "batchnorm"), n_conv = count_op(g, "conv2d");
  for (int i = 1; i < g->n_nodes; i++) {
    int bn = lb_bn_after_conv(g, i);
    if (bn < 0) continue;
    pairs++;
    char nm[4][LB_PARAM_NAME_MAX];
    const char *sfx[] = {"weight", "bias", "running_mean", "running_var"};
    for (int k = 0; k < 4; k++) snprintf(nm[k], sizeof nm[k], "%s.%s", g->nodes[bn].name, sfx[k]);
    randomize_bn(param(g, nm[0]), param(g, nm[1]), param(g, nm[2]), param(g, nm[3]), g->nodes[i].ia[LB_CONV_K], &rng);
  }
  CHECK(pairs > 0 && pairs == n_bn);
  enum { RB = 3 };
  float *x = lbt_falloc((size_t)RB * 28 * 28);
  lbt_fill_uniform(x, RB * 28 * 28, &rng, -1, 1);
  float want[RB * 10], got[RB * 10];
  lb_exec *e = NULL;
  CHECK_OK(lb_exec_create(&e, g, RB));
  if (e) memcpy(want, lb_exec_forward(e, x, RB, 0, NULL), sizeof want);
  lb_exec_free(e);
  const char *dir = lbt_tmp_init("lb_bnfold");
  const char *path = dir ? lbt_tmp_path("q.lbm") : NULL;
  for (int f = LB_BN_FOLD_NONE; f < LB_BN_FOLD_COUNT; f++) {
    const char *name = lb_bn_fold_name((lb_bn_fold)f);
    lb_graph *qg = apply_fold(g, (lb_bn_fold)f);
    if (!qg) continue;
    int folded = f != LB_BN_FOLD_NONE && f != LB_BN_FOLD_MERGE;
    int removed = f == LB_BN_FOLD_NONE ? 0 : pairs;
    CHECK_MSG(count_op(qg, "batchnorm") == n_bn - removed, "%s: %d BN nodes", name, count_op(qg, "batchnorm"));
    CHECK_MSG(count_op(qg, "qconvbn2d") == (folded ? pairs : 0), "%s: qconvbn2d count", name);
    CHECK_MSG(count_op(qg, "qconv2d") == n_conv - (folded ? pairs : 0), "%s: qconv2d count", name);
    CHECK(count_op(qg, "conv2d") == 0 && count_op(qg, "fakequant") > 0);
    CHECK_OK(lb_exec_create(&e, qg, RB));
    if (e) memcpy(got, lb_exec_forward(e, x, RB, 0, NULL), sizeof got);
    lb_exec_free(e);
    double err = lbt_scaled_err(got, want, RB * 10);
    CHECK_MSG(err < 1e-4, "%s: resnet8 with quantizers off differs by %g", name, err);
    if (path) {
      lb_graph *back = NULL;
      CHECK_OK(lb_lbm_save(path, qg, NULL, 0));
      CHECK_OK(lb_lbm_load(path, &back, NULL, NULL));
      if (back) {
        CHECK(back->n_nodes == qg->n_nodes && back->n_values == qg->n_values && count_op(back, "qconvbn2d") == count_op(qg, "qconvbn2d"));
        CHECK(!memcmp(back->values, qg->values, (size_t)qg->n_values * sizeof(float)));
        for (int i = 0; i < qg->n_nodes && back->n_nodes == qg->n_nodes; i++)
          CHECK(back->nodes[i].op == qg->nodes[i].op && !memcmp(back->nodes[i].fa, qg->nodes[i].fa, sizeof qg->nodes[i].fa));
      }
      lb_graph_free(back);
    }
    lb_graph_free(qg);
  }
  if (dir) CHECK(lbt_tmp_cleanup() == 0);
  free(x);
  lb_graph_free(g);
}

int main(void) {
  CHECK_OK(lb_quant_register_ops());
  lb_rng rng;
  lb_rng_seed(&rng, 7);
  float *x = lbt_falloc((size_t)B * C * H * W);
  lbt_fill_uniform(x, B * C * H * W, &rng, -1, 1);
  test_names();
  test_eval_equivalence(x);
  test_fold_training(x, &rng);
  test_gradients(x, &rng);
  test_quantized_weight(x);
  test_resnet8();
  free(x);
  return lbt_finish("test_quant_bnfold");
}
