/* lowbit qat: quantization-aware training from a float model. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/quant_common.h"

static volatile int qat_stop;
static void on_sigint(int sig) {
  (void)sig;
  qat_stop = 1;
}

static void on_epoch(const lb_trainer *t, const lb_epoch_stats *s, void *user) {
  (void)t;
  if (*(int *)user) return;
  fprintf(stderr, "epoch %d/%d  train loss %.4f acc %.2f%%  test acc %.2f%%  lr %.4g  %.1f s\n", s->epoch, s->epochs,
          s->train_loss, 100 * s->train_acc, 100 * s->test_acc, (double)s->lr, s->seconds);
}

int lb_cmd_qat(int argc, char **argv) {
  lb_quant_job j = {.verb = "qat", .calib = 256};
  const char *backend = "academic", *bn_fold = "none", *method = NULL, *save = NULL;
  int wbits = 4, abits = 4, threads = 0, json = 0;
  lb_train_config o;
  memset(&o, 0, sizeof o);
  o.epochs = 5;
  o.lr = 0.01f;
  o.optim.weight_decay = 1e-4f;
  o.seed = 1;
  lb_arg args[] = {
      {"model", LB_ARG_STR, &j.model, "float model (.lbm) to start from", 0},
      {"method", LB_ARG_STR, &method, "estimator: lsq (default; log on nnie), lsq+, pact, dorefa, ste, log", 0},
      {"backend", LB_ARG_STR, &backend, "target rules (lowbit backends lists them; default academic)", 0},
      {"layer-bits", LB_ARG_STR, &j.layer_bits, "per-layer bits: NAME=W/A[,...] (- keeps the plan's; NAME=float leaves a layer unquantized; lowbit info lists names)", 0},
      {"bn-fold", LB_ARG_STR, &bn_fold, "BN folding: none (default), merge, freeze, fold (PyTorch ConvBn2d), naive, whitepaper", 0},
      {"w", LB_ARG_INT, &wbits, "weight bits (default 4; 1 = binary +-1)", 0},
      {"a", LB_ARG_INT, &abits, "activation bits (default 4)", 0},
      {"epochs", LB_ARG_INT, &o.epochs, "epochs of fine-tuning (default 5)", 0},
      {"lr", LB_ARG_FLOAT, &o.lr, "peak learning rate (default 0.01, cosine to 0)", 0},
      {"wd", LB_ARG_FLOAT, &o.optim.weight_decay, "weight decay (default 1e-4)", 0},
      {"seed", LB_ARG_U64, &o.seed, "random seed (default 1)", 0},
      {"calib", LB_ARG_INT, &j.calib, "images used to initialise the quantizers (default 256)", 0},
      {"limit-train", LB_ARG_INT, &j.limit_train, "use only the first N training images", 0},
      {"limit-test", LB_ARG_INT, &j.limit_test, "use only the first N test images", 0},
      {"threads", LB_ARG_INT, &threads, "threads (default: all cores)", 0},
      {"save", LB_ARG_STR, &save, "write the quantized model (and a resumable checkpoint) here after every epoch", 0},
      {"json", LB_ARG_FLAG, &json, "print the result as JSON", 0},
      {"quiet", LB_ARG_FLAG, &j.quiet, "no progress output", 0},
  };
  lb_args_spec spec = {"qat", "lowbit qat --model FP32.lbm [--method lsq --w 4 --a 4 --backend academic --epochs 5] [--save Q.lbm]",
                       "Insert quantizers into a float model by a backend's rules, initialise them on training images, "
                       "and fine-tune with the chosen estimator. The model's recipe supplies data and augmentation; "
                       "SGD with Nesterov momentum and a cosine schedule. --bn-fold picks MQBench's BN folding: none "
                       "keeps conv -> BN unfolded (academic setting); merge folds BN into the conv once with "
                       "the running statistics; freeze folds with frozen running statistics every step; fold "
                       "is PyTorch's ConvBn2d (folded weight quantized, batch-statistics BN in training); naive "
                       "folds with the batch statistics of a float conv; whitepaper folds with the running "
                       "statistics and rescales the output to the batch statistics in training.",
                       args, (int)(sizeof args / sizeof args[0]), NULL, 0, 0};
  int rc = lb_args_parse(&spec, argc, argv);
  if (rc >= 0) return rc;
  if (threads < 0 || j.calib < 1) {
    fprintf(stderr, "lowbit qat: --threads must be >= 0 and --calib >= 1\n");
    return LB_EXIT_USAGE;
  }
  lb_set_num_threads(threads);
  j.req = (lb_qplan_request){.backend = backend, .wbits = wbits, .abits = abits,
                             .w_observer = LB_OBS_MINMAX, .a_observer = LB_OBS_MINMAX};
  lb_bn_fold fold;
  if (lb_bn_fold_parse(bn_fold, &fold)) {
    fprintf(stderr, "lowbit qat: %s\n", lb_last_error());
    return LB_EXIT_USAGE;
  }
  j.req.bn_fold = fold;
  if (!method) { /* a log-grid backend (nnie) has one quantizer of its own */
    const lb_backend *b = lb_backend_find(backend);
    method = b && b->log_grid ? "log" : "lsq";
  }
  if (lb_estimator_parse(method, &j.req.est)) {
    fprintf(stderr, "lowbit qat: %s\n", lb_last_error());
    return LB_EXIT_USAGE;
  }
  if (j.req.est == LB_EST_LSQ || j.req.est == LB_EST_LSQ_PLUS) j.req.w_observer = j.req.a_observer = LB_OBS_LSQ;
  signal(SIGINT, on_sigint);
  rc = lb_quant_job_prepare(&j);
  if (rc) return rc;
  /* the float recipe supplies data, normalisation and augmentation; fine-tuning its own schedule */
  lb_train_config cfg = j.cfg;
  cfg.epochs = o.epochs;
  cfg.lr = o.lr;
  cfg.min_lr = 0.0f;
  cfg.warmup_epochs = 0.0f;
  cfg.sched.kind = LB_SCHED_COSINE;
  cfg.optim.weight_decay = o.optim.weight_decay;
  cfg.seed = o.seed;
  lb_trainer *t;
  lb_graph *qg = j.qg;
  j.qg = NULL; /* the trainer owns it now */
  lb_status s = lb_trainer_create_from_graph(&t, &cfg, qg, &j.train, &j.test);
  if (s) {
    fprintf(stderr, "lowbit qat: %s\n", lb_last_error());
    lb_quant_job_free(&j);
    return LB_EXIT_USAGE;
  }
  t->on_epoch = on_epoch;
  t->cb_user = &j.quiet;
  t->stop_flag = &qat_stop;
  if (save) snprintf(t->checkpoint_path, sizeof t->checkpoint_path, "%s", save);
  if (!j.quiet)
    fprintf(stderr, "qat %s W%dA%d on %s (%s): %d epochs; float model %.2f%%\n", method, wbits, abits, backend,
            cfg.model, cfg.epochs, 100 * j.float_acc);
  s = lb_trainer_run(t);
  double acc = -1, loss = 0;
  if (!s) s = lb_evaluate(t->g, &j.test, &t->cfg.aug, 256, &acc, &loss);
  if (s == LB_ERR_INTERRUPTED) {
    fprintf(stderr, "lowbit qat: %s\n", lb_last_error());
    rc = 130;
  } else if (s) {
    fprintf(stderr, "lowbit qat: %s\n", lb_last_error());
    rc = LB_EXIT_FAIL;
  } else if (json) {
    printf("{\"verb\":\"qat\",\"method\":\"%s\",\"backend\":\"%s\",\"bn_fold\":\"%s\",\"w\":%d,\"a\":%d,\"epochs\":%d,\"seed\":%llu,"
           "\"float_accuracy\":%.6f,\"accuracy\":%.6f,\"loss\":%.6f}\n",
           method, backend, bn_fold, wbits, abits, cfg.epochs, (unsigned long long)cfg.seed, j.float_acc, acc, loss);
  } else {
    printf("qat %s W%dA%d %s: accuracy %.2f%% (float %.2f%%, %+.2f points)\n", method, wbits, abits, backend, 100 * acc,
           100 * j.float_acc, 100 * (acc - j.float_acc));
  }
  lb_trainer_free(t);
  lb_quant_job_free(&j);
  return rc;
}
