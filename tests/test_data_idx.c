/* data: IDX reader and the Fashion-MNIST directory loader.
 * Small IDX pairs with known content are written to a fresh temp dir (plain and gzip), read back,
 * then corrupted in every way the reader must catch; each failure must have the right status, a
 * message naming the file, and leave `out` zeroed. The real Fashion-MNIST (Debian's
 * dataset-fashion-mnist) is checked against bytes read directly from its files; that part skips
 * visibly when the data is absent. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "lowbit/data.h"
#include "testutil.h"

static const char *tmpdir;

static unsigned char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char *b = malloc(1 << 16);
  *len = b ? fread(b, 1, 1 << 16, f) : 0;
  fclose(f);
  return b;
}

static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

/* IDX images file: magic, n, h, w, then n*h*w bytes with pixel k = (k*37 + seed) & 255. */
static size_t make_images(unsigned char *buf, uint32_t magic, uint32_t n, uint32_t h, uint32_t w, int seed) {
  put_be32(buf, magic);
  put_be32(buf + 4, n);
  put_be32(buf + 8, h);
  put_be32(buf + 12, w);
  size_t m = (size_t)n * h * w;
  for (size_t k = 0; k < m; k++) buf[16 + k] = (unsigned char)((k * 37 + (size_t)seed) & 255);
  return 16 + m;
}

static size_t make_labels(unsigned char *buf, uint32_t magic, uint32_t n, const unsigned char *lab) {
  put_be32(buf, magic);
  put_be32(buf + 4, n);
  memcpy(buf + 8, lab, n);
  return 8 + n;
}

/* Load, expect status `want`, a message naming `who` and containing `what`, and a zeroed out. */
static void expect_fail(const char *img, const char *lbl, lb_status want, const char *who, const char *what,
                        int line) {
  lb_dataset d;
  memset(&d, 0xAB, sizeof d);
  lbt_check_load_failure(lb_idx_load(img, lbl, &d), &d, want, who, what, line);
}
#define EXPECT_FAIL(img, lbl, st, who, what) expect_fail(img, lbl, st, who, what, __LINE__)

static void check_small(const lb_dataset *d, const unsigned char *img, const unsigned char *lab, int n, int h,
                        int w, int classes) {
  CHECK(d->n == n && d->c == 1 && d->h == h && d->w == w);
  CHECK_MSG(d->classes == classes, "classes %d, want %d", d->classes, classes);
  CHECK(d->images && memcmp(d->images, img + 16, (size_t)n * h * w) == 0);
  int same = d->labels != NULL;
  for (int i = 0; same && i < n; i++) same = d->labels[i] == lab[i];
  CHECK(same);
}

static void synthetic(void) {
  static unsigned char img[4096], lbl[256], bad[4096];
  const unsigned char lab[5] = {3, 0, 7, 1, 2};
  size_t ni = make_images(img, 0x00000803, 5, 3, 4, 11);
  size_t nl = make_labels(lbl, 0x00000801, 5, lab);
  const char *pi = lbt_tmp_path("img"), *pl = lbt_tmp_path("lbl");
  lbt_write_file(pi, img, ni);
  lbt_write_file(pl, lbl, nl);

  lb_dataset d;
  CHECK_OK(lb_idx_load(pi, pl, &d));
  check_small(&d, img, lab, 5, 3, 4, 8);
  lb_dataset_free(&d);
  CHECK(lbt_dataset_zeroed(&d));
  lb_dataset_free(&d); /* freeing twice is harmless */

  /* gzip is recognised by magic, not name: gzip data without ".gz", plain data with ".gz" */
  const char *gi = lbt_tmp_path("img_gzip_noext"), *gl = lbt_tmp_path("lbl_plain.gz"), *gl2 = lbt_tmp_path("lbl.gz");
  lbt_write_gz(gi, img, ni);
  lbt_write_file(gl, lbl, nl);
  lbt_write_gz(gl2, lbl, nl);
  CHECK_OK(lb_idx_load(gi, gl, &d));
  check_small(&d, img, lab, 5, 3, 4, 8);
  lb_dataset_free(&d);
  CHECK_OK(lb_idx_load(gi, gl2, &d));
  check_small(&d, img, lab, 5, 3, 4, 8);
  lb_dataset_free(&d);
  /* the gzip file really is compressed (the test above is not reading plain bytes by accident) */
  size_t glen = 0;
  unsigned char *graw = read_all(gi, &glen);
  CHECK(graw && glen >= 2 && graw[0] == 0x1f && graw[1] == 0x8b);

  /* missing files: IO error with the path and the system's reason */
  const char *none = lbt_tmp_path("does_not_exist");
  EXPECT_FAIL(none, pl, LB_ERR_IO, none, strerror(ENOENT));
  EXPECT_FAIL(pi, none, LB_ERR_IO, none, strerror(ENOENT));
  EXPECT_FAIL(NULL, pl, LB_ERR_ARG, "lb_idx_load", "NULL");
  CHECK_STATUS(lb_idx_load(pi, pl, NULL), LB_ERR_ARG);

  const char *pb = lbt_tmp_path("bad");
  /* empty file */
  lbt_write_file(pb, img, 0);
  EXPECT_FAIL(pb, pl, LB_ERR_FORMAT, pb, "empty file");
  EXPECT_FAIL(pi, pb, LB_ERR_FORMAT, pb, "empty file");
  /* truncated header, inside the magic and inside the dims */
  lbt_write_file(pb, img, 2);
  EXPECT_FAIL(pb, pl, LB_ERR_FORMAT, pb, "truncated header: expected 16 bytes, found 2");
  lbt_write_file(pb, img, 10);
  EXPECT_FAIL(pb, pl, LB_ERR_FORMAT, pb, "truncated header: expected 16 bytes, found 10");
  lbt_write_file(pb, lbl, 6);
  EXPECT_FAIL(pi, pb, LB_ERR_FORMAT, pb, "truncated header: expected 8 bytes, found 6");
  /* truncated data, plain and gzip-compressed */
  lbt_write_file(pb, img, ni - 1);
  EXPECT_FAIL(pb, pl, LB_ERR_FORMAT, pb, "truncated: expected 60 bytes of pixel data, found 59");
  lbt_write_file(pb, img, 16);
  EXPECT_FAIL(pb, pl, LB_ERR_FORMAT, pb, "truncated: expected 60 bytes of pixel data, found 0");
  lbt_write_gz(pb, img, ni - 7);
  EXPECT_FAIL(pb, pl, LB_ERR_FORMAT, pb, "truncated: expected 60 bytes of pixel data, found 53");
  lbt_write_file(pb, lbl, nl - 1);
  EXPECT_FAIL(pi, pb, LB_ERR_FORMAT, pb, "truncated: expected 5 bytes of label data, found 4");
  /* a gzip file cut short (the compressed bytes, not the content), and one with a broken CRC */
  if (graw) {
    lbt_write_file(pb, graw, glen / 2);
    EXPECT_FAIL(pb, pl, LB_ERR_FORMAT, pb, "truncated");
    lbt_write_file(pb, graw, glen - 4); /* only the length field of the trailer is missing */
    EXPECT_FAIL(pb, pl, LB_ERR_FORMAT, pb, "gzip");
    memcpy(bad, graw, glen);
    bad[glen - 8] ^= 0x5A; /* CRC32 of the trailer */
    lbt_write_file(pb, bad, glen);
    EXPECT_FAIL(pb, pl, LB_ERR_FORMAT, pb, "corrupt gzip data: incorrect data check");
  }
  free(graw);

  /* wrong magic: garbage, a labels file given as images and the reverse, bad dtype */
  memcpy(bad, img, ni);
  put_be32(bad, 0x12345678);
  lbt_write_file(pb, bad, ni);
  EXPECT_FAIL(pb, pl, LB_ERR_FORMAT, pb, "bad magic 0x12345678");
  EXPECT_FAIL(pl, pi, LB_ERR_FORMAT, pl, "is this a labels file?");
  EXPECT_FAIL(pi, pi, LB_ERR_FORMAT, pi, "is this an images file?");
  put_be32(bad, 0x00000D03);
  lbt_write_file(pb, bad, ni);
  EXPECT_FAIL(pb, pl, LB_ERR_UNSUPPORTED, pb, "float32");
  put_be32(bad, 0x00000703);
  lbt_write_file(pb, bad, ni);
  EXPECT_FAIL(pb, pl, LB_ERR_FORMAT, pb, "unknown IDX data type 0x07");
  put_be32(bad, 0x00000804);
  lbt_write_file(pb, bad, ni);
  EXPECT_FAIL(pb, pl, LB_ERR_FORMAT, pb, "4 dimension(s)");

  /* zero and absurd sizes: rejected from the header, before any allocation */
  size_t nb = make_images(bad, 0x00000803, 5, 0, 4, 11);
  lbt_write_file(pb, bad, nb);
  EXPECT_FAIL(pb, pl, LB_ERR_FORMAT, pb, "dimension 1 of the IDX images is zero");
  make_images(bad, 0x00000803, 1, 1, 1, 0);
  put_be32(bad + 4, 0);
  lbt_write_file(pb, bad, 17);
  EXPECT_FAIL(pb, pl, LB_ERR_FORMAT, pb, "dimension 0 of the IDX images is zero");
  put_be32(bad + 4, 0xFFFFFFFFu);
  put_be32(bad + 8, 0xFFFFFFFFu);
  put_be32(bad + 12, 0xFFFFFFFFu);
  lbt_write_file(pb, bad, 16);
  EXPECT_FAIL(pb, pl, LB_ERR_FORMAT, pb, "exceed the 2 GiB limit");
  put_be32(bad + 4, 40000);
  put_be32(bad + 8, 256);
  put_be32(bad + 12, 256); /* 2.6 GB: each size plausible, the product is not */
  lbt_write_file(pb, bad, 16);
  EXPECT_FAIL(pb, pl, LB_ERR_FORMAT, pb, "exceed the 2 GiB limit");
  make_labels(bad, 0x00000801, 0, lab);
  lbt_write_file(pb, bad, 8);
  EXPECT_FAIL(pi, pb, LB_ERR_FORMAT, pb, "zero");

  /* trailing bytes after the data */
  memcpy(bad, img, ni);
  memset(bad + ni, 0, 3);
  lbt_write_file(pb, bad, ni + 3);
  EXPECT_FAIL(pb, pl, LB_ERR_FORMAT, pb, "3 byte(s) of trailing data after the pixel data");
  lbt_write_gz(pb, bad, ni + 3);
  EXPECT_FAIL(pb, pl, LB_ERR_FORMAT, pb, "3 byte(s) of trailing data after the pixel data");
  memcpy(bad, lbl, nl);
  bad[nl] = 9;
  lbt_write_file(pb, bad, nl + 1);
  EXPECT_FAIL(pi, pb, LB_ERR_FORMAT, pb, "1 byte(s) of trailing data after the label data");

  /* image/label count mismatch: both files named, detected from the headers */
  nb = make_labels(bad, 0x00000801, 4, lab);
  lbt_write_file(pb, bad, nb);
  EXPECT_FAIL(pi, pb, LB_ERR_FORMAT, pi, "has 5 images but");
  EXPECT_FAIL(pi, pb, LB_ERR_FORMAT, pb, "has 4 labels");
  nb = make_images(bad, 0x00000803, 6, 3, 4, 1);
  lbt_write_file(pb, bad, nb);
  EXPECT_FAIL(pb, pl, LB_ERR_FORMAT, pl, "has 6 images but");

  /* classes = 1 + largest label, whatever the order; all-zero labels give 1 class */
  const unsigned char lab2[5] = {0, 0, 0, 0, 0}, lab3[5] = {255, 4, 0, 0, 1};
  nb = make_labels(bad, 0x00000801, 5, lab2);
  lbt_write_file(pb, bad, nb);
  CHECK_OK(lb_idx_load(pi, pb, &d));
  CHECK(d.classes == 1);
  lb_dataset_free(&d);
  nb = make_labels(bad, 0x00000801, 5, lab3);
  lbt_write_file(pb, bad, nb);
  CHECK_OK(lb_idx_load(pi, pb, &d));
  CHECK(d.classes == 256 && d.labels && d.labels[0] == 255 && d.labels[4] == 1);
  lb_dataset_free(&d);

  /* a directory instead of a file */
  EXPECT_FAIL(tmpdir, pl, LB_ERR_IO, tmpdir, "");
}

/* The directory loader: plain names first, then ".gz"; here mixed on purpose. */
static void fashion_dir(void) {
  static unsigned char img[4096], lbl[256];
  const unsigned char labtr[4] = {9, 0, 0, 3}, labte[2] = {1, 5};
  const char *sub = lbt_tmp_path("fm");
  CHECK(mkdir(sub, 0700) == 0);
  lb_dataset d;
  CHECK_STATUS(lb_fashion_mnist_load(sub, 1, &d), LB_ERR_IO);
  CHECK_MSG(strstr(lb_last_error(), "fm/train-images-idx3-ubyte") != NULL, "%s", lb_last_error());
  CHECK(lbt_dataset_zeroed(&d));

  size_t ni = make_images(img, 0x00000803, 4, 2, 3, 5);
  lbt_write_file(lbt_tmp_path("fm/train-images-idx3-ubyte"), img, ni);
  CHECK_STATUS(lb_fashion_mnist_load(sub, 1, &d), LB_ERR_IO);
  CHECK_MSG(strstr(lb_last_error(), "fm/train-labels-idx1-ubyte") != NULL, "%s", lb_last_error());
  size_t nl = make_labels(lbl, 0x00000801, 4, labtr);
  lbt_write_gz(lbt_tmp_path("fm/train-labels-idx1-ubyte.gz"), lbl, nl);
  CHECK_OK(lb_fashion_mnist_load(sub, 1, &d));
  check_small(&d, img, labtr, 4, 2, 3, 10);
  lb_dataset_free(&d);

  ni = make_images(img, 0x00000803, 2, 3, 3, 99);
  lbt_write_gz(lbt_tmp_path("fm/t10k-images-idx3-ubyte.gz"), img, ni);
  nl = make_labels(lbl, 0x00000801, 2, labte);
  lbt_write_file(lbt_tmp_path("fm/t10k-labels-idx1-ubyte"), lbl, nl);
  CHECK_OK(lb_fashion_mnist_load(sub, 0, &d));
  check_small(&d, img, labte, 2, 3, 3, 6);
  lb_dataset_free(&d);

  CHECK(lbt_tmp_remove(sub) == 0);
}

/* Read `len` bytes at `off` of a (possibly gzip) file with zlib directly, independent of lowbit. */
static int read_raw(const char *path, long off, unsigned char *buf, unsigned len) {
  gzFile g = gzopen(path, "rb");
  if (!g) return 0;
  int ok = gzseek(g, off, SEEK_SET) == off && gzread(g, buf, len) == (int)len;
  gzclose(g);
  return ok;
}

static const char *fm_file(const char *name) {
  static char buf[2][600];
  static int k;
  char *p = buf[k++ % 2];
  snprintf(p, 600, "%s/%s", LB_FASHION_MNIST_DIR, name);
  if (lbt_file_exists(p)) return p;
  snprintf(p, 600, "%s/%s.gz", LB_FASHION_MNIST_DIR, name);
  return lbt_file_exists(p) ? p : NULL;
}

static void real_fashion(int train) {
  const char *pre = train ? "train" : "t10k";
  char name[64];
  snprintf(name, sizeof name, "%s-labels-idx1-ubyte", pre);
  const char *lp = fm_file(name);
  snprintf(name, sizeof name, "%s-images-idx3-ubyte", pre);
  const char *ip = fm_file(name);
  CHECK(lp && ip);
  if (!lp || !ip) return;
  int n = train ? 60000 : 10000;
  unsigned char *lab = malloc(8 + (size_t)n), img[16 + 784];
  CHECK(lab && read_raw(lp, 0, lab, 8 + (unsigned)n));
  CHECK(read_raw(ip, 0, img, sizeof img));
  CHECK(lab[0] == 0 && lab[1] == 0 && lab[2] == 8 && lab[3] == 1); /* the raw file is what we think */

  lb_dataset d;
  CHECK_OK(lb_fashion_mnist_load(NULL, train, &d));
  CHECK(d.n == n && d.c == 1 && d.h == 28 && d.w == 28 && d.classes == 10);
  if (d.n == n) {
    CHECK_MSG(d.labels[0] == lab[8], "first %s label %d, file says %d", pre, d.labels[0], lab[8]);
    int same = 1, per[10] = {0};
    for (int i = 0; i < n; i++) {
      same &= d.labels[i] == lab[8 + i];
      if (d.labels[i] >= 0 && d.labels[i] < 10) per[d.labels[i]]++;
    }
    CHECK(same);
    for (int k = 0; k < 10; k++) CHECK_MSG(per[k] == n / 10, "class %d has %d images", k, per[k]); /* balanced */
    CHECK(memcmp(d.images, img + 16, 784) == 0);
  }
  lb_dataset_free(&d);
  free(lab);
}

int main(void) {
  if (!(tmpdir = lbt_tmp_init("lbt_idx_"))) return 1;
  synthetic();
  fashion_dir();
  CHECK(lbt_tmp_cleanup() == 0);

  if (!fm_file("train-images-idx3-ubyte")) {
    if (lbt_failures) return lbt_finish("test_data_idx");
    printf("test_data_idx: synthetic part: %d checks passed\n", lbt_checks);
    return lbt_skip("test_data_idx", "Fashion-MNIST not found in " LB_FASHION_MNIST_DIR
                                     " (install dataset-fashion-mnist)");
  }
  real_fashion(1);
  real_fashion(0);
  return lbt_finish("test_data_idx");
}
