/* Round trip of the pretrained CIFAR-10 ResNets in ../shared/models: ONNX import -> lowbit graph
 * -> float ONNX export -> ONNX Runtime gives the logits ONNX Runtime gives on the original file
 * (and lb_exec's), to 1e-4 of their scale. Skips visibly when shared/ or ONNX Runtime is missing. */
#include <stdio.h>
#include <stdlib.h>

#include "lowbit/export.h"
#include "lowbit/onnx.h"
#include "testutil.h"

enum { N = 4 };

static void roundtrip(const char *model) {
  char src[1024];
  snprintf(src, sizeof src, "%s/models/%s", lbt_shared_dir(), model);
  lb_graph *g = NULL;
  CHECK_OK(lb_onnx_import(src, &g, NULL));
  if (!g) return;
  const char *out = lbt_tmp_path(model);
  CHECK_OK(lb_export_onnx_float(g, out));
  lb_rng rng;
  lb_rng_seed(&rng, 3);
  float *x = lbt_falloc(N * 3 * 32 * 32), *orig = lbt_falloc(N * 10), *back = lbt_falloc(N * 10);
  lbt_fill_uniform(x, N * 3 * 32 * 32, &rng, -2.0f, 2.0f);
  int64_t dims[4] = {N, 3, 32, 32};
  CHECK_MSG(lbt_ort_run(src, x, dims, 4, orig, N * 10) == 0, "%s: ONNX Runtime on the original failed", model);
  CHECK_MSG(lbt_ort_run(out, x, dims, 4, back, N * 10) == 0, "%s: ONNX Runtime on the export failed", model);
  double err = lbt_scaled_err(back, orig, N * 10);
  CHECK_MSG(err < 1e-4, "%s: exported model's logits differ from the original's by %.3g (scaled)", model, err);
  lb_exec *e = NULL;
  CHECK_OK(lb_exec_create(&e, g, N));
  if (e) {
    const float *y = lb_exec_forward(e, x, N, 0, NULL);
    double e2 = lbt_scaled_err(y, orig, N * 10);
    CHECK_MSG(e2 < 1e-4, "%s: lb_exec's logits differ from ONNX Runtime's by %.3g (scaled)", model, e2);
    printf("  %s: export vs original %.2g, lowbit vs original %.2g (scaled errors)\n", model, err, e2);
  }
  lb_exec_free(e);
  free(x);
  free(orig);
  free(back);
  lb_graph_free(g);
}

int main(void) {
  char probe[1024];
  snprintf(probe, sizeof probe, "%s/models/resnet20_cifar10.onnx", lbt_shared_dir());
  if (!lbt_file_exists(probe)) return lbt_skip("test_onnx_roundtrip", "shared/models not found beside the project");
  if (!lbt_ort_available()) return lbt_skip("test_onnx_roundtrip", "ONNX Runtime (npm onnxruntime-node) not installed");
  if (!lbt_tmp_init("lb_onnx_rt_")) return 1;
  roundtrip("resnet20_cifar10.onnx");
  roundtrip("resnet56_cifar10.onnx");
  lbt_tmp_cleanup();
  return lbt_finish("test_onnx_roundtrip");
}
