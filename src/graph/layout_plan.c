/* Chooses each node output's layout for the fused executor: nChw16c (lb_layout) where every op
 * that reads or writes the tensor takes it, NCHW elsewhere.
 *
 * Ops with same_layout (element-wise ops, batch norm) tie their inputs and output into one
 * group that must share a layout; union-find collects the groups. A group goes to nChw16c only
 * if each member is an (C,H,W) tensor with C a multiple of 16 and every port touching a member
 * (the producer's output, each consumer's input) takes nChw16c. The graph input and output stay
 * NCHW: the caller reads and writes them. A group's producers from outside the group are ops
 * without same_layout, so a chosen group always sits between convolutions that oneDNN runs: that
 * is where the layout saves the per-call reorders. */
#include <stdlib.h>

#include "graph/layout_plan.h"
#include "graph/ops.h"

static int find(int *parent, int i) {
  while (parent[i] != i) {
    parent[i] = parent[parent[i]];
    i = parent[i];
  }
  return i;
}

static void unite(int *parent, int a, int b) {
  a = find(parent, a);
  b = find(parent, b);
  if (a != b) parent[a < b ? b : a] = a < b ? a : b;
}

static int port_takes(const lb_graph *g, const lb_node *n, int port) {
  return n->op->takes_nchw16c && n->op->takes_nchw16c(g, n, port);
}

lb_status lb_plan_layouts(const lb_graph *g, unsigned char *layout) {
  const int nn = g->n_nodes, last = g->output;
  int *parent = malloc(sizeof(int) * (size_t)nn);
  unsigned char *bad = calloc((size_t)nn, 1);
  if (!parent || !bad) {
    free(parent);
    free(bad);
    return lb_fail(LB_ERR_NOMEM, "executor: out of memory planning layouts");
  }
  for (int i = 0; i < nn; i++) parent[i] = i;
  for (int i = 1; i <= last; i++) {
    const lb_node *n = &g->nodes[i];
    if (n->op->same_layout)
      for (int j = 0; j < n->n_inputs; j++) unite(parent, i, n->inputs[j]);
  }
  bad[find(parent, 0)] = 1;
  bad[find(parent, last)] = 1;
  for (int i = 1; i <= last; i++) {
    const lb_node *n = &g->nodes[i];
    const lb_shape *s = &n->shape;
    if (s->ndim != 3 || s->d[0] % 16 != 0 || !port_takes(g, n, -1)) bad[find(parent, i)] = 1;
    for (int j = 0; j < n->n_inputs; j++)
      if (!port_takes(g, n, j)) bad[find(parent, n->inputs[j])] = 1;
  }
  /* nodes past the output never run; their inputs still need NCHW if they were read */
  for (int i = last + 1; i < nn; i++)
    for (int j = 0; j < g->nodes[i].n_inputs; j++) bad[find(parent, g->nodes[i].inputs[j])] = 1;
  for (int i = 0; i < nn; i++) layout[i] = (i >= 1 && i <= last && !bad[find(parent, i)]) ? LB_LAYOUT_NCHW16C : LB_LAYOUT_NCHW;
  free(parent);
  free(bad);
  return LB_OK;
}
