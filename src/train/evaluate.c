/* Evaluation of a float graph on a labelled data set (evaluation mode, no augmentation). */
#include <stdlib.h>

#include "lowbit/nn.h"
#include "lowbit/train.h"

lb_status lb_evaluate(lb_graph *g, const lb_dataset *d, const lb_augment *norm, int batch, double *acc, double *loss) {
  *acc = 0.0;
  if (loss) *loss = 0.0;
  if (d->n <= 0) return lb_fail(LB_ERR_ARG, "evaluate: empty data set");
  const lb_shape *in = &g->nodes[0].shape;
  if (in->ndim != 3 || in->d[0] != d->c || in->d[1] != d->h || in->d[2] != d->w)
    return lb_fail(LB_ERR_SHAPE, "evaluate: model expects (%lld,%lld,%lld) images, data has (%d,%d,%d)",
                   (long long)in->d[0], (long long)(in->ndim > 1 ? in->d[1] : 0), (long long)(in->ndim > 2 ? in->d[2] : 0),
                   d->c, d->h, d->w);
  int classes = (int)lb_shape_numel(&g->nodes[g->output].shape);
  if (d->classes > classes)
    return lb_fail(LB_ERR_SHAPE, "evaluate: data has %d classes, the model outputs %d", d->classes, classes);
  if (batch > d->n) batch = d->n;
  lb_exec *e;
  lb_status s = lb_exec_create(&e, g, batch);
  if (s) return s;
  int64_t per = (int64_t)d->c * d->h * d->w;
  float *x = lb_alloc_aligned((size_t)batch * (size_t)per * sizeof(float));
  float *probs = malloc((size_t)batch * (size_t)classes * sizeof(float));
  int32_t *y = malloc((size_t)batch * sizeof(int32_t)), *idx = malloc((size_t)batch * sizeof(int32_t));
  if (!x || !probs || !y || !idx) {
    s = lb_fail(LB_ERR_NOMEM, "evaluate: out of memory");
    goto done;
  }
  int64_t correct = 0;
  double loss_sum = 0.0;
  for (int start = 0; start < d->n; start += batch) {
    int n = d->n - start < batch ? d->n - start : batch;
    for (int i = 0; i < n; i++) idx[i] = start + i;
    lb_batch_fill(d, idx, n, norm, 0, NULL, x, y);
    const float *logits = lb_exec_forward(e, x, n, 0, NULL);
    loss_sum += (double)lb_softmax_xent_forward(n, classes, logits, y, 0.0f, probs) * n;
    correct += lb_count_correct(n, classes, logits, y);
  }
  *acc = (double)correct / d->n;
  if (loss) *loss = loss_sum / d->n;
done:
  lb_free_aligned(x);
  free(probs);
  free(y);
  free(idx);
  lb_exec_free(e);
  return s;
}
