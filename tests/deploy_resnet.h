/* The shared CIFAR-10 ResNet-20 (shared/models/resnet20_cifar10.onnx) imported, quantized at
 * W8A8 for a backend and calibrated on the first training images of data_batch_1.bin with the
 * model's normalisation: the deploy tests on an imported network (its shortcuts are slice + pad). */
#ifndef LOWBIT_TESTS_DEPLOY_RESNET_H
#define LOWBIT_TESTS_DEPLOY_RESNET_H

#include <stdio.h>

#include "deploy_movenet.h"
#include "lowbit/onnx.h"
#include "util/testutil.h"

static const lb_augment rn_norm = {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}, 0, 0};

/* The shared dir if it holds ResNet-20 and the CIFAR files, else NULL (the reason printed). */
static inline const char *rn_shared(const char *test) {
  const char *shared = lbt_shared_dir();
  static char probe[3][600];
  snprintf(probe[0], sizeof probe[0], "%s/models/resnet20_cifar10.onnx", shared ? shared : "");
  snprintf(probe[1], sizeof probe[1], "%s/data/cifar10/data_batch_1.bin", shared ? shared : "");
  snprintf(probe[2], sizeof probe[2], "%s/data/cifar10/test_batch_first1000.bin", shared ? shared : "");
  for (int i = 0; i < 3; i++)
    if (!shared || !lbt_file_exists(probe[i])) {
      printf("%s: no %s\n", test, probe[i]);
      return NULL;
    }
  return shared;
}

/* Open shared/data/cifar10/<file>, first `count` images. */
static inline lb_status rn_cifar(const char *shared, const char *file, int count, lb_dataset *out) {
  char path[600];
  snprintf(path, sizeof path, "%s/data/cifar10/%s", shared, file);
  const char *paths[1] = {path};
  lb_dataset all;
  lb_status st = lb_cifar_load(paths, 1, &all);
  if (st) return st;
  st = lb_dataset_slice(&all, 0, count < all.n ? count : all.n, out);
  lb_dataset_free(&all);
  return st;
}

/* ResNet-20 quantized for backend at W8A8 and calibrated on `calib` training images. */
static inline lb_graph *rn_quantized(const char *shared, const char *backend, int calib, lb_status *st) {
  char path[600];
  snprintf(path, sizeof path, "%s/models/resnet20_cifar10.onnx", shared);
  lb_graph *g = NULL;
  lb_dataset cal;
  *st = lb_quant_register_ops();
  if (!*st) *st = lb_onnx_import(path, &g, NULL);
  if (*st) return NULL;
  *st = rn_cifar(shared, "data_batch_1.bin", calib, &cal);
  if (*st) {
    lb_graph_free(g);
    return NULL;
  }
  lb_graph *qg = mvn_quantize_w8a8(g, backend, &cal, &rn_norm, st);
  lb_dataset_free(&cal);
  return qg;
}

#endif
