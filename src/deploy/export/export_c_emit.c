/* C-source export: formatting of constants, packed weights and names as C text. */
#include <string.h>

#include "deploy/export/export_c.h"

void cx_float(FILE *f, float v) {
  /* %a prints the exact binary value, so the literal reads back to the same float */
  fprintf(f, "%af", (double)v);
}

void cx_int(FILE *f, int32_t v) {
  if (v == INT32_MIN) fprintf(f, "(-2147483647 - 1)");
  else fprintf(f, "%ld", (long)v);
}

void cx_array(FILE *f, const char *name, cx_type type, const void *v, int64_t n) {
  static const char *const ctype[] = {"uint8_t", "int32_t", "float"};
  const int per_line = type == CX_U8 ? 16 : 8; /* readable and diffable in an editor */
  fprintf(f, "static const %s %s[%lld] = {", ctype[type], name, (long long)n);
  for (int64_t i = 0; i < n; i++) {
    fputs(i % per_line ? " " : "\n  ", f);
    if (type == CX_U8) fprintf(f, "0x%02x", (unsigned)((const uint8_t *)v)[i]);
    else if (type == CX_I32) cx_int(f, ((const int32_t *)v)[i]);
    else cx_float(f, ((const float *)v)[i]);
    fputc(',', f);
  }
  fputs("\n};\n", f);
}

void cx_pack_weights(const int8_t *w, int64_t n, int bits, uint8_t *out) {
  const int per = 8 / bits;
  const unsigned mask = (1u << bits) - 1u;
  memset(out, 0, (size_t)((n * bits + 7) / 8));
  for (int64_t i = 0; i < n; i++)
    out[i / per] |= (uint8_t)(((unsigned)(uint8_t)w[i] & mask) << ((i % per) * bits));
}

static int is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

void cx_comment_name(FILE *f, const char *name) {
  for (const char *c = name; *c; c++) fputc(is_alnum(*c) || strchr("_.-:/[]", *c) ? *c : '?', f);
}

int cx_identifier(const char *base, char *out, size_t cap) {
  size_t n = strlen(base), o = 0;
  if (!n || n + 3 > cap) return 0;
  if (base[0] >= '0' && base[0] <= '9') {
    out[o++] = 'm';
    out[o++] = '_';
  }
  for (size_t i = 0; i < n; i++) out[o++] = is_alnum(base[i]) || base[i] == '_' ? base[i] : '_';
  out[o] = 0;
  return 1;
}
