/* Bench recipes and results files: a valid recipe expands to the expected cells; every kind of
 * mistake (unknown key, wrong type, bad value, missing key, a rule of a backend, broken JSON)
 * is refused with an error naming the key; results lines round-trip, and malformed results
 * files are refused with the line number; a torn last line is told apart from corruption;
 * summaries are the mean and sample standard deviation over seeds; size and BOPs of a graph. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/harness.h"
#include "lowbit/qgraph.h"
#include "test_harness_fixture.h"
#include "testutil.h"

static const char *good =
    "{\"name\": \"t\", \"model\": {\"zoo\": \"mlp\", \"train\": {\"epochs\": 2, \"seed\": 3}},\n"
    " \"data\": \"fashion-mnist\", \"seeds\": [1, 2], \"epochs\": 3, \"lr\": 0.02, \"calib\": 64,\n"
    " \"limit_train\": 512, \"limit_test\": 256, \"threads\": 1,\n"
    " \"matrix\": [\n"
    "  {\"methods\": [\"lsq\", \"pact\"], \"bits\": [{\"w\": 4, \"a\": 4}, {\"w\": 2, \"a\": 2}], \"backends\": [\"academic\", \"tvm\"]},\n"
    "  {\"methods\": [\"ptq\"], \"observer\": \"mse\", \"bits\": [{\"w\": 8, \"a\": 8}], \"backends\": [\"tensorrt\", \"vitis\"],\n"
    "   \"bn_fold\": \"fold\"}\n"
    " ]}\n";

/* good with one substring replaced, parsed: the status and the error must match. */
static void expect_error(const char *from, const char *to, const char *needle) {
  char text[4096];
  const char *at = strstr(good, from);
  CHECK_MSG(at != NULL, "'%s' is not in the good recipe", from);
  if (!at) return;
  snprintf(text, sizeof text, "%.*s%s%s", (int)(at - good), good, to, at + strlen(from));
  lb_recipe r;
  lb_status s = lb_recipe_parse(text, "r.json", &r);
  CHECK_MSG(s == LB_ERR_FORMAT, "replacing '%s' by '%s' gave %s", from, to, lb_status_str(s));
  CHECK_MSG(strstr(lb_last_error(), needle) != NULL, "replacing '%s' by '%s': error '%s' lacks '%s'", from, to,
            lb_last_error(), needle);
  CHECK_MSG(strncmp(lb_last_error(), "r.json: ", 8) == 0, "error does not name the file: %s", lb_last_error());
}

static void test_recipe(void) {
  lb_recipe r;
  CHECK_OK(lb_recipe_parse(good, "r.json", &r));
  CHECK(!strcmp(r.name, "t") && r.source == LB_MODEL_ZOO && !strcmp(r.fp32.model, "mlp"));
  CHECK(r.fp32.epochs == 2 && r.fp32.seed == 3 && r.epochs == 3 && r.calib == 64 && r.threads == 1);
  CHECK(r.limit_train == 512 && r.limit_test == 256 && fabsf(r.lr - 0.02f) < 1e-9f);
  CHECK(r.n_groups == 2 && r.n_seeds == 2);
  /* 2 methods x 2 bits x 2 backends x 2 seeds + 1 x 1 x 2 x 2 */
  CHECK(lb_recipe_cells(&r, NULL, 0) == 20);
  lb_cell cells[20];
  CHECK(lb_recipe_cells(&r, cells, 20) == 20);
  char key[160];
  lb_cell_key(&cells[0], key, sizeof key);
  CHECK_MSG(!strcmp(key, "lsq|W4A4|academic|none|seed 1"), "%s", key);
  lb_cell_key(&cells[9], key, sizeof key); /* seed outermost: the last cell of seed 1 */
  CHECK_MSG(!strcmp(key, "ptq:mse|W8A8|vitis|fold|seed 1"), "%s", key);
  lb_cell_key(&cells[19], key, sizeof key);
  CHECK_MSG(!strcmp(key, "ptq:mse|W8A8|vitis|fold|seed 2"), "%s", key);
  CHECK(lb_cell_is_qat(&cells[0]) && !lb_cell_is_qat(&cells[19]));

  expect_error("\"threads\"", "\"thread\"", "unknown key 'thread' in the recipe");
  expect_error("\"seed\": 3", "\"sead\": 3", "unknown key 'sead' in model.train");
  expect_error("{\"w\": 4, \"a\": 4}", "{\"w\": 4, \"a\": 4, \"x\": 1}", "unknown key 'x' in matrix[0].bits[0]");
  expect_error("\"epochs\": 3", "\"epochs\": \"3\"", "epochs: must be an integer, not a string");
  expect_error("\"epochs\": 3", "\"epochs\": 2.5", "epochs: must be an integer, got 2.5");
  expect_error("\"epochs\": 3", "\"epochs\": 0", "epochs: must be in 1..");
  expect_error("\"lr\": 0.02", "\"lr\": -1", "lr: must be in (0");
  expect_error("\"data\": \"fashion-mnist\", ", "", "data: missing (required)");
  expect_error("\"seeds\": [1, 2]", "\"seeds\": []", "seeds: must not be empty");
  expect_error("\"seeds\": [1, 2]", "\"seeds\": [1, 1]", "seeds[1]: seed 1 is listed twice");
  expect_error("\"seeds\": [1, 2]", "\"seeds\": 1", "seeds: must be an array, not a number");
  expect_error("\"zoo\": \"mlp\"", "\"zoo\": \"mlp9\"", "model.zoo: unknown model 'mlp9'");
  expect_error("\"zoo\": \"mlp\", \"train\": {\"epochs\": 2, \"seed\": 3}", "\"zoo\": \"mlp\", \"checkpoint\": \"x.lbm\"",
               "model: give exactly one of zoo, checkpoint, onnx");
  expect_error("[\"lsq\", \"pact\"]", "[\"lsq\", \"adaround\"]", "matrix[0].methods[1]: unknown method 'adaround'");
  expect_error("\"academic\", \"tvm\"", "\"academic\", \"tpu\"", "matrix[0].backends[1]: unknown backend 'tpu'");
  expect_error("\"bn_fold\": \"fold\"", "\"bn_fold\": \"fuse\"", "matrix[1].bn_fold: unknown BN folding 'fuse'");
  expect_error("\"observer\": \"mse\"", "\"observer\": \"median\"", "matrix[1].observer: unknown observer 'median'");
  expect_error("{\"w\": 8, \"a\": 8}", "{\"w\": 4, \"a\": 8}", "backend tensorrt runs 8-bit only, so W4A8 cannot run on it");
  expect_error("{\"w\": 4, \"a\": 4}, {\"w\": 2", "{\"w\": 17, \"a\": 4}, {\"w\": 2", "matrix[0].bits[0].w: must be in 1..16");
  expect_error("{\"w\": 4, \"a\": 4}, {\"w\": 2", "{\"a\": 4}, {\"w\": 2", "matrix[0].bits[0].w: missing (required)");
  expect_error("\"matrix\": [", "\"methods\": [\"lsq\"], \"matrix\": [", "give either matrix");
  expect_error("\"name\": \"t\"", "\"name\": \"a/b\"", "name: use letters");
  expect_error("\"limit_test\": 256,", "\"limit_test\": 256,,", "not valid JSON (near line 3)");
  /* the same cell twice across groups */
  expect_error("[\"ptq\"], \"observer\": \"mse\", \"bits\": [{\"w\": 8, \"a\": 8}], \"backends\": [\"tensorrt\", \"vitis\"],\n"
               "   \"bn_fold\": \"fold\"",
               "[\"lsq\"], \"bits\": [{\"w\": 4, \"a\": 4}], \"backends\": [\"academic\"]", "is listed twice");

  /* top-level lists instead of a matrix */
  CHECK_OK(lb_recipe_parse("{\"name\":\"x\",\"model\":{\"checkpoint\":\"m.lbm\"},\"data\":\"fashion-mnist\",\"seeds\":[7],"
                           "\"methods\":[\"ptq\"],\"bits\":[{\"w\":8,\"a\":8}],\"backends\":[\"academic\"]}",
                           "x.json", &r));
  CHECK(r.source == LB_MODEL_CHECKPOINT && !strcmp(r.model_path, "m.lbm") && lb_recipe_cells(&r, NULL, 0) == 1);
  /* an ONNX model must say how its inputs are normalised */
  CHECK_STATUS(lb_recipe_parse("{\"name\":\"x\",\"model\":{\"onnx\":\"m.onnx\"},\"data\":\"cifar10:d\",\"seeds\":[1],"
                               "\"methods\":[\"ptq\"],\"bits\":[{\"w\":8,\"a\":8}],\"backends\":[\"academic\"]}",
                               "x.json", &r), LB_ERR_FORMAT);
  CHECK(strstr(lb_last_error(), "model.normalize: missing") != NULL);
  CHECK_STATUS(lb_recipe_load("/nonexistent/recipe.json", &r), LB_ERR_IO);
  CHECK(strstr(lb_last_error(), "/nonexistent/recipe.json") != NULL);
}

static void test_results(void) {
  lb_result a = lbt_hresult("lsq", 4, "academic", 1, 0.875), b;
  char *line;
  CHECK_OK(lb_result_to_json(&a, &line));
  CHECK(line[strlen(line) - 1] == '\n' && strchr(line, '\n') == line + strlen(line) - 1);
  CHECK(strstr(line, "\"int_acc\":null") != NULL);
  CHECK_OK(lb_result_from_json(line, &b));
  CHECK(!memcmp(&a.cell, &b.cell, sizeof a.cell) && b.sim_acc == a.sim_acc && b.n_curve == 2 && b.curve[1] == a.curve[1]);
  CHECK(!strcmp(b.machine, a.machine) && b.size_bytes == a.size_bytes && !b.has_int_acc);

  const char *path = lbt_tmp_path("r.jsonl");
  lb_results res;
  CHECK_OK(lb_results_load(path, 0, &res)); /* missing file: empty */
  CHECK(res.n == 0);
  CHECK_OK(lb_results_append(path, &a));
  lb_result c = lbt_hresult("lsq", 4, "academic", 2, 0.865);
  CHECK_OK(lb_results_append(path, &c));
  CHECK_OK(lb_results_load(path, 0, &res));
  CHECK(res.n == 2 && !res.torn_tail && res.r[1].cell.seed == 2);
  lb_results_free(&res);

  /* a torn last line: dropped with allow_torn, refused otherwise */
  FILE *f = fopen(path, "a");
  CHECK(f != NULL);
  if (f) {
    fwrite(line, 1, strlen(line) / 2, f);
    fclose(f);
  }
  CHECK_OK(lb_results_load(path, 1, &res));
  CHECK(res.n == 2 && res.torn_tail == 1);
  size_t good_len = res.good_len;
  lb_results_free(&res);
  CHECK_STATUS(lb_results_load(path, 0, &res), LB_ERR_FORMAT);
  CHECK_MSG(strstr(lb_last_error(), "r.jsonl:3: the last line is incomplete") != NULL, "%s", lb_last_error());
  CHECK_OK(lb_results_truncate(path, good_len));
  CHECK_OK(lb_results_load(path, 0, &res));
  CHECK(res.n == 2 && !res.torn_tail);
  lb_results_free(&res);

  /* a complete but malformed line is corruption: the line number and the key are named */
  char bad[4096];
  snprintf(bad, sizeof bad, "%s%s", line, line);
  char *at = strstr(bad + strlen(line), "\"sim_acc\"");
  if (at) memcpy(at, "\"sim_ACC\"", 9);
  lbt_write_file(path, bad, strlen(bad));
  CHECK_STATUS(lb_results_load(path, 1, &res), LB_ERR_FORMAT);
  CHECK_MSG(strstr(lb_last_error(), "r.jsonl:2: key 'sim_acc' is missing") != NULL, "%s", lb_last_error());
  snprintf(bad, sizeof bad, "%s{\"recipe\": 1\n", line);
  lbt_write_file(path, bad, strlen(bad));
  CHECK_STATUS(lb_results_load(path, 1, &res), LB_ERR_FORMAT);
  CHECK_MSG(strstr(lb_last_error(), "r.jsonl:2: not valid JSON") != NULL, "%s", lb_last_error());
  snprintf(bad, sizeof bad, "%s", line);
  at = strstr(bad, "\"sim_acc\":0.875");
  if (at) memcpy(at, "\"sim_acc\":1.875", 15);
  lbt_write_file(path, bad, strlen(bad));
  CHECK_STATUS(lb_results_load(path, 0, &res), LB_ERR_FORMAT);
  CHECK_MSG(strstr(lb_last_error(), "r.jsonl:1: key 'sim_acc' = 1.875 is out of range") != NULL, "%s", lb_last_error());
  free(line);
}

static void test_summary(void) {
  lb_results res = {0};
  double accs[3] = {0.80, 0.82, 0.87};
  for (int s = 0; s < 3; s++) {
    lb_result r = lbt_hresult("lsq", 4, "academic", (uint64_t)s + 1, accs[s]);
    if (s == 2) {
      r.has_int_acc = 1;
      r.int_acc = 0.86;
    }
    CHECK_OK(lb_results_push(&res, &r));
    r = lbt_hresult("pact", 2, "tvm", (uint64_t)s + 1, 0.7);
    CHECK_OK(lb_results_push(&res, &r));
  }
  lb_summary_row *rows;
  int n;
  CHECK_OK(lb_summarize(&res, &rows, &n));
  CHECK(n == 2);
  if (n == 2) {
    double mean = (0.80 + 0.82 + 0.87) / 3, ss = 0;
    for (int s = 0; s < 3; s++) ss += (accs[s] - mean) * (accs[s] - mean);
    CHECK(!strcmp(rows[0].method, "lsq") && !strcmp(rows[1].method, "pact") && rows[0].n == 3);
    CHECK_NEAR(rows[0].sim_mean, mean, 1e-12);
    CHECK_NEAR(rows[0].sim_std, sqrt(ss / 2), 1e-12);
    CHECK_NEAR(rows[0].drop_mean, 0.9 - mean, 1e-12);
    CHECK(rows[0].n_int == 1 && rows[0].int_mean == 0.86 && rows[0].int_std == 0.0);
    CHECK_NEAR(rows[1].sim_std, 0.0, 1e-12);
    CHECK(rows[1].w == 2 && !strcmp(rows[1].backend, "tvm"));
    char buf[64];
    CHECK(!strcmp(lb_fmt_mean_std(rows[0].sim_mean, rows[0].sim_std, 3, buf, sizeof buf), "83.00 ± 3.61"));
    CHECK(!strcmp(lb_fmt_mean_std(0.5, 0, 1, buf, sizeof buf), "50.00"));
  }
  free(rows);
  lb_results_free(&res);
}

/* Size and BOPs of lenet5 before and after quantization, against sums written out here. */
static void test_measures(void) {
  lb_graph *g, *qg;
  CHECK_OK(lb_zoo_build("lenet5", 1, 28, 28, 10, &g));
  CHECK_OK(lb_graph_alloc_values(g));
  int64_t bits = 0;
  double bops = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const lb_node *nd = &g->nodes[i];
    if (strcmp(nd->op->name, "conv2d") && strcmp(nd->op->name, "linear")) continue;
    char name[LB_PARAM_NAME_MAX + 8];
    snprintf(name, sizeof name, "%s.weight", nd->name);
    const lb_param *w = lb_graph_find_param(g, name);
    bits += w->numel * 32 + w->shape.d[0] * 32;
    bops += (double)nd->op->macs(g, nd) * 32 * 32;
  }
  CHECK(lb_model_size_bytes(g) == bits / 8);
  CHECK(lb_model_bops(g) == bops);
  CHECK(bops == (double)lb_graph_macs(g) * 1024); /* every MAC of lenet5 is in a conv or linear */
  lb_qplan plan = {0};
  lb_qplan_request q = {.backend = "academic", .wbits = 4, .abits = 4, .est = LB_EST_LSQ};
  CHECK_OK(lb_qplan_make(g, &q, &plan));
  CHECK_OK(lb_quant_apply(g, &plan, &qg));
  /* quantizers start disabled (calibration): until then the layers count as float */
  CHECK(lb_model_size_bytes(qg) == bits / 8);
  for (int i = 0; i < qg->n_nodes; i++) { /* enable every quantizer, as calibration ends */
    lb_node *nd = &qg->nodes[i];
    int base = !strcmp(nd->op->name, "fakequant") ? LB_FQ_IA : !strcmp(nd->op->name, "qconv2d") ? LB_QCONV_IA
             : !strcmp(nd->op->name, "qlinear") ? LB_QLINEAR_IA : -1;
    if (base >= 0) nd->ia[base + 1] |= LB_QF_ENABLED;
  }
  /* academic: first and last layer at 8 bits (weights and input), the others at 4 */
  int64_t qbits = 0;
  double qbops = 0;
  int first = -1, last = -1;
  for (int i = 0; i < qg->n_nodes; i++)
    if (!strcmp(qg->nodes[i].op->name, "qconv2d") || !strcmp(qg->nodes[i].op->name, "qlinear")) {
      if (first < 0) first = i;
      last = i;
    }
  for (int i = 0; i < qg->n_nodes; i++) {
    const lb_node *nd = &qg->nodes[i];
    if (strcmp(nd->op->name, "qconv2d") && strcmp(nd->op->name, "qlinear")) continue;
    int b = i == first || i == last ? 8 : 4;
    char name[LB_PARAM_NAME_MAX + 8];
    snprintf(name, sizeof name, "%s.weight", nd->name);
    const lb_param *w = lb_graph_find_param(qg, name);
    snprintf(name, sizeof name, "%s.w_scale", nd->name);
    const lb_param *sc = lb_graph_find_param(qg, name);
    qbits += w->numel * b + w->shape.d[0] * 32 + sc->numel * 32;
    qbops += (double)nd->op->macs(qg, nd) * b * b;
  }
  CHECK_MSG(lb_model_size_bytes(qg) == (qbits + 7) / 8, "%lld vs %lld", (long long)lb_model_size_bytes(qg),
            (long long)((qbits + 7) / 8));
  CHECK_MSG(lb_model_bops(qg) == qbops, "%g vs %g", lb_model_bops(qg), qbops);
  lb_qplan_free(&plan);
  lb_graph_free(qg);
  lb_graph_free(g);
  char m[128];
  int cores = 0;
  lb_machine_info(m, sizeof m, &cores);
  CHECK(m[0] && cores >= 1);
}

int main(void) {
  CHECK_OK(lb_quant_register_ops());
  if (!lbt_tmp_init("lbt_hrecipe")) return 1;
  test_recipe();
  test_results();
  test_summary();
  test_measures();
  lbt_tmp_cleanup();
  return lbt_finish("test_harness_recipe");
}
