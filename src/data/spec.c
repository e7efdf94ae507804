/* Data set specs as typed on the command line ("fashion-mnist", "cifar10:DIR", "idx:A,B", ...). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lowbit/data.h"

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

static lb_status open_cifar10_dir(const char *dir, int train, lb_dataset *out) {
  char paths[5][4096];
  const char *ptrs[5];
  if (train) {
    for (int i = 0; i < 5; i++) {
      snprintf(paths[i], sizeof paths[i], "%s/data_batch_%d.bin", dir, i + 1);
      ptrs[i] = paths[i];
    }
    return lb_cifar_load(ptrs, 5, out);
  }
  snprintf(paths[0], sizeof paths[0], "%s/test_batch.bin", dir);
  if (!exists(paths[0])) snprintf(paths[0], sizeof paths[0], "%s/test_batch_first1000.bin", dir);
  ptrs[0] = paths[0];
  return lb_cifar_load(ptrs, 1, out);
}

/* Split "a,b,c" in place into at most max pieces. */
static int split_commas(char *s, char **parts, int max) {
  int n = 0;
  for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ",")) parts[n++] = tok;
  return n;
}

lb_status lb_dataset_open(const char *spec, int train, lb_dataset *out) {
  memset(out, 0, sizeof *out);
  if (!spec || !spec[0]) return lb_fail(LB_ERR_ARG, "empty data set spec");
  if (!strcmp(spec, "fashion-mnist")) return lb_fashion_mnist_load(NULL, train, out);
  if (!strncmp(spec, "fashion-mnist:", 14)) return lb_fashion_mnist_load(spec + 14, train, out);
  if (!strncmp(spec, "cifar10:", 8)) return open_cifar10_dir(spec + 8, train, out);
  char buf[4096];
  if (strlen(spec) >= sizeof buf) return lb_fail(LB_ERR_ARG, "data set spec too long");
  char *parts[64];
  if (!strncmp(spec, "idx:", 4)) {
    snprintf(buf, sizeof buf, "%s", spec + 4);
    if (split_commas(buf, parts, 3) != 2) return lb_fail(LB_ERR_ARG, "'%s': expected idx:IMAGES,LABELS", spec);
    return lb_idx_load(parts[0], parts[1], out);
  }
  if (!strncmp(spec, "cifar:", 6)) {
    snprintf(buf, sizeof buf, "%s", spec + 6);
    int n = split_commas(buf, parts, 64);
    if (n < 1) return lb_fail(LB_ERR_ARG, "'%s': expected cifar:FILE[,FILE...]", spec);
    return lb_cifar_load((const char *const *)parts, n, out);
  }
  return lb_fail(LB_ERR_ARG, "unknown data set '%s' (use fashion-mnist[:DIR], cifar10:DIR, idx:IMAGES,LABELS or cifar:FILES)", spec);
}
