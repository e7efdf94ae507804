/* The "insert quantizers" graph transform: a float graph and a plan give a new graph in which
 * planned conv2d/linear nodes are qconv2d/qlinear (the weight quantizer packed into their
 * attributes) and a fakequant node sits before every planned input. The graph is rebuilt node
 * by node with lb_graph_add, so shape inference and parameter declaration run as for any
 * graph; parameter values are then copied by name. Quantizers start disabled, so the new
 * graph computes exactly what the float graph computes until lb_quant_calibrate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/qgraph.h"

static int op_is(const lb_node *n, const char *name) { return n->op && !strcmp(n->op->name, name); }

/* An existing fakequant node of qg reading `src` with the same packed configuration (shared
 * when two planned inputs read one tensor with one config), or -1. */
static int find_shared_fq(const lb_graph *qg, const lb_op_def *fq, int src, const int *ia, const float *fa) {
  for (int i = 1; i < qg->n_nodes; i++) {
    const lb_node *n = &qg->nodes[i];
    if (n->op != fq || n->n_inputs != 1 || n->inputs[0] != src) continue;
    if (!memcmp(n->ia + LB_FQ_IA, ia + LB_FQ_IA, LB_QCFG_IATTRS * sizeof(int)) && n->fa[LB_FQ_FA] == fa[LB_FQ_FA])
      return i;
  }
  return -1;
}

static lb_status copy_values(const lb_graph *g, lb_graph *qg) {
  lb_status s = lb_graph_alloc_values(qg);
  if (!s) s = lb_graph_init_params(qg, 0); /* quantizer parameters: their declared defaults */
  if (s) return s;
  for (int i = 0; i < qg->n_params; i++) {
    const lb_param *q = &qg->params[i];
    const lb_param *p = lb_graph_find_param(g, q->name);
    if (!p) continue;
    if (p->numel != q->numel)
      return lb_fail(LB_ERR_SHAPE, "quant apply: parameter '%s' has %lld values in the float graph, %lld after the transform",
                     q->name, (long long)p->numel, (long long)q->numel);
    memcpy(qg->values + q->offset, g->values + p->offset, (size_t)p->numel * sizeof(float));
  }
  return LB_OK;
}

static lb_status rebuild(const lb_graph *g, const lb_qplan *plan, const int *entry_of, lb_graph *qg, int *map) {
  const lb_op_def *fq = lb_op_find("fakequant");
  if (!fq || !lb_op_find("qconv2d") || !lb_op_find("qlinear"))
    return lb_fail(LB_ERR_STATE, "quant apply: quantizer ops are not registered (call lb_quant_register_ops)");
  map[0] = 0;
  for (int i = 1; i < g->n_nodes; i++) {
    const lb_node *n = &g->nodes[i];
    const lb_qplan_entry *e = entry_of[i] >= 0 ? &plan->e[entry_of[i]] : NULL;
    int inputs[LB_NODE_MAX_INPUTS];
    for (int k = 0; k < n->n_inputs; k++) inputs[k] = map[n->inputs[k]];
    for (int j = 0; e && j < e->n_inputs; j++) {
      int k = e->input_index[j];
      if (k < 0 || k >= n->n_inputs)
        return lb_fail(LB_ERR_ARG, "quant apply: plan quantizes input %d of '%s', which has %d inputs", k, n->name,
                       n->n_inputs);
      int ia[LB_NODE_IATTRS] = {0};
      float fa[LB_NODE_FATTRS] = {0};
      lb_qcfg_pack(&e->input[j], 0, ia + LB_FQ_IA, fa + LB_FQ_FA);
      int id = find_shared_fq(qg, fq, inputs[k], ia, fa);
      if (id < 0) {
        char name[LB_NAME_MAX];
        int len = snprintf(name, sizeof name, "%s.in%d.q", n->name, k);
        if (len < 0 || len >= (int)sizeof name)
          return lb_fail(LB_ERR_ARG, "quant apply: node name '%s' is too long for a quantizer name", n->name);
        lb_status s = lb_graph_add(qg, "fakequant", name, &inputs[k], 1, ia, LB_NODE_IATTRS, fa, LB_NODE_FATTRS, &id);
        if (s) return s;
      }
      inputs[k] = id;
    }
    const char *op = n->op->name;
    int ia[LB_NODE_IATTRS];
    float fa[LB_NODE_FATTRS];
    memcpy(ia, n->ia, sizeof ia);
    memcpy(fa, n->fa, sizeof fa);
    if (e && e->has_weight) {
      int base;
      if (op_is(n, "conv2d")) {
        op = "qconv2d";
        base = LB_QCONV_IA;
      } else if (op_is(n, "linear")) {
        op = "qlinear";
        base = LB_QLINEAR_IA;
      } else {
        return lb_fail(LB_ERR_ARG, "quant apply: plan quantizes weights of '%s', a %s node", n->name, n->op->name);
      }
      for (int k = base; k < LB_NODE_IATTRS; k++) ia[k] = 0;
      for (int k = 0; k < LB_NODE_FATTRS; k++) fa[k] = 0;
      lb_qcfg_pack(&e->weight, 0, ia + base, fa);
    }
    lb_status s = lb_graph_add(qg, op, n->name, inputs, n->n_inputs, ia, LB_NODE_IATTRS, fa, LB_NODE_FATTRS, &map[i]);
    if (s) return s;
  }
  return LB_OK;
}

lb_status lb_quant_apply(const lb_graph *g, const lb_qplan *plan, lb_graph **qg) {
  if (!g || !plan || !qg) return lb_fail(LB_ERR_ARG, "quant apply: NULL argument");
  *qg = NULL;
  if (!g->values) return lb_fail(LB_ERR_STATE, "quant apply: graph '%s' has no parameter values", g->model);
  if (lb_graph_is_quantized(g)) return lb_fail(LB_ERR_STATE, "quant apply: graph '%s' already holds quantizers", g->model);
  int *entry_of = malloc((size_t)g->n_nodes * sizeof *entry_of);
  int *map = malloc((size_t)g->n_nodes * sizeof *map);
  if (!entry_of || !map) {
    free(entry_of);
    free(map);
    return lb_fail(LB_ERR_NOMEM, "quant apply: out of memory");
  }
  lb_status s = LB_OK;
  for (int i = 0; i < g->n_nodes; i++) entry_of[i] = -1;
  for (int j = 0; j < plan->n && !s; j++) {
    int nd = plan->e[j].node;
    if (nd <= 0 || nd >= g->n_nodes)
      s = lb_fail(LB_ERR_ARG, "quant apply: plan entry %d names node %d; the graph has %d nodes", j, nd, g->n_nodes);
    else if (entry_of[nd] >= 0)
      s = lb_fail(LB_ERR_ARG, "quant apply: plan has two entries for node '%s'", g->nodes[nd].name);
    else if (plan->e[j].n_inputs < 0 || plan->e[j].n_inputs > LB_NODE_MAX_INPUTS)
      s = lb_fail(LB_ERR_ARG, "quant apply: plan entry for '%s' has %d inputs", g->nodes[nd].name, plan->e[j].n_inputs);
    else
      entry_of[nd] = j;
  }
  lb_graph *out = NULL;
  if (!s) s = lb_graph_create(&out, g->model, g->nodes[0].shape);
  if (!s) s = rebuild(g, plan, entry_of, out, map);
  if (!s) {
    out->output = map[g->output];
    s = copy_values(g, out);
  }
  free(entry_of);
  free(map);
  if (s) {
    lb_graph_free(out);
    return s;
  }
  *qg = out;
  return LB_OK;
}
