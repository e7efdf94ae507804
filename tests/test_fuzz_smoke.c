/* A short, deterministic fuzz run of every loader's harness (fuzz/fuzz_targets.h) on mutated
 * copies of valid files: ONNX (a float export), .lbm (a saved model) and .lbp (a lowered
 * program). CI runs it under ASan/UBSan, where any crash, leak or undefined behaviour fails it;
 * the long coverage-guided runs are libFuzzer's (fuzz/README.md). The unmutated seeds must load,
 * so the run is known to reach the parsers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy_movenet.h"
#include "deploy_testlib.h"
#include "fuzz_targets.h"
#include "lowbit/bytes.h"
#include "lowbit/export.h"

enum { ITERATIONS = 1500 };

/* One random edit of buf (len bytes, capacity cap): flip bits, set bytes to extreme values,
 * truncate, or copy a chunk elsewhere. Returns the new length. */
static size_t mutate(uint8_t *buf, size_t len, size_t cap, lb_rng *r) {
  if (len == 0) return 0;
  int edits = 1 + (int)lb_rng_below(r, 4);
  for (int e = 0; e < edits; e++) {
    size_t at = (size_t)lb_rng_below(r, (uint32_t)len);
    switch (lb_rng_below(r, 5)) {
      case 0: buf[at] ^= (uint8_t)(1u << lb_rng_below(r, 8)); break;
      case 1: buf[at] = (uint8_t[]){0x00, 0xff, 0x7f, 0x80}[lb_rng_below(r, 4)]; break;
      case 2: len = at + 1; break;
      case 3: { /* a 4-byte little-endian field set to a large or negative count */
        uint32_t v = (uint32_t[]){0xffffffffu, 0x7fffffffu, 0x10000u, 0u}[lb_rng_below(r, 4)];
        if (at + 4 <= len) memcpy(buf + at, &v, 4);
        break;
      }
      default: {
        size_t from = (size_t)lb_rng_below(r, (uint32_t)len), n = 1 + (size_t)lb_rng_below(r, 64);
        if (from + n <= len && at + n <= cap) {
          memmove(buf + at, buf + from, n);
          if (at + n > len) len = at + n;
        }
      }
    }
  }
  return len;
}

static void run(const char *what, int (*target)(const uint8_t *, size_t), const uint8_t *seed, size_t len) {
  CHECK_MSG(target(seed, len) == 1, "%s: the unmutated seed does not load: %s", what, lb_last_error());
  size_t cap = len + 64;
  uint8_t *buf = malloc(cap);
  if (!buf) return;
  lb_rng r;
  lb_rng_seed(&r, 2026);
  int loaded = 0;
  for (int i = 0; i < ITERATIONS; i++) {
    memcpy(buf, seed, len);
    size_t n = mutate(buf, len, cap, &r);
    loaded += target(buf, n);
  }
  printf("  %-5s %d mutated inputs (%zu-byte seed), %d still loaded\n", what, ITERATIONS, len, loaded);
  free(buf);
}

/* A small conv network: conv -> BN -> relu -> gap -> linear (small files keep the run short). */
static lb_graph *tiny(void) {
  lb_graph *g = NULL;
  int id, in0 = 0;
  if (lb_graph_create(&g, "tiny", lb_shape3(1, 8, 8))) return NULL;
  int conv[11] = {4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0}, lin[2] = {3, 1};
  float bn[2] = {1e-5f, 0.1f};
  lb_status s = lb_graph_add(g, "conv2d", "conv", &in0, 1, conv, 11, NULL, 0, &id);
  if (!s) s = lb_graph_add(g, "batchnorm", "bn", &id, 1, NULL, 0, bn, 2, &id);
  if (!s) s = lb_graph_add(g, "relu", "relu", &id, 1, NULL, 0, NULL, 0, &id);
  if (!s) s = lb_graph_add(g, "gap", "gap", &id, 1, NULL, 0, NULL, 0, &id);
  if (!s) s = lb_graph_add(g, "linear", "fc", &id, 1, lin, 2, NULL, 0, &id);
  if (!s) s = lb_graph_init_params(g, 1);
  if (s) {
    lb_graph_free(g);
    return NULL;
  }
  return g;
}

int main(void) {
  CHECK_OK(lb_quant_register_ops());
  if (!lbt_tmp_init("lb_fuzz_smoke_")) return 1;
  lb_graph *g = tiny();
  CHECK(g != NULL);
  uint8_t *data = NULL;
  size_t len = 0;
  if (g) {
    const char *onnx = lbt_tmp_path("tiny.onnx"), *lbm = lbt_tmp_path("tiny.lbm");
    CHECK_OK(lb_export_onnx_float(g, onnx));
    if (!lb_read_file(onnx, &data, &len)) run("onnx", lb_fuzz_onnx, data, len);
    free(data);
    CHECK_OK(lb_lbm_save(lbm, g, NULL, 0));
    if (!lb_read_file(lbm, &data, &len)) run("lbm", lb_fuzz_lbm, data, len);
    free(data);
    lb_graph_free(g);
  }
  lb_dataset d;
  dtl_dataset(&d, 16, 3);
  lb_status st;
  /* program seeds: conv/pool/linear steps; binary (+-1) tensors with sign steps; data movement
   * (slice, pad, concat); float steps (academic: float adds, slices and pads of floats, float
   * conv outputs and their quantization) */
  lb_graph *seeds[4] = {dtl_quantized("lenet5", "fbgemm", 4, 8, LB_BN_FOLD_NONE, &d, &st),
                        dtl_quantized("resnet8", "qdq", 1, 1, LB_BN_FOLD_PYTORCH, &d, &st),
                        mvn_quantized(0, 0.0f, "tensorrt", &d, NULL, &st),
                        mvn_quantized(0, 0.0f, "academic", &d, NULL, &st)};
  const char *backend[4] = {"fbgemm", "qdq", "tensorrt", "academic"};
  const char *what[4] = {"lbp", "lbp/binary", "lbp/move", "lbp/float"};
  for (int i = 0; i < 4; i++) {
    CHECK_MSG(seeds[i] != NULL, "%s seed model: %s", what[i], lb_last_error());
    lb_program *p = NULL;
    if (seeds[i]) CHECK_OK(lb_lower(seeds[i], backend[i], NULL, &p));
    if (p && i == 3) CHECK_MSG(lb_program_float_steps(p) >= 3, "%d float steps", lb_program_float_steps(p));
    if (p && !lb_program_to_bytes(p, &data, &len)) {
      run(what[i], lb_fuzz_lbp, data, len);
      free(data);
    }
    lb_program_free(p);
    lb_graph_free(seeds[i]);
  }
  lb_dataset_free(&d);
  lbt_tmp_cleanup();
  return lbt_finish("test_fuzz_smoke");
}
