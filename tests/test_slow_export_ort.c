/* Slow end-to-end check of the ONNX export of a trained integer program (issue 4): train lenet5
 * on Fashion-MNIST for one epoch, PTQ W8A8 on fbgemm, deploy, export QOperator and QDQ, and run
 * the whole test set through lowbit's engine and ONNX Runtime. Required: identical top-1 on
 * every test image, logits within 1% of their range (ONNX requantizes with a float multiply
 * where lowbit uses a fixed-point one; a code 1 LSB off moves a logit by a weight's worth).
 * The differing images and the worst logit difference are printed. Skips visibly without
 * Fashion-MNIST or ONNX Runtime. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/data.h"
#include "lowbit/deploy.h"
#include "lowbit/export.h"
#include "testutil.h"

static void compare(const char *form, const float *want, const float *got, int n, int classes) {
  int top_diff = 0;
  double worst = 0, lo = want[0], hi = want[0];
  for (int i = 0; i < n; i++) {
    int a = 0, b = 0;
    for (int c = 0; c < classes; c++) {
      double g = got[i * classes + c], w = want[i * classes + c];
      worst = fmax(worst, fabs(g - w));
      lo = fmin(lo, w);
      hi = fmax(hi, w);
      if (g > got[i * classes + a]) a = c;
      if (w > want[i * classes + b]) b = c;
    }
    top_diff += a != b;
  }
  printf("  %-10s %d test images: top-1 differs on %d; worst logit difference %.3g (%.3g%% of the range)\n", form, n,
         top_diff, worst, 100 * worst / (hi - lo));
  CHECK_MSG(top_diff == 0, "%s: top-1 differs from the engine on %d of %d images", form, top_diff, n);
  CHECK_MSG(worst <= 0.01 * (hi - lo), "%s: logits differ by %.3g", form, worst);
}

int main(void) {
  lb_dataset test;
  if (lb_dataset_open("fashion-mnist", 0, &test))
    return lbt_skip("test_slow_export_ort", "Fashion-MNIST not installed (dataset-fashion-mnist)");
  if (!lbt_ort_available()) {
    lb_dataset_free(&test);
    return lbt_skip("test_slow_export_ort", "ONNX Runtime (npm onnxruntime-node) not installed");
  }
  const char *dir = lbt_tmp_init("lb_slow_ort_");
  if (!dir) return 1;
  const char *fp = lbt_tmp_path("fp.lbm"), *q = lbt_tmp_path("q.lbm"), *prog = lbt_tmp_path("p.lbp");
  CHECK(lbt_run_cli("train --model lenet5 --epochs 1 --quiet --save '%s'", fp) == 0);
  CHECK(lbt_run_cli("ptq --model '%s' --backend fbgemm --w 8 --a 8 --quiet --save '%s'", fp, q) == 0);
  CHECK_MSG(lbt_run_cli("deploy --model '%s' -o '%s'", q, prog) == 0, "deploy: %s", lbt_err);
  lb_program *p = NULL;
  CHECK_OK(lb_program_load(prog, &p));
  lb_engine *e = NULL;
  if (p) CHECK_OK(lb_engine_create(p, 256, 0, &e));
  if (e) {
    int n = test.n, per = p->in_c * p->in_h * p->in_w;
    float *x = lbt_falloc((size_t)n * per), *want = lbt_falloc((size_t)n * p->classes);
    float *got = lbt_falloc((size_t)n * p->classes);
    int32_t *idx = malloc((size_t)n * sizeof *idx), *y = malloc((size_t)n * sizeof *y);
    lb_augment norm = {{0}, {1, 1, 1, 1}, 0, 0};
    for (int c = 0; c < 4; c++) {
      norm.mean[c] = p->norm_mean[c];
      norm.std[c] = p->norm_std[c];
    }
    for (int i = 0; i < n; i++) idx[i] = i;
    lb_batch_fill(&test, idx, n, &norm, 0, NULL, x, y);
    CHECK_OK(lb_engine_run(e, n, x, want));
    const char *forms[2] = {"qoperator", "qdq"};
    for (int f = 0; f < 2; f++) {
      const char *onnx = lbt_tmp_path(f ? "qdq.onnx" : "qop.onnx");
      CHECK_OK(lb_export_onnx_program(p, (lb_onnx_form)f, onnx));
      int64_t dims[4] = {n, p->in_c, p->in_h, p->in_w};
      int rc = lbt_ort_run(onnx, x, dims, 4, got, (int64_t)n * p->classes);
      CHECK_MSG(rc == 0, "%s: ONNX Runtime failed", forms[f]);
      if (!rc) compare(forms[f], want, got, n, p->classes);
    }
    free(x);
    free(want);
    free(got);
    free(idx);
    free(y);
  }
  lb_engine_free(e);
  lb_program_free(p);
  lb_dataset_free(&test);
  lbt_tmp_cleanup();
  return lbt_finish("test_slow_export_ort");
}
