/* Mapping ONNX ops that read the network onto lowbit nodes. Shapes here are per sample (the
 * ONNX shape without the batch dimension); ops that only change the view (Reshape, Flatten,
 * Squeeze, Identity, Dropout, Cast to float) become aliases, and a reshape node appears only
 * when a consumer needs the new view (imp_net_node). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/onnx/import_internal.h"
#include "graph/ops_shape.h"

static lb_status net_in(imp *im, int k, imp_value **v) {
  *v = imp_input(im, k);
  if (!*v) return imp_err(im, LB_ERR_FORMAT, "input %d is missing", k);
  if ((*v)->kind != IMP_NET) return imp_err(im, LB_ERR_UNSUPPORTED, "input %d ('%s') must come from the network input", k, (*v)->name);
  return LB_OK;
}

/* A constant float input (missing optional inputs give NULL when optional). */
static lb_status const_in(imp *im, int k, int optional, const lb_onnx_tensor **t) {
  imp_value *v = imp_input(im, k);
  *t = NULL;
  if (!v) return optional ? LB_OK : imp_err(im, LB_ERR_FORMAT, "input %d is missing (an initializer is expected)", k);
  if (v->kind != IMP_CONST)
    return imp_err(im, LB_ERR_UNSUPPORTED, "input %d ('%s') must be a constant (initializer); it is computed from the network input", k,
                   v->name);
  if (!v->t.is_float) return imp_err(im, LB_ERR_UNSUPPORTED, "input %d ('%s') has element type %s; float is supported", k, v->name,
                                     lb_onnx_dtype_name(v->t.dtype));
  *t = &v->t;
  return LB_OK;
}

static lb_status out_net(imp *im, int node, int ndim, const int64_t *dims) {
  return imp_set_net(im, im->cur->output[0], node, ndim, dims);
}

static lb_status out_node(imp *im, int node) {
  const lb_shape *s = &im->g->nodes[node].shape;
  return out_net(im, node, s->ndim, s->d);
}

static lb_status alias(imp *im, const imp_value *x, int ndim, const int64_t *dims) {
  im->aliased++;
  return out_net(im, x->node, ndim, dims);
}

/* Copy of a float tensor's data, scaled; NULL on OOM. */
static float *fcopy(const lb_onnx_tensor *t, float scale) {
  float *p = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *p);
  for (int64_t k = 0; p && k < t->numel; k++) p[k] = t->f[k] * scale;
  return p;
}

static lb_status param(imp *im, int node, int index, float *data, int64_t n) {
  if (!data) return lb_fail(LB_ERR_NOMEM, "ONNX import: out of memory");
  return imp_add_param(im, node, index, data, n);
}

static lb_status unary(imp *im, const char *op, const float *fa, int n_fa) {
  imp_value *x;
  int in, id;
  lb_status s = net_in(im, 0, &x);
  if (!s) s = imp_net_node(im, x, &in);
  if (!s) s = imp_add_node(im, op, "", &in, 1, NULL, 0, fa, n_fa, &id);
  return s ? s : out_node(im, id);
}

/* pads as ONNX gives them for the spatial dims (begin h, begin w, end h, end w) and auto_pad. */
static lb_status spatial_pads(imp *im, const Onnx__NodeProto *n, const int64_t *in_hw, const int64_t *k, const int64_t *st,
                              const int64_t *dil, int64_t *pads) {
  char ap[32];
  int np;
  lb_status s = lb_onnx_attr_string(n, "auto_pad", "NOTSET", ap, sizeof ap);
  if (!s) s = lb_onnx_attr_ints(n, "pads", pads, 4, &np);
  if (s) return s;
  if (np < 0) memset(pads, 0, 4 * sizeof *pads);
  else if (np != 4) return imp_err(im, LB_ERR_UNSUPPORTED, "pads has %d values; 2-D ops need 4", np);
  if (!strcmp(ap, "NOTSET") || !strcmp(ap, "VALID")) {
    if (!strcmp(ap, "VALID")) memset(pads, 0, 4 * sizeof *pads);
  } else if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
    for (int d = 0; d < 2; d++) {
      int64_t out = (in_hw[d] + st[d] - 1) / st[d], need = (out - 1) * st[d] + (k[d] - 1) * dil[d] + 1 - in_hw[d];
      if (need < 0) need = 0;
      int64_t small = need / 2, big = need - small;
      pads[d] = ap[5] == 'U' ? small : big;
      pads[d + 2] = ap[5] == 'U' ? big : small;
    }
  } else
    return imp_err(im, LB_ERR_UNSUPPORTED, "auto_pad '%s' is not supported", ap);
  for (int j = 0; j < 4; j++)
    if (pads[j] < 0 || pads[j] > 4096) return imp_err(im, LB_ERR_UNSUPPORTED, "padding %lld is not supported", (long long)pads[j]);
  return LB_OK;
}

/* kernel_shape, strides, dilations of a 2-D op. */
static lb_status window(imp *im, const Onnx__NodeProto *n, int need_kernel, int64_t *k, int64_t *st, int64_t *dil) {
  int nk, ns, nd;
  lb_status s = lb_onnx_attr_ints(n, "kernel_shape", k, 2, &nk);
  if (!s) s = lb_onnx_attr_ints(n, "strides", st, 2, &ns);
  if (!s) s = lb_onnx_attr_ints(n, "dilations", dil, 2, &nd);
  if (s) return s;
  if ((need_kernel && nk != 2) || (nk >= 0 && nk != 2) || (ns >= 0 && ns != 2) || (nd >= 0 && nd != 2))
    return imp_err(im, LB_ERR_UNSUPPORTED, "only 2-D windows (kernel_shape, strides, dilations of 2 values) are supported");
  if (ns < 0) st[0] = st[1] = 1;
  if (nd < 0) dil[0] = dil[1] = 1;
  for (int d = 0; d < 2; d++)
    if (st[d] < 1 || st[d] > 4096 || dil[d] < 1 || dil[d] > 4096 || (nk == 2 && (k[d] < 1 || k[d] > 4096)))
      return imp_err(im, LB_ERR_FORMAT, "kernel, stride or dilation out of range");
  return LB_OK;
}

/* A pad node in front of x for asymmetric spatial padding (the op then pads 0). */
static lb_status pre_pad(imp *im, int *in, const int64_t *pads, float value) {
  int ia[2 * LB_PAD_MAX_DIMS] = {0};
  ia[LB_PAD_BEGIN + 1] = (int)pads[0];
  ia[LB_PAD_BEGIN + 2] = (int)pads[1];
  ia[LB_PAD_END + 1] = (int)pads[2];
  ia[LB_PAD_END + 2] = (int)pads[3];
  return imp_add_node(im, "pad", ".pad", in, 1, ia, 2 * LB_PAD_MAX_DIMS, &value, 1, in);
}

static lb_status map_conv(imp *im, const Onnx__NodeProto *n) {
  imp_value *x;
  const lb_onnx_tensor *w, *b;
  int in, id;
  lb_status s = net_in(im, 0, &x);
  if (!s) s = const_in(im, 1, 0, &w);
  if (!s) s = const_in(im, 2, 1, &b);
  if (s) return s;
  if (x->ndim != 3 || w->ndim != 4) return imp_err(im, LB_ERR_UNSUPPORTED, "only 2-D convolutions (N,C,H,W) are supported");
  int64_t k[2] = {w->dims[2], w->dims[3]}, st[2], dil[2], pads[4], group;
  if ((s = window(im, n, 0, k, st, dil)) || (s = lb_onnx_attr_int(n, "group", 1, &group))) return s;
  if (k[0] != w->dims[2] || k[1] != w->dims[3]) return imp_err(im, LB_ERR_SHAPE, "kernel_shape disagrees with the weight's shape");
  if (group < 1 || x->dims[0] % group || w->dims[1] * group != x->dims[0] || w->dims[0] % group)
    return imp_err(im, LB_ERR_SHAPE, "weight (%lld,%lld,..) does not fit %lld input channels in %lld groups", (long long)w->dims[0],
                   (long long)w->dims[1], (long long)x->dims[0], (long long)group);
  if (b && b->numel != w->dims[0]) return imp_err(im, LB_ERR_SHAPE, "bias has %lld values for %lld outputs", (long long)b->numel, (long long)w->dims[0]);
  if ((s = spatial_pads(im, n, x->dims + 1, k, st, dil, pads)) || (s = imp_net_node(im, x, &in))) return s;
  if (pads[0] != pads[2] || pads[1] != pads[3]) {
    if ((s = pre_pad(im, &in, pads, 0.0f))) return s;
    memset(pads, 0, sizeof pads);
  }
  int ia[] = {(int)w->dims[0], (int)k[0], (int)k[1], (int)st[0], (int)st[1], (int)pads[0], (int)pads[1], (int)dil[0], (int)dil[1],
              (int)group, b != NULL};
  if ((s = imp_add_node(im, "conv2d", "", &in, 1, ia, 11, NULL, 0, &id))) return s;
  s = param(im, id, 0, fcopy(w, 1.0f), w->numel);
  if (!s && b) s = param(im, id, 1, fcopy(b, 1.0f), b->numel);
  return s ? s : out_node(im, id);
}

/* Gemm (A network, B constant) and MatMul (the same without transposes or scales). */
static lb_status map_gemm(imp *im, const Onnx__NodeProto *n, int matmul) {
  imp_value *x;
  const lb_onnx_tensor *w, *c = NULL;
  int64_t ta = 0, tb = 0;
  float alpha = 1.0f, beta = 1.0f;
  lb_status s = net_in(im, 0, &x);
  if (!s) s = const_in(im, 1, 0, &w);
  if (!s && !matmul) s = const_in(im, 2, 1, &c);
  if (!s && !matmul) s = lb_onnx_attr_int(n, "transA", 0, &ta);
  if (!s && !matmul) s = lb_onnx_attr_int(n, "transB", 0, &tb);
  if (!s && !matmul) s = lb_onnx_attr_float(n, "alpha", 1.0f, &alpha);
  if (!s && !matmul) s = lb_onnx_attr_float(n, "beta", 1.0f, &beta);
  if (s) return s;
  if (ta) return imp_err(im, LB_ERR_UNSUPPORTED, "transA = 1 would transpose the batch");
  if (x->ndim != 1 || w->ndim != 2) return imp_err(im, LB_ERR_UNSUPPORTED, "only (N,F) x (F,O) products are supported");
  int64_t f = tb ? w->dims[1] : w->dims[0], o = tb ? w->dims[0] : w->dims[1];
  if (f != x->dims[0]) return imp_err(im, LB_ERR_SHAPE, "weight expects %lld features, the input has %lld", (long long)f, (long long)x->dims[0]);
  if (c && c->numel != o && c->numel != 1) return imp_err(im, LB_ERR_SHAPE, "C has %lld values for %lld outputs", (long long)c->numel, (long long)o);
  /* MatMul always gets a (zero) bias, so that a following Add of a constant can become it */
  int ia[] = {(int)o, matmul || c != NULL}, id;
  if ((s = imp_add_node(im, "linear", "", &x->node, 1, ia, 2, NULL, 0, &id))) return s;
  float *wd = malloc((size_t)(o * f) * sizeof *wd), *bd = ia[1] ? calloc((size_t)o, sizeof *bd) : NULL;
  for (int64_t i = 0; wd && i < o; i++)
    for (int64_t j = 0; j < f; j++) wd[i * f + j] = alpha * (tb ? w->f[i * f + j] : w->f[j * o + i]);
  for (int64_t i = 0; bd && c && i < o; i++) bd[i] = beta * c->f[c->numel == 1 ? 0 : i];
  s = param(im, id, 0, wd, o * f);
  if (ia[1]) s = s ? (free(bd), s) : param(im, id, 1, bd, o);
  else free(bd);
  return s ? s : out_node(im, id);
}

/* Add of two network tensors, or of a network tensor and a constant bias that the producing
 * linear/conv2d node can absorb (MatMul + Add, Conv + per-channel Add). */
static lb_status map_add(imp *im) {
  imp_value *a = imp_input(im, 0), *b = imp_input(im, 1);
  if (!a || !b) return imp_err(im, LB_ERR_FORMAT, "needs two inputs");
  if (a->kind == IMP_NET && b->kind == IMP_NET) {
    if (a->ndim != b->ndim || memcmp(a->dims, b->dims, (size_t)a->ndim * sizeof *a->dims))
      return imp_err(im, LB_ERR_UNSUPPORTED, "inputs '%s' and '%s' differ in shape; broadcasting between network tensors is not supported",
                     a->name, b->name);
    int in[2], id;
    lb_status s = imp_net_node(im, a, &in[0]);
    if (!s) s = imp_net_node(im, b, &in[1]);
    if (!s) s = imp_add_node(im, "add", "", in, 2, NULL, 0, NULL, 0, &id);
    return s ? s : out_node(im, id);
  }
  imp_value *x = a->kind == IMP_NET ? a : b, *cv = a->kind == IMP_NET ? b : a;
  const lb_node *p = &im->g->nodes[x->node];
  imp_param *bias = imp_find_param(im, x->node, 1);
  int64_t ch = x->dims[0];
  int fits = cv->t.is_float && bias && imp_consumers(im, x->name) == 1 && bias->n == ch &&
             (!strcmp(p->op->name, "linear") || !strcmp(p->op->name, "conv2d")) && (cv->t.numel == ch || cv->t.numel == 1);
  /* a per-channel constant must be laid out along dim 0 of the sample (C,1,1) or be 1-D for (F) */
  for (int k = 0; fits && cv->t.numel == ch && ch > 1 && k < cv->t.ndim; k++)
    fits = cv->t.dims[k] == 1 || (cv->t.dims[k] == ch && cv->t.ndim - k == x->ndim);
  if (!fits)
    return imp_err(im, LB_ERR_UNSUPPORTED, "adding the constant '%s' to a network tensor is supported only as the bias of a "
                   "preceding Gemm/MatMul/Conv", cv->name);
  for (int64_t k = 0; k < ch; k++) bias->data[k] += cv->t.f[cv->t.numel == 1 ? 0 : k];
  return alias(im, x, x->ndim, x->dims);
}

static lb_status map_clip(imp *im, const Onnx__NodeProto *n) {
  float lo = -INFINITY, hi = INFINITY;
  const lb_onnx_tensor *t;
  lb_status s;
  if (im->opset < 11) {
    if ((s = lb_onnx_attr_float(n, "min", lo, &lo)) || (s = lb_onnx_attr_float(n, "max", hi, &hi))) return s;
  }
  for (int k = 1; k <= 2; k++) {
    if ((s = const_in(im, k, 1, &t))) return s;
    if (t && t->numel != 1) return imp_err(im, LB_ERR_FORMAT, "input %d must be a scalar", k);
    if (t) *(k == 1 ? &lo : &hi) = t->f[0];
  }
  if (lo == 0.0f && hi == 6.0f) return unary(im, "relu6", NULL, 0);
  if (lo == 0.0f && isinf(hi)) return unary(im, "relu", NULL, 0);
  if (isinf(lo) && isinf(hi)) {
    imp_value *x;
    return (s = net_in(im, 0, &x)) ? s : alias(im, x, x->ndim, x->dims);
  }
  float fa[2] = {isinf(lo) ? -3.0e38f : lo, isinf(hi) ? 3.0e38f : hi};
  return unary(im, "hardtanh", fa, 2);
}

static lb_status map_bn(imp *im, const Onnx__NodeProto *n) {
  imp_value *x;
  const lb_onnx_tensor *t[4];
  float eps, mom;
  int64_t train;
  lb_status s = net_in(im, 0, &x);
  for (int k = 0; !s && k < 4; k++) {
    s = const_in(im, k + 1, 0, &t[k]);
    if (!s && t[k]->numel != x->dims[0]) s = imp_err(im, LB_ERR_SHAPE, "input %d has %lld values for %lld channels", k + 1, (long long)t[k]->numel, (long long)x->dims[0]);
  }
  if (!s) s = lb_onnx_attr_float(n, "epsilon", 1e-5f, &eps);
  if (!s) s = lb_onnx_attr_float(n, "momentum", 0.9f, &mom);
  if (!s) s = lb_onnx_attr_int(n, "training_mode", 0, &train);
  if (s) return s;
  if (train) return imp_err(im, LB_ERR_UNSUPPORTED, "training_mode = 1 is not supported (export in eval mode)");
  if (x->ndim != 3 && x->ndim != 1) return imp_err(im, LB_ERR_UNSUPPORTED, "only (N,C,H,W) and (N,F) inputs are supported");
  float fa[2] = {eps, 1.0f - mom}; /* ONNX keeps momentum of the old statistics; lowbit, like PyTorch, of the new */
  int in, id;
  if ((s = imp_net_node(im, x, &in)) || (s = imp_add_node(im, "batchnorm", "", &in, 1, NULL, 0, fa, 2, &id))) return s;
  for (int k = 0; !s && k < 4; k++) s = param(im, id, k, fcopy(t[k], 1.0f), t[k]->numel);
  return s ? s : out_node(im, id);
}

static lb_status map_pool(imp *im, const Onnx__NodeProto *n, int is_max) {
  imp_value *x;
  int64_t k[2], st[2], dil[2], pads[4], ceil_mode, cip = 0, order = 0;
  lb_status s = net_in(im, 0, &x);
  if (!s && x->ndim != 3) s = imp_err(im, LB_ERR_UNSUPPORTED, "only 2-D pooling (N,C,H,W) is supported");
  if (!s) s = window(im, n, 1, k, st, dil);
  if (!s) s = spatial_pads(im, n, x->dims + 1, k, st, dil, pads);
  if (!s) s = lb_onnx_attr_int(n, "ceil_mode", 0, &ceil_mode);
  if (!s && !is_max) s = lb_onnx_attr_int(n, "count_include_pad", 0, &cip);
  if (!s && is_max) s = lb_onnx_attr_int(n, "storage_order", 0, &order);
  if (s) return s;
  if (dil[0] != 1 || dil[1] != 1 || order) return imp_err(im, LB_ERR_UNSUPPORTED, "dilated pooling and storage_order are not supported");
  if (n->n_output > 1 && n->output[1] && n->output[1][0]) return imp_err(im, LB_ERR_UNSUPPORTED, "the Indices output is not supported");
  if (pads[0] != pads[2] || pads[1] != pads[3]) return imp_err(im, LB_ERR_UNSUPPORTED, "asymmetric pooling pads are not supported");
  int in, id;
  if ((s = imp_net_node(im, x, &in))) return s;
  if (!is_max && k[0] == x->dims[1] && k[1] == x->dims[2] && !pads[0] && !pads[1]) { /* one window over everything */
    int64_t one[3] = {x->dims[0], 1, 1};
    if ((s = imp_add_node(im, "gap", "", &in, 1, NULL, 0, NULL, 0, &id))) return s;
    return out_net(im, id, 3, one);
  }
  int ia[] = {(int)k[0], (int)k[1], (int)st[0], (int)st[1], (int)pads[0], (int)pads[1], (int)cip, (int)ceil_mode};
  if ((s = imp_add_node(im, is_max ? "maxpool" : "avgpool", "", &in, 1, ia, 8, NULL, 0, &id))) return s;
  return out_node(im, id);
}

static lb_status map_gap(imp *im) {
  imp_value *x;
  int in, id;
  lb_status s = net_in(im, 0, &x);
  if (!s && x->ndim != 3) s = imp_err(im, LB_ERR_UNSUPPORTED, "only (N,C,H,W) inputs are supported");
  if (!s) s = imp_net_node(im, x, &in);
  if (!s) s = imp_add_node(im, "gap", "", &in, 1, NULL, 0, NULL, 0, &id);
  int64_t one[3] = {x ? x->dims[0] : 0, 1, 1};
  return s ? s : out_net(im, id, 3, one);
}

/* Reshape, Flatten, Squeeze, Unsqueeze on the network: new view, same bytes, batch kept. */
static lb_status map_view(imp *im, const Onnx__NodeProto *n) {
  imp_value *x;
  lb_status s = net_in(im, 0, &x);
  if (s) return s;
  int64_t full[LB_ONNX_MAX_RANK] = {1}, out[LB_ONNX_MAX_RANK];
  int rank = x->ndim + 1, nd = 0;
  memcpy(full + 1, x->dims, (size_t)x->ndim * sizeof *full);
  const char *op = n->op_type;
  if (!strcmp(op, "Reshape")) {
    int64_t want[LB_ONNX_MAX_RANK];
    if ((s = lb_onnx_const_ints(im, 1, want, LB_ONNX_MAX_RANK, &nd))) return s;
    if (nd < 1) return imp_err(im, LB_ERR_UNSUPPORTED, "reshaping to a scalar is not supported");
    int64_t allowzero;
    if ((s = lb_onnx_attr_int(n, "allowzero", 0, &allowzero))) return s;
    /* the batch must stay in front: the symbolic batch, 0 (copy), or -1 with the rest fixed */
    int keeps = want[0] == LB_ONNX_BATCH || (want[0] == 0 && !allowzero) || want[0] == -1;
    for (int k = 1; k < nd; k++)
      if (want[k] == LB_ONNX_BATCH || (want[0] == -1 && want[k] == -1)) keeps = 0;
    if (!keeps) return imp_err(im, LB_ERR_UNSUPPORTED, "the target shape does not keep the batch dimension in front");
    want[0] = 1;
    if ((s = lb_onnx_reshape_dims(im, n, rank, full, want, nd, out))) return s;
  } else if (!strcmp(op, "Flatten")) {
    int64_t ax;
    if ((s = lb_onnx_attr_int(n, "axis", 1, &ax))) return s;
    if (ax < 0) ax += rank;
    for (int k = 1; k < ax && k < rank; k++)
      if (full[k] != 1) return imp_err(im, LB_ERR_UNSUPPORTED, "axis %lld would fold sample dims into the batch", (long long)ax);
    if (ax < 1 || ax > rank) return imp_err(im, LB_ERR_UNSUPPORTED, "axis %lld would fold the batch into the features", (long long)ax);
    out[0] = 1;
    out[1] = lb_shape_numel(&im->g->nodes[x->node].shape);
    nd = 2;
  } else {
    if ((s = lb_onnx_squeeze_dims(im, n, op[0] == 'U', rank, full, &nd, out))) return s;
    if (nd < 2 || out[0] != 1) return imp_err(im, LB_ERR_UNSUPPORTED, "squeezing or unsqueezing the batch dimension is not supported");
  }
  return alias(im, x, nd - 1, out + 1);
}

static lb_status map_pad(imp *im, const Onnx__NodeProto *n) {
  imp_value *x;
  char mode[32];
  int64_t pads[2 * LB_ONNX_MAX_RANK];
  int np;
  const lb_onnx_tensor *val = NULL;
  lb_status s = net_in(im, 0, &x);
  if (!s) s = lb_onnx_attr_string(n, "mode", "constant", mode, sizeof mode);
  if (!s) s = lb_onnx_const_ints(im, 1, pads, 2 * LB_ONNX_MAX_RANK, &np);
  if (!s) s = const_in(im, 2, 1, &val);
  if (s) return s;
  if (imp_input(im, 3)) return imp_err(im, LB_ERR_UNSUPPORTED, "the axes input is not supported");
  int rank = x->ndim + 1, nonzero = 0;
  if (np != 2 * rank) return imp_err(im, LB_ERR_SHAPE, "pads has %d values for a rank-%d tensor", np, rank);
  if (val && val->numel != 1) return imp_err(im, LB_ERR_FORMAT, "constant_value must be a scalar");
  for (int k = 0; k < np; k++) {
    if (pads[k] < 0 || pads[k] > (1 << 20)) return imp_err(im, LB_ERR_UNSUPPORTED, "padding %lld (negative = crop) is not supported", (long long)pads[k]);
    nonzero |= pads[k] != 0;
  }
  if (!nonzero) return alias(im, x, x->ndim, x->dims);
  if (strcmp(mode, "constant")) return imp_err(im, LB_ERR_UNSUPPORTED, "pad mode '%s' is not supported (constant is)", mode);
  if (pads[0] || pads[rank]) return imp_err(im, LB_ERR_UNSUPPORTED, "padding the batch dimension is not supported");
  if (x->ndim > LB_PAD_MAX_DIMS) return imp_err(im, LB_ERR_UNSUPPORTED, "rank %d is too large for pad", rank);
  int ia[2 * LB_PAD_MAX_DIMS] = {0}, in, id;
  for (int k = 0; k < x->ndim; k++) {
    ia[LB_PAD_BEGIN + k] = (int)pads[1 + k];
    ia[LB_PAD_END + k] = (int)pads[rank + 1 + k];
  }
  float v = val ? val->f[0] : 0.0f;
  if ((s = imp_net_node(im, x, &in)) || (s = imp_add_node(im, "pad", "", &in, 1, ia, 2 * LB_PAD_MAX_DIMS, &v, 1, &id))) return s;
  return out_node(im, id);
}

static lb_status map_slice(imp *im) {
  imp_value *x;
  lb_status s = net_in(im, 0, &x);
  if (s) return s;
  const int64_t big = (int64_t)1 << 40; /* stands for the batch: a slice must keep all of it */
  int64_t dims[LB_ONNX_MAX_RANK] = {big}, first[LB_ONNX_MAX_RANK], count[LB_ONNX_MAX_RANK], step[LB_ONNX_MAX_RANK];
  memcpy(dims + 1, x->dims, (size_t)x->ndim * sizeof *dims);
  if ((s = lb_onnx_slice_params(im, x->ndim + 1, dims, first, count, step))) return s;
  if (first[0] != 0 || step[0] != 1 || count[0] != big) return imp_err(im, LB_ERR_UNSUPPORTED, "slicing the batch dimension is not supported");
  int in;
  if ((s = imp_net_node(im, x, &in))) return s;
  int made = 0;
  for (int a = 1; a <= x->ndim; a++) {
    if (count[a] == 0) return imp_err(im, LB_ERR_UNSUPPORTED, "the slice of axis %d is empty", a);
    if (first[a] == 0 && step[a] == 1 && count[a] == dims[a]) continue;
    int ia[] = {a - 1, (int)first[a], (int)step[a], (int)count[a]};
    if ((s = imp_add_node(im, "slice", made ? ".b" : "", &in, 1, ia, 4, NULL, 0, &in))) return s;
    made++;
  }
  if (!made) return alias(im, x, x->ndim, x->dims);
  return out_node(im, in);
}

static lb_status map_concat(imp *im, const Onnx__NodeProto *n) {
  int64_t ax;
  imp_value *x0;
  int a = 0, cur = -1;
  lb_status s = net_in(im, 0, &x0);
  if (!s) s = lb_onnx_attr_int(n, "axis", 0, &ax);
  if (!s) s = lb_onnx_norm_axis(im, ax, x0->ndim + 1, &a);
  if (s) return s;
  if (a == 0) return imp_err(im, LB_ERR_UNSUPPORTED, "concatenating along the batch dimension is not supported");
  if (n->n_input < 2) return alias(im, x0, x0->ndim, x0->dims);
  /* up to 4 inputs per lowbit node; more are chained */
  for (size_t j = 0; j < n->n_input;) {
    int in[LB_NODE_MAX_INPUTS], k = 0;
    if (cur >= 0) in[k++] = cur;
    for (; k < LB_NODE_MAX_INPUTS && j < n->n_input; j++) {
      imp_value *x;
      if ((s = net_in(im, (int)j, &x)) || (s = imp_net_node(im, x, &in[k++]))) return s;
    }
    int ia[] = {a - 1};
    if ((s = imp_add_node(im, "concat", cur >= 0 ? ".b" : "", in, k, ia, 1, NULL, 0, &cur))) return s;
  }
  return out_node(im, cur);
}

static lb_status map_transpose(imp *im, const Onnx__NodeProto *n) {
  imp_value *x;
  int64_t perm[LB_ONNX_MAX_RANK];
  int np;
  lb_status s = net_in(im, 0, &x);
  if (!s) s = lb_onnx_attr_ints(n, "perm", perm, LB_ONNX_MAX_RANK, &np);
  if (s) return s;
  int identity = np == x->ndim + 1;
  for (int k = 0; identity && k < np; k++) identity = perm[k] == k;
  if (!identity) return imp_err(im, LB_ERR_UNSUPPORTED, "transposing a network tensor is not supported (only constants are folded)");
  return alias(im, x, x->ndim, x->dims);
}

lb_status lb_onnx_map(imp *im, const Onnx__NodeProto *n) {
  const char *op = n->op_type;
  if (n->n_output < 1) return imp_err(im, LB_ERR_FORMAT, "has no output");
  if (!strcmp(op, "Conv")) return map_conv(im, n);
  if (!strcmp(op, "Gemm")) return map_gemm(im, n, 0);
  if (!strcmp(op, "MatMul")) return map_gemm(im, n, 1);
  if (!strcmp(op, "Add")) return map_add(im);
  if (!strcmp(op, "Relu")) return unary(im, "relu", NULL, 0);
  if (!strcmp(op, "Clip")) return map_clip(im, n);
  if (!strcmp(op, "BatchNormalization")) return map_bn(im, n);
  if (!strcmp(op, "MaxPool")) return map_pool(im, n, 1);
  if (!strcmp(op, "AveragePool")) return map_pool(im, n, 0);
  if (!strcmp(op, "GlobalAveragePool")) return map_gap(im);
  if (!strcmp(op, "Reshape") || !strcmp(op, "Flatten") || !strcmp(op, "Squeeze") || !strcmp(op, "Unsqueeze")) return map_view(im, n);
  if (!strcmp(op, "Pad")) return map_pad(im, n);
  if (!strcmp(op, "Slice")) return map_slice(im);
  if (!strcmp(op, "Concat")) return map_concat(im, n);
  if (!strcmp(op, "Transpose")) return map_transpose(im, n);
  if (!strcmp(op, "Shape")) return lb_onnx_shape_of_net(im, n, imp_input(im, 0));
  if (!strcmp(op, "Identity") || !strcmp(op, "Dropout")) {
    imp_value *x;
    lb_status s = net_in(im, 0, &x);
    return s ? s : alias(im, x, x->ndim, x->dims);
  }
  if (!strcmp(op, "Cast")) {
    imp_value *x;
    int64_t to;
    lb_status s = net_in(im, 0, &x);
    if (!s) s = lb_onnx_attr_int(n, "to", 0, &to);
    if (!s && to != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) s = imp_err(im, LB_ERR_UNSUPPORTED, "casting the network to %s is not supported", lb_onnx_dtype_name((int)to));
    return s ? s : alias(im, x, x->ndim, x->dims);
  }
  return imp_err(im, LB_ERR_UNSUPPORTED, "op type '%s' is not supported on network tensors", op);
}
