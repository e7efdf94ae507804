/* Data-movement kernels for the shape ops (slice, pad, concat) that imported networks contain.
 * Private to the library (graph/ops_shape.c uses them). Like every nn kernel they do not
 * allocate, and backward accumulates (dx += ...). Tensors are row-major; "outer" folds the batch
 * and every dimension before the one the op works on, "inner" every dimension after it. */
#ifndef LOWBIT_NN_SHAPE_H
#define LOWBIT_NN_SHAPE_H

#include <stdint.h>

/* x: (outer, d_in, inner) -> y: (outer, count, inner), y[o,i,r] = x[o, start + i*step, r]. */
void lb_slice_forward(int64_t outer, int64_t d_in, int64_t inner, int64_t start, int64_t step, int64_t count, const float *x,
                      float *y);
void lb_slice_backward(int64_t outer, int64_t d_in, int64_t inner, int64_t start, int64_t step, int64_t count, const float *dy,
                       float *dx);

/* Constant padding of `batch` samples of rank nd (1..6) with in_dims per sample: begin[k] and
 * end[k] >= 0 values of `value` before and after dimension k. y has the padded shape. */
void lb_pad_forward(int batch, int nd, const int64_t *in_dims, const int64_t *begin, const int64_t *end, float value,
                    const float *x, float *y);
void lb_pad_backward(int batch, int nd, const int64_t *in_dims, const int64_t *begin, const int64_t *end, const float *dy,
                     float *dx);

/* n inputs x[j]: (outer, d[j], inner) -> y: (outer, sum d, inner). Backward: dx[j] may be NULL. */
void lb_concat_forward(int64_t outer, int64_t inner, int n, const int64_t *d, const float *const *x, float *y);
void lb_concat_backward(int64_t outer, int64_t inner, int n, const int64_t *d, const float *dy, float *const *dx);

#endif
