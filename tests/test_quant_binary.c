/* quant: the binary (+-1) grid. Spec rules, the forward s*sign(x), the clipped straight-through
 * gradient and the LSQ-style scale gradient against direct sums, the same bits for one and two
 * threads, observers (mean|x|), the record in node attributes, and what the plan makes of 1-bit
 * requests (binary weights; {0, 1} activations after a ReLU, binary where signed). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/graph.h"
#include "lowbit/qgraph.h"
#include "lowbit/quant.h"
#include "testutil.h"

static lb_qspec binary_spec(lb_qgran gran) {
  lb_qspec q = lbt_qspec(1, 1, 1, 0, gran, 0, 0, LB_QSCALE_FLOAT);
  q.binary = 1;
  return q;
}

static void test_spec(void) {
  lb_qspec q = binary_spec(LB_QGRAN_CHANNEL);
  CHECK_OK(lb_qspec_validate(&q, NULL));
  int32_t lo = 0, hi = 0;
  lb_qspec_range(&q, &lo, &hi);
  CHECK(lo == -1 && hi == 1);
  char buf[64];
  CHECK_MSG(!strcmp(lb_qspec_str(&q, buf, sizeof buf), "binary(+-1) per-channel(0)"), "%s", buf);
  /* only 1-bit signed symmetric wide grids can be binary */
  lb_qspec bad[4] = {q, q, q, q};
  bad[0].bits = 2;
  bad[1].is_signed = 0;
  bad[2].symmetric = 0;
  bad[3].narrow = 1;
  for (int i = 0; i < 4; i++) {
    CHECK_STATUS(lb_qspec_validate(&bad[i], NULL), LB_ERR_ARG);
    CHECK_MSG(strstr(lb_last_error(), "binary (+-1) grid needs 1 bit, signed, symmetric"), "%s", lb_last_error());
  }
  /* the flag survives the node-attribute record */
  lb_qcfg c = {.spec = q, .est = LB_EST_LSQ, .observer = LB_OBS_MINMAX};
  int ia[8] = {0}, enabled = 0;
  float fa[2] = {0};
  lb_qcfg_pack(&c, 1, ia, fa);
  lb_qcfg back;
  CHECK_OK(lb_qcfg_unpack(ia, fa, &back, &enabled));
  CHECK(back.spec.binary && back.spec.bits == 1 && back.spec.symmetric && enabled);
  c.spec = lbt_qspec(1, 1, 1, 0, LB_QGRAN_TENSOR, 0, 0, LB_QSCALE_FLOAT);
  lb_qcfg_pack(&c, 1, ia, fa);
  CHECK_OK(lb_qcfg_unpack(ia, fa, &back, &enabled));
  CHECK(!back.spec.binary);
}

/* (3 channels, 5 elements) per channel on axis 0 */
static void test_forward_backward(void) {
  lb_qspec q = binary_spec(LB_QGRAN_CHANNEL);
  lb_shape sh = lb_shape2(3, 5);
  const float x[15] = {0.0f, -0.0f, 0.3f, -0.3f, 2.0f, 1.0f, -1.0f, 1.5f, -0.25f, 0.125f, -4.0f, 4.0f, 0.5f, -0.5f, 1e-30f};
  const float s[3] = {0.5f, 1.0f, 2.0f};
  float y[15];
  lb_fq_forward(&q, &sh, x, s, NULL, y);
  for (int i = 0; i < 15; i++) {
    float want = (x[i] >= 0.0f ? 1.0f : -1.0f) * s[i / 5];
    CHECK_MSG(y[i] == want, "y[%d] = %g, want %g", i, (double)y[i], (double)want);
  }
  CHECK(y[0] == 0.5f && y[1] == 0.5f); /* sign(0) = sign(-0) = +1 */

  float dy[15], dx[15], dx2[15];
  for (int i = 0; i < 15; i++) {
    dy[i] = 0.1f * (float)(i + 1) * (i % 3 ? 1.0f : -1.0f);
    dx[i] = dx2[i] = 1.0f; /* the backward accumulates */
  }
  lb_fq_backward_ste(&q, &sh, x, s, NULL, dy, dx);
  float ds[3] = {0.25f, 0.25f, 0.25f};
  const float gf = 0.5f;
  lb_fq_backward_lsq(&q, &sh, x, s, NULL, dy, gf, dx2, ds, NULL);
  for (int c = 0; c < 3; c++) {
    double want_s = 0.0;
    for (int i = c * 5; i < c * 5 + 5; i++) {
      int inside = fabsf(x[i]) <= s[c];
      float qv = x[i] >= 0.0f ? 1.0f : -1.0f;
      CHECK_MSG(dx[i] == 1.0f + dy[i] * (float)inside, "ste dx[%d] = %g", i, (double)dx[i]);
      CHECK(dx2[i] == dx[i]);
      want_s += (double)dy[i] * (inside ? (double)qv - (double)x[i] / (double)s[c] : (double)qv) * gf;
    }
    CHECK_MSG(fabs((double)ds[c] - 0.25 - want_s) < 1e-6, "dscale[%d] = %g, want %g", c, (double)ds[c] - 0.25, want_s);
  }
  /* |x| = s is inside (hardtanh's window is closed) */
  CHECK(dx[5] == 1.0f + dy[5] && dx[6] == 1.0f + dy[6]);
}

/* One scale over a tensor large enough to use threads: the sum is the direct one, and one
 * thread and two give the same bits. */
static void test_large_tensor(void) {
  const int64_t n = 300001;
  lb_qspec q = binary_spec(LB_QGRAN_TENSOR);
  lb_shape sh = lb_shape1(n);
  float *x = lbt_falloc((size_t)n), *dy = lbt_falloc((size_t)n), *dx1 = lbt_falloc((size_t)n),
        *dx2 = lbt_falloc((size_t)n);
  lb_rng r;
  lb_rng_seed(&r, 9);
  for (int64_t i = 0; i < n; i++) {
    x[i] = 2.0f * lb_rng_uniform(&r) - 1.0f;
    dy[i] = lb_rng_uniform(&r) - 0.5f;
    dx1[i] = dx2[i] = 0.0f;
  }
  const float s = 0.6f, gf = 1.0f / sqrtf((float)n);
  float d1 = 0.0f, d2 = 0.0f;
  lb_set_num_threads(1);
  lb_fq_backward_lsq(&q, &sh, x, &s, NULL, dy, gf, dx1, &d1, NULL);
  lb_set_num_threads(2);
  lb_fq_backward_lsq(&q, &sh, x, &s, NULL, dy, gf, dx2, &d2, NULL);
  CHECK_MSG(d1 == d2, "dscale %.9g (1 thread) vs %.9g (2 threads)", (double)d1, (double)d2);
  CHECK(memcmp(dx1, dx2, (size_t)n * sizeof *dx1) == 0);
  double want = 0.0;
  for (int64_t i = 0; i < n; i++) {
    float qv = x[i] >= 0.0f ? 1.0f : -1.0f;
    want += (double)dy[i] * (fabsf(x[i]) <= s ? (double)qv - (double)x[i] / (double)s : (double)qv) * gf;
  }
  CHECK_MSG(fabs((double)d1 - want) <= 1e-5 * (fabs(want) + 1e-3), "dscale %g, direct sum %g", (double)d1, want);
  free(x);
  free(dy);
  free(dx1);
  free(dx2);
}

/* Every observer gives s = mean|x| (per channel), the least-squares scale of s*sign(x). */
static void test_observers(void) {
  lb_qspec q = binary_spec(LB_QGRAN_CHANNEL);
  lb_shape sh = lb_shape2(2, 4);
  const float w[8] = {1.0f, -3.0f, 0.5f, -0.5f, 10.0f, 0.0f, 0.0f, -2.0f};
  const lb_observer_kind kinds[] = {LB_OBS_MINMAX, LB_OBS_EMA_MINMAX, LB_OBS_PERCENTILE, LB_OBS_MSE, LB_OBS_KL,
                                    LB_OBS_LSQ};
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    lb_observer o;
    CHECK_OK(lb_observer_init(&o, kinds[k], &q, &sh));
    CHECK_OK(lb_observer_update(&o, &sh, w));
    float sc[2], z[2];
    CHECK_OK(lb_observer_compute(&o, sc, z));
    CHECK_MSG(fabsf(sc[0] - 1.25f) < 1e-6f && fabsf(sc[1] - 3.0f) < 1e-6f && z[0] == 0.0f && z[1] == 0.0f,
              "%s: scales %g %g", lb_observer_kind_name(kinds[k]), (double)sc[0], (double)sc[1]);
    lb_observer_free(&o);
  }
}

static const lb_qplan_entry *entry_of(const lb_graph *g, const lb_qplan *p, const char *name) {
  for (int i = 0; i < p->n; i++)
    if (!strcmp(g->nodes[p->e[i].node].name, name)) return &p->e[i];
  return NULL;
}

/* lenet5 at W1A1: binary middle weights, first and last layers at 8 bits, {0, 1} activations after ReLUs where the backend has
 * unsigned activations there (binary where it has only signed ones); a per-layer override
 * back to 4 bits restores the backend's grid. */
static void test_plan(void) {
  lb_graph *g = NULL;
  CHECK_OK(lb_zoo_build("lenet5", 1, 28, 28, 10, &g));
  if (!g) return;
  const char *backends[] = {"academic", "tvm", "qdq"};
  for (int b = 0; b < 3; b++) {
    lb_qplan p;
    lb_qplan_request r = lbt_qplan_request(backends[b], 1, 1, LB_EST_LSQ);
    CHECK_MSG(lb_qplan_make(g, &r, &p) == LB_OK, "%s: %s", backends[b], lb_last_error());
    const lb_qplan_entry *conv1 = entry_of(g, &p, "conv1"), *conv2 = entry_of(g, &p, "conv2"),
                         *fc3 = entry_of(g, &p, "fc3");
    CHECK(conv1 && conv2 && fc3);
    if (!conv1 || !conv2 || !fc3) {
      lb_qplan_free(&p);
      continue;
    }
    CHECK_MSG(conv2->weight.spec.binary && conv2->weight.spec.bits == 1 && conv2->weight.spec.symmetric, "%s",
              backends[b]);
    const lb_backend *be = lb_backend_find(backends[b]);
    /* after a ReLU: {0, 1} where the backend has unsigned activations, else binary */
    const lb_qspec *a = &conv2->input[0].spec;
    int want_binary = be->act.is_signed && !be->act_unsigned_after_relu;
    CHECK_MSG(a->bits == 1 && a->binary == want_binary && a->is_signed == a->binary, "%s", backends[b]);
    CHECK(conv1->weight.spec.bits == 8 && !conv1->weight.spec.binary && fc3->weight.spec.bits == 8);
    CHECK_OK(lb_qplan_override(g, &p, "conv2", 4, 0));
    conv2 = entry_of(g, &p, "conv2");
    CHECK(conv2 && !conv2->weight.spec.binary && conv2->weight.spec.bits == 4 &&
          conv2->weight.spec.is_signed == be->weight.is_signed && conv2->weight.spec.symmetric == be->weight.symmetric);
    CHECK_OK(lb_qplan_override(g, &p, "conv2", 1, 0));
    conv2 = entry_of(g, &p, "conv2");
    CHECK(conv2 && conv2->weight.spec.binary);
    lb_qplan_free(&p);
  }
  /* fbgemm's weights are unsigned: no binary grid there */
  lb_qplan p;
  lb_qplan_request r = lbt_qplan_request("fbgemm", 1, 4, LB_EST_LSQ);
  CHECK_STATUS(lb_qplan_make(g, &r, &p), LB_ERR_UNSUPPORTED);
  CHECK_MSG(strstr(lb_last_error(), "fbgemm has unsigned weights"), "%s", lb_last_error());
  r = lbt_qplan_request("fbgemm", 4, 4, LB_EST_LSQ);
  CHECK_OK(lb_qplan_make(g, &r, &p));
  CHECK_STATUS(lb_qplan_override(g, &p, "conv2", 1, 0), LB_ERR_UNSUPPORTED);
  lb_qplan_free(&p);
  lb_graph_free(g);
}

int main(void) {
  test_spec();
  test_forward_backward();
  test_large_tensor();
  test_observers();
  test_plan();
  return lbt_finish("test_quant_binary");
}
