/* lowbit quant: the quantizer spec (which integers exist), uniform fake-quantization kernels
 * with their straight-through and LSQ gradients, and observers (how scales start).
 *
 * The graph side (estimators as ops, backend profiles, the plan, calibration) is in
 * lowbit/qgraph.h; docs/quantization.md says what exists and what does not.
 *
 * Conventions:
 *  - round() is round-half-to-even everywhere (rintf in the default rounding mode), as ONNX and
 *    PyTorch do.
 *  - The fake-quant formula is PyTorch's, operation for operation, so results match it bit for
 *    bit: inv = 1.0f / scale; q = clamp(rint(x * inv) + zp, qmin, qmax); y = (q - zp) * scale,
 *    where zp = clamp(rint(zero), qmin, qmax) (zero points are carried as floats so that they can
 *    be learned, as in LSQ+, and rounded where used). PyTorch's LSQ backward rounds differently;
 *    see lb_fq_backward_lsq.
 *  - Scales and zero points are indexed per the spec's granularity (lb_qspec_num_params).
 */
#ifndef LOWBIT_QUANT_H
#define LOWBIT_QUANT_H

#include "lowbit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- spec ---------------------------------------------------------------------------------- */
typedef enum lb_qgran {
  LB_QGRAN_TENSOR = 0, /* one scale for the whole tensor */
  LB_QGRAN_CHANNEL,    /* one scale per index along `axis` */
  LB_QGRAN_GROUP,      /* axis must be 0: per output channel, one scale per `group` consecutive
                          elements of that channel's row-major slice (group divides the slice) */
} lb_qgran;

typedef enum lb_qscale_kind {
  LB_QSCALE_FLOAT = 0, /* any positive float */
  LB_QSCALE_POW2,      /* scale = 2^k, k integer (shift-only requantization) */
} lb_qscale_kind;

typedef struct lb_qspec {
  int bits;                 /* 1..16 */
  int is_signed;            /* integers in [-2^(b-1), 2^(b-1)-1], else [0, 2^b-1] */
  int symmetric;            /* zero point fixed at 0 */
  int narrow;               /* signed only: drop the most negative value, [-(2^(b-1)-1), 2^(b-1)-1]
                               ("restricted", TensorRT); needs bits >= 2 */
  lb_qgran gran;
  int axis;                 /* channel / group granularity: the channel axis (weights: 0) */
  int group;                /* group granularity: elements per group */
  lb_qscale_kind scale_kind;
  int binary;               /* the two values -1 and +1 (codes), y = s * sign(x) with sign(0) = +1:
                               BinaryConnect/XNOR-Net's grid. Needs bits 1, signed, symmetric, not
                               narrow; its range is [-1, 1] with 0 never produced. The STE passes
                               |x| <= s (hardtanh's window); LSQ's scale gradient is q - x/s
                               inside and q outside; every observer sets s = mean|x| (the
                               least-squares scale of s*sign(x)). src/quant/binary_quant.c */
} lb_qspec;

/* Check a spec on its own (shape NULL) or against the tensor it will quantize. Clear errors:
 * "0 bits", "per-channel on axis 3 of a 2-D tensor", "narrow range needs a signed spec", ... */
lb_status lb_qspec_validate(const lb_qspec *q, const lb_shape *shape);
/* The integer range the spec allows. */
void lb_qspec_range(const lb_qspec *q, int32_t *qmin, int32_t *qmax);
/* How many (scale, zero point) pairs a tensor of this shape needs; -1 if the spec does not fit
 * the shape (or needs one and shape is NULL). */
int64_t lb_qspec_num_params(const lb_qspec *q, const lb_shape *shape);
/* Short readable form: "int4 sym per-channel(0)", "uint8 affine per-tensor pow2", ... */
char *lb_qspec_str(const lb_qspec *q, char *buf, size_t cap);
/* Round a positive scale to the nearest power of two in the log domain: 2^rint(log2 s), decided
 * exactly (s = m*2^e, m in [1,2): up iff m >= sqrt 2; no float is a tie). Non-positive, infinite
 * and NaN values are returned unchanged. */
float lb_qscale_pow2(float s);
/* The scale a quantizer op computes with, from its stored (learnable) value s: max(|s|,
 * FLT_EPSILON) (a NaN gives FLT_EPSILON), rounded to a power of two for pow2 specs. *sign (may
 * be NULL) receives d|s|/ds, so a gradient for the effective scale reaches the stored value.
 * Every quantizer op uses this, so activations and weights treat a learned scale alike. */
float lb_qscale_effective(const lb_qspec *q, float s, float *sign);

/* ---- fake quantization ------------------------------------------------------------------- */
/* The spec must be valid for the shape (lb_qspec_validate). zero may be NULL (all zero points 0);
 * symmetric specs ignore it. */
/* y = fake_quant(x) for a tensor of `shape` (x and y may alias). */
void lb_fq_forward(const lb_qspec *q, const lb_shape *shape, const float *x, const float *scale, const float *zero,
                   float *y);
/* Straight-through estimator: dx += dy * mask, mask = (qmin <= rint(x*inv)+zp <= qmax), as
 * PyTorch's fake_quantize_per_{tensor,channel}_affine backward (dy * 0 is -0 for negative dy). */
void lb_fq_backward_ste(const lb_qspec *q, const lb_shape *shape, const float *x, const float *scale,
                        const float *zero, const float *dy, float *dx);
/* LSQ / LSQ+ gradients, as PyTorch 1.13's _fake_quantize_learnable_per_{tensor,channel}_affine
 * (checked against it: tests/test_quant_fq.c). PyTorch's backward differs from its forward in
 * two ways, and we follow it:
 *  - it rounds after adding the zero point: q = rint(zb + x*inv), computed as one fused
 *    multiply-add (PyTorch's AVX2/AVX-512 kernels are contracted; fmaf here), so at exact ties
 *    the clamp decision can differ from the forward's rint(x*inv) + zp;
 *  - the zero point zb: per channel/group clamp(rint(zero)) as in the forward, but per tensor
 *    trunc(clamp(zero + 0.5, qmin, qmax)) (halves round up; -1.3 gives 0, not -1).
 * With inside = (qmin <= q <= qmax):
 *  dx     += dy * inside;
 *  dscale += grad_factor * dy * ((q - zb)*scale - x) * inv inside, (qmin - zb) below, (qmax - zb)
 *            above (grad_factor already applied, as PyTorch);
 *  dzero  += grad_factor * dy * (-scale) where clamped, 0 inside (skipped if dzero is NULL or the
 *            spec is symmetric).
 * grad_factor is LSQ's 1/sqrt(N * qmax) (see lb_lsq_grad_factor); any of dx/dscale/dzero may be
 * NULL. dscale/dzero sum float terms in double in a fixed order: the same bits for any thread
 * count. */
void lb_fq_backward_lsq(const lb_qspec *q, const lb_shape *shape, const float *x, const float *scale,
                        const float *zero, const float *dy, float grad_factor, float *dx, float *dscale, float *dzero);
/* 1/sqrt(N * qmax) with N the elements per scale (numel for per-tensor, numel/channels per
 * channel, group size per group), computed in double and rounded to float as MQBench passes it to
 * PyTorch. qmax 0 (signed 1-bit) counts as 1. */
float lb_lsq_grad_factor(const lb_qspec *q, const lb_shape *shape);

/* ---- observers: how scale and zero point are first set ------------------------------------ */
typedef enum lb_observer_kind {
  LB_OBS_MINMAX = 0,   /* running min and max over everything observed */
  LB_OBS_EMA_MINMAX,   /* m <- (1-c)*m + c*batch (c = momentum, default 0.1); the first batch sets m */
  LB_OBS_PERCENTILE,   /* clip at the given percentile of |x| (or of x, for affine specs) */
  LB_OBS_MSE,          /* the clip range minimising the squared quantization error */
  LB_OBS_KL,           /* TensorRT-style entropy calibration: the clip threshold minimising
                          KL(P || Q) between the histogram and its quantized version */
  LB_OBS_LSQ,          /* LSQ init: s = 2*mean|x| / sqrt(qmax) (symmetric specs; affine: min/max) */
  LB_OBS_KIND_COUNT
} lb_observer_kind;

typedef struct lb_observer {
  lb_observer_kind kind;
  lb_qspec spec;
  int64_t n_params;        /* scales this observer produces (1 unless per channel/group) */
  float momentum;          /* EMA, in (0, 1]; default 0.1 */
  float percentile;        /* PERCENTILE, in (0, 100]; default 99.99 */
  int bins;                /* PERCENTILE/MSE/KL histogram bins; default 2048. The three settings
                              may be changed after init; bins only before the first update */
  int64_t batches;         /* updates so far */
  /* state (one allocation, owned): per parameter min, max, sum|x|, count; histograms */
  double *state;
  int64_t state_len;
} lb_observer;

lb_status lb_observer_kind_parse(const char *name, lb_observer_kind *kind); /* "minmax","ema","percentile","mse","kl","lsq" */
const char *lb_observer_kind_name(lb_observer_kind kind);
/* shape: the shape of the tensors that will be observed (for activations, with the batch
 * dimension; channel axis counted in that shape). */
lb_status lb_observer_init(lb_observer *o, lb_observer_kind kind, const lb_qspec *q, const lb_shape *shape);
/* Observe one tensor (a batch of activations, or the weights). x must have the init shape,
 * except that dimension 0 may be smaller (a last partial batch). */
lb_status lb_observer_update(lb_observer *o, const lb_shape *shape, const float *x);
/* Scale and zero point per parameter. Fails if nothing was observed. The range always includes
 * 0 (as PyTorch's observers); the scale honours the spec (power of two when asked) and is never
 * below FLT_EPSILON (PyTorch's floor). Formulas, from the observed range [lo, hi]:
 *   symmetric signed:   s = max(-lo, hi) / ((qmax - qmin) / 2), zero 0
 *   symmetric unsigned: s = hi / qmax, zero 0 (non-negative data such as post-ReLU activations)
 *   affine:             s = (hi - lo) / (qmax - qmin), zero = clamp(qmin - rint(lo / s), qmin, qmax)
 * LSQ on symmetric specs ignores the range: s = 2*mean|x|/sqrt(qmax), zero 0. On affine specs it
 * is the min/max range above (LSQ+'s fallback init): LSQ's step with the zero point at the
 * minimum can leave a low-bit grid without positive levels. Binary specs take s = mean|x|
 * under every observer. */
lb_status lb_observer_compute(const lb_observer *o, float *scale, float *zero);
void lb_observer_free(lb_observer *o);

/* ---- NNIE's 8-bit logarithmic quantizer (methods/qat.md 4.4, src/quant/log_quant.c) ------ *
 * One positive number c per tensor (the running max|x|) sets the grid:
 *   z = rint(16*log2 c) - 127,  levels L_k = 2^((k+z)/16),
 *   positive values: k in [0, 127]; negative values: k in [1, 127] (sign-magnitude code; the
 *   256 codes are 0, 128 positive and 127 negative levels). L_127 is c to within 2^(1/32).
 * Rounding, with t = 16*log2|x| - z (the position of |x| on the grid, in steps of 2^(1/16)):
 *   - zero: x > 0 with t <= -16, x < 0 with t <= -15, i.e. |x| at most half the smallest level
 *     of its sign (L_0/2, L_1/2: the linear midpoint between 0 and that level; the midpoint
 *     itself goes to 0). x = 0 (either sign) gives +0. This is MQBench's NNIEQuantizeFunc,
 *     which leaves x = L_0/2 exactly unchanged by oversight; here it is 0.
 *   - otherwise k = clamp(rint(t), kmin, 127), kmin = 0 (x > 0) or 1 (x < 0): nearest level in
 *     the log domain (half-to-even, as torch.round; no float lies on a half step, since
 *     2^((j+1/2)/16) is irrational), saturating at L_127 above c and at L_kmin just above the
 *     zero threshold; y = sign(x) * L_k.
 * log2 and exp2 are computed in double and each level is rounded once to float (a level that
 * would overflow a float is FLT_MAX), so results are the same on every platform with a faithful
 * libm and any thread count. NaN passes through; +-inf saturate at +-L_127.
 * c must be positive and finite; NaN and c <= 0 are taken as FLT_EPSILON, +inf as FLT_MAX (the
 * graph ops pass max(c, FLT_EPSILON)). */
#define LB_LOGQ_KMAX 127
/* z for a given c (after the guard above). */
int lb_logq_z(float c);
/* The level 2^((k+z)/16) as a float (k any integer; used by the kernel for k in [0, 127]). */
float lb_logq_level(int z, int k);
/* y = Q_log(x) over n elements (x and y may alias). */
void lb_logq_forward(int64_t n, float c, const float *x, float *y);
/* NNIE's gradient: pure straight-through, dx += dy everywhere (also where saturated or zeroed).
 * dx may be NULL (nothing to do). */
void lb_logq_backward_ste(int64_t n, const float *dy, float *dx);
/* max |x| over n elements (NaN ignored; 0 for n = 0): how c tracks the data. */
float lb_logq_absmax(int64_t n, const float *x);

#ifdef __cplusplus
}
#endif
#endif
