/* Observers (quant.h): statistics gathered over one or more tensors, turned into the scale and
 * zero point a quantizer starts from. This file holds the state, the update path and the
 * range -> (scale, zero) step; the histogram-based range choices (percentile, MSE, KL) are in
 * observer_hist.c.
 *
 * State (o->state, one allocation of doubles):
 *   header: [bins of the histograms] [ndim] [dims x LB_MAX_DIMS] [scratch histogram, bins long]
 *   then per parameter (scale): min, max, sum|x|, count, the current batch's min, max, sum|x|,
 *   count, and for histogram kinds: bin width, first bin's grid index, histogram value range,
 *   bins counts.
 * The batch statistics are gathered before anything is committed, so an update that fails (a
 * non-finite input) leaves the observer as it was.
 *
 * The histograms (percentile, MSE, KL) sit on a grid anchored at 0: bin b covers
 * [(k0 + b) * w, (k0 + b + 1) * w). The first batch sets w from its range; a later batch outside
 * the range doubles w as often as needed (merging bins 2^d at a time, which is exact: every old
 * bin falls inside one new bin) and slides k0. So the range grows across batches without any
 * re-interpolation, at the price of up to a factor 2 of resolution after growth. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/quant.h"
#include "observer_hist.h"

#define OBS_DEFAULT_BINS 2048
#define OBS_MAX_BINS (1 << 20)

enum { H_BINS = 0, H_NDIM, H_DIMS, H_SCRATCH = H_DIMS + LB_MAX_DIMS };

static const char *const kind_names[LB_OBS_KIND_COUNT] = {"minmax", "ema", "percentile", "mse", "kl", "lsq"};

lb_status lb_observer_kind_parse(const char *name, lb_observer_kind *kind) {
  if (!name || !kind) return lb_fail(LB_ERR_ARG, "observer kind: NULL argument");
  for (int k = 0; k < LB_OBS_KIND_COUNT; k++)
    if (strcmp(name, kind_names[k]) == 0) {
      *kind = (lb_observer_kind)k;
      return LB_OK;
    }
  return lb_fail(LB_ERR_ARG, "unknown observer '%s' (minmax, ema, percentile, mse, kl, lsq)", name);
}

const char *lb_observer_kind_name(lb_observer_kind kind) {
  if ((int)kind < 0 || kind >= LB_OBS_KIND_COUNT) return "unknown";
  return kind_names[kind];
}

static int uses_hist(lb_observer_kind k) { return k == LB_OBS_PERCENTILE || k == LB_OBS_MSE || k == LB_OBS_KL; }

/* Histogram of |x| (KL always; percentile for symmetric specs) or of x itself (MSE; percentile
 * for affine specs, which clips both tails). */
static int abs_hist(const lb_observer *o) {
  return o->kind == LB_OBS_KL || (o->kind == LB_OBS_PERCENTILE && o->spec.symmetric);
}

static int state_bins(const lb_observer *o) { return (int)o->state[H_BINS]; }

static int64_t param_stride(const lb_observer *o, int bins) {
  return uses_hist(o->kind) ? OBS_P_HIST + bins : OBS_P_HW;
}

static int64_t scratch_len(const lb_observer *o, int bins) { return uses_hist(o->kind) ? bins : 0; }

static double *param_state(const lb_observer *o, int64_t p) {
  const int bins = state_bins(o);
  return o->state + H_SCRATCH + scratch_len(o, bins) + p * param_stride(o, bins);
}

static lb_status alloc_state(lb_observer *o, const lb_shape *shape, int bins) {
  const int64_t len = H_SCRATCH + scratch_len(o, bins) + o->n_params * param_stride(o, bins);
  double *st = calloc((size_t)len, sizeof *st);
  if (!st) return lb_fail(LB_ERR_NOMEM, "observer: no memory for %lld state values", (long long)len);
  free(o->state);
  o->state = st;
  o->state_len = len;
  st[H_BINS] = bins;
  st[H_NDIM] = shape->ndim;
  for (int i = 0; i < shape->ndim; i++) st[H_DIMS + i] = (double)shape->d[i];
  return LB_OK;
}

lb_status lb_observer_init(lb_observer *o, lb_observer_kind kind, const lb_qspec *q, const lb_shape *shape) {
  if (!o) return lb_fail(LB_ERR_ARG, "observer init: NULL observer");
  memset(o, 0, sizeof *o);
  if (!q || !shape) return lb_fail(LB_ERR_ARG, "observer init: NULL spec or shape");
  if ((int)kind < 0 || kind >= LB_OBS_KIND_COUNT)
    return lb_fail(LB_ERR_ARG, "observer init: unknown observer kind %d", (int)kind);
  lb_status st = lb_qspec_validate(q, shape);
  if (st != LB_OK) {
    char why[400];
    snprintf(why, sizeof why, "%s", lb_last_error());
    return lb_fail(st, "observer init: %s", why);
  }
  char sb[96];
  const int64_t numel = lb_shape_numel(shape);
  if (numel <= 0)
    return lb_fail(LB_ERR_SHAPE, "observer init: the tensor %s has no elements", lb_shape_str(shape, sb, sizeof sb));
  const int64_t n = lb_qspec_num_params(q, shape);
  if (n <= 0)
    return lb_fail(LB_ERR_SHAPE, "observer init: the tensor %s gives %lld scales", lb_shape_str(shape, sb, sizeof sb),
                   (long long)n);
  o->kind = kind;
  o->spec = *q;
  o->n_params = n;
  o->momentum = 0.1f;
  o->percentile = 99.99f;
  o->bins = OBS_DEFAULT_BINS;
  st = alloc_state(o, shape, o->bins);
  if (st != LB_OK) memset(o, 0, sizeof *o);
  return st;
}

void lb_observer_free(lb_observer *o) {
  if (!o) return;
  free(o->state);
  memset(o, 0, sizeof *o);
}

/* The stored init shape; only dimension 0 may be smaller, and not when it is the channel axis
 * (channels would go unobserved). */
static lb_status check_shape(const lb_observer *o, const lb_shape *shape) {
  lb_shape want;
  memset(&want, 0, sizeof want);
  want.ndim = (int)o->state[H_NDIM];
  for (int i = 0; i < want.ndim; i++) want.d[i] = (int64_t)o->state[H_DIMS + i];
  char a[96], b[96];
  int ok = shape->ndim == want.ndim;
  for (int i = 1; ok && i < want.ndim; i++) ok = shape->d[i] == want.d[i];
  if (ok && want.ndim > 0) ok = shape->d[0] >= 1 && shape->d[0] <= want.d[0];
  if (!ok)
    return lb_fail(LB_ERR_SHAPE, "observer update: tensor %s does not fit the shape %s given at init (only dimension 0 "
                   "may be smaller)", lb_shape_str(shape, a, sizeof a), lb_shape_str(&want, b, sizeof b));
  if (want.ndim > 0 && shape->d[0] != want.d[0] && o->spec.gran != LB_QGRAN_TENSOR && o->spec.axis == 0)
    return lb_fail(LB_ERR_SHAPE, "observer update: tensor %s is smaller than %s along axis 0, which is the channel "
                   "axis of a per-%s spec", lb_shape_str(shape, a, sizeof a), lb_shape_str(&want, b, sizeof b),
                   o->spec.gran == LB_QGRAN_GROUP ? "group" : "channel");
  return LB_OK;
}

static lb_status check_settings(const lb_observer *o, const char *who) {
  if (o->kind == LB_OBS_EMA_MINMAX && !(o->momentum > 0.0f && o->momentum <= 1.0f))
    return lb_fail(LB_ERR_ARG, "%s: EMA momentum %g is outside (0, 1]", who, (double)o->momentum);
  if (o->kind == LB_OBS_PERCENTILE && !(o->percentile > 0.0f && o->percentile <= 100.0f))
    return lb_fail(LB_ERR_ARG, "%s: percentile %g is outside (0, 100]", who, (double)o->percentile);
  return LB_OK;
}

/* Elements in a row-major run that all belong to one parameter; run r belongs to parameter
 * r % n_params (per tensor: one run; per channel: runs of the inner size cycling through the
 * channels; per group: runs of the group size, in order). */
static int64_t run_length(const lb_observer *o, const lb_shape *shape) {
  if (o->spec.gran == LB_QGRAN_GROUP) return o->spec.group;
  if (o->spec.gran == LB_QGRAN_CHANNEL) {
    int64_t inner = 1;
    for (int i = o->spec.axis + 1; i < shape->ndim; i++) inner *= shape->d[i];
    return inner;
  }
  return lb_shape_numel(shape);
}

/* Set up a parameter's histogram grid for the value range [lo, hi] (lo = 0 for |x|). */
static void hist_start(double *P, int bins, int absmode, double lo, double hi) {
  double w = absmode ? hi / bins : (hi - lo) / (bins - 1);
  if (!(w > 0.0)) w = 1e-30; /* everything was 0: any width, the first real data will widen it */
  P[OBS_P_HW] = w;
  P[OBS_P_HK] = absmode ? 0.0 : floor(lo / w);
  P[OBS_P_HLO] = lo;
  P[OBS_P_HHI] = hi;
}

/* Widen (and slide) a parameter's grid so that it covers [lo, hi] as well as what it holds. */
static void hist_grow(double *P, int bins, int absmode, double lo, double hi, double *scratch) {
  const double ulo = fmin(P[OBS_P_HLO], lo), uhi = fmax(P[OBS_P_HHI], hi);
  const double w = P[OBS_P_HW], k0 = P[OBS_P_HK];
  P[OBS_P_HLO] = ulo;
  P[OBS_P_HHI] = uhi;
  if (ulo >= k0 * w && uhi <= (k0 + bins) * w) return; /* fits as it is */
  /* the finest grid (w * 2^d, window starting at ulo's bin) that reaches uhi; everything held
   * lies in [ulo, uhi], so every occupied old bin lands inside the new window */
  int d = 0;
  double wd = w, kd = k0;
  for (;; d++) {
    wd = ldexp(w, d);
    kd = absmode ? 0.0 : floor(ulo / wd);
    if (uhi <= (kd + bins) * wd) break;
  }
  double *h = P + OBS_P_HIST;
  const double f = ldexp(1.0, d);
  memset(scratch, 0, sizeof *scratch * (size_t)bins);
  for (int b = 0; b < bins; b++) {
    if (h[b] == 0.0) continue;
    double nb = floor((k0 + b) / f) - kd;
    if (nb < 0) nb = 0;
    if (nb > bins - 1) nb = bins - 1;
    scratch[(int)nb] += h[b];
  }
  memcpy(h, scratch, sizeof *h * (size_t)bins);
  P[OBS_P_HW] = wd;
  P[OBS_P_HK] = kd;
}

static void hist_add(double *P, int bins, int absmode, const float *x, int64_t n) {
  const double w = P[OBS_P_HW], k0 = P[OBS_P_HK];
  double *h = P + OBS_P_HIST;
  for (int64_t i = 0; i < n; i++) {
    const double v = absmode ? fabs((double)x[i]) : (double)x[i];
    double b = floor(v / w) - k0;
    if (b < 0) b = 0;
    if (b > bins - 1) b = bins - 1;
    h[(int)b] += 1.0;
  }
}

lb_status lb_observer_update(lb_observer *o, const lb_shape *shape, const float *x) {
  if (!o || !o->state) return lb_fail(LB_ERR_STATE, "observer update: the observer is not initialised");
  if (!shape || !x) return lb_fail(LB_ERR_ARG, "observer update: NULL shape or data");
  lb_status st = check_shape(o, shape);
  if (st == LB_OK) st = check_settings(o, "observer update");
  if (st != LB_OK) return st;
  if (uses_hist(o->kind) && o->bins != state_bins(o)) {
    if (o->batches > 0)
      return lb_fail(LB_ERR_STATE, "observer update: bins changed from %d to %d after the first update",
                     state_bins(o), o->bins);
    if (o->bins < 2 || o->bins > OBS_MAX_BINS)
      return lb_fail(LB_ERR_ARG, "observer update: %d histogram bins (2 to %d allowed)", o->bins, OBS_MAX_BINS);
    lb_shape init;
    memset(&init, 0, sizeof init);
    init.ndim = (int)o->state[H_NDIM];
    for (int i = 0; i < init.ndim; i++) init.d[i] = (int64_t)o->state[H_DIMS + i];
    st = alloc_state(o, &init, o->bins);
    if (st != LB_OK) return st;
  }
  const int64_t numel = lb_shape_numel(shape), run = run_length(o, shape), nruns = numel / run;
  const int64_t np = o->n_params;
  for (int64_t p = 0; p < np; p++) {
    double *P = param_state(o, p);
    P[OBS_P_BMIN] = INFINITY;
    P[OBS_P_BMAX] = -INFINITY;
    P[OBS_P_BSUM] = 0.0;
    P[OBS_P_BCNT] = 0.0;
  }
  /* pass 1: batch statistics per parameter, nothing committed yet */
  for (int64_t r = 0; r < nruns; r++) {
    const float *xr = x + r * run;
    float mn = xr[0], mx = xr[0];
    double s = 0.0;
    for (int64_t i = 0; i < run; i++) {
      mn = xr[i] < mn ? xr[i] : mn;
      mx = xr[i] > mx ? xr[i] : mx;
      s += fabs((double)xr[i]);
    }
    if (!isfinite(s))
      return lb_fail(LB_ERR_ARG, "observer update: the input holds a non-finite value (near element %lld)",
                     (long long)(r * run));
    double *P = param_state(o, r % np);
    P[OBS_P_BMIN] = fmin(P[OBS_P_BMIN], mn);
    P[OBS_P_BMAX] = fmax(P[OBS_P_BMAX], mx);
    P[OBS_P_BSUM] += s;
    P[OBS_P_BCNT] += (double)run;
  }
  /* commit */
  const int absmode = abs_hist(o), hist = uses_hist(o->kind);
  const int bins = state_bins(o);
  for (int64_t p = 0; p < np; p++) {
    double *P = param_state(o, p);
    const double bmin = P[OBS_P_BMIN], bmax = P[OBS_P_BMAX];
    if (o->batches == 0) {
      P[OBS_P_MIN] = bmin;
      P[OBS_P_MAX] = bmax;
    } else if (o->kind == LB_OBS_EMA_MINMAX) {
      const double c = o->momentum;
      P[OBS_P_MIN] = (1.0 - c) * P[OBS_P_MIN] + c * bmin;
      P[OBS_P_MAX] = (1.0 - c) * P[OBS_P_MAX] + c * bmax;
    } else {
      P[OBS_P_MIN] = fmin(P[OBS_P_MIN], bmin);
      P[OBS_P_MAX] = fmax(P[OBS_P_MAX], bmax);
    }
    P[OBS_P_SUM] += P[OBS_P_BSUM];
    P[OBS_P_CNT] += P[OBS_P_BCNT];
    if (!hist) continue;
    const double lo = absmode ? 0.0 : fmin(bmin, 0.0);
    const double hi = absmode ? fmax(-bmin, bmax) : fmax(bmax, 0.0);
    if (o->batches == 0)
      hist_start(P, bins, absmode, lo, hi);
    else
      hist_grow(P, bins, absmode, lo, hi, o->state + H_SCRATCH);
  }
  if (hist)
    for (int64_t r = 0; r < nruns; r++) hist_add(param_state(o, r % np), bins, absmode, x + r * run, run);
  o->batches++;
  return LB_OK;
}

float obs_finish_scale(const lb_qspec *q, float s) {
  if (!(s >= FLT_EPSILON)) s = FLT_EPSILON; /* also catches NaN */
  if (q->scale_kind == LB_QSCALE_POW2) s = lb_qscale_pow2(s);
  if (s < FLT_EPSILON) s = FLT_EPSILON;
  return s;
}

static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

void obs_range_qparams(const lb_qspec *q, float lo, float hi, float *scale, float *zero) {
  int32_t qmin, qmax;
  lb_qspec_range(q, &qmin, &qmax);
  lo = fminf(lo, 0.0f);
  hi = fmaxf(hi, 0.0f);
  float s;
  if (q->symmetric)
    s = q->is_signed ? fmaxf(-lo, hi) / ((float)(qmax - qmin) / 2.0f) : hi / (float)qmax;
  else
    s = (hi - lo) / (float)(qmax - qmin);
  s = obs_finish_scale(q, s);
  *scale = s;
  *zero = q->symmetric ? 0.0f : clampf((float)qmin - rintf(lo / s), (float)qmin, (float)qmax);
}

lb_status lb_observer_compute(const lb_observer *o, float *scale, float *zero) {
  if (!o || !o->state) return lb_fail(LB_ERR_STATE, "observer compute: the observer is not initialised");
  if (!scale || !zero) return lb_fail(LB_ERR_ARG, "observer compute: NULL scale or zero output");
  if (o->batches == 0) return lb_fail(LB_ERR_STATE, "observer compute: nothing observed yet (%s observer)",
                                      lb_observer_kind_name(o->kind));
  lb_status st = check_settings(o, "observer compute");
  if (st != LB_OK) return st;
  int32_t qmin, qmax;
  lb_qspec_range(&o->spec, &qmin, &qmax);
  const int bins = state_bins(o), absmode = abs_hist(o);
  for (int64_t p = 0; p < o->n_params; p++) {
    const double *P = param_state(o, p);
    double lo = P[OBS_P_MIN], hi = P[OBS_P_MAX];
    if (o->spec.binary) { /* s * sign(x) fits best (least squares) at s = mean|x|, whatever the observer */
      scale[p] = obs_finish_scale(&o->spec, (float)(P[OBS_P_CNT] > 0 ? P[OBS_P_SUM] / P[OBS_P_CNT] : 0.0));
      zero[p] = 0.0f;
      continue;
    }
    switch (o->kind) {
    case LB_OBS_MINMAX:
    case LB_OBS_EMA_MINMAX: break;
    case LB_OBS_PERCENTILE: obs_percentile_range(P, bins, absmode, o->percentile, &lo, &hi); break;
    case LB_OBS_MSE: obs_mse_range(&o->spec, P, bins, &lo, &hi); break;
    case LB_OBS_KL: {
      const double t = obs_kl_threshold(P, bins, qmax > 1 ? qmax : 1);
      lo = o->spec.symmetric ? -t : fmax(lo, -t);
      hi = o->spec.symmetric ? t : fmin(hi, t);
      break;
    }
    case LB_OBS_LSQ: {
      /* LSQ's formula fixes only a step size; an affine grid also needs a zero point, and with
       * LSQ's small step and the zero point at the minimum, low-bit grids can end at 0 (a 4-bit
       * unsigned grid holds 15 steps: a minimum at -15 s leaves no positive level and the
       * network collapses). Affine specs therefore start from the min/max range, LSQ+'s
       * fallback initialization (methods/qat.md 11b). */
      if (!o->spec.symmetric) break;
      const double mean = P[OBS_P_CNT] > 0 ? P[OBS_P_SUM] / P[OBS_P_CNT] : 0.0;
      scale[p] = obs_finish_scale(&o->spec, (float)(2.0 * mean / sqrt((double)(qmax > 1 ? qmax : 1))));
      zero[p] = 0.0f;
      continue;
    }
    case LB_OBS_KIND_COUNT: return lb_fail(LB_ERR_STATE, "observer compute: corrupt observer kind");
    }
    obs_range_qparams(&o->spec, (float)lo, (float)hi, &scale[p], &zero[p]);
  }
  return LB_OK;
}
