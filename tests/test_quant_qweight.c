/* qconv2d / qlinear: the weight quantizer ops against their float twins. Disabled they are the
 * float op bit for bit (outputs and every gradient); enabled, the forward is the float op on the
 * quantized weight and the gradients are the estimators' formulas applied to the float dW. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/nn.h"
#include "lowbit/qgraph.h"
#include "testutil.h"

#define BATCH 3

/* input -> "pre" (float, so the op's dx shows in pre.weight's gradient) -> "op" (conv or linear,
 * quantized or not). conv: (2,5,5) -> 1x1 conv to 3 ch -> 3x3 conv to 4 ch, pad 1.
 * linear: (6) -> linear 6 -> linear 4. */
static lb_graph *make_ex(int conv, int quant, const lb_qcfg *cfg, int enabled, const lb_qcfg *fc) {
  lb_graph *g = NULL;
  int id, in0 = 0, pre;
  int ia[LB_NODE_IATTRS] = {0};
  float fa[LB_NODE_FATTRS] = {0};
  if (conv) {
    CHECK_OK(lb_graph_create(&g, "t", lb_shape3(2, 5, 5)));
    int pre_ia[] = {3, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1};
    CHECK_OK(lb_graph_add(g, "conv2d", "pre", &in0, 1, pre_ia, 11, NULL, 0, &pre));
    int op_ia[] = {4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
    memcpy(ia, op_ia, sizeof op_ia);
    if (quant) lb_qcfg_pack(cfg, enabled, ia + LB_QCONV_IA, fa);
    CHECK_OK(lb_graph_add(g, quant ? "qconv2d" : "conv2d", "op", &pre, 1, ia, LB_NODE_IATTRS, fa, 1, &id));
  } else {
    CHECK_OK(lb_graph_create(&g, "t", lb_shape1(6)));
    int pre_ia[] = {6, 1};
    CHECK_OK(lb_graph_add(g, "linear", "pre", &in0, 1, pre_ia, 2, NULL, 0, &pre));
    ia[LB_LINEAR_OUT] = 4;
    ia[LB_LINEAR_BIAS] = 1;
    if (quant) lb_qcfg_pack(cfg, enabled, ia + LB_QLINEAR_IA, fa);
    CHECK_OK(lb_graph_add(g, quant ? "qlinear" : "linear", "op", &pre, 1, ia, LB_NODE_IATTRS, fa, 1, &id));
  }
  if (fc) { /* and a quantized classifier after it */
    int last = id, fia[LB_NODE_IATTRS] = {5, 1};
    lb_qcfg_pack(fc, 1, fia + LB_QLINEAR_IA, fa);
    CHECK_OK(lb_graph_add(g, "qlinear", "fc", &last, 1, fia, LB_NODE_IATTRS, fa, 1, &id));
  }
  CHECK_OK(lb_graph_init_params(g, 5));
  return g;
}

static lb_graph *make(int conv, int quant, const lb_qcfg *cfg, int enabled) { return make_ex(conv, quant, cfg, enabled, NULL); }

static float *param(lb_graph *g, const char *name) {
  const lb_param *p = lb_graph_find_param(g, name);
  CHECK_MSG(p != NULL, "no parameter %s", name);
  return p ? g->values + p->offset : NULL;
}

static void copy_param(lb_graph *dst, lb_graph *src, const char *name) {
  const lb_param *p = lb_graph_find_param(src, name);
  memcpy(param(dst, name), src->values + p->offset, (size_t)p->numel * sizeof(float));
}

/* One training step: forward on x, backward from dy. Returns the output (valid until the next
 * forward); grads via lb_exec_grads. */
typedef struct run {
  lb_exec *e;
  const float *y;
} run;

static run step(lb_graph *g, const float *x, const float *dy) {
  run r = {0};
  CHECK_OK(lb_exec_create(&r.e, g, BATCH));
  lb_rng rng;
  lb_rng_seed(&rng, 3);
  r.y = lb_exec_forward(r.e, x, BATCH, 1, &rng);
  lb_exec_zero_grad(r.e);
  lb_exec_backward(r.e, dy);
  return r;
}

static float *grad(lb_graph *g, run *r, const char *name) {
  const lb_param *p = lb_graph_find_param(g, name);
  return lb_exec_grads(r->e) + p->offset;
}

static int64_t numel(lb_graph *g, const char *name) { return lb_graph_find_param(g, name)->numel; }

static int same_bits(const float *a, const float *b, int64_t n) { return !memcmp(a, b, (size_t)n * sizeof(float)); }

static lb_qcfg cfg_of(lb_estimator est, int bits, int per_channel, int symmetric) {
  lb_qcfg c;
  memset(&c, 0, sizeof c);
  c.spec.bits = bits;
  c.spec.is_signed = 1;
  c.spec.symmetric = symmetric;
  c.spec.gran = per_channel ? LB_QGRAN_CHANNEL : LB_QGRAN_TENSOR;
  c.est = est;
  c.init = 6.0f;
  return c;
}

/* Inputs and output gradients of the right sizes, fixed by seed. */
typedef struct data {
  float *x, *dy;
} data;

static data make_data(lb_graph *g, uint64_t seed) {
  lb_rng rng;
  lb_rng_seed(&rng, seed);
  int64_t in = lb_shape_numel(&g->nodes[0].shape) * BATCH, out = lb_shape_numel(&g->nodes[g->output].shape) * BATCH;
  data d = {lbt_falloc((size_t)in), lbt_falloc((size_t)out)};
  lbt_fill_uniform(d.x, in, &rng, -1.0f, 1.0f);
  lbt_fill_uniform(d.dy, out, &rng, -1.0f, 1.0f);
  return d;
}

static void free_data(data *d) {
  free(d->x);
  free(d->dy);
}

static const char *const shared_params[] = {"pre.weight", "pre.bias", "op.weight", "op.bias"};

/* Disabled quantizer: exactly the float op, whatever the estimator. */
static void test_disabled(int conv, lb_estimator est) {
  /* log: NNIE's 8-bit per-tensor grid only */
  lb_qcfg cfg = est == LB_EST_LOG ? cfg_of(est, 8, 0, 1) : cfg_of(est, 4, 1, 1);
  lb_graph *fg = make(conv, 0, NULL, 0), *qg = make(conv, 1, &cfg, 0);
  for (int i = 0; i < 4; i++) copy_param(qg, fg, shared_params[i]);
  CHECK(lb_graph_macs(fg) == lb_graph_macs(qg));
  data d = make_data(fg, 9);
  run rf = step(fg, d.x, d.dy), rq = step(qg, d.x, d.dy);
  CHECK(same_bits(rf.y, rq.y, lb_shape_numel(&fg->nodes[fg->output].shape) * BATCH));
  for (int i = 0; i < 4; i++)
    CHECK_MSG(same_bits(grad(fg, &rf, shared_params[i]), grad(qg, &rq, shared_params[i]), numel(fg, shared_params[i])),
              "%s gradient (conv %d, est %s)", shared_params[i], conv, lb_estimator_name(est));
  lb_exec_free(rf.e);
  lb_exec_free(rq.e);
  lb_graph_free(fg);
  lb_graph_free(qg);
  free_data(&d);
}

/* Enabled STE / LSQ / LSQ+: the output is the float op on lb_fq_forward(weight); the gradients
 * are the fake-quant backward kernels applied to the float op's dW at the quantized weight. */
static void test_fq(int conv, lb_estimator est, int per_channel, int symmetric) {
  lb_qcfg cfg = cfg_of(est, 3, per_channel, symmetric);
  lb_graph *fg = make(conv, 0, NULL, 0), *qg = make(conv, 1, &cfg, 1);
  for (int i = 0; i < 4; i++) copy_param(qg, fg, shared_params[i]);
  int64_t k = 4, nw = numel(qg, "op.weight");
  int64_t ns = per_channel ? k : 1;
  CHECK(numel(qg, "op.w_scale") == ns && numel(qg, "op.w_zero") == ns);
  const lb_param *ps = lb_graph_find_param(qg, "op.w_scale"), *pz = lb_graph_find_param(qg, "op.w_zero");
  CHECK(ps->trainable == (est != LB_EST_STE) && !ps->decay && ps->init == LB_INIT_ONES);
  CHECK(pz->trainable == (est == LB_EST_LSQ_PLUS && !symmetric) && !pz->decay && pz->init == LB_INIT_ZEROS);
  float *scale = param(qg, "op.w_scale"), *zero = param(qg, "op.w_zero"), *w = param(qg, "op.weight");
  /* scales small enough that the largest weights clamp (3 bits: q in [-4, 3]) */
  for (int64_t c = 0; c < ns; c++) {
    float cmax = (float)lbt_max_abs(w + c * (nw / ns), (size_t)(nw / ns));
    scale[c] = cmax / 5.0f;
    zero[c] = symmetric ? 0.0f : (float)c - 1.0f;
  }
  lb_shape wshape = lb_graph_find_param(qg, "op.weight")->shape;
  float *wq = lbt_falloc((size_t)nw);
  lb_fq_forward(&cfg.spec, &wshape, w, scale, zero, wq);
  memcpy(param(fg, "op.weight"), wq, (size_t)nw * sizeof(float));

  data d = make_data(fg, 10);
  run rf = step(fg, d.x, d.dy), rq = step(qg, d.x, d.dy);
  CHECK(same_bits(rf.y, rq.y, lb_shape_numel(&fg->nodes[fg->output].shape) * BATCH));
  const char *same[] = {"pre.weight", "pre.bias", "op.bias"}; /* dx (through pre) and db */
  for (int i = 0; i < 3; i++) CHECK_MSG(same_bits(grad(fg, &rf, same[i]), grad(qg, &rq, same[i]), numel(fg, same[i])), "%s", same[i]);
  const float *dw_float = grad(fg, &rf, "op.weight");
  float *dw = lbt_falloc((size_t)nw), *ds = lbt_falloc((size_t)ns), *dz = lbt_falloc((size_t)ns);
  memset(dw, 0, (size_t)nw * sizeof *dw);
  memset(ds, 0, (size_t)ns * sizeof *ds);
  memset(dz, 0, (size_t)ns * sizeof *dz);
  if (est == LB_EST_STE) {
    lb_fq_backward_ste(&cfg.spec, &wshape, w, scale, zero, dw_float, dw);
    /* the mask by hand: some weights are clamped and get exactly nothing */
    int32_t qmin, qmax;
    lb_qspec_range(&cfg.spec, &qmin, &qmax);
    int clamped = 0;
    for (int64_t i = 0; i < nw; i++) {
      int64_t c = per_channel ? i / (nw / k) : 0;
      float zp = symmetric ? 0.0f : rintf(zero[c]);
      float q = rintf(w[i] * (1.0f / scale[c])) + zp;
      int in = q >= (float)qmin && q <= (float)qmax;
      clamped += !in;
      CHECK(dw[i] == (in ? dw_float[i] : 0.0f));
    }
    CHECK(clamped > 0 && clamped < nw);
  } else {
    lb_fq_backward_lsq(&cfg.spec, &wshape, w, scale, zero, dw_float, lb_lsq_grad_factor(&cfg.spec, &wshape), dw, ds,
                       est == LB_EST_LSQ_PLUS && !symmetric ? dz : NULL);
    CHECK_MSG(same_bits(ds, grad(qg, &rq, "op.w_scale"), ns), "w_scale gradient (%s)", lb_estimator_name(est));
    if (pz->trainable) CHECK_MSG(same_bits(dz, grad(qg, &rq, "op.w_zero"), ns), "w_zero gradient");
    CHECK(lbt_max_abs(ds, (size_t)ns) > 0);
  }
  CHECK_MSG(same_bits(dw, grad(qg, &rq, "op.weight"), nw), "weight gradient (%s, conv %d, per-channel %d)",
            lb_estimator_name(est), conv, per_channel);
  lb_exec_free(rf.e);
  lb_exec_free(rq.e);
  lb_graph_free(fg);
  lb_graph_free(qg);
  free_data(&d);
  free(wq);
  free(dw);
  free(ds);
  free(dz);
}

/* DoReFa (and PACT, which quantizes weights the same way): read wq through a bias-free qlinear
 * fed the identity (y[n][o] = wq[o][n] exactly), and check the levels and the gradient. */
static void test_dorefa(lb_estimator est, int bits) {
  lb_qcfg cfg = cfg_of(est, bits, 0, 1);
  lb_graph *g;
  int in0 = 0, id, ia[LB_NODE_IATTRS] = {4, 0};
  float fa[LB_NODE_FATTRS] = {0};
  lb_qcfg_pack(&cfg, 1, ia + LB_QLINEAR_IA, fa);
  CHECK_OK(lb_graph_create(&g, "t", lb_shape1(BATCH)));
  CHECK_OK(lb_graph_add(g, "qlinear", "op", &in0, 1, ia, LB_NODE_IATTRS, fa, 1, &id));
  CHECK_OK(lb_graph_init_params(g, 6));
  float *w = param(g, "op.weight");
  w[1] = 0.0f; /* sign(0) = +1 */
  w[2] = 3.0f; /* tanh saturates: the top level */
  int64_t nw = numel(g, "op.weight");
  float x[BATCH * BATCH] = {0}, dy[BATCH * 4];
  for (int i = 0; i < BATCH; i++) x[i * BATCH + i] = 1.0f;
  lb_rng rng;
  lb_rng_seed(&rng, 12);
  lbt_fill_uniform(dy, BATCH * 4, &rng, -1.0f, 1.0f);
  run r = step(g, x, dy);
  const float *dw = grad(g, &r, "op.weight");
  double levels = (double)((1 << bits) - 1), mean = 0.0;
  float m = 0.0f;
  for (int64_t i = 0; i < nw; i++) {
    mean += fabs((double)w[i]);
    if (fabsf(tanhf(w[i])) > m) m = fabsf(tanhf(w[i]));
  }
  mean /= (double)nw;
  for (int o = 0; o < 4; o++)
    for (int n = 0; n < BATCH; n++) {
      float wq = r.y[n * 4 + o], wi = w[o * BATCH + n], d = dy[n * 4 + o];
      if (bits == 1) {
        CHECK_MSG(wq == (wi < 0.0f ? -(float)mean : (float)mean), "k=1: %g for w %g, mean|w| %g", wq, wi, mean);
        CHECK(dw[o * BATCH + n] == d); /* straight through sign, the mean's factors cancel */
      } else {
        double j = ((double)wq + 1.0) / 2.0 * levels; /* level index */
        CHECK_MSG(wq >= -1.0f && wq <= 1.0f && fabs(j - rint(j)) < 1e-5, "%g is not one of %d levels", wq, 1 << bits);
        double want = 2.0 * rint(((double)tanhf(wi) / (2.0 * m) + 0.5) * levels) / levels - 1.0;
        CHECK_NEAR(wq, want, 1e-6);
        float t = tanhf(wi);
        CHECK_NEAR(dw[o * BATCH + n], d * (1.0f - t * t) / m, 1e-6);
      }
    }
  if (bits > 1) CHECK(r.y[2 * 4 + 0] == 1.0f); /* w[0][2] = 3 is the largest: r = 1 */
  CHECK(lb_graph_find_param(g, "op.w_scale")->trainable == 0);
  lb_exec_free(r.e);
  lb_graph_free(g);
}

/* Infer: the float op's checks and the quantizer's, with the node's name in the message. */
static void test_infer_errors(void) {
  lb_graph *g;
  int in0 = 0, id;
  CHECK_OK(lb_graph_create(&g, "t", lb_shape3(3, 6, 6)));
  lb_qcfg cfg = cfg_of(LB_EST_LSQ, 4, 1, 1);
  int ia[LB_NODE_IATTRS] = {4, 3, 3, 1, 1, 1, 1, 1, 1, 2, 0}; /* 3 channels, 2 groups */
  float fa[LB_NODE_FATTRS] = {0};
  lb_qcfg_pack(&cfg, 1, ia + LB_QCONV_IA, fa);
  CHECK_STATUS(lb_graph_add(g, "qconv2d", "qc", &in0, 1, ia, LB_NODE_IATTRS, fa, 1, &id), LB_ERR_SHAPE);
  CHECK(strstr(lb_last_error(), "'qc' (qconv2d)") != NULL);
  ia[LB_CONV_GROUPS] = 1;
  ia[LB_QCONV_IA] = 0; /* 0 bits */
  CHECK_STATUS(lb_graph_add(g, "qconv2d", "qc", &in0, 1, ia, LB_NODE_IATTRS, fa, 1, &id), LB_ERR_ARG);
  CHECK(strstr(lb_last_error(), "'qc' (qconv2d): weight quantizer") != NULL);
  ia[LB_QCONV_IA] = 4;
  ia[LB_QCONV_IA + 2] = 2; /* groups of elements: not in ops */
  CHECK_STATUS(lb_graph_add(g, "qconv2d", "qc", &in0, 1, ia, LB_NODE_IATTRS, fa, 1, &id), LB_ERR_ARG);
  ia[LB_QCONV_IA + 2] = 1;
  ia[LB_QCONV_IA + 3] = LB_EST_COUNT;
  CHECK_STATUS(lb_graph_add(g, "qconv2d", "qc", &in0, 1, ia, LB_NODE_IATTRS, fa, 1, &id), LB_ERR_ARG);
  CHECK(g->n_nodes == 1 && g->n_params == 0); /* rolled back */
  ia[LB_QCONV_IA + 3] = LB_EST_LSQ;
  CHECK_OK(lb_graph_add(g, "qconv2d", "qc", &in0, 1, ia, LB_NODE_IATTRS, fa, 1, &id));
  CHECK(lb_graph_find_param(g, "qc.bias") == NULL && numel(g, "qc.w_scale") == 4);
  int li[LB_NODE_IATTRS] = {0, 1};
  lb_qcfg_pack(&cfg, 1, li + LB_QLINEAR_IA, fa);
  CHECK_STATUS(lb_graph_add(g, "qlinear", "ql", &id, 1, li, LB_NODE_IATTRS, fa, 1, &id), LB_ERR_ARG);
  CHECK(strstr(lb_last_error(), "'ql' (qlinear)") != NULL);
  li[LB_LINEAR_OUT] = 5;
  li[LB_QLINEAR_IA + 1] |= LB_QF_NARROW;
  li[LB_QLINEAR_IA + 1] &= ~LB_QF_SIGNED; /* narrow range needs a signed spec */
  CHECK_STATUS(lb_graph_add(g, "qlinear", "ql", &id, 1, li, LB_NODE_IATTRS, fa, 1, &id), LB_ERR_ARG);
  CHECK(strstr(lb_last_error(), "'ql' (qlinear): weight quantizer") != NULL);
  lb_graph_free(g);
}

/* A quantized graph saved and loaded computes the same bits. */
static void test_round_trip(void) {
  const char *dir = lbt_tmp_init("lb_qweight");
  if (!dir) {
    CHECK(0);
    return;
  }
  lb_qcfg cc = cfg_of(LB_EST_LSQ_PLUS, 4, 1, 0), lc = cfg_of(LB_EST_DOREFA, 2, 0, 1);
  lb_graph *g = make_ex(1, 1, &cc, 1, &lc), *h = NULL;
  float *s = param(g, "op.w_scale"), *z = param(g, "op.w_zero");
  for (int c = 0; c < 4; c++) {
    s[c] = 0.05f * (float)(c + 1);
    z[c] = (float)c - 2.0f;
  }
  const char *path = lbt_tmp_path("q.lbm");
  CHECK_OK(lb_lbm_save(path, g, NULL, 0));
  CHECK_OK(lb_lbm_load(path, &h, NULL, NULL));
  if (h) {
    data d = make_data(g, 13);
    lb_exec *eg, *eh;
    CHECK_OK(lb_exec_create(&eg, g, BATCH));
    CHECK_OK(lb_exec_create(&eh, h, BATCH));
    const float *yg = lb_exec_forward(eg, d.x, BATCH, 0, NULL), *yh = lb_exec_forward(eh, d.x, BATCH, 0, NULL);
    CHECK(same_bits(yg, yh, 5 * BATCH));
    CHECK(h->nodes[h->output].op == lb_op_find("qlinear") && lb_graph_is_quantized(h));
    lb_exec_free(eg);
    lb_exec_free(eh);
    lb_graph_free(h);
    free_data(&d);
  }
  lb_graph_free(g);
  CHECK(lbt_tmp_cleanup() == 0);
}

int main(void) {
  CHECK_OK(lb_quant_register_ops());
  for (int conv = 0; conv <= 1; conv++) {
    for (int est = 0; est < LB_EST_COUNT; est++) test_disabled(conv, (lb_estimator)est);
    for (int pc = 0; pc <= 1; pc++) {
      test_fq(conv, LB_EST_STE, pc, 1);
      test_fq(conv, LB_EST_STE, pc, 0);
      test_fq(conv, LB_EST_LSQ, pc, 1);
      test_fq(conv, LB_EST_LSQ_PLUS, pc, 0);
      test_fq(conv, LB_EST_LSQ_PLUS, pc, 1);
    }
  }
  for (int bits = 1; bits <= 4; bits++) {
    test_dorefa(LB_EST_DOREFA, bits);
    test_dorefa(LB_EST_PACT, bits);
  }
  test_infer_errors();
  test_round_trip();
  return lbt_finish("test_quant_qweight");
}
