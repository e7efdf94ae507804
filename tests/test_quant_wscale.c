/* Weight quantizers use a learned scale the same way activation quantizers do
 * (lb_qscale_effective): a negative stored scale acts as its magnitude and its gradient reaches
 * the stored value with the sign of d|s|/ds; a scale driven to 0 is floored, never a division
 * by zero. */
#include <math.h>
#include <string.h>

#include "lowbit/qgraph.h"
#include "testutil.h"

enum { BATCH = 3, IN = 6, OUT = 4 };

/* input (IN) -> qlinear (OUT), LSQ int4 symmetric per channel; returns the graph. */
static lb_graph *make(void) {
  lb_graph *g;
  lb_graph_create(&g, "wscale", lb_shape1(IN));
  lb_qcfg cfg = {lbt_qspec(4, 1, 1, 0, LB_QGRAN_CHANNEL, 0, 0, LB_QSCALE_FLOAT), LB_EST_LSQ, LB_OBS_LSQ, 0.0f};
  int ia[LB_NODE_IATTRS] = {OUT, 1};
  float fa[LB_NODE_FATTRS] = {0};
  lb_qcfg_pack(&cfg, 1, ia + LB_QLINEAR_IA, fa);
  int x = 0, id;
  CHECK_OK(lb_graph_add(g, "qlinear", "fc", &x, 1, ia, LB_NODE_IATTRS, fa, 1, &id));
  CHECK_OK(lb_graph_init_params(g, 5));
  return g;
}

/* Forward and backward with the given w_scale values; copies out y and d(w_scale). */
static void run(lb_graph *g, const float *scales, float *y, float *dscale) {
  const lb_param *ps = lb_graph_find_param(g, "fc.w_scale");
  memcpy(g->values + ps->offset, scales, OUT * sizeof(float));
  float x[BATCH * IN], r[BATCH * OUT];
  lb_rng rng;
  lb_rng_seed(&rng, 2);
  lbt_fill_uniform(x, BATCH * IN, &rng, -1, 1);
  lbt_fill_uniform(r, BATCH * OUT, &rng, -1, 1);
  lb_exec *e;
  CHECK_OK(lb_exec_create(&e, g, BATCH));
  memcpy(y, lb_exec_forward(e, x, BATCH, 1, &rng), sizeof(float) * BATCH * OUT);
  lb_exec_zero_grad(e);
  lb_exec_backward(e, r);
  memcpy(dscale, lb_exec_grads(e) + ps->offset, OUT * sizeof(float));
  lb_exec_free(e);
}

int main(void) {
  CHECK_OK(lb_quant_register_ops());
  lb_graph *g = make();
  float pos[OUT] = {0.05f, 0.1f, 0.02f, 0.3f}, neg[OUT] = {-0.05f, 0.1f, -0.02f, 0.3f};
  float y1[BATCH * OUT], y2[BATCH * OUT], d1[OUT], d2[OUT];
  run(g, pos, y1, d1);
  run(g, neg, y2, d2);
  CHECK(memcmp(y1, y2, sizeof y1) == 0);
  for (int k = 0; k < OUT; k++) {
    CHECK(d1[k] != 0.0f);
    CHECK(d2[k] == (neg[k] < 0 ? -d1[k] : d1[k]));
  }
  /* a scale of 0 is floored at FLT_EPSILON: finite outputs, finite gradients */
  float zero[OUT] = {0.0f, 0.1f, 0.0f, 0.3f};
  run(g, zero, y2, d2);
  for (int i = 0; i < BATCH * OUT; i++) CHECK(isfinite(y2[i]));
  for (int k = 0; k < OUT; k++) CHECK(isfinite(d2[k]));
  CHECK(lb_qscale_effective(&(lb_qspec){.bits = 4, .is_signed = 1}, -0.0f, NULL) > 0.0f);
  lb_graph_free(g);
  return lbt_finish("test_quant_wscale");
}
