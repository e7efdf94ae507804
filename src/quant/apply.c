/* The "insert quantizers" graph transform: a float graph and a plan give a new graph in which
 * planned conv2d/linear nodes are qconv2d/qlinear (the weight quantizer packed into their
 * attributes) and a fakequant node sits before every planned input. The graph is rebuilt node
 * by node with lb_graph_add, so shape inference and parameter declaration run as for any
 * graph; parameter values are then copied by name. Quantizers start disabled, so the new
 * graph computes exactly what the float graph computes until lb_quant_calibrate.
 *
 * BN folding: MERGE transforms the float graph first (lb_graph_merge_bn) and applies the plan,
 * its node indices mapped, to the result. The other strategies emit one qconvbn2d for each
 * planned bias-free conv2d whose only consumer is a batchnorm; the BN node is not emitted and
 * its consumers read the qconvbn2d. */
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

/* <bn>.<suffix> of g into <node>.bn_<suffix> of qg, for the four BN parameters. */
static lb_status copy_bn(const lb_graph *g, int bn, lb_graph *qg, int node) {
  static const char *const sfx[] = {"weight", "bias", "running_mean", "running_var"};
  for (int k = 0; k < 4; k++) {
    char a[LB_PARAM_NAME_MAX], b[LB_PARAM_NAME_MAX];
    snprintf(a, sizeof a, "%s.%s", g->nodes[bn].name, sfx[k]);
    snprintf(b, sizeof b, "%s.bn_%s", qg->nodes[node].name, sfx[k]);
    const lb_param *p = lb_graph_find_param(g, a), *q = lb_graph_find_param(qg, b);
    if (!p || !q || p->numel != q->numel)
      return lb_fail(LB_ERR_SHAPE, "quant apply: cannot fold '%s' into '%s' (%s)", a, qg->nodes[node].name, b);
    memcpy(qg->values + q->offset, g->values + p->offset, (size_t)p->numel * sizeof(float));
  }
  return LB_OK;
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

/* fold_bn[conv] = its batchnorm and fold_bn[bn] = its conv, for every pair that becomes a
 * qconvbn2d under the plan (every strategy but NONE and MERGE); -1 elsewhere. */
static void find_folds(const lb_graph *g, const lb_qplan *plan, const int *entry_of, int *fold_bn) {
  for (int i = 0; i < g->n_nodes; i++) fold_bn[i] = -1;
  if (plan->bn_fold == LB_BN_FOLD_NONE || plan->bn_fold == LB_BN_FOLD_MERGE) return;
  for (int i = 1; i < g->n_nodes; i++) {
    int bn = lb_bn_after_conv(g, i);
    if (bn < 0 || g->nodes[i].ia[LB_CONV_BIAS] || entry_of[i] < 0 || !plan->e[entry_of[i]].has_weight || entry_of[bn] >= 0)
      continue;
    fold_bn[i] = bn;
    fold_bn[bn] = i;
  }
}

static lb_status rebuild(const lb_graph *g, const lb_qplan *plan, const int *entry_of, const int *fold_bn, lb_graph *qg,
                         int *map) {
  const lb_op_def *fq = lb_op_find("fakequant");
  if (!fq || !lb_op_find("qconv2d") || !lb_op_find("qlinear") || !lb_op_find("qconvbn2d"))
    return lb_fail(LB_ERR_STATE, "quant apply: quantizer ops are not registered (call lb_quant_register_ops)");
  map[0] = 0;
  for (int i = 1; i < g->n_nodes; i++) {
    const lb_node *n = &g->nodes[i];
    if (fold_bn[i] >= 0 && op_is(n, "batchnorm")) { /* folded into its conv's qconvbn2d */
      map[i] = map[fold_bn[i]];
      continue;
    }
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
      if (fold_bn[i] >= 0) {
        const lb_node *bn = &g->nodes[fold_bn[i]];
        op = "qconvbn2d";
        fa[LB_QCONVBN_EPS] = bn->fa[LB_BN_EPS];
        fa[LB_QCONVBN_MOMENTUM] = bn->fa[LB_BN_MOMENTUM];
        fa[LB_QCONVBN_STRATEGY] = (float)plan->bn_fold;
      }
    }
    lb_status s = lb_graph_add(qg, op, n->name, inputs, n->n_inputs, ia, LB_NODE_IATTRS, fa, LB_NODE_FATTRS, &map[i]);
    if (s) return s;
  }
  return LB_OK;
}

static lb_status apply_plan(const lb_graph *g, const lb_qplan *plan, lb_graph **qg) {
  int *entry_of = malloc((size_t)g->n_nodes * sizeof *entry_of);
  int *map = malloc((size_t)g->n_nodes * sizeof *map);
  int *fold_bn = malloc((size_t)g->n_nodes * sizeof *fold_bn);
  if (!entry_of || !map || !fold_bn) {
    free(entry_of);
    free(map);
    free(fold_bn);
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
  if (!s) find_folds(g, plan, entry_of, fold_bn);
  if (!s) s = lb_graph_create(&out, g->model, g->nodes[0].shape);
  if (!s) s = rebuild(g, plan, entry_of, fold_bn, out, map);
  if (!s) {
    out->output = map[g->output];
    s = copy_values(g, out);
  }
  for (int i = 1; i < g->n_nodes && !s; i++)
    if (fold_bn[i] >= 0 && op_is(&g->nodes[i], "conv2d")) s = copy_bn(g, fold_bn[i], out, map[i]);
  free(entry_of);
  free(map);
  free(fold_bn);
  if (s) {
    lb_graph_free(out);
    return s;
  }
  *qg = out;
  return LB_OK;
}

/* MERGE: the plan's nodes mapped onto the merged graph (every planned node is a conv2d,
 * linear, add or pool, which the merge keeps). */
static lb_status apply_merged(const lb_graph *g, const lb_qplan *plan, lb_graph **qg) {
  int *map = malloc((size_t)g->n_nodes * sizeof *map);
  lb_qplan_entry *e = malloc(((size_t)plan->n + 1) * sizeof *e);
  lb_graph *m = NULL;
  lb_status s = map && e ? LB_OK : lb_fail(LB_ERR_NOMEM, "quant apply: out of memory");
  if (!s) s = lb_graph_merge_bn(g, &m, map);
  lb_qplan p2 = {{0}, LB_BN_FOLD_NONE, plan->n, e};
  if (!s) {
    memcpy(p2.backend, plan->backend, sizeof p2.backend);
    for (int j = 0; j < plan->n && !s; j++) {
      int nd = plan->e[j].node;
      if (nd <= 0 || nd >= g->n_nodes)
        s = lb_fail(LB_ERR_ARG, "quant apply: plan entry %d names node %d; the graph has %d nodes", j, nd, g->n_nodes);
      else if (op_is(&g->nodes[nd], "batchnorm") && op_is(&m->nodes[map[nd]], "conv2d"))
        s = lb_fail(LB_ERR_ARG, "quant apply: plan quantizes '%s', which BN merging removes", g->nodes[nd].name);
      e[j] = plan->e[j];
      e[j].node = s ? 0 : map[nd];
    }
  }
  if (!s) s = apply_plan(m, &p2, qg);
  lb_graph_free(m);
  free(map);
  free(e);
  return s;
}

lb_status lb_quant_apply(const lb_graph *g, const lb_qplan *plan, lb_graph **qg) {
  if (!g || !plan || !qg) return lb_fail(LB_ERR_ARG, "quant apply: NULL argument");
  *qg = NULL;
  if (!g->values) return lb_fail(LB_ERR_STATE, "quant apply: graph '%s' has no parameter values", g->model);
  if (lb_graph_is_quantized(g)) return lb_fail(LB_ERR_STATE, "quant apply: graph '%s' already holds quantizers", g->model);
  if (plan->bn_fold < 0 || plan->bn_fold >= LB_BN_FOLD_COUNT)
    return lb_fail(LB_ERR_ARG, "quant apply: unknown BN folding %d", plan->bn_fold);
  return plan->bn_fold == LB_BN_FOLD_MERGE ? apply_merged(g, plan, qg) : apply_plan(g, plan, qg);
}
