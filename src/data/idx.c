/* IDX reader (the MNIST / Fashion-MNIST format): a big-endian header
 *   magic = 0x00 0x00 <type> <ndim>, then ndim u32 sizes, then the data in C order,
 * with type 0x08 = unsigned byte. Images are 0x00000803 (n,h,w), labels 0x00000801 (n).
 * Either file may be gzip-compressed. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "data/reader.h"
#include "lowbit/data.h"

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u
/* Sanity limit on a dataset's pixel bytes: a corrupt header must not make us try to allocate
 * terabytes, and lb_dataset indexes with int. */
#define IDX_MAX_BYTES ((uint64_t)INT_MAX)

static uint32_t be32(const unsigned char *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static const char *idx_type_name(unsigned t) {
  switch (t) {
  case 0x08: return "unsigned byte";
  case 0x09: return "signed byte";
  case 0x0B: return "int16";
  case 0x0C: return "int32";
  case 0x0D: return "float32";
  case 0x0E: return "float64";
  default: return NULL;
  }
}

/* Read and check the header of an IDX file of unsigned bytes with `ndim` dimensions.
 * `what` is "images" or "labels"; want_magic is the full expected magic (for messages). */
static lb_status idx_header(lbd_reader *r, unsigned ndim, uint32_t want_magic, const char *what, uint32_t *dims) {
  unsigned char hdr[4 + 4 * 3];
  size_t hlen = 4 + 4 * (size_t)ndim, got = 0;
  lb_status s = lbd_read(r, hdr, 4, &got);
  if (s != LB_OK) return s;
  if (got == 0) return lb_fail(LB_ERR_FORMAT, "%s: empty file (expected IDX %s)", r->path, what);
  if (got < 4)
    return lb_fail(LB_ERR_FORMAT, "%s: truncated header: expected %zu bytes, found %zu%s", r->path, hlen, got,
                   lbd_cut_note(r));
  uint32_t magic = be32(hdr);
  if (hdr[0] != 0 || hdr[1] != 0)
    return lb_fail(LB_ERR_FORMAT, "%s: bad magic 0x%08x: not an IDX file (IDX %s start with 0x%08x)", r->path,
                   (unsigned)magic, what, (unsigned)want_magic);
  if (hdr[2] != 0x08) {
    const char *tn = idx_type_name(hdr[2]);
    if (tn)
      return lb_fail(LB_ERR_UNSUPPORTED, "%s: IDX data type 0x%02x (%s) is not supported, only 0x08 (unsigned byte)",
                     r->path, (unsigned)hdr[2], tn);
    return lb_fail(LB_ERR_FORMAT, "%s: bad magic 0x%08x: unknown IDX data type 0x%02x", r->path, (unsigned)magic,
                   (unsigned)hdr[2]);
  }
  if (hdr[3] != ndim)
    return lb_fail(LB_ERR_FORMAT, "%s: magic 0x%08x gives %u dimension(s), IDX %s have %u (magic 0x%08x)%s", r->path,
                   (unsigned)magic, (unsigned)hdr[3], what, ndim, (unsigned)want_magic,
                   (ndim == 3 && hdr[3] == 1) ? "; is this a labels file?"
                   : (ndim == 1 && hdr[3] == 3) ? "; is this an images file?"
                                                : "");
  s = lbd_read(r, hdr + 4, 4 * (size_t)ndim, &got);
  if (s != LB_OK) return s;
  if (got < 4 * (size_t)ndim)
    return lb_fail(LB_ERR_FORMAT, "%s: truncated header: expected %zu bytes, found %zu%s", r->path, hlen, 4 + got,
                   lbd_cut_note(r));
  for (unsigned i = 0; i < ndim; i++) {
    dims[i] = be32(hdr + 4 + 4 * i);
    if (dims[i] == 0) return lb_fail(LB_ERR_FORMAT, "%s: dimension %u of the IDX %s is zero", r->path, i, what);
  }
  return LB_OK;
}

lb_status lb_idx_load(const char *images_path, const char *labels_path, lb_dataset *out) {
  if (!out) return lb_fail(LB_ERR_ARG, "lb_idx_load: out is NULL");
  memset(out, 0, sizeof *out);
  if (!images_path || !labels_path) return lb_fail(LB_ERR_ARG, "lb_idx_load: a path is NULL");

  lbd_reader ri, rl;
  memset(&rl, 0, sizeof rl);
  uint8_t *images = NULL, *lab8 = NULL;
  int32_t *labels = NULL;
  uint32_t di[3], dl[1];
  size_t got = 0;

  lb_status s = lbd_open(&ri, images_path);
  if (s != LB_OK) return s;
  s = idx_header(&ri, 3, IDX_IMAGES_MAGIC, "images", di);
  if (s != LB_OK) goto done;
  /* Each size is < 2^32, so h*w cannot overflow 64 bits, and once h*w <= 2^31 neither can n*h*w. */
  uint64_t hw = (uint64_t)di[1] * di[2];
  uint64_t bytes = hw <= IDX_MAX_BYTES ? (uint64_t)di[0] * hw : UINT64_MAX;
  if (bytes > IDX_MAX_BYTES) {
    s = lb_fail(LB_ERR_FORMAT, "%s: %u images of %ux%u exceed the 2 GiB limit; the header is probably corrupt",
                images_path, (unsigned)di[0], (unsigned)di[1], (unsigned)di[2]);
    goto done;
  }

  s = lbd_open(&rl, labels_path);
  if (s != LB_OK) goto done;
  s = idx_header(&rl, 1, IDX_LABELS_MAGIC, "labels", dl);
  if (s != LB_OK) goto done;
  /* Compare counts before reading any data: a mismatched pair fails fast. */
  if (dl[0] != di[0]) {
    s = lb_fail(LB_ERR_FORMAT, "%s has %u images but %s has %u labels", images_path, (unsigned)di[0], labels_path,
                (unsigned)dl[0]);
    goto done;
  }

  size_t n = di[0];
  images = malloc((size_t)bytes);
  labels = malloc(n * sizeof *labels);
  lab8 = malloc(n);
  if (!images || !labels || !lab8) {
    s = lb_fail(LB_ERR_NOMEM, "%s: cannot allocate %llu bytes for %zu images", images_path,
                (unsigned long long)bytes, n);
    goto done;
  }
  s = lbd_read(&ri, images, (size_t)bytes, &got);
  if (s != LB_OK) goto done;
  if (got < bytes) {
    s = lb_fail(LB_ERR_FORMAT, "%s: truncated: expected %llu bytes of pixel data, found %zu%s", images_path,
                (unsigned long long)bytes, got, lbd_cut_note(&ri));
    goto done;
  }
  s = lbd_expect_end(&ri, "pixel data");
  if (s != LB_OK) goto done;

  s = lbd_read(&rl, lab8, n, &got);
  if (s != LB_OK) goto done;
  if (got < n) {
    s = lb_fail(LB_ERR_FORMAT, "%s: truncated: expected %zu bytes of label data, found %zu%s", labels_path, n, got,
                lbd_cut_note(&rl));
    goto done;
  }
  s = lbd_expect_end(&rl, "label data");
  if (s != LB_OK) goto done;

  int maxl = 0;
  for (size_t i = 0; i < n; i++) {
    labels[i] = lab8[i];
    if (lab8[i] > maxl) maxl = lab8[i];
  }
  out->n = (int)n;
  out->c = 1;
  out->h = (int)di[1];
  out->w = (int)di[2];
  out->classes = maxl + 1;
  out->images = images;
  out->labels = labels;
  images = NULL;
  labels = NULL;

done:
  lbd_close(&ri);
  lbd_close(&rl);
  free(images);
  free(labels);
  free(lab8);
  return s;
}
