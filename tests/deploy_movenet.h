/* "movenet": a small calibrated network (1x28x28, 10 classes) with every data-movement op the
 * integer program has, shared by the deploy and export tests:
 *   - a ResNet-style shortcut: strided slices on h and w and a zero channel pad on the float
 *     output of a relu, quantized at the residual add (a unit walking through slice/pad);
 *   - a concat of two float tensors (a relu and a conv) and a max pool of a quantized tensor,
 *     quantized after an asymmetric spatial zero pad (the ONNX SAME-conv form): one piece per
 *     concat input on the quantizer's grid (a rescale for the quantized one);
 *   - a negative-step slice and a reshape to a vector before the linear layer;
 *   - tail 1 (codes_out): the output is reshape(pad(slice(concat(q, q)))) of a max pool of a
 *     quantized tensor, data movement on one grid (value `pad_value`; off the grid is refused).
 * Random weights: the point is exactness, not accuracy. */
#ifndef LOWBIT_TESTS_DEPLOY_MOVENET_H
#define LOWBIT_TESTS_DEPLOY_MOVENET_H

#include <string.h>

#include "graph/ops_shape.h"
#include "lowbit/deploy.h"
#include "lowbit/qgraph.h"

static inline lb_status mvn_slice(lb_graph *g, const char *name, int *x, int axis, int start, int step, int count) {
  int ia[4];
  ia[LB_SLICE_AXIS] = axis;
  ia[LB_SLICE_START] = start;
  ia[LB_SLICE_STEP] = step;
  ia[LB_SLICE_COUNT] = count;
  return lb_graph_add(g, "slice", name, x, 1, ia, 4, NULL, 0, x);
}

/* pad dims 0..2 by (b0, e0, b1, e1, b2, e2). */
static inline lb_status mvn_pad(lb_graph *g, const char *name, int *x, const int be[6], float value) {
  int ia[2 * LB_PAD_MAX_DIMS] = {0};
  for (int k = 0; k < 3; k++) {
    ia[LB_PAD_BEGIN + k] = be[2 * k];
    ia[LB_PAD_END + k] = be[2 * k + 1];
  }
  float fa[1] = {value};
  return lb_graph_add(g, "pad", name, x, 1, ia, 2 * LB_PAD_MAX_DIMS, fa, 1, x);
}

static inline lb_status mvn_conv(lb_graph *g, const char *name, int *x, int k, int r, int stride, int pad) {
  int ia[11] = {k, r, r, stride, stride, pad, pad, 1, 1, 1, 1};
  return lb_graph_add(g, "conv2d", name, x, 1, ia, 11, NULL, 0, x);
}

static inline lb_status mvn_unary(lb_graph *g, const char *op, const char *name, int *x) {
  return lb_graph_add(g, op, name, x, 1, NULL, 0, NULL, 0, x);
}

static inline lb_graph *mvn_graph(int codes_out, float pad_value, lb_status *st) {
  lb_graph *g = NULL;
  *st = lb_quant_register_ops();
  if (!*st) *st = lb_graph_create(&g, "movenet", (lb_shape){3, {1, 28, 28}});
  int x = 0, r1, sc, r2, r3, c4, k[2];
  const int ch_pad[6] = {4, 4, 0, 0, 0, 0}, same_pad[6] = {0, 0, 0, 1, 1, 0};
  if (!*st) *st = mvn_conv(g, "c1", &x, 8, 3, 1, 1);
  if (!*st) *st = mvn_unary(g, "relu", "c1.relu", &x);
  r1 = sc = x;
  if (!*st) *st = mvn_slice(g, "sc.slice_h", &sc, 1, 0, 2, 14);
  if (!*st) *st = mvn_slice(g, "sc.slice_w", &sc, 2, 1, 2, 14);
  if (!*st) *st = mvn_pad(g, "sc.pad", &sc, ch_pad, 0.0f);
  x = r1;
  if (!*st) *st = mvn_conv(g, "c2", &x, 16, 3, 2, 1);
  k[0] = x;
  k[1] = sc;
  if (!*st) *st = lb_graph_add(g, "add", "add", k, 2, NULL, 0, NULL, 0, &x);
  if (!*st) *st = mvn_unary(g, "relu", "add.relu", &x);
  r2 = r3 = c4 = x;
  if (!*st) *st = mvn_conv(g, "c3", &r3, 8, 1, 1, 0);
  if (!*st) *st = mvn_unary(g, "relu", "c3.relu", &r3);
  if (!*st) *st = mvn_conv(g, "c4", &c4, 8, 3, 1, 1);
  int mp = r2, mp3[8] = {3, 3, 1, 1, 1, 1, 0, 0}, k3[3];
  if (!*st) *st = lb_graph_add(g, "maxpool", "mp", &mp, 1, mp3, 8, NULL, 0, &mp);
  k3[0] = r3;
  k3[1] = c4;
  k3[2] = mp; /* a max pool of a quantized tensor (the plan quantizes pool inputs) */
  int axis0[1] = {0};
  if (!*st) *st = lb_graph_add(g, "concat", "cat", k3, 3, axis0, 1, NULL, 0, &x);
  if (!*st) *st = mvn_pad(g, "same.pad", &x, same_pad, 0.0f);
  if (!*st) *st = mvn_conv(g, "c5", &x, 16, 3, 2, 0);
  if (!*st) *st = mvn_unary(g, "relu", "c5.relu", &x);
  if (!codes_out) {
    int rs[2] = {1, 16 * 7 * 7}, lin[2] = {10, 1};
    if (!*st) *st = mvn_slice(g, "flip_w", &x, 2, 6, -1, 7);
    if (!*st) *st = lb_graph_add(g, "reshape", "vec", &x, 1, rs, 2, NULL, 0, &x);
    if (!*st) *st = lb_graph_add(g, "linear", "fc", &x, 1, lin, 2, NULL, 0, &x);
  } else {
    int ap[8] = {7, 7, 7, 7, 0, 0, 0, 0}, rs[2] = {1, 10};
    const int out_pad[6] = {1, 1, 0, 0, 0, 0};
    if (!*st) *st = lb_graph_add(g, "maxpool", "ap", &x, 1, ap, 8, NULL, 0, &x);
    k[0] = k[1] = x;
    if (!*st) *st = lb_graph_add(g, "concat", "ap.cat", k, 2, axis0, 1, NULL, 0, &x);
    if (!*st) *st = mvn_slice(g, "ap.slice", &x, 0, 1, 3, 8);
    if (!*st) *st = mvn_pad(g, "ap.pad", &x, out_pad, pad_value);
    if (!*st) *st = lb_graph_add(g, "reshape", "logits", &x, 1, rs, 2, NULL, 0, &x);
  }
  if (!*st) *st = lb_graph_init_params(g, 5);
  if (*st) {
    lb_graph_free(g);
    return NULL;
  }
  return g;
}

/* A float graph quantized for a backend at W8A8 (STE, min/max observers) and calibrated on d
 * with normalisation norm; g is consumed. */
static inline lb_graph *mvn_quantize_w8a8(lb_graph *g, const char *backend, const lb_dataset *d, const lb_augment *norm,
                                          lb_status *st) {
  lb_graph *qg = NULL;
  lb_qplan_request req = {.backend = backend, .wbits = 8, .abits = 8, .est = LB_EST_STE,
                          .w_observer = LB_OBS_MINMAX, .a_observer = LB_OBS_MINMAX};
  lb_qplan plan;
  *st = lb_qplan_make(g, &req, &plan);
  if (!*st) {
    *st = lb_quant_apply(g, &plan, &qg);
    lb_qplan_free(&plan);
  }
  lb_graph_free(g);
  if (!*st) *st = lb_quant_calibrate(qg, d, norm, d->n, 16);
  if (*st) {
    lb_graph_free(qg);
    return NULL;
  }
  return qg;
}

/* movenet quantized for a backend at W8A8 and calibrated on d. */
static inline lb_graph *mvn_quantized(int codes_out, float pad_value, const char *backend, const lb_dataset *d,
                                      const lb_augment *norm, lb_status *st) {
  lb_graph *g = mvn_graph(codes_out, pad_value, st);
  return g ? mvn_quantize_w8a8(g, backend, d, norm, st) : NULL;
}

#endif
