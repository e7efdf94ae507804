/* lowbit report: Markdown tables and a self-contained HTML page with SVG plots from bench
 * results. */
#include <stdio.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "lowbit/harness.h"


int lb_cmd_report(int argc, char **argv) {
  const char *out = NULL;
  lb_arg args[] = {
      {"output", LB_ARG_STR, &out, "directory for results.md and report.html (created if missing)", 0},
  };
  const char *pos[1] = {NULL};
  lb_args_spec spec = {"report", "lowbit report RESULTS.jsonl -o DIR",
                       "Write DIR/results.md (per model and data set: methods x bits against backends, mean ± std "
                       "over seeds, fp32 reference and drop) and DIR/report.html (inline CSS and SVG: accuracy vs "
                       "bit-width, accuracy vs model size with the Pareto front, training curves).",
                       args, (int)(sizeof args / sizeof args[0]), pos, 1, 0};
  int rc = lb_args_parse(&spec, argc, argv);
  if (rc >= 0) return rc;
  if (!pos[0] || !out) {
    fprintf(stderr, "lowbit report: usage: %s\n", spec.usage);
    return LB_EXIT_USAGE;
  }
  lb_results res;
  if (lb_results_load(pos[0], 0, &res)) {
    fprintf(stderr, "lowbit report: %s\n", lb_last_error());
    return LB_EXIT_USAGE;
  }
  if (res.n == 0) {
    fprintf(stderr, "lowbit report: %s holds no results\n", pos[0]);
    lb_results_free(&res);
    return LB_EXIT_USAGE;
  }
  lb_status s = lb_report_write(&res, out);
  lb_results_free(&res);
  if (s) {
    fprintf(stderr, "lowbit report: %s\n", lb_last_error());
    return LB_EXIT_FAIL;
  }
  printf("wrote %s/results.md and %s/report.html\n", out, out);
  return LB_EXIT_OK;
}
