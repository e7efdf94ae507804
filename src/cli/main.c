/* The lowbit program: dispatch to one verb per file (cmd_*.c). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "lowbit/qgraph.h"

static const lb_cli_verb verbs[] = {
    {"train", "train a float model (zoo) on a data set", lb_cmd_train},
    {"eval", "accuracy of a saved model on a data set", lb_cmd_eval},
    {"info", "layers, shapes, parameters and MACs of a model", lb_cmd_info},
    {"qat", "quantization-aware training from a float model", lb_cmd_qat},
    {"ptq", "post-training quantization of a float model", lb_cmd_ptq},
    {"backends", "deployment targets and their quantization rules", lb_cmd_backends},
    {"check", "every rule of a backend that a quantized model breaks", lb_cmd_check},
    {"import", "read an ONNX model into a float .lbm", lb_cmd_import},
    {"deploy", "lower a quantized model to an integer program", lb_cmd_deploy},
    {"run", "batch inference with an integer program", lb_cmd_run},
    {"verify", "integer program against the fake-quant graph, layer by layer", lb_cmd_verify},
    {"export", "write an integer program as ONNX or C source", lb_cmd_export},
    {"bench", "run a benchmark recipe (method x bits x backend x seed)", lb_cmd_bench},
    {"report", "tables and plots from bench results", lb_cmd_report},
    {"version", "print the version", lb_cmd_version},
};

static void usage(FILE *out) {
  fprintf(out, "usage: lowbit <verb> [options]   (lowbit <verb> --help for a verb's options)\n\nverbs:\n");
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) fprintf(out, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
}

int main(int argc, char **argv) {
  /* quantized models hold ops of the quant part: make them known before any model is loaded */
  if (lb_quant_register_ops()) {
    fprintf(stderr, "lowbit: %s\n", lb_last_error());
    return LB_EXIT_FAIL;
  }
  if (argc < 2) {
    usage(stderr);
    return LB_EXIT_USAGE;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
    if (!strcmp(argv[1], verbs[i].name)) return verbs[i].run(argc - 1, argv + 1);
  fprintf(stderr, "lowbit: unknown verb '%s' (try lowbit --help)\n", argv[1]);
  return LB_EXIT_USAGE;
}
