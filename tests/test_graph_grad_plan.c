/* The executor's sharing of activation-gradient buffers (src/graph/grad_plan.c): on every zoo
 * model, with and without absorbed ReLUs, two gradients that share bytes are never live at the
 * same step of the backward, simulated here step by step; and sharing does happen. */
#include <stdlib.h>
#include <string.h>

#include "graph/grad_plan.h"
#include "graph/ops.h"
#include "lowbit/graph.h"
#include "testutil.h"

/* Absorb every ReLU whose input feeds nothing else, as the fused executor does. */
static void absorb_relus(const lb_graph *g, int *owner, unsigned char *skip) {
  const int nn = g->n_nodes;
  int *uses = calloc((size_t)nn, sizeof *uses);
  for (int i = 1; i < nn; i++)
    for (int j = 0; j < g->nodes[i].n_inputs; j++) uses[g->nodes[i].inputs[j]]++;
  uses[g->output]++;
  for (int i = 1; i < nn; i++) {
    const int b = g->nodes[i].inputs[0];
    if (strcmp(g->nodes[i].op->name, "relu") == 0 && b > 0 && uses[b] == 1 && !skip[b]) {
      skip[i] = 1;
      owner[i] = owner[b];
    }
  }
  free(uses);
}

/* Walks the backward: at node j, its gradient is read and its inputs' gradients are written.
 * first[b] / last[b] = the steps (0 = before any node) a gradient is first written / last read. */
static void live_steps(const lb_graph *g, const int *owner, const unsigned char *skip, int *first, int *last) {
  const int nn = g->n_nodes;
  for (int b = 0; b < nn; b++) first[b] = last[b] = -1;
  first[owner[g->output]] = 0;
  int step = 0;
  for (int j = g->output; j >= 1; j--) {
    if (skip[j] || !g->nodes[j].op->backward) continue;
    step++;
    const int me = owner[j];
    if (first[me] < 0) first[me] = step; /* zeroed at its own step */
    last[me] = step;
    for (int k = 0; k < g->nodes[j].n_inputs; k++) {
      const int b = owner[g->nodes[j].inputs[k]];
      if (b > 0 && first[b] < 0) first[b] = step;
    }
  }
}

static void check_plan(const lb_graph *g, int fused, const char *name) {
  const int nn = g->n_nodes, batch = 4;
  int *owner = malloc((size_t)nn * sizeof *owner), *first = malloc((size_t)nn * sizeof *first);
  int *last = malloc((size_t)nn * sizeof *last);
  unsigned char *skip = calloc((size_t)nn, 1);
  size_t *at = calloc((size_t)nn, sizeof *at), total = 0, unshared = 0;
  for (int i = 0; i < nn; i++) owner[i] = i;
  if (fused) absorb_relus(g, owner, skip);
  CHECK_OK(lb_plan_grad_buffers(g, owner, skip, batch, at, &total));
  live_steps(g, owner, skip, first, last);
  int clashes = 0, outside = 0;
  for (int a = 1; a < nn; a++) {
    if (skip[a]) continue;
    const size_t abytes = (size_t)batch * (size_t)lb_node_numel(&g->nodes[a]) * sizeof(float);
    unshared += abytes;
    if (at[a] + abytes > total) outside++;
    for (int b = a + 1; b < nn; b++) {
      if (skip[b]) continue;
      const size_t bbytes = (size_t)batch * (size_t)lb_node_numel(&g->nodes[b]) * sizeof(float);
      const int share = at[a] < at[b] + bbytes && at[b] < at[a] + abytes;
      const int live_a = first[a] >= 0, live_b = first[b] >= 0;
      const int meet = live_a && live_b && first[a] <= last[b] && first[b] <= last[a];
      if (share && meet) clashes++;
    }
  }
  CHECK_MSG(clashes == 0, "%s (fused %d): %d pairs of live gradients share memory", name, fused, clashes);
  CHECK_MSG(outside == 0, "%s (fused %d): %d buffers reach past the region", name, fused, outside);
  /* the deep models repeat gradient sizes along long chains: far less than one buffer per node
   * (in mlp and lenet5 every layer has its own size, so nothing can be shared) */
  if (nn > 20)
    CHECK_MSG(2 * total < unshared, "%s (fused %d): %zu of %zu bytes, no sharing", name, fused, total, unshared);
  free(owner), free(first), free(last), free(skip), free(at);
}

int main(void) {
  for (const char *const *name = lb_zoo_names(); *name; name++) {
    lb_graph *g;
    CHECK_OK(lb_zoo_build(*name, 3, 16, 16, 10, &g));
    if (!g) continue;
    check_plan(g, 0, *name);
    check_plan(g, 1, *name);
    lb_graph_free(g);
  }
  return lbt_finish("test_graph_grad_plan");
}
