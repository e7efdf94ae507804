/* lowbit export (part deploy): writing models for other runtimes.
 *
 * ONNX files are built with protobuf-c from the schema of Debian's libonnx-dev and written
 * atomically. docs/export.md says what each exporter maps and what it refuses. */
#ifndef LOWBIT_EXPORT_H
#define LOWBIT_EXPORT_H

#include "lowbit/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A float graph as ONNX (opset 13): Conv, Gemm, BatchNormalization, Relu, Clip, MaxPool,
 * AveragePool, GlobalAveragePool, Add, Flatten; input "input" (N, input shape), output "output".
 * Evaluation semantics (BN with running statistics, dropout the identity). Quantized graphs
 * are refused (export their integer program instead); so is any op without a mapping. */
lb_status lb_export_onnx_float(const lb_graph *g, const char *path);

#ifdef __cplusplus
}
#endif
#endif
