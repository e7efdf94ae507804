/* data: channel statistics, shuffling, slicing and batch assembly (normalisation, random crop
 * with zero padding, horizontal flip). Augmented batches are compared with an independent
 * reference that replays the documented RNG draws (crop row, crop column, flip) on a copy of the
 * generator and builds the padded byte image explicitly. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/data.h"
#include "testutil.h"

enum { N = 7, C = 3, H = 5, W = 6, HW = H * W, CHW = C * HW };

static uint8_t images[N * CHW];
static int32_t labels[N];

static lb_dataset make_dataset(void) {
  lb_rng r;
  lb_rng_seed(&r, 7);
  for (int i = 0; i < N * CHW; i++) images[i] = (uint8_t)lb_rng_below(&r, 256);
  images[0] = 0; /* the extremes are present */
  images[1] = 255;
  for (int i = 0; i < N; i++) labels[i] = i % 4;
  lb_dataset d = {N, C, H, W, 4, images, labels};
  return d;
}

static int rng_equal(const lb_rng *a, const lb_rng *b) { return memcmp(a->s, b->s, sizeof a->s) == 0; }

static float norm(const lb_augment *a, int c, int p) { return ((float)p / 255.0f - a->mean[c]) / a->std[c]; }

/* Reference for one augmented image: replays the draws on `r`, then pad -> crop -> flip ->
 * normalise. Returns the draws through dy/dx (window offset minus pad) and flip. */
static void reference(const lb_dataset *d, int img, const lb_augment *a, lb_rng *r, float *out, int *dy, int *dx,
                      int *flip) {
  int p = a->crop_pad;
  int oy = 0, ox = 0, f = 0;
  if (p > 0) {
    oy = (int)lb_rng_below(r, (uint32_t)(2 * p + 1));
    ox = (int)lb_rng_below(r, (uint32_t)(2 * p + 1));
  }
  if (a->hflip) f = (int)lb_rng_below(r, 2);
  int ph = H + 2 * p, pw = W + 2 * p;
  uint8_t *padded = calloc((size_t)ph * pw, 1);
  for (int c = 0; c < C; c++) {
    memset(padded, 0, (size_t)ph * pw);
    for (int i = 0; i < H; i++)
      for (int j = 0; j < W; j++) padded[(i + p) * pw + j + p] = d->images[(size_t)img * CHW + c * HW + i * W + j];
    for (int i = 0; i < H; i++)
      for (int j = 0; j < W; j++) {
        uint8_t crop_ij = padded[(i + oy) * pw + (f ? W - 1 - j : j) + ox];
        out[c * HW + i * W + j] = norm(a, c, crop_ij);
      }
  }
  free(padded);
  *dy = oy - p;
  *dx = ox - p;
  *flip = f;
}

static void test_stats(void) {
  lb_dataset d = make_dataset();
  float mean[C], std[C];
  lb_dataset_channel_stats(&d, mean, std);
  for (int c = 0; c < C; c++) {
    double s = 0, ss = 0;
    for (int i = 0; i < N; i++)
      for (int k = 0; k < HW; k++) s += images[i * CHW + c * HW + k] / 255.0;
    double m = s / (N * HW);
    for (int i = 0; i < N; i++)
      for (int k = 0; k < HW; k++) {
        double v = images[i * CHW + c * HW + k] / 255.0 - m;
        ss += v * v;
      }
    CHECK_NEAR(mean[c], m, 1e-7);
    CHECK_NEAR(std[c], sqrt(ss / (N * HW)), 1e-7); /* population std, not the n-1 estimate */
  }
  /* exact cases: half 0 / half 255 -> mean 0.5, std 0.5; a constant image -> std 0 */
  uint8_t two[4] = {0, 255, 255, 0}, flat[4] = {51, 51, 51, 51};
  int32_t l2[2] = {0, 1};
  lb_dataset d2 = {2, 1, 1, 2, 2, two, l2};
  lb_dataset_channel_stats(&d2, mean, std);
  CHECK(mean[0] == 0.5f && std[0] == 0.5f);
  d2.images = flat;
  lb_dataset_channel_stats(&d2, mean, std);
  CHECK(mean[0] == 0.2f && std[0] == 0.0f);
}

static void test_shuffle(void) {
  enum { M = 100 };
  int32_t a[M], b[M], ref[M];
  for (int i = 0; i < M; i++) a[i] = b[i] = ref[i] = i;
  lb_rng r1, r2, rr;
  lb_rng_seed(&r1, 123);
  lb_rng_seed(&r2, 123);
  rr = r1;
  lb_shuffle(a, M, &r1);
  lb_shuffle(b, M, &r2);
  CHECK(memcmp(a, b, sizeof a) == 0); /* same seed, same order */
  int seen[M] = {0}, moved = 0;
  for (int i = 0; i < M; i++) {
    if (a[i] >= 0 && a[i] < M) seen[a[i]]++;
    moved += a[i] != i;
  }
  int perm = 1;
  for (int i = 0; i < M; i++) perm &= seen[i] == 1;
  CHECK(perm);
  CHECK(moved > M / 2);
  /* the documented Fisher-Yates draws */
  for (int i = M - 1; i > 0; i--) {
    uint32_t j = lb_rng_below(&rr, (uint32_t)i + 1);
    int32_t t = ref[i];
    ref[i] = ref[j];
    ref[j] = t;
  }
  CHECK(memcmp(a, ref, sizeof a) == 0);
  CHECK(rng_equal(&r1, &rr));
  /* another seed, another order */
  for (int i = 0; i < M; i++) b[i] = i;
  lb_rng_seed(&r2, 124);
  lb_shuffle(b, M, &r2);
  CHECK(memcmp(a, b, sizeof a) != 0);
  /* 0 and 1 elements: nothing to do and no draws */
  int32_t one[1] = {5};
  rr = r1;
  lb_shuffle(one, 1, &r1);
  lb_shuffle(one, 0, &r1);
  CHECK(one[0] == 5 && rng_equal(&r1, &rr));
}

static void test_slice(void) {
  lb_dataset d = make_dataset(), s;
  static uint8_t copy[N * CHW];
  static int32_t lcopy[N];
  memcpy(copy, images, sizeof images);
  memcpy(lcopy, labels, sizeof labels);
  lb_dataset src = {N, C, H, W, 4, copy, lcopy}; /* a copy we may scribble on */
  CHECK_OK(lb_dataset_slice(&src, 2, 3, &s));
  CHECK(s.n == 3 && s.c == C && s.h == H && s.w == W && s.classes == 4);
  CHECK(s.images && memcmp(s.images, images + 2 * CHW, 3 * CHW) == 0);
  CHECK(s.labels && s.labels[0] == 2 && s.labels[1] == 3 && s.labels[2] == 0);
  copy[2 * CHW] ^= 0xFF; /* the slice owns its bytes */
  lcopy[2] = 99;
  CHECK(s.images && s.images[0] == images[2 * CHW] && s.labels && s.labels[0] == 2);
  lb_dataset_free(&s);
  /* a slice keeps the source's label space even when it lacks the largest label */
  CHECK_OK(lb_dataset_slice(&d, 0, 1, &s));
  CHECK(s.n == 1 && s.classes == 4 && s.labels && s.labels[0] == 0);
  lb_dataset_free(&s);
  CHECK_OK(lb_dataset_slice(&d, 0, N, &s));
  CHECK(s.n == N && memcmp(s.images, images, sizeof images) == 0);
  lb_dataset_free(&s);
  const int bad[][2] = {{-1, 2}, {0, 0}, {0, -3}, {5, 3}, {N, 1}, {1, INT_MAX}};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    memset(&s, 0xAB, sizeof s);
    CHECK_STATUS(lb_dataset_slice(&d, bad[k][0], bad[k][1], &s), LB_ERR_ARG);
    CHECK(s.n == 0 && s.images == NULL && s.labels == NULL);
  }
}

static void test_plain_and_eval(void) {
  lb_dataset d = make_dataset();
  int32_t idx[5] = {6, 0, 3, 3, 1};
  float x[5 * CHW];
  int32_t y[5];
  lb_rng r, r0;
  lb_rng_seed(&r, 1);
  r0 = r;
  /* aug NULL: only /255, even in training; rng untouched */
  lb_batch_fill(&d, idx, 5, NULL, 1, &r, x, y);
  int ok = 1;
  for (int k = 0; k < 5; k++)
    for (int q = 0; q < CHW; q++) ok &= x[k * CHW + q] == (float)images[idx[k] * CHW + q] / 255.0f;
  CHECK(ok);
  CHECK(y[0] == 2 && y[1] == 0 && y[2] == 3 && y[3] == 3 && y[4] == 1);
  CHECK(rng_equal(&r, &r0));
  CHECK(x[1 * CHW + 0] == 0.0f && x[1 * CHW + 1] == 1.0f); /* image 0 holds the bytes 0 and 255 */

  /* evaluation (train = 0): normalisation only, exact, per channel; no draws */
  lb_augment a = {{0.25f, 0.5f, 0.75f, 0}, {0.5f, 0.25f, 0.125f, 1}, 2, 1};
  lb_batch_fill(&d, idx, 5, &a, 0, &r, x, y);
  ok = 1;
  for (int k = 0; k < 5; k++)
    for (int c = 0; c < C; c++)
      for (int q = 0; q < HW; q++) ok &= x[k * CHW + c * HW + q] == norm(&a, c, images[idx[k] * CHW + c * HW + q]);
  CHECK(ok);
  CHECK(x[1 * CHW + 1] == (1.0f - 0.25f) / 0.5f);
  CHECK(rng_equal(&r, &r0));
  /* training without rng: no augmentation rather than a crash */
  float x2[5 * CHW];
  lb_batch_fill(&d, idx, 5, &a, 1, NULL, x2, y);
  CHECK(memcmp(x, x2, sizeof x) == 0);
}

/* Training batches against the replayed reference, for crop+flip, crop only and flip only. */
static void test_augment(int pad, int hflip) {
  lb_dataset d = make_dataset();
  enum { B = 48 };
  int32_t idx[B], y[B];
  static float x[B * CHW], want[B * CHW], again[B * CHW];
  for (int k = 0; k < B; k++) idx[k] = (k * 5 + 3) % N;
  lb_augment a = {{0.25f, 0.5f, 0.75f, 0}, {0.5f, 0.25f, 0.125f, 1}, pad, hflip};
  lb_rng r, rr, r2;
  lb_rng_seed(&r, 2024 + (uint64_t)pad * 10 + (uint64_t)hflip);
  rr = r2 = r;
  lb_batch_fill(&d, idx, B, &a, 1, &r, x, y);

  int shifted = 0, flipped = 0, plain = 0, exact = 1, pad_ok = 1, pads_seen = 0, dys[9] = {0};
  for (int k = 0; k < B; k++) {
    int dy, dx, f;
    reference(&d, idx[k], &a, &rr, want + k * CHW, &dy, &dx, &f);
    if (memcmp(x + k * CHW, want + k * CHW, CHW * sizeof(float)) != 0) exact = 0;
    shifted += dy != 0 || dx != 0;
    flipped += f;
    plain += !f && !dy && !dx;
    if (pad > 0 && pad <= 4) dys[dy + pad]++;
    /* the shift, stated directly: out(i,j) = img(i+dy, j'+dx) (j' mirrored if flipped), else pad */
    for (int c = 0; c < C; c++)
      for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) {
          int si = i + dy, sj = (f ? W - 1 - j : j) + dx;
          float got = x[k * CHW + c * HW + i * W + j];
          if (si < 0 || si >= H || sj < 0 || sj >= W) {
            pad_ok &= got == norm(&a, c, 0) && got != 0.0f; /* pixel 0 normalised, not 0.0 */
            pads_seen++;
          } else {
            pad_ok &= got == norm(&a, c, images[idx[k] * CHW + c * HW + si * W + sj]);
          }
        }
    CHECK(y[k] == labels[idx[k]]);
  }
  CHECK_MSG(exact, "pad %d hflip %d: batch differs from the replayed reference", pad, hflip);
  CHECK_MSG(pad_ok, "pad %d hflip %d: a pixel is not the shifted/padded source", pad, hflip);
  CHECK(rng_equal(&r, &rr)); /* exactly the documented number of draws */
  if (pad > 0) {
    CHECK(shifted > B / 2 && pads_seen > 0);
    for (int v = 0; v <= 2 * pad && pad <= 4; v++) CHECK_MSG(dys[v] > 0, "row offset %d never drawn", v - pad);
  } else {
    CHECK(shifted == 0);
  }
  if (hflip)
    CHECK(flipped > B / 4 && flipped < 3 * B / 4);
  else
    CHECK(flipped == 0);
  if (hflip && !pad) CHECK(plain > 0); /* both outcomes of the flip occur */

  /* deterministic: same rng state, same bits; another state, another batch */
  lb_batch_fill(&d, idx, B, &a, 1, &r2, again, y);
  CHECK(memcmp(x, again, sizeof x) == 0);
  lb_rng_seed(&r2, 99);
  lb_batch_fill(&d, idx, B, &a, 1, &r2, again, y);
  CHECK(memcmp(x, again, sizeof x) != 0);
}

/* One image, pad 1, no flip: find a seed whose first draws are (row 0, column 2), i.e. the
 * window moved up by one and right by one, and check the picture by hand. */
static void test_known_shift(void) {
  uint8_t img[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  int32_t lab[1] = {0}, idx[1] = {0};
  lb_dataset d = {1, 1, 3, 3, 1, img, lab};
  lb_augment a = {{0, 0, 0, 0}, {1, 1, 1, 1}, 1, 0};
  uint64_t seed = 0;
  for (; seed < 1000; seed++) {
    lb_rng t;
    lb_rng_seed(&t, seed);
    if (lb_rng_below(&t, 3) == 0 && lb_rng_below(&t, 3) == 2) break;
  }
  CHECK(seed < 1000);
  lb_rng r;
  lb_rng_seed(&r, seed);
  float x[9];
  int32_t y[1];
  lb_batch_fill(&d, idx, 1, &a, 1, &r, x, y);
  /* out(i,j) = img(i-1, j+1): top row is padding, then rows (2,3,0) and (5,6,0) */
  const uint8_t want[9] = {0, 0, 0, 2, 3, 0, 5, 6, 0};
  int ok = 1;
  for (int q = 0; q < 9; q++) ok &= x[q] == (float)want[q] / 255.0f;
  CHECK(ok);
  /* and the same image flipped: mirror of that window */
  a.hflip = 1;
  for (seed = 0; seed < 1000; seed++) {
    lb_rng t;
    lb_rng_seed(&t, seed);
    if (lb_rng_below(&t, 3) == 0 && lb_rng_below(&t, 3) == 2 && lb_rng_below(&t, 2) == 1) break;
  }
  CHECK(seed < 1000);
  lb_rng_seed(&r, seed);
  lb_batch_fill(&d, idx, 1, &a, 1, &r, x, y);
  const uint8_t wantf[9] = {0, 0, 0, 0, 3, 2, 0, 6, 5};
  ok = 1;
  for (int q = 0; q < 9; q++) ok &= x[q] == (float)wantf[q] / 255.0f;
  CHECK(ok);
}

int main(void) {
  test_stats();
  test_shuffle();
  test_slice();
  test_plain_and_eval();
  test_augment(2, 1);
  test_augment(3, 0);
  test_augment(0, 1);
  test_known_shift();
  return lbt_finish("test_data_batch");
}
