/* lowbit verify: the integer program against the deploy-exact simulation (must be 0 LSB) and
 * against the plain fake-quant graph (the gap made visible), unit by unit. Exit 1 on any
 * difference from the simulation. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "lowbit/deploy.h"
#include "lowbit/train.h"

static void print_report(const lb_verify_report *r, const char *model, int json) {
  int64_t dsum = 0;
  for (int i = 0; i < r->n_units; i++) dsum += r->units[i].diff_sim;
  double n = r->images > 0 ? r->images : 1;
  if (json) {
    printf("{\"model\":\"%s\",\"images\":%d,\"exact\":%s,\"accuracy_engine\":%.6f,\"accuracy_simulated\":%.6f,"
           "\"accuracy_fakequant\":%.6f,\"logits_differing\":%lld,\"top1_differing_fakequant\":%lld,\"units\":[",
           model, r->images, dsum || r->logits_diff_sim ? "false" : "true", r->correct_engine / n, r->correct_sim / n,
           r->correct_fq / n, (long long)r->logits_diff_sim, (long long)r->pred_diff_fq);
    for (int i = 0; i < r->n_units; i++) {
      const lb_verify_unit *u = &r->units[i];
      printf("%s{\"unit\":\"%s\",\"node\":\"%s\",\"elements\":%lld,\"sim_worst_lsb\":%d,\"sim_fraction\":%.6g,"
             "\"fakequant_worst_lsb\":%d,\"fakequant_fraction\":%.6g}",
             i ? "," : "", u->name, u->core, (long long)u->elements, u->worst_sim,
             u->elements ? (double)u->diff_sim / u->elements : 0.0, u->worst_fq,
             u->elements ? (double)u->diff_fq / u->elements : 0.0);
    }
    printf("]}\n");
    return;
  }
  printf("%-28s %-24s %10s | %-20s | %-20s\n", "unit (quantized tensor)", "computed by", "elements",
         "vs simulation", "vs fake-quant graph");
  for (int i = 0; i < r->n_units; i++) {
    const lb_verify_unit *u = &r->units[i];
    double fs = u->elements ? 100.0 * u->diff_sim / u->elements : 0, ff = u->elements ? 100.0 * u->diff_fq / u->elements : 0;
    printf("%-28s %-24s %10lld | %2d LSB %8.4f%% diff | %2d LSB %8.4f%% diff\n", u->name, u->core,
           (long long)u->elements, u->worst_sim, fs, u->worst_fq, ff);
  }
  printf("images %d: integer accuracy %.2f%%, simulated %.2f%%, fake-quant graph %.2f%%; logits differing from the "
         "simulation: %lld; top-1 differing from the fake-quant graph: %lld\n",
         r->images, 100.0 * r->correct_engine / n, 100.0 * r->correct_sim / n, 100.0 * r->correct_fq / n,
         (long long)r->logits_diff_sim, (long long)r->pred_diff_fq);
  printf("%s\n", dsum || r->logits_diff_sim ? "VERIFY FAILED: the integer program differs from the deploy-exact simulation"
                                            : "verify: 0 LSB in every unit; integer accuracy equals simulated accuracy");
}

int lb_cmd_verify(int argc, char **argv) {
  const char *model = NULL, *prog = NULL, *data = NULL;
  int images = 1000, batch = 100, json = 0, threads = 0;
  lb_arg args[] = {
      {"model", LB_ARG_STR, &model, "the quantized model (.lbm) the program came from", 0},
      {"program", LB_ARG_STR, &prog, "integer program (.lbp); default: lower the model now", 0},
      {"data", LB_ARG_STR, &data, "data set spec (default: the model's); the test split is used", 0},
      {"images", LB_ARG_INT, &images, "images to compare (default 1000)", 0},
      {"batch", LB_ARG_INT, &batch, "batch size (default 100)", 0},
      {"threads", LB_ARG_INT, &threads, "threads (default: all cores)", 0},
      {"json", LB_ARG_FLAG, &json, "print the report as JSON", 0},
  };
  lb_args_spec spec = {"verify", "lowbit verify --model Q.lbm [--program P.lbp] [--data SPEC] [--images N]",
                       "Compare the integer program with the deploy-exact simulation of the fake-quant graph (must be "
                       "0 LSB) and with the plain fake-quant graph, unit by unit.",
                       args, (int)(sizeof args / sizeof args[0]), NULL, 0, 0};
  int rc = lb_args_parse(&spec, argc, argv);
  if (rc >= 0) return rc;
  rc = LB_EXIT_OK;
  if (!model) {
    fprintf(stderr, "lowbit verify: --model Q.lbm is required\n");
    return LB_EXIT_USAGE;
  }
  if (images < 1 || batch < 1 || batch > 4096 || threads < 0) {
    fprintf(stderr, "lowbit verify: --images >= 1, --batch in 1..4096, --threads >= 0\n");
    return LB_EXIT_USAGE;
  }
  lb_set_num_threads(threads);
  lb_graph *g;
  lb_train_config cfg;
  int has_cfg = 0;
  if (lb_quant_register_ops() || lb_model_load(model, &g, &cfg, &has_cfg)) {
    fprintf(stderr, "lowbit verify: %s\n", lb_last_error());
    return LB_EXIT_USAGE;
  }
  if (!data) data = has_cfg ? cfg.data : NULL;
  lb_augment norm = {{0}, {1, 1, 1, 1}, 0, 0};
  if (has_cfg && cfg.aug.std[0] > 0) norm = cfg.aug;
  norm.crop_pad = norm.hflip = 0;
  lb_program *p = NULL;
  lb_status s = prog ? lb_program_load(prog, &p) : lb_lower(g, NULL, &norm, &p);
  if (s) {
    fprintf(stderr, "lowbit verify: %s\n", lb_last_error());
    lb_graph_free(g);
    return LB_EXIT_USAGE;
  }
  if (!data) {
    fprintf(stderr, "lowbit verify: %s does not say what it was trained on: give --data\n", model);
    rc = LB_EXIT_USAGE;
  }
  lb_dataset d;
  memset(&d, 0, sizeof d);
  if (!rc) rc = lb_cli_open_data("verify", data, 0, images, &d);
  lb_verify_report r;
  if (!rc && lb_verify(g, p, &d, &norm, images, batch, &r)) {
    fprintf(stderr, "lowbit verify: %s\n", lb_last_error());
    rc = LB_EXIT_USAGE;
  } else if (!rc) {
    print_report(&r, model, json);
    int64_t dsum = r.logits_diff_sim;
    for (int i = 0; i < r.n_units; i++) dsum += r.units[i].diff_sim;
    rc = dsum ? LB_EXIT_FAIL : LB_EXIT_OK;
    lb_verify_report_free(&r);
  }
  lb_dataset_free(&d);
  lb_program_free(p);
  lb_graph_free(g);
  return rc;
}
