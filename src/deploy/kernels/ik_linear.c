/* Integer linear layer: prepare, the reference and the dispatch to the optimized variant. */
#include <stdlib.h>

#include "deploy/kernels/ik_internal.h"
#include "deploy/kernels/ik_simd.h"

lb_status lb_ilinear_prepare(int k, int c, int wbits, int w_signed, const int8_t *w, const int32_t *w_zp, int x_signed,
                             lb_ik_isa isa, lb_ilinear **out) {
  if (!out) return lb_fail(LB_ERR_ARG, "ilinear: NULL output");
  *out = NULL;
  if (k <= 0 || c <= 0) return lb_fail(LB_ERR_SHAPE, "ilinear: sizes must be positive (k=%d, c=%d)", k, c);
  if (wbits == 1) return lb_fail(LB_ERR_UNSUPPORTED, "ilinear: binary weights are not built for linear (use a 1x1 binary conv)");
  if ((int)isa < LB_IK_REF || isa > LB_IK_AMX) return lb_fail(LB_ERR_ARG, "ilinear: unknown kernel variant %d", (int)isa);
  if (ik_isa_clamp(isa) != isa)
    return lb_fail(LB_ERR_UNSUPPORTED, "ilinear: this CPU cannot run the %s kernels", lb_ik_isa_name(isa));
  lb_ilinear *l = calloc(1, sizeof *l);
  if (!l) return lb_fail(LB_ERR_NOMEM, "ilinear: descriptor");
  l->k = k;
  l->c = c;
  l->wbits = wbits;
  l->w_signed = w_signed != 0;
  l->x_signed = x_signed != 0;
  l->isa = isa;
  lb_status st = ik_wmat_pack(&l->w, k, c, wbits, w_signed, w, w_zp, "ilinear");
  if (st == LB_OK) st = ik_linear_opt_prepare(l);
  if (st != LB_OK) {
    lb_ilinear_free(l);
    return st;
  }
  *out = l;
  return LB_OK;
}

void lb_ilinear_free(lb_ilinear *l) {
  if (!l) return;
  ik_wmat_free(&l->w);
  lb_free_aligned(l->opt.buf);
  free(l);
}

size_t lb_ilinear_weight_bytes(const lb_ilinear *l) { return l ? (size_t)(l->w.rows * l->w.row_bytes) + l->opt.bytes : 0; }

/* x: (n, C) codes, acc: (n, K) = sum_c (x - zx) * (w - zw[k]). */
void ik_linear_ref(const lb_ilinear *l, int n, const void *x, int32_t zx, int32_t *acc) {
  const int K = l->k, C = l->c;
  const int64_t outs = (int64_t)n * K;
#pragma omp parallel for schedule(static) if (outs * C >= 65536)
  for (int64_t o = 0; o < outs; o++) {
    int b = (int)(o / K), k = (int)(o % K);
    const uint8_t *row = l->w.data + (int64_t)k * l->w.row_bytes;
    int64_t a = 0;
    for (int i = 0; i < C; i++) {
      int64_t xi = (int64_t)b * C + i;
      int xv = l->x_signed ? ((const int8_t *)x)[xi] : ((const uint8_t *)x)[xi];
      a += (int64_t)(xv - zx) * (ik_wget(row, i, l->w.bits, l->w.sgn) - l->w.zp[k]);
    }
    acc[o] = (int32_t)(uint32_t)(uint64_t)a;
  }
}

void lb_ilinear_run(const lb_ilinear *l, int n, const void *x, int32_t zx, int32_t *acc) {
  if (ik_linear_opt_run(l, n, x, zx, acc)) return;
  ik_linear_ref(l, n, x, zx, acc);
}
