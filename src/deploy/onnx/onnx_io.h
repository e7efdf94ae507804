/* Shared ONNX plumbing (private to the deploy part): reading a ModelProto with size limits,
 * TensorProto <-> plain arrays, attribute lookup. The importer uses it today; the exporter and
 * the ONNX node tests reuse it. Messages come from protobuf-c code generated from libonnx-dev's
 * onnx.proto at build time. */
#ifndef LOWBIT_DEPLOY_ONNX_IO_H
#define LOWBIT_DEPLOY_ONNX_IO_H

#include "lowbit/core.h"
#include "onnx/onnx.pb-c.h"

/* Largest ONNX file read, and largest tensor accepted (elements), to keep hostile input bounded. */
#define LB_ONNX_MAX_FILE_BYTES ((size_t)1 << 31)
#define LB_ONNX_MAX_TENSOR_ELEMS ((int64_t)1 << 28)
#define LB_ONNX_MAX_RANK 8

/* The element kinds lowbit holds: floats (FLOAT, DOUBLE narrowed) or integers (every integer
 * type and BOOL, widened to int64). */
typedef struct lb_onnx_tensor {
  int dtype;   /* ONNX TensorProto.DataType of the source */
  int is_float; /* data in f, else in i */
  int ndim;
  int64_t dims[LB_ONNX_MAX_RANK];
  int64_t numel;
  float *f;
  int64_t *i;
} lb_onnx_tensor;

/* Read and unpack a model file; clear errors for missing, empty, oversized, truncated or
 * corrupt files. Free with lb_onnx_model_free. */
lb_status lb_onnx_read_model(const char *path, Onnx__ModelProto **out);
/* The same from bytes in memory (the fuzz harness uses it); `what` names the source in errors. */
lb_status lb_onnx_parse_model(const uint8_t *data, size_t len, const char *what, Onnx__ModelProto **out);
/* Fail with status s and "PREFIX: <the current error detail>" (the detail is copied first, since
 * lb_fail writes the buffer lb_last_error reads). */
lb_status lb_onnx_refail(lb_status s, const char *prefix);
void lb_onnx_model_free(Onnx__ModelProto *m);
/* Version of the default ("" or "ai.onnx") operator set the model imports, or -1. */
int64_t lb_onnx_opset(const Onnx__ModelProto *m);
const char *lb_onnx_dtype_name(int dtype);

/* ---- tensors ---- */
/* Decode a TensorProto (raw_data or the typed fields) into t (malloc'ed data; free with
 * lb_onnx_tensor_free). Checks that the byte or element count matches the dims. External data
 * and types other than float, double, bool and the integer types are refused clearly. */
lb_status lb_onnx_tensor_from_proto(const Onnx__TensorProto *p, lb_onnx_tensor *t);
/* A new tensor of a shape; zero-filled; float or int64 storage. */
lb_status lb_onnx_tensor_alloc(lb_onnx_tensor *t, int dtype, int ndim, const int64_t *dims);
void lb_onnx_tensor_free(lb_onnx_tensor *t);
/* Element k as a double / as an int64 (floats truncated toward zero). */
double lb_onnx_tensor_get(const lb_onnx_tensor *t, int64_t k);
int64_t lb_onnx_tensor_geti(const lb_onnx_tensor *t, int64_t k);
/* Encode a float (dtype FLOAT), int8, uint8, int32 or int64 array as a TensorProto with
 * raw_data (little endian). p must be initialised (onnx__tensor_proto__init); the name and
 * the raw bytes are malloc'ed and belong to p (free them with lb_onnx_tensor_proto_clear).
 * For integer dtypes, data holds int64 values that must fit the type. */
lb_status lb_onnx_tensor_to_proto(const char *name, int dtype, int ndim, const int64_t *dims, const float *fdata,
                                  const int64_t *idata, Onnx__TensorProto *p);
void lb_onnx_tensor_proto_clear(Onnx__TensorProto *p);

/* ---- attributes (NULL when absent) ---- */
const Onnx__AttributeProto *lb_onnx_attr(const Onnx__NodeProto *n, const char *name);
/* Typed lookups: return LB_OK with the default when absent, LB_ERR_FORMAT when the attribute
 * has another type. */
lb_status lb_onnx_attr_int(const Onnx__NodeProto *n, const char *name, int64_t def, int64_t *out);
lb_status lb_onnx_attr_float(const Onnx__NodeProto *n, const char *name, float def, float *out);
/* ints: *count = -1 when absent; more than cap values is an error. */
lb_status lb_onnx_attr_ints(const Onnx__NodeProto *n, const char *name, int64_t *out, int cap, int *count);
/* string: copied NUL-terminated into buf (def when absent). */
lb_status lb_onnx_attr_string(const Onnx__NodeProto *n, const char *name, const char *def, char *buf, size_t cap);

#endif
