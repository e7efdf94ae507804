/* lowbit quant, graph side: estimators, quantized graph ops, backend profiles, the QuantPlan,
 * the transform that inserts quantizers into a float graph, and calibration.
 *
 * Ops registered by lb_quant_register_ops() (call it once before building or loading a graph
 * that contains them; the CLI does at start):
 *   "fakequant"  activation quantizer: y = Q(x), same shape. Parameters: scale (n), zero (n),
 *                alpha (1, PACT's clip; present for every estimator so layouts stay uniform).
 *   "qconv2d"    conv2d whose weight passes through a weight quantizer. Parameters: weight,
 *                [bias], w_scale (K or 1), w_zero (K or 1).
 *   "qlinear"    linear with a weight quantizer. Parameters: weight, [bias], w_scale, w_zero.
 *   "qconvbn2d"  a bias-free conv2d and the batchnorm after it, BN folded into the quantized
 *                weight (strategies freeze and fold, below). Parameters: weight, w_scale,
 *                w_zero, bn_weight (gamma), bn_bias (beta), bn_running_mean, bn_running_var.
 * A quantizer's configuration is packed into node attributes (see lb_qcfg_pack); the layouts
 * are fixed here so files stay readable. */
#ifndef LOWBIT_QGRAPH_H
#define LOWBIT_QGRAPH_H

#include "lowbit/data.h"
#include "lowbit/graph.h"
#include "lowbit/quant.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- estimators: the forward and the gradient rule of a quantizer ------------------------ */
typedef enum lb_estimator {
  LB_EST_STE = 0,  /* scale from calibration, fixed; straight-through round, no gradient where clamped */
  LB_EST_LSQ,      /* learnable scale with LSQ's gradient and grad factor 1/sqrt(N*qmax) */
  LB_EST_LSQ_PLUS, /* LSQ plus a learnable offset (affine specs) */
  LB_EST_PACT,     /* activations: learnable clip alpha, y = Q(clip(x, 0, alpha)), scale alpha/qmax;
                      weights: DoReFa (as in the PACT paper) */
  LB_EST_DOREFA,   /* weights: 2*Q01(tanh(w)/(2 max|tanh w|) + 1/2) - 1; activations: Q01(clip(x, 0, 1)) */
  LB_EST_LOG,      /* NNIE's 8-bit log grid (lb_logq_forward, quant.h) with a pure straight-through
                      gradient. "scale" / "w_scale" (per tensor, not trainable) holds c: set to max|x|
                      by calibration, then in training c <- max(c, max|x| of the batch) (max|w| for
                      weights) before quantizing, so it never decreases; state like BN's running
                      statistics, left alone in evaluation. Used as max(c, FLT_EPSILON). */
  LB_EST_COUNT
} lb_estimator;

lb_status lb_estimator_parse(const char *name, lb_estimator *e); /* "ste","lsq","lsq+","pact","dorefa","log" */
const char *lb_estimator_name(lb_estimator e);

/* What a plan assigns to one tensor. */
typedef struct lb_qcfg {
  lb_qspec spec;
  lb_estimator est;
  lb_observer_kind observer; /* how calibration sets the initial scale (STE, LSQ, LSQ+) */
  float init;                /* PACT: initial alpha (default 6) */
} lb_qcfg;

/* ---- attribute layouts ------------------------------------------------------------------- */
/* A quantizer takes 5 integer attributes starting at some base index:
 *   +0 bits, +1 flags (bit 0 signed, 1 symmetric, 2 narrow, 3 pow2 scale, 4 enabled),
 *   +2 granularity (0 tensor, 1 channel on axis 0; groups are not supported in ops yet),
 *   +3 estimator, +4 observer kind
 * and 1 float attribute (init). "enabled" off makes the quantizer the identity (calibration). */
#define LB_QCFG_IATTRS 5
enum { LB_QF_SIGNED = 1, LB_QF_SYMMETRIC = 2, LB_QF_NARROW = 4, LB_QF_POW2 = 8, LB_QF_ENABLED = 16, LB_QF_BINARY = 32 };
/* fakequant: quantizer at ia[0..4], init at fa[0]. */
#define LB_FQ_IA 0
#define LB_FQ_FA 0
/* qconv2d: the conv2d attributes (LB_CONV_*, 0..10), weight quantizer at ia[11..15], init at fa[0]. */
#define LB_QCONV_IA 11
/* qlinear: the linear attributes (LB_LINEAR_*, 0..1), weight quantizer at ia[2..6], init at fa[0]. */
#define LB_QLINEAR_IA 2
/* qconvbn2d: ia as qconv2d (conv attributes 0..10, LB_CONV_BIAS must be 0; weight quantizer at
 * ia[11..15]); fa[0] quantizer init, fa[1] BN eps, fa[2] BN momentum, fa[3] the strategy
 * (LB_BN_FOLD_FREEZE, _PYTORCH, _NAIVE or _WHITEPAPER, stored as a float; float attributes are the ones
 * left free, and small integers are exact in a float). */
enum { LB_QCONVBN_EPS = 1, LB_QCONVBN_MOMENTUM = 2, LB_QCONVBN_STRATEGY = 3 }; /* fa */

/* ---- BN folding during QAT (methods/qat.md 4.3, MQBench's ablation) ---------------------- *
 * Applies to a conv2d whose only consumer is a batchnorm. sigma_run = sqrt(running_var + eps).
 *  NONE    conv -> FQ(w) -> BN, unfolded (the academic setting).
 *  MERGE   BN folded once into w and b with the running statistics, the BN node deleted
 *          (lb_graph_merge_bn, run before quantizers are inserted): no BN statistics afterwards.
 *  FREEZE  qconvbn2d: y = conv(x, FQ(w*gamma/sigma_run)) + (beta - gamma*mu_run/sigma_run) in
 *          training and evaluation; the running statistics are frozen; w, gamma, beta train.
 *  PYTORCH qconvbn2d, PyTorch's ConvBn2d (MQBench strategy 4): z = conv(x, FQ(w*gamma/sigma_run))
 *          divided per channel by gamma/sigma_run, then an ordinary BN on z: batch statistics
 *          and a running-statistics update in training; in evaluation exactly the FREEZE formula
 *          (conv with the folded weight plus the folded bias).
 *  NAIVE   qconvbn2d, MQBench strategy 2: in training a float conv z = conv(x, w) gives the batch
 *          mean mu_B and sigma_B = sqrt(var_B + eps) (biased variance; the running statistics are
 *          updated from them as BN does), and y = conv(x, FQ(w*gamma/sigma_B)) + (beta -
 *          gamma*mu_B/sigma_B); gradients flow through the batch statistics into w and x.
 *  WHITEPAPER  qconvbn2d, MQBench strategy 3 (Krishnamoorthi's correction): the weight is folded
 *          with the running statistics for quantization, and in training the output is
 *          rescaled to batch statistics: y = conv(x, FQ(w*gamma/sigma_run)) * sigma_run/sigma_B +
 *          (beta - gamma*mu_B/sigma_B), mu_B/sigma_B from the float conv as in NAIVE (sigma_run
 *          is read before this step's running update). The paper's switch to running statistics
 *          after a freeze step is not built: it happens at evaluation only.
 *  Both evaluate exactly like FREEZE. */
typedef enum lb_bn_fold {
  LB_BN_FOLD_NONE = 0,
  LB_BN_FOLD_MERGE,
  LB_BN_FOLD_FREEZE,
  LB_BN_FOLD_PYTORCH,
  LB_BN_FOLD_NAIVE,
  LB_BN_FOLD_WHITEPAPER,
  LB_BN_FOLD_COUNT
} lb_bn_fold;

/* "none", "merge", "freeze", "fold", "naive", "whitepaper" */
lb_status lb_bn_fold_parse(const char *name, lb_bn_fold *f);
const char *lb_bn_fold_name(lb_bn_fold f);
/* Whether conv2d node `conv` of g is followed by a batchnorm that it alone feeds: that node's
 * index, else -1. A conv that is the graph output, or has any other consumer, is not. */
int lb_bn_after_conv(const lb_graph *g, int conv);
/* The float transform of MERGE: a copy of g in which every conv2d -> batchnorm pair
 * (lb_bn_after_conv) is one conv2d with a bias: w' = w*gamma/sigma_run,
 * b' = beta + (b - mu_run)*gamma/sigma_run (b = 0 without a bias); the BN node is gone and its
 * consumers read the conv. map (may be NULL; g->n_nodes entries) receives each old node's new
 * index (a merged BN maps to its conv). g must have values. */
lb_status lb_graph_merge_bn(const lb_graph *g, lb_graph **out, int *map);

void lb_qcfg_pack(const lb_qcfg *c, int enabled, int *ia, float *fa);
/* Validates while unpacking (clear error naming what is wrong). */
lb_status lb_qcfg_unpack(const int *ia, const float *fa, lb_qcfg *c, int *enabled);

/* Register fakequant, qconv2d, qlinear and qconvbn2d (idempotent). */
lb_status lb_quant_register_ops(void);

/* ---- backend profiles: which specs a target allows, as data ------------------------------ */
typedef struct lb_backend {
  const char *name;
  const char *summary;
  lb_qspec weight;            /* template; bits come from the plan unless fixed_bits */
  lb_qspec act;               /* template for activations */
  int act_unsigned_after_relu; /* non-negative inputs get an unsigned spec (adaptive signedness) */
  int fixed_bits;             /* 0: any bit width; 8: the backend only runs 8-bit */
  int first_last_8bit;        /* first and last layer (weights and input) stay at 8 bits */
  int quantize_add_inputs;    /* besides conv/linear inputs, the inputs of residual adds and pools */
  int log_grid;               /* 1: weights and activations on NNIE's 8-bit log grid: every quantizer
                                 gets LB_EST_LOG (the request may say ste or log, nothing else), the
                                 templates only fix 8-bit signed per-tensor; 0: uniform grids */
} lb_backend;

const lb_backend *lb_backend_find(const char *name);
const lb_backend *const *lb_backends(void); /* NULL-terminated */

/* ---- the plan ---------------------------------------------------------------------------- */
typedef struct lb_qplan_entry {
  int node;            /* a conv2d/linear (weight) or any node whose input is quantized */
  int has_weight;
  lb_qcfg weight;
  int n_inputs;        /* inputs of `node` that get an activation quantizer */
  int input_index[LB_NODE_MAX_INPUTS];
  lb_qcfg input[LB_NODE_MAX_INPUTS];
} lb_qplan_entry;

typedef struct lb_qplan {
  char backend[32];
  int bn_fold;         /* lb_bn_fold, from the request */
  int n;
  lb_qplan_entry *e;
} lb_qplan;

typedef struct lb_qplan_request {
  const char *backend;   /* profile name */
  int wbits, abits;
  lb_estimator est;
  lb_observer_kind w_observer, a_observer;
  int bn_fold;           /* lb_bn_fold; 0 = LB_BN_FOLD_NONE */
} lb_qplan_request;

/* Build a plan for a float graph: fails clearly if the graph already holds quantizers, if the
 * backend is unknown, or if the request breaks the backend's rules (e.g. 4 bits on an
 * 8-bit-only backend). */
lb_status lb_qplan_make(const lb_graph *g, const lb_qplan_request *r, lb_qplan *plan);
void lb_qplan_free(lb_qplan *plan);
/* Per-layer override of a plan made from g: the conv2d/linear node named `layer` gets wbits for
 * its weight and abits for its input quantizer (0 keeps what the plan chose; signedness and the
 * rest of each spec stay). wbits = abits = -1 removes the layer's entry, so it stays a float
 * layer (lowbit check then reports it on every backend but academic). Clear errors: unknown
 * node, a node that is not a planned conv2d/linear, bits outside 1..16, and bits that break
 * the backend (fixed-bit backends). Mixed-precision searches set per-layer bits through this. */
/* Binary activation quantizers of the plan that read a non-negative tensor (after a ReLU): their
 * output is +1 everywhere. Returns how many; the first such layer's name goes to first (may be
 * NULL). Backends with only signed activations (qdq, tvm, ...) make them at --a 1. */
int lb_qplan_constant_binary(const lb_graph *g, const lb_qplan *plan, char *first, size_t cap);
lb_status lb_qplan_override(const lb_graph *g, lb_qplan *plan, const char *layer, int wbits, int abits);
/* Apply overrides written "NAME=W/A[,NAME=W/A...]" with W and A numbers, "-" for unchanged,
 * or NAME=float (the same as -1/-1 above). */
lb_status lb_qplan_override_spec(const lb_graph *g, lb_qplan *plan, const char *spec);
/* A new graph with the plan applied: conv2d/linear replaced by qconv2d/qlinear (parameter
 * values copied by name) and fakequant nodes inserted before the planned inputs. Quantizers
 * start disabled until calibration. BN folding (plan->bn_fold): MERGE runs lb_graph_merge_bn
 * first; FREEZE and PYTORCH turn each planned bias-free conv2d -> batchnorm pair into one
 * qconvbn2d named after the conv (<bn>.weight, .bias, .running_mean, .running_var copied to
 * <conv>.bn_weight, .bn_bias, .bn_running_mean, .bn_running_var); consumers of the BN read it.
 * Pairs that do not qualify (a conv with a bias, or feeding more than the BN) stay unfolded. */
lb_status lb_quant_apply(const lb_graph *g, const lb_qplan *plan, lb_graph **qg);
/* Run `images` images of d through qg in evaluation mode with every quantizer disabled, feed
 * the observers (weights once, activations every batch), write the initial scale/zero/alpha
 * parameters, then enable every quantizer. A qconvbn2d's weight observer sees the folded
 * weight w*gamma/sigma_run, the tensor its quantizer quantizes. */
lb_status lb_quant_calibrate(lb_graph *qg, const lb_dataset *d, const lb_augment *norm, int images, int batch);
/* Whether g contains quantizer nodes. */
int lb_graph_is_quantized(const lb_graph *g);

/* ---- checking a quantized graph against a backend's rules -------------------------------- */
/* Whether node `node`'s output is known to be non-negative: a relu/relu6, possibly through
 * maxpool, avgpool, gap, flatten, dropout or fakequant. The graph input is not. The plan uses
 * it for adaptive signedness; the check uses it to judge unsigned activation quantizers. */
int lb_quant_nonneg_output(const lb_graph *g, int node);
/* Every rule of backend b that the quantizers of g break (methods/qat.md 4.4, backend.c):
 *  - specs: bit width (fixed-bit backends; first and last conv/linear and their inputs at 8
 *    bits where first_last_8bit), signedness, symmetry, narrow range, granularity and scale
 *    kind against the weight or activation template (an unsigned activation is allowed only
 *    where act_unsigned_after_relu and lb_quant_nonneg_output say so); the grid: the log
 *    estimator on every quantizer of a log_grid backend, on none of a uniform one;
 *  - placement: a float conv2d/linear (no weight quantizer), a conv/linear input without an
 *    activation quantizer, an add/pool input without one (quantize_add_inputs backends), a
 *    quantizer on anything but conv/linear inputs (other backends);
 *  - a graph without quantizers is one violation.
 * Whether quantizers are enabled (calibrated) is not judged. One line per violation, each
 * naming the node and the rule, "\n"-terminated, written to report (NUL-terminated; lines that
 * do not fit are left out whole; report may be NULL when cap is 0). *violations counts all of
 * them. Returns LB_OK whatever the verdict; errors only for bad arguments. */
lb_status lb_backend_check(const lb_graph *g, const lb_backend *b, char *report, size_t cap, int *violations);

#ifdef __cplusplus
}
#endif
#endif
