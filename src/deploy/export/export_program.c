/* An integer program as ONNX, QOperator or QDQ form (export.h).
 *
 * Every code tensor of the program is an 8-bit ONNX tensor (N, c, h, w) of its type with its
 * scale and zero point; each step becomes a few standard operators. The fixed-point multiplier
 * of a conv/linear step, m = M * 2^-s, is carried as the weight scale w_s = m * y_s / x_s, so
 * ONNX's real multiplier x_s * w_s / y_s is m up to float rounding; a negative batchnorm scale
 * (the step's per-channel sign) becomes a negative weight scale. The float output layer is
 * exact in QOperator form: ConvInteger/MatMulInteger + Add(bias) + Cast + Mul(scale), the same
 * single multiply as the engine. The float steps of a profile that leaves adds unquantized
 * (academic) become the same float operators (Add, GlobalAveragePool, Slice/Pad, Clip) in both
 * forms; their sums may round differently from the engine's (ORT's pool sums in float). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/export/onnx_build.h"
#include "lowbit/export.h"

#define PROGRAM_OPSET 13

typedef struct px {
  lb_ob *b;
  const lb_program *p;
  lb_onnx_form form;
  const char **names; /* per program tensor: its ONNX name */
} px;

static int otype(const lb_prog_tensor *t) { return t->is_signed ? LB_OT_INT8 : LB_OT_UINT8; }

static const char *zp_of(px *x, const lb_prog_tensor *t) { return lb_ob_scalar_u8(x->b, "zp", otype(t), t->zp); }

/* QuantizeLinear of a float tensor onto t's grid, then a Clip on codes when [lo, hi] is narrower
 * than the storage type (fused activations, sub-8-bit codes). */
static const char *quantize(px *x, const char *name, const char *y, const lb_prog_tensor *t, int32_t lo, int32_t hi) {
  const char *in[3] = {y, lb_ob_scalar_f(x->b, "scale", t->scale), zp_of(x, t)};
  const char *q = lb_ob_node(x->b, "QuantizeLinear", name, in, 3, t->name);
  int32_t tmin = t->is_signed ? -128 : 0, tmax = t->is_signed ? 127 : 255;
  if (lo <= tmin && hi >= tmax) return q;
  const char *c[3] = {q, lb_ob_scalar_u8(x->b, "lo", otype(t), lo), lb_ob_scalar_u8(x->b, "hi", otype(t), hi)};
  return lb_ob_node(x->b, "Clip", name, c, 3, t->name);
}

static const char *dequantize(px *x, const char *name, int ti) {
  const lb_prog_tensor *t = &x->p->tensors[ti];
  const char *in[3] = {x->names[ti], lb_ob_scalar_f(x->b, "scale", t->scale), zp_of(x, t)};
  return lb_ob_node(x->b, "DequantizeLinear", name, in, 3, "dq");
}

/* Weight codes of a conv (K, C/g, R, S) or linear (K, C, 1, 1) step, as int8/uint8. */
static const char *weight_codes(px *x, const lb_prog_step *s, int cin) {
  int64_t dims[4] = {s->k, cin, s->r ? s->r : 1, s->s ? s->s : 1};
  int64_t n = s->w_len;
  uint8_t *bytes = malloc((size_t)(n ? n : 1));
  if (!bytes) return NULL;
  for (int64_t i = 0; i < n; i++) bytes[i] = (uint8_t)x->p->w8[s->w_off + i];
  const char *w = lb_ob_initializer(x->b, "w", s->w_signed ? LB_OT_INT8 : LB_OT_UINT8, dims, 4, bytes);
  free(bytes);
  return w;
}

static const char *weight_zps(px *x, const lb_prog_step *s) {
  int64_t d = s->k;
  uint8_t *z = malloc((size_t)s->k);
  if (!z) return NULL;
  for (int j = 0; j < s->k; j++) z[j] = (uint8_t)(s->wzp_off >= 0 ? x->p->i32[s->wzp_off + j] : 0);
  const char *name = lb_ob_initializer(x->b, "w_zp", s->w_signed ? LB_OT_INT8 : LB_OT_UINT8, &d, 1, z);
  free(z);
  return name;
}

/* Per-channel weight scales: from the dequantization scales of an output layer (scale = x_s*w_s),
 * else from the requantization multiplier, signed by the channel's sign. */
static const char *weight_scales(px *x, const lb_prog_step *s, float xs, float ys) {
  int64_t d = s->k;
  float *ws = malloc((size_t)s->k * sizeof *ws);
  if (!ws) return NULL;
  for (int j = 0; j < s->k; j++) {
    if (s->scale_off >= 0) {
      ws[j] = x->p->f32[s->scale_off + j] / xs;
    } else {
      double m = ldexp((double)x->p->i32[s->mult_off + j], -x->p->i32[s->shift_off + j]);
      int neg = s->neg_off >= 0 && x->p->i32[s->neg_off + j];
      ws[j] = (float)((neg ? -m : m) * ys / xs);
    }
  }
  const char *name = lb_ob_initializer(x->b, "w_scale", LB_OT_FLOAT, &d, 1, ws);
  free(ws);
  return name;
}

/* QLinearConv's int32 bias (K) on the accumulator grid (zeros when the step has none). */
static const char *bias_i32(px *x, const lb_prog_step *s) {
  int32_t *b = calloc((size_t)s->k, sizeof *b);
  if (!b) return NULL;
  if (s->bias_off >= 0) memcpy(b, x->p->i32 + s->bias_off, (size_t)s->k * sizeof *b);
  int64_t d1 = s->k;
  const char *name = lb_ob_initializer(x->b, "bias", LB_OT_INT32, &d1, 1, b);
  free(b);
  return name;
}

static void conv_attrs(px *x, const lb_prog_step *s) {
  int64_t k[2] = {s->r, s->s}, st[2] = {s->stride_h, s->stride_w}, dil[2] = {s->dil_h, s->dil_w};
  int64_t pads[4] = {s->pad_h, s->pad_w, s->pad_h, s->pad_w};
  lb_ob_attr_ints(x->b, "kernel_shape", k, 2);
  lb_ob_attr_ints(x->b, "strides", st, 2);
  lb_ob_attr_ints(x->b, "pads", pads, 4);
  lb_ob_attr_ints(x->b, "dilations", dil, 2);
  lb_ob_attr_int(x->b, "group", s->groups);
}

/* A linear step's input as (N, C, 1, 1): the 1x1-conv form of linear. The ONNX tensor may
 * still have the shape of the feature map the graph flattened, so it is always reshaped. */
static const char *as_column(px *x, const lb_prog_step *s, const char *v) {
  const lb_prog_tensor *t = &x->p->tensors[s->in[0]];
  int64_t shape[4] = {0, (int64_t)t->c * t->h * t->w, 1, 1}; /* 0: copy N */
  const char *in[2] = {v, lb_ob_ints(x->b, "shape", shape, 4)};
  return lb_ob_node(x->b, "Reshape", s->name, in, 2, "col");
}

/* Whether a codes step's bias has a part below the accumulator grid (bfrac), which QLinearConv's
 * int32 bias cannot carry. */
static int has_bias_fraction(const px *x, const lb_prog_step *s) {
  for (int j = 0; s->bfrac_off >= 0 && j < s->k; j++)
    if (x->p->i32[s->bfrac_off + j]) return 1;
  return 0;
}

/* conv or linear step writing codes. */
static const char *qlinear_conv(px *x, const lb_prog_step *s) {
  int lin = s->kind == LB_PS_LINEAR;
  const lb_prog_tensor *ti = &x->p->tensors[s->in[0]], *to = &x->p->tensors[s->out];
  int cin = lin ? ti->c * ti->h * ti->w : ti->c / s->groups;
  lb_prog_step g = *s;
  if (lin) g.r = g.s = g.stride_h = g.stride_w = g.dil_h = g.dil_w = g.groups = 1, g.pad_h = g.pad_w = 0;
  const char *w = weight_codes(x, &g, cin), *ws = weight_scales(x, s, ti->scale, to->scale), *wz = weight_zps(x, s);
  if (!w || !ws || !wz) return NULL;
  const char *xin = lin ? as_column(x, s, x->names[s->in[0]]) : x->names[s->in[0]];
  /* ONNX Runtime's QLinearConv runs uint8 -> uint8 and int8 -> int8 only; a conv changing the
   * signedness (a signed input before a ReLU's unsigned output) goes the QDQ way, and so does a
   * bias with a fraction below the accumulator grid (QLinearConv would round it away and move
   * codes: 3 of 10,000 top-1 answers on a trained lenet5). */
  if (x->form == LB_ONNX_QOPERATOR && ti->is_signed == to->is_signed && !has_bias_fraction(x, s)) {
    const char *in[9] = {xin, lb_ob_scalar_f(x->b, "x_scale", ti->scale), zp_of(x, ti), w, ws, wz,
                         lb_ob_scalar_f(x->b, "y_scale", to->scale), zp_of(x, to), bias_i32(x, s)};
    const char *y = lb_ob_node(x->b, "QLinearConv", s->name, in, 9, to->name);
    conv_attrs(x, &g);
    int32_t tmin = to->is_signed ? -128 : 0, tmax = to->is_signed ? 127 : 255;
    if (s->lo <= tmin && s->hi >= tmax) return y;
    const char *c[3] = {y, lb_ob_scalar_u8(x->b, "lo", otype(to), s->lo), lb_ob_scalar_u8(x->b, "hi", otype(to), s->hi)};
    return lb_ob_node(x->b, "Clip", s->name, c, 3, to->name);
  }
  /* QDQ: float conv on dequantized values; bias in float = (bias_q + bfrac/M) * x_s * w_s (the
   * program's bias in product units; QLinearConv's int32 bias can only carry bias_q) */
  const char *dqx_in[3] = {xin, lb_ob_scalar_f(x->b, "scale", ti->scale), zp_of(x, ti)};
  const char *dqx = lb_ob_node(x->b, "DequantizeLinear", s->name, dqx_in, 3, "dq");
  const char *dqw_in[3] = {w, ws, wz};
  const char *dqw = lb_ob_node(x->b, "DequantizeLinear", s->name, dqw_in, 3, "w_dq");
  lb_ob_attr_int(x->b, "axis", 0);
  float *bf = calloc((size_t)s->k, sizeof *bf);
  if (!bf) return NULL;
  for (int j = 0; j < s->k; j++) {
    double m = ldexp((double)x->p->i32[s->mult_off + j], -x->p->i32[s->shift_off + j]);
    int neg = s->neg_off >= 0 && x->p->i32[s->neg_off + j];
    double wsj = (neg ? -m : m) * to->scale / ti->scale;
    double frac = s->bfrac_off >= 0 ? (double)x->p->i32[s->bfrac_off + j] / (double)x->p->i32[s->mult_off + j] : 0.0;
    bf[j] = s->bias_off >= 0 ? (float)((x->p->i32[s->bias_off + j] + frac) * (double)ti->scale * wsj) : 0.0f;
  }
  int64_t kd = s->k;
  const char *cin_[3] = {dqx, dqw, lb_ob_initializer(x->b, "bias", LB_OT_FLOAT, &kd, 1, bf)};
  free(bf);
  const char *y = lb_ob_node(x->b, "Conv", s->name, cin_, 3, "conv");
  conv_attrs(x, &g);
  return quantize(x, s->name, y, to, s->lo, s->hi);
}

/* Whether a step's weight zero points are all equal (ONNX Runtime's ConvInteger takes one). */
static int uniform_wzp(const px *x, const lb_prog_step *s) {
  for (int j = 1; s->wzp_off >= 0 && j < s->k; j++)
    if (x->p->i32[s->wzp_off + j] != x->p->i32[s->wzp_off]) return 0;
  return 1;
}

/* The float output layer as a float conv on dequantized codes (QDQ form, or per-channel weight
 * zero points that ConvInteger cannot take): the program's output bias as the float bias. */
static const char *output_layer_float(px *x, const lb_prog_step *s, const lb_prog_step *g, const char *xin,
                                      const char *w) {
  const lb_prog_tensor *ti = &x->p->tensors[s->in[0]];
  const char *ws = weight_scales(x, s, ti->scale, 1.0f), *wz = weight_zps(x, s);
  if (!ws || !wz) return NULL;
  int64_t kd = s->k;
  const char *bias = lb_ob_initializer(x->b, "bias", LB_OT_FLOAT, &kd, 1, x->p->f32 + s->fbias_off);
  const char *dqx_in[3] = {xin, lb_ob_scalar_f(x->b, "scale", ti->scale), zp_of(x, ti)};
  const char *dqw_in[3] = {w, ws, wz};
  const char *cin[3] = {lb_ob_node(x->b, "DequantizeLinear", s->name, dqx_in, 3, "dq"), NULL, bias};
  cin[1] = lb_ob_node(x->b, "DequantizeLinear", s->name, dqw_in, 3, "w_dq");
  lb_ob_attr_int(x->b, "axis", 0);
  const char *y = lb_ob_node(x->b, "Conv", s->name, cin, 3, "out");
  conv_attrs(x, g);
  return y;
}

/* conv or linear step writing the float output: ConvInteger, then acc * scale + bias in float
 * (the engine's fmaf rounds once where ONNX rounds the product and the sum: 1 ulp at most). */
static const char *output_layer(px *x, const lb_prog_step *s) {
  int lin = s->kind == LB_PS_LINEAR_OUT;
  const lb_prog_tensor *ti = &x->p->tensors[s->in[0]];
  int cin = lin ? ti->c * ti->h * ti->w : ti->c / s->groups;
  lb_prog_step g = *s;
  if (lin) g.r = g.s = g.stride_h = g.stride_w = g.dil_h = g.dil_w = g.groups = 1, g.pad_h = g.pad_w = 0;
  const char *w = weight_codes(x, &g, cin);
  if (!w) return NULL;
  const char *xin = lin ? as_column(x, s, x->names[s->in[0]]) : x->names[s->in[0]];
  if (x->form == LB_ONNX_QDQ || !uniform_wzp(x, s)) return output_layer_float(x, s, &g, xin, w);
  int32_t wz0 = s->wzp_off >= 0 ? x->p->i32[s->wzp_off] : 0;
  const char *in[4] = {xin, w, zp_of(x, ti), lb_ob_scalar_u8(x->b, "w_zp", s->w_signed ? LB_OT_INT8 : LB_OT_UINT8, wz0)};
  const char *acc = lb_ob_node(x->b, "ConvInteger", s->name, in, 4, "acc");
  conv_attrs(x, &g);
  const char *cast_in[1] = {acc};
  const char *f = lb_ob_node(x->b, "Cast", s->name, cast_in, 1, "acc_f");
  lb_ob_attr_int(x->b, "to", LB_OT_FLOAT);
  int64_t d4[4] = {1, s->k, 1, 1};
  const char *m[2] = {f, lb_ob_initializer(x->b, "out_scale", LB_OT_FLOAT, d4, 4, x->p->f32 + s->scale_off)};
  const char *scaled = lb_ob_node(x->b, "Mul", s->name, m, 2, "scaled");
  const char *a[2] = {scaled, lb_ob_initializer(x->b, "out_bias", LB_OT_FLOAT, d4, 4, x->p->f32 + s->fbias_off)};
  return lb_ob_node(x->b, "Add", s->name, a, 2, "out");
}

/* Window attributes of a pool step, on the node just added. */
static void pool_attrs(px *x, const lb_prog_step *s) {
  int64_t k[2] = {s->pool_kh, s->pool_kw}, st[2] = {s->pool_sh, s->pool_sw};
  int64_t pads[4] = {s->pool_ph, s->pool_pw, s->pool_ph, s->pool_pw};
  lb_ob_attr_ints(x->b, "kernel_shape", k, 2);
  lb_ob_attr_ints(x->b, "strides", st, 2);
  lb_ob_attr_ints(x->b, "pads", pads, 4);
  lb_ob_attr_int(x->b, "ceil_mode", s->pool_ceil);
}

/* Steps without an integer ONNX operator: dequantize, float op, quantize. */
static const char *float_step(px *x, const lb_prog_step *s) {
  const lb_prog_tensor *to = &x->p->tensors[s->out];
  const char *a = dequantize(x, s->name, s->in[0]);
  const char *y = a;
  if (s->kind == LB_PS_ADD) {
    const char *in[2] = {a, dequantize(x, s->name, s->in[1])};
    y = lb_ob_node(x->b, "Add", s->name, in, 2, "sum");
  } else if (s->kind == LB_PS_GAP) {
    const char *in[1] = {a};
    y = lb_ob_node(x->b, "GlobalAveragePool", s->name, in, 1, "gap");
  } else if (s->kind == LB_PS_AVGPOOL) {
    const char *in[1] = {a};
    y = lb_ob_node(x->b, "AveragePool", s->name, in, 1, "avg");
    pool_attrs(x, s);
    lb_ob_attr_int(x->b, "count_include_pad", s->pool_count_pad);
  }
  return quantize(x, s->name, y, to, s->lo, s->hi);
}

/* A float step's clamp [flo, fhi] as Clip (none when both are infinite). */
static const char *float_clamp(px *x, const char *name, const char *v, const lb_prog_step *s) {
  if (!isfinite(s->flo) && !isfinite(s->fhi)) return v;
  const char *in[3] = {v, lb_ob_scalar_f(x->b, "lo", isfinite(s->flo) ? s->flo : -FLT_MAX),
                       lb_ob_scalar_f(x->b, "hi", isfinite(s->fhi) ? s->fhi : FLT_MAX)};
  return lb_ob_node(x->b, "Clip", name, in, 3, "clamped");
}

/* The float steps of a profile that leaves adds unquantized: Add / GlobalAveragePool on floats. */
static const char *float_map_step(px *x, const lb_prog_step *s) {
  const char *in[2] = {x->names[s->in[0]], s->in[1] >= 0 ? x->names[s->in[1]] : NULL};
  const char *y = s->kind == LB_PS_FADD ? lb_ob_node(x->b, "Add", s->name, in, 2, "sum")
                                        : lb_ob_node(x->b, "GlobalAveragePool", s->name, in, 1, "gap");
  return float_clamp(x, s->name, y, s);
}

/* v as (N, a, b, c) (0 copies N). */
static const char *reshape4(px *x, const char *name, const char *v, int64_t a, int64_t b, int64_t c) {
  int64_t shape[4] = {0, a, b, c};
  const char *in[2] = {v, lb_ob_ints(x->b, "shape", shape, 4)};
  return lb_ob_node(x->b, "Reshape", name, in, 2, "view");
}

/* SLICE / PAD / CONCAT: each input viewed as (N, outer, d, inner), the ONNX operator on axis 2
 * on the 8-bit codes, the result back to the output tensor's (N, c, h, w). */
static const char *move_step(px *x, const lb_prog_step *s) {
  const lb_prog_tensor *to = &x->p->tensors[s->out];
  const char *in[LB_STEP_MAX_IN];
  int n = 0;
  for (; n < LB_STEP_MAX_IN && s->in[n] >= 0; n++)
    in[n] = reshape4(x, s->name, x->names[s->in[n]], s->mv_outer, s->mv_dim[n], s->mv_inner);
  const char *y;
  if (s->kind == LB_PS_SLICE) {
    int64_t start = s->mv_start, step = s->mv_step, axis = 2;
    int64_t end = start + (int64_t)(s->mv_count - 1) * step + (step > 0 ? 1 : -1);
    if (end < 0) end = INT64_MIN; /* a negative step through index 0: clamped to -1 by ONNX */
    const char *args[5] = {in[0], lb_ob_ints(x->b, "starts", &start, 1), lb_ob_ints(x->b, "ends", &end, 1),
                           lb_ob_ints(x->b, "axes", &axis, 1), lb_ob_ints(x->b, "steps", &step, 1)};
    y = lb_ob_node(x->b, "Slice", s->name, args, 5, "slice");
  } else if (s->kind == LB_PS_PAD) {
    int64_t pads[8] = {0, 0, s->mv_begin, 0, 0, 0, s->mv_end, 0};
    const char *fill = to->kind == LB_PT_FLOAT ? lb_ob_scalar_f(x->b, "fill", 0.0f) /* float pads fill 0 */
                                               : lb_ob_scalar_u8(x->b, "fill", otype(to), s->mv_fill);
    const char *args[3] = {in[0], lb_ob_ints(x->b, "pads", pads, 8), fill};
    y = lb_ob_node(x->b, "Pad", s->name, args, 3, "pad");
  } else {
    y = lb_ob_node(x->b, "Concat", s->name, in, n, "concat");
    lb_ob_attr_int(x->b, "axis", 2);
  }
  y = reshape4(x, s->name, y, to->c, to->h, to->w);
  return to->kind == LB_PT_FLOAT ? float_clamp(x, s->name, y, s) : y;
}

static lb_status export_step(px *x, const lb_prog_step *s, const char **out) {
  const lb_prog_tensor *to = &x->p->tensors[s->out];
  switch (s->kind) {
    case LB_PS_QUANTIZE:
      *out = quantize(x, s->name, x->names[s->in[0] >= 0 ? s->in[0] : s->out], to, s->lo, s->hi);
      return LB_OK;
    case LB_PS_CONV:
    case LB_PS_LINEAR:
      *out = qlinear_conv(x, s);
      break;
    case LB_PS_CONV_OUT:
    case LB_PS_LINEAR_OUT: /* the logits, or a float tensor (then with its clamp) */
      *out = output_layer(x, s);
      if (*out && lb_prog_tensor_float_map(to)) *out = float_clamp(x, s->name, *out, s);
      break;
    case LB_PS_FADD:
    case LB_PS_FGAP:
      *out = float_map_step(x, s);
      break;
    case LB_PS_MAXPOOL: {
      const char *in[1] = {x->names[s->in[0]]};
      *out = lb_ob_node(x->b, "MaxPool", s->name, in, 1, to->name);
      pool_attrs(x, s);
      break;
    }
    case LB_PS_ADD:
    case LB_PS_GAP:
    case LB_PS_AVGPOOL:
    case LB_PS_RESCALE:
      *out = float_step(x, s);
      break;
    case LB_PS_DEQUANTIZE:
      *out = dequantize(x, s->name, s->in[0]);
      break;
    case LB_PS_SLICE:
    case LB_PS_PAD:
    case LB_PS_CONCAT:
      *out = move_step(x, s);
      break;
    default:
      return lb_fail(LB_ERR_UNSUPPORTED, "onnx export: step '%s' has kind %d, which has no ONNX mapping", s->name, s->kind);
  }
  if (!*out) return lb_fail(LB_ERR_NOMEM, "onnx export: out of memory at step '%s'", s->name);
  return LB_OK;
}

lb_status lb_export_onnx_program(const lb_program *p, lb_onnx_form form, const char *path) {
  if (!p || !path) return lb_fail(LB_ERR_ARG, "onnx export: no program or path");
  lb_status s = lb_program_validate(p);
  if (s) return s;
  for (int t = 0; t < p->n_tensors; t++) {
    if (lb_prog_tensor_binary(&p->tensors[t]))
      return lb_fail(LB_ERR_UNSUPPORTED, "onnx export: tensor '%s' is binary (+-1); its sign step has no ONNX form here",
                     p->tensors[t].name);
  }
  px x = {NULL, p, form, calloc((size_t)p->n_tensors + 1, sizeof(char *))};
  if (!x.names) return lb_fail(LB_ERR_NOMEM, "onnx export: out of memory");
  s = lb_ob_create(&x.b, p->model, PROGRAM_OPSET);
  const char *input = NULL, *last = NULL;
  if (!s) {
    int64_t dims[4] = {-1, p->in_c, p->in_h, p->in_w};
    input = lb_ob_name(x.b, "input");
    lb_ob_input(x.b, input, LB_OT_FLOAT, dims, 4);
  }
  for (int i = 0; !s && i < p->n_steps; i++) {
    const lb_prog_step *st = &p->steps[i];
    if (st->kind == LB_PS_QUANTIZE) x.names[st->out] = input; /* read by quantize() below */
    s = export_step(&x, st, &last);
    if (!s) x.names[st->out] = last;
  }
  if (!s) {
    const char *in[1] = {last};
    const char *y = lb_ob_node(x.b, "Flatten", "output", in, 1, "output");
    lb_ob_attr_int(x.b, "axis", 1);
    int64_t dims[2] = {-1, p->classes};
    lb_ob_output(x.b, y, LB_OT_FLOAT, dims, 2);
    s = lb_ob_write(x.b, path);
  }
  lb_ob_free(x.b);
  free(x.names);
  return s;
}
