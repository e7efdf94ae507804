/* lowbit graph: a static DAG of nodes with shape inference, named parameters in one allocation,
 * an executor (forward in order, backward in reverse), the model zoo and the model file.
 * The graph does not know which quantization method is used: ops are looked up by name in a
 * registry, and later parts register their own ops (e.g. fake-quant nodes). */
#ifndef LOWBIT_GRAPH_H
#define LOWBIT_GRAPH_H

#include "lowbit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LB_NAME_MAX 64
#define LB_PARAM_NAME_MAX 96
#define LB_NODE_MAX_INPUTS 4
#define LB_NODE_IATTRS 16
#define LB_NODE_FATTRS 8
#define LB_NODE_MAX_PARAMS 8

typedef struct lb_graph lb_graph;
typedef struct lb_op_def lb_op_def;

/* How a parameter is initialised by lb_graph_init_params. fan is the fan-in. */
typedef enum lb_init_kind {
  LB_INIT_ZEROS = 0,
  LB_INIT_ONES,
  LB_INIT_KAIMING_NORMAL, /* N(0, 2/fan): for weights followed by ReLU */
  LB_INIT_UNIFORM_FAN,    /* U(-1/sqrt(fan), 1/sqrt(fan)): PyTorch's default for linear layers */
} lb_init_kind;

typedef struct lb_param {
  char name[LB_PARAM_NAME_MAX]; /* "<node>.<suffix>", e.g. "layer1.0.conv1.weight" */
  lb_shape shape;
  int64_t offset;               /* in floats, inside lb_graph.values */
  int64_t numel;
  int trainable;                /* 0: a buffer such as BN running statistics */
  int decay;                    /* weight decay applies (weights yes; biases and BN no) */
  lb_init_kind init;
  int64_t fan;
  int node;                     /* owning node */
} lb_param;

typedef struct lb_node {
  char name[LB_NAME_MAX];
  const lb_op_def *op;
  int n_inputs;
  int inputs[LB_NODE_MAX_INPUTS]; /* indices of earlier nodes; node 0 is the graph input */
  int ia[LB_NODE_IATTRS];         /* integer attributes, meaning fixed by the op */
  float fa[LB_NODE_FATTRS];       /* float attributes */
  int first_param, n_params;
  lb_shape shape;                 /* output shape of ONE sample (no batch dimension) */
} lb_node;

struct lb_graph {
  char model[LB_NAME_MAX]; /* zoo name, or what the builder calls it */
  int n_nodes, cap_nodes;
  lb_node *nodes;
  int n_params, cap_params;
  lb_param *params;
  int64_t n_values;        /* floats in values */
  float *values;           /* every parameter and buffer back to back (NULL until allocated) */
  int output;              /* index of the output node (the last one added, by default) */
};

/* ---- what an op implementation sees at run time ----------------------------------------- */
typedef struct lb_op_ctx {
  int batch;
  int training;
  const float *in[LB_NODE_MAX_INPUTS];
  const lb_shape *in_shape[LB_NODE_MAX_INPUTS]; /* per sample */
  float *out;
  const float *dout;                            /* backward only */
  float *din[LB_NODE_MAX_INPUTS];               /* backward only; NULL = not needed */
  /* backward only: bit j set when no gradient reached din[j] yet in this pass and the op's
   * definition has backward_assigns, so it must overwrite din[j] (it holds garbage) instead of
   * accumulating; for other ops the executor zeroes such a din first */
  unsigned din_fresh;
  float *param[LB_NODE_MAX_PARAMS];              /* this node's parameters, in declaration order */
  float *dparam[LB_NODE_MAX_PARAMS];              /* their gradients (NULL for buffers) */
  /* lb_layout of each input / of the output (and of the matching gradients): NCHW unless the
   * op's takes_nchw16c allowed nChw16c and the executor chose it */
  unsigned char in_layout[LB_NODE_MAX_INPUTS], out_layout;
  void *aux;                                    /* saved between forward and backward */
  float *scratch;
  lb_rng *rng;                                  /* training-time randomness (dropout, noise) */
} lb_op_ctx;

struct lb_op_def {
  const char *name;
  int min_inputs, max_inputs;
  /* Check attributes and input shapes, set node->shape, declare parameters. */
  lb_status (*infer)(lb_graph *g, int node);
  /* Bytes of state saved by forward for backward, and floats of scratch, at a batch size. */
  size_t (*aux_bytes)(const lb_graph *g, const lb_node *n, int batch);
  size_t (*scratch_floats)(const lb_graph *g, const lb_node *n, int batch);
  void (*forward)(const lb_node *n, lb_op_ctx *c);
  void (*backward)(const lb_node *n, lb_op_ctx *c); /* accumulates into din and dparam */
  int64_t (*macs)(const lb_graph *g, const lb_node *n); /* per sample; NULL = 0 */
  /* Optional: the op with a following ReLU absorbed, y = max(0, op(x)). The executor uses these
   * when a ReLU is the node's only consumer (one pass over memory instead of two); the ReLU node
   * then shares the node's buffers. backward_relu reads the fused output from c->out. */
  void (*forward_relu)(const lb_node *n, lb_op_ctx *c);
  void (*backward_relu)(const lb_node *n, lb_op_ctx *c);
  /* 1: backward (and backward_relu) honor c->din_fresh, so the executor need not zero the
   * gradient buffers they write first (a full pass over memory each, per training step). */
  int backward_assigns;
  /* Optional: may the tensor at `port` (-1: the output, j >= 0: input j) be in nChw16c (see
   * lb_layout in nn.h)? NULL: every tensor NCHW. The fused executor keeps a tensor in nChw16c
   * when every op touching it says yes, so no kernel between oneDNN convolutions reorders. */
  int (*takes_nchw16c)(const lb_graph *g, const lb_node *n, int port);
  /* 1: inputs and output must share one layout (element-wise ops, batch norm). */
  int same_layout;
};

/* ---- op registry ------------------------------------------------------------------------- */
/* Built-in ops: input, conv2d, linear, batchnorm, relu, relu6, hardtanh, maxpool, avgpool, gap,
 * add, flatten, dropout. Other parts add theirs (at most 64 extra). */
const lb_op_def *lb_op_find(const char *name);
lb_status lb_op_register(const lb_op_def *def);

/* Attribute layouts of the built-in ops (indices into ia / fa). */
enum { LB_CONV_K, LB_CONV_R, LB_CONV_S, LB_CONV_SH, LB_CONV_SW, LB_CONV_PH, LB_CONV_PW, LB_CONV_DH, LB_CONV_DW,
       LB_CONV_GROUPS, LB_CONV_BIAS };
enum { LB_LINEAR_OUT, LB_LINEAR_BIAS };
enum { LB_POOL_KH, LB_POOL_KW, LB_POOL_SH, LB_POOL_SW, LB_POOL_PH, LB_POOL_PW, LB_POOL_COUNT_PAD, LB_POOL_CEIL };
enum { LB_BN_EPS, LB_BN_MOMENTUM };     /* fa */
enum { LB_HARDTANH_LO, LB_HARDTANH_HI }; /* fa */
enum { LB_DROPOUT_P };                   /* fa */

/* ---- building ---------------------------------------------------------------------------- */
/* A graph whose node 0 is the input, with per-sample shape (C,H,W) or (F). */
lb_status lb_graph_create(lb_graph **g, const char *model_name, lb_shape input_shape);
void lb_graph_free(lb_graph *g);
/* Append a node. Inputs must be existing nodes. Runs shape inference (clear error naming the
 * node on failure). *id receives the new node index. ia/fa may be NULL (zeros). */
lb_status lb_graph_add(lb_graph *g, const char *op, const char *name, const int *inputs, int n_inputs,
                       const int *ia, int n_ia, const float *fa, int n_fa, int *id);
/* For op infer functions: declare parameter `suffix` of node `node`. */
lb_status lb_graph_declare_param(lb_graph *g, int node, const char *suffix, lb_shape shape, int trainable,
                                 int decay, lb_init_kind init, int64_t fan);
/* Allocate values (one allocation) if not yet done; zero-filled. */
lb_status lb_graph_alloc_values(lb_graph *g);
/* Initialise every parameter by its init kind, drawing from a generator seeded with seed. */
lb_status lb_graph_init_params(lb_graph *g, uint64_t seed);
const lb_param *lb_graph_find_param(const lb_graph *g, const char *name);
int lb_graph_find_node(const lb_graph *g, const char *name);
int64_t lb_graph_trainable_count(const lb_graph *g);
int64_t lb_graph_macs(const lb_graph *g); /* per sample */

/* ---- model zoo ---------------------------------------------------------------------------- */
/* Names: mlp, lenet5, resnet8, resnet20, mobilenetv2-tiny. Input (C,H,W) with C = 1 or 3. */
lb_status lb_zoo_build(const char *name, int c, int h, int w, int classes, lb_graph **g);
/* NULL-terminated list of zoo names. */
const char *const *lb_zoo_names(void);

/* ---- executor ----------------------------------------------------------------------------- */
typedef struct lb_exec lb_exec;

/* Plan memory for batches up to max_batch: one arena for activations, their gradients, saved
 * state and scratch; one allocation for parameter gradients (parallel to g->values). */
lb_status lb_exec_create(lb_exec **e, lb_graph *g, int max_batch);
/* The same, with op fusion (BN+ReLU, add+ReLU) and the nChw16c layout switched off when
 * fuse = 0. Fused and unfused executors compute the same bits (two whole-tensor sums aside,
 * which meet nChw16c elements in another order: convolution bias gradients and fake quantizers'
 * scale / clip gradients); the unfused one exists to prove that and to
 * inspect every node's own output (with fusion, a fused node's output buffer holds its ReLU's
 * output, and may be in nChw16c). */
lb_status lb_exec_create_ex(lb_exec **e, lb_graph *g, int max_batch, int fuse);
void lb_exec_free(lb_exec *e);
/* x: (batch, input shape). training: batch statistics, dropout on (rng required then).
 * Returns the output activations (batch, output shape), valid until the next forward. */
const float *lb_exec_forward(lb_exec *e, const float *x, int batch, int training, lb_rng *rng);
/* Backward of the last training forward from d(loss)/d(output). Accumulates into the
 * parameter gradients (zero them with lb_exec_zero_grad once per step). */
void lb_exec_backward(lb_exec *e, const float *doutput);
void lb_exec_zero_grad(lb_exec *e);
/* Parameter gradients, parallel to g->values (same offsets). */
float *lb_exec_grads(lb_exec *e);
/* The output activations of any node after a forward (for inspection and tests), in the
 * node's layout: NCHW always with fuse = 0; with fusion, nodes between oneDNN convolutions are
 * kept in nChw16c (lb_exec_node_layout says which). */
const float *lb_exec_node_output(const lb_exec *e, int node);
/* The lb_layout of a node's output in this executor. */
int lb_exec_node_layout(const lb_exec *e, int node);
size_t lb_exec_arena_bytes(const lb_exec *e);
/* Optional per-node timing for benchmarks: seconds are added to fwd[i] / bwd[i] (arrays of
 * g->n_nodes doubles, owned by the caller) on every pass. NULL turns it off. */
void lb_exec_set_profile(lb_exec *e, double *fwd, double *bwd);

/* ---- model file (.lbm) -------------------------------------------------------------------- */
/* A model file holds the graph, its parameters, and extra tagged sections that other parts own
 * (optimizer state, training position, quantization plan). Layout (little endian):
 *   "LOWBITM\n" (8 bytes), u32 version, u32 section count,
 *   sections: char tag[16] (NUL padded), u64 length, bytes,
 *   u32 CRC-32 of everything before it.
 * Written to "<path>.tmp.<pid>" and renamed into place. */
#define LB_LBM_VERSION 1

typedef struct lb_section {
  char tag[16];
  void *data;
  uint64_t len;
} lb_section;

lb_status lb_lbm_save(const char *path, const lb_graph *g, const lb_section *extra, int n_extra);
/* Loads and checks everything (magic, version, lengths, checksum, graph consistency).
 * extra (may be NULL) receives the other sections, malloc'ed; free with lb_sections_free. */
lb_status lb_lbm_load(const char *path, lb_graph **g, lb_section **extra, int *n_extra);
/* The same from bytes in memory; `what` names the source in error messages. */
lb_status lb_lbm_load_bytes(const uint8_t *data, size_t len, const char *what, lb_graph **g, lb_section **extra,
                            int *n_extra);
void lb_sections_free(lb_section *s, int n);
const lb_section *lb_sections_find(const lb_section *s, int n, const char *tag);

#ifdef __cplusplus
}
#endif
#endif
