/* lowbit train: the training loop, evaluation, hooks, and checkpoints that resume bit-exactly.
 *
 * Randomness is derived, never carried: the data order of epoch e comes from the stream
 * (seed, e, 0), and everything random in step s of epoch e (augmentation, dropout, noise) from
 * (seed, e, s + 1). A checkpoint therefore needs only the position (epoch, step) besides the
 * parameters and optimizer state, and a resumed run ends with the same bits as an
 * uninterrupted one (same seed and thread count). */
#ifndef LOWBIT_TRAIN_H
#define LOWBIT_TRAIN_H

#include "lowbit/data.h"
#include "lowbit/graph.h"
#include "lowbit/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Everything that defines a training run; stored in checkpoints. */
typedef struct lb_train_config {
  char model[LB_NAME_MAX]; /* zoo name */
  char data[256];          /* data set spec as given on the command line ("fashion-mnist", "idx:...", "cifar:...") */
  int epochs;
  int batch;
  lb_optim_config optim;
  lb_sched sched;          /* total/warm-up/step sizes are in steps, filled by lb_trainer_create */
  float lr;
  float min_lr;
  float warmup_epochs;     /* may be fractional */
  int step_epochs;         /* step schedule: decay every step_epochs epochs */
  float gamma;
  float label_smoothing;
  uint64_t seed;
  lb_augment aug;
  int eval_batch;
} lb_train_config;

/* The default recipe for a zoo model (documented in docs/training.md). */
lb_status lb_train_config_default(lb_train_config *cfg, const char *model);
lb_status lb_train_config_validate(const lb_train_config *cfg);

typedef struct lb_epoch_stats {
  int epoch;           /* 1-based, the epoch just finished */
  int epochs;
  double train_loss;   /* mean over the epoch's steps */
  double train_acc;    /* on the augmented training batches, in [0,1] */
  double test_loss;
  double test_acc;     /* in [0,1]; negative if there is no test set */
  double seconds;      /* wall time of the epoch (training + evaluation) */
  float lr;            /* at the epoch's last step */
} lb_epoch_stats;

typedef struct lb_trainer lb_trainer;

/* Hooks let later methods (SAM, freezing, distillation, ...) change training without editing
 * the loop. Any callback may be NULL. A non-LB_OK return stops training with that status. */
typedef struct lb_hook {
  const char *name;
  void *user;
  lb_status (*on_train_begin)(lb_trainer *t, void *user);
  lb_status (*on_step_begin)(lb_trainer *t, void *user);   /* batch loaded, before forward */
  lb_status (*after_backward)(lb_trainer *t, void *user);  /* gradients ready, before the update */
  lb_status (*after_update)(lb_trainer *t, void *user);    /* parameters updated */
  lb_status (*on_epoch_end)(lb_trainer *t, const lb_epoch_stats *s, void *user);
  lb_status (*on_train_end)(lb_trainer *t, void *user);
} lb_hook;

#define LB_MAX_HOOKS 16

/* Reports each step: for progress bars. */
typedef void (*lb_step_fn)(const lb_trainer *t, void *user);
typedef void (*lb_epoch_fn)(const lb_trainer *t, const lb_epoch_stats *s, void *user);

struct lb_trainer {
  lb_train_config cfg;
  lb_graph *g;               /* owned */
  lb_exec *exec;             /* owned */
  lb_optim optim;
  const lb_dataset *train;   /* borrowed */
  const lb_dataset *test;    /* borrowed, may be NULL */
  /* position */
  int epoch;                 /* 0-based epoch in progress (== cfg.epochs when finished) */
  int step;                  /* 0-based step inside the epoch */
  int steps_per_epoch;
  int64_t global_step;
  /* the current batch */
  int32_t *order;            /* this epoch's data order */
  float *x;                  /* (batch, input) */
  int32_t *y;
  int batch_n;
  float *probs, *dlogits;    /* (batch, classes) */
  const float *logits;
  float loss;
  float lr;
  lb_rng step_rng;           /* the randomness of the current step */
  /* running epoch sums */
  double sum_loss;
  int64_t sum_correct, sum_seen;
  double epoch_start;
  /* extensions */
  lb_hook hooks[LB_MAX_HOOKS];
  int n_hooks;
  lb_step_fn on_step;
  lb_epoch_fn on_epoch;
  void *cb_user;
  const volatile int *stop_flag; /* set asynchronously (e.g. by SIGINT) to stop after the step */
  char checkpoint_path[4096];    /* if set: saved after every epoch and when stopped */
  int stop_after_epochs;         /* if > 0: stop (as if interrupted) after this many epochs in this run */
};

/* Build the model from cfg (zoo), initialise parameters from cfg.seed, allocate everything. */
lb_status lb_trainer_create(lb_trainer **t, const lb_train_config *cfg, const lb_dataset *train,
                            const lb_dataset *test);
/* The same for a graph that already exists (e.g. a float model prepared for QAT): the trainer
 * takes ownership of g (freed with the trainer, also on failure); its values are kept as they
 * are. cfg.model is informational. */
lb_status lb_trainer_create_from_graph(lb_trainer **t, const lb_train_config *cfg, lb_graph *g, const lb_dataset *train,
                                       const lb_dataset *test);
/* Continue a run from a checkpoint written by a trainer. The config comes from the file. */
lb_status lb_trainer_resume(lb_trainer **t, const char *path, const lb_dataset *train, const lb_dataset *test);
void lb_trainer_free(lb_trainer *t);
lb_status lb_trainer_add_hook(lb_trainer *t, const lb_hook *h);
/* Train until cfg.epochs are done. Returns LB_ERR_INTERRUPTED (after saving, if a checkpoint
 * path is set) when stop_flag or stop_after_epochs stopped it early. */
lb_status lb_trainer_run(lb_trainer *t);
/* For hooks: recompute forward, loss and backward on the current batch (gradients are zeroed
 * first). Used by methods that evaluate the loss more than once per step (SAM). */
lb_status lb_trainer_forward_backward(lb_trainer *t);
/* Write graph + optimizer state + position + config to path (atomically). */
lb_status lb_trainer_save(const lb_trainer *t, const char *path);

/* Save a model with the recipe it was trained with (no optimizer state or position), so that
 * eval knows its data set and normalisation. */
lb_status lb_model_save(const char *path, const lb_graph *g, const lb_train_config *cfg);
/* Load a model file and, when it has one, the recipe it was trained with (*has_cfg = 1). */
lb_status lb_model_load(const char *path, lb_graph **g, lb_train_config *cfg, int *has_cfg);

/* Accuracy and mean loss of g on a data set, in evaluation mode, batches of `batch`. */
lb_status lb_evaluate(lb_graph *g, const lb_dataset *d, const lb_augment *norm, int batch, double *acc, double *loss);

#ifdef __cplusplus
}
#endif
#endif
