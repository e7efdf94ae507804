/* The unit analysis of a quantized graph (internal to deploy): which node computes each quantized
 * tensor, and the integer constants of that computation. Lowering turns units into program steps;
 * the deploy-exact simulation evaluates the same units on the graph with float arithmetic on
 * integer values. Both read the constants from here, so they share one definition of every
 * multiplier, bias and clamp (docs/deploy.md). */
#ifndef LOWBIT_DEPLOY_UNITS_H
#define LOWBIT_DEPLOY_UNITS_H

#include "lowbit/deploy.h"
#include "lowbit/ikernel.h"
#include "lowbit/nn.h"

typedef enum lb_ukind {
  LB_U_INPUT = 0, /* graph input, or a float unit (operand 0), -> fakequant */
  LB_U_CONV,      /* qconv2d / qconvbn2d [-> batchnorm] [-> act, maxpool...] -> fakequant */
  LB_U_LINEAR,    /* qlinear [-> batchnorm] [-> act] -> fakequant */
  LB_U_ADD,       /* add(q, q) [-> act] -> fakequant */
  LB_U_GAP,       /* gap(q) [-> flatten/dropout] -> fakequant */
  LB_U_AVGPOOL,   /* avgpool(q) -> fakequant */
  LB_U_RESCALE,   /* q [-> maxpool, slice, pad, act] -> fakequant (another grid) */
  LB_U_MAXPOOL,   /* maxpool(q) read directly by a core: same grid */
  LB_U_MOVE,      /* slice/pad/concat of quantized tensors read directly by a core: same grid;
                     or fq(concat(float...)): the concat of its pieces, [-> max pool, slice, pad] */
  LB_U_OUT_ACC,   /* the graph output is qconv/qlinear [-> batchnorm]: float (acc + bias_q) * scale */
  LB_U_OUT_CODES, /* the graph output is a quantized tensor: dequantized */
  /* a tensor the profile leaves unquantized but an add or global pool reads (the academic
     profile's residual stream): float, computed as the deploy-exact simulation defines it */
  LB_U_FLOAT_ACC, /* qconv/qlinear [-> batchnorm] [-> clamps]: fmaf((float)acc, scale, fbias), clamped */
  LB_U_FLOAT_ADD, /* add(float, float) [-> clamps] */
  LB_U_FLOAT_GAP, /* gap(float): the mean, summed in double */
  LB_U_FLOAT_MOVE, /* slice / pad (value 0) of a float tensor [-> clamps] */
} lb_ukind;

static inline int lb_ukind_float(int kind) { return kind >= LB_U_FLOAT_ACC; }

/* The grid of a quantized tensor. */
typedef struct lb_qgrid {
  float scale;
  int32_t zp, qmin, qmax;
  int bits, is_signed;
  int binary; /* codes -1/+1 (bits 1, signed, zp 0): every producer takes a sign (lb_binarize) */
} lb_qgrid;

#define LB_UNIT_MAX_IN 4   /* operands (a concat reads up to four) */
#define LB_UNIT_MAX_POST 8 /* max pools, slices and pads between a core and its quantizer */

typedef struct lb_unit {
  int kind;
  int node;          /* the node whose output is the unit's tensor (fakequant, maxpool, graph output) */
  int core;          /* the node that computes (conv, add, pool, ...; the fakequant for RESCALE's source) */
  int operand[LB_UNIT_MAX_IN]; /* units read (indices into the unit list), -1 */
  int bn;            /* batchnorm folded after the core, -1 */
  /* maxpool, slice and pad nodes applied in this order to the core's output codes (on y; for
   * RESCALE after the rescale: requantization is monotone, so max pools commute with it) */
  int n_post, post[LB_UNIT_MAX_POST];
  int32_t post_fill[LB_UNIT_MAX_POST]; /* pad: the code of its value on y (clamps after it applied) */
  int32_t fill;      /* MOVE of a pad: the code of the pad value on the operand's grid */
  int piece;         /* one input of a concat of float tensors, on the concat's quantizer grid:
                        node is that input (its tensor is an intermediate, not a graph tensor) */
  lb_qgrid y;        /* output grid (codes units) */
  int32_t lo, hi;    /* output clamp (activation fused), within [qmin, qmax] */
  float flo, fhi;    /* float units: the clamps fused, -inf/+inf when none */
  /* ADD: m1/m2 share the shift; RESCALE/GAP: m1 */
  int32_t m1, m2, shift;
  int32_t *avg_m, *avg_s; /* AVGPOOL: index = window count, 1..kh*kw (owned) */
  int avg_max;
} lb_unit;

typedef struct lb_units {
  int n;
  lb_unit *u;
  int *of_node; /* node -> unit whose tensor it is (fakequant / maxpool / output), -1 */
  int *float_of_node; /* node -> float unit whose tensor it is, -1 */
  int n_nodes;
} lb_units;

/* Analyse qg (eval mode). Clear LB_ERR_UNSUPPORTED naming the node for anything without an
 * integer form. */
lb_status lb_units_build(const lb_graph *qg, lb_units *us);
void lb_units_free(lb_units *us);

/* Per output channel constants of a CONV / LINEAR / OUT_ACC / FLOAT_ACC unit: weight codes (K, per); codes
 * units: p = acc * mult + bias_p with bias_p = lb_bias_product(bias_q, mult, bfrac) (the bias in
 * product units), y = clamp(zp + rshift_rne(neg ? -p : p, shift), lo, hi) (lb_unit_requant);
 * OUT_ACC, FLOAT_ACC: y = fmaf((float)acc, scale[k], fbias[k]), fbias the bias in output units. bound[k] = max |acc| over any input
 * (sum |w - zw| * max|x - zx|). */
typedef struct lb_uweights {
  int k;
  int64_t per;
  int wbits, w_signed;
  int8_t *codes;
  int32_t *wzp, *bias_q, *bfrac, *mult, *shift, *neg;
  float *scale, *fbias;
  double *bound;
  int any_neg, any_wzp;
} lb_uweights;
/* Channel j's pre-shift product +-(acc * M + bias_p), the sign carried (the engine's arithmetic). */
static inline int64_t lb_unit_product(const lb_uweights *w, int j, int32_t acc) {
  int64_t p = (int64_t)acc * w->mult[j] + lb_bias_product(w->bias_q[j], w->mult[j], w->bfrac[j]);
  return w->neg[j] ? -p : p;
}
/* The code of channel j's accumulator acc in a codes unit. */
static inline int32_t lb_unit_requant(const lb_uweights *w, int j, int32_t acc, int32_t zp, int32_t lo, int32_t hi) {
  int64_t v = (int64_t)zp + lb_rshift_rne(lb_unit_product(w, j, acc), w->shift[j]);
  return (int32_t)(v < lo ? lo : v > hi ? hi : v);
}

lb_status lb_unit_weights(const lb_graph *qg, const lb_units *us, int unit, lb_uweights *w);
void lb_uweights_free(lb_uweights *w);

/* The convolution geometry of a CONV / OUT_ACC conv unit for a batch. */
lb_conv2d_desc lb_unit_conv_desc(const lb_graph *qg, const lb_unit *u, int batch);
/* The pool geometry of a maxpool/avgpool node for a batch. */
lb_pool_desc lb_unit_pool_desc(const lb_graph *qg, int node, int batch);
/* The first max pool among a unit's post ops, -1. */
int lb_unit_first_pool(const lb_graph *qg, const lb_unit *u);
/* Whether node is a max pool / slice / pad / concat. */
int lb_unit_is(const lb_graph *qg, int node, const char *op);
/* Name of a node's op. */
const char *lb_unit_op(const lb_graph *qg, int node);

#endif
