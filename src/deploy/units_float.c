/* The float region of the unit analysis: tensors a profile leaves unquantized (the academic
 * profile quantizes only conv/linear inputs, so its residual adds and global pool read floats).
 * They become float units, computed the one way the simulation and the engine share; a fakequant
 * reading them is a quantization of that float tensor with the fakequant's own arithmetic. */
#include <math.h>
#include <stdlib.h>

#include "deploy/units_build.h"
#include "graph/ops_shape.h"

int lb_ub_skip_identities(const lb_graph *g, int node) {
  while (lb_ub_is_identity(g, node)) node = g->nodes[node].inputs[0];
  return node;
}

/* Whether the graph's structure makes the value at node quantized: a fakequant seen through
 * identities, max pools and data movement. */
static int quantized_by_structure(const lb_graph *g, int node) {
  node = lb_ub_skip_identities(g, node);
  if (lb_ub_op_is(g, node, "fakequant")) return 1;
  if (lb_ub_op_is(g, node, "maxpool") || lb_ub_is_move1(g, node)) return quantized_by_structure(g, g->nodes[node].inputs[0]);
  if (!lb_ub_op_is(g, node, "concat")) return 0;
  for (int j = 0; j < g->nodes[node].n_inputs; j++)
    if (!quantized_by_structure(g, g->nodes[node].inputs[j])) return 0;
  return 1;
}

/* An add or global average pool reading an unquantized tensor: computed in float. */
int lb_ub_float_core(const lb_graph *g, int node) {
  if (!lb_ub_op_is(g, node, "add") && !lb_ub_op_is(g, node, "gap")) return 0;
  for (int j = 0; j < g->nodes[node].n_inputs; j++)
    if (!quantized_by_structure(g, g->nodes[node].inputs[j])) return 1;
  return 0;
}

/* Clamp node c as a float interval (relu [0, inf), relu6 [0, 6], hardtanh [a, b]), intersected. */
static void float_clamp(const lb_graph *g, int c, float *lo, float *hi) {
  float a = 0.0f, bnd = INFINITY;
  if (lb_ub_op_is(g, c, "relu6")) bnd = 6.0f;
  if (lb_ub_op_is(g, c, "hardtanh")) {
    a = g->nodes[c].fa[LB_HARDTANH_LO];
    bnd = g->nodes[c].fa[LB_HARDTANH_HI];
  }
  if (a > *lo) *lo = a;
  if (bnd < *hi) *hi = bnd;
}

/* The float unit whose tensor is node x's value: walk back through identities, clamps and one
 * batchnorm to a quantized conv/linear (FLOAT_ACC) or a float add / global pool (their operands
 * float units in turn). */
lb_status lb_ub_float_unit(lb_unit_builder *b, int x, int *out) {
  const lb_graph *g = b->g;
  if ((*out = b->us->float_of_node[x]) >= 0) return LB_OK;
  lb_unit u;
  memset(&u, 0, sizeof u);
  u.node = x;
  u.bn = -1;
  for (int j = 0; j < LB_UNIT_MAX_IN; j++) u.operand[j] = -1;
  u.flo = -INFINITY;
  u.fhi = INFINITY;
  int chain[32], nc = 0, node = x;
  while (lb_ub_is_identity(g, node) || lb_ub_is_clamp(g, node) || lb_ub_op_is(g, node, "batchnorm")) {
    if (nc == 32) return lb_fail(LB_ERR_UNSUPPORTED, "'%s': chain of float ops too long", g->nodes[x].name);
    chain[nc++] = node;
    node = g->nodes[node].inputs[0];
  }
  u.core = node;
  if (lb_ub_is_weighted(g, node)) u.kind = LB_U_FLOAT_ACC;
  else if (lb_ub_float_core(g, node)) u.kind = lb_ub_op_is(g, node, "add") ? LB_U_FLOAT_ADD : LB_U_FLOAT_GAP;
  else if (lb_ub_is_move1(g, node) && !quantized_by_structure(g, node)) {
    u.kind = LB_U_FLOAT_MOVE; /* the imported ResNets' option-A shortcut: pad(slice(slice(x))) */
    if (lb_ub_op_is(g, node, "pad") && g->nodes[node].fa[LB_PAD_VALUE] != 0.0f)
      return lb_fail(LB_ERR_UNSUPPORTED, "pad '%s' of a float tensor with value %g: only 0 is lowered",
                     g->nodes[node].name, (double)g->nodes[node].fa[LB_PAD_VALUE]);
  } else
    return lb_fail(LB_ERR_UNSUPPORTED,
                   "'%s' (%s) is read unquantized by an add or global pool, and the float steps of a program cover "
                   "only quantized conv/linear outputs (with batchnorm and clamps), adds, global pools, slices and "
                   "pads; quantize its input with a profile that quantizes add and pool inputs (tensorrt, snpe, "
                   "fbgemm, ...)",
                   g->nodes[node].name, lb_unit_op(g, node));
  for (int i = nc - 1; i >= 0; i--) {
    int c = chain[i];
    if (lb_ub_op_is(g, c, "batchnorm")) {
      if (i != nc - 1 || u.kind != LB_U_FLOAT_ACC || lb_ub_op_is(g, node, "qconvbn2d"))
        return lb_fail(LB_ERR_UNSUPPORTED, "batchnorm '%s': a batchnorm is folded only right after a quantized conv/linear",
                       g->nodes[c].name);
      u.bn = c;
    } else if (lb_ub_is_clamp(g, c)) {
      float_clamp(g, c, &u.flo, &u.fhi);
    }
  }
  if (!(u.flo <= u.fhi)) return lb_fail(LB_ERR_UNSUPPORTED, "'%s': its activations clamp to an empty range", g->nodes[x].name);
  const lb_node *cn = &g->nodes[node];
  lb_status st = LB_OK;
  if (u.kind == LB_U_FLOAT_ACC) st = lb_ub_resolve_operand(b, cn->inputs[0], node, &u.operand[0]);
  else if (u.kind == LB_U_FLOAT_MOVE) st = lb_ub_float_unit(b, lb_ub_skip_identities(g, cn->inputs[0]), &u.operand[0]);
  for (int j = 0; u.kind != LB_U_FLOAT_ACC && u.kind != LB_U_FLOAT_MOVE && !st && j < cn->n_inputs && j < LB_UNIT_MAX_IN;
       j++) {
    if (quantized_by_structure(g, cn->inputs[j]))
      return lb_fail(LB_ERR_UNSUPPORTED,
                     "%s '%s' reads the quantized tensor of '%s' next to an unquantized one; mixing the two in one "
                     "add is not lowered: quantize both inputs or neither",
                     lb_unit_op(g, node), cn->name, g->nodes[lb_ub_skip_identities(g, cn->inputs[j])].name);
    st = lb_ub_float_unit(b, lb_ub_skip_identities(g, cn->inputs[j]), &u.operand[j]);
  }
  if (!st && (*out = lb_ub_add_unit(b, &u)) < 0) st = lb_fail(LB_ERR_NOMEM, "deploy: out of memory");
  return st;
}

/* Marks every tensor an add or global pool reads unquantized (b->in_float). */
void lb_ub_mark_float_region(lb_unit_builder *b) {
  const lb_graph *g = b->g;
  for (int i = 1; i < g->n_nodes; i++)
    if (lb_ub_float_core(g, i))
      for (int j = 0; j < g->nodes[i].n_inputs; j++) {
        int src = lb_ub_skip_identities(g, g->nodes[i].inputs[j]);
        if (!quantized_by_structure(g, src)) b->in_float[src] = 1;
      }
}
