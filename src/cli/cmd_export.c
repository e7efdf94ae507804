/* lowbit export: write a model for another runtime. Today: a float model as ONNX. The integer
 * program's forms (ONNX QDQ / QOperator, C source) are refused with a clear error until they
 * land (docs/export.md). */
#include <stdio.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "lowbit/export.h"
#include "lowbit/train.h"

int lb_cmd_export(int argc, char **argv) {
  const char *model = NULL, *onnx = NULL, *program = NULL, *csrc = NULL;
  lb_arg args[] = {
      {"model", LB_ARG_STR, &model, "float model (.lbm) to export", 0},
      {"onnx", LB_ARG_STR, &onnx, "write ONNX here", 0},
      {"program", LB_ARG_STR, &program, "integer program (from lowbit deploy) to export", 0},
      {"c", LB_ARG_STR, &csrc, "write C source (PREFIX.c and PREFIX.h)", 0},
  };
  lb_args_spec spec = {"export", "lowbit export --model FLOAT.lbm --onnx OUT.onnx",
                       "Write a float model as ONNX (opset 13; evaluation semantics: batch norm with running "
                       "statistics, dropout the identity). A quantized model is exported through its integer "
                       "program (lowbit deploy).",
                       args, (int)(sizeof args / sizeof args[0]), NULL, 0, 0};
  int rc = lb_args_parse(&spec, argc, argv);
  if (rc >= 0) return rc;
  if (program || csrc) {
    fprintf(stderr, "lowbit export: exporting an integer program (--program, --c) is not built yet (issue 4)\n");
    return LB_EXIT_FAIL;
  }
  if (!model || !onnx) {
    fprintf(stderr, "lowbit export: --model FILE.lbm and --onnx OUT.onnx are required\n");
    return LB_EXIT_USAGE;
  }
  lb_graph *g;
  lb_train_config cfg;
  int has_cfg;
  if (lb_model_load(model, &g, &cfg, &has_cfg)) {
    fprintf(stderr, "lowbit export: %s\n", lb_last_error());
    return LB_EXIT_USAGE;
  }
  lb_status s = lb_export_onnx_float(g, onnx);
  lb_graph_free(g);
  if (s) {
    fprintf(stderr, "lowbit export: %s\n", lb_last_error());
    return s == LB_ERR_IO ? LB_EXIT_FAIL : LB_EXIT_USAGE;
  }
  printf("wrote %s\n", onnx);
  return LB_EXIT_OK;
}
