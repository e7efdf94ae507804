/* Text building for the report writers and JSON key checking for recipes and results. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/harness_internal.h"

void lb_sb_printf(lb_buf *b, const char *fmt, ...) {
  char small[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->oom = 1;
    return;
  }
  if ((size_t)n < sizeof small) {
    lb_buf_put(b, small, (size_t)n + 1);
  } else {
    char *big = malloc((size_t)n + 1);
    if (!big) {
      b->oom = 1;
      return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    lb_buf_put(b, big, (size_t)n + 1);
    free(big);
  }
  if (!b->oom) b->len--; /* keep the NUL in the buffer, outside the length */
}

void lb_sb_html(lb_buf *b, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '&': lb_sb_printf(b, "&amp;"); break;
    case '<': lb_sb_printf(b, "&lt;"); break;
    case '>': lb_sb_printf(b, "&gt;"); break;
    case '"': lb_sb_printf(b, "&quot;"); break;
    default: lb_sb_printf(b, "%c", *s);
    }
  }
}

lb_status lb_sb_take(lb_buf *b, char **text) {
  *text = NULL;
  if (b->oom) {
    lb_buf_free(b);
    return lb_fail(LB_ERR_NOMEM, "report: out of memory");
  }
  if (!b->data) lb_sb_printf(b, "%s", "");
  if (b->oom) return lb_fail(LB_ERR_NOMEM, "report: out of memory");
  *text = (char *)b->data;
  memset(b, 0, sizeof *b);
  return LB_OK;
}

const char *lb_json_type_name(const cJSON *v) {
  if (!v) return "nothing";
  if (cJSON_IsNull(v)) return "null";
  if (cJSON_IsBool(v)) return "a boolean";
  if (cJSON_IsNumber(v)) return "a number";
  if (cJSON_IsString(v)) return "a string";
  if (cJSON_IsArray(v)) return "an array";
  if (cJSON_IsObject(v)) return "an object";
  return "an unknown value";
}

lb_status lb_json_known_keys(const cJSON *obj, const char *const *known, const char *src, const char *where) {
  for (const cJSON *c = obj->child; c; c = c->next) {
    int ok = 0;
    for (const char *const *k = known; *k && !ok; k++) ok = c->string && !strcmp(c->string, *k);
    if (!ok) {
      char list[512] = "";
      size_t used = 0;
      for (const char *const *k = known; *k && used < sizeof list; k++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", k == known ? "" : ", ", *k);
      return lb_fail(LB_ERR_FORMAT, "%s: unknown key '%s' in %s (known: %s)", src, c->string ? c->string : "?", where,
                     list);
    }
  }
  return LB_OK;
}
