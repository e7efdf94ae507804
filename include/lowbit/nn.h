/* lowbit nn: float ops as forward/backward pairs on plain pointers.
 *
 * Conventions for every kernel here:
 *  - Layout is NCHW, float32, contiguous, unless a descriptor says otherwise (lb_layout).
 *    Shapes are written beside each function.
 *  - Kernels never allocate. Scratch memory comes from the caller, sized by the matching
 *    *_scratch_floats() function (0 means the kernel needs none).
 *  - Backward kernels ACCUMULATE into their gradient outputs (dx += ..., dw += ...): the caller
 *    zeroes gradients once per step. A NULL gradient pointer means "not needed", skip it.
 *  - Kernels may use OpenMP internally; results are identical for the same thread count.
 *  - Descriptors are validated by their *_init() function, which also fills derived fields;
 *    kernels trust an initialised descriptor.
 */
#ifndef LOWBIT_NN_H
#define LOWBIT_NN_H

#include "lowbit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- activation layouts ------------------------------------------------------------------ */
/* LB_LAYOUT_NCHW16C is oneDNN's nChw16c: (N, C/16, H, W, 16) with C a multiple of 16, the 16
 * channels of a block side by side. The executor keeps activations in it between layers whose
 * kernels all take it (oneDNN's convolutions, batch norm, element-wise ops, global average
 * pooling), so no convolution reorders its tensors on every call. */
typedef enum lb_layout { LB_LAYOUT_NCHW = 0, LB_LAYOUT_NCHW16C = 1 } lb_layout;
/* An (N,C,HW) tensor between the layouts, C a multiple of 16; src and dst must not overlap. */
void lb_layout_to_nchw16c(int n, int c, int64_t hw, const float *src, float *dst);
void lb_layout_to_nchw(int n, int c, int64_t hw, const float *src, float *dst);

/* ---- GEMM (row-major) through the real BLAS --------------------------------------------- */
/* C(M,N) = alpha * op(A)(M,K) * op(B)(K,N) + beta * C. trans_a/trans_b: 0 or 1. */
void lb_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc);

/* ---- 2-D convolution --------------------------------------------------------------------- */
typedef struct lb_conv2d_desc {
  int n, c, h, w;          /* input (N,C,H,W) */
  int k, r, s;             /* K filters of size R x S */
  int stride_h, stride_w;  /* >= 1 */
  int pad_h, pad_w;        /* >= 0, symmetric zero padding */
  int dil_h, dil_w;        /* >= 1 */
  int groups;              /* C and K divisible by groups; groups == C == K is depthwise */
  int x_layout, y_layout;  /* lb_layout of x/dx and y/dy; 0 (NCHW) unless lb_conv2d_takes_nchw16c */
  int oh, ow;              /* derived by lb_conv2d_init */
} lb_conv2d_desc;

/* Validates and computes oh/ow. Fails with LB_ERR_ARG / LB_ERR_SHAPE and a detail message. */
lb_status lb_conv2d_init(lb_conv2d_desc *d);
size_t lb_conv2d_scratch_floats(const lb_conv2d_desc *d);
/* x: (N,C,H,W), w: (K,C/g,R,S), b: (K) or NULL, y: (N,K,OH,OW) (overwritten). */
void lb_conv2d_forward(const lb_conv2d_desc *d, const float *x, const float *w, const float *b, float *y,
                       float *scratch);
/* dy: (N,K,OH,OW); accumulates dx: (N,C,H,W), dw: (K,C/g,R,S), db: (K). Any of dx/dw/db may be NULL. */
void lb_conv2d_backward(const lb_conv2d_desc *d, const float *x, const float *w, const float *dy, float *dx,
                        float *dw, float *db, float *scratch);
/* 1 when d (its layouts aside) may take and give nChw16c tensors: oneDNN runs it. */
int lb_conv2d_takes_nchw16c(const lb_conv2d_desc *d);
/* Which implementation runs d: "depthwise", "onednn", "simd" or "blas" (fixed per descriptor;
 * LOWBIT_CONV=own in the environment keeps oneDNN out). */
const char *lb_conv2d_backend(const lb_conv2d_desc *d);
/* "oneDNN X.Y.Z" when the library was built with oneDNN, else NULL. */
const char *lb_conv2d_onednn_version(void);
/* Plain-loop reference twin (slow, obviously correct) used by tests. Same contract, no scratch. */
void lb_conv2d_forward_ref(const lb_conv2d_desc *d, const float *x, const float *w, const float *b, float *y);
void lb_conv2d_backward_ref(const lb_conv2d_desc *d, const float *x, const float *w, const float *dy, float *dx,
                            float *dw, float *db);

/* ---- fully connected --------------------------------------------------------------------- */
/* x: (N,IN), w: (OUT,IN), b: (OUT) or NULL, y: (N,OUT) (overwritten). */
void lb_linear_forward(int n, int in, int out, const float *x, const float *w, const float *b, float *y);
/* dy: (N,OUT); accumulates dx: (N,IN), dw: (OUT,IN), db: (OUT); any may be NULL. */
void lb_linear_backward(int n, int in, int out, const float *x, const float *w, const float *dy, float *dx,
                        float *dw, float *db);

/* ---- batch normalization (2-D over N,H,W per channel; 1-D when hw == 1) ------------------ */
typedef struct lb_bn_desc {
  int n, c, hw;     /* x: (N,C,HW) */
  float eps;        /* default 1e-5 */
  float momentum;   /* PyTorch convention: running = (1-momentum)*running + momentum*batch; 0.1 */
  int layout;       /* lb_layout of x, y, dy, dx; NCHW16C needs C a multiple of 16. The results
                     * are the same bits in either layout. */
} lb_bn_desc;

lb_status lb_bn_init(lb_bn_desc *d);
/* Training: normalise with batch statistics, update running_mean/running_var (unbiased
 * variance, as PyTorch), save mean and 1/sqrt(var+eps) (biased var) per channel for backward.
 * x,y: (N,C,HW); gamma, beta, running_*, save_*: (C). */
void lb_bn_forward_train(const lb_bn_desc *d, const float *x, const float *gamma, const float *beta,
                         float *running_mean, float *running_var, float *y, float *save_mean,
                         float *save_invstd);
/* Evaluation: normalise with the running statistics. */
void lb_bn_forward_eval(const lb_bn_desc *d, const float *x, const float *gamma, const float *beta,
                        const float *running_mean, const float *running_var, float *y);
/* Backward of the training-mode forward; accumulates dx, dgamma, dbeta (any may be NULL). */
void lb_bn_backward(const lb_bn_desc *d, const float *x, const float *gamma, const float *save_mean,
                    const float *save_invstd, const float *dy, float *dx, float *dgamma, float *dbeta);

/* ---- element-wise activations (n elements) ----------------------------------------------- */
void lb_relu_forward(int64_t n, const float *x, float *y);
void lb_relu_backward(int64_t n, const float *x, const float *dy, float *dx);
/* hardtanh: clamp to [lo, hi]; gradient 1 strictly inside, 0 outside (PyTorch: 0 at the bounds
 * too, i.e. the gradient passes only where lo < x < hi). ReLU6 is hardtanh(0, 6). */
void lb_hardtanh_forward(int64_t n, float lo, float hi, const float *x, float *y);
void lb_hardtanh_backward(int64_t n, float lo, float hi, const float *x, const float *dy, float *dx);

/* ---- residual add ------------------------------------------------------------------------ */
void lb_add_forward(int64_t n, const float *a, const float *b, float *y);
/* da += dy, db += dy (either may be NULL). */
void lb_add_backward(int64_t n, const float *dy, float *da, float *db);

/* ---- fused ops --------------------------------------------------------------------------- */
/* One pass instead of two or three over the activations; results are bit-identical to the
 * composition of the unfused kernels (lb_relu_* after lb_bn_* / lb_add_*). */
/* Batch norm followed by ReLU, fused: y = max(0, BN(x)). Same contracts as the lb_bn_* kernels.
 * The backward takes the fused forward's output y: the ReLU passes the gradient where y > 0. */
void lb_bn_relu_forward_train(const lb_bn_desc *d, const float *x, const float *gamma, const float *beta,
                              float *running_mean, float *running_var, float *y, float *save_mean,
                              float *save_invstd);
void lb_bn_relu_forward_eval(const lb_bn_desc *d, const float *x, const float *gamma, const float *beta,
                             const float *running_mean, const float *running_var, float *y);
void lb_bn_relu_backward(const lb_bn_desc *d, const float *x, const float *y, const float *gamma,
                         const float *save_mean, const float *save_invstd, const float *dy, float *dx,
                         float *dgamma, float *dbeta);
/* Residual add followed by ReLU: y = max(0, a + b) (y may alias a or b); backward g = dy where
 * y > 0: da += g, db += g (either may be NULL). */
void lb_add_relu_forward(int64_t n, const float *a, const float *b, float *y);
void lb_add_relu_backward(int64_t n, const float *y, const float *dy, float *da, float *db);

/* ---- backward passes into gradient buffers that hold nothing yet --------------------------- */
/* The same passes with a choice per gradient: accumulate (+=) or assign (=, the buffer's old
 * contents are ignored, so nobody has to zero it first). Assigning gives the bits accumulating
 * into zeros gives (0 + v, so a -0 is +0 as there). y: the fused forward's output for the
 * BN+ReLU / add+ReLU forms, or NULL for the plain ones. */
void lb_bn_backward_ex(const lb_bn_desc *d, const float *x, const float *y, const float *gamma, const float *save_mean,
                       const float *save_invstd, const float *dy, float *dx, int dx_assign, float *dgamma, float *dbeta);
void lb_add_backward_ex(int64_t n, const float *y, const float *dy, float *da, int da_assign, float *db, int db_assign);
void lb_conv2d_backward_ex(const lb_conv2d_desc *d, const float *x, const float *w, const float *dy, float *dx,
                           int dx_assign, float *dw, float *db, float *scratch);

/* ---- pooling ---------------------------------------------------------------------------- */
typedef struct lb_pool_desc {
  int n, c, h, w;          /* input (N,C,H,W) */
  int kh, kw;              /* window */
  int stride_h, stride_w;
  int pad_h, pad_w;        /* pad <= kernel/2 (as PyTorch) */
  int count_include_pad;   /* avg pool: divide by the full window (1) or by the valid cells (0) */
  int ceil_mode;           /* output size rounded up (1) or down (0, default) */
  int oh, ow;              /* derived by lb_pool_init */
} lb_pool_desc;

lb_status lb_pool_init(lb_pool_desc *d);
/* y: (N,C,OH,OW); argmax: (N,C,OH,OW), index of the max inside the input plane (h*W+w);
 * padding never wins (it is -inf, as PyTorch). */
void lb_maxpool_forward(const lb_pool_desc *d, const float *x, float *y, int32_t *argmax);
void lb_maxpool_backward(const lb_pool_desc *d, const float *dy, const int32_t *argmax, float *dx);
void lb_avgpool_forward(const lb_pool_desc *d, const float *x, float *y);
void lb_avgpool_backward(const lb_pool_desc *d, const float *dy, float *dx);
/* Global average pooling: x (N,C,HW) -> y (N,C). */
void lb_gap_forward(int n, int c, int hw, const float *x, float *y);
void lb_gap_backward(int n, int c, int hw, const float *dy, float *dx);
/* The same with x / dx in nChw16c (C a multiple of 16); y / dy stay (N,C); same bits. */
void lb_gap_forward_nchw16c(int n, int c, int hw, const float *x, float *y);
void lb_gap_backward_nchw16c(int n, int c, int hw, const float *dy, float *dx);

/* ---- dropout (inverted: kept values are scaled by 1/(1-p) at training time) -------------- */
/* mask: n bytes, 1 = kept. p in [0,1). Draws from rng in element order (deterministic). */
void lb_dropout_forward(int64_t n, float p, const float *x, float *y, uint8_t *mask, lb_rng *rng);
void lb_dropout_backward(int64_t n, float p, const uint8_t *mask, const float *dy, float *dx);

/* ---- softmax cross-entropy with label smoothing ----------------------------------------- */
/* logits: (N,K); labels: (N) in [0,K); smoothing in [0,1): the target is
 * (1-smoothing)*onehot + smoothing/K (PyTorch's label_smoothing). probs: (N,K) saved softmax.
 * Returns the mean loss over the batch. */
float lb_softmax_xent_forward(int n, int k, const float *logits, const int32_t *labels, float smoothing,
                              float *probs);
/* dlogits += scale * (probs - target) / N  (scale is usually 1). */
void lb_softmax_xent_backward(int n, int k, const float *probs, const int32_t *labels, float smoothing,
                              float scale, float *dlogits);
/* Count of rows whose arg-max equals the label. */
int lb_count_correct(int n, int k, const float *logits, const int32_t *labels);

#ifdef __cplusplus
}
#endif
#endif
