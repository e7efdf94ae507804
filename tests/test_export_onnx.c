/* ONNX export of float graphs: every zoo model, with random weights and non-trivial BN
 * statistics, exported and run in ONNX Runtime, gives lb_exec's evaluation logits (float
 * summation order aside). Also: what the exporter refuses, and that a failed export leaves no
 * file. Skips the ONNX Runtime part (visibly) when node or onnxruntime-node is missing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/export.h"
#include "lowbit/graph.h"
#include "lowbit/qgraph.h"
#include "testutil.h"

/* BN statistics away from (0, 1), so a wrong epsilon or a swapped mean/var shows. */
static void randomize_bn(lb_graph *g, lb_rng *rng) {
  for (int i = 0; i < g->n_params; i++) {
    lb_param *p = &g->params[i];
    float *v = g->values + p->offset;
    size_t len = strlen(p->name);
    if (len > 13 && !strcmp(p->name + len - 13, ".running_mean")) lbt_fill_uniform(v, p->numel, rng, -0.2f, 0.2f);
    if (len > 12 && !strcmp(p->name + len - 12, ".running_var")) lbt_fill_uniform(v, p->numel, rng, 0.5f, 2.0f);
    if (len > 7 && !strcmp(p->name + len - 7, ".weight") && p->shape.ndim == 1)
      lbt_fill_uniform(v, p->numel, rng, 0.5f, 1.5f);
    if (len > 5 && !strcmp(p->name + len - 5, ".bias") && p->shape.ndim == 1) lbt_fill_uniform(v, p->numel, rng, -0.1f, 0.1f);
  }
}

static void check_model(const char *model, int c, int hw, int ort) {
  lb_graph *g = NULL;
  CHECK_OK(lb_zoo_build(model, c, hw, hw, 10, &g));
  if (!g) return;
  lb_rng rng;
  lb_rng_seed(&rng, 7);
  CHECK_OK(lb_graph_init_params(g, 3));
  randomize_bn(g, &rng);
  const char *path = lbt_tmp_path(model);
  CHECK_OK(lb_export_onnx_float(g, path));
  CHECK(lbt_file_exists(path));
  if (ort) {
    enum { N = 3 };
    int64_t in_numel = (int64_t)c * hw * hw;
    float *x = lbt_falloc((size_t)(N * in_numel)), *got = lbt_falloc(N * 10);
    lbt_fill_uniform(x, N * in_numel, &rng, -1.0f, 1.0f);
    lb_exec *e = NULL;
    CHECK_OK(lb_exec_create(&e, g, N));
    if (e) {
      const float *want = lb_exec_forward(e, x, N, 0, NULL);
      int64_t dims[4] = {N, c, hw, hw};
      CHECK_MSG(lbt_ort_run(path, x, dims, 4, got, N * 10) == 0, "%s: ONNX Runtime failed", model);
      double err = lbt_scaled_err(got, want, N * 10);
      CHECK_MSG(err < 1e-4, "%s: ONNX Runtime logits differ from lb_exec's by %.3g (scaled)", model, err);
      lb_exec_free(e);
    }
    free(x);
    free(got);
  }
  lb_graph_free(g);
}

static void test_refusals(void) {
  lb_graph *g = NULL;
  CHECK_OK(lb_zoo_build("lenet5", 1, 28, 28, 10, &g));
  if (!g) return;
  lb_qplan plan;
  lb_qplan_request r = {.backend = "fbgemm", .wbits = 8, .abits = 8, .est = LB_EST_STE};
  CHECK_OK(lb_qplan_make(g, &r, &plan));
  lb_graph *qg = NULL;
  CHECK_OK(lb_quant_apply(g, &plan, &qg));
  const char *path = lbt_tmp_path("quantized.onnx");
  if (qg) {
    CHECK_STATUS(lb_export_onnx_float(qg, path), LB_ERR_UNSUPPORTED);
    CHECK(strstr(lb_last_error(), "lowbit deploy") != NULL);
    CHECK(!lbt_file_exists(path));
    lb_graph_free(qg);
  }
  lb_qplan_free(&plan);
  CHECK_STATUS(lb_export_onnx_float(g, "/nonexistent-dir/x.onnx"), LB_ERR_IO);
  lb_graph_free(g);
}

int main(void) {
  CHECK_OK(lb_quant_register_ops());
  if (!lbt_tmp_init("lb_export_onnx_")) return 1;
  int ort = lbt_ort_available();
  check_model("mlp", 1, 28, ort);
  check_model("lenet5", 1, 28, ort);
  check_model("resnet8", 1, 28, ort);
  check_model("resnet8", 3, 32, ort);
  check_model("mobilenetv2-tiny", 1, 28, ort);
  test_refusals();
  lbt_tmp_cleanup();
  if (!ort) {
    int rc = lbt_finish("test_export_onnx");
    return rc ? rc : lbt_skip("test_export_onnx", "ONNX Runtime comparisons skipped (see above)");
  }
  return lbt_finish("test_export_onnx");
}
