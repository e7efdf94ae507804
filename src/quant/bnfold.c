/* BN folding strategies (methods/qat.md 4.3): names, which conv2d -> batchnorm pairs qualify,
 * and MERGE's float graph transform. FREEZE and PYTORCH are the qconvbn2d op (op_qconvbn.c),
 * placed by lb_quant_apply. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/qgraph.h"

static const char *const fold_names[LB_BN_FOLD_COUNT] = {"none", "merge", "freeze", "fold", "naive", "whitepaper"};

lb_status lb_bn_fold_parse(const char *name, lb_bn_fold *f) {
  for (int i = 0; name && i < LB_BN_FOLD_COUNT; i++)
    if (!strcmp(name, fold_names[i])) {
      *f = (lb_bn_fold)i;
      return LB_OK;
    }
  return lb_fail(LB_ERR_NOT_FOUND, "unknown BN folding '%s' (none, merge, freeze, fold, naive, whitepaper)", name ? name : "(null)");
}

const char *lb_bn_fold_name(lb_bn_fold f) { return ((int)f >= 0 && f < LB_BN_FOLD_COUNT) ? fold_names[f] : "?"; }

static int op_is(const lb_node *n, const char *name) { return n->op && !strcmp(n->op->name, name); }

int lb_bn_after_conv(const lb_graph *g, int conv) {
  if (conv <= 0 || conv >= g->n_nodes || !op_is(&g->nodes[conv], "conv2d") || g->output == conv) return -1;
  int bn = -1, uses = 0;
  for (int i = conv + 1; i < g->n_nodes; i++) {
    const lb_node *n = &g->nodes[i];
    for (int k = 0; k < n->n_inputs; k++)
      if (n->inputs[k] == conv) {
        uses++;
        bn = i;
      }
  }
  return uses == 1 && op_is(&g->nodes[bn], "batchnorm") ? bn : -1;
}

static const float *param_of(const lb_graph *g, int node, const char *suffix, int64_t want) {
  char name[LB_PARAM_NAME_MAX];
  snprintf(name, sizeof name, "%s.%s", g->nodes[node].name, suffix);
  const lb_param *p = lb_graph_find_param(g, name);
  return p && p->numel == want ? g->values + p->offset : NULL;
}

/* Write the folded weight and bias of pair (conv of g, bn of g) into node `nc` of out. */
static lb_status fold_pair(const lb_graph *g, int conv, int bn, lb_graph *out, int nc) {
  const lb_node *c = &g->nodes[conv];
  int64_t k = c->ia[LB_CONV_K];
  const lb_param *pw = lb_graph_find_param(g, g->params[c->first_param].name);
  const float *gamma = param_of(g, bn, "weight", k), *beta = param_of(g, bn, "bias", k);
  const float *mu = param_of(g, bn, "running_mean", k), *var = param_of(g, bn, "running_var", k);
  const float *b = c->ia[LB_CONV_BIAS] ? param_of(g, conv, "bias", k) : NULL;
  float *w2 = (float *)param_of(out, nc, "weight", pw ? pw->numel : -1);
  float *b2 = (float *)param_of(out, nc, "bias", k);
  if (!pw || !gamma || !beta || !mu || !var || (c->ia[LB_CONV_BIAS] && !b) || !w2 || !b2)
    return lb_fail(LB_ERR_STATE, "merge BN: '%s' -> '%s' lacks a parameter", c->name, g->nodes[bn].name);
  float eps = g->nodes[bn].fa[LB_BN_EPS];
  int64_t per = pw->numel / k;
  for (int64_t j = 0; j < k; j++) {
    float f = gamma[j] / sqrtf(var[j] + eps);
    for (int64_t i = 0; i < per; i++) w2[j * per + i] = g->values[pw->offset + j * per + i] * f;
    b2[j] = beta[j] + ((b ? b[j] : 0.0f) - mu[j]) * f;
  }
  return LB_OK;
}

static lb_status merge_into(const lb_graph *g, lb_graph *out, int *map, int *bn_of) {
  map[0] = 0;
  for (int i = 1; i < g->n_nodes; i++) {
    const lb_node *n = &g->nodes[i];
    bn_of[i] = op_is(n, "conv2d") ? lb_bn_after_conv(g, i) : -1;
    if (op_is(n, "batchnorm") && op_is(&g->nodes[n->inputs[0]], "conv2d") && bn_of[n->inputs[0]] == i) {
      map[i] = map[n->inputs[0]];
      continue;
    }
    int inputs[LB_NODE_MAX_INPUTS], ia[LB_NODE_IATTRS];
    for (int k = 0; k < n->n_inputs; k++) inputs[k] = map[n->inputs[k]];
    memcpy(ia, n->ia, sizeof ia);
    if (bn_of[i] >= 0) ia[LB_CONV_BIAS] = 1;
    lb_status s = lb_graph_add(out, n->op->name, n->name, inputs, n->n_inputs, ia, LB_NODE_IATTRS, n->fa, LB_NODE_FATTRS,
                               &map[i]);
    if (s) return s;
  }
  out->output = map[g->output];
  lb_status s = lb_graph_alloc_values(out);
  if (!s) s = lb_graph_init_params(out, 0);
  for (int i = 0; i < out->n_params && !s; i++) {
    const lb_param *q = &out->params[i];
    const lb_param *p = lb_graph_find_param(g, q->name);
    if (p && p->numel == q->numel) memcpy(out->values + q->offset, g->values + p->offset, (size_t)p->numel * sizeof(float));
  }
  for (int i = 1; i < g->n_nodes && !s; i++)
    if (bn_of[i] >= 0) s = fold_pair(g, i, bn_of[i], out, map[i]);
  return s;
}

lb_status lb_graph_merge_bn(const lb_graph *g, lb_graph **out, int *map) {
  if (!g || !out) return lb_fail(LB_ERR_ARG, "merge BN: NULL argument");
  *out = NULL;
  if (!g->values) return lb_fail(LB_ERR_STATE, "merge BN: graph '%s' has no parameter values", g->model);
  int *m = malloc((size_t)g->n_nodes * sizeof *m), *bn_of = malloc((size_t)g->n_nodes * sizeof *bn_of);
  lb_graph *o = NULL;
  lb_status s = m && bn_of ? LB_OK : lb_fail(LB_ERR_NOMEM, "merge BN: out of memory");
  if (!s) s = lb_graph_create(&o, g->model, g->nodes[0].shape);
  if (!s) s = merge_into(g, o, m, bn_of);
  if (!s && map) memcpy(map, m, (size_t)g->n_nodes * sizeof *m);
  free(m);
  free(bn_of);
  if (s) {
    lb_graph_free(o);
    return s;
  }
  *out = o;
  return LB_OK;
}
