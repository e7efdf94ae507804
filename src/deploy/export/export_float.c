/* Float graph -> ONNX (opset 13): every built-in float op maps to one standard ONNX operator
 * (two for gap and for ops whose ONNX form keeps dimensions lowbit drops), so any ONNX runtime
 * computes what lb_exec computes in evaluation mode, up to float summation order. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/export/onnx_build.h"
#include "graph/ops_shape.h"
#include "lowbit/export.h"
#include "lowbit/qgraph.h"

#define EXPORT_OPSET 13

static const float *param(const lb_graph *g, const lb_node *n, int k) {
  return g->values + g->params[n->first_param + k].offset;
}

static const char *param_init(lb_ob *b, const lb_graph *g, const lb_node *n, int k) {
  const lb_param *p = &g->params[n->first_param + k];
  int64_t dims[LB_MAX_DIMS];
  for (int i = 0; i < p->shape.ndim; i++) dims[i] = p->shape.d[i];
  return lb_ob_initializer(b, p->name, LB_OT_FLOAT, dims, p->shape.ndim, param(g, n, k));
}

/* The input of node n as a 2-D (N, F) tensor for Gemm: flattened when it has more dims. */
static const char *as_matrix(lb_ob *b, const lb_graph *g, const lb_node *n, const char *x) {
  if (g->nodes[n->inputs[0]].shape.ndim == 1) return x;
  const char *in[1] = {x};
  const char *y = lb_ob_node(b, "Flatten", n->name, in, 1, "flat");
  lb_ob_attr_int(b, "axis", 1);
  return y;
}

static void pool_attrs(lb_ob *b, const lb_node *n, int avg) {
  int64_t k[2] = {n->ia[LB_POOL_KH], n->ia[LB_POOL_KW]};
  int64_t st[2] = {n->ia[LB_POOL_SH], n->ia[LB_POOL_SW]};
  int64_t pads[4] = {n->ia[LB_POOL_PH], n->ia[LB_POOL_PW], n->ia[LB_POOL_PH], n->ia[LB_POOL_PW]};
  lb_ob_attr_ints(b, "kernel_shape", k, 2);
  lb_ob_attr_ints(b, "strides", st, 2);
  lb_ob_attr_ints(b, "pads", pads, 4);
  lb_ob_attr_int(b, "ceil_mode", n->ia[LB_POOL_CEIL]);
  if (avg) lb_ob_attr_int(b, "count_include_pad", n->ia[LB_POOL_COUNT_PAD]);
}

/* The shape ops (graph/ops_shape.h). Their axes count per-sample dimensions: +1 in ONNX. */
static void export_shape_op(lb_ob *b, const lb_graph *g, const lb_node *n, const char **names, const char **out) {
  const char *op = n->op->name;
  const char *in[5] = {names[n->inputs[0]], NULL, NULL, NULL, NULL};
  if (!strcmp(op, "slice")) {
    int64_t start = n->ia[LB_SLICE_START], step = n->ia[LB_SLICE_STEP], count = n->ia[LB_SLICE_COUNT];
    int64_t last = start + (count - 1) * step;
    /* exclusive end; a backward slice through index 0 needs an end below every index */
    int64_t end = step > 0 ? last + 1 : (last == 0 ? INT64_MIN : last - 1);
    int64_t axis = n->ia[LB_SLICE_AXIS] + 1;
    in[1] = lb_ob_ints(b, "starts", &start, 1);
    in[2] = lb_ob_ints(b, "ends", &end, 1);
    in[3] = lb_ob_ints(b, "axes", &axis, 1);
    in[4] = lb_ob_ints(b, "steps", &step, 1);
    *out = lb_ob_node(b, "Slice", n->name, in, 5, n->name);
  } else if (!strcmp(op, "pad")) {
    int nd = g->nodes[n->inputs[0]].shape.ndim + 1;
    int64_t pads[2 * (LB_PAD_MAX_DIMS + 1)] = {0};
    for (int k = 1; k < nd; k++) {
      pads[k] = n->ia[LB_PAD_BEGIN + k - 1];
      pads[nd + k] = n->ia[LB_PAD_END + k - 1];
    }
    in[1] = lb_ob_ints(b, "pads", pads, 2 * nd);
    in[2] = lb_ob_scalar_f(b, "pad_value", n->fa[LB_PAD_VALUE]);
    *out = lb_ob_node(b, "Pad", n->name, in, 3, n->name);
  } else if (!strcmp(op, "concat")) {
    for (int k = 0; k < n->n_inputs; k++) in[k] = names[n->inputs[k]];
    *out = lb_ob_node(b, "Concat", n->name, in, n->n_inputs, n->name);
    lb_ob_attr_int(b, "axis", n->ia[LB_CONCAT_AXIS] + 1);
  } else { /* reshape: 0 keeps the batch dimension */
    int nd = n->ia[LB_RESHAPE_NDIM];
    int64_t shape[LB_RESHAPE_MAX_DIMS + 1] = {0};
    for (int k = 0; k < nd; k++) shape[k + 1] = n->ia[LB_RESHAPE_D0 + k];
    in[1] = lb_ob_ints(b, "shape", shape, nd + 1);
    *out = lb_ob_node(b, "Reshape", n->name, in, 2, n->name);
  }
}

/* One node; out receives the name of the tensor holding its output. */
static lb_status export_node(lb_ob *b, const lb_graph *g, const lb_node *n, const char **names, const char **out) {
  const char *op = n->op->name;
  const char *x = names[n->inputs[0]];
  const char *in[5] = {x, NULL, NULL, NULL, NULL};
  if (!strcmp(op, "conv2d")) {
    in[1] = param_init(b, g, n, 0);
    int nin = 2;
    if (n->ia[LB_CONV_BIAS]) in[nin++] = param_init(b, g, n, 1);
    *out = lb_ob_node(b, "Conv", n->name, in, nin, n->name);
    int64_t k[2] = {n->ia[LB_CONV_R], n->ia[LB_CONV_S]}, st[2] = {n->ia[LB_CONV_SH], n->ia[LB_CONV_SW]};
    int64_t dil[2] = {n->ia[LB_CONV_DH], n->ia[LB_CONV_DW]};
    int64_t pads[4] = {n->ia[LB_CONV_PH], n->ia[LB_CONV_PW], n->ia[LB_CONV_PH], n->ia[LB_CONV_PW]};
    lb_ob_attr_ints(b, "kernel_shape", k, 2);
    lb_ob_attr_ints(b, "strides", st, 2);
    lb_ob_attr_ints(b, "pads", pads, 4);
    lb_ob_attr_ints(b, "dilations", dil, 2);
    lb_ob_attr_int(b, "group", n->ia[LB_CONV_GROUPS]);
  } else if (!strcmp(op, "linear")) {
    in[0] = as_matrix(b, g, n, x);
    in[1] = param_init(b, g, n, 0);
    int nin = 2;
    if (n->ia[LB_LINEAR_BIAS]) in[nin++] = param_init(b, g, n, 1);
    *out = lb_ob_node(b, "Gemm", n->name, in, nin, n->name);
    lb_ob_attr_int(b, "transB", 1);
  } else if (!strcmp(op, "batchnorm")) {
    /* parameters: weight (gamma), bias (beta), running_mean, running_var */
    for (int k = 0; k < 4; k++) in[k + 1] = param_init(b, g, n, k);
    *out = lb_ob_node(b, "BatchNormalization", n->name, in, 5, n->name);
    lb_ob_attr_float(b, "epsilon", n->fa[LB_BN_EPS]);
  } else if (!strcmp(op, "relu")) {
    *out = lb_ob_node(b, "Relu", n->name, in, 1, n->name);
  } else if (!strcmp(op, "relu6") || !strcmp(op, "hardtanh")) {
    int six = !strcmp(op, "relu6");
    in[1] = lb_ob_scalar_f(b, "clip_min", six ? 0.0f : n->fa[LB_HARDTANH_LO]);
    in[2] = lb_ob_scalar_f(b, "clip_max", six ? 6.0f : n->fa[LB_HARDTANH_HI]);
    *out = lb_ob_node(b, "Clip", n->name, in, 3, n->name);
  } else if (!strcmp(op, "maxpool") || !strcmp(op, "avgpool")) {
    int avg = !strcmp(op, "avgpool");
    *out = lb_ob_node(b, avg ? "AveragePool" : "MaxPool", n->name, in, 1, n->name);
    pool_attrs(b, n, avg);
  } else if (!strcmp(op, "gap")) {
    /* ONNX keeps (N, C, 1, 1); lowbit's gap gives (N, C) */
    const char *p = lb_ob_node(b, "GlobalAveragePool", n->name, in, 1, "gap");
    in[0] = p;
    *out = lb_ob_node(b, "Flatten", n->name, in, 1, n->name);
    lb_ob_attr_int(b, "axis", 1);
  } else if (!strcmp(op, "add")) {
    in[1] = names[n->inputs[1]];
    *out = lb_ob_node(b, "Add", n->name, in, 2, n->name);
  } else if (!strcmp(op, "flatten")) {
    *out = lb_ob_node(b, "Flatten", n->name, in, 1, n->name);
    lb_ob_attr_int(b, "axis", 1);
  } else if (!strcmp(op, "slice") || !strcmp(op, "pad") || !strcmp(op, "concat") || !strcmp(op, "reshape")) {
    export_shape_op(b, g, n, names, out);
  } else if (!strcmp(op, "dropout")) {
    *out = x; /* the identity in evaluation */
  } else {
    return lb_fail(LB_ERR_UNSUPPORTED, "onnx export: node '%s' has op '%s', which the float exporter does not map",
                   n->name, op);
  }
  return LB_OK;
}

lb_status lb_export_onnx_float(const lb_graph *g, const char *path) {
  if (!g || !path) return lb_fail(LB_ERR_ARG, "onnx export: no graph or path");
  if (!g->values) return lb_fail(LB_ERR_STATE, "onnx export: the graph has no parameter values");
  if (lb_graph_is_quantized(g))
    return lb_fail(LB_ERR_UNSUPPORTED,
                   "onnx export: '%s' holds quantizers; deploy it (lowbit deploy) and export the integer program", path);
  const char **names = calloc((size_t)g->n_nodes, sizeof *names);
  if (!names) return lb_fail(LB_ERR_NOMEM, "onnx export: out of memory");
  lb_ob *b = NULL;
  lb_status s = lb_ob_create(&b, g->model, EXPORT_OPSET);
  if (!s) {
    const lb_shape *is = &g->nodes[0].shape;
    int64_t dims[LB_MAX_DIMS + 1] = {-1};
    for (int i = 0; i < is->ndim; i++) dims[i + 1] = is->d[i];
    names[0] = lb_ob_name(b, "input");
    lb_ob_input(b, names[0], LB_OT_FLOAT, dims, is->ndim + 1);
  }
  for (int i = 1; !s && i < g->n_nodes; i++) s = export_node(b, g, &g->nodes[i], names, &names[i]);
  if (!s) {
    const lb_shape *os = &g->nodes[g->output].shape;
    int64_t dims[LB_MAX_DIMS + 1] = {-1};
    for (int i = 0; i < os->ndim; i++) dims[i + 1] = os->d[i];
    /* the graph output must be a node output, not the input passed through a dropout */
    const char *in[1] = {names[g->output]};
    const char *y = lb_ob_node(b, "Identity", "output", in, 1, "output");
    lb_ob_output(b, y, LB_OT_FLOAT, dims, os->ndim + 1);
    s = lb_ob_write(b, path);
  }
  lb_ob_free(b);
  free(names);
  return s;
}
