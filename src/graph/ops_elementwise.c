/* Graph ops without parameters that keep or merely reshape their input: input, activations,
 * residual add, flatten. The element-wise ones run on any layout (they never look at where an
 * element sits); flatten exposes the memory order, so it stays NCHW. */
#include <string.h>

#include "graph/ops.h"
#include "lowbit/nn.h"

/* The graph input: the executor points its output at the caller's batch. */
static lb_status input_infer(lb_graph *g, int idx) {
  (void)g;
  (void)idx;
  return LB_OK;
}
static void input_forward(const lb_node *n, lb_op_ctx *c) {
  (void)n;
  (void)c;
}
const lb_op_def lb_op_input = {.name = "input", .infer = input_infer, .forward = input_forward};

int lb_op_takes_nchw16c_any(const lb_graph *g, const lb_node *n, int port) {
  (void)g;
  (void)n;
  (void)port;
  return 1;
}

static lb_status same_shape_infer(lb_graph *g, int idx) {
  lb_node *n = &g->nodes[idx];
  n->shape = *lb_in_shape(g, n, 0);
  return LB_OK;
}

static int64_t count(const lb_node *n, const lb_op_ctx *c) { return (int64_t)c->batch * lb_node_numel(n); }

static void relu_forward(const lb_node *n, lb_op_ctx *c) { lb_relu_forward(count(n, c), c->in[0], c->out); }
static void relu_backward(const lb_node *n, lb_op_ctx *c) {
  if (c->din[0]) lb_relu_backward(count(n, c), c->in[0], c->dout, c->din[0]);
}
const lb_op_def lb_op_relu = {.name = "relu", .min_inputs = 1, .max_inputs = 1, .infer = same_shape_infer,
                              .forward = relu_forward, .backward = relu_backward,
                              .takes_nchw16c = lb_op_takes_nchw16c_any, .same_layout = 1};

/* relu6 and hardtanh share kernels; relu6 fixes the bounds at [0, 6]. */
static lb_status relu6_infer(lb_graph *g, int idx) {
  g->nodes[idx].fa[LB_HARDTANH_LO] = 0.0f;
  g->nodes[idx].fa[LB_HARDTANH_HI] = 6.0f;
  return same_shape_infer(g, idx);
}
static lb_status hardtanh_infer(lb_graph *g, int idx) {
  lb_node *n = &g->nodes[idx];
  if (!(n->fa[LB_HARDTANH_LO] < n->fa[LB_HARDTANH_HI]))
    return lb_fail(LB_ERR_ARG, "node '%s' (hardtanh): needs min < max, got [%g, %g]", n->name,
                   (double)n->fa[LB_HARDTANH_LO], (double)n->fa[LB_HARDTANH_HI]);
  return same_shape_infer(g, idx);
}
static void hardtanh_forward(const lb_node *n, lb_op_ctx *c) {
  lb_hardtanh_forward(count(n, c), n->fa[LB_HARDTANH_LO], n->fa[LB_HARDTANH_HI], c->in[0], c->out);
}
static void hardtanh_backward(const lb_node *n, lb_op_ctx *c) {
  if (c->din[0]) lb_hardtanh_backward(count(n, c), n->fa[LB_HARDTANH_LO], n->fa[LB_HARDTANH_HI], c->in[0], c->dout, c->din[0]);
}
const lb_op_def lb_op_relu6 = {.name = "relu6", .min_inputs = 1, .max_inputs = 1, .infer = relu6_infer,
                               .forward = hardtanh_forward, .backward = hardtanh_backward,
                               .takes_nchw16c = lb_op_takes_nchw16c_any, .same_layout = 1};
const lb_op_def lb_op_hardtanh = {.name = "hardtanh", .min_inputs = 1, .max_inputs = 1, .infer = hardtanh_infer,
                                  .forward = hardtanh_forward, .backward = hardtanh_backward,
                               .takes_nchw16c = lb_op_takes_nchw16c_any, .same_layout = 1};

/* ---- residual add of two same-shaped inputs ---- */
static lb_status add_infer(lb_graph *g, int idx) {
  lb_node *n = &g->nodes[idx];
  const lb_shape *a = lb_in_shape(g, n, 0), *b = lb_in_shape(g, n, 1);
  if (!lb_shape_equal(a, b)) {
    char sa[64], sb[64];
    return lb_fail(LB_ERR_SHAPE, "node '%s' (add): input shapes differ: %s vs %s", n->name, lb_shape_str(a, sa, sizeof sa),
                   lb_shape_str(b, sb, sizeof sb));
  }
  n->shape = *a;
  return LB_OK;
}
static void add_forward(const lb_node *n, lb_op_ctx *c) { lb_add_forward(count(n, c), c->in[0], c->in[1], c->out); }
static void add_backward(const lb_node *n, lb_op_ctx *c) {
  lb_add_backward_ex(count(n, c), NULL, c->dout, c->din[0], c->din_fresh & 1, c->din[1], (c->din_fresh >> 1) & 1);
}
static void add_relu_forward(const lb_node *n, lb_op_ctx *c) { lb_add_relu_forward(count(n, c), c->in[0], c->in[1], c->out); }
static void add_relu_backward(const lb_node *n, lb_op_ctx *c) {
  lb_add_backward_ex(count(n, c), c->out, c->dout, c->din[0], c->din_fresh & 1, c->din[1], (c->din_fresh >> 1) & 1);
}
const lb_op_def lb_op_add = {.name = "add", .min_inputs = 2, .max_inputs = 2, .infer = add_infer,
                             .forward = add_forward, .backward = add_backward,
                             .forward_relu = add_relu_forward, .backward_relu = add_relu_backward,
                             .backward_assigns = 1, .takes_nchw16c = lb_op_takes_nchw16c_any, .same_layout = 1};

/* ---- flatten: (C,H,W) -> (C*H*W); the bytes do not move ---- */
static lb_status flatten_infer(lb_graph *g, int idx) {
  lb_node *n = &g->nodes[idx];
  n->shape = lb_shape1(lb_shape_numel(lb_in_shape(g, n, 0)));
  return LB_OK;
}
static void flatten_forward(const lb_node *n, lb_op_ctx *c) {
  memcpy(c->out, c->in[0], (size_t)count(n, c) * sizeof(float));
}
static void flatten_backward(const lb_node *n, lb_op_ctx *c) {
  if (c->din[0]) lb_add_backward(count(n, c), c->dout, c->din[0], NULL);
}
const lb_op_def lb_op_flatten = {.name = "flatten", .min_inputs = 1, .max_inputs = 1, .infer = flatten_infer,
                                 .forward = flatten_forward, .backward = flatten_backward};
