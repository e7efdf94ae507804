/* qlinear: linear (attributes LB_LINEAR_*, flattens its input per sample; same parameters and
 * init as the float op) whose weight passes through the weight quantizer at
 * ia[LB_QLINEAR_IA..], fa[0]. */
#include "graph/ops.h"
#include "lowbit/nn.h"
#include "quant/qops.h"
#include "quant/weight_quant.h"

static lb_status qlinear_infer(lb_graph *g, int idx) {
  lb_node *n = &g->nodes[idx];
  int64_t in = lb_shape_numel(lb_in_shape(g, n, 0));
  int out = n->ia[LB_LINEAR_OUT];
  if (out <= 0)
    return lb_fail(LB_ERR_ARG, "node '%s' (qlinear): output features must be positive, got %d", n->name, out);
  if (in > (1 << 28)) return lb_fail(LB_ERR_SHAPE, "node '%s' (qlinear): input too large", n->name);
  n->shape = lb_shape1(out);
  lb_status s = lb_graph_declare_param(g, idx, "weight", lb_shape2(out, in), 1, 1, LB_INIT_UNIFORM_FAN, in);
  if (!s && n->ia[LB_LINEAR_BIAS]) s = lb_graph_declare_param(g, idx, "bias", lb_shape1(out), 1, 0, LB_INIT_UNIFORM_FAN, in);
  if (!s) s = lb_wquant_declare(g, idx, LB_QLINEAR_IA, "qlinear", lb_shape2(out, in));
  return s;
}

static size_t qlinear_scratch(const lb_graph *g, const lb_node *n, int batch) {
  (void)batch;
  return lb_wquant_scratch_floats(lb_shape_numel(lb_in_shape(g, n, 0)) * n->ia[LB_LINEAR_OUT], n->ia[LB_LINEAR_OUT]);
}

static void qlinear_get(const lb_node *n, const lb_op_ctx *c, int *in, lb_wquant *q) {
  *in = (int)lb_shape_numel(c->in_shape[0]);
  lb_wquant_get(n, LB_QLINEAR_IA, lb_shape2(n->ia[LB_LINEAR_OUT], *in), n->ia[LB_LINEAR_BIAS] != 0, q);
}

static void qlinear_forward(const lb_node *n, lb_op_ctx *c) {
  int in;
  lb_wquant q;
  qlinear_get(n, c, &in, &q);
  const float *wq = lb_wquant_forward(&q, c);
  lb_linear_forward(c->batch, in, n->ia[LB_LINEAR_OUT], c->in[0], wq, n->ia[LB_LINEAR_BIAS] ? c->param[1] : NULL,
                    c->out);
}

static void qlinear_backward(const lb_node *n, lb_op_ctx *c) {
  int in;
  lb_wquant q;
  qlinear_get(n, c, &in, &q);
  const float *wq = lb_wquant_forward(&q, c); /* the scratch does not survive other nodes */
  float *dwq = lb_wquant_dwq(&q, c);
  lb_linear_backward(c->batch, in, n->ia[LB_LINEAR_OUT], c->in[0], wq, c->dout, c->din[0], dwq,
                     n->ia[LB_LINEAR_BIAS] ? c->dparam[1] : NULL);
  lb_wquant_backward(&q, c, dwq);
}

static int64_t qlinear_macs(const lb_graph *g, const lb_node *n) {
  return lb_shape_numel(lb_in_shape(g, n, 0)) * n->ia[LB_LINEAR_OUT];
}

const lb_op_def lb_op_qlinear = {
    .name = "qlinear", .min_inputs = 1, .max_inputs = 1, .infer = qlinear_infer, .scratch_floats = qlinear_scratch,
    .forward = qlinear_forward, .backward = qlinear_backward, .macs = qlinear_macs,
};
