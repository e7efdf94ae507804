/* Private: the optimized variants' entry points. Each returns 0 when it has no kernel for the
 * prepared object's variant and shape (the caller then runs the reference), 1 when it ran. */
#ifndef LOWBIT_IK_SIMD_H
#define LOWBIT_IK_SIMD_H

#include "deploy/kernels/ik_internal.h"

/* conv: build the variant's weight layout in c->opt (nothing for the reference) */
lb_status ik_conv_opt_prepare(lb_iconv *c);
size_t ik_conv_opt_scratch(const lb_iconv *c, int n);
size_t ik_conv_opt_scratch_requant(const lb_iconv *c, int n);
int ik_conv_opt_run(const lb_iconv *c, int n, const void *x, int32_t zx, int32_t *acc, void *scratch);
int ik_conv_opt_run_requant(const lb_iconv *c, int n, const void *x, int32_t zx, const int64_t *bias_p,
                            const int32_t *M, const int *s, int32_t zp, int32_t lo, int32_t hi, int y_signed, void *y,
                            void *scratch);
int ik_conv_opt_run_binary(const lb_iconv *c, int n, const uint8_t *xbits, int32_t *acc, void *scratch);
/* 1 when the conv multiplies in AMX tiles (for tests that must know the path ran) */
int ik_conv_opt_amx(const lb_iconv *c);

/* binary conv (ik_binary.c): groups == 1, any non-reference variant */
lb_status ik_binary_prepare(lb_iconv *c);
size_t ik_binary_scratch(const lb_iconv *c);
/* acc (n, K, P) or, with sg, each image's accumulators in its thread's scratch and their signs
 * into sg->y while they are in cache */
int ik_binary_run(const lb_iconv *c, int n, const uint8_t *xbits, int32_t *acc, const ik_sign_epi *sg, void *scratch);

lb_status ik_linear_opt_prepare(lb_ilinear *l);
int ik_linear_opt_run(const lb_ilinear *l, int n, const void *x, int32_t zx, int32_t *acc);

/* element-wise: run the variant `isa` (already clamped to the CPU) or return 0 */
int ik_requant_opt(lb_ik_isa isa, int n, int k, int64_t hw, const int32_t *acc, const int64_t *bias_p,
                   const int32_t *M, const int *s, int32_t zp, int32_t lo, int32_t hi, int y_signed, void *y);
int ik_add_opt(lb_ik_isa isa, int64_t n, const void *x1, int x1_signed, int32_t z1, int32_t M1, const void *x2,
               int x2_signed, int32_t z2, int32_t M2, int s, int32_t zy, int32_t lo, int32_t hi, int y_signed, void *y);
int ik_maxpool_opt(lb_ik_isa isa, const lb_pool_desc *d, const void *x, int x_signed, void *y);
/* quantize: elements [0, returned count) done, the caller finishes the tail */
int64_t ik_quantize_opt(lb_ik_isa isa, int64_t n, const float *x, float inv, int32_t zp, int32_t lo, int32_t hi,
                        void *y);
/* binary outputs and the bit packing of the XNOR convolution's input (ik_binarize_x86.c) */
int ik_binarize_acc_opt(lb_ik_isa isa, int n, int k, int64_t hw, const int32_t *acc, const int64_t *bias_p,
                        const int32_t *M, const int32_t *neg, int32_t lo, int32_t hi, int8_t *y);
int ik_binarize_add_opt(lb_ik_isa isa, int64_t n, const void *x1, int x1_signed, int32_t z1, int32_t M1,
                        const void *x2, int x2_signed, int32_t z2, int32_t M2, int32_t lo, int32_t hi, int8_t *y);
int ik_pack_binary_opt(lb_ik_isa isa, int n, int c, int h, int w, const int8_t *x, uint8_t *xbits);
int ik_gap_opt(lb_ik_isa isa, int n, int c, int64_t hw, const void *x, int x_signed, int32_t zx, int32_t M, int s,
               int32_t zy, int32_t lo, int32_t hi, int y_signed, void *y);

#endif
