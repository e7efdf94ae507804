/* C-source export: quantized models built in process are lowered, run on the engine, exported
 * as C (lb_export_c), compiled with the runtime (runtime/lbrt.c) by the system C compiler with
 * -Wall -Wextra -Wpedantic -Werror, run on the same images by a small main written here, and the
 * logits must be bit-identical to the engine's. Cases are chosen so that every step kind, every
 * weight width (8/4/2), affine weights and negative channels are exercised; the test checks that
 * coverage. Also: refusals (prefix, overlapping tensors, unknown step kind) and the sizes the
 * header declares. Skips (77) when no C compiler is found. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "deploy_movenet.h"
#include "deploy_testlib.h"
#include "lowbit/export.h"

#define NIMG 6

static lb_dataset data;
static const char *cc;
static const char *tmp;
static int kinds_seen[LB_PS_KIND_COUNT], wbits_seen[9], saw_wzp, saw_neg;

/* A small net with what the zoo lacks: dilation, ceil-mode max pool, grouped conv, average pool
 * without padded cells, and as output either a 1x1 conv (float output from accumulators) or a
 * max pool of a quantized tensor (dequantized codes). */
static lb_graph *odd_graph(int conv_out, lb_status *st) {
  lb_graph *g = NULL;
  *st = lb_quant_register_ops();
  if (!*st) *st = lb_graph_create(&g, "oddnet", (lb_shape){3, {1, 28, 28}});
  int x = 0;
  const int c1[] = {8, 3, 3, 1, 1, 2, 2, 2, 2, 1, 1}, mp[] = {3, 3, 2, 2, 1, 1, 0, 1};
  const int c2[] = {10, 3, 3, 2, 2, 1, 1, 1, 1, 2, 1}, ap[] = {3, 3, 1, 1, 1, 1, 0, 0};
  const int head[] = {4, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1}, mp2[] = {2, 2, 2, 2, 0, 0, 0, 0};
  if (!*st) *st = lb_graph_add(g, "conv2d", "c1", &x, 1, c1, 11, NULL, 0, &x);
  if (!*st) *st = lb_graph_add(g, "relu", "c1.relu", &x, 1, NULL, 0, NULL, 0, &x);
  if (!*st) *st = lb_graph_add(g, "maxpool", "mp", &x, 1, mp, 8, NULL, 0, &x);
  if (!*st) *st = lb_graph_add(g, "conv2d", "c2", &x, 1, c2, 11, NULL, 0, &x);
  if (!*st) *st = lb_graph_add(g, "relu6", "c2.relu6", &x, 1, NULL, 0, NULL, 0, &x);
  if (!*st) *st = lb_graph_add(g, "avgpool", "ap", &x, 1, ap, 8, NULL, 0, &x);
  if (!*st && conv_out) *st = lb_graph_add(g, "conv2d", "head", &x, 1, head, 11, NULL, 0, &x);
  if (!*st && !conv_out) *st = lb_graph_add(g, "maxpool", "out", &x, 1, mp2, 8, NULL, 0, &x);
  if (!*st) *st = lb_graph_init_params(g, 3);
  if (*st) {
    lb_graph_free(g);
    return NULL;
  }
  return g;
}

/* Quantize and calibrate oddnet as dtl_quantized does the zoo models. */
static lb_graph *odd_quantized(int conv_out, const char *backend, lb_status *st) {
  lb_graph *g = odd_graph(conv_out, st);
  lb_augment norm = {{0.2f}, {0.3f}, 0, 0};
  return g ? mvn_quantize_w8a8(g, backend, &data, &norm, st) : NULL;
}

static void note_coverage(const lb_program *p) {
  for (int i = 0; i < p->n_steps; i++) {
    const lb_prog_step *s = &p->steps[i];
    kinds_seen[s->kind]++;
    if (s->w_len > 0) wbits_seen[s->wbits]++;
    if (s->wzp_off >= 0) saw_wzp = 1;
    if (s->neg_off >= 0) saw_neg = 1;
  }
}

/* The header's macro prefix: the identifier upper-cased. */
static void upper(const char *name, char *up, size_t cap) {
  size_t i = 0;
  for (; name[i] && i + 1 < cap; i++) up[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
  up[i] = 0;
}

/* Export p as <tmp>/<name>.{c,h}, write its main, compile, run on x; 0 on success, logits in y. */
static int build_and_run(const lb_program *p, const char *name, const float *x, float *y) {
  char prefix[512], cmd[4096], src[8192], up[64];
  upper(name, up, sizeof up);
  snprintf(prefix, sizeof prefix, "%s/%s", tmp, name);
  lb_status st = lb_export_c(p, prefix);
  CHECK_MSG(st == LB_OK, "%s: export: %s", name, lb_last_error());
  if (st) return -1;
  char hname[64], cname[64], mname[64], bin[64], xin[64], yout[64];
  snprintf(hname, sizeof hname, "%s.h", name);
  snprintf(cname, sizeof cname, "%s.c", name);
  snprintf(mname, sizeof mname, "%s_main.c", name);
  snprintf(bin, sizeof bin, "%s_bin", name);
  snprintf(xin, sizeof xin, "%s_x.bin", name);
  snprintf(yout, sizeof yout, "%s_y.bin", name);
  lbt_tmp_path(hname); /* remembered for the cleanup */
  lbt_tmp_path(cname);
  /* the generated API, used as a caller would: sizes from the header, NULL refused */
  snprintf(src, sizeof src,
           "#include <stdio.h>\n#include \"%s.h\"\n"
           "int main(int argc, char **argv) {\n"
           "  static float x[%s_IN_SIZE], y[%s_OUT_SIZE];\n"
           "  FILE *in, *out;\n"
           "  if (argc != 3 || %s_run(NULL, y) != -1 || %s_run(x, NULL) != -1) return 3;\n"
           "  if (!(in = fopen(argv[1], \"rb\")) || !(out = fopen(argv[2], \"wb\"))) return 4;\n"
           "  while (fread(x, sizeof x, 1, in) == 1) {\n"
           "    if (%s_run(x, y) != 0) return 5;\n"
           "    if (fwrite(y, sizeof y, 1, out) != 1) return 6;\n"
           "  }\n"
           "  fclose(in);\n"
           "  return fclose(out) ? 7 : 0;\n"
           "}\n",
           name, up, up, name, name, name);
  lbt_write_file(lbt_tmp_path(mname), src, strlen(src));
  lbt_write_file(lbt_tmp_path(xin), x, (size_t)NIMG * p->in_c * p->in_h * p->in_w * sizeof(float));
  const char *san = "";
#if defined(__SANITIZE_ADDRESS__)
  san = " -fsanitize=address,undefined -fno-sanitize-recover=all";
#endif
  const char *root = lbt_source_dir();
  snprintf(cmd, sizeof cmd,
           "cd '%s' && %s -std=c11 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Werror -O1%s -I. -I'%s/runtime' "
           "-o %s %s %s '%s/runtime/lbrt.c' -lm 2> %s_cc.txt && ./%s %s %s",
           tmp, cc, san, root, bin, mname, cname, root, name, bin, xin, lbt_tmp_path(yout));
  lbt_tmp_path(bin);
  char ccl[64];
  snprintf(ccl, sizeof ccl, "%s_cc.txt", name);
  int rc = system(cmd);
  if (rc != 0) {
    char msg[4096];
    lbt_slurp(lbt_tmp_path(ccl), msg, sizeof msg);
    CHECK_MSG(rc == 0, "%s: compile or run failed (%d):\n%s", name, rc, msg);
    return -1;
  }
  lbt_tmp_path(ccl);
  FILE *f = fopen(lbt_tmp_path(yout), "rb");
  size_t got = f ? fread(y, sizeof(float), (size_t)NIMG * p->classes + 1, f) : 0;
  if (f) fclose(f);
  CHECK_MSG(got == (size_t)NIMG * p->classes, "%s: %zu logits read", name, got);
  return got == (size_t)NIMG * p->classes ? 0 : -1;
}

/* The header states the footprint; check it against the program. */
static void check_header(const lb_program *p, const char *name) {
  char path[512], text[4096], want[128];
  snprintf(path, sizeof path, "%s/%s.h", tmp, name);
  lbt_slurp(path, text, sizeof text);
  char up[64];
  upper(name, up, sizeof up);
  snprintf(want, sizeof want, "#define %s_WEIGHT_BYTES %lld ", up, (long long)lb_program_weight_bytes(p));
  CHECK_MSG(strstr(text, want) != NULL, "%s: header lacks '%s'", name, want);
  snprintf(want, sizeof want, "#define %s_ARENA_BYTES %lld ", up, (long long)p->arena_per_image);
  CHECK_MSG(strstr(text, want) != NULL, "%s: header lacks '%s'", name, want);
  snprintf(want, sizeof want, "#define %s_OUT_SIZE %d ", up, p->classes);
  CHECK_MSG(strstr(text, want) != NULL, "%s: header lacks '%s'", name, want);
}

/* Lower qg, run the engine and the compiled export on the same images, compare bits. */
static void export_case(lb_graph *qg, const char *backend, const char *name) {
  lb_program *p = NULL;
  lb_augment norm = {{0.2f}, {0.3f}, 0, 0};
  lb_status st = lb_lower(qg, backend, &norm, &p);
  CHECK_MSG(st == LB_OK, "%s: lower: %s", name, lb_last_error());
  if (st) return;
  note_coverage(p);
  int64_t in = (int64_t)p->in_c * p->in_h * p->in_w;
  float *x = lbt_falloc((size_t)(NIMG * in)), *ye = lbt_falloc((size_t)NIMG * p->classes);
  float *yc = lbt_falloc((size_t)NIMG * p->classes);
  int32_t idx[NIMG], lab[NIMG];
  for (int i = 0; i < NIMG; i++) idx[i] = i;
  lb_batch_fill(&data, idx, NIMG, &norm, 0, NULL, x, lab);
  x[0] = 1e30f; /* saturating inputs take the clamp path of the input quantization */
  x[1] = -1e30f;
  lb_engine *e = NULL;
  CHECK_OK(lb_engine_create(p, NIMG, 0, &e));
  if (e) CHECK_OK(lb_engine_run(e, NIMG, x, ye));
  if (e && build_and_run(p, name, x, yc) == 0) {
    int diff = 0;
    for (int i = 0; i < NIMG * p->classes; i++) diff += memcmp(&ye[i], &yc[i], sizeof(float)) != 0;
    CHECK_MSG(diff == 0, "%s: %d of %d logits differ from the engine (first: %.9g vs %.9g)", name, diff,
              NIMG * p->classes, (double)yc[0], (double)ye[0]);
    check_header(p, name);
    printf("%-22s %2d steps  weights %7lld B packed (%7lld B as int8)  arena %6lld B  logits identical: %s\n", name,
           p->n_steps, (long long)lb_program_weight_bytes(p), (long long)p->n_w8, (long long)p->arena_per_image,
           diff ? "NO" : "yes");
  }
  lb_engine_free(e);
  free(x);
  free(ye);
  free(yc);
  lb_program_free(p);
}

static void zoo_case(const char *model, const char *backend, int w, int a, int fold, const char *name) {
  lb_status st;
  lb_graph *qg = dtl_quantized(model, backend, w, a, fold, &data, &st);
  CHECK_MSG(qg != NULL, "%s: %s", name, lb_last_error());
  if (!qg) return;
  export_case(qg, backend, name);
  lb_graph_free(qg);
}

/* Byte-equal files (both must exist). */
static int same_file(const char *a, const char *b) {
  static char x[1 << 20], y[1 << 20];
  FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
  size_t na = fa ? fread(x, 1, sizeof x, fa) : 0, nb = fb ? fread(y, 1, sizeof y, fb) : 0;
  if (fa) fclose(fa);
  if (fb) fclose(fb);
  return fa && fb && na == nb && na > 0 && na < sizeof x && !memcmp(x, y, na);
}

/* The CLI (lowbit export --program P.lbp --c PREFIX) writes what lb_export_c writes, byte for
 * byte (the export is deterministic); and the runtime with an export compiles for a Cortex-M4
 * (freestanding, only a declaration of rintf) when clang is there. */
static void cli_and_mcu_case(const lb_program *p) {
  char lbp[512], dir[512], cmd[4096];
  snprintf(lbp, sizeof lbp, "%s", lbt_tmp_path("lenet.lbp"));
  snprintf(dir, sizeof dir, "%s", lbt_tmp_path("cli"));
  CHECK_OK(lb_program_save(lbp, p));
  CHECK(mkdir(dir, 0700) == 0);
  int rc = lbt_run_cli("export --program %s --c %s/lenet", lbp, dir);
  CHECK_MSG(rc == 0, "lowbit export --c: exit %d: %s", rc, lbt_err);
  char api[600], cli[600];
  snprintf(api, sizeof api, "%s/lenet", tmp);
  CHECK_OK(lb_export_c(p, api));
  for (int j = 0; j < 2; j++) {
    snprintf(api, sizeof api, "%s", lbt_tmp_path(j ? "lenet.h" : "lenet.c"));
    snprintf(cli, sizeof cli, "%s", lbt_tmp_path(j ? "cli/lenet.h" : "cli/lenet.c"));
    CHECK_MSG(same_file(api, cli), "%s and %s differ", api, cli);
  }
  rc = lbt_run_cli("export --program %s --c %s/bad@name", lbp, dir);
  CHECK_MSG(rc != 0 && strstr(lbt_err, "file name"), "exit %d: %s", rc, lbt_err);
  /* the export and the runtime are C99 as well */
  snprintf(cmd, sizeof cmd,
           "cd '%s' && %s -std=c99 -Wall -Wextra -Wpedantic -Werror -I'%s/runtime' -fsyntax-only lenet.c '%s/runtime/lbrt.c' "
           "2> c99.txt",
           tmp, cc, lbt_source_dir(), lbt_source_dir());
  rc = system(cmd);
  char log[2048];
  lbt_slurp(lbt_tmp_path("c99.txt"), log, sizeof log);
  CHECK_MSG(rc == 0, "C99 compile failed: %s", log);
  if (system("clang --version > /dev/null 2>&1") != 0) {
    printf("no clang: the Cortex-M4 compile of the runtime is not checked\n");
    return;
  }
  CHECK(mkdir(lbt_tmp_path("mcu"), 0700) == 0);
  static const char mcu_math[] = "float rintf(float);\nfloat fmaf(float, float, float);\n";
  lbt_write_file(lbt_tmp_path("mcu/math.h"), mcu_math, sizeof mcu_math - 1);
  snprintf(cmd, sizeof cmd,
           "cd '%s' && clang --target=thumbv7em-none-eabihf -mcpu=cortex-m4 -mfloat-abi=hard -ffreestanding -std=c11 "
           "-Os -Wall -Wextra -Wpedantic -Werror -isystem mcu -I'%s/runtime' -c lenet.c '%s/runtime/lbrt.c' 2> mcu/log.txt",
           tmp, lbt_source_dir(), lbt_source_dir());
  lbt_tmp_path("lenet.o");
  lbt_tmp_path("lbrt.o");
  rc = system(cmd);
  lbt_slurp(lbt_tmp_path("mcu/log.txt"), log, sizeof log);
  CHECK_MSG(rc == 0, "Cortex-M4 compile failed: %s", log);
}

/* Refusals: a prefix that is no file name, a program whose step writes over its input, an
 * unknown step kind; nothing is written. */
static void refusal_case(void) {
  lb_status st;
  lb_graph *qg = dtl_quantized("lenet5", "fbgemm", 8, 8, 0, &data, &st);
  lb_program *p = NULL;
  if (qg) CHECK_OK(lb_lower(qg, "fbgemm", NULL, &p));
  lb_graph_free(qg);
  if (!p) return;
  cli_and_mcu_case(p);
  char prefix[512];
  snprintf(prefix, sizeof prefix, "%s/", tmp);
  CHECK_STATUS(lb_export_c(p, prefix), LB_ERR_ARG);
  snprintf(prefix, sizeof prefix, "%s/bad\"name", tmp);
  CHECK_STATUS(lb_export_c(p, prefix), LB_ERR_ARG);
  snprintf(prefix, sizeof prefix, "%s/lbrt_add", tmp); /* net_run would be the runtime's lbrt_add_run */
  CHECK_STATUS(lb_export_c(p, prefix), LB_ERR_ARG);
  snprintf(prefix, sizeof prefix, "%s/refused", tmp);
  int conv = -1;
  for (int i = 0; i < p->n_steps && conv < 0; i++)
    if (p->steps[i].kind == LB_PS_CONV) conv = i;
  CHECK(conv >= 0);
  if (conv >= 0) {
    lb_prog_tensor *o = &p->tensors[p->steps[conv].out], *in = &p->tensors[p->steps[conv].in[0]];
    int64_t keep_o = o->offset, keep_in = in->offset;
    o->offset = in->offset = 0;
    CHECK_OK(lb_program_validate(p)); /* the plan's bounds still hold; only the overlap is wrong */
    CHECK_STATUS(lb_export_c(p, prefix), LB_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(lb_last_error(), p->steps[conv].name) && strstr(lb_last_error(), "over its input"), "message: %s",
              lb_last_error());
    o->offset = keep_o;
    in->offset = keep_in;
  }
  p->steps[1].kind = LB_PS_KIND_COUNT; /* what a newer lowering might produce */
  CHECK(lb_export_c(p, prefix) != LB_OK);
  char path[600];
  snprintf(path, sizeof path, "%s.c", prefix);
  CHECK(!lbt_file_exists(path));
  lb_program_free(p);
}

int main(void) {
  cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
  char probe[512];
  snprintf(probe, sizeof probe, "%s --version > /dev/null 2>&1", cc);
  if (system(probe) != 0) return lbt_skip("test_export_c", "no C compiler (cc, or $CC) to build the exported source");
  tmp = lbt_tmp_init("lbt_export_c");
  if (!tmp) return 1;
  dtl_dataset(&data, 32, 5);
  zoo_case("lenet5", "fbgemm", 4, 4, 0, "lenet5_fbgemm_w4a4");
  zoo_case("resnet8", "fbgemm", 8, 8, LB_BN_FOLD_PYTORCH, "resnet8_fbgemm_w8a8");
  zoo_case("resnet8", "fbgemm", 4, 4, LB_BN_FOLD_PYTORCH, "resnet8_fbgemm_w4a4");
  zoo_case("resnet8", "qdq", 2, 4, LB_BN_FOLD_NONE, "resnet8_qdq_w2a4");
  zoo_case("mobilenetv2-tiny", "tensorrt", 8, 8, LB_BN_FOLD_PYTORCH, "mbv2_tensorrt_w8a8");
  zoo_case("resnet8", "vitis", 8, 8, LB_BN_FOLD_PYTORCH, "resnet8_vitis_w8a8");
  for (int conv_out = 0; conv_out < 2; conv_out++) {
    lb_status st;
    lb_graph *odd = odd_quantized(conv_out, "tensorrt", &st);
    CHECK_MSG(odd != NULL, "oddnet: %s", lb_last_error());
    if (odd) export_case(odd, "tensorrt", conv_out ? "oddnet_convout" : "oddnet_dequant");
    lb_graph_free(odd);
  }
  for (int codes_out = 0; codes_out < 2; codes_out++) { /* slice, pad, concat steps */
    lb_status st;
    lb_augment mnorm = {{0.2f}, {0.3f}, 0, 0};
    lb_graph *mv = mvn_quantized(codes_out, 0.0f, "tensorrt", &data, &mnorm, &st);
    CHECK_MSG(mv != NULL, "movenet: %s", lb_last_error());
    if (mv) export_case(mv, "tensorrt", codes_out ? "movenet_codes_out" : "movenet");
    lb_graph_free(mv);
  }
  refusal_case();
  /* every kind but the float steps, which the integer-only runtime refuses (test_deploy_exact) */
  for (int k = 0; k < LB_PS_KIND_COUNT; k++)
    if (k != LB_PS_FADD && k != LB_PS_FGAP) CHECK_MSG(kinds_seen[k] > 0, "no case exported a step of kind %d", k);
  CHECK(wbits_seen[8] && wbits_seen[4] && wbits_seen[2]);
  CHECK(saw_wzp && saw_neg);
  lb_dataset_free(&data);
  CHECK(lbt_tmp_cleanup() == 0);
  return lbt_finish("test_export_c");
}
