/* ONNX quantized operators on lowbit's integer kernels (onnx_qop.h). */
#include "deploy/qop/onnx_qop.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/bytes.h"
#include "lowbit/ikernel.h"

enum { T_FLOAT = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, T_U8 = ONNX__TENSOR_PROTO__DATA_TYPE__UINT8,
       T_I8 = ONNX__TENSOR_PROTO__DATA_TYPE__INT8, T_I32 = ONNX__TENSOR_PROTO__DATA_TYPE__INT32 };

static const char *const supported[] = {"QuantizeLinear", "DequantizeLinear", "QLinearConv",          "QLinearMatMul",
                                        "ConvInteger",    "MatMulInteger",    "DynamicQuantizeLinear", NULL};

int lb_onnx_qop_supported(const char *op_type) {
  for (int i = 0; supported[i]; i++)
    if (!strcmp(op_type, supported[i])) return 1;
  return 0;
}

/* Everything a kernel call needs from a node, checked once. */
typedef struct qop {
  const Onnx__NodeProto *node;
  const char *name;
} qop;

static lb_status qfail(const qop *q, lb_status s, const char *what) {
  return lb_fail(s, "node '%s' (%s): %s", q->name, q->node->op_type, what);
}

static const lb_onnx_tensor *arg(const lb_onnx_tensor *const *in, int n_in, int k) { return k < n_in ? in[k] : NULL; }

static int is_8bit(const lb_onnx_tensor *t) { return t && (t->dtype == T_U8 || t->dtype == T_I8); }

/* An 8-bit tensor's values as bytes (uint8 values or int8 two's complement). */
static uint8_t *to_bytes(const lb_onnx_tensor *t) {
  uint8_t *b = malloc((size_t)(t->numel ? t->numel : 1));
  if (b)
    for (int64_t k = 0; k < t->numel; k++) b[k] = (uint8_t)t->i[k];
  return b;
}

/* Output of n codes from bytes (signed per dtype) into a fresh tensor. */
static lb_status from_bytes(lb_onnx_tensor *out, int dtype, int ndim, const int64_t *dims, const uint8_t *b) {
  lb_status s = lb_onnx_tensor_alloc(out, dtype, ndim, dims);
  if (s) return s;
  for (int64_t k = 0; k < out->numel; k++) out->i[k] = dtype == T_I8 ? (int64_t)(int8_t)b[k] : (int64_t)b[k];
  return LB_OK;
}

/* Zero point k of an optional zero-point tensor (0 when absent). */
static int32_t zp_at(const lb_onnx_tensor *z, int64_t k) {
  if (!z) return 0;
  return (int32_t)z->i[z->numel == 1 ? 0 : k];
}

static void range_of(int dtype, int32_t *lo, int32_t *hi) {
  *lo = dtype == T_I8 ? -128 : 0;
  *hi = dtype == T_I8 ? 127 : 255;
}

/* A scale/zero-point pair must be one value or one per index of `axis_len`. */
static int per_axis_ok(const lb_onnx_tensor *t, int64_t axis_len) {
  return !t || t->numel == 1 || t->numel == axis_len;
}

/* ---- QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear ---------------------------- */
/* (outer, axis, inner) split of x for a per-axis scale; one block for a per-tensor (one-value)
 * scale, whatever the axis attribute says. */
static lb_status axis_split(const qop *q, const lb_onnx_tensor *x, const lb_onnx_tensor *scale, int64_t *outer,
                            int64_t *len, int64_t *inner) {
  if (scale->numel == 1) {
    *outer = *len = 1;
    *inner = x->numel;
    return LB_OK;
  }
  int64_t axis = 1;
  if (lb_onnx_attr_int(q->node, "axis", 1, &axis)) return qfail(q, LB_ERR_FORMAT, "attribute axis is not an int");
  if (x->ndim == 0) axis = 0;
  if (axis < 0) axis += x->ndim;
  if (x->ndim > 0 && (axis < 0 || axis >= x->ndim)) return qfail(q, LB_ERR_ARG, "axis out of range");
  *outer = 1;
  *inner = 1;
  *len = x->ndim ? x->dims[axis] : 1;
  for (int d = 0; d < x->ndim; d++) {
    if (d < axis) *outer *= x->dims[d];
    if (d > axis) *inner *= x->dims[d];
  }
  return LB_OK;
}

static lb_status run_quantize(const qop *q, const lb_onnx_tensor *x, const lb_onnx_tensor *sc, const lb_onnx_tensor *zp,
                              lb_onnx_tensor *y) {
  if (!x || !x->is_float || !sc || !sc->is_float) return qfail(q, LB_ERR_ARG, "needs float x and y_scale");
  if (zp && !is_8bit(zp)) return qfail(q, LB_ERR_UNSUPPORTED, "y_zero_point must be uint8 or int8");
  int dtype = zp ? zp->dtype : T_U8;
  int64_t outer, len, inner;
  lb_status s = axis_split(q, x, sc, &outer, &len, &inner);
  if (s) return s;
  if (!per_axis_ok(sc, len) || !per_axis_ok(zp, len)) return qfail(q, LB_ERR_SHAPE, "scale/zero point do not fit the axis");
  uint8_t *b = malloc((size_t)(x->numel ? x->numel : 1));
  if (!b) return qfail(q, LB_ERR_NOMEM, "out of memory");
  int32_t lo, hi;
  range_of(dtype, &lo, &hi);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t c = 0; c < len; c++) {
      int64_t at = (o * len + c) * inner;
      float scale = sc->f[sc->numel == 1 ? 0 : c];
      lb_ik_quantize(inner, x->f + at, 1.0f / scale, zp_at(zp, c), lo, hi, dtype == T_I8, b + at);
    }
  s = from_bytes(y, dtype, x->ndim, x->dims, b);
  free(b);
  return s;
}

static lb_status run_dequantize(const qop *q, const lb_onnx_tensor *x, const lb_onnx_tensor *sc, const lb_onnx_tensor *zp,
                                lb_onnx_tensor *y) {
  if (!x || x->is_float || !sc || !sc->is_float) return qfail(q, LB_ERR_ARG, "needs integer x and float x_scale");
  int64_t outer, len, inner;
  lb_status s = axis_split(q, x, sc, &outer, &len, &inner);
  if (s) return s;
  if (!per_axis_ok(sc, len) || !per_axis_ok(zp, len)) return qfail(q, LB_ERR_SHAPE, "scale/zero point do not fit the axis");
  s = lb_onnx_tensor_alloc(y, T_FLOAT, x->ndim, x->dims);
  if (s) return s;
  uint8_t *b = is_8bit(x) ? to_bytes(x) : NULL;
  if (is_8bit(x) && !b) return qfail(q, LB_ERR_NOMEM, "out of memory");
  for (int64_t o = 0; o < outer; o++)
    for (int64_t c = 0; c < len; c++) {
      int64_t at = (o * len + c) * inner;
      float scale = sc->f[sc->numel == 1 ? 0 : c];
      int32_t z = zp_at(zp, c);
      if (b) {
        lb_ik_dequantize(inner, b + at, x->dtype == T_I8, z, scale, y->f + at);
      } else { /* int32 input (zero point 0 by the spec): the same single multiply */
        for (int64_t i = 0; i < inner; i++) y->f[at + i] = (float)(x->i[at + i] - z) * scale;
      }
    }
  free(b);
  return LB_OK;
}

static lb_status run_dynamic_quantize(const qop *q, const lb_onnx_tensor *x, lb_onnx_tensor *out) {
  if (!x || !x->is_float) return qfail(q, LB_ERR_ARG, "needs a float input");
  float mn = 0.0f, mx = 0.0f; /* the range always includes 0 */
  for (int64_t k = 0; k < x->numel; k++) {
    mn = fminf(mn, x->f[k]);
    mx = fmaxf(mx, x->f[k]);
  }
  float scale = (mx - mn) / 255.0f;
  int32_t zp = 0;
  if (scale > 0.0f) {
    float z = rintf((0.0f - mn) / scale);
    zp = (int32_t)(z < 0.0f ? 0.0f : z > 255.0f ? 255.0f : z);
  }
  uint8_t *b = malloc((size_t)(x->numel ? x->numel : 1));
  if (!b) return qfail(q, LB_ERR_NOMEM, "out of memory");
  if (scale > 0.0f) lb_ik_quantize(x->numel, x->f, 1.0f / scale, zp, 0, 255, 0, b);
  else memset(b, 0, (size_t)x->numel); /* all zeros: every value is the zero point 0 */
  lb_status s = from_bytes(&out[0], T_U8, x->ndim, x->dims, b);
  free(b);
  if (!s) s = lb_onnx_tensor_alloc(&out[1], T_FLOAT, 0, NULL);
  if (!s) s = lb_onnx_tensor_alloc(&out[2], T_U8, 0, NULL);
  if (s) return s;
  out[1].f[0] = scale;
  out[2].i[0] = zp;
  return LB_OK;
}

/* ---- convolution --------------------------------------------------------------------------- */
static lb_status conv_desc(const qop *q, const lb_onnx_tensor *x, const lb_onnx_tensor *w, lb_conv2d_desc *d) {
  if (x->ndim != 4 || w->ndim != 4) return qfail(q, LB_ERR_UNSUPPORTED, "only 2-D convolutions (4-D x and w)");
  char pad[32];
  if (lb_onnx_attr_string(q->node, "auto_pad", "NOTSET", pad, sizeof pad) || strcmp(pad, "NOTSET"))
    return qfail(q, LB_ERR_UNSUPPORTED, "auto_pad other than NOTSET");
  int64_t st[2] = {1, 1}, dil[2] = {1, 1}, pads[4] = {0, 0, 0, 0}, ks[2], group = 1;
  int n;
  lb_status s = lb_onnx_attr_ints(q->node, "strides", st, 2, &n);
  if (!s) s = lb_onnx_attr_ints(q->node, "dilations", dil, 2, &n);
  if (!s) s = lb_onnx_attr_ints(q->node, "pads", pads, 4, &n);
  if (!s) s = lb_onnx_attr_ints(q->node, "kernel_shape", ks, 2, &n);
  if (!s && n == 2 && (ks[0] != w->dims[2] || ks[1] != w->dims[3]))
    return qfail(q, LB_ERR_SHAPE, "kernel_shape does not match the weight");
  if (!s) s = lb_onnx_attr_int(q->node, "group", 1, &group);
  if (s) return qfail(q, LB_ERR_FORMAT, "malformed attribute");
  if (pads[0] != pads[2] || pads[1] != pads[3])
    return qfail(q, LB_ERR_UNSUPPORTED, "pads that differ at the beginning and the end");
  *d = (lb_conv2d_desc){.n = (int)x->dims[0], .c = (int)x->dims[1], .h = (int)x->dims[2], .w = (int)x->dims[3],
                        .k = (int)w->dims[0], .r = (int)w->dims[2], .s = (int)w->dims[3], .stride_h = (int)st[0],
                        .stride_w = (int)st[1], .pad_h = (int)pads[0], .pad_w = (int)pads[1], .dil_h = (int)dil[0],
                        .dil_w = (int)dil[1], .groups = (int)group};
  if (w->dims[1] * group != x->dims[1]) return qfail(q, LB_ERR_SHAPE, "weight channels x group != input channels");
  if (lb_conv2d_init(d)) return qfail(q, LB_ERR_SHAPE, lb_last_error());
  return LB_OK;
}

/* acc (n, K, oh, ow) of the integer conv of x with w (zero points applied). */
static lb_status conv_acc(const qop *q, const lb_onnx_tensor *x, const lb_onnx_tensor *xz, const lb_onnx_tensor *w,
                          const lb_onnx_tensor *wz, lb_conv2d_desc *d, int32_t **acc) {
  if (!is_8bit(x) || !is_8bit(w)) return qfail(q, LB_ERR_UNSUPPORTED, "x and w must be uint8 or int8");
  if (xz && xz->numel != 1) return qfail(q, LB_ERR_UNSUPPORTED, "x zero point must be one value");
  lb_status s = conv_desc(q, x, w, d);
  if (s) return s;
  if (!per_axis_ok(wz, d->k)) return qfail(q, LB_ERR_SHAPE, "w zero point must be one value or one per output channel");
  int32_t *wzp = malloc((size_t)d->k * sizeof *wzp);
  uint8_t *xb = to_bytes(x), *wb = to_bytes(w);
  int64_t out = (int64_t)d->n * d->k * d->oh * d->ow;
  *acc = malloc((size_t)(out ? out : 1) * sizeof **acc);
  lb_iconv *ic = NULL;
  void *scratch = NULL;
  s = (!wzp || !xb || !wb || !*acc) ? qfail(q, LB_ERR_NOMEM, "out of memory") : LB_OK;
  if (!s) {
    for (int k = 0; k < d->k; k++) wzp[k] = zp_at(wz, k);
    s = lb_iconv_prepare(d, 8, w->dtype == T_I8, (const int8_t *)wb, wzp, x->dtype == T_I8, lb_ik_select(), &ic);
  }
  if (!s) {
    scratch = malloc(lb_iconv_scratch(ic, d->n) + 64);
    if (!scratch) s = qfail(q, LB_ERR_NOMEM, "out of memory");
  }
  if (!s) lb_iconv_run(ic, d->n, xb, zp_at(xz, 0), *acc, scratch);
  lb_iconv_free(ic);
  free(scratch);
  free(wzp);
  free(xb);
  free(wb);
  if (s) {
    free(*acc);
    *acc = NULL;
  }
  return s;
}

/* Requantize acc (n, K, hw) to y's type: m[k] = a_scale * b_scale[k] / y_scale. */
static lb_status requant_out(const qop *q, const int32_t *acc, const int32_t *bias, int n, int k, int64_t hw, float as,
                             const lb_onnx_tensor *bs, float ys, const lb_onnx_tensor *yz, int ndim, const int64_t *dims,
                             lb_onnx_tensor *y) {
  if (yz && !is_8bit(yz)) return qfail(q, LB_ERR_UNSUPPORTED, "y zero point must be uint8 or int8");
  int dtype = yz ? yz->dtype : T_U8;
  int32_t *M = malloc((size_t)k * sizeof *M);
  int *sh = malloc((size_t)k * sizeof *sh);
  int64_t *bias_p = malloc((size_t)k * sizeof *bias_p);
  uint8_t *b = malloc((size_t)((int64_t)n * k * hw + 1));
  lb_status s = (!M || !sh || !bias_p || !b) ? qfail(q, LB_ERR_NOMEM, "out of memory") : LB_OK;
  for (int j = 0; j < k && !s; j++) {
    double m = (double)as * (double)bs->f[bs->numel == 1 ? 0 : j] / (double)ys;
    if (lb_requant_multiplier(m, &M[j], &sh[j])) s = qfail(q, LB_ERR_UNSUPPORTED, "requantization scale out of range");
    else bias_p[j] = lb_bias_product(bias ? bias[j] : 0, M[j], 0); /* ONNX's int32 bias: on the accumulator grid */
  }
  if (!s) {
    int32_t lo, hi;
    range_of(dtype, &lo, &hi);
    lb_ik_requant(lb_ik_select(), n, k, hw, acc, bias_p, M, sh, zp_at(yz, 0), lo, hi, dtype == T_I8, b);
    s = from_bytes(y, dtype, ndim, dims, b);
  }
  free(M);
  free(sh);
  free(bias_p);
  free(b);
  return s;
}

static lb_status run_conv(const qop *q, const lb_onnx_tensor *const *in, int n_in, lb_onnx_tensor *y, int linear) {
  const lb_onnx_tensor *x = arg(in, n_in, 0);
  /* QLinearConv: x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B; ConvInteger: x, w, x_zp, w_zp */
  const lb_onnx_tensor *xz = arg(in, n_in, 2), *w = linear ? arg(in, n_in, 3) : arg(in, n_in, 1);
  const lb_onnx_tensor *wz = linear ? arg(in, n_in, 5) : arg(in, n_in, 3);
  if (!x || !w) return qfail(q, LB_ERR_ARG, "missing x or w");
  lb_conv2d_desc d;
  int32_t *acc = NULL;
  lb_status s = conv_acc(q, x, xz, w, wz, &d, &acc);
  if (s) return s;
  int64_t dims[4] = {d.n, d.k, d.oh, d.ow}, hw = (int64_t)d.oh * d.ow;
  if (!linear) {
    s = lb_onnx_tensor_alloc(y, T_I32, 4, dims);
    for (int64_t e = 0; !s && e < y->numel; e++) y->i[e] = acc[e];
    free(acc);
    return s;
  }
  const lb_onnx_tensor *xs = arg(in, n_in, 1), *ws = arg(in, n_in, 4), *ys = arg(in, n_in, 6), *yz = arg(in, n_in, 7);
  const lb_onnx_tensor *bias = arg(in, n_in, 8);
  if (!xs || !ws || !ys || !xs->is_float || !ws->is_float || !ys->is_float || !per_axis_ok(ws, d.k))
    s = qfail(q, LB_ERR_ARG, "scales must be float (w_scale: one or one per output channel)");
  int32_t *bq = NULL;
  if (!s && bias) {
    bq = malloc((size_t)d.k * sizeof *bq);
    if (!bq || bias->numel != d.k) s = qfail(q, LB_ERR_SHAPE, "bias must hold one int32 per output channel");
    for (int j = 0; !s && j < d.k; j++) bq[j] = (int32_t)bias->i[j];
  }
  if (!s) s = requant_out(q, acc, bq, d.n, d.k, hw, xs->f[0], ws, ys->f[0], yz, 4, dims, y);
  free(bq);
  free(acc);
  return s;
}

/* ---- matrix multiplication ---------------------------------------------------------------- */
static lb_status run_matmul(const qop *q, const lb_onnx_tensor *const *in, int n_in, lb_onnx_tensor *y, int linear) {
  const lb_onnx_tensor *a = arg(in, n_in, 0), *b = linear ? arg(in, n_in, 3) : arg(in, n_in, 1);
  /* QLinearMatMul: a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp; MatMulInteger: A, B, a_zp, b_zp */
  const lb_onnx_tensor *az = arg(in, n_in, 2), *bz = linear ? arg(in, n_in, 5) : arg(in, n_in, 3);
  if (!is_8bit(a) || !is_8bit(b)) return qfail(q, LB_ERR_UNSUPPORTED, "A and B must be uint8 or int8");
  if (a->ndim < 2 || b->ndim < 2) return qfail(q, LB_ERR_UNSUPPORTED, "A and B must be at least 2-D");
  int64_t m = a->dims[a->ndim - 2], kk = a->dims[a->ndim - 1], n = b->dims[b->ndim - 1];
  if (b->dims[b->ndim - 2] != kk) return qfail(q, LB_ERR_SHAPE, "inner dimensions differ");
  int64_t ak = m * kk, bk = kk * n;
  int64_t batch = a->numel / (ak > 0 ? ak : 1), bbatch = b->numel / (bk > 0 ? bk : 1);
  int same = a->ndim == b->ndim;
  for (int d = 0; same && d < a->ndim - 2; d++) same = a->dims[d] == b->dims[d];
  if (!(bbatch == 1 && b->ndim == 2) && !same)
    return qfail(q, LB_ERR_UNSUPPORTED, "batch broadcasting other than a 2-D B");
  if (az && az->numel != 1) return qfail(q, LB_ERR_UNSUPPORTED, "per-row A zero points");
  if (!per_axis_ok(bz, n)) return qfail(q, LB_ERR_SHAPE, "B zero point must be one value or one per column");
  int64_t dims[LB_ONNX_MAX_RANK];
  for (int d = 0; d < a->ndim; d++) dims[d] = a->dims[d];
  dims[a->ndim - 1] = n;
  uint8_t *ab = to_bytes(a), *bt = malloc((size_t)(kk * n + 1));
  int32_t *bzp = malloc((size_t)(n + 1) * sizeof *bzp), *acc = malloc((size_t)(batch * m * n + 1) * sizeof *acc);
  lb_status s = (!ab || !bt || !bzp || !acc) ? qfail(q, LB_ERR_NOMEM, "out of memory") : LB_OK;
  for (int64_t j = 0; j < n && !s; j++) bzp[j] = zp_at(bz, j);
  for (int64_t t = 0; t < batch && !s; t++) {
    const int64_t *bsrc = b->i + (bbatch == 1 ? 0 : t) * kk * n;
    for (int64_t r = 0; r < kk; r++) /* B (K, N) -> the kernel's (N, K) */
      for (int64_t c = 0; c < n; c++) bt[c * kk + r] = (uint8_t)bsrc[r * n + c];
    lb_ilinear *l = NULL;
    s = lb_ilinear_prepare((int)n, (int)kk, 8, b->dtype == T_I8, (const int8_t *)bt, bzp, a->dtype == T_I8, lb_ik_select(),
                           &l);
    if (!s) lb_ilinear_run(l, (int)m, ab + t * m * kk, zp_at(az, 0), acc + t * m * n);
    lb_ilinear_free(l);
  }
  if (!s && !linear) {
    s = lb_onnx_tensor_alloc(y, T_I32, a->ndim, dims);
    for (int64_t e = 0; !s && e < y->numel; e++) y->i[e] = acc[e];
  } else if (!s) {
    const lb_onnx_tensor *as = arg(in, n_in, 1), *bs = arg(in, n_in, 4), *ys = arg(in, n_in, 6), *yz = arg(in, n_in, 7);
    if (!as || !bs || !ys || !as->is_float || !bs->is_float || !ys->is_float || !per_axis_ok(bs, n))
      s = qfail(q, LB_ERR_ARG, "scales must be float (b_scale: one or one per column)");
    if (!s) s = requant_out(q, acc, NULL, (int)(batch * m), (int)n, 1, as->f[0], bs, ys->f[0], yz, a->ndim, dims, y);
  }
  free(ab);
  free(bt);
  free(bzp);
  free(acc);
  return s;
}

lb_status lb_onnx_qop_run(const Onnx__NodeProto *node, const lb_onnx_tensor *const *in, int n_in, lb_onnx_tensor *out,
                          int n_out) {
  qop q = {node, node->name && node->name[0] ? node->name : "(unnamed)"};
  const char *op = node->op_type ? node->op_type : "";
  if (!lb_onnx_qop_supported(op)) return qfail(&q, LB_ERR_UNSUPPORTED, "not one of the quantized operators lowbit runs");
  int want_out = !strcmp(op, "DynamicQuantizeLinear") ? 3 : 1;
  if (n_out < want_out) return qfail(&q, LB_ERR_ARG, "too few outputs");
  if (!strcmp(op, "QuantizeLinear")) return run_quantize(&q, arg(in, n_in, 0), arg(in, n_in, 1), arg(in, n_in, 2), out);
  if (!strcmp(op, "DequantizeLinear")) return run_dequantize(&q, arg(in, n_in, 0), arg(in, n_in, 1), arg(in, n_in, 2), out);
  if (!strcmp(op, "DynamicQuantizeLinear")) return run_dynamic_quantize(&q, arg(in, n_in, 0), out);
  if (!strcmp(op, "QLinearConv")) return run_conv(&q, in, n_in, out, 1);
  if (!strcmp(op, "ConvInteger")) return run_conv(&q, in, n_in, out, 0);
  return run_matmul(&q, in, n_in, out, !strcmp(op, "QLinearMatMul"));
}

lb_status lb_onnx_read_tensor_file(const char *path, lb_onnx_tensor *t) {
  memset(t, 0, sizeof *t);
  uint8_t *data;
  size_t len;
  lb_status s = lb_read_file(path, &data, &len);
  if (s) return s;
  Onnx__TensorProto *p = onnx__tensor_proto__unpack(NULL, len, data);
  free(data);
  if (!p) return lb_fail(LB_ERR_FORMAT, "%s: not a serialized ONNX TensorProto", path);
  s = lb_onnx_tensor_from_proto(p, t);
  onnx__tensor_proto__free_unpacked(p, NULL);
  if (s) return lb_fail(s, "%s: %s", path, lb_last_error());
  return LB_OK;
}
