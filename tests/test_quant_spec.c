/* quant/spec: integer ranges for many specs, including every backend row of methods/qat.md §4.4
 * that a uniform spec can express, validation messages for impossible specs, parameter counts,
 * the readable form and power-of-two scale rounding. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "lowbit/quant.h"
#include "testutil.h"

#define spec lbt_qspec

static void check_range(const char *what, lb_qspec q, int32_t lo, int32_t hi) {
  int32_t a = 1234, b = 1234;
  CHECK_MSG(lb_qspec_validate(&q, NULL) == LB_OK, "%s: %s", what, lb_last_error());
  lb_qspec_range(&q, &a, &b);
  CHECK_MSG(a == lo && b == hi, "%s: [%d, %d], want [%d, %d]", what, (int)a, (int)b, (int)lo, (int)hi);
}

static void test_ranges(void) {
  const lb_qgran T = LB_QGRAN_TENSOR, C = LB_QGRAN_CHANNEL;
  const lb_qscale_kind F = LB_QSCALE_FLOAT, P = LB_QSCALE_POW2;
  /* plain */
  check_range("int8", spec(8, 1, 0, 0, T, 0, 0, F), -128, 127);
  check_range("uint8", spec(8, 0, 0, 0, T, 0, 0, F), 0, 255);
  check_range("int4", spec(4, 1, 1, 0, T, 0, 0, F), -8, 7);
  check_range("uint4", spec(4, 0, 0, 0, T, 0, 0, F), 0, 15);
  check_range("int2", spec(2, 1, 1, 0, T, 0, 0, F), -2, 1);
  check_range("int2 narrow", spec(2, 1, 1, 1, T, 0, 0, F), -1, 1);
  check_range("int1", spec(1, 1, 0, 0, T, 0, 0, F), -1, 0);
  check_range("uint1", spec(1, 0, 0, 0, T, 0, 0, F), 0, 1);
  check_range("int16", spec(16, 1, 1, 0, T, 0, 0, F), -32768, 32767);
  check_range("uint16", spec(16, 0, 0, 0, T, 0, 0, F), 0, 65535);
  check_range("int3 narrow", spec(3, 1, 1, 1, T, 0, 0, F), -3, 3);
  check_range("symmetric unsigned (post-ReLU)", spec(8, 0, 1, 0, T, 0, 0, F), 0, 255);
  /* methods/qat.md §4.4 backends */
  check_range("TensorRT weights: PC sym restricted", spec(8, 1, 1, 1, C, 0, 0, F), -127, 127);
  check_range("TensorRT activations: PT sym restricted", spec(8, 1, 1, 1, T, 0, 0, F), -127, 127);
  check_range("SNPE weights/activations: PT asym uint8", spec(8, 0, 0, 0, T, 0, 0, F), 0, 255);
  check_range("PPLW8A16 weights: PT asym uint8", spec(8, 0, 0, 0, T, 0, 0, F), 0, 255);
  check_range("PPLW8A16 activations: PT asym uint16", spec(16, 0, 0, 0, T, 0, 0, F), 0, 65535);
  check_range("PPLCUDA weights: PC asym 8-bit", spec(8, 0, 0, 0, C, 0, 0, F), 0, 255);
  check_range("Vitis: PT sym int8 pow2", spec(8, 1, 1, 0, T, 0, 0, P), -128, 127);
  check_range("ONNX_QNN: PT asym uint8", spec(8, 0, 0, 0, T, 0, 0, F), 0, 255);
  check_range("OpenVINO weights: PC sym 7-bit", spec(7, 1, 1, 0, C, 0, 0, F), -64, 63);
  check_range("OpenVINO weights, academic: 7-bit restricted", spec(7, 1, 1, 1, C, 0, 0, F), -63, 63);
  check_range("OpenVINO activations: PT sym int8", spec(8, 1, 1, 0, T, 0, 0, F), -128, 127);
  check_range("OpenVINO activations after ReLU: uint8", spec(8, 0, 1, 0, T, 0, 0, F), 0, 255);
  check_range("Tengine_u8: PT asym uint8", spec(8, 0, 0, 0, T, 0, 0, F), 0, 255);
  check_range("STPU: PT sym restricted", spec(8, 1, 1, 1, T, 0, 0, F), -127, 127);
  check_range("QDQ weights: PC sym restricted", spec(8, 1, 1, 1, C, 0, 0, F), -127, 127);
  check_range("TVM: PT sym pow2", spec(8, 1, 1, 0, T, 0, 0, P), -128, 127);
  check_range("FBGEMM weights: PC asym", spec(8, 0, 0, 0, C, 0, 0, F), 0, 255);
  check_range("LSQ unsigned activations 2-bit", spec(2, 0, 0, 0, T, 0, 0, F), 0, 3);
  check_range("LSQ signed weights 3-bit", spec(3, 1, 1, 0, T, 0, 0, F), -4, 3);
  /* NULL outputs are allowed */
  lb_qspec q8 = spec(8, 1, 1, 0, T, 0, 0, F);
  int32_t hi = 0;
  lb_qspec_range(&q8, NULL, &hi);
  CHECK(hi == 127);
}

static void check_invalid(const char *what, lb_qspec q, const lb_shape *shape, lb_status want, const char *needle) {
  lb_clear_error();
  lb_status s = lb_qspec_validate(&q, shape);
  CHECK_MSG(s == want, "%s: got %s, want %s", what, lb_status_str(s), lb_status_str(want));
  CHECK_MSG(strstr(lb_last_error(), needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, lb_last_error(),
            needle);
}

static void test_validate(void) {
  const lb_qgran T = LB_QGRAN_TENSOR, C = LB_QGRAN_CHANNEL, G = LB_QGRAN_GROUP;
  const lb_qscale_kind F = LB_QSCALE_FLOAT;
  lb_shape w2 = lb_shape2(16, 12), w4 = lb_shape4(8, 3, 3, 3);
  check_invalid("0 bits", spec(0, 1, 1, 0, T, 0, 0, F), NULL, LB_ERR_ARG, "0 bits");
  check_invalid("17 bits", spec(17, 0, 0, 0, T, 0, 0, F), NULL, LB_ERR_ARG, "17 bits");
  check_invalid("negative bits", spec(-3, 0, 0, 0, T, 0, 0, F), NULL, LB_ERR_ARG, "-3 bits");
  check_invalid("narrow unsigned", spec(8, 0, 0, 1, T, 0, 0, F), NULL, LB_ERR_ARG, "narrow range needs a signed");
  check_invalid("narrow 1-bit", spec(1, 1, 1, 1, T, 0, 0, F), NULL, LB_ERR_ARG, "at least 2 bits");
  check_invalid("per-channel on a missing axis", spec(8, 1, 1, 0, C, 3, 0, F), &w2, LB_ERR_SHAPE,
                "per-channel quantization on axis 3, but the tensor (16,12) has 2 dimensions");
  check_invalid("per-channel on a negative axis", spec(8, 1, 1, 0, C, -1, 0, F), NULL, LB_ERR_ARG, "axis -1");
  check_invalid("group not dividing", spec(4, 1, 1, 0, G, 0, 5, F), &w2, LB_ERR_SHAPE,
                "group size 5 does not divide the 12 elements of each channel");
  check_invalid("group not dividing 4-D", spec(4, 1, 1, 0, G, 0, 6, F), &w4, LB_ERR_SHAPE,
                "does not divide the 27 elements");
  check_invalid("group with axis 1", spec(4, 1, 1, 0, G, 1, 4, F), NULL, LB_ERR_ARG, "needs axis 0");
  check_invalid("group of 0", spec(4, 1, 1, 0, G, 0, 0, F), NULL, LB_ERR_ARG, "positive group size");
  check_invalid("unknown granularity", spec(4, 1, 1, 0, (lb_qgran)7, 0, 0, F), NULL, LB_ERR_ARG, "granularity");
  check_invalid("unknown scale kind", spec(4, 1, 1, 0, T, 0, 0, (lb_qscale_kind)5), NULL, LB_ERR_ARG, "scale kind");
  lb_shape scalar;
  memset(&scalar, 0, sizeof scalar);
  check_invalid("group on a scalar", spec(4, 1, 1, 0, G, 0, 1, F), &scalar, LB_ERR_SHAPE, "scalar");
  CHECK_STATUS(lb_qspec_validate(NULL, NULL), LB_ERR_ARG);
  /* valid ones */
  lb_qspec ok[] = {spec(1, 1, 1, 0, T, 0, 0, F), spec(16, 0, 0, 0, T, 0, 0, F), spec(2, 1, 1, 1, T, 0, 0, F),
                   spec(8, 0, 1, 0, T, 0, 0, F), spec(8, 1, 1, 0, C, 1, 0, F), spec(4, 1, 1, 0, G, 0, 4, F),
                   spec(4, 1, 1, 0, G, 0, 12, F)};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    CHECK_OK(lb_qspec_validate(&ok[i], NULL));
    CHECK_OK(lb_qspec_validate(&ok[i], &w2));
  }
  lb_qspec pc3 = spec(8, 1, 1, 0, C, 3, 0, F);
  CHECK_OK(lb_qspec_validate(&pc3, &w4));
  CHECK_OK(lb_qspec_validate(&pc3, NULL)); /* axis 3 is fine until a shape says otherwise */
  lb_qspec g27 = spec(4, 1, 1, 0, G, 0, 27, F);
  CHECK_OK(lb_qspec_validate(&g27, &w4));
  lb_qspec g9 = spec(4, 1, 1, 0, G, 0, 9, F);
  CHECK_OK(lb_qspec_validate(&g9, &w4));
}

static void test_num_params_and_str(void) {
  const lb_qscale_kind F = LB_QSCALE_FLOAT, P = LB_QSCALE_POW2;
  lb_shape w4 = lb_shape4(8, 3, 3, 3), a4 = lb_shape4(32, 16, 7, 7);
  lb_qspec pt = spec(8, 0, 0, 0, LB_QGRAN_TENSOR, 0, 0, P), pc = spec(4, 1, 1, 0, LB_QGRAN_CHANNEL, 0, 0, F);
  lb_qspec pc1 = spec(8, 0, 0, 0, LB_QGRAN_CHANNEL, 1, 0, F), pg = spec(4, 1, 1, 1, LB_QGRAN_GROUP, 0, 9, F);
  CHECK(lb_qspec_num_params(&pt, &w4) == 1);
  CHECK(lb_qspec_num_params(&pt, NULL) == 1);
  CHECK(lb_qspec_num_params(&pc, &w4) == 8);
  CHECK(lb_qspec_num_params(&pc1, &a4) == 16);
  CHECK(lb_qspec_num_params(&pg, &w4) == 24);
  lb_qspec bad = spec(8, 1, 1, 0, LB_QGRAN_CHANNEL, 5, 0, F);
  CHECK(lb_qspec_num_params(&bad, &w4) == -1);
  CHECK(lb_qspec_num_params(&pc, NULL) == -1);
  char buf[64];
  CHECK(strcmp(lb_qspec_str(&pc, buf, sizeof buf), "int4 sym per-channel(0)") == 0);
  CHECK(strcmp(lb_qspec_str(&pt, buf, sizeof buf), "uint8 affine per-tensor pow2") == 0);
  CHECK(strcmp(lb_qspec_str(&pg, buf, sizeof buf), "int4 sym narrow per-group(9)") == 0);
  CHECK(strcmp(lb_qspec_str(&pc1, buf, sizeof buf), "uint8 affine per-channel(1)") == 0);
  char small[6];
  CHECK(lb_qspec_str(&pc, small, sizeof small) == small && strcmp(small, "int4 ") == 0); /* truncated, terminated */
}

static void test_pow2(void) {
  /* exact powers of two are kept */
  for (int e = -126; e <= 127; e++) {
    float p = ldexpf(1.0f, e);
    CHECK_MSG(lb_qscale_pow2(p) == p, "2^%d -> %g", e, lb_qscale_pow2(p));
  }
  CHECK(lb_qscale_pow2(ldexpf(1.0f, -140)) == ldexpf(1.0f, -140)); /* subnormal */
  /* log-domain rounding: the boundary is sqrt(2)*2^k; float(sqrt 2) lies just below it */
  float r2 = (float)sqrt(2.0);
  CHECK(r2 < sqrt(2.0));
  CHECK(lb_qscale_pow2(r2) == 1.0f);
  CHECK(lb_qscale_pow2(nextafterf(r2, 2.0f)) == 2.0f);
  for (int e = -20; e <= 20; e++) {
    float lo = ldexpf(r2, e), up = ldexpf(nextafterf(r2, 2.0f), e);
    CHECK(lb_qscale_pow2(lo) == ldexpf(1.0f, e));
    CHECK(lb_qscale_pow2(up) == ldexpf(1.0f, e + 1));
  }
  CHECK(lb_qscale_pow2(3.0f) == 4.0f);  /* log2 3 = 1.58 */
  CHECK(lb_qscale_pow2(0.7f) == 0.5f);  /* -0.515 */
  CHECK(lb_qscale_pow2(0.71f) == 1.0f); /* -0.494 */
  CHECK(lb_qscale_pow2(0.1f) == 0.125f);
  CHECK(lb_qscale_pow2(1.9999999f) == 2.0f);
  CHECK(lb_qscale_pow2(FLT_EPSILON) == FLT_EPSILON);
  /* results are always exact powers of two */
  lb_rng r;
  lb_rng_seed(&r, 5);
  for (int i = 0; i < 1000; i++) {
    float s = ldexpf(1.0f + lb_rng_uniform(&r), (int)lb_rng_below(&r, 40) - 20);
    float p = lb_qscale_pow2(s);
    int e;
    CHECK(frexpf(p, &e) == 0.5f);
    double d = fabs(log2((double)s) - log2((double)p));
    CHECK_MSG(d <= 0.5, "s=%g -> %g", s, p);
  }
  /* not scales: returned unchanged */
  CHECK(lb_qscale_pow2(0.0f) == 0.0f);
  CHECK(lb_qscale_pow2(-1.0f) == -1.0f);
  CHECK(isnan(lb_qscale_pow2(NAN)));
}

int main(void) {
  test_ranges();
  test_validate();
  test_num_params_and_str();
  test_pow2();
  return lbt_finish("test_quant_spec");
}
