/* Built-in op definitions (internal to the graph part). */
#ifndef LOWBIT_GRAPH_OPS_H
#define LOWBIT_GRAPH_OPS_H

#include "lowbit/graph.h"
#include "lowbit/nn.h"

extern const lb_op_def lb_op_input, lb_op_conv2d, lb_op_linear, lb_op_batchnorm, lb_op_relu, lb_op_relu6,
    lb_op_hardtanh, lb_op_maxpool, lb_op_avgpool, lb_op_gap, lb_op_add, lb_op_flatten, lb_op_dropout;

/* takes_nchw16c for ops whose kernels run on either layout at every port (element-wise ops,
 * batch norm, global average pooling): the executor still keeps NCHW unless shapes allow. */
int lb_op_takes_nchw16c_any(const lb_graph *g, const lb_node *n, int port);

/* Shape of node n's input i (per sample). */
static inline const lb_shape *lb_in_shape(const lb_graph *g, const lb_node *n, int i) {
  return &g->nodes[n->inputs[i]].shape;
}

/* Per-sample element count of a node's output. */
static inline int64_t lb_node_numel(const lb_node *n) { return lb_shape_numel(&n->shape); }

/* The convolution descriptor of a node with the conv2d attribute layout (LB_CONV_*), for an
 * input of per-sample shape `in` at a batch size; oh/ow filled. Shared by every op that runs a
 * convolution (conv2d here, the quantized variants in the quant part). */
lb_conv2d_desc lb_node_conv_desc(const lb_node *n, const lb_shape *in, int batch);
/* The same for a call: the batch and the layouts the executor chose (lb_op_ctx). */
lb_conv2d_desc lb_node_conv_desc_run(const lb_node *n, const lb_op_ctx *c);
/* takes_nchw16c of convolution nodes: oneDNN runs the shape (either side may be nChw16c). */
int lb_node_conv_takes_nchw16c(const lb_graph *g, const lb_node *n, int port);
/* Float scratch of a convolution node at a batch, whichever layouts the executor picks. */
size_t lb_node_conv_scratch_floats(const lb_graph *g, const lb_node *n, int batch);

#endif
