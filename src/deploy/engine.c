/* The engine: prepares a program once (packs weights through the integer kernels, sizes one
 * arena for max_batch images) and runs it with integer arithmetic only between the input
 * quantization and the output dequantization. The arena holds the activation tensors at the
 * program's planned offsets (per image, scaled by the batch; or one region each with
 * LB_ENGINE_KEEP_ALL) followed by one scratch region shared by all steps. */
#include <stdlib.h>
#include <string.h>

#include "deploy/kernels/ik_move.h"
#include "lowbit/deploy.h"
#include "lowbit/ikernel.h"

/* Images per pass of a conv whose signs are taken from its accumulators (binary outputs). */
#define SIGN_CHUNK 8

struct lb_engine {
  const lb_program *p;
  int max_batch, flags;
  lb_ik_isa isa;
  void **prep;        /* per step: lb_iconv* / lb_ilinear* or NULL */
  int64_t **bias_p;   /* per step: conv/linear codes steps' bias in product units, or NULL */
  uint8_t *xnor;      /* per step: 1 = the conv runs on the XNOR-popcount kernels (bits of its input) */
  uint8_t *nhwc;      /* per tensor: 1 = kept channels-last (plan_layouts) */
  int64_t *toff;      /* per tensor: offset per image */
  int64_t act_per_image;
  size_t scratch_bytes;
  uint8_t *arena;
  size_t arena_bytes;
  int last_n;
};

static size_t r64(size_t b) { return (b + 63) / 64 * 64; }

static int is_conv(int kind) { return kind == LB_PS_CONV || kind == LB_PS_CONV_OUT; }
static int is_linear(int kind) { return kind == LB_PS_LINEAR || kind == LB_PS_LINEAR_OUT; }

static lb_conv2d_desc step_desc(const lb_program *p, const lb_prog_step *s, int n) {
  const lb_prog_tensor *in = &p->tensors[s->in[0]];
  lb_conv2d_desc d = {.n = n, .c = in->c, .h = in->h, .w = in->w, .k = s->k, .r = s->r, .s = s->s,
                      .stride_h = s->stride_h, .stride_w = s->stride_w, .pad_h = s->pad_h, .pad_w = s->pad_w,
                      .dil_h = s->dil_h, .dil_w = s->dil_w, .groups = s->groups};
  (void)lb_conv2d_init(&d);
  return d;
}

static lb_pool_desc step_pool(const lb_program *p, const lb_prog_step *s, int n) {
  const lb_prog_tensor *in = &p->tensors[s->in[0]];
  lb_pool_desc d = {.n = n, .c = in->c, .h = in->h, .w = in->w, .kh = s->pool_kh, .kw = s->pool_kw,
                    .stride_h = s->pool_sh, .stride_w = s->pool_sw, .pad_h = s->pool_ph, .pad_w = s->pool_pw,
                    .count_include_pad = s->pool_count_pad, .ceil_mode = s->pool_ceil};
  (void)lb_pool_init(&d);
  return d;
}

/* Accumulator elements of a conv/linear step per image. */
static int64_t acc_per_image(const lb_program *p, const lb_prog_step *s) {
  if (is_linear(s->kind)) return s->k;
  lb_conv2d_desc d = step_desc(p, s, 1);
  return (int64_t)d.k * d.oh * d.ow;
}

/* Whether a step needs its accumulators in scratch (no fused requant). */
static int needs_acc(const lb_program *p, const lb_prog_step *s) {
  return s->kind != LB_PS_CONV || s->neg_off >= 0 || lb_prog_tensor_binary(&p->tensors[s->out]);
}

/* Whether tensor t holds only -1/+1 (no 0 from a pad of a real 0): written by a sign step, or
 * moved (max pool, slice, concat, pad with a +-1 fill) from such tensors. prod: producing step. */
static int pure_binary(const lb_program *p, const int *prod, int t, int depth) {
  if (!lb_prog_tensor_binary(&p->tensors[t]) || prod[t] < 0 || depth > 64) return 0;
  const lb_prog_step *s = &p->steps[prod[t]];
  switch (s->kind) {
    case LB_PS_MAXPOOL:
    case LB_PS_SLICE:
    case LB_PS_CONCAT:
    case LB_PS_PAD:
      if (s->kind == LB_PS_PAD && s->mv_fill != 1 && s->mv_fill != -1) return 0;
      for (int j = 0; j < LB_STEP_MAX_IN && s->in[j] >= 0; j++)
        if (!pure_binary(p, prod, s->in[j], depth + 1)) return 0;
      return 1;
    default: return 1; /* quantize, conv, linear, add, rescale, gap: lb_binarize */
  }
}

/* A conv whose weights are all -1/+1 (binary weights in their 2-bit container) reading pure
 * binary codes runs as XNOR-popcount on bits: the same accumulators (padded taps add 0 either
 * way). Groups of one only (the optimized binary kernels' case). */
static int xnor_step(const lb_program *p, const int *prod, const lb_prog_step *s) {
  if (!is_conv(s->kind) || s->groups != 1 || s->wzp_off >= 0 || !pure_binary(p, prod, s->in[0], 0)) return 0;
  for (int64_t i = 0; i < s->w_len; i++)
    if (p->w8[s->w_off + i] != 1 && p->w8[s->w_off + i] != -1) return 0;
  return 1;
}

/* An XNOR step's kernel scratch: enough for its accumulators or for its fused sign epilogue. */
static size_t xnor_scratch(const lb_iconv *c, int n) {
  size_t a = lb_iconv_scratch(c, n), b = lb_iconv_scratch_binary_sign(c, n);
  return a > b ? a : b;
}

/* A conv step on the channels-last path (fused requantization, VNNI): it reads and writes either layout. */
static int conv_nhwc(const lb_engine *e, int i) {
  const lb_prog_step *s = &e->p->steps[i];
  return s->kind == LB_PS_CONV && !e->xnor[i] && !needs_acc(e->p, s) && e->prep[i] &&
         lb_iconv_nhwc_ok(e->prep[i], e->p->tensors[s->in[0]].zp);
}

/* Which code tensors stay channels-last between steps, so that the convolutions neither transpose
 * their input into channels-last order nor their output back (docs/kernels.md). A tensor can
 * when it has more than one channel and pixel and its producer and every reader take that
 * layout: a conv on the channels-last path, an add or rescale (element by element: its inputs
 * and output then share one layout), a global average pool (reader). Everything else reads and
 * writes NCHW as the program describes it. */
static void plan_layouts(lb_engine *e, const int *prod) {
  const lb_program *p = e->p;
  for (int t = 0; t < p->n_tensors; t++) {
    const lb_prog_tensor *pt = &p->tensors[t];
    int k = prod[t] >= 0 ? p->steps[prod[t]].kind : -1;
    e->nhwc[t] = pt->kind == LB_PT_CODES && !lb_prog_tensor_binary(pt) && pt->c > 1 && pt->h * pt->w > 1 &&
                 prod[t] >= 0 && (conv_nhwc(e, prod[t]) || k == LB_PS_ADD || k == LB_PS_RESCALE);
  }
  for (int i = 0; i < p->n_steps; i++) {
    const lb_prog_step *s = &p->steps[i];
    int reads = conv_nhwc(e, i) || s->kind == LB_PS_ADD || s->kind == LB_PS_RESCALE ||
                (s->kind == LB_PS_GAP && !lb_prog_tensor_binary(&p->tensors[s->out]));
    for (int j = 0; j < LB_STEP_MAX_IN && !reads; j++)
      if (s->in[j] >= 0) e->nhwc[s->in[j]] = 0;
  }
  for (int changed = 1; changed;) { /* an element-wise step's tensors share one layout */
    changed = 0;
    for (int i = 0; i < p->n_steps; i++) {
      const lb_prog_step *s = &p->steps[i];
      if (s->kind != LB_PS_ADD && s->kind != LB_PS_RESCALE) continue;
      int t[3] = {s->out, s->in[0], s->in[1]}, all = 1, any = 0;
      for (int j = 0; j < 3; j++)
        if (t[j] >= 0) all &= e->nhwc[t[j]], any |= e->nhwc[t[j]];
      if (any && !all) {
        for (int j = 0; j < 3; j++)
          if (t[j] >= 0) e->nhwc[t[j]] = 0;
        changed = 1;
      }
    }
  }
}

lb_status lb_engine_create(const lb_program *p, int max_batch, int flags, lb_engine **out) {
  *out = NULL;
  if (!p || max_batch < 1 || max_batch > 65536) return lb_fail(LB_ERR_ARG, "engine: bad program or batch size");
  lb_status st = lb_program_validate(p);
  if (st) return st;
  lb_engine *e = calloc(1, sizeof *e);
  if (!e) return lb_fail(LB_ERR_NOMEM, "engine: out of memory");
  e->p = p;
  e->max_batch = max_batch;
  e->flags = flags;
  e->isa = lb_ik_select();
  e->prep = calloc((size_t)p->n_steps, sizeof *e->prep);
  e->bias_p = calloc((size_t)p->n_steps, sizeof *e->bias_p);
  e->xnor = calloc((size_t)p->n_steps, 1);
  e->nhwc = calloc((size_t)p->n_tensors + 1, 1);
  e->toff = calloc((size_t)p->n_tensors, sizeof *e->toff);
  int *prod = malloc(((size_t)p->n_tensors + 1) * sizeof *prod);
  if (!e->prep || !e->bias_p || !e->xnor || !e->nhwc || !e->toff || !prod) st = lb_fail(LB_ERR_NOMEM, "engine: out of memory");
  for (int t = 0; !st && t < p->n_tensors; t++) prod[t] = -1;
  for (int i = 0; !st && i < p->n_steps; i++) prod[p->steps[i].out] = i;
  e->act_per_image = p->arena_per_image;
  if (!st && (flags & LB_ENGINE_KEEP_ALL)) {
    int64_t off = 0;
    for (int t = 0; t < p->n_tensors; t++) {
      e->toff[t] = off;
      off += p->tensors[t].bytes;
    }
    e->act_per_image = off;
  } else if (!st) {
    for (int t = 0; t < p->n_tensors; t++) e->toff[t] = p->tensors[t].offset;
  }
  for (int i = 0; i < p->n_steps && !st; i++) {
    const lb_prog_step *s = &p->steps[i];
    const int32_t *wzp = s->wzp_off >= 0 ? p->i32 + s->wzp_off : NULL;
    int xs = s->in[0] >= 0 ? p->tensors[s->in[0]].is_signed : 0;
    size_t need = 0;
    if (is_conv(s->kind)) {
      lb_conv2d_desc d = step_desc(p, s, max_batch);
      lb_iconv *c;
      e->xnor[i] = (uint8_t)xnor_step(p, prod, s);
      st = lb_iconv_prepare(&d, e->xnor[i] ? 1 : s->wbits, s->w_signed, p->w8 + s->w_off, wzp, xs, e->isa, &c);
      if (st) break;
      e->prep[i] = c;
      need = e->xnor[i] ? xnor_scratch(c, max_batch)
             : needs_acc(p, s) ? lb_iconv_scratch(c, max_batch) : lb_iconv_scratch_requant(c, max_batch);
      if (e->xnor[i]) /* the input's bits, (n, H, W, ceil(C/8)) bytes */
        need = r64(need) + r64((size_t)max_batch * (size_t)d.h * (size_t)d.w * (size_t)((d.c + 7) / 8));
    } else if (is_linear(s->kind)) {
      lb_ilinear *l;
      int64_t cin = (int64_t)p->tensors[s->in[0]].c * p->tensors[s->in[0]].h * p->tensors[s->in[0]].w;
      st = lb_ilinear_prepare(s->k, (int)cin, s->wbits, s->w_signed, p->w8 + s->w_off, wzp, xs, e->isa, &l);
      if (st) break;
      e->prep[i] = l;
    }
    if (!st && s->bfrac_off >= 0) { /* codes steps: the bias in product units, once */
      int64_t *b = malloc((size_t)s->k * sizeof *b);
      if (!b) {
        st = lb_fail(LB_ERR_NOMEM, "engine: out of memory");
        break;
      }
      for (int j = 0; j < s->k; j++)
        b[j] = lb_bias_product(p->i32[s->bias_off + j], p->i32[s->mult_off + j], p->i32[s->bfrac_off + j]);
      e->bias_p[i] = b;
    }
    if ((needs_acc(p, s) || e->xnor[i]) && (is_conv(s->kind) || is_linear(s->kind)))
      need = r64(need) + r64((size_t)max_batch * (size_t)acc_per_image(p, s) * sizeof(int32_t));
    if (need > e->scratch_bytes) e->scratch_bytes = need;
  }
  if (!st && !(flags & LB_ENGINE_KEEP_ALL)) plan_layouts(e, prod); /* verify reads every tensor as NCHW */
  if (!st) {
    e->scratch_bytes = r64(e->scratch_bytes);
    e->arena_bytes = (size_t)e->act_per_image * (size_t)max_batch + e->scratch_bytes;
    e->arena = lb_alloc_aligned(e->arena_bytes ? e->arena_bytes : 64);
    if (!e->arena) st = lb_fail(LB_ERR_NOMEM, "engine: cannot allocate the %zu-byte arena", e->arena_bytes);
  }
  free(prod);
  if (st) {
    lb_engine_free(e);
    return st;
  }
  *out = e;
  return LB_OK;
}

void lb_engine_free(lb_engine *e) {
  if (!e) return;
  for (int i = 0; e->prep && i < e->p->n_steps; i++) {
    if (!e->prep[i]) continue;
    if (is_conv(e->p->steps[i].kind)) lb_iconv_free(e->prep[i]);
    else lb_ilinear_free(e->prep[i]);
  }
  for (int i = 0; e->bias_p && i < e->p->n_steps; i++) free(e->bias_p[i]);
  free(e->bias_p);
  free(e->xnor);
  free(e->nhwc);
  free(e->prep);
  free(e->toff);
  lb_free_aligned(e->arena);
  free(e);
}

size_t lb_engine_arena_bytes(const lb_engine *e) { return e->arena_bytes; }
int lb_engine_xnor_steps(const lb_engine *e) {
  int n = 0;
  for (int i = 0; i < e->p->n_steps; i++) n += e->xnor[i];
  return n;
}
const char *lb_engine_isa(const lb_engine *e) { return lb_ik_isa_name(e->isa); }
int lb_engine_nhwc_tensors(const lb_engine *e) {
  int n = 0;
  for (int t = 0; t < e->p->n_tensors; t++) n += e->nhwc[t];
  return n;
}

/* Requantization with a per-channel sign (negative batchnorm scales): p = acc * M + bias_p,
 * y = clamp(zp + rshift_rne(+-p, s), lo, hi). */
static void requant_signed(int n, int k, int64_t hw, const int32_t *acc, const int64_t *bias_p, const int32_t *M,
                           const int32_t *s, const int32_t *neg, int32_t zp, int32_t lo, int32_t hi, int y_signed,
                           void *y) {
  for (int b = 0; b < n; b++)
    for (int j = 0; j < k; j++) {
      int64_t o = ((int64_t)b * k + j) * hw;
      for (int64_t i = 0; i < hw; i++) {
        int64_t p = (int64_t)acc[o + i] * M[j] + bias_p[j];
        int64_t v64 = (int64_t)zp + lb_rshift_rne(neg[j] ? -p : p, s[j]);
        int32_t v = (int32_t)(v64 < lo ? lo : v64 > hi ? hi : v64);
        if (y_signed) ((int8_t *)y)[o + i] = (int8_t)v;
        else ((uint8_t *)y)[o + i] = (uint8_t)v;
      }
    }
}

static void run_step(lb_engine *e, int i, int n, const float *x, float *logits) {
  const lb_program *p = e->p;
  const lb_prog_step *s = &p->steps[i];
  const lb_prog_tensor *to = &p->tensors[s->out];
  const lb_prog_tensor *t0 = s->in[0] >= 0 ? &p->tensors[s->in[0]] : NULL;
  const lb_prog_tensor *t1 = s->in[1] >= 0 ? &p->tensors[s->in[1]] : NULL;
  uint8_t *scratch = e->arena + (size_t)e->act_per_image * (size_t)e->max_batch;
  void *y = to->kind == LB_PT_FLOAT && !to->bytes ? (void *)logits : e->arena + e->toff[s->out] * n;
  const void *x0 = t0 ? e->arena + e->toff[s->in[0]] * n : NULL;
  const void *x1 = t1 ? e->arena + e->toff[s->in[1]] * n : NULL;
  int64_t numel = (int64_t)to->c * to->h * to->w * n;
  const int bin = lb_prog_tensor_binary(to);
  const int64_t es = lb_prog_tensor_float_map(to) ? (int64_t)sizeof(float) : 1; /* element bytes */
  const int32_t *M = s->mult_off >= 0 ? p->i32 + s->mult_off : NULL;
  const int *sh = s->shift_off >= 0 ? (const int *)(p->i32 + s->shift_off) : NULL;
  int32_t *acc = NULL;
  int64_t hw = 1;
  switch (s->kind) {
    case LB_PS_QUANTIZE: { /* the input, or a float tensor */
      const float *xf = x0 ? (const float *)x0 : x;
      if (bin) lb_ik_binarize_input(numel, xf, s->lo, s->hi, y);
      else lb_ik_quantize(numel, xf, s->inv, to->zp, s->lo, s->hi, to->is_signed, y);
      return;
    }
    case LB_PS_FADD: lb_ik_fadd(numel, x0, x1, s->flo, s->fhi, y); return;
    case LB_PS_FGAP: lb_ik_fgap(n, t0->c, (int64_t)t0->h * t0->w, x0, y); return;
    case LB_PS_CONV:
    case LB_PS_CONV_OUT: {
      const lb_iconv *c = e->prep[i];
      lb_conv2d_desc d = step_desc(p, s, n);
      hw = (int64_t)d.oh * d.ow;
      if (e->xnor[i]) { /* scratch: kernel scratch, accumulators, the input's bits */
        size_t ks = r64(xnor_scratch(c, e->max_batch));
        acc = (int32_t *)(scratch + ks);
        uint8_t *bits = scratch + ks + r64((size_t)e->max_batch * (size_t)acc_per_image(p, s) * sizeof(int32_t));
        lb_ik_pack_binary(e->isa, n, d.c, d.h, d.w, (const int8_t *)x0, bits);
        if (bin && s->kind == LB_PS_CONV) { /* signs straight from each image's accumulators */
          lb_iconv_run_binary_sign(c, n, bits, e->bias_p[i], M, s->neg_off >= 0 ? p->i32 + s->neg_off : NULL, s->lo,
                                   s->hi, y, scratch);
          return;
        }
        lb_iconv_run_binary(c, n, bits, acc, scratch);
        break;
      }
      if (!needs_acc(p, s)) {
        if (e->nhwc[s->in[0]] || e->nhwc[s->out])
          lb_iconv_run_requant_nhwc(c, n, x0, e->nhwc[s->in[0]], t0->zp, e->bias_p[i], M, sh, to->zp, s->lo, s->hi,
                                    to->is_signed, y, e->nhwc[s->out], scratch);
        else
          lb_iconv_run_requant(c, n, x0, t0->zp, e->bias_p[i], M, sh, to->zp, s->lo, s->hi, to->is_signed, y, scratch);
        return;
      }
      size_t ks = r64(lb_iconv_scratch(c, e->max_batch));
      acc = (int32_t *)(scratch + ks);
      if (bin && s->kind == LB_PS_CONV) { /* a few images at a time: their accumulators stay in cache */
        const int64_t xin = (int64_t)t0->c * t0->h * t0->w, yout = (int64_t)to->c * to->h * to->w;
        for (int b0 = 0; b0 < n; b0 += SIGN_CHUNK) {
          int nb = n - b0 < SIGN_CHUNK ? n - b0 : SIGN_CHUNK;
          lb_iconv_run(c, nb, (const uint8_t *)x0 + b0 * xin, t0->zp, acc, scratch);
          lb_ik_binarize_acc(e->isa, nb, s->k, hw, acc, e->bias_p[i], M, s->neg_off >= 0 ? p->i32 + s->neg_off : NULL,
                             s->lo, s->hi, (int8_t *)y + b0 * yout);
        }
        return;
      }
      lb_iconv_run(c, n, x0, t0->zp, acc, scratch);
      break;
    }
    case LB_PS_LINEAR:
    case LB_PS_LINEAR_OUT:
      acc = (int32_t *)scratch;
      lb_ilinear_run(e->prep[i], n, x0, t0->zp, acc);
      break;
    case LB_PS_ADD:
      if (bin) {
        lb_ik_binarize_add(e->isa, numel, x0, t0->is_signed, t0->zp, s->add_m1, x1, t1->is_signed, t1->zp,
                           s->add_m2, s->lo, s->hi, y);
        return;
      }
      lb_ik_add(e->isa, numel, x0, t0->is_signed, t0->zp, s->add_m1, x1, t1->is_signed, t1->zp, s->add_m2,
                s->add_shift, to->zp, s->lo, s->hi, to->is_signed, y);
      return;
    case LB_PS_RESCALE: /* an add whose second operand has multiplier 0 */
      if (bin) {
        lb_ik_binarize_add(e->isa, numel, x0, t0->is_signed, t0->zp, s->add_m1, x0, t0->is_signed, t0->zp, 0, s->lo,
                           s->hi, y);
        return;
      }
      lb_ik_add(e->isa, numel, x0, t0->is_signed, t0->zp, s->add_m1, x0, t0->is_signed, t0->zp, 0, s->add_shift,
                to->zp, s->lo, s->hi, to->is_signed, y);
      return;
    case LB_PS_GAP:
      if (bin) {
        lb_ik_binarize_gap(n, t0->c, (int64_t)t0->h * t0->w, x0, t0->is_signed, t0->zp, s->lo, s->hi, y);
        return;
      }
      if (e->nhwc[s->in[0]])
        lb_ik_gap_nhwc(n, t0->c, (int64_t)t0->h * t0->w, x0, t0->is_signed, t0->zp, s->add_m1, s->add_shift, to->zp,
                       s->lo, s->hi, to->is_signed, y);
      else
        lb_ik_gap(e->isa, n, t0->c, (int64_t)t0->h * t0->w, x0, t0->is_signed, t0->zp, s->add_m1, s->add_shift, to->zp,
                  s->lo, s->hi, to->is_signed, y);
      return;
    case LB_PS_MAXPOOL: {
      lb_pool_desc d = step_pool(p, s, n);
      lb_ik_maxpool(e->isa, &d, x0, t0->is_signed, y);
      return;
    }
    case LB_PS_AVGPOOL: {
      lb_pool_desc d = step_pool(p, s, n);
      lb_ik_avgpool(e->isa, &d, x0, t0->is_signed, t0->zp, M, sh, to->zp, s->lo, s->hi, to->is_signed, y);
      return;
    }
    case LB_PS_DEQUANTIZE:
      lb_ik_dequantize(numel, x0, t0->is_signed, t0->zp, t0->scale, logits);
      return;
    case LB_PS_SLICE: /* on codes or floats (es bytes an element; a float pad fills 0.0f) */
      lb_ik_slice(n * s->mv_outer, s->mv_dim[0], s->mv_inner * es, s->mv_start, s->mv_step, s->mv_count, x0, y);
      if (es > 1) lb_ik_fclamp(numel, s->flo, s->fhi, y);
      return;
    case LB_PS_PAD:
      lb_ik_pad(n * s->mv_outer, s->mv_dim[0], s->mv_inner * es, s->mv_begin, s->mv_end, (uint8_t)s->mv_fill, x0, y);
      if (es > 1) lb_ik_fclamp(numel, s->flo, s->fhi, y);
      return;
    case LB_PS_CONCAT: {
      const uint8_t *xs[LB_STEP_MAX_IN];
      int64_t d[LB_STEP_MAX_IN];
      int k = 0;
      for (; k < LB_STEP_MAX_IN && s->in[k] >= 0; k++) {
        xs[k] = e->arena + e->toff[s->in[k]] * n;
        d[k] = s->mv_dim[k];
      }
      lb_ik_concat(n * s->mv_outer, s->mv_inner * es, k, d, xs, y);
      return;
    }
    default:
      return;
  }
  /* conv/linear epilogues from accumulators */
  if (s->kind == LB_PS_CONV_OUT || s->kind == LB_PS_LINEAR_OUT) { /* the logits or a float tensor */
    lb_ik_dequantize_acc(n, s->k, hw, acc, p->f32 + s->fbias_off, p->f32 + s->scale_off, y);
    lb_ik_fclamp(numel, s->flo, s->fhi, y);
  }
  else if (bin)
    lb_ik_binarize_acc(e->isa, n, s->k, hw, acc, e->bias_p[i], M, s->neg_off >= 0 ? p->i32 + s->neg_off : NULL, s->lo,
                       s->hi, y);
  else if (s->neg_off >= 0)
    requant_signed(n, s->k, hw, acc, e->bias_p[i], M, p->i32 + s->shift_off, p->i32 + s->neg_off, to->zp, s->lo,
                   s->hi, to->is_signed, y);
  else
    lb_ik_requant(e->isa, n, s->k, hw, acc, e->bias_p[i], M, sh, to->zp, s->lo, s->hi, to->is_signed, y);
}

lb_status lb_engine_run(lb_engine *e, int n, const float *x, float *logits) {
  if (!e || n < 0 || (n && (!x || !logits))) return lb_fail(LB_ERR_ARG, "engine: bad arguments");
  const lb_program *p = e->p;
  int64_t in_per = (int64_t)p->in_c * p->in_h * p->in_w;
  for (int b0 = 0; b0 < n; b0 += e->max_batch) {
    int nb = n - b0 < e->max_batch ? n - b0 : e->max_batch;
    for (int i = 0; i < p->n_steps; i++) run_step(e, i, nb, x + b0 * in_per, logits + (int64_t)b0 * p->classes);
    e->last_n = nb;
  }
  return LB_OK;
}

const void *lb_engine_tensor(const lb_engine *e, int t) {
  if (!e || !(e->flags & LB_ENGINE_KEEP_ALL) || t < 0 || t >= e->p->n_tensors ||
      e->p->tensors[t].kind != LB_PT_CODES)
    return NULL;
  return e->arena + e->toff[t] * e->last_n;
}
