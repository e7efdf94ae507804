/* The ONNX model builder (onnx_build.h): protobuf-c messages assembled from small pieces. */
#include "deploy/export/onnx_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/bytes.h"
#include "onnx/onnx.pb-c.h"

/* A growable array of pointers (nodes, initializers, attributes, ...). */
typedef struct ptrvec {
  void **p;
  size_t n, cap;
} ptrvec;

struct lb_ob {
  Onnx__ModelProto model;
  Onnx__GraphProto graph;
  Onnx__OperatorSetIdProto opset;
  Onnx__OperatorSetIdProto *opset_list[1];
  ptrvec nodes, inits, inputs, outputs, attrs;
  Onnx__NodeProto *last; /* attributes attach here */
  ptrvec owned;          /* every allocation, freed together */
  ptrvec names;          /* tensor names handed out (owned) */
  int failed;
};

static int vec_push(ptrvec *v, void *x) {
  if (v->n == v->cap) {
    size_t cap = v->cap ? 2 * v->cap : 16;
    void **p = realloc(v->p, cap * sizeof *p);
    if (!p) return 0;
    v->p = p;
    v->cap = cap;
  }
  v->p[v->n++] = x;
  return 1;
}

/* calloc that the builder owns; NULL (and failed set) on failure. */
static void *own(lb_ob *b, size_t n) {
  if (b->failed) return NULL;
  void *p = calloc(1, n ? n : 1);
  if (!p || !vec_push(&b->owned, p)) {
    free(p);
    b->failed = 1;
    return NULL;
  }
  return p;
}

static char *own_str(lb_ob *b, const char *s) {
  char *p = own(b, strlen(s) + 1);
  if (p) strcpy(p, s);
  return p;
}

lb_status lb_ob_create(lb_ob **out, const char *graph_name, int opset) {
  lb_ob *b = calloc(1, sizeof *b);
  if (!b) return lb_fail(LB_ERR_NOMEM, "onnx export: out of memory");
  onnx__model_proto__init(&b->model);
  onnx__graph_proto__init(&b->graph);
  onnx__operator_set_id_proto__init(&b->opset);
  b->opset.domain = "";
  b->opset.has_version = 1;
  b->opset.version = opset;
  b->opset_list[0] = &b->opset;
  b->model.has_ir_version = 1;
  b->model.ir_version = 8; /* IR of ONNX 1.10-1.13, enough for opsets up to 17 */
  b->model.producer_name = "lowbit";
  b->model.producer_version = "0.1.0";
  b->model.n_opset_import = 1;
  b->model.opset_import = b->opset_list;
  b->model.graph = &b->graph;
  b->graph.name = own_str(b, graph_name);
  *out = b;
  return b->failed ? lb_fail(LB_ERR_NOMEM, "onnx export: out of memory") : LB_OK;
}

void lb_ob_free(lb_ob *b) {
  if (!b) return;
  for (size_t i = 0; i < b->owned.n; i++) free(b->owned.p[i]);
  free(b->owned.p);
  free(b->nodes.p);
  free(b->inits.p);
  free(b->inputs.p);
  free(b->outputs.p);
  free(b->attrs.p);
  free(b->names.p);
  free(b);
}

const char *lb_ob_name(lb_ob *b, const char *base) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", base);
  for (int k = 2;; k++) {
    int taken = 0;
    for (size_t i = 0; i < b->names.n && !taken; i++) taken = !strcmp(b->names.p[i], buf);
    if (!taken) break;
    snprintf(buf, sizeof buf, "%s_%d", base, k);
  }
  char *s = own_str(b, buf);
  if (!s) return "";
  if (!vec_push(&b->names, s)) b->failed = 1;
  return s;
}

static size_t type_size(int type) {
  switch (type) {
    case LB_OT_UINT8:
    case LB_OT_INT8: return 1;
    case LB_OT_INT64: return 8;
    default: return 4; /* float, int32 */
  }
}

const char *lb_ob_initializer(lb_ob *b, const char *base, int type, const int64_t *dims, int ndims, const void *data) {
  const char *name = lb_ob_name(b, base);
  Onnx__TensorProto *t = own(b, sizeof *t);
  int64_t numel = 1;
  for (int i = 0; i < ndims; i++) numel *= dims[i];
  size_t bytes = (size_t)numel * type_size(type);
  int64_t *d = own(b, (size_t)(ndims > 0 ? ndims : 1) * sizeof *d);
  uint8_t *raw = own(b, bytes);
  if (!t || !d || !raw) return name;
  onnx__tensor_proto__init(t);
  t->name = (char *)name;
  t->has_data_type = 1;
  t->data_type = type;
  if (ndims > 0) memcpy(d, dims, (size_t)ndims * sizeof *d);
  t->n_dims = (size_t)ndims;
  t->dims = d;
  memcpy(raw, data, bytes); /* raw_data is little endian, as this machine */
  t->has_raw_data = 1;
  t->raw_data.len = bytes;
  t->raw_data.data = raw;
  if (!vec_push(&b->inits, t)) b->failed = 1;
  return name;
}

const char *lb_ob_scalar_f(lb_ob *b, const char *base, float v) {
  return lb_ob_initializer(b, base, LB_OT_FLOAT, NULL, 0, &v);
}

const char *lb_ob_scalar_u8(lb_ob *b, const char *base, int type, int32_t v) {
  uint8_t byte = type == LB_OT_INT8 ? (uint8_t)(int8_t)v : (uint8_t)v;
  return lb_ob_initializer(b, base, type, NULL, 0, &byte);
}

const char *lb_ob_ints(lb_ob *b, const char *base, const int64_t *v, int n) {
  int64_t d = n;
  return lb_ob_initializer(b, base, LB_OT_INT64, &d, 1, v);
}

/* Attributes of the node being built are collected in b->attrs and attached on the next
 * lb_ob_node or at write time. */
static void flush_attrs(lb_ob *b) {
  if (!b->last || b->attrs.n == 0) return;
  Onnx__AttributeProto **a = own(b, b->attrs.n * sizeof *a);
  if (a) {
    memcpy(a, b->attrs.p, b->attrs.n * sizeof *a);
    b->last->attribute = a;
    b->last->n_attribute = b->attrs.n;
  }
  b->attrs.n = 0;
}

const char *lb_ob_node(lb_ob *b, const char *op, const char *name, const char *const *inputs, int n_inputs,
                       const char *out_base) {
  flush_attrs(b);
  const char *out = lb_ob_name(b, out_base);
  Onnx__NodeProto *n = own(b, sizeof *n);
  char **in = own(b, (size_t)(n_inputs > 0 ? n_inputs : 1) * sizeof *in);
  char **outs = own(b, sizeof *outs);
  if (!n || !in || !outs) return out;
  onnx__node_proto__init(n);
  for (int i = 0; i < n_inputs; i++) in[i] = own_str(b, inputs[i] ? inputs[i] : "");
  outs[0] = (char *)out;
  n->n_input = (size_t)n_inputs;
  n->input = in;
  n->n_output = 1;
  n->output = outs;
  n->op_type = own_str(b, op);
  n->name = own_str(b, lb_ob_name(b, name));
  n->domain = "";
  if (!vec_push(&b->nodes, n)) b->failed = 1;
  b->last = n;
  return out;
}

static Onnx__AttributeProto *new_attr(lb_ob *b, const char *key, Onnx__AttributeProto__AttributeType type) {
  Onnx__AttributeProto *a = own(b, sizeof *a);
  if (!a) return NULL;
  onnx__attribute_proto__init(a);
  a->name = own_str(b, key);
  a->has_type = 1;
  a->type = type;
  if (!vec_push(&b->attrs, a)) b->failed = 1;
  return a;
}

void lb_ob_attr_int(lb_ob *b, const char *key, int64_t v) {
  Onnx__AttributeProto *a = new_attr(b, key, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
  if (!a) return;
  a->has_i = 1;
  a->i = v;
}

void lb_ob_attr_ints(lb_ob *b, const char *key, const int64_t *v, int n) {
  Onnx__AttributeProto *a = new_attr(b, key, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
  int64_t *copy = own(b, (size_t)(n > 0 ? n : 1) * sizeof *copy);
  if (!a || !copy) return;
  memcpy(copy, v, (size_t)n * sizeof *copy);
  a->n_ints = (size_t)n;
  a->ints = copy;
}

void lb_ob_attr_float(lb_ob *b, const char *key, float v) {
  Onnx__AttributeProto *a = new_attr(b, key, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
  if (!a) return;
  a->has_f = 1;
  a->f = v;
}

static Onnx__ValueInfoProto *value_info(lb_ob *b, const char *name, int type, const int64_t *dims, int ndims) {
  Onnx__ValueInfoProto *vi = own(b, sizeof *vi);
  Onnx__TypeProto *tp = own(b, sizeof *tp);
  Onnx__TypeProto__Tensor *tt = own(b, sizeof *tt);
  Onnx__TensorShapeProto *sh = own(b, sizeof *sh);
  Onnx__TensorShapeProto__Dimension **dv = own(b, (size_t)(ndims > 0 ? ndims : 1) * sizeof *dv);
  if (!vi || !tp || !tt || !sh || !dv) return NULL;
  onnx__value_info_proto__init(vi);
  onnx__type_proto__init(tp);
  onnx__type_proto__tensor__init(tt);
  onnx__tensor_shape_proto__init(sh);
  for (int i = 0; i < ndims; i++) {
    Onnx__TensorShapeProto__Dimension *d = own(b, sizeof *d);
    if (!d) return NULL;
    onnx__tensor_shape_proto__dimension__init(d);
    if (dims[i] < 0) {
      d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
      d->dim_param = "N";
    } else {
      d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
      d->dim_value = dims[i];
    }
    dv[i] = d;
  }
  sh->n_dim = (size_t)ndims;
  sh->dim = dv;
  tt->has_elem_type = 1;
  tt->elem_type = type;
  tt->shape = sh;
  tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  tp->tensor_type = tt;
  vi->name = own_str(b, name);
  vi->type = tp;
  return vi;
}

void lb_ob_input(lb_ob *b, const char *name, int type, const int64_t *dims, int ndims) {
  Onnx__ValueInfoProto *vi = value_info(b, name, type, dims, ndims);
  if (vi && !vec_push(&b->inputs, vi)) b->failed = 1;
}

void lb_ob_output(lb_ob *b, const char *name, int type, const int64_t *dims, int ndims) {
  Onnx__ValueInfoProto *vi = value_info(b, name, type, dims, ndims);
  if (vi && !vec_push(&b->outputs, vi)) b->failed = 1;
}

lb_status lb_ob_write(lb_ob *b, const char *path) {
  flush_attrs(b);
  if (b->failed) return lb_fail(LB_ERR_NOMEM, "%s: out of memory while building the ONNX model", path);
  b->graph.n_node = b->nodes.n;
  b->graph.node = (Onnx__NodeProto **)b->nodes.p;
  b->graph.n_initializer = b->inits.n;
  b->graph.initializer = (Onnx__TensorProto **)b->inits.p;
  b->graph.n_input = b->inputs.n;
  b->graph.input = (Onnx__ValueInfoProto **)b->inputs.p;
  b->graph.n_output = b->outputs.n;
  b->graph.output = (Onnx__ValueInfoProto **)b->outputs.p;
  size_t len = onnx__model_proto__get_packed_size(&b->model);
  uint8_t *buf = malloc(len ? len : 1);
  if (!buf) return lb_fail(LB_ERR_NOMEM, "%s: out of memory (%zu bytes of ONNX)", path, len);
  onnx__model_proto__pack(&b->model, buf);
  lb_status s = lb_write_file_atomic(path, buf, len);
  free(buf);
  return s;
}
