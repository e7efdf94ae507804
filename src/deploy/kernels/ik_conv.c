/* Integer convolution: prepare (validate, pack weights, build the variant's layout), scratch
 * sizes and the run calls that dispatch to the variant chosen at prepare. */
#include <stdlib.h>
#include <string.h>

#include "deploy/kernels/ik_internal.h"
#include "deploy/kernels/ik_simd.h"

lb_status lb_iconv_prepare(const lb_conv2d_desc *d, int wbits, int w_signed, const int8_t *w, const int32_t *w_zp,
                           int x_signed, lb_ik_isa isa, lb_iconv **out) {
  if (!out) return lb_fail(LB_ERR_ARG, "iconv: NULL output");
  *out = NULL;
  if (!d) return lb_fail(LB_ERR_ARG, "iconv: NULL descriptor");
  lb_conv2d_desc chk = *d;
  lb_status st = lb_conv2d_init(&chk);
  if (st != LB_OK) return st;
  if ((int)isa < LB_IK_REF || isa > LB_IK_AMX) return lb_fail(LB_ERR_ARG, "iconv: unknown kernel variant %d", (int)isa);
  if (ik_isa_clamp(isa) != isa)
    return lb_fail(LB_ERR_UNSUPPORTED, "iconv: this CPU cannot run the %s kernels", lb_ik_isa_name(isa));
  lb_iconv *c = calloc(1, sizeof *c);
  if (!c) return lb_fail(LB_ERR_NOMEM, "iconv: descriptor");
  c->d = chk;
  c->wbits = wbits;
  c->w_signed = wbits == 1 ? 1 : (w_signed != 0);
  c->x_signed = x_signed != 0;
  c->isa = isa;
  c->cg = chk.c / chk.groups;
  c->kg = chk.k / chk.groups;
  c->taps = (int64_t)c->cg * chk.r * chk.s;
  st = ik_wmat_pack(&c->w, chk.k, c->taps, wbits, w_signed, w, w_zp, "iconv");
  if (st == LB_OK) st = ik_conv_opt_prepare(c);
  if (st != LB_OK) {
    lb_iconv_free(c);
    return st;
  }
  *out = c;
  return LB_OK;
}

void lb_iconv_free(lb_iconv *c) {
  if (!c) return;
  ik_wmat_free(&c->w);
  lb_free_aligned(c->opt.buf);
  free(c);
}

size_t lb_iconv_weight_bytes(const lb_iconv *c) { return c ? (size_t)(c->w.rows * c->w.row_bytes) + c->opt.bytes : 0; }

size_t lb_iconv_scratch(const lb_iconv *c, int n) {
  size_t ref = ik_conv_ref_scratch(c, n), opt = ik_conv_opt_scratch(c, n);
  return ref > opt ? ref : opt;
}

static size_t acc_bytes(const lb_iconv *c, int n) {
  return ik_round((size_t)n * (size_t)c->d.k * (size_t)c->d.oh * (size_t)c->d.ow * sizeof(int32_t)) + IK_ALIGN;
}

size_t lb_iconv_scratch_requant(const lb_iconv *c, int n) {
  size_t fused = ik_conv_opt_scratch_requant(c, n);
  size_t plain = acc_bytes(c, n) + lb_iconv_scratch(c, n);
  return fused > plain ? fused : plain;
}

/* A binary convolution has no int8 input: run on it writes zeros (a caller error the
 * lowering never makes; the kernels cannot report it). */
void lb_iconv_run(const lb_iconv *c, int n, const void *x, int32_t zx, int32_t *acc, void *scratch) {
  if (c->wbits == 1) {
    memset(acc, 0, (size_t)n * (size_t)c->d.k * (size_t)c->d.oh * (size_t)c->d.ow * sizeof(int32_t));
    return;
  }
  if (ik_conv_opt_run(c, n, x, zx, acc, scratch)) return;
  ik_conv_ref(c, n, x, zx, acc, scratch);
}

void lb_iconv_run_requant(const lb_iconv *c, int n, const void *x, int32_t zx, const int64_t *bias_p, const int32_t *M,
                          const int *s, int32_t zp, int32_t lo, int32_t hi, int y_signed, void *y, void *scratch) {
  if (c->wbits != 1 && ik_conv_opt_run_requant(c, n, x, zx, bias_p, M, s, zp, lo, hi, y_signed, y, scratch)) return;
  int32_t *acc = ik_align_ptr(scratch);
  void *rest = (char *)scratch + acc_bytes(c, n);
  lb_iconv_run(c, n, x, zx, acc, rest);
  lb_ik_requant(c->isa, n, c->d.k, (int64_t)c->d.oh * c->d.ow, acc, bias_p, M, s, zp, lo, hi, y_signed, y);
}

size_t lb_iconv_scratch_binary_sign(const lb_iconv *c, int n) {
  size_t fused = c->wbits == 1 && c->opt.buf ? ik_binary_scratch(c) : 0, plain = acc_bytes(c, n) + lb_iconv_scratch(c, n);
  return fused > plain ? fused : plain;
}

void lb_iconv_run_binary_sign(const lb_iconv *c, int n, const uint8_t *xbits, const int64_t *bias_p, const int32_t *M,
                              const int32_t *neg, int32_t lo, int32_t hi, int8_t *y, void *scratch) {
  ik_sign_epi sg = {bias_p, M, neg, lo, hi, y};
  if (c->wbits == 1 && ik_binary_run(c, n, xbits, NULL, &sg, scratch)) return;
  int32_t *acc = ik_align_ptr(scratch);
  lb_iconv_run_binary(c, n, xbits, acc, (char *)scratch + acc_bytes(c, n));
  lb_ik_binarize_acc(c->isa, n, c->d.k, (int64_t)c->d.oh * c->d.ow, acc, bias_p, M, neg, lo, hi, y);
}

/* Non-binary convolutions have no bit input: zeros, as lb_iconv_run on a binary one. */
void lb_iconv_run_binary(const lb_iconv *c, int n, const uint8_t *xbits, int32_t *acc, void *scratch) {
  if (c->wbits != 1) {
    memset(acc, 0, (size_t)n * (size_t)c->d.k * (size_t)c->d.oh * (size_t)c->d.ow * sizeof(int32_t));
    return;
  }
  if (ik_conv_opt_run_binary(c, n, xbits, acc, scratch)) return;
  ik_conv_binary_ref(c, n, xbits, acc);
}
