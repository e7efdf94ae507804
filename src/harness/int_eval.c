/* Integer accuracy of a bench cell: lower the quantized graph to an integer program and run the
 * engine over the test set (integer math between input quantization and the logits). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/harness_internal.h"
#include "lowbit/deploy.h"

static int argmax(const float *v, int n) {
  int best = 0;
  for (int i = 1; i < n; i++)
    if (v[i] > v[best]) best = i;
  return best;
}

lb_status lb_harness_int_accuracy(const lb_graph *qg, const char *backend, const lb_dataset *test,
                                  const lb_augment *norm, double *acc, char *note, size_t note_cap) {
  *acc = 0;
  note[0] = '\0';
  lb_program *p = NULL;
  lb_status s = lb_lower(qg, backend, norm, &p);
  if (s == LB_ERR_UNSUPPORTED) { /* a graph the integer engine has no form for: say why, go on */
    snprintf(note, note_cap, "no integer program: %s", lb_last_error());
    return LB_OK;
  }
  if (s) return s;
  enum { BATCH = 256 };
  int per = test->c * test->h * test->w, classes = p->classes;
  lb_engine *e = NULL;
  float *x = malloc((size_t)BATCH * (size_t)per * sizeof *x);
  float *logits = malloc((size_t)BATCH * (size_t)classes * sizeof *logits);
  int32_t *idx = malloc(BATCH * sizeof *idx), *y = malloc(BATCH * sizeof *y);
  if (!x || !logits || !idx || !y) s = lb_fail(LB_ERR_NOMEM, "bench: out of memory");
  if (!s) s = lb_engine_create(p, BATCH, 0, &e);
  int64_t correct = 0;
  for (int start = 0; !s && start < test->n; start += BATCH) {
    int n = test->n - start < BATCH ? test->n - start : BATCH;
    for (int i = 0; i < n; i++) idx[i] = start + i;
    lb_batch_fill(test, idx, n, norm, 0, NULL, x, y);
    s = lb_engine_run(e, n, x, logits);
    for (int i = 0; !s && i < n; i++) correct += argmax(logits + (size_t)i * (size_t)classes, classes) == y[i];
  }
  if (!s) {
    *acc = (double)correct / test->n;
    snprintf(note, note_cap, "integer engine (%s)", lb_engine_isa(e));
  }
  lb_engine_free(e);
  lb_program_free(p);
  free(x);
  free(logits);
  free(idx);
  free(y);
  return s;
}
