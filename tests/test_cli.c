/* The lowbit program end to end: exit codes and one-line errors for bad input, --help on every
 * verb, info, and (with Fashion-MNIST installed) train -> save -> eval and bit-exact resume. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lowbit/bytes.h"
#include "testutil.h"

static char dir[] = "/tmp/lbtest_cliXXXXXX";
static char err_path[300]; /* stderr of the SIGINT run */

#define run lbt_run_cli
#define out_text lbt_out
#define err_text lbt_err
#define slurp lbt_slurp

static int one_line(const char *s) {
  const char *nl = strchr(s, '\n');
  return s[0] && nl && nl[1] == '\0';
}

static void expect_usage_error(const char *needle, const char *fmt, ...) {
  char args[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  int rc = run("%s", args);
  CHECK_MSG(rc == 2, "'lowbit %s' exited %d", args, rc);
  CHECK_MSG(one_line(err_text), "'lowbit %s' stderr is not one line: %s", args, err_text);
  CHECK_MSG(strstr(err_text, needle) != NULL, "'lowbit %s' said: %s (expected '%s')", args, err_text, needle);
}

int main(void) {
  if (!mkdtemp(dir)) return lbt_skip("test_cli", "no temp dir");
  snprintf(err_path, sizeof err_path, "%s/err", dir);

  CHECK(run("%s", "") == 2);
  CHECK(run("--help") == 0 && strstr(out_text, "train") && strstr(out_text, "eval") && strstr(out_text, "info"));
  const char *verbs[] = {"train", "eval", "info"};
  for (int i = 0; i < 3; i++) {
    CHECK_MSG(run("%s --help", verbs[i]) == 0, "%s --help", verbs[i]);
    CHECK(strstr(out_text, "usage: lowbit") != NULL);
  }
  expect_usage_error("unknown verb", "frobnicate");
  expect_usage_error("unknown model 'resnet9000'", "train --model resnet9000");
  expect_usage_error("learning rate", "train --lr -1");
  expect_usage_error("not a valid integer", "train --epochs abc");
  expect_usage_error("epochs must be", "train --epochs 0");
  expect_usage_error("unknown option", "train --epoch 3");
  expect_usage_error("needs a value", "train --epochs");
  expect_usage_error("unknown optimizer", "train --optimizer lion");
  expect_usage_error("unknown data set", "train --data mnist-ish");
  expect_usage_error("cannot open", "train --data idx:/nonexistent/a,/nonexistent/b");
  expect_usage_error("cannot open", "eval --model /nonexistent/m.lbm");
  expect_usage_error("--model", "eval");

  /* a corrupt model file */
  char bad[400];
  snprintf(bad, sizeof bad, "%s/bad.lbm", dir);
  FILE *f = fopen(bad, "wb");
  fputs("LOWBITM\n garbage garbage garbage garbage", f);
  fclose(f);
  expect_usage_error("bad.lbm", "eval --model %s", bad);
  expect_usage_error("bad.lbm", "info %s", bad);

  CHECK(run("info resnet8") == 0 && strstr(out_text, "layer3.0.2.conv") && strstr(out_text, "77754"));
  CHECK(run("info resnet20 --input 3,32,32 --json") == 0 && strstr(out_text, "\"params\":272474"));
  expect_usage_error("--input", "info resnet8 --input 28x28");

  const char *fm = "/usr/share/datasets/fashion-mnist";
  char probe[256];
  snprintf(probe, sizeof probe, "%s/train-labels-idx1-ubyte.gz", fm);
  char probe2[256];
  snprintf(probe2, sizeof probe2, "%s/train-labels-idx1-ubyte", fm);
  if (!lbt_file_exists(probe) && !lbt_file_exists(probe2)) {
    printf("Fashion-MNIST not installed: train/eval part skipped\n");
    int rc = lbt_finish("test_cli");
    return rc ? rc : lbt_skip("test_cli", "Fashion-MNIST (dataset-fashion-mnist) not installed");
  }
  char full[400], part[400];
  snprintf(full, sizeof full, "%s/full.lbm", dir);
  snprintf(part, sizeof part, "%s/part.lbm", dir);
  const char *common = "--model mlp --limit-train 2048 --limit-test 500 --epochs 2 --threads 2 --batch 64";
  CHECK(run("train %s --save %s --json", common, full) == 0);
  CHECK_MSG(strstr(out_text, "\"test_accuracy\":0.") != NULL, "json: %s", out_text);
  CHECK(strstr(err_text, "epoch 2/2") != NULL); /* progress lines when not on a terminal */
  double acc = -1;
  const char *a = strstr(out_text, "\"test_accuracy\":");
  if (a) acc = atof(a + 16);
  CHECK_MSG(acc > 0.7, "mlp on 2048 images reached %.3f", acc);
  CHECK(run("eval --model %s --limit 500 --json", full) == 0);
  double acc2 = -2;
  a = strstr(out_text, "\"accuracy\":");
  if (a) acc2 = atof(a + 11);
  CHECK_MSG(acc2 == acc || (acc2 - acc < 1e-6 && acc - acc2 < 1e-6), "eval %.6f vs train %.6f", acc2, acc);

  /* interrupted after one epoch, then resumed: the same bytes as the uninterrupted run */
  CHECK(run("train %s --save %s --stop-after-epochs 1", common, part) == 130);
  CHECK(strstr(err_text, "--resume") != NULL);
  expect_usage_error("cannot be combined", "train --resume %s --lr 0.1", part);
  CHECK(run("train --resume %s --limit-train 2048 --limit-test 500 --threads 2", part) == 0);
  uint8_t *da, *db;
  size_t la, lb;
  CHECK_OK(lb_read_file(full, &da, &la));
  CHECK_OK(lb_read_file(part, &db, &lb));
  CHECK_MSG(la == lb && !memcmp(da, db, la), "resumed model differs from the uninterrupted one");
  free(da);
  free(db);

  /* quantization verbs on the float model just trained */
  char q[400];
  snprintf(q, sizeof q, "%s/q.lbm", dir);
  CHECK(run("ptq --model %s --w 8 --a 8 --calib 128 --limit-test 500 --save %s --json --threads 2", full, q) == 0);
  double ptq_acc = -1, float_acc = -1;
  a = strstr(out_text, "\"accuracy\":");
  if (a) ptq_acc = atof(a + 11);
  a = strstr(out_text, "\"float_accuracy\":");
  if (a) float_acc = atof(a + 17);
  CHECK_MSG(float_acc > 0.7 && ptq_acc > float_acc - 0.02, "ptq W8A8 %.4f vs float %.4f", ptq_acc, float_acc);
  CHECK(run("eval --model %s --limit 500 --json", q) == 0); /* a quantized model evaluates like any other */
  a = strstr(out_text, "\"accuracy\":");
  CHECK_MSG(a && atof(a + 11) == ptq_acc, "eval of the saved quantized model: %s", out_text);
  expect_usage_error("already quantized", "ptq --model %s", q);
  expect_usage_error("already quantized", "qat --model %s", q);
  expect_usage_error("8-bit only", "ptq --model %s --backend tensorrt --w 4 --a 4", full);
  expect_usage_error("unknown backend", "qat --model %s --backend tpu9", full);
  expect_usage_error("unknown quantization method", "qat --model %s --method magic", full);
  expect_usage_error("unknown observer", "ptq --model %s --observer guess", full);
  CHECK(run("qat --model %s --w 4 --a 4 --epochs 1 --limit-train 512 --limit-test 200 --calib 64 --threads 2 --json",
            full) == 0);
  CHECK_MSG(strstr(out_text, "\"method\":\"lsq\"") != NULL, "qat json: %s", out_text);
  CHECK(run("backends") == 0 && strstr(out_text, "tensorrt") && strstr(out_text, "[-127,127]") &&
        strstr(out_text, "[-64,63]"));
  remove(q);

  /* a real Ctrl-C: the run stops after its current step, saves, says how to resume, exits 130 */
  char cmd[2048], sig[400];
  snprintf(sig, sizeof sig, "%s/sig.lbm", dir);
  snprintf(cmd, sizeof cmd,
           "'%s' train --model mlp --limit-train 2048 --limit-test 200 --epochs 500 --threads 2 --save '%s' "
           "2>'%s' & pid=$!; sleep 1.5; kill -INT $pid; wait $pid",
           lbt_cli(), sig, err_path);
  int st = system(cmd);
  slurp(err_path, err_text, sizeof err_text);
  CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 130, "SIGINT run exited %d: %s", WEXITSTATUS(st), err_text);
  CHECK(strstr(err_text, "state saved to") != NULL && strstr(err_text, "--resume") != NULL);
  CHECK(run("info %s", sig) == 0);
  remove(sig);

  remove(full);
  remove(part);
  remove(bad);
  remove(err_path);
  rmdir(dir);
  return lbt_finish("test_cli");
}
