/* data: CIFAR binary reader. Small files of known records (plain and gzip) are written to a temp
 * dir, read back alone and concatenated, then broken in each way the reader must catch. The real
 * CIFAR-10 files in shared/data/cifar10 (beside the source tree) are checked against their own bytes and the
 * well-known per-channel statistics of the training set; that part skips visibly when absent. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/data.h"
#include "testutil.h"

#define REC 3073
#define PIX 3072
static char cifar_dir[4096];

/* <cifar_dir>/<name> in a rotating static buffer (a few live at once). */
static const char *cifar_path(const char *name) {
  static char buf[6][4200];
  static int k;
  char *p = buf[k++ % 6];
  snprintf(p, sizeof buf[0], "%s/%s", cifar_dir, name);
  return p;
}

/* n records; record r has label lab[r] and pixel k = (7k + 13(r + tag)) & 255. */
static size_t make_records(unsigned char *buf, int n, const unsigned char *lab, int tag) {
  for (int r = 0; r < n; r++) {
    buf[(size_t)r * REC] = lab[r];
    for (int k = 0; k < PIX; k++) buf[(size_t)r * REC + 1 + k] = (unsigned char)((7 * k + 13 * (r + tag)) & 255);
  }
  return (size_t)n * REC;
}

/* Image i of d equals record r of buf. */
static int same_record(const lb_dataset *d, int i, const unsigned char *buf, int r) {
  return d->labels[i] == buf[(size_t)r * REC] && memcmp(d->images + (size_t)i * PIX, buf + (size_t)r * REC + 1, PIX) == 0;
}

static void expect_fail(const char *const *paths, int n, lb_status want, const char *who, const char *what, int line) {
  lb_dataset d;
  memset(&d, 0xAB, sizeof d);
  lbt_check_load_failure(lb_cifar_load(paths, n, &d), &d, want, who, what, line);
}
#define EXPECT_FAIL(paths, n, st, who, what) expect_fail(paths, n, st, who, what, __LINE__)

static void synthetic(void) {
  static unsigned char a[3 * REC], b[2 * REC], bad[4 * REC];
  const unsigned char la[3] = {4, 9, 0}, lb[2] = {2, 7};
  size_t na = make_records(a, 3, la, 0), nb = make_records(b, 2, lb, 5);
  const char *pa = lbt_tmp_path("a.bin"), *pb = lbt_tmp_path("b.bin"), *pbz = lbt_tmp_path("b_gz.bin");
  lbt_write_file(pa, a, na);
  lbt_write_file(pb, b, nb);
  lbt_write_gz(pbz, b, nb);

  lb_dataset d;
  const char *one[1] = {pa};
  CHECK_OK(lb_cifar_load(one, 1, &d));
  CHECK(d.n == 3 && d.c == 3 && d.h == 32 && d.w == 32 && d.classes == 10);
  if (d.n == 3) CHECK(same_record(&d, 0, a, 0) && same_record(&d, 1, a, 1) && same_record(&d, 2, a, 2));
  lb_dataset_free(&d);

  /* concatenation keeps file order; a gzip file (detected by magic) reads the same */
  const char *ab[2] = {pa, pb}, *ba[2] = {pbz, pa};
  CHECK_OK(lb_cifar_load(ab, 2, &d));
  CHECK(d.n == 5 && d.classes == 10);
  if (d.n == 5) CHECK(same_record(&d, 2, a, 2) && same_record(&d, 3, b, 0) && same_record(&d, 4, b, 1));
  lb_dataset_free(&d);
  CHECK_OK(lb_cifar_load(ba, 2, &d));
  CHECK(d.n == 5);
  if (d.n == 5) CHECK(same_record(&d, 0, b, 0) && same_record(&d, 1, b, 1) && same_record(&d, 2, a, 0));
  lb_dataset_free(&d);

  /* classes = 1 + largest label: 8 from {2,7}; labels up to 99 are accepted (CIFAR-100 range) */
  const char *bonly[1] = {pb};
  CHECK_OK(lb_cifar_load(bonly, 1, &d));
  CHECK(d.classes == 8);
  lb_dataset_free(&d);
  const unsigned char l99[2] = {99, 3}, l100[3] = {1, 100, 2};
  const char *pbad = lbt_tmp_path("bad.bin"), *bad1[1] = {pbad};
  lbt_write_file(pbad, bad, make_records(bad, 2, l99, 1));
  CHECK_OK(lb_cifar_load(bad1, 1, &d));
  CHECK(d.classes == 100 && d.labels[0] == 99);
  lb_dataset_free(&d);

  /* arguments */
  EXPECT_FAIL(ab, 0, LB_ERR_ARG, "lb_cifar_load", "n_paths = 0");
  EXPECT_FAIL(NULL, 1, LB_ERR_ARG, "lb_cifar_load", "paths is NULL");
  const char *withnull[2] = {pa, NULL};
  EXPECT_FAIL(withnull, 2, LB_ERR_ARG, "lb_cifar_load", "path 1 is NULL");
  CHECK_STATUS(lb_cifar_load(ab, 2, NULL), LB_ERR_ARG);

  /* a label that is no CIFAR label */
  lbt_write_file(pbad, bad, make_records(bad, 3, l100, 0));
  EXPECT_FAIL(bad1, 1, LB_ERR_FORMAT, pbad, "record 1 has label 100");
  /* missing file, also after a good one (nothing of the first must survive) */
  const char *pnone = lbt_tmp_path("missing.bin"), *none2[2] = {pa, pnone};
  EXPECT_FAIL(none2, 2, LB_ERR_IO, pnone, strerror(ENOENT));
  /* empty file */
  lbt_write_file(pbad, bad, 0);
  EXPECT_FAIL(bad1, 1, LB_ERR_FORMAT, pbad, "empty file");
  /* not a whole number of records: truncated last record, extra bytes, plain and gzip */
  memcpy(bad, a, na);
  lbt_write_file(pbad, bad, 2 * REC + 5);
  EXPECT_FAIL(bad1, 1, LB_ERR_FORMAT, pbad, "size 6151 bytes is not a whole number of 3073-byte CIFAR records");
  lbt_write_file(pbad, bad, REC - 1);
  EXPECT_FAIL(bad1, 1, LB_ERR_FORMAT, pbad, "size 3072 bytes");
  memset(bad + na, 0, 2);
  lbt_write_file(pbad, bad, na + 2);
  const char *good_then_bad[2] = {pb, pbad};
  EXPECT_FAIL(good_then_bad, 2, LB_ERR_FORMAT, pbad, "size 9221 bytes");
  lbt_write_gz(pbad, bad, na + 2);
  EXPECT_FAIL(bad1, 1, LB_ERR_FORMAT, pbad, "size 9221 bytes");
  /* a gzip file whose compressed bytes were cut short */
  {
    static unsigned char gzbuf[4 * REC];
    lbt_write_gz(pbad, a, na);
    FILE *f = fopen(pbad, "rb");
    size_t glen = f ? fread(gzbuf, 1, sizeof gzbuf, f) : 0;
    if (f) fclose(f);
    CHECK(glen > 20 && gzbuf[0] == 0x1f && gzbuf[1] == 0x8b);
    lbt_write_file(pbad, gzbuf, glen - 3);
    EXPECT_FAIL(bad1, 1, LB_ERR_FORMAT, pbad, "truncated gzip stream");
  }
}

/* Read `len` bytes at offset `off` of path with stdio (independent of lowbit). */
static int read_raw(const char *path, long off, unsigned char *buf, size_t len) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  int ok = fseek(f, off, SEEK_SET) == 0 && fread(buf, 1, len, f) == len;
  fclose(f);
  return ok;
}

static void real(void) {
  const char *test = cifar_path("test_batch_first1000.bin");
  static unsigned char raw[1000 * REC];
  CHECK(read_raw(test, 0, raw, sizeof raw));
  lb_dataset d;
  const char *t1[1] = {test};
  CHECK_OK(lb_cifar_load(t1, 1, &d));
  CHECK(d.n == 1000 && d.c == 3 && d.h == 32 && d.w == 32 && d.classes == 10);
  if (d.n == 1000) {
    int same = 1;
    for (int i = 0; i < 1000; i++) same &= same_record(&d, i, raw, i);
    CHECK(same);
  }
  lb_dataset_free(&d);

  /* the five training batches: 50000 images, 5000 per class, and the per-channel mean/std that
   * every CIFAR-10 recipe uses (0.4914, 0.4822, 0.4465) / (0.2470, 0.2435, 0.2616) */
  const char *train[5] = {cifar_path("data_batch_1.bin"), cifar_path("data_batch_2.bin"), cifar_path("data_batch_3.bin"),
                          cifar_path("data_batch_4.bin"), cifar_path("data_batch_5.bin")};
  for (int i = 0; i < 5; i++) CHECK_MSG(lbt_file_exists(train[i]), "%s missing", train[i]);
  CHECK_OK(lb_cifar_load(train, 5, &d));
  CHECK(d.n == 50000 && d.classes == 10);
  if (d.n == 50000) {
    int per[10] = {0};
    for (int i = 0; i < d.n; i++)
      if (d.labels[i] >= 0 && d.labels[i] < 10) per[d.labels[i]]++;
    for (int k = 0; k < 10; k++) CHECK_MSG(per[k] == 5000, "class %d: %d images", k, per[k]);
    /* record 0 of batch 3 is image 20000 */
    CHECK(read_raw(train[2], 0, raw, REC) && same_record(&d, 20000, raw, 0));
    float mean[3], std[3];
    lb_dataset_channel_stats(&d, mean, std);
    const double want_m[3] = {0.4914, 0.4822, 0.4465}, want_s[3] = {0.2470, 0.2435, 0.2616};
    for (int c = 0; c < 3; c++) {
      CHECK_NEAR(mean[c], want_m[c], 1e-4);
      CHECK_NEAR(std[c], want_s[c], 1e-4);
    }
  }
  lb_dataset_free(&d);
}

int main(void) {
  if (!lbt_tmp_init("lbt_cifar_")) return 1;
  synthetic();
  CHECK(lbt_tmp_cleanup() == 0);
  snprintf(cifar_dir, sizeof cifar_dir, "%s/data/cifar10", lbt_shared_dir());
  if (!lbt_file_exists(cifar_path("test_batch_first1000.bin"))) {
    if (lbt_failures) return lbt_finish("test_data_cifar");
    printf("test_data_cifar: synthetic part: %d checks passed\n", lbt_checks);
    char why[4300];
    snprintf(why, sizeof why, "CIFAR-10 binaries not found in %s", cifar_dir);
    return lbt_skip("test_data_cifar", why);
  }
  real();
  return lbt_finish("test_data_cifar");
}
