/* Dispatch from a prepared object to its optimized variant. Variants not built for a case
 * return 0 and the reference runs (bit-exact by definition). */
#include <omp.h>

#include "deploy/kernels/ik_nhwc.h"
#include "deploy/kernels/ik_simd.h"

enum { PATH_NONE = 0, PATH_VNNI, PATH_AVX2, PATH_AMX };

/* The NHWC path covers groups == 1 with 8/4/2-bit weights (depthwise and grouped convolutions
 * run the reference). */
static int conv_plan(const lb_iconv *c, ik_plan *pl) {
  if (c->opt.conv == PATH_VNNI || c->opt.conv == PATH_AMX) ik_plan_init(pl, c, 16, 4, 1);
  if (c->opt.conv == PATH_AMX) ik_amx_plan(pl); /* fits: prepare asked the same question of the same plan */
  else if (c->opt.conv == PATH_AVX2) ik_plan_init(pl, c, 8, 2, 2);
  return c->opt.conv;
}

lb_status ik_conv_opt_prepare(lb_iconv *c) {
  if (c->d.groups != 1 || c->isa == LB_IK_REF) return LB_OK;
  if (c->wbits == 1) return ik_binary_prepare(c);
  c->opt.conv = c->isa >= LB_IK_AVX512VNNI ? PATH_VNNI : PATH_AVX2;
  c->opt.slots = omp_get_max_threads();
  ik_plan pl;
  conv_plan(c, &pl);
  if (c->isa == LB_IK_AMX && ik_amx_plan(&pl)) c->opt.conv = PATH_AMX; /* pl now has the AMX layout */
  if (c->opt.conv != PATH_AVX2) {
    /* The weight layout is built once here. 8-bit weights keep it as is; 4- and 2-bit weights
     * keep it packed to their width (half or a quarter of the memory), widened into scratch at
     * each run by a linear unpack. The per-channel weight sums the zero-point terms need are
     * kept too (K int32s). */
    const size_t lbytes = ik_wlayout_bytes(&pl);
    const size_t keep = ik_round(c->wbits == 8 ? lbytes : ik_wlayout_packed_bytes(lbytes, c->wbits));
    c->opt.bytes = keep + (size_t)pl.K * sizeof(int32_t);
    c->opt.buf = lb_alloc_aligned(c->opt.bytes);
    if (!c->opt.buf) return lb_fail(LB_ERR_NOMEM, "iconv: weight layout (%zu bytes)", c->opt.bytes);
    if (c->wbits == 8) {
      ik_wlayout_build(&pl, c, IK_VNNI_G, c->opt.buf);
      c->opt.layout = 1;
    } else {
      int8_t *wide = lb_alloc_aligned(lbytes);
      if (!wide) return lb_fail(LB_ERR_NOMEM, "iconv: weight layout (%zu bytes)", lbytes);
      ik_wlayout_build(&pl, c, IK_VNNI_G, wide);
      ik_wlayout_pack(wide, lbytes, c->wbits, c->opt.buf);
      lb_free_aligned(wide);
      c->opt.packed = c->wbits;
    }
    c->opt.wsum = (int32_t *)((unsigned char *)c->opt.buf + keep);
    ik_wsum_build(c, c->opt.wsum);
  }
  return LB_OK;
}

size_t ik_conv_opt_scratch(const lb_iconv *c, int n) {
  if (c->wbits == 1) return c->opt.buf ? ik_binary_scratch(c) : 0;
  ik_plan pl;
  if (!conv_plan(c, &pl)) return 0;
  return ik_nhwc_scratch(c, &pl, n);
}

size_t ik_conv_opt_scratch_requant(const lb_iconv *c, int n) { return ik_conv_opt_scratch(c, n); }

/* The zero point must be a code of the input type (VNNI pads with it as a byte) or, for the
 * int16 path, keep x - zx within int16. */
static int zx_ok(const lb_iconv *c, int32_t zx) {
  if (c->opt.conv == PATH_VNNI || c->opt.conv == PATH_AMX) return c->x_signed ? (zx >= -128 && zx <= 127) : (zx >= 0 && zx <= 255);
  return zx >= -32000 && zx <= 32000;
}

static int conv_go(const lb_iconv *c, int n, const void *x, int32_t zx, int32_t *acc, const ik_rq_args *rq,
                   void *scratch) {
  ik_plan pl;
  int path = conv_plan(c, &pl);
  if (!path || !zx_ok(c, zx)) return 0;
  if (path == PATH_AMX) ik_nhwc_run(c, &pl, NULL, 0, n, x, zx, acc, rq, scratch); /* pl.amx: its own rows */
  else if (path == PATH_VNNI) ik_nhwc_run(c, &pl, ik_tile_vnni, IK_VNNI_G, n, x, zx, acc, rq, scratch);
  else ik_nhwc_run(c, &pl, ik_tile_avx2, IK_AVX2_G, n, x, zx, acc, rq, scratch);
  return 1;
}

int lb_iconv_nhwc_ok(const lb_iconv *c, int32_t zx) {
  ik_plan pl;
  return c && c->wbits != 1 && conv_plan(c, &pl) != PATH_NONE && zx_ok(c, zx);
}

void lb_iconv_run_requant_nhwc(const lb_iconv *c, int n, const void *x, int x_nhwc, int32_t zx, const int64_t *bias_p,
                               const int32_t *M, const int *s, int32_t zp, int32_t lo, int32_t hi, int y_signed, void *y,
                               int y_nhwc, void *scratch) {
  if (!lb_iconv_nhwc_ok(c, zx)) return; /* a caller error: the engine asks first */
  ik_rq_args rq = {bias_p, M, s, zp, lo, hi, y_signed, y, x_nhwc, y_nhwc};
  conv_go(c, n, x, zx, NULL, &rq, scratch);
}

int ik_conv_opt_run(const lb_iconv *c, int n, const void *x, int32_t zx, int32_t *acc, void *scratch) {
  return conv_go(c, n, x, zx, acc, NULL, scratch);
}

int ik_conv_opt_run_requant(const lb_iconv *c, int n, const void *x, int32_t zx, const int64_t *bias_p,
                            const int32_t *M, const int *s, int32_t zp, int32_t lo, int32_t hi, int y_signed, void *y,
                            void *scratch) {
  ik_rq_args rq = {bias_p, M, s, zp, lo, hi, y_signed, y, 0, 0};
  return conv_go(c, n, x, zx, NULL, &rq, scratch);
}

int ik_conv_opt_amx(const lb_iconv *c) { return c && c->opt.conv == PATH_AMX; }

int ik_conv_opt_run_binary(const lb_iconv *c, int n, const uint8_t *xbits, int32_t *acc, void *scratch) {
  return ik_binary_run(c, n, xbits, acc, NULL, scratch);
}
