/* The unit analysis of a quantized graph (internal to deploy): which node computes each quantized
 * tensor, and the integer constants of that computation. Lowering turns units into program steps;
 * the deploy-exact simulation evaluates the same units on the graph with float arithmetic on
 * integer values. Both read the constants from here, so they share one definition of every
 * multiplier, bias and clamp (docs/deploy.md). */
#ifndef LOWBIT_DEPLOY_UNITS_H
#define LOWBIT_DEPLOY_UNITS_H

#include "lowbit/deploy.h"
#include "lowbit/nn.h"

typedef enum lb_ukind {
  LB_U_INPUT = 0, /* graph input -> fakequant */
  LB_U_CONV,      /* qconv2d / qconvbn2d [-> batchnorm] [-> act, maxpool...] -> fakequant */
  LB_U_LINEAR,    /* qlinear [-> batchnorm] [-> act] -> fakequant */
  LB_U_ADD,       /* add(q, q) [-> act] -> fakequant */
  LB_U_GAP,       /* gap(q) [-> flatten/dropout] -> fakequant */
  LB_U_AVGPOOL,   /* avgpool(q) -> fakequant */
  LB_U_RESCALE,   /* q [-> maxpool, act] -> fakequant (another grid) */
  LB_U_MAXPOOL,   /* maxpool(q) read directly by a core: same grid */
  LB_U_OUT_ACC,   /* the graph output is qconv/qlinear [-> batchnorm]: float (acc + bias_q) * scale */
  LB_U_OUT_CODES, /* the graph output is a quantized tensor: dequantized */
} lb_ukind;

/* The grid of a quantized tensor. */
typedef struct lb_qgrid {
  float scale;
  int32_t zp, qmin, qmax;
  int bits, is_signed;
} lb_qgrid;

#define LB_UNIT_MAX_POOLS 4

typedef struct lb_unit {
  int kind;
  int node;          /* the node whose output is the unit's tensor (fakequant, maxpool, graph output) */
  int core;          /* the node that computes (conv, add, pool, ...; the fakequant for RESCALE's source) */
  int operand[2];    /* units read (indices into the unit list), -1 */
  int bn;            /* batchnorm folded after the core, -1 */
  int n_pools, pools[LB_UNIT_MAX_POOLS]; /* maxpools applied to the output codes (CONV) or to the
                                            operand codes before rescaling (RESCALE) */
  lb_qgrid y;        /* output grid (codes units) */
  int32_t lo, hi;    /* output clamp (activation fused), within [qmin, qmax] */
  /* ADD: m1/m2 share the shift; RESCALE/GAP: m1 */
  int32_t m1, m2, shift;
  int32_t *avg_m, *avg_s; /* AVGPOOL: index = window count, 1..kh*kw (owned) */
  int avg_max;
} lb_unit;

typedef struct lb_units {
  int n;
  lb_unit *u;
  int *of_node; /* node -> unit whose tensor it is (fakequant / maxpool / output), -1 */
  int n_nodes;
} lb_units;

/* Analyse qg (eval mode). Clear LB_ERR_UNSUPPORTED naming the node for anything without an
 * integer form. */
lb_status lb_units_build(const lb_graph *qg, lb_units *us);
void lb_units_free(lb_units *us);

/* Per output channel constants of a CONV / LINEAR / OUT_ACC unit: weight codes (K, per) and
 * acc' = acc + bias_q; codes units: y = requant(neg ? -acc' : acc', mult, shift, zp, lo, hi);
 * OUT_ACC: y = (float)acc' * scale[k]. bound[k] = max |acc| over any input (sum |w - zw| * max|x - zx|). */
typedef struct lb_uweights {
  int k;
  int64_t per;
  int wbits, w_signed;
  int8_t *codes;
  int32_t *wzp, *bias_q, *mult, *shift, *neg;
  float *scale;
  double *bound;
  int any_neg, any_wzp;
} lb_uweights;

lb_status lb_unit_weights(const lb_graph *qg, const lb_units *us, int unit, lb_uweights *w);
void lb_uweights_free(lb_uweights *w);

/* The convolution geometry of a CONV / OUT_ACC conv unit for a batch. */
lb_conv2d_desc lb_unit_conv_desc(const lb_graph *qg, const lb_unit *u, int batch);
/* The pool geometry of a maxpool/avgpool node for a batch. */
lb_pool_desc lb_unit_pool_desc(const lb_graph *qg, int node, int batch);
/* Name of a node's op. */
const char *lb_unit_op(const lb_graph *qg, int node);

#endif
