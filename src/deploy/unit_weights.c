/* Per output channel constants of a conv/linear unit: weight codes, bias, multiplier, sign.
 *
 * Weight codes are what the node's weight quantizer computes, operation for operation:
 * q = clamp(rint(w * (1/s)) + zp, qmin, qmax) with s = lb_qscale_effective(spec, w_scale[k]) and
 * zp = clamp(rint(w_zero[k])) (qconvbn2d quantizes its folded weight w * gamma/sqrt(var + eps),
 * computed in float as the op does); binary weights are sign(w), -1/+1, in a 2-bit container
 * (the 1-bit XNOR kernels need binary activations, which are not lowered). Unsigned codes are
 * stored shifted by half the container
 * (q - 2^(cb-1), zp - 2^(cb-1), cb = 2, 4 or 8 bits): (q - zp) is unchanged and every weight is
 * a signed container value.
 *
 * Folding, per channel k, with the input grid s_x and an optional batchnorm after the core
 * (a = gamma/sqrt(var + eps), c = beta - mean*a; a = 1, c = 0 without one) and the conv bias b
 * (qconvbn2d: beta - f*mean, the op's eval bias):
 *   real output = a * (s_x*s_w*acc + b) + c = A * (acc + B),
 *   A = a*s_x*s_w,  B = (b + c/a) / (s_x*s_w),  bias_q = rint(B)   (in double)
 * so the unit output is requant(sign(A) * (acc * M + bias_p), |A|/s_y) with the bias in product
 * units, bias_p = bias_q * M + bfrac, bfrac = rint((B - bias_q) * M) (ikernel.h), and the graph
 * output is fmaf((float)acc, (float)A, (float)(A * B)). A negative A (negative gamma) is carried as a sign, because
 * the requantization multiplier is positive. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/units.h"
#include "lowbit/ikernel.h"

static const float *param(const lb_graph *g, int node, int i) {
  return g->values + g->params[g->nodes[node].first_param + i].offset;
}

void lb_uweights_free(lb_uweights *w) {
  free(w->codes);
  free(w->wzp);
  free(w->bias_q);
  free(w->bfrac);
  free(w->mult);
  free(w->shift);
  free(w->neg);
  free(w->scale);
  free(w->fbias);
  free(w->bound);
  memset(w, 0, sizeof *w);
}

static int container_bits(int bits) { return bits <= 2 ? 2 : bits <= 4 ? 4 : 8; }

lb_status lb_unit_weights(const lb_graph *g, const lb_units *us, int unit, lb_uweights *w) {
  memset(w, 0, sizeof *w);
  const lb_unit *u = &us->u[unit];
  const lb_node *n = &g->nodes[u->core];
  int is_lin = !strcmp(n->op->name, "qlinear"), is_cbn = !strcmp(n->op->name, "qconvbn2d");
  int has_bias = is_lin ? n->ia[LB_LINEAR_BIAS] : is_cbn ? 0 : n->ia[LB_CONV_BIAS];
  lb_qcfg cfg;
  int enabled;
  if (lb_qcfg_unpack(n->ia + (is_lin ? LB_QLINEAR_IA : LB_QCONV_IA), n->fa, &cfg, &enabled))
    return lb_fail(LB_ERR_ARG, "node '%s': %s", n->name, lb_last_error());
  if (!enabled)
    return lb_fail(LB_ERR_STATE, "node '%s': the weight quantizer is disabled (calibrate before deploying)", n->name);
  if (cfg.est != LB_EST_STE && cfg.est != LB_EST_LSQ && cfg.est != LB_EST_LSQ_PLUS)
    return lb_fail(LB_ERR_UNSUPPORTED, "node '%s': %s weights are not lowered (ste, lsq and lsq+ grids are)", n->name,
                   lb_estimator_name(cfg.est));
  if ((cfg.spec.bits < 2 && !cfg.spec.binary) || cfg.spec.bits > 8)
    return lb_fail(LB_ERR_UNSUPPORTED,
                   "node '%s': %d-bit %s weights; the engine runs binary (+-1) and 2..8-bit uniform weights", n->name,
                   cfg.spec.bits, cfg.spec.is_signed ? "signed" : "unsigned");
  if (cfg.spec.gran == LB_QGRAN_GROUP)
    return lb_fail(LB_ERR_UNSUPPORTED, "node '%s': group-wise weight scales are not lowered", n->name);
  const lb_param *wp = &g->params[n->first_param];
  int k = (int)wp->shape.d[0];
  int64_t per = wp->numel / k;
  int ps = has_bias ? 2 : 1;
  const float *wv = param(g, u->core, 0), *wsc = param(g, u->core, ps), *wze = param(g, u->core, ps + 1);
  const lb_qgrid *x = &us->u[u->operand[0]].y;
  int32_t qmin, qmax;
  lb_qspec_range(&cfg.spec, &qmin, &qmax);
  int cb = container_bits(cfg.spec.bits);
  int32_t shift = cfg.spec.is_signed ? 0 : 1 << (cb - 1);
  w->k = k;
  w->per = per;
  w->wbits = cb;
  w->w_signed = 1;
  w->codes = malloc((size_t)wp->numel);
  w->wzp = calloc((size_t)k, sizeof *w->wzp);
  w->bias_q = calloc((size_t)k, sizeof *w->bias_q);
  w->bfrac = calloc((size_t)k, sizeof *w->bfrac);
  w->mult = calloc((size_t)k, sizeof *w->mult);
  w->shift = calloc((size_t)k, sizeof *w->shift);
  w->neg = calloc((size_t)k, sizeof *w->neg);
  w->scale = calloc((size_t)k, sizeof *w->scale);
  w->fbias = calloc((size_t)k, sizeof *w->fbias);
  w->bound = calloc((size_t)k, sizeof *w->bound);
  if (!w->codes || !w->wzp || !w->bias_q || !w->bfrac || !w->mult || !w->shift || !w->neg || !w->scale || !w->fbias || !w->bound) {
    lb_uweights_free(w);
    return lb_fail(LB_ERR_NOMEM, "deploy: out of memory");
  }
  double maxx = (double)(x->zp - x->qmin > x->qmax - x->zp ? x->zp - x->qmin : x->qmax - x->zp);
  lb_status st = LB_OK;
  for (int j = 0; j < k && !st; j++) {
    int ci = cfg.spec.gran == LB_QGRAN_CHANNEL ? j : 0;
    float sw = lb_qscale_effective(&cfg.spec, wsc[ci], NULL), inv = 1.0f / sw;
    float zpf = 0.0f;
    if (!cfg.spec.symmetric) {
      zpf = rintf(wze[ci]);
      zpf = zpf < (float)qmin ? (float)qmin : zpf > (float)qmax ? (float)qmax : zpf;
    }
    float f = 1.0f, bias = has_bias ? param(g, u->core, 1)[j] : 0.0f;
    if (is_cbn) { /* as op_qconvbn2d.c */
      const float *gamma = param(g, u->core, 3), *beta = param(g, u->core, 4), *mean = param(g, u->core, 5),
                  *var = param(g, u->core, 6);
      float inv_sigma = 1.0f / sqrtf(var[j] + n->fa[LB_QCONVBN_EPS]);
      f = gamma[j] * inv_sigma;
      bias = beta[j] - f * mean[j];
    }
    double sum_abs = 0.0;
    for (int64_t i = 0; i < per; i++) {
      float wf = is_cbn ? wv[j * per + i] * f : wv[j * per + i];
      float r;
      if (cfg.spec.binary) {
        r = wf >= 0.0f ? 1.0f : -1.0f; /* binary_quant.c */
      } else {
        r = rintf(wf * inv) + zpf;
        r = r < (float)qmin ? (float)qmin : r > (float)qmax ? (float)qmax : r;
      }
      w->codes[j * per + i] = (int8_t)((int32_t)r - shift);
      sum_abs += fabs((double)r - zpf);
    }
    w->wzp[j] = (int32_t)zpf - shift;
    if (w->wzp[j]) w->any_wzp = 1;
    double a = 1.0, c = 0.0;
    if (u->bn >= 0) {
      const float *gm = param(g, u->bn, 0), *bt = param(g, u->bn, 1), *mu = param(g, u->bn, 2),
                  *vr = param(g, u->bn, 3);
      a = (double)gm[j] / sqrt((double)vr[j] + (double)g->nodes[u->bn].fa[LB_BN_EPS]);
      c = (double)bt[j] - (double)mu[j] * a;
    }
    double sxw = (double)x->scale * (double)sw, A = a * sxw;
    if (!(fabs(A) > 0.0) || !isfinite(A)) {
      st = lb_fail(LB_ERR_UNSUPPORTED, "node '%s' channel %d: the folded scale is %g (a zero batchnorm gamma?)",
                   n->name, j, A);
      break;
    }
    double B = ((double)bias + c / a) / sxw, bq = rint(B);
    w->bound[j] = sum_abs * maxx;
    if (!(fabs(bq) + w->bound[j] < 2147483647.0)) {
      st = lb_fail(LB_ERR_UNSUPPORTED,
                   "node '%s' channel %d: the int32 accumulator can overflow (|bias_q| %.0f + max|acc| %.0f >= 2^31)",
                   n->name, j, fabs(bq), w->bound[j]);
      break;
    }
    w->bias_q[j] = (int32_t)bq;
    w->neg[j] = A < 0.0;
    if (w->neg[j]) w->any_neg = 1;
    w->scale[j] = (float)A;
    w->fbias[j] = (float)(A * B); /* a * b + c: the float output's bias, kept whole */
    if (u->kind != LB_U_OUT_ACC && u->kind != LB_U_FLOAT_ACC) {
      int sh;
      double m = fabs(A) / (double)u->y.scale;
      if (lb_requant_multiplier(m, &w->mult[j], &sh)) {
        st = lb_fail(LB_ERR_UNSUPPORTED, "node '%s' channel %d: requantization multiplier %g cannot be represented",
                     n->name, j, m);
        break;
      }
      w->shift[j] = sh;
      /* the rest of the bias in product units: |B - bias_q| <= 1/2 keeps it below 2^30 */
      w->bfrac[j] = (int32_t)rint((B - bq) * (double)w->mult[j]);
    }
  }
  if (!st && w->any_neg && lb_unit_first_pool(g, u) >= 0)
    st = lb_fail(LB_ERR_UNSUPPORTED, "node '%s': a negative batchnorm scale before max pool '%s' is not lowered",
                 n->name, g->nodes[lb_unit_first_pool(g, u)].name);
  if (st) lb_uweights_free(w);
  return st;
}
