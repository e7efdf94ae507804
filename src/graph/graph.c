/* Graph building: nodes, shape inference on insertion, parameters in one allocation. */
#include "lowbit/graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lb_status lb_graph_create(lb_graph **out, const char *model_name, lb_shape input_shape) {
  *out = NULL;
  if (input_shape.ndim < 1 || input_shape.ndim > 3 || lb_shape_numel(&input_shape) <= 0)
    return lb_fail(LB_ERR_SHAPE, "graph: input shape must be (C,H,W) or (F) with positive sizes");
  lb_graph *g = calloc(1, sizeof *g);
  if (!g) return lb_fail(LB_ERR_NOMEM, "graph: out of memory");
  snprintf(g->model, sizeof g->model, "%s", model_name ? model_name : "custom");
  g->cap_nodes = 32;
  g->nodes = calloc((size_t)g->cap_nodes, sizeof *g->nodes);
  g->cap_params = 64;
  g->params = calloc((size_t)g->cap_params, sizeof *g->params);
  if (!g->nodes || !g->params) {
    lb_graph_free(g);
    return lb_fail(LB_ERR_NOMEM, "graph: out of memory");
  }
  lb_node *in = &g->nodes[0];
  snprintf(in->name, sizeof in->name, "input");
  in->op = lb_op_find("input");
  in->shape = input_shape;
  g->n_nodes = 1;
  g->output = 0;
  *out = g;
  return LB_OK;
}

void lb_graph_free(lb_graph *g) {
  if (!g) return;
  free(g->nodes);
  free(g->params);
  lb_free_aligned(g->values);
  free(g);
}

static lb_status grow(void **p, int *cap, size_t elem) {
  int ncap = *cap * 2;
  void *np = realloc(*p, (size_t)ncap * elem);
  if (!np) return lb_fail(LB_ERR_NOMEM, "graph: out of memory");
  memset((char *)np + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
  *p = np;
  *cap = ncap;
  return LB_OK;
}

lb_status lb_graph_add(lb_graph *g, const char *op, const char *name, const int *inputs, int n_inputs,
                       const int *ia, int n_ia, const float *fa, int n_fa, int *id) {
  if (g->values) return lb_fail(LB_ERR_STATE, "graph: cannot add node '%s' after parameters were allocated", name);
  const lb_op_def *def = lb_op_find(op);
  if (!def || !strcmp(op, "input")) return lb_fail(LB_ERR_NOT_FOUND, "graph: node '%s': unknown op '%s'", name, op);
  if (!name || !name[0] || strlen(name) >= LB_NAME_MAX)
    return lb_fail(LB_ERR_ARG, "graph: node names must have 1 to %d characters", LB_NAME_MAX - 1);
  if (lb_graph_find_node(g, name) >= 0) return lb_fail(LB_ERR_ARG, "graph: duplicate node name '%s'", name);
  if (n_inputs < def->min_inputs || n_inputs > def->max_inputs)
    return lb_fail(LB_ERR_ARG, "graph: node '%s' (%s) takes %d..%d inputs, got %d", name, op, def->min_inputs,
                   def->max_inputs, n_inputs);
  if (n_ia < 0 || n_ia > LB_NODE_IATTRS || n_fa < 0 || n_fa > LB_NODE_FATTRS)
    return lb_fail(LB_ERR_ARG, "graph: node '%s': too many attributes", name);
  for (int i = 0; i < n_inputs; i++)
    if (inputs[i] < 0 || inputs[i] >= g->n_nodes)
      return lb_fail(LB_ERR_ARG, "graph: node '%s': input %d refers to missing node %d", name, i, inputs[i]);
  if (g->n_nodes == g->cap_nodes) {
    lb_status s = grow((void **)&g->nodes, &g->cap_nodes, sizeof *g->nodes);
    if (s) return s;
  }
  int idx = g->n_nodes;
  lb_node *n = &g->nodes[idx];
  memset(n, 0, sizeof *n);
  snprintf(n->name, sizeof n->name, "%s", name);
  n->op = def;
  n->n_inputs = n_inputs;
  for (int i = 0; i < n_inputs; i++) n->inputs[i] = inputs[i];
  for (int i = 0; i < n_ia; i++) n->ia[i] = ia[i];
  for (int i = 0; i < n_fa; i++) n->fa[i] = fa[i];
  n->first_param = g->n_params;
  g->n_nodes++;
  lb_status s = def->infer(g, idx);
  if (s) {
    g->n_nodes--; /* roll back the node and any parameters it declared */
    g->n_params = g->nodes[idx].first_param;
    g->n_values = g->n_params ? g->params[g->n_params - 1].offset + g->params[g->n_params - 1].numel : 0;
    return s;
  }
  g->output = idx;
  if (id) *id = idx;
  return LB_OK;
}

lb_status lb_graph_declare_param(lb_graph *g, int node, const char *suffix, lb_shape shape, int trainable,
                                 int decay, lb_init_kind init, int64_t fan) {
  lb_node *n = &g->nodes[node];
  if (n->n_params >= LB_NODE_MAX_PARAMS) return lb_fail(LB_ERR_ARG, "graph: node '%s' has too many parameters", n->name);
  if (g->n_params == g->cap_params) {
    lb_status s = grow((void **)&g->params, &g->cap_params, sizeof *g->params);
    if (s) return s;
  }
  lb_param *p = &g->params[g->n_params];
  memset(p, 0, sizeof *p);
  if ((size_t)snprintf(p->name, sizeof p->name, "%s.%s", n->name, suffix) >= sizeof p->name)
    return lb_fail(LB_ERR_ARG, "graph: parameter name '%s.%s' too long", n->name, suffix);
  p->shape = shape;
  p->numel = lb_shape_numel(&shape);
  /* each parameter starts on a 64-byte boundary so kernels can use aligned loads */
  int64_t off = g->n_values;
  p->offset = (off + 15) / 16 * 16;
  p->trainable = trainable;
  p->decay = decay;
  p->init = init;
  p->fan = fan;
  p->node = node;
  g->n_values = p->offset + p->numel;
  g->n_params++;
  n->n_params++;
  return LB_OK;
}

lb_status lb_graph_alloc_values(lb_graph *g) {
  if (g->values) return LB_OK;
  g->values = lb_alloc_aligned((size_t)(g->n_values > 0 ? g->n_values : 1) * sizeof(float));
  if (!g->values) return lb_fail(LB_ERR_NOMEM, "graph: cannot allocate %lld parameters", (long long)g->n_values);
  memset(g->values, 0, (size_t)(g->n_values > 0 ? g->n_values : 1) * sizeof(float));
  return LB_OK;
}

lb_status lb_graph_init_params(lb_graph *g, uint64_t seed) {
  lb_status s = lb_graph_alloc_values(g);
  if (s) return s;
  lb_rng rng;
  lb_rng_seed(&rng, seed);
  for (int i = 0; i < g->n_params; i++) {
    lb_param *p = &g->params[i];
    float *v = g->values + p->offset;
    double fan = p->fan > 0 ? (double)p->fan : 1.0;
    for (int64_t j = 0; j < p->numel; j++) {
      switch (p->init) {
      case LB_INIT_ZEROS: v[j] = 0.0f; break;
      case LB_INIT_ONES: v[j] = 1.0f; break;
      case LB_INIT_KAIMING_NORMAL: v[j] = (float)(sqrt(2.0 / fan) * lb_rng_normal(&rng)); break;
      case LB_INIT_UNIFORM_FAN: v[j] = (float)((2.0 * lb_rng_uniform(&rng) - 1.0) / sqrt(fan)); break;
      }
    }
  }
  return LB_OK;
}

const lb_param *lb_graph_find_param(const lb_graph *g, const char *name) {
  for (int i = 0; i < g->n_params; i++)
    if (!strcmp(g->params[i].name, name)) return &g->params[i];
  return NULL;
}

int lb_graph_find_node(const lb_graph *g, const char *name) {
  for (int i = 0; i < g->n_nodes; i++)
    if (!strcmp(g->nodes[i].name, name)) return i;
  return -1;
}

int64_t lb_graph_trainable_count(const lb_graph *g) {
  int64_t n = 0;
  for (int i = 0; i < g->n_params; i++)
    if (g->params[i].trainable) n += g->params[i].numel;
  return n;
}

int64_t lb_graph_macs(const lb_graph *g) {
  int64_t m = 0;
  for (int i = 1; i < g->n_nodes; i++)
    if (g->nodes[i].op->macs) m += g->nodes[i].op->macs(g, &g->nodes[i]);
  return m;
}
