/* Mean and standard deviation over seeds for each (recipe, model, data, method, bits, backend,
 * BN folding) of a results set. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/harness_internal.h"

int lb_summary_row_has(const lb_summary_row *row, const lb_result *r) {
  return !strcmp(row->recipe, r->recipe) && !strcmp(row->model, r->model) && !strcmp(row->data, r->data) &&
         !strcmp(row->method, r->cell.method) && !strcmp(row->observer, r->cell.observer) && row->w == r->cell.w &&
         row->a == r->cell.a && !strcmp(row->backend, r->cell.backend) && !strcmp(row->bn_fold, r->cell.bn_fold);
}

int lb_summary_same_model(const lb_summary_row *a, const lb_summary_row *b) {
  return !strcmp(a->recipe, b->recipe) && !strcmp(a->model, b->model) && !strcmp(a->data, b->data);
}

lb_status lb_summarize(const lb_results *res, lb_summary_row **rows, int *n_rows) {
  *rows = NULL;
  *n_rows = 0;
  lb_summary_row *out = calloc(res->n ? (size_t)res->n : 1, sizeof *out);
  int *of = malloc((res->n ? (size_t)res->n : 1) * sizeof *of);
  if (!out || !of) {
    free(out);
    free(of);
    return lb_fail(LB_ERR_NOMEM, "summary: out of memory");
  }
  int n = 0;
  for (int i = 0; i < res->n; i++) {
    const lb_result *r = &res->r[i];
    int k = 0;
    while (k < n && !lb_summary_row_has(&out[k], r)) k++;
    if (k == n) {
      lb_summary_row *w = &out[n++];
      snprintf(w->recipe, sizeof w->recipe, "%s", r->recipe);
      snprintf(w->model, sizeof w->model, "%s", r->model);
      snprintf(w->data, sizeof w->data, "%s", r->data);
      snprintf(w->method, sizeof w->method, "%s", r->cell.method);
      snprintf(w->observer, sizeof w->observer, "%s", r->cell.observer);
      snprintf(w->backend, sizeof w->backend, "%s", r->cell.backend);
      snprintf(w->bn_fold, sizeof w->bn_fold, "%s", r->cell.bn_fold);
      w->w = r->cell.w;
      w->a = r->cell.a;
      w->size_bytes = r->size_bytes;
      w->bops = r->bops;
      w->first = r;
    }
    of[i] = k;
    lb_summary_row *w = &out[k];
    w->n++;
    w->fp32_mean += r->fp32_acc;
    w->sim_mean += r->sim_acc;
    w->drop_mean += r->drop;
    if (r->has_int_acc) {
      w->n_int++;
      w->int_mean += r->int_acc;
    }
  }
  for (int k = 0; k < n; k++) {
    out[k].fp32_mean /= out[k].n;
    out[k].sim_mean /= out[k].n;
    out[k].drop_mean /= out[k].n;
    if (out[k].n_int) out[k].int_mean /= out[k].n_int;
  }
  /* second pass: deviations from the means (two passes keep the sums well conditioned) */
  for (int i = 0; i < res->n; i++) {
    lb_summary_row *w = &out[of[i]];
    double d = res->r[i].sim_acc - w->sim_mean;
    w->sim_std += d * d;
    if (res->r[i].has_int_acc) {
      d = res->r[i].int_acc - w->int_mean;
      w->int_std += d * d;
    }
  }
  for (int k = 0; k < n; k++) {
    out[k].sim_std = out[k].n > 1 ? sqrt(out[k].sim_std / (out[k].n - 1)) : 0.0;
    out[k].int_std = out[k].n_int > 1 ? sqrt(out[k].int_std / (out[k].n_int - 1)) : 0.0;
  }
  free(of);
  *rows = out;
  *n_rows = n;
  return LB_OK;
}

char *lb_fmt_mean_std(double mean, double std, int n, char *buf, size_t cap) {
  if (n > 1) snprintf(buf, cap, "%.2f ± %.2f", 100 * mean, 100 * std);
  else snprintf(buf, cap, "%.2f", 100 * mean);
  return buf;
}
