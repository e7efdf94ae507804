/* lowbit info on an integer program (.lbp): its steps, each output tensor's grid, weight widths,
 * MACs, and which steps the engine runs on the XNOR-popcount kernels. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "lowbit/deploy.h"

int lb_cli_is_program_file(const char *path) {
  char magic[8] = {0};
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = fread(magic, 1, sizeof magic, f);
  fclose(f);
  return n == sizeof magic && !memcmp(magic, "LOWBITP\n", 8);
}

static const char *const step_names[LB_PS_KIND_COUNT] = {
    "quantize", "conv", "linear", "conv_out", "linear_out", "add", "gap", "avgpool",
    "maxpool",  "rescale", "dequantize", "slice", "pad", "concat", "fadd", "fgap"};

/* "int8", "uint4", "binary", "acc32", "float" */
static void grid_str(const lb_prog_tensor *t, char *buf, size_t cap) {
  if (t->kind == LB_PT_FLOAT) snprintf(buf, cap, "float");
  else if (t->kind == LB_PT_ACC32) snprintf(buf, cap, "acc32");
  else if (lb_prog_tensor_binary(t)) snprintf(buf, cap, "binary");
  else snprintf(buf, cap, "%s%d", t->is_signed ? "int" : "uint", t->bits);
}

static int is_weighted(int kind) {
  return kind == LB_PS_CONV || kind == LB_PS_LINEAR || kind == LB_PS_CONV_OUT || kind == LB_PS_LINEAR_OUT;
}

/* The weights' width: "+-1" for binary weights (kept in the 2-bit container), else the bits. */
static void wbits_str(const lb_program *p, const lb_prog_step *s, char *buf, size_t cap) {
  if (!is_weighted(s->kind)) {
    snprintf(buf, cap, "-");
    return;
  }
  int binary = s->w_len > 0 && s->wzp_off < 0;
  for (int64_t i = 0; binary && i < s->w_len; i++) binary = p->w8[s->w_off + i] == 1 || p->w8[s->w_off + i] == -1;
  if (binary) snprintf(buf, cap, "+-1");
  else snprintf(buf, cap, "%d", s->wbits);
}

int lb_cli_program_info(const char *path, int json) {
  lb_program *p = NULL;
  lb_engine *e = NULL;
  if (lb_program_load(path, &p) || lb_engine_create(p, 1, 0, &e)) {
    fprintf(stderr, "lowbit info: %s\n", lb_last_error());
    lb_program_free(p);
    return LB_EXIT_USAGE;
  }
  int64_t macs = 0;
  for (int i = 0; i < p->n_steps; i++) macs += p->steps[i].macs;
  if (json) {
    printf("{\"program\":\"%s\",\"model\":\"%s\",\"backend\":\"%s\",\"input\":[%d,%d,%d],\"classes\":%d,"
           "\"arena_per_image\":%lld,\"weight_bytes\":%lld,\"macs\":%lld,\"kernels\":\"%s\",\"xnor_steps\":%d,"
           "\"float_steps\":%d,\"steps\":[",
           path, p->model, p->backend, p->in_c, p->in_h, p->in_w, p->classes, (long long)p->arena_per_image,
           (long long)lb_program_weight_bytes(p), (long long)macs, lb_engine_isa(e), lb_engine_xnor_steps(e),
           lb_program_float_steps(p));
    for (int i = 0; i < p->n_steps; i++) {
      const lb_prog_step *s = &p->steps[i];
      const lb_prog_tensor *t = &p->tensors[s->out];
      char grid[16], wb[8];
      grid_str(t, grid, sizeof grid);
      wbits_str(p, s, wb, sizeof wb);
      printf("%s{\"kind\":\"%s\",\"name\":\"%s\",\"out\":\"%s\",\"shape\":[%d,%d,%d],\"grid\":\"%s\",\"scale\":%.9g,"
             "\"weights\":\"%s\",\"macs\":%lld}",
             i ? "," : "", step_names[s->kind], s->name, t->name, t->c, t->h, t->w, grid, (double)t->scale, wb,
             (long long)s->macs);
    }
    printf("]}\n");
  } else {
    printf("program %s: model %s, backend %s, input %dx%dx%d, %d classes\n", path, p->model,
           p->backend[0] ? p->backend : "(the model's)", p->in_c, p->in_h, p->in_w, p->classes);
    printf("%-4s %-10s %-24s %-28s %-12s %-7s %7s %12s\n", "#", "step", "computed by", "writes", "shape", "grid",
           "weights", "MACs");
    for (int i = 0; i < p->n_steps; i++) {
      const lb_prog_step *s = &p->steps[i];
      const lb_prog_tensor *t = &p->tensors[s->out];
      char grid[16], shape[40], wb[8];
      grid_str(t, grid, sizeof grid);
      wbits_str(p, s, wb, sizeof wb);
      snprintf(shape, sizeof shape, "%dx%dx%d", t->c, t->h, t->w);
      printf("%-4d %-10s %-24s %-28s %-12s %-7s %7s %12lld\n", i, step_names[s->kind], s->name, t->name, shape, grid, wb,
             (long long)s->macs);
    }
    printf("total: %.2f M MACs per image, %lld weight bytes packed, arena %lld bytes per image; kernels %s, %d conv "
           "step%s on XNOR-popcount\n",
           macs / 1e6, (long long)lb_program_weight_bytes(p), (long long)p->arena_per_image, lb_engine_isa(e),
           lb_engine_xnor_steps(e), lb_engine_xnor_steps(e) == 1 ? "" : "s");
    int fs = lb_program_float_steps(p);
    if (fs)
      printf("%d step%s compute%s in float (tensors the profile leaves unquantized): not an integer-only program\n", fs,
             fs == 1 ? "" : "s", fs == 1 ? "s" : "");
  }
  lb_engine_free(e);
  lb_program_free(p);
  return LB_EXIT_OK;
}
