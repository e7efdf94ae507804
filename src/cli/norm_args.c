/* --mean/--std parsing (see norm_args.h). */
#include "cli/norm_args.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* "a,b,c" into up to 4 finite floats; the count, or -1. */
static int parse_floats(const char *s, float *out) {
  int n = 0;
  char buf[256];
  if (strlen(s) >= sizeof buf) return -1;
  snprintf(buf, sizeof buf, "%s", s);
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    char *end;
    if (n == 4) return -1;
    out[n] = strtof(tok, &end);
    if (*end || end == tok || !isfinite(out[n])) return -1;
    n++;
  }
  return n ? n : -1;
}

int lb_cli_parse_norm(const char *verb, const char *mean, const char *std, lb_augment *norm) {
  float m[4], s[4];
  int nm = mean ? parse_floats(mean, m) : 0, ns = std ? parse_floats(std, s) : 0;
  for (int i = 0; i < ns; i++)
    if (!(s[i] > 0)) ns = -1;
  if (nm < 0 || ns < 0) {
    fprintf(stderr, "lowbit %s: --mean/--std take 1 to 4 comma-separated numbers (std > 0)\n", verb);
    return LB_EXIT_USAGE;
  }
  for (int i = 0; i < 4 && nm; i++) norm->mean[i] = m[nm == 1 ? 0 : i < nm ? i : nm - 1];
  for (int i = 0; i < 4 && ns; i++) norm->std[i] = s[ns == 1 ? 0 : i < ns ? i : ns - 1];
  return 0;
}
