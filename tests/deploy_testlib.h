/* Helpers shared by the deploy tests: a calibrated quantized zoo model built in memory from a
 * synthetic data set (random-init weights, randomised batchnorm statistics with some negative
 * gammas, so folding and negative scales are exercised). */
#ifndef LOWBIT_TESTS_DEPLOY_TESTLIB_H
#define LOWBIT_TESTS_DEPLOY_TESTLIB_H

#include <stdlib.h>
#include <string.h>

#include "lowbit/deploy.h"
#include "lowbit/qgraph.h"
#include "util/testutil.h"

/* n synthetic 1x28x28 images: smooth random blobs, labels 0..9. */
static inline void dtl_dataset(lb_dataset *d, int n, uint64_t seed) {
  memset(d, 0, sizeof *d);
  d->n = n;
  d->c = 1;
  d->h = d->w = 28;
  d->classes = 10;
  d->images = malloc((size_t)n * 784);
  d->labels = malloc((size_t)n * sizeof *d->labels);
  lb_rng r;
  lb_rng_seed(&r, seed);
  for (int i = 0; i < n; i++) {
    float cx = 4 + 20 * lb_rng_uniform(&r), cy = 4 + 20 * lb_rng_uniform(&r), rad = 3 + 8 * lb_rng_uniform(&r);
    for (int y = 0; y < 28; y++)
      for (int x = 0; x < 28; x++) {
        float dd = ((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (rad * rad);
        float v = 255.0f * (dd < 1 ? 1 - dd : 0) + 40.0f * lb_rng_uniform(&r);
        d->images[(size_t)i * 784 + (size_t)y * 28 + (size_t)x] = (uint8_t)(v > 255 ? 255 : v);
      }
    d->labels[i] = (int32_t)lb_rng_below(&r, 10);
  }
}

/* Randomise every batchnorm's statistics and affine parameters (some gammas negative). */
static inline void dtl_randomise_bn(lb_graph *g, uint64_t seed) {
  lb_rng r;
  lb_rng_seed(&r, seed);
  for (int i = 0; i < g->n_params; i++) {
    lb_param *p = &g->params[i];
    const char *dot = strrchr(p->name, '.');
    if (!dot || strcmp(g->nodes[p->node].op->name, "batchnorm")) continue;
    float *v = g->values + p->offset;
    for (int64_t j = 0; j < p->numel; j++) {
      float u = lb_rng_uniform(&r);
      if (!strcmp(dot, ".weight")) v[j] = (u < 0.15f ? -1.0f : 1.0f) * (0.5f + u);
      else if (!strcmp(dot, ".bias")) v[j] = u - 0.5f;
      else if (!strcmp(dot, ".running_mean")) v[j] = 0.6f * (u - 0.5f);
      else if (!strcmp(dot, ".running_var")) v[j] = 0.5f + 1.5f * u;
    }
  }
}

/* A quantized graph of zoo `model` (1x28x28, 10 classes) for a backend with per-layer overrides
 * (lb_qplan_override_spec; NULL for none), calibrated on d unless d is NULL, or NULL (status in
 * *st, message in lb_last_error()). */
static inline lb_graph *dtl_quantized_ex(const char *model, const char *backend, int wbits, int abits, int bn_fold,
                                         const char *overrides, const lb_dataset *d, lb_status *st) {
  lb_graph *g = NULL, *qg = NULL;
  *st = lb_quant_register_ops();
  if (!*st) *st = lb_zoo_build(model, 1, 28, 28, 10, &g);
  if (!*st) *st = lb_graph_init_params(g, 7);
  if (*st) return NULL;
  dtl_randomise_bn(g, 11);
  lb_qplan_request req = lbt_qplan_request(backend, wbits, abits, LB_EST_STE);
  req.bn_fold = bn_fold;
  lb_qplan plan;
  *st = lb_qplan_make(g, &req, &plan);
  if (!*st && overrides) {
    *st = lb_qplan_override_spec(g, &plan, overrides);
    if (*st) lb_qplan_free(&plan);
  }
  if (!*st) {
    *st = lb_quant_apply(g, &plan, &qg);
    lb_qplan_free(&plan);
  }
  lb_graph_free(g);
  if (*st) return NULL;
  if (!d) return qg;
  lb_augment norm = {{0.2f}, {0.3f}, 0, 0};
  *st = lb_quant_calibrate(qg, d, &norm, d->n, 16);
  if (*st) {
    lb_graph_free(qg);
    return NULL;
  }
  return qg;
}

/* The same, calibrated, without overrides. */
static inline lb_graph *dtl_quantized(const char *model, const char *backend, int wbits, int abits, int bn_fold,
                                      const lb_dataset *d, lb_status *st) {
  return dtl_quantized_ex(model, backend, wbits, abits, bn_fold, NULL, d, st);
}

#endif
