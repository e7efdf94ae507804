/* The unit analysis: every fakequant node F of a quantized graph ends one unit, found by walking
 * back from F's input through the float ops that have an integer form:
 *   identities (flatten, dropout, reshape: codes keep their order), clamps (relu, relu6, hardtanh:
 *   the clamp codes of F), maxpool (commutes with any non-decreasing per-channel map, so it runs
 *   on codes), slice and pad (data movement; commutes with F's elementwise grid, a pad's new
 *   cells hold F's code of the pad value), one batchnorm right after a conv/linear (folded),
 * down to a core: qconv2d/qconvbn2d/qlinear, add, gap or avgpool reading quantized tensors, the
 * graph input, or another quantized tensor (a rescale). Tensors the profile leaves unquantized
 * but an add or global pool reads (the academic profile's residual stream) become float units
 * (the float region below). Everything else is refused, naming the node. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/units_build.h"
#include "graph/ops.h"
#include "graph/ops_shape.h"
#include "lowbit/ikernel.h"

const char *lb_unit_op(const lb_graph *g, int node) { return node == 0 ? "input" : g->nodes[node].op->name; }

int lb_unit_is(const lb_graph *g, int node, const char *op) { return lb_ub_op_is(g, node, op); }

int lb_unit_first_pool(const lb_graph *g, const lb_unit *u) {
  for (int i = 0; i < u->n_post; i++)
    if (lb_ub_op_is(g, u->post[i], "maxpool")) return u->post[i];
  return -1;
}


static const float *param(const lb_graph *g, int node, int i) {
  return g->values + g->params[g->nodes[node].first_param + i].offset;
}

/* The grid of fakequant node f (enabled, uniform). */
static lb_status fq_grid(const lb_graph *g, int f, lb_qgrid *q) {
  const lb_node *n = &g->nodes[f];
  lb_qcfg cfg;
  int enabled;
  if (lb_qcfg_unpack(n->ia + LB_FQ_IA, n->fa + LB_FQ_FA, &cfg, &enabled))
    return lb_fail(LB_ERR_ARG, "fakequant '%s': %s", n->name, lb_last_error());
  if (!enabled)
    return lb_fail(LB_ERR_STATE, "fakequant '%s' is disabled: calibrate the model (lowbit ptq/qat) before deploying",
                   n->name);
  if (cfg.est == LB_EST_LOG)
    return lb_fail(LB_ERR_UNSUPPORTED,
                   "fakequant '%s' uses NNIE's logarithmic grid, which has no uniform integer form here", n->name);
  if (cfg.spec.bits > 8)
    return lb_fail(LB_ERR_UNSUPPORTED, "fakequant '%s': %d-bit activations; the integer engine runs at most 8",
                   n->name, cfg.spec.bits);
  lb_qspec_range(&cfg.spec, &q->qmin, &q->qmax);
  q->bits = cfg.spec.bits;
  q->is_signed = cfg.spec.is_signed;
  q->binary = cfg.spec.binary;
  q->zp = 0;
  if (cfg.est == LB_EST_PACT || cfg.est == LB_EST_DOREFA) { /* as op_fakequant.c: hi / qmax */
    float a = param(g, f, 2)[0];
    float hi = cfg.est == LB_EST_PACT ? (a >= FLT_EPSILON ? a : FLT_EPSILON) : 1.0f;
    q->scale = hi / (float)q->qmax;
  } else {
    q->scale = lb_qscale_effective(&cfg.spec, param(g, f, 0)[0], NULL);
    if (!cfg.spec.symmetric) {
      float z = rintf(param(g, f, 1)[0]);
      q->zp = z < (float)q->qmin ? q->qmin : z > (float)q->qmax ? q->qmax : (int32_t)z;
    }
  }
  return LB_OK;
}

/* m = a / b as a (M, s) pair; refuses multipliers the requantization cannot represent. */
static lb_status multiplier(double m, const char *what, int32_t *M, int32_t *s) {
  int sh;
  if (!(m > 0.0) || !isfinite(m) || lb_requant_multiplier(m, M, &sh))
    return lb_fail(LB_ERR_UNSUPPORTED, "%s: requantization multiplier %g cannot be represented (needs 2^-62 < m < 2^31)",
                   what, m);
  *s = sh;
  return LB_OK;
}

typedef lb_unit_builder builder;

static lb_status move_unit(builder *b, int node, int *unit);

int lb_ub_add_unit(builder *b, const lb_unit *u) {
  lb_units *us = b->us;
  lb_unit *nu = realloc(us->u, (size_t)(us->n + 1) * sizeof *nu);
  if (!nu) return -1;
  us->u = nu;
  us->u[us->n] = *u;
  if (lb_ukind_float(u->kind)) us->float_of_node[u->node] = us->n;
  else if (!u->piece) us->of_node[u->node] = us->n; /* a concat's piece is no graph tensor */
  return us->n++;
}

static lb_status not_quantized(builder *b, int consumer, int src) {
  const lb_graph *g = b->g;
  return lb_fail(LB_ERR_UNSUPPORTED,
                 "%s '%s' reads the float tensor of '%s' (%s): this profile does not quantize that input, so the "
                 "graph has no integer form; quantize with a profile that quantizes add and pool inputs (tensorrt, "
                 "snpe, fbgemm, vitis, tvm, qdq, ...)",
                 lb_unit_op(g, consumer), g->nodes[consumer].name, g->nodes[src].name, lb_unit_op(g, src));
}

static int same_grid(const lb_qgrid *a, const lb_qgrid *b) {
  return a->scale == b->scale && a->zp == b->zp && a->qmin == b->qmin && a->qmax == b->qmax && a->bits == b->bits &&
         a->is_signed == b->is_signed && a->binary == b->binary;
}

/* slice / pad / concat on quantized tensors: data movement on their codes, on their grid. */
static lb_status move_unit(builder *b, int node, int *unit) {
  const lb_graph *g = b->g;
  const lb_node *n = &g->nodes[node];
  lb_unit u;
  memset(&u, 0, sizeof u);
  u.kind = LB_U_MOVE;
  u.node = u.core = node;
  u.bn = -1;
  for (int j = 0; j < LB_UNIT_MAX_IN; j++) u.operand[j] = -1;
  if (n->n_inputs > LB_UNIT_MAX_IN) return lb_fail(LB_ERR_UNSUPPORTED, "node '%s': more than %d inputs", n->name, LB_UNIT_MAX_IN);
  for (int j = 0; j < n->n_inputs; j++) {
    lb_status st = lb_ub_resolve_operand(b, n->inputs[j], node, &u.operand[j]);
    if (st) return st;
    const lb_qgrid *q = &b->us->u[u.operand[j]].y;
    if (j > 0 && !same_grid(q, &u.y))
      return lb_fail(LB_ERR_UNSUPPORTED,
                     "concat '%s' joins quantized tensors on different grids (input 0: scale %g zero point %d, input %d: "
                     "scale %g zero point %d); the integer form needs one grid: quantize its output instead of its inputs",
                     n->name, (double)u.y.scale, u.y.zp, j, (double)q->scale, q->zp);
    if (j == 0) u.y = *q;
  }
  u.lo = u.y.qmin;
  u.hi = u.y.qmax;
  if (lb_ub_op_is(g, node, "pad")) { /* the pad value must be a code of the input's grid */
    float v = n->fa[LB_PAD_VALUE];
    double c = rint((double)v / u.y.scale) + u.y.zp;
    if (!(c >= u.y.qmin && c <= u.y.qmax) || (float)((c - u.y.zp) * u.y.scale) != v)
      return lb_fail(LB_ERR_UNSUPPORTED, "pad '%s': value %g is not on its input's grid (scale %g, zero point %d)",
                     n->name, (double)v, (double)u.y.scale, u.y.zp);
    u.fill = (int32_t)c;
  }
  *unit = lb_ub_add_unit(b, &u);
  return *unit < 0 ? lb_fail(LB_ERR_NOMEM, "deploy: out of memory") : LB_OK;
}

/* The quantized tensor a core reads at `node` (through identities, maxpools, slices, pads and
 * concats of quantized tensors). */
lb_status lb_ub_resolve_operand(builder *b, int node, int consumer, int *unit) {
  const lb_graph *g = b->g;
  while (lb_ub_is_identity(g, node)) node = g->nodes[node].inputs[0];
  if (b->us->of_node[node] >= 0) {
    *unit = b->us->of_node[node];
    return LB_OK;
  }
  if (lb_ub_op_is(g, node, "maxpool")) {
    int src;
    lb_status s = lb_ub_resolve_operand(b, g->nodes[node].inputs[0], node, &src);
    if (s) return s;
    lb_unit u;
    memset(&u, 0, sizeof u);
    u.kind = LB_U_MAXPOOL;
    u.node = u.core = node;
    u.operand[0] = src;
    for (int j = 1; j < LB_UNIT_MAX_IN; j++) u.operand[j] = -1;
    u.bn = -1;
    u.y = b->us->u[src].y;
    u.lo = u.y.qmin;
    u.hi = u.y.qmax;
    *unit = lb_ub_add_unit(b, &u);
    return *unit < 0 ? lb_fail(LB_ERR_NOMEM, "deploy: out of memory") : LB_OK;
  }
  if (lb_ub_is_move1(g, node) || lb_ub_op_is(g, node, "concat")) return move_unit(b, node, unit);
  return not_quantized(b, consumer, node);
}

/* Narrow [lo, hi] by clamp node c on grid y, as rint(bound * inv) + zp on F's arithmetic; on a
 * binary grid by the signs of the bounds (a lower bound >= 0 makes every code +1, an upper bound
 * below 0 every code -1). */
static void narrow_clamp(const lb_graph *g, int c, const lb_qgrid *y, int32_t *lo, int32_t *hi) {
  float inv = 1.0f / y->scale, a = 0.0f, bnd = INFINITY;
  if (lb_ub_op_is(g, c, "relu6")) bnd = 6.0f;
  if (lb_ub_op_is(g, c, "hardtanh")) {
    a = g->nodes[c].fa[LB_HARDTANH_LO];
    bnd = g->nodes[c].fa[LB_HARDTANH_HI];
  }
  if (y->binary) {
    if (a >= 0.0f) *lo = 1;
    if (bnd < 0.0f) *hi = -1;
    return;
  }
  double l = (double)y->zp + rint((double)(a * inv)), h = isinf(bnd) ? 1e18 : (double)y->zp + rint((double)(bnd * inv));
  if (l > *lo) *lo = l > (double)y->qmax ? y->qmax + 1 : (int32_t)l;
  if (h < *hi) *hi = h < (double)y->qmin ? y->qmin - 1 : (int32_t)h;
}

/* Whether `node` is a quantized tensor seen through identities, max pools and data movement. */
static int is_quantized_value(builder *b, int node) {
  const lb_graph *g = b->g;
  while (lb_ub_is_identity(g, node)) node = g->nodes[node].inputs[0];
  if (b->us->of_node[node] >= 0) return 1;
  if (lb_ub_op_is(g, node, "maxpool") || lb_ub_is_move1(g, node)) return is_quantized_value(b, g->nodes[node].inputs[0]);
  if (!lb_ub_op_is(g, node, "concat")) return 0;
  for (int j = 0; j < g->nodes[node].n_inputs; j++)
    if (!is_quantized_value(b, g->nodes[node].inputs[j])) return 0;
  return 1;
}

static lb_status chain_unit(builder *b, int f, int start, const lb_qgrid *y, const int *ext, int n_ext, int *out);

/* The integer constants of a unit whose core, chain and grid are known (x0: operand 0's grid). */
static lb_status unit_constants(builder *b, int f, lb_unit *u) {
  const lb_graph *g = b->g;
  int node = u->core;
  char what[2 * LB_NAME_MAX + 16];
  snprintf(what, sizeof what, "'%s' -> '%s'", g->nodes[node].name, g->nodes[f].name);
  lb_status st = LB_OK;
  if (u->kind == LB_U_CONV || u->kind == LB_U_LINEAR || u->kind == LB_U_GAP || u->kind == LB_U_AVGPOOL)
    st = lb_ub_resolve_operand(b, g->nodes[node].inputs[0], node, &u->operand[0]);
  if (!st && u->kind == LB_U_ADD) {
    st = lb_ub_resolve_operand(b, g->nodes[node].inputs[0], node, &u->operand[0]);
    if (!st) st = lb_ub_resolve_operand(b, g->nodes[node].inputs[1], node, &u->operand[1]);
  }
  if (st) return st;
  const lb_qgrid *x0 = u->operand[0] >= 0 ? &b->us->u[u->operand[0]].y : NULL;
  if (u->kind == LB_U_ADD) {
    /* one shift for both operands: the larger multiplier sets it, the other is rounded to it */
    double m1 = (double)b->us->u[u->operand[0]].y.scale / u->y.scale;
    double m2 = (double)b->us->u[u->operand[1]].y.scale / u->y.scale;
    int32_t M;
    st = multiplier(m1 > m2 ? m1 : m2, what, &M, &u->shift);
    if (st) return st;
    u->m1 = (int32_t)llrint(ldexp(m1, u->shift));
    u->m2 = (int32_t)llrint(ldexp(m2, u->shift));
  } else if (u->kind == LB_U_RESCALE) {
    st = multiplier((double)x0->scale / u->y.scale, what, &u->m1, &u->shift);
  } else if (u->kind == LB_U_GAP) {
    const lb_shape *in = &g->nodes[g->nodes[node].inputs[0]].shape;
    st = multiplier((double)x0->scale / ((double)in->d[1] * in->d[2] * u->y.scale), what, &u->m1, &u->shift);
  } else if (u->kind == LB_U_AVGPOOL) {
    lb_pool_desc d = lb_unit_pool_desc(g, node, 1);
    u->avg_max = d.kh * d.kw;
    u->avg_m = calloc((size_t)u->avg_max + 1, sizeof *u->avg_m);
    u->avg_s = calloc((size_t)u->avg_max + 1, sizeof *u->avg_s);
    if (!u->avg_m || !u->avg_s) st = lb_fail(LB_ERR_NOMEM, "deploy: out of memory");
    for (int c = 1; !st && c <= u->avg_max; c++)
      st = multiplier((double)x0->scale / ((double)c * u->y.scale), what, &u->avg_m[c], &u->avg_s[c]);
  }
  return st;
}

/* Clamp node c on grid y: narrows the unit's [lo, hi] and the fills of the pads before it. */
static void apply_clamp(const lb_graph *g, int c, lb_unit *u) {
  narrow_clamp(g, c, &u->y, &u->lo, &u->hi);
  int32_t clo = u->y.qmin, chi = u->y.qmax; /* a clamp after a pad also clamps its new cells */
  narrow_clamp(g, c, &u->y, &clo, &chi);
  for (int k = 0; k < u->n_post; k++)
    if (lb_ub_op_is(g, u->post[k], "pad")) u->post_fill[k] = u->post_fill[k] < clo ? clo : u->post_fill[k] > chi ? chi : u->post_fill[k];
}

/* The unit that puts the value at `start` on fakequant f's grid y: walk back through the chain
 * to a core, then the chain forward (batchnorm, max pools, slices, pads, clamps). A concat as
 * core joins one piece per input, each a unit of its own on y (its core's requantization, or a
 * rescale of a quantized input: nothing is rounded twice, and the inputs' grids may differ),
 * named as an intermediate and not a graph tensor; ext: the clamps after the concat, which every
 * piece applies. *out: the unit's index. */
static lb_status chain_unit(builder *b, int f, int start, const lb_qgrid *y, const int *ext, int n_ext, int *out) {
  const lb_graph *g = b->g;
  lb_unit u;
  memset(&u, 0, sizeof u);
  u.node = ext ? start : f;
  u.piece = ext != NULL;
  u.bn = -1;
  for (int j = 0; j < LB_UNIT_MAX_IN; j++) u.operand[j] = -1;
  u.y = *y;
  u.lo = u.y.qmin;
  u.hi = u.y.qmax;
  lb_status st = LB_OK;
  /* walk back: chain[] in reverse order */
  int chain[32], nc = 0, node = start;
  while ((lb_ub_is_identity(g, node) || lb_ub_is_clamp(g, node) || lb_ub_op_is(g, node, "maxpool") || lb_ub_is_move1(g, node) ||
          lb_ub_op_is(g, node, "batchnorm")) &&
         b->us->of_node[node] < 0 && !b->in_float[node]) {
    if (nc == 32) return lb_fail(LB_ERR_UNSUPPORTED, "fakequant '%s': chain of float ops too long", g->nodes[f].name);
    chain[nc++] = node;
    node = g->nodes[node].inputs[0];
  }
  u.core = node;
  int join = 0;
  if (node == 0) u.kind = LB_U_INPUT;
  else if (b->in_float[node] || lb_ub_float_core(g, node)) { /* a float tensor, quantized as the input is */
    u.kind = LB_U_INPUT;
    /* with only clamps between, the float unit takes them: one tensor for every reader (the
     * relu after an add feeds the next conv's quantizer and, sliced, the next shortcut) */
    int only_clamps = 1;
    for (int i = 0; i < nc; i++) only_clamps &= lb_ub_is_identity(g, chain[i]) || lb_ub_is_clamp(g, chain[i]);
    if ((st = lb_ub_float_unit(b, only_clamps ? lb_ub_skip_identities(g, start) : node, &u.operand[0]))) return st;
  } else if (b->us->of_node[node] >= 0) {
    u.kind = LB_U_RESCALE;
    u.operand[0] = b->us->of_node[node];
  } else if (lb_ub_op_is(g, node, "qconv2d") || lb_ub_op_is(g, node, "qconvbn2d")) u.kind = LB_U_CONV;
  else if (lb_ub_op_is(g, node, "qlinear")) u.kind = LB_U_LINEAR;
  else if (lb_ub_op_is(g, node, "add")) u.kind = LB_U_ADD;
  else if (lb_ub_op_is(g, node, "gap")) u.kind = LB_U_GAP;
  else if (lb_ub_op_is(g, node, "avgpool")) u.kind = LB_U_AVGPOOL;
  else if (lb_ub_op_is(g, node, "concat") && !u.piece) { /* one piece per input on y (a rescale for a
                                                         quantized input), then CONCAT: any grids */
    u.kind = LB_U_MOVE;
    join = 1;
  } else if (lb_ub_op_is(g, node, "concat") && is_quantized_value(b, node)) { /* in a piece: one grid, then y */
    u.kind = LB_U_RESCALE;
    if ((st = lb_ub_resolve_operand(b, node, f, &u.operand[0]))) return st;
  } else if (lb_ub_op_is(g, node, "concat")) {
    return lb_fail(LB_ERR_UNSUPPORTED, "concat '%s' inside a concat of float tensors before fakequant '%s' is not lowered",
                   g->nodes[node].name, g->nodes[f].name);
  } else
    return lb_fail(LB_ERR_UNSUPPORTED, "fakequant '%s' quantizes the output of '%s' (%s), which has no integer form",
                   g->nodes[f].name, g->nodes[node].name, lb_unit_op(g, node));
  /* the chain, in forward order, then the clamps after a concat this piece feeds */
  int clamps[32], n_clamps = 0;
  for (int i = nc - 1; i >= 0; i--) {
    int c = chain[i];
    const char *why = NULL;
    if (lb_ub_op_is(g, c, "batchnorm")) {
      if (i != nc - 1 || (u.kind != LB_U_CONV && u.kind != LB_U_LINEAR) || lb_ub_op_is(g, node, "qconvbn2d"))
        why = "a batchnorm is folded only right after a quantized conv/linear";
      else
        u.bn = c;
    } else if (lb_ub_op_is(g, c, "maxpool") || lb_ub_is_move1(g, c)) {
      /* after a float unit the pool runs on its codes: quantizing is monotone, so it commutes */
      if (u.kind == LB_U_INPUT && u.operand[0] < 0 && lb_ub_op_is(g, c, "maxpool"))
        why = "max pooling of the float input is not lowered";
      else if (u.n_post == LB_UNIT_MAX_POST) why = "too many max pools, slices and pads in one unit";
      else {
        if (lb_ub_op_is(g, c, "pad")) { /* F's arithmetic on the pad value */
          float v = g->nodes[c].fa[LB_PAD_VALUE], r = rintf(v * (1.0f / u.y.scale)) + (float)u.y.zp;
          if (u.y.binary) r = v >= 0.0f ? 1.0f : -1.0f;
          u.post_fill[u.n_post] = r < (float)u.y.qmin ? u.y.qmin : r > (float)u.y.qmax ? u.y.qmax : (int32_t)r;
        }
        u.post[u.n_post++] = c;
      }
    } else if (lb_ub_is_clamp(g, c)) {
      apply_clamp(g, c, &u);
      clamps[n_clamps++] = c;
    }
    if (why) return lb_fail(LB_ERR_UNSUPPORTED, "node '%s' (%s) before fakequant '%s': %s", g->nodes[c].name,
                            lb_unit_op(g, c), g->nodes[f].name, why);
  }
  for (int i = 0; i < n_ext; i++) apply_clamp(g, ext[i], &u);
  if (u.lo > u.hi)
    return lb_fail(LB_ERR_UNSUPPORTED, "fakequant '%s': the activation's range lies outside the quantizer's grid",
                   g->nodes[f].name);
  if (u.y.binary && u.kind == LB_U_AVGPOOL)
    return lb_fail(LB_ERR_UNSUPPORTED, "fakequant '%s': a binary (+-1) grid after average pool '%s' is not lowered",
                   g->nodes[f].name, g->nodes[node].name);
  if (join) { /* the pieces first: units come in the order they run */
    const lb_node *cn = &g->nodes[node];
    for (int j = 0; !st && j < cn->n_inputs && j < LB_UNIT_MAX_IN; j++)
      st = chain_unit(b, f, cn->inputs[j], &u.y, clamps, n_clamps, &u.operand[j]);
  } else {
    st = unit_constants(b, f, &u);
  }
  if (!st && (*out = lb_ub_add_unit(b, &u)) < 0) st = lb_fail(LB_ERR_NOMEM, "deploy: out of memory");
  if (st) {
    free(u.avg_m);
    free(u.avg_s);
  }
  return st;
}

static lb_status unit_for_fq(builder *b, int f) {
  lb_qgrid y;
  lb_status st = fq_grid(b->g, f, &y);
  int unit;
  return st ? st : chain_unit(b, f, b->g->nodes[f].inputs[0], &y, NULL, 0, &unit);
}

static lb_status output_unit(builder *b) {
  const lb_graph *g = b->g;
  int node = g->output;
  while (lb_ub_is_identity(g, node)) node = g->nodes[node].inputs[0];
  lb_unit u;
  memset(&u, 0, sizeof u);
  u.node = g->output;
  u.bn = -1;
  for (int j = 0; j < LB_UNIT_MAX_IN; j++) u.operand[j] = -1;
  if (lb_ub_op_is(g, node, "batchnorm") && lb_ub_is_weighted(g, g->nodes[node].inputs[0]) &&
      !lb_ub_op_is(g, g->nodes[node].inputs[0], "qconvbn2d")) {
    u.bn = node;
    node = g->nodes[node].inputs[0];
  }
  u.core = node;
  lb_status st;
  if (lb_ub_is_weighted(g, node)) {
    u.kind = LB_U_OUT_ACC;
    st = lb_ub_resolve_operand(b, g->nodes[node].inputs[0], node, &u.operand[0]);
  } else {
    u.kind = LB_U_OUT_CODES;
    if (!is_quantized_value(b, node))
      return lb_fail(LB_ERR_UNSUPPORTED,
                     "the graph output '%s' (%s) is neither a quantized conv/linear nor a quantized tensor", 
                     g->nodes[node].name, lb_unit_op(g, node));
    st = lb_ub_resolve_operand(b, node, g->output, &u.operand[0]);
    if (st) return st; /* e.g. a pad value off the grid */
    u.y = b->us->u[u.operand[0]].y;
  }
  if (st) return st;
  lb_units *us = b->us;
  lb_unit *nu = realloc(us->u, (size_t)(us->n + 1) * sizeof *nu);
  if (!nu) return lb_fail(LB_ERR_NOMEM, "deploy: out of memory");
  us->u = nu;
  us->u[us->n++] = u;
  return LB_OK;
}

lb_status lb_units_build(const lb_graph *g, lb_units *us) {
  memset(us, 0, sizeof *us);
  if (!g || !g->values) return lb_fail(LB_ERR_ARG, "deploy: no graph or no parameter values");
  us->n_nodes = g->n_nodes;
  us->of_node = malloc((size_t)g->n_nodes * sizeof *us->of_node);
  us->float_of_node = malloc((size_t)g->n_nodes * sizeof *us->float_of_node);
  builder b = {g, us, calloc((size_t)g->n_nodes, 1)};
  if (!us->of_node || !us->float_of_node || !b.in_float) {
    free(b.in_float);
    lb_units_free(us);
    return lb_fail(LB_ERR_NOMEM, "deploy: out of memory");
  }
  for (int i = 0; i < g->n_nodes; i++) us->of_node[i] = us->float_of_node[i] = -1;
  lb_ub_mark_float_region(&b);
  lb_status st = LB_OK;
  for (int i = 1; !st && i < g->n_nodes; i++) {
    if (lb_ub_op_is(g, i, "fakequant")) st = unit_for_fq(&b, i);
    else if (lb_ub_op_is(g, i, "conv2d") || lb_ub_op_is(g, i, "linear"))
      st = lb_fail(LB_ERR_UNSUPPORTED, "node '%s' (%s) has no weight quantizer: the graph is not fully quantized",
                   g->nodes[i].name, lb_unit_op(g, i));
  }
  if (!st) st = output_unit(&b);
  free(b.in_float);
  if (st) lb_units_free(us);
  return st;
}

void lb_units_free(lb_units *us) {
  for (int i = 0; us->u && i < us->n; i++) {
    free(us->u[i].avg_m);
    free(us->u[i].avg_s);
  }
  free(us->u);
  free(us->of_node);
  free(us->float_of_node);
  memset(us, 0, sizeof *us);
}

lb_conv2d_desc lb_unit_conv_desc(const lb_graph *g, const lb_unit *u, int batch) {
  const lb_node *n = &g->nodes[u->core];
  return lb_node_conv_desc(n, &g->nodes[n->inputs[0]].shape, batch);
}

lb_pool_desc lb_unit_pool_desc(const lb_graph *g, int node, int batch) {
  const lb_node *n = &g->nodes[node];
  const lb_shape *in = &g->nodes[n->inputs[0]].shape;
  lb_pool_desc d = {
      .n = batch, .c = (int)in->d[0], .h = (int)in->d[1], .w = (int)in->d[2],
      .kh = n->ia[LB_POOL_KH], .kw = n->ia[LB_POOL_KW], .stride_h = n->ia[LB_POOL_SH], .stride_w = n->ia[LB_POOL_SW],
      .pad_h = n->ia[LB_POOL_PH], .pad_w = n->ia[LB_POOL_PW], .count_include_pad = n->ia[LB_POOL_COUNT_PAD],
      .ceil_mode = n->ia[LB_POOL_CEIL],
  };
  (void)lb_pool_init(&d);
  return d;
}
