/* lowbit bench end to end on a tiny recipe (mlp on 512 Fashion-MNIST images): an interrupted
 * run (stopped after some cells, then a half-written line as a kill during a write leaves it)
 * continues without redoing finished cells, and ends with the same table as an uninterrupted
 * run; the float model is trained once and read from the cache afterwards; a results file made
 * with other settings is refused; report refuses malformed results with the line number. The
 * integer engine measures the cells it can lower, and the report says why the others are n/a. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/harness.h"
#include "testutil.h"

#define run lbt_run_cli

static const char *recipe_text =
    "{\"name\": \"tiny\", \"model\": {\"zoo\": \"mlp\", \"train\": {\"epochs\": 2}}, \"data\": \"fashion-mnist\",\n"
    " \"limit_train\": 512, \"limit_test\": 256, \"threads\": 2, \"seeds\": [1, 2], \"epochs\": %d, \"calib\": 128,\n"
    " \"matrix\": [{\"methods\": [\"lsq\", \"pact\", \"ptq\"], \"bits\": [{\"w\": 4, \"a\": 4}, {\"w\": 2, \"a\": 2}],\n"
    "              \"backends\": [\"academic\"]},\n"
    "             {\"methods\": [\"lsq\"], \"bits\": [{\"w\": 8, \"a\": 8}], \"backends\": [\"tensorrt\"]}]}\n";
#define N_CELLS 14 /* 3 x 2 x 1 x 2 + 1 x 1 x 1 x 2 */

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++) n += *s == '\n';
  return n;
}

static int count_of(const char *s, const char *needle) {
  int n = 0;
  for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

static char file_a[LBT_OUT_CAP], file_b[LBT_OUT_CAP], first_b[LBT_OUT_CAP];

int main(void) {
  char probe[512];
  snprintf(probe, sizeof probe, "%s/train-images-idx3-ubyte.gz", LB_FASHION_MNIST_DIR);
  if (!lbt_file_exists(probe))
    return lbt_skip("test_harness_resume", "Fashion-MNIST not installed (Debian package dataset-fashion-mnist)");
  if (!lbt_tmp_init("lbt_hresume")) return 1;
  char text[2048];
  snprintf(text, sizeof text, recipe_text, 1);
  const char *recipe = lbt_tmp_path("tiny.json");
  lbt_write_file(recipe, text, strlen(text));
  const char *ra = lbt_tmp_path("a.jsonl"), *rb = lbt_tmp_path("b.jsonl");
  lb_recipe rec;
  CHECK_OK(lb_recipe_load(recipe, &rec));
  char cache_a[2048], cache_b[2048];
  lb_bench_fp32_cache_path(&rec, ra, cache_a, sizeof cache_a);
  lb_bench_fp32_cache_path(&rec, rb, cache_b, sizeof cache_b);
  lbt_tmp_path(strrchr(cache_a, '/') + 1);
  lbt_tmp_path(strrchr(cache_b, '/') + 1);

  /* A: uninterrupted */
  int rc = run("bench '%s' -o '%s' --summary", recipe, ra);
  CHECK_MSG(rc == 0, "bench A exited %d: %s", rc, lbt_err);
  static char summary_a[LBT_OUT_CAP];
  snprintf(summary_a, sizeof summary_a, "%s", lbt_out);
  CHECK(strstr(lbt_err, "training the float mlp") != NULL);
  CHECK(count_of(lbt_err, "done before, skipped") == 0);
  lbt_slurp(ra, file_a, sizeof file_a);
  CHECK_MSG(count_lines(file_a) == N_CELLS, "A has %d lines", count_lines(file_a));
  CHECK(lbt_file_exists(cache_a));

  /* B: stopped after 5 cells ... */
  rc = run("bench '%s' -o '%s' --max-cells 5", recipe, rb);
  CHECK_MSG(rc == 130, "partial bench exited %d: %s", rc, lbt_err);
  CHECK(strstr(lbt_err, "stopped with 5 of 14 cells done") != NULL);
  lbt_slurp(rb, first_b, sizeof first_b);
  CHECK(count_lines(first_b) == 5);
  /* ... then a kill in the middle of writing the sixth line */
  const char *l6 = file_a;
  for (int i = 0; i < 5 && l6; i++) l6 = strchr(l6, '\n') + 1;
  FILE *f = fopen(rb, "a");
  CHECK(f != NULL);
  if (f) {
    fwrite(l6, 1, 40, f);
    fclose(f);
  }
  rc = run("bench '%s' -o '%s' --summary", recipe, rb);
  CHECK_MSG(rc == 0, "resumed bench exited %d: %s", rc, lbt_err);
  CHECK_MSG(strstr(lbt_err, "warning") && strstr(lbt_err, "cut short"), "no warning about the torn line: %s", lbt_err);
  CHECK(strstr(lbt_err, "float model from the cache") != NULL);
  CHECK(strstr(lbt_err, "training the float") == NULL);
  CHECK_MSG(count_of(lbt_err, "done before, skipped") == 5, "%s", lbt_err);
  CHECK(strstr(lbt_err, "9 cells run now, 14 of 14 finished") != NULL);
  lbt_slurp(rb, file_b, sizeof file_b);
  CHECK(count_lines(file_b) == N_CELLS);
  /* the five finished lines are untouched: same bytes, train times included */
  CHECK(strncmp(file_b, first_b, strlen(first_b)) == 0);
  /* same recipe, seeds and threads: the same table (times aside) */
  CHECK_MSG(!strcmp(summary_a, lbt_out), "summaries differ:\n%s\n---\n%s", summary_a, lbt_out);
  CHECK(strstr(summary_a, "lsq") && strstr(summary_a, "pact") && strstr(summary_a, "ptq:minmax") &&
        strstr(summary_a, "tensorrt"));

  /* nothing left to do */
  rc = run("bench '%s' -o '%s'", recipe, rb);
  CHECK(rc == 0 && strstr(lbt_err, "all 14 cells are already in") != NULL && strstr(lbt_err, "0 cells run now"));

  /* reports of A and B: identical Markdown */
  const char *da = lbt_tmp_path("rep_a"), *db = lbt_tmp_path("rep_b");
  lbt_tmp_path("rep_a/results.md");
  lbt_tmp_path("rep_a/report.html");
  lbt_tmp_path("rep_b/results.md");
  lbt_tmp_path("rep_b/report.html");
  CHECK(run("report '%s' -o '%s'", ra, da) == 0);
  CHECK(run("report '%s' -o '%s'", rb, db) == 0);
  char path[600];
  snprintf(path, sizeof path, "%s/results.md", da);
  lbt_slurp(path, file_a, sizeof file_a);
  snprintf(path, sizeof path, "%s/results.md", db);
  lbt_slurp(path, file_b, sizeof file_b);
  CHECK(file_a[0] && !strcmp(file_a, file_b));
  CHECK(strstr(file_a, "| method | bits | BN fold | academic | tensorrt |") != NULL);
  CHECK(strstr(file_a, "| ptq (minmax) | W2A2 | none |") != NULL);
  /* the integer engine ran every LSQ and PTQ cell; PACT's weight grid has no integer form (yet),
   * and the report says so */
  const char *itab = strstr(file_a, "### Integer accuracy");
  CHECK(itab && strstr(itab, "| method | bits | BN fold | academic | tensorrt |") != NULL);
  CHECK(itab && strstr(itab, "| pact | W4A4 | none | n/a | — |") != NULL);
  CHECK(itab && strstr(itab, "| lsq | W4A4 | none | n/a") == NULL && strstr(itab, "| lsq | W4A4 | none | ") != NULL);
  CHECK(itab && strstr(itab, "| ptq (minmax) | W2A2 | none | n/a") == NULL);
  CHECK(itab && strstr(itab, "pact weights are not lowered") != NULL);

  /* the same results file with other settings is refused */
  snprintf(text, sizeof text, recipe_text, 2);
  lbt_write_file(recipe, text, strlen(text));
  rc = run("bench '%s' -o '%s'", recipe, rb);
  CHECK_MSG(rc == 2 && strstr(lbt_err, "epochs 1, the recipe says 2") && strstr(lbt_err, "new results file"), "%d %s", rc,
            lbt_err);

  /* report on malformed results: the line number */
  lbt_slurp(rb, file_b, sizeof file_b);
  char *third = strchr(strchr(file_b, '\n') + 1, '\n') + 1;
  third[0] = '[';
  const char *bad = lbt_tmp_path("bad.jsonl");
  lbt_write_file(bad, file_b, strlen(file_b));
  rc = run("report '%s' -o '%s'", bad, da);
  CHECK_MSG(rc == 2 && strstr(lbt_err, "bad.jsonl:3:"), "%d %s", rc, lbt_err);
  /* and a recipe mistake from the CLI, before anything runs */
  const char *typo = lbt_tmp_path("typo.json");
  lbt_write_file(typo, "{\"name\": \"x\", \"epoch\": 3}", 25);
  rc = run("bench '%s' -o '%s'", typo, bad);
  CHECK_MSG(rc == 2 && strstr(lbt_err, "unknown key 'epoch' in the recipe"), "%d %s", rc, lbt_err);
  lbt_tmp_cleanup();
  return lbt_finish("test_harness_resume");
}
