/* qconvbn2d: a bias-free conv2d and its batchnorm with BN folded into the quantized weight
 * (qgraph.h: strategies FREEZE, PYTORCH, NAIVE, WHITEPAPER, attribute layout, parameters).
 *
 * With f = gamma/sigma_run per output channel (sigma_run = sqrt(running_var + eps)) and
 * y0 = conv(x, FQ(w*f)):
 *   every strategy in evaluation, FREEZE in training: y = y0 + (beta - f*running_mean)
 *   PYTORCH in training:  z = y0/f, y = BN_train(z) (batch statistics, running stats updated)
 *   NAIVE in training:    z = conv(x, w) gives mu_B, sigma_B (running stats updated); f is
 *                         gamma/sigma_B, y = y0 + (beta - f*mu_B)
 *   WHITEPAPER in training: z as NAIVE, f from the running statistics,
 *                         y = y0 * sigma_run/sigma_B + (beta - gamma*mu_B/sigma_B)
 * Gradients flow to w, gamma (through f and, for PYTORCH, through the BN), beta, the quantizer
 * and x, and for NAIVE/WHITEPAPER through mu_B and sigma_B back into z = conv(x, w). f and
 * 1/sigma_run are saved in the node's state by forward, because training forwards update
 * running_var before backward runs.
 * Scratch: [wq | dwq | w*f | d(w*f) | d(y0) (batch strategies) | ones, zeros | the conv kernel's];
 * state: [f | 1/sigma_run | batch mean | batch 1/sigma | z (batch strategies) | y0 (WHITEPAPER)].
 * In NAIVE the saved "1/sigma_run" slot holds 1/sigma_B, the sigma f was made with. */
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
/* Strategies that keep an output-sized tensor between forward and backward (z), and need an
 * output-sized gradient buffer. */
static int batch_stats(const lb_node *n) { return strategy(n) != LB_BN_FOLD_FREEZE; }

static lb_status cbn_infer(lb_graph *g, int idx) {
  lb_node *n = &g->nodes[idx];
  const lb_shape *in = lb_in_shape(g, n, 0);
  if (in->ndim != 3) return lb_fail(LB_ERR_SHAPE, "node '%s' (qconvbn2d): input must be (C,H,W)", n->name);
  lb_conv2d_desc d = lb_node_conv_desc(n, in, 1);
  if (lb_conv2d_init(&d)) return lb_fail(LB_ERR_SHAPE, "node '%s' (qconvbn2d): %s", n->name, lb_last_error());
  if (n->ia[LB_CONV_BIAS]) return lb_fail(LB_ERR_ARG, "node '%s' (qconvbn2d): the conv must have no bias", n->name);
  float st = n->fa[LB_QCONVBN_STRATEGY];
  if (st != (float)LB_BN_FOLD_FREEZE && st != (float)LB_BN_FOLD_PYTORCH && st != (float)LB_BN_FOLD_NAIVE &&
      st != (float)LB_BN_FOLD_WHITEPAPER)
    return lb_fail(LB_ERR_ARG, "node '%s' (qconvbn2d): strategy %g is not freeze (%d), fold (%d), naive (%d) or whitepaper (%d)",
                   n->name, (double)st, LB_BN_FOLD_FREEZE, LB_BN_FOLD_PYTORCH, LB_BN_FOLD_NAIVE, LB_BN_FOLD_WHITEPAPER);
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
  size_t out = (size_t)batch * (size_t)lb_node_numel(n);
  size_t z = batch_stats(n) ? out : 0, y0 = strategy(n) == LB_BN_FOLD_WHITEPAPER ? out : 0;
  return (4 * k + z + y0) * sizeof(float);
}

static size_t cbn_scratch(const lb_graph *g, const lb_node *n, int batch) {
  lb_conv2d_desc d = lb_node_conv_desc(n, lb_in_shape(g, n, 0), batch);
  lb_shape ws = cbn_wshape(&d);
  int64_t wn = lb_shape_numel(&ws);
  size_t dy0 = batch_stats(n) ? padded((int64_t)batch * lb_node_numel(n)) : 0;
  return lb_wquant_scratch_floats(wn, d.k) + 2 * padded(wn) + dy0 + 2 * padded(d.k) + lb_conv2d_scratch_floats(&d);
}

/* Everything one forward or backward call needs. */
typedef struct cbn_call {
  lb_conv2d_desc d;
  lb_bn_desc bn;
  lb_wquant q;
  int64_t per;                        /* weights per output channel */
  float *wf, *dwf, *dy0, *ones, *zeros, *kscratch; /* scratch */
  float *f, *inv_sigma, *save_mean, *save_invstd, *z, *y0; /* state */
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
  int64_t out = (int64_t)c->batch * lb_node_numel(n);
  k.ones = k.dy0 + (batch_stats(n) ? padded(out) : 0);
  k.zeros = k.ones + padded(k.d.k);
  k.kscratch = k.zeros + padded(k.d.k);
  k.f = c->aux;
  k.inv_sigma = k.f + k.d.k;
  k.save_mean = k.inv_sigma + k.d.k;
  k.save_invstd = k.save_mean + k.d.k;
  k.z = k.save_invstd + k.d.k;
  k.y0 = k.z + out;
  return k;
}

/* w*f into k->wf, with f as saved in the state. */
static void fold_weight(const cbn_call *k, const float *w) {
  for (int j = 0; j < k->d.k; j++)
    for (int64_t i = 0; i < k->per; i++) k->wf[j * k->per + i] = w[j * k->per + i] * k->f[j];
}

/* The batch statistics of z = conv(x, w) (float weight) into k->save_mean / k->save_invstd, and
 * the running statistics updated from them exactly as a BN layer does (BN's own training
 * forward on z with gamma 1 and beta 0; its normalized output lands in out and is overwritten). */
static void batch_statistics(const cbn_call *k, const lb_op_ctx *c, const float *w, float *mean, float *var) {
  lb_conv2d_forward(&k->d, c->in[0], w, NULL, k->z, k->kscratch);
  for (int j = 0; j < k->d.k; j++) {
    k->ones[j] = 1.0f;
    k->zeros[j] = 0.0f;
  }
  lb_bn_forward_train(&k->bn, k->z, k->ones, k->zeros, mean, var, c->out, k->save_mean, k->save_invstd);
}

/* y[b, j, :] = y[b, j, :] * scale[j] + bias[j] (scale NULL: 1). */
static void channel_affine(const cbn_call *k, int batch, float *y, const float *scale, const float *bias) {
  int64_t hw = k->bn.hw;
  for (int b = 0; b < batch; b++)
    for (int j = 0; j < k->d.k; j++) {
      float *p = y + ((int64_t)b * k->d.k + j) * hw;
      float sc = scale ? scale[j] : 1.0f;
      for (int64_t i = 0; i < hw; i++) p[i] = scale ? p[i] * sc + bias[j] : p[i] + bias[j];
    }
}

static void cbn_forward(const lb_node *n, lb_op_ctx *c) {
  cbn_call k = cbn_setup(n, c);
  const float *gamma = c->param[P_GAMMA], *beta = c->param[P_BETA];
  float *mean = c->param[P_MEAN], *var = c->param[P_VAR];
  int st = c->training ? strategy(n) : LB_BN_FOLD_FREEZE; /* every strategy evaluates like FREEZE */
  for (int j = 0; j < k.d.k; j++) k.inv_sigma[j] = 1.0f / sqrtf(var[j] + k.bn.eps); /* before any update */
  if (st == LB_BN_FOLD_NAIVE || st == LB_BN_FOLD_WHITEPAPER) batch_statistics(&k, c, c->param[P_W], mean, var);
  if (st == LB_BN_FOLD_NAIVE)
    for (int j = 0; j < k.d.k; j++) k.inv_sigma[j] = k.save_invstd[j];
  for (int j = 0; j < k.d.k; j++) k.f[j] = gamma[j] * k.inv_sigma[j];
  fold_weight(&k, c->param[P_W]);
  const float *wq = lb_wquant_forward_w(&k.q, c, k.wf);
  lb_conv2d_forward(&k.d, c->in[0], wq, NULL, c->out, k.kscratch);
  int64_t hw = k.bn.hw;
  float bias[k.d.k], scale[k.d.k];
  switch (st) {
    case LB_BN_FOLD_PYTORCH:
      for (int b = 0; b < c->batch; b++)
        for (int j = 0; j < k.d.k; j++) {
          int64_t o = ((int64_t)b * k.d.k + j) * hw;
          for (int64_t i = 0; i < hw; i++) k.z[o + i] = c->out[o + i] / k.f[j];
        }
      lb_bn_forward_train(&k.bn, k.z, gamma, beta, mean, var, c->out, k.save_mean, k.save_invstd);
      return;
    case LB_BN_FOLD_NAIVE:
      for (int j = 0; j < k.d.k; j++) bias[j] = beta[j] - k.f[j] * k.save_mean[j];
      channel_affine(&k, c->batch, c->out, NULL, bias);
      return;
    case LB_BN_FOLD_WHITEPAPER:
      memcpy(k.y0, c->out, (size_t)c->batch * (size_t)lb_node_numel(n) * sizeof(float));
      for (int j = 0; j < k.d.k; j++) {
        scale[j] = k.save_invstd[j] / k.inv_sigma[j]; /* sigma_run / sigma_B */
        bias[j] = beta[j] - gamma[j] * k.save_mean[j] * k.save_invstd[j];
      }
      channel_affine(&k, c->batch, c->out, scale, bias);
      return;
    default:
      for (int j = 0; j < k.d.k; j++) bias[j] = beta[j] - k.f[j] * mean[j];
      channel_affine(&k, c->batch, c->out, NULL, bias);
  }
}

/* NAIVE / WHITEPAPER: gradients of the batch mean and sigma (dmu, dsigma per channel) reach z,
 * then x and w through z = conv(x, w): dz = dmu/M + dsigma * (z - mu) / (M * sigma). */
static void batch_stats_backward(const cbn_call *k, lb_op_ctx *c, const double *dmu, const double *dsigma) {
  int64_t hw = k->bn.hw;
  double m = (double)c->batch * (double)hw;
  for (int b = 0; b < c->batch; b++)
    for (int j = 0; j < k->d.k; j++) {
      int64_t o = ((int64_t)b * k->d.k + j) * hw;
      double a = dmu[j] / m, s = dsigma[j] * k->save_invstd[j] / m, mu = k->save_mean[j];
      for (int64_t i = 0; i < hw; i++) k->dy0[o + i] = (float)(a + s * ((double)k->z[o + i] - mu));
    }
  lb_conv2d_backward(&k->d, c->in[0], c->param[P_W], k->dy0, c->din[0], c->dparam[P_W], NULL, k->kscratch);
}

static void cbn_backward(const lb_node *n, lb_op_ctx *c) {
  cbn_call k = cbn_setup(n, c);
  const float *w = c->param[P_W], *gamma = c->param[P_GAMMA], *mean = c->param[P_MEAN];
  float *dgamma = c->dparam[P_GAMMA], *dbeta = c->dparam[P_BETA];
  int64_t hw = k.bn.hw;
  int st = strategy(n);
  int kk = k.d.k;
  double dmu[kk], dsigma[kk];
  fold_weight(&k, w);
  const float *wq = lb_wquant_forward_w(&k.q, c, k.wf); /* the scratch does not survive other nodes */
  const float *dy0 = c->dout; /* d(loss)/d(conv output) */
  if (st == LB_BN_FOLD_PYTORCH) {
    memset(k.dy0, 0, (size_t)c->batch * (size_t)lb_node_numel(n) * sizeof(float));
    lb_bn_backward(&k.bn, k.z, gamma, k.save_mean, k.save_invstd, c->dout, k.dy0, dgamma, dbeta);
    /* z = y0/f: dy0 = dz/f, and d/df of z gives -sum(dz*z)/f, into dgamma through df/dgamma */
    for (int j = 0; j < kk; j++) {
      double s = 0.0;
      for (int b = 0; b < c->batch; b++) {
        int64_t o = ((int64_t)b * kk + j) * hw;
        for (int64_t i = 0; i < hw; i++) {
          s += (double)k.dy0[o + i] * k.z[o + i];
          k.dy0[o + i] /= k.f[j];
        }
      }
      if (dgamma) dgamma[j] += (float)(-s / k.f[j] * k.inv_sigma[j]);
    }
    dy0 = k.dy0;
  } else {
    /* y = c*y0 + beta - gamma*mu*invstd, with (c, mu, invstd) = (1, running mean, 1/sigma_run)
     * for FREEZE, (1, mu_B, 1/sigma_B) for NAIVE, (sigma_run/sigma_B, mu_B, 1/sigma_B) for
     * WHITEPAPER. Per channel: sdy = sum dy; dbeta = sdy; dgamma gets -sdy*mu*invstd. */
    const float *mu = st == LB_BN_FOLD_FREEZE ? mean : k.save_mean;
    const float *invstd = st == LB_BN_FOLD_FREEZE ? k.inv_sigma : k.save_invstd;
    for (int j = 0; j < kk; j++) {
      double s = 0.0, sy0 = 0.0;
      for (int b = 0; b < c->batch; b++) {
        int64_t o = ((int64_t)b * kk + j) * hw;
        for (int64_t i = 0; i < hw; i++) {
          s += c->dout[o + i];
          if (st == LB_BN_FOLD_WHITEPAPER) sy0 += (double)c->dout[o + i] * k.y0[o + i];
        }
      }
      if (dbeta) dbeta[j] += (float)s;
      if (dgamma) dgamma[j] += (float)(-s * mu[j] * invstd[j]);
      double g = gamma[j], is = invstd[j];
      dmu[j] = -s * g * is;
      dsigma[j] = s * g * mu[j] * is * is;
      if (st == LB_BN_FOLD_WHITEPAPER) {
        double cj = (double)k.save_invstd[j] / k.inv_sigma[j];
        dsigma[j] -= sy0 * cj * is; /* d(sigma_run/sigma_B)/d sigma_B = -c/sigma_B */
      }
    }
    if (st == LB_BN_FOLD_WHITEPAPER) {
      for (int b = 0; b < c->batch; b++)
        for (int j = 0; j < kk; j++) {
          int64_t o = ((int64_t)b * kk + j) * hw;
          float cj = k.save_invstd[j] / k.inv_sigma[j];
          for (int64_t i = 0; i < hw; i++) k.dy0[o + i] = c->dout[o + i] * cj;
        }
      dy0 = k.dy0;
    }
  }
  float *dwq = lb_wquant_dwq_scratch(&k.q, c);
  lb_conv2d_backward(&k.d, c->in[0], wq, dy0, c->din[0], dwq, NULL, k.kscratch);
  memset(k.dwf, 0, (size_t)k.q.numel * sizeof(float));
  lb_wquant_backward_w(&k.q, c, k.wf, dwq, k.dwf);
  /* w*f: dw = d(wf)*f, df = sum d(wf)*w, dgamma += df/sigma (the sigma f was made with); for
   * NAIVE that sigma is sigma_B, so df also reaches sigma_B: dsigma -= df*gamma/sigma_B^2 */
  float *dw = c->dparam[P_W];
  for (int j = 0; j < kk; j++) {
    double s = 0.0;
    for (int64_t i = 0; i < k.per; i++) {
      int64_t e = j * k.per + i;
      s += (double)k.dwf[e] * w[e];
      if (dw) dw[e] += k.dwf[e] * k.f[j];
    }
    if (dgamma) dgamma[j] += (float)(s * k.inv_sigma[j]);
    if (st == LB_BN_FOLD_NAIVE) dsigma[j] -= s * gamma[j] * (double)k.inv_sigma[j] * k.inv_sigma[j];
  }
  if (st == LB_BN_FOLD_NAIVE || st == LB_BN_FOLD_WHITEPAPER) batch_stats_backward(&k, c, dmu, dsigma);
}

static int64_t cbn_macs(const lb_graph *g, const lb_node *n) {
  const lb_shape *in = lb_in_shape(g, n, 0);
  return lb_shape_numel(&n->shape) * (in->d[0] / n->ia[LB_CONV_GROUPS]) * n->ia[LB_CONV_R] * n->ia[LB_CONV_S];
}

const lb_op_def lb_op_qconvbn2d = {
    .name = "qconvbn2d", .min_inputs = 1, .max_inputs = 1, .infer = cbn_infer, .aux_bytes = cbn_aux,
    .scratch_floats = cbn_scratch, .forward = cbn_forward, .backward = cbn_backward, .macs = cbn_macs,
};
