/* Benchmark: time of one fp32 training step (forward, loss, backward, SGD update) of a zoo
 * model on random data, with a per-layer breakdown. Used by bench/train_step.sh, which runs
 * PyTorch on the same model in the same run and prints the ratio. Not a test.
 *   usage: bench_train_step [model] [batch] [threads] [steps] [C,H,W] [qat]   (resnet8 128 2 30 1,28,28)
 * qat: "lsq:4:4" times quantization-aware training (academic backend, LSQ, W4A4) instead of fp32. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/graph.h"
#include "lowbit/nn.h"
#include "lowbit/optim.h"
#include "lowbit/qgraph.h"

int main(int argc, char **argv) {
  const char *model = argc > 1 ? argv[1] : "resnet8";
  int batch = argc > 2 ? atoi(argv[2]) : 128;
  int threads = argc > 3 ? atoi(argv[3]) : 2;
  int steps = argc > 4 ? atoi(argv[4]) : 30;
  int c = 1, h = 28, w = 28;
  if (argc > 5 && sscanf(argv[5], "%d,%d,%d", &c, &h, &w) != 3) return 2;
  int profile = getenv("LB_PROFILE") != NULL;
  lb_set_num_threads(threads);
  lb_graph *g;
  lb_exec *e;
  if (lb_zoo_build(model, c, h, w, 10, &g) || lb_graph_init_params(g, 1)) {
    fprintf(stderr, "bench_train_step: %s\n", lb_last_error());
    return 1;
  }
  char method[16] = "";
  int wb = 0, ab = 0;
  if (argc > 6 && sscanf(argv[6], "%15[^:]:%d:%d", method, &wb, &ab) == 3) {
    /* quantize: plan, insert quantizers, calibrate on random images (values do not matter for speed) */
    lb_qplan_request r = {.backend = "academic", .wbits = wb, .abits = ab, .w_observer = LB_OBS_LSQ, .a_observer = LB_OBS_LSQ};
    lb_qplan plan;
    lb_graph *qg;
    lb_dataset d = {.n = batch, .c = c, .h = h, .w = w, .classes = 10};
    d.images = malloc((size_t)batch * c * h * w);
    d.labels = calloc((size_t)batch, sizeof(int32_t));
    for (size_t i = 0; i < (size_t)batch * c * h * w; i++) d.images[i] = (uint8_t)(i * 2654435761u >> 24);
    if (lb_quant_register_ops() || lb_estimator_parse(method, &r.est) || lb_qplan_make(g, &r, &plan) ||
        lb_quant_apply(g, &plan, &qg) || lb_quant_calibrate(qg, &d, NULL, batch, batch)) {
      fprintf(stderr, "bench_train_step: %s\n", lb_last_error());
      return 1;
    }
    lb_qplan_free(&plan);
    lb_graph_free(g);
    lb_dataset_free(&d);
    g = qg;
  }
  if (lb_exec_create(&e, g, batch)) {
    fprintf(stderr, "bench_train_step: %s\n", lb_last_error());
    return 1;
  }
  lb_optim_slot *slots = calloc((size_t)g->n_params, sizeof *slots);
  int ns = 0;
  for (int i = 0; i < g->n_params; i++)
    if (g->params[i].trainable)
      slots[ns++] = (lb_optim_slot){g->values + g->params[i].offset, lb_exec_grads(e) + g->params[i].offset,
                                    g->params[i].numel, g->params[i].decay};
  lb_optim_config oc;
  lb_optim_config_default(&oc, LB_OPTIM_SGD);
  oc.momentum = 0.9f;
  oc.nesterov = 1;
  oc.weight_decay = 5e-4f;
  lb_optim opt;
  lb_optim_create(&opt, &oc, slots, ns);
  int64_t in_n = (int64_t)batch * c * h * w;
  float *x = lb_alloc_aligned((size_t)in_n * sizeof(float));
  int32_t *y = malloc((size_t)batch * sizeof(int32_t));
  float *probs = malloc((size_t)batch * 10 * sizeof(float)), *dl = malloc((size_t)batch * 10 * sizeof(float));
  lb_rng rng;
  lb_rng_seed(&rng, 3);
  for (int64_t i = 0; i < in_n; i++) x[i] = lb_rng_normal(&rng);
  for (int i = 0; i < batch; i++) y[i] = (int32_t)lb_rng_below(&rng, 10);
  double *fwd = calloc((size_t)g->n_nodes, sizeof(double)), *bwd = calloc((size_t)g->n_nodes, sizeof(double));
  double t_opt = 0, t_start = 0;
  int warmup = 3;
  for (int s = 0; s < warmup + steps; s++) {
    if (s == warmup) {
      t_start = lb_now();
      if (profile) lb_exec_set_profile(e, fwd, bwd);
    }
    const float *logits = lb_exec_forward(e, x, batch, 1, &rng);
    lb_softmax_xent_forward(batch, 10, logits, y, 0.0f, probs);
    memset(dl, 0, (size_t)batch * 10 * sizeof(float));
    lb_softmax_xent_backward(batch, 10, probs, y, 0.0f, 1.0f, dl);
    lb_exec_zero_grad(e);
    lb_exec_backward(e, dl);
    double t0 = lb_now();
    lb_optim_step(&opt, 0.01f);
    if (s >= warmup) t_opt += lb_now() - t0;
  }
  double per_step = (lb_now() - t_start) / steps;
  double flops = 3.0 * 2.0 * (double)lb_graph_macs(g) * batch; /* forward + two backward GEMMs */
  if (method[0]) printf("[qat %s W%dA%d] ", method, wb, ab);
  printf("lowbit %s batch %d threads %d: %.2f ms/step, %.1f GFLOP/s (conv/linear MACs x 6)\n", model, batch, threads,
         1e3 * per_step, flops / per_step / 1e9);
  if (profile) {
    printf("%-22s %-10s %9s %9s\n", "node", "op", "fwd ms", "bwd ms");
    for (int i = 1; i < g->n_nodes; i++)
      printf("%-22s %-10s %9.3f %9.3f\n", g->nodes[i].name, g->nodes[i].op->name, 1e3 * fwd[i] / steps, 1e3 * bwd[i] / steps);
    printf("%-22s %-10s %9.3f\n", "optimizer", "sgd", 1e3 * t_opt / steps);
  }
  return 0;
}
