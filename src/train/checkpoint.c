/* Training checkpoints: the model file plus three sections owned by the train part:
 *   "train.config"  the recipe (so a resumed run needs nothing else),
 *   "train.state"   position (epoch, step, global step) and the running epoch sums,
 *   "optim"         optimizer step count and state buffers. */
#include <stdlib.h>
#include <string.h>

#include "lowbit/bytes.h"
#include "lowbit/train.h"
#include "train/trainer_internal.h"

#define CONFIG_VERSION 1

void lb_train_config_write(lb_buf *b, const lb_train_config *c) {
  lb_buf_u32(b, CONFIG_VERSION);
  lb_buf_str(b, c->model, sizeof c->model);
  lb_buf_str(b, c->data, sizeof c->data);
  lb_buf_i32(b, c->epochs);
  lb_buf_i32(b, c->batch);
  lb_buf_i32(b, c->eval_batch);
  lb_buf_i32(b, (int32_t)c->optim.kind);
  lb_buf_f32(b, c->optim.momentum);
  lb_buf_i32(b, c->optim.nesterov);
  lb_buf_f32(b, c->optim.weight_decay);
  lb_buf_f32(b, c->optim.beta1);
  lb_buf_f32(b, c->optim.beta2);
  lb_buf_f32(b, c->optim.eps);
  lb_buf_i32(b, (int32_t)c->sched.kind);
  lb_buf_f32(b, c->lr);
  lb_buf_f32(b, c->min_lr);
  lb_buf_f32(b, c->warmup_epochs);
  lb_buf_i32(b, c->step_epochs);
  lb_buf_f32(b, c->gamma);
  lb_buf_f32(b, c->label_smoothing);
  lb_buf_u64(b, c->seed);
  for (int i = 0; i < 4; i++) lb_buf_f32(b, c->aug.mean[i]);
  for (int i = 0; i < 4; i++) lb_buf_f32(b, c->aug.std[i]);
  lb_buf_i32(b, c->aug.crop_pad);
  lb_buf_i32(b, c->aug.hflip);
}

lb_status lb_train_config_read(const void *data, size_t len, lb_train_config *c) {
  lb_reader r;
  lb_reader_init(&r, data, len);
  memset(c, 0, sizeof *c);
  if (lb_get_u32(&r) != CONFIG_VERSION) return lb_fail(LB_ERR_VERSION, "train.config: unknown version");
  int ok = lb_get_str(&r, c->model, sizeof c->model);
  ok &= lb_get_str(&r, c->data, sizeof c->data);
  c->epochs = lb_get_i32(&r);
  c->batch = lb_get_i32(&r);
  c->eval_batch = lb_get_i32(&r);
  c->optim.kind = (lb_optim_kind)lb_get_i32(&r);
  c->optim.momentum = lb_get_f32(&r);
  c->optim.nesterov = lb_get_i32(&r);
  c->optim.weight_decay = lb_get_f32(&r);
  c->optim.beta1 = lb_get_f32(&r);
  c->optim.beta2 = lb_get_f32(&r);
  c->optim.eps = lb_get_f32(&r);
  c->sched.kind = (lb_sched_kind)lb_get_i32(&r);
  c->lr = lb_get_f32(&r);
  c->min_lr = lb_get_f32(&r);
  c->warmup_epochs = lb_get_f32(&r);
  c->step_epochs = lb_get_i32(&r);
  c->gamma = lb_get_f32(&r);
  c->label_smoothing = lb_get_f32(&r);
  c->seed = lb_get_u64(&r);
  for (int i = 0; i < 4; i++) c->aug.mean[i] = lb_get_f32(&r);
  for (int i = 0; i < 4; i++) c->aug.std[i] = lb_get_f32(&r);
  c->aug.crop_pad = lb_get_i32(&r);
  c->aug.hflip = lb_get_i32(&r);
  if (!ok || r.overrun || lb_reader_left(&r)) return lb_fail(LB_ERR_FORMAT, "train.config section is malformed");
  if (c->sched.kind < 0 || c->sched.kind >= LB_SCHED_KIND_COUNT) return lb_fail(LB_ERR_FORMAT, "train.config: bad schedule");
  return lb_train_config_validate(c);
}

lb_status lb_trainer_save(const lb_trainer *t, const char *path) {
  lb_buf cfg = {0}, state = {0}, opt = {0};
  lb_train_config_write(&cfg, &t->cfg);
  lb_buf_i32(&state, t->epoch);
  lb_buf_i32(&state, t->step);
  lb_buf_i64(&state, t->global_step);
  lb_buf_f64(&state, t->sum_loss);
  lb_buf_i64(&state, t->sum_correct);
  lb_buf_i64(&state, t->sum_seen);
  lb_buf_i32(&opt, (int32_t)t->optim.cfg.kind);
  lb_buf_i64(&opt, t->optim.steps);
  lb_buf_i64(&opt, t->optim.state_floats);
  lb_buf_put(&opt, t->optim.state, (size_t)t->optim.state_floats * sizeof(float));
  lb_section secs[3] = {
      {"train.config", cfg.data, cfg.len},
      {"train.state", state.data, state.len},
      {"optim", opt.data, opt.len},
  };
  lb_status s = (cfg.oom || state.oom || opt.oom) ? lb_fail(LB_ERR_NOMEM, "%s: out of memory", path)
                                                   : lb_lbm_save(path, t->g, secs, 3);
  lb_buf_free(&cfg);
  lb_buf_free(&state);
  lb_buf_free(&opt);
  return s;
}

static lb_status need(const lb_section *s, const char *path, const char *tag) {
  if (!s) return lb_fail(LB_ERR_FORMAT, "%s: no '%s' section: not a training checkpoint (was it saved by train --save?)", path, tag);
  return LB_OK;
}

static lb_status restore(lb_trainer *t, const char *path, const lb_section *secs, int n) {
  const lb_section *st = lb_sections_find(secs, n, "train.state"), *op = lb_sections_find(secs, n, "optim");
  lb_status s = need(st, path, "train.state");
  if (!s) s = need(op, path, "optim");
  if (s) return s;
  s = lb_trainer_setup(t);
  if (s) return s;
  lb_reader r;
  lb_reader_init(&r, st->data, (size_t)st->len);
  t->epoch = lb_get_i32(&r);
  t->step = lb_get_i32(&r);
  t->global_step = lb_get_i64(&r);
  t->sum_loss = lb_get_f64(&r);
  t->sum_correct = lb_get_i64(&r);
  t->sum_seen = lb_get_i64(&r);
  if (r.overrun || lb_reader_left(&r) || t->epoch < 0 || t->epoch > t->cfg.epochs || t->step < 0 ||
      t->step > t->steps_per_epoch || t->global_step != (int64_t)t->epoch * t->steps_per_epoch + t->step)
    return lb_fail(LB_ERR_FORMAT, "%s: training position is inconsistent with the data (%d steps per epoch)", path,
                   t->steps_per_epoch);
  lb_reader_init(&r, op->data, (size_t)op->len);
  int32_t kind = lb_get_i32(&r);
  int64_t steps = lb_get_i64(&r), floats = lb_get_i64(&r);
  if (r.overrun || kind != (int32_t)t->optim.cfg.kind || floats != t->optim.state_floats ||
      lb_reader_left(&r) != (size_t)floats * sizeof(float) || steps < 0)
    return lb_fail(LB_ERR_FORMAT, "%s: optimizer state does not match the model", path);
  t->optim.steps = steps;
  lb_get(&r, t->optim.state, (size_t)floats * sizeof(float));
  return LB_OK;
}

lb_status lb_trainer_resume(lb_trainer **out, const char *path, const lb_dataset *train, const lb_dataset *test) {
  *out = NULL;
  lb_trainer *t = calloc(1, sizeof *t);
  if (!t) return lb_fail(LB_ERR_NOMEM, "train: out of memory");
  t->train = train;
  t->test = test;
  lb_section *secs = NULL;
  int n = 0;
  lb_status s = lb_lbm_load(path, &t->g, &secs, &n);
  if (!s) {
    const lb_section *c = lb_sections_find(secs, n, "train.config");
    s = need(c, path, "train.config");
    if (!s) s = lb_train_config_read(c->data, (size_t)c->len, &t->cfg);
    if (s == LB_ERR_FORMAT || s == LB_ERR_ARG || s == LB_ERR_VERSION) s = lb_fail(s, "%s: %s", path, lb_last_error());
  }
  if (!s) s = restore(t, path, secs, n);
  lb_sections_free(secs, n);
  if (s) {
    lb_trainer_free(t);
    return s;
  }
  *out = t;
  return LB_OK;
}

lb_status lb_model_load(const char *path, lb_graph **g, lb_train_config *cfg, int *has_cfg) {
  lb_section *secs = NULL;
  int n = 0;
  *has_cfg = 0;
  lb_status s = lb_lbm_load(path, g, &secs, &n);
  if (s) return s;
  const lb_section *c = lb_sections_find(secs, n, "train.config");
  if (c) {
    s = lb_train_config_read(c->data, (size_t)c->len, cfg);
    if (s) {
      s = lb_fail(s, "%s: %s", path, lb_last_error());
      lb_graph_free(*g);
      *g = NULL;
    } else
      *has_cfg = 1;
  }
  lb_sections_free(secs, n);
  return s;
}

lb_status lb_model_save(const char *path, const lb_graph *g, const lb_train_config *cfg) {
  lb_buf b = {0};
  lb_train_config_write(&b, cfg);
  lb_section sec = {"train.config", b.data, b.len};
  lb_status s = b.oom ? lb_fail(LB_ERR_NOMEM, "%s: out of memory", path) : lb_lbm_save(path, g, &sec, 1);
  lb_buf_free(&b);
  return s;
}
