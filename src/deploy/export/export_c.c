/* C-source export of an integer program (lowbit export --c PREFIX): PREFIX.h declares the sizes,
 * the input normalisation and PREFIX_run(); PREFIX.c holds the weights packed at their widths,
 * the per-channel int32 constants, one static arena laid out by the program's liveness plan and
 * one call per step into the dependency-free runtime in runtime/lbrt.[ch] (docs/export.md).
 * Each step becomes the runtime call that computes what src/deploy/engine.c computes for it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/export/export_c.h"
#include "lowbit/bytes.h"
#include "lowbit/export.h"

typedef struct cx {
  const lb_program *p;
  FILE *f;
  int64_t weight_bytes, const_bytes; /* flash: packed weight codes; other constants */
  int col;                           /* fields on the current line of a struct initializer */
} cx;

static int is_weighted(int kind) {
  return kind == LB_PS_CONV || kind == LB_PS_CONV_OUT || kind == LB_PS_LINEAR || kind == LB_PS_LINEAR_OUT;
}

static int64_t numel(const lb_prog_tensor *t) { return (int64_t)t->c * t->h * t->w; }

/* What the runtime cannot run, or where its one-element-at-a-time kernels need the program to
 * keep a step's output apart from its inputs (lowering always does; a hand-made file may not). */
static lb_status check_step(const lb_program *p, const lb_prog_step *s) {
  switch (s->kind) {
    case LB_PS_QUANTIZE: case LB_PS_CONV: case LB_PS_LINEAR: case LB_PS_CONV_OUT: case LB_PS_LINEAR_OUT:
    case LB_PS_ADD: case LB_PS_GAP: case LB_PS_AVGPOOL: case LB_PS_MAXPOOL: case LB_PS_RESCALE:
    case LB_PS_DEQUANTIZE: case LB_PS_SLICE: case LB_PS_PAD: case LB_PS_CONCAT: break;
    default: return lb_fail(LB_ERR_UNSUPPORTED, "export C: step '%s': kind %d has no runtime kernel", s->name, s->kind);
  }
  if (is_weighted(s->kind)) {
    if ((s->wbits != 8 && s->wbits != 4 && s->wbits != 2) || !s->w_signed)
      return lb_fail(LB_ERR_UNSUPPORTED, "export C: step '%s': the runtime reads signed 8/4/2-bit weights, not %d-bit %s",
                     s->name, s->wbits, s->w_signed ? "signed" : "unsigned");
    if (s->w_len > INT32_MAX)
      return lb_fail(LB_ERR_UNSUPPORTED, "export C: step '%s': %lld weights exceed the runtime's 32-bit indices",
                     s->name, (long long)s->w_len);
  }
  const lb_prog_tensor *o = &p->tensors[s->out];
  if (s->kind >= LB_PS_SLICE && (s->mv_outer > INT32_MAX || s->mv_inner > INT32_MAX))
    return lb_fail(LB_ERR_UNSUPPORTED, "export C: step '%s': data movement exceeds the runtime's 32-bit sizes", s->name);
  for (int j = 0; j < LB_STEP_MAX_IN && o->kind == LB_PT_CODES; j++) {
    if (s->in[j] < 0) continue;
    const lb_prog_tensor *t = &p->tensors[s->in[j]];
    if (t->offset < o->offset + o->bytes && o->offset < t->offset + t->bytes)
      return lb_fail(LB_ERR_UNSUPPORTED, "export C: step '%s' writes '%s' over its input '%s' in the arena", s->name,
                     o->name, t->name);
  }
  return LB_OK;
}

/* The C expression of tensor t's memory in PREFIX_run. */
static void tensor_expr(cx *X, int t) {
  const lb_prog_tensor *pt = &X->p->tensors[t];
  if (pt->kind == LB_PT_FLOAT) fprintf(X->f, "logits");
  else fprintf(X->f, "arena + %lld", (long long)pt->offset);
}

/* `static const int32_t sI_name[n]` from the int32 pool (nothing if off < 0). */
static void i32_array(cx *X, int i, const char *what, int64_t off, int64_t n) {
  if (off < 0) return;
  char name[48];
  snprintf(name, sizeof name, "s%d_%s", i, what);
  cx_array(X->f, name, CX_I32, X->p->i32 + off, n);
  X->const_bytes += n * 4;
}

/* Struct initializers: six designated fields per line. */
static void field_sep(cx *X) { fputs(X->col ? " " : "  ", X->f); }
static void field_end(cx *X) {
  if (++X->col < 6) return;
  fputc('\n', X->f);
  X->col = 0;
}
static void close_struct(cx *X) {
  fputs(X->col ? "\n};\n" : "};\n", X->f);
  X->col = 0;
}

static void field_ptr(cx *X, int i, const char *field, const char *what, int64_t off) {
  field_sep(X);
  if (off >= 0) fprintf(X->f, ".%s = s%d_%s,", field, i, what);
  else fprintf(X->f, ".%s = 0,", field);
  field_end(X);
}

static void field_int(cx *X, const char *field, int32_t v) {
  field_sep(X);
  fprintf(X->f, ".%s = ", field);
  cx_int(X->f, v);
  fputc(',', X->f);
  field_end(X);
}

static void grids(cx *X, const lb_prog_tensor *in, const lb_prog_tensor *out, int32_t lo, int32_t hi) {
  field_int(X, "xzp", in->zp);
  field_int(X, "x_signed", in->is_signed);
  if (out->kind != LB_PT_CODES) return;
  field_int(X, "yzp", out->zp);
  field_int(X, "y_signed", out->is_signed);
  field_int(X, "lo", lo);
  field_int(X, "hi", hi);
}

static lb_status weighted_consts(cx *X, int i) {
  const lb_program *p = X->p;
  const lb_prog_step *s = &p->steps[i];
  const lb_prog_tensor *in = &p->tensors[s->in[0]], *out = &p->tensors[s->out];
  int64_t nb = (s->w_len * s->wbits + 7) / 8;
  uint8_t *packed = malloc((size_t)nb);
  if (!packed) return lb_fail(LB_ERR_NOMEM, "export C: out of memory");
  cx_pack_weights(p->w8 + s->w_off, s->w_len, s->wbits, packed);
  char name[48];
  snprintf(name, sizeof name, "s%d_w", i);
  cx_array(X->f, name, CX_U8, packed, nb);
  free(packed);
  X->weight_bytes += nb;
  i32_array(X, i, "wzp", s->wzp_off, s->k);
  i32_array(X, i, "bias", s->bias_off, s->k);
  i32_array(X, i, "bfrac", s->bfrac_off, s->k);
  i32_array(X, i, "mult", s->mult_off, s->k);
  i32_array(X, i, "shift", s->shift_off, s->k);
  i32_array(X, i, "neg", s->neg_off, s->k);
  if (s->scale_off >= 0) {
    snprintf(name, sizeof name, "s%d_scale", i);
    cx_array(X->f, name, CX_F32, p->f32 + s->scale_off, s->k);
    snprintf(name, sizeof name, "s%d_fbias", i);
    cx_array(X->f, name, CX_F32, p->f32 + s->fbias_off, s->k);
    X->const_bytes += (int64_t)s->k * 8;
  }
  /* a linear layer is a 1x1 convolution over its flattened input */
  int lin = s->kind == LB_PS_LINEAR || s->kind == LB_PS_LINEAR_OUT;
  lb_conv2d_desc d = {.n = 1, .c = lin ? (int)numel(in) : in->c, .h = lin ? 1 : in->h, .w = lin ? 1 : in->w, .k = s->k,
                      .r = s->r, .s = s->s, .stride_h = s->stride_h, .stride_w = s->stride_w, .pad_h = s->pad_h,
                      .pad_w = s->pad_w, .dil_h = s->dil_h, .dil_w = s->dil_w, .groups = s->groups};
  if (lin) {
    d.r = d.s = d.stride_h = d.stride_w = d.dil_h = d.dil_w = d.groups = 1;
    d.pad_h = d.pad_w = 0;
  }
  lb_status st = lb_conv2d_init(&d);
  if (st) return st;
  fprintf(X->f, "static const lbrt_conv s%d = {\n", i);
  const char *names[] = {"c", "h", "w", "k", "oh", "ow", "r", "s", "stride_h", "stride_w", "pad_h", "pad_w",
                         "dil_h", "dil_w", "groups", "wbits"};
  const int vals[] = {d.c, d.h, d.w, d.k, d.oh, d.ow, d.r, d.s, d.stride_h, d.stride_w, d.pad_h, d.pad_w,
                      d.dil_h, d.dil_w, d.groups, s->wbits};
  for (size_t j = 0; j < sizeof vals / sizeof vals[0]; j++) field_int(X, names[j], vals[j]);
  field_ptr(X, i, "wt", "w", 0);
  field_ptr(X, i, "wzp", "wzp", s->wzp_off);
  field_ptr(X, i, "bias", "bias", s->bias_off);
  field_ptr(X, i, "bfrac", "bfrac", s->bfrac_off);
  field_ptr(X, i, "mult", "mult", s->mult_off);
  field_ptr(X, i, "shift", "shift", s->shift_off);
  field_ptr(X, i, "neg", "neg", s->neg_off);
  field_ptr(X, i, "scale", "scale", s->scale_off);
  field_ptr(X, i, "fbias", "fbias", s->fbias_off);
  grids(X, in, out, s->lo, s->hi);
  close_struct(X);
  return LB_OK;
}

static void pool_consts(cx *X, int i) {
  const lb_program *p = X->p;
  const lb_prog_step *s = &p->steps[i];
  const lb_prog_tensor *in = &p->tensors[s->in[0]], *out = &p->tensors[s->out];
  int avg = s->kind == LB_PS_AVGPOOL;
  int64_t counts = (int64_t)s->pool_kh * s->pool_kw + 1; /* indexed by the window count, 0 unused */
  if (avg) {
    i32_array(X, i, "mult", s->mult_off, counts);
    i32_array(X, i, "shift", s->shift_off, counts);
  }
  fprintf(X->f, "static const lbrt_pool s%d = {\n", i);
  const char *names[] = {"c", "h", "w", "oh", "ow", "kh", "kw", "stride_h", "stride_w", "pad_h", "pad_w", "count_pad"};
  const int vals[] = {in->c, in->h, in->w, out->h, out->w, s->pool_kh, s->pool_kw, s->pool_sh, s->pool_sw,
                      s->pool_ph, s->pool_pw, s->pool_count_pad};
  for (size_t j = 0; j < sizeof vals / sizeof vals[0]; j++) field_int(X, names[j], vals[j]);
  field_ptr(X, i, "mult", "mult", avg ? s->mult_off : -1);
  field_ptr(X, i, "shift", "shift", avg ? s->shift_off : -1);
  grids(X, in, out, avg ? s->lo : out->qmin, avg ? s->hi : out->qmax);
  close_struct(X);
}

/* ADD and RESCALE (an add whose second operand has multiplier 0, as the engine runs it). */
static void add_consts(cx *X, int i) {
  const lb_program *p = X->p;
  const lb_prog_step *s = &p->steps[i];
  const lb_prog_tensor *a = &p->tensors[s->in[0]], *out = &p->tensors[s->out];
  const lb_prog_tensor *b = s->in[1] >= 0 ? &p->tensors[s->in[1]] : a;
  fprintf(X->f, "static const lbrt_add s%d = {\n", i);
  const char *names[] = {"n", "z1", "m1", "s1", "z2", "m2", "s2", "shift", "zy", "y_signed", "lo", "hi"};
  const int32_t vals[] = {(int32_t)numel(out), a->zp, s->add_m1, a->is_signed, b->zp,
                          s->kind == LB_PS_ADD ? s->add_m2 : 0, b->is_signed, s->add_shift, out->zp, out->is_signed,
                          s->lo, s->hi};
  for (size_t j = 0; j < sizeof vals / sizeof vals[0]; j++) field_int(X, names[j], vals[j]);
  close_struct(X);
}

static void gap_consts(cx *X, int i) {
  const lb_prog_step *s = &X->p->steps[i];
  const lb_prog_tensor *in = &X->p->tensors[s->in[0]], *out = &X->p->tensors[s->out];
  fprintf(X->f, "static const lbrt_gap s%d = {\n", i);
  field_int(X, "c", in->c);
  field_int(X, "hw", in->h * in->w);
  field_int(X, "mult", s->add_m1);
  field_int(X, "shift", s->add_shift);
  grids(X, in, out, s->lo, s->hi);
  close_struct(X);
}

/* SLICE, PAD, CONCAT: the (outer, d, inner) view as the engine runs it. */
static void move_consts(cx *X, int i) {
  const lb_prog_step *s = &X->p->steps[i];
  int n = 0;
  while (n < LB_STEP_MAX_IN && s->in[n] >= 0) n++;
  fprintf(X->f, "static const lbrt_move s%d = {\n", i);
  const char *names[] = {"outer", "inner", "n", "d[0]", "d[1]", "d[2]", "d[3]", "start", "step", "count",
                         "begin", "end", "fill"};
  const int32_t vals[] = {(int32_t)s->mv_outer, (int32_t)s->mv_inner, n, s->mv_dim[0], s->mv_dim[1], s->mv_dim[2],
                          s->mv_dim[3], s->mv_start, s->mv_step, s->mv_count, s->mv_begin, s->mv_end, s->mv_fill};
  for (size_t j = 0; j < sizeof vals / sizeof vals[0]; j++) field_int(X, names[j], vals[j]);
  close_struct(X);
}

static void step_comment(cx *X, int i) {
  const lb_prog_step *s = &X->p->steps[i];
  static const char *kinds[] = {"quantize", "conv", "linear", "conv (float output)", "linear (float output)", "add",
                                "global average pool", "average pool", "max pool", "rescale", "dequantize",
                                "slice", "pad", "concat"};
  fprintf(X->f, "\n/* step %d: %s '", i, kinds[s->kind]);
  cx_comment_name(X->f, s->name);
  fprintf(X->f, "'");
  if (is_weighted(s->kind)) fprintf(X->f, ", %d-bit weights, %lld MACs", s->wbits, (long long)s->macs);
  fprintf(X->f, " */\n");
}

static lb_status step_consts(cx *X, int i) {
  switch (X->p->steps[i].kind) {
    case LB_PS_CONV: case LB_PS_CONV_OUT: case LB_PS_LINEAR: case LB_PS_LINEAR_OUT: return weighted_consts(X, i);
    case LB_PS_MAXPOOL: case LB_PS_AVGPOOL: pool_consts(X, i); break;
    case LB_PS_ADD: case LB_PS_RESCALE: add_consts(X, i); break;
    case LB_PS_GAP: gap_consts(X, i); break;
    case LB_PS_SLICE: case LB_PS_PAD: case LB_PS_CONCAT: move_consts(X, i); break;
    default: break; /* quantize / dequantize take their few values as arguments */
  }
  return LB_OK;
}

static void step_call(cx *X, int i) {
  const lb_program *p = X->p;
  const lb_prog_step *s = &p->steps[i];
  const lb_prog_tensor *out = &p->tensors[s->out];
  static const char *fn[] = {[LB_PS_CONV] = "lbrt_conv_run", [LB_PS_LINEAR] = "lbrt_conv_run",
                             [LB_PS_CONV_OUT] = "lbrt_conv_run", [LB_PS_LINEAR_OUT] = "lbrt_conv_run",
                             [LB_PS_ADD] = "lbrt_add_run", [LB_PS_RESCALE] = "lbrt_add_run",
                             [LB_PS_GAP] = "lbrt_gap_run", [LB_PS_AVGPOOL] = "lbrt_avgpool",
                             [LB_PS_MAXPOOL] = "lbrt_maxpool", [LB_PS_SLICE] = "lbrt_slice",
                             [LB_PS_PAD] = "lbrt_pad", [LB_PS_CONCAT] = "lbrt_concat"};
  FILE *b = X->f;
  if (s->kind == LB_PS_QUANTIZE) {
    fprintf(b, "  lbrt_quantize(%lld, x, ", (long long)numel(out));
    cx_float(b, s->inv);
    fprintf(b, ", %d, %d, %d, ", (int)out->zp, (int)s->lo, (int)s->hi);
  } else if (s->kind == LB_PS_DEQUANTIZE) {
    const lb_prog_tensor *in = &p->tensors[s->in[0]];
    fprintf(b, "  lbrt_dequantize(%lld, ", (long long)numel(out));
    tensor_expr(X, s->in[0]);
    fprintf(b, ", %d, %d, ", in->is_signed, (int)in->zp);
    cx_float(b, in->scale);
    fprintf(b, ", ");
  } else if (s->kind == LB_PS_CONCAT) {
    fprintf(b, "  {\n    const uint8_t *const in[] = {");
    for (int j = 0; j < LB_STEP_MAX_IN && s->in[j] >= 0; j++) {
      fprintf(b, j ? ", " : "");
      tensor_expr(X, s->in[j]);
    }
    fprintf(b, "};\n    lbrt_concat(&s%d, in, ", i);
    tensor_expr(X, s->out);
    fprintf(b, ");\n  } /* %d */\n", i);
    return;
  } else {
    fprintf(b, "  %s(&s%d, ", fn[s->kind], i);
    tensor_expr(X, s->in[0]);
    fprintf(b, ", ");
    if (s->kind == LB_PS_ADD || s->kind == LB_PS_RESCALE) {
      tensor_expr(X, s->kind == LB_PS_ADD ? s->in[1] : s->in[0]);
      fprintf(b, ", ");
    }
  }
  tensor_expr(X, s->out);
  fprintf(b, "); /* %d */\n", i);
}

static void norm_consts(cx *X, const char *id) {
  const lb_program *p = X->p;
  for (int j = 0; j < 2; j++) {
    fprintf(X->f, "const float %s_norm_%s[%d] = {", id, j ? "std" : "mean", p->in_c < 4 ? p->in_c : 4);
    for (int c = 0; c < p->in_c && c < 4; c++) {
      cx_float(X->f, j ? p->norm_std[c] : p->norm_mean[c]);
      fprintf(X->f, c + 1 < p->in_c && c < 3 ? ", " : "");
    }
    close_struct(X);
  }
}

static lb_status emit_source(cx *X, const char *id, const char *base) {
  const lb_program *p = X->p;
  FILE *b = X->f;
  fprintf(b, "/* Generated by lowbit export --c from model '");
  cx_comment_name(b, p->model);
  fprintf(b, "' (backend '");
  cx_comment_name(b, p->backend);
  fprintf(b, "', parameters CRC-32 0x%08lx). Do not edit.\n", (unsigned long)p->source_crc);
  fprintf(b, " * Build with lowbit's runtime: cc -I<lowbit>/runtime %s.c <lowbit>/runtime/lbrt.c -lm */\n", base);
  fprintf(b, "#include \"%s.h\"\n\n#include <stdint.h>\n\n#include \"lbrt.h\"\n\n", base);
  norm_consts(X, id);
  fprintf(b, "\n/* Activations, placed by the program's liveness plan (one image). */\n");
  fprintf(b, "static LBRT_ALIGN(64) uint8_t arena[%lld];\n", (long long)p->arena_per_image);
  for (int i = 0; i < p->n_steps; i++) {
    step_comment(X, i);
    lb_status st = step_consts(X, i);
    if (st) return st;
  }
  fprintf(b, "\nint %s_run(const float *x, float *logits) {\n  if (!x || !logits) return -1;\n", id);
  for (int i = 0; i < p->n_steps; i++) step_call(X, i);
  fprintf(b, "  return 0;\n}\n");
  return LB_OK;
}

static void emit_header(cx *X, const char *id, const char *ID) {
  const lb_program *p = X->p;
  FILE *b = X->f;
  fprintf(b, "/* Generated by lowbit export --c from model '");
  cx_comment_name(b, p->model);
  fprintf(b, "'. Do not edit. */\n#ifndef %s_H\n#define %s_H\n\n", ID, ID);
  fprintf(b, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
  fprintf(b, "#define %s_IN_C %d\n#define %s_IN_H %d\n#define %s_IN_W %d\n", ID, p->in_c, ID, p->in_h, ID, p->in_w);
  fprintf(b, "#define %s_IN_SIZE %lld /* floats per image, (c, h, w) */\n", ID,
            (long long)p->in_c * p->in_h * p->in_w);
  fprintf(b, "#define %s_OUT_SIZE %d /* logits per image */\n", ID, p->classes);
  fprintf(b, "#define %s_ARENA_BYTES %lld /* RAM: the static activation arena */\n", ID,
            (long long)p->arena_per_image);
  fprintf(b, "#define %s_WEIGHT_BYTES %lld /* flash: weight codes packed at their bit widths */\n", ID,
            (long long)X->weight_bytes);
  fprintf(b, "#define %s_CONST_BYTES %lld /* flash: biases, multipliers, shifts, zero points, scales */\n\n", ID,
            (long long)X->const_bytes);
  fprintf(b, "/* The input the model was trained with: x[c][h][w] = (pixel / 255 - mean[c]) / std[c]\n"
               " * (one entry per input channel, at most 4). */\n");
  fprintf(b, "extern const float %s_norm_mean[%d];\nextern const float %s_norm_std[%d];\n\n", id,
            p->in_c < 4 ? p->in_c : 4, id, p->in_c < 4 ? p->in_c : 4);
  fprintf(b, "/* One image: x holds %s_IN_SIZE normalised floats, logits receives %s_OUT_SIZE floats.\n"
               " * Integer arithmetic only between the input quantization and the output. Uses one static\n"
               " * arena, so calls must not overlap (not reentrant). Returns 0, or -1 for a NULL pointer. */\n",
            ID, ID);
  fprintf(b, "int %s_run(const float *x, float *logits);\n\n", id);
  fprintf(b, "#ifdef __cplusplus\n}\n#endif\n#endif\n");
}

/* A memory stream for one generated file. */
typedef struct cx_text {
  FILE *f;
  char *data;
  size_t len;
} cx_text;

/* Close the stream and write its text to prefix + ext atomically (nothing is written on error). */
static lb_status finish_text(cx_text *t, const char *prefix, const char *ext, lb_status st) {
  int bad = ferror(t->f) != 0;
  if (fclose(t->f) != 0 || !t->data) bad = 1;
  if (!st && bad) st = lb_fail(LB_ERR_NOMEM, "export C: cannot build the text of %s%s in memory", prefix, ext);
  size_t n = strlen(prefix);
  char *path = st ? NULL : malloc(n + 3);
  if (!st && !path) st = lb_fail(LB_ERR_NOMEM, "export C: out of memory");
  if (!st) {
    memcpy(path, prefix, n);
    memcpy(path + n, ext, 3);
    st = lb_write_file_atomic(path, t->data, t->len);
  }
  free(path);
  free(t->data);
  return st;
}

lb_status lb_export_c(const lb_program *p, const char *prefix) {
  if (!p || !prefix) return lb_fail(LB_ERR_ARG, "export C: no program or no output prefix");
  for (int t = 0; t < p->n_tensors; t++) {
    if (lb_prog_tensor_float_map(&p->tensors[t]))
      return lb_fail(LB_ERR_UNSUPPORTED,
                     "export C: tensor '%s' is a float tensor (the profile leaves its add or pool "
                     "unquantized); the runtime is integer-only: lower a model quantized with a profile that quantizes add and pool inputs",
                     p->tensors[t].name);
    if (lb_prog_tensor_binary(&p->tensors[t]))
      return lb_fail(LB_ERR_UNSUPPORTED, "export C: tensor '%s' is binary (+-1); the runtime has no sign step yet",
                     p->tensors[t].name);
  }
  const char *base = strrchr(prefix, '/') ? strrchr(prefix, '/') + 1 : prefix;
  char id[128], ID[128];
  /* the file name goes into an #include line and, mapped, into C identifiers */
  if (strspn(base, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-+") != strlen(base) ||
      !cx_identifier(base, id, sizeof id))
    return lb_fail(LB_ERR_ARG,
                   "export C: prefix '%s' must end in a file name of 1 to 120 letters, digits and '_', '.', '-', '+'",
                   prefix);
  if (!strncmp(id, "lbrt", 4)) /* the runtime's names and header guard */
    return lb_fail(LB_ERR_ARG, "export C: prefix '%s': file names starting with 'lbrt' are the runtime's", prefix);
  size_t j = 0;
  for (; id[j]; j++) ID[j] = (char)(id[j] >= 'a' && id[j] <= 'z' ? id[j] - 'a' + 'A' : id[j]);
  ID[j] = 0;
  lb_status st = lb_program_validate(p);
  for (int i = 0; i < p->n_steps && !st; i++) st = check_step(p, &p->steps[i]);
  if (st) return st;
  cx_text src = {0}, hdr = {0};
  src.f = open_memstream(&src.data, &src.len);
  hdr.f = src.f ? open_memstream(&hdr.data, &hdr.len) : NULL;
  if (!hdr.f) {
    if (src.f) fclose(src.f);
    free(src.data);
    return lb_fail(LB_ERR_NOMEM, "export C: cannot open a memory stream");
  }
  /* the source first: it counts the bytes the header reports */
  cx X = {p, src.f, 0, 0, 0};
  st = emit_source(&X, id, base);
  X.f = hdr.f;
  if (!st) emit_header(&X, id, ID);
  st = finish_text(&hdr, prefix, ".h", st);
  return finish_text(&src, prefix, ".c", st);
}
