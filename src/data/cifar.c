/* CIFAR binary reader: each file is a sequence of 3073-byte records, one label byte followed by
 * a 32x32 image as three planes (R, G, B), 1024 bytes each. Files may be gzip-compressed.
 * Two passes: sizes first (so one allocation holds everything), then the records. */
#include <stdlib.h>
#include <string.h>

#include "data/reader.h"
#include "lowbit/data.h"

#define CIFAR_PIXELS (3 * 32 * 32)
#define CIFAR_RECORD (1 + CIFAR_PIXELS)
/* CIFAR-10 labels are < 10; the CIFAR-100 coarse/fine labels are < 100. A larger byte means the
 * file is not CIFAR (or records are misaligned). */
#define CIFAR_MAX_LABEL 99
/* lb_dataset counts images with int and indexes pixels with int arithmetic in places. */
#define CIFAR_MAX_IMAGES (int)(((uint64_t)1 << 31) / CIFAR_PIXELS - 1)

static lb_status cifar_count(const char *path, int64_t *records) {
  lbd_reader r;
  uint64_t size = 0;
  lb_status s = lbd_open(&r, path);
  if (s != LB_OK) return s;
  s = lbd_size(&r, &size);
  lbd_close(&r);
  if (s != LB_OK) return s;
  if (size == 0) return lb_fail(LB_ERR_FORMAT, "%s: empty file (no CIFAR records)", path);
  if (size % CIFAR_RECORD)
    return lb_fail(LB_ERR_FORMAT, "%s: size %llu bytes is not a whole number of %d-byte CIFAR records", path,
                   (unsigned long long)size, CIFAR_RECORD);
  if (size / CIFAR_RECORD > (uint64_t)CIFAR_MAX_IMAGES)
    return lb_fail(LB_ERR_FORMAT, "%s: %llu records exceed the limit of %d images", path,
                   (unsigned long long)(size / CIFAR_RECORD), CIFAR_MAX_IMAGES);
  *records = (int64_t)(size / CIFAR_RECORD);
  return LB_OK;
}

/* Read `records` records of path into images/labels (already sized). */
static lb_status cifar_read(const char *path, int64_t records, int64_t first, uint8_t *images, int32_t *labels) {
  lbd_reader r;
  lb_status s = lbd_open(&r, path);
  if (s != LB_OK) return s;
  unsigned char rec[CIFAR_RECORD];
  for (int64_t i = 0; i < records && s == LB_OK; i++) {
    size_t got = 0;
    s = lbd_read(&r, rec, sizeof rec, &got);
    if (s != LB_OK) break;
    if (got < sizeof rec) {
      /* Only possible if the file changed since it was measured, or gzip data ends early. */
      s = lb_fail(LB_ERR_FORMAT, "%s: truncated: expected %lld bytes of records, found %lld%s", path,
                  (long long)(records * CIFAR_RECORD), (long long)(i * CIFAR_RECORD + (int64_t)got), lbd_cut_note(&r));
      break;
    }
    if (rec[0] > CIFAR_MAX_LABEL) {
      s = lb_fail(LB_ERR_FORMAT, "%s: record %lld has label %u; CIFAR labels are below %d (not a CIFAR binary file?)",
                  path, (long long)i, (unsigned)rec[0], CIFAR_MAX_LABEL + 1);
      break;
    }
    labels[first + i] = rec[0];
    memcpy(images + (size_t)(first + i) * CIFAR_PIXELS, rec + 1, CIFAR_PIXELS);
  }
  if (s == LB_OK) s = lbd_expect_end(&r, "last record");
  lbd_close(&r);
  return s;
}

lb_status lb_cifar_load(const char *const *paths, int n_paths, lb_dataset *out) {
  if (!out) return lb_fail(LB_ERR_ARG, "lb_cifar_load: out is NULL");
  memset(out, 0, sizeof *out);
  if (n_paths <= 0) return lb_fail(LB_ERR_ARG, "lb_cifar_load: no files given (n_paths = %d)", n_paths);
  if (!paths) return lb_fail(LB_ERR_ARG, "lb_cifar_load: paths is NULL");
  for (int f = 0; f < n_paths; f++)
    if (!paths[f]) return lb_fail(LB_ERR_ARG, "lb_cifar_load: path %d is NULL", f);

  int64_t *counts = calloc((size_t)n_paths, sizeof *counts);
  if (!counts) return lb_fail(LB_ERR_NOMEM, "lb_cifar_load: out of memory");
  uint8_t *images = NULL;
  int32_t *labels = NULL;
  int64_t total = 0;
  lb_status s = LB_OK;
  for (int f = 0; f < n_paths && s == LB_OK; f++) {
    s = cifar_count(paths[f], &counts[f]);
    total += counts[f];
    if (s == LB_OK && total > CIFAR_MAX_IMAGES)
      s = lb_fail(LB_ERR_FORMAT, "%s: the files together hold more than %d images", paths[f], CIFAR_MAX_IMAGES);
  }
  if (s == LB_OK) {
    images = malloc((size_t)total * CIFAR_PIXELS);
    labels = malloc((size_t)total * sizeof *labels);
    if (!images || !labels)
      s = lb_fail(LB_ERR_NOMEM, "lb_cifar_load: cannot allocate %lld images", (long long)total);
  }
  int64_t first = 0;
  for (int f = 0; f < n_paths && s == LB_OK; f++) {
    s = cifar_read(paths[f], counts[f], first, images, labels);
    first += counts[f];
  }
  if (s == LB_OK) {
    int maxl = 0;
    for (int64_t i = 0; i < total; i++)
      if (labels[i] > maxl) maxl = labels[i];
    out->n = (int)total;
    out->c = 3;
    out->h = 32;
    out->w = 32;
    out->classes = maxl + 1;
    out->images = images;
    out->labels = labels;
  } else {
    free(images);
    free(labels);
  }
  free(counts);
  return s;
}
