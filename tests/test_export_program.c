/* ONNX export of integer programs, QOperator and QDQ forms, run in ONNX Runtime and compared
 * with lowbit's engine on the same images: top-1 must agree on every image, and the logits
 * differ by at most a few output quantization steps (ONNX requantizes with a float multiply
 * where lowbit uses a fixed-point one, so a code can move by 1 LSB where a product falls
 * within rounding of a half, and such moves propagate). The worst logit difference, in units
 * of the logits' own spread, is printed. movenet adds the data-movement steps (Slice, Pad,
 * Concat, Reshape on int8/uint8 codes); academic programs add the float steps. Skips the ONNX Runtime part visibly when it is
 * missing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy_movenet.h"
#include "deploy_testlib.h"
#include "lowbit/export.h"

enum { N = 24 };

static void images(const lb_dataset *d, float *x) {
  for (int64_t i = 0; i < (int64_t)N * 784; i++) x[i] = (d->images[i] / 255.0f - 0.3f) / 0.35f;
}

static void check(const char *model, const char *backend, int wbits, int abits, const lb_dataset *d, int ort) {
  lb_status st;
  lb_augment mnorm = {{0.3f}, {0.35f}, 0, 0}; /* as images() */
  lb_graph *qg = !strncmp(model, "movenet", 7) ? mvn_quantized(!strcmp(model, "movenet-codes"), 0.0f, backend, d, &mnorm, &st)
                                               : dtl_quantized(model, backend, wbits, abits, LB_BN_FOLD_NONE, d, &st);
  CHECK_MSG(qg != NULL, "%s %s W%dA%d: %s", model, backend, wbits, abits, lb_last_error());
  if (!qg) return;
  lb_program *p = NULL;
  CHECK_OK(lb_lower(qg, backend, NULL, &p));
  lb_engine *e = NULL;
  if (p) CHECK_OK(lb_engine_create(p, N, 0, &e));
  float *x = lbt_falloc(N * 784), *want = lbt_falloc(N * 10), *got = lbt_falloc(N * 10);
  images(d, x);
  if (e) CHECK_OK(lb_engine_run(e, N, x, want));
  const char *forms[2] = {"qoperator", "qdq"};
  for (int f = 0; e && f < 2; f++) {
    char name[128];
    snprintf(name, sizeof name, "%s_%s_w%da%d_%s.onnx", model, backend, wbits, abits, forms[f]);
    const char *path = lbt_tmp_path(name);
    CHECK_OK(lb_export_onnx_program(p, (lb_onnx_form)f, path));
    if (!ort) continue;
    int64_t dims[4] = {N, 1, 28, 28};
    int rc = lbt_ort_run(path, x, dims, 4, got, N * 10);
    CHECK_MSG(rc == 0, "%s: ONNX Runtime failed", name);
    if (rc) continue;
    double worst = 0, lo = want[0], hi = want[0];
    int top_diff = 0;
    for (int i = 0; i < N; i++) {
      int a = 0, b = 0;
      for (int c = 0; c < 10; c++) {
        double g = got[i * 10 + c], w = want[i * 10 + c];
        worst = fmax(worst, fabs(g - w));
        lo = fmin(lo, w);
        hi = fmax(hi, w);
        if (g > got[i * 10 + a]) a = c;
        if (w > want[i * 10 + b]) b = c;
      }
      top_diff += a != b;
    }
    double rel = worst / fmax(hi - lo, 1e-30);
    printf("  %-44s worst logit difference %.3g (%.2g%% of the logit range), top-1 differs on %d/%d\n", name, worst,
           100 * rel, top_diff, N);
    CHECK_MSG(top_diff == 0, "%s: top-1 differs from the engine on %d images", name, top_diff);
    CHECK_MSG(rel < 0.05, "%s: logits differ from the engine's by %.3g of their range", name, rel);
  }
  lb_engine_free(e);
  lb_program_free(p);
  lb_graph_free(qg);
  free(x);
  free(want);
  free(got);
}

int main(void) {
  CHECK_OK(lb_quant_register_ops());
  if (!lbt_tmp_init("lb_export_prog_")) return 1;
  int ort = lbt_ort_available();
  lb_dataset d;
  dtl_dataset(&d, 64, 5);
  check("lenet5", "fbgemm", 8, 8, &d, ort);
  check("lenet5", "academic", 4, 4, &d, ort);
  check("resnet8", "tensorrt", 8, 8, &d, ort);
  check("resnet8", "snpe", 8, 8, &d, ort);
  check("resnet8", "vitis", 8, 8, &d, ort);
  check("mobilenetv2-tiny", "fbgemm", 8, 8, &d, ort);
  check("movenet", "tensorrt", 8, 8, &d, ort);       /* slice, pad, concat, reshape (deploy_movenet.h) */
  check("movenet-codes", "tensorrt", 8, 8, &d, ort);
  /* academic: float conv outputs, adds, the pool, slices and pads of floats (float steps) */
  check("resnet8", "academic", 4, 4, &d, ort);
  check("movenet", "academic", 8, 8, &d, ort);
  lb_dataset_free(&d);
  lbt_tmp_cleanup();
  int rc = lbt_finish("test_export_program");
  if (!rc && !ort) return lbt_skip("test_export_program", "ONNX Runtime comparisons skipped (see above)");
  return rc;
}
