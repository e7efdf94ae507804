/* lowbit import: an ONNX model to a float .lbm that eval, ptq, qat, deploy and export accept.
 * The .lbm carries a recipe (train.config) holding the data spec and the normalisation given
 * here, so that the quantization verbs find their data without new flags; the training fields
 * are the CNN defaults of the zoo recipe (used by qat). */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/norm_args.h"
#include "lowbit/onnx.h"
#include "lowbit/train.h"

int lb_cmd_import(int argc, char **argv) {
  const char *out = NULL, *data = NULL, *mean = NULL, *std = NULL;
  int quiet = 0;
  lb_arg args[] = {
      {"output", LB_ARG_STR, &out, "the .lbm file to write (required)", 0},
      {"data", LB_ARG_STR, &data, "data spec stored in the recipe, e.g. cifar:FILE or cifar10:DIR (default: none)", 0},
      {"mean", LB_ARG_STR, &mean, "per-channel mean of pixel/255 the model expects, e.g. 0.485,0.456,0.406 (default 0)", 0},
      {"std", LB_ARG_STR, &std, "per-channel std of pixel/255 the model expects (default 1)", 0},
      {"quiet", LB_ARG_FLAG, &quiet, "print nothing on success", 0},
  };
  const char *pos[1];
  lb_args_spec spec = {"import", "lowbit import MODEL.onnx -o MODEL.lbm [--data SPEC] [--mean a,b,c --std a,b,c]",
                       "Read a float ONNX model (opsets 11-17), fold its constant sub-graphs and save it as a lowbit model. "
                       "--data/--mean/--std are stored in the model's recipe for eval, ptq and qat.",
                       args, (int)(sizeof args / sizeof args[0]), pos, 1, 0};
  int rc = lb_args_parse(&spec, argc, argv);
  if (rc >= 0) return rc;
  if (!spec.n_positional || !out) {
    fprintf(stderr, "lowbit import: give MODEL.onnx and -o MODEL.lbm\n");
    return LB_EXIT_USAGE;
  }
  lb_train_config cfg;
  if (lb_train_config_default(&cfg, "resnet20")) { /* the CNN recipe: SGD, cosine, crop + flip */
    fprintf(stderr, "lowbit import: %s\n", lb_last_error());
    return LB_EXIT_FAIL;
  }
  for (int i = 0; i < 4; i++) {
    cfg.aug.mean[i] = 0.0f;
    cfg.aug.std[i] = 1.0f;
  }
  if (lb_cli_parse_norm("import", mean, std, &cfg.aug)) return LB_EXIT_USAGE;
  if (data && strlen(data) >= sizeof cfg.data) {
    fprintf(stderr, "lowbit import: --data is longer than %zu characters\n", sizeof cfg.data - 1);
    return LB_EXIT_USAGE;
  }
  snprintf(cfg.data, sizeof cfg.data, "%s", data ? data : "");
  lb_graph *g;
  lb_onnx_import_info info;
  if (lb_onnx_import(pos[0], &g, &info)) {
    fprintf(stderr, "lowbit import: %s\n", lb_last_error());
    return LB_EXIT_USAGE;
  }
  snprintf(cfg.model, sizeof cfg.model, "%s", g->model);
  lb_status s = lb_model_save(out, g, &cfg);
  if (s) {
    fprintf(stderr, "lowbit import: %s\n", lb_last_error());
  } else if (!quiet) {
    printf("%s: opset %lld, %d ONNX nodes (%d folded as constants, %d views) -> %d lowbit nodes, %lld parameters, %.1f MMAC/sample\n",
           pos[0], (long long)info.opset, info.onnx_nodes, info.folded, info.aliased, g->n_nodes - 1,
           (long long)lb_graph_trainable_count(g), (double)lb_graph_macs(g) / 1e6);
    printf("saved %s%s%s\n", out, data ? " with data " : " (no --data: give --data to eval)", data ? data : "");
  }
  lb_graph_free(g);
  return s ? LB_EXIT_FAIL : LB_EXIT_OK;
}
