/* lowbit data: readers (IDX, CIFAR binary), augmentation, shuffling and batching.
 * Knows nothing about models (DESIGN.md section 2). */
#ifndef LOWBIT_DATA_H
#define LOWBIT_DATA_H

#include "lowbit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An in-memory labelled image set: n images of (c,h,w) bytes, planar (CHW) per image. */
typedef struct lb_dataset {
  int n, c, h, w;
  int classes;      /* 1 + the largest label (at least 1) */
  uint8_t *images;  /* n*c*h*w bytes */
  int32_t *labels;  /* n labels */
} lb_dataset;

/* IDX pair (images: magic 0x00000803, u8, dims n,h,w; labels: 0x00000801, u8, n). Either file
 * may be gzip-compressed (".gz" or gzip magic). Counts must agree. Clear errors for missing,
 * truncated or corrupt files. */
lb_status lb_idx_load(const char *images_path, const char *labels_path, lb_dataset *out);
/* CIFAR binary: any whole number of 3073-byte records (label byte + 3x32x32 planar RGB) in each
 * of n_paths files, concatenated in order. */
lb_status lb_cifar_load(const char *const *paths, int n_paths, lb_dataset *out);
/* Fashion-MNIST from a directory holding the four standard IDX files (plain or .gz):
 * train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte.
 * dir NULL means LB_FASHION_MNIST_DIR. */
#define LB_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
lb_status lb_fashion_mnist_load(const char *dir, int train, lb_dataset *out);
void lb_dataset_free(lb_dataset *d);
/* Open a data set from a command-line spec:
 *   "fashion-mnist" or "fashion-mnist:DIR"  the train or test split (train = 1/0)
 *   "cifar10:DIR"     data_batch_1..5.bin (train) or test_batch.bin, else test_batch_first1000.bin (test)
 *   "idx:IMAGES,LABELS"   one IDX pair (the split flag is ignored)
 *   "cifar:FILE[,FILE...]"  CIFAR binary files (the split flag is ignored) */
lb_status lb_dataset_open(const char *spec, int train, lb_dataset *out);
/* A new dataset holding images [start, start+count) of src (copied). */
lb_status lb_dataset_slice(const lb_dataset *src, int start, int count, lb_dataset *out);

/* Per-channel mean and std of the pixel values scaled to [0,1] (for normalisation). */
void lb_dataset_channel_stats(const lb_dataset *d, float *mean, float *std);

/* How a batch is made from bytes: x = (pixel/255 - mean[c]) / std[c], then (training only)
 * random crop after zero-padding by crop_pad pixels, and horizontal flip with probability 1/2. */
typedef struct lb_augment {
  float mean[4], std[4];
  int crop_pad; /* 0 = no random crop */
  int hflip;    /* 0/1 */
} lb_augment;

/* Fisher-Yates shuffle of idx[0..n) with rng. */
void lb_shuffle(int32_t *idx, int n, lb_rng *rng);
/* Fill x: (count,C,H,W) floats and y: (count) labels with images idx[0..count).
 * augment may be NULL (only /255). rng is used only when augmentation is on. */
void lb_batch_fill(const lb_dataset *d, const int32_t *idx, int count, const lb_augment *aug, int train,
                   lb_rng *rng, float *x, int32_t *y);

#ifdef __cplusplus
}
#endif
#endif
