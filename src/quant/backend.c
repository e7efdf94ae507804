/* Backend profiles as data: which quantizer specs each deployment target allows.
 *
 * Values follow methods/qat.md section 4.4 (MQBench's backend table). How a plan reads them:
 *  - fixed_bits != 0: the backend runs only that width; the bits stored in the weight/act
 *    templates are the effective widths and are used as they are (OpenVINO keeps 7-bit
 *    weights, [-64, 63], when 8 bits are asked). fixed_bits == 0: the templates' bits are 0
 *    and the request's wbits/abits fill them in.
 *  - Everything else in a template (signedness, symmetry, narrow range, granularity, scale
 *    kind) is fixed by the backend; the request only picks bits, estimator and observers.
 *  - act_unsigned_after_relu: "adaptive signedness", a non-negative input (after ReLU/ReLU6,
 *    possibly through pooling/flatten) gets the unsigned variant of the activation template.
 *  - first_last_8bit: qat.md 4.1 keeps the first and last conv/linear (weights and their input)
 *    at 8 bits in the academic setting and, through bitwidth_refactor, on the any-width
 *    hardware profiles of the paper code (tvm, fbgemm, qdq). On 8-bit-only profiles it would
 *    change nothing, so it is off there.
 *  - quantize_add_inputs: besides conv/linear inputs, residual adds and pools get input
 *    quantizers (every hardware backend; only academic quantizes conv/linear inputs alone).
 *  - log_grid: NNIE. Weights and activations use the 8-bit logarithmic quantizer (LB_EST_LOG:
 *    levels 2^((k+z)/16), z from c = running max|x|; quant.h); the templates say only 8-bit,
 *    signed (sign-magnitude), symmetric, per tensor; there is no uniform scale. MQBench's
 *    general placement (adds and pools quantized too); no unsigned variant after ReLU. */
#include <string.h>

#include "lowbit/qgraph.h"

/* lb_qspec fields: bits, is_signed, symmetric, narrow, gran, axis, group, scale_kind */
#define PT LB_QGRAN_TENSOR
#define PC LB_QGRAN_CHANNEL
#define FP LB_QSCALE_FLOAT
#define P2 LB_QSCALE_POW2

static const lb_backend backend_academic = {
    "academic", "per-tensor symmetric, unsigned after ReLU, any bits, first/last layer 8-bit, conv/linear inputs only",
    {0, 1, 1, 0, PT, 0, 0, FP, 0}, {0, 1, 1, 0, PT, 0, 0, FP, 0}, 1, 0, 1, 0, 0};

static const lb_backend backend_tensorrt = {
    "tensorrt", "8-bit; weights per-channel symmetric [-127,127], activations per-tensor symmetric [-127,127]",
    {8, 1, 1, 1, PC, 0, 0, FP, 0}, {8, 1, 1, 1, PT, 0, 0, FP, 0}, 0, 8, 0, 1, 0};

static const lb_backend backend_snpe = {
    "snpe", "8-bit; weights and activations per-tensor affine uint8",
    {8, 0, 0, 0, PT, 0, 0, FP, 0}, {8, 0, 0, 0, PT, 0, 0, FP, 0}, 0, 8, 0, 1, 0};

static const lb_backend backend_fbgemm = {
    "fbgemm", "weights per-channel affine, activations per-tensor affine (unsigned), any bits",
    {0, 0, 0, 0, PC, 0, 0, FP, 0}, {0, 0, 0, 0, PT, 0, 0, FP, 0}, 0, 0, 1, 1, 0};

static const lb_backend backend_openvino = {
    "openvino", "8-bit; weights per-channel symmetric 7-bit [-64,63], activations per-tensor symmetric, unsigned after ReLU",
    {7, 1, 1, 0, PC, 0, 0, FP, 0}, {8, 1, 1, 0, PT, 0, 0, FP, 0}, 1, 8, 0, 1, 0};

static const lb_backend backend_vitis = {
    "vitis", "8-bit; weights and activations per-tensor symmetric [-128,127], power-of-two scales",
    {8, 1, 1, 0, PT, 0, 0, P2, 0}, {8, 1, 1, 0, PT, 0, 0, P2, 0}, 0, 8, 0, 1, 0};

static const lb_backend backend_tvm = {
    "tvm", "per-tensor symmetric, power-of-two scales, any bits",
    {0, 1, 1, 0, PT, 0, 0, P2, 0}, {0, 1, 1, 0, PT, 0, 0, P2, 0}, 0, 0, 1, 1, 0};

static const lb_backend backend_qdq = {
    "qdq", "ONNX QDQ; weights per-channel symmetric narrow, activations per-tensor symmetric narrow, any bits",
    {0, 1, 1, 1, PC, 0, 0, FP, 0}, {0, 1, 1, 1, PT, 0, 0, FP, 0}, 0, 0, 1, 1, 0};

static const lb_backend backend_nnie = {
    "nnie", "8-bit logarithmic: 0 and +-2^((k+z)/16), z = rint(16 log2 c) - 127, c = running max|x|",
    {8, 1, 1, 0, PT, 0, 0, FP, 0}, {8, 1, 1, 0, PT, 0, 0, FP, 0}, 0, 8, 0, 1, 1};

static const lb_backend *const backend_table[] = {&backend_academic, &backend_tensorrt, &backend_snpe,
                                                  &backend_fbgemm,   &backend_openvino, &backend_vitis,
                                                  &backend_tvm,      &backend_qdq,      &backend_nnie,
                                                  NULL};

const lb_backend *const *lb_backends(void) { return backend_table; }

const lb_backend *lb_backend_find(const char *name) {
  if (!name) return NULL;
  for (int i = 0; backend_table[i]; i++)
    if (!strcmp(backend_table[i]->name, name)) return backend_table[i];
  return NULL;
}
