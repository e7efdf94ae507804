/* The table shape shared by the Markdown and HTML reports: per block, rows method x bits x BN
 * folding, columns backends, in the order the results first name them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/harness_internal.h"

int lb_block_first(const lb_summary_row *rows, int i) {
  for (int j = 0; j < i; j++)
    if (lb_summary_same_model(&rows[j], &rows[i])) return 0;
  return 1;
}

static int same_table_row(const lb_summary_row *a, const lb_summary_row *b) {
  return !strcmp(a->method, b->method) && !strcmp(a->observer, b->observer) && a->w == b->w && a->a == b->a &&
         !strcmp(a->bn_fold, b->bn_fold);
}

lb_status lb_rtable_build(const lb_summary_row *rows, int n, int first, lb_rtable *t) {
  memset(t, 0, sizeof *t);
  t->row_rep = malloc((size_t)n * sizeof(int));
  t->col_rep = malloc((size_t)n * sizeof(int));
  if (!t->row_rep || !t->col_rep) goto oom;
  for (int i = first; i < n; i++) {
    if (!lb_summary_same_model(&rows[first], &rows[i])) continue;
    int r = 0, c = 0;
    while (r < t->n_rows && !same_table_row(&rows[t->row_rep[r]], &rows[i])) r++;
    if (r == t->n_rows) t->row_rep[t->n_rows++] = i;
    while (c < t->n_cols && strcmp(rows[t->col_rep[c]].backend, rows[i].backend)) c++;
    if (c == t->n_cols) t->col_rep[t->n_cols++] = i;
    if (rows[i].n > t->max_n) t->max_n = rows[i].n;
  }
  t->cell = malloc((size_t)t->n_rows * (size_t)t->n_cols * sizeof(int));
  if (!t->cell) goto oom;
  for (int k = 0; k < t->n_rows * t->n_cols; k++) t->cell[k] = -1;
  for (int i = first; i < n; i++) {
    if (!lb_summary_same_model(&rows[first], &rows[i])) continue;
    int r = 0, c = 0;
    while (!same_table_row(&rows[t->row_rep[r]], &rows[i])) r++;
    while (strcmp(rows[t->col_rep[c]].backend, rows[i].backend)) c++;
    t->cell[r * t->n_cols + c] = i;
  }
  return LB_OK;
oom:
  lb_rtable_free(t);
  return lb_fail(LB_ERR_NOMEM, "report: out of memory");
}

void lb_rtable_free(lb_rtable *t) {
  free(t->row_rep);
  free(t->col_rep);
  free(t->cell);
  memset(t, 0, sizeof *t);
}

void lb_method_label(const lb_summary_row *r, char *buf, size_t cap) {
  if (r->observer[0]) snprintf(buf, cap, "%s (%s)", r->method, r->observer);
  else snprintf(buf, cap, "%s", r->method);
}
