#include "cli/args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The option "-o" stands for: "output" or "out". */
static int is_o_target(const lb_arg *a) { return !strcmp(a->name, "output") || !strcmp(a->name, "out"); }

static void print_help(const lb_args_spec *s) {
  printf("usage: %s\n\n%s\n\noptions:\n", s->usage, s->summary);
  for (int i = 0; i < s->n_args; i++) {
    const lb_arg *a = &s->args[i];
    const char *meta = a->kind == LB_ARG_FLAG ? "" : a->kind == LB_ARG_STR ? " S" : a->kind == LB_ARG_FLOAT ? " X" : " N";
    char left[64];
    if (is_o_target(a)) snprintf(left, sizeof left, "-o, --%s%s", a->name, meta);
    else snprintf(left, sizeof left, "--%s%s", a->name, meta);
    printf("  %-24s %s\n", left, a->help);
  }
  printf("  %-24s %s\n", "--help", "show this help");
}

static int parse_value(const lb_args_spec *s, lb_arg *a, const char *v) {
  char *end = NULL;
  errno = 0;
  switch (a->kind) {
  case LB_ARG_STR: *(const char **)a->dst = v; return 1;
  case LB_ARG_INT: {
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < -2147483647L || x > 2147483647L) break;
    *(int *)a->dst = (int)x;
    return 1;
  }
  case LB_ARG_U64: {
    if (v[0] == '-') break;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end) break;
    *(uint64_t *)a->dst = (uint64_t)x;
    return 1;
  }
  case LB_ARG_FLOAT: {
    float x = strtof(v, &end);
    if (errno || end == v || *end || !isfinite(x)) break;
    *(float *)a->dst = x;
    return 1;
  }
  case LB_ARG_FLAG: break;
  }
  fprintf(stderr, "lowbit %s: --%s: '%s' is not a valid %s\n", s->verb, a->name, v,
          a->kind == LB_ARG_FLOAT ? "number" : "integer");
  return 0;
}

int lb_args_parse(lb_args_spec *s, int argc, char **argv) {
  s->n_positional = 0;
  for (int i = 1; i < argc; i++) {
    const char *tok = argv[i];
    if (!strcmp(tok, "--help") || !strcmp(tok, "-h")) {
      print_help(s);
      return 0;
    }
    lb_arg *a = NULL;
    if (!strcmp(tok, "-o"))
      for (int j = 0; j < s->n_args; j++)
        if (is_o_target(&s->args[j])) a = &s->args[j];
    if (!a && (strncmp(tok, "--", 2) != 0 || tok[2] == '\0')) {
      if (s->n_positional >= s->max_positional) {
        fprintf(stderr, "lowbit %s: unexpected argument '%s' (see lowbit %s --help)\n", s->verb, tok, s->verb);
        return 2;
      }
      s->positional[s->n_positional++] = tok;
      continue;
    }
    const char *name = tok + 2, *eq = NULL;
    if (!a) {
      eq = strchr(name, '=');
      size_t len = eq ? (size_t)(eq - name) : strlen(name);
      for (int j = 0; j < s->n_args; j++)
        if (strlen(s->args[j].name) == len && !strncmp(s->args[j].name, name, len)) a = &s->args[j];
    }
    if (!a) {
      fprintf(stderr, "lowbit %s: unknown option '%s' (see lowbit %s --help)\n", s->verb, tok, s->verb);
      return 2;
    }
    a->seen = 1;
    if (a->kind == LB_ARG_FLAG) {
      if (eq) {
        fprintf(stderr, "lowbit %s: --%s takes no value\n", s->verb, a->name);
        return 2;
      }
      *(int *)a->dst = 1;
      continue;
    }
    const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    if (!v) {
      fprintf(stderr, "lowbit %s: --%s needs a value\n", s->verb, a->name);
      return 2;
    }
    if (!parse_value(s, a, v)) return 2;
  }
  return -1;
}

int lb_args_seen(const lb_args_spec *s, const char *name) {
  for (int i = 0; i < s->n_args; i++)
    if (!strcmp(s->args[i].name, name)) return s->args[i].seen;
  return 0;
}
