/* lowbit bench: run a recipe's matrix (method x bits x backend x seed), resumable, one JSON
 * line per finished cell; --summary prints mean ± std over seeds. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "lowbit/harness.h"

static volatile int bench_stop;
static void on_sigint(int sig) {
  (void)sig;
  bench_stop = 1;
}

typedef struct bench_ui {
  int quiet;
  double cell_start;
} bench_ui;

static void ui_warn(const char *msg, void *user) {
  (void)user;
  fprintf(stderr, "lowbit bench: warning: %s\n", msg);
}

static void ui_note(const char *msg, void *user) {
  if (!((bench_ui *)user)->quiet) fprintf(stderr, "%s\n", msg);
}

static void ui_cell_begin(const lb_cell *c, int index, int total, int skipped, void *user) {
  bench_ui *ui = user;
  ui->cell_start = lb_now();
  if (ui->quiet) return;
  char key[160];
  lb_cell_key(c, key, sizeof key);
  fprintf(stderr, "[%d/%d] %s%s\n", index + 1, total, key, skipped ? ": done before, skipped" : "");
}

static void ui_cell_end(const lb_result *r, int index, int total, void *user) {
  bench_ui *ui = user;
  if (ui->quiet) return;
  fprintf(stderr, "[%d/%d] done: %.2f%% (fp32 %.2f%%, drop %.2f), %.1f s\n", index + 1, total, 100 * r->sim_acc,
          100 * r->fp32_acc, 100 * r->drop, lb_now() - ui->cell_start);
}

static void ui_epoch(const lb_epoch_stats *s, void *user) {
  if (((bench_ui *)user)->quiet) return;
  fprintf(stderr, "  epoch %d/%d  train loss %.4f  test acc %.2f%%  %.1f s\n", s->epoch, s->epochs, s->train_loss,
          100 * s->test_acc, s->seconds);
}

static int print_summary(const char *path) {
  lb_results res;
  if (lb_results_load(path, 0, &res)) {
    fprintf(stderr, "lowbit bench: %s\n", lb_last_error());
    return LB_EXIT_FAIL;
  }
  lb_summary_row *rows;
  int n;
  if (lb_summarize(&res, &rows, &n)) {
    fprintf(stderr, "lowbit bench: %s\n", lb_last_error());
    lb_results_free(&res);
    return LB_EXIT_FAIL;
  }
  printf("%-14s %-10s %-7s %-10s %-6s %5s  %-16s %-16s %-8s\n", "model", "method", "bits", "backend", "bnfold", "seeds",
         "sim acc %", "int acc %", "vs fp32");
  for (int i = 0; i < n; i++) {
    char sim[48], ia[48], bits[16], method[40];
    snprintf(bits, sizeof bits, "W%dA%d", rows[i].w, rows[i].a);
    snprintf(method, sizeof method, "%s%s%s", rows[i].method, rows[i].observer[0] ? ":" : "", rows[i].observer);
    lb_fmt_mean_std(rows[i].sim_mean, rows[i].sim_std, rows[i].n, sim, sizeof sim);
    if (rows[i].n_int) lb_fmt_mean_std(rows[i].int_mean, rows[i].int_std, rows[i].n_int, ia, sizeof ia);
    else snprintf(ia, sizeof ia, "n/a");
    printf("%-14s %-10s %-7s %-10s %-6s %5d  %-16s %-16s %+.2f\n", rows[i].model, method, bits, rows[i].backend,
           rows[i].bn_fold, rows[i].n, sim, ia, -100 * rows[i].drop_mean);
  }
  free(rows);
  lb_results_free(&res);
  return LB_EXIT_OK;
}

int lb_cmd_bench(int argc, char **argv) {
  const char *out = NULL, *recipe_path = NULL;
  int summary = 0, quiet = 0, max_cells = 0, check_only = 0;
  lb_arg args[] = {
      {"output", LB_ARG_STR, &out, "results file (JSON lines); finished cells in it are not run again", 0},
      {"summary", LB_ARG_FLAG, &summary, "afterwards print mean ± std over seeds per method, bits, backend", 0},
      {"max-cells", LB_ARG_INT, &max_cells, "stop after running N cells (a partial run; rerun to continue)", 0},
      {"check", LB_ARG_FLAG, &check_only, "only check the recipe and list its cells", 0},
      {"quiet", LB_ARG_FLAG, &quiet, "no progress output", 0},
  };
  const char *pos[1] = {NULL};
  lb_args_spec spec = {"bench", "lowbit bench RECIPE.json -o RESULTS.jsonl [--summary]",
                       "Run a benchmark recipe: every method x bit-width x backend x seed cell from one float model "
                       "(trained once and cached beside the results, or loaded). Each finished cell appends one "
                       "JSON line. Interrupted runs (Ctrl-C, kill) continue where they stopped when run again. "
                       "Recipe keys: docs/bench-harness.md.",
                       args, (int)(sizeof args / sizeof args[0]), pos, 1, 0};
  int rc = lb_args_parse(&spec, argc, argv);
  if (rc >= 0) return rc;
  recipe_path = pos[0];
  if (!recipe_path) {
    fprintf(stderr, "lowbit bench: give a recipe file (lowbit bench RECIPE.json -o RESULTS.jsonl)\n");
    return LB_EXIT_USAGE;
  }
  if (max_cells < 0) {
    fprintf(stderr, "lowbit bench: --max-cells must be >= 0\n");
    return LB_EXIT_USAGE;
  }
  static lb_recipe r; /* large: keep it off the stack */
  if (lb_recipe_load(recipe_path, &r)) {
    fprintf(stderr, "lowbit bench: %s\n", lb_last_error());
    return LB_EXIT_USAGE;
  }
  if (check_only) {
    int n = lb_recipe_cells(&r, NULL, 0);
    printf("recipe %s: %d cells\n", r.name, n);
    static lb_cell cells[4096];
    lb_recipe_cells(&r, cells, 4096);
    for (int i = 0; i < n && i < 4096; i++) {
      char key[160];
      lb_cell_key(&cells[i], key, sizeof key);
      printf("  %s\n", key);
    }
    return LB_EXIT_OK;
  }
  if (!out) {
    fprintf(stderr, "lowbit bench: -o RESULTS.jsonl is required\n");
    return LB_EXIT_USAGE;
  }
  signal(SIGINT, on_sigint);
  signal(SIGTERM, on_sigint);
  bench_ui ui = {.quiet = quiet};
  lb_bench_events ev = {&ui, ui_warn, ui_cell_begin, ui_cell_end, ui_epoch, ui_note};
  lb_bench_options opt = {max_cells, &bench_stop};
  int ran, done;
  lb_status s = lb_bench_run(&r, out, &opt, &ev, &ran, &done);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  if (s == LB_ERR_INTERRUPTED) {
    fprintf(stderr, "lowbit bench: %s\n", lb_last_error());
    return 130;
  }
  if (s) {
    fprintf(stderr, "lowbit bench: %s\n", lb_last_error());
    return s == LB_ERR_NOMEM || s == LB_ERR_IO ? LB_EXIT_FAIL : LB_EXIT_USAGE;
  }
  if (!quiet) fprintf(stderr, "bench %s: %d cells run now, %d of %d finished; results in %s\n", r.name, ran, done,
                      lb_recipe_cells(&r, NULL, 0), out);
  return summary ? print_summary(out) : LB_EXIT_OK;
}
