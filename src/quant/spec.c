/* The quantizer spec: which integers exist (range), how many scales a tensor needs, validation
 * with messages that name the problem, a short readable form, and power-of-two scale rounding. */
#include <float.h>
#include <math.h>
#include <stdio.h>

#include "lowbit/quant.h"

static const char *gran_name(lb_qgran g) {
  switch (g) {
  case LB_QGRAN_TENSOR: return "per-tensor";
  case LB_QGRAN_CHANNEL: return "per-channel";
  case LB_QGRAN_GROUP: return "per-group";
  }
  return "?";
}

static lb_status check_shape(const lb_shape *shape) {
  if (shape->ndim < 0 || shape->ndim > LB_MAX_DIMS)
    return lb_fail(LB_ERR_SHAPE, "quantizer spec: a tensor shape has %d dimensions (0..%d allowed)", shape->ndim,
                   LB_MAX_DIMS);
  for (int i = 0; i < shape->ndim; i++)
    if (shape->d[i] < 0)
      return lb_fail(LB_ERR_SHAPE, "quantizer spec: dimension %d of the tensor is negative (%lld)", i,
                     (long long)shape->d[i]);
  return LB_OK;
}

lb_status lb_qspec_validate(const lb_qspec *q, const lb_shape *shape) {
  if (!q) return lb_fail(LB_ERR_ARG, "quantizer spec: no spec given");
  if (q->bits < 1 || q->bits > 16)
    return lb_fail(LB_ERR_ARG, "quantizer spec: %d bits (1 to 16 supported)", q->bits);
  if (q->binary && (q->bits != 1 || !q->is_signed || !q->symmetric || q->narrow))
    return lb_fail(LB_ERR_ARG, "quantizer spec: a binary (+-1) grid needs 1 bit, signed, symmetric and not narrow "
                   "(got %d bits%s%s%s)", q->bits, q->is_signed ? "" : ", unsigned", q->symmetric ? "" : ", affine",
                   q->narrow ? ", narrow" : "");
  if (q->narrow && !q->is_signed)
    return lb_fail(LB_ERR_ARG, "quantizer spec: narrow range needs a signed spec (uint%d has no most negative value "
                   "to drop)", q->bits);
  if (q->narrow && q->bits < 2)
    return lb_fail(LB_ERR_ARG, "quantizer spec: narrow range needs at least 2 bits (narrow int1 would hold only 0)");
  if (q->scale_kind != LB_QSCALE_FLOAT && q->scale_kind != LB_QSCALE_POW2)
    return lb_fail(LB_ERR_ARG, "quantizer spec: unknown scale kind %d", (int)q->scale_kind);
  switch (q->gran) {
  case LB_QGRAN_TENSOR: break;
  case LB_QGRAN_CHANNEL:
    if (q->axis < 0 || q->axis >= LB_MAX_DIMS)
      return lb_fail(LB_ERR_ARG, "quantizer spec: per-channel quantization on axis %d (0..%d allowed)", q->axis,
                     LB_MAX_DIMS - 1);
    break;
  case LB_QGRAN_GROUP:
    if (q->axis != 0)
      return lb_fail(LB_ERR_ARG, "quantizer spec: group quantization is per output channel and needs axis 0, not "
                     "axis %d", q->axis);
    if (q->group <= 0)
      return lb_fail(LB_ERR_ARG, "quantizer spec: group quantization needs a positive group size, not %d", q->group);
    break;
  default: return lb_fail(LB_ERR_ARG, "quantizer spec: unknown granularity %d", (int)q->gran);
  }
  if (!shape) return LB_OK;
  lb_status st = check_shape(shape);
  if (st != LB_OK) return st;
  char sb[96];
  if (q->gran == LB_QGRAN_CHANNEL && q->axis >= shape->ndim)
    return lb_fail(LB_ERR_SHAPE, "per-channel quantization on axis %d, but the tensor %s has %d dimension%s", q->axis,
                   lb_shape_str(shape, sb, sizeof sb), shape->ndim, shape->ndim == 1 ? "" : "s");
  if (q->gran == LB_QGRAN_GROUP) {
    if (shape->ndim < 1)
      return lb_fail(LB_ERR_SHAPE, "group quantization needs a tensor with a channel axis, not a scalar");
    int64_t slice = shape->d[0] ? lb_shape_numel(shape) / shape->d[0] : 0;
    if (slice % q->group != 0)
      return lb_fail(LB_ERR_SHAPE, "group size %d does not divide the %lld elements of each channel of the tensor %s",
                     q->group, (long long)slice, lb_shape_str(shape, sb, sizeof sb));
  }
  return LB_OK;
}

void lb_qspec_range(const lb_qspec *q, int32_t *qmin, int32_t *qmax) {
  int32_t lo, hi;
  if (q->binary) {
    lo = -1;
    hi = 1;
  } else if (q->is_signed) {
    lo = -(int32_t)(1L << (q->bits - 1)) + (q->narrow ? 1 : 0);
    hi = (int32_t)(1L << (q->bits - 1)) - 1;
  } else {
    lo = 0;
    hi = (int32_t)(1L << q->bits) - 1;
  }
  if (qmin) *qmin = lo;
  if (qmax) *qmax = hi;
}

int64_t lb_qspec_num_params(const lb_qspec *q, const lb_shape *shape) {
  switch (q->gran) {
  case LB_QGRAN_TENSOR: return 1;
  case LB_QGRAN_CHANNEL:
    if (!shape || q->axis < 0 || q->axis >= shape->ndim) return -1;
    return shape->d[q->axis];
  case LB_QGRAN_GROUP:
    if (!shape || q->group <= 0 || shape->ndim < 1) return -1;
    return lb_shape_numel(shape) / q->group;
  }
  return -1;
}

char *lb_qspec_str(const lb_qspec *q, char *buf, size_t cap) {
  if (!buf || cap == 0) return buf;
  char g[48];
  if (q->gran == LB_QGRAN_CHANNEL)
    snprintf(g, sizeof g, "per-channel(%d)", q->axis);
  else if (q->gran == LB_QGRAN_GROUP)
    snprintf(g, sizeof g, "per-group(%d)", q->group);
  else
    snprintf(g, sizeof g, "%s", gran_name(q->gran));
  if (q->binary) {
    snprintf(buf, cap, "binary(+-1) %s%s", g, q->scale_kind == LB_QSCALE_POW2 ? " pow2" : "");
    return buf;
  }
  snprintf(buf, cap, "%s%d %s%s %s%s", q->is_signed ? "int" : "uint", q->bits, q->symmetric ? "sym" : "affine",
           q->narrow ? " narrow" : "", g, q->scale_kind == LB_QSCALE_POW2 ? " pow2" : "");
  return buf;
}

/* 2^rint(log2 s), decided exactly: write s = m * 2^e with m in [1, 2); log2 s rounds up to e + 1
 * iff m >= sqrt(2), i.e. m*m >= 2 (exact in double for a 24-bit m). A tie in the log domain
 * (m == sqrt 2) cannot occur in floating point, so the comparison never needs a tie rule, and
 * no log2 rounding error can flip the result near sqrt(2) * 2^e. Non-positive, infinite and NaN
 * inputs are returned unchanged (they are not scales). */
float lb_qscale_pow2(float s) {
  if (!(s > 0.0f) || isinf(s)) return s;
  int e;
  double m = frexp((double)s, &e) * 2.0; /* s = m * 2^(e-1), m in [1, 2) */
  e -= 1;
  if (m * m >= 2.0) e += 1;
  return (float)ldexp(1.0, e);
}

float lb_qscale_effective(const lb_qspec *q, float s, float *sign) {
  if (sign) *sign = s < 0.0f ? -1.0f : 1.0f;
  float a = fabsf(s);
  if (!(a >= FLT_EPSILON)) a = FLT_EPSILON; /* also catches NaN */
  return q->scale_kind == LB_QSCALE_POW2 ? lb_qscale_pow2(a) : a;
}
