/* The deploy verbs end to end: lowbit deploy / run / verify / eval (of a program) on a small quantized model, their
 * JSON, exit codes, and clear errors (a backend the model breaks, an academic residual net, a
 * corrupt program, a program from another model). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy_testlib.h"
#include "lowbit/bytes.h"

static int save_quantized(const char *model, const char *backend, int bits, const lb_dataset *d, const char *path) {
  lb_status st;
  lb_graph *qg = dtl_quantized(model, backend, bits, bits, LB_BN_FOLD_PYTORCH, d, &st);
  CHECK_MSG(qg != NULL, "%s", lb_last_error());
  if (!qg) return 0;
  CHECK_OK(lb_lbm_save(path, qg, NULL, 0));
  lb_graph_free(qg);
  return 1;
}

int main(void) {
  const char *fm = "/usr/share/datasets/fashion-mnist";
  char probe[512];
  snprintf(probe, sizeof probe, "%s/t10k-labels-idx1-ubyte", fm);
  char probe_gz[520];
  snprintf(probe_gz, sizeof probe_gz, "%s.gz", probe);
  if (!lbt_file_exists(probe) && !lbt_file_exists(probe_gz))
    return lbt_skip("test_deploy_cli", "Fashion-MNIST (dataset-fashion-mnist) not installed");
  if (!lbt_tmp_init("lbdeploycli")) return lbt_skip("test_deploy_cli", "no temp dir");
  lb_dataset d;
  dtl_dataset(&d, 16, 3);
  const char *q = lbt_tmp_path("q.lbm"), *p = lbt_tmp_path("p.lbp"), *acad = lbt_tmp_path("acad.lbm");
  const char *other = lbt_tmp_path("other.lbm"), *preds = lbt_tmp_path("preds.txt"), *bad = lbt_tmp_path("bad.lbp");
  if (save_quantized("lenet5", "fbgemm", 4, &d, q) && save_quantized("resnet8", "academic", 4, &d, acad) &&
      save_quantized("lenet5", "tvm", 4, &d, other)) {
    CHECK(lbt_run_cli("deploy --model %s -o %s --backend fbgemm", q, p) == 0);
    CHECK_MSG(strstr(lbt_out, "arena") && strstr(lbt_out, "steps"), "%s", lbt_out);
    CHECK(lbt_run_cli("deploy --model %s --out %s --json", q, p) == 0);
    CHECK_MSG(strstr(lbt_out, "\"arena_bytes_per_image\":"), "%s", lbt_out);
    /* the model breaks tensorrt's rules (4 bits, affine) */
    CHECK(lbt_run_cli("deploy --model %s -o %s --backend tensorrt", q, bad) == 2);
    CHECK_MSG(strstr(lbt_err, "rule"), "%s", lbt_err);
    /* academic resnet: the residual adds stay float, said so; verify still holds at 0 LSB */
    CHECK(lbt_run_cli("deploy --model %s -o %s", acad, bad) == 0);
    CHECK_MSG(strstr(lbt_err, "10 steps compute in float") && strstr(lbt_err, "not integer-only"), "%s", lbt_err);
    CHECK(lbt_run_cli("info %s --json", bad) == 0);
    CHECK_MSG(strstr(lbt_out, "\"float_steps\":10") && strstr(lbt_out, "\"kind\":\"fadd\""), "%s", lbt_out);
    CHECK(lbt_run_cli("verify --model %s --program %s --data fashion-mnist --images 32 --json", acad, bad) == 0);
    CHECK(lbt_run_cli("export --program %s --c %s", bad, lbt_tmp_path("acad_c")) == 2);
    CHECK_MSG(strstr(lbt_err, "integer-only"), "%s", lbt_err);
    CHECK(lbt_run_cli("run --program %s --data fashion-mnist --limit 64 --accuracy --json --out %s", p, preds) == 0);
    CHECK_MSG(strstr(lbt_out, "\"accuracy\":") && strstr(lbt_out, "\"images\":64"), "%s", lbt_out);
    /* eval on a program: the engine's accuracy, same as run's; no loss, said so */
    char run_acc[64] = "", *a = strstr(lbt_out, "\"accuracy\":");
    if (a) snprintf(run_acc, sizeof run_acc, "%.*s", (int)strcspn(a, ",}"), a);
    CHECK(lbt_run_cli("eval %s --data fashion-mnist --limit 64 --json", p) == 0);
    CHECK_MSG(run_acc[0] && strstr(lbt_out, run_acc) && strstr(lbt_out, "\"loss\":null") &&
                  strstr(lbt_out, "\"images\":64") && strstr(lbt_out, "\"program\":true"),
              "%s vs run's %s", lbt_out, run_acc);
    CHECK(lbt_run_cli("eval --model %s --data fashion-mnist --limit 64 --mean 0 --std 1 --json", p) == 0);
    CHECK_MSG(run_acc[0] && strstr(lbt_out, run_acc), "the program's own normalisation given explicitly: %s", lbt_out);
    CHECK(lbt_run_cli("eval %s --data fashion-mnist --limit 16", p) == 0);
    CHECK_MSG(strstr(lbt_out, "accuracy") && strstr(lbt_out, "no loss"), "%s", lbt_out);
    CHECK(lbt_run_cli("eval %s --data fashion-mnist --limit 16 --std 0", p) == 2);
    CHECK(lbt_run_cli("eval %s --limit 16", p) == 2);
    CHECK_MSG(strstr(lbt_err, "--data"), "%s", lbt_err);
    char buf[1024];
    lbt_slurp(preds, buf, sizeof buf);
    int lines = 0;
    for (char *c = buf; *c; c++) lines += *c == '\n';
    CHECK(lines == 64);
    CHECK(lbt_run_cli("verify --model %s --program %s --data fashion-mnist --images 48 --batch 16", q, p) == 0);
    CHECK_MSG(strstr(lbt_out, "0 LSB in every unit"), "%s", lbt_out);
    CHECK(lbt_run_cli("verify --model %s --data fashion-mnist --images 32 --json", q) == 0);
    CHECK_MSG(strstr(lbt_out, "\"exact\":true") && strstr(lbt_out, "\"units\":["), "%s", lbt_out);
    /* a program from another model */
    CHECK(lbt_run_cli("verify --model %s --program %s --data fashion-mnist --images 8", other, p) == 2);
    CHECK_MSG(strstr(lbt_err, "different model"), "%s", lbt_err);
    /* a truncated program */
    uint8_t *bytes;
    size_t len;
    if (!lb_read_file(p, &bytes, &len)) {
      lbt_write_file(bad, bytes, len / 2);
      free(bytes);
      CHECK(lbt_run_cli("run --program %s --data fashion-mnist --limit 8", bad) == 2);
      CHECK_MSG(strstr(lbt_err, "bad.lbp") && strstr(lbt_err, "checksum"), "%s", lbt_err);
      CHECK(lbt_run_cli("eval %s --data fashion-mnist --limit 8", bad) == 2);
      CHECK_MSG(strstr(lbt_err, "checksum"), "%s", lbt_err);
      CHECK(lbt_run_cli("info %s", bad) == 2);
      CHECK_MSG(strstr(lbt_err, "checksum"), "%s", lbt_err);
    }
    /* info on a program: its steps, grids and weight widths (lenet5 fbgemm W4A4: 4-bit middle
     * layers, 8-bit first and last, uint4 activations) */
    CHECK(lbt_run_cli("info %s", p) == 0);
    CHECK_MSG(strstr(lbt_out, "model lenet5") && strstr(lbt_out, "conv2") && strstr(lbt_out, "uint4") &&
                  strstr(lbt_out, "linear_out") && strstr(lbt_out, "XNOR-popcount"),
              "%s", lbt_out);
    CHECK(lbt_run_cli("info %s --json", p) == 0);
    CHECK_MSG(strstr(lbt_out, "\"xnor_steps\":0") && strstr(lbt_out, "\"kind\":\"quantize\"") &&
                  strstr(lbt_out, "\"weights\":\"4\""),
              "%s", lbt_out);
    CHECK(lbt_run_cli("run --data fashion-mnist") == 2);
  }
  lb_dataset_free(&d);
  lbt_tmp_cleanup();
  return lbt_finish("test_deploy_cli");
}
