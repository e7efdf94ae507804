/* Histogram-based range choices of the observers: percentile, MSE search, KL (entropy)
 * calibration. The histograms are built by observer.c (grid and growth described there). */
#include <math.h>

#include "observer_hist.h"

/* The value below which a fraction `frac` of the histogram's mass lies, interpolating linearly
 * inside the bin where the cumulative count crosses it. */
static double hist_quantile(const double *P, int bins, double frac) {
  const double *h = P + OBS_P_HIST, w = P[OBS_P_HW], k0 = P[OBS_P_HK];
  double total = 0.0;
  for (int b = 0; b < bins; b++) total += h[b];
  const double target = frac * total;
  double cum = 0.0;
  for (int b = 0; b < bins; b++) {
    if (h[b] > 0.0 && cum + h[b] >= target) return (k0 + b + (target - cum) / h[b]) * w;
    cum += h[b];
  }
  return (k0 + bins) * w;
}

void obs_percentile_range(const double *P, int bins, int absmode, float pct, double *lo, double *hi) {
  const double frac = (double)pct / 100.0;
  if (absmode) {
    const double t = fmin(hist_quantile(P, bins, frac), fmax(-P[OBS_P_MIN], P[OBS_P_MAX]));
    *lo = -t;
    *hi = t;
    return;
  }
  const double mn = P[OBS_P_MIN], mx = P[OBS_P_MAX];
  *lo = fmin(fmax(hist_quantile(P, bins, 1.0 - frac), mn), mx);
  *hi = fmin(fmax(hist_quantile(P, bins, frac), mn), mx);
}

/* Integral of (v - q)^2 over [a, e], written without cancellation. */
static double sq_seg(double a, double e, double q) {
  const double u = e - q, v = a - q;
  return (u - v) * (u * u + u * v + v * v) / 3.0;
}

/* Integral of (v - nearest level)^2 from the cell boundary c0 to x >= c0, for levels s apart
 * centred between boundaries: full cells give s^3/12 each, the partial cell the rest. */
static double round_sq(double x, double c0, double s) {
  const double u = (x - c0) / s, n = floor(u), r = u - n, m = r - 0.5;
  return s * s * s * (n / 12.0 + (m * m * m + 0.125) / 3.0);
}

/* Integral of (v - fq(v))^2 over [a, e] for levels k * s, k in [kmin, kmax] (integers relative to
 * the zero point): below the first rounding boundary everything maps to kmin * s, above the last
 * to kmax * s (clipping error), in between to the nearest level. */
static double seg_sq_error(double a, double e, double s, double kmin, double kmax) {
  const double lowb = (kmin + 0.5) * s, highb = (kmax - 0.5) * s;
  double err = 0.0;
  if (a < lowb) err += sq_seg(a, fmin(e, lowb), kmin * s);
  if (e > highb) err += sq_seg(fmax(a, highb), e, kmax * s);
  const double m1 = fmax(a, lowb), m2 = fmin(e, highb);
  if (m2 > m1) err += round_sq(m2, lowb, s) - round_sq(m1, lowb, s);
  return err;
}

double obs_hist_sq_error(const double *P, int bins, double scale, double zp, int32_t qmin, int32_t qmax) {
  const double *h = P + OBS_P_HIST, w = P[OBS_P_HW], k0 = P[OBS_P_HK];
  const double kmin = (double)qmin - zp, kmax = (double)qmax - zp;
  double err = 0.0;
  for (int b = 0; b < bins; b++) {
    if (h[b] == 0.0) continue;
    const double a = (k0 + b) * w;
    err += h[b] / w * seg_sq_error(a, a + w, scale, kmin, kmax);
  }
  return err;
}

#define OBS_MSE_STEPS 100

void obs_mse_range(const lb_qspec *q, const double *P, int bins, double *lo, double *hi) {
  int32_t qmin, qmax;
  lb_qspec_range(q, &qmin, &qmax);
  const double lo0 = fmin(P[OBS_P_HLO], 0.0), hi0 = fmax(P[OBS_P_HHI], 0.0);
  double best = INFINITY;
  int bestk = OBS_MSE_STEPS;
  /* from the full range down; ties keep the wider range */
  for (int k = OBS_MSE_STEPS; k >= 1; k--) {
    const double a = (double)k / OBS_MSE_STEPS;
    float s, z;
    obs_range_qparams(q, (float)(a * lo0), (float)(a * hi0), &s, &z);
    const double err = obs_hist_sq_error(P, bins, s, z, qmin, qmax);
    if (err < best) {
      best = err;
      bestk = k;
    }
  }
  const double a = (double)bestk / OBS_MSE_STEPS;
  *lo = a * lo0;
  *hi = a * hi0;
}

/* KL(P || Q) for candidate i, as TensorRT's entropy calibration (MXNet's reference code):
 * P = h[0:i] with the mass beyond, `tail`, added to bin i - 1; Q = h[0:i] (without that mass)
 * merged into qlevels groups of i / qlevels bins, the last group taking the remainder, each
 * group's mass spread evenly over the bins where P is non-zero. P and Q are normalised
 * separately. Building Q from P itself would make every i = qlevels exact (KL 0, nothing
 * learned), so the outliers enter P only, which is what penalises clipping. A bin where P > 0
 * but Q = 0 (only outliers in its group) makes the candidate infinitely bad (no smoothing). */
static double kl_candidate(const double *h, int i, double tail, double total, int qlevels) {
  const int merged = i / qlevels;
  const double qtotal = total - tail;
  if (!(qtotal > 0.0)) return INFINITY;
  double kl = 0.0;
  for (int j = 0; j < qlevels; j++) {
    const int start = j * merged, stop = j == qlevels - 1 ? i : start + merged;
    double gsum = 0.0;
    int nz = 0;
    for (int b = start; b < stop; b++) {
      gsum += h[b];
      nz += h[b] + (b == i - 1 ? tail : 0.0) > 0.0;
    }
    if (nz == 0) continue;
    const double qv = gsum / nz / qtotal;
    for (int b = start; b < stop; b++) {
      const double p = (h[b] + (b == i - 1 ? tail : 0.0)) / total;
      if (p <= 0.0) continue;
      if (qv <= 0.0) return INFINITY;
      kl += p * log(p / qv);
    }
  }
  return kl;
}

double obs_kl_threshold(const double *P, int bins, int qlevels) {
  const double *h = P + OBS_P_HIST, w = P[OBS_P_HW];
  if (qlevels > bins) return P[OBS_P_HHI]; /* too few bins to clip anything: the full range */
  double tail = 0.0, total = 0.0;
  for (int b = 0; b < bins; b++) total += h[b];
  for (int b = qlevels; b < bins; b++) tail += h[b];
  double best = INFINITY;
  int besti = bins;
  for (int i = qlevels; i <= bins; i++) {
    const double kl = kl_candidate(h, i, tail, total, qlevels);
    if (kl < best) {
      best = kl;
      besti = i;
    }
    if (i < bins) tail -= h[i];
  }
  return (besti + 0.5) * w;
}
