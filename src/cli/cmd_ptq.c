/* lowbit ptq: post-training quantization of a float model (calibration, no training). */
#include <stdio.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/quant_common.h"

int lb_cmd_ptq(int argc, char **argv) {
  lb_quant_job j = {.verb = "ptq", .calib = 512};
  const char *backend = "academic", *bn_fold = "none", *observer = "minmax", *w_observer = "minmax", *save = NULL;
  int wbits = 8, abits = 8, threads = 0, json = 0;
  lb_arg args[] = {
      {"model", LB_ARG_STR, &j.model, "float model (.lbm) to quantize", 0},
      {"backend", LB_ARG_STR, &backend, "target rules (lowbit backends lists them; default academic)", 0},
      {"layer-bits", LB_ARG_STR, &j.layer_bits, "per-layer bits: NAME=W/A[,...] (- keeps the plan's; NAME=float leaves a layer unquantized; lowbit info lists names)", 0},
      {"bn-fold", LB_ARG_STR, &bn_fold, "BN folding: none (default), merge, freeze, fold (PyTorch ConvBn2d), naive, whitepaper", 0},
      {"w", LB_ARG_INT, &wbits, "weight bits (default 8; 1 = binary +-1)", 0},
      {"a", LB_ARG_INT, &abits, "activation bits (default 8)", 0},
      {"observer", LB_ARG_STR, &observer, "activation observer: minmax, ema, percentile, mse, kl, lsq", 0},
      {"w-observer", LB_ARG_STR, &w_observer, "weight observer (default minmax)", 0},
      {"calib", LB_ARG_INT, &j.calib, "calibration images from the training set (default 512)", 0},
      {"limit-test", LB_ARG_INT, &j.limit_test, "evaluate on the first N test images only", 0},
      {"threads", LB_ARG_INT, &threads, "threads (default: all cores)", 0},
      {"save", LB_ARG_STR, &save, "write the quantized model here", 0},
      {"json", LB_ARG_FLAG, &json, "print the result as JSON", 0},
      {"quiet", LB_ARG_FLAG, &j.quiet, "no progress output", 0},
  };
  lb_args_spec spec = {"ptq", "lowbit ptq --model FP32.lbm [--w 8 --a 8 --observer mse --calib 512] [--save Q.lbm]",
                       "Insert quantizers by a backend's rules, set their scales from calibration data, and report "
                       "the simulated accuracy. Rounding is to nearest; AdaRound and bias correction are not "
                       "implemented yet. --bn-fold merge|freeze|fold quantizes the BN-folded weights (all three "
                       "evaluate as conv with the folded weight and bias); none keeps BN after the conv.",
                       args, (int)(sizeof args / sizeof args[0]), NULL, 0, 0};
  int rc = lb_args_parse(&spec, argc, argv);
  if (rc >= 0) return rc;
  if (j.calib < 1 || threads < 0) {
    fprintf(stderr, "lowbit ptq: --calib must be >= 1 and --threads >= 0\n");
    return LB_EXIT_USAGE;
  }
  lb_set_num_threads(threads);
  j.req = (lb_qplan_request){.backend = backend, .wbits = wbits, .abits = abits, .est = LB_EST_STE};
  lb_bn_fold fold;
  if (lb_bn_fold_parse(bn_fold, &fold)) {
    fprintf(stderr, "lowbit ptq: %s\n", lb_last_error());
    return LB_EXIT_USAGE;
  }
  j.req.bn_fold = fold;
  if (lb_observer_kind_parse(observer, &j.req.a_observer) || lb_observer_kind_parse(w_observer, &j.req.w_observer)) {
    fprintf(stderr, "lowbit ptq: %s\n", lb_last_error());
    return LB_EXIT_USAGE;
  }
  rc = lb_quant_job_prepare(&j);
  if (rc) return rc;
  double acc, loss;
  if (lb_evaluate(j.qg, &j.test, &j.cfg.aug, 256, &acc, &loss)) {
    fprintf(stderr, "lowbit ptq: %s\n", lb_last_error());
    lb_quant_job_free(&j);
    return LB_EXIT_FAIL;
  }
  if (save && lb_model_save(save, j.qg, &j.cfg)) {
    fprintf(stderr, "lowbit ptq: %s\n", lb_last_error());
    lb_quant_job_free(&j);
    return LB_EXIT_FAIL;
  }
  if (json)
    printf("{\"verb\":\"ptq\",\"backend\":\"%s\",\"bn_fold\":\"%s\",\"w\":%d,\"a\":%d,\"observer\":\"%s\",\"calib\":%d,\"float_accuracy\":%.6f,"
           "\"accuracy\":%.6f,\"loss\":%.6f}\n",
           backend, bn_fold, wbits, abits, observer, j.calib, j.float_acc, acc, loss);
  else
    printf("ptq W%dA%d %s (%s observer): accuracy %.2f%% (float %.2f%%, %+.2f points)%s%s\n", wbits, abits, backend, observer,
           100 * acc, 100 * j.float_acc, 100 * (acc - j.float_acc), save ? ", saved " : "", save ? save : "");
  lb_quant_job_free(&j);
  return LB_EXIT_OK;
}
