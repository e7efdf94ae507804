#include <stdio.h>

#include "cli/cli.h"

int lb_cmd_version(int argc, char **argv) {
  (void)argc;
  (void)argv;
  printf("lowbit 0.1.0\n");
  return LB_EXIT_OK;
}
