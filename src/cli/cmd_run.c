/* lowbit run: not built yet (issue 4). The verb exists so that --help lists it and a user gets
 * a clear error instead of "unknown verb". */
#include <stdio.h>

#include "cli/cli.h"

int lb_cmd_run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "lowbit run: not built yet (issue 4)\n");
  return LB_EXIT_FAIL;
}
