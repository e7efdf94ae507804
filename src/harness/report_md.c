/* The Markdown report (results.md) and writing the report directory. No times appear in the
 * tables, so the same results give the same bytes (the determinism the bench promises). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness/harness_internal.h"

/* Facts shared by every row of a block, for its heading paragraph. */
void lb_block_facts(lb_buf *b, const lb_results *res, const lb_summary_row *first, int html) {
  const lb_result *r0 = first->first;
  char seeds[256] = "";
  size_t used = 0;
  uint64_t seen[64];
  int n_seen = 0, epochs = 0, same_machine = 1;
  double lr = 0;
  for (int i = 0; i < res->n; i++) {
    const lb_result *r = &res->r[i];
    if (strcmp(r->recipe, first->recipe) || strcmp(r->model, first->model) || strcmp(r->data, first->data)) continue;
    int k = 0;
    while (k < n_seen && seen[k] != r->cell.seed) k++;
    if (k == n_seen && n_seen < 64) {
      seen[n_seen++] = r->cell.seed;
      if (used < sizeof seeds)
        used += (size_t)snprintf(seeds + used, sizeof seeds - used, "%s%llu", n_seen > 1 ? ", " : "",
                                 (unsigned long long)r->cell.seed);
    }
    if (r->epochs && !epochs) {
      epochs = r->epochs;
      lr = r->lr;
    }
    same_machine &= !strcmp(r->machine, r0->machine) && !strcmp(r->commit, r0->commit) && r->threads == r0->threads;
  }
  const char *bo = html ? "<b>" : "**", *bc = html ? "</b>" : "**";
  lb_sb_printf(b, "Float (fp32) reference: %s%.2f%%%s on ", bo, 100 * first->fp32_mean, bc);
  if (r0->limit_test) lb_sb_printf(b, "the first %d test images", r0->limit_test);
  else lb_sb_printf(b, "the whole test split");
  if (r0->limit_train) lb_sb_printf(b, " (training split limited to %d images)", r0->limit_train);
  lb_sb_printf(b, ". Seeds: %s; accuracy in %%, mean %s std over seeds; in parentheses the difference to fp32 in points. ", seeds,
               html ? "&plusmn;" : "±");
  if (epochs) lb_sb_printf(b, "QAT: %d epoch%s of fine-tuning, peak lr %g, cosine. ", epochs, epochs > 1 ? "s" : "", lr);
  lb_sb_printf(b, "Calibration: %d training images. ", r0->calib);
  lb_sb_printf(b, "Machine: ");
  if (html) lb_sb_html(b, r0->machine);
  else lb_sb_printf(b, "%s", r0->machine);
  lb_sb_printf(b, ", %d cores, %d threads; commit ", r0->cores, r0->threads);
  if (html) lb_sb_html(b, r0->commit);
  else lb_sb_printf(b, "%s", r0->commit);
  lb_sb_printf(b, "%s.\n", same_machine ? "" : " (some cells ran on another machine, commit or thread count)");
}

void lb_cell_text(const lb_summary_row *r, int integer, int block_seeds, char *buf, size_t cap) {
  char ms[64];
  if (integer && !r->n_int) {
    snprintf(buf, cap, "n/a");
    return;
  }
  double mean = integer ? r->int_mean : r->sim_mean;
  int count = integer ? r->n_int : r->n;
  lb_fmt_mean_std(mean, integer ? r->int_std : r->sim_std, count, ms, sizeof ms);
  int used = snprintf(buf, cap, "%s (%+.2f)", ms, 100 * (mean - r->fp32_mean));
  if (count < block_seeds && used >= 0 && (size_t)used < cap)
    snprintf(buf + used, cap - (size_t)used, " [%d seed%s]", count, count > 1 ? "s" : "");
}

void lb_int_notes(lb_buf *b, const lb_summary_row *rows, int n, int first, int html) {
  int shown = 0;
  for (int i = first; i < n; i++) {
    if (!lb_summary_same_model(&rows[first], &rows[i]) || rows[i].n_int) continue;
    int dup = 0;
    for (int j = first; j < i && !dup; j++)
      dup = lb_summary_same_model(&rows[first], &rows[j]) && !rows[j].n_int && !strcmp(rows[j].first->int_note, rows[i].first->int_note);
    if (dup) continue;
    char label[64];
    lb_method_label(&rows[i], label, sizeof label);
    lb_sb_printf(b, "%s", html ? (shown ? "<br>\n" : "<p>") : (shown ? "" : "\n"));
    lb_sb_printf(b, "%s%s W%dA%d %s: ", html ? "" : "- n/a: ", label, rows[i].w, rows[i].a, rows[i].backend);
    if (html) lb_sb_html(b, rows[i].first->int_note);
    else lb_sb_printf(b, "%s", rows[i].first->int_note);
    lb_sb_printf(b, "%s", html ? "" : "\n");
    shown++;
  }
  if (html && shown) lb_sb_printf(b, "</p>\n");
}

static void md_table(lb_buf *b, const lb_summary_row *rows, const lb_rtable *t, int integer) {
  lb_sb_printf(b, "| method | bits | BN fold |");
  for (int c = 0; c < t->n_cols; c++) lb_sb_printf(b, " %s |", rows[t->col_rep[c]].backend);
  lb_sb_printf(b, "\n|---|---|---|");
  for (int c = 0; c < t->n_cols; c++) lb_sb_printf(b, "---|");
  lb_sb_printf(b, "\n");
  for (int r = 0; r < t->n_rows; r++) {
    const lb_summary_row *rep = &rows[t->row_rep[r]];
    char label[64];
    lb_method_label(rep, label, sizeof label);
    lb_sb_printf(b, "| %s | W%dA%d | %s |", label, rep->w, rep->a, rep->bn_fold);
    for (int c = 0; c < t->n_cols; c++) {
      int k = t->cell[r * t->n_cols + c];
      char txt[96] = "—";
      if (k >= 0) lb_cell_text(&rows[k], integer, t->max_n, txt, sizeof txt);
      lb_sb_printf(b, " %s |", txt);
    }
    lb_sb_printf(b, "\n");
  }
}

/* Size and BOPs depend on bits and backend only (not on method or seed). */
static void md_cost_table(lb_buf *b, const lb_summary_row *rows, int n, int first) {
  lb_sb_printf(b, "| bits | backend | size (KiB) | vs fp32 | GBOPs |\n|---|---|---|---|---|\n");
  for (int i = first; i < n; i++) {
    if (!lb_summary_same_model(&rows[first], &rows[i])) continue;
    int dup = 0;
    for (int j = first; j < i && !dup; j++)
      dup = lb_summary_same_model(&rows[first], &rows[j]) && rows[j].w == rows[i].w && rows[j].a == rows[i].a &&
            !strcmp(rows[j].backend, rows[i].backend) && !strcmp(rows[j].bn_fold, rows[i].bn_fold) &&
            rows[j].size_bytes == rows[i].size_bytes;
    if (dup) continue;
    const lb_result *r = rows[i].first;
    lb_sb_printf(b, "| W%dA%d | %s | %.1f | %.1fx smaller | %.3f |\n", rows[i].w, rows[i].a, rows[i].backend,
                 (double)rows[i].size_bytes / 1024, (double)r->fp32_size_bytes / (double)rows[i].size_bytes,
                 rows[i].bops / 1e9);
  }
}

lb_status lb_report_markdown(const lb_results *res, char **text) {
  lb_summary_row *rows;
  int n;
  lb_status s = lb_summarize(res, &rows, &n);
  if (s) return s;
  lb_buf b = {0};
  lb_sb_printf(&b, "# Benchmark results\n\nMade by `lowbit report` from %d result lines. \"Simulated\" is the "
               "fake-quant graph's accuracy; \"integer\" is the integer engine's.\n", res->n);
  for (int i = 0; i < n && !s; i++) {
    if (!lb_block_first(rows, i)) continue;
    lb_rtable t;
    s = lb_rtable_build(rows, n, i, &t);
    if (s) break;
    lb_sb_printf(&b, "\n## %s on %s (recipe `%s`)\n\n", rows[i].model, rows[i].data, rows[i].recipe);
    lb_block_facts(&b, res, &rows[i], 0);
    lb_sb_printf(&b, "\n### Simulated accuracy (%%)\n\n");
    md_table(&b, rows, &t, 0);
    int any_int = 0;
    for (int k = i; k < n; k++) any_int |= lb_summary_same_model(&rows[i], &rows[k]) && rows[k].n_int > 0;
    lb_sb_printf(&b, "\n### Integer accuracy (%%)\n\n");
    if (any_int) md_table(&b, rows, &t, 1);
    lb_int_notes(&b, rows, n, i, 0);
    lb_sb_printf(&b, "\n### Model size and BOPs\n\nSize: weights at their bit-width, a 32-bit bias per output "
                 "channel and 32-bit scales. BOPs: MACs x weight bits x activation bits, per image. fp32: %.1f KiB, "
                 "%.3f GBOPs.\n\n", (double)rows[i].first->fp32_size_bytes / 1024, rows[i].first->fp32_bops / 1e9);
    md_cost_table(&b, rows, n, i);
    lb_rtable_free(&t);
  }
  free(rows);
  if (s) {
    lb_buf_free(&b);
    return s;
  }
  return lb_sb_take(&b, text);
}

static lb_status write_text(const char *dir, const char *name, const char *text) {
  char path[LB_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return lb_write_file_atomic(path, text, strlen(text));
}

lb_status lb_report_write(const lb_results *res, const char *dir) {
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) return lb_fail(LB_ERR_IO, "%s: cannot create: %s", dir, strerror(errno));
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return lb_fail(LB_ERR_IO, "%s: not a directory", dir);
  char *md = NULL, *html = NULL;
  lb_status s = lb_report_markdown(res, &md);
  if (!s) s = lb_report_html(res, &html);
  if (!s) s = write_text(dir, "results.md", md);
  if (!s) s = write_text(dir, "report.html", html);
  free(md);
  free(html);
  return s;
}
