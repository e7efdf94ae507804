/* The "fakequant" graph op: an activation quantizer, y = Q(x), same shape, with the forward and
 * gradient rule of its estimator (STE, LSQ, LSQ+, PACT, DoReFa, log; qgraph.h, qat.md 11a-11d
 * and 4.4).
 *
 * Attributes: the quantizer at ia[LB_FQ_IA..+4], init at fa[LB_FQ_FA] (lb_qcfg_pack).
 * Parameters, in this order, one value each (activations are per tensor):
 *   scale  trainable for LSQ/LSQ+, else a buffer (STE's scale from calibration; log: c, the
 *          running max|x|, updated by the training forward)
 *   zero   trainable for LSQ+ with an affine spec, else a buffer (0 for symmetric specs)
 *   alpha  PACT's clip, trainable (with L2 decay, as the paper) for PACT, else an unused buffer
 * lb_graph_init_params only knows zeros/ones/kaiming/uniform, so scale starts at 1, zero at 0 and
 * alpha at 1; lb_quant_calibrate writes the real initial values (observer scale/zero, and alpha
 * = fa[LB_FQ_FA], which infer sets to 6 when it is 0). With "enabled" off the op is the
 * identity (forward and backward), which is how calibration observes float activations.
 *
 * Forward per estimator, with scale s and zero point z:
 *   STE, LSQ, LSQ+: y = lb_fq_forward(spec, x, s, z) (PyTorch's formula, bit for bit);
 *   PACT:           y = lb_fq_forward(spec, clip(x, 0, alpha), alpha/qmax, 0);
 *   DoReFa:         y = lb_fq_forward(spec, clip(x, 0, 1), 1/qmax, 0), i.e. levels k * (1/qmax);
 *   log:            in training first scale <- max(scale, max|x| of the batch); then
 *                   y = lb_logq_forward(x, c = max(scale, FLT_EPSILON)) (NNIE; needs 8 bits).
 * PACT and DoReFa need an unsigned spec with a float scale (their scale is alpha/qmax or 1/qmax;
 * a signed spec would waste half its levels and a power-of-two scale would not be the scale the
 * integer engine runs). For pow2 specs, STE/LSQ/LSQ+ quantize with lb_qscale_pow2(s), the scale
 * the integer engine will use; the gradient of s passes straight through that rounding.
 * Scales are used as max(|s|, FLT_EPSILON) (MQBench's guard against a learned scale reaching 0
 * or below; the gradient is multiplied by the sign of s).
 *
 * Backward (accumulates into dx and the trainable parameters' gradients):
 *   STE:      dx += dy where rint(x/s) + z is inside [qmin, qmax] (lb_fq_backward_ste);
 *   LSQ/LSQ+: lb_fq_backward_lsq with grad factor 1/sqrt(numel * qmax), numel of the whole batch
 *             tensor as MQBench (lb_lsq_grad_factor on the (batch, sample) shape);
 *   PACT:     dx += dy on 0 <= x < alpha, dalpha += sum of dy over x >= alpha (the paper's rule;
 *             MQBench's torch.where gives x = alpha to dx instead: one point, measure zero);
 *   DoReFa:   dx += dy on 0 <= x <= 1, no parameters;
 *   log:      dx += dy everywhere (pure STE, MQBench's NNIEQuantizeFunc), no parameters.
 * Sums are accumulated in double over fixed chunks whose bounds depend on the size only, and
 * the partial sums are added in chunk order: the same bits for any thread count.
 *
 * Every step is element-wise with per-tensor parameters, plus sums and a max over the whole
 * tensor, so the op runs on either activation layout (lb_layout): the executor may keep its
 * tensors in nChw16c between oneDNN convolutions. The sums then meet the elements in another
 * order, so scale and alpha gradients can differ from an NCHW run in the last bits. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "graph/ops.h"
#include "quant/qops.h"

enum { FQP_SCALE = 0, FQP_ZERO, FQP_ALPHA };

#define FQ_PACT_DEFAULT_ALPHA 6.0f
#define FQ_PAR_MIN (1 << 16) /* elements before threads pay off (memory bound) */
#define FQ_CHUNK (1 << 14)
#define FQ_MAX_CHUNKS 64

/* The quantizer of a node whose attributes infer has already validated. */
static void node_cfg(const lb_node *n, lb_qcfg *cfg, int *enabled) {
  (void)lb_qcfg_unpack(n->ia + LB_FQ_IA, n->fa + LB_FQ_FA, cfg, enabled);
}

/* (batch, per-sample dims...): the shape the kernels see. infer checks that it fits. */
static lb_shape batch_shape(const lb_shape *sample, int batch) {
  lb_shape s;
  memset(&s, 0, sizeof s);
  s.ndim = sample->ndim + 1;
  s.d[0] = batch;
  for (int i = 0; i < sample->ndim; i++) s.d[i + 1] = sample->d[i];
  return s;
}

static lb_status fq_infer(lb_graph *g, int idx) {
  lb_node *n = &g->nodes[idx];
  const lb_shape *in = &g->nodes[n->inputs[0]].shape;
  lb_qcfg cfg;
  int enabled;
  if (lb_qcfg_unpack(n->ia + LB_FQ_IA, n->fa + LB_FQ_FA, &cfg, &enabled)) {
    char why[256];
    snprintf(why, sizeof why, "%s", lb_last_error());
    return lb_fail(LB_ERR_ARG, "node '%s' (fakequant): %s", n->name, why);
  }
  if (cfg.spec.gran != LB_QGRAN_TENSOR)
    return lb_fail(LB_ERR_UNSUPPORTED, "node '%s' (fakequant): activation quantizers are per-tensor only", n->name);
  if (in->ndim >= LB_MAX_DIMS)
    return lb_fail(LB_ERR_SHAPE, "node '%s' (fakequant): input has %d dimensions, at most %d supported", n->name,
                   in->ndim, LB_MAX_DIMS - 1);
  if (cfg.est == LB_EST_PACT || cfg.est == LB_EST_DOREFA) {
    const char *en = lb_estimator_name(cfg.est);
    if (cfg.spec.is_signed)
      return lb_fail(LB_ERR_ARG, "node '%s' (fakequant): %s clips to a non-negative range and needs an unsigned spec",
                     n->name, en);
    if (cfg.spec.scale_kind == LB_QSCALE_POW2)
      return lb_fail(LB_ERR_ARG, "node '%s' (fakequant): %s sets the scale to %s/qmax, not a power of two; use a float scale",
                     n->name, en, cfg.est == LB_EST_PACT ? "alpha" : "1");
  }
  if (cfg.est == LB_EST_LOG && cfg.spec.bits != 8)
    return lb_fail(LB_ERR_ARG, "node '%s' (fakequant): the log quantizer is NNIE's 8-bit grid; the spec has %d bits",
                   n->name, cfg.spec.bits);
  if (cfg.est == LB_EST_PACT) {
    float *init = &n->fa[LB_FQ_FA];
    if (*init == 0.0f) *init = FQ_PACT_DEFAULT_ALPHA;
    if (!(*init > 0.0f) || !isfinite(*init))
      return lb_fail(LB_ERR_ARG, "node '%s' (fakequant): PACT's initial alpha must be positive, got %g", n->name,
                     (double)*init);
  }
  n->shape = *in;
  lb_shape one = lb_shape1(1);
  int learn_scale = cfg.est == LB_EST_LSQ || cfg.est == LB_EST_LSQ_PLUS;
  int learn_zero = cfg.est == LB_EST_LSQ_PLUS && !cfg.spec.symmetric;
  int learn_alpha = cfg.est == LB_EST_PACT;
  lb_status s = lb_graph_declare_param(g, idx, "scale", one, learn_scale, 0, LB_INIT_ONES, 0);
  if (!s) s = lb_graph_declare_param(g, idx, "zero", one, learn_zero, 0, LB_INIT_ZEROS, 0);
  if (!s) s = lb_graph_declare_param(g, idx, "alpha", one, learn_alpha, learn_alpha, LB_INIT_ONES, 0);
  return s;
}

/* ---- element kernels for the clipping estimators (PACT, DoReFa) -------------------------- */
/* y = clip(x, 0, hi) over n elements (x and y may alias). */
static void clip_forward(int64_t n, float hi, const float *x, float *y) {
#pragma omp parallel for schedule(static) if (n >= FQ_PAR_MIN)
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    y[i] = v < 0.0f ? 0.0f : (v > hi ? hi : v);
  }
}

/* dx += dy where 0 <= x < hi (open_top) or 0 <= x <= hi (closed). dx may be NULL. */
static void clip_backward_dx(int64_t n, float hi, int open_top, const float *x, const float *dy, float *dx) {
  if (!dx) return;
#pragma omp parallel for schedule(static) if (n >= FQ_PAR_MIN)
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    int in = v >= 0.0f && (open_top ? v < hi : v <= hi);
    dx[i] += dy[i] * (float)in;
  }
}

/* sum of dy over x >= hi: fixed chunks, double partials added in chunk order. */
static double sum_above(int64_t n, float hi, const float *x, const float *dy) {
  if (n <= 0) return 0.0;
  double part[FQ_MAX_CHUNKS];
  int64_t nch = (n + FQ_CHUNK - 1) / FQ_CHUNK;
  if (nch > FQ_MAX_CHUNKS) nch = FQ_MAX_CHUNKS;
  int64_t chunk = (n + nch - 1) / nch;
#pragma omp parallel for schedule(static) if (n >= FQ_PAR_MIN)
  for (int64_t k = 0; k < nch; k++) {
    int64_t lo = k * chunk, end = lo + chunk < n ? lo + chunk : n;
    double acc = 0.0;
    for (int64_t i = lo; i < end; i++)
      if (x[i] >= hi) acc += (double)dy[i];
    part[k] = acc;
  }
  double s = 0.0;
  for (int64_t k = 0; k < nch; k++) s += part[k];
  return s;
}

/* ---- the op ------------------------------------------------------------------------------- */
/* PACT's clip as used: alpha floored like a scale (a learned alpha may not reach 0). */
static float eff_alpha(float alpha) { return alpha >= FLT_EPSILON ? alpha : FLT_EPSILON; }

static float qmax_of(const lb_qspec *q) {
  int32_t lo, hi;
  lb_qspec_range(q, &lo, &hi);
  return (float)hi;
}

static void fq_forward(const lb_node *n, lb_op_ctx *c) {
  lb_qcfg cfg;
  int enabled;
  node_cfg(n, &cfg, &enabled);
  lb_shape shape = batch_shape(c->in_shape[0], c->batch);
  int64_t count = lb_shape_numel(&shape);
  const float *x = c->in[0];
  float *y = c->out;
  if (!enabled) {
    memcpy(y, x, (size_t)count * sizeof(float));
    return;
  }
  switch (cfg.est) {
  case LB_EST_LOG: {
    float *cs = &c->param[FQP_SCALE][0];
    if (c->training) {
      float m = lb_logq_absmax(count, x);
      if (m > *cs || isnan(*cs)) *cs = m; /* the running max: never decreases */
    }
    lb_logq_forward(count, *cs > FLT_EPSILON ? *cs : FLT_EPSILON, x, y);
    break;
  }
  case LB_EST_PACT:
  case LB_EST_DOREFA: {
    float hi = cfg.est == LB_EST_PACT ? eff_alpha(c->param[FQP_ALPHA][0]) : 1.0f;
    float s = hi / qmax_of(&cfg.spec);
    clip_forward(count, hi, x, y);
    lb_fq_forward(&cfg.spec, &shape, y, &s, NULL, y);
    break;
  }
  default: {
    float s = lb_qscale_effective(&cfg.spec, c->param[FQP_SCALE][0], NULL);
    lb_fq_forward(&cfg.spec, &shape, x, &s, c->param[FQP_ZERO], y);
    break;
  }
  }
}

static void fq_backward(const lb_node *n, lb_op_ctx *c) {
  lb_qcfg cfg;
  int enabled;
  node_cfg(n, &cfg, &enabled);
  lb_shape shape = batch_shape(c->in_shape[0], c->batch);
  int64_t count = lb_shape_numel(&shape);
  const float *x = c->in[0], *dy = c->dout;
  float *dx = c->din[0];
  if (!enabled) {
    if (dx)
      for (int64_t i = 0; i < count; i++) dx[i] += dy[i];
    return;
  }
  switch (cfg.est) {
  case LB_EST_STE: {
    float s = lb_qscale_effective(&cfg.spec, c->param[FQP_SCALE][0], NULL);
    lb_fq_backward_ste(&cfg.spec, &shape, x, &s, c->param[FQP_ZERO], dy, dx);
    break;
  }
  case LB_EST_LSQ:
  case LB_EST_LSQ_PLUS: {
    float sign;
    float s = lb_qscale_effective(&cfg.spec, c->param[FQP_SCALE][0], &sign);
    float gf = lb_lsq_grad_factor(&cfg.spec, &shape);
    float ds = 0.0f;
    float *dscale = c->dparam[FQP_SCALE] ? &ds : NULL;
    lb_fq_backward_lsq(&cfg.spec, &shape, x, &s, c->param[FQP_ZERO], dy, gf, dx, dscale, c->dparam[FQP_ZERO]);
    if (dscale) c->dparam[FQP_SCALE][0] += sign * ds;
    break;
  }
  case LB_EST_PACT: {
    float alpha = eff_alpha(c->param[FQP_ALPHA][0]);
    clip_backward_dx(count, alpha, 1, x, dy, dx);
    if (c->dparam[FQP_ALPHA]) c->dparam[FQP_ALPHA][0] += (float)sum_above(count, alpha, x, dy);
    break;
  }
  case LB_EST_DOREFA:
    clip_backward_dx(count, 1.0f, 0, x, dy, dx);
    break;
  case LB_EST_LOG:
    lb_logq_backward_ste(count, dy, dx);
    break;
  default:
    break;
  }
}

const lb_op_def lb_op_fakequant = {.name = "fakequant", .min_inputs = 1, .max_inputs = 1, .infer = fq_infer,
                                   .forward = fq_forward, .backward = fq_backward,
                                   .takes_nchw16c = lb_op_takes_nchw16c_any, .same_layout = 1};
