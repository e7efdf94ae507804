/* Dispatch from a prepared object to its optimized variant. Variants not built for a case
 * return 0 and the reference runs (bit-exact by definition). */
#include "deploy/kernels/ik_simd.h"

lb_status ik_conv_opt_prepare(lb_iconv *c) {
  (void)c;
  return LB_OK;
}
size_t ik_conv_opt_scratch(const lb_iconv *c, int n) {
  (void)c;
  (void)n;
  return 0;
}
size_t ik_conv_opt_scratch_requant(const lb_iconv *c, int n) {
  (void)c;
  (void)n;
  return 0;
}
int ik_conv_opt_run(const lb_iconv *c, int n, const void *x, int32_t zx, int32_t *acc, void *scratch) {
  (void)c, (void)n, (void)x, (void)zx, (void)acc, (void)scratch;
  return 0;
}
int ik_conv_opt_run_requant(const lb_iconv *c, int n, const void *x, int32_t zx, const int32_t *bias_q,
                            const int32_t *M, const int *s, int32_t zp, int32_t lo, int32_t hi, int y_signed, void *y,
                            void *scratch) {
  (void)c, (void)n, (void)x, (void)zx, (void)bias_q, (void)M, (void)s, (void)zp, (void)lo, (void)hi, (void)y_signed,
      (void)y, (void)scratch;
  return 0;
}
int ik_conv_opt_run_binary(const lb_iconv *c, int n, const uint8_t *xbits, int32_t *acc, void *scratch) {
  (void)c, (void)n, (void)xbits, (void)acc, (void)scratch;
  return 0;
}
lb_status ik_linear_opt_prepare(lb_ilinear *l) {
  (void)l;
  return LB_OK;
}
int ik_linear_opt_run(const lb_ilinear *l, int n, const void *x, int32_t zx, int32_t *acc) {
  (void)l, (void)n, (void)x, (void)zx, (void)acc;
  return 0;
}
int ik_requant_opt(lb_ik_isa isa, int n, int k, int64_t hw, const int32_t *acc, const int32_t *bias_q,
                   const int32_t *M, const int *s, int32_t zp, int32_t lo, int32_t hi, int y_signed, void *y) {
  (void)isa, (void)n, (void)k, (void)hw, (void)acc, (void)bias_q, (void)M, (void)s, (void)zp, (void)lo, (void)hi,
      (void)y_signed, (void)y;
  return 0;
}
int ik_add_opt(lb_ik_isa isa, int64_t n, const void *x1, int x1_signed, int32_t z1, int32_t M1, const void *x2,
               int x2_signed, int32_t z2, int32_t M2, int s, int32_t zy, int32_t lo, int32_t hi, int y_signed, void *y) {
  (void)isa, (void)n, (void)x1, (void)x1_signed, (void)z1, (void)M1, (void)x2, (void)x2_signed, (void)z2, (void)M2,
      (void)s, (void)zy, (void)lo, (void)hi, (void)y_signed, (void)y;
  return 0;
}
int ik_maxpool_opt(lb_ik_isa isa, const lb_pool_desc *d, const void *x, int x_signed, void *y) {
  (void)isa, (void)d, (void)x, (void)x_signed, (void)y;
  return 0;
}
