/* Synthetic bench results for the harness tests (no training needed): records with chosen
 * accuracies, sizes and curves. Included by tests/test_harness_*.c. */
#ifndef LOWBIT_TEST_HARNESS_FIXTURE_H
#define LOWBIT_TEST_HARNESS_FIXTURE_H

#include <stdio.h>
#include <string.h>

#include "lowbit/harness.h"

/* One finished cell: recipe "t", mlp on fashion-mnist, fp32 90%, size 1000*w bytes (fp32 32000),
 * BOPs 1e6*w*w, QAT cells (any method but ptq) with a two-epoch curve ending at acc. */
static inline lb_result lbt_hresult(const char *method, int w, const char *backend, uint64_t seed, double acc) {
  lb_result r;
  memset(&r, 0, sizeof r);
  snprintf(r.recipe, sizeof r.recipe, "t");
  snprintf(r.model, sizeof r.model, "mlp");
  snprintf(r.data, sizeof r.data, "fashion-mnist");
  snprintf(r.cell.method, sizeof r.cell.method, "%s", method);
  if (!strcmp(method, "ptq")) snprintf(r.cell.observer, sizeof r.cell.observer, "minmax");
  r.cell.w = r.cell.a = w;
  snprintf(r.cell.backend, sizeof r.cell.backend, "%s", backend);
  snprintf(r.cell.bn_fold, sizeof r.cell.bn_fold, "none");
  r.cell.seed = seed;
  r.epochs = strcmp(method, "ptq") ? 2 : 0;
  r.lr = r.epochs ? 0.01 : 0.0;
  r.calib = 256;
  snprintf(r.fp32_id, sizeof r.fp32_id, "0123456789abcdef");
  r.fp32_acc = 0.9;
  r.sim_acc = acc;
  r.drop = r.fp32_acc - acc;
  snprintf(r.int_note, sizeof r.int_note, "no integer program: synthetic record");
  r.size_bytes = 1000 * w;
  r.fp32_size_bytes = 32000;
  r.bops = 1e6 * w * w;
  r.fp32_bops = 1e6 * 32 * 32;
  r.threads = 2;
  r.cores = 2;
  snprintf(r.commit, sizeof r.commit, "abc");
  snprintf(r.machine, sizeof r.machine, "cpu \"quoted\" <x>");
  r.n_curve = r.epochs;
  for (int e = 0; e < r.n_curve; e++) r.curve[e] = acc - 0.01 * (r.n_curve - 1 - e);
  return r;
}

#endif
