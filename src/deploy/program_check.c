/* lb_program_validate: everything the engine relies on, checked once (after lowering and on
 * every load), so that a corrupt or hand-edited program fails with a message and never makes the
 * engine read or write out of bounds. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/deploy.h"

#define BAD(...) lb_fail(LB_ERR_FORMAT, __VA_ARGS__)

static int64_t numel(const lb_prog_tensor *t) { return (int64_t)t->c * t->h * t->w; }

static lb_status check_tensor(const lb_program *p, int i) {
  const lb_prog_tensor *t = &p->tensors[i];
  if (!memchr(t->name, 0, sizeof t->name)) return BAD("program: tensor %d: name not terminated", i);
  if (t->c < 1 || t->h < 1 || t->w < 1 || t->c > (1 << 24) || t->h > (1 << 16) || t->w > (1 << 16) ||
      numel(t) > ((int64_t)1 << 30))
    return BAD("program: tensor '%s': bad shape (%d,%d,%d)", t->name, t->c, t->h, t->w);
  if (t->kind == LB_PT_FLOAT && t->bytes == 0) return LB_OK; /* the graph output: no arena */
  if (t->kind != LB_PT_CODES && t->kind != LB_PT_FLOAT) return BAD("program: tensor '%s': unknown kind %d", t->name, t->kind);
  int64_t bytes = (numel(t) * (t->kind == LB_PT_FLOAT ? 4 : 1) + 63) / 64 * 64;
  if (t->bytes != bytes || t->offset < 0 || t->offset % 64 || t->offset > p->arena_per_image - t->bytes)
    return BAD("program: tensor '%s': arena placement [%lld, +%lld) outside the %lld-byte arena", t->name,
               (long long)t->offset, (long long)t->bytes, (long long)p->arena_per_image);
  if (t->kind == LB_PT_FLOAT) return LB_OK;
  int32_t lo = t->is_signed ? -128 : 0, hi = t->is_signed ? 127 : 255;
  if (t->bits < 1 || t->bits > 8 || (t->is_signed != 0 && t->is_signed != 1) || t->qmin < lo || t->qmax > hi ||
      t->qmin > t->qmax || t->zp < lo || t->zp > hi || !(t->scale > 0.0f) || !isfinite(t->scale))
    return BAD("program: tensor '%s': bad grid (bits %d, range [%d, %d], zero point %d, scale %g)", t->name, t->bits,
               t->qmin, t->qmax, t->zp, (double)t->scale);
  return LB_OK;
}

/* pool range [off, off + n) inside a pool of `len` (off -1 allowed when optional). */
static int in_pool(int64_t off, int64_t n, int64_t len, int optional) {
  if (off == -1 && optional) return 1;
  return off >= 0 && n >= 0 && off <= len && n <= len - off;
}

static lb_status check_weights(const lb_program *p, const lb_prog_step *s, int64_t per, int out_float) {
  const char *nm = s->name;
  if (s->k < 1 || per < 1) return BAD("program: step '%s': bad weight shape", nm);
  if ((s->wbits != 2 && s->wbits != 4 && s->wbits != 8) || s->w_signed != 1)
    return BAD("program: step '%s': weights must be signed 2/4/8-bit containers (got %d, signed %d)", nm, s->wbits,
               s->w_signed);
  if (s->w_len != (int64_t)s->k * per || !in_pool(s->w_off, s->w_len, p->n_w8, 0))
    return BAD("program: step '%s': weights outside the pool", nm);
  int32_t wmin = -(1 << (s->wbits - 1)), wmax = (1 << (s->wbits - 1)) - 1;
  for (int64_t i = 0; i < s->w_len; i++)
    if (p->w8[s->w_off + i] < wmin || p->w8[s->w_off + i] > wmax)
      return BAD("program: step '%s': weight %lld does not fit %d bits", nm, (long long)i, s->wbits);
  if (!in_pool(s->wzp_off, s->k, p->n_i32, 1) || !in_pool(s->bias_off, s->k, p->n_i32, 0))
    return BAD("program: step '%s': zero points / biases outside the pool", nm);
  for (int j = 0; s->wzp_off >= 0 && j < s->k; j++)
    if (p->i32[s->wzp_off + j] < -255 || p->i32[s->wzp_off + j] > 255)
      return BAD("program: step '%s': weight zero point out of range", nm);
  if (out_float) {
    if (!in_pool(s->scale_off, s->k, p->n_f32, 0) || !in_pool(s->fbias_off, s->k, p->n_f32, 0))
      return BAD("program: step '%s': scales outside the pool", nm);
    for (int j = 0; j < s->k; j++)
      if (!isfinite(p->f32[s->scale_off + j]) || !isfinite(p->f32[s->fbias_off + j]))
        return BAD("program: step '%s': non-finite output scale or bias", nm);
    return LB_OK;
  }
  if (!in_pool(s->mult_off, s->k, p->n_i32, 0) || !in_pool(s->shift_off, s->k, p->n_i32, 0) ||
      !in_pool(s->neg_off, s->k, p->n_i32, 1) || !in_pool(s->bfrac_off, s->k, p->n_i32, 0))
    return BAD("program: step '%s': multipliers outside the pool", nm);
  for (int j = 0; j < s->k; j++) {
    int32_t m = p->i32[s->mult_off + j], sh = p->i32[s->shift_off + j], fr = p->i32[s->bfrac_off + j];
    if (m < 0 || sh < 0 || sh > 62) return BAD("program: step '%s': multiplier/shift out of range", nm);
    /* at most half a multiplier (plus rounding): keeps acc * M + bias_p inside int64 */
    if (fr < -(1 << 30) || fr > (1 << 30)) return BAD("program: step '%s': bias fraction out of range", nm);
    if (s->neg_off >= 0 && (p->i32[s->neg_off + j] & ~1)) return BAD("program: step '%s': bad sign flag", nm);
  }
  return LB_OK;
}

static lb_status check_pool(const lb_prog_step *s, const lb_prog_tensor *in, const lb_prog_tensor *out) {
  lb_pool_desc d = {.n = 1, .c = in->c, .h = in->h, .w = in->w, .kh = s->pool_kh, .kw = s->pool_kw,
                    .stride_h = s->pool_sh, .stride_w = s->pool_sw, .pad_h = s->pool_ph, .pad_w = s->pool_pw,
                    .count_include_pad = s->pool_count_pad, .ceil_mode = s->pool_ceil};
  if (s->pool_kh < 1 || s->pool_kw < 1 || s->pool_kh > 64 || s->pool_kw > 64 || lb_pool_init(&d) ||
      (s->pool_count_pad & ~1) || (s->pool_ceil & ~1))
    return BAD("program: step '%s': bad pool geometry", s->name);
  if (out->c != in->c || out->h != d.oh || out->w != d.ow)
    return BAD("program: step '%s': pool output shape does not match", s->name);
  return LB_OK;
}

static lb_status check_conv(const lb_program *p, const lb_prog_step *s, const lb_prog_tensor *in,
                            const lb_prog_tensor *out, int out_float) {
  lb_conv2d_desc d = {.n = 1, .c = in->c, .h = in->h, .w = in->w, .k = s->k, .r = s->r, .s = s->s,
                      .stride_h = s->stride_h, .stride_w = s->stride_w, .pad_h = s->pad_h, .pad_w = s->pad_w,
                      .dil_h = s->dil_h, .dil_w = s->dil_w, .groups = s->groups};
  if (s->k < 1 || s->r < 1 || s->s < 1 || s->r > 64 || s->s > 64 || lb_conv2d_init(&d))
    return BAD("program: step '%s': bad convolution geometry", s->name);
  if (out_float ? numel(out) != (int64_t)d.k * d.oh * d.ow : (out->c != d.k || out->h != d.oh || out->w != d.ow))
    return BAD("program: step '%s': convolution output shape does not match", s->name);
  return check_weights(p, s, (int64_t)(d.c / d.groups) * d.r * d.s, out_float);
}

static int same_grid(const lb_prog_tensor *a, const lb_prog_tensor *b) {
  return a->bits == b->bits && a->is_signed == b->is_signed && a->zp == b->zp && a->qmin == b->qmin &&
         a->qmax == b->qmax && a->scale == b->scale;
}

/* SLICE / PAD / CONCAT: the (outer, dim, inner) views must cover every input and the output exactly. */
static lb_status check_move(const lb_program *p, const lb_prog_step *s, int n_in) {
  const lb_prog_tensor *out = &p->tensors[s->out];
  const int64_t big = (int64_t)1 << 30;
  if (s->mv_outer < 1 || s->mv_inner < 1 || s->mv_outer > big || s->mv_inner > big || s->mv_outer * s->mv_inner > big)
    return BAD("program: step '%s': bad data-movement view", s->name);
  int64_t sum = 0;
  for (int j = 0; j < LB_STEP_MAX_IN; j++) {
    if (j >= n_in) {
      if (s->mv_dim[j]) return BAD("program: step '%s': size given for a missing input", s->name);
      continue;
    }
    const lb_prog_tensor *in = &p->tensors[s->in[j]];
    if (s->mv_dim[j] < 1 || s->mv_dim[j] > (1 << 24) || numel(in) != s->mv_outer * s->mv_dim[j] * s->mv_inner)
      return BAD("program: step '%s': input %d does not match its (%lld, %d, %lld) view", s->name, j,
                 (long long)s->mv_outer, s->mv_dim[j], (long long)s->mv_inner);
    if (!same_grid(in, out)) return BAD("program: step '%s': data movement must keep the grid", s->name);
    sum += s->mv_dim[j];
  }
  int64_t dout = sum;
  if (s->kind == LB_PS_SLICE) {
    int ok = s->mv_step != 0 && s->mv_count >= 1 && s->mv_start >= 0 && s->mv_start < s->mv_dim[0];
    int64_t last = ok ? (int64_t)s->mv_start + ((int64_t)s->mv_count - 1) * s->mv_step : -1;
    if (!ok || last < 0 || last >= s->mv_dim[0])
      return BAD("program: step '%s': slice start %d, step %d, count %d outside %d", s->name, s->mv_start, s->mv_step,
                 s->mv_count, s->mv_dim[0]);
    dout = s->mv_count;
  } else if (s->kind == LB_PS_PAD) {
    if (s->mv_begin < 0 || s->mv_end < 0 || s->mv_begin > (1 << 20) || s->mv_end > (1 << 20) ||
        s->mv_fill < out->qmin || s->mv_fill > out->qmax)
      return BAD("program: step '%s': bad padding (%d before, %d after, fill %d)", s->name, s->mv_begin, s->mv_end,
                 s->mv_fill);
    dout = (int64_t)s->mv_begin + s->mv_dim[0] + s->mv_end;
  }
  if (numel(out) != s->mv_outer * dout * s->mv_inner)
    return BAD("program: step '%s': output does not match the data movement", s->name);
  return LB_OK;
}

/* Pool offsets a step's kind does not read must be absent (-1): the engine forms pointers from
 * every offset it is given. */
static lb_status check_unused(const lb_prog_step *s) {
  int k = s->kind, ok;
  int weighted = k == LB_PS_CONV || k == LB_PS_LINEAR || k == LB_PS_CONV_OUT || k == LB_PS_LINEAR_OUT;
  if (!weighted)
    ok = s->w_off == -1 && s->w_len == 0 && s->wzp_off == -1 && s->bias_off == -1 && s->bfrac_off == -1 &&
         s->neg_off == -1 &&
         s->scale_off == -1 && s->fbias_off == -1 && (k == LB_PS_AVGPOOL || (s->mult_off == -1 && s->shift_off == -1));
  else if (k == LB_PS_CONV_OUT || k == LB_PS_LINEAR_OUT)
    ok = s->mult_off == -1 && s->shift_off == -1 && s->neg_off == -1 && s->bfrac_off == -1;
  else
    ok = s->scale_off == -1 && s->fbias_off == -1;
  return ok ? LB_OK : BAD("program: step '%s': pool offsets set that its kind does not read", s->name);
}

static lb_status check_step(const lb_program *p, int i, const char *made) {
  const lb_prog_step *s = &p->steps[i];
  if (!memchr(s->name, 0, sizeof s->name)) return BAD("program: step %d: name not terminated", i);
  if (s->kind < 0 || s->kind >= LB_PS_KIND_COUNT) return BAD("program: step '%s': unknown kind %d", s->name, s->kind);
  int n_in = s->kind == LB_PS_QUANTIZE ? (s->in[0] >= 0) : s->kind == LB_PS_ADD || s->kind == LB_PS_FADD ? 2 : 1;
  /* float steps read float tensors of the arena (QUANTIZE: or the graph input), the rest codes */
  int in_kind = s->kind == LB_PS_FADD || s->kind == LB_PS_FGAP || s->kind == LB_PS_QUANTIZE ? LB_PT_FLOAT : LB_PT_CODES;
  int moves = s->kind == LB_PS_SLICE || s->kind == LB_PS_PAD || s->kind == LB_PS_CONCAT;
  if (moves && s->out >= 0 && s->out < p->n_tensors) in_kind = p->tensors[s->out].kind; /* codes or floats */
  if (s->kind == LB_PS_CONCAT) /* 2..4 inputs, the first ones */
    for (n_in = 0; n_in < LB_STEP_MAX_IN && s->in[n_in] != -1;) n_in++;
  if (s->kind == LB_PS_CONCAT && n_in < 2) return BAD("program: step '%s': a concat needs 2 to 4 inputs", s->name);
  if (s->out < 0 || s->out >= p->n_tensors || made[s->out])
    return BAD("program: step '%s': bad output tensor %d", s->name, s->out);
  for (int j = 0; j < LB_STEP_MAX_IN; j++) {
    if (j < n_in ? (s->in[j] < 0 || s->in[j] >= p->n_tensors || !made[s->in[j]] ||
                    p->tensors[s->in[j]].kind != in_kind ||
                    (in_kind == LB_PT_FLOAT && !lb_prog_tensor_float_map(&p->tensors[s->in[j]])))
                 : s->in[j] != -1)
      return BAD("program: step '%s': input %d is not an earlier %s tensor", s->name, j,
                 in_kind == LB_PT_FLOAT ? "float" : "quantized");
  }
  const lb_prog_tensor *out = &p->tensors[s->out], *in = n_in ? &p->tensors[s->in[0]] : NULL;
  int k = s->kind, out_float = k == LB_PS_CONV_OUT || k == LB_PS_LINEAR_OUT || k == LB_PS_DEQUANTIZE ||
                                k == LB_PS_FADD || k == LB_PS_FGAP || (moves && in_kind == LB_PT_FLOAT);
  if (out_float != (out->kind == LB_PT_FLOAT))
    return BAD("program: step '%s': output tensor of the wrong kind", s->name);
  /* the output (no arena) comes from a conv/linear or a dequantization; float steps write the arena */
  if (out_float && !lb_prog_tensor_float_map(out) && k != LB_PS_CONV_OUT && k != LB_PS_LINEAR_OUT && k != LB_PS_DEQUANTIZE)
    return BAD("program: step '%s': a float step must write a tensor of the arena", s->name);
  if (k == LB_PS_DEQUANTIZE && lb_prog_tensor_float_map(out))
    return BAD("program: step '%s': dequantization writes only the output", s->name);
  if (!(s->flo <= s->fhi)) /* also refuses NaN */
    return BAD("program: step '%s': float clamp [%g, %g]", s->name, (double)s->flo, (double)s->fhi);
  if (!out_float && (s->lo < out->qmin || s->hi > out->qmax || s->lo > s->hi))
    return BAD("program: step '%s': clamp [%d, %d] outside the grid", s->name, s->lo, s->hi);
  lb_status su = check_unused(s);
  if (su) return su;
  int ok_shift = s->add_shift >= 0 && s->add_shift <= 62 && s->add_m1 >= 0 && s->add_m2 >= 0;
  switch (s->kind) {
    case LB_PS_QUANTIZE:
      if (numel(out) != (in ? numel(in) : (int64_t)p->in_c * p->in_h * p->in_w) || !(s->inv > 0.0f) ||
          !isfinite(s->inv))
        return BAD("program: step '%s': quantization does not match its input", s->name);
      return LB_OK;
    case LB_PS_FADD:
      if (numel(&p->tensors[s->in[1]]) != numel(out) || numel(in) != numel(out))
        return BAD("program: step '%s': float add shapes do not match", s->name);
      return LB_OK;
    case LB_PS_FGAP:
      if (numel(out) != in->c) return BAD("program: step '%s': pooled shape does not match", s->name);
      return LB_OK;
    case LB_PS_CONV:
    case LB_PS_CONV_OUT: return check_conv(p, s, in, out, out_float);
    case LB_PS_LINEAR:
    case LB_PS_LINEAR_OUT:
      if (numel(out) != s->k || s->groups != 1) return BAD("program: step '%s': linear output shape", s->name);
      return check_weights(p, s, numel(in), out_float);
    case LB_PS_ADD:
      if (numel(&p->tensors[s->in[1]]) != numel(out) || numel(in) != numel(out) || !ok_shift)
        return BAD("program: step '%s': add shapes or multipliers do not match", s->name);
      return LB_OK;
    case LB_PS_GAP:
      if (numel(out) != in->c || !ok_shift) return BAD("program: step '%s': pooled shape does not match", s->name);
      return LB_OK;
    case LB_PS_RESCALE:
    case LB_PS_DEQUANTIZE:
      if (numel(out) != numel(in) || !ok_shift) return BAD("program: step '%s': shapes do not match", s->name);
      return LB_OK;
    case LB_PS_MAXPOOL:
      if (in->is_signed != out->is_signed || in->zp != out->zp || in->scale != out->scale)
        return BAD("program: step '%s': max pool must keep the grid", s->name);
      return check_pool(s, in, out);
    case LB_PS_AVGPOOL: {
      int64_t cnt = (int64_t)s->pool_kh * s->pool_kw + 1;
      if (lb_prog_tensor_binary(out)) return BAD("program: step '%s': average pool cannot write a binary tensor", s->name);
      lb_status st = check_pool(s, in, out);
      if (st) return st;
      if (!in_pool(s->mult_off, cnt, p->n_i32, 0) || !in_pool(s->shift_off, cnt, p->n_i32, 0))
        return BAD("program: step '%s': pool multipliers outside the pool", s->name);
      for (int64_t j = 1; j < cnt; j++)
        if (p->i32[s->mult_off + j] < 0 || p->i32[s->shift_off + j] < 0 || p->i32[s->shift_off + j] > 62)
          return BAD("program: step '%s': pool multiplier out of range", s->name);
      return LB_OK;
    }
    case LB_PS_SLICE:
    case LB_PS_PAD:
    case LB_PS_CONCAT: return check_move(p, s, n_in);
    default: return BAD("program: step '%s': unknown kind", s->name);
  }
}

lb_status lb_program_validate(const lb_program *p) {
  if (!p || !p->tensors || !p->steps || p->n_tensors < 1 || p->n_steps < 1) return BAD("program: empty");
  if (!memchr(p->model, 0, sizeof p->model) || !memchr(p->backend, 0, sizeof p->backend))
    return BAD("program: names not terminated");
  /* c*h first: c*h*w of three int32 values can pass int64 */
  if (p->in_c < 1 || p->in_h < 1 || p->in_w < 1 || (int64_t)p->in_c * p->in_h > (1 << 26) ||
      (int64_t)p->in_c * p->in_h * p->in_w > (1 << 26) ||
      p->classes < 1 || p->classes > (1 << 24))
    return BAD("program: bad input or output size");
  for (int i = 0; i < 4; i++)
    if (!isfinite(p->norm_mean[i]) || !(p->norm_std[i] > 0.0f) || !isfinite(p->norm_std[i]))
      return BAD("program: bad input normalisation");
  if (p->arena_per_image < 0 || p->arena_per_image > ((int64_t)1 << 32) || p->arena_naive < 0)
    return BAD("program: bad arena size %lld", (long long)p->arena_per_image);
  lb_status st = LB_OK;
  for (int i = 0; i < p->n_tensors && !st; i++) st = check_tensor(p, i);
  char *made = calloc((size_t)p->n_tensors, 1);
  if (!made) return lb_fail(LB_ERR_NOMEM, "program: out of memory");
  for (int i = 0; i < p->n_steps && !st; i++) {
    st = check_step(p, i, made);
    if (!st) made[p->steps[i].out] = 1;
  }
  if (!st) {
    const lb_prog_step *last = &p->steps[p->n_steps - 1];
    const lb_prog_tensor *o = &p->tensors[last->out];
    if (o->kind != LB_PT_FLOAT || o->bytes || numel(o) != p->classes)
      st = BAD("program: the last step must write the %d outputs", p->classes);
    for (int i = 0; i < p->n_steps - 1 && !st; i++) {
      const lb_prog_tensor *t = &p->tensors[p->steps[i].out];
      if (t->kind == LB_PT_FLOAT && !t->bytes) st = BAD("program: more than one float output");
    }
    if (!st && p->steps[0].kind != LB_PS_QUANTIZE) st = BAD("program: the first step must quantize the input");
  }
  free(made);
  return st;
}
