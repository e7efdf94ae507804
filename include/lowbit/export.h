/* lowbit export (part deploy): writing models for other runtimes.
 *
 * ONNX files are built with protobuf-c from the schema of Debian's libonnx-dev and written
 * atomically. docs/export.md says what each exporter maps and what it refuses. */
#ifndef LOWBIT_EXPORT_H
#define LOWBIT_EXPORT_H

#include "lowbit/deploy.h"
#include "lowbit/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A float graph as ONNX (opset 13): Conv, Gemm, BatchNormalization, Relu, Clip, MaxPool,
 * AveragePool, GlobalAveragePool, Add, Flatten, and Slice, Pad, Concat, Reshape for the shape
 * ops of imported graphs; input "input" (N, input shape), output "output".
 * Evaluation semantics (BN with running statistics, dropout the identity). Quantized graphs
 * are refused (export their integer program instead); so is any op without a mapping. */
lb_status lb_export_onnx_float(const lb_graph *g, const char *path);

/* An integer program as ONNX (opset 13), in one of two forms:
 *  LB_ONNX_QOPERATOR: QLinearConv for conv and linear steps (linear as a 1x1 conv, which has the
 *    int32 bias QLinearMatMul lacks), ConvInteger/MatMulInteger + Add + Cast + Mul for the
 *    float output layer, MaxPool on codes, Clip on codes where a fused activation or a
 *    sub-8-bit range narrows the clamp; steps ONNX has no integer operator for (add, average
 *    pools, rescale) as DequantizeLinear -> float op -> QuantizeLinear.
 *  LB_ONNX_QDQ: every step as DequantizeLinear -> float op -> QuantizeLinear, weights as
 *    DequantizeLinear of int8 initializers, the form ONNX Runtime and TensorRT fuse themselves.
 * Requantization in ONNX is a float multiply where lowbit uses a fixed-point one, so outputs
 * can be 1 LSB apart where a product falls within rounding of a half (docs/export.md). */
typedef enum lb_onnx_form { LB_ONNX_QOPERATOR = 0, LB_ONNX_QDQ } lb_onnx_form;
lb_status lb_export_onnx_program(const lb_program *p, lb_onnx_form form, const char *path);

/* An integer program as C source: PREFIX.h and PREFIX.c (const packed weights, a static arena,
 * calls into lowbit's dependency-free runtime; docs/export.md says how to build it). */
lb_status lb_export_c(const lb_program *p, const char *prefix);

#ifdef __cplusplus
}
#endif
#endif
