/* Graph ops with training-time behaviour: batch normalization and dropout. */
#include <math.h>
#include <string.h>

#include "graph/ops.h"
#include "lowbit/nn.h"

/* BN over (C,H,W) per channel, or over (F) per feature. */
static lb_bn_desc bn_desc(const lb_node *n, const lb_shape *in, int batch) {
  lb_bn_desc d = {.n = batch, .c = (int)in->d[0], .hw = (int)(lb_shape_numel(in) / in->d[0]),
                  .eps = n->fa[LB_BN_EPS], .momentum = n->fa[LB_BN_MOMENTUM]};
  return d;
}

static lb_status bn_infer(lb_graph *g, int idx) {
  lb_node *n = &g->nodes[idx];
  const lb_shape *in = lb_in_shape(g, n, 0);
  if (n->fa[LB_BN_EPS] == 0.0f && n->fa[LB_BN_MOMENTUM] == 0.0f) { /* unset: PyTorch defaults */
    n->fa[LB_BN_EPS] = 1e-5f;
    n->fa[LB_BN_MOMENTUM] = 0.1f;
  }
  if (in->ndim != 3 && in->ndim != 1) return lb_fail(LB_ERR_SHAPE, "node '%s' (batchnorm): input must be (C,H,W) or (F)", n->name);
  lb_bn_desc d = bn_desc(n, in, 2);
  if (lb_bn_init(&d)) return lb_fail(LB_ERR_ARG, "node '%s' (batchnorm): %s", n->name, lb_last_error());
  n->shape = *in;
  lb_shape c = lb_shape1(in->d[0]);
  lb_status s = lb_graph_declare_param(g, idx, "weight", c, 1, 0, LB_INIT_ONES, 0);
  if (!s) s = lb_graph_declare_param(g, idx, "bias", c, 1, 0, LB_INIT_ZEROS, 0);
  if (!s) s = lb_graph_declare_param(g, idx, "running_mean", c, 0, 0, LB_INIT_ZEROS, 0);
  if (!s) s = lb_graph_declare_param(g, idx, "running_var", c, 0, 0, LB_INIT_ONES, 0);
  return s;
}

static size_t bn_aux(const lb_graph *g, const lb_node *n, int batch) {
  (void)g;
  (void)batch;
  return 2 * (size_t)n->shape.d[0] * sizeof(float); /* saved mean and 1/std */
}

static void bn_forward(const lb_node *n, lb_op_ctx *c) {
  lb_bn_desc d = bn_desc(n, c->in_shape[0], c->batch);
  d.layout = c->in_layout[0];
  float *save = c->aux;
  if (c->training)
    lb_bn_forward_train(&d, c->in[0], c->param[0], c->param[1], c->param[2], c->param[3], c->out, save, save + d.c);
  else
    lb_bn_forward_eval(&d, c->in[0], c->param[0], c->param[1], c->param[2], c->param[3], c->out);
}

static void bn_backward(const lb_node *n, lb_op_ctx *c) {
  lb_bn_desc d = bn_desc(n, c->in_shape[0], c->batch);
  d.layout = c->in_layout[0];
  const float *save = c->aux;
  lb_bn_backward_ex(&d, c->in[0], NULL, c->param[0], save, save + d.c, c->dout, c->din[0], c->din_fresh & 1, c->dparam[0],
                    c->dparam[1]);
}

static void bn_relu_forward(const lb_node *n, lb_op_ctx *c) {
  lb_bn_desc d = bn_desc(n, c->in_shape[0], c->batch);
  d.layout = c->in_layout[0];
  float *save = c->aux;
  if (c->training)
    lb_bn_relu_forward_train(&d, c->in[0], c->param[0], c->param[1], c->param[2], c->param[3], c->out, save, save + d.c);
  else
    lb_bn_relu_forward_eval(&d, c->in[0], c->param[0], c->param[1], c->param[2], c->param[3], c->out);
}

static void bn_relu_backward(const lb_node *n, lb_op_ctx *c) {
  lb_bn_desc d = bn_desc(n, c->in_shape[0], c->batch);
  d.layout = c->in_layout[0];
  const float *save = c->aux;
  lb_bn_backward_ex(&d, c->in[0], c->out, c->param[0], save, save + d.c, c->dout, c->din[0], c->din_fresh & 1, c->dparam[0],
                    c->dparam[1]);
}

const lb_op_def lb_op_batchnorm = {
    .name = "batchnorm", .min_inputs = 1, .max_inputs = 1, .infer = bn_infer, .aux_bytes = bn_aux,
    .forward = bn_forward, .backward = bn_backward, .forward_relu = bn_relu_forward, .backward_relu = bn_relu_backward,
    .takes_nchw16c = lb_op_takes_nchw16c_any, .same_layout = 1,
    .backward_assigns = 1,
};

/* ---- dropout: identity unless training ---- */
static lb_status dropout_infer(lb_graph *g, int idx) {
  lb_node *n = &g->nodes[idx];
  float p = n->fa[LB_DROPOUT_P];
  if (!(p >= 0.0f && p < 1.0f)) return lb_fail(LB_ERR_ARG, "node '%s' (dropout): p must be in [0,1), got %g", n->name, (double)p);
  n->shape = *lb_in_shape(g, n, 0);
  return LB_OK;
}

static size_t dropout_aux(const lb_graph *g, const lb_node *n, int batch) {
  (void)g;
  return (size_t)batch * (size_t)lb_node_numel(n);
}

static void dropout_forward(const lb_node *n, lb_op_ctx *c) {
  int64_t count = (int64_t)c->batch * lb_node_numel(n);
  if (c->training && n->fa[LB_DROPOUT_P] > 0.0f)
    lb_dropout_forward(count, n->fa[LB_DROPOUT_P], c->in[0], c->out, c->aux, c->rng);
  else {
    memcpy(c->out, c->in[0], (size_t)count * sizeof(float));
    memset(c->aux, 1, (size_t)count); /* all kept: backward is the identity */
  }
}

static void dropout_backward(const lb_node *n, lb_op_ctx *c) {
  if (!c->din[0]) return;
  int64_t count = (int64_t)c->batch * lb_node_numel(n);
  lb_dropout_backward(count, n->fa[LB_DROPOUT_P], c->aux, c->dout, c->din[0]);
}

const lb_op_def lb_op_dropout = {
    .name = "dropout", .min_inputs = 1, .max_inputs = 1, .infer = dropout_infer, .aux_bytes = dropout_aux,
    .forward = dropout_forward, .backward = dropout_backward,
};
