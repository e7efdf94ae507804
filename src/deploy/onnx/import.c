/* ONNX import driver: checks the model, builds the value table from initializers and the graph
 * input, visits the nodes in dependency order (cycles and dangling inputs are errors), folds
 * or maps each one, and finally fills the graph's parameters. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/onnx/import_internal.h"
#include "lowbit/onnx.h"

#define MIN_OPSET 11
#define MAX_OPSET 17

static const char *nname(const Onnx__NodeProto *n) { return n->name && n->name[0] ? n->name : "(unnamed)"; }

lb_status imp_err(imp *im, lb_status s, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (!im->cur) return lb_fail(s, "%s", msg);
  return lb_fail(s, "node '%s' (%s, opset %lld): %s", nname(im->cur), im->cur->op_type ? im->cur->op_type : "?",
                 (long long)im->opset, msg);
}

imp_value *imp_find(imp *im, const char *name) {
  if (!name) return NULL;
  for (int i = im->nv - 1; i >= 0; i--)
    if (!strcmp(im->v[i].name, name)) return &im->v[i];
  return NULL;
}

imp_value *imp_input(imp *im, int k) {
  if (k >= (int)im->cur->n_input || !im->cur->input[k] || !im->cur->input[k][0]) return NULL;
  return imp_find(im, im->cur->input[k]);
}

static lb_status new_value(imp *im, const char *name, imp_value **out) {
  if (!name || !name[0]) return imp_err(im, LB_ERR_FORMAT, "a value has an empty name");
  if (imp_find(im, name)) return imp_err(im, LB_ERR_FORMAT, "value '%s' is defined twice", name);
  if (im->nv == im->capv) {
    int cap = im->capv ? 2 * im->capv : 64;
    imp_value *nv = realloc(im->v, (size_t)cap * sizeof *nv);
    if (!nv) return lb_fail(LB_ERR_NOMEM, "ONNX import: out of memory");
    im->v = nv;
    im->capv = cap;
  }
  imp_value *v = &im->v[im->nv];
  memset(v, 0, sizeof *v);
  v->name = malloc(strlen(name) + 1);
  if (!v->name) return lb_fail(LB_ERR_NOMEM, "ONNX import: out of memory");
  strcpy(v->name, name);
  im->nv++;
  *out = v;
  return LB_OK;
}

lb_status imp_set_const(imp *im, const char *name, lb_onnx_tensor *t) {
  imp_value *v;
  lb_status s = new_value(im, name, &v);
  if (s) {
    lb_onnx_tensor_free(t);
    return s;
  }
  v->kind = IMP_CONST;
  v->t = *t;
  memset(t, 0, sizeof *t);
  return LB_OK;
}

lb_status imp_set_net(imp *im, const char *name, int node, int ndim, const int64_t *dims) {
  if (ndim < 1 || ndim > LB_MAX_DIMS - 1) return imp_err(im, LB_ERR_UNSUPPORTED, "tensor '%s' would have rank %d; 2..%d supported", name, ndim + 1, LB_MAX_DIMS);
  imp_value *v;
  lb_status s = new_value(im, name, &v);
  if (s) return s;
  v->kind = IMP_NET;
  v->node = node;
  v->ndim = ndim;
  memcpy(v->dims, dims, (size_t)ndim * sizeof *dims);
  return LB_OK;
}

lb_status imp_add_node(imp *im, const char *op, const char *suffix, const int *in, int n_in, const int *ia, int n_ia,
                       const float *fa, int n_fa, int *id) {
  const char *base = im->cur ? im->cur->name : NULL;
  char name[LB_NAME_MAX * 2];
  if (!base || !base[0]) base = im->cur ? im->cur->op_type : "node";
  while (*base == '/') base++; /* PyTorch names start with '/' */
  snprintf(name, sizeof name, "%s%s", base, suffix);
  /* names must be unique and short: cut long ones and number repeats */
  if (strlen(name) >= LB_NAME_MAX) name[LB_NAME_MAX - 8] = 0;
  char tryname[LB_NAME_MAX * 2];
  snprintf(tryname, sizeof tryname, "%s", name);
  for (int k = 1; lb_graph_find_node(im->g, tryname) >= 0; k++) {
    if (k > 99999) return imp_err(im, LB_ERR_FORMAT, "too many nodes named '%s'", name);
    snprintf(tryname, sizeof tryname, "%.*s#%d", LB_NAME_MAX - 8, name, k);
  }
  lb_status s = lb_graph_add(im->g, op, tryname, in, n_in, ia, n_ia, fa, n_fa, id);
  if (s) return imp_err(im, s, "%s", lb_last_error());
  return LB_OK;
}

lb_status imp_add_param(imp *im, int node, int index, float *data, int64_t n) {
  if (im->np == im->capp) {
    int cap = im->capp ? 2 * im->capp : 64;
    imp_param *np = realloc(im->p, (size_t)cap * sizeof *np);
    if (!np) {
      free(data);
      return lb_fail(LB_ERR_NOMEM, "ONNX import: out of memory");
    }
    im->p = np;
    im->capp = cap;
  }
  im->p[im->np++] = (imp_param){node, index, data, n};
  return LB_OK;
}

int imp_consumers(const imp *im, const char *name) {
  const Onnx__GraphProto *gp = im->m->graph;
  int c = 0;
  for (size_t i = 0; i < gp->n_node; i++)
    for (size_t k = 0; k < gp->node[i]->n_input; k++) c += gp->node[i]->input[k] && !strcmp(gp->node[i]->input[k], name);
  for (size_t i = 0; i < gp->n_output; i++) c += gp->output[i] && gp->output[i]->name && !strcmp(gp->output[i]->name, name);
  return c;
}

imp_param *imp_find_param(imp *im, int node, int index) {
  for (int i = 0; i < im->np; i++)
    if (im->p[i].node == node && im->p[i].index == index) return &im->p[i];
  return NULL;
}

lb_status imp_net_node(imp *im, imp_value *v, int *node) {
  const lb_shape *have = &im->g->nodes[v->node].shape;
  lb_shape want = {.ndim = v->ndim};
  for (int k = 0; k < v->ndim; k++) want.d[k] = v->dims[k];
  if (!lb_shape_equal(have, &want)) {
    int ia[1 + LB_MAX_DIMS] = {v->ndim};
    for (int k = 0; k < v->ndim; k++) ia[1 + k] = (int)v->dims[k];
    int id;
    lb_status s = imp_add_node(im, "reshape", ".reshape", &v->node, 1, ia, 1 + v->ndim, NULL, 0, &id);
    if (s) return s;
    v->node = id; /* later readers share the reshaped node */
  }
  *node = v->node;
  return LB_OK;
}

/* ---- the graph input ---- */
static int is_initializer(const Onnx__GraphProto *gp, const char *name) {
  for (size_t i = 0; i < gp->n_initializer; i++)
    if (gp->initializer[i] && gp->initializer[i]->name && !strcmp(gp->initializer[i]->name, name)) return 1;
  return 0;
}

static lb_status read_input(imp *im, const Onnx__GraphProto *gp, const char *what) {
  const Onnx__ValueInfoProto *in = NULL;
  for (size_t i = 0; i < gp->n_input; i++) {
    const Onnx__ValueInfoProto *vi = gp->input[i];
    if (!vi || !vi->name) return lb_fail(LB_ERR_FORMAT, "%s: graph input %zu has no name", what, i);
    if (is_initializer(gp, vi->name)) continue;
    if (in) return lb_fail(LB_ERR_UNSUPPORTED, "%s: the graph has several inputs ('%s', '%s'); one is supported", what, in->name, vi->name);
    in = vi;
  }
  if (!in) return lb_fail(LB_ERR_FORMAT, "%s: the graph has no input", what);
  const Onnx__TypeProto *tp = in->type;
  if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type || !tp->tensor_type->shape)
    return lb_fail(LB_ERR_UNSUPPORTED, "%s: input '%s' is not a tensor of known rank", what, in->name);
  if (tp->tensor_type->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
    return lb_fail(LB_ERR_UNSUPPORTED, "%s: input '%s' has element type %s; float is supported", what, in->name,
                   lb_onnx_dtype_name(tp->tensor_type->elem_type));
  const Onnx__TensorShapeProto *sh = tp->tensor_type->shape;
  if (sh->n_dim < 2 || sh->n_dim > 4)
    return lb_fail(LB_ERR_UNSUPPORTED, "%s: input '%s' has rank %zu; (N,F), (N,C,L) or (N,C,H,W) supported", what, in->name, sh->n_dim);
  int64_t d[4];
  for (size_t k = 1; k < sh->n_dim; k++) {
    const Onnx__TensorShapeProto__Dimension *dm = sh->dim[k];
    if (!dm || dm->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE || dm->dim_value <= 0 || dm->dim_value > (1 << 24))
      return lb_fail(LB_ERR_UNSUPPORTED, "%s: input '%s': dimension %zu must be a fixed positive size (only the batch may vary)", what,
                     in->name, k);
    d[k - 1] = dm->dim_value;
  }
  int nd = (int)sh->n_dim - 1;
  lb_shape s = {.ndim = nd};
  memcpy(s.d, d, (size_t)nd * sizeof *d);
  lb_status st = lb_graph_create(&im->g, im->m->graph->name && im->m->graph->name[0] ? im->m->graph->name : "onnx", s);
  if (st) return lb_onnx_refail(st, what);
  return imp_set_net(im, in->name, 0, nd, d);
}

/* ---- nodes in dependency order ---- */
static int input_ready(imp *im, const char *name) { return !name || !name[0] || imp_find(im, name) != NULL; }

static lb_status import_node(imp *im, const Onnx__NodeProto *n) {
  im->cur = n;
  if (!n->op_type || !n->op_type[0]) return imp_err(im, LB_ERR_FORMAT, "node has no op type");
  if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx"))
    return imp_err(im, LB_ERR_UNSUPPORTED, "operator domain '%s' is not supported", n->domain);
  for (size_t k = 0; k < n->n_output; k++)
    if (!n->output[k]) return imp_err(im, LB_ERR_FORMAT, "output %zu has no name", k);
  int any_net = 0;
  for (size_t k = 0; k < n->n_input; k++) {
    imp_value *v = imp_input(im, (int)k);
    if (v && v->kind == IMP_NET) any_net = 1;
  }
  return any_net ? lb_onnx_map(im, n) : lb_onnx_fold(im, n);
}

static lb_status visit_nodes(imp *im, const Onnx__GraphProto *gp, const char *what) {
  size_t nn = gp->n_node;
  unsigned char *done = calloc(nn ? nn : 1, 1);
  if (!done) return lb_fail(LB_ERR_NOMEM, "ONNX import: out of memory");
  lb_status s = LB_OK;
  size_t left = nn;
  for (size_t i = 0; i < nn; i++)
    if (!gp->node[i]) {
      free(done);
      return lb_fail(LB_ERR_FORMAT, "%s: node %zu is empty", what, i);
    }
  /* exporters sort nodes, so this is one pass; out-of-order graphs take a few */
  while (left && !s) {
    size_t progress = 0;
    for (size_t i = 0; i < nn && !s; i++) {
      const Onnx__NodeProto *n = gp->node[i];
      if (done[i]) continue;
      int ready = 1;
      for (size_t k = 0; k < n->n_input && ready; k++) ready = input_ready(im, n->input[k]);
      if (!ready) continue;
      s = import_node(im, n);
      done[i] = 1;
      progress++;
      left--;
    }
    if (!s && !progress) {
      /* nothing can run: an input is produced by a node that waits itself (cycle), or by nobody */
      for (size_t i = 0; i < nn; i++) {
        if (done[i]) continue;
        const Onnx__NodeProto *n = gp->node[i];
        im->cur = n;
        for (size_t k = 0; k < n->n_input; k++) {
          if (input_ready(im, n->input[k])) continue;
          int produced = 0;
          for (size_t j = 0; j < nn && !produced; j++)
            for (size_t o = 0; o < gp->node[j]->n_output; o++)
              if (gp->node[j]->output[o] && !strcmp(gp->node[j]->output[o], n->input[k])) produced = 1;
          s = produced ? imp_err(im, LB_ERR_FORMAT, "input '%s' depends on this node's own output: the graph has a cycle", n->input[k])
                       : imp_err(im, LB_ERR_FORMAT, "input '%s' is dangling: no initializer, graph input or node produces it",
                                 n->input[k]);
          break;
        }
        break;
      }
    }
  }
  im->cur = NULL;
  free(done);
  return s;
}

/* Copy the queued parameter data into the graph's values. */
static lb_status fill_params(imp *im) {
  lb_status s = lb_graph_alloc_values(im->g);
  if (s) return s;
  for (int i = 0; i < im->np; i++) {
    const imp_param *q = &im->p[i];
    const lb_node *n = &im->g->nodes[q->node];
    if (q->index >= n->n_params) return lb_fail(LB_ERR_STATE, "ONNX import: node '%s' has no parameter %d", n->name, q->index);
    const lb_param *p = &im->g->params[n->first_param + q->index];
    if (p->numel != q->n)
      return lb_fail(LB_ERR_SHAPE, "ONNX import: parameter '%s' needs %lld values, the model gives %lld", p->name,
                     (long long)p->numel, (long long)q->n);
    memcpy(im->g->values + p->offset, q->data, (size_t)q->n * sizeof(float));
  }
  return LB_OK;
}

static lb_status run(imp *im, const char *what, lb_onnx_import_info *info) {
  const Onnx__GraphProto *gp = im->m->graph;
  im->opset = lb_onnx_opset(im->m);
  if (info) {
    info->opset = im->opset;
    info->onnx_nodes = (int)gp->n_node;
    snprintf(info->producer, sizeof info->producer, "%s %s", im->m->producer_name ? im->m->producer_name : "",
             im->m->producer_version ? im->m->producer_version : "");
  }
  if (im->opset < MIN_OPSET || im->opset > MAX_OPSET)
    return lb_fail(LB_ERR_UNSUPPORTED, "%s: opset %lld is not supported (opsets %d-%d are)", what, (long long)im->opset, MIN_OPSET, MAX_OPSET);
  lb_status s = read_input(im, gp, what);
  for (size_t i = 0; !s && i < gp->n_initializer; i++) {
    const Onnx__TensorProto *tp = gp->initializer[i];
    if (!tp || !tp->name || !tp->name[0]) return lb_fail(LB_ERR_FORMAT, "%s: initializer %zu has no name", what, i);
    lb_onnx_tensor t;
    s = lb_onnx_tensor_from_proto(tp, &t);
    if (s) return lb_onnx_refail(s, what);
    s = imp_set_const(im, tp->name, &t);
  }
  if (!s) s = visit_nodes(im, gp, what);
  if (s) return s;
  if (gp->n_output != 1 || !gp->output[0] || !gp->output[0]->name)
    return lb_fail(LB_ERR_UNSUPPORTED, "%s: the graph has %zu outputs; one is supported", what, gp->n_output);
  imp_value *out = imp_find(im, gp->output[0]->name);
  if (!out) return lb_fail(LB_ERR_FORMAT, "%s: graph output '%s' is produced by no node", what, gp->output[0]->name);
  if (out->kind != IMP_NET) return lb_fail(LB_ERR_UNSUPPORTED, "%s: graph output '%s' is a constant, not computed from the input", what, out->name);
  if (out->node == 0) return lb_fail(LB_ERR_UNSUPPORTED, "%s: graph output '%s' is the input itself", what, out->name);
  im->g->output = out->node;
  if (info) {
    info->folded = im->folded;
    info->aliased = im->aliased;
  }
  return fill_params(im);
}

static void imp_free(imp *im) {
  for (int i = 0; i < im->nv; i++) {
    free(im->v[i].name);
    lb_onnx_tensor_free(&im->v[i].t);
  }
  free(im->v);
  for (int i = 0; i < im->np; i++) free(im->p[i].data);
  free(im->p);
}

static lb_status import_model(const Onnx__ModelProto *m, const char *what, lb_graph **out, lb_onnx_import_info *info) {
  imp im = {.m = m};
  lb_status s = run(&im, what, info);
  if (s && strncmp(lb_last_error(), what, strlen(what))) s = lb_onnx_refail(s, what);
  if (s) lb_graph_free(im.g);
  else *out = im.g;
  imp_free(&im);
  return s;
}

lb_status lb_onnx_import_bytes(const uint8_t *data, size_t len, const char *what, lb_graph **out, lb_onnx_import_info *info) {
  *out = NULL;
  if (info) memset(info, 0, sizeof *info);
  Onnx__ModelProto *m;
  lb_status s = lb_onnx_parse_model(data, len, what, &m);
  if (s) return s;
  s = import_model(m, what, out, info);
  lb_onnx_model_free(m);
  return s;
}

lb_status lb_onnx_import(const char *path, lb_graph **out, lb_onnx_import_info *info) {
  *out = NULL;
  if (info) memset(info, 0, sizeof *info);
  Onnx__ModelProto *m;
  lb_status s = lb_onnx_read_model(path, &m);
  if (s) return s;
  s = import_model(m, path, out, info);
  lb_onnx_model_free(m);
  return s;
}
