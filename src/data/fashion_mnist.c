/* Fashion-MNIST from a directory of the four standard IDX files, plain or ".gz" (Debian's
 * dataset-fashion-mnist ships only the .gz files). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lowbit/data.h"

#define FM_PATH_MAX 4096

/* Find dir/name, else dir/name.gz; buf receives the path that exists. */
static lb_status fm_find(const char *dir, const char *name, char *buf, size_t cap) {
  struct stat st;
  int k = snprintf(buf, cap, "%s/%s", dir, name);
  if (k < 0 || (size_t)k + 3 >= cap) return lb_fail(LB_ERR_ARG, "fashion-mnist: directory path too long: %s", dir);
  if (stat(buf, &st) == 0) return LB_OK;
  int e = errno;
  strcat(buf, ".gz");
  if (stat(buf, &st) == 0) return LB_OK;
  buf[k] = '\0';
  return lb_fail(LB_ERR_IO, "%s: cannot open (nor %s.gz): %s", buf, buf, strerror(e));
}

lb_status lb_fashion_mnist_load(const char *dir, int train, lb_dataset *out) {
  if (!out) return lb_fail(LB_ERR_ARG, "lb_fashion_mnist_load: out is NULL");
  memset(out, 0, sizeof *out);
  if (!dir) dir = LB_FASHION_MNIST_DIR;
  const char *prefix = train ? "train" : "t10k";
  char name[64], img[FM_PATH_MAX], lbl[FM_PATH_MAX];
  snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
  lb_status s = fm_find(dir, name, img, sizeof img);
  if (s != LB_OK) return s;
  snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
  s = fm_find(dir, name, lbl, sizeof lbl);
  if (s != LB_OK) return s;
  return lb_idx_load(img, lbl, out);
}
