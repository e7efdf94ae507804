#include "cli/quant_common.h"

#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static int fail(lb_quant_job *j, int code) {
  fprintf(stderr, "lowbit %s: %s\n", j->verb, lb_last_error());
  lb_quant_job_free(j);
  return code;
}

int lb_quant_job_prepare(lb_quant_job *j) {
  lb_graph *g = NULL;
  int has_cfg = 0;
  if (!j->model) {
    fprintf(stderr, "lowbit %s: --model FILE.lbm (a float model) is required\n", j->verb);
    return LB_EXIT_USAGE;
  }
  if (lb_model_load(j->model, &g, &j->cfg, &has_cfg)) return fail(j, LB_EXIT_USAGE);
  if (lb_graph_is_quantized(g)) {
    lb_graph_free(g);
    lb_fail(LB_ERR_ARG, "%s is already quantized; give the float model it came from", j->model);
    return fail(j, LB_EXIT_USAGE);
  }
  if (!has_cfg) {
    lb_graph_free(g);
    lb_fail(LB_ERR_ARG, "%s does not say which data it was trained on (no recipe section)", j->model);
    return fail(j, LB_EXIT_USAGE);
  }
  lb_qplan plan = {0};
  lb_status s = lb_qplan_make(g, &j->req, &plan);
  if (!s && j->layer_bits) s = lb_qplan_override_spec(g, &plan, j->layer_bits);
  char first[LB_NAME_MAX];
  int constant = s ? 0 : lb_qplan_constant_binary(g, &plan, first, sizeof first);
  if (constant)
    fprintf(stderr,
            "lowbit %s: warning: %d binary (+-1) activation quantizer%s read%s a ReLU's output (first: the input of "
            "'%s') and will be +1 everywhere: %s has signed activations only; use --a 2, or a backend with unsigned "
            "activations after ReLU (academic, fbgemm) for a {0, 1} grid\n",
            j->verb, constant, constant == 1 ? "" : "s", constant == 1 ? "s" : "", first, j->req.backend);
  if (!s) s = lb_quant_apply(g, &plan, &j->qg);
  lb_qplan_free(&plan);
  if (s) {
    lb_graph_free(g);
    return fail(j, LB_EXIT_USAGE);
  }
  int rc = lb_cli_open_data(j->verb, j->cfg.data, 1, j->limit_train, &j->train);
  if (!rc) rc = lb_cli_open_data(j->verb, j->cfg.data, 0, j->limit_test, &j->test);
  if (rc) {
    lb_graph_free(g);
    lb_quant_job_free(j);
    return rc;
  }
  if (lb_evaluate(g, &j->test, &j->cfg.aug, 256, &j->float_acc, NULL)) {
    lb_graph_free(g);
    return fail(j, LB_EXIT_USAGE);
  }
  lb_graph_free(g);
  int calib = j->calib < j->train.n ? j->calib : j->train.n;
  if (!j->quiet) fprintf(stderr, "calibrating on %d training images...\n", calib);
  if (lb_quant_calibrate(j->qg, &j->train, &j->cfg.aug, calib, 128)) return fail(j, LB_EXIT_FAIL);
  return LB_EXIT_OK;
}

void lb_quant_job_free(lb_quant_job *j) {
  lb_graph_free(j->qg);
  j->qg = NULL;
  lb_dataset_free(&j->train);
  lb_dataset_free(&j->test);
}
