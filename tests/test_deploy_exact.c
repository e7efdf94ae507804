/* Deploy-exact: the integer engine equals the deploy-exact simulation to the bit (0 LSB in
 * every unit, identical logits) across backends, bit widths, BN folding strategies and models,
 * with the optimized and the reference kernels. The academic profile's residual nets keep their
 * adds in float: float steps the simulation repeats bit for bit, refused by the exporters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy_testlib.h"
#include "lowbit/export.h"
#include "lowbit/ikernel.h"

static lb_dataset data;

/* n images cycling through the data set, normalised as verify does. */
static float *cycled_images(int n) {
  float *x = lbt_falloc((size_t)n * 784);
  int32_t *idx = malloc((size_t)n * sizeof *idx), *lab = malloc((size_t)n * sizeof *lab);
  for (int i = 0; i < n; i++) idx[i] = i % data.n;
  lb_augment norm = {{0.2f}, {0.3f}, 0, 0};
  lb_batch_fill(&data, idx, n, &norm, 0, NULL, x, lab);
  free(idx);
  free(lab);
  return x;
}

/* Logits of n images through an engine of max_batch (flags as lb_engine_create); NULL on failure. */
static float *engine_logits(const lb_program *p, int max_batch, int flags, int n, const float *x) {
  lb_engine *e = NULL;
  float *y = lbt_falloc((size_t)n * (size_t)p->classes);
  CHECK_OK(lb_engine_create(p, max_batch, flags, &e));
  if (e) CHECK_OK(lb_engine_run(e, n, x, y));
  lb_engine_free(e);
  return y;
}

/* The engine's own layouts (channels-last tensors between convs, docs/kernels.md) give the logits
 * of an engine that keeps every tensor as the program describes it (verify's). */
static int most_nhwc; /* the most channels-last tensors any case's engine kept */
static void layouts_case(const lb_program *p, const char *what) {
  int n = 40;
  float *x = cycled_images(n), *kept = engine_logits(p, n, LB_ENGINE_KEEP_ALL, n, x);
  float *own = engine_logits(p, 16, 0, n, x);
  lb_engine *e = NULL;
  if (!lb_engine_create(p, 16, 0, &e) && lb_engine_nhwc_tensors(e) > most_nhwc) most_nhwc = lb_engine_nhwc_tensors(e);
  lb_engine_free(e);
  CHECK_MSG(memcmp(kept, own, (size_t)n * (size_t)p->classes * sizeof(float)) == 0, "%s: layouts change the logits",
            what);
  free(x);
  free(kept);
  free(own);
}

/* Lower, verify on the data, and check 0 LSB / identical logits. Returns the report's worst LSB
 * against the simulation (or -1 on a failure). */
static int exact_case(const char *model, const char *backend, int wbits, int abits, int fold) {
  lb_status st;
  lb_graph *qg = dtl_quantized(model, backend, wbits, abits, fold, &data, &st);
  CHECK_MSG(qg != NULL, "%s %s W%dA%d fold %d: %s", model, backend, wbits, abits, fold, lb_last_error());
  if (!qg) return -1;
  lb_program *p = NULL;
  lb_augment norm = {{0.2f}, {0.3f}, 0, 0};
  st = lb_lower(qg, backend, &norm, &p);
  CHECK_MSG(st == LB_OK, "%s %s W%dA%d fold %d: lower: %s", model, backend, wbits, abits, fold, lb_last_error());
  int worst = -1;
  if (!st) {
    lb_verify_report r;
    st = lb_verify(qg, p, &data, &norm, data.n, 16, &r);
    CHECK_MSG(st == LB_OK, "verify: %s", lb_last_error());
    if (!st) {
      worst = 0;
      int64_t diffs = 0, fq_diffs = 0;
      for (int i = 0; i < r.n_units; i++) {
        if (r.units[i].worst_sim > worst) worst = r.units[i].worst_sim;
        diffs += r.units[i].diff_sim;
        fq_diffs += r.units[i].diff_fq;
        if (r.units[i].diff_sim)
          fprintf(stderr, "  %s: unit %s (%s): %lld of %lld differ, worst %d LSB\n", model, r.units[i].name,
                  r.units[i].core, (long long)r.units[i].diff_sim, (long long)r.units[i].elements,
                  r.units[i].worst_sim);
      }
      CHECK_MSG(diffs == 0 && r.logits_diff_sim == 0 && r.correct_engine == r.correct_sim,
                "%s %s W%dA%d fold %d: %lld codes and %lld logits differ from the simulation", model, backend, wbits,
                abits, fold, (long long)diffs, (long long)r.logits_diff_sim);
      CHECK(r.n_units >= 3 && r.images == data.n);
      layouts_case(p, model);
      printf("%-17s %-8s W%dA%d fold %-6s units %3d  sim 0 LSB: %s  fake-quant graph differs in %lld codes\n", model,
             backend, wbits, abits, lb_bn_fold_name(fold), r.n_units, diffs ? "NO" : "yes", (long long)fq_diffs);
      lb_verify_report_free(&r);
    }
  }
  lb_program_free(p);
  lb_graph_free(qg);
  return worst;
}

/* The same program on the reference kernels gives the same logits as a batch cut into pieces of
 * 3 on the optimized ones. */
static void ref_kernels_case(void) {
  lb_status st;
  lb_graph *qg = dtl_quantized("resnet8", "fbgemm", 4, 4, LB_BN_FOLD_PYTORCH, &data, &st);
  CHECK(qg != NULL);
  lb_program *p = NULL;
  if (qg) CHECK_OK(lb_lower(qg, "fbgemm", NULL, &p));
  if (!p) {
    lb_graph_free(qg);
    return;
  }
  int n = 40;
  float *x = cycled_images(n);
  float *a = engine_logits(p, 3, 0, n, x); /* pieces of 3: batch splitting */
  setenv("LOWBIT_KERNELS", "ref", 1);
  lb_engine *er = NULL;
  CHECK_OK(lb_engine_create(p, 1, 0, &er));
  if (er) CHECK(!strcmp(lb_engine_isa(er), "ref"));
  lb_engine_free(er);
  float *b = engine_logits(p, n, 0, n, x);
  unsetenv("LOWBIT_KERNELS");
  CHECK(memcmp(a, b, (size_t)n * 10 * sizeof(float)) == 0);
  free(x);
  free(a);
  free(b);
  lb_program_free(p);
  lb_graph_free(qg);
}

/* Academic resnet8: its residual stream is float (one step per conv output read by an add, one
 * per add, the global pool), everything else integer; the C-source exporter refuses such a
 * program (its runtime is integer-only; ONNX export: test_export_program). */
static void float_steps_case(void) {
  lb_status st;
  lb_graph *qg = dtl_quantized("resnet8", "academic", 4, 4, LB_BN_FOLD_NONE, &data, &st);
  CHECK(qg != NULL);
  if (!qg) return;
  lb_program *p = NULL;
  CHECK_OK(lb_lower(qg, "academic", NULL, &p));
  if (p) {
    int fadd = 0, fgap = 0, fconv = 0, quant = 0;
    for (int i = 0; i < p->n_steps; i++) {
      const lb_prog_step *s = &p->steps[i];
      fadd += s->kind == LB_PS_FADD;
      fgap += s->kind == LB_PS_FGAP;
      fconv += s->kind == LB_PS_CONV_OUT && lb_prog_tensor_float_map(&p->tensors[s->out]);
      quant += s->kind == LB_PS_QUANTIZE && s->in[0] >= 0;
    }
    /* 3 blocks: 3 adds; the stem and each block's second conv, plus 2 projections, feed adds */
    CHECK_MSG(fadd == 3 && fgap == 1 && fconv == 6 && lb_program_float_steps(p) == 10,
              "float steps: %d adds, %d pools, %d convs, %d in all", fadd, fgap, fconv, lb_program_float_steps(p));
    CHECK_MSG(quant >= 4, "%d quantizations of float tensors", quant);
    CHECK_STATUS(lb_export_c(p, "/nonexistent/never-written"), LB_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(lb_last_error(), "integer-only"), "message: %s", lb_last_error());
    /* a corrupt float step is refused at load */
    lb_program bad = *p;
    bad.steps = malloc((size_t)p->n_steps * sizeof *bad.steps);
    memcpy(bad.steps, p->steps, (size_t)p->n_steps * sizeof *bad.steps);
    for (int i = 0; i < p->n_steps; i++)
      if (bad.steps[i].kind == LB_PS_FADD) {
        bad.steps[i].flo = 1.0f;
        bad.steps[i].fhi = 0.0f;
        break;
      }
    CHECK_STATUS(lb_program_validate(&bad), LB_ERR_FORMAT);
    free(bad.steps);
  }
  lb_program_free(p);
  lb_graph_free(qg);
}

static void refusal_case(void) {
  lb_status st;
  lb_graph *qg;
  lb_program *p;
  /* other graphs without an integer form, each refused naming the node */
  static const struct {
    const char *model, *backend, *overrides;
    int w, a, calibrate;
    lb_status want;
    const char *says;
  } bad[] = {
      {"lenet5", "fbgemm", "conv2=float", 4, 4, 1, LB_ERR_UNSUPPORTED, "'conv2' (conv2d) has no weight quantizer"},
      {"lenet5", "fbgemm", NULL, 4, 4, 0, LB_ERR_STATE, "calibrate"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    qg = dtl_quantized_ex(bad[i].model, bad[i].backend, bad[i].w, bad[i].a, 0, bad[i].overrides,
                          bad[i].calibrate ? &data : NULL, &st);
    CHECK_MSG(qg != NULL, "%s", lb_last_error());
    if (!qg) continue;
    p = NULL;
    CHECK_STATUS(lb_lower(qg, bad[i].backend, NULL, &p), bad[i].want);
    CHECK_MSG(strstr(lb_last_error(), bad[i].says), "case %zu: %s", i, lb_last_error());
    CHECK(p == NULL);
    lb_graph_free(qg);
  }
}

/* Binary weights reading binary codes run on the XNOR-popcount kernels (verify above ran them). */
static void xnor_case(void) {
  lb_status st;
  lb_graph *qg = dtl_quantized("resnet8", "qdq", 1, 1, LB_BN_FOLD_PYTORCH, &data, &st);
  CHECK(qg != NULL);
  if (!qg) return;
  lb_program *p = NULL;
  lb_engine *e = NULL;
  CHECK_OK(lb_lower(qg, "qdq", NULL, &p));
  if (p) CHECK_OK(lb_engine_create(p, 4, 0, &e));
  if (e) {
    /* the stem reads the 8-bit input and the fc 8-bit pooled features; the blocks' six 3x3 convs
     * and two 1x1 projections read binary codes */
    CHECK_MSG(lb_engine_xnor_steps(e) == 8, "%d XNOR steps", lb_engine_xnor_steps(e));
    printf("resnet8 qdq W1A1: %d of %d steps on the XNOR-popcount kernels\n", lb_engine_xnor_steps(e), p->n_steps);
  }
  lb_engine_free(e);
  lb_program_free(p);
  lb_graph_free(qg);
}

/* The fast suite runs a representative subset; test_slow_deploy_matrix.c includes this file with
 * DEPLOY_FULL_MATRIX for every backend x bits x model x folding combination. */
#ifndef DEPLOY_FULL_MATRIX
#define DEPLOY_FULL_MATRIX 0
#endif

int main(void) {
  /* the full matrix runs on real Fashion-MNIST test images when they are installed */
  lb_dataset fm;
  if (DEPLOY_FULL_MATRIX && !lb_dataset_open("fashion-mnist", 0, &fm)) {
    CHECK_OK(lb_dataset_slice(&fm, 0, 32, &data));
    lb_dataset_free(&fm);
    printf("data: the first 32 Fashion-MNIST test images\n");
  } else {
    dtl_dataset(&data, DEPLOY_FULL_MATRIX ? 32 : 16, 5);
  }
  static const struct {
    const char *backend;
    int w, a, fast_mobilenet;
  } cfgs[] = {{"tensorrt", 8, 8, 1}, {"snpe", 8, 8, 0}, {"vitis", 8, 8, 0}, {"fbgemm", 8, 8, 0}, {"fbgemm", 4, 8, 0},
              {"fbgemm", 4, 4, 1},   {"tvm", 8, 8, 0},  {"tvm", 4, 8, 0},   {"tvm", 4, 4, 0},    {"qdq", 4, 4, 0},
              {"qdq", 2, 4, 0}};
  const char *models[] = {"resnet8", "mobilenetv2-tiny"};
  for (int m = 0; m < 2; m++)
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++)
      if (DEPLOY_FULL_MATRIX || m == 0 || cfgs[c].fast_mobilenet)
        CHECK(exact_case(models[m], cfgs[c].backend, cfgs[c].w, cfgs[c].a, LB_BN_FOLD_PYTORCH) == 0);
  for (int f = 0; f < LB_BN_FOLD_COUNT; f++) {
    /* naive and whitepaper evaluate like freeze: the full matrix covers them */
    int fast_fold = f == LB_BN_FOLD_NONE || f == LB_BN_FOLD_MERGE || f == LB_BN_FOLD_FREEZE;
    if (f != LB_BN_FOLD_PYTORCH && (DEPLOY_FULL_MATRIX || fast_fold)) CHECK(exact_case("resnet8", "fbgemm", 4, 4, f) == 0);
    if (DEPLOY_FULL_MATRIX || f == LB_BN_FOLD_NONE) CHECK(exact_case("mobilenetv2-tiny", "tensorrt", 8, 8, f) == 0);
  }
  CHECK(exact_case("lenet5", "academic", 4, 4, 0) == 0);
  CHECK(exact_case("lenet5", "fbgemm", 4, 4, 0) == 0);
  CHECK(exact_case("mlp", "academic", 8, 8, 0) == 0);
  /* binary (+-1) weights: with {0, 1} activations where every quantized input follows a ReLU on
   * an unsigned grid (lenet5 academic), with binary +-1 activations where the grid is signed (qdq
   * quantizes signed everywhere: residual adds, bottlenecks, pools) and with 2-bit ones */
  CHECK(exact_case("lenet5", "academic", 1, 1, 0) == 0);
  CHECK(exact_case("lenet5", "qdq", 1, 1, 0) == 0);
  CHECK(exact_case("resnet8", "qdq", 1, 1, LB_BN_FOLD_PYTORCH) == 0);
  CHECK(exact_case("resnet8", "tvm", 1, 1, LB_BN_FOLD_MERGE) == 0);
  CHECK(exact_case("resnet8", "tvm", 1, 2, LB_BN_FOLD_MERGE) == 0);
  CHECK(exact_case("mobilenetv2-tiny", "qdq", 1, 1, LB_BN_FOLD_PYTORCH) == 0);
  /* academic: the residual stream in float steps, the rest integer */
  static const int academic[][2] = {{8, 8}, {4, 8}, {4, 4}, {1, 1}};
  for (int m = 0; m < 2; m++)
    for (int c = 0; c < 4; c++)
      if (DEPLOY_FULL_MATRIX || c == 2)
        CHECK(exact_case(models[m], "academic", academic[c][0], academic[c][1], c & 1 ? LB_BN_FOLD_NONE : LB_BN_FOLD_PYTORCH) == 0);
  float_steps_case();
  /* the channels-last layout ran (resnet8 keeps 12 of its tensors so with the VNNI kernels) */
  if (!strcmp(lb_ik_isa_name(lb_ik_select()), "avx512vnni")) CHECK_MSG(most_nhwc >= 12, "%d channels-last tensors", most_nhwc);
  xnor_case();
  ref_kernels_case();
  refusal_case();
  lb_dataset_free(&data);
  return lbt_finish(DEPLOY_FULL_MATRIX ? "test_slow_deploy_matrix" : "test_deploy_exact");
}
