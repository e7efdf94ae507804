/* ONNX's backend node tests for the quantized operators (Debian's libonnx-testdata), computed
 * with lowbit's integer kernels through deploy/qop and read with lowbit's own ONNX loader.
 * Integer outputs may be at most 1 LSB from ONNX's expected values (lowbit requantizes with a
 * fixed-point multiplier and quantizes with x * (1/scale); DESIGN.md allows 1 LSB against an
 * outside reference); how many elements differ is printed. Float outputs within 1e-6 relative.
 * Skips (visibly) when the test data is not installed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/qop/onnx_qop.h"
#include "testutil.h"

#define NODE_DIR "/usr/share/libonnx-testdata/data/node"

static const char *const cases[] = {
    "test_quantizelinear",         "test_quantizelinear_axis",    "test_dequantizelinear",
    "test_dequantizelinear_axis",  "test_qlinearconv",            "test_qlinearmatmul_2D",
    "test_qlinearmatmul_3D",       "test_convinteger_with_padding", "test_convinteger_without_padding",
    "test_basic_convinteger",      "test_matmulinteger",          "test_dynamicquantizelinear",
    "test_dynamicquantizelinear_max_adjusted", "test_dynamicquantizelinear_min_adjusted", NULL};

enum { MAX_IO = 9 };

static void compare(const char *name, int k, const lb_onnx_tensor *got, const lb_onnx_tensor *want) {
  CHECK_MSG(got->ndim == want->ndim && got->numel == want->numel && got->dtype == want->dtype,
            "%s output %d: shape/type differ (ndim %d/%d, numel %lld/%lld, dtype %d/%d)", name, k, got->ndim, want->ndim,
            (long long)got->numel, (long long)want->numel, got->dtype, want->dtype);
  if (got->numel != want->numel || got->is_float != want->is_float) return;
  if (got->is_float) {
    double worst = 0;
    for (int64_t e = 0; e < got->numel; e++) {
      double d = fabs((double)got->f[e] - want->f[e]) / fmax(1e-30, fabs((double)want->f[e]));
      if (d > worst) worst = d;
    }
    CHECK_MSG(worst <= 1e-6, "%s output %d: float relative error %g", name, k, worst);
    return;
  }
  int64_t diff = 0, worst = 0;
  for (int64_t e = 0; e < got->numel; e++) {
    int64_t d = llabs(got->i[e] - want->i[e]);
    diff += d != 0;
    if (d > worst) worst = d;
  }
  CHECK_MSG(worst <= 1, "%s output %d: %lld LSB from ONNX's expected value", name, k, (long long)worst);
  printf("  %-42s out %d: %lld/%lld elements differ, worst %lld LSB\n", name, k, (long long)diff, (long long)got->numel,
         (long long)worst);
}

static void run_case(const char *name) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s/model.onnx", NODE_DIR, name);
  Onnx__ModelProto *m = NULL;
  CHECK_OK(lb_onnx_read_model(path, &m));
  if (!m) return;
  const Onnx__GraphProto *g = m->graph;
  CHECK(g->n_node == 1);
  const Onnx__NodeProto *node = g->node[0];
  lb_onnx_tensor inputs[MAX_IO], outputs[MAX_IO], want[MAX_IO];
  const lb_onnx_tensor *in[MAX_IO] = {0};
  memset(inputs, 0, sizeof inputs);
  memset(outputs, 0, sizeof outputs);
  memset(want, 0, sizeof want);
  int n_in = (int)node->n_input, n_out = (int)node->n_output;
  CHECK(n_in <= MAX_IO && n_out <= MAX_IO && g->n_input <= MAX_IO);
  if (n_in > MAX_IO || n_out > MAX_IO || g->n_input > MAX_IO) n_in = n_out = 0;
  /* input_k.pb is graph input k; node inputs name graph inputs (or are "" when omitted) */
  for (int k = 0; k < n_in; k++) {
    for (size_t gi = 0; gi < g->n_input; gi++) {
      if (!node->input[k][0] || strcmp(node->input[k], g->input[gi]->name)) continue;
      snprintf(path, sizeof path, "%s/%s/test_data_set_0/input_%zu.pb", NODE_DIR, name, gi);
      CHECK_OK(lb_onnx_read_tensor_file(path, &inputs[k]));
      in[k] = &inputs[k];
    }
  }
  for (int k = 0; k < n_out; k++) {
    snprintf(path, sizeof path, "%s/%s/test_data_set_0/output_%d.pb", NODE_DIR, name, k);
    CHECK_OK(lb_onnx_read_tensor_file(path, &want[k]));
  }
  lb_status s = lb_onnx_qop_run(node, in, n_in, outputs, n_out);
  CHECK_MSG(s == LB_OK, "%s: %s", name, lb_last_error());
  for (int k = 0; s == LB_OK && k < n_out; k++) compare(name, k, &outputs[k], &want[k]);
  for (int k = 0; k < MAX_IO; k++) {
    lb_onnx_tensor_free(&inputs[k]);
    lb_onnx_tensor_free(&outputs[k]);
    lb_onnx_tensor_free(&want[k]);
  }
  lb_onnx_model_free(m);
}

/* Unsupported forms are refused with the node named. */
static void test_refusals(void) {
  Onnx__NodeProto n;
  onnx__node_proto__init(&n);
  n.op_type = "QLinearAdd";
  n.name = "qadd7";
  lb_onnx_tensor out[1];
  memset(out, 0, sizeof out);
  CHECK_STATUS(lb_onnx_qop_run(&n, NULL, 0, out, 1), LB_ERR_UNSUPPORTED);
  CHECK(strstr(lb_last_error(), "qadd7") && strstr(lb_last_error(), "QLinearAdd"));
  CHECK_STATUS(lb_onnx_read_tensor_file("/nonexistent/input_0.pb", &out[0]), LB_ERR_IO);
}

int main(void) {
  test_refusals();
  char probe[512];
  snprintf(probe, sizeof probe, "%s/test_qlinearconv/model.onnx", NODE_DIR);
  if (!lbt_file_exists(probe)) {
    int rc = lbt_finish("test_onnx_node_quant");
    return rc ? rc : lbt_skip("test_onnx_node_quant", "ONNX node test data missing (Debian package libonnx-testdata)");
  }
  for (int i = 0; cases[i]; i++) run_case(cases[i]);
  return lbt_finish("test_onnx_node_quant");
}
