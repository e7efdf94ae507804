/* lowbit train: optimizers and learning-rate schedules on flat parameter slices.
 * An optimizer never sees the graph: it gets (weights, gradients, count, decay?) slices. */
#ifndef LOWBIT_OPTIM_H
#define LOWBIT_OPTIM_H

#include "lowbit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lb_optim_kind { LB_OPTIM_SGD = 0, LB_OPTIM_ADAM, LB_OPTIM_ADAMW, LB_OPTIM_KIND_COUNT } lb_optim_kind;

typedef struct lb_optim_config {
  lb_optim_kind kind;
  float momentum;     /* SGD: 0 disables the buffer (PyTorch semantics, dampening 0) */
  int nesterov;       /* SGD: 0/1, needs momentum > 0 */
  float weight_decay; /* SGD/Adam: L2 added to the gradient; AdamW: decoupled, w -= lr*wd*w */
  float beta1, beta2; /* Adam/AdamW, defaults 0.9, 0.999 */
  float eps;          /* Adam/AdamW, default 1e-8 */
} lb_optim_config;

/* One parameter tensor as the optimizer sees it. decay = 0 exempts it from weight decay
 * (biases and batch-norm parameters, by convention). */
typedef struct lb_optim_slot {
  float *w;
  const float *g;
  int64_t n;
  int decay;
} lb_optim_slot;

typedef struct lb_optim {
  lb_optim_config cfg;
  int n_slots;
  lb_optim_slot *slots;
  float *state;          /* one allocation: per-slot buffers back to back */
  int64_t state_floats;  /* SGD with momentum: total n; Adam: 2 * total n; else 0 */
  int64_t steps;         /* number of lb_optim_step calls so far (Adam bias correction) */
} lb_optim;

/* "sgd", "adam", "adamw" <-> kind. Returns LB_ERR_NOT_FOUND for an unknown name. */
lb_status lb_optim_kind_parse(const char *name, lb_optim_kind *kind);
const char *lb_optim_kind_name(lb_optim_kind kind);
/* Fill defaults for a kind (momentum 0.9 for SGD, betas 0.9/0.999, eps 1e-8, wd 0). */
void lb_optim_config_default(lb_optim_config *cfg, lb_optim_kind kind);
/* Validates cfg (clear errors for nonsense values) and allocates zeroed state. Copies slots. */
lb_status lb_optim_create(lb_optim *o, const lb_optim_config *cfg, const lb_optim_slot *slots, int n_slots);
/* One update of every slot with learning rate lr, exactly as PyTorch's torch.optim does it. */
void lb_optim_step(lb_optim *o, float lr);
void lb_optim_free(lb_optim *o);

/* ---- learning-rate schedules: stateless, a function of the global step -------------------- */
typedef enum lb_sched_kind { LB_SCHED_CONSTANT = 0, LB_SCHED_STEP, LB_SCHED_COSINE, LB_SCHED_KIND_COUNT } lb_sched_kind;

typedef struct lb_sched {
  lb_sched_kind kind;
  float base_lr;
  int64_t total_steps;   /* cosine: lr reaches min_lr at total_steps */
  int64_t warmup_steps;  /* linear warm-up from 0 (exclusive) to base_lr over these steps; 0 = none */
  int64_t step_size;     /* step: multiply by gamma every step_size steps (after warm-up) */
  float gamma;           /* step: decay factor, e.g. 0.1 */
  float min_lr;          /* cosine: floor, default 0 */
} lb_sched;

lb_status lb_sched_kind_parse(const char *name, lb_sched_kind *kind); /* "constant","step","cosine" */
const char *lb_sched_kind_name(lb_sched_kind kind);
lb_status lb_sched_validate(const lb_sched *s);
/* Learning rate to use for the update at 0-based global step `step`. During warm-up it is
 * base_lr*(step+1)/warmup_steps; afterwards the schedule runs on (step - warmup_steps) over
 * (total_steps - warmup_steps). */
float lb_sched_lr(const lb_sched *s, int64_t step);

#ifdef __cplusplus
}
#endif
#endif
