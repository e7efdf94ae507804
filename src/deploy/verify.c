/* verify: the integer engine against the deploy-exact simulation (must agree to the bit) and
 * against the plain fake-quant graph (lb_exec in eval mode, float: the gap other toolkits leave
 * hidden), unit by unit on the same images. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/deploy.h"

void lb_verify_report_free(lb_verify_report *r) {
  if (!r) return;
  free(r->units);
  memset(r, 0, sizeof *r);
}

static int argmax(const float *v, int k) {
  int b = 0;
  for (int i = 1; i < k; i++)
    if (v[i] > v[b]) b = i;
  return b;
}

typedef struct vctx {
  lb_graph *qg;
  const lb_program *p;
  lb_sim *sim;
  lb_engine *eng;
  lb_exec *ex;
  int *tensor;  /* report unit -> program tensor */
  int *node;    /* report unit -> graph node */
  float *x, *le, *ls;
  int32_t *labels, *idx;
} vctx;

static void vctx_free(vctx *v) {
  lb_sim_free(v->sim);
  lb_engine_free(v->eng);
  lb_exec_free(v->ex);
  free(v->tensor);
  free(v->node);
  free(v->x);
  free(v->le);
  free(v->ls);
  free(v->labels);
  free(v->idx);
}

/* The units to compare: program code tensors named after a graph node the simulation knows. */
static lb_status pick_units(vctx *v, lb_verify_report *r) {
  const lb_program *p = v->p;
  r->units = calloc((size_t)p->n_tensors, sizeof *r->units);
  v->tensor = calloc((size_t)p->n_tensors, sizeof *v->tensor);
  v->node = calloc((size_t)p->n_tensors, sizeof *v->node);
  if (!r->units || !v->tensor || !v->node) return lb_fail(LB_ERR_NOMEM, "verify: out of memory");
  for (int s = 0; s < p->n_steps; s++) {
    int t = p->steps[s].out;
    if (p->tensors[t].kind != LB_PT_CODES) continue;
    int node = lb_graph_find_node(v->qg, p->tensors[t].name);
    if (node < 0 || !lb_sim_codes(v->sim, node)) continue;
    lb_verify_unit *u = &r->units[r->n_units];
    snprintf(u->name, sizeof u->name, "%s", p->tensors[t].name);
    snprintf(u->core, sizeof u->core, "%s", p->steps[s].name);
    v->tensor[r->n_units] = t;
    v->node[r->n_units] = node;
    r->n_units++;
  }
  return LB_OK;
}

static void compare_unit(vctx *v, int i, int n, lb_verify_report *r) {
  const lb_prog_tensor *t = &v->p->tensors[v->tensor[i]];
  int64_t cnt = (int64_t)n * t->c * t->h * t->w;
  const void *eng = lb_engine_tensor(v->eng, v->tensor[i]);
  const int32_t *sim = lb_sim_codes(v->sim, v->node[i]);
  const float *fq = lb_exec_node_output(v->ex, v->node[i]);
  lb_verify_unit *u = &r->units[i];
  for (int64_t j = 0; j < cnt; j++) {
    int32_t e = t->is_signed ? ((const int8_t *)eng)[j] : ((const uint8_t *)eng)[j];
    int32_t ds = abs(e - sim[j]);
    /* the fake-quant graph's value on the grid, back to its code */
    int32_t f = (int32_t)rint((double)fq[j] / (double)t->scale) + t->zp;
    int32_t df = abs(e - f);
    if (ds) {
      u->diff_sim++;
      if (ds > u->worst_sim) u->worst_sim = ds;
    }
    if (df) {
      u->diff_fq++;
      if (df > u->worst_fq) u->worst_fq = df;
    }
  }
  u->elements += cnt;
}

lb_status lb_verify(lb_graph *qg, const lb_program *p, const lb_dataset *d, const lb_augment *norm, int images,
                    int batch, lb_verify_report *r) {
  memset(r, 0, sizeof *r);
  if (!qg || !p || !d || images < 1 || batch < 1) return lb_fail(LB_ERR_ARG, "verify: bad arguments");
  if (images > d->n) images = d->n;
  if (lb_crc32(0, qg->values, (size_t)qg->n_values * sizeof(float)) != p->source_crc)
    return lb_fail(LB_ERR_ARG, "verify: the program was lowered from a different model than '%s' (parameter checksum)",
                   qg->model);
  if ((int64_t)d->c * d->h * d->w != (int64_t)p->in_c * p->in_h * p->in_w)
    return lb_fail(LB_ERR_SHAPE, "verify: data images are %dx%dx%d, the program takes %dx%dx%d", d->c, d->h, d->w,
                   p->in_c, p->in_h, p->in_w);
  vctx v;
  memset(&v, 0, sizeof v);
  v.qg = qg;
  v.p = p;
  lb_status st = lb_sim_create(qg, batch, &v.sim);
  if (!st) st = lb_engine_create(p, batch, LB_ENGINE_KEEP_ALL, &v.eng);
  if (!st) st = lb_exec_create_ex(&v.ex, qg, batch, 0);
  if (!st) st = pick_units(&v, r);
  int64_t in_per = (int64_t)p->in_c * p->in_h * p->in_w;
  if (!st) {
    v.x = malloc((size_t)(batch * in_per) * sizeof(float));
    v.le = malloc((size_t)batch * (size_t)p->classes * sizeof(float));
    v.ls = malloc((size_t)batch * (size_t)p->classes * sizeof(float));
    v.labels = malloc((size_t)batch * sizeof(int32_t));
    v.idx = malloc((size_t)batch * sizeof(int32_t));
    if (!v.x || !v.le || !v.ls || !v.labels || !v.idx) st = lb_fail(LB_ERR_NOMEM, "verify: out of memory");
  }
  for (int b0 = 0; !st && b0 < images; b0 += batch) {
    int n = images - b0 < batch ? images - b0 : batch;
    for (int i = 0; i < n; i++) v.idx[i] = b0 + i;
    lb_batch_fill(d, v.idx, n, norm, 0, NULL, v.x, v.labels);
    st = lb_engine_run(v.eng, n, v.x, v.le);
    if (!st) st = lb_sim_run(v.sim, n, v.x, v.ls);
    const float *lf = st ? NULL : lb_exec_forward(v.ex, v.x, n, 0, NULL);
    if (!lf && !st) st = lb_fail(LB_ERR_STATE, "verify: the fake-quant forward failed: %s", lb_last_error());
    if (st) break;
    for (int i = 0; i < r->n_units; i++) compare_unit(&v, i, n, r);
    for (int i = 0; i < n; i++) {
      const float *e = v.le + (int64_t)i * p->classes, *s = v.ls + (int64_t)i * p->classes,
                  *f = lf + (int64_t)i * p->classes;
      for (int k = 0; k < p->classes; k++)
        if (memcmp(&e[k], &s[k], sizeof(float))) r->logits_diff_sim++;
      int pe = argmax(e, p->classes), pf = argmax(f, p->classes);
      r->correct_engine += pe == v.labels[i];
      r->correct_sim += argmax(s, p->classes) == v.labels[i];
      r->correct_fq += pf == v.labels[i];
      r->pred_diff_fq += pe != pf;
    }
    r->images += n;
  }
  vctx_free(&v);
  if (st) lb_verify_report_free(r);
  return st;
}
