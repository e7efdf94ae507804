/* The deploy-exact simulation: the fake-quant graph in eval mode, unit by unit (units.c), with
 * exact integer accumulation and the integer requantization of ikernel.h at every quantizer (its
 * sign, lb_binarize, on binary grids).
 * It shares the unit analysis and constants with the lowering but nothing of the program: no
 * packed weights, no integer kernels, no arena. Convolutions and linear layers run through the
 * float kernels (lb_conv2d_forward, lb_linear_forward) on integer-valued tensors (x - zx) and
 * (w - zw), which is exact while every partial sum stays below 2^24 in magnitude (checked per
 * layer from the weights: sum |w - zw| * max|x - zx|); layers past that bound use a direct
 * convolution in double (exact below 2^53). Max pools, slices, pads and concats run through the
 * float kernels of the graph's ops on codes, with the node's own attributes. Tensors the profile
 * leaves unquantized (float units) are computed as the engine's float steps define them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/units.h"
#include "graph/ops_shape.h"
#include "lowbit/ikernel.h"
#include "nn/nn_shape.h"

#define EXACT_F32 16777216.0 /* 2^24 */

struct lb_sim {
  const lb_graph *g;
  lb_units us;
  lb_uweights *w;   /* per unit (conv/linear ones) */
  float **wf;       /* per unit: (w - zw) as floats */
  int32_t **codes;  /* per unit: (max_batch, numel) */
  float **fv;       /* per float unit: its values (max_batch, numel) */
  int64_t *numel;   /* per unit, per image */
  float *fx, *fy, *fs; /* scratch: operand, result, kernel scratch */
  int32_t *argmax;
  int max_batch;
};

static int64_t unit_numel(const lb_graph *g, const lb_unit *u) {
  return lb_shape_numel(&g->nodes[u->node].shape);
}

/* Per image elements the core writes: the unit's tensor, or what the first post op reads. */
static int64_t core_out_numel(const lb_graph *g, const lb_unit *u) {
  return u->n_post ? lb_shape_numel(&g->nodes[g->nodes[u->post[0]].inputs[0]].shape) : unit_numel(g, u);
}

void lb_sim_free(lb_sim *s) {
  if (!s) return;
  for (int i = 0; i < s->us.n; i++) {
    if (s->w) lb_uweights_free(&s->w[i]);
    if (s->wf) free(s->wf[i]);
    if (s->codes) free(s->codes[i]);
    if (s->fv) free(s->fv[i]);
  }
  free(s->fv);
  free(s->w);
  free(s->wf);
  free(s->codes);
  free(s->numel);
  free(s->fx);
  free(s->fy);
  free(s->fs);
  free(s->argmax);
  lb_units_free(&s->us);
  free(s);
}

static int weighted(const lb_unit *u) {
  return u->kind == LB_U_CONV || u->kind == LB_U_LINEAR || u->kind == LB_U_OUT_ACC || u->kind == LB_U_FLOAT_ACC;
}
/* Units writing codes (the rest write the logits or floats). */
static int codes_unit(const lb_unit *u) {
  return u->kind != LB_U_OUT_ACC && u->kind != LB_U_OUT_CODES && !lb_ukind_float(u->kind);
}
static int conv_core(const lb_graph *g, const lb_unit *u) { return strcmp(g->nodes[u->core].op->name, "qlinear") != 0; }

lb_status lb_sim_create(const lb_graph *g, int max_batch, lb_sim **out) {
  *out = NULL;
  if (!g || max_batch < 1) return lb_fail(LB_ERR_ARG, "simulation: bad arguments");
  lb_sim *s = calloc(1, sizeof *s);
  if (!s) return lb_fail(LB_ERR_NOMEM, "simulation: out of memory");
  s->g = g;
  s->max_batch = max_batch;
  lb_status st = lb_units_build(g, &s->us);
  if (st) {
    free(s);
    return st;
  }
  int n = s->us.n;
  s->w = calloc((size_t)n, sizeof *s->w);
  s->wf = calloc((size_t)n, sizeof *s->wf);
  s->codes = calloc((size_t)n, sizeof *s->codes);
  s->numel = calloc((size_t)n, sizeof *s->numel);
  s->fv = calloc((size_t)n, sizeof *s->fv);
  if (!s->w || !s->wf || !s->codes || !s->numel || !s->fv) st = lb_fail(LB_ERR_NOMEM, "simulation: out of memory");
  size_t big = 1, kscr = 1;
  for (int i = 0; i < n && !st; i++) {
    const lb_unit *u = &s->us.u[i];
    s->numel[i] = unit_numel(g, u);
    /* every float buffer holds any node's batch output */
    int64_t core_numel = lb_shape_numel(&g->nodes[u->core].shape);
    int64_t in_numel = u->core > 0 ? lb_shape_numel(&g->nodes[g->nodes[u->core].inputs[0]].shape) : core_numel;
    int64_t m = core_numel > in_numel ? core_numel : in_numel;
    if (s->numel[i] > m) m = s->numel[i];
    for (int p = 0; p < u->n_post; p++) {
      int64_t pm = lb_shape_numel(&g->nodes[u->post[p]].shape);
      if (pm > m) m = pm;
    }
    if (core_out_numel(g, u) > m) m = core_out_numel(g, u);
    if ((size_t)(m * max_batch) > big) big = (size_t)(m * max_batch);
    /* codes hold the core's output before the unit's post ops reshape it in place */
    if (codes_unit(u)) {
      s->codes[i] = malloc((size_t)max_batch * (size_t)m * sizeof(int32_t));
      if (!s->codes[i]) st = lb_fail(LB_ERR_NOMEM, "simulation: out of memory");
    } else if (lb_ukind_float(u->kind)) {
      s->fv[i] = malloc((size_t)max_batch * (size_t)s->numel[i] * sizeof(float));
      if (!s->fv[i]) st = lb_fail(LB_ERR_NOMEM, "simulation: out of memory");
    }
    if (st || !weighted(u)) continue;
    st = lb_unit_weights(g, &s->us, i, &s->w[i]);
    if (st) break;
    const lb_uweights *w = &s->w[i];
    s->wf[i] = malloc((size_t)(w->k * w->per) * sizeof(float));
    if (!s->wf[i]) {
      st = lb_fail(LB_ERR_NOMEM, "simulation: out of memory");
      break;
    }
    for (int j = 0; j < w->k; j++)
      for (int64_t t = 0; t < w->per; t++) s->wf[i][j * w->per + t] = (float)(w->codes[j * w->per + t] - w->wzp[j]);
    if (conv_core(g, u)) {
      lb_conv2d_desc d = lb_unit_conv_desc(g, u, max_batch);
      size_t ks = lb_conv2d_scratch_floats(&d);
      if (ks > kscr) kscr = ks;
    }
  }
  if (!st) {
    s->fx = malloc(big * sizeof(float));
    s->fy = malloc(big * sizeof(float));
    s->fs = malloc(kscr * sizeof(float));
    s->argmax = malloc(big * sizeof(int32_t));
    if (!s->fx || !s->fy || !s->fs || !s->argmax) st = lb_fail(LB_ERR_NOMEM, "simulation: out of memory");
  }
  if (st) {
    lb_sim_free(s);
    return st;
  }
  *out = s;
  return LB_OK;
}

/* Direct convolution in double (x, w integer-valued), for layers past the float bound. */
static void conv_double(const lb_conv2d_desc *d, const float *x, const float *w, float *y_unused, double *acc) {
  (void)y_unused;
  int cg = d->c / d->groups, kg = d->k / d->groups;
  for (int b = 0; b < d->n; b++)
    for (int k = 0; k < d->k; k++) {
      int grp = k / kg;
      for (int oh = 0; oh < d->oh; oh++)
        for (int ow = 0; ow < d->ow; ow++) {
          double a = 0.0;
          for (int c = 0; c < cg; c++)
            for (int r = 0; r < d->r; r++) {
              int ih = oh * d->stride_h - d->pad_h + r * d->dil_h;
              if (ih < 0 || ih >= d->h) continue;
              for (int q = 0; q < d->s; q++) {
                int iw = ow * d->stride_w - d->pad_w + q * d->dil_w;
                if (iw < 0 || iw >= d->w) continue;
                a += (double)x[(((int64_t)b * d->c + grp * cg + c) * d->h + ih) * d->w + iw] *
                     w[(((int64_t)k * cg + c) * d->r + r) * d->s + q];
              }
            }
          acc[(((int64_t)b * d->k + k) * d->oh + oh) * d->ow + ow] = a;
        }
    }
}

/* Operand codes -> (q - zp) as floats in s->fx. */
static void centred(lb_sim *s, int unit, int n) {
  const lb_qgrid *y = &s->us.u[unit].y;
  int64_t cnt = (int64_t)n * s->numel[unit];
  for (int64_t i = 0; i < cnt; i++) s->fx[i] = (float)(s->codes[unit][i] - y->zp);
}

static int32_t clampi(int64_t v, int32_t lo, int32_t hi) { return (int32_t)(v < lo ? lo : v > hi ? hi : v); }

/* One data-movement node (slice, pad, concat) on codes as floats, its attributes as the graph's
 * forward uses them: x[j] (n images each) -> y. */
static void move_codes(const lb_graph *g, int node, int n, float fill, const float *const *x, float *y) {
  const lb_node *nd = &g->nodes[node];
  const lb_shape *in = &g->nodes[nd->inputs[0]].shape;
  if (!strcmp(nd->op->name, "pad")) {
    int64_t b[LB_PAD_MAX_DIMS], e[LB_PAD_MAX_DIMS];
    for (int k = 0; k < in->ndim; k++) {
      b[k] = nd->ia[LB_PAD_BEGIN + k];
      e[k] = nd->ia[LB_PAD_END + k];
    }
    lb_pad_forward(n, in->ndim, in->d, b, e, fill, x[0], y);
    return;
  }
  int a = nd->ia[strcmp(nd->op->name, "slice") ? LB_CONCAT_AXIS : LB_SLICE_AXIS];
  int64_t outer = n, inner = 1;
  for (int k = 0; k < a; k++) outer *= in->d[k];
  for (int k = a + 1; k < in->ndim; k++) inner *= in->d[k];
  if (!strcmp(nd->op->name, "slice")) {
    lb_slice_forward(outer, in->d[a], inner, nd->ia[LB_SLICE_START], nd->ia[LB_SLICE_STEP], nd->ia[LB_SLICE_COUNT], x[0], y);
    return;
  }
  int64_t d[LB_NODE_MAX_INPUTS];
  for (int j = 0; j < nd->n_inputs; j++) d[j] = g->nodes[nd->inputs[j]].shape.d[a];
  lb_concat_forward(outer, inner, nd->n_inputs, d, x, y);
}

/* The post ops of a unit (max pools, slices, pads) on its codes, in place (through s->fx/fy). */
static void run_post(lb_sim *s, const lb_unit *u, int n, int32_t *codes, int64_t numel) {
  for (int p = 0; p < u->n_post; p++) {
    int node = u->post[p];
    for (int64_t i = 0; i < (int64_t)n * numel; i++) s->fx[i] = (float)codes[i];
    if (!strcmp(s->g->nodes[node].op->name, "maxpool")) {
      lb_pool_desc d = lb_unit_pool_desc(s->g, node, n);
      lb_maxpool_forward(&d, s->fx, s->fy, s->argmax);
    } else {
      const float *x[1] = {s->fx};
      move_codes(s->g, node, n, (float)u->post_fill[p], x, s->fy);
    }
    numel = lb_shape_numel(&s->g->nodes[node].shape);
    for (int64_t i = 0; i < (int64_t)n * numel; i++) codes[i] = (int32_t)s->fy[i];
  }
}

static void sim_weighted(lb_sim *s, int i, int n, float *logits) {
  const lb_unit *u = &s->us.u[i];
  const lb_uweights *w = &s->w[i];
  centred(s, u->operand[0], n);
  int64_t hw = 1;
  double maxb = 0.0;
  for (int j = 0; j < w->k; j++)
    if (w->bound[j] > maxb) maxb = w->bound[j];
  int exact_f32 = maxb < EXACT_F32;
  double *accd = NULL;
  if (conv_core(s->g, u)) {
    lb_conv2d_desc d = lb_unit_conv_desc(s->g, u, n);
    hw = (int64_t)d.oh * d.ow;
    if (exact_f32) lb_conv2d_forward(&d, s->fx, s->wf[i], NULL, s->fy, s->fs);
    else if ((accd = malloc((size_t)n * (size_t)w->k * (size_t)hw * sizeof *accd)))
      conv_double(&d, s->fx, s->wf[i], s->fy, accd);
  } else if (exact_f32) {
    lb_linear_forward(n, (int)w->per, w->k, s->fx, s->wf[i], NULL, s->fy);
  } else if ((accd = malloc((size_t)n * (size_t)w->k * sizeof *accd))) {
    for (int b = 0; b < n; b++)
      for (int j = 0; j < w->k; j++) {
        double a = 0.0;
        for (int64_t t = 0; t < w->per; t++) a += (double)s->fx[b * w->per + t] * s->wf[i][j * w->per + t];
        accd[b * w->k + j] = a;
      }
  }
  int64_t core_numel = (int64_t)w->k * hw;
  for (int b = 0; b < n; b++)
    for (int j = 0; j < w->k; j++)
      for (int64_t t = 0; t < hw; t++) {
        int64_t o = ((int64_t)b * w->k + j) * hw + t;
        /* accd NULL only after a failed malloc of the double path: fall back to the float result */
        int32_t acc = (int32_t)(accd ? accd[o] : (double)s->fy[o]);
        if (u->kind == LB_U_OUT_ACC) logits[o] = fmaf((float)acc, w->scale[j], w->fbias[j]);
        else if (u->kind == LB_U_FLOAT_ACC) s->fv[i][o] = lb_fclamp(fmaf((float)acc, w->scale[j], w->fbias[j]), u->flo, u->fhi);
        else if (u->y.binary) s->codes[i][o] = lb_binarize(lb_unit_product(w, j, acc), u->lo, u->hi);
        else s->codes[i][o] = lb_unit_requant(w, j, acc, u->y.zp, u->lo, u->hi);
      }
  free(accd);
  if (codes_unit(u)) run_post(s, u, n, s->codes[i], core_numel);
}

static void sim_unit(lb_sim *s, int i, int n, const float *x, float *logits) {
  const lb_unit *u = &s->us.u[i];
  const lb_graph *g = s->g;
  int64_t numel = core_out_numel(g, u), cnt = (int64_t)n * numel; /* what the core writes */
  int32_t *y = s->codes[i];
  const int32_t *x0 = u->operand[0] >= 0 ? s->codes[u->operand[0]] : NULL;
  const lb_qgrid *g0 = u->operand[0] >= 0 ? &s->us.u[u->operand[0]].y : NULL;
  switch (u->kind) {
    case LB_U_INPUT: { /* the fakequant's arithmetic: rint(x * (1/s)) + zp, then the clamp */
      float inv = 1.0f / u->y.scale;
      if (u->operand[0] >= 0) x = s->fv[u->operand[0]]; /* a float tensor instead of the input */
      for (int64_t t = 0; t < cnt; t++) {
        float r = u->y.binary ? (x[t] >= 0.0f ? 1.0f : -1.0f) : rintf(x[t] * inv) + (float)u->y.zp;
        y[t] = r < (float)u->lo ? u->lo : r > (float)u->hi ? u->hi : (int32_t)r;
      }
      break;
    }
    case LB_U_CONV:
    case LB_U_LINEAR:
    case LB_U_OUT_ACC:
    case LB_U_FLOAT_ACC: sim_weighted(s, i, n, logits); break;
    case LB_U_FLOAT_ADD: {
      const float *a = s->fv[u->operand[0]], *b = s->fv[u->operand[1]];
      for (int64_t t = 0; t < cnt; t++) s->fv[i][t] = lb_fclamp(a[t] + b[t], u->flo, u->fhi);
      break;
    }
    case LB_U_FLOAT_MOVE: { /* slice / pad (of 0) on floats, then the clamps */
      const float *xs[1] = {s->fv[u->operand[0]]};
      move_codes(g, u->core, n, 0.0f, xs, s->fv[i]);
      for (int64_t t = 0; t < (int64_t)n * s->numel[i]; t++) s->fv[i][t] = lb_fclamp(s->fv[i][t], u->flo, u->fhi);
      break;
    }
    case LB_U_FLOAT_GAP: { /* the mean summed in double, as the graph's gap */
      const float *a = s->fv[u->operand[0]];
      int64_t hw = s->numel[u->operand[0]] / numel;
      for (int64_t t = 0; t < cnt; t++) {
        double sum = 0.0;
        for (int64_t q = 0; q < hw; q++) sum += (double)a[t * hw + q];
        s->fv[i][t] = (float)(sum / (double)hw);
      }
      break;
    }
    case LB_U_ADD: {
      const int32_t *x1 = s->codes[u->operand[1]];
      const lb_qgrid *g1 = &s->us.u[u->operand[1]].y;
      for (int64_t t = 0; t < cnt; t++) {
        int64_t a = (int64_t)(x0[t] - g0->zp) * u->m1 + (int64_t)(x1[t] - g1->zp) * u->m2;
        y[t] = u->y.binary ? lb_binarize(a, u->lo, u->hi) : clampi(u->y.zp + lb_rshift_rne(a, u->shift), u->lo, u->hi);
      }
      break;
    }
    case LB_U_GAP: {
      int64_t hw = s->numel[u->operand[0]] / numel;
      for (int64_t t = 0; t < cnt; t++) {
        int64_t a = 0;
        for (int64_t q = 0; q < hw; q++) a += x0[t * hw + q] - g0->zp;
        y[t] = u->y.binary ? lb_binarize(a, u->lo, u->hi) : lb_requant(a, u->m1, u->shift, u->y.zp, u->lo, u->hi);
      }
      break;
    }
    case LB_U_AVGPOOL: {
      lb_pool_desc d = lb_unit_pool_desc(g, u->core, n);
      for (int64_t pl = 0; pl < (int64_t)n * d.c; pl++)
        for (int oh = 0; oh < d.oh; oh++)
          for (int ow = 0; ow < d.ow; ow++) {
            int hs = oh * d.stride_h - d.pad_h, ws = ow * d.stride_w - d.pad_w;
            int he = hs + d.kh < d.h + d.pad_h ? hs + d.kh : d.h + d.pad_h;
            int we = ws + d.kw < d.w + d.pad_w ? ws + d.kw : d.w + d.pad_w;
            int64_t a = 0, valid = 0;
            for (int r = hs; r < he; r++)
              for (int q = ws; q < we; q++)
                if (r >= 0 && r < d.h && q >= 0 && q < d.w) {
                  a += x0[(pl * d.h + r) * d.w + q] - g0->zp;
                  valid++;
                }
            int c = d.count_include_pad ? (he - hs) * (we - ws) : (int)valid;
            y[(pl * d.oh + oh) * d.ow + ow] = lb_requant(a, u->avg_m[c], u->avg_s[c], u->y.zp, u->lo, u->hi);
          }
      break;
    }
    case LB_U_RESCALE:
      for (int64_t t = 0; t < cnt; t++)
        y[t] = u->y.binary ? lb_binarize((int64_t)x0[t] - g0->zp, u->lo, u->hi)
                           : lb_requant((int64_t)x0[t] - g0->zp, u->m1, u->shift, u->y.zp, u->lo, u->hi);
      break;
    case LB_U_MOVE: { /* the operands' codes (one grid) moved as floats */
      const float *xs[LB_UNIT_MAX_IN];
      int64_t at = 0;
      for (int j = 0; j < LB_UNIT_MAX_IN && u->operand[j] >= 0; j++) {
        int64_t c = (int64_t)n * s->numel[u->operand[j]];
        for (int64_t t = 0; t < c; t++) s->fx[at + t] = (float)s->codes[u->operand[j]][t];
        xs[j] = s->fx + at;
        at += c;
      }
      move_codes(g, u->core, n, (float)u->fill, xs, s->fy);
      for (int64_t t = 0; t < cnt; t++) y[t] = (int32_t)s->fy[t];
      break;
    }
    case LB_U_MAXPOOL: {
      lb_pool_desc d = lb_unit_pool_desc(g, u->core, n);
      for (int64_t t = 0; t < (int64_t)n * s->numel[u->operand[0]]; t++) s->fx[t] = (float)x0[t];
      lb_maxpool_forward(&d, s->fx, s->fy, s->argmax);
      for (int64_t t = 0; t < cnt; t++) y[t] = (int32_t)s->fy[t];
      break;
    }
    case LB_U_OUT_CODES:
      for (int64_t t = 0; t < cnt; t++) logits[t] = (float)(x0[t] - g0->zp) * g0->scale;
      break;
    default: break;
  }
  if (codes_unit(u) && u->kind != LB_U_CONV && u->kind != LB_U_LINEAR) run_post(s, u, n, y, numel);
}

lb_status lb_sim_run(lb_sim *s, int n, const float *x, float *logits) {
  if (!s || n < 0 || n > s->max_batch || (n && (!x || !logits))) return lb_fail(LB_ERR_ARG, "simulation: bad arguments");
  for (int i = 0; i < s->us.n; i++) sim_unit(s, i, n, x, logits);
  return LB_OK;
}

const int32_t *lb_sim_codes(const lb_sim *s, int node) {
  if (!s || node < 0 || node >= s->us.n_nodes || s->us.of_node[node] < 0) return NULL;
  return s->codes[s->us.of_node[node]];
}
