/* Graph pooling ops: maxpool, avgpool, global average pool. */
#include "graph/ops.h"
#include "lowbit/nn.h"

static lb_pool_desc pool_desc(const lb_node *n, const lb_shape *in, int batch) {
  lb_pool_desc d = {
      .n = batch, .c = (int)in->d[0], .h = (int)in->d[1], .w = (int)in->d[2],
      .kh = n->ia[LB_POOL_KH], .kw = n->ia[LB_POOL_KW], .stride_h = n->ia[LB_POOL_SH], .stride_w = n->ia[LB_POOL_SW],
      .pad_h = n->ia[LB_POOL_PH], .pad_w = n->ia[LB_POOL_PW], .count_include_pad = n->ia[LB_POOL_COUNT_PAD],
      .ceil_mode = n->ia[LB_POOL_CEIL],
  };
  lb_pool_init(&d);
  return d;
}

static lb_status pool_infer(lb_graph *g, int idx) {
  lb_node *n = &g->nodes[idx];
  const lb_shape *in = lb_in_shape(g, n, 0);
  if (in->ndim != 3) return lb_fail(LB_ERR_SHAPE, "node '%s' (%s): input must be (C,H,W)", n->name, n->op->name);
  if (n->ia[LB_POOL_SH] == 0 && n->ia[LB_POOL_SW] == 0) { /* stride defaults to the window, as PyTorch */
    n->ia[LB_POOL_SH] = n->ia[LB_POOL_KH];
    n->ia[LB_POOL_SW] = n->ia[LB_POOL_KW];
  }
  lb_pool_desc d = pool_desc(n, in, 1);
  if (lb_pool_init(&d)) return lb_fail(LB_ERR_SHAPE, "node '%s' (%s): %s", n->name, n->op->name, lb_last_error());
  n->shape = lb_shape3(d.c, d.oh, d.ow);
  return LB_OK;
}

static size_t maxpool_aux(const lb_graph *g, const lb_node *n, int batch) {
  (void)g;
  return (size_t)batch * (size_t)lb_node_numel(n) * sizeof(int32_t);
}

static void maxpool_forward(const lb_node *n, lb_op_ctx *c) {
  lb_pool_desc d = pool_desc(n, c->in_shape[0], c->batch);
  lb_maxpool_forward(&d, c->in[0], c->out, c->aux);
}

static void maxpool_backward(const lb_node *n, lb_op_ctx *c) {
  if (!c->din[0]) return;
  lb_pool_desc d = pool_desc(n, c->in_shape[0], c->batch);
  lb_maxpool_backward(&d, c->dout, c->aux, c->din[0]);
}

const lb_op_def lb_op_maxpool = {
    .name = "maxpool", .min_inputs = 1, .max_inputs = 1, .infer = pool_infer, .aux_bytes = maxpool_aux,
    .forward = maxpool_forward, .backward = maxpool_backward,
};

static void avgpool_forward(const lb_node *n, lb_op_ctx *c) {
  lb_pool_desc d = pool_desc(n, c->in_shape[0], c->batch);
  lb_avgpool_forward(&d, c->in[0], c->out);
}

static void avgpool_backward(const lb_node *n, lb_op_ctx *c) {
  if (!c->din[0]) return;
  lb_pool_desc d = pool_desc(n, c->in_shape[0], c->batch);
  lb_avgpool_backward(&d, c->dout, c->din[0]);
}

const lb_op_def lb_op_avgpool = {
    .name = "avgpool", .min_inputs = 1, .max_inputs = 1, .infer = pool_infer,
    .forward = avgpool_forward, .backward = avgpool_backward,
};

/* ---- global average pool: (C,H,W) -> (C) ---- */
static lb_status gap_infer(lb_graph *g, int idx) {
  lb_node *n = &g->nodes[idx];
  const lb_shape *in = lb_in_shape(g, n, 0);
  if (in->ndim != 3) return lb_fail(LB_ERR_SHAPE, "node '%s' (gap): input must be (C,H,W)", n->name);
  n->shape = lb_shape1(in->d[0]);
  return LB_OK;
}

static void gap_forward(const lb_node *n, lb_op_ctx *c) {
  (void)n;
  const lb_shape *in = c->in_shape[0];
  (c->in_layout[0] == LB_LAYOUT_NCHW16C ? lb_gap_forward_nchw16c
                                        : lb_gap_forward)(c->batch, (int)in->d[0], (int)(in->d[1] * in->d[2]), c->in[0], c->out);
}

static void gap_backward(const lb_node *n, lb_op_ctx *c) {
  (void)n;
  if (!c->din[0]) return;
  const lb_shape *in = c->in_shape[0];
  (c->in_layout[0] == LB_LAYOUT_NCHW16C ? lb_gap_backward_nchw16c
                                        : lb_gap_backward)(c->batch, (int)in->d[0], (int)(in->d[1] * in->d[2]), c->dout, c->din[0]);
}

const lb_op_def lb_op_gap = {
    .name = "gap", .min_inputs = 1, .max_inputs = 1, .infer = gap_infer, .forward = gap_forward, .backward = gap_backward,
    .takes_nchw16c = lb_op_takes_nchw16c_any,
};
