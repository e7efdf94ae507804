/* ONNX export of an integer program: not built yet (issue 4, item 5). */
#include "lowbit/export.h"

lb_status lb_export_onnx_program(const lb_program *p, lb_onnx_form form, const char *path) {
  (void)p;
  (void)form;
  (void)path;
  return lb_fail(LB_ERR_UNSUPPORTED, "exporting a program as ONNX is not built yet (issue 4)");
}
