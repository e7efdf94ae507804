/* Binary (+-1) fake quantization: the kernels behind lb_fq_* for specs with binary set
 * (lowbit/quant.h). Scales are the effective ones (positive). */
#ifndef LOWBIT_QUANT_BINARY_QUANT_H
#define LOWBIT_QUANT_BINARY_QUANT_H

#include "lowbit/quant.h"

/* y = s * (x >= 0 ? +1 : -1) (x and y may alias; NaN gives -s). */
void lb_fqb_forward(const lb_qspec *q, const lb_shape *shape, const float *x, const float *scale, float *y);
/* dx += dy * (|x| <= s) when dx is given; dscale += grad_factor * sum dy * (|x| <= s ? q - x/s : q)
 * when dscale is given (summed in double in a fixed order: the same bits for any thread count). */
void lb_fqb_backward(const lb_qspec *q, const lb_shape *shape, const float *x, const float *scale, const float *dy,
                     float grad_factor, float *dx, float *dscale);

#endif
