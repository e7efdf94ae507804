/* Calibration: the initial scales, zero points and PACT clips of a quantized graph.
 *
 * Weights: one observer per qconv2d/qlinear weight (per channel on axis 0 when the spec is),
 * fed once (a qconvbn2d's: the BN-folded weight). Activations: the graph runs `images` images in evaluation mode with every
 * quantizer disabled on an unfused executor, and after each batch every fakequant node's
 * observer sees its input node's output, shaped (batch, per-sample shape). Then
 * scale/zero (STE, LSQ, LSQ+: with the observer kind the plan chose), alpha (PACT: cfg.init,
 * 6 when unset) are written, and every quantizer is enabled. DoReFa has nothing to calibrate
 * (its weight transform has no scale; its activations use [0, 1]).
 * Log (NNIE): a min/max observer's range reduced to c = max(|lo|, |hi|) = max|x| over the
 * weights (folded for qconvbn2d) or over every calibration batch, kept directly as a running
 * max of |x| (no uniform scale is involved), written to scale / w_scale with zero 0. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/qgraph.h"

typedef struct qnode {
  int node, base, fbase; /* quantizer attributes at ia[base..], init at fa[fbase] */
  int weight;            /* 1: qconv2d/qlinear weight quantizer; 0: fakequant */
  lb_qcfg cfg;
  int observe;           /* 1: an observer sets scale/zero */
  lb_observer obs;
  int logc;              /* 1: log quantizer, c = amax */
  float amax;            /* running max|x| */
} qnode;

static int op_is(const lb_node *n, const char *name) { return n->op && !strcmp(n->op->name, name); }

static const lb_param *node_param(const lb_graph *g, int node, const char *suffix) {
  char name[LB_PARAM_NAME_MAX];
  snprintf(name, sizeof name, "%s.%s", g->nodes[node].name, suffix);
  return lb_graph_find_param(g, name);
}

static void set_enabled(lb_graph *g, const qnode *q, int on) {
  int *flags = &g->nodes[q->node].ia[q->base + 1];
  *flags = on ? (*flags | LB_QF_ENABLED) : (*flags & ~LB_QF_ENABLED);
}

/* Write the observer's result into <node>.<scale>/<zero> (sizes checked). */
static lb_status write_scale(lb_graph *g, const qnode *q, const char *scale_name, const char *zero_name) {
  const lb_param *ps = node_param(g, q->node, scale_name), *pz = node_param(g, q->node, zero_name);
  if (!ps || !pz)
    return lb_fail(LB_ERR_NOT_FOUND, "quant calibrate: '%s' has no %s/%s parameters", g->nodes[q->node].name, scale_name,
                   zero_name);
  if (ps->numel != q->obs.n_params || pz->numel != q->obs.n_params)
    return lb_fail(LB_ERR_SHAPE, "quant calibrate: '%s' holds %lld scales, its quantizer needs %lld",
                   g->nodes[q->node].name, (long long)ps->numel, (long long)q->obs.n_params);
  lb_status s = lb_observer_compute(&q->obs, g->values + ps->offset, g->values + pz->offset);
  if (s) {
    char err[256];
    snprintf(err, sizeof err, "%s", lb_last_error());
    return lb_fail(s, "quant calibrate: '%s': %s", g->nodes[q->node].name, err);
  }
  return LB_OK;
}

/* Collect the quantizers of qg, disable them, set up observers. */
static lb_status collect(lb_graph *qg, int batch, qnode *qs, int *nq) {
  *nq = 0;
  for (int i = 1; i < qg->n_nodes; i++) {
    const lb_node *n = &qg->nodes[i];
    qnode *q = &qs[*nq];
    memset(q, 0, sizeof *q);
    q->node = i;
    if (op_is(n, "fakequant")) {
      q->base = LB_FQ_IA;
      q->fbase = LB_FQ_FA;
    } else if (op_is(n, "qconv2d") || op_is(n, "qconvbn2d")) {
      q->base = LB_QCONV_IA;
      q->weight = 1;
    } else if (op_is(n, "qlinear")) {
      q->base = LB_QLINEAR_IA;
      q->weight = 1;
    } else {
      continue;
    }
    lb_status s = lb_qcfg_unpack(n->ia + q->base, n->fa + q->fbase, &q->cfg, NULL);
    if (s) {
      char err[256];
      snprintf(err, sizeof err, "%s", lb_last_error());
      return lb_fail(s, "quant calibrate: node '%s': %s", n->name, err);
    }
    (*nq)++;
    set_enabled(qg, q, 0);
    lb_estimator est = q->cfg.est;
    /* PACT's weights are DoReFa's: neither has a scale to observe */
    q->observe = est == LB_EST_STE || est == LB_EST_LSQ || est == LB_EST_LSQ_PLUS;
    q->logc = est == LB_EST_LOG;
    if (!q->observe) continue;
    lb_shape shape;
    if (q->weight) {
      const lb_param *w = node_param(qg, i, "weight");
      if (!w) q->observe = 0;
      if (!w) return lb_fail(LB_ERR_NOT_FOUND, "quant calibrate: '%s' has no weight parameter", n->name);
      shape = w->shape;
    } else {
      const lb_shape *in = &qg->nodes[n->inputs[0]].shape;
      if (in->ndim + 1 > LB_MAX_DIMS) return lb_fail(LB_ERR_SHAPE, "quant calibrate: '%s': input has too many dims", n->name);
      shape.ndim = in->ndim + 1;
      shape.d[0] = batch;
      for (int k = 0; k < in->ndim; k++) shape.d[k + 1] = in->d[k];
    }
    s = lb_observer_init(&q->obs, q->cfg.observer, &q->cfg.spec, &shape);
    if (s) {
      q->observe = 0;
      char err[256];
      snprintf(err, sizeof err, "%s", lb_last_error());
      return lb_fail(s, "quant calibrate: observer for '%s': %s", n->name, err);
    }
  }
  return LB_OK;
}

/* A qconvbn2d's quantizer sees w*gamma/sqrt(running_var + eps): that tensor, malloc'ed. */
static lb_status folded_weight(const lb_graph *qg, int node, const lb_param *w, float **out) {
  const lb_param *g = node_param(qg, node, "bn_weight"), *v = node_param(qg, node, "bn_running_var");
  int64_t k = w->shape.d[0];
  if (!g || !v || g->numel != k || v->numel != k)
    return lb_fail(LB_ERR_NOT_FOUND, "quant calibrate: '%s' lacks its BN parameters", qg->nodes[node].name);
  float *f = malloc((size_t)w->numel * sizeof *f);
  if (!f) return lb_fail(LB_ERR_NOMEM, "quant calibrate: out of memory");
  float eps = qg->nodes[node].fa[LB_QCONVBN_EPS];
  int64_t per = w->numel / k;
  for (int64_t j = 0; j < k; j++) {
    float s = qg->values[g->offset + j] / sqrtf(qg->values[v->offset + j] + eps);
    for (int64_t i = 0; i < per; i++) f[j * per + i] = qg->values[w->offset + j * per + i] * s;
  }
  *out = f;
  return LB_OK;
}

/* Write c = max(amax, FLT_EPSILON) (the floor the ops use anyway) and zero 0. */
static lb_status write_logc(lb_graph *qg, const qnode *q, const char *scale_name, const char *zero_name) {
  const lb_param *ps = node_param(qg, q->node, scale_name), *pz = node_param(qg, q->node, zero_name);
  if (!ps || !pz || ps->numel != 1 || pz->numel != 1)
    return lb_fail(LB_ERR_NOT_FOUND, "quant calibrate: '%s' needs one %s and one %s value (log quantizer)",
                   qg->nodes[q->node].name, scale_name, zero_name);
  qg->values[ps->offset] = q->amax > FLT_EPSILON ? q->amax : FLT_EPSILON;
  qg->values[pz->offset] = 0.0f;
  return LB_OK;
}

static lb_status observe_weights(lb_graph *qg, qnode *qs, int nq) {
  for (int j = 0; j < nq; j++) {
    qnode *q = &qs[j];
    if (!q->weight || !(q->observe || q->logc)) continue;
    const lb_param *w = node_param(qg, q->node, "weight");
    if (!w) return lb_fail(LB_ERR_NOT_FOUND, "quant calibrate: '%s' has no weight parameter", qg->nodes[q->node].name);
    float *folded = NULL;
    lb_status s = op_is(&qg->nodes[q->node], "qconvbn2d") ? folded_weight(qg, q->node, w, &folded) : LB_OK;
    const float *wv = folded ? folded : qg->values + w->offset;
    if (!s && q->logc) {
      q->amax = lb_logq_absmax(w->numel, wv);
      s = write_logc(qg, q, "w_scale", "w_zero");
    } else if (!s) {
      s = lb_observer_update(&q->obs, &w->shape, wv);
      if (!s) s = write_scale(qg, q, "w_scale", "w_zero");
    }
    free(folded);
    if (s) return s;
  }
  return LB_OK;
}

static lb_status observe_activations(lb_graph *qg, const lb_dataset *d, const lb_augment *norm, int images, int batch,
                                     qnode *qs, int nq) {
  lb_exec *e = NULL;
  lb_status s = lb_exec_create_ex(&e, qg, batch, 0);
  if (s) return s;
  int64_t per = (int64_t)d->c * d->h * d->w;
  float *x = malloc((size_t)(per * batch) * sizeof *x);
  int32_t *y = malloc((size_t)batch * sizeof *y);
  int32_t *idx = malloc((size_t)batch * sizeof *idx);
  if (!x || !y || !idx) s = lb_fail(LB_ERR_NOMEM, "quant calibrate: out of memory");
  for (int start = 0; start < images && !s; start += batch) {
    int count = images - start < batch ? images - start : batch;
    for (int k = 0; k < count; k++) idx[k] = start + k;
    lb_batch_fill(d, idx, count, norm, 0, NULL, x, y);
    if (!lb_exec_forward(e, x, count, 0, NULL)) {
      s = lb_fail(LB_ERR_STATE, "quant calibrate: forward pass failed");
      break;
    }
    for (int j = 0; j < nq && !s; j++) {
      qnode *q = &qs[j];
      if (q->weight || !(q->observe || q->logc)) continue;
      int src = qg->nodes[q->node].inputs[0];
      if (q->logc) {
        float m = lb_logq_absmax((int64_t)count * lb_shape_numel(&qg->nodes[src].shape), lb_exec_node_output(e, src));
        if (m > q->amax) q->amax = m;
        continue;
      }
      const lb_shape shape = qg->nodes[src].shape;
      lb_shape bs;
      bs.ndim = shape.ndim + 1;
      bs.d[0] = count;
      for (int k = 0; k < shape.ndim; k++) bs.d[k + 1] = shape.d[k];
      s = lb_observer_update(&q->obs, &bs, lb_exec_node_output(e, src));
    }
  }
  for (int j = 0; j < nq && !s; j++)
    if (!qs[j].weight && qs[j].observe) s = write_scale(qg, &qs[j], "scale", "zero");
  for (int j = 0; j < nq && !s; j++)
    if (!qs[j].weight && qs[j].logc) s = write_logc(qg, &qs[j], "scale", "zero");
  free(x);
  free(y);
  free(idx);
  lb_exec_free(e);
  return s;
}

static lb_status set_pact(lb_graph *qg, const qnode *q) {
  const lb_param *pa = node_param(qg, q->node, "alpha");
  const lb_param *ps = node_param(qg, q->node, "scale");
  const lb_param *pz = node_param(qg, q->node, "zero");
  if (!pa || pa->numel < 1)
    return lb_fail(LB_ERR_NOT_FOUND, "quant calibrate: '%s' has no alpha parameter", qg->nodes[q->node].name);
  float alpha = q->cfg.init > 0 ? q->cfg.init : 6.0f;
  qg->values[pa->offset] = alpha;
  int32_t qmin, qmax;
  lb_qspec_range(&q->cfg.spec, &qmin, &qmax);
  /* keep scale/zero consistent with the clip, for anything that reads them */
  if (ps && qmax > 0)
    for (int64_t k = 0; k < ps->numel; k++) qg->values[ps->offset + k] = alpha / (float)qmax;
  if (pz)
    for (int64_t k = 0; k < pz->numel; k++) qg->values[pz->offset + k] = 0.0f;
  return LB_OK;
}

lb_status lb_quant_calibrate(lb_graph *qg, const lb_dataset *d, const lb_augment *norm, int images, int batch) {
  if (!qg || !d) return lb_fail(LB_ERR_ARG, "quant calibrate: NULL argument");
  if (!qg->values) return lb_fail(LB_ERR_STATE, "quant calibrate: graph '%s' has no parameter values", qg->model);
  if (!lb_graph_is_quantized(qg))
    return lb_fail(LB_ERR_STATE, "quant calibrate: graph '%s' holds no quantizers (apply a plan first)", qg->model);
  if (images <= 0) return lb_fail(LB_ERR_ARG, "quant calibrate: no images to calibrate on (%d asked)", images);
  if (batch <= 0) return lb_fail(LB_ERR_ARG, "quant calibrate: batch size %d", batch);
  if (images > d->n)
    return lb_fail(LB_ERR_ARG, "quant calibrate: %d images asked, the data set holds %d", images, d->n);
  const lb_shape *in = &qg->nodes[0].shape;
  lb_shape want = lb_shape3(d->c, d->h, d->w);
  if (!lb_shape_equal(in, &want) && !(in->ndim == 1 && in->d[0] == (int64_t)d->c * d->h * d->w))
    return lb_fail(LB_ERR_SHAPE, "quant calibrate: the data set's images are %dx%dx%d; graph '%s' takes %lld values per image",
                   d->c, d->h, d->w, qg->model, (long long)lb_shape_numel(in));
  if (batch > images) batch = images;

  qnode *qs = calloc((size_t)qg->n_nodes, sizeof *qs);
  if (!qs) return lb_fail(LB_ERR_NOMEM, "quant calibrate: out of memory");
  int nq = 0;
  lb_status s = collect(qg, batch, qs, &nq);
  if (!s) s = observe_weights(qg, qs, nq);
  if (!s) s = observe_activations(qg, d, norm, images, batch, qs, nq);
  for (int j = 0; j < nq && !s; j++)
    if (!qs[j].weight && qs[j].cfg.est == LB_EST_PACT) s = set_pact(qg, &qs[j]);
  for (int j = 0; j < nq; j++) {
    if (qs[j].observe) lb_observer_free(&qs[j].obs);
    if (!s) set_enabled(qg, &qs[j], 1);
  }
  free(qs);
  return s;
}
