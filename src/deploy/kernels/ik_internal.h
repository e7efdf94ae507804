/* Private to the integer kernels: the prepared objects, weight packing and the per-variant entry
 * points. The public contract is include/lowbit/ikernel.h; docs/kernels.md says which tricks each
 * variant uses. */
#ifndef LOWBIT_IK_INTERNAL_H
#define LOWBIT_IK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "lowbit/ikernel.h"

/* Buffers handed out of caller scratch start at this alignment. */
#define IK_ALIGN 64
static inline size_t ik_round(size_t b) { return (b + IK_ALIGN - 1) / IK_ALIGN * IK_ALIGN; }
static inline void *ik_align_ptr(void *p) {
  uintptr_t u = (uintptr_t)p;
  return (void *)((u + IK_ALIGN - 1) / IK_ALIGN * IK_ALIGN);
}

/* A packed weight matrix: rows of `len` values, each row starting on a byte boundary, values
 * stored low bits first (8 bits: one per byte; 4: two; 2: four; 1: eight, bit 1 = +1). */
typedef struct ik_wmat {
  int rows;
  int64_t len;       /* values per row */
  int64_t row_bytes; /* ceil(len * bits / 8) */
  int bits, sgn;     /* sgn: values are signed (ignored for bits 1) */
  uint8_t *data;     /* rows * row_bytes */
  int32_t *zp;       /* (rows), zeros when the caller gave NULL */
  int zp_any;        /* some zp is non-zero */
} ik_wmat;

/* The value of element i of a packed row (binary: -1/+1). */
static inline int ik_wget(const uint8_t *row, int64_t i, int bits, int sgn) {
  if (bits == 8) return sgn ? (int)(int8_t)row[i] : (int)row[i];
  int64_t bit = i * bits;
  unsigned v = (row[bit >> 3] >> (bit & 7)) & ((1u << bits) - 1u);
  if (bits == 1) return v ? 1 : -1;
  if (sgn && (v >> (bits - 1))) return (int)v - (1 << bits);
  return (int)v;
}

/* Checks the values, packs them, copies the zero points. Frees nothing on failure (call
 * ik_wmat_free, which accepts a half-built matrix). */
lb_status ik_wmat_pack(ik_wmat *m, int rows, int64_t len, int bits, int sgn, const int8_t *w, const int32_t *zp,
                       const char *who);
void ik_wmat_free(ik_wmat *m);
/* Row r unpacked to int16 values minus the row's zero point (the factor the accumulator uses). */
void ik_wmat_unpack_row16(const ik_wmat *m, int r, int16_t *out);

/* Variant-specific prepared data (layouts for SIMD kernels); freed with the object. */
typedef struct ik_opt {
  void *buf;     /* owned, lb_alloc_aligned */
  size_t bytes;
  int32_t *wsum; /* per output channel sums the variant needs (inside buf or NULL) */
  int64_t lpad;  /* padded reduction length of the variant's layout */
  int kpad;      /* padded output channel count of the variant's layout */
  int slots;     /* per-thread scratch slots sized at prepare (OpenMP's thread count then) */
  int conv;      /* which optimized conv path the variant runs (ik_conv_path), 0 none */
  int layout;    /* 1: buf begins with the conv's weight layout (else each run builds it) */
  int packed;    /* 4 or 2: buf begins with the layout packed to that width (each run widens it) */
} ik_opt;

struct lb_iconv {
  lb_conv2d_desc d;
  int wbits, w_signed, x_signed;
  lb_ik_isa isa;   /* the variant chosen at prepare (never above what the CPU runs) */
  int cg, kg;      /* C / groups, K / groups */
  int64_t taps;    /* cg * R * S: values per output channel */
  ik_wmat w;       /* the packed weights (the reference reads these) */
  ik_opt opt;      /* the variant's layout, if it has one */
};

struct lb_ilinear {
  int k, c;
  int wbits, w_signed, x_signed;
  lb_ik_isa isa;
  ik_wmat w;
  ik_opt opt;
};

/* ---- references (the definitions) ---- */
size_t ik_conv_ref_scratch(const lb_iconv *c, int n);
void ik_conv_ref(const lb_iconv *c, int n, const void *x, int32_t zx, int32_t *acc, void *scratch);
void ik_conv_binary_ref(const lb_iconv *c, int n, const uint8_t *xbits, int32_t *acc);
void ik_linear_ref(const lb_ilinear *l, int n, const void *x, int32_t zx, int32_t *acc);
void ik_requant_ref(int n, int k, int64_t hw, const int32_t *acc, const int64_t *bias_p, const int32_t *M,
                    const int *s, int32_t zp, int32_t lo, int32_t hi, int y_signed, void *y);

/* The sign epilogue of a binary convolution writing binary codes (lb_iconv_run_binary_sign). */
typedef struct ik_sign_epi {
  const int64_t *bias_p;
  const int32_t *M, *neg;
  int32_t lo, hi;
  int8_t *y;
} ik_sign_epi;

/* The variant a caller asked for, lowered to what this CPU runs. */
lb_ik_isa ik_isa_clamp(lb_ik_isa isa);
/* Whether this CPU has AVX-512 VPOPCNTDQ (the binary kernel's 512-bit popcount). */
int ik_cpu_has_vpopcntdq(void);

#endif
