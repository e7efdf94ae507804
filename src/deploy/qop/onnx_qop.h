/* ONNX's quantized operators computed with lowbit's integer kernels (private to deploy).
 *
 * QuantizeLinear, DequantizeLinear, QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger and
 * DynamicQuantizeLinear (opsets 10-13 forms), on tensors decoded by onnx_io. The conv and matmul
 * accumulators come from lb_iconv / lb_ilinear and QLinear* requantize with lowbit's fixed-point
 * rule (lb_requant), so against ONNX's float formula round(acc * scale) a result may be 1 LSB
 * apart where the real product lies within rounding of a half; the ONNX node tests report it.
 * QuantizeLinear multiplies by 1/scale (lowbit's fake-quant arithmetic) where ONNX divides.
 * Refused with a clear error: other ops, conv pads that differ begin/end, auto_pad other than
 * NOTSET, non-2-D convolutions, per-row activation zero points, batch broadcasting in MatMul. */
#ifndef LOWBIT_DEPLOY_QOP_ONNX_QOP_H
#define LOWBIT_DEPLOY_QOP_ONNX_QOP_H

#include "deploy/onnx/onnx_io.h"

/* Whether op_type is one of the operators above. */
int lb_onnx_qop_supported(const char *op_type);
/* Run node on inputs in[0..n_in) (absent optional inputs: NULL); outputs out[0..n_out) are
 * allocated here (free with lb_onnx_tensor_free). Errors name the node. */
lb_status lb_onnx_qop_run(const Onnx__NodeProto *node, const lb_onnx_tensor *const *in, int n_in, lb_onnx_tensor *out,
                          int n_out);
/* Read a serialized TensorProto file (ONNX's test data sets) into t. */
lb_status lb_onnx_read_tensor_file(const char *path, lb_onnx_tensor *t);

#endif
