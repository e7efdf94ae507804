/* Learning-rate schedules: pure functions of the global step (no state to save or resume). */
#include "lowbit/optim.h"

#include <float.h>
#include <math.h>
#include <string.h>

static const char *const sched_names[LB_SCHED_KIND_COUNT] = {"constant", "step", "cosine"};

lb_status lb_sched_kind_parse(const char *name, lb_sched_kind *kind) {
  if (!name || !kind) return lb_fail(LB_ERR_ARG, "schedule: kind name and result must not be NULL");
  for (int k = 0; k < LB_SCHED_KIND_COUNT; k++) {
    if (strcmp(name, sched_names[k]) == 0) {
      *kind = (lb_sched_kind)k;
      return LB_OK;
    }
  }
  return lb_fail(LB_ERR_NOT_FOUND, "schedule: unknown schedule '%s' (expected constant, step or cosine)", name);
}

const char *lb_sched_kind_name(lb_sched_kind kind) {
  if ((int)kind < 0 || kind >= LB_SCHED_KIND_COUNT) return "unknown";
  return sched_names[kind];
}

/* Only the fields the kind uses are checked (gamma for step, min_lr for cosine). */
lb_status lb_sched_validate(const lb_sched *s) {
  if (!s) return lb_fail(LB_ERR_ARG, "schedule: NULL schedule");
  if ((int)s->kind < 0 || s->kind >= LB_SCHED_KIND_COUNT)
    return lb_fail(LB_ERR_ARG, "schedule: unknown kind %d", (int)s->kind);
  const char *name = sched_names[s->kind];
  if (!(s->base_lr > 0.0f && s->base_lr <= FLT_MAX))
    return lb_fail(LB_ERR_ARG, "schedule %s: base_lr must be finite and > 0, got %g", name, (double)s->base_lr);
  if (s->total_steps <= 0)
    return lb_fail(LB_ERR_ARG, "schedule %s: total_steps must be > 0, got %lld", name, (long long)s->total_steps);
  if (s->warmup_steps < 0 || s->warmup_steps >= s->total_steps)
    return lb_fail(LB_ERR_ARG, "schedule %s: warmup_steps must be in [0, total_steps=%lld), got %lld", name,
                   (long long)s->total_steps, (long long)s->warmup_steps);
  if (s->kind == LB_SCHED_STEP) {
    if (s->step_size <= 0)
      return lb_fail(LB_ERR_ARG, "schedule step: step_size must be > 0, got %lld", (long long)s->step_size);
    if (!(s->gamma > 0.0f && s->gamma <= 1.0f))
      return lb_fail(LB_ERR_ARG, "schedule step: gamma must be in (0, 1], got %g", (double)s->gamma);
  }
  if (s->kind == LB_SCHED_COSINE) {
    if (!(s->min_lr >= 0.0f && s->min_lr <= s->base_lr))
      return lb_fail(LB_ERR_ARG, "schedule cosine: min_lr must be in [0, base_lr=%g], got %g", (double)s->base_lr,
                     (double)s->min_lr);
  }
  return LB_OK;
}

/* Assumes a validated schedule; degenerate fields are guarded so it never divides by zero. */
float lb_sched_lr(const lb_sched *s, int64_t step) {
  if (!s) return 0.0f;
  const double base = s->base_lr;
  if (step < 0) step = 0;
  if (s->warmup_steps > 0 && step < s->warmup_steps)
    return (float)(base * (double)(step + 1) / (double)s->warmup_steps);

  const int64_t t = step - (s->warmup_steps > 0 ? s->warmup_steps : 0);
  switch (s->kind) {
  case LB_SCHED_CONSTANT: return (float)base;
  case LB_SCHED_STEP: {
    if (s->step_size <= 0) return (float)base;
    return (float)(base * pow((double)s->gamma, (double)(t / s->step_size)));
  }
  case LB_SCHED_COSINE: {
    const int64_t span = s->total_steps - (s->warmup_steps > 0 ? s->warmup_steps : 0);
    const double lo = s->min_lr;
    if (span <= 0 || t >= span) return (float)lo;
    const double pi = 3.14159265358979323846;
    return (float)(lo + (base - lo) * 0.5 * (1.0 + cos(pi * (double)t / (double)span)));
  }
  case LB_SCHED_KIND_COUNT: break;
  }
  return (float)base;
}
