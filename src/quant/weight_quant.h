/* The weight quantizer shared by qconv2d and qlinear (internal to the quant part).
 *
 * A node with a weight quantizer declares, after "weight" and the optional "bias", the
 * parameters "w_scale" and "w_zero" (K values for per-channel specs, else 1). Its scratch is
 * laid out as [wq | dwq | effective scales, signs, scale gradients | the float kernel's
 * scratch], each part padded to 64 bytes so the kernel's scratch keeps the arena's alignment. */
#ifndef LOWBIT_QUANT_WEIGHT_QUANT_H
#define LOWBIT_QUANT_WEIGHT_QUANT_H

#include "lowbit/qgraph.h"

struct lb_wquant;
typedef struct lb_wquant {
  lb_qcfg cfg;
  int enabled;    /* 0: identity, the op is exactly its float twin */
  lb_shape shape; /* the weight's shape, (K, ...) */
  int64_t numel;
  int ps;         /* index of w_scale among the node's parameters; w_zero is ps + 1 */
} lb_wquant;

/* For infer, after "weight" (and "bias") are declared: unpack ia[ia_base..] and fa[0], check the
 * spec against the weight shape and declare w_scale / w_zero. Errors name the node and `op`. */
lb_status lb_wquant_declare(lb_graph *g, int node, int ia_base, const char *op, lb_shape wshape);
/* For forward/backward: the quantizer of a node whose infer succeeded. */
void lb_wquant_get(const lb_node *n, int ia_base, lb_shape wshape, int has_bias, lb_wquant *q);
/* Floats the quantizer needs for a weight of `weight_numel` values and `channels` output
 * channels (wq, dwq and the effective scales, padded); the float kernel's scratch starts there. */
size_t lb_wquant_scratch_floats(int64_t weight_numel, int64_t channels);
/* The same for a quantizer from lb_wquant_get. */
size_t lb_wquant_scratch_of(const struct lb_wquant *q);

/* The weight the float kernel sees: the parameter itself when disabled, else the quantized
 * weight written to the start of c->scratch. */
const float *lb_wquant_forward(const lb_wquant *q, lb_op_ctx *c);
/* Where the float kernel's backward accumulates d(loss)/d(wq): the weight gradient itself when
 * disabled, else a zeroed scratch buffer (NULL if nothing needs it). */
float *lb_wquant_dwq(const lb_wquant *q, lb_op_ctx *c);
/* After the kernel's backward: map dwq to the weight and quantizer gradients (accumulating). */
void lb_wquant_backward(const lb_wquant *q, lb_op_ctx *c, const float *dwq);

/* The same for a weight that is not the node's parameter 0 (qconvbn2d quantizes the BN-folded
 * weight, a scratch tensor): forward_w quantizes w into the start of c->scratch (or returns w
 * when disabled); dwq_scratch is the zeroed d(loss)/d(wq) buffer after it; backward_w maps dwq
 * to dw (accumulating; dw may be NULL; the identity when disabled) and to the quantizer's
 * parameter gradients. */
const float *lb_wquant_forward_w(const lb_wquant *q, lb_op_ctx *c, const float *w);
float *lb_wquant_dwq_scratch(const lb_wquant *q, lb_op_ctx *c);
void lb_wquant_backward_w(const lb_wquant *q, lb_op_ctx *c, const float *w, const float *dwq, float *dw);

#endif
