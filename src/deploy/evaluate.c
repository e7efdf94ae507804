/* Top-1 accuracy of an integer program on a data set: the engine over every image, batch by
 * batch (lowbit eval on a .lbp). */
#include <stdlib.h>

#include "lowbit/deploy.h"

static int argmax(const float *v, int k) {
  int b = 0;
  for (int i = 1; i < k; i++)
    if (v[i] > v[b]) b = i;
  return b;
}

lb_status lb_program_evaluate(const lb_program *p, const lb_dataset *d, const lb_augment *norm, int batch,
                              int64_t *correct) {
  *correct = 0;
  if (!p || !d || !norm || batch < 1) return lb_fail(LB_ERR_ARG, "evaluate: bad arguments");
  if ((int64_t)d->c * d->h * d->w != (int64_t)p->in_c * p->in_h * p->in_w)
    return lb_fail(LB_ERR_SHAPE, "evaluate: data images are %dx%dx%d, the program takes %dx%dx%d", d->c, d->h, d->w,
                   p->in_c, p->in_h, p->in_w);
  if (batch > d->n && d->n > 0) batch = d->n;
  lb_engine *e = NULL;
  lb_status st = lb_engine_create(p, batch, 0, &e);
  if (st) return st;
  int64_t per = (int64_t)p->in_c * p->in_h * p->in_w;
  float *x = malloc((size_t)(batch * per) * sizeof *x), *logits = malloc((size_t)batch * (size_t)p->classes * sizeof *logits);
  int32_t *idx = malloc((size_t)batch * sizeof *idx), *labels = malloc((size_t)batch * sizeof *labels);
  if (!x || !logits || !idx || !labels) st = lb_fail(LB_ERR_NOMEM, "evaluate: out of memory");
  for (int b0 = 0; !st && b0 < d->n; b0 += batch) {
    int n = d->n - b0 < batch ? d->n - b0 : batch;
    for (int i = 0; i < n; i++) idx[i] = b0 + i;
    lb_batch_fill(d, idx, n, norm, 0, NULL, x, labels);
    st = lb_engine_run(e, n, x, logits);
    for (int i = 0; !st && i < n; i++) *correct += argmax(logits + (int64_t)i * p->classes, p->classes) == labels[i];
  }
  lb_engine_free(e);
  free(x);
  free(logits);
  free(idx);
  free(labels);
  return st;
}
