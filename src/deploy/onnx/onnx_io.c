/* Shared ONNX plumbing: model files, tensors and attributes (see onnx_io.h). */
#include "deploy/onnx/onnx_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/bytes.h"

lb_status lb_onnx_refail(lb_status s, const char *prefix) {
  char detail[512];
  snprintf(detail, sizeof detail, "%s", lb_last_error());
  return lb_fail(s, "%s: %s", prefix, detail);
}

/* ---- model files -------------------------------------------------------------------------- */
lb_status lb_onnx_parse_model(const uint8_t *data, size_t len, const char *what, Onnx__ModelProto **out) {
  *out = NULL;
  if (len == 0) return lb_fail(LB_ERR_FORMAT, "%s: empty file, not an ONNX model", what);
  if (len > LB_ONNX_MAX_FILE_BYTES) return lb_fail(LB_ERR_FORMAT, "%s: %zu bytes is above the 2 GiB ONNX limit", what, len);
  Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, data);
  if (!m) return lb_fail(LB_ERR_FORMAT, "%s: not a valid ONNX protobuf (truncated or corrupt)", what);
  if (!m->graph) {
    onnx__model_proto__free_unpacked(m, NULL);
    return lb_fail(LB_ERR_FORMAT, "%s: the ONNX model has no graph (truncated or not an ONNX file)", what);
  }
  *out = m;
  return LB_OK;
}

lb_status lb_onnx_read_model(const char *path, Onnx__ModelProto **out) {
  *out = NULL;
  uint8_t *data;
  size_t len;
  lb_status s = lb_read_file(path, &data, &len);
  if (s) return s;
  s = lb_onnx_parse_model(data, len, path, out);
  free(data);
  return s;
}

void lb_onnx_model_free(Onnx__ModelProto *m) {
  if (m) onnx__model_proto__free_unpacked(m, NULL);
}

int64_t lb_onnx_opset(const Onnx__ModelProto *m) {
  for (size_t i = 0; i < m->n_opset_import; i++) {
    const Onnx__OperatorSetIdProto *o = m->opset_import[i];
    if (o && (!o->domain || !o->domain[0] || !strcmp(o->domain, "ai.onnx")) && o->has_version) return o->version;
  }
  return -1;
}

const char *lb_onnx_dtype_name(int dtype) {
  static const char *const names[] = {"undefined", "float", "uint8", "int8", "uint16", "int16", "int32", "int64", "string",
                                      "bool", "float16", "double", "uint32", "uint64", "complex64", "complex128", "bfloat16"};
  return dtype >= 0 && dtype < (int)(sizeof names / sizeof names[0]) ? names[dtype] : "unknown";
}

/* ---- tensors ------------------------------------------------------------------------------ */
/* Bytes per element in raw_data, 0 for types lowbit does not read. */
static int elem_bytes(int dtype) {
  switch (dtype) {
  case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
  case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: return 4;
  case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
  case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: return 8;
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: return 2;
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
  case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: return 1;
  default: return 0;
  }
}

static int is_float_type(int dtype) {
  return dtype == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || dtype == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
}

lb_status lb_onnx_tensor_alloc(lb_onnx_tensor *t, int dtype, int ndim, const int64_t *dims) {
  memset(t, 0, sizeof *t);
  if (ndim < 0 || ndim > LB_ONNX_MAX_RANK) return lb_fail(LB_ERR_UNSUPPORTED, "tensor rank %d is above %d", ndim, LB_ONNX_MAX_RANK);
  int64_t n = 1;
  for (int k = 0; k < ndim; k++) {
    if (dims[k] < 0) return lb_fail(LB_ERR_FORMAT, "tensor dimension %d is negative (%lld)", k, (long long)dims[k]);
    if (dims[k] > LB_ONNX_MAX_TENSOR_ELEMS || (dims[k] && n > LB_ONNX_MAX_TENSOR_ELEMS / dims[k]))
      return lb_fail(LB_ERR_FORMAT, "tensor has more than %lld elements", (long long)LB_ONNX_MAX_TENSOR_ELEMS);
    n *= dims[k];
    t->dims[k] = dims[k];
  }
  t->dtype = dtype;
  t->is_float = is_float_type(dtype);
  t->ndim = ndim;
  t->numel = n;
  size_t bytes = (size_t)(n ? n : 1) * (t->is_float ? sizeof(float) : sizeof(int64_t));
  void *p = calloc(1, bytes);
  if (!p) return lb_fail(LB_ERR_NOMEM, "out of memory for a tensor of %lld elements", (long long)n);
  if (t->is_float) t->f = p;
  else t->i = p;
  return LB_OK;
}

void lb_onnx_tensor_free(lb_onnx_tensor *t) {
  if (!t) return;
  free(t->f);
  free(t->i);
  t->f = NULL;
  t->i = NULL;
}

double lb_onnx_tensor_get(const lb_onnx_tensor *t, int64_t k) { return t->is_float ? (double)t->f[k] : (double)t->i[k]; }
int64_t lb_onnx_tensor_geti(const lb_onnx_tensor *t, int64_t k) { return t->is_float ? (int64_t)t->f[k] : t->i[k]; }

/* One little-endian element of raw bytes into the tensor's storage. */
static void put_raw(lb_onnx_tensor *t, int64_t k, const uint8_t *b) {
  uint64_t u = 0;
  int w = elem_bytes(t->dtype);
  for (int j = w - 1; j >= 0; j--) u = (u << 8) | b[j];
  switch (t->dtype) {
  case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: { uint32_t v = (uint32_t)u; float f; memcpy(&f, &v, 4); t->f[k] = f; break; }
  case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: { double d; memcpy(&d, &u, 8); t->f[k] = (float)d; break; }
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: t->i[k] = (int8_t)(uint8_t)u; break;
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: t->i[k] = (int16_t)(uint16_t)u; break;
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: t->i[k] = (int32_t)(uint32_t)u; break;
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: t->i[k] = (int64_t)u; break;
  case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: t->i[k] = u != 0; break;
  default: t->i[k] = (int64_t)u; break; /* unsigned types; uint64 above 2^63 wraps, as int64 casts do */
  }
}

lb_status lb_onnx_tensor_from_proto(const Onnx__TensorProto *p, lb_onnx_tensor *t) {
  memset(t, 0, sizeof *t);
  const char *name = p->name ? p->name : "";
  int dtype = p->has_data_type ? p->data_type : 0;
  if (!elem_bytes(dtype))
    return lb_fail(LB_ERR_UNSUPPORTED, "tensor '%s': element type %s is not supported", name, lb_onnx_dtype_name(dtype));
  if ((p->has_data_location && p->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) || p->n_external_data)
    return lb_fail(LB_ERR_UNSUPPORTED, "tensor '%s': external data files are not supported", name);
  if (p->n_dims > LB_ONNX_MAX_RANK) return lb_fail(LB_ERR_UNSUPPORTED, "tensor '%s': rank %zu is above %d", name, p->n_dims, LB_ONNX_MAX_RANK);
  lb_status s = lb_onnx_tensor_alloc(t, dtype, (int)p->n_dims, p->dims);
  if (s) {
    char pre[300];
    snprintf(pre, sizeof pre, "tensor '%.200s'", name);
    return lb_onnx_refail(s, pre);
  }
  int64_t n = t->numel;
  size_t have;
  if (p->has_raw_data) {
    size_t w = (size_t)elem_bytes(dtype);
    have = p->raw_data.len / w;
    if (p->raw_data.len != (size_t)n * w) goto count_mismatch;
    for (int64_t k = 0; k < n; k++) put_raw(t, k, p->raw_data.data + (size_t)k * w);
    return LB_OK;
  }
  switch (dtype) {
  case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
    have = p->n_float_data;
    if (have != (size_t)n) goto count_mismatch;
    memcpy(t->f, p->float_data, (size_t)n * sizeof(float));
    break;
  case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
    have = p->n_double_data;
    if (have != (size_t)n) goto count_mismatch;
    for (int64_t k = 0; k < n; k++) t->f[k] = (float)p->double_data[k];
    break;
  case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
    have = p->n_int64_data;
    if (have != (size_t)n) goto count_mismatch;
    memcpy(t->i, p->int64_data, (size_t)n * sizeof(int64_t));
    break;
  case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
    have = p->n_uint64_data;
    if (have != (size_t)n) goto count_mismatch;
    for (int64_t k = 0; k < n; k++) t->i[k] = (int64_t)p->uint64_data[k];
    break;
  default: /* int32, int16, int8, uint16, uint8, bool travel in int32_data */
    have = p->n_int32_data;
    if (have != (size_t)n) goto count_mismatch;
    for (int64_t k = 0; k < n; k++) {
      uint8_t b[4];
      uint32_t v = (uint32_t)p->int32_data[k];
      for (int j = 0; j < 4; j++) b[j] = (uint8_t)(v >> (8 * j));
      put_raw(t, k, b); /* narrows to the declared type, as the little-endian bytes would */
    }
    break;
  }
  return LB_OK;
count_mismatch:
  lb_onnx_tensor_free(t);
  return lb_fail(LB_ERR_FORMAT, "tensor '%s' (%s): holds %zu elements, its dims say %lld", name, lb_onnx_dtype_name(dtype),
                 have, (long long)n);
}

lb_status lb_onnx_tensor_to_proto(const char *name, int dtype, int ndim, const int64_t *dims, const float *fdata,
                                  const int64_t *idata, Onnx__TensorProto *p) {
  int w = elem_bytes(dtype);
  int ok_type = dtype == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || dtype == ONNX__TENSOR_PROTO__DATA_TYPE__INT8 ||
                dtype == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 || dtype == ONNX__TENSOR_PROTO__DATA_TYPE__INT32 ||
                dtype == ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
  if (!ok_type) return lb_fail(LB_ERR_UNSUPPORTED, "tensor '%s': cannot write element type %s", name, lb_onnx_dtype_name(dtype));
  if ((dtype == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) ? !fdata : !idata)
    return lb_fail(LB_ERR_ARG, "tensor '%s': no data of the right kind given", name);
  if (ndim < 0 || ndim > LB_ONNX_MAX_RANK) return lb_fail(LB_ERR_ARG, "tensor '%s': rank %d", name, ndim);
  int64_t n = 1;
  for (int k = 0; k < ndim; k++) {
    if (dims[k] < 0 || (dims[k] && n > LB_ONNX_MAX_TENSOR_ELEMS / dims[k])) return lb_fail(LB_ERR_ARG, "tensor '%s': bad dims", name);
    n *= dims[k];
  }
  for (int64_t k = 0; idata && dtype != ONNX__TENSOR_PROTO__DATA_TYPE__INT64 && k < n; k++) {
    int64_t lo = dtype == ONNX__TENSOR_PROTO__DATA_TYPE__INT8 ? -128 : dtype == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 ? 0 : INT32_MIN;
    int64_t hi = dtype == ONNX__TENSOR_PROTO__DATA_TYPE__INT8 ? 127 : dtype == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 ? 255 : INT32_MAX;
    if (idata[k] < lo || idata[k] > hi)
      return lb_fail(LB_ERR_ARG, "tensor '%s': value %lld does not fit %s", name, (long long)idata[k], lb_onnx_dtype_name(dtype));
  }
  uint8_t *raw = malloc((size_t)(n ? n : 1) * (size_t)w);
  int64_t *pd = malloc((size_t)(ndim ? ndim : 1) * sizeof *pd);
  char *nm = malloc(strlen(name) + 1);
  if (!raw || !pd || !nm) {
    free(raw);
    free(pd);
    free(nm);
    return lb_fail(LB_ERR_NOMEM, "tensor '%s': out of memory", name);
  }
  for (int64_t k = 0; k < n; k++) {
    uint64_t u;
    if (fdata) {
      uint32_t v;
      memcpy(&v, &fdata[k], 4);
      u = v;
    } else
      u = (uint64_t)idata[k];
    for (int j = 0; j < w; j++) raw[(size_t)k * (size_t)w + (size_t)j] = (uint8_t)(u >> (8 * j));
  }
  memcpy(pd, dims, (size_t)ndim * sizeof *pd);
  strcpy(nm, name);
  p->name = nm;
  p->n_dims = (size_t)ndim;
  p->dims = pd;
  p->has_data_type = 1;
  p->data_type = dtype;
  p->has_raw_data = 1;
  p->raw_data.data = raw;
  p->raw_data.len = (size_t)n * (size_t)w;
  return LB_OK;
}

void lb_onnx_tensor_proto_clear(Onnx__TensorProto *p) {
  free(p->name);
  free(p->dims);
  free(p->raw_data.data);
  p->name = NULL;
  p->dims = NULL;
  p->n_dims = 0;
  p->raw_data.data = NULL;
  p->raw_data.len = 0;
  p->has_raw_data = 0;
}

/* ---- attributes --------------------------------------------------------------------------- */
const Onnx__AttributeProto *lb_onnx_attr(const Onnx__NodeProto *n, const char *name) {
  for (size_t i = 0; i < n->n_attribute; i++)
    if (n->attribute[i] && n->attribute[i]->name && !strcmp(n->attribute[i]->name, name)) return n->attribute[i];
  return NULL;
}

static lb_status wrong_type(const Onnx__NodeProto *n, const char *name, const char *want) {
  return lb_fail(LB_ERR_FORMAT, "node '%s' (%s): attribute '%s' should be %s", n->name ? n->name : "", n->op_type ? n->op_type : "?",
                 name, want);
}

lb_status lb_onnx_attr_int(const Onnx__NodeProto *n, const char *name, int64_t def, int64_t *out) {
  const Onnx__AttributeProto *a = lb_onnx_attr(n, name);
  *out = def;
  if (!a) return LB_OK;
  if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT) return wrong_type(n, name, "an int");
  *out = a->i;
  return LB_OK;
}

lb_status lb_onnx_attr_float(const Onnx__NodeProto *n, const char *name, float def, float *out) {
  const Onnx__AttributeProto *a = lb_onnx_attr(n, name);
  *out = def;
  if (!a) return LB_OK;
  if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT) return wrong_type(n, name, "a float");
  *out = a->f;
  return LB_OK;
}

lb_status lb_onnx_attr_ints(const Onnx__NodeProto *n, const char *name, int64_t *out, int cap, int *count) {
  const Onnx__AttributeProto *a = lb_onnx_attr(n, name);
  *count = -1;
  if (!a) return LB_OK;
  if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS) return wrong_type(n, name, "a list of ints");
  if (a->n_ints > (size_t)cap)
    return lb_fail(LB_ERR_UNSUPPORTED, "node '%s' (%s): attribute '%s' has %zu values, at most %d supported", n->name ? n->name : "",
                   n->op_type ? n->op_type : "?", name, a->n_ints, cap);
  memcpy(out, a->ints, a->n_ints * sizeof *out);
  *count = (int)a->n_ints;
  return LB_OK;
}

lb_status lb_onnx_attr_string(const Onnx__NodeProto *n, const char *name, const char *def, char *buf, size_t cap) {
  const Onnx__AttributeProto *a = lb_onnx_attr(n, name);
  if (!a) {
    snprintf(buf, cap, "%s", def);
    return LB_OK;
  }
  if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING) return wrong_type(n, name, "a string");
  size_t len = a->s.len < cap - 1 ? a->s.len : cap - 1;
  if (len) memcpy(buf, a->s.data, len);
  buf[len] = 0;
  return LB_OK;
}
