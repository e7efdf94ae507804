/* Constant folding at import: ONNX ops evaluated on constant inputs (the shape arithmetic that
 * exporters emit), so that only the network reaches the lowbit graph. Integer tensors may hold
 * the symbolic batch size (LB_ONNX_BATCH): ops that only move values carry it, ops that compute
 * with it refuse. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/onnx/import_internal.h"

enum { F32 = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, I64 = ONNX__TENSOR_PROTO__DATA_TYPE__INT64,
       BOOL_T = ONNX__TENSOR_PROTO__DATA_TYPE__BOOL };

static void strides_of(const lb_onnx_tensor *t, int64_t *st) {
  int64_t s = 1;
  for (int k = t->ndim - 1; k >= 0; k--) {
    st[k] = s;
    s *= t->dims[k];
  }
}

static void copy_el(lb_onnx_tensor *d, int64_t kd, const lb_onnx_tensor *s, int64_t ks) {
  if (d->is_float) d->f[kd] = s->is_float ? s->f[ks] : (float)s->i[ks];
  else d->i[kd] = s->is_float ? (int64_t)s->f[ks] : s->i[ks];
}

static int has_batch(const lb_onnx_tensor *t) {
  for (int64_t k = 0; !t->is_float && k < t->numel; k++)
    if (t->i[k] == LB_ONNX_BATCH) return 1;
  return 0;
}

static lb_status batch_err(imp *im) {
  return imp_err(im, LB_ERR_UNSUPPORTED, "computes with the batch size, which lowbit keeps free; export with a fixed shape");
}

/* A constant input that must be present. */
static lb_status need_const(imp *im, int k, const lb_onnx_tensor **t) {
  imp_value *v = imp_input(im, k);
  if (!v) return imp_err(im, LB_ERR_FORMAT, "input %d is missing", k);
  if (v->kind != IMP_CONST) return imp_err(im, LB_ERR_UNSUPPORTED, "input %d ('%s') must be a constant", k, v->name);
  *t = &v->t;
  return LB_OK;
}

lb_status lb_onnx_const_ints(imp *im, int k, int64_t *out, int cap, int *count) {
  const lb_onnx_tensor *t;
  lb_status s = need_const(im, k, &t);
  if (s) return s;
  if (t->is_float || t->ndim > 1) return imp_err(im, LB_ERR_FORMAT, "input %d must be a 1-D integer tensor", k);
  if (t->numel > cap) return imp_err(im, LB_ERR_UNSUPPORTED, "input %d has %lld values, at most %d supported", k, (long long)t->numel, cap);
  for (int64_t j = 0; j < t->numel; j++) out[j] = t->i[j];
  *count = (int)t->numel;
  return LB_OK;
}

lb_status lb_onnx_norm_axis(imp *im, int64_t axis, int rank, int *out) {
  if (axis < -rank || axis >= rank) return imp_err(im, LB_ERR_FORMAT, "axis %lld is outside a rank-%d tensor", (long long)axis, rank);
  *out = (int)(axis < 0 ? axis + rank : axis);
  return LB_OK;
}

void lb_onnx_slice_norm(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *first, int64_t *count) {
  if (start < 0) start += dim; /* dims are small, so INT64_MIN + dim does not overflow */
  if (end < 0) end += dim;
  if (step > 0) {
    start = start < 0 ? 0 : start > dim ? dim : start;
    end = end < 0 ? 0 : end > dim ? dim : end;
  } else {
    start = start < -1 ? -1 : start > dim - 1 ? dim - 1 : start;
    end = end < -1 ? -1 : end > dim - 1 ? dim - 1 : end;
  }
  int64_t n = step > 0 ? (end - start + step - 1) / step : (start - end + (-step) - 1) / (-step);
  *first = start;
  *count = n > 0 ? n : 0;
}

static lb_status out_const(imp *im, int k, lb_onnx_tensor *t) {
  if (k >= (int)im->cur->n_output) {
    lb_onnx_tensor_free(t);
    return imp_err(im, LB_ERR_FORMAT, "has no output %d", k);
  }
  return imp_set_const(im, im->cur->output[k], t);
}

/* ---- the ops ---- */
static lb_status fold_constant(imp *im, const Onnx__NodeProto *n, lb_onnx_tensor *o) {
  const Onnx__AttributeProto *a;
  if ((a = lb_onnx_attr(n, "value"))) {
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR || !a->t) return imp_err(im, LB_ERR_FORMAT, "attribute 'value' is not a tensor");
    lb_status s = lb_onnx_tensor_from_proto(a->t, o);
    return s ? imp_err(im, s, "%s", lb_last_error()) : LB_OK;
  }
  int64_t one = 1;
  if ((a = lb_onnx_attr(n, "value_float"))) {
    lb_status s = lb_onnx_tensor_alloc(o, F32, 0, NULL);
    if (!s) o->f[0] = a->f;
    return s;
  }
  if ((a = lb_onnx_attr(n, "value_int"))) {
    lb_status s = lb_onnx_tensor_alloc(o, I64, 0, NULL);
    if (!s) o->i[0] = a->i;
    return s;
  }
  if ((a = lb_onnx_attr(n, "value_floats"))) {
    one = (int64_t)a->n_floats;
    lb_status s = lb_onnx_tensor_alloc(o, F32, 1, &one);
    if (!s && one) memcpy(o->f, a->floats, a->n_floats * sizeof(float));
    return s;
  }
  if ((a = lb_onnx_attr(n, "value_ints"))) {
    one = (int64_t)a->n_ints;
    lb_status s = lb_onnx_tensor_alloc(o, I64, 1, &one);
    if (!s && one) memcpy(o->i, a->ints, a->n_ints * sizeof(int64_t));
    return s;
  }
  return imp_err(im, LB_ERR_UNSUPPORTED, "only value, value_float(s) and value_int(s) constants are supported");
}

static lb_status fold_cast(imp *im, const Onnx__NodeProto *n, const lb_onnx_tensor *x, lb_onnx_tensor *o) {
  int64_t to;
  lb_status s = lb_onnx_attr_int(n, "to", 0, &to);
  if (s) return s;
  int ok = to == F32 || to == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE || to == BOOL_T ||
           (to >= ONNX__TENSOR_PROTO__DATA_TYPE__UINT8 && to <= I64) || to == 12 || to == 13;
  if (!ok) return imp_err(im, LB_ERR_UNSUPPORTED, "cast to %s is not supported", lb_onnx_dtype_name((int)to));
  if (has_batch(x) && (to == F32 || to == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE)) return batch_err(im);
  if ((s = lb_onnx_tensor_alloc(o, (int)to, x->ndim, x->dims))) return s;
  for (int64_t k = 0; k < x->numel; k++) {
    copy_el(o, k, x, k);
    if (to == BOOL_T) o->i[k] = lb_onnx_tensor_get(x, k) != 0.0;
  }
  return LB_OK;
}

static lb_status fold_gather(imp *im, const Onnx__NodeProto *n, const lb_onnx_tensor *x, const lb_onnx_tensor *idx, lb_onnx_tensor *o) {
  int64_t ax;
  int a = 0;
  lb_status s = lb_onnx_attr_int(n, "axis", 0, &ax);
  if (!s) s = lb_onnx_norm_axis(im, ax, x->ndim, &a);
  if (s) return s;
  if (idx->is_float) return imp_err(im, LB_ERR_FORMAT, "indices must be integers");
  int nd = x->ndim - 1 + idx->ndim;
  if (nd > LB_ONNX_MAX_RANK) return imp_err(im, LB_ERR_UNSUPPORTED, "result rank %d is too large", nd);
  int64_t dims[LB_ONNX_MAX_RANK], inner = 1, outer = 1;
  int r = 0;
  for (int k = 0; k < a; k++) dims[r++] = x->dims[k], outer *= x->dims[k];
  for (int k = 0; k < idx->ndim; k++) dims[r++] = idx->dims[k];
  for (int k = a + 1; k < x->ndim; k++) dims[r++] = x->dims[k], inner *= x->dims[k];
  if ((s = lb_onnx_tensor_alloc(o, x->dtype, nd, dims))) return s;
  int64_t d = x->dims[a];
  for (int64_t i = 0; i < idx->numel; i++) {
    int64_t j = idx->i[i] < 0 ? idx->i[i] + d : idx->i[i];
    if (j < 0 || j >= d) return imp_err(im, LB_ERR_FORMAT, "index %lld is outside dimension %lld", (long long)idx->i[i], (long long)d);
    for (int64_t p = 0; p < outer; p++)
      for (int64_t q = 0; q < inner; q++) copy_el(o, (p * idx->numel + i) * inner + q, x, (p * d + j) * inner + q);
  }
  return LB_OK;
}

/* Squeeze/Unsqueeze: axes from the attribute (opset < 13) or the second input. */
static lb_status get_axes(imp *im, const Onnx__NodeProto *n, int64_t *axes, int *na) {
  lb_status s = lb_onnx_attr_ints(n, "axes", axes, LB_ONNX_MAX_RANK, na);
  if (s || *na >= 0) return s;
  if (imp_input(im, 1)) return lb_onnx_const_ints(im, 1, axes, LB_ONNX_MAX_RANK, na);
  return LB_OK; /* absent: Squeeze drops every 1 */
}

lb_status lb_onnx_squeeze_dims(imp *im, const Onnx__NodeProto *n, int unsqueeze, int rank, const int64_t *dims, int *ord,
                               int64_t *odims) {
  int64_t axes[LB_ONNX_MAX_RANK];
  int na;
  lb_status s = get_axes(im, n, axes, &na);
  if (s) return s;
  unsigned char mark[2 * LB_ONNX_MAX_RANK] = {0};
  int out_rank = unsqueeze ? rank + (na > 0 ? na : 0) : rank;
  if (unsqueeze && na < 1) return imp_err(im, LB_ERR_FORMAT, "Unsqueeze needs axes");
  if (out_rank > LB_ONNX_MAX_RANK) return imp_err(im, LB_ERR_UNSUPPORTED, "result rank %d is too large", out_rank);
  for (int k = 0; k < na; k++) {
    int a = 0;
    if ((s = lb_onnx_norm_axis(im, axes[k], out_rank, &a))) return s;
    if (mark[a]) return imp_err(im, LB_ERR_FORMAT, "axis %d is repeated", a);
    if (!unsqueeze && dims[a] != 1) return imp_err(im, LB_ERR_SHAPE, "cannot squeeze axis %d of size %lld", a, (long long)dims[a]);
    mark[a] = 1;
  }
  int r = 0;
  if (unsqueeze) {
    for (int k = 0, j = 0; k < out_rank; k++) odims[r++] = mark[k] ? 1 : dims[j++];
  } else {
    for (int k = 0; k < rank; k++)
      if (!(na < 0 ? dims[k] == 1 : mark[k])) odims[r++] = dims[k];
  }
  *ord = r;
  return LB_OK;
}

static lb_status fold_concat(imp *im, const Onnx__NodeProto *n, lb_onnx_tensor *o) {
  int64_t ax;
  int a = 0;
  const lb_onnx_tensor *first;
  lb_status s = need_const(im, 0, &first);
  if (!s) s = lb_onnx_attr_int(n, "axis", 0, &ax);
  if (!s) s = lb_onnx_norm_axis(im, ax, first->ndim, &a);
  if (s) return s;
  int64_t dims[LB_ONNX_MAX_RANK];
  memcpy(dims, first->dims, sizeof dims);
  dims[a] = 0;
  int any_float = 0;
  for (size_t j = 0; j < n->n_input; j++) {
    const lb_onnx_tensor *t;
    if ((s = need_const(im, (int)j, &t))) return s;
    int same = t->ndim == first->ndim;
    for (int k = 0; same && k < t->ndim; k++) same = k == a || t->dims[k] == first->dims[k];
    if (!same) return imp_err(im, LB_ERR_SHAPE, "input %zu's shape does not match input 0 outside axis %d", j, a);
    dims[a] += t->dims[a];
    any_float |= t->is_float;
  }
  if ((s = lb_onnx_tensor_alloc(o, any_float ? F32 : first->dtype, first->ndim, dims))) return s;
  int64_t outer = 1, inner = 1, at = 0;
  for (int k = 0; k < a; k++) outer *= dims[k];
  for (int k = a + 1; k < first->ndim; k++) inner *= dims[k];
  for (size_t j = 0; j < n->n_input; j++) {
    const lb_onnx_tensor *t = &imp_input(im, (int)j)->t;
    int64_t blk = t->dims[a] * inner;
    for (int64_t p = 0; p < outer; p++)
      for (int64_t q = 0; q < blk; q++) copy_el(o, p * dims[a] * inner + at * inner + q, t, p * blk + q);
    at += t->dims[a];
  }
  return LB_OK;
}

lb_status lb_onnx_reshape_dims(imp *im, const Onnx__NodeProto *n, int rank, const int64_t *dims, const int64_t *want, int nw,
                               int64_t *out) {
  int64_t allowzero, total = 1, known = 1;
  lb_status s = lb_onnx_attr_int(n, "allowzero", 0, &allowzero);
  if (s) return s;
  for (int k = 0; k < rank; k++) total *= dims[k];
  int infer = -1;
  for (int k = 0; k < nw; k++) {
    int64_t d = want[k];
    if (d == 0 && !allowzero) {
      if (k >= rank) return imp_err(im, LB_ERR_SHAPE, "target dim %d copies an input dim that does not exist", k);
      d = dims[k];
    }
    if (d == -1) {
      if (infer >= 0) return imp_err(im, LB_ERR_SHAPE, "target shape has two -1 dims");
      infer = k;
      continue;
    }
    if (d < 0 || d > LB_ONNX_MAX_TENSOR_ELEMS) return imp_err(im, LB_ERR_SHAPE, "target dim %d is %lld", k, (long long)d);
    out[k] = d;
    known *= d;
    if (known > LB_ONNX_MAX_TENSOR_ELEMS) return imp_err(im, LB_ERR_SHAPE, "target shape is too large");
  }
  if (infer >= 0) {
    if (known == 0 || total % known) return imp_err(im, LB_ERR_SHAPE, "cannot infer the -1 dim: %lld elements into parts of %lld", (long long)total, (long long)known);
    out[infer] = total / known;
    known = total;
  }
  if (known != total) return imp_err(im, LB_ERR_SHAPE, "reshaping %lld elements into %lld", (long long)total, (long long)known);
  return LB_OK;
}

/* Slice parameters per axis of a rank-`rank` tensor: first index and count, step. */
lb_status lb_onnx_slice_params(imp *im, int rank, const int64_t *dims, int64_t *first, int64_t *count, int64_t *step) {
  int64_t st[LB_ONNX_MAX_RANK], en[LB_ONNX_MAX_RANK], ax[LB_ONNX_MAX_RANK], sp[LB_ONNX_MAX_RANK];
  int ns, ne, na = -1, np = -1;
  lb_status s = lb_onnx_const_ints(im, 1, st, LB_ONNX_MAX_RANK, &ns);
  if (!s) s = lb_onnx_const_ints(im, 2, en, LB_ONNX_MAX_RANK, &ne);
  if (!s && imp_input(im, 3)) s = lb_onnx_const_ints(im, 3, ax, LB_ONNX_MAX_RANK, &na);
  if (!s && imp_input(im, 4)) s = lb_onnx_const_ints(im, 4, sp, LB_ONNX_MAX_RANK, &np);
  if (s) return s;
  if (ne != ns || (na >= 0 && na != ns) || (np >= 0 && np != ns)) return imp_err(im, LB_ERR_FORMAT, "starts, ends, axes and steps differ in length");
  for (int k = 0; k < rank; k++) {
    first[k] = 0;
    count[k] = dims[k];
    step[k] = 1;
  }
  unsigned char seen[LB_ONNX_MAX_RANK] = {0};
  for (int j = 0; j < ns; j++) {
    int a = j;
    if (na >= 0 && (s = lb_onnx_norm_axis(im, ax[j], rank, &a))) return s;
    if (a >= rank || seen[a]) return imp_err(im, LB_ERR_FORMAT, "slice axis %d is outside the tensor or repeated", a);
    seen[a] = 1;
    step[a] = np >= 0 ? sp[j] : 1;
    if (step[a] == 0) return imp_err(im, LB_ERR_FORMAT, "slice step is 0");
    if (st[j] == LB_ONNX_BATCH || en[j] == LB_ONNX_BATCH) return batch_err(im);
    lb_onnx_slice_norm(dims[a], st[j], en[j], step[a], &first[a], &count[a]);
  }
  return LB_OK;
}

static lb_status fold_slice(imp *im, const lb_onnx_tensor *x, lb_onnx_tensor *o) {
  int64_t first[LB_ONNX_MAX_RANK], count[LB_ONNX_MAX_RANK], step[LB_ONNX_MAX_RANK], xs[LB_ONNX_MAX_RANK];
  lb_status s = lb_onnx_slice_params(im, x->ndim, x->dims, first, count, step);
  if (!s) s = lb_onnx_tensor_alloc(o, x->dtype, x->ndim, count);
  if (s) return s;
  strides_of(x, xs);
  for (int64_t k = 0; k < o->numel; k++) {
    int64_t r = k, off = 0;
    for (int d = x->ndim - 1; d >= 0; d--) {
      off += (first[d] + (r % count[d]) * step[d]) * xs[d];
      r /= count[d];
    }
    copy_el(o, k, x, off);
  }
  return LB_OK;
}

static lb_status fold_transpose(imp *im, const Onnx__NodeProto *n, const lb_onnx_tensor *x, lb_onnx_tensor *o) {
  int64_t perm[LB_ONNX_MAX_RANK], dims[LB_ONNX_MAX_RANK], xs[LB_ONNX_MAX_RANK];
  int np;
  lb_status s = lb_onnx_attr_ints(n, "perm", perm, LB_ONNX_MAX_RANK, &np);
  if (s) return s;
  if (np < 0) {
    np = x->ndim;
    for (int k = 0; k < np; k++) perm[k] = np - 1 - k;
  }
  unsigned char seen[LB_ONNX_MAX_RANK] = {0};
  if (np != x->ndim) return imp_err(im, LB_ERR_FORMAT, "perm has %d entries for a rank-%d tensor", np, x->ndim);
  for (int k = 0; k < np; k++) {
    if (perm[k] < 0 || perm[k] >= np || seen[perm[k]]) return imp_err(im, LB_ERR_FORMAT, "perm is not a permutation");
    seen[perm[k]] = 1;
    dims[k] = x->dims[perm[k]];
  }
  if ((s = lb_onnx_tensor_alloc(o, x->dtype, np, dims))) return s;
  strides_of(x, xs);
  for (int64_t k = 0; k < o->numel; k++) {
    int64_t r = k, off = 0;
    for (int d = np - 1; d >= 0; d--) {
      off += (r % dims[d]) * xs[perm[d]];
      r /= dims[d];
    }
    copy_el(o, k, x, off);
  }
  return LB_OK;
}

/* Elementwise with numpy broadcasting: Add, Sub, Mul, Div, Equal, Where. */
static double binop(const char *op, double a, double b) {
  if (!strcmp(op, "Add")) return a + b;
  if (!strcmp(op, "Sub")) return a - b;
  if (!strcmp(op, "Mul")) return a * b;
  if (!strcmp(op, "Div")) return a / b;
  return a == b; /* Equal */
}

static lb_status fold_elementwise(imp *im, const Onnx__NodeProto *n, lb_onnx_tensor *o) {
  int nin = !strcmp(n->op_type, "Where") ? 3 : 2;
  const lb_onnx_tensor *in[3];
  int rank = 0;
  lb_status s;
  if ((int)n->n_input != nin) return imp_err(im, LB_ERR_FORMAT, "takes %d inputs, has %zu", nin, n->n_input);
  for (int j = 0; j < nin; j++) {
    if ((s = need_const(im, j, &in[j]))) return s;
    if (has_batch(in[j]) && (nin == 2 || j == 0)) return batch_err(im);
    if (in[j]->ndim > rank) rank = in[j]->ndim;
  }
  int64_t dims[LB_ONNX_MAX_RANK], bst[3][LB_ONNX_MAX_RANK];
  for (int d = 0; d < rank; d++) {
    dims[d] = 1;
    for (int j = 0; j < nin; j++) {
      int jd = d - (rank - in[j]->ndim);
      int64_t v = jd >= 0 ? in[j]->dims[jd] : 1;
      if (v != 1 && dims[d] != 1 && v != dims[d]) return imp_err(im, LB_ERR_SHAPE, "inputs do not broadcast at dim %d", d);
      if (v != 1) dims[d] = v;
    }
  }
  for (int j = 0; j < nin; j++) { /* broadcast strides: 0 where the input has size 1 */
    int64_t st = 1;
    for (int d = rank - 1; d >= 0; d--) {
      int jd = d - (rank - in[j]->ndim);
      int64_t v = jd >= 0 ? in[j]->dims[jd] : 1;
      bst[j][d] = v == 1 ? 0 : st;
      st *= v;
    }
  }
  int equal = !strcmp(n->op_type, "Equal"), where = nin == 3;
  const lb_onnx_tensor *proto = where ? in[1] : in[0];
  int dtype = equal ? BOOL_T : (where ? (in[1]->is_float || in[2]->is_float) : (in[0]->is_float || in[1]->is_float)) ? F32 : proto->dtype;
  if ((s = lb_onnx_tensor_alloc(o, dtype, rank, dims))) return s;
  int is_int_div = !strcmp(n->op_type, "Div") && !o->is_float;
  for (int64_t k = 0; k < o->numel; k++) {
    int64_t off[3] = {0, 0, 0}, r = k;
    for (int d = rank - 1; d >= 0; d--) {
      int64_t i = r % dims[d];
      r /= dims[d];
      for (int j = 0; j < nin; j++) off[j] += i * bst[j][d];
    }
    if (where) {
      int c = lb_onnx_tensor_get(in[0], off[0]) != 0.0;
      copy_el(o, k, in[c ? 1 : 2], off[c ? 1 : 2]);
    } else if (!o->is_float && !equal) { /* integer arithmetic stays exact */
      int64_t a = in[0]->i[off[0]], b = in[1]->i[off[1]];
      if (is_int_div && b == 0) return imp_err(im, LB_ERR_FORMAT, "integer division by zero");
      o->i[k] = !strcmp(n->op_type, "Add") ? a + b : !strcmp(n->op_type, "Sub") ? a - b : !strcmp(n->op_type, "Mul") ? a * b : a / b;
    } else {
      double v = binop(n->op_type, lb_onnx_tensor_get(in[0], off[0]), lb_onnx_tensor_get(in[1], off[1]));
      if (o->is_float) o->f[k] = (float)v;
      else o->i[k] = (int64_t)v;
    }
  }
  return LB_OK;
}

static lb_status fold_range(imp *im, lb_onnx_tensor *o) {
  const lb_onnx_tensor *t[3];
  for (int j = 0; j < 3; j++) {
    lb_status s = need_const(im, j, &t[j]);
    if (s) return s;
    if (t[j]->numel != 1) return imp_err(im, LB_ERR_FORMAT, "input %d must be a scalar", j);
    if (has_batch(t[j])) return batch_err(im);
  }
  double a = lb_onnx_tensor_get(t[0], 0), b = lb_onnx_tensor_get(t[1], 0), d = lb_onnx_tensor_get(t[2], 0);
  if (d == 0 || !isfinite(a) || !isfinite(b) || !isfinite(d)) return imp_err(im, LB_ERR_FORMAT, "bad range (delta 0 or not finite)");
  double cnt = ceil((b - a) / d);
  int64_t n = cnt > 0 ? (int64_t)cnt : 0;
  if (n > LB_ONNX_MAX_TENSOR_ELEMS) return imp_err(im, LB_ERR_FORMAT, "range of %lld elements is too large", (long long)n);
  lb_status s = lb_onnx_tensor_alloc(o, t[0]->dtype, 1, &n);
  for (int64_t k = 0; !s && k < n; k++) {
    if (o->is_float) o->f[k] = (float)(a + (double)k * d);
    else o->i[k] = t[0]->i[0] + k * t[2]->i[0];
  }
  return s;
}

static lb_status fold_constant_of_shape(imp *im, const Onnx__NodeProto *n, lb_onnx_tensor *o) {
  int64_t dims[LB_ONNX_MAX_RANK];
  int nd;
  lb_status s = lb_onnx_const_ints(im, 0, dims, LB_ONNX_MAX_RANK, &nd);
  if (s) return s;
  for (int k = 0; k < nd; k++)
    if (dims[k] == LB_ONNX_BATCH) return batch_err(im);
  lb_onnx_tensor val = {0};
  const Onnx__AttributeProto *a = lb_onnx_attr(n, "value");
  if (a) {
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR || !a->t) return imp_err(im, LB_ERR_FORMAT, "attribute 'value' is not a tensor");
    if ((s = lb_onnx_tensor_from_proto(a->t, &val))) return imp_err(im, s, "%s", lb_last_error());
    if (val.numel != 1) {
      lb_onnx_tensor_free(&val);
      return imp_err(im, LB_ERR_FORMAT, "attribute 'value' must hold one element");
    }
  }
  s = lb_onnx_tensor_alloc(o, a ? val.dtype : F32, nd, dims);
  if (s) s = imp_err(im, s, "%s", lb_last_error());
  for (int64_t k = 0; !s && a && k < o->numel; k++) copy_el(o, k, &val, 0);
  lb_onnx_tensor_free(&val);
  return s;
}

static lb_status fold_shape(const Onnx__NodeProto *n, int rank, const int64_t *dims, lb_onnx_tensor *o) {
  int64_t start, end;
  lb_status s = lb_onnx_attr_int(n, "start", 0, &start);
  if (!s) s = lb_onnx_attr_int(n, "end", rank, &end);
  if (s) return s;
  int64_t first, count;
  lb_onnx_slice_norm(rank, start, end, 1, &first, &count);
  if ((s = lb_onnx_tensor_alloc(o, I64, 1, &count))) return s;
  for (int64_t k = 0; k < count; k++) o->i[k] = dims[first + k];
  return LB_OK;
}

lb_status lb_onnx_shape_of_net(imp *im, const Onnx__NodeProto *n, const imp_value *x) {
  int64_t dims[LB_MAX_DIMS] = {LB_ONNX_BATCH};
  memcpy(dims + 1, x->dims, (size_t)x->ndim * sizeof *dims);
  lb_onnx_tensor o;
  lb_status s = fold_shape(n, x->ndim + 1, dims, &o);
  if (!s) s = out_const(im, 0, &o);
  if (!s) im->folded++;
  return s;
}

lb_status lb_onnx_fold(imp *im, const Onnx__NodeProto *n) {
  const char *op = n->op_type;
  lb_onnx_tensor o = {0};
  const lb_onnx_tensor *x = NULL, *y = NULL;
  lb_status s = LB_OK;
  int unary = !strcmp(op, "Identity") || !strcmp(op, "Cast") || !strcmp(op, "Shape") || !strcmp(op, "Unsqueeze") ||
              !strcmp(op, "Squeeze") || !strcmp(op, "Reshape") || !strcmp(op, "Slice") || !strcmp(op, "Transpose") ||
              !strcmp(op, "Gather") || !strcmp(op, "Dropout") || !strcmp(op, "Flatten");
  if (unary && (s = need_const(im, 0, &x))) return s;
  if (!strcmp(op, "Constant")) s = fold_constant(im, n, &o);
  else if (!strcmp(op, "Identity") || !strcmp(op, "Dropout")) {
    s = lb_onnx_tensor_alloc(&o, x->dtype, x->ndim, x->dims);
    for (int64_t k = 0; !s && k < x->numel; k++) copy_el(&o, k, x, k);
  } else if (!strcmp(op, "Cast")) s = fold_cast(im, n, x, &o);
  else if (!strcmp(op, "Shape")) s = fold_shape(n, x->ndim, x->dims, &o);
  else if (!strcmp(op, "Gather")) {
    if (!(s = need_const(im, 1, &y))) s = fold_gather(im, n, x, y, &o);
  } else if (!strcmp(op, "Unsqueeze") || !strcmp(op, "Squeeze") || !strcmp(op, "Reshape") || !strcmp(op, "Flatten")) {
    int64_t dims[LB_ONNX_MAX_RANK], want[LB_ONNX_MAX_RANK];
    int nd = 0;
    if (!strcmp(op, "Reshape")) {
      if (!(s = lb_onnx_const_ints(im, 1, want, LB_ONNX_MAX_RANK, &nd))) {
        for (int k = 0; k < nd; k++)
          if (want[k] == LB_ONNX_BATCH) s = batch_err(im);
        if (!s) s = lb_onnx_reshape_dims(im, n, x->ndim, x->dims, want, nd, dims);
      }
    } else if (!strcmp(op, "Flatten")) {
      int64_t ax;
      int a = 0;
      if (!(s = lb_onnx_attr_int(n, "axis", 1, &ax))) {
        a = (int)(ax < 0 ? ax + x->ndim : ax);
        if (a < 0 || a > x->ndim) s = imp_err(im, LB_ERR_FORMAT, "axis %lld is outside [-%d, %d]", (long long)ax, x->ndim, x->ndim);
      }
      if (!s) {
        dims[0] = dims[1] = 1;
        for (int k = 0; k < x->ndim; k++) dims[k >= a] *= x->dims[k];
        nd = 2;
      }
    } else
      s = lb_onnx_squeeze_dims(im, n, op[0] == 'U', x->ndim, x->dims, &nd, dims);
    if (!s) s = lb_onnx_tensor_alloc(&o, x->dtype, nd, dims);
    for (int64_t k = 0; !s && k < x->numel; k++) copy_el(&o, k, x, k);
  } else if (!strcmp(op, "Concat")) s = fold_concat(im, n, &o);
  else if (!strcmp(op, "Slice")) s = fold_slice(im, x, &o);
  else if (!strcmp(op, "Transpose")) s = fold_transpose(im, n, x, &o);
  else if (!strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Mul") || !strcmp(op, "Div") || !strcmp(op, "Equal") ||
           !strcmp(op, "Where"))
    s = fold_elementwise(im, n, &o);
  else if (!strcmp(op, "Range")) s = fold_range(im, &o);
  else if (!strcmp(op, "ConstantOfShape")) s = fold_constant_of_shape(im, n, &o);
  else
    return imp_err(im, LB_ERR_UNSUPPORTED, "op type '%s' is not supported on constant inputs", op);
  if (s) {
    lb_onnx_tensor_free(&o);
    return s;
  }
  /* Dropout's optional mask output is never read by inference graphs */
  s = out_const(im, 0, &o);
  if (!s) im->folded++;
  return s;
}
