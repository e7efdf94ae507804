/* Batch assembly: bytes -> normalised float NCHW, with training-time random crop and flip.
 *
 * Value of a pixel byte p in channel c:
 *   aug == NULL:  (float)p / 255.0f
 *   otherwise:    ((float)p / 255.0f - aug->mean[c]) / aug->std[c]     (float arithmetic)
 * Channels beyond the fourth (aug has 4 slots) reuse slot 3.
 *
 * Augmentation (train != 0, aug != NULL, rng != NULL) matches torchvision's
 * RandomCrop(size=(H,W), padding=crop_pad) then RandomHorizontalFlip() applied to the byte image
 * BEFORE Normalize: the padding is pixel value 0, so padded positions hold (0 - mean)/std, not 0.
 * Per image, in image order, the RNG draws are exactly:
 *   1. if crop_pad > 0: oy = lb_rng_below(rng, 2*crop_pad+1)   (row of the crop window in the padded image)
 *   2. if crop_pad > 0: ox = lb_rng_below(rng, 2*crop_pad+1)   (column of the crop window)
 *   3. if hflip:        f  = lb_rng_below(rng, 2)              (1 = mirror left-right)
 * and output pixel (i,j) = padded[i+oy][jj+ox] with jj = f ? W-1-j : j, where
 * padded[r][s] = image[r-crop_pad][s-crop_pad] inside the image and 0 outside.
 * idx entries must lie in [0, d->n); x may be NULL (labels only), y may be NULL (images only). */
#include <string.h>

#include "lowbit/data.h"

void lb_batch_fill(const lb_dataset *d, const int32_t *idx, int count, const lb_augment *aug, int train, lb_rng *rng,
                   float *x, int32_t *y) {
  if (!d || !idx || count <= 0) return;
  const int C = d->c, H = d->h, W = d->w;
  const size_t hw = (size_t)H * W, chw = (size_t)C * hw;

  /* Per-channel lookup table of the 256 possible values: the same expression as documented above,
   * evaluated once per byte value instead of once per pixel. */
  float lut[4][256];
  int nlut = aug ? (C < 4 ? C : 4) : 1;
  for (int c = 0; c < nlut; c++)
    for (int v = 0; v < 256; v++)
      lut[c][v] = aug ? ((float)v / 255.0f - aug->mean[c]) / aug->std[c] : (float)v / 255.0f;

  const int augment = train && aug && rng && (aug->crop_pad > 0 || aug->hflip);
  const int pad = augment && aug->crop_pad > 0 ? aug->crop_pad : 0;

  for (int k = 0; k < count; k++) {
    const uint8_t *img = d->images + (size_t)idx[k] * chw;
    if (y) y[k] = d->labels[idx[k]];
    if (!x) continue;
    float *out = x + (size_t)k * chw;
    /* oy, ox: offset of the output window relative to the unpadded image (draw minus pad). */
    int oy = 0, ox = 0, flip = 0;
    if (pad > 0) {
      uint32_t span = 2u * (uint32_t)pad + 1u;
      oy = (int)lb_rng_below(rng, span) - pad;
      ox = (int)lb_rng_below(rng, span) - pad;
    }
    if (augment && aug->hflip) flip = (int)lb_rng_below(rng, 2);

    for (int c = 0; c < C; c++) {
      const float *t = lut[aug ? (c < 4 ? c : 3) : 0];
      const float zero = t[0]; /* the padding value: pixel 0 after normalisation */
      const uint8_t *plane = img + (size_t)c * hw;
      float *dst = out + (size_t)c * hw;
      if (!oy && !ox && !flip) {
        for (size_t q = 0; q < hw; q++) dst[q] = t[plane[q]];
        continue;
      }
      for (int i = 0; i < H; i++) {
        float *row = dst + (size_t)i * W;
        int sy = i + oy;
        if (sy < 0 || sy >= H) {
          for (int j = 0; j < W; j++) row[j] = zero;
          continue;
        }
        const uint8_t *srow = plane + (size_t)sy * W;
        for (int j = 0; j < W; j++) {
          int sx = (flip ? W - 1 - j : j) + ox;
          row[j] = (sx >= 0 && sx < W) ? t[srow[sx]] : zero;
        }
      }
    }
  }
}
