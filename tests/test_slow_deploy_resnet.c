/* The imported CIFAR-10 ResNet-20 end to end through the CLI, on all 1000 shared test images:
 * import, PTQ W8A8 on tensorrt and fbgemm (512 calibration images of data_batch_1), deploy,
 * verify 0 LSB, lowbit eval of the program (integer accuracy within 1.5 points of the float
 * 91.5%), and a short QAT run (512 images, 1 epoch, --lr 0.001) whose result deploys and
 * verifies. About two minutes on two shared cores; skips visibly when shared/ is absent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy_resnet.h"

/* The accuracy in percent from "accuracy X%" of the last CLI output, or -1. */
static double accuracy_pct(void) {
  const char *a = strstr(lbt_out, "accuracy ");
  return a ? atof(a + 9) : -1.0;
}

static void program_case(const char *label, const char *model, const char *backend, const char *data) {
  const char *lbp = lbt_tmp_path("r20.lbp");
  CHECK(lbt_run_cli("deploy --model %s -o %s --backend %s", model, lbp, backend) == 0);
  CHECK(lbt_run_cli("verify --model %s --program %s --images 1000", model, lbp) == 0);
  CHECK_MSG(strstr(lbt_out, "0 LSB in every unit") && strstr(lbt_out, "images 1000"), "%s %s", backend, lbt_out);
  const char *line = strstr(lbt_out, "images 1000");
  printf("%s %s: %.*s\n", label, backend, line ? (int)strcspn(line, "\n") : 0, line ? line : "");
  CHECK(lbt_run_cli("eval %s --data %s", lbp, data) == 0);
  double acc = accuracy_pct();
  printf("  lowbit eval of the program: %.2f%% (float 91.50%%)\n", acc);
  CHECK_MSG(acc >= 90.0 && acc <= 93.0, "%s: integer accuracy %.2f%%", backend, acc);
}

int main(void) {
  const char *shared = rn_shared("test_slow_deploy_resnet");
  if (!shared) return lbt_skip("test_slow_deploy_resnet", "shared ResNet-20 / CIFAR-10 files absent");
  if (!lbt_tmp_init("lbdeployr20")) return lbt_skip("test_slow_deploy_resnet", "no temp dir");
  char data[600];
  snprintf(data, sizeof data, "cifar10:%s/data/cifar10", shared);
  const char *r20 = lbt_tmp_path("r20.lbm"), *q = lbt_tmp_path("r20q.lbm");
  CHECK(lbt_run_cli("import %s/models/resnet20_cifar10.onnx -o %s --data %s --mean 0.485,0.456,0.406 "
                    "--std 0.229,0.224,0.225",
                    shared, r20, data) == 0);
  CHECK(lbt_run_cli("eval %s", r20) == 0);
  CHECK_MSG(accuracy_pct() == 91.5, "float: %s", lbt_out);
  const char *backends[2] = {"tensorrt", "fbgemm"};
  for (int b = 0; b < 2; b++) {
    CHECK(lbt_run_cli("ptq --model %s --backend %s --calib 512 --save %s --quiet", r20, backends[b], q) == 0);
    program_case("ptq", q, backends[b], data);
  }
  CHECK(lbt_run_cli("qat --model %s --backend tensorrt --w 8 --a 8 --limit-train 512 --epochs 1 --lr 0.001 --save %s "
                    "--quiet",
                    r20, q) == 0);
  program_case("qat", q, "tensorrt", data);
  lbt_tmp_cleanup();
  return lbt_finish("test_slow_deploy_resnet");
}
