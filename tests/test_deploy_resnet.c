/* The imported CIFAR-10 ResNet-20 (shared/): PTQ W8A8 on tensorrt and on academic, lowered (its
 * downsampling shortcuts are two strided slices and a zero channel pad: on codes for tensorrt, on
 * floats for academic, whose residual stream is float), verified at 0 LSB against the
 * deploy-exact simulation on the first 64 test images, and the program file's accuracy through
 * lb_program_evaluate equal to verify's. test_slow_deploy_resnet does all 1000 images, fbgemm
 * too, and QAT. Skips visibly when shared/ is absent. */
#include <stdio.h>
#include <string.h>

#include "deploy_resnet.h"

static void resnet_case(const char *shared, const char *backend, const lb_dataset *test) {
  lb_status st;
  lb_graph *qg = rn_quantized(shared, backend, 256, &st);
  CHECK_MSG(qg != NULL, "resnet20 %s: %s", backend, lb_last_error());
  lb_program *p = NULL;
  if (qg) {
    st = lb_lower(qg, backend, &rn_norm, &p);
    CHECK_MSG(st == LB_OK, "lower: %s", lb_last_error());
  }
  int academic = !strcmp(backend, "academic");
  if (p) {
    int kinds[LB_PS_KIND_COUNT] = {0};
    for (int i = 0; i < p->n_steps; i++) kinds[p->steps[i].kind]++;
    CHECK_MSG(kinds[LB_PS_SLICE] == 4 && kinds[LB_PS_PAD] == 2, "%d slices, %d pads", kinds[LB_PS_SLICE],
              kinds[LB_PS_PAD]);
    /* academic: 9 float adds; tensorrt: integer only */
    CHECK_MSG(academic ? kinds[LB_PS_FADD] == 9 && lb_program_float_steps(p) > 9 : lb_program_float_steps(p) == 0,
              "%s: %d float adds, %d float steps", backend, kinds[LB_PS_FADD], lb_program_float_steps(p));
    lb_verify_report r;
    st = lb_verify(qg, p, test, &rn_norm, test->n, 32, &r);
    CHECK_MSG(st == LB_OK, "verify: %s", lb_last_error());
    if (!st) {
      int64_t diff = 0;
      for (int i = 0; i < r.n_units; i++) diff += r.units[i].diff_sim;
      CHECK_MSG(diff == 0 && r.logits_diff_sim == 0, "engine vs simulation: %lld codes, %lld logits differ",
                (long long)diff, (long long)r.logits_diff_sim);
      /* every quantizer of the graph: academic quantizes only the 19 conv inputs and the fc's */
      CHECK_MSG(r.n_units == (academic ? 20 : 32) && r.images == 64, "%d units", r.n_units);
      int64_t correct = 0;
      CHECK_OK(lb_program_evaluate(p, test, &rn_norm, 16, &correct));
      CHECK(correct == r.correct_engine);
      /* random weights would sit near 10%: the imported network must still classify */
      CHECK_MSG(r.correct_engine >= 48, "integer top-1 %d/64", r.correct_engine);
      printf("resnet20 %s W8A8: %d steps (%d float), 0 LSB in %d units on %d images; integer %d/64, simulated "
             "%d/64, fake-quant graph %d/64\n",
             backend, p->n_steps, lb_program_float_steps(p), r.n_units, r.images, r.correct_engine, r.correct_sim,
             r.correct_fq);
      lb_verify_report_free(&r);
    }
  }
  lb_program_free(p);
  lb_graph_free(qg);
}

int main(void) {
  const char *shared = rn_shared("test_deploy_resnet");
  if (!shared) return lbt_skip("test_deploy_resnet", "shared ResNet-20 / CIFAR-10 files absent");
  lb_dataset test;
  CHECK_OK(rn_cifar(shared, "test_batch_first1000.bin", 64, &test));
  resnet_case(shared, "tensorrt", &test);
  resnet_case(shared, "academic", &test);
  lb_dataset_free(&test);
  return lbt_finish("test_deploy_resnet");
}
