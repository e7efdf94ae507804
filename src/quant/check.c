/* The backend check: which rules of a backend profile (backend.c, methods/qat.md 4.4) the
 * quantizers of a graph break. A plan made for backend B and applied passes the check for B;
 * the check exists for models that came from elsewhere: planned for another backend, edited,
 * or saved by an older build.
 *
 * Each quantizer is compared with the profile field by field, strictly: a spec that differs
 * from the template in any field is reported, even where the backend could emulate it (a
 * per-tensor weight on a per-channel backend), because the simulated numbers would then not be
 * the ones the backend computes. The grid is judged too: a log-grid backend (NNIE) needs the log
 * estimator on every quantizer, and a uniform backend refuses it. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lowbit/qgraph.h"

typedef struct report {
  char *buf;
  size_t cap, len;
  int count;
} report;

static void add(report *r, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  r->count++;
  if (k < 0) return;
  size_t n = strlen(line);
  if (r->len + n + 2 > r->cap) return; /* a line and its newline, plus the final NUL */
  memcpy(r->buf + r->len, line, n);
  r->len += n;
  r->buf[r->len++] = '\n';
  r->buf[r->len] = '\0';
}

static int op_is(const lb_node *n, const char *name) { return n->op && !strcmp(n->op->name, name); }

static int is_float_weighted(const lb_node *n) { return op_is(n, "conv2d") || op_is(n, "linear"); }

static int is_weighted(const lb_node *n) { return is_float_weighted(n) || op_is(n, "qconv2d") || op_is(n, "qlinear") ||
                                                op_is(n, "qconvbn2d"); }

static int is_pool_or_add(const lb_node *n) {
  return op_is(n, "add") || op_is(n, "maxpool") || op_is(n, "avgpool") || op_is(n, "gap");
}

static const char *gran_str(const lb_qspec *q) { return q->gran == LB_QGRAN_CHANNEL ? "per-channel (axis 0)" : "per-tensor"; }

static void range_str(const lb_qspec *q, char *buf, size_t cap) {
  int32_t lo, hi;
  lb_qspec_range(q, &lo, &hi);
  snprintf(buf, cap, "[%d,%d]", (int)lo, (int)hi);
}

/* What one quantizer is and what the backend wants there. */
typedef struct judged {
  const char *node; /* the node to name in the report */
  const char *what; /* "weights" or "activations" */
  lb_qspec have, want;
  lb_estimator est;
  const char *layer_name; /* "first"/"last": the first/last-layer 8-bit rule applies; else NULL */
  int unsigned_refused_for_sign; /* activations: unsigned here would be fine after a ReLU */
} judged;

static void compare(report *r, const lb_backend *b, const judged *j) {
  const lb_qspec *h = &j->have, *w = &j->want;
  if (b->log_grid && j->est != LB_EST_LOG)
    add(r, "%s: %s use a uniform grid (method %s); %s quantizes on its 8-bit log grid (method log)", j->node, j->what,
        lb_estimator_name(j->est), b->name);
  else if (!b->log_grid && j->est == LB_EST_LOG)
    add(r, "%s: %s are on NNIE's log grid (method log); %s needs a uniform grid", j->node, j->what, b->name);
  if (j->layer_name && h->bits != 8)
    add(r, "%s: %s are %d-bit; %s keeps the %s layer (weights and input) at 8 bits", j->node, j->what, h->bits, b->name,
        j->layer_name);
  else if (b->fixed_bits && h->bits != w->bits) {
    if (w->bits == b->fixed_bits)
      add(r, "%s: %s are %d-bit; %s runs %d-bit only", j->node, j->what, h->bits, b->name, b->fixed_bits);
    else
      add(r, "%s: %s are %d-bit; %s needs %d-bit %s", j->node, j->what, h->bits, b->name, w->bits, j->what);
  }
  if (h->is_signed != w->is_signed) {
    if (j->unsigned_refused_for_sign)
      add(r, "%s: %s are unsigned but the input is not known to be non-negative (no ReLU before it); %s allows "
             "unsigned activations only after ReLU",
          j->node, j->what, b->name);
    else
      add(r, "%s: %s are %s; %s needs %s", j->node, j->what, h->is_signed ? "signed" : "unsigned", b->name,
          w->is_signed ? "signed" : "unsigned");
  }
  if (h->symmetric != w->symmetric)
    add(r, "%s: %s are %s; %s needs %s", j->node, j->what, h->symmetric ? "symmetric" : "affine (with a zero point)",
        b->name, w->symmetric ? "symmetric (zero point 0)" : "affine (with a zero point)");
  if (h->is_signed && w->is_signed && h->narrow != w->narrow) {
    lb_qspec hb = *h, wb = *w;
    wb.bits = hb.bits;
    char hr[32], wr[32];
    range_str(&hb, hr, sizeof hr);
    range_str(&wb, wr, sizeof wr);
    add(r, "%s: %s use the %s range %s; %s needs the %s range %s", j->node, j->what, h->narrow ? "restricted" : "full",
        hr, b->name, w->narrow ? "restricted" : "full", wr);
  }
  if (h->gran != w->gran) add(r, "%s: %s are %s; %s needs %s", j->node, j->what, gran_str(h), b->name, gran_str(w));
  if (h->scale_kind != w->scale_kind)
    add(r, "%s: %s have %s scales; %s needs %s scales", j->node, j->what,
        h->scale_kind == LB_QSCALE_POW2 ? "power-of-two" : "float", b->name,
        w->scale_kind == LB_QSCALE_POW2 ? "power-of-two" : "float");
}

/* Unpack a quantizer; an invalid one is a violation of its own. */
static int unpack(report *r, const lb_node *n, int base, const char *what, lb_qspec *q, lb_estimator *est) {
  lb_qcfg c;
  if (lb_qcfg_unpack(n->ia + base, n->fa, &c, NULL)) {
    add(r, "%s: the %s quantizer is not valid: %s", n->name, what, lb_last_error());
    return 0;
  }
  *q = c.spec;
  *est = c.est;
  return 1;
}

static void check_weights(report *r, const lb_backend *b, const lb_node *n, const char *layer) {
  judged j;
  memset(&j, 0, sizeof j);
  j.node = n->name;
  j.what = "weights";
  if (!unpack(r, n, op_is(n, "qconv2d") || op_is(n, "qconvbn2d") ? LB_QCONV_IA : LB_QLINEAR_IA, "weight", &j.have, &j.est))
    return;
  j.want = b->weight;
  if (!b->fixed_bits) j.want.bits = j.have.bits;
  j.layer_name = layer;
  compare(r, b, &j);
}

static void check_activations(report *r, const lb_backend *b, const lb_graph *g, int i, const char *layer) {
  const lb_node *n = &g->nodes[i];
  judged j;
  memset(&j, 0, sizeof j);
  j.node = n->name;
  j.what = "activations";
  if (!unpack(r, n, LB_FQ_IA, "activation", &j.have, &j.est)) return;
  j.want = b->act;
  if (!b->fixed_bits) j.want.bits = j.have.bits;
  if (!j.have.is_signed && j.want.is_signed && b->act_unsigned_after_relu) {
    if (n->n_inputs == 1 && lb_quant_nonneg_output(g, n->inputs[0])) {
      j.want.is_signed = 0; /* adaptive signedness: the unsigned variant of the template */
      j.want.narrow = 0;
    } else {
      j.unsigned_refused_for_sign = 1;
    }
  }
  j.layer_name = layer;
  compare(r, b, &j);
}

/* The nodes reading node i: as input 0 of a conv/linear, or otherwise (the first of those). */
static void consumers(const lb_graph *g, int i, int *weighted, int *other, int *other_node) {
  *weighted = *other = 0;
  *other_node = -1;
  for (int k = i + 1; k < g->n_nodes; k++)
    for (int m = 0; m < g->nodes[k].n_inputs; m++)
      if (g->nodes[k].inputs[m] == i) {
        if (is_weighted(&g->nodes[k]) && m == 0) {
          (*weighted)++;
        } else {
          (*other)++;
          if (*other_node < 0) *other_node = k;
        }
      }
}

/* Which layer rule a fakequant falls under: "first"/"last" if it feeds the first/last weighted
 * node (first_last_8bit backends), else NULL. */
static const char *fq_layer(const lb_graph *g, const lb_backend *b, int i, int first, int last) {
  if (!b->first_last_8bit) return NULL;
  if (g->nodes[first].n_inputs > 0 && g->nodes[first].inputs[0] == i) return "first";
  if (g->nodes[last].n_inputs > 0 && g->nodes[last].inputs[0] == i) return "last";
  return NULL;
}

static void check_input(report *r, const lb_graph *g, const lb_node *n, int k, const char *rule) {
  int src = n->inputs[k];
  if (src >= 0 && src < g->n_nodes && op_is(&g->nodes[src], "fakequant")) return;
  add(r, "%s: input %d (from '%s') has no activation quantizer; %s", n->name, k,
      src >= 0 && src < g->n_nodes ? g->nodes[src].name : "?", rule);
}

lb_status lb_backend_check(const lb_graph *g, const lb_backend *b, char *out, size_t cap, int *violations) {
  if (!g || !b || !violations || (!out && cap)) return lb_fail(LB_ERR_ARG, "backend check: NULL argument");
  report r = {out, cap, 0, 0};
  if (out) out[0] = '\0';
  *violations = 0;
  if (!lb_graph_is_quantized(g)) {
    add(&r, "%s: no quantizers: quantize it with lowbit ptq/qat first", g->model);
    *violations = r.count;
    return LB_OK;
  }
  int first = -1, last = -1;
  for (int i = 1; i < g->n_nodes; i++)
    if (is_weighted(&g->nodes[i])) {
      if (first < 0) first = i;
      last = i;
    }
  char rule[160];
  for (int i = 1; i < g->n_nodes; i++) {
    const lb_node *n = &g->nodes[i];
    if (is_weighted(n)) {
      const char *layer = b->first_last_8bit && i == first ? "first" : b->first_last_8bit && i == last ? "last" : NULL;
      if (is_float_weighted(n))
        add(&r, "%s: %s has no weight quantizer (a float layer left in a quantized graph); %s quantizes every conv/linear",
            n->name, n->op->name, b->name);
      else
        check_weights(&r, b, n, layer);
      snprintf(rule, sizeof rule, "%s quantizes the input of every conv/linear", b->name);
      if (n->n_inputs > 0) check_input(&r, g, n, 0, rule);
    } else if (is_pool_or_add(n) && b->quantize_add_inputs) {
      snprintf(rule, sizeof rule, "%s quantizes the inputs of adds and pools", b->name);
      for (int k = 0; k < n->n_inputs; k++) check_input(&r, g, n, k, rule);
    } else if (op_is(n, "fakequant")) {
      check_activations(&r, b, g, i, first >= 0 ? fq_layer(g, b, i, first, last) : NULL);
      int w, other, other_node;
      consumers(g, i, &w, &other, &other_node);
      if (other && !b->quantize_add_inputs)
        add(&r, "%s: quantizes an input of '%s' (%s); %s quantizes conv/linear inputs only", n->name,
            g->nodes[other_node].name, g->nodes[other_node].op->name, b->name);
    }
  }
  *violations = r.count;
  return LB_OK;
}
