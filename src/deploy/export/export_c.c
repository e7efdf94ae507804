/* C-source export of an integer program: not built yet (issue 4, item 7). */
#include "lowbit/export.h"

lb_status lb_export_c(const lb_program *p, const char *prefix) {
  (void)p;
  (void)prefix;
  return lb_fail(LB_ERR_UNSUPPORTED, "exporting a program as C source is not built yet (issue 4)");
}
