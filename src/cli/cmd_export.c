/* lowbit export: write a model for another runtime: a float model as ONNX, an integer program
 * (lowbit deploy) as ONNX (QOperator or QDQ) or as C source. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "lowbit/export.h"
#include "lowbit/train.h"

static int export_float(const char *model, const char *onnx) {
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
  printf("wrote %s (float ONNX)\n", onnx);
  return LB_EXIT_OK;
}

static int export_program(const char *program, const char *onnx, const char *form, const char *csrc) {
  lb_onnx_form f = LB_ONNX_QOPERATOR;
  if (onnx && form && !strcmp(form, "qdq")) f = LB_ONNX_QDQ;
  else if (onnx && form && strcmp(form, "qoperator")) {
    fprintf(stderr, "lowbit export: --form must be qoperator or qdq, got '%s'\n", form);
    return LB_EXIT_USAGE;
  }
  lb_program *p;
  if (lb_program_load(program, &p)) {
    fprintf(stderr, "lowbit export: %s\n", lb_last_error());
    return LB_EXIT_USAGE;
  }
  lb_status s = onnx ? lb_export_onnx_program(p, f, onnx) : lb_export_c(p, csrc);
  lb_program_free(p);
  if (s) {
    fprintf(stderr, "lowbit export: %s\n", lb_last_error());
    return s == LB_ERR_IO ? LB_EXIT_FAIL : LB_EXIT_USAGE;
  }
  if (onnx) printf("wrote %s (%s ONNX)\n", onnx, f == LB_ONNX_QDQ ? "QDQ" : "QOperator");
  else printf("wrote %s.c and %s.h\n", csrc, csrc);
  return LB_EXIT_OK;
}

int lb_cmd_export(int argc, char **argv) {
  const char *model = NULL, *onnx = NULL, *program = NULL, *csrc = NULL, *form = NULL;
  lb_arg args[] = {
      {"model", LB_ARG_STR, &model, "float model (.lbm) to export as ONNX", 0},
      {"program", LB_ARG_STR, &program, "integer program (.lbp, from lowbit deploy) to export", 0},
      {"onnx", LB_ARG_STR, &onnx, "write ONNX here", 0},
      {"form", LB_ARG_STR, &form, "ONNX form of a program: qoperator (default; QLinearConv, ...) or qdq", 0},
      {"c", LB_ARG_STR, &csrc, "write a program as C source: PREFIX.c and PREFIX.h", 0},
  };
  lb_args_spec spec = {"export",
                       "lowbit export --model FLOAT.lbm --onnx OUT.onnx | --program P.lbp (--onnx OUT.onnx [--form qdq] | --c PREFIX)",
                       "Write a float model as ONNX (opset 13; evaluation semantics: batch norm with running "
                       "statistics, dropout the identity), or an integer program as ONNX (QOperator or QDQ) or "
                       "as C source for a dependency-free build (docs/export.md). A quantized .lbm is exported "
                       "through its program: lowbit deploy first.",
                       args, (int)(sizeof args / sizeof args[0]), NULL, 0, 0};
  int rc = lb_args_parse(&spec, argc, argv);
  if (rc >= 0) return rc;
  if ((model != NULL) == (program != NULL)) {
    fprintf(stderr, "lowbit export: give exactly one of --model FLOAT.lbm or --program P.lbp\n");
    return LB_EXIT_USAGE;
  }
  if (model) {
    if (!onnx || csrc || form) {
      fprintf(stderr, "lowbit export: a float model is exported with --onnx OUT.onnx only\n");
      return LB_EXIT_USAGE;
    }
    return export_float(model, onnx);
  }
  if ((onnx != NULL) == (csrc != NULL) || (form && !onnx)) {
    fprintf(stderr, "lowbit export: a program is exported with --onnx OUT.onnx [--form qoperator|qdq] or --c PREFIX\n");
    return LB_EXIT_USAGE;
  }
  return export_program(program, onnx, form, csrc);
}
