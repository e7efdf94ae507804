/* Default training recipes per zoo model, and validation of a training configuration. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lowbit/train.h"

lb_status lb_train_config_default(lb_train_config *cfg, const char *model) {
  memset(cfg, 0, sizeof *cfg);
  int known = 0;
  for (const char *const *n = lb_zoo_names(); *n; n++) known |= !strcmp(*n, model);
  if (!known) return lb_fail(LB_ERR_NOT_FOUND, "unknown model '%s' (known: mlp, lenet5, resnet8, resnet20, mobilenetv2-tiny)", model);
  snprintf(cfg->model, sizeof cfg->model, "%s", model);
  snprintf(cfg->data, sizeof cfg->data, "fashion-mnist");
  cfg->batch = 128;
  cfg->eval_batch = 256;
  cfg->seed = 1;
  lb_optim_config_default(&cfg->optim, LB_OPTIM_SGD);
  cfg->optim.momentum = 0.9f;
  cfg->optim.nesterov = 1;
  cfg->optim.weight_decay = 5e-4f;
  cfg->sched.kind = LB_SCHED_COSINE;
  cfg->gamma = 0.1f;
  cfg->step_epochs = 10;
  if (!strcmp(model, "mlp") || !strcmp(model, "lenet5")) {
    cfg->epochs = 10;
    cfg->lr = 0.05f;
    cfg->warmup_epochs = 0.0f;
  } else {
    /* CNNs with batch norm: a short warm-up, then cosine; random crop and flip. */
    cfg->epochs = 20;
    cfg->lr = 0.1f;
    cfg->warmup_epochs = 1.0f;
    cfg->aug.crop_pad = 2;
    cfg->aug.hflip = 1;
  }
  return LB_OK;
}

static int finite_pos(float v) { return isfinite(v) && v > 0.0f; }

lb_status lb_train_config_validate(const lb_train_config *c) {
  if (c->epochs < 1 || c->epochs > 100000) return lb_fail(LB_ERR_ARG, "epochs must be in 1..100000, got %d", c->epochs);
  if (c->batch < 1 || c->batch > 65536) return lb_fail(LB_ERR_ARG, "batch size must be in 1..65536, got %d", c->batch);
  if (c->eval_batch < 1 || c->eval_batch > 65536)
    return lb_fail(LB_ERR_ARG, "evaluation batch size must be in 1..65536, got %d", c->eval_batch);
  if (!finite_pos(c->lr) || c->lr > 100.0f) return lb_fail(LB_ERR_ARG, "learning rate must be in (0, 100], got %g", (double)c->lr);
  if (!(c->min_lr >= 0.0f && c->min_lr <= c->lr))
    return lb_fail(LB_ERR_ARG, "minimum learning rate must be in [0, lr], got %g", (double)c->min_lr);
  if (!(c->warmup_epochs >= 0.0f && c->warmup_epochs <= (float)c->epochs))
    return lb_fail(LB_ERR_ARG, "warm-up must be in [0, epochs], got %g epochs", (double)c->warmup_epochs);
  if (c->sched.kind == LB_SCHED_STEP && (c->step_epochs < 1 || !(c->gamma > 0.0f && c->gamma <= 1.0f)))
    return lb_fail(LB_ERR_ARG, "step schedule needs --step-epochs >= 1 and 0 < gamma <= 1");
  if (!(c->label_smoothing >= 0.0f && c->label_smoothing < 1.0f))
    return lb_fail(LB_ERR_ARG, "label smoothing must be in [0, 1), got %g", (double)c->label_smoothing);
  if (c->aug.crop_pad < 0 || c->aug.crop_pad > 64) return lb_fail(LB_ERR_ARG, "crop padding must be in 0..64, got %d", c->aug.crop_pad);
  if (c->aug.hflip != 0 && c->aug.hflip != 1) return lb_fail(LB_ERR_ARG, "hflip must be 0 or 1");
  if (c->optim.kind < 0 || c->optim.kind >= LB_OPTIM_KIND_COUNT) return lb_fail(LB_ERR_ARG, "unknown optimizer");
  if (!(c->optim.weight_decay >= 0.0f && c->optim.weight_decay < 1.0f))
    return lb_fail(LB_ERR_ARG, "weight decay must be in [0, 1), got %g", (double)c->optim.weight_decay);
  return LB_OK;
}
