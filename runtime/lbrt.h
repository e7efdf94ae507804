/* lbrt: the small runtime that C source exported by lowbit (`lowbit export --c PREFIX`) calls.
 *
 * Plain C99/C11, no allocation, no stdio: it needs <stdint.h>, and rintf and fmaf from <math.h>
 * (the input quantization and the float output layer). It runs on anything with 32- and 64-bit
 * integer arithmetic and IEEE single precision evaluated as float (FLT_EVAL_METHOD 0: x86-64,
 * ARM, RISC-V; soft float is fine), in the default rounding mode (nearest, ties to even). Never
 * build it with -ffast-math.
 *
 * The kernels are written for size and clarity, one output element at a time, and compute
 * exactly what lowbit's integer engine computes (docs/export.md, section "C source"):
 *  - codes are bytes (uint8 or int8 per tensor, bit pattern in a uint8_t array), one zero point
 *    per tensor;
 *  - weights are signed 2/4/8-bit codes packed LSB first (int8 one per byte, int4 two, int2
 *    four), per step contiguous in (K, C/groups, R, S) order, unpacked on the fly;
 *  - acc = sum over the valid taps of (x - zx) * (w - zw[k]), kept as a wrapping 32-bit sum;
 *  - requantization: clamp(zp + round_half_even((acc * M + bias * M + bfrac) / 2^s), lo, hi),
 *    in 64 bits (the bias keeps the multiplier's precision); a channel flagged negative negates
 *    the 64-bit sum;
 *  - the float output layer: fmaf((float)acc, scale[k], fbias[k]), one rounding. */
#ifndef LBRT_H
#define LBRT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Alignment of the static arena the generated code declares. */
#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define LBRT_ALIGN(n) _Alignas(n)
#elif defined(__GNUC__)
#define LBRT_ALIGN(n) __attribute__((aligned(n)))
#else
#define LBRT_ALIGN(n)
#endif

/* A convolution (groups, depthwise, stride, padding, dilation) or a linear layer (a 1x1
 * convolution over a 1x1 input with c = the input's element count). x: (c, h, w) codes;
 * y: (k, oh, ow) codes, or floats when scale is set. */
typedef struct lbrt_conv {
  int32_t c, h, w, k, oh, ow;
  int32_t r, s, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
  int32_t wbits;            /* 8, 4 or 2 */
  const uint8_t *wt;        /* packed weight codes */
  const int32_t *wzp;       /* k weight zero points, or NULL (all 0) */
  const int32_t *bias;      /* k, on the accumulator grid, or NULL */
  const int32_t *bfrac;     /* k, the rest of the bias in product units (codes output), or NULL */
  const int32_t *mult;      /* k Q31 multipliers (codes output) */
  const int32_t *shift;     /* k shifts in [0, 62] (codes output) */
  const int32_t *neg;       /* k sign flags (1: negate before requantizing), or NULL */
  const float *scale;       /* k output scales: float output instead of codes */
  const float *fbias;       /* k output biases (float output), or NULL */
  int32_t xzp, yzp, lo, hi; /* input zero point; output zero point and clamp */
  uint8_t x_signed, y_signed;
} lbrt_conv;

/* Max or average pool on codes (windows clipped to the input; averages divide by the window's
 * count through mult[count], shift[count]; count_pad counts the padded cells as PyTorch). */
typedef struct lbrt_pool {
  int32_t c, h, w, oh, ow, kh, kw, stride_h, stride_w, pad_h, pad_w, count_pad;
  const int32_t *mult, *shift; /* average pool: indexed by the window count (1..kh*kw) */
  int32_t xzp, yzp, lo, hi;
  uint8_t x_signed, y_signed;
} lbrt_pool;

/* Residual add with rescale: y = clamp(zy + rne(((x1 - z1) M1 + (x2 - z2) M2) / 2^shift), lo, hi).
 * A rescale to another grid is the same with M2 = 0. */
typedef struct lbrt_add {
  int32_t n;
  int32_t z1, m1, z2, m2, shift, zy, lo, hi;
  uint8_t s1, s2, y_signed;
} lbrt_add;

/* Global average pool (c, hw) -> (c): y = requant(sum(x - zx), mult, shift). */
typedef struct lbrt_gap {
  int32_t c, hw, xzp, mult, shift, yzp, lo, hi;
  uint8_t x_signed, y_signed;
} lbrt_gap;

/* Data movement on codes of one grid, the tensor viewed as (outer, d, inner) around one axis:
 * slice y[o,i,r] = x[o, start + i*step, r] (i < count); pad adds `begin` and `end` cells of
 * `fill` along the axis; concat joins n inputs of d[j] cells each. */
typedef struct lbrt_move {
  int32_t outer, inner, n;
  int32_t d[4];
  int32_t start, step, count; /* slice */
  int32_t begin, end, fill;   /* pad */
} lbrt_move;

/* q = clamp(rintf(x * inv) + zp, lo, hi) (NaN gives zp); n floats -> n codes. */
void lbrt_quantize(int32_t n, const float *x, float inv, int32_t zp, int32_t lo, int32_t hi, uint8_t *y);
/* y = (float)(q - zp) * scale. */
void lbrt_dequantize(int32_t n, const uint8_t *x, int x_signed, int32_t zp, float scale, float *y);
/* y is uint8_t codes, or float when p->scale is set. */
void lbrt_conv_run(const lbrt_conv *p, const uint8_t *x, void *y);
void lbrt_maxpool(const lbrt_pool *p, const uint8_t *x, uint8_t *y);
void lbrt_avgpool(const lbrt_pool *p, const uint8_t *x, uint8_t *y);
void lbrt_add_run(const lbrt_add *p, const uint8_t *x1, const uint8_t *x2, uint8_t *y);
void lbrt_gap_run(const lbrt_gap *p, const uint8_t *x, uint8_t *y);

void lbrt_slice(const lbrt_move *p, const uint8_t *x, uint8_t *y);
void lbrt_pad(const lbrt_move *p, const uint8_t *x, uint8_t *y);
/* x: p->n input pointers. */
void lbrt_concat(const lbrt_move *p, const uint8_t *const *x, uint8_t *y);

/* The rounding every requantization uses: p / 2^s to nearest, ties to even (s in [0, 62]). */
int64_t lbrt_shift_rne(int64_t p, int32_t s);

#ifdef __cplusplus
}
#endif
#endif
