#include "exec_runs.h"

#include <stdlib.h>
#include <string.h>

#include "lowbit/nn.h"
#include "testutil.h"

lbt_exec_run lbt_exec_step(lb_graph *g, const float *start, int batch, int fuse, const float *x, const float *r) {
  lbt_exec_run run;
  memset(&run, 0, sizeof run);
  const size_t nv = (size_t)g->n_values, nout = (size_t)batch * (size_t)lb_shape_numel(&g->nodes[g->output].shape);
  memcpy(g->values, start, nv * sizeof(float));
  lb_exec *e = NULL;
  CHECK_OK(lb_exec_create_ex(&e, g, batch, fuse));
  if (!e) return run;
  run.out = malloc(nout * sizeof(float));
  run.eval = malloc(nout * sizeof(float));
  run.grads = malloc(nv * sizeof(float));
  lb_rng step;
  lb_rng_seed(&step, 1);
  memcpy(run.out, lb_exec_forward(e, x, batch, 1, &step), nout * sizeof(float));
  lb_exec_zero_grad(e);
  lb_exec_backward(e, r);
  memcpy(run.grads, lb_exec_grads(e), nv * sizeof(float));
  memcpy(run.eval, lb_exec_forward(e, x, batch, 0, NULL), nout * sizeof(float));
  run.arena = lb_exec_arena_bytes(e);
  for (int i = 0; i < g->n_nodes; i++) run.blocked += lb_exec_node_layout(e, i) == LB_LAYOUT_NCHW16C;
  run.ok = 1;
  lb_exec_free(e);
  return run;
}

void lbt_exec_run_free(lbt_exec_run *run) {
  free(run->out);
  free(run->eval);
  free(run->grads);
  memset(run, 0, sizeof *run);
}
