/* Shape ops: data movement that imported networks contain (ONNX Slice, Pad, Concat, Reshape).
 * Attribute layouts (indices into lb_node.ia / fa); all axes and dims are per sample (the batch
 * dimension is never sliced, padded, concatenated or reshaped). On integer codes they are pure
 * data movement; pad fills with the value that represents `value` (the zero point for 0). */
#ifndef LOWBIT_GRAPH_OPS_SHAPE_H
#define LOWBIT_GRAPH_OPS_SHAPE_H

#include "lowbit/graph.h"

/* slice: y[..., i, ...] = x[..., start + i*step, ...] for i < count along `axis`; step != 0 (may
 * be negative), every index in range. */
enum { LB_SLICE_AXIS, LB_SLICE_START, LB_SLICE_STEP, LB_SLICE_COUNT };
/* pad: ia[LB_PAD_BEGIN + k], ia[LB_PAD_END + k] >= 0 for per-sample dim k < 5; fa[LB_PAD_VALUE]. */
#define LB_PAD_MAX_DIMS 5
enum { LB_PAD_BEGIN = 0, LB_PAD_END = LB_PAD_MAX_DIMS };
enum { LB_PAD_VALUE };
/* concat: 2..4 inputs, equal shapes except along axis. */
enum { LB_CONCAT_AXIS };
/* reshape: the per-sample shape ia[LB_RESHAPE_D0 .. + ndim), same element count; bytes do not move. */
enum { LB_RESHAPE_NDIM, LB_RESHAPE_D0 };
#define LB_RESHAPE_MAX_DIMS 5

extern const lb_op_def lb_op_slice, lb_op_pad, lb_op_concat, lb_op_reshape;

#endif
