/* The report from known results: the Markdown table holds the expected means ± std per method,
 * bits and backend; the HTML page is self-contained (no scripts, nothing fetched), its tags are
 * balanced, and its SVG plots hold what the data says: one bits plot, one size plot and one
 * curve plot per QAT row of each block, points in the right order, the Pareto front's points,
 * axis labels, legends; report_write creates the directory and both files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_harness_fixture.h"
#include "testutil.h"

static int count_of(const char *s, const char *needle) {
  int n = 0;
  for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

/* Circle centres of a series inside the first SVG of kind `plot`. */
static int series_points(const char *html, const char *plot, const char *series, double *cx, double *cy, int cap) {
  char open[96], grp[160];
  snprintf(open, sizeof open, "data-plot=\"%s\"", plot);
  const char *svg = strstr(html, open);
  if (!svg) return -1;
  const char *end = strstr(svg, "</svg>");
  snprintf(grp, sizeof grp, "<g class=\"series\" data-series=\"%s\">", series);
  const char *g = strstr(svg, grp);
  if (!g || g > end) return -1;
  const char *gend = strstr(g, "</g>");
  int n = 0;
  for (const char *c = strstr(g, "<circle"); c && c < gend && n < cap; c = strstr(c + 1, "<circle")) {
    if (sscanf(c, "<circle cx=\"%lf\" cy=\"%lf\"", &cx[n], &cy[n]) == 2) n++;
  }
  return n;
}

static void build(lb_results *res) {
  /* lsq and pact at W4A4 and W2A2 on academic, two seeds; ptq at W8A8; a second recipe */
  struct { const char *m; int w; double a1, a2; } cells[] = {
      {"lsq", 4, 0.88, 0.86}, {"lsq", 2, 0.80, 0.80}, {"pact", 4, 0.85, 0.85}, {"pact", 2, 0.83, 0.81}, {"ptq", 8, 0.89, 0.89}};
  for (int i = 0; i < 5; i++)
    for (int s = 1; s <= 2; s++) {
      lb_result r = lbt_hresult(cells[i].m, cells[i].w, "academic", (uint64_t)s, s == 1 ? cells[i].a1 : cells[i].a2);
      if (!strcmp(cells[i].m, "ptq")) { /* only PTQ has an integer accuracy here */
        r.has_int_acc = 1;
        r.int_acc = r.sim_acc - 0.005;
        snprintf(r.int_note, sizeof r.int_note, "integer engine (test)");
      }
      CHECK_OK(lb_results_push(res, &r));
    }
  lb_result r = lbt_hresult("lsq", 4, "tvm", 1, 0.84);
  CHECK_OK(lb_results_push(res, &r));
  r = lbt_hresult("dorefa", 3, "fbgemm", 1, 0.70);
  snprintf(r.recipe, sizeof r.recipe, "other");
  CHECK_OK(lb_results_push(res, &r));
}

static void test_markdown(const lb_results *res) {
  char *md;
  CHECK_OK(lb_report_markdown(res, &md));
  if (!md) return;
  CHECK(strstr(md, "## mlp on fashion-mnist (recipe `t`)") != NULL);
  CHECK(strstr(md, "## mlp on fashion-mnist (recipe `other`)") != NULL);
  CHECK(strstr(md, "Float (fp32) reference: **90.00%**") != NULL);
  CHECK(strstr(md, "| method | bits | BN fold | academic | tvm |") != NULL);
  /* lsq W4A4: 87 ± 1.41 (-3.00); tvm has one seed */
  CHECK_MSG(strstr(md, "| lsq | W4A4 | none | 87.00 ± 1.41 (-3.00) | 84.00 (-6.00) [1 seed] |") != NULL, "%s", md);
  CHECK(strstr(md, "| lsq | W2A2 | none | 80.00 ± 0.00 (-10.00) | — |") != NULL);
  CHECK(strstr(md, "| ptq (minmax) | W8A8 | none | 89.00 ± 0.00 (-1.00) | — |") != NULL);
  CHECK(strstr(md, "| dorefa | W3A3 | none | 70.00 (-20.00) |") != NULL);
  CHECK(strstr(md, "| W4A4 | academic | 3.9 | 8.0x smaller | 0.016 |") != NULL);
  const char *itab = strstr(md, "### Integer accuracy (%)");
  CHECK(itab && strstr(itab, "| ptq (minmax) | W8A8 | none | 88.50 ± 0.00 (-1.50) | — |") != NULL);
  CHECK(itab && strstr(itab, "| lsq | W4A4 | none | n/a | n/a |") != NULL);
  CHECK(itab && strstr(itab, "- n/a: lsq W4A4 academic: no integer program: synthetic record\n") != NULL);
  CHECK(count_of(md, "- n/a: ") == 2); /* one reason per block: t and other */
  CHECK(strstr(md, "Seeds: 1, 2;") != NULL);
  /* the same results give the same bytes */
  char *again;
  CHECK_OK(lb_report_markdown(res, &again));
  CHECK(again && !strcmp(md, again));
  free(again);
  free(md);
}

static void test_html(const lb_results *res) {
  char *html;
  CHECK_OK(lb_report_html(res, &html));
  if (!html) return;
  CHECK(!strncmp(html, "<!DOCTYPE html>", 15));
  /* self-contained: no scripts, no links or sources; the only URL is the SVG namespace */
  CHECK(!strstr(html, "<script") && !strstr(html, "src=") && !strstr(html, "href=") && !strstr(html, "@import"));
  CHECK(count_of(html, "http") == count_of(html, "xmlns=\"http://www.w3.org/2000/svg\""));
  CHECK(strstr(html, "<style>") != NULL);
  /* balanced */
  CHECK(count_of(html, "<svg") == count_of(html, "</svg>"));
  CHECK(count_of(html, "<g ") + count_of(html, "<g>") == count_of(html, "</g>"));
  /* t: simulated and integer tables; other: simulated only */
  CHECK(count_of(html, "<table") == count_of(html, "</table>") && count_of(html, "<table") == 3);
  CHECK(count_of(html, "data-kind=\"integer\"") == 1);
  CHECK(count_of(html, "<figure>") == count_of(html, "</figure>"));
  CHECK(count_of(html, "<section") == 2 && count_of(html, "</section>") == 2);
  /* plots: per block one bits and one size plot; a curve per QAT row (t: lsq x2, pact x2, lsq/tvm;
   * other: dorefa) */
  CHECK(count_of(html, "data-plot=\"bits\"") == 2);
  CHECK(count_of(html, "data-plot=\"size\"") == 2);
  CHECK_MSG(count_of(html, "data-plot=\"curve\"") == 6, "%d curves", count_of(html, "data-plot=\"curve\""));
  CHECK(strstr(html, "bit-width (weights W, activations A)") && strstr(html, "model size (KiB)") &&
        strstr(html, "test accuracy (%)") && strstr(html, "QAT epoch"));
  CHECK(strstr(html, "<g class=\"legend\">") && strstr(html, ">lsq / academic</text>") && strstr(html, ">seed 2</text>"));
  CHECK(strstr(html, "cpu &quot;quoted&quot; &lt;x&gt;") != NULL && !strstr(html, "<x>"));
  /* bits plot: W2A2 left of W4A4, and lsq's W4A4 (87%) above its W2A2 (80%) */
  double cx[8], cy[8];
  int n = series_points(html, "bits", "lsq / academic", cx, cy, 8);
  CHECK_MSG(n == 2, "%d points", n);
  if (n == 2) CHECK(cx[0] < cx[1] && cy[1] < cy[0]);
  CHECK(series_points(html, "bits", "ptq (minmax) / academic", cx, cy, 8) == 1);
  /* size plot of recipe t: sizes 2000 (pact 82, lsq 80), 4000 (lsq 87, pact 85, lsq/tvm 84), 8000 (ptq 89),
   * fp32 32000 (90): the front is pact W2A2, lsq W4A4, ptq W8A8, fp32 */
  const char *size_t_plot = strstr(html, "data-plot=\"size\"");
  const char *size_end = strstr(size_t_plot, "</svg>");
  int front = 0;
  for (const char *p = strstr(size_t_plot, "class=\"pareto-point\""); p && p < size_end; p = strstr(p + 1, "class=\"pareto-point\""))
    front++;
  CHECK_MSG(front == 4, "%d points on the front", front);
  n = series_points(html, "size", "Pareto front", cx, cy, 8);
  CHECK(n == 4);
  for (int i = 1; i < n; i++) CHECK(cx[i] > cx[i - 1] && cy[i] < cy[i - 1]); /* bigger and more accurate */
  CHECK(strstr(html, "<rect class=\"fp32\"") != NULL);
  /* a curve: two epochs of seed 1 of lsq W4A4 end at 88% */
  n = series_points(html, "curve", "seed 1", cx, cy, 8);
  CHECK(n == 2);
  CHECK(strstr(html, "seed 1: 2, 88.00</title>") != NULL);
  free(html);
}

int main(void) {
  const char *dir = lbt_tmp_init("lbt_hreport");
  if (!dir) return 1;
  lb_results res = {0};
  build(&res);
  test_markdown(&res);
  test_html(&res);
  const char *out = lbt_tmp_path("out");
  lbt_tmp_path("out/results.md");
  lbt_tmp_path("out/report.html");
  CHECK_OK(lb_report_write(&res, out));
  char path[512], buf[4096];
  snprintf(path, sizeof path, "%s/results.md", out);
  lbt_slurp(path, buf, sizeof buf);
  CHECK(!strncmp(buf, "# Benchmark results", 19));
  snprintf(path, sizeof path, "%s/report.html", out);
  CHECK(lbt_file_exists(path));
  /* a file where the directory should be */
  const char *blocker = lbt_tmp_path("blocker");
  lbt_write_file(blocker, "x", 1);
  CHECK_STATUS(lb_report_write(&res, blocker), LB_ERR_IO);
  lb_results_free(&res);
  lbt_tmp_cleanup();
  return lbt_finish("test_harness_report");
}
