/* Internal to the observers (observer.c, observer_hist.c): the per-parameter state slots and the
 * histogram-based range choices. Not part of the public interface. */
#ifndef LOWBIT_OBSERVER_HIST_H
#define LOWBIT_OBSERVER_HIST_H

#include "lowbit/quant.h"

/* Per-parameter slots in lb_observer.state. min/max: running (EMA: moving) min and max of x;
 * sum/cnt: sum |x| and count; B*: the batch being observed; H*: histogram grid (bin b covers
 * [(HK + b) * HW, (HK + b + 1) * HW)), the range of the values it holds [HLO, HHI] (of |x| or
 * of x), then the bin counts. */
enum {
  OBS_P_MIN = 0, OBS_P_MAX, OBS_P_SUM, OBS_P_CNT,
  OBS_P_BMIN, OBS_P_BMAX, OBS_P_BSUM, OBS_P_BCNT,
  OBS_P_HW, OBS_P_HK, OBS_P_HLO, OBS_P_HHI,
  OBS_P_HIST
};

/* max(s, FLT_EPSILON), rounded to a power of two if the spec asks. */
float obs_finish_scale(const lb_qspec *q, float s);
/* quant.h's formulas: the range [lo, hi] (widened to include 0) to a scale and a zero point. */
void obs_range_qparams(const lb_qspec *q, float lo, float hi, float *scale, float *zero);

/* Percentile range of one parameter: symmetric (|x| histogram): [-t, t] with t the percentile
 * of |x|; affine (x histogram): [percentile 100 - pct, percentile pct]. */
void obs_percentile_range(const double *P, int bins, int absmode, float pct, double *lo, double *hi);
/* The range alpha * [lo, hi] (alpha = k/100, k = 1..100, [lo, hi] the observed range with 0)
 * whose quantization (exact scale and zero point, pow2 included) has the least expected squared
 * error over the x histogram, clipping included. */
void obs_mse_range(const lb_qspec *q, const double *P, int bins, double *lo, double *hi);
/* Expected squared error of fake-quantizing values spread uniformly inside each histogram bin
 * with (scale, integer zero point zp). */
double obs_hist_sq_error(const double *P, int bins, double scale, double zp, int32_t qmin, int32_t qmax);
/* TensorRT entropy calibration on the |x| histogram: the threshold (i + 0.5) * bin width for
 * the i in [qlevels, bins] minimising KL(P || Q). */
double obs_kl_threshold(const double *P, int bins, int qlevels);

#endif
