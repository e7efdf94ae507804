/* Internal to the quant part: the graph ops it registers, and shared helpers. */
#ifndef LOWBIT_QUANT_QOPS_H
#define LOWBIT_QUANT_QOPS_H

#include "lowbit/qgraph.h"

extern const lb_op_def lb_op_fakequant; /* op_fakequant.c */
extern const lb_op_def lb_op_qconv2d;   /* op_qconv.c */
extern const lb_op_def lb_op_qlinear;   /* op_qlinear.c */
extern const lb_op_def lb_op_qconvbn2d; /* op_qconvbn.c */

#endif
