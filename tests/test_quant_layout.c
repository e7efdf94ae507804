/* QAT graphs on the fused executor keep activations in nChw16c between oneDNN convolutions
 * (fake quantizers and quantized convolutions take the layout). Against the plain NCHW executor
 * on a resnet8 with LSQ W4A4 and PACT W4A4: the same output bits (training and evaluation), the
 * same gradient bits for every parameter but the quantizers' own scale / alpha, which are sums
 * over the tensor met in another order (within float rounding). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/graph.h"
#include "lowbit/nn.h"
#include "lowbit/qgraph.h"
#include "exec_runs.h"
#include "testutil.h"

enum { BATCH = 4, SIDE = 12 };

static lb_graph *qat_resnet8(lb_estimator est) {
  lb_graph *g = NULL, *qg = NULL;
  CHECK_OK(lb_zoo_build("resnet8", 1, SIDE, SIDE, 10, &g));
  CHECK_OK(lb_graph_init_params(g, 3));
  lb_qplan_request r = {.backend = "academic", .wbits = 4, .abits = 4, .est = est, .w_observer = LB_OBS_LSQ,
                        .a_observer = LB_OBS_LSQ};
  lb_qplan plan;
  CHECK_OK(lb_qplan_make(g, &r, &plan));
  CHECK_OK(lb_quant_apply(g, &plan, &qg));
  lb_dataset d = {.n = 8, .c = 1, .h = SIDE, .w = SIDE, .classes = 10};
  d.images = malloc(8 * SIDE * SIDE);
  d.labels = calloc(8, sizeof(int32_t));
  for (int i = 0; i < 8 * SIDE * SIDE; i++) d.images[i] = (uint8_t)((unsigned)i * 2654435761u >> 24);
  CHECK_OK(lb_quant_calibrate(qg, &d, NULL, 8, 8));
  lb_dataset_free(&d);
  lb_qplan_free(&plan);
  lb_graph_free(g);
  return qg;
}

static void compare(lb_estimator est) {
  lb_graph *g = qat_resnet8(est);
  if (!g) return;
  float x[BATCH * SIDE * SIDE], r[BATCH * 10];
  lb_rng rng;
  lb_rng_seed(&rng, 11);
  lbt_fill_uniform(x, BATCH * SIDE * SIDE, &rng, -1, 1);
  lbt_fill_uniform(r, BATCH * 10, &rng, -1, 1);
  float *start = malloc((size_t)g->n_values * sizeof(float));
  memcpy(start, g->values, (size_t)g->n_values * sizeof(float));
  lbt_exec_run run[2] = {lbt_exec_step(g, start, BATCH, 0, x, r), lbt_exec_step(g, start, BATCH, 1, x, r)};
  if (run[0].ok && run[1].ok) {
    CHECK(memcmp(run[0].out, run[1].out, sizeof(float) * BATCH * 10) == 0);
    CHECK(memcmp(run[0].eval, run[1].eval, sizeof(float) * BATCH * 10) == 0);
    int differ = 0, quantizer_params = 0;
    for (int p = 0; p < g->n_params; p++) {
      const lb_param *pp = &g->params[p];
      const float *a = run[0].grads + pp->offset, *b = run[1].grads + pp->offset;
      const int of_quantizer = strcmp(g->nodes[pp->node].op->name, "fakequant") == 0;
      quantizer_params += of_quantizer;
      if (of_quantizer)
        CHECK_MSG(lbt_max_rel_err(b, a, pp->numel, 1e-6) < 1e-5, "%s: %.3g", pp->name,
                  lbt_max_rel_err(b, a, pp->numel, 1e-6));
      else
        differ += memcmp(a, b, sizeof(float) * (size_t)pp->numel) != 0;
    }
    CHECK_MSG(differ == 0, "%d parameter gradients differ", differ);
    CHECK(quantizer_params > 0);
    CHECK(run[0].blocked == 0);
    if (lb_conv2d_onednn_version()) CHECK_MSG(run[1].blocked > 20, "only %d nodes in nChw16c", run[1].blocked);
  }
  lbt_exec_run_free(&run[0]);
  lbt_exec_run_free(&run[1]);
  free(start);
  lb_graph_free(g);
}

int main(void) {
  lb_set_num_threads(2);
  CHECK_OK(lb_quant_register_ops());
  compare(LB_EST_LSQ);
  compare(LB_EST_PACT);
  return lbt_finish("test_quant_layout");
}
