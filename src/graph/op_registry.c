/* The op registry: built-in float ops plus whatever other parts register by name. */
#include <string.h>

#include "graph/ops.h"
#include "graph/ops_shape.h"

static const lb_op_def *const builtin[] = {
    &lb_op_input, &lb_op_conv2d, &lb_op_linear, &lb_op_batchnorm, &lb_op_relu, &lb_op_relu6, &lb_op_hardtanh,
    &lb_op_maxpool, &lb_op_avgpool, &lb_op_gap, &lb_op_add, &lb_op_flatten, &lb_op_dropout,
    &lb_op_slice, &lb_op_pad, &lb_op_concat, &lb_op_reshape, /* shape ops of imported networks */
};

#define LB_MAX_EXTRA_OPS 64
static const lb_op_def *extra[LB_MAX_EXTRA_OPS];
static int n_extra;

const lb_op_def *lb_op_find(const char *name) {
  for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
    if (!strcmp(builtin[i]->name, name)) return builtin[i];
  for (int i = 0; i < n_extra; i++)
    if (!strcmp(extra[i]->name, name)) return extra[i];
  return NULL;
}

lb_status lb_op_register(const lb_op_def *def) {
  if (!def || !def->name || !def->infer || !def->forward) return lb_fail(LB_ERR_ARG, "op registry: incomplete op definition");
  const lb_op_def *known = lb_op_find(def->name);
  if (known == def) return LB_OK;
  if (known) return lb_fail(LB_ERR_ARG, "op registry: op '%s' is already registered", def->name);
  if (n_extra == LB_MAX_EXTRA_OPS) return lb_fail(LB_ERR_ARG, "op registry: full");
  extra[n_extra++] = def;
  return LB_OK;
}
