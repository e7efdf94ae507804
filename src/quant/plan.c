/* The QuantPlan: which tensors of a float graph get which quantizer, from a backend profile and
 * a request (bits, estimator, observers). Rules: methods/qat.md 4.1 and 4.4, backend.c.
 *
 * Placement: every conv2d/linear gets a weight quantizer and one on its input; with
 * quantize_add_inputs, every input of add, maxpool, avgpool and gap gets one too.
 * Signedness: an input known to be non-negative (relu/relu6, or maxpool/avgpool/gap/flatten/
 * dropout fed by one) gets the unsigned variant where the backend allows it; the graph input
 * is signed.
 * PACT and DoReFa quantize activations on [0, alpha] / [0, 1], so they need an unsigned
 * activation spec. A backend whose activations are always signed is refused. Inputs that
 * are not known to be non-negative (the graph input, residual-add operands) keep the backend's
 * spec with the fixed STE quantizer instead of being clipped at 0.
 * Log-grid backends (NNIE): every weight and activation quantizer gets LB_EST_LOG with a min/max
 * observer (calibration sets c = max|x|). The request's estimator must be ste or log (both mean
 * NNIE's own quantizer with its straight-through gradient; the others have nothing to act on:
 * there is no uniform scale to learn or clip), its observers minmax or ema (c is a running max
 * either way); anything else is refused. LB_EST_LOG on a uniform backend is refused.
 * BN folding (request.bn_fold) is carried out by lb_quant_apply: merge folds BN into the float
 * convolution first; freeze/fold turn a planned conv2d + batchnorm pair into one qconvbn2d. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/qgraph.h"

static int op_is(const lb_node *n, const char *name) { return n->op && !strcmp(n->op->name, name); }

static int is_weighted(const lb_node *n) { return op_is(n, "conv2d") || op_is(n, "linear"); }

static int is_pool_or_add(const lb_node *n) {
  return op_is(n, "add") || op_is(n, "maxpool") || op_is(n, "avgpool") || op_is(n, "gap");
}

/* Whether node i's output is known to be non-negative (declared in qgraph.h; the backend check
 * uses it too, on quantized graphs, hence fakequant in the pass-through list: quantizing a
 * non-negative tensor keeps it non-negative). */
int lb_quant_nonneg_output(const lb_graph *g, int i) {
  while (i > 0 && i < g->n_nodes) {
    const lb_node *n = &g->nodes[i];
    if (op_is(n, "relu") || op_is(n, "relu6")) return 1;
    if ((op_is(n, "maxpool") || op_is(n, "avgpool") || op_is(n, "gap") || op_is(n, "flatten") ||
         op_is(n, "dropout") || op_is(n, "fakequant")) &&
        n->n_inputs == 1) {
      i = n->inputs[0];
      continue;
    }
    return 0;
  }
  return 0;
}

static void backend_names(char *buf, size_t cap) {
  const lb_backend *const *b = lb_backends();
  size_t len = 0;
  buf[0] = 0;
  for (int i = 0; b[i] && len < cap; i++) {
    int k = snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", b[i]->name);
    if (k < 0) break;
    len += (size_t)k;
  }
}

static lb_status check_spec(const lb_qspec *q, const char *what, const lb_qplan_request *r) {
  lb_status s = lb_qspec_validate(q, NULL);
  if (s) {
    char err[256];
    snprintf(err, sizeof err, "%s", lb_last_error());
    return lb_fail(s, "backend %s, %s (W%dA%d): %s", r->backend, what, r->wbits, r->abits, err);
  }
  return LB_OK;
}

/* A signed 1-bit grid is the binary one, -1/+1 (two's complement 1 bit, {-1, 0}, is useless).
 * Activations after a ReLU keep the unsigned {0, 1} grid; 1-bit weights on a backend with
 * unsigned weights are refused by the plan (check_binary_weights). */
static void make_binary(lb_qspec *q) {
  if (q->bits != 1 || !q->is_signed) return;
  q->binary = 1;
  q->symmetric = 1;
  q->narrow = 0;
}

/* New bits for a planned spec: a binary grid that gets more bits takes the backend's zero-point
 * rule back (tmpl may be NULL: keep symmetric); a signed one that gets 1 bit becomes binary. */
static void set_bits(lb_qspec *q, int bits, const lb_qspec *tmpl) {
  if (q->binary && bits != 1) {
    q->binary = 0;
    if (tmpl) {
      q->symmetric = tmpl->symmetric;
      q->narrow = tmpl->narrow && q->is_signed;
    }
  }
  q->bits = bits;
  make_binary(q);
}

/* 1-bit weights are binary only on backends with signed weights; elsewhere the two levels
 * would be {0, s}. Sets the error and returns 1 when refused. */
static int binary_refused(const lb_backend *b) {
  if (b->weight.is_signed) return 0;
  lb_fail(LB_ERR_UNSUPPORTED,
          "quant plan: %s has unsigned weights, whose 1-bit grid is {0, s}; binary (+-1) weights need a backend with "
          "signed weights (lowbit backends lists them)",
          b->name);
  return 1;
}

static lb_qcfg weight_cfg(const lb_backend *b, const lb_qplan_request *r, int bits8) {
  lb_qcfg c;
  memset(&c, 0, sizeof c);
  c.spec = b->weight;
  if (!b->fixed_bits) c.spec.bits = bits8 ? 8 : r->wbits;
  make_binary(&c.spec);
  c.est = b->log_grid ? LB_EST_LOG : r->est;
  c.observer = b->log_grid ? LB_OBS_MINMAX : r->w_observer;
  c.init = 0;
  return c;
}

static lb_qcfg act_cfg(const lb_backend *b, const lb_qplan_request *r, int bits8, int nonneg) {
  lb_qcfg c;
  memset(&c, 0, sizeof c);
  c.spec = b->act;
  if (!b->fixed_bits) c.spec.bits = bits8 ? 8 : r->abits;
  if (nonneg && b->act_unsigned_after_relu && c.spec.is_signed) {
    c.spec.is_signed = 0;
    c.spec.narrow = 0;
  }
  make_binary(&c.spec);
  if (b->log_grid) {
    c.est = LB_EST_LOG;
    c.observer = LB_OBS_MINMAX;
    return c;
  }
  c.est = r->est;
  c.observer = r->a_observer;
  if (r->est == LB_EST_PACT || r->est == LB_EST_DOREFA) {
    /* clipping at 0 is only right for non-negative data on an unsigned grid */
    if (!nonneg || c.spec.is_signed) c.est = LB_EST_STE;
  }
  c.init = c.est == LB_EST_PACT ? 6.0f : 0.0f; /* MQBench's PACT alpha init */
  return c;
}

lb_status lb_qplan_make(const lb_graph *g, const lb_qplan_request *r, lb_qplan *plan) {
  if (!g || !r || !plan) return lb_fail(LB_ERR_ARG, "quant plan: NULL argument");
  memset(plan, 0, sizeof *plan);
  char names[256];
  backend_names(names, sizeof names);
  if (!r->backend) return lb_fail(LB_ERR_ARG, "quant plan: no backend given (%s)", names);
  const lb_backend *b = lb_backend_find(r->backend);
  if (!b) return lb_fail(LB_ERR_NOT_FOUND, "quant plan: unknown backend '%s' (%s)", r->backend, names);
  if (lb_graph_is_quantized(g))
    return lb_fail(LB_ERR_STATE, "quant plan: graph '%s' already holds quantizers (fakequant/qconv2d/qconvbn2d/qlinear)",
                   g->model);
  if (r->wbits < 1 || r->wbits > 16 || r->abits < 1 || r->abits > 16)
    return lb_fail(LB_ERR_ARG, "quant plan: bits must be 1..16, asked for W%dA%d", r->wbits, r->abits);
  if (b->fixed_bits && (r->wbits != b->fixed_bits || r->abits != b->fixed_bits)) {
    char ask[32];
    if (r->wbits != b->fixed_bits && r->abits != b->fixed_bits)
      snprintf(ask, sizeof ask, "W%dA%d", r->wbits, r->abits);
    else if (r->wbits != b->fixed_bits)
      snprintf(ask, sizeof ask, "W%d", r->wbits);
    else
      snprintf(ask, sizeof ask, "A%d", r->abits);
    return lb_fail(LB_ERR_UNSUPPORTED, "quant plan: %s runs %d-bit only; asked for %s", b->name, b->fixed_bits, ask);
  }
  if (r->wbits == 1 && binary_refused(b)) return LB_ERR_UNSUPPORTED;
  if ((int)r->est < 0 || r->est >= LB_EST_COUNT) return lb_fail(LB_ERR_ARG, "quant plan: unknown estimator %d", (int)r->est);
  if ((int)r->w_observer < 0 || r->w_observer >= LB_OBS_KIND_COUNT || (int)r->a_observer < 0 ||
      r->a_observer >= LB_OBS_KIND_COUNT)
    return lb_fail(LB_ERR_ARG, "quant plan: unknown observer kind");
  if (r->bn_fold < 0 || r->bn_fold >= LB_BN_FOLD_COUNT)
    return lb_fail(LB_ERR_ARG, "quant plan: unknown BN folding %d (none, merge, freeze, fold, naive, whitepaper)", r->bn_fold);
  if (b->log_grid && r->est != LB_EST_STE && r->est != LB_EST_LOG)
    return lb_fail(LB_ERR_UNSUPPORTED,
                   "quant plan: %s quantizes on its own log grid with a straight-through gradient; method '%s' "
                   "does not apply there (use ste or log)",
                   b->name, lb_estimator_name(r->est));
  if (b->log_grid && ((r->w_observer != LB_OBS_MINMAX && r->w_observer != LB_OBS_EMA_MINMAX) ||
                      (r->a_observer != LB_OBS_MINMAX && r->a_observer != LB_OBS_EMA_MINMAX)))
    return lb_fail(LB_ERR_UNSUPPORTED, "quant plan: %s sets c = the running max|x|; observers minmax or ema only",
                   b->name);
  if (!b->log_grid && r->est == LB_EST_LOG)
    return lb_fail(LB_ERR_UNSUPPORTED, "quant plan: the log method is NNIE's log grid; %s quantizes on a uniform grid",
                   b->name);
  if ((r->est == LB_EST_PACT || r->est == LB_EST_DOREFA) && b->act.is_signed && !b->act_unsigned_after_relu)
    return lb_fail(LB_ERR_UNSUPPORTED,
                   "quant plan: %s clips activations to [0, alpha] and needs an unsigned activation spec; "
                   "%s quantizes activations signed",
                   lb_estimator_name(r->est), b->name);

  int first = -1, last = -1, count = 0;
  for (int i = 1; i < g->n_nodes; i++) {
    const lb_node *n = &g->nodes[i];
    if (is_weighted(n)) {
      if (first < 0) first = i;
      last = i;
      count++;
    } else if (b->quantize_add_inputs && is_pool_or_add(n)) {
      count++;
    }
  }
  if (first < 0) return lb_fail(LB_ERR_ARG, "quant plan: graph '%s' has no conv2d or linear layer to quantize", g->model);

  plan->e = calloc((size_t)count, sizeof *plan->e);
  if (!plan->e) return lb_fail(LB_ERR_NOMEM, "quant plan: out of memory");
  snprintf(plan->backend, sizeof plan->backend, "%s", b->name);
  plan->bn_fold = r->bn_fold;
  lb_status s = LB_OK;
  for (int i = 1; i < g->n_nodes && !s; i++) {
    const lb_node *n = &g->nodes[i];
    int weighted = is_weighted(n);
    if (!weighted && !(b->quantize_add_inputs && is_pool_or_add(n))) continue;
    lb_qplan_entry *e = &plan->e[plan->n++];
    int bits8 = b->first_last_8bit && weighted && (i == first || i == last);
    e->node = i;
    if (weighted) {
      e->has_weight = 1;
      e->weight = weight_cfg(b, r, bits8);
      char what[LB_NAME_MAX + 32];
      snprintf(what, sizeof what, "weights of '%s'", n->name);
      s = check_spec(&e->weight.spec, what, r);
    }
    int n_in = weighted ? 1 : n->n_inputs;
    for (int k = 0; k < n_in && !s; k++) {
      e->input_index[k] = k;
      e->input[k] = act_cfg(b, r, bits8, lb_quant_nonneg_output(g, n->inputs[k]));
      char what[LB_NAME_MAX + 32];
      snprintf(what, sizeof what, "input %d of '%s'", k, n->name);
      s = check_spec(&e->input[k].spec, what, r);
    }
    e->n_inputs = n_in;
  }
  if (s) lb_qplan_free(plan);
  return s;
}

void lb_qplan_free(lb_qplan *plan) {
  if (!plan) return;
  free(plan->e);
  memset(plan, 0, sizeof *plan);
}

lb_status lb_qplan_override(const lb_graph *g, lb_qplan *plan, const char *layer, int wbits, int abits) {
  if (!g || !plan || !layer) return lb_fail(LB_ERR_ARG, "quant plan override: NULL argument");
  int node = lb_graph_find_node(g, layer);
  if (node < 0) return lb_fail(LB_ERR_NOT_FOUND, "quant plan override: no node named '%s' in '%s'", layer, g->model);
  int k = -1;
  for (int i = 0; i < plan->n; i++)
    if (plan->e[i].node == node && plan->e[i].has_weight) k = i;
  if (k < 0)
    return lb_fail(LB_ERR_ARG, "quant plan override: '%s' (%s) is not a planned conv2d/linear layer", layer,
                   g->nodes[node].op->name);
  if (wbits == -1 && abits == -1) {
    memmove(&plan->e[k], &plan->e[k + 1], (size_t)(plan->n - k - 1) * sizeof *plan->e);
    plan->n--;
    return LB_OK;
  }
  if (wbits < 0 || wbits > 16 || abits < 0 || abits > 16)
    return lb_fail(LB_ERR_ARG, "quant plan override: '%s': bits must be 1..16 (0: unchanged), got W%dA%d", layer, wbits,
                   abits);
  const lb_backend *b = lb_backend_find(plan->backend);
  if (b && b->fixed_bits && ((wbits && wbits != b->fixed_bits) || (abits && abits != b->fixed_bits)))
    return lb_fail(LB_ERR_UNSUPPORTED, "quant plan override: '%s': %s runs %d-bit only, asked for W%dA%d", layer, b->name,
                   b->fixed_bits, wbits, abits);
  lb_qplan_entry *e = &plan->e[k];
  lb_qcfg w = e->weight, a = e->input[0];
  if (wbits == 1 && b && binary_refused(b)) return LB_ERR_UNSUPPORTED;
  if (wbits) set_bits(&w.spec, wbits, b ? &b->weight : NULL);
  if (abits) set_bits(&a.spec, abits, b ? &b->act : NULL);
  lb_qplan_request r = {.backend = plan->backend, .wbits = w.spec.bits, .abits = a.spec.bits};
  char what[LB_NAME_MAX + 32];
  snprintf(what, sizeof what, "weights of '%s'", layer);
  lb_status s = check_spec(&w.spec, what, &r);
  snprintf(what, sizeof what, "input of '%s'", layer);
  if (!s) s = check_spec(&a.spec, what, &r);
  if (s) return s;
  e->weight = w;
  e->input[0] = a;
  return LB_OK;
}

/* One "NAME=W/A" or "NAME=float" item of an override list (len characters at item). */
static lb_status override_item(const lb_graph *g, lb_qplan *plan, const char *item, size_t len) {
  char buf[LB_NAME_MAX + 32];
  if (len >= sizeof buf) return lb_fail(LB_ERR_ARG, "layer override '%.*s...': too long", 40, item);
  memcpy(buf, item, len);
  buf[len] = 0;
  char *eq = strrchr(buf, '=');
  if (!eq || eq == buf) return lb_fail(LB_ERR_ARG, "layer override '%s': expected NAME=W/A or NAME=float", buf);
  *eq = 0;
  const char *v = eq + 1;
  if (!strcmp(v, "float")) return lb_qplan_override(g, plan, buf, -1, -1);
  int bits[2] = {0, 0};
  const char *p = v;
  for (int i = 0; i < 2; i++) {
    if (*p == '-') {
      p++;
    } else {
      char *end;
      long x = strtol(p, &end, 10);
      if (end == p || x < 1 || x > 16)
        return lb_fail(LB_ERR_ARG, "layer override '%s=%s': bits must be 1..16 or '-' (W/A, e.g. 8/8 or -/4)", buf, v);
      bits[i] = (int)x;
      p = end;
    }
    if (i == 0 && *p++ != '/')
      return lb_fail(LB_ERR_ARG, "layer override '%s=%s': expected W/A, e.g. 8/8 or -/4", buf, v);
  }
  if (*p) return lb_fail(LB_ERR_ARG, "layer override '%s=%s': trailing characters", buf, v);
  return lb_qplan_override(g, plan, buf, bits[0], bits[1]);
}

lb_status lb_qplan_override_spec(const lb_graph *g, lb_qplan *plan, const char *spec) {
  if (!spec) return lb_fail(LB_ERR_ARG, "layer overrides: NULL");
  const char *p = spec;
  while (*p) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    lb_status s = override_item(g, plan, p, len);
    if (s) return s;
    p += len + (comma ? 1 : 0);
  }
  return LB_OK;
}

int lb_qplan_constant_binary(const lb_graph *g, const lb_qplan *plan, char *first, size_t cap) {
  int n = 0;
  for (int i = 0; i < plan->n; i++) {
    const lb_qplan_entry *e = &plan->e[i];
    for (int k = 0; k < e->n_inputs; k++) {
      if (!e->input[k].spec.binary || !lb_quant_nonneg_output(g, g->nodes[e->node].inputs[e->input_index[k]])) continue;
      if (!n++ && first && cap) snprintf(first, cap, "%s", g->nodes[e->node].name);
    }
  }
  return n;
}
