/* For tests that compare executors on one graph: a training step and an evaluation forward on
 * lb_exec_create_ex(..., fuse), from given parameter values, with what the comparison needs. */
#ifndef LOWBIT_TEST_EXEC_RUNS_H
#define LOWBIT_TEST_EXEC_RUNS_H

#include <stddef.h>

#include "lowbit/graph.h"

typedef struct lbt_exec_run {
  float *out, *eval; /* training and evaluation outputs, batch x the output node's numel */
  float *grads;      /* g->n_values parameter gradients */
  size_t arena;      /* lb_exec_arena_bytes */
  int blocked;       /* nodes whose output the executor kept in nChw16c */
  int ok;            /* 0: the executor could not be made (the CHECK said why) */
} lbt_exec_run;

/* g->values is set to start first (running statistics change in a training forward); the
 * training forward draws from a generator seeded with 1; r is d(loss)/d(output). */
lbt_exec_run lbt_exec_step(lb_graph *g, const float *start, int batch, int fuse, const float *x, const float *r);
void lbt_exec_run_free(lbt_exec_run *run);

#endif
