/* Graph ops with weights: conv2d and linear. */
#include "graph/ops.h"
#include "lowbit/nn.h"

lb_conv2d_desc lb_node_conv_desc(const lb_node *n, const lb_shape *in, int batch) {
  lb_conv2d_desc d = {
      .n = batch, .c = (int)in->d[0], .h = (int)in->d[1], .w = (int)in->d[2],
      .k = n->ia[LB_CONV_K], .r = n->ia[LB_CONV_R], .s = n->ia[LB_CONV_S],
      .stride_h = n->ia[LB_CONV_SH], .stride_w = n->ia[LB_CONV_SW],
      .pad_h = n->ia[LB_CONV_PH], .pad_w = n->ia[LB_CONV_PW],
      .dil_h = n->ia[LB_CONV_DH], .dil_w = n->ia[LB_CONV_DW], .groups = n->ia[LB_CONV_GROUPS],
  };
  (void)lb_conv2d_init(&d); /* fills oh/ow; the node's infer has validated the attributes */
  return d;
}

static lb_status conv_infer(lb_graph *g, int idx) {
  lb_node *n = &g->nodes[idx];
  const lb_shape *in = lb_in_shape(g, n, 0);
  if (in->ndim != 3) return lb_fail(LB_ERR_SHAPE, "node '%s' (conv2d): input must be (C,H,W)", n->name);
  lb_conv2d_desc d = lb_node_conv_desc(n, in, 1);
  if (lb_conv2d_init(&d)) return lb_fail(LB_ERR_SHAPE, "node '%s' (conv2d): %s", n->name, lb_last_error());
  n->shape = lb_shape3(d.k, d.oh, d.ow);
  int64_t fan = (int64_t)(d.c / d.groups) * d.r * d.s;
  lb_status s = lb_graph_declare_param(g, idx, "weight", lb_shape4(d.k, d.c / d.groups, d.r, d.s), 1, 1,
                                       LB_INIT_KAIMING_NORMAL, fan);
  if (!s && n->ia[LB_CONV_BIAS]) s = lb_graph_declare_param(g, idx, "bias", lb_shape1(d.k), 1, 0, LB_INIT_UNIFORM_FAN, fan);
  return s;
}

/* The executor sizes scratch before it chooses layouts: the larger of the all-NCHW and the
 * nChw16c-where-possible needs (in practice equal: the kernels' own layouts do not change). */
size_t lb_node_conv_scratch_floats(const lb_graph *g, const lb_node *n, int batch) {
  lb_conv2d_desc d = lb_node_conv_desc(n, lb_in_shape(g, n, 0), batch);
  size_t need = lb_conv2d_scratch_floats(&d);
  if (lb_conv2d_takes_nchw16c(&d)) {
    d.x_layout = d.c % 16 == 0 ? LB_LAYOUT_NCHW16C : LB_LAYOUT_NCHW;
    d.y_layout = d.k % 16 == 0 ? LB_LAYOUT_NCHW16C : LB_LAYOUT_NCHW;
    const size_t blocked = lb_conv2d_scratch_floats(&d);
    if (blocked > need) need = blocked;
  }
  return need;
}

int lb_node_conv_takes_nchw16c(const lb_graph *g, const lb_node *n, int port) {
  lb_conv2d_desc d = lb_node_conv_desc(n, lb_in_shape(g, n, 0), 1);
  return port <= 0 && lb_conv2d_takes_nchw16c(&d);
}

lb_conv2d_desc lb_node_conv_desc_run(const lb_node *n, const lb_op_ctx *c) {
  lb_conv2d_desc d = lb_node_conv_desc(n, c->in_shape[0], c->batch);
  d.x_layout = c->in_layout[0];
  d.y_layout = c->out_layout;
  return d;
}

static size_t conv_scratch(const lb_graph *g, const lb_node *n, int batch) { return lb_node_conv_scratch_floats(g, n, batch); }

static void conv_forward(const lb_node *n, lb_op_ctx *c) {
  lb_conv2d_desc d = lb_node_conv_desc_run(n, c);
  lb_conv2d_forward(&d, c->in[0], c->param[0], n->ia[LB_CONV_BIAS] ? c->param[1] : NULL, c->out, c->scratch);
}

static void conv_backward(const lb_node *n, lb_op_ctx *c) {
  lb_conv2d_desc d = lb_node_conv_desc_run(n, c);
  lb_conv2d_backward_ex(&d, c->in[0], c->param[0], c->dout, c->din[0], c->din_fresh & 1, c->dparam[0],
                        n->ia[LB_CONV_BIAS] ? c->dparam[1] : NULL, c->scratch);
}

static int64_t conv_macs(const lb_graph *g, const lb_node *n) {
  const lb_shape *in = lb_in_shape(g, n, 0);
  int64_t per_out = (in->d[0] / n->ia[LB_CONV_GROUPS]) * n->ia[LB_CONV_R] * n->ia[LB_CONV_S];
  return lb_node_numel(n) * per_out;
}

const lb_op_def lb_op_conv2d = {
    .name = "conv2d", .min_inputs = 1, .max_inputs = 1, .infer = conv_infer, .scratch_floats = conv_scratch,
    .forward = conv_forward, .backward = conv_backward, .macs = conv_macs, .backward_assigns = 1,
    .takes_nchw16c = lb_node_conv_takes_nchw16c,
};

/* ---- linear: flattens its input per sample ---- */
static lb_status linear_infer(lb_graph *g, int idx) {
  lb_node *n = &g->nodes[idx];
  int64_t in = lb_shape_numel(lb_in_shape(g, n, 0));
  int out = n->ia[LB_LINEAR_OUT];
  if (out <= 0) return lb_fail(LB_ERR_ARG, "node '%s' (linear): output features must be positive, got %d", n->name, out);
  if (in > (1 << 28)) return lb_fail(LB_ERR_SHAPE, "node '%s' (linear): input too large", n->name);
  n->shape = lb_shape1(out);
  lb_status s = lb_graph_declare_param(g, idx, "weight", lb_shape2(out, in), 1, 1, LB_INIT_UNIFORM_FAN, in);
  if (!s && n->ia[LB_LINEAR_BIAS]) s = lb_graph_declare_param(g, idx, "bias", lb_shape1(out), 1, 0, LB_INIT_UNIFORM_FAN, in);
  return s;
}

static void linear_forward(const lb_node *n, lb_op_ctx *c) {
  int in = (int)lb_shape_numel(c->in_shape[0]);
  lb_linear_forward(c->batch, in, n->ia[LB_LINEAR_OUT], c->in[0], c->param[0], n->ia[LB_LINEAR_BIAS] ? c->param[1] : NULL,
                    c->out);
}

static void linear_backward(const lb_node *n, lb_op_ctx *c) {
  int in = (int)lb_shape_numel(c->in_shape[0]);
  lb_linear_backward(c->batch, in, n->ia[LB_LINEAR_OUT], c->in[0], c->param[0], c->dout, c->din[0], c->dparam[0],
                     n->ia[LB_LINEAR_BIAS] ? c->dparam[1] : NULL);
}

static int64_t linear_macs(const lb_graph *g, const lb_node *n) {
  return lb_shape_numel(lb_in_shape(g, n, 0)) * n->ia[LB_LINEAR_OUT];
}

const lb_op_def lb_op_linear = {
    .name = "linear", .min_inputs = 1, .max_inputs = 1, .infer = linear_infer, .forward = linear_forward,
    .backward = linear_backward, .macs = linear_macs,
};
