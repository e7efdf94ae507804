/* Dataset lifetime, slicing, per-channel statistics and shuffling. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/data.h"

void lb_dataset_free(lb_dataset *d) {
  if (!d) return;
  free(d->images);
  free(d->labels);
  memset(d, 0, sizeof *d);
}

lb_status lb_dataset_slice(const lb_dataset *src, int start, int count, lb_dataset *out) {
  if (!out) return lb_fail(LB_ERR_ARG, "lb_dataset_slice: out is NULL");
  memset(out, 0, sizeof *out);
  if (!src || !src->images || !src->labels) return lb_fail(LB_ERR_ARG, "lb_dataset_slice: empty source dataset");
  if (start < 0 || count <= 0 || start > src->n - count)
    return lb_fail(LB_ERR_ARG, "lb_dataset_slice: images [%d, %d+%d) are not inside a dataset of %d", start, start,
                   count, src->n);
  size_t chw = (size_t)src->c * src->h * src->w;
  uint8_t *images = malloc((size_t)count * chw);
  int32_t *labels = malloc((size_t)count * sizeof *labels);
  if (!images || !labels) {
    free(images);
    free(labels);
    return lb_fail(LB_ERR_NOMEM, "lb_dataset_slice: cannot allocate %d images", count);
  }
  memcpy(images, src->images + (size_t)start * chw, (size_t)count * chw);
  memcpy(labels, src->labels + start, (size_t)count * sizeof *labels);
  *out = *src;
  out->n = count;
  out->images = images;
  out->labels = labels;
  /* classes stays the source's: a slice that happens to miss the last class must still describe
   * the same label space (a model's output width), not 1 + its own largest label. */
  return LB_OK;
}

void lb_dataset_channel_stats(const lb_dataset *d, float *mean, float *std) {
  if (!d || !mean || !std || d->c <= 0) return;
  size_t hw = (size_t)d->h * d->w;
  for (int ch = 0; ch < d->c; ch++) {
    /* A histogram of the 256 byte values makes the sums exact; mean and population variance
     * then come from 256 terms in double. */
    uint64_t hist[256] = {0};
    for (int i = 0; i < d->n; i++) {
      const uint8_t *p = d->images + ((size_t)i * d->c + ch) * hw;
      for (size_t k = 0; k < hw; k++) hist[p[k]]++;
    }
    double count = (double)d->n * (double)hw;
    if (count <= 0) {
      mean[ch] = 0.0f;
      std[ch] = 0.0f;
      continue;
    }
    double m = 0;
    for (int v = 0; v < 256; v++) m += (double)hist[v] * (v / 255.0);
    m /= count;
    double var = 0;
    for (int v = 0; v < 256; v++) {
      double dv = v / 255.0 - m;
      var += (double)hist[v] * dv * dv;
    }
    mean[ch] = (float)m;
    std[ch] = (float)sqrt(var / count);
  }
}

void lb_shuffle(int32_t *idx, int n, lb_rng *rng) {
  /* Fisher-Yates from the back: for i = n-1 down to 1, swap idx[i] with idx[lb_rng_below(i+1)].
   * Exactly n-1 draws, so the stream position afterwards depends only on n. */
  for (int i = n - 1; i > 0; i--) {
    uint32_t j = lb_rng_below(rng, (uint32_t)i + 1);
    int32_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
}
