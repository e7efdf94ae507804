/* The backend check (lb_backend_check and `lowbit check`) on a zoo resnet8 for 1x28x28 images:
 * a model planned for a backend follows that backend's rules; a model planned elsewhere, a
 * float model, and hand-edited models break the rules the report names. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "lowbit/qgraph.h"
#include "testutil.h"

static char rep[1 << 16];

static lb_qplan_request req(const char *backend, int bits) {
  const lb_backend *b = lb_backend_find(backend);
  /* nnie has one quantizer of its own */
  return lbt_qplan_request(backend, bits, bits, b && b->log_grid ? LB_EST_LOG : LB_EST_LSQ);
}

/* Plan and apply; `edit` may change the plan first (NULL: as planned). */
static lb_graph *quantize(const lb_graph *g, const char *backend, int bits, void (*edit)(const lb_graph *, lb_qplan *)) {
  lb_qplan p;
  lb_qplan_request r = req(backend, bits);
  lb_graph *qg = NULL;
  CHECK_OK(lb_qplan_make(g, &r, &p));
  if (edit) edit(g, &p);
  CHECK_OK(lb_quant_apply(g, &p, &qg));
  lb_qplan_free(&p);
  return qg;
}

/* Run the check; returns the violation count (-1 on error), report in rep. */
static int check(const lb_graph *g, const char *backend) {
  const lb_backend *b = lb_backend_find(backend);
  int v = -1;
  CHECK(b != NULL);
  if (!b) return -1;
  rep[0] = 'x';
  CHECK_OK(lb_backend_check(g, b, rep, sizeof rep, &v));
  return v;
}

static int lines(const char *s) {
  int n = 0;
  for (; *s; s++) n += *s == '\n';
  return n;
}

static lb_node *node(lb_graph *g, const char *name) {
  int i = lb_graph_find_node(g, name);
  CHECK_MSG(i > 0, "no node '%s'", name);
  return i > 0 ? &g->nodes[i] : &g->nodes[0];
}

static lb_qplan_entry *entry(const lb_graph *g, lb_qplan *p, const char *name) {
  int id = lb_graph_find_node(g, name);
  for (int i = 0; i < p->n; i++)
    if (p->e[i].node == id) return &p->e[i];
  CHECK_MSG(0, "no plan entry for '%s'", name);
  return &p->e[0];
}

static void drop_weight_quantizer(const lb_graph *g, lb_qplan *p) { entry(g, p, "layer2.0.1.conv")->has_weight = 0; }
static void drop_input_quantizer(const lb_graph *g, lb_qplan *p) { entry(g, p, "layer1.0.2.conv")->n_inputs = 0; }

static void test_own_backend_passes(const lb_graph *g) {
  for (const lb_backend *const *b = lb_backends(); *b; b++) {
    lb_graph *qg = quantize(g, (*b)->name, (*b)->fixed_bits ? 8 : 4, NULL);
    if (!qg) continue;
    int v = check(qg, (*b)->name);
    CHECK_MSG(v == 0 && rep[0] == '\0', "planned for %s, %d violations:\n%s", (*b)->name, v, rep);
    lb_graph_free(qg);
  }
}

static void test_academic_on_tensorrt(const lb_graph *g) {
  lb_graph *qg = quantize(g, "academic", 4, NULL);
  if (!qg) return;
  int v = check(qg, "tensorrt");
  CHECK(v > 0 && lines(rep) == v);
  CHECK_MSG(strstr(rep, "layer1.0.1.conv: weights are 4-bit; tensorrt runs 8-bit only\n") != NULL, "%s", rep);
  CHECK_MSG(strstr(rep, "layer1.0.1.conv: weights are per-tensor; tensorrt needs per-channel (axis 0)\n") != NULL, "%s",
            rep);
  CHECK(strstr(rep, "layer1.0.1.conv: weights use the full range [-8,7]; tensorrt needs the restricted range [-7,7]\n"));
  CHECK(strstr(rep, "layer1.0.1.conv.in0.q: activations are 4-bit; tensorrt runs 8-bit only\n"));
  CHECK(strstr(rep, "layer1.0.1.conv.in0.q: activations are unsigned; tensorrt needs signed\n"));
  CHECK(strstr(rep, "layer1.0.add: input 0 (from 'layer1.0.2.bn') has no activation quantizer; tensorrt quantizes the "
                    "inputs of adds and pools\n"));
  CHECK(strstr(rep, "pool: input 0 (from 'layer3.0.relu') has no activation quantizer"));
  /* first and last layers are 8-bit in the academic plan: no bit-width line for them */
  CHECK(!strstr(rep, "stem.conv: weights are") || !strstr(rep, "stem.conv: weights are 4-bit"));
  CHECK(!strstr(rep, "fc: weights are 4-bit"));
  /* tensorrt's model the other way round: 8-bit is fine on academic, the specs are not */
  lb_graph *tq = quantize(g, "tensorrt", 8, NULL);
  v = check(tq, "academic");
  CHECK(v > 0 && strstr(rep, "layer1.0.1.conv: weights are per-channel (axis 0); academic needs per-tensor\n") &&
        strstr(rep, "layer1.0.add.in0.q: quantizes an input of 'layer1.0.add' (add); academic quantizes conv/linear "
                    "inputs only\n"));
  /* small report buffer: whole lines only, every violation still counted */
  char small[120];
  int v2 = -1;
  CHECK_OK(lb_backend_check(tq, lb_backend_find("academic"), small, sizeof small, &v2));
  CHECK(v2 == v && strlen(small) < sizeof small && (small[0] == '\0' || small[strlen(small) - 1] == '\n'));
  CHECK(!strncmp(rep, small, strlen(small)));
  CHECK_OK(lb_backend_check(tq, lb_backend_find("academic"), NULL, 0, &v2));
  CHECK(v2 == v);
  lb_graph_free(tq);
  lb_graph_free(qg);
}

static void test_float_and_args(lb_graph *g) {
  CHECK(check(g, "tensorrt") == 1);
  CHECK_MSG(!strcmp(rep, "resnet8: no quantizers: quantize it with lowbit ptq/qat first\n"), "%s", rep);
  int v = 7;
  const lb_backend *b = lb_backend_find("tensorrt");
  CHECK_STATUS(lb_backend_check(NULL, b, rep, sizeof rep, &v), LB_ERR_ARG);
  CHECK_STATUS(lb_backend_check(g, NULL, rep, sizeof rep, &v), LB_ERR_ARG);
  CHECK_STATUS(lb_backend_check(g, b, rep, sizeof rep, NULL), LB_ERR_ARG);
  CHECK_STATUS(lb_backend_check(g, b, NULL, 10, &v), LB_ERR_ARG);
}

/* One edit, exactly one named violation. */
static void test_tampered(const lb_graph *g) {
  lb_graph *qg = quantize(g, "tensorrt", 8, NULL);
  if (!qg) return;
  lb_node *n = node(qg, "layer1.0.1.conv");
  n->ia[LB_QCONV_IA + 1] &= ~LB_QF_NARROW;
  CHECK(check(qg, "tensorrt") == 1);
  CHECK_MSG(!strcmp(rep, "layer1.0.1.conv: weights use the full range [-128,127]; tensorrt needs the restricted range "
                         "[-127,127]\n"),
            "%s", rep);
  n->ia[LB_QCONV_IA + 1] |= LB_QF_NARROW;
  CHECK(check(qg, "tensorrt") == 0);
  n = node(qg, "fc");
  n->ia[LB_QLINEAR_IA + 1] |= LB_QF_POW2;
  CHECK(check(qg, "tensorrt") == 1 && !strcmp(rep, "fc: weights have power-of-two scales; tensorrt needs float scales\n"));
  n->ia[LB_QLINEAR_IA + 1] &= ~LB_QF_POW2;
  n->ia[LB_QLINEAR_IA + 2] = 7; /* no such granularity */
  CHECK(check(qg, "tensorrt") == 1 && !strncmp(rep, "fc: the weight quantizer is not valid: ", 39));
  n->ia[LB_QLINEAR_IA + 2] = 1;
  CHECK(check(qg, "tensorrt") == 0);
  lb_graph_free(qg);

  /* openvino: unsigned activations only where the input is non-negative (after a ReLU, also
   * through the quantizer of the pool input), signed elsewhere */
  qg = quantize(g, "openvino", 8, NULL);
  n = node(qg, "layer1.0.add.in0.q"); /* reads a BN output */
  CHECK((n->ia[LB_FQ_IA + 1] & LB_QF_SIGNED) != 0);
  n->ia[LB_FQ_IA + 1] &= ~(LB_QF_SIGNED | LB_QF_NARROW);
  CHECK(check(qg, "openvino") == 1);
  CHECK_MSG(strstr(rep, "layer1.0.add.in0.q: activations are unsigned but the input is not known to be non-negative") ==
                rep,
            "%s", rep);
  lb_graph_free(qg);

  /* academic: the first layer stays at 8 bits */
  qg = quantize(g, "academic", 4, NULL);
  node(qg, "stem.conv")->ia[LB_QCONV_IA] = 4;
  node(qg, "stem.conv.in0.q")->ia[LB_FQ_IA] = 4;
  CHECK(check(qg, "academic") == 2);
  CHECK_MSG(!strcmp(rep, "stem.conv.in0.q: activations are 4-bit; academic keeps the first layer (weights and input) "
                         "at 8 bits\n"
                         "stem.conv: weights are 4-bit; academic keeps the first layer (weights and input) at 8 bits\n"),
            "%s", rep);
  lb_graph_free(qg);

  /* placement: a float conv left in the graph, a conv input without a quantizer */
  qg = quantize(g, "academic", 4, drop_weight_quantizer);
  CHECK(check(qg, "academic") == 1);
  CHECK_MSG(!strcmp(rep, "layer2.0.1.conv: conv2d has no weight quantizer (a float layer left in a quantized graph); "
                         "academic quantizes every conv/linear\n"),
            "%s", rep);
  lb_graph_free(qg);
  qg = quantize(g, "academic", 4, drop_input_quantizer);
  CHECK(check(qg, "academic") == 1);
  CHECK_MSG(!strcmp(rep, "layer1.0.2.conv: input 0 (from 'layer1.0.1.relu') has no activation quantizer; academic "
                         "quantizes the input of every conv/linear\n"),
            "%s", rep);
  lb_graph_free(qg);
}

/* `lowbit check` on saved models. */
#define out_text lbt_out
#define err_text lbt_err
#define run(...) lbt_run_cli("check " __VA_ARGS__)

static void test_cli(const lb_graph *g) {
  if (!lbt_tmp_init("lbtest_check")) return;
  const char *trt = lbt_tmp_path("trt.lbm"), *aca = lbt_tmp_path("aca.lbm"), *flt = lbt_tmp_path("float.lbm");
  lb_graph *qt = quantize(g, "tensorrt", 8, NULL), *qa = quantize(g, "academic", 4, NULL);
  CHECK_OK(lb_lbm_save(trt, qt, NULL, 0));
  CHECK_OK(lb_lbm_save(aca, qa, NULL, 0));
  CHECK_OK(lb_lbm_save(flt, g, NULL, 0));
  CHECK(check(qa, "tensorrt") > 0);
  char want[1 << 16];
  snprintf(want, sizeof want, "%s", rep);

  CHECK(run("--help") == 0 && strstr(out_text, "Exit codes") && strstr(out_text, "--backend"));
  CHECK_MSG(run("--backend tensorrt %s", trt) == 0, "%s%s", out_text, err_text);
  char line[600];
  snprintf(line, sizeof line, "%s follows the tensorrt rules\n", trt);
  CHECK_MSG(!strcmp(out_text, line), "%s", out_text);
  CHECK(run("--backend tensorrt %s", aca) == 1);
  CHECK_MSG(!strncmp(out_text, want, strlen(want)) && strstr(out_text + strlen(want), "breaks"), "%s", out_text);
  CHECK(run("--backend tensorrt %s --json", aca) == 1 && strstr(out_text, "\"follows\":false") &&
        strstr(out_text, "\"layer1.0.1.conv: weights are 4-bit; tensorrt runs 8-bit only\""));
  CHECK(run("--backend academic %s --json", aca) == 0 && strstr(out_text, "\"follows\":true,\"violations\":0"));
  CHECK(run("--backend snpe %s", flt) == 1 && strstr(out_text, "no quantizers"));
  CHECK(run("--backend tpu9 %s", trt) == 2 && strstr(err_text, "unknown backend 'tpu9'") && lines(err_text) == 1);
  CHECK(run("--backend tensorrt /nonexistent/m.lbm") == 2 && lines(err_text) == 1 && strstr(err_text, "nonexistent"));
  CHECK(run("%s", trt) == 2 && lines(err_text) == 1);
  lb_graph_free(qt);
  lb_graph_free(qa);
  CHECK(lbt_tmp_cleanup() == 0);
}

int main(void) {
  lb_graph *g = NULL;
  CHECK_OK(lb_quant_register_ops());
  CHECK_OK(lb_zoo_build("resnet8", 1, 28, 28, 10, &g));
  if (!g) return lbt_finish("test_quant_check");
  CHECK_OK(lb_graph_alloc_values(g));
  CHECK_OK(lb_graph_init_params(g, 1));
  test_own_backend_passes(g);
  test_academic_on_tensorrt(g);
  test_float_and_args(g);
  test_tampered(g);
  test_cli(g);
  lb_graph_free(g);
  return lbt_finish("test_quant_check");
}
