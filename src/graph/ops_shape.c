/* Shape ops: slice, pad, concat, reshape (attribute layouts in ops_shape.h). */
#include "graph/ops_shape.h"

#include <string.h>

#include "graph/ops.h"
#include "nn/nn_shape.h"

/* Product of the per-sample dims in [from, to). */
static int64_t dims_prod(const lb_shape *s, int from, int to) {
  int64_t p = 1;
  for (int k = from; k < to; k++) p *= s->d[k];
  return p;
}

/* ---- slice ---- */
static lb_status slice_infer(lb_graph *g, int idx) {
  lb_node *n = &g->nodes[idx];
  const lb_shape *in = lb_in_shape(g, n, 0);
  int axis = n->ia[LB_SLICE_AXIS];
  int64_t start = n->ia[LB_SLICE_START], step = n->ia[LB_SLICE_STEP], count = n->ia[LB_SLICE_COUNT];
  if (axis < 0 || axis >= in->ndim) return lb_fail(LB_ERR_ARG, "node '%s' (slice): axis %d outside the input's %d dims", n->name, axis, in->ndim);
  int64_t last = start + (count - 1) * step;
  if (step == 0 || count < 1 || start < 0 || start >= in->d[axis] || last < 0 || last >= in->d[axis])
    return lb_fail(LB_ERR_ARG, "node '%s' (slice): start %lld, step %lld, count %lld do not fit dimension %lld", n->name,
                   (long long)start, (long long)step, (long long)count, (long long)in->d[axis]);
  n->shape = *in;
  n->shape.d[axis] = count;
  return LB_OK;
}

static void slice_forward(const lb_node *n, lb_op_ctx *c) {
  const lb_shape *in = c->in_shape[0];
  int a = n->ia[LB_SLICE_AXIS];
  lb_slice_forward(c->batch * dims_prod(in, 0, a), in->d[a], dims_prod(in, a + 1, in->ndim), n->ia[LB_SLICE_START],
                   n->ia[LB_SLICE_STEP], n->ia[LB_SLICE_COUNT], c->in[0], c->out);
}

static void slice_backward(const lb_node *n, lb_op_ctx *c) {
  if (!c->din[0]) return;
  const lb_shape *in = c->in_shape[0];
  int a = n->ia[LB_SLICE_AXIS];
  lb_slice_backward(c->batch * dims_prod(in, 0, a), in->d[a], dims_prod(in, a + 1, in->ndim), n->ia[LB_SLICE_START],
                    n->ia[LB_SLICE_STEP], n->ia[LB_SLICE_COUNT], c->dout, c->din[0]);
}

const lb_op_def lb_op_slice = {.name = "slice", .min_inputs = 1, .max_inputs = 1, .infer = slice_infer,
                               .forward = slice_forward, .backward = slice_backward};

/* ---- pad ---- */
static void pad_amounts(const lb_node *n, int nd, int64_t *b, int64_t *e) {
  for (int k = 0; k < nd; k++) {
    b[k] = n->ia[LB_PAD_BEGIN + k];
    e[k] = n->ia[LB_PAD_END + k];
  }
}

static lb_status pad_infer(lb_graph *g, int idx) {
  lb_node *n = &g->nodes[idx];
  const lb_shape *in = lb_in_shape(g, n, 0);
  if (in->ndim > LB_PAD_MAX_DIMS) return lb_fail(LB_ERR_SHAPE, "node '%s' (pad): input has %d dims, at most %d", n->name, in->ndim, LB_PAD_MAX_DIMS);
  for (int k = LB_PAD_BEGIN; k < LB_PAD_END + LB_PAD_MAX_DIMS; k++)
    if (n->ia[k] < 0 || n->ia[k] > (1 << 20) || (k % LB_PAD_MAX_DIMS >= in->ndim && n->ia[k]))
      return lb_fail(LB_ERR_ARG, "node '%s' (pad): padding %d at attribute %d is negative, huge or beyond the input's dims", n->name,
                     n->ia[k], k);
  n->shape = *in;
  for (int k = 0; k < in->ndim; k++) n->shape.d[k] += n->ia[LB_PAD_BEGIN + k] + n->ia[LB_PAD_END + k];
  return LB_OK;
}

static void pad_forward(const lb_node *n, lb_op_ctx *c) {
  const lb_shape *in = c->in_shape[0];
  int64_t b[LB_PAD_MAX_DIMS], e[LB_PAD_MAX_DIMS];
  pad_amounts(n, in->ndim, b, e);
  lb_pad_forward(c->batch, in->ndim, in->d, b, e, n->fa[LB_PAD_VALUE], c->in[0], c->out);
}

static void pad_backward(const lb_node *n, lb_op_ctx *c) {
  if (!c->din[0]) return;
  const lb_shape *in = c->in_shape[0];
  int64_t b[LB_PAD_MAX_DIMS], e[LB_PAD_MAX_DIMS];
  pad_amounts(n, in->ndim, b, e);
  lb_pad_backward(c->batch, in->ndim, in->d, b, e, c->dout, c->din[0]);
}

const lb_op_def lb_op_pad = {.name = "pad", .min_inputs = 1, .max_inputs = 1, .infer = pad_infer,
                             .forward = pad_forward, .backward = pad_backward};

/* ---- concat ---- */
static lb_status concat_infer(lb_graph *g, int idx) {
  lb_node *n = &g->nodes[idx];
  const lb_shape *a = lb_in_shape(g, n, 0);
  int axis = n->ia[LB_CONCAT_AXIS];
  if (axis < 0 || axis >= a->ndim) return lb_fail(LB_ERR_ARG, "node '%s' (concat): axis %d outside the input's %d dims", n->name, axis, a->ndim);
  n->shape = *a;
  for (int j = 1; j < n->n_inputs; j++) {
    const lb_shape *b = lb_in_shape(g, n, j);
    int same = b->ndim == a->ndim;
    for (int k = 0; same && k < a->ndim; k++) same = k == axis || a->d[k] == b->d[k];
    if (!same) {
      char sa[64], sb[64];
      return lb_fail(LB_ERR_SHAPE, "node '%s' (concat): input shapes %s and %s differ outside axis %d", n->name,
                     lb_shape_str(a, sa, sizeof sa), lb_shape_str(b, sb, sizeof sb), axis);
    }
    n->shape.d[axis] += b->d[axis];
  }
  return LB_OK;
}

static void concat_dims(const lb_node *n, const lb_op_ctx *c, int64_t *outer, int64_t *inner, int64_t *d) {
  int a = n->ia[LB_CONCAT_AXIS];
  *outer = c->batch * dims_prod(c->in_shape[0], 0, a);
  *inner = dims_prod(c->in_shape[0], a + 1, c->in_shape[0]->ndim);
  for (int j = 0; j < n->n_inputs; j++) d[j] = c->in_shape[j]->d[a];
}

static void concat_forward(const lb_node *n, lb_op_ctx *c) {
  int64_t outer, inner, d[LB_NODE_MAX_INPUTS];
  concat_dims(n, c, &outer, &inner, d);
  lb_concat_forward(outer, inner, n->n_inputs, d, c->in, c->out);
}

static void concat_backward(const lb_node *n, lb_op_ctx *c) {
  int64_t outer, inner, d[LB_NODE_MAX_INPUTS];
  concat_dims(n, c, &outer, &inner, d);
  lb_concat_backward(outer, inner, n->n_inputs, d, c->dout, c->din);
}

const lb_op_def lb_op_concat = {.name = "concat", .min_inputs = 2, .max_inputs = LB_NODE_MAX_INPUTS, .infer = concat_infer,
                                .forward = concat_forward, .backward = concat_backward};

/* ---- reshape: the bytes do not move ---- */
static lb_status reshape_infer(lb_graph *g, int idx) {
  lb_node *n = &g->nodes[idx];
  const lb_shape *in = lb_in_shape(g, n, 0);
  int nd = n->ia[LB_RESHAPE_NDIM];
  if (nd < 1 || nd > LB_RESHAPE_MAX_DIMS) return lb_fail(LB_ERR_ARG, "node '%s' (reshape): %d dims, 1..%d supported", n->name, nd, LB_RESHAPE_MAX_DIMS);
  lb_shape s = {.ndim = nd};
  for (int k = 0; k < nd; k++) {
    s.d[k] = n->ia[LB_RESHAPE_D0 + k];
    if (s.d[k] <= 0) return lb_fail(LB_ERR_ARG, "node '%s' (reshape): dimension %d is %lld", n->name, k, (long long)s.d[k]);
  }
  if (lb_shape_numel(&s) != lb_shape_numel(in)) {
    char a[64], b[64];
    return lb_fail(LB_ERR_SHAPE, "node '%s' (reshape): %s and %s hold different element counts", n->name, lb_shape_str(in, a, sizeof a),
                   lb_shape_str(&s, b, sizeof b));
  }
  n->shape = s;
  return LB_OK;
}

static void reshape_forward(const lb_node *n, lb_op_ctx *c) {
  memcpy(c->out, c->in[0], (size_t)(c->batch * lb_node_numel(n)) * sizeof(float));
}

static void reshape_backward(const lb_node *n, lb_op_ctx *c) {
  if (c->din[0]) lb_add_backward((int64_t)c->batch * lb_node_numel(n), c->dout, c->din[0], NULL);
}

const lb_op_def lb_op_reshape = {.name = "reshape", .min_inputs = 1, .max_inputs = 1, .infer = reshape_infer,
                                 .forward = reshape_forward, .backward = reshape_backward};
