/* Shared by the qat and ptq verbs: load a float model, plan, insert quantizers, calibrate. */
#ifndef LOWBIT_CLI_QUANT_COMMON_H
#define LOWBIT_CLI_QUANT_COMMON_H

#include "lowbit/qgraph.h"
#include "lowbit/train.h"

typedef struct lb_quant_job {
  const char *verb;
  const char *model;       /* float .lbm */
  lb_qplan_request req;
  const char *layer_bits;  /* per-layer overrides, "NAME=W/A,..." (lb_qplan_override_spec) */
  int calib;               /* images used for calibration */
  int limit_train, limit_test;
  int quiet;
  /* results */
  lb_train_config cfg;     /* the float model's recipe */
  lb_graph *qg;            /* quantized graph, calibrated */
  lb_dataset train, test;
  double float_acc;        /* float model's test accuracy */
} lb_quant_job;

/* Everything up to a calibrated quantized graph. Prints a one-line error and returns an exit
 * code on failure (resources released); 0 on success. */
int lb_quant_job_prepare(lb_quant_job *j);
void lb_quant_job_free(lb_quant_job *j);

#endif
