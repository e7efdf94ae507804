/* lowbit eval: accuracy of a saved model (.lbm: float or fake-quant graph) or of an integer
 * program (.lbp, told apart by its magic) on a data set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/norm_args.h"
#include "lowbit/deploy.h"
#include "lowbit/train.h"

typedef struct eval_opts {
  const char *model, *data, *mean, *std;
  int batch, json, limit, split_train;
} eval_opts;

/* An integer program: the engine's top-1 accuracy; a program has logits only, so no loss. */
static int eval_program(const eval_opts *o) {
  lb_program *p;
  if (lb_program_load(o->model, &p)) {
    fprintf(stderr, "lowbit eval: %s\n", lb_last_error());
    return LB_EXIT_USAGE;
  }
  if (!o->data) {
    fprintf(stderr, "lowbit eval: a program (%s) does not record its data set: give --data\n", o->model);
    lb_program_free(p);
    return LB_EXIT_USAGE;
  }
  lb_augment norm = {{0}, {0}, 0, 0};
  for (int i = 0; i < 4; i++) { /* the normalisation the program was lowered with, unless overridden */
    norm.mean[i] = p->norm_mean[i];
    norm.std[i] = p->norm_std[i];
  }
  if (lb_cli_parse_norm("eval", o->mean, o->std, &norm)) {
    lb_program_free(p);
    return LB_EXIT_USAGE;
  }
  lb_dataset d;
  int rc = lb_cli_open_data("eval", o->data, o->split_train, o->limit, &d);
  if (rc) {
    lb_program_free(p);
    return rc;
  }
  int64_t correct = 0;
  double t0 = lb_now();
  lb_status s = lb_program_evaluate(p, &d, &norm, o->batch, &correct);
  double secs = lb_now() - t0, acc = d.n ? (double)correct / d.n : 0.0;
  if (s) {
    fprintf(stderr, "lowbit eval: %s\n", lb_last_error());
    rc = s == LB_ERR_NOMEM ? LB_EXIT_FAIL : LB_EXIT_USAGE;
  } else if (o->json) {
    printf("{\"model\":\"%s\",\"data\":\"%s\",\"images\":%d,\"accuracy\":%.6f,\"loss\":null,\"seconds\":%.3f,"
           "\"program\":true,\"correct\":%lld}\n",
           o->model, o->data, d.n, acc, secs, (long long)correct);
  } else {
    printf("%s on %s (%d images): accuracy %.2f%%, no loss (an integer program outputs logits only)\n", o->model,
           o->data, d.n, 100 * acc);
  }
  lb_dataset_free(&d);
  lb_program_free(p);
  return rc;
}

int lb_cmd_eval(int argc, char **argv) {
  const char *model = NULL, *data = NULL, *mean = NULL, *std = NULL;
  int batch = 256, threads = 0, json = 0, limit = 0, split_train = 0;
  lb_arg args[] = {
      {"model", LB_ARG_STR, &model, "model file (.lbm) or integer program (.lbp)", 0},
      {"data", LB_ARG_STR, &data, "data set spec (default: the one the model was trained on)", 0},
      {"train-split", LB_ARG_FLAG, &split_train, "evaluate on the training split instead of the test split", 0},
      {"mean", LB_ARG_STR, &mean, "per-channel mean of pixel/255, e.g. 0.485,0.456,0.406 (default: the model's recipe)", 0},
      {"std", LB_ARG_STR, &std, "per-channel std of pixel/255 (default: the model's)", 0},
      {"batch", LB_ARG_INT, &batch, "batch size (default 256)", 0},
      {"limit", LB_ARG_INT, &limit, "use only the first N images", 0},
      {"threads", LB_ARG_INT, &threads, "threads (default: all cores)", 0},
      {"json", LB_ARG_FLAG, &json, "print the result as JSON", 0},
  };
  const char *pos[1];
  lb_args_spec spec = {"eval", "lowbit eval --model FILE.lbm|FILE.lbp [options]",
                       "Report the top-1 accuracy and mean loss of a saved model on a data set; for an integer "
                       "program (.lbp, needs --data) the integer engine's accuracy, without a loss.",
                       args,
                       (int)(sizeof args / sizeof args[0]), pos, 1, 0};
  int rc = lb_args_parse(&spec, argc, argv);
  if (rc >= 0) return rc;
  if (!model && spec.n_positional) model = pos[0];
  if (!model) {
    fprintf(stderr, "lowbit eval: --model FILE.lbm is required\n");
    return LB_EXIT_USAGE;
  }
  if (batch < 1 || batch > 65536 || threads < 0) {
    fprintf(stderr, "lowbit eval: --batch must be in 1..65536 and --threads >= 0\n");
    return LB_EXIT_USAGE;
  }
  lb_set_num_threads(threads);
  if (lb_cli_is_program_file(model)) {
    eval_opts o = {model, data, mean, std, batch, json, limit, split_train};
    return eval_program(&o);
  }
  lb_graph *g;
  lb_train_config cfg;
  int has_cfg;
  if (lb_model_load(model, &g, &cfg, &has_cfg)) {
    fprintf(stderr, "lowbit eval: %s\n", lb_last_error());
    return LB_EXIT_USAGE;
  }
  lb_augment norm = {{0}, {0}, 0, 0};
  if (has_cfg) norm = cfg.aug;
  if (!data) data = has_cfg ? cfg.data : NULL;
  if (lb_cli_parse_norm("eval", mean, std, &norm)) {
    lb_graph_free(g);
    return LB_EXIT_USAGE;
  }
  if (!data) {
    fprintf(stderr, "lowbit eval: %s does not say what it was trained on: give --data\n", model);
    lb_graph_free(g);
    return LB_EXIT_USAGE;
  }
  if (norm.std[0] == 0) { /* no stored normalisation and none given: plain pixel/255 */
    for (int i = 0; i < 4; i++) norm.std[i] = 1.0f;
  }
  lb_dataset d;
  rc = lb_cli_open_data("eval", data, split_train, limit, &d);
  if (rc) {
    lb_graph_free(g);
    return rc;
  }
  double acc, loss;
  double t0 = lb_now();
  lb_status s = lb_evaluate(g, &d, &norm, batch, &acc, &loss);
  double secs = lb_now() - t0;
  if (s) {
    fprintf(stderr, "lowbit eval: %s\n", lb_last_error());
    rc = LB_EXIT_USAGE;
  } else if (json) {
    printf("{\"model\":\"%s\",\"data\":\"%s\",\"images\":%d,\"accuracy\":%.6f,\"loss\":%.6f,\"seconds\":%.3f}\n", model,
           data, d.n, acc, loss, secs);
  } else {
    printf("%s on %s (%d images): accuracy %.2f%%, loss %.4f\n", model, data, d.n, 100 * acc, loss);
  }
  lb_dataset_free(&d);
  lb_graph_free(g);
  return rc;
}
