/* The imported CIFAR-10 ResNet-20 (shared/): PTQ W8A8 on tensorrt, lowered (its downsampling
 * shortcuts are two strided slices and a zero channel pad), verified at 0 LSB against the
 * deploy-exact simulation on the first 64 test images, and the program file's accuracy through
 * lb_program_evaluate equal to verify's. test_slow_deploy_resnet does all 1000 images, fbgemm
 * too, and QAT. Skips visibly when shared/ is absent. */
#include <stdio.h>
#include <string.h>

#include "deploy_resnet.h"

int main(void) {
  const char *shared = rn_shared("test_deploy_resnet");
  if (!shared) return lbt_skip("test_deploy_resnet", "shared ResNet-20 / CIFAR-10 files absent");
  lb_status st;
  lb_graph *qg = rn_quantized(shared, "tensorrt", 256, &st);
  CHECK_MSG(qg != NULL, "resnet20 tensorrt: %s", lb_last_error());
  lb_dataset test;
  CHECK_OK(rn_cifar(shared, "test_batch_first1000.bin", 64, &test));
  lb_program *p = NULL;
  if (qg) {
    st = lb_lower(qg, "tensorrt", &rn_norm, &p);
    CHECK_MSG(st == LB_OK, "lower: %s", lb_last_error());
  }
  if (p) {
    int kinds[LB_PS_KIND_COUNT] = {0};
    for (int i = 0; i < p->n_steps; i++) kinds[p->steps[i].kind]++;
    CHECK_MSG(kinds[LB_PS_SLICE] == 4 && kinds[LB_PS_PAD] == 2, "%d slices, %d pads", kinds[LB_PS_SLICE],
              kinds[LB_PS_PAD]);
    lb_verify_report r;
    st = lb_verify(qg, p, &test, &rn_norm, test.n, 32, &r);
    CHECK_MSG(st == LB_OK, "verify: %s", lb_last_error());
    if (!st) {
      int64_t diff = 0;
      for (int i = 0; i < r.n_units; i++) diff += r.units[i].diff_sim;
      CHECK_MSG(diff == 0 && r.logits_diff_sim == 0, "engine vs simulation: %lld codes, %lld logits differ",
                (long long)diff, (long long)r.logits_diff_sim);
      CHECK(r.n_units == 32 && r.images == 64); /* every quantizer of the graph */
      int64_t correct = 0;
      CHECK_OK(lb_program_evaluate(p, &test, &rn_norm, 16, &correct));
      CHECK(correct == r.correct_engine);
      /* random weights would sit near 10%: the imported network must still classify */
      CHECK_MSG(r.correct_engine >= 48, "integer top-1 %d/64", r.correct_engine);
      printf("resnet20 tensorrt W8A8: %d steps, 0 LSB in %d units on %d images; integer %d/64, simulated %d/64, "
             "fake-quant graph %d/64\n",
             p->n_steps, r.n_units, r.images, r.correct_engine, r.correct_sim, r.correct_fq);
      lb_verify_report_free(&r);
    }
  }
  lb_program_free(p);
  lb_graph_free(qg);
  lb_dataset_free(&test);
  return lbt_finish("test_deploy_resnet");
}
