/* Backend profiles, the QuantPlan, the quantizer-insertion transform and calibration, on a zoo
 * resnet8 for 1x28x28 images. */
#include <stdlib.h>
#include <string.h>

#include "lowbit/qgraph.h"
#include "testutil.h"

static lb_qplan_request req(const char *backend, int wbits, int abits, lb_estimator est) {
  return lbt_qplan_request(backend, wbits, abits, est);
}

static const lb_qplan_entry *entry_for(const lb_graph *g, const lb_qplan *p, const char *node) {
  int id = lb_graph_find_node(g, node);
  for (int i = 0; i < p->n; i++)
    if (p->e[i].node == id) return &p->e[i];
  return NULL;
}

static int range_is(const lb_qspec *q, int32_t lo, int32_t hi) {
  int32_t a, b;
  lb_qspec_range(q, &a, &b);
  return a == lo && b == hi;
}

static int count_op(const lb_graph *g, const char *op) {
  int c = 0;
  for (int i = 0; i < g->n_nodes; i++) c += !strcmp(g->nodes[i].op->name, op);
  return c;
}

static int count_weighted(const lb_graph *g) { return count_op(g, "conv2d") + count_op(g, "linear"); }

/* distinct (source node, packed config) pairs among the planned inputs: the fakequant nodes
 * lb_quant_apply makes when it shares identical quantizers of one tensor */
static int distinct_inputs(const lb_graph *g, const lb_qplan *p) {
  int n = 0, cap = 0;
  for (int i = 0; i < p->n; i++) cap += p->e[i].n_inputs;
  int *src = calloc((size_t)cap + 1, sizeof *src);
  int(*ia)[LB_QCFG_IATTRS] = calloc((size_t)cap + 1, sizeof *ia);
  float *fa = calloc((size_t)cap + 1, sizeof *fa);
  for (int i = 0; i < p->n; i++)
    for (int j = 0; j < p->e[i].n_inputs; j++) {
      int s = g->nodes[p->e[i].node].inputs[p->e[i].input_index[j]];
      int a[LB_QCFG_IATTRS];
      float f;
      lb_qcfg_pack(&p->e[i].input[j], 0, a, &f);
      int seen = 0;
      for (int k = 0; k < n && !seen; k++) seen = src[k] == s && !memcmp(ia[k], a, sizeof a) && fa[k] == f;
      if (!seen) {
        src[n] = s;
        memcpy(ia[n], a, sizeof a);
        fa[n] = f;
        n++;
      }
    }
  free(src);
  free(ia);
  free(fa);
  return n;
}

static void test_backends(void) {
  const lb_backend *const *b = lb_backends();
  int n = 0;
  for (; b[n]; n++) CHECK(lb_backend_find(b[n]->name) == b[n]);
  CHECK(n == 9);
  CHECK(lb_backend_find("nosuch") == NULL);
  const lb_backend *trt = lb_backend_find("tensorrt"), *ov = lb_backend_find("openvino");
  const lb_backend *snpe = lb_backend_find("snpe"), *vitis = lb_backend_find("vitis");
  CHECK(trt && range_is(&trt->weight, -127, 127) && trt->weight.gran == LB_QGRAN_CHANNEL && trt->fixed_bits == 8);
  CHECK(trt && range_is(&trt->act, -127, 127) && trt->act.gran == LB_QGRAN_TENSOR);
  CHECK(ov && range_is(&ov->weight, -64, 63) && ov->weight.gran == LB_QGRAN_CHANNEL && range_is(&ov->act, -128, 127));
  CHECK(snpe && range_is(&snpe->weight, 0, 255) && !snpe->weight.symmetric && range_is(&snpe->act, 0, 255));
  CHECK(vitis && vitis->weight.scale_kind == LB_QSCALE_POW2 && vitis->act.scale_kind == LB_QSCALE_POW2 &&
        range_is(&vitis->weight, -128, 127));
}

static void test_plans(const lb_graph *g) {
  const lb_backend *const *b = lb_backends();
  int weighted = count_weighted(g), pools_adds = count_op(g, "add") + count_op(g, "gap");
  for (int i = 0; b[i]; i++) {
    lb_qplan p;
    lb_qplan_request r = req(b[i]->name, 8, 8, LB_EST_STE);
    CHECK_OK(lb_qplan_make(g, &r, &p));
    CHECK_MSG(p.n == weighted + (b[i]->quantize_add_inputs ? pools_adds : 0), "%s: %d entries", b[i]->name, p.n);
    CHECK(!strcmp(p.backend, b[i]->name));
    lb_qplan_free(&p);
    r = req(b[i]->name, 4, 4, LB_EST_LSQ);
    lb_status s = lb_qplan_make(g, &r, &p);
    if (b[i]->fixed_bits) {
      CHECK_MSG(s == LB_ERR_UNSUPPORTED && strstr(lb_last_error(), "8-bit only"), "%s: %s", b[i]->name, lb_last_error());
    } else {
      CHECK_MSG(s == LB_OK, "%s W4A4: %s", b[i]->name, lb_last_error());
      lb_qplan_free(&p);
    }
  }

  lb_qplan p;
  /* academic W4A4: first and last layer at 8 bits, adaptive signedness */
  lb_qplan_request r = req("academic", 4, 4, LB_EST_LSQ);
  CHECK_OK(lb_qplan_make(g, &r, &p));
  CHECK(p.n == weighted);
  const lb_qplan_entry *stem = entry_for(g, &p, "stem.conv"), *fc = entry_for(g, &p, "fc");
  const lb_qplan_entry *mid = entry_for(g, &p, "layer2.0.1.conv"), *mid2 = entry_for(g, &p, "layer1.0.2.conv");
  CHECK(stem && fc && mid && mid2 && !entry_for(g, &p, "layer1.0.add"));
  if (stem && fc && mid && mid2) {
    CHECK(stem->has_weight && stem->weight.spec.bits == 8 && range_is(&stem->weight.spec, -128, 127));
    CHECK(stem->n_inputs == 1 && range_is(&stem->input[0].spec, -128, 127)); /* graph input: signed */
    CHECK(fc->weight.spec.bits == 8 && range_is(&fc->input[0].spec, 0, 255)); /* gap of a relu */
    CHECK(range_is(&mid->weight.spec, -8, 7) && range_is(&mid->input[0].spec, 0, 15));
    CHECK(range_is(&mid2->input[0].spec, 0, 15));
    CHECK(mid->weight.est == LB_EST_LSQ && mid->input[0].observer == LB_OBS_MINMAX);
  }
  lb_qplan_free(&p);

  /* tensorrt: per-channel narrow weights, signed narrow activations also after ReLU, adds and pools */
  r = req("tensorrt", 8, 8, LB_EST_STE);
  CHECK_OK(lb_qplan_make(g, &r, &p));
  const lb_qplan_entry *add = entry_for(g, &p, "layer1.0.add"), *c = entry_for(g, &p, "layer1.0.2.conv");
  const lb_qplan_entry *pool = entry_for(g, &p, "pool");
  CHECK(add && c && pool);
  if (add && c && pool) {
    CHECK(!add->has_weight && add->n_inputs == 2 && range_is(&add->input[1].spec, -127, 127));
    CHECK(range_is(&c->weight.spec, -127, 127) && c->weight.spec.gran == LB_QGRAN_CHANNEL);
    CHECK(range_is(&c->input[0].spec, -127, 127) && c->input[0].spec.gran == LB_QGRAN_TENSOR);
    CHECK(pool->n_inputs == 1);
  }
  lb_qplan_free(&p);

  /* openvino: 7-bit weights, unsigned after ReLU, signed otherwise */
  r = req("openvino", 8, 8, LB_EST_STE);
  CHECK_OK(lb_qplan_make(g, &r, &p));
  c = entry_for(g, &p, "layer1.0.2.conv");
  stem = entry_for(g, &p, "stem.conv");
  add = entry_for(g, &p, "layer1.0.add");
  CHECK(c && stem && add);
  if (c && stem && add) {
    CHECK(range_is(&c->weight.spec, -64, 63) && range_is(&c->input[0].spec, 0, 255));
    CHECK(range_is(&stem->weight.spec, -64, 63) && range_is(&stem->input[0].spec, -128, 127));
    CHECK(range_is(&add->input[0].spec, -128, 127)); /* a BN output */
    CHECK(range_is(&add->input[1].spec, 0, 255));    /* the block input, after a ReLU */
  }
  lb_qplan_free(&p);

  /* snpe: uint8 affine everywhere */
  r = req("snpe", 8, 8, LB_EST_STE);
  CHECK_OK(lb_qplan_make(g, &r, &p));
  for (int i = 0; i < p.n; i++) {
    if (p.e[i].has_weight) CHECK(range_is(&p.e[i].weight.spec, 0, 255) && !p.e[i].weight.spec.symmetric);
    for (int j = 0; j < p.e[i].n_inputs; j++) CHECK(range_is(&p.e[i].input[j].spec, 0, 255) && !p.e[i].input[j].spec.symmetric);
  }
  lb_qplan_free(&p);

  /* vitis and tvm: power-of-two scales; qdq W4: narrow per-channel; fbgemm W4: affine per-channel */
  const char *pow2[] = {"vitis", "tvm"};
  for (int k = 0; k < 2; k++) {
    r = req(pow2[k], 8, 8, LB_EST_STE);
    CHECK_OK(lb_qplan_make(g, &r, &p));
    for (int i = 0; i < p.n; i++) {
      if (p.e[i].has_weight) CHECK(p.e[i].weight.spec.scale_kind == LB_QSCALE_POW2 && range_is(&p.e[i].weight.spec, -128, 127));
      for (int j = 0; j < p.e[i].n_inputs; j++)
        CHECK(p.e[i].input[j].spec.scale_kind == LB_QSCALE_POW2 && p.e[i].input[j].spec.is_signed);
    }
    lb_qplan_free(&p);
  }
  r = req("qdq", 4, 4, LB_EST_LSQ);
  CHECK_OK(lb_qplan_make(g, &r, &p));
  c = entry_for(g, &p, "layer1.0.2.conv");
  if (c) CHECK(range_is(&c->weight.spec, -7, 7) && c->weight.spec.gran == LB_QGRAN_CHANNEL && range_is(&c->input[0].spec, -7, 7));
  stem = entry_for(g, &p, "stem.conv");
  if (stem) CHECK(range_is(&stem->weight.spec, -127, 127)); /* first layer at 8 bits */
  lb_qplan_free(&p);
  r = req("fbgemm", 4, 4, LB_EST_LSQ);
  CHECK_OK(lb_qplan_make(g, &r, &p));
  c = entry_for(g, &p, "layer1.0.2.conv");
  if (c) CHECK(range_is(&c->weight.spec, 0, 15) && c->weight.spec.gran == LB_QGRAN_CHANNEL && !c->weight.spec.symmetric);
  lb_qplan_free(&p);

  /* PACT on academic: alpha 6 after ReLUs, the signed graph input keeps a fixed STE quantizer */
  r = req("academic", 4, 4, LB_EST_PACT);
  CHECK_OK(lb_qplan_make(g, &r, &p));
  stem = entry_for(g, &p, "stem.conv");
  c = entry_for(g, &p, "layer1.0.2.conv");
  if (stem && c) {
    CHECK(stem->input[0].est == LB_EST_STE);
    CHECK(c->input[0].est == LB_EST_PACT && c->input[0].init == 6.0f && range_is(&c->input[0].spec, 0, 15));
    CHECK(c->weight.est == LB_EST_PACT);
  }
  lb_qplan_free(&p);
}

static void test_plan_errors(const lb_graph *g) {
  lb_qplan p;
  lb_qplan_request r = req("nosuch", 8, 8, LB_EST_STE);
  CHECK_STATUS(lb_qplan_make(g, &r, &p), LB_ERR_NOT_FOUND);
  CHECK(strstr(lb_last_error(), "nosuch") && strstr(lb_last_error(), "tensorrt") && strstr(lb_last_error(), "academic"));
  r = req("tensorrt", 4, 8, LB_EST_STE);
  CHECK_STATUS(lb_qplan_make(g, &r, &p), LB_ERR_UNSUPPORTED);
  CHECK_MSG(strstr(lb_last_error(), "tensorrt runs 8-bit only; asked for W4") != NULL, "%s", lb_last_error());
  r = req("snpe", 8, 4, LB_EST_STE);
  CHECK_STATUS(lb_qplan_make(g, &r, &p), LB_ERR_UNSUPPORTED);
  CHECK(strstr(lb_last_error(), "A4") != NULL);
  r = req("academic", 0, 8, LB_EST_STE);
  CHECK_STATUS(lb_qplan_make(g, &r, &p), LB_ERR_ARG);
  r = req("academic", 8, 17, LB_EST_STE);
  CHECK_STATUS(lb_qplan_make(g, &r, &p), LB_ERR_ARG);
  r = req("tensorrt", 8, 8, LB_EST_PACT);
  CHECK_STATUS(lb_qplan_make(g, &r, &p), LB_ERR_UNSUPPORTED);
  CHECK(strstr(lb_last_error(), "unsigned") != NULL);
  r = req("vitis", 8, 8, LB_EST_DOREFA);
  CHECK_STATUS(lb_qplan_make(g, &r, &p), LB_ERR_UNSUPPORTED);
  r = req("qdq", 1, 1, LB_EST_STE); /* a narrow backend at 1 bit: binary +-1 (symmetric, no range to narrow) */
  CHECK_OK(lb_qplan_make(g, &r, &p));
  int n_binary = 0;
  for (int i = 0; i < p.n; i++) n_binary += p.e[i].has_weight && p.e[i].weight.spec.binary;
  CHECK(n_binary > 0);
  lb_qplan_free(&p);
  r = req("academic", 1, 1, LB_EST_STE);
  CHECK_OK(lb_qplan_make(g, &r, &p));
  lb_qplan_free(&p);
  r = req(NULL, 8, 8, LB_EST_STE);
  CHECK(lb_qplan_make(g, &r, &p) != LB_OK);
}

static lb_status forward_once(lb_graph *g, const float *x, int batch, float *out, int64_t n_out) {
  lb_exec *e = NULL;
  lb_status s = lb_exec_create(&e, g, batch);
  if (s) return s;
  const float *y = lb_exec_forward(e, x, batch, 0, NULL);
  if (y) memcpy(out, y, (size_t)n_out * sizeof *out);
  lb_exec_free(e);
  return y ? LB_OK : LB_ERR_STATE;
}

static int all_enabled(const lb_graph *qg, int *n_fq) {
  int ok = 1;
  *n_fq = 0;
  for (int i = 1; i < qg->n_nodes; i++) {
    const lb_node *n = &qg->nodes[i];
    const char *op = n->op->name;
    int base = !strcmp(op, "fakequant") ? LB_FQ_IA : !strcmp(op, "qconv2d") ? LB_QCONV_IA : !strcmp(op, "qlinear") ? LB_QLINEAR_IA : -1;
    if (base < 0) continue;
    *n_fq += !strcmp(op, "fakequant");
    ok &= (n->ia[base + 1] & LB_QF_ENABLED) != 0;
  }
  return ok;
}

/* every observed scale positive (PACT nodes: alpha 6) */
static int scales_positive(const lb_graph *qg) {
  for (int i = 0; i < qg->n_params; i++) {
    const lb_param *p = &qg->params[i];
    size_t len = strlen(p->name);
    int scale = (len > 6 && !strcmp(p->name + len - 6, ".scale")) || (len > 8 && !strcmp(p->name + len - 8, ".w_scale"));
    if (!scale) continue;
    for (int64_t k = 0; k < p->numel; k++)
      if (!(qg->values[p->offset + k] > 0.0f)) return 0;
  }
  return 1;
}

/* Plan, apply, check identity with quantizers off, calibrate; returns the output error against
 * the float graph, or -1. */
static double quantize_and_compare(lb_graph *g, const lb_qplan_request *r, const lb_dataset *d, const lb_augment *norm,
                                   const float *x, int batch, const float *want) {
  lb_qplan p;
  lb_graph *qg = NULL;
  double err = -1;
  int64_t n_out = (int64_t)batch * lb_shape_numel(&g->nodes[g->output].shape);
  float *got = lbt_falloc((size_t)n_out);
  CHECK_OK(lb_qplan_make(g, r, &p));
  if (lb_quant_apply(g, &p, &qg) != LB_OK) {
    CHECK_MSG(0, "%s W%dA%d apply: %s", r->backend, r->wbits, r->abits, lb_last_error());
    goto done;
  }
  CHECK(lb_graph_is_quantized(qg) && !strcmp(qg->model, g->model));
  int n_fq = count_op(qg, "fakequant");
  CHECK_MSG(n_fq == distinct_inputs(g, &p), "%s: %d fakequant nodes, %d distinct planned inputs", r->backend, n_fq,
            distinct_inputs(g, &p));
  CHECK(qg->n_nodes == g->n_nodes + n_fq);
  CHECK(count_op(qg, "qconv2d") == count_op(g, "conv2d") && count_op(qg, "qlinear") == count_op(g, "linear"));
  CHECK(count_op(qg, "conv2d") == 0 && count_op(qg, "batchnorm") == count_op(g, "batchnorm"));
  CHECK(lb_graph_find_node(qg, "layer1.0.2.conv.in0.q") > 0);
  /* quantizers disabled: the same bits as the float graph */
  CHECK_OK(forward_once(qg, x, batch, got, n_out));
  CHECK_MSG(!memcmp(got, want, (size_t)n_out * sizeof *got), "%s: disabled quantizers change the output", r->backend);
  CHECK_STATUS(lb_quant_calibrate(qg, d, norm, 0, 8), LB_ERR_ARG);
  CHECK_OK(lb_quant_calibrate(qg, d, norm, d->n, 8));
  int fq_after = 0;
  CHECK(all_enabled(qg, &fq_after) && fq_after == n_fq);
  CHECK_MSG(scales_positive(qg), "%s: a scale is not positive", r->backend);
  CHECK_OK(forward_once(qg, x, batch, got, n_out));
  /* relative to the scale of the logits */
  err = lbt_max_abs_err(got, want, n_out) / lbt_max_abs(want, (size_t)n_out);
  printf("  %-9s W%dA%d %-6s output error %.4f (%d fakequant)\n", r->backend, r->wbits, r->abits, lb_estimator_name(r->est),
         err, n_fq);
done:
  lb_graph_free(qg);
  lb_qplan_free(&p);
  free(got);
  return err;
}

static void make_dataset(lb_dataset *d, int n, int c, int h, int w, uint64_t seed) {
  lb_rng rng;
  lb_rng_seed(&rng, seed);
  memset(d, 0, sizeof *d);
  d->n = n;
  d->c = c;
  d->h = h;
  d->w = w;
  d->classes = 10;
  d->images = malloc((size_t)n * c * h * w);
  d->labels = malloc((size_t)n * sizeof *d->labels);
  for (size_t i = 0; i < (size_t)n * c * h * w; i++) d->images[i] = (uint8_t)lb_rng_below(&rng, 256);
  for (int i = 0; i < n; i++) d->labels[i] = (int32_t)lb_rng_below(&rng, 10);
}

static void test_apply_calibrate(lb_graph *g) {
  lb_dataset d, bad;
  make_dataset(&d, 40, 1, 28, 28, 7);
  make_dataset(&bad, 4, 3, 32, 32, 8);
  lb_augment norm;
  memset(&norm, 0, sizeof norm);
  norm.mean[0] = 0.5f;
  norm.std[0] = 0.25f;
  enum { B = 6 };
  float *x = lbt_falloc((size_t)B * 28 * 28);
  int32_t idx[B], y[B];
  for (int i = 0; i < B; i++) idx[i] = 30 + i;
  lb_batch_fill(&d, idx, B, &norm, 0, NULL, x, y);
  int64_t n_out = (int64_t)B * lb_shape_numel(&g->nodes[g->output].shape);
  float *want = lbt_falloc((size_t)n_out);
  CHECK_OK(forward_once(g, x, B, want, n_out));

  lb_qplan_request r = req("academic", 8, 8, LB_EST_STE);
  double e8 = quantize_and_compare(g, &r, &d, &norm, x, B, want);
  CHECK_MSG(e8 >= 0 && e8 < 0.05, "academic W8A8 error %g", e8);
  r = req("academic", 2, 2, LB_EST_STE);
  double e2 = quantize_and_compare(g, &r, &d, &norm, x, B, want);
  CHECK_MSG(e2 > 2 * e8, "W2A2 error %g is not clearly above W8A8's %g", e2, e8);
  const char *hw[] = {"tensorrt", "snpe", "openvino", "vitis", "qdq", "fbgemm", "tvm"};
  for (int k = 0; k < 7; k++) {
    r = req(hw[k], 8, 8, LB_EST_LSQ);
    double e = quantize_and_compare(g, &r, &d, &norm, x, B, want);
    CHECK_MSG(e >= 0 && e < 0.1, "%s W8A8 error %g", hw[k], e);
  }
  r = req("academic", 4, 4, LB_EST_PACT);
  CHECK(quantize_and_compare(g, &r, &d, &norm, x, B, want) >= 0);

  /* calibration errors; a quantized graph cannot be planned again */
  lb_qplan p;
  lb_graph *qg = NULL;
  r = req("academic", 8, 8, LB_EST_STE);
  CHECK_OK(lb_qplan_make(g, &r, &p));
  CHECK_OK(lb_quant_apply(g, &p, &qg));
  if (qg) {
    CHECK_STATUS(lb_quant_calibrate(qg, &bad, &norm, 4, 2), LB_ERR_SHAPE);
    CHECK_STATUS(lb_quant_calibrate(qg, &d, &norm, d.n + 1, 8), LB_ERR_ARG);
    CHECK_STATUS(lb_quant_calibrate(qg, &d, &norm, 8, 0), LB_ERR_ARG);
    lb_qplan q2;
    CHECK_STATUS(lb_qplan_make(qg, &r, &q2), LB_ERR_STATE);
    lb_graph *qq = NULL;
    CHECK(lb_quant_apply(qg, &p, &qq) != LB_OK && qq == NULL);
  }
  CHECK_STATUS(lb_quant_calibrate(g, &d, &norm, 8, 8), LB_ERR_STATE);
  lb_graph_free(qg);
  lb_qplan_free(&p);
  free(x);
  free(want);
  lb_dataset_free(&d);
  lb_dataset_free(&bad);
}

/* Per-layer overrides: bits of one layer changed, a layer left float, the spec syntax, and the
 * errors (unknown layer, not a weighted layer, bad bits, a fixed-bit backend). */
static void test_overrides(const lb_graph *g) {
  const char *mid = NULL;
  for (int i = 1; i < g->n_nodes && !mid; i++)
    if (!strcmp(g->nodes[i].op->name, "conv2d") && !strncmp(g->nodes[i].name, "layer2", 6)) mid = g->nodes[i].name;
  CHECK(mid != NULL);
  if (!mid) return;
  lb_qplan_request r = req("academic", 4, 4, LB_EST_LSQ);
  lb_qplan p;
  CHECK_OK(lb_qplan_make(g, &r, &p));
  int n0 = p.n;
  char spec[256];
  snprintf(spec, sizeof spec, "%s=2/3,stem.conv=-/6,fc=float", mid);
  CHECK_OK(lb_qplan_override_spec(g, &p, spec));
  const lb_qplan_entry *e = entry_for(g, &p, mid), *stem = entry_for(g, &p, "stem.conv");
  CHECK(e && e->weight.spec.bits == 2 && e->input[0].spec.bits == 3);
  CHECK(e && e->weight.est == LB_EST_LSQ && !e->input[0].spec.is_signed); /* the rest of the specs stay */
  CHECK(stem && stem->weight.spec.bits == 8 && stem->input[0].spec.bits == 6);
  CHECK(entry_for(g, &p, "fc") == NULL && p.n == n0 - 1);
  lb_graph *qg = NULL;
  CHECK_OK(lb_quant_apply(g, &p, &qg));
  if (qg) {
    int id = lb_graph_find_node(qg, mid), fc = lb_graph_find_node(qg, "fc");
    CHECK(id > 0 && !strcmp(qg->nodes[id].op->name, "qconv2d") && qg->nodes[id].ia[LB_QCONV_IA] == 2);
    CHECK(id > 0 && !strcmp(qg->nodes[qg->nodes[id].inputs[0]].op->name, "fakequant") &&
          qg->nodes[qg->nodes[id].inputs[0]].ia[LB_FQ_IA] == 3);
    CHECK(fc > 0 && !strcmp(qg->nodes[fc].op->name, "linear"));
    lb_graph_free(qg);
  }
  CHECK_STATUS(lb_qplan_override(g, &p, "nope", 4, 4), LB_ERR_NOT_FOUND);
  CHECK_STATUS(lb_qplan_override(g, &p, "pool", 4, 4), LB_ERR_ARG); /* gap: not a weighted layer */
  CHECK(strstr(lb_last_error(), "pool") != NULL);
  CHECK_STATUS(lb_qplan_override(g, &p, "fc", 4, 4), LB_ERR_ARG);  /* no longer planned */
  CHECK_STATUS(lb_qplan_override(g, &p, "stem.conv", 17, 4), LB_ERR_ARG);
  const char *bad[] = {"stem.conv", "stem.conv=", "=4/4", "stem.conv=4", "stem.conv=4/", "stem.conv=4/4x", "stem.conv=0/4", "stem.conv=a/4"};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    lb_status st = lb_qplan_override_spec(g, &p, bad[k]);
    CHECK_MSG(st != LB_OK, "override '%s' accepted", bad[k]);
  }
  lb_qplan_free(&p);
  r = req("tensorrt", 8, 8, LB_EST_STE);
  CHECK_OK(lb_qplan_make(g, &r, &p));
  CHECK_STATUS(lb_qplan_override(g, &p, "stem.conv", 4, 0), LB_ERR_UNSUPPORTED);
  CHECK(strstr(lb_last_error(), "8-bit only") != NULL);
  CHECK_OK(lb_qplan_override(g, &p, "stem.conv", 8, 8));
  lb_qplan_free(&p);
}

int main(void) {
  CHECK_OK(lb_quant_register_ops());
  lb_graph *g = NULL;
  CHECK_OK(lb_zoo_build("resnet8", 1, 28, 28, 10, &g));
  if (!g) return lbt_finish("test_quant_plan");
  CHECK_OK(lb_graph_alloc_values(g));
  CHECK_OK(lb_graph_init_params(g, 1));
  test_backends();
  test_plans(g);
  test_plan_errors(g);
  test_apply_calibrate(g);
  test_overrides(g);
  lb_graph_free(g);
  return lbt_finish("test_quant_plan");
}
