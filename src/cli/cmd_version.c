#include <stdio.h>

#include "cli/cli.h"
#include "lowbit/nn.h"

int lb_cmd_version(int argc, char **argv) {
  (void)argc;
  (void)argv;
  const char *dnn = lb_conv2d_onednn_version();
  printf("lowbit 0.1.0\nfp32 convolutions: %s\n", dnn ? dnn : "lowbit's own kernels (built without oneDNN)");
  return LB_EXIT_OK;
}
