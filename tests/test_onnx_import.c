/* ONNX import: the shared ResNets against ONNX Runtime's logits (fixture), and clear errors for
 * malformed or unsupported models built here with a small independent protobuf encoder. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures/onnx_resnet_ref.h"
#include "lowbit/onnx.h"
#include "lowbit/train.h"
#include "testutil.h"

/* ---- a minimal protobuf writer (wire types 0 and 2) ---- */
typedef struct pb {
  unsigned char d[8192];
  size_t n;
} pb;
static void pb_varint(pb *b, uint64_t v) {
  do {
    b->d[b->n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v);
}
static void pb_int(pb *b, int field, int64_t v) {
  pb_varint(b, (uint64_t)field << 3);
  pb_varint(b, (uint64_t)v);
}
static void pb_bytes(pb *b, int field, const void *p, size_t len) {
  pb_varint(b, (uint64_t)field << 3 | 2);
  pb_varint(b, len);
  memcpy(b->d + b->n, p, len);
  b->n += len;
}
static void pb_str(pb *b, int field, const char *s) { pb_bytes(b, field, s, strlen(s)); }
static void pb_msg(pb *b, int field, const pb *m) { pb_bytes(b, field, m->d, m->n); }

/* TensorProto float with raw_data */
static void tensor(pb *out, int field, const char *name, int nd, const int64_t *dims, const float *v, int64_t n) {
  pb t = {0};
  for (int k = 0; k < nd; k++) pb_int(&t, 1, dims[k]);
  pb_int(&t, 2, 1);
  pb_str(&t, 8, name);
  pb_bytes(&t, 9, v, (size_t)n * 4);
  pb_msg(out, field, &t);
}

/* ValueInfo: float tensor (N, dims...) */
static void value_info(pb *out, int field, const char *name, int nd, const int64_t *dims) {
  pb shape = {0}, tt = {0}, tp = {0}, vi = {0}, dim = {0};
  pb_str(&dim, 2, "N");
  pb_msg(&shape, 1, &dim);
  for (int k = 0; k < nd; k++) {
    pb d = {0};
    pb_int(&d, 1, dims[k]);
    pb_msg(&shape, 1, &d);
  }
  pb_int(&tt, 1, 1);
  pb_msg(&tt, 2, &shape);
  pb_msg(&tp, 1, &tt);
  pb_str(&vi, 1, name);
  pb_msg(&vi, 2, &tp);
  pb_msg(out, field, &vi);
}

static void node(pb *g, const char *op, const char *name, const char *in0, const char *in1, const char *in2, const char *out) {
  pb n = {0};
  if (in0) pb_str(&n, 1, in0);
  if (in1) pb_str(&n, 1, in1);
  if (in2) pb_str(&n, 1, in2);
  pb_str(&n, 2, out);
  pb_str(&n, 3, name);
  pb_str(&n, 4, op);
  pb_msg(g, 1, &n);
}

/* Conv 1x1 (3 <- 2 channels) + bias, Relu, on (N,2,4,4); variants break one thing. */
enum { OK, CYCLE, DANGLING, NO_INIT, BAD_SHAPE, BAD_RAW, UNSUP_OP, OLD_OPSET };
static float W[15] = {0.5f, -1.0f, 2.0f, 0.25f, -0.5f, 1.5f}, B[3] = {0.1f, -0.2f, 0.3f};

static size_t model(int variant, unsigned char *out) {
  pb g = {0}, m = {0}, op = {0};
  int64_t wd[4] = {3, variant == BAD_SHAPE ? 5 : 2, 1, 1}, bd[1] = {3}, xd[3] = {2, 4, 4}, yd[3] = {3, 4, 4};
  node(&g, "Conv", "conv", variant == CYCLE ? "y" : "x", "W", "B", "c");
  node(&g, variant == UNSUP_OP ? "Softmax" : "Relu", "act", variant == DANGLING ? "nowhere" : "c", NULL, NULL, "y");
  pb_str(&g, 2, "tiny");
  if (variant != NO_INIT) tensor(&g, 5, "W", 4, wd, W, variant == BAD_RAW ? 5 : variant == BAD_SHAPE ? 15 : 6);
  tensor(&g, 5, "B", 1, bd, B, 3);
  value_info(&g, 11, "x", 3, xd);
  value_info(&g, 12, "y", 3, yd);
  pb_int(&m, 1, 8);
  pb_int(&op, 2, variant == OLD_OPSET ? 9 : 13);
  pb_msg(&m, 8, &op);
  pb_msg(&m, 7, &g);
  memcpy(out, m.d, m.n);
  return m.n;
}

static void expect_fail(int variant, lb_status want, const char *words1, const char *words2) {
  unsigned char buf[16384];
  size_t n = model(variant, buf);
  lb_graph *g = (lb_graph *)1;
  lb_status s = lb_onnx_import_bytes(buf, n, "tiny.onnx", &g, NULL);
  CHECK_MSG(s == want, "variant %d: got %s (%s)", variant, lb_status_str(s), lb_last_error());
  CHECK(g == NULL);
  CHECK_MSG(strstr(lb_last_error(), words1) && strstr(lb_last_error(), words2), "variant %d: message '%s'", variant, lb_last_error());
}

static void test_tiny(void) {
  unsigned char buf[16384];
  size_t n = model(OK, buf);
  lb_graph *g;
  lb_onnx_import_info info;
  CHECK_OK(lb_onnx_import_bytes(buf, n, "tiny.onnx", &g, &info));
  if (!g) return;
  CHECK(info.opset == 13 && info.onnx_nodes == 2);
  CHECK(g->n_nodes == 3 && !strcmp(g->nodes[1].op->name, "conv2d") && !strcmp(g->nodes[2].op->name, "relu"));
  lb_exec *e;
  CHECK_OK(lb_exec_create(&e, g, 2));
  float x[2 * 32];
  lb_rng rng;
  lb_rng_seed(&rng, 3);
  lbt_fill_uniform(x, 64, &rng, -1, 1);
  const float *y = lb_exec_forward(e, x, 2, 0, NULL);
  double worst = 0;
  for (int b = 0; b < 2; b++)
    for (int k = 0; k < 3; k++)
      for (int p = 0; p < 16; p++) {
        double v = B[k] + W[2 * k] * x[b * 32 + p] + W[2 * k + 1] * x[b * 32 + 16 + p];
        v = v > 0 ? v : 0;
        worst = fmax(worst, fabs(v - y[b * 48 + k * 16 + p]));
      }
  CHECK_MSG(worst < 1e-6, "tiny conv+relu differs by %g", worst);
  lb_exec_free(e);
  lb_graph_free(g);
  /* truncated at every length and corrupted bytes: an error, never a crash */
  int bad = 0;
  for (size_t cut = 0; cut < n; cut += 7) {
    lb_graph *h = NULL;
    if (lb_onnx_import_bytes(buf, cut, "cut.onnx", &h, NULL) == LB_OK) bad++, lb_graph_free(h);
  }
  CHECK_MSG(bad == 0, "%d truncated files imported", bad);
  for (size_t k = 0; k < n; k += 3) {
    unsigned char c[16384];
    memcpy(c, buf, n);
    c[k] ^= 0x5a;
    lb_graph *h = NULL;
    if (lb_onnx_import_bytes(c, n, "flip.onnx", &h, NULL) == LB_OK) lb_graph_free(h); /* may still be valid */
  }
  unsigned char junk[64];
  memset(junk, 0xff, sizeof junk);
  CHECK_STATUS(lb_onnx_import_bytes(junk, sizeof junk, "junk.onnx", &g, NULL), LB_ERR_FORMAT);
  CHECK(strstr(lb_last_error(), "junk.onnx") != NULL);
  CHECK_STATUS(lb_onnx_import("/nonexistent/x.onnx", &g, NULL), LB_ERR_IO);
}

static void test_errors(void) {
  expect_fail(CYCLE, LB_ERR_FORMAT, "cycle", "'conv'");
  expect_fail(DANGLING, LB_ERR_FORMAT, "dangling", "'nowhere'");
  expect_fail(NO_INIT, LB_ERR_FORMAT, "dangling", "'W'");
  expect_fail(BAD_SHAPE, LB_ERR_SHAPE, "conv", "channels");
  expect_fail(BAD_RAW, LB_ERR_FORMAT, "'W'", "elements");
  expect_fail(UNSUP_OP, LB_ERR_UNSUPPORTED, "Softmax", "opset 13");
  expect_fail(UNSUP_OP, LB_ERR_UNSUPPORTED, "'act'", "not supported");
  expect_fail(OLD_OPSET, LB_ERR_UNSUPPORTED, "opset 9", "11-17");
}

/* The shared ResNets: logits of the first images against ONNX Runtime, top-1 of ResNet-20. */
static void test_resnets(const char *shared) {
  char path[1024], data[1024];
  snprintf(data, sizeof data, "cifar:%s/data/cifar10/test_batch_first1000.bin", shared);
  lb_dataset d;
  CHECK_OK(lb_dataset_open(data, 0, &d));
  lb_augment norm = {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}, 0, 0};
  float *x = lbt_falloc(LB_ONNX_REF_IMAGES * 3072);
  int32_t idx[LB_ONNX_REF_IMAGES], y[LB_ONNX_REF_IMAGES];
  for (int i = 0; i < LB_ONNX_REF_IMAGES; i++) idx[i] = i;
  lb_batch_fill(&d, idx, LB_ONNX_REF_IMAGES, &norm, 0, NULL, x, y);
  for (size_t m = 0; m < sizeof lb_onnx_refs / sizeof lb_onnx_refs[0]; m++) {
    const lb_onnx_ref *r = &lb_onnx_refs[m];
    snprintf(path, sizeof path, "%s/models/%s_cifar10.onnx", shared, r->model);
    lb_graph *g;
    CHECK_OK(lb_onnx_import(path, &g, NULL));
    if (!g) continue;
    lb_exec *e;
    CHECK_OK(lb_exec_create(&e, g, LB_ONNX_REF_IMAGES));
    const float *out = lb_exec_forward(e, x, LB_ONNX_REF_IMAGES, 0, NULL);
    double err = lbt_max_rel_err(out, &r->logits[0][0], LB_ONNX_REF_IMAGES * 10, 1.0);
    printf("%s: max relative logit error vs ONNX Runtime %.2e\n", r->model, err);
    CHECK_MSG(err < 1e-4, "%s: logits differ from ONNX Runtime by %.3g relative", r->model, err);
    lb_exec_free(e);
    if (m == 0) {
      double acc;
      CHECK_OK(lb_evaluate(g, &d, &norm, 200, &acc, NULL));
      CHECK_MSG((int)lround(acc * d.n) == r->correct, "%s: %d correct, ONNX Runtime %d", r->model, (int)lround(acc * d.n), r->correct);
    }
    lb_graph_free(g);
  }
  free(x);
  lb_dataset_free(&d);
}

int main(void) {
  test_tiny();
  test_errors();
  const char *shared = lbt_shared_dir();
  char probe[1024];
  snprintf(probe, sizeof probe, "%s/models/resnet20_cifar10.onnx", shared ? shared : "");
  if (shared && lbt_file_exists(probe)) test_resnets(shared);
  else printf("test_onnx_import: SKIPPED the ResNet part: no %s\n", probe);
  return lbt_finish("test_onnx_import");
}
