/* qconv2d: conv2d (attributes LB_CONV_*, same parameters and init as the float op) whose
 * weight passes through the weight quantizer at ia[LB_QCONV_IA..], fa[0]. */
#include "graph/ops.h"
#include "lowbit/nn.h"
#include "quant/qops.h"
#include "quant/weight_quant.h"

static lb_shape qconv_wshape(const lb_conv2d_desc *d) { return lb_shape4(d->k, d->c / d->groups, d->r, d->s); }

static lb_status qconv_infer(lb_graph *g, int idx) {
  lb_node *n = &g->nodes[idx];
  const lb_shape *in = lb_in_shape(g, n, 0);
  if (in->ndim != 3) return lb_fail(LB_ERR_SHAPE, "node '%s' (qconv2d): input must be (C,H,W)", n->name);
  lb_conv2d_desc d = lb_node_conv_desc(n, in, 1);
  if (lb_conv2d_init(&d)) return lb_fail(LB_ERR_SHAPE, "node '%s' (qconv2d): %s", n->name, lb_last_error());
  n->shape = lb_shape3(d.k, d.oh, d.ow);
  int64_t fan = (int64_t)(d.c / d.groups) * d.r * d.s;
  lb_status s = lb_graph_declare_param(g, idx, "weight", qconv_wshape(&d), 1, 1, LB_INIT_KAIMING_NORMAL, fan);
  if (!s && n->ia[LB_CONV_BIAS]) s = lb_graph_declare_param(g, idx, "bias", lb_shape1(d.k), 1, 0, LB_INIT_UNIFORM_FAN, fan);
  if (!s) s = lb_wquant_declare(g, idx, LB_QCONV_IA, "qconv2d", qconv_wshape(&d));
  return s;
}

static size_t qconv_scratch(const lb_graph *g, const lb_node *n, int batch) {
  lb_conv2d_desc d = lb_node_conv_desc(n, lb_in_shape(g, n, 0), batch);
  lb_shape ws = qconv_wshape(&d);
  return lb_wquant_scratch_floats(lb_shape_numel(&ws), d.k) + lb_node_conv_scratch_floats(g, n, batch);
}

/* Descriptor, quantizer and the float kernel's scratch of one call. */
typedef struct qconv_call {
  lb_conv2d_desc d;
  lb_wquant q;
  float *kscratch;
} qconv_call;

static qconv_call qconv_setup(const lb_node *n, const lb_op_ctx *c) {
  qconv_call k;
  k.d = lb_node_conv_desc_run(n, c); /* with the layouts the executor chose */
  lb_wquant_get(n, LB_QCONV_IA, qconv_wshape(&k.d), n->ia[LB_CONV_BIAS] != 0, &k.q);
  k.kscratch = c->scratch + lb_wquant_scratch_of(&k.q);
  return k;
}

static void qconv_forward(const lb_node *n, lb_op_ctx *c) {
  qconv_call k = qconv_setup(n, c);
  const float *wq = lb_wquant_forward(&k.q, c);
  lb_conv2d_forward(&k.d, c->in[0], wq, n->ia[LB_CONV_BIAS] ? c->param[1] : NULL, c->out, k.kscratch);
}

static void qconv_backward(const lb_node *n, lb_op_ctx *c) {
  qconv_call k = qconv_setup(n, c);
  const float *wq = lb_wquant_forward(&k.q, c); /* the scratch does not survive other nodes */
  float *dwq = lb_wquant_dwq(&k.q, c);
  lb_conv2d_backward_ex(&k.d, c->in[0], wq, c->dout, c->din[0], c->din_fresh & 1, dwq,
                        n->ia[LB_CONV_BIAS] ? c->dparam[1] : NULL, k.kscratch);
  lb_wquant_backward(&k.q, c, dwq);
}

static int64_t qconv_macs(const lb_graph *g, const lb_node *n) {
  const lb_shape *in = lb_in_shape(g, n, 0);
  return lb_shape_numel(&n->shape) * (in->d[0] / n->ia[LB_CONV_GROUPS]) * n->ia[LB_CONV_R] * n->ia[LB_CONV_S];
}

const lb_op_def lb_op_qconv2d = {
    .name = "qconv2d", .min_inputs = 1, .max_inputs = 1, .infer = qconv_infer, .scratch_floats = qconv_scratch,
    .forward = qconv_forward, .backward = qconv_backward, .macs = qconv_macs, .backward_assigns = 1,
    .takes_nchw16c = lb_node_conv_takes_nchw16c,
};
