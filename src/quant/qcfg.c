/* Estimator names and the packing of a quantizer configuration into node attributes. */
#include <string.h>

#include "lowbit/qgraph.h"

static const char *const est_names[LB_EST_COUNT] = {"ste", "lsq", "lsq+", "pact", "dorefa", "log"};

lb_status lb_estimator_parse(const char *name, lb_estimator *e) {
  for (int i = 0; i < LB_EST_COUNT; i++)
    if (!strcmp(name, est_names[i])) {
      *e = (lb_estimator)i;
      return LB_OK;
    }
  return lb_fail(LB_ERR_NOT_FOUND, "unknown quantization method '%s' (ste, lsq, lsq+, pact, dorefa, log)", name);
}

const char *lb_estimator_name(lb_estimator e) { return (e >= 0 && e < LB_EST_COUNT) ? est_names[e] : "?"; }

void lb_qcfg_pack(const lb_qcfg *c, int enabled, int *ia, float *fa) {
  ia[0] = c->spec.bits;
  ia[1] = (c->spec.is_signed ? LB_QF_SIGNED : 0) | (c->spec.symmetric ? LB_QF_SYMMETRIC : 0) |
          (c->spec.narrow ? LB_QF_NARROW : 0) | (c->spec.scale_kind == LB_QSCALE_POW2 ? LB_QF_POW2 : 0) |
          (c->spec.binary ? LB_QF_BINARY : 0) | (enabled ? LB_QF_ENABLED : 0);
  ia[2] = c->spec.gran == LB_QGRAN_CHANNEL ? 1 : 0;
  ia[3] = (int)c->est;
  ia[4] = (int)c->observer;
  fa[0] = c->init;
}

lb_status lb_qcfg_unpack(const int *ia, const float *fa, lb_qcfg *c, int *enabled) {
  memset(c, 0, sizeof *c);
  c->spec.bits = ia[0];
  c->spec.is_signed = (ia[1] & LB_QF_SIGNED) != 0;
  c->spec.symmetric = (ia[1] & LB_QF_SYMMETRIC) != 0;
  c->spec.narrow = (ia[1] & LB_QF_NARROW) != 0;
  c->spec.binary = (ia[1] & LB_QF_BINARY) != 0;
  c->spec.scale_kind = (ia[1] & LB_QF_POW2) ? LB_QSCALE_POW2 : LB_QSCALE_FLOAT;
  if (ia[2] != 0 && ia[2] != 1) return lb_fail(LB_ERR_ARG, "quantizer: granularity %d is not supported in graph ops", ia[2]);
  c->spec.gran = ia[2] ? LB_QGRAN_CHANNEL : LB_QGRAN_TENSOR;
  c->spec.axis = 0;
  if (ia[3] < 0 || ia[3] >= LB_EST_COUNT) return lb_fail(LB_ERR_ARG, "quantizer: unknown estimator %d", ia[3]);
  if (ia[4] < 0 || ia[4] >= LB_OBS_KIND_COUNT) return lb_fail(LB_ERR_ARG, "quantizer: unknown observer %d", ia[4]);
  c->est = (lb_estimator)ia[3];
  c->observer = (lb_observer_kind)ia[4];
  c->init = fa[0];
  if (enabled) *enabled = (ia[1] & LB_QF_ENABLED) != 0;
  return lb_qspec_validate(&c->spec, NULL);
}
