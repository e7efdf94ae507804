/* How a quantized tensor splits into parameters: every granularity is a tensor of
 * (outer, C, inner) where element (o, c, i) sits at (o*C + c)*inner + i and uses parameter c.
 * Per tensor: (1, 1, numel); per channel on axis a: (prod d[<a], d[a], prod d[>a]); per group:
 * (1, numel/group, group). Shared by the uniform and the binary fake-quant kernels. */
#ifndef LOWBIT_QUANT_FQ_DIMS_H
#define LOWBIT_QUANT_FQ_DIMS_H

#include "lowbit/quant.h"

typedef struct lb_fq_dims {
  int64_t outer, C, inner;
} lb_fq_dims;

static inline lb_fq_dims lb_fq_dims_of(const lb_qspec *q, const lb_shape *shape) {
  lb_fq_dims d = {1, 1, lb_shape_numel(shape)};
  if (q->gran == LB_QGRAN_CHANNEL) {
    d.C = shape->d[q->axis];
    d.inner = 1;
    for (int i = 0; i < q->axis; i++) d.outer *= shape->d[i];
    for (int i = q->axis + 1; i < shape->ndim; i++) d.inner *= shape->d[i];
  } else if (q->gran == LB_QGRAN_GROUP) {
    d.C = d.inner / q->group;
    d.inner = q->group;
  }
  return d;
}

#endif
