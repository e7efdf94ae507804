/* The training loop: derived randomness per (epoch, step), hooks at fixed points, evaluation
 * after every epoch, checkpoints after every epoch and on a stop request. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/nn.h"
#include "lowbit/train.h"
#include "train/trainer_internal.h"

static int output_classes(const lb_graph *g) { return (int)lb_shape_numel(&g->nodes[g->output].shape); }

/* Steps and schedule lengths in steps, from the epoch-based config. */
static void plan_schedule(lb_trainer *t) {
  lb_train_config *c = &t->cfg;
  t->steps_per_epoch = t->train->n / c->batch; /* the last partial batch is dropped */
  int64_t total = (int64_t)t->steps_per_epoch * c->epochs;
  c->sched.base_lr = c->lr;
  c->sched.min_lr = c->min_lr;
  c->sched.total_steps = total;
  c->sched.warmup_steps = (int64_t)llround((double)c->warmup_epochs * t->steps_per_epoch);
  if (c->sched.warmup_steps >= total) c->sched.warmup_steps = total - 1;
  c->sched.step_size = (int64_t)c->step_epochs * t->steps_per_epoch;
  c->sched.gamma = c->gamma;
}

/* Allocate the executor, optimizer and batch buffers for a graph that already holds values. */
lb_status lb_trainer_setup(lb_trainer *t) {
  lb_graph *g = t->g;
  const lb_dataset *d = t->train;
  const lb_shape *in = &g->nodes[0].shape;
  if (in->ndim != 3 || in->d[0] != d->c || in->d[1] != d->h || in->d[2] != d->w)
    return lb_fail(LB_ERR_SHAPE, "train: the model expects (%lld,%lld,%lld) images, the data has (%d,%d,%d)",
                   (long long)in->d[0], (long long)in->d[1], (long long)in->d[2], d->c, d->h, d->w);
  int classes = output_classes(g);
  if (d->classes > classes || (t->test && t->test->classes > classes))
    return lb_fail(LB_ERR_SHAPE, "train: the data has more classes than the model's %d outputs", classes);
  if (d->n < t->cfg.batch)
    return lb_fail(LB_ERR_ARG, "train: %d training images is fewer than one batch of %d", d->n, t->cfg.batch);
  plan_schedule(t);
  lb_status s = lb_sched_validate(&t->cfg.sched);
  if (s) return s;
  s = lb_exec_create(&t->exec, g, t->cfg.batch);
  if (s) return s;
  /* one optimizer slot per trainable parameter; gradients live in the executor */
  lb_optim_slot *slots = calloc((size_t)g->n_params + 1, sizeof *slots);
  if (!slots) return lb_fail(LB_ERR_NOMEM, "train: out of memory");
  int n = 0;
  float *grads = lb_exec_grads(t->exec);
  for (int i = 0; i < g->n_params; i++) {
    const lb_param *p = &g->params[i];
    if (!p->trainable) continue;
    slots[n++] = (lb_optim_slot){g->values + p->offset, grads + p->offset, p->numel, p->decay};
  }
  s = lb_optim_create(&t->optim, &t->cfg.optim, slots, n);
  free(slots);
  if (s) return s;
  int64_t per = lb_shape_numel(in);
  t->order = malloc((size_t)d->n * sizeof(int32_t));
  t->x = lb_alloc_aligned((size_t)t->cfg.batch * (size_t)per * sizeof(float));
  t->y = malloc((size_t)t->cfg.batch * sizeof(int32_t));
  t->probs = malloc((size_t)t->cfg.batch * (size_t)classes * sizeof(float));
  t->dlogits = malloc((size_t)t->cfg.batch * (size_t)classes * sizeof(float));
  if (!t->order || !t->x || !t->y || !t->probs || !t->dlogits) return lb_fail(LB_ERR_NOMEM, "train: out of memory");
  return LB_OK;
}

/* Common tail of the two constructors: t->cfg, t->train, t->test and t->g are set. */
static lb_status finish_create(lb_trainer *t, lb_trainer **out) {
  lb_status s = lb_trainer_setup(t);
  if (s) {
    lb_trainer_free(t);
    return s;
  }
  *out = t;
  return LB_OK;
}

static lb_trainer *new_trainer(const lb_train_config *cfg, const lb_dataset *train, const lb_dataset *test) {
  lb_trainer *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->cfg = *cfg;
  t->train = train;
  t->test = test;
  if (t->cfg.aug.std[0] == 0.0f) /* normalisation not given: measure it on the training set */
    lb_dataset_channel_stats(train, t->cfg.aug.mean, t->cfg.aug.std);
  return t;
}

lb_status lb_trainer_create(lb_trainer **out, const lb_train_config *cfg, const lb_dataset *train,
                            const lb_dataset *test) {
  *out = NULL;
  lb_status s = lb_train_config_validate(cfg);
  if (s) return s;
  lb_trainer *t = new_trainer(cfg, train, test);
  if (!t) return lb_fail(LB_ERR_NOMEM, "train: out of memory");
  int classes = train->classes;
  if (test && test->classes > classes) classes = test->classes;
  if (classes < 2) classes = 2;
  s = lb_zoo_build(cfg->model, train->c, train->h, train->w, classes, &t->g);
  if (!s) s = lb_graph_init_params(t->g, cfg->seed);
  if (s) {
    lb_trainer_free(t);
    return s;
  }
  return finish_create(t, out);
}

lb_status lb_trainer_create_from_graph(lb_trainer **out, const lb_train_config *cfg, lb_graph *g,
                                       const lb_dataset *train, const lb_dataset *test) {
  *out = NULL;
  lb_status s = lb_train_config_validate(cfg);
  if (s) {
    lb_graph_free(g);
    return s;
  }
  lb_trainer *t = new_trainer(cfg, train, test);
  if (!t) {
    lb_graph_free(g);
    return lb_fail(LB_ERR_NOMEM, "train: out of memory");
  }
  t->g = g;
  if (!g->values && (s = lb_graph_alloc_values(g))) {
    lb_trainer_free(t);
    return s;
  }
  return finish_create(t, out);
}

void lb_trainer_free(lb_trainer *t) {
  if (!t) return;
  lb_optim_free(&t->optim);
  lb_exec_free(t->exec);
  lb_graph_free(t->g);
  free(t->order);
  lb_free_aligned(t->x);
  free(t->y);
  free(t->probs);
  free(t->dlogits);
  free(t);
}

lb_status lb_trainer_add_hook(lb_trainer *t, const lb_hook *h) {
  if (t->n_hooks == LB_MAX_HOOKS) return lb_fail(LB_ERR_ARG, "train: at most %d hooks", LB_MAX_HOOKS);
  t->hooks[t->n_hooks++] = *h;
  return LB_OK;
}

/* Call one hook point (all share the plain signature) on every hook in order. */
typedef lb_status (*hook_fn)(lb_trainer *t, void *user);
static lb_status run_hooks(lb_trainer *t, size_t offset) {
  for (int i = 0; i < t->n_hooks; i++) {
    hook_fn f;
    memcpy(&f, (const char *)&t->hooks[i] + offset, sizeof f);
    if (!f) continue;
    lb_status s = f(t, t->hooks[i].user);
    if (s) return s;
  }
  return LB_OK;
}
#define RUN_HOOKS(t, point)                                        \
  do {                                                             \
    lb_status hs_ = run_hooks((t), offsetof(lb_hook, point));      \
    if (hs_) return hs_;                                           \
  } while (0)

lb_status lb_trainer_forward_backward(lb_trainer *t) {
  int classes = output_classes(t->g);
  /* step_rng is copied so that a repeated evaluation sees the same dropout masks */
  lb_rng rng = t->step_rng;
  t->logits = lb_exec_forward(t->exec, t->x, t->batch_n, 1, &rng);
  if (!t->logits) return LB_ERR_ARG;
  t->loss = lb_softmax_xent_forward(t->batch_n, classes, t->logits, t->y, t->cfg.label_smoothing, t->probs);
  if (!isfinite(t->loss))
    return lb_fail(LB_ERR_STATE, "train: loss became %g at epoch %d step %d; lower the learning rate", (double)t->loss,
                   t->epoch + 1, t->step + 1);
  memset(t->dlogits, 0, (size_t)t->batch_n * (size_t)classes * sizeof(float));
  lb_softmax_xent_backward(t->batch_n, classes, t->probs, t->y, t->cfg.label_smoothing, 1.0f, t->dlogits);
  lb_exec_zero_grad(t->exec);
  lb_exec_backward(t->exec, t->dlogits);
  return LB_OK;
}

static void epoch_order(lb_trainer *t) {
  for (int i = 0; i < t->train->n; i++) t->order[i] = i;
  lb_rng r;
  lb_rng_seed_stream(&r, t->cfg.seed, (uint64_t)t->epoch, 0);
  lb_shuffle(t->order, t->train->n, &r);
}

static lb_status train_step(lb_trainer *t) {
  t->batch_n = t->cfg.batch;
  lb_rng_seed_stream(&t->step_rng, t->cfg.seed, (uint64_t)t->epoch, (uint64_t)t->step + 1);
  lb_batch_fill(t->train, t->order + (int64_t)t->step * t->cfg.batch, t->batch_n, &t->cfg.aug, 1, &t->step_rng, t->x, t->y);
  RUN_HOOKS(t, on_step_begin);
  lb_status s = lb_trainer_forward_backward(t);
  if (s) return s;
  RUN_HOOKS(t, after_backward);
  t->lr = lb_sched_lr(&t->cfg.sched, t->global_step);
  lb_optim_step(&t->optim, t->lr);
  RUN_HOOKS(t, after_update);
  t->sum_loss += t->loss;
  t->sum_correct += lb_count_correct(t->batch_n, output_classes(t->g), t->logits, t->y);
  t->sum_seen += t->batch_n;
  t->step++;
  t->global_step++;
  if (t->on_step) t->on_step(t, t->cb_user);
  return LB_OK;
}

static lb_status finish_epoch(lb_trainer *t) {
  lb_epoch_stats st = {0};
  st.epoch = t->epoch + 1;
  st.epochs = t->cfg.epochs;
  st.train_loss = t->steps_per_epoch ? t->sum_loss / t->steps_per_epoch : 0.0;
  st.train_acc = t->sum_seen ? (double)t->sum_correct / (double)t->sum_seen : 0.0;
  st.test_acc = -1.0;
  st.lr = t->lr;
  if (t->test) {
    lb_status s = lb_evaluate(t->g, t->test, &t->cfg.aug, t->cfg.eval_batch, &st.test_acc, &st.test_loss);
    if (s) return s;
  }
  st.seconds = lb_now() - t->epoch_start;
  t->epoch++;
  t->step = 0;
  t->sum_loss = 0.0;
  t->sum_correct = t->sum_seen = 0;
  if (t->on_epoch) t->on_epoch(t, &st, t->cb_user);
  for (int i = 0; i < t->n_hooks; i++)
    if (t->hooks[i].on_epoch_end) {
      lb_status s = t->hooks[i].on_epoch_end(t, &st, t->hooks[i].user);
      if (s) return s;
    }
  if (t->checkpoint_path[0]) return lb_trainer_save(t, t->checkpoint_path);
  return LB_OK;
}

static lb_status stop_now(lb_trainer *t) {
  if (t->checkpoint_path[0]) {
    lb_status s = lb_trainer_save(t, t->checkpoint_path);
    if (s) return s;
  }
  return lb_fail(LB_ERR_INTERRUPTED, "training stopped at epoch %d step %d%s%s", t->epoch + 1, t->step,
                 t->checkpoint_path[0] ? "; state saved to " : "", t->checkpoint_path);
}

lb_status lb_trainer_run(lb_trainer *t) {
  if (t->epoch == 0 && t->step == 0) RUN_HOOKS(t, on_train_begin);
  int epochs_this_run = 0;
  while (t->epoch < t->cfg.epochs) {
    epoch_order(t);
    t->epoch_start = lb_now();
    while (t->step < t->steps_per_epoch) {
      if (t->stop_flag && *t->stop_flag) return stop_now(t);
      lb_status s = train_step(t);
      if (s) return s;
    }
    lb_status s = finish_epoch(t);
    if (s) return s;
    epochs_this_run++;
    if (t->stop_after_epochs > 0 && epochs_this_run >= t->stop_after_epochs && t->epoch < t->cfg.epochs)
      return stop_now(t);
  }
  RUN_HOOKS(t, on_train_end);
  return LB_OK;
}
