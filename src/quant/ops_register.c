/* Registration of the quant part's graph ops with the graph's op registry. */
#include "quant/qops.h"

lb_status lb_quant_register_ops(void) {
  lb_status s = lb_op_register(&lb_op_fakequant);
  if (!s) s = lb_op_register(&lb_op_qconv2d);
  if (!s) s = lb_op_register(&lb_op_qlinear);
  if (!s) s = lb_op_register(&lb_op_qconvbn2d);
  return s;
}

int lb_graph_is_quantized(const lb_graph *g) {
  for (int i = 0; i < g->n_nodes; i++) {
    const lb_op_def *op = g->nodes[i].op;
    if (op == &lb_op_fakequant || op == &lb_op_qconv2d || op == &lb_op_qlinear || op == &lb_op_qconvbn2d) return 1;
  }
  return 0;
}
