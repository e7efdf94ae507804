/* The HTML report in a real browser: headless Chromium (Debian package chromium) loads the
 * page from file://, and the DOM it builds must hold the SVG plots with their lines, points and
 * labels (a page the HTML parser had to repair would lose or move them); a screenshot is
 * taken too. Skips (exit 77) when chromium is not installed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "test_harness_fixture.h"
#include "testutil.h"

static const char *find_chromium(void) {
  static const char *const names[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser", NULL};
  const char *env = getenv("LOWBIT_CHROMIUM");
  if (env && lbt_file_exists(env)) return env;
  for (int i = 0; names[i]; i++)
    if (lbt_file_exists(names[i])) return names[i];
  return NULL;
}

static int count_of(const char *s, const char *needle) {
  int n = 0;
  for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

static char dom[1 << 20];

int main(void) {
  const char *chromium = find_chromium();
  if (!chromium) return lbt_skip("test_harness_chromium", "chromium not installed (Debian package chromium)");
  const char *dir = lbt_tmp_init("lbt_hchrome");
  if (!dir) return 1;
  lb_results res = {0};
  const char *methods[] = {"lsq", "pact", "ptq"};
  for (int m = 0; m < 3; m++)
    for (int w = 2; w <= 4; w += 2)
      for (int s = 1; s <= 2; s++) {
        lb_result r = lbt_hresult(methods[m], w, "academic", (uint64_t)s, 0.70 + 0.04 * w - 0.02 * m + 0.005 * s);
        CHECK_OK(lb_results_push(&res, &r));
      }
  const char *out = lbt_tmp_path("out");
  lbt_tmp_path("out/results.md");
  const char *page = lbt_tmp_path("out/report.html");
  CHECK_OK(lb_report_write(&res, out));
  lb_results_free(&res);
  const char *profile = lbt_tmp_path("profile");
  const char *dom_path = lbt_tmp_path("dom.html");
  const char *png = lbt_tmp_path("shot.png");
  /* --no-sandbox: tests may run as root (CI containers), where Chromium's sandbox refuses */
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "'%s' --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir='%s' --dump-dom 'file://%s' "
           ">'%s' 2>/dev/null </dev/null",
           chromium, profile, page, dom_path);
  int st = system(cmd);
  CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "chromium --dump-dom failed (status %d)", st);
  lbt_slurp(dom_path, dom, sizeof dom);
  CHECK_MSG(strstr(dom, "<h1>lowbit benchmark report</h1>") != NULL, "DOM: %.500s", dom);
  /* the plots survived parsing as SVG elements with their content */
  CHECK(count_of(dom, "<svg class=\"plot\"") == 2 + 4); /* bits, size, and 4 QAT rows' curves */
  CHECK(count_of(dom, "data-plot=\"bits\"") == 1 && count_of(dom, "data-plot=\"size\"") == 1);
  CHECK(count_of(dom, "<polyline") >= 3 + 1 + 4 * 2); /* 3 methods, the front, 2 seeds per curve */
  CHECK(count_of(dom, "class=\"pareto-point\"") >= 1);
  CHECK(strstr(dom, "test accuracy (%)") && strstr(dom, "model size (KiB)") && strstr(dom, "QAT epoch"));
  CHECK(strstr(dom, ">lsq / academic</text>") && strstr(dom, ">W2A2</text>") && strstr(dom, ">W4A4</text>"));
  CHECK(count_of(dom, "</svg>") == count_of(dom, "<svg"));
  /* and it renders: a screenshot of the page */
  snprintf(cmd, sizeof cmd,
           "'%s' --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir='%s' --window-size=1200,1600 "
           "--screenshot='%s' 'file://%s' >/dev/null 2>&1 </dev/null",
           chromium, profile, png, page);
  st = system(cmd);
  CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "chromium --screenshot failed (status %d)", st);
  FILE *f = fopen(png, "rb");
  unsigned char head[8] = {0};
  long size = 0;
  if (f) {
    if (fread(head, 1, 8, f) != 8) head[0] = 0;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fclose(f);
  }
  CHECK_MSG(!memcmp(head, "\x89PNG\r\n\x1a\n", 8), "no PNG written");
  /* a page of text alone (no plots) gives about 15 KB at this size; this page about 100 KB */
  CHECK_MSG(size > 40000, "screenshot only %ld bytes: are the plots drawn?", size);
  /* Chromium leaves a profile behind: remove it with the shell, then the rest */
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", profile);
  CHECK(system(cmd) == 0);
  lbt_tmp_cleanup();
  return lbt_finish("test_harness_chromium");
}
