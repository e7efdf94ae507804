/* lowbit deploy: lower a calibrated quantized model (.lbm) to an integer program (.lbp). */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "lowbit/deploy.h"
#include "lowbit/train.h"

int lb_cmd_deploy(int argc, char **argv) {
  const char *model = NULL, *out = NULL, *backend = NULL;
  int json = 0;
  lb_arg args[] = {
      {"model", LB_ARG_STR, &model, "quantized model (.lbm from lowbit ptq or qat)", 0},
      {"out", LB_ARG_STR, &out, "program file to write (.lbp)", 0},
      {"backend", LB_ARG_STR, &backend, "check the model against this backend profile and record it", 0},
      {"json", LB_ARG_FLAG, &json, "print the summary as JSON", 0},
  };
  lb_args_spec spec = {"deploy", "lowbit deploy --model Q.lbm -o P.lbp [--backend NAME]",
                       "Lower a quantized model to an integer program: BN folded, per-channel fixed-point "
                       "requantization, integer weights, activations fused into clamps, one arena planned.",
                       args, (int)(sizeof args / sizeof args[0]), NULL, 0, 0};
  int rc = lb_args_parse(&spec, argc, argv);
  if (rc >= 0) return rc;
  if (!model || !out) {
    fprintf(stderr, "lowbit deploy: --model Q.lbm and -o P.lbp are required\n");
    return LB_EXIT_USAGE;
  }
  lb_graph *g;
  lb_train_config cfg;
  int has_cfg = 0;
  if (lb_quant_register_ops() || lb_model_load(model, &g, &cfg, &has_cfg)) {
    fprintf(stderr, "lowbit deploy: %s\n", lb_last_error());
    return LB_EXIT_USAGE;
  }
  if (backend) {
    const lb_backend *b = lb_backend_find(backend);
    char report[2048];
    int violations = 0;
    if (!b) {
      fprintf(stderr, "lowbit deploy: unknown backend '%s' (see lowbit backends)\n", backend);
      lb_graph_free(g);
      return LB_EXIT_USAGE;
    }
    lb_backend_check(g, b, report, sizeof report, &violations);
    if (violations) {
      fprintf(stderr, "lowbit deploy: %s breaks %d rule(s) of backend %s:\n%s", model, violations, backend, report);
      lb_graph_free(g);
      return LB_EXIT_USAGE;
    }
  }
  lb_program *p = NULL;
  lb_status s = lb_lower(g, backend, has_cfg ? &cfg.aug : NULL, &p);
  if (!s) s = lb_program_save(out, p);
  if (s) {
    fprintf(stderr, "lowbit deploy: %s\n", lb_last_error());
    lb_program_free(p);
    lb_graph_free(g);
    return s == LB_ERR_IO ? LB_EXIT_FAIL : LB_EXIT_USAGE;
  }
  int64_t macs = 0;
  for (int i = 0; i < p->n_steps; i++) macs += p->steps[i].macs;
  if (json)
    printf("{\"program\":\"%s\",\"model\":\"%s\",\"backend\":\"%s\",\"steps\":%d,\"tensors\":%d,\"weight_bytes\":%lld,"
           "\"arena_bytes_per_image\":%lld,\"arena_bytes_unshared\":%lld,\"macs\":%lld,\"float_steps\":%d}\n",
           out, p->model, p->backend, p->n_steps, p->n_tensors, (long long)lb_program_weight_bytes(p),
           (long long)p->arena_per_image, (long long)p->arena_naive, (long long)macs, lb_program_float_steps(p));
  else
    printf("%s -> %s: %d steps, %lld weight bytes packed, arena %lld bytes per image (%lld without reuse), "
           "%.2f MMAC per image\n",
           model, out, p->n_steps, (long long)lb_program_weight_bytes(p), (long long)p->arena_per_image,
           (long long)p->arena_naive, (double)macs / 1e6);
  if (!json && lb_program_float_steps(p))
    fprintf(stderr,
            "lowbit deploy: note: %d steps compute in float: this profile leaves those adds/pools unquantized, so "
            "the program is not integer-only (it computes what the simulation computed; C-source export refuses it)\n",
            lb_program_float_steps(p));
  lb_program_free(p);
  lb_graph_free(g);
  return LB_EXIT_OK;
}
