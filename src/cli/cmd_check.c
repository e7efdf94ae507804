/* lowbit check: every rule of a backend that a quantized model breaks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "lowbit/qgraph.h"
#include "lowbit/train.h"

#define REPORT_CAP (1u << 20)

static void json_str(const char *s, size_t n) {
  putchar('"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

static void print_json(const char *model, const char *backend, const char *rep, int violations) {
  printf("{\"model\":");
  json_str(model, strlen(model));
  printf(",\"backend\":");
  json_str(backend, strlen(backend));
  printf(",\"follows\":%s,\"violations\":%d,\"rules_broken\":[", violations ? "false" : "true", violations);
  int first = 1;
  for (const char *p = rep; *p;) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    if (!first) putchar(',');
    json_str(p, n);
    first = 0;
    p += n + (nl ? 1 : 0);
  }
  printf("]}\n");
}

static void backend_list(char *buf, size_t cap) {
  size_t len = 0;
  buf[0] = '\0';
  for (const lb_backend *const *b = lb_backends(); *b && len < cap; b++) {
    int k = snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", (*b)->name);
    if (k < 0) break;
    len += (size_t)k;
  }
}

int lb_cmd_check(int argc, char **argv) {
  const char *backend = NULL;
  int json = 0;
  lb_arg args[] = {
      {"backend", LB_ARG_STR, &backend, "the target whose rules to check (lowbit backends lists them)", 0},
      {"json", LB_ARG_FLAG, &json, "print the result as JSON", 0},
  };
  const char *pos[1];
  lb_args_spec spec = {"check", "lowbit check --backend B MODEL.lbm [--json]",
                       "Name every rule of backend B that the quantized model breaks: bit widths, signedness, "
                       "symmetry, range, granularity and scale kind of each quantizer, and where quantizers must "
                       "be (a float model breaks the rule of having any). Exit codes: 0 the model follows the rules, "
                       "1 it breaks at least one (one line each), 2 bad usage, unknown backend or unreadable model.",
                       args, (int)(sizeof args / sizeof args[0]), pos, 1, 0};
  int rc = lb_args_parse(&spec, argc, argv);
  if (rc >= 0) return rc;
  char names[256];
  backend_list(names, sizeof names);
  if (spec.n_positional != 1 || !backend) {
    fprintf(stderr, "lowbit check: give --backend B (%s) and one model file\n", names);
    return LB_EXIT_USAGE;
  }
  const lb_backend *b = lb_backend_find(backend);
  if (!b) {
    fprintf(stderr, "lowbit check: unknown backend '%s' (%s)\n", backend, names);
    return LB_EXIT_USAGE;
  }
  lb_graph *g = NULL;
  lb_train_config cfg;
  int has_cfg;
  if (lb_model_load(pos[0], &g, &cfg, &has_cfg)) {
    fprintf(stderr, "lowbit check: %s\n", lb_last_error());
    return LB_EXIT_USAGE;
  }
  char *rep = malloc(REPORT_CAP);
  int violations = 0;
  lb_status s = rep ? lb_backend_check(g, b, rep, REPORT_CAP, &violations) : lb_fail(LB_ERR_NOMEM, "out of memory");
  lb_graph_free(g);
  if (s) {
    fprintf(stderr, "lowbit check: %s\n", lb_last_error());
    free(rep);
    return LB_EXIT_FAIL;
  }
  int shown = 0;
  for (const char *p = rep; *p; p++) shown += *p == '\n';
  if (json) {
    print_json(pos[0], b->name, rep, violations);
  } else if (!violations) {
    printf("%s follows the %s rules\n", pos[0], b->name);
  } else {
    fputs(rep, stdout);
    if (shown < violations) printf("... and %d more\n", violations - shown);
    printf("%s breaks %d %s rule%s\n", pos[0], violations, b->name, violations == 1 ? "" : "s");
  }
  free(rep);
  return violations ? LB_EXIT_FAIL : LB_EXIT_OK;
}
