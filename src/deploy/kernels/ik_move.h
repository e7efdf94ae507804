/* Data-movement kernels on codes (one byte per element, int8 or uint8 alike): the program's
 * SLICE, PAD and CONCAT steps. Private to deploy (engine.c, tests). Each has a plain element
 * loop (_ref) beside the row-copy version; test_deploy_move.c checks they agree byte for byte.
 * Tensors are row-major; "outer" folds the batch and every dimension before the axis, "inner"
 * every dimension after it. No allocation. */
#ifndef LOWBIT_IK_MOVE_H
#define LOWBIT_IK_MOVE_H

#include <stdint.h>

/* x: (outer, d, inner) -> y: (outer, count, inner), y[o,i,r] = x[o, start + i*step, r]. */
void lb_ik_slice(int64_t outer, int64_t d, int64_t inner, int64_t start, int64_t step, int64_t count,
                 const uint8_t *x, uint8_t *y);
void lb_ik_slice_ref(int64_t outer, int64_t d, int64_t inner, int64_t start, int64_t step, int64_t count,
                     const uint8_t *x, uint8_t *y);
/* x: (outer, d, inner) -> y: (outer, begin + d + end, inner), the new cells hold `fill`. */
void lb_ik_pad(int64_t outer, int64_t d, int64_t inner, int64_t begin, int64_t end, uint8_t fill, const uint8_t *x,
               uint8_t *y);
void lb_ik_pad_ref(int64_t outer, int64_t d, int64_t inner, int64_t begin, int64_t end, uint8_t fill,
                   const uint8_t *x, uint8_t *y);
/* n inputs x[j]: (outer, d[j], inner) -> y: (outer, sum d, inner). */
void lb_ik_concat(int64_t outer, int64_t inner, int n, const int64_t *d, const uint8_t *const *x, uint8_t *y);
void lb_ik_concat_ref(int64_t outer, int64_t inner, int n, const int64_t *d, const uint8_t *const *x, uint8_t *y);

#endif
