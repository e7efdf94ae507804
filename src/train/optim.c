/* Optimizers on flat parameter slices: SGD (momentum, Nesterov, L2 decay), Adam, AdamW.
 * Each update follows torch.optim (1.13, single-tensor path) operation by operation, in float,
 * with the scalar coefficients (bias corrections, step size, decoupled decay factor) computed in
 * double as PyTorch computes them in Python before handing them to its float kernels. */
#include "lowbit/optim.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Slices shorter than this are updated on the calling thread: starting a parallel region costs
 * more than the loop. Every element is updated independently, so the result does not depend on
 * the thread count either way. */
#define LB_OPTIM_PAR_MIN 32768

static const char *const kind_names[LB_OPTIM_KIND_COUNT] = {"sgd", "adam", "adamw"};

lb_status lb_optim_kind_parse(const char *name, lb_optim_kind *kind) {
  if (!name || !kind) return lb_fail(LB_ERR_ARG, "optim: kind name and result must not be NULL");
  for (int k = 0; k < LB_OPTIM_KIND_COUNT; k++) {
    if (strcmp(name, kind_names[k]) == 0) {
      *kind = (lb_optim_kind)k;
      return LB_OK;
    }
  }
  return lb_fail(LB_ERR_NOT_FOUND, "optim: unknown optimizer '%s' (expected sgd, adam or adamw)", name);
}

const char *lb_optim_kind_name(lb_optim_kind kind) {
  if ((int)kind < 0 || kind >= LB_OPTIM_KIND_COUNT) return "unknown";
  return kind_names[kind];
}

void lb_optim_config_default(lb_optim_config *cfg, lb_optim_kind kind) {
  if (!cfg) return;
  memset(cfg, 0, sizeof *cfg);
  cfg->kind = kind;
  cfg->momentum = kind == LB_OPTIM_SGD ? 0.9f : 0.0f;
  cfg->nesterov = 0;
  cfg->weight_decay = 0.0f;
  cfg->beta1 = 0.9f;
  cfg->beta2 = 0.999f;
  cfg->eps = 1e-8f;
}

/* Written so that NaN fails every check. */
static int in_unit_interval(float x) { return x >= 0.0f && x < 1.0f; }

/* Only the fields the kind uses are checked, so a config filled for one kind and switched to
 * another (e.g. by a command line that sets every option) is not rejected for unused values. */
static lb_status validate_config(const lb_optim_config *cfg) {
  if ((int)cfg->kind < 0 || cfg->kind >= LB_OPTIM_KIND_COUNT)
    return lb_fail(LB_ERR_ARG, "optim: unknown optimizer kind %d", (int)cfg->kind);
  const char *name = kind_names[cfg->kind];
  if (!(cfg->weight_decay >= 0.0f && cfg->weight_decay <= FLT_MAX))
    return lb_fail(LB_ERR_ARG, "optim %s: weight_decay must be finite and >= 0, got %g", name,
                   (double)cfg->weight_decay);
  if (cfg->kind == LB_OPTIM_SGD) {
    if (!in_unit_interval(cfg->momentum))
      return lb_fail(LB_ERR_ARG, "optim sgd: momentum must be in [0, 1), got %g", (double)cfg->momentum);
    if (cfg->nesterov != 0 && cfg->nesterov != 1)
      return lb_fail(LB_ERR_ARG, "optim sgd: nesterov must be 0 or 1, got %d", cfg->nesterov);
    if (cfg->nesterov && cfg->momentum == 0.0f)
      return lb_fail(LB_ERR_ARG, "optim sgd: nesterov needs momentum > 0");
  } else {
    if (!in_unit_interval(cfg->beta1))
      return lb_fail(LB_ERR_ARG, "optim %s: beta1 must be in [0, 1), got %g", name, (double)cfg->beta1);
    if (!in_unit_interval(cfg->beta2))
      return lb_fail(LB_ERR_ARG, "optim %s: beta2 must be in [0, 1), got %g", name, (double)cfg->beta2);
    if (!(cfg->eps > 0.0f && cfg->eps <= FLT_MAX))
      return lb_fail(LB_ERR_ARG, "optim %s: eps must be finite and > 0, got %g", name, (double)cfg->eps);
  }
  return LB_OK;
}

lb_status lb_optim_create(lb_optim *o, const lb_optim_config *cfg, const lb_optim_slot *slots, int n_slots) {
  if (!o) return lb_fail(LB_ERR_ARG, "optim: optimizer must not be NULL");
  memset(o, 0, sizeof *o);
  if (!cfg) return lb_fail(LB_ERR_ARG, "optim: config must not be NULL");
  lb_status st = validate_config(cfg);
  if (st != LB_OK) return st;
  if (!slots || n_slots <= 0)
    return lb_fail(LB_ERR_ARG, "optim: need at least one parameter slot (got %d%s)", n_slots,
                   slots ? "" : ", slots is NULL");

  int64_t total = 0;
  for (int i = 0; i < n_slots; i++) {
    const lb_optim_slot *s = &slots[i];
    if (!s->w || !s->g) return lb_fail(LB_ERR_ARG, "optim: slot %d has a NULL %s pointer", i, s->w ? "gradient" : "weight");
    if (s->n <= 0) return lb_fail(LB_ERR_ARG, "optim: slot %d has %lld elements, need > 0", i, (long long)s->n);
    /* Adam keeps two floats per element: keep 2 * total * sizeof(float) representable. */
    if (s->n > (int64_t)(SIZE_MAX / (4 * sizeof(float))) - total || s->n > INT64_MAX / 4 - total)
      return lb_fail(LB_ERR_ARG, "optim: too many parameters (slot %d)", i);
    total += s->n;
  }

  int64_t per_elem = 0;
  if (cfg->kind == LB_OPTIM_SGD) per_elem = cfg->momentum > 0.0f ? 1 : 0;
  else per_elem = 2;

  o->slots = malloc((size_t)n_slots * sizeof *o->slots);
  if (!o->slots) return lb_fail(LB_ERR_NOMEM, "optim: cannot allocate %d slots", n_slots);
  memcpy(o->slots, slots, (size_t)n_slots * sizeof *o->slots);
  o->state_floats = per_elem * total;
  if (o->state_floats > 0) {
    size_t bytes = (size_t)o->state_floats * sizeof(float);
    o->state = lb_alloc_aligned(bytes);
    if (!o->state) {
      free(o->slots);
      memset(o, 0, sizeof *o);
      return lb_fail(LB_ERR_NOMEM, "optim: cannot allocate %zu bytes of optimizer state", bytes);
    }
    memset(o->state, 0, bytes);
  }
  o->cfg = *cfg;
  o->n_slots = n_slots;
  o->steps = 0;
  return LB_OK;
}

void lb_optim_free(lb_optim *o) {
  if (!o) return;
  free(o->slots);
  lb_free_aligned(o->state);
  memset(o, 0, sizeof *o);
}

/* ---- SGD ---------------------------------------------------------------------------------- */
/* w, g, buf: (n,). buf is NULL without momentum. As torch: d = g + wd*w; buf = d on the first
 * step, else buf = momentum*buf + d; d = nesterov ? d + momentum*buf : buf; w -= lr*d. */
static void sgd_update(float *restrict w, const float *restrict g, float *restrict buf, int64_t n,
                       float lr, float wd, float momentum, int nesterov, int first) {
  const float neg_lr = -lr;
#pragma omp parallel for schedule(static) if (n >= LB_OPTIM_PAR_MIN)
  for (int64_t i = 0; i < n; i++) {
    float d = g[i];
    if (wd != 0.0f) d = d + wd * w[i];
    if (buf) {
      float b = first ? d : buf[i] * momentum + d;
      buf[i] = b;
      d = nesterov ? d + momentum * b : b;
    }
    w[i] = w[i] + neg_lr * d;
  }
}

/* ---- Adam / AdamW ------------------------------------------------------------------------- */
typedef struct adam_coef {
  float beta1, one_minus_beta1;
  float beta2, one_minus_beta2;
  float l2;           /* Adam: weight decay added to the gradient; 0 for AdamW or exempt slots */
  float shrink;       /* AdamW: w *= shrink before the update; 1 otherwise */
  float bc2_sqrt;     /* sqrt(1 - beta2^t) */
  float neg_step;     /* -lr / (1 - beta1^t) */
  float eps;
} adam_coef;

/* w, g, m, v: (n,). The operation order matches torch's kernels: m = m*b1 + (1-b1)*g,
 * v = v*b2 + ((1-b2)*g)*g, denom = sqrt(v)/sqrt(bc2) + eps, w = w + (-step*m)/denom. */
static void adam_update(float *restrict w, const float *restrict g, float *restrict m, float *restrict v,
                        int64_t n, const adam_coef *c) {
  const adam_coef k = *c;
#pragma omp parallel for schedule(static) if (n >= LB_OPTIM_PAR_MIN)
  for (int64_t i = 0; i < n; i++) {
    float wi = w[i];
    if (k.shrink != 1.0f) wi = wi * k.shrink;
    float d = g[i];
    if (k.l2 != 0.0f) d = d + k.l2 * wi;
    float mi = m[i] * k.beta1 + k.one_minus_beta1 * d;
    float vi = v[i] * k.beta2 + k.one_minus_beta2 * d * d;
    m[i] = mi;
    v[i] = vi;
    float denom = sqrtf(vi) / k.bc2_sqrt + k.eps;
    w[i] = wi + k.neg_step * mi / denom;
  }
}

void lb_optim_step(lb_optim *o, float lr) {
  if (!o || !o->slots) return;
  const lb_optim_config *cfg = &o->cfg;
  float *state = o->state;

  if (cfg->kind == LB_OPTIM_SGD) {
    /* PyTorch creates the momentum buffer as a copy of the first gradient. With dampening 0 that
     * equals momentum*0 + d, but copying keeps it exact whatever the buffer holds. */
    const int first = o->steps == 0;
    for (int i = 0; i < o->n_slots; i++) {
      lb_optim_slot *s = &o->slots[i];
      float wd = s->decay ? cfg->weight_decay : 0.0f;
      sgd_update(s->w, s->g, state, s->n, lr, wd, cfg->momentum, cfg->nesterov, first);
      if (state) state += s->n;
    }
  } else {
    /* Scalars in double, as torch computes them in Python; then rounded to float like the
     * Python scalars passed to its float kernels. */
    const double t = (double)(o->steps + 1);
    const double b1 = cfg->beta1, b2 = cfg->beta2;
    const double bc1 = 1.0 - pow(b1, t);
    const double bc2 = 1.0 - pow(b2, t);
    adam_coef c;
    c.beta1 = cfg->beta1;
    c.one_minus_beta1 = (float)(1.0 - b1);
    c.beta2 = cfg->beta2;
    c.one_minus_beta2 = (float)(1.0 - b2);
    c.bc2_sqrt = (float)sqrt(bc2);
    c.neg_step = (float)(-((double)lr / bc1));
    c.eps = cfg->eps;
    const int decoupled = cfg->kind == LB_OPTIM_ADAMW;
    const float shrink = (float)(1.0 - (double)lr * (double)cfg->weight_decay);
    for (int i = 0; i < o->n_slots; i++) {
      lb_optim_slot *s = &o->slots[i];
      c.l2 = (!decoupled && s->decay) ? cfg->weight_decay : 0.0f;
      c.shrink = (decoupled && s->decay) ? shrink : 1.0f;
      adam_update(s->w, s->g, state, state + s->n, s->n, &c);
      state += 2 * s->n;
    }
  }
  o->steps++;
}
