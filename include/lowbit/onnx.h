/* lowbit ONNX import: read a float ONNX model (opsets 11-17) into a lowbit graph.
 *
 * Constant sub-graphs (Shape/Gather/Unsqueeze/Concat/Reshape/... on constants, including the
 * shape arithmetic exporters emit around the batch dimension) are evaluated at import, so the
 * graph holds only the network, in lowbit's op vocabulary: conv2d (with bias), linear,
 * batchnorm, relu, relu6, hardtanh, maxpool, avgpool, gap, add, flatten, plus the shape ops
 * slice, pad, concat and reshape (graph/ops_shape.h) where the network moves data.
 * The batch dimension stays free. Anything not supported (op, type, attribute, opset) fails with
 * LB_ERR_UNSUPPORTED and a message naming the op type, the node and the opset; malformed files
 * (truncated, corrupt, cycles, dangling inputs, missing initializers, wrong shapes) fail with
 * LB_ERR_FORMAT or LB_ERR_SHAPE and a message, never a crash. See docs/onnx-import.md. */
#ifndef LOWBIT_ONNX_H
#define LOWBIT_ONNX_H

#include "lowbit/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lb_onnx_import_info {
  int64_t opset;       /* default-domain opset of the model */
  int onnx_nodes;      /* nodes in the ONNX graph */
  int folded;          /* of those, evaluated on constants at import */
  int aliased;         /* of those, identities on the network (Identity, Dropout, zero Pad, ...) */
  char producer[64];   /* producer_name producer_version */
} lb_onnx_import_info;

/* Import the model at path. *out receives a graph with allocated parameter values (named
 * "<node>.weight" etc. after the ONNX node names). info may be NULL. */
lb_status lb_onnx_import(const char *path, lb_graph **out, lb_onnx_import_info *info);
/* The same from bytes in memory; `what` names the source in error messages. */
lb_status lb_onnx_import_bytes(const uint8_t *data, size_t len, const char *what, lb_graph **out, lb_onnx_import_info *info);

#ifdef __cplusplus
}
#endif
#endif
