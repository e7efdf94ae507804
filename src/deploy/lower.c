/* Lowering: the units of a quantized graph (units.c) become program steps over tensors, with the
 * integer constants in three pools and every activation tensor placed in one arena by liveness. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/units.h"
#include "graph/ops_shape.h"
#include "lowbit/ikernel.h"

typedef struct lowering {
  const lb_graph *g;
  lb_units us;
  lb_program *p;
  int cap_t, cap_s;
  int64_t cap_w8, cap_i32, cap_f32;
  int *tensor_of_unit;
} lowering;

static lb_status oom(void) { return lb_fail(LB_ERR_NOMEM, "deploy: out of memory"); }

static int grow(void **p, int64_t *cap, int64_t need, size_t elem) {
  if (need <= *cap) return 1;
  int64_t nc = *cap ? *cap : 64;
  while (nc < need) nc *= 2;
  void *np = realloc(*p, (size_t)nc * elem);
  if (!np) return 0;
  *p = np;
  *cap = nc;
  return 1;
}

/* Append n values of elem bytes to a pool (*pool with *len used of *cap); returns the offset
 * or -1 on OOM. */
static int64_t put(void **pool, int64_t *len, int64_t *cap, const void *v, int64_t n, size_t elem) {
  if (!grow(pool, cap, *len + n, elem)) return -1;
  memcpy((char *)*pool + (size_t)*len * elem, v, (size_t)n * elem);
  *len += n;
  return *len - n;
}
static int64_t put_i32(lowering *L, const int32_t *v, int64_t n) {
  return put((void **)&L->p->i32, &L->p->n_i32, &L->cap_i32, v, n, sizeof *v);
}
static int64_t put_w8(lowering *L, const int8_t *v, int64_t n) {
  return put((void **)&L->p->w8, &L->p->n_w8, &L->cap_w8, v, n, 1);
}
static int64_t put_f32(lowering *L, const float *v, int64_t n) {
  return put((void **)&L->p->f32, &L->p->n_f32, &L->cap_f32, v, n, sizeof *v);
}

static int64_t round64(int64_t b) { return (b + 63) / 64 * 64; }

/* A tensor of per-image shape sh on grid y (NULL: float); `tmp` marks a unit's intermediate
 * (name + "~": verify compares tensors named after graph nodes only). Returns its index or -1. */
static int shaped_tensor(lowering *L, const char *name, int tmp, const lb_shape *sh, const lb_qgrid *y, int kind) {
  lb_program *p = L->p;
  int64_t cap = L->cap_t;
  if (!grow((void **)&p->tensors, &cap, p->n_tensors + 1, sizeof *p->tensors)) return -1;
  L->cap_t = (int)cap;
  lb_prog_tensor *t = &p->tensors[p->n_tensors];
  memset(t, 0, sizeof *t);
  snprintf(t->name, sizeof t->name, tmp ? "%.62s~" : "%s", name);
  t->kind = kind;
  /* (c, h, w) for maps, (numel, 1, 1) for anything else (readers of those take the flat codes) */
  t->c = sh->ndim == 3 ? (int)sh->d[0] : (int)lb_shape_numel(sh);
  t->h = sh->ndim == 3 ? (int)sh->d[1] : 1;
  t->w = sh->ndim == 3 ? (int)sh->d[2] : 1;
  if (y) {
    t->bits = y->bits;
    t->is_signed = y->is_signed;
    t->zp = y->zp;
    t->qmin = y->qmin;
    t->qmax = y->qmax;
    t->scale = y->scale;
  }
  t->offset = -1;
  t->bytes = kind == LB_PT_CODES ? round64((int64_t)t->c * t->h * t->w) : 0;
  return p->n_tensors++;
}

/* A tensor of node `node`'s shape and name. */
static int new_tensor(lowering *L, int node, const lb_qgrid *y, int kind) {
  const lb_node *n = &L->g->nodes[node];
  return shaped_tensor(L, node == 0 ? "input" : n->name, 0, &n->shape, y, kind);
}

static lb_prog_step *new_step(lowering *L, int kind, int core, int in0, int in1, int out) {
  lb_program *p = L->p;
  int64_t cap = L->cap_s;
  if (!grow((void **)&p->steps, &cap, p->n_steps + 1, sizeof *p->steps)) return NULL;
  L->cap_s = (int)cap;
  lb_prog_step *s = &p->steps[p->n_steps++];
  memset(s, 0, sizeof *s);
  s->kind = kind;
  snprintf(s->name, sizeof s->name, "%s", core == 0 ? "input" : L->g->nodes[core].name);
  for (int j = 0; j < LB_STEP_MAX_IN; j++) s->in[j] = -1;
  s->in[0] = in0;
  s->in[1] = in1;
  s->out = out;
  s->w_off = s->wzp_off = s->bias_off = s->bfrac_off = s->mult_off = s->shift_off = s->neg_off = s->scale_off = s->fbias_off = -1;
  s->flo = -INFINITY;
  s->fhi = INFINITY;
  return s;
}

static void set_pool(lb_prog_step *s, const lb_pool_desc *d) {
  s->pool_kh = d->kh;
  s->pool_kw = d->kw;
  s->pool_sh = d->stride_h;
  s->pool_sw = d->stride_w;
  s->pool_ph = d->pad_h;
  s->pool_pw = d->pad_w;
  s->pool_count_pad = d->count_include_pad;
  s->pool_ceil = d->ceil_mode;
}

/* A conv/linear unit: weights into the pools, the step's geometry. */
static lb_status weighted_step(lowering *L, int ui, int in, int out, int kind) {
  const lb_unit *u = &L->us.u[ui];
  lb_uweights w;
  lb_status st = lb_unit_weights(L->g, &L->us, ui, &w);
  if (st) return st;
  lb_prog_step *s = new_step(L, kind, u->core, in, -1, out);
  if (!s) {
    lb_uweights_free(&w);
    return oom();
  }
  s->k = w.k;
  s->wbits = w.wbits;
  s->w_signed = w.w_signed;
  s->w_len = (int64_t)w.k * w.per;
  s->w_off = put_w8(L, w.codes, s->w_len);
  s->wzp_off = w.any_wzp ? put_i32(L, w.wzp, w.k) : -1;
  s->bias_off = put_i32(L, w.bias_q, w.k);
  if (kind == LB_PS_CONV_OUT || kind == LB_PS_LINEAR_OUT) {
    s->scale_off = put_f32(L, w.scale, w.k);
    s->fbias_off = put_f32(L, w.fbias, w.k);
  } else {
    s->mult_off = put_i32(L, w.mult, w.k);
    s->bfrac_off = put_i32(L, w.bfrac, w.k);
    s->shift_off = put_i32(L, w.shift, w.k);
    s->neg_off = w.any_neg ? put_i32(L, w.neg, w.k) : -1;
  }
  s->lo = u->lo;
  s->hi = u->hi;
  if (u->kind == LB_U_FLOAT_ACC) {
    s->flo = u->flo;
    s->fhi = u->fhi;
  }
  if (kind == LB_PS_CONV || kind == LB_PS_CONV_OUT) {
    lb_conv2d_desc d = lb_unit_conv_desc(L->g, u, 1);
    s->r = d.r;
    s->s = d.s;
    s->stride_h = d.stride_h;
    s->stride_w = d.stride_w;
    s->pad_h = d.pad_h;
    s->pad_w = d.pad_w;
    s->dil_h = d.dil_h;
    s->dil_w = d.dil_w;
    s->groups = d.groups;
    s->macs = (int64_t)d.k * d.oh * d.ow * (d.c / d.groups) * d.r * d.s;
  } else {
    s->r = s->s = s->stride_h = s->stride_w = s->dil_h = s->dil_w = s->groups = 1;
    s->macs = (int64_t)w.k * w.per;
  }
  int bad = s->w_off < 0 || s->bias_off < 0 || (w.any_wzp && s->wzp_off < 0);
  lb_uweights_free(&w);
  return bad ? oom() : LB_OK;
}

/* A step reading tensor t as the map its graph node `reader` expects: refuse a reshape that
 * changed the layout (the step takes (c, h, w) from the tensor). */
static lb_status check_layout(lowering *L, int t, int reader) {
  const lb_node *r = &L->g->nodes[reader];
  const lb_shape *sh = &L->g->nodes[r->inputs[0]].shape;
  const lb_prog_tensor *pt = &L->p->tensors[t];
  if (sh->ndim == 3 && (pt->c != sh->d[0] || pt->h != sh->d[1] || pt->w != sh->d[2]))
    return lb_fail(LB_ERR_UNSUPPORTED,
                   "'%s' (%s) reads a (%d,%d,%d) map as (%lld,%lld,%lld): a reshape that changes a map's layout before "
                   "it is not lowered",
                   r->name, r->op->name, pt->c, pt->h, pt->w, (long long)sh->d[0], (long long)sh->d[1],
                   (long long)sh->d[2]);
  return LB_OK;
}

/* (outer, inner) of a per-image shape around axis a. */
static void around(const lb_shape *sh, int a, int64_t *outer, int64_t *inner) {
  *outer = *inner = 1;
  for (int k = 0; k < a; k++) *outer *= sh->d[k];
  for (int k = a + 1; k < sh->ndim; k++) *inner *= sh->d[k];
}

/* A tensor for a data-movement result: codes of grid y, or floats in the arena (y NULL). */
static int move_tensor(lowering *L, const char *name, int tmp, const lb_shape *sh, const lb_qgrid *y) {
  int t = shaped_tensor(L, name, tmp, sh, y, y ? LB_PT_CODES : LB_PT_FLOAT);
  if (t >= 0 && !y) {
    lb_prog_tensor *pt = &L->p->tensors[t];
    pt->bytes = round64((int64_t)pt->c * pt->h * pt->w * (int64_t)sizeof(float));
  }
  return t;
}

/* The steps of a slice / pad / concat node on codes of grid y, or on floats (y NULL; fill 0)
 * (ins: its input tensors, fill: the pad's code): one step, or one PAD per padded axis. The
 * result, named `name` (an intermediate when tmp), goes to *out. */
static lb_status move_steps(lowering *L, int node, const int *ins, const lb_qgrid *y, int32_t fill, const char *name,
                            int tmp, int *out) {
  const lb_node *n = &L->g->nodes[node];
  lb_shape sh = L->g->nodes[n->inputs[0]].shape;
  lb_prog_step *s;
  int t;
  if (!strcmp(n->op->name, "slice") || !strcmp(n->op->name, "concat")) {
    int slice = !strcmp(n->op->name, "slice"), a = n->ia[slice ? LB_SLICE_AXIS : LB_CONCAT_AXIS];
    if ((t = move_tensor(L, name, tmp, &n->shape, y)) < 0) return oom();
    if (!(s = new_step(L, slice ? LB_PS_SLICE : LB_PS_CONCAT, node, ins[0], -1, t))) return oom();
    around(&sh, a, &s->mv_outer, &s->mv_inner);
    for (int j = 0; j < (slice ? 1 : n->n_inputs); j++) {
      s->in[j] = ins[j];
      s->mv_dim[j] = (int)L->g->nodes[n->inputs[j]].shape.d[a];
    }
    s->mv_start = n->ia[LB_SLICE_START];
    s->mv_step = n->ia[LB_SLICE_STEP];
    s->mv_count = n->ia[LB_SLICE_COUNT];
    if (!slice) s->mv_start = s->mv_step = s->mv_count = 0;
    s->lo = y ? y->qmin : 0;
    s->hi = y ? y->qmax : 0;
    *out = t;
    return LB_OK;
  }
  int last = 0; /* the last padded axis (axis 0 when nothing is padded: a copy) */
  for (int k = 0; k < sh.ndim; k++)
    if (n->ia[LB_PAD_BEGIN + k] || n->ia[LB_PAD_END + k]) last = k;
  int in = ins[0];
  for (int k = 0; k <= last; k++) {
    int b = n->ia[LB_PAD_BEGIN + k], e = n->ia[LB_PAD_END + k];
    if (!b && !e && k != last) continue;
    lb_shape o = sh;
    o.d[k] += b + e;
    if ((t = move_tensor(L, k == last ? name : n->name, k == last ? tmp : 1, &o, y)) < 0) return oom();
    if (!(s = new_step(L, LB_PS_PAD, node, in, -1, t))) return oom();
    around(&sh, k, &s->mv_outer, &s->mv_inner);
    s->mv_dim[0] = (int)sh.d[k];
    s->mv_begin = b;
    s->mv_end = e;
    s->mv_fill = fill;
    s->lo = y ? y->qmin : 0;
    s->hi = y ? y->qmax : 0;
    sh = o;
    in = t;
  }
  *out = in;
  return LB_OK;
}

/* A float unit: its tensor in the arena (4 bytes an element) and the step computing it (a slice
 * or a pad of 0 on floats may take one step per padded axis: its clamps go on the last). */
static lb_status lower_float_unit(lowering *L, int ui, int in0, int in1) {
  const lb_unit *u = &L->us.u[ui];
  const lb_node *un = &L->g->nodes[u->node];
  lb_status st = LB_OK;
  int t;
  lb_prog_step *s;
  if (u->kind == LB_U_FLOAT_MOVE) {
    int ins[LB_UNIT_MAX_IN] = {in0, -1, -1, -1};
    if ((st = move_steps(L, u->core, ins, NULL, 0, un->name, 0, &t))) return st;
    s = &L->p->steps[L->p->n_steps - 1];
  } else {
    if ((t = move_tensor(L, un->name, 0, &un->shape, NULL)) < 0) return oom();
    if (u->kind == LB_U_FLOAT_ACC) {
      int lin = !strcmp(L->g->nodes[u->core].op->name, "qlinear");
      st = lin ? LB_OK : check_layout(L, in0, u->core);
      if (!st) st = weighted_step(L, ui, in0, t, lin ? LB_PS_LINEAR_OUT : LB_PS_CONV_OUT);
      L->tensor_of_unit[ui] = t;
      return st;
    }
    if (!(s = new_step(L, u->kind == LB_U_FLOAT_ADD ? LB_PS_FADD : LB_PS_FGAP, u->core, in0, in1, t))) return oom();
  }
  L->tensor_of_unit[ui] = t;
  s->flo = u->flo;
  s->fhi = u->fhi;
  return LB_OK;
}

static lb_status lower_unit(lowering *L, int ui) {
  const lb_unit *u = &L->us.u[ui];
  const lb_graph *g = L->g;
  int ins[LB_UNIT_MAX_IN];
  for (int j = 0; j < LB_UNIT_MAX_IN; j++) ins[j] = u->operand[j] >= 0 ? L->tensor_of_unit[u->operand[j]] : -1;
  int in0 = ins[0], in1 = ins[1];
  lb_prog_step *s;
  if (lb_ukind_float(u->kind)) return lower_float_unit(L, ui, in0, in1);
  if (u->kind == LB_U_OUT_ACC || u->kind == LB_U_OUT_CODES) {
    int t = new_tensor(L, u->node, NULL, LB_PT_FLOAT);
    if (t < 0) return oom();
    L->tensor_of_unit[ui] = t;
    if (u->kind == LB_U_OUT_CODES) return new_step(L, LB_PS_DEQUANTIZE, u->node, in0, -1, t) ? LB_OK : oom();
    int lin = !strcmp(g->nodes[u->core].op->name, "qlinear");
    lb_status st = lin ? LB_OK : check_layout(L, in0, u->core);
    return st ? st : weighted_step(L, ui, in0, t, lin ? LB_PS_LINEAR_OUT : LB_PS_CONV_OUT);
  }
  /* the core writes the unit's tensor, or (post ops follow) an intermediate of the shape the
   * first post op reads; a concat's piece is an intermediate too */
  const lb_node *un = &g->nodes[u->node];
  lb_status st = LB_OK;
  int t;
  if (u->kind == LB_U_MOVE) {
    st = move_steps(L, u->core, ins, &u->y, u->fill, u->n_post ? g->nodes[u->core].name : un->name,
                    u->n_post || u->piece, &t);
    if (st) return st;
  } else {
    t = u->n_post ? shaped_tensor(L, g->nodes[u->core].name, 1, &g->nodes[g->nodes[u->post[0]].inputs[0]].shape,
                                  &u->y, LB_PT_CODES)
                  : shaped_tensor(L, u->node ? un->name : "input", u->piece, &un->shape, &u->y, LB_PT_CODES);
    if (t < 0) return oom();
  }
  if (u->kind == LB_U_CONV || u->kind == LB_U_GAP || u->kind == LB_U_AVGPOOL || u->kind == LB_U_MAXPOOL)
    st = check_layout(L, in0, u->core);
  if (st) return st;
  switch (u->kind) {
    case LB_U_INPUT: /* the graph input (in0 -1) or a float tensor */
      if (!(s = new_step(L, LB_PS_QUANTIZE, u->core, in0, -1, t))) return oom();
      s->inv = 1.0f / u->y.scale;
      s->lo = u->lo;
      s->hi = u->hi;
      break;
    case LB_U_CONV: st = weighted_step(L, ui, in0, t, LB_PS_CONV); break;
    case LB_U_LINEAR: st = weighted_step(L, ui, in0, t, LB_PS_LINEAR); break;
    case LB_U_ADD:
    case LB_U_GAP:
    case LB_U_RESCALE:
    case LB_U_MAXPOOL:
    case LB_U_AVGPOOL: {
      static const int kinds[] = {[LB_U_ADD] = LB_PS_ADD, [LB_U_GAP] = LB_PS_GAP, [LB_U_RESCALE] = LB_PS_RESCALE,
                                  [LB_U_MAXPOOL] = LB_PS_MAXPOOL, [LB_U_AVGPOOL] = LB_PS_AVGPOOL};
      if (!(s = new_step(L, kinds[u->kind], u->core, in0, in1, t))) return oom();
      s->lo = u->lo;
      s->hi = u->hi;
      s->add_m1 = u->m1;
      s->add_m2 = u->m2;
      s->add_shift = u->shift;
      if (u->kind == LB_U_MAXPOOL || u->kind == LB_U_AVGPOOL) {
        lb_pool_desc d = lb_unit_pool_desc(g, u->core, 1);
        set_pool(s, &d);
      }
      if (u->kind == LB_U_AVGPOOL) {
        s->mult_off = put_i32(L, u->avg_m, u->avg_max + 1);
        s->shift_off = put_i32(L, u->avg_s, u->avg_max + 1);
        if (s->mult_off < 0 || s->shift_off < 0) return oom();
      }
      break;
    }
    case LB_U_MOVE: break; /* written above */
    default: return lb_fail(LB_ERR_STATE, "deploy: unit kind %d", u->kind);
  }
  if (st) return st;
  /* post ops on the unit's grid; the last one writes the unit's tensor */
  for (int i = 0; i < u->n_post && !st; i++) {
    int node = u->post[i], last = i + 1 == u->n_post;
    const char *name = g->nodes[last ? u->node : node].name;
    if (strcmp(g->nodes[node].op->name, "maxpool")) {
      int one[LB_UNIT_MAX_IN] = {t, -1, -1, -1};
      st = move_steps(L, node, one, &u->y, u->post_fill[i], name, !last || u->piece, &t);
      continue;
    }
    if ((st = check_layout(L, t, node))) break;
    int tp = shaped_tensor(L, name, !last || u->piece, &g->nodes[node].shape, &u->y, LB_PT_CODES);
    if (tp < 0 || !(s = new_step(L, LB_PS_MAXPOOL, node, t, -1, tp))) return oom();
    lb_pool_desc d = lb_unit_pool_desc(g, node, 1);
    set_pool(s, &d);
    t = tp;
  }
  L->tensor_of_unit[ui] = t;
  return st;
}

/* Liveness over the step order, then first fit by decreasing size. */
typedef struct live {
  int t;
  int first, last;
  int64_t bytes, off;
} live;

static int by_size(const void *a, const void *b) {
  const live *x = a, *y = b;
  if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
  return x->t - y->t;
}

static lb_status plan_arena(lb_program *p) {
  live *lv = calloc((size_t)p->n_tensors + 1, sizeof *lv);
  if (!lv) return oom();
  int n = 0;
  for (int t = 0; t < p->n_tensors; t++) {
    if (!p->tensors[t].bytes) continue; /* the graph output */
    lv[n] = (live){t, -1, -1, p->tensors[t].bytes, 0};
    for (int i = 0; i < p->n_steps; i++) {
      const lb_prog_step *s = &p->steps[i];
      if (s->out == t && lv[n].first < 0) lv[n].first = i;
      for (int j = 0; j < LB_STEP_MAX_IN; j++)
        if (s->in[j] == t) lv[n].last = i;
      if (s->out == t) lv[n].last = i;
    }
    p->arena_naive += lv[n].bytes;
    n++;
  }
  qsort(lv, (size_t)n, sizeof *lv, by_size);
  int64_t total = 0;
  for (int i = 0; i < n; i++) {
    int64_t off = 0;
    for (int moved = 1; moved;) { /* lowest offset clear of every placed, overlapping-in-time tensor */
      moved = 0;
      for (int j = 0; j < i; j++) {
        if (lv[j].last < lv[i].first || lv[i].last < lv[j].first) continue;
        if (off < lv[j].off + lv[j].bytes && lv[j].off < off + lv[i].bytes) {
          off = lv[j].off + lv[j].bytes;
          moved = 1;
        }
      }
    }
    lv[i].off = off;
    p->tensors[lv[i].t].offset = off;
    if (off + lv[i].bytes > total) total = off + lv[i].bytes;
  }
  p->arena_per_image = total;
  free(lv);
  return LB_OK;
}

lb_status lb_lower(const lb_graph *g, const char *backend, const lb_augment *norm, lb_program **out) {
  *out = NULL;
  if (!g) return lb_fail(LB_ERR_ARG, "deploy: no graph");
  if (!lb_graph_is_quantized(g)) return lb_fail(LB_ERR_ARG, "deploy: '%s' holds no quantizers (run ptq or qat first)", g->model);
  lowering L;
  memset(&L, 0, sizeof L);
  L.g = g;
  lb_status st = lb_units_build(g, &L.us);
  if (st) return st;
  L.p = calloc(1, sizeof *L.p);
  L.tensor_of_unit = malloc((size_t)L.us.n * sizeof *L.tensor_of_unit);
  if (!L.p || !L.tensor_of_unit) st = oom();
  lb_program *p = L.p;
  if (!st) {
    snprintf(p->model, sizeof p->model, "%s", g->model);
    snprintf(p->backend, sizeof p->backend, "%s", backend ? backend : "");
    p->source_crc = lb_crc32(0, g->values, (size_t)g->n_values * sizeof(float));
    const lb_shape *in = &g->nodes[0].shape;
    p->in_c = (int)in->d[0];
    p->in_h = in->ndim == 3 ? (int)in->d[1] : 1;
    p->in_w = in->ndim == 3 ? (int)in->d[2] : 1;
    p->classes = (int)lb_shape_numel(&g->nodes[g->output].shape);
    for (int i = 0; i < 4; i++) {
      p->norm_mean[i] = norm ? norm->mean[i] : 0.0f;
      p->norm_std[i] = norm && norm->std[i] > 0 ? norm->std[i] : 1.0f;
    }
  }
  for (int i = 0; !st && i < L.us.n; i++) st = lower_unit(&L, i);
  if (!st) st = plan_arena(p);
  if (!st) st = lb_program_validate(p);
  free(L.tensor_of_unit);
  lb_units_free(&L.us);
  if (st) {
    lb_program_free(p);
    return st;
  }
  *out = p;
  return LB_OK;
}

void lb_program_free(lb_program *p) {
  if (!p) return;
  free(p->tensors);
  free(p->steps);
  free(p->w8);
  free(p->i32);
  free(p->f32);
  free(p);
}

int64_t lb_program_weight_bytes(const lb_program *p) {
  int64_t b = 0;
  for (int i = 0; i < p->n_steps; i++) b += (p->steps[i].w_len * p->steps[i].wbits + 7) / 8;
  return b;
}

int lb_program_float_steps(const lb_program *p) {
  int n = 0;
  for (int i = 0; i < p->n_steps; i++) n += lb_prog_tensor_float_map(&p->tensors[p->steps[i].out]);
  return n;
}
