/* Private: the direct NHWC convolution path shared by the AVX2 and AVX-512 VNNI variants.
 *
 * Each image is copied once into a padded channels-last buffer (so padding and the border need
 * no branches), and output tiles of NP pixels x up to G vectors of output channels accumulate
 * in registers: per tap and per group of `cstep` input channels one broadcast of the pixel's
 * channels meets one vector load of the weights per k vector. No im2col: the reduction reads the
 * padded image in place. See docs/kernels.md. */
#ifndef LOWBIT_IK_NHWC_H
#define LOWBIT_IK_NHWC_H

#include "deploy/kernels/ik_internal.h"

typedef struct ik_plan {
  int C, H, W, K, R, S, sh, sw, dh, dw, ph, pw, OH, OW;
  int64_t P;       /* OH * OW */
  int Cp, Hp, Wp;  /* channels padded to cstep, padded height/width */
  int cstep;       /* input channels per dot step: 4 (vpdpbusd on u8) or 2 (vpmaddwd on int16) */
  int lanes, Kv;   /* int32 lanes per vector, vectors covering K */
  int esize;       /* bytes per image element: 1 (u8 codes) or 2 (int16 x - zx) */
  int64_t taps;    /* real taps per output channel: C * R * S */
  size_t img_bytes;
  /* 1x1 without padding and with a stride (u8 copies only): the copy keeps only the sampled
   * pixels, an OH x OW image the tiles then read with stride 1; csh/csw are the conv's strides */
  int sub, csh, csw;
  /* one input channel, 2..4 taps per kernel row, no column dilation (u8 copies only): a row's
   * taps are folded into the channels of one pixel (fold pixel (hp, ow) holds the padded input
   * at (hp, ow * fsw + t), t < fS), so each kernel row is one vpdpbusd instead of S, and the tiles
   * see C = fS, S = 1, stride_w 1 on an Hp x OW image; fW/fpw/fsw/fS are the conv's W, pad_w,
   * stride_w and S */
  int fold, fW, fpw, fsw, fS;
  /* AMX tiles (ik_amx.c, u8 copies only): the reduction is nseg segments of seg_len contiguous
   * image bytes (a kernel row's S taps when dw == 1, else one tap's Cp channels), each read as
   * seg_chunks 64-byte tile rows; the weights past a segment's end are 0. Tile loads may read
   * up to slack bytes past the image (counted in img_bytes); flat: stride 1, so 16 output
   * positions of a tile may run across output rows (positions ow >= OW are computed and
   * dropped). */
  int amx, nseg, seg_len, seg_chunks, flat;
  size_t slack;
} ik_plan;

/* The epilogue a tile applies: zero-point corrections (VNNI), then either int32 out or requant. */
typedef struct ik_epi {
  const int32_t *c0;     /* (Kv*lanes): added to every output of channel k, or NULL */
  const int32_t *c1;     /* (Kv*lanes): times the pixel's colsum, or NULL */
  const int32_t *colsum; /* (P) of the current image: sum of its receptive field's codes, or NULL */
  int requant;           /* 0: write acc (int32); 1: requantize to y */
  /* per-channel requant terms, (Kv*lanes) each: the vector code computes acc * M + biasm, biasm
   * the bias in product units. s = 0 has mask 0 and half INT64_MAX. */
  const int64_t *biasm, *mul, *shift, *mask, *half;
  int32_t zp, lo, hi;
  int y_signed;
  int y_nhwc; /* requant: y is channels-last (P, K) instead of (K, P) */
  /* the same requant in doubles, exact where dbl is set (see ik_nhwc.c): per channel
   * m = M * 2^-s and bias, and the clamp bounds lo - zp, hi - zp */
  int dbl;
  const double *md, *bd;
  double dlo, dhi;
} ik_epi;

/* Tile: pixels (oh, ow0 .. ow0+np-1) of one image, k vectors [kv0, kv0+nkv). wl: the weight
 * layout at kv0. img: the padded image. acc/y: the image's outputs (K, P). */
typedef void (*ik_tile_fn)(const ik_plan *pl, const void *wl, const void *img, int oh, int ow0, int np, int kv0,
                           int nkv, const ik_epi *e, int32_t *acc, void *y);

void ik_plan_init(ik_plan *pl, const lb_iconv *c, int lanes, int cstep, int esize);
/* Weight layout: for each group of G k vectors, [r][s][Cp/cstep][nkv*lanes][cstep] elements:
 * s8 (w - 128 for unsigned 8-bit weights, else w) or int16 (w - zw[k]); pad entries 0. */
size_t ik_wlayout_bytes(const ik_plan *pl);
void ik_wlayout_build(const ik_plan *pl, const lb_iconv *c, int G, void *dst);
/* A layout of 4- or 2-bit weights (n bytes) packed to its width at prepare and widened again
 * per run (ik_wpack.c; the unpack needs AVX-512). sgn: the fields are two's complement. */
size_t ik_wlayout_packed_bytes(size_t n, int bits);
void ik_wlayout_pack(const int8_t *layout, size_t n, int bits, uint8_t *dst);
void ik_wlayout_unpack(const uint8_t *src, size_t n, int bits, int sgn, int8_t *dst);
/* Per output channel: the sum over its taps of (w - 128 for unsigned 8-bit weights, else w),
 * mod 2^32 (the VNNI zero-point terms). */
void ik_wsum_build(const lb_iconv *c, int32_t *wsum);
/* Runs the whole convolution (requant when yq is non-NULL) with the given tile kernel. */
typedef struct ik_rq_args {
  const int64_t *bias_p; /* product units (lb_requant_acc) */
  const int32_t *M;
  const int *s;
  int32_t zp, lo, hi;
  int y_signed;
  void *y;
  int x_nhwc, y_nhwc; /* channels-last input / output (requant only) */
} ik_rq_args;
size_t ik_nhwc_scratch(const lb_iconv *c, const ik_plan *pl, int n);
void ik_nhwc_run(const lb_iconv *c, const ik_plan *pl, ik_tile_fn tile, int G, int n, const void *x, int32_t zx,
                 int32_t *acc, const ik_rq_args *rq, void *scratch);

/* AMX (ik_amx.c): whether the layer fills the tiles well enough (then pl is set up for them),
 * the weight layout, and the rows [oh0, oh1) of one image. */
int ik_amx_plan(ik_plan *pl);
size_t ik_amx_wlayout_bytes(const ik_plan *pl);
void ik_amx_wlayout_build(const ik_plan *pl, const lb_iconv *c, void *dst);
void ik_amx_rows(const ik_plan *pl, const void *wl, const void *img, int oh0, int oh1, const ik_epi *e, int32_t *acc,
                 void *y);

/* tile kernels (ik_vnni.c, ik_avx2.c) */
void ik_tile_vnni(const ik_plan *pl, const void *wl, const void *img, int oh, int ow0, int np, int kv0, int nkv,
                  const ik_epi *e, int32_t *acc, void *y);
void ik_tile_avx2(const ik_plan *pl, const void *wl, const void *img, int oh, int ow0, int np, int kv0, int nkv,
                  const ik_epi *e, int32_t *acc, void *y);
#define IK_VNNI_G 4 /* k vectors per tile */
#define IK_AVX2_G 2

#endif
