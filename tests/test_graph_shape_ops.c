/* The shape ops of imported networks (slice, pad, concat, reshape): forward values and
 * backward by finite differences through a small graph with trainable layers on both sides. */
#include <stdlib.h>
#include <string.h>

#include "graph/ops_shape.h"
#include "lowbit/graph.h"
#include "testutil.h"

typedef struct net {
  lb_graph *g;
  lb_exec *e;
  float *x, *r;
  int64_t out_n;
} net;

static double net_loss(void *p) {
  net *n = p;
  lb_rng rng;
  lb_rng_seed(&rng, 1);
  const float *y = lb_exec_forward(n->e, n->x, 2, 1, &rng);
  return lbt_dot(y, n->r, n->out_n);
}

int main(void) {
  lb_graph *g;
  CHECK_OK(lb_graph_create(&g, "shapes", lb_shape3(2, 5, 6)));
  int id, a, b, c, d;
  int conv[] = {2, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1};
  CHECK_OK(lb_graph_add(g, "conv2d", "conv", (int[]){0}, 1, conv, 11, NULL, 0, &id));
  int s1[] = {2, 5, -2, 3}; /* W: 5, 3, 1 (reversed, stride 2) */
  CHECK_OK(lb_graph_add(g, "slice", "s1", &id, 1, s1, 4, NULL, 0, &a));
  int p1[2 * LB_PAD_MAX_DIMS] = {1, 0, 0, 0, 0, 0, 1, 0, 0, 0};
  float pv = 0.5f;
  CHECK_OK(lb_graph_add(g, "pad", "p1", &a, 1, p1, 2 * LB_PAD_MAX_DIMS, &pv, 1, &b));
  int s2[] = {2, 0, 2, 3};
  CHECK_OK(lb_graph_add(g, "slice", "s2", &id, 1, s2, 4, NULL, 0, &c));
  int p2[2 * LB_PAD_MAX_DIMS] = {0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
  CHECK_OK(lb_graph_add(g, "pad", "p2", &c, 1, p2, 2 * LB_PAD_MAX_DIMS, NULL, 0, &d));
  int cat[] = {0};
  CHECK_OK(lb_graph_add(g, "concat", "cat", (int[]){b, d}, 2, cat, 1, NULL, 0, &a));
  CHECK(a > 0 && g->nodes[a].shape.d[0] == 5 && g->nodes[a].shape.d[1] == 6 && g->nodes[a].shape.d[2] == 3);
  int rs[] = {2, 15, 6};
  CHECK_OK(lb_graph_add(g, "reshape", "rs", &a, 1, rs, 3, NULL, 0, &b));
  int fc[] = {4, 1};
  CHECK_OK(lb_graph_add(g, "linear", "fc", &b, 1, fc, 2, NULL, 0, &c));
  /* bad attributes are refused at build time */
  int bad_slice[] = {2, 5, 1, 3};
  CHECK_STATUS(lb_graph_add(g, "slice", "bad", &id, 1, bad_slice, 4, NULL, 0, NULL), LB_ERR_ARG);
  int bad_rs[] = {1, 7};
  CHECK_STATUS(lb_graph_add(g, "reshape", "bad", &a, 1, bad_rs, 2, NULL, 0, NULL), LB_ERR_SHAPE);
  CHECK_OK(lb_graph_init_params(g, 7));
  net n = {.g = g, .out_n = 8};
  CHECK_OK(lb_exec_create_ex(&n.e, g, 2, 0));
  n.x = lbt_falloc(2 * 60);
  n.r = lbt_falloc(8);
  lb_rng rng;
  lb_rng_seed(&rng, 3);
  lbt_fill_uniform(n.x, 120, &rng, -1, 1);
  lbt_fill_uniform(n.r, 8, &rng, -1, 1);
  net_loss(&n);
  /* forward values: s1 reverses W with stride 2, p1 adds a channel of 0.5 in front */
  const float *cv = lb_exec_node_output(n.e, id), *pv1 = lb_exec_node_output(n.e, lb_graph_find_node(g, "p1"));
  int ok = 1;
  for (int bb = 0; bb < 2; bb++)
    for (int h = 0; h < 6; h++)
      for (int w = 0; w < 3; w++) {
        const float *o = pv1 + bb * 54; /* (3,6,3) per sample */
        ok &= o[h * 3 + w] == 0.5f;
        if (h < 5) ok &= o[18 + h * 3 + w] == cv[bb * 60 + h * 6 + (5 - 2 * w)];
        else ok &= o[18 + h * 3 + w] == 0.5f && o[36 + h * 3 + w] == 0.5f;
      }
  CHECK_MSG(ok, "slice/pad forward values are wrong");
  lb_exec_zero_grad(n.e);
  lb_exec_backward(n.e, n.r);
  float *ana = lbt_falloc((size_t)g->n_values);
  memcpy(ana, lb_exec_grads(n.e), (size_t)g->n_values * sizeof(float));
  for (int i = 0; i < g->n_params; i++) {
    const lb_param *p = &g->params[i];
    double err = lbt_grad_check(net_loss, &n, g->values + p->offset, ana + p->offset, p->numel, 0, 1e-3, 1e-2, &rng);
    CHECK_MSG(err < 1e-2, "%s: finite-difference error %.3g", p->name, err);
  }
  free(ana);
  free(n.x);
  free(n.r);
  lb_exec_free(n.e);
  lb_graph_free(g);
  return lbt_finish("test_graph_shape_ops");
}
