/* The weight quantizer of qconv2d / qlinear: parameters, forward (STE/LSQ/LSQ+ through the
 * fake-quant kernels, DoReFa for DoReFa and PACT, NNIE's log grid for log) and the estimators'
 * gradients. Log: w_scale (one value, not trainable) holds c; a training forward first sets
 * c <- max(c, max|w|) (idempotent, so the backward's recomputation of wq changes nothing);
 * the gradient passes straight through. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "quant/weight_quant.h"

#define WQ_PAD 16 /* floats: 64 bytes */

static int64_t padded(int64_t n) { return (n + WQ_PAD - 1) / WQ_PAD * WQ_PAD; }

static int64_t num_scales(const lb_qspec *s, const lb_shape *w) {
  return s->gran == LB_QGRAN_CHANNEL ? w->d[0] : 1;
}

size_t lb_wquant_scratch_floats(int64_t weight_numel, int64_t channels) {
  /* [wq | dwq | effective scales | their signs | their gradients] */
  return (size_t)(2 * padded(weight_numel) + 3 * padded(channels));
}

size_t lb_wquant_scratch_of(const lb_wquant *q) { return lb_wquant_scratch_floats(q->numel, q->shape.d[0]); }

/* The effective scales (lb_qscale_effective) of the node's stored w_scale, in the scratch after
 * wq and dwq; signs (may be NULL) receive d|s|/ds. Returns the scales. */
static float *effective_scales(const lb_wquant *q, lb_op_ctx *c, float *signs) {
  float *eff = c->scratch + 2 * padded(q->numel);
  int64_t n = num_scales(&q->cfg.spec, &q->shape);
  const float *stored = c->param[q->ps];
  for (int64_t i = 0; i < n; i++) eff[i] = lb_qscale_effective(&q->cfg.spec, stored[i], signs ? &signs[i] : NULL);
  return eff;
}


lb_status lb_wquant_declare(lb_graph *g, int node, int ia_base, const char *op, lb_shape wshape) {
  lb_node *n = &g->nodes[node];
  lb_qcfg cfg;
  if (lb_qcfg_unpack(n->ia + ia_base, n->fa, &cfg, NULL) || lb_qspec_validate(&cfg.spec, &wshape))
    return lb_fail(LB_ERR_ARG, "node '%s' (%s): weight quantizer: %s", n->name, op, lb_last_error());
  if (cfg.est == LB_EST_LOG && (cfg.spec.gran != LB_QGRAN_TENSOR || cfg.spec.bits != 8))
    return lb_fail(LB_ERR_ARG, "node '%s' (%s): the log weight quantizer is NNIE's 8-bit grid with one c per tensor",
                   n->name, op);
  int learn_scale = cfg.est == LB_EST_LSQ || cfg.est == LB_EST_LSQ_PLUS;
  int learn_zero = cfg.est == LB_EST_LSQ_PLUS && !cfg.spec.symmetric;
  lb_shape ps = lb_shape1(num_scales(&cfg.spec, &wshape));
  lb_status s = lb_graph_declare_param(g, node, "w_scale", ps, learn_scale, 0, LB_INIT_ONES, 1);
  if (!s) s = lb_graph_declare_param(g, node, "w_zero", ps, learn_zero, 0, LB_INIT_ZEROS, 1);
  return s;
}

void lb_wquant_get(const lb_node *n, int ia_base, lb_shape wshape, int has_bias, lb_wquant *q) {
  memset(q, 0, sizeof *q);
  (void)lb_qcfg_unpack(n->ia + ia_base, n->fa, &q->cfg, &q->enabled); /* checked by infer */
  q->shape = wshape;
  q->numel = lb_shape_numel(&wshape);
  q->ps = has_bias ? 2 : 1;
}

static int is_dorefa(const lb_wquant *q) { return q->cfg.est == LB_EST_DOREFA || q->cfg.est == LB_EST_PACT; }

/* max |tanh w| over the tensor (the order of a max does not change its value). */
static float tanh_absmax(const float *w, int64_t n) {
  float m = 0.0f;
  for (int64_t i = 0; i < n; i++) {
    float t = fabsf(tanhf(w[i]));
    if (t > m) m = t;
  }
  return m;
}

/* mean |w|, summed in double in index order: the same bits for any thread count. */
static float abs_mean(const float *w, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; i++) s += fabs((double)w[i]);
  return (float)(s / (double)n);
}

/* DoReFa weights, k = bits: k > 1: wq = 2*Q01(tanh(w)/(2m) + 1/2) - 1, m = max|tanh w|,
 * Q01(r) = rint(r*(2^k-1))/(2^k-1); k = 1: wq = mean|w| * sign(w), sign(0) = +1. One m (one
 * mean) per tensor whatever the granularity. All-zero weights (m = 0) take r = 1/2. */
static void dorefa_forward(const lb_wquant *q, const float *w, float *wq) {
  int64_t n = q->numel;
  if (q->cfg.spec.bits == 1) {
    float e = abs_mean(w, n);
    for (int64_t i = 0; i < n; i++) wq[i] = w[i] < 0.0f ? -e : e;
    return;
  }
  float levels = (float)((1 << q->cfg.spec.bits) - 1);
  float m = tanh_absmax(w, n);
  for (int64_t i = 0; i < n; i++) {
    float r = m > 0.0f ? tanhf(w[i]) / (2.0f * m) + 0.5f : 0.5f;
    wq[i] = 2.0f * (rintf(r * levels) / levels) - 1.0f;
  }
}

/* Straight through Q01 with m held constant (the usual implementation, as MQBench's and
 * DoReFa's code through stop_gradient): d wq / d w = (1 - t^2) / m. With m = 0 (all weights
 * zero, t = 0) the gradient passes unchanged, so training can leave that point.
 * k = 1: wq = E * sign(w / E) with E = mean|w| held constant and sign passed straight through
 * (DoReFa's reference code); the factors E and 1/E cancel, so dw += dwq. */
static void dorefa_backward(const lb_wquant *q, const float *w, const float *dwq, float *dw) {
  int64_t n = q->numel;
  float m = q->cfg.spec.bits == 1 ? 0.0f : tanh_absmax(w, n);
  if (m == 0.0f) {
    for (int64_t i = 0; i < n; i++) dw[i] += dwq[i];
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    float t = tanhf(w[i]);
    dw[i] += dwq[i] * ((1.0f - t * t) / m);
  }
}

const float *lb_wquant_forward(const lb_wquant *q, lb_op_ctx *c) { return lb_wquant_forward_w(q, c, c->param[0]); }

const float *lb_wquant_forward_w(const lb_wquant *q, lb_op_ctx *c, const float *w) {
  if (!q->enabled) return w;
  float *wq = c->scratch;
  if (q->cfg.est == LB_EST_LOG) {
    float *cs = &c->param[q->ps][0];
    if (c->training) {
      float m = lb_logq_absmax(q->numel, w);
      if (m > *cs || isnan(*cs)) *cs = m; /* the running max: never decreases */
    }
    lb_logq_forward(q->numel, *cs > FLT_EPSILON ? *cs : FLT_EPSILON, w, wq);
  } else if (is_dorefa(q))
    dorefa_forward(q, w, wq);
  else
    lb_fq_forward(&q->cfg.spec, &q->shape, w, effective_scales(q, c, NULL), c->param[q->ps + 1], wq);
  return wq;
}

float *lb_wquant_dwq(const lb_wquant *q, lb_op_ctx *c) {
  if (!q->enabled) return c->dparam[0];
  if (!c->dparam[0] && !c->dparam[q->ps] && !c->dparam[q->ps + 1]) return NULL;
  float *dwq = c->scratch + padded(q->numel);
  memset(dwq, 0, (size_t)q->numel * sizeof *dwq);
  return dwq;
}

void lb_wquant_backward(const lb_wquant *q, lb_op_ctx *c, const float *dwq) {
  if (!q->enabled || !dwq) return; /* disabled: the kernel accumulated into dw itself */
  lb_wquant_backward_w(q, c, c->param[0], dwq, c->dparam[0]);
}

float *lb_wquant_dwq_scratch(const lb_wquant *q, lb_op_ctx *c) {
  float *dwq = c->scratch + padded(q->numel);
  memset(dwq, 0, (size_t)q->numel * sizeof *dwq);
  return dwq;
}

void lb_wquant_backward_w(const lb_wquant *q, lb_op_ctx *c, const float *w, const float *dwq, float *dw) {
  if (!dwq) return;
  if (!q->enabled) {
    if (dw)
      for (int64_t i = 0; i < q->numel; i++) dw[i] += dwq[i];
    return;
  }
  const lb_qspec *spec = &q->cfg.spec;
  const float *zero = c->param[q->ps + 1];
  switch (q->cfg.est) {
    case LB_EST_STE:
      if (dw) lb_fq_backward_ste(spec, &q->shape, w, effective_scales(q, c, NULL), zero, dwq, dw);
      break;
    case LB_EST_LSQ:
    case LB_EST_LSQ_PLUS: {
      /* the gradient of each effective scale lands in a temporary and reaches the stored
       * w_scale through d|s|/ds; dparam is NULL for what is not trainable (w_zero except for
       * LSQ+ on affine specs) */
      int64_t n = num_scales(spec, &q->shape);
      float *signs = c->scratch + 2 * padded(q->numel) + padded(q->shape.d[0]);
      const float *eff = effective_scales(q, c, signs);
      float *dstored = c->dparam[q->ps], *dscale = NULL;
      if (dstored) {
        dscale = signs + padded(q->shape.d[0]);
        memset(dscale, 0, (size_t)n * sizeof *dscale);
      }
      float *dzero = q->cfg.est == LB_EST_LSQ_PLUS ? c->dparam[q->ps + 1] : NULL;
      lb_fq_backward_lsq(spec, &q->shape, w, eff, zero, dwq, lb_lsq_grad_factor(spec, &q->shape), dw, dscale, dzero);
      for (int64_t i = 0; dstored && i < n; i++) dstored[i] += signs[i] * dscale[i];
      break;
    }
    case LB_EST_PACT:
    case LB_EST_DOREFA:
      if (dw) dorefa_backward(q, w, dwq, dw);
      break;
    case LB_EST_LOG:
      lb_logq_backward_ste(q->numel, dwq, dw);
      break;
    default:
      break;
  }
}
