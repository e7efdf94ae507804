/* lowbit train: train a zoo model on a data set, with checkpoints, resume and progress. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/progress.h"
#include "lowbit/train.h"

static volatile int stop_requested;
static void on_sigint(int sig) {
  (void)sig;
  stop_requested = 1;
}

typedef struct train_ui {
  lb_progress bar;
  int quiet, json;
  char label[32];
} train_ui;

static void on_step(const lb_trainer *t, void *user) {
  train_ui *ui = user;
  if (t->step == 1 || ui->bar.total != t->steps_per_epoch) {
    snprintf(ui->label, sizeof ui->label, "epoch %d/%d", t->epoch + 1, t->cfg.epochs);
    lb_progress_begin(&ui->bar, stderr, ui->quiet, ui->label, t->steps_per_epoch);
  }
  char extra[96];
  double seen = t->step > 0 ? (double)t->sum_seen : 0;
  snprintf(extra, sizeof extra, "loss %.4f acc %.2f%% lr %.4g", t->step ? t->sum_loss / t->step : 0.0,
           seen > 0 ? 100.0 * (double)t->sum_correct / seen : 0.0, (double)t->lr);
  lb_progress_update(&ui->bar, t->step, extra);
}

static void on_epoch(const lb_trainer *t, const lb_epoch_stats *s, void *user) {
  (void)t;
  train_ui *ui = user;
  lb_progress_end(&ui->bar);
  ui->bar.total = 0;
  if (ui->quiet) return;
  if (s->test_acc >= 0)
    fprintf(stderr, "epoch %d/%d  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  lr %.4g  %.1f s\n", s->epoch,
            s->epochs, s->train_loss, 100 * s->train_acc, s->test_loss, 100 * s->test_acc, (double)s->lr, s->seconds);
  else
    fprintf(stderr, "epoch %d/%d  train loss %.4f acc %.2f%%  lr %.4g  %.1f s\n", s->epoch, s->epochs, s->train_loss,
            100 * s->train_acc, (double)s->lr, s->seconds);
}

/* Open the training and test sets, optionally keeping only the first images of each. */
int lb_cli_open_data(const char *verb, const char *spec, int train, int limit, lb_dataset *d) {
  lb_status s = lb_dataset_open(spec, train, d);
  if (s) {
    fprintf(stderr, "lowbit %s: %s\n", verb, lb_last_error());
    return LB_EXIT_USAGE;
  }
  if (limit > 0 && limit < d->n) {
    lb_dataset part;
    s = lb_dataset_slice(d, 0, limit, &part);
    lb_dataset_free(d);
    if (s) {
      fprintf(stderr, "lowbit %s: %s\n", verb, lb_last_error());
      return LB_EXIT_FAIL;
    }
    *d = part;
  }
  return LB_EXIT_OK;
}

int lb_cmd_train(int argc, char **argv) {
  lb_train_config cfg;
  const char *model = "resnet8", *data = NULL, *test_data = NULL, *save = NULL, *resume = NULL;
  const char *optimizer = NULL, *schedule = NULL;
  int threads = 0, json = 0, quiet = 0, stop_after = 0, limit_train = 0, limit_test = 0, no_test = 0;
  /* hyperparameters land in a scratch config first; defaults come from the model's recipe */
  lb_train_config o;
  memset(&o, 0, sizeof o);
  lb_arg args[] = {
      {"model", LB_ARG_STR, &model, "zoo model: mlp, lenet5, resnet8 (default), resnet20, mobilenetv2-tiny", 0},
      {"data", LB_ARG_STR, &data, "training data: fashion-mnist[:DIR] (default), cifar10:DIR, idx:IMG,LBL, cifar:FILES", 0},
      {"test-data", LB_ARG_STR, &test_data, "test data (default: the test split of --data)", 0},
      {"no-test", LB_ARG_FLAG, &no_test, "do not evaluate after each epoch", 0},
      {"epochs", LB_ARG_INT, &o.epochs, "number of epochs", 0},
      {"batch", LB_ARG_INT, &o.batch, "batch size (default 128)", 0},
      {"lr", LB_ARG_FLOAT, &o.lr, "peak learning rate", 0},
      {"min-lr", LB_ARG_FLOAT, &o.min_lr, "final learning rate of the cosine schedule (default 0)", 0},
      {"optimizer", LB_ARG_STR, &optimizer, "sgd (default), adam, adamw", 0},
      {"momentum", LB_ARG_FLOAT, &o.optim.momentum, "SGD momentum (default 0.9)", 0},
      {"nesterov", LB_ARG_INT, &o.optim.nesterov, "SGD Nesterov momentum 0/1 (default 1)", 0},
      {"wd", LB_ARG_FLOAT, &o.optim.weight_decay, "weight decay (default 5e-4; decoupled for adamw)", 0},
      {"schedule", LB_ARG_STR, &schedule, "cosine (default), step, constant", 0},
      {"warmup-epochs", LB_ARG_FLOAT, &o.warmup_epochs, "linear warm-up length in epochs", 0},
      {"step-epochs", LB_ARG_INT, &o.step_epochs, "step schedule: decay every N epochs", 0},
      {"gamma", LB_ARG_FLOAT, &o.gamma, "step schedule: decay factor", 0},
      {"label-smoothing", LB_ARG_FLOAT, &o.label_smoothing, "label smoothing in [0,1) (default 0)", 0},
      {"crop-pad", LB_ARG_INT, &o.aug.crop_pad, "random-crop padding in pixels (0 = off)", 0},
      {"hflip", LB_ARG_INT, &o.aug.hflip, "random horizontal flip 0/1", 0},
      {"seed", LB_ARG_U64, &o.seed, "random seed (default 1)", 0},
      {"threads", LB_ARG_INT, &threads, "threads (default: all cores)", 0},
      {"save", LB_ARG_STR, &save, "write the model (and a resumable checkpoint) here after every epoch", 0},
      {"resume", LB_ARG_STR, &resume, "continue the run saved in this checkpoint", 0},
      {"stop-after-epochs", LB_ARG_INT, &stop_after, "stop (as if interrupted) after N epochs of this run", 0},
      {"limit-train", LB_ARG_INT, &limit_train, "use only the first N training images", 0},
      {"limit-test", LB_ARG_INT, &limit_test, "use only the first N test images", 0},
      {"json", LB_ARG_FLAG, &json, "print the result as JSON on stdout", 0},
      {"quiet", LB_ARG_FLAG, &quiet, "no progress output", 0},
  };
  lb_args_spec spec = {"train", "lowbit train [options]",
                       "Train a float model from the zoo. Ctrl-C stops after the current step and, with --save, "
                       "writes a checkpoint that --resume continues bit-exactly.",
                       args, (int)(sizeof args / sizeof args[0]), NULL, 0, 0};
  int rc = lb_args_parse(&spec, argc, argv);
  if (rc >= 0) return rc;
  /* from here on Ctrl-C means "stop after the current step and save", even during loading */
  signal(SIGINT, on_sigint);
  if (threads < 0) {
    fprintf(stderr, "lowbit train: --threads must be >= 0\n");
    return LB_EXIT_USAGE;
  }
  lb_set_num_threads(threads);

  static const char *const recipe_opts[] = {"model", "epochs", "batch", "lr", "min-lr", "optimizer", "momentum",
                                            "nesterov", "wd", "schedule", "warmup-epochs", "step-epochs", "gamma",
                                            "label-smoothing", "crop-pad", "hflip", "seed", "data"};
  if (resume) {
    for (size_t i = 0; i < sizeof recipe_opts / sizeof recipe_opts[0]; i++)
      if (lb_args_seen(&spec, recipe_opts[i])) {
        fprintf(stderr, "lowbit train: --%s cannot be combined with --resume (the checkpoint holds the recipe)\n",
                recipe_opts[i]);
        return LB_EXIT_USAGE;
      }
  } else {
    if (lb_train_config_default(&cfg, model)) {
      fprintf(stderr, "lowbit train: %s\n", lb_last_error());
      return LB_EXIT_USAGE;
    }
#define TAKE(opt, field) \
  if (lb_args_seen(&spec, opt)) cfg.field = o.field
    TAKE("epochs", epochs);
    TAKE("batch", batch);
    TAKE("lr", lr);
    TAKE("min-lr", min_lr);
    TAKE("momentum", optim.momentum);
    TAKE("nesterov", optim.nesterov);
    TAKE("wd", optim.weight_decay);
    TAKE("warmup-epochs", warmup_epochs);
    TAKE("step-epochs", step_epochs);
    TAKE("gamma", gamma);
    TAKE("label-smoothing", label_smoothing);
    TAKE("crop-pad", aug.crop_pad);
    TAKE("hflip", aug.hflip);
    TAKE("seed", seed);
#undef TAKE
    if (optimizer) {
      lb_optim_kind k;
      if (lb_optim_kind_parse(optimizer, &k)) {
        fprintf(stderr, "lowbit train: unknown optimizer '%s' (sgd, adam, adamw)\n", optimizer);
        return LB_EXIT_USAGE;
      }
      float m = cfg.optim.momentum, wd = cfg.optim.weight_decay;
      int nest = cfg.optim.nesterov;
      lb_optim_config_default(&cfg.optim, k);
      cfg.optim.weight_decay = wd;
      if (k == LB_OPTIM_SGD) {
        cfg.optim.momentum = m;
        cfg.optim.nesterov = nest;
      }
    }
    if (schedule && lb_sched_kind_parse(schedule, &cfg.sched.kind)) {
      fprintf(stderr, "lowbit train: unknown schedule '%s' (cosine, step, constant)\n", schedule);
      return LB_EXIT_USAGE;
    }
    if (data) snprintf(cfg.data, sizeof cfg.data, "%s", data);
    if (lb_train_config_validate(&cfg)) {
      fprintf(stderr, "lowbit train: %s\n", lb_last_error());
      return LB_EXIT_USAGE;
    }
  }

  /* the data spec of a resumed run comes from its checkpoint */
  char data_spec[256];
  if (resume) {
    lb_graph *g;
    int has;
    if (lb_model_load(resume, &g, &cfg, &has)) {
      fprintf(stderr, "lowbit train: %s\n", lb_last_error());
      return LB_EXIT_USAGE;
    }
    lb_graph_free(g);
    if (!has) {
      fprintf(stderr, "lowbit train: %s holds no training recipe; it cannot be resumed\n", resume);
      return LB_EXIT_USAGE;
    }
  }
  snprintf(data_spec, sizeof data_spec, "%s", cfg.data);
  lb_dataset train = {0}, test = {0};
  rc = lb_cli_open_data("train", data_spec, 1, limit_train, &train);
  if (rc) return rc;
  int have_test = !no_test;
  if (have_test) {
    rc = lb_cli_open_data("train", test_data ? test_data : data_spec, 0, limit_test, &test);
    if (rc) {
      lb_dataset_free(&train);
      return rc;
    }
  }

  lb_trainer *t = NULL;
  lb_status s = resume ? lb_trainer_resume(&t, resume, &train, have_test ? &test : NULL)
                       : lb_trainer_create(&t, &cfg, &train, have_test ? &test : NULL);
  if (s) {
    fprintf(stderr, "lowbit train: %s\n", lb_last_error());
    lb_dataset_free(&train);
    lb_dataset_free(&test);
    return s == LB_ERR_NOMEM || s == LB_ERR_IO ? LB_EXIT_FAIL : LB_EXIT_USAGE;
  }
  train_ui ui = {.quiet = quiet, .json = json};
  t->on_step = on_step;
  t->on_epoch = on_epoch;
  t->cb_user = &ui;
  t->stop_flag = &stop_requested;
  t->stop_after_epochs = stop_after;
  if (save) snprintf(t->checkpoint_path, sizeof t->checkpoint_path, "%s", save);
  else if (resume) snprintf(t->checkpoint_path, sizeof t->checkpoint_path, "%s", resume);
  if (!quiet)
    fprintf(stderr, "training %s on %s: %d images, %d epochs of %d steps (batch %d), %d threads%s%s\n", t->cfg.model,
            t->cfg.data, train.n, t->cfg.epochs, t->steps_per_epoch, t->cfg.batch, lb_get_num_threads(),
            resume ? ", resumed at epoch " : "", "");
  double t0 = lb_now();
  s = lb_trainer_run(t);
  signal(SIGINT, SIG_DFL);
  double secs = lb_now() - t0;
  lb_progress_end(&ui.bar);
  if (s == LB_ERR_INTERRUPTED) {
    fprintf(stderr, "lowbit train: %s%s\n", lb_last_error(),
            t->checkpoint_path[0] ? " (continue with lowbit train --resume <file>)" : " (nothing saved: no --save)");
    rc = 130;
  } else if (s) {
    fprintf(stderr, "lowbit train: %s\n", lb_last_error());
    rc = LB_EXIT_FAIL;
  } else {
    double acc = -1, loss = 0;
    if (have_test && lb_evaluate(t->g, &test, &t->cfg.aug, t->cfg.eval_batch, &acc, &loss)) acc = -1;
    if (json)
      printf("{\"model\":\"%s\",\"data\":\"%s\",\"epochs\":%d,\"seed\":%llu,\"threads\":%d,\"test_accuracy\":%.6f,"
             "\"test_loss\":%.6f,\"seconds\":%.3f,\"saved\":%s%s%s}\n",
             t->cfg.model, t->cfg.data, t->cfg.epochs, (unsigned long long)t->cfg.seed, lb_get_num_threads(), acc, loss,
             secs, save ? "\"" : "", save ? save : "null", save ? "\"" : "");
    else if (acc >= 0)
      printf("test accuracy: %.2f%% (%s, %d epochs, %.1f s)\n", 100 * acc, t->cfg.model, t->cfg.epochs, secs);
    else
      printf("training done (%s, %d epochs, %.1f s)\n", t->cfg.model, t->cfg.epochs, secs);
    if (save && !quiet) fprintf(stderr, "saved %s\n", save);
    rc = LB_EXIT_OK;
  }
  lb_trainer_free(t);
  lb_dataset_free(&train);
  lb_dataset_free(&test);
  return rc;
}
