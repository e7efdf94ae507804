/* lowbit info: layers, shapes, parameters and MACs of a model file or a zoo model. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "lowbit/train.h"

/* Trainable parameters of one node (buffers such as BN running statistics are not counted). */
static int64_t node_params(const lb_graph *g, const lb_node *n) {
  int64_t params = 0;
  for (int j = 0; j < n->n_params; j++)
    if (g->params[n->first_param + j].trainable) params += g->params[n->first_param + j].numel;
  return params;
}

static void print_json(const lb_graph *g) {
  printf("{\"model\":\"%s\",\"params\":%lld,\"macs\":%lld,\"layers\":[", g->model, (long long)lb_graph_trainable_count(g),
         (long long)lb_graph_macs(g));
  for (int i = 0; i < g->n_nodes; i++) {
    const lb_node *n = &g->nodes[i];
    char shape[64];
    int64_t params = node_params(g, n);
    printf("%s{\"name\":\"%s\",\"op\":\"%s\",\"shape\":\"%s\",\"params\":%lld,\"macs\":%lld}", i ? "," : "", n->name,
           n->op->name, lb_shape_str(&n->shape, shape, sizeof shape), (long long)params,
           (long long)(n->op->macs ? n->op->macs(g, n) : 0));
  }
  printf("]}\n");
}

static void print_table(const lb_graph *g) {
  printf("model %s\n%-4s %-28s %-10s %-14s %10s %12s\n", g->model, "#", "name", "op", "output", "params", "MACs");
  for (int i = 0; i < g->n_nodes; i++) {
    const lb_node *n = &g->nodes[i];
    char shape[64];
    int64_t params = node_params(g, n);
    printf("%-4d %-28s %-10s %-14s %10lld %12lld\n", i, n->name, n->op->name, lb_shape_str(&n->shape, shape, sizeof shape),
           (long long)params, (long long)(n->op->macs ? n->op->macs(g, n) : 0));
  }
  printf("total: %lld trainable parameters (%.1f KiB as float32), %.2f M MACs per image\n",
         (long long)lb_graph_trainable_count(g), lb_graph_trainable_count(g) * 4.0 / 1024, lb_graph_macs(g) / 1e6);
}

int lb_cmd_info(int argc, char **argv) {
  const char *input = "1,28,28";
  int classes = 10, json = 0;
  lb_arg args[] = {
      {"input", LB_ARG_STR, &input, "zoo models: input C,H,W (default 1,28,28)", 0},
      {"classes", LB_ARG_INT, &classes, "zoo models: number of classes (default 10)", 0},
      {"json", LB_ARG_FLAG, &json, "print as JSON", 0},
  };
  const char *pos[1];
  lb_args_spec spec = {"info", "lowbit info MODEL [options]   (MODEL: a .lbm file, a .lbp program or a zoo name)",
                       "Show a model's layers, output shapes, parameter counts and multiply-accumulates; for an integer "
                       "program its steps, each output's grid (int8, uint4, binary, ...), weight widths, MACs and the "
                       "steps the engine runs on the XNOR-popcount kernels.",
                       args,
                       (int)(sizeof args / sizeof args[0]), pos, 1, 0};
  int rc = lb_args_parse(&spec, argc, argv);
  if (rc >= 0) return rc;
  if (spec.n_positional != 1) {
    fprintf(stderr, "lowbit info: give one model (a .lbm file or a zoo name)\n");
    return LB_EXIT_USAGE;
  }
  if (lb_cli_is_program_file(pos[0])) return lb_cli_program_info(pos[0], json);
  lb_graph *g = NULL;
  lb_status s;
  int c, h, w;
  char tail;
  int is_zoo = 0;
  for (const char *const *z = lb_zoo_names(); *z; z++) is_zoo |= !strcmp(*z, pos[0]);
  if (is_zoo) {
    if (sscanf(input, "%d,%d,%d%c", &c, &h, &w, &tail) != 3) {
      fprintf(stderr, "lowbit info: --input must be C,H,W\n");
      return LB_EXIT_USAGE;
    }
    s = lb_zoo_build(pos[0], c, h, w, classes, &g);
  } else {
    lb_train_config cfg;
    int has;
    s = lb_model_load(pos[0], &g, &cfg, &has);
  }
  if (s) {
    fprintf(stderr, "lowbit info: %s\n", lb_last_error());
    return LB_EXIT_USAGE;
  }
  if (json) print_json(g);
  else print_table(g);
  lb_graph_free(g);
  return LB_EXIT_OK;
}
