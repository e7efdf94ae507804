/* qconvbn2d: a bias-free conv2d and its batchnorm with BN folded into the quantized weight
 * (qgraph.h: strategies FREEZE and PYTORCH, attribute layout, parameters).
 *
 * With f = gamma/sigma_run per output channel (sigma_run = sqrt(running_var + eps)) and
 * y0 = conv(x, FQ(w*f)):
 *   FREEZE, and PYTORCH in evaluation: y = y0 + (beta - f*running_mean)
 *   PYTORCH in training:  z = y0/f, y = BN_train(z) (batch statistics, running stats updated)
 * Gradients flow to w, gamma (through f and, for PYTORCH, through the BN), beta, the quantizer
 * and x. f and 1/sigma_run are saved in the node's state by forward, because PYTORCH's training
 * forward updates running_var before backward runs.
 * Scratch: [wq | dwq | w*f | d(w*f) | d(y0) (PYTORCH) | the conv kernel's]; state:
 * [f | 1/sigma_run | BN save_mean | BN save_invstd | z (PYTORCH)]. */
#include <math.h>
#include <string.h>

#include "graph/ops.h"
#include "lowbit/nn.h"
#include "quant/qops.h"
#include "quant/weight_quant.h"

enum { P_W = 0, P_GAMMA = 3, P_BETA, P_MEAN, P_VAR }; /* parameter order (w_scale, w_zero at 1, 2) */

#define PAD 16 /* floats: 64 bytes, so every scratch part keeps the arena's alignment */
static size_t padded(int64_t n) { return (size_t)((n + PAD - 1) / PAD * PAD); }

static lb_shape cbn_wshape(const lb_conv2d_desc *d) { return lb_shape4(d->k, d->c / d->groups, d->r, d->s); }

static int strategy(const lb_node *n) { return (int)n->fa[LB_QCONVBN_STRATEGY]; }

static lb_status cbn_infer(lb_graph *g, int idx) {
  lb_node *n = &g->nodes[idx];
  const lb_shape *in = lb_in_shape(g, n, 0);
  if (in->ndim != 3) return lb_fail(LB_ERR_SHAPE, "node '%s' (qconvbn2d): input must be (C,H,W)", n->name);
  lb_conv2d_desc d = lb_node_conv_desc(n, in, 1);
  if (lb_conv2d_init(&d)) return lb_fail(LB_ERR_SHAPE, "node '%s' (qconvbn2d): %s", n->name, lb_last_error());
  if (n->ia[LB_CONV_BIAS]) return lb_fail(LB_ERR_ARG, "node '%s' (qconvbn2d): the conv must have no bias", n->name);
  float st = n->fa[LB_QCONVBN_STRATEGY];
  if (st != (float)LB_BN_FOLD_FREEZE && st != (float)LB_BN_FOLD_PYTORCH)
    return lb_fail(LB_ERR_ARG, "node '%s' (qconvbn2d): strategy %g is not freeze (%d) or fold (%d)", n->name, (double)st,
                   LB_BN_FOLD_FREEZE, LB_BN_FOLD_PYTORCH);
  lb_bn_desc bn = {.n = 2, .c = d.k, .hw = d.oh * d.ow, .eps = n->fa[LB_QCONVBN_EPS], .momentum = n->fa[LB_QCONVBN_MOMENTUM]};
  if (lb_bn_init(&bn)) return lb_fail(LB_ERR_ARG, "node '%s' (qconvbn2d): %s", n->name, lb_last_error());
  n->shape = lb_shape3(d.k, d.oh, d.ow);
  int64_t fan = (int64_t)(d.c / d.groups) * d.r * d.s;
  lb_shape ch = lb_shape1(d.k);
  lb_status s = lb_graph_declare_param(g, idx, "weight", cbn_wshape(&d), 1, 1, LB_INIT_KAIMING_NORMAL, fan);
  if (!s) s = lb_wquant_declare(g, idx, LB_QCONV_IA, "qconvbn2d", cbn_wshape(&d));
  if (!s) s = lb_graph_declare_param(g, idx, "bn_weight", ch, 1, 0, LB_INIT_ONES, 0);
  if (!s) s = lb_graph_declare_param(g, idx, "bn_bias", ch, 1, 0, LB_INIT_ZEROS, 0);
  if (!s) s = lb_graph_declare_param(g, idx, "bn_running_mean", ch, 0, 0, LB_INIT_ZEROS, 0);
  if (!s) s = lb_graph_declare_param(g, idx, "bn_running_var", ch, 0, 0, LB_INIT_ONES, 0);
  return s;
}

static size_t cbn_aux(const lb_graph *g, const lb_node *n, int batch) {
  (void)g;
  size_t k = (size_t)n->shape.d[0];
  size_t z = strategy(n) == LB_BN_FOLD_PYTORCH ? (size_t)batch * (size_t)lb_node_numel(n) : 0;
  return (4 * k + z) * sizeof(float);
}

static size_t cbn_scratch(const lb_graph *g, const lb_node *n, int batch) {
  lb_conv2d_desc d = lb_node_conv_desc(n, lb_in_shape(g, n, 0), batch);
  lb_shape ws = cbn_wshape(&d);
  int64_t wn = lb_shape_numel(&ws);
  size_t dy0 = strategy(n) == LB_BN_FOLD_PYTORCH ? padded((int64_t)batch * lb_node_numel(n)) : 0;
  return lb_wquant_scratch_floats(wn, d.k) + 2 * padded(wn) + dy0 + lb_conv2d_scratch_floats(&d);
}

/* Everything one forward or backward call needs. */
typedef struct cbn_call {
  lb_conv2d_desc d;
  lb_bn_desc bn;
  lb_wquant q;
  int64_t per;                        /* weights per output channel */
  float *wf, *dwf, *dy0, *kscratch;   /* scratch */
  float *f, *inv_sigma, *save_mean, *save_invstd, *z; /* state */
} cbn_call;

static cbn_call cbn_setup(const lb_node *n, const lb_op_ctx *c) {
  cbn_call k;
  k.d = lb_node_conv_desc(n, c->in_shape[0], c->batch);
  lb_wquant_get(n, LB_QCONV_IA, cbn_wshape(&k.d), 0, &k.q);
  k.bn = (lb_bn_desc){.n = c->batch, .c = k.d.k, .hw = k.d.oh * k.d.ow, .eps = n->fa[LB_QCONVBN_EPS],
                      .momentum = n->fa[LB_QCONVBN_MOMENTUM]};
  k.per = k.q.numel / k.d.k;
  k.wf = c->scratch + lb_wquant_scratch_of(&k.q);
  k.dwf = k.wf + padded(k.q.numel);
  k.dy0 = k.dwf + padded(k.q.numel);
  k.kscratch = k.dy0 + (strategy(n) == LB_BN_FOLD_PYTORCH ? padded((int64_t)c->batch * lb_node_numel(n)) : 0);
  k.f = c->aux;
  k.inv_sigma = k.f + k.d.k;
  k.save_mean = k.inv_sigma + k.d.k;
  k.save_invstd = k.save_mean + k.d.k;
  k.z = k.save_invstd + k.d.k;
  return k;
}

/* w*f into k->wf, with f as saved in the state. */
static void fold_weight(const cbn_call *k, const float *w) {
  for (int j = 0; j < k->d.k; j++)
    for (int64_t i = 0; i < k->per; i++) k->wf[j * k->per + i] = w[j * k->per + i] * k->f[j];
}

static void cbn_forward(const lb_node *n, lb_op_ctx *c) {
  cbn_call k = cbn_setup(n, c);
  const float *gamma = c->param[P_GAMMA], *beta = c->param[P_BETA];
  float *mean = c->param[P_MEAN], *var = c->param[P_VAR];
  for (int j = 0; j < k.d.k; j++) {
    k.inv_sigma[j] = 1.0f / sqrtf(var[j] + k.bn.eps);
    k.f[j] = gamma[j] * k.inv_sigma[j];
  }
  fold_weight(&k, c->param[P_W]);
  const float *wq = lb_wquant_forward_w(&k.q, c, k.wf);
  lb_conv2d_forward(&k.d, c->in[0], wq, NULL, c->out, k.kscratch);
  int64_t hw = k.bn.hw;
  if (strategy(n) == LB_BN_FOLD_PYTORCH && c->training) {
    for (int b = 0; b < c->batch; b++)
      for (int j = 0; j < k.d.k; j++) {
        int64_t o = ((int64_t)b * k.d.k + j) * hw;
        for (int64_t i = 0; i < hw; i++) k.z[o + i] = c->out[o + i] / k.f[j];
      }
    lb_bn_forward_train(&k.bn, k.z, gamma, beta, mean, var, c->out, k.save_mean, k.save_invstd);
    return;
  }
  for (int b = 0; b < c->batch; b++)
    for (int j = 0; j < k.d.k; j++) {
      float bias = beta[j] - k.f[j] * mean[j];
      float *y = c->out + ((int64_t)b * k.d.k + j) * hw;
      for (int64_t i = 0; i < hw; i++) y[i] += bias;
    }
}

static void cbn_backward(const lb_node *n, lb_op_ctx *c) {
  cbn_call k = cbn_setup(n, c);
  const float *w = c->param[P_W], *gamma = c->param[P_GAMMA], *mean = c->param[P_MEAN];
  float *dgamma = c->dparam[P_GAMMA], *dbeta = c->dparam[P_BETA];
  int64_t hw = k.bn.hw;
  fold_weight(&k, w);
  const float *wq = lb_wquant_forward_w(&k.q, c, k.wf); /* the scratch does not survive other nodes */
  const float *dy0 = c->dout; /* d(loss)/d(conv output) */
  if (strategy(n) == LB_BN_FOLD_PYTORCH) {
    memset(k.dy0, 0, (size_t)c->batch * (size_t)lb_node_numel(n) * sizeof(float));
    lb_bn_backward(&k.bn, k.z, gamma, k.save_mean, k.save_invstd, c->dout, k.dy0, dgamma, dbeta);
    /* z = y0/f: dy0 = dz/f, and d/df of z gives -sum(dz*z)/f, into dgamma through df/dgamma */
    for (int j = 0; j < k.d.k; j++) {
      double s = 0.0;
      for (int b = 0; b < c->batch; b++) {
        int64_t o = ((int64_t)b * k.d.k + j) * hw;
        for (int64_t i = 0; i < hw; i++) {
          s += (double)k.dy0[o + i] * k.z[o + i];
          k.dy0[o + i] /= k.f[j];
        }
      }
      if (dgamma) dgamma[j] += (float)(-s / k.f[j] * k.inv_sigma[j]);
    }
    dy0 = k.dy0;
  } else {
    /* y = y0 + beta - f*mean: dbeta = sum dy, dgamma gets -mean/sigma * sum dy */
    for (int j = 0; j < k.d.k; j++) {
      double s = 0.0;
      for (int b = 0; b < c->batch; b++) {
        const float *dy = c->dout + ((int64_t)b * k.d.k + j) * hw;
        for (int64_t i = 0; i < hw; i++) s += dy[i];
      }
      if (dbeta) dbeta[j] += (float)s;
      if (dgamma) dgamma[j] += (float)(-s * mean[j] * k.inv_sigma[j]);
    }
  }
  float *dwq = lb_wquant_dwq_scratch(&k.q, c);
  lb_conv2d_backward(&k.d, c->in[0], wq, dy0, c->din[0], dwq, NULL, k.kscratch);
  memset(k.dwf, 0, (size_t)k.q.numel * sizeof(float));
  lb_wquant_backward_w(&k.q, c, k.wf, dwq, k.dwf);
  /* w*f: dw = d(wf)*f, df = sum d(wf)*w, dgamma += df/sigma */
  float *dw = c->dparam[P_W];
  for (int j = 0; j < k.d.k; j++) {
    double s = 0.0;
    for (int64_t i = 0; i < k.per; i++) {
      int64_t e = j * k.per + i;
      s += (double)k.dwf[e] * w[e];
      if (dw) dw[e] += k.dwf[e] * k.f[j];
    }
    if (dgamma) dgamma[j] += (float)(s * k.inv_sigma[j]);
  }
}

static int64_t cbn_macs(const lb_graph *g, const lb_node *n) {
  const lb_shape *in = lb_in_shape(g, n, 0);
  return lb_shape_numel(&n->shape) * (in->d[0] / n->ia[LB_CONV_GROUPS]) * n->ia[LB_CONV_R] * n->ia[LB_CONV_S];
}

const lb_op_def lb_op_qconvbn2d = {
    .name = "qconvbn2d", .min_inputs = 1, .max_inputs = 1, .infer = cbn_infer, .aux_bytes = cbn_aux,
    .scratch_floats = cbn_scratch, .forward = cbn_forward, .backward = cbn_backward, .macs = cbn_macs,
};
