/* The ONNX importer's shared state (private): a table of named values, each either a constant
 * (folded at import) or a network tensor (a lowbit node), and the parameter data waiting for
 * the graph's values to be allocated. */
#ifndef LOWBIT_DEPLOY_ONNX_IMPORT_INTERNAL_H
#define LOWBIT_DEPLOY_ONNX_IMPORT_INTERNAL_H

#include "deploy/onnx/onnx_io.h"
#include "lowbit/graph.h"

/* The batch size inside constant integer tensors: Shape of a network tensor yields it for
 * dimension 0, and moving ops (Gather, Concat, Unsqueeze, ...) carry it along; arithmetic on it
 * is refused, and a Reshape target holding it keeps the batch. */
#define LB_ONNX_BATCH (INT64_MIN + 0x4c42)

enum { IMP_CONST = 1, IMP_NET = 2 };

typedef struct imp_value {
  char *name;
  int kind;
  lb_onnx_tensor t;          /* IMP_CONST */
  int node;                  /* IMP_NET: the lowbit node holding it */
  int ndim;                  /* IMP_NET: its ONNX shape per sample (without the batch) */
  int64_t dims[LB_MAX_DIMS];
} imp_value;

typedef struct imp_param {
  int node, index; /* the index-th parameter of the node */
  float *data;     /* owned */
  int64_t n;
} imp_param;

typedef struct imp {
  const Onnx__ModelProto *m;
  int64_t opset;
  lb_graph *g;
  imp_value *v;
  int nv, capv;
  imp_param *p;
  int np, capp;
  const Onnx__NodeProto *cur; /* the node being imported, for messages */
  int folded, aliased;
} imp;

/* Fail with "node 'NAME' (OP, opset N): ..." for the current node. */
lb_status imp_err(imp *im, lb_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
imp_value *imp_find(imp *im, const char *name);
/* Input k of the current node: NULL when absent or the empty name (an omitted optional input). */
imp_value *imp_input(imp *im, int k);
/* Define an output of the current node. imp_set_const takes ownership of t (also on failure). */
lb_status imp_set_const(imp *im, const char *name, lb_onnx_tensor *t);
lb_status imp_set_net(imp *im, const char *name, int node, int ndim, const int64_t *dims);
/* Add a lowbit node named after the current ONNX node (plus suffix, may be ""). */
lb_status imp_add_node(imp *im, const char *op, const char *suffix, const int *in, int n_in, const int *ia, int n_ia,
                       const float *fa, int n_fa, int *id);
/* Queue data for parameter `index` of node (takes ownership of data, also on failure). */
lb_status imp_add_param(imp *im, int node, int index, float *data, int64_t n);
/* How many node inputs and graph outputs read the value `name`. */
int imp_consumers(const imp *im, const char *name);
/* The queued data of a parameter (NULL if none). */
imp_param *imp_find_param(imp *im, int node, int index);
/* The lowbit node of a network value, with a reshape inserted when the node's own shape differs
 * from the value's ONNX shape (gap gives (C), ONNX says (C,1,1)). */
lb_status imp_net_node(imp *im, imp_value *v, int *node);

/* ---- helpers shared by folding and mapping (fold.c) ---- */
/* Input k as a 1-D constant integer list (at most cap values). */
lb_status lb_onnx_const_ints(imp *im, int k, int64_t *out, int cap, int *count);
/* Axis in [-rank, rank) to [0, rank). */
lb_status lb_onnx_norm_axis(imp *im, int64_t axis, int rank, int *out);
/* ONNX Slice semantics on one dimension: clamp start/end, give the first index and the count. */
void lb_onnx_slice_norm(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *first, int64_t *count);
/* Slice inputs 1..4 of the current node applied to a tensor of the given dims. */
lb_status lb_onnx_slice_params(imp *im, int rank, const int64_t *dims, int64_t *first, int64_t *count, int64_t *step);
/* Output dims of Squeeze (unsqueeze = 0) or Unsqueeze on a tensor of the given dims. */
lb_status lb_onnx_squeeze_dims(imp *im, const Onnx__NodeProto *n, int unsqueeze, int rank, const int64_t *dims, int *ord,
                               int64_t *odims);
/* Reshape target (0 = copy unless allowzero, one -1 inferred) for a tensor of the given dims. */
lb_status lb_onnx_reshape_dims(imp *im, const Onnx__NodeProto *n, int rank, const int64_t *dims, const int64_t *want, int nw,
                               int64_t *out);

/* Evaluate the current node on constant inputs (every input constant, or none). */
lb_status lb_onnx_fold(imp *im, const Onnx__NodeProto *n);
/* Map the current node onto lowbit nodes (at least one input is a network tensor). */
lb_status lb_onnx_map(imp *im, const Onnx__NodeProto *n);
/* Shape of a network tensor: a constant (the batch as LB_ONNX_BATCH). */
lb_status lb_onnx_shape_of_net(imp *im, const Onnx__NodeProto *n, const imp_value *x);

#endif
