/* What a bench cell records besides accuracy: deployed size, BOPs, the machine and the commit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "git_commit.h"
#include "harness/harness_internal.h"
#include "lowbit/qgraph.h"

/* The weight quantizer's attribute base of a conv/linear node, -1 for a float layer, -2 for
 * anything else. */
static int weight_qbase(const lb_node *n) {
  const char *op = n->op->name;
  if (!strcmp(op, "conv2d") || !strcmp(op, "linear")) return -1;
  if (!strcmp(op, "qconv2d") || !strcmp(op, "qconvbn2d")) return LB_QCONV_IA;
  if (!strcmp(op, "qlinear")) return LB_QLINEAR_IA;
  return -2;
}

static const lb_param *node_param(const lb_graph *g, const lb_node *n, const char *suffix) {
  char name[LB_PARAM_NAME_MAX + 16];
  snprintf(name, sizeof name, "%s.%s", n->name, suffix);
  return lb_graph_find_param(g, name);
}

static int quant_bits(const lb_node *n, int base) {
  lb_qcfg c;
  int enabled;
  if (lb_qcfg_unpack(n->ia + base, n->fa, &c, &enabled) || !enabled) return 32;
  return c.spec.bits;
}

int64_t lb_model_size_bytes(const lb_graph *g) {
  int64_t bits = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const lb_node *n = &g->nodes[i];
    int base = weight_qbase(n);
    if (base == -2) continue;
    const lb_param *w = node_param(g, n, "weight");
    if (!w) continue;
    int wbits = base < 0 ? 32 : quant_bits(n, base);
    bits += w->numel * wbits + w->shape.d[0] * 32; /* weights, then one bias per output channel */
    const lb_param *sc = base < 0 ? NULL : node_param(g, n, "w_scale");
    if (sc && wbits < 32) bits += sc->numel * 32;
  }
  return (bits + 7) / 8;
}

double lb_model_bops(const lb_graph *g) {
  double bops = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    const lb_node *n = &g->nodes[i];
    int base = weight_qbase(n);
    if (base == -2 || !n->op->macs) continue;
    int wbits = base < 0 ? 32 : quant_bits(n, base);
    int abits = 32;
    const lb_node *in = &g->nodes[n->inputs[0]];
    if (n->inputs[0] > 0 && !strcmp(in->op->name, "fakequant")) abits = quant_bits(in, LB_FQ_IA);
    bops += (double)n->op->macs(g, n) * wbits * abits;
  }
  return bops;
}

void lb_machine_info(char *buf, size_t cap, int *cores) {
  snprintf(buf, cap, "unknown CPU");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f) {
    char line[512];
    while (fgets(line, sizeof line, f)) {
      if (strncmp(line, "model name", 10)) continue;
      const char *v = strchr(line, ':');
      if (!v) break;
      v++;
      while (*v == ' ' || *v == '\t') v++;
      size_t len = strcspn(v, "\n");
      snprintf(buf, cap, "%.*s", (int)len, v);
      break;
    }
    fclose(f);
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (cores) *cores = n > 0 ? (int)n : 0;
}

/* git_commit.h is written at every build (cmake/git_commit.cmake) */
const char *lb_git_commit(void) { return LOWBIT_GIT_COMMIT; }
