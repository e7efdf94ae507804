/* Building an ONNX model with protobuf-c (internal to deploy's exporters).
 *
 * The builder owns every string, array and message it creates (one list of allocations, freed
 * together), so exporters can add nodes without bookkeeping. An allocation failure is remembered
 * and reported by lb_ob_write; calls after it do nothing harmful. */
#ifndef LOWBIT_DEPLOY_ONNX_BUILD_H
#define LOWBIT_DEPLOY_ONNX_BUILD_H

#include <stdint.h>

#include "lowbit/core.h"

/* TensorProto.DataType values used here (onnx.proto). */
enum { LB_OT_FLOAT = 1, LB_OT_UINT8 = 2, LB_OT_INT8 = 3, LB_OT_INT32 = 6, LB_OT_INT64 = 7 };

typedef struct lb_ob lb_ob;

lb_status lb_ob_create(lb_ob **b, const char *graph_name, int opset);
void lb_ob_free(lb_ob *b);

/* A unique tensor name "<base>" (or "<base>_2", ... when taken); the builder owns it. */
const char *lb_ob_name(lb_ob *b, const char *base);
/* An initializer holding a copy of numel elements of `type` (raw little-endian data). dims may
 * be NULL for a scalar (ndims 0). Returns its (unique) name. */
const char *lb_ob_initializer(lb_ob *b, const char *base, int type, const int64_t *dims, int ndims, const void *data);
/* Scalars and 1-D int64 vectors, the common cases. */
const char *lb_ob_scalar_f(lb_ob *b, const char *base, float v);
const char *lb_ob_scalar_u8(lb_ob *b, const char *base, int type, int32_t v); /* LB_OT_UINT8 or LB_OT_INT8 */
const char *lb_ob_ints(lb_ob *b, const char *base, const int64_t *v, int n);

/* A node reading inputs (NULL entries become "", ONNX's omitted optional input) and writing one
 * new tensor named after `out_base`; returns that name. Attributes added next attach to it. */
const char *lb_ob_node(lb_ob *b, const char *op, const char *name, const char *const *inputs, int n_inputs,
                       const char *out_base);
void lb_ob_attr_int(lb_ob *b, const char *key, int64_t v);
void lb_ob_attr_ints(lb_ob *b, const char *key, const int64_t *v, int n);
void lb_ob_attr_float(lb_ob *b, const char *key, float v);

/* Graph input / output of element `type` with dims; a dim of -1 is the symbolic batch "N". */
void lb_ob_input(lb_ob *b, const char *name, int type, const int64_t *dims, int ndims);
void lb_ob_output(lb_ob *b, const char *name, int type, const int64_t *dims, int ndims);

/* Serialize and write atomically (temp file + rename). */
lb_status lb_ob_write(lb_ob *b, const char *path);

#endif
