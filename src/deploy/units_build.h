/* Internal to the unit analysis (units.c, units_float.c): the builder both fill, and the
 * node predicates they share. */
#ifndef LOWBIT_DEPLOY_UNITS_BUILD_H
#define LOWBIT_DEPLOY_UNITS_BUILD_H

#include <string.h>

#include "deploy/units.h"

typedef struct lb_unit_builder {
  const lb_graph *g;
  lb_units *us;
  char *in_float; /* per node: read as a float tensor by an add or global pool (the float region) */
} lb_unit_builder;

static inline int lb_ub_op_is(const lb_graph *g, int node, const char *name) {
  return node >= 0 && g->nodes[node].op && !strcmp(g->nodes[node].op->name, name);
}
/* flatten, dropout, reshape: codes keep their order */
static inline int lb_ub_is_identity(const lb_graph *g, int node) {
  return lb_ub_op_is(g, node, "flatten") || lb_ub_op_is(g, node, "dropout") || lb_ub_op_is(g, node, "reshape");
}
static inline int lb_ub_is_move1(const lb_graph *g, int node) {
  return lb_ub_op_is(g, node, "slice") || lb_ub_op_is(g, node, "pad");
}
static inline int lb_ub_is_clamp(const lb_graph *g, int node) {
  return lb_ub_op_is(g, node, "relu") || lb_ub_op_is(g, node, "relu6") || lb_ub_op_is(g, node, "hardtanh");
}
static inline int lb_ub_is_weighted(const lb_graph *g, int node) {
  return lb_ub_op_is(g, node, "qconv2d") || lb_ub_op_is(g, node, "qconvbn2d") || lb_ub_op_is(g, node, "qlinear");
}

/* units.c: append a unit (index, -1 on OOM); the quantized tensor a core reads at node */
int lb_ub_add_unit(lb_unit_builder *b, const lb_unit *u);
lb_status lb_ub_resolve_operand(lb_unit_builder *b, int node, int consumer, int *unit);

/* units_float.c: the float region */
int lb_ub_skip_identities(const lb_graph *g, int node);
/* an add or global average pool reading an unquantized tensor: computed in float */
int lb_ub_float_core(const lb_graph *g, int node);
/* the float unit whose tensor is node x's value (built on first use) */
lb_status lb_ub_float_unit(lb_unit_builder *b, int x, int *out);
/* marks b->in_float: every tensor an add or global pool reads unquantized */
void lb_ub_mark_float_region(lb_unit_builder *b);

#endif
