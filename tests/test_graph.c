/* graph: zoo shapes and sizes, bad inputs, and the executor's gradients (through residual
 * branches, batch norm and pooling) against finite differences. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/graph.h"
#include "lowbit/nn.h"
#include "exec_runs.h"
#include "testutil.h"

static int64_t params_of(const char *model, int c, int h, int w) {
  lb_graph *g;
  if (lb_zoo_build(model, c, h, w, 10, &g)) return -1;
  int64_t n = lb_graph_trainable_count(g);
  lb_graph_free(g);
  return n;
}

static void test_zoo(void) {
  for (const char *const *n = lb_zoo_names(); *n; n++) {
    for (int c = 1; c <= 3; c += 2) {
      lb_graph *g;
      CHECK_OK(lb_zoo_build(*n, c, 28 + (c == 3) * 4, 28 + (c == 3) * 4, 10, &g));
      if (!g) continue;
      const lb_shape *out = &g->nodes[g->output].shape;
      CHECK(out->ndim == 1 && out->d[0] == 10);
      CHECK(g->values != NULL);
      lb_graph_free(g);
    }
  }
  /* He et al. report 0.27M parameters for ResNet-20; ours uses 1x1 projection shortcuts
   * (2 x (512+64) + 2 x (2048+128) extra for the two downsampling blocks = 5504 more). */
  int64_t r20 = params_of("resnet20", 3, 32, 32);
  CHECK_MSG(r20 == 272474, "resnet20 has %lld params", (long long)r20);
  /* resnet8: stem 144+32, layer1 2*2304+2*32, layer2 4608+9216+512+3*64, layer3 18432+36864+2048+3*128, fc 650 */
  int64_t r8 = params_of("resnet8", 1, 28, 28);
  CHECK_MSG(r8 == 144 + 32 + 2 * 2304 + 64 + 4608 + 9216 + 512 + 192 + 18432 + 36864 + 2048 + 384 + 650,
            "resnet8 has %lld params", (long long)r8);
  int64_t lenet = params_of("lenet5", 1, 28, 28);
  CHECK(lenet == (6 * 25 + 6) + (16 * 6 * 25 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10));
  lb_graph *g;
  CHECK_STATUS(lb_zoo_build("resnet9000", 1, 28, 28, 10, &g), LB_ERR_NOT_FOUND);
  CHECK(g == NULL);
  CHECK_STATUS(lb_zoo_build("resnet8", 2, 28, 28, 10, &g), LB_ERR_ARG);
  CHECK_STATUS(lb_zoo_build("resnet8", 1, 28, 28, 1, &g), LB_ERR_ARG);
  CHECK_STATUS(lb_zoo_build("lenet5", 1, 4, 4, 10, &g), LB_ERR_ARG);
}

static void test_build_errors(void) {
  lb_graph *g;
  CHECK_OK(lb_graph_create(&g, "t", lb_shape3(3, 8, 8)));
  int id;
  int bad_in = 5;
  CHECK_STATUS(lb_graph_add(g, "relu", "r", &bad_in, 1, NULL, 0, NULL, 0, &id), LB_ERR_ARG);
  int in0 = 0;
  CHECK_STATUS(lb_graph_add(g, "frobnicate", "f", &in0, 1, NULL, 0, NULL, 0, &id), LB_ERR_NOT_FOUND);
  CHECK(strstr(lb_last_error(), "frobnicate") != NULL);
  int conv_bad[] = {4, 3, 3, 1, 1, 1, 1, 1, 1, 2, 0}; /* 3 channels not divisible by 2 groups */
  CHECK_STATUS(lb_graph_add(g, "conv2d", "c", &in0, 1, conv_bad, 11, NULL, 0, &id), LB_ERR_SHAPE);
  CHECK(g->n_nodes == 1 && g->n_params == 0); /* the failed node was rolled back */
  int conv_ok[] = {4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1};
  CHECK_OK(lb_graph_add(g, "conv2d", "c", &in0, 1, conv_ok, 11, NULL, 0, &id));
  CHECK(g->nodes[id].shape.d[0] == 4 && g->nodes[id].shape.d[1] == 4 && g->nodes[id].shape.d[2] == 4);
  CHECK_STATUS(lb_graph_add(g, "relu", "c", &in0, 1, NULL, 0, NULL, 0, &id), LB_ERR_ARG); /* duplicate name */
  int two[] = {0, 1};
  CHECK_STATUS(lb_graph_add(g, "add", "a", two, 2, NULL, 0, NULL, 0, &id), LB_ERR_SHAPE);
  float bad_p = 1.5f;
  CHECK_STATUS(lb_graph_add(g, "dropout", "d", &in0, 1, NULL, 0, &bad_p, 1, &id), LB_ERR_ARG);
  CHECK(lb_graph_find_param(g, "c.weight") != NULL && lb_graph_find_param(g, "c.bias") != NULL);
  lb_graph_free(g);
}

/* A small graph that exercises every built-in op with a backward, including a residual add
 * whose input feeds two consumers. */
typedef struct net {
  lb_graph *g;
  lb_exec *e;
  float *x, *r;
  int batch;
  int64_t out_n;
} net;

static double net_loss(void *ctx) {
  net *n = ctx;
  lb_rng rng;
  lb_rng_seed(&rng, 7); /* dropout masks identical on every evaluation */
  const float *y = lb_exec_forward(n->e, n->x, n->batch, 1, &rng);
  return lbt_dot(y, n->r, n->out_n);
}

static void build_net(net *n) {
  lb_graph *g;
  lb_graph_create(&g, "t", lb_shape3(2, 6, 6));
  int x0 = 0, a, b, c, d, id;
  int conv1[] = {4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
  lb_graph_add(g, "conv2d", "c1", &x0, 1, conv1, 11, NULL, 0, &a);
  float bnf[] = {1e-5f, 0.1f};
  lb_graph_add(g, "batchnorm", "bn1", &a, 1, NULL, 0, bnf, 2, &b);
  lb_graph_add(g, "relu", "r1", &b, 1, NULL, 0, NULL, 0, &c);
  int dw[] = {4, 3, 3, 1, 1, 1, 1, 1, 1, 4, 0};
  lb_graph_add(g, "conv2d", "dw", &c, 1, dw, 11, NULL, 0, &d);
  float ht[] = {-0.5f, 0.7f};
  lb_graph_add(g, "hardtanh", "ht", &d, 1, NULL, 0, ht, 2, &id);
  int sum_in[] = {id, c};
  lb_graph_add(g, "add", "res", sum_in, 2, NULL, 0, NULL, 0, &id);
  int mp[] = {2, 2, 2, 2, 0, 0, 0, 0};
  lb_graph_add(g, "maxpool", "mp", &id, 1, mp, 8, NULL, 0, &a);
  int ap[] = {3, 3, 1, 1, 1, 1, 1, 0};
  lb_graph_add(g, "avgpool", "ap", &a, 1, ap, 8, NULL, 0, &b);
  lb_graph_add(g, "relu6", "r6", &b, 1, NULL, 0, NULL, 0, &c);
  lb_graph_add(g, "gap", "gap", &c, 1, NULL, 0, NULL, 0, &d);
  float p = 0.25f;
  lb_graph_add(g, "dropout", "drop", &d, 1, NULL, 0, &p, 1, &a);
  lb_graph_add(g, "flatten", "flat", &a, 1, NULL, 0, NULL, 0, &b);
  int fc[] = {5, 1};
  CHECK_OK(lb_graph_add(g, "linear", "fc", &b, 1, fc, 2, NULL, 0, &c));
  CHECK(g->n_nodes == 14);
  CHECK_OK(lb_graph_init_params(g, 3));
  n->g = g;
  n->batch = 3;
  CHECK_OK(lb_exec_create(&n->e, g, n->batch));
  int64_t in_n = n->batch * 2 * 36;
  n->out_n = n->batch * 5;
  n->x = malloc((size_t)in_n * sizeof(float));
  n->r = malloc((size_t)n->out_n * sizeof(float));
  lb_rng rng;
  lb_rng_seed(&rng, 11);
  lbt_fill_uniform(n->x, in_n, &rng, -1, 1);
  lbt_fill_uniform(n->r, n->out_n, &rng, -1, 1);
}

static void test_exec_gradients(void) {
  net n;
  build_net(&n);
  /* analytic gradients */
  net_loss(&n);
  lb_exec_zero_grad(n.e);
  lb_exec_backward(n.e, n.r);
  float *ana = malloc((size_t)n.g->n_values * sizeof(float));
  memcpy(ana, lb_exec_grads(n.e), (size_t)n.g->n_values * sizeof(float));
  /* running statistics change on every training forward; keep them fixed for the check */
  lb_rng rng;
  lb_rng_seed(&rng, 5);
  for (int i = 0; i < n.g->n_params; i++) {
    const lb_param *p = &n.g->params[i];
    if (!p->trainable) continue;
    double err = lbt_grad_check(net_loss, &n, n.g->values + p->offset, ana + p->offset, p->numel, 24, 1e-3, 1e-2, &rng);
    CHECK_MSG(err < 2e-2, "%s: finite-difference error %.3g", p->name, err);
  }
  /* backward twice after one forward gives the same gradients (zeroing works) */
  net_loss(&n);
  lb_exec_zero_grad(n.e);
  lb_exec_backward(n.e, n.r);
  lb_exec_backward(n.e, n.r); /* accumulates: now exactly twice */
  int twice = 1;
  for (int64_t i = 0; i < n.g->n_values; i++)
    if (lb_exec_grads(n.e)[i] != 2.0f * ana[i] && fabsf(lb_exec_grads(n.e)[i] - 2.0f * ana[i]) > 1e-5f * fabsf(ana[i]))
      twice = 0;
  CHECK(twice);
  /* evaluation forward uses running stats and no dropout: deterministic and batch-independent */
  const float *y3 = lb_exec_forward(n.e, n.x, 3, 0, NULL);
  float first[5];
  memcpy(first, y3, sizeof first);
  const float *y1 = lb_exec_forward(n.e, n.x, 1, 0, NULL);
  CHECK(lbt_max_abs_err(first, y1, 5) < 1e-6);
  CHECK(lb_exec_forward(n.e, n.x, 4, 0, NULL) == NULL); /* above max batch */
  CHECK(lb_exec_forward(n.e, n.x, 2, 1, NULL) == NULL); /* training needs an rng */
  free(ana);
  free(n.x);
  free(n.r);
  lb_exec_free(n.e);
  lb_graph_free(n.g);
}

/* The fused executor (BN+ReLU, add+ReLU in one pass; with oneDNN, activations between
 * convolutions kept in nChw16c) computes the same bits as the unfused one. */
static void test_fusion_matches(void) {
  lb_graph *g;
  CHECK_OK(lb_zoo_build("resnet8", 1, 12, 12, 10, &g));
  CHECK_OK(lb_graph_init_params(g, 4));
  int batch = 4;
  float x[4 * 144], r[40];
  lb_rng rng;
  lb_rng_seed(&rng, 8);
  lbt_fill_uniform(x, 4 * 144, &rng, -1, 1);
  lbt_fill_uniform(r, 40, &rng, -1, 1);
  float *stats = malloc((size_t)g->n_values * sizeof(float));
  memcpy(stats, g->values, (size_t)g->n_values * sizeof(float)); /* same running stats for both */
  lbt_exec_run run[2] = {lbt_exec_step(g, stats, batch, 0, x, r), lbt_exec_step(g, stats, batch, 1, x, r)};
  if (run[0].ok && run[1].ok) {
    CHECK(memcmp(run[0].out, run[1].out, sizeof(float) * 40) == 0);
    CHECK(memcmp(run[0].eval, run[1].eval, sizeof(float) * 40) == 0);
    CHECK_MSG(memcmp(run[0].grads, run[1].grads, (size_t)g->n_values * sizeof(float)) == 0,
              "fused gradients differ by %.3g", lbt_max_rel_err(run[1].grads, run[0].grads, g->n_values, 1e-6));
    CHECK(run[0].blocked == 0);
    /* with oneDNN: every node from the stem's output to the last block's ReLU (gap reads it) */
    CHECK_MSG(run[1].blocked == (lb_conv2d_onednn_version() ? 28 : 0), "%d nodes in nChw16c", run[1].blocked);
    CHECK(run[1].arena < run[0].arena); /* the absorbed ReLUs have no buffers of their own */
  }
  lbt_exec_run_free(&run[0]);
  lbt_exec_run_free(&run[1]);
  free(stats);
  lb_graph_free(g);
}

/* Graphs where nChw16c groups meet NCHW ones (depthwise convolutions, narrow layers, 3-channel
 * input): the boundaries fall on convolutions, and both executors still agree bit for bit. */
static void test_mixed_layouts(void) {
  const char *models[] = {"mobilenetv2-tiny", "resnet20"};
  for (int m = 0; m < 2; m++) {
    lb_graph *g;
    CHECK_OK(lb_zoo_build(models[m], 3, 16, 16, 10, &g));
    CHECK_OK(lb_graph_init_params(g, 5));
    enum { B = 2 };
    float x[B * 3 * 256], r[B * 10];
    lb_rng rng;
    lb_rng_seed(&rng, 9);
    lbt_fill_uniform(x, B * 3 * 256, &rng, -1, 1);
    lbt_fill_uniform(r, B * 10, &rng, -1, 1);
    float *start = malloc((size_t)g->n_values * sizeof(float));
    memcpy(start, g->values, (size_t)g->n_values * sizeof(float));
    lbt_exec_run run[2] = {lbt_exec_step(g, start, B, 0, x, r), lbt_exec_step(g, start, B, 1, x, r)};
    if (run[0].ok && run[1].ok) {
      CHECK_MSG(memcmp(run[0].out, run[1].out, sizeof r) == 0, "%s: outputs differ", models[m]);
      CHECK_MSG(memcmp(run[0].eval, run[1].eval, sizeof r) == 0, "%s: eval outputs differ", models[m]);
      CHECK_MSG(memcmp(run[0].grads, run[1].grads, (size_t)g->n_values * sizeof(float)) == 0,
                "%s: gradients differ by %.3g", models[m], lbt_max_rel_err(run[1].grads, run[0].grads, g->n_values, 1e-6));
      /* some nodes blocked, some not: the boundaries are exercised */
      const int total = g->n_nodes;
      if (lb_conv2d_onednn_version())
        CHECK_MSG(run[1].blocked > 0 && run[1].blocked < total - 2, "%s: %d of %d nodes in nChw16c", models[m],
                  run[1].blocked, total);
    }
    lbt_exec_run_free(&run[0]);
    lbt_exec_run_free(&run[1]);
    free(start);
    lb_graph_free(g);
  }
}

int main(void) {
  lb_set_num_threads(2);
  test_zoo();
  test_build_errors();
  test_exec_gradients();
  test_fusion_matches();
  test_mixed_layouts();
  return lbt_finish("test_graph");
}
