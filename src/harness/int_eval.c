/* Integer accuracy of a bench cell: lower the quantized graph to an integer program and run the
 * engine over the test set (integer math between input quantization and the logits). */
#include <stdio.h>

#include "harness/harness_internal.h"
#include "lowbit/deploy.h"
#include "lowbit/ikernel.h"

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
  int64_t correct = 0;
  s = lb_program_evaluate(p, test, norm, 256, &correct);
  if (!s) {
    *acc = test->n ? (double)correct / test->n : 0.0;
    snprintf(note, note_cap, "integer engine (%s)", lb_ik_isa_name(lb_ik_select()));
  }
  lb_program_free(p);
  return s;
}
