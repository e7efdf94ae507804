/* lowbit integer kernels (part deploy): what the integer program computes with.
 *
 * Every kernel has a plain C reference (the definition) and optimized twins (AVX2, AVX-512
 * VNNI where it pays); tests compare them bit for bit. lb_ik_select() picks the variant at run
 * time from the CPU; LOWBIT_KERNELS=ref in the environment forces the references.
 *
 * Conventions:
 *  - Tensors are NCHW (activations) and (K, C/groups, R, S) (conv weights), (K, C) (linear).
 *  - Activations are 8-bit codes: uint8 or int8 (x_signed), any bit width <= 8 stored one per
 *    byte, with one zero point per tensor. Binary activations are the exception (below).
 *  - Weights are integer values given one per int8 to the prepare call, which packs them for the
 *    kernel: 8 bits one per byte, 4 bits two per byte, 2 bits four per byte, 1 bit (binary,
 *    values -1/+1) eight per byte. Weight zero points are per output channel (int32, may be
 *    non-zero for affine weights).
 *  - Accumulators are int32: acc = sum over the valid (not padded) taps of (x - zx) * (w - zw[k]).
 *    Padding is the real value 0, i.e. the code zx, so padded taps contribute nothing. The
 *    lowering refuses layers whose accumulator could leave int32.
 *  - Kernels never allocate: a prepared object owns its packed weights (allocated by prepare,
 *    freed by free) and run calls take caller scratch of the size the _scratch call gives.
 *
 * Requantization (the one definition, shared with the deploy-exact simulation):
 *   rshift_rne(p, s) = p / 2^s rounded to nearest, ties to even (s in [0, 62]; s = 0 is p)
 *   requant(a, M, s, zp, lo, hi) = clamp(zp + rshift_rne((int64)a * M, s), lo, hi)
 * with M in [0, 2^31) (normally [2^30, 2^31): a Q31 multiplier). A conv/linear output adds its
 * bias in product units, after the multiply: clamp(zp + rshift_rne(acc * M + bias_p, s), lo, hi)
 * (lb_requant_acc), so the bias keeps the multiplier's precision instead of being rounded to the
 * accumulator grid, which is coarser than the output grid when s_x*s_w > s_y (low-bit layers).
 * lowering stores bias_p as bias_q * M + frac (bias_q = rint(B) on the accumulator grid, frac =
 * rint((B - bias_q) * M), |frac| < 2^30): lb_bias_product.
 * A real multiplier m > 0 becomes M = round(m * 2^s) with s chosen so M lands in [2^30, 2^31);
 * for m a power of two M = 2^30 and the product is a pure shift. */
#ifndef LOWBIT_IKERNEL_H
#define LOWBIT_IKERNEL_H

#include <stdint.h>

#include "lowbit/core.h"
#include "lowbit/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- requantization ------------------------------------------------------------------------ */
static inline int64_t lb_rshift_rne(int64_t p, int s) {
  if (s <= 0) return p;
  int64_t q = p >> s; /* floor (arithmetic shift) */
  int64_t r = (int64_t)((uint64_t)p & (((uint64_t)1 << s) - 1)); /* p - q * 2^s, without shifting a negative */
  int64_t half = (int64_t)1 << (s - 1);
  if (r > half || (r == half && (q & 1))) q++;
  return q;
}
static inline int32_t lb_requant(int64_t a, int32_t M, int s, int32_t zp, int32_t lo, int32_t hi) {
  int64_t v = (int64_t)zp + lb_rshift_rne(a * (int64_t)M, s);
  return (int32_t)(v < lo ? lo : v > hi ? hi : v);
}
static inline int32_t lb_requant_acc(int32_t acc, int64_t bias_p, int32_t M, int s, int32_t zp, int32_t lo,
                                     int32_t hi) {
  int64_t v = (int64_t)zp + lb_rshift_rne((int64_t)acc * M + bias_p, s);
  return (int32_t)(v < lo ? lo : v > hi ? hi : v);
}
static inline int64_t lb_bias_product(int32_t bias_q, int32_t M, int32_t frac) { return (int64_t)bias_q * M + frac; }
/* m > 0 and finite -> (M, s) as above; fails (LB_ERR_ARG) if m needs s outside [0, 62]. */
lb_status lb_requant_multiplier(double m, int32_t *M, int *s);

/* ---- which variant runs ---------------------------------------------------------------------- */
/* LB_IK_AMX is the AVX-512 VNNI variant whose convolutions multiply in AMX tiles (TDPBUSD,
 * 1024 int8 products per tile instruction) where the layer fills them well enough. */
typedef enum lb_ik_isa { LB_IK_REF = 0, LB_IK_AVX2, LB_IK_AVX512VNNI, LB_IK_AMX } lb_ik_isa;
/* The best variant this CPU runs, unless LOWBIT_KERNELS=ref, avx2, avx512vnni or amx says
 * otherwise (never above what the CPU and the OS allow). */
lb_ik_isa lb_ik_select(void);
const char *lb_ik_isa_name(lb_ik_isa isa);

/* ---- convolution (also 1x1 and depthwise) and linear ------------------------------------------ */
typedef struct lb_iconv lb_iconv; /* prepared: geometry + packed weights */
/* d: geometry (lb_conv2d_init must have succeeded; d->n is the largest batch run will see).
 * w: (K, C/g, R, S) integer values that fit wbits (8, 4, 2 signed or unsigned per w_signed;
 * wbits 1 means binary -1/+1). w_zp: (K) or NULL (all 0; must be NULL for binary).
 * x_signed: activations int8 (1) or uint8 (0). Binary weights need binary activations. */
lb_status lb_iconv_prepare(const lb_conv2d_desc *d, int wbits, int w_signed, const int8_t *w, const int32_t *w_zp,
                           int x_signed, lb_ik_isa isa, lb_iconv **out);
/* Bytes for a batch of n. Optimized variants size per-thread scratch with OpenMP's thread count
 * at prepare; a run uses at most that many threads (the results never depend on it). */
size_t lb_iconv_scratch(const lb_iconv *c, int n);
/* x: (n,C,H,W) codes with zero point zx; acc: (n,K,OH,OW). n <= the prepared batch. */
void lb_iconv_run(const lb_iconv *c, int n, const void *x, int32_t zx, int32_t *acc, void *scratch);
/* Convolution and lb_ik_requant in one call, fused where the variant can (the result is the
 * same bits as run followed by lb_ik_requant; scratch: lb_iconv_scratch_requant bytes). */
size_t lb_iconv_scratch_requant(const lb_iconv *c, int n);
void lb_iconv_run_requant(const lb_iconv *c, int n, const void *x, int32_t zx, const int64_t *bias_p, const int32_t *M,
                          const int *s, int32_t zp, int32_t lo, int32_t hi, int y_signed, void *y, void *scratch);
void lb_iconv_free(lb_iconv *c);
/* Bytes the prepared object holds for its weights: the packed codes plus the variant's layout
 * (8-bit: a full copy in the kernel's order; 4/2-bit: that copy packed to their width). */
size_t lb_iconv_weight_bytes(const lb_iconv *c);

/* Channels-last codes, an engine-internal layout between layers that keeps the direct path from
 * transposing every conv's input and output: lb_iconv_nhwc_ok says whether this convolution (with
 * input zero point zx) runs it (the AVX2 and AVX-512 VNNI paths: groups 1, 2..8-bit weights);
 * lb_iconv_run_requant_nhwc is lb_iconv_run_requant with the input (n, H, W, C) when x_nhwc and
 * the output (n, OH, OW, K) when y_nhwc: the same codes in another order. */
int lb_iconv_nhwc_ok(const lb_iconv *c, int32_t zx);
void lb_iconv_run_requant_nhwc(const lb_iconv *c, int n, const void *x, int x_nhwc, int32_t zx, const int64_t *bias_p,
                               const int32_t *M, const int *s, int32_t zp, int32_t lo, int32_t hi, int y_signed, void *y,
                               int y_nhwc, void *scratch);

/* Binary activations: x in {-1,+1} packed 8 per byte along C (bit 1 = +1), layout (n,H,W,ceil(C/8))
 * bytes; padded taps contribute 0 (acc sums valid taps only). */
void lb_iconv_run_binary(const lb_iconv *c, int n, const uint8_t *xbits, int32_t *acc, void *scratch);
/* The same convolution writing the sign of each output as binary codes y (n, K, OH, OW):
 * lb_ik_binarize_acc's arithmetic on its accumulators, each image's taken while they are in
 * cache (scratch: lb_iconv_scratch_binary_sign bytes). */
size_t lb_iconv_scratch_binary_sign(const lb_iconv *c, int n);
void lb_iconv_run_binary_sign(const lb_iconv *c, int n, const uint8_t *xbits, const int64_t *bias_p, const int32_t *M,
                              const int32_t *neg, int32_t lo, int32_t hi, int8_t *y, void *scratch);
/* Pack int8 -1/+1 codes (n,C,H,W) into that layout (anything >= 0 counts as +1). */
void lb_ik_pack_binary(lb_ik_isa isa, int n, int c, int h, int w, const int8_t *x, uint8_t *xbits);

/* Linear: y(n, K) from x(n, C), w(K, C); same conventions as conv (a conv with R=S=H=W=1,
 * kept separate because batch-1 GEMV is memory-bound and packs differently). */
typedef struct lb_ilinear lb_ilinear;
lb_status lb_ilinear_prepare(int k, int c, int wbits, int w_signed, const int8_t *w, const int32_t *w_zp, int x_signed,
                             lb_ik_isa isa, lb_ilinear **out);
void lb_ilinear_run(const lb_ilinear *l, int n, const void *x, int32_t zx, int32_t *acc);
void lb_ilinear_free(lb_ilinear *l);
size_t lb_ilinear_weight_bytes(const lb_ilinear *l); /* codes plus layout, as for conv */

/* ---- epilogues and element-wise ops ---------------------------------------------------------- */
/* Per-channel requantization of acc (n, K, hw) into 8-bit codes:
 * y = lb_requant_acc(acc, bias_p[k], M[k], s[k], zp, lo, hi); bias_p (product units) may be NULL.
 * lo/hi carry fused ReLU/ReLU6/hardtanh clamps. y_signed picks int8 or uint8 output. */
void lb_ik_requant(lb_ik_isa isa, int n, int k, int64_t hw, const int32_t *acc, const int64_t *bias_p,
                   const int32_t *M, const int *s, int32_t zp, int32_t lo, int32_t hi, int y_signed, void *y);
/* Residual add with rescale: y = clamp(zy + rshift_rne((x1 - z1)*M1 + (x2 - z2)*M2, s), lo, hi),
 * one rounding (int64 sum). x1/x2/y each int8 or uint8 per its flag. */
void lb_ik_add(lb_ik_isa isa, int64_t n, const void *x1, int x1_signed, int32_t z1, int32_t M1, const void *x2,
               int x2_signed, int32_t z2, int32_t M2, int s, int32_t zy, int32_t lo, int32_t hi, int y_signed, void *y);
/* Pools on codes. Max pool keeps the input grid: y = max over the window of x (padding never
 * wins). Average pool / global average pool: a = sum over the window of (x - zx), divided by the
 * window count through the per-count multiplier: y = requant(a, M[cnt], s[cnt], zy, lo, hi),
 * with M/s indexed by the number of cells the window averages (count_include_pad decides it:
 * lowering precomputes one (M, s) per count that occurs, index 0 unused). */
void lb_ik_maxpool(lb_ik_isa isa, const lb_pool_desc *d, const void *x, int x_signed, void *y);
void lb_ik_avgpool(lb_ik_isa isa, const lb_pool_desc *d, const void *x, int x_signed, int32_t zx, const int32_t *M,
                   const int *s, int32_t zy, int32_t lo, int32_t hi, int y_signed, void *y);
/* Global average pool (n, C, hw) -> (n, C): the count is hw, one (M, s). _nhwc: the input is
 * channels-last (n, hw, C), the same sums. */
void lb_ik_gap_nhwc(int n, int c, int64_t hw, const void *x, int x_signed, int32_t zx, int32_t M, int s, int32_t zy,
                    int32_t lo, int32_t hi, int y_signed, void *y);
void lb_ik_gap(lb_ik_isa isa, int n, int c, int64_t hw, const void *x, int x_signed, int32_t zx, int32_t M, int s,
               int32_t zy, int32_t lo, int32_t hi, int y_signed, void *y);
/* Quantize floats at the program's input (the same arithmetic as lb_fq_forward's first half:
 * q = clamp(rint(x * inv) + zp, lo, hi) with inv = 1.0f/scale), and dequantize at its output:
 * codes y = (float)(q - zp) * scale; accumulators (n, K, hw) y = fmaf((float)acc, scale[k], fbias[k])
 * (fbias, the bias in output units, may be NULL), each one correctly rounded operation so the
 * simulation can repeat it exactly. */
void lb_ik_quantize(int64_t n, const float *x, float inv, int32_t zp, int32_t lo, int32_t hi, int y_signed, void *y);
void lb_ik_dequantize(int64_t n, const void *x, int x_signed, int32_t zp, float scale, float *y);
void lb_ik_dequantize_acc(int n, int k, int64_t hw, const int32_t *acc, const float *fbias, const float *scale,
                          float *y);

/* ---- float steps ------------------------------------------------------------------------------ */
/* Tensors a profile leaves unquantized (the academic profile's residual stream) are floats in the
 * program; these steps compute them in the one order the deploy-exact simulation repeats:
 * a clamp is v < lo ? lo : v > hi ? hi : v (lo/hi may be infinite), an add one float addition,
 * a global average pool the mean summed in double (as the graph's gap). */
static inline float lb_fclamp(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }
void lb_ik_fclamp(int64_t n, float lo, float hi, float *y);
void lb_ik_fadd(int64_t n, const float *a, const float *b, float lo, float hi, float *y);
void lb_ik_fgap(int n, int c, int64_t hw, const float *x, float *y);

/* ---- binary (+-1) outputs ------------------------------------------------------------------- */
/* A tensor on a binary grid (bits 1, signed, codes -1/+1, zero point 0) takes the sign of what a
 * uniform grid would requantize: code = p >= 0 ? +1 : -1 for the pre-shift product p (sign(0) =
 * +1, as the binary fake quantizer), then the fused activation's clamp [lo, hi] (a ReLU makes it
 * +1). The conv/linear and add forms and the bit packing have AVX2 and AVX-512 twins
 * (ik_binarize_x86.c: a conv's sign is one int32 threshold compare per channel). */
static inline int32_t lb_binarize(int64_t p, int32_t lo, int32_t hi) {
  int32_t v = p >= 0 ? 1 : -1;
  return v < lo ? lo : v > hi ? hi : v;
}
/* conv/linear: p = +-(acc * M[k] + bias_p[k]) (neg[k] may be NULL: all +) */
void lb_ik_binarize_acc(lb_ik_isa isa, int n, int k, int64_t hw, const int32_t *acc, const int64_t *bias_p,
                        const int32_t *M, const int32_t *neg, int32_t lo, int32_t hi, int8_t *y);
/* residual add / rescale (M2 = 0): p = (x1 - z1) * M1 + (x2 - z2) * M2 */
void lb_ik_binarize_add(lb_ik_isa isa, int64_t n, const void *x1, int x1_signed, int32_t z1, int32_t M1,
                        const void *x2, int x2_signed, int32_t z2, int32_t M2, int32_t lo, int32_t hi, int8_t *y);
/* global average pool (n, c, hw): p = sum of (x - zx) */
void lb_ik_binarize_gap(int n, int c, int64_t hw, const void *x, int x_signed, int32_t zx, int32_t lo, int32_t hi,
                        int8_t *y);
/* the float input: the binary fake quantizer's own test, x >= 0 (NaN gives -1) */
void lb_ik_binarize_input(int64_t n, const float *x, int32_t lo, int32_t hi, int8_t *y);

#ifdef __cplusplus
}
#endif
#endif
