/* The HTML report: one self-contained page (inline CSS and SVG, no scripts), per block the
 * accuracy table and three kinds of plots: accuracy vs bit-width per method, accuracy vs model
 * size with the Pareto front, and the QAT training curves of every cell. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/harness_internal.h"
#include "harness/svg.h"

static const char *const css =
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1100px;color:#222;"
    "padding:0 16px}h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
    "th{background:#f3f3f3}td.l,th.l{text-align:left}.plots{display:flex;flex-wrap:wrap;gap:16px}"
    "figure{margin:0}figcaption{font-size:.85em;color:#555;max-width:520px}"
    "svg.plot text{font-size:12px;fill:#222}svg.plot text.ptitle{font-size:14px;font-weight:600}"
    "svg.plot .errbar{fill:none;stroke-width:1.5}";

static void html_table(lb_buf *b, const lb_summary_row *rows, const lb_rtable *t, int integer) {
  lb_sb_printf(b, "<table class=\"acc\" data-kind=\"%s\">\n<tr><th class=\"l\">method</th><th>bits</th><th>BN fold</th>",
               integer ? "integer" : "simulated");
  for (int c = 0; c < t->n_cols; c++) {
    lb_sb_printf(b, "<th>");
    lb_sb_html(b, rows[t->col_rep[c]].backend);
    lb_sb_printf(b, "</th>");
  }
  lb_sb_printf(b, "</tr>\n");
  for (int r = 0; r < t->n_rows; r++) {
    const lb_summary_row *rep = &rows[t->row_rep[r]];
    char label[64];
    lb_method_label(rep, label, sizeof label);
    lb_sb_printf(b, "<tr><td class=\"l\">");
    lb_sb_html(b, label); /* results files are input: everything from them is escaped */
    lb_sb_printf(b, "</td><td>W%dA%d</td><td>", rep->w, rep->a);
    lb_sb_html(b, rep->bn_fold);
    lb_sb_printf(b, "</td>");
    for (int c = 0; c < t->n_cols; c++) {
      int k = t->cell[r * t->n_cols + c];
      char txt[96] = "&mdash;";
      if (k >= 0) lb_cell_text(&rows[k], integer, t->max_n, txt, sizeof txt);
      lb_sb_printf(b, "<td>%s</td>", txt);
    }
    lb_sb_printf(b, "</tr>\n");
  }
  lb_sb_printf(b, "</table>\n");
}

static void widen(double *lo, double *hi, double v) {
  if (v < *lo) *lo = v;
  if (v > *hi) *hi = v;
}

static void series_name(const lb_summary_row *r, char *buf, size_t cap) {
  char m[48];
  lb_method_label(r, m, sizeof m);
  if (strcmp(r->bn_fold, "none")) snprintf(buf, cap, "%s / %s / bn %s", m, r->backend, r->bn_fold);
  else snprintf(buf, cap, "%s / %s", m, r->backend);
}

/* Accuracy vs bit-width: the x axis lists the block's (w, a) pairs from fewest to most bits;
 * one line per method, backend and BN folding. */
static void plot_bits(lb_buf *b, const lb_summary_row *rows, int n, int first) {
  lb_bits_pair cats[64];
  char labels[64][16];
  const char *lab[64];
  int nc = 0, sidx[256], ns = 0;
  double lo = rows[first].fp32_mean * 100, hi = lo;
  for (int i = first; i < n; i++) {
    if (!lb_summary_same_model(&rows[first], &rows[i])) continue;
    int k = 0;
    while (k < nc && (cats[k].w != rows[i].w || cats[k].a != rows[i].a)) k++;
    if (k == nc && nc < 64) cats[nc++] = (lb_bits_pair){rows[i].w, rows[i].a};
    widen(&lo, &hi, 100 * (rows[i].sim_mean - rows[i].sim_std));
    widen(&lo, &hi, 100 * (rows[i].sim_mean + rows[i].sim_std));
    char ni[128], nj[128];
    series_name(&rows[i], ni, sizeof ni);
    int seen = 0;
    for (int j = 0; j < ns && !seen; j++) {
      series_name(&rows[sidx[j]], nj, sizeof nj);
      seen = !strcmp(ni, nj);
    }
    if (!seen && ns < 256) sidx[ns++] = i;
  }
  for (int i = 1; i < nc; i++) /* insertion sort by total bits, then weight bits */
    for (int j = i; j > 0 && (cats[j].w + cats[j].a < cats[j - 1].w + cats[j - 1].a ||
                              (cats[j].w + cats[j].a == cats[j - 1].w + cats[j - 1].a && cats[j].w < cats[j - 1].w)); j--) {
      lb_bits_pair tmp = cats[j];
      cats[j] = cats[j - 1];
      cats[j - 1] = tmp;
    }
  for (int k = 0; k < nc; k++) {
    snprintf(labels[k], sizeof labels[k], "W%dA%d", cats[k].w, cats[k].a);
    lab[k] = labels[k];
  }
  double ystep;
  lb_plot_nice(&lo, &hi, &ystep);
  lb_plot p = {-0.5, nc - 0.5, lo, hi, 520, 0, 60, 20, 30, 0, 0};
  p.bottom = 60 + 16 * ((ns + 1) / 2);
  p.height = 300 + p.bottom;
  lb_plot_begin(b, &p, "bits", "Accuracy vs bit-width", "bit-width (weights W, activations A)",
                "test accuracy (%)", 1, ystep, lab, nc);
  lb_plot_hline(b, &p, rows[first].fp32_mean * 100, "fp32");
  for (int s = 0; s < ns; s++) {
    char name[128], other[128];
    series_name(&rows[sidx[s]], name, sizeof name);
    double x[64], y[64];
    int m = 0;
    for (int k = 0; k < nc; k++)
      for (int i = first; i < n; i++) {
        series_name(&rows[i], other, sizeof other);
        if (!lb_summary_same_model(&rows[first], &rows[i]) || strcmp(name, other) || rows[i].w != cats[k].w ||
            rows[i].a != cats[k].a)
          continue;
        x[m] = k;
        y[m++] = 100 * rows[i].sim_mean;
        lb_plot_errbar(b, &p, k, 100 * rows[i].sim_mean, 100 * rows[i].sim_std, lb_plot_color(s));
      }
    lb_plot_series(b, &p, name, x, y, m, lb_plot_color(s), 0);
    lb_plot_legend(b, &p, s, name, lb_plot_color(s), 0);
  }
  lb_plot_end(b);
}

/* Accuracy vs deployed size: every row a point (colour by method), fp32 as a black square, and
 * the Pareto front (no other point is both smaller and more accurate) as a dashed line. */
static void plot_size(lb_buf *b, const lb_summary_row *rows, int n, int first) {
  int idx[512], m = 0;
  const char *methods[32];
  int nm = 0;
  double fsize = (double)rows[first].first->fp32_size_bytes / 1024, facc = 100 * rows[first].fp32_mean;
  double xlo = fsize, xhi = fsize, ylo = facc, yhi = facc;
  for (int i = first; i < n && m < 512; i++) {
    if (!lb_summary_same_model(&rows[first], &rows[i])) continue;
    idx[m++] = i;
    widen(&xlo, &xhi, (double)rows[i].size_bytes / 1024);
    widen(&ylo, &yhi, 100 * rows[i].sim_mean);
    int k = 0;
    while (k < nm && strcmp(methods[k], rows[i].method)) k++;
    if (k == nm && nm < 32) methods[nm++] = rows[i].method;
  }
  double xstep, ystep;
  xlo = 0;
  lb_plot_nice(&xlo, &xhi, &xstep);
  lb_plot_nice(&ylo, &yhi, &ystep);
  lb_plot p = {xlo, xhi, ylo, yhi, 520, 0, 60, 20, 30, 0, 0};
  p.bottom = 60 + 16 * ((nm + 2) / 2);
  p.height = 300 + p.bottom;
  lb_plot_begin(b, &p, "size", "Accuracy vs model size", "model size (KiB)", "test accuracy (%)", xstep, ystep, NULL, 0);
  /* the front, by increasing size (ties: the more accurate first) */
  double fx[513], fy[513];
  int nf = 0, order[513], no = 0;
  for (int i = 0; i < m; i++) order[no++] = idx[i];
  order[no++] = -1; /* fp32 */
  for (int i = 1; i < no; i++)
    for (int j = i; j > 0; j--) {
      int a = order[j - 1], c = order[j];
      double sa = a < 0 ? fsize : (double)rows[a].size_bytes / 1024, sc = c < 0 ? fsize : (double)rows[c].size_bytes / 1024;
      double aa = a < 0 ? facc : 100 * rows[a].sim_mean, ac = c < 0 ? facc : 100 * rows[c].sim_mean;
      if (sc < sa || (sc == sa && ac > aa)) {
        order[j - 1] = c;
        order[j] = a;
      } else {
        break;
      }
    }
  double best = -1;
  for (int i = 0; i < no; i++) {
    int k = order[i];
    double sx = k < 0 ? fsize : (double)rows[k].size_bytes / 1024, sy = k < 0 ? facc : 100 * rows[k].sim_mean;
    if (sy > best) {
      fx[nf] = sx;
      fy[nf++] = sy;
      best = sy;
      lb_sb_printf(b, "<circle class=\"pareto-point\" cx=\"%.1f\" cy=\"%.1f\" r=\"7\" fill=\"none\" stroke=\"#000\" "
                   "stroke-width=\"1.5\"/>\n", lb_plot_px(&p, sx), lb_plot_py(&p, sy));
    }
  }
  lb_sb_printf(b, "<g class=\"pareto\">\n");
  lb_plot_series(b, &p, "Pareto front", fx, fy, nf, "#000", 1);
  lb_sb_printf(b, "</g>\n");
  for (int k = 0; k < nm; k++) {
    double x[512], y[512];
    int c = 0;
    for (int i = 0; i < m; i++)
      if (!strcmp(rows[idx[i]].method, methods[k])) {
        x[c] = (double)rows[idx[i]].size_bytes / 1024;
        y[c++] = 100 * rows[idx[i]].sim_mean;
      }
    /* points only: a scatter, so draw them one by one */
    for (int i = 0; i < c; i++) lb_plot_series(b, &p, methods[k], &x[i], &y[i], 1, lb_plot_color(k), 0);
    lb_plot_legend(b, &p, k, methods[k], lb_plot_color(k), 0);
  }
  lb_sb_printf(b, "<rect class=\"fp32\" x=\"%.1f\" y=\"%.1f\" width=\"8\" height=\"8\" fill=\"#000\"><title>fp32: "
               "%.1f KiB, %.2f%%</title></rect>\n", lb_plot_px(&p, fsize) - 4, lb_plot_py(&p, facc) - 4, fsize, facc);
  lb_plot_legend(b, &p, nm, "Pareto front (circled points; fp32 = black square)", "#000", 1);
  lb_plot_end(b);
}

/* Test accuracy after each QAT epoch of one table row, one line per seed. */
static void plot_curve(lb_buf *b, const lb_results *res, const lb_summary_row *row) {
  int epochs = 0;
  double lo = 100 * row->fp32_mean, hi = lo;
  for (int i = 0; i < res->n; i++) {
    const lb_result *r = &res->r[i];
    if (!lb_summary_row_has(row, r)) continue;
    if (r->n_curve > epochs) epochs = r->n_curve;
    for (int e = 0; e < r->n_curve; e++) widen(&lo, &hi, 100 * r->curve[e]);
  }
  if (!epochs) return;
  double xlo = 1, xhi = epochs > 1 ? epochs : 2, xstep, ystep;
  lb_plot_nice(&xlo, &xhi, &xstep);
  if (xstep < 1) xstep = 1;
  lb_plot_nice(&lo, &hi, &ystep);
  char title[160], name[128];
  series_name(row, name, sizeof name);
  snprintf(title, sizeof title, "%s, W%dA%d", name, row->w, row->a);
  lb_plot p = {xlo, xhi, lo, hi, 340, 0, 60, 16, 30, 0, 0};
  p.bottom = 60 + 16 * ((row->n + 2) / 2);
  p.height = 220 + p.bottom;
  lb_sb_printf(b, "<figure>");
  lb_plot_begin(b, &p, "curve", title, "QAT epoch", "test accuracy (%)", xstep, ystep, NULL, 0);
  lb_plot_hline(b, &p, 100 * row->fp32_mean, "fp32");
  int s = 0;
  for (int i = 0; i < res->n; i++) {
    const lb_result *r = &res->r[i];
    if (!lb_summary_row_has(row, r) || !r->n_curve) continue;
    double x[LB_CURVE_MAX], y[LB_CURVE_MAX];
    for (int e = 0; e < r->n_curve; e++) {
      x[e] = e + 1;
      y[e] = 100 * r->curve[e];
    }
    char sn[32];
    snprintf(sn, sizeof sn, "seed %llu", (unsigned long long)r->cell.seed);
    lb_plot_series(b, &p, sn, x, y, r->n_curve, lb_plot_color(s), 0);
    lb_plot_legend(b, &p, s, sn, lb_plot_color(s), 0);
    s++;
  }
  lb_plot_end(b);
  lb_sb_printf(b, "</figure>\n");
}

lb_status lb_report_html(const lb_results *res, char **text) {
  lb_summary_row *rows;
  int n;
  lb_status s = lb_summarize(res, &rows, &n);
  if (s) return s;
  lb_buf b = {0};
  lb_sb_printf(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>lowbit benchmark "
               "report</title>\n<style>%s</style>\n</head>\n<body>\n<h1>lowbit benchmark report</h1>\n<p>Made by "
               "<code>lowbit report</code> from %d result lines. Simulated: the fake-quant graph's accuracy; integer: "
               "the integer engine's.</p>\n", css, res->n);
  for (int i = 0; i < n && !s; i++) {
    if (!lb_block_first(rows, i)) continue;
    lb_rtable t;
    s = lb_rtable_build(rows, n, i, &t);
    if (s) break;
    lb_sb_printf(&b, "<section class=\"block\">\n<h2>");
    lb_sb_html(&b, rows[i].model);
    lb_sb_printf(&b, " on ");
    lb_sb_html(&b, rows[i].data);
    lb_sb_printf(&b, " (recipe <code>");
    lb_sb_html(&b, rows[i].recipe);
    lb_sb_printf(&b, "</code>)</h2>\n<p>");
    lb_block_facts(&b, res, &rows[i], 1);
    lb_sb_printf(&b, "</p>\n<h3>Simulated accuracy (%%)</h3>\n");
    html_table(&b, rows, &t, 0);
    int any_int = 0;
    for (int k = i; k < n; k++) any_int |= lb_summary_same_model(&rows[i], &rows[k]) && rows[k].n_int > 0;
    lb_sb_printf(&b, "<h3>Integer accuracy (%%)</h3>\n");
    if (any_int) html_table(&b, rows, &t, 1);
    lb_int_notes(&b, rows, n, i, 1);
    lb_sb_printf(&b, "<h3>Plots</h3>\n<div class=\"plots\">\n<figure>");
    plot_bits(&b, rows, n, i);
    lb_sb_printf(&b, "<figcaption>Mean over seeds; bars: &plusmn; one standard deviation; dotted: fp32.</figcaption>"
                 "</figure>\n<figure>");
    plot_size(&b, rows, n, i);
    lb_sb_printf(&b, "<figcaption>Size: weights at their bit-width plus 32-bit biases and scales. Circled points form "
                 "the Pareto front: no other point is smaller and more accurate.</figcaption></figure>\n</div>\n");
    lb_sb_printf(&b, "<h3>Training curves (QAT)</h3>\n<div class=\"plots\">\n");
    int curves = 0;
    for (int r = 0; r < t.n_rows; r++)
      for (int c = 0; c < t.n_cols; c++) {
        int k = t.cell[r * t.n_cols + c];
        if (k < 0 || !rows[k].first->n_curve) continue;
        plot_curve(&b, res, &rows[k]);
        curves++;
      }
    if (!curves) lb_sb_printf(&b, "<p>No QAT cells (PTQ has no training curve).</p>\n");
    lb_sb_printf(&b, "</div>\n</section>\n");
    lb_rtable_free(&t);
  }
  lb_sb_printf(&b, "</body>\n</html>\n");
  free(rows);
  if (s) {
    lb_buf_free(&b);
    return s;
  }
  return lb_sb_take(&b, text);
}
