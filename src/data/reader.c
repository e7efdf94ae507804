/* Plain-or-gzip byte reader shared by the IDX and CIFAR loaders (see reader.h). */
#include "data/reader.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

lb_status lbd_open(lbd_reader *r, const char *path) {
  memset(r, 0, sizeof *r);
  r->path = path;
  FILE *f = fopen(path, "rb");
  if (!f) return lb_fail(LB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  unsigned char m[2] = {0, 0};
  size_t k = fread(m, 1, 2, f);
  if (k < 2 && ferror(f)) {
    int e = errno;
    fclose(f);
    return lb_fail(LB_ERR_IO, "%s: cannot read: %s", path, strerror(e));
  }
  if (k == 2 && m[0] == 0x1f && m[1] == 0x8b) {
    /* Hand the same open file (not the path again) to zlib, rewound to its first byte. */
    int fd = dup(fileno(f));
    int e = errno;
    fclose(f);
    if (fd < 0) return lb_fail(LB_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    if (lseek(fd, 0, SEEK_SET) != 0) {
      e = errno;
      close(fd);
      return lb_fail(LB_ERR_IO, "%s: cannot seek: %s", path, strerror(e));
    }
    r->gz = gzdopen(fd, "rb");
    if (!r->gz) {
      close(fd);
      return lb_fail(LB_ERR_NOMEM, "%s: cannot set up gzip decompression", path);
    }
    gzbuffer(r->gz, 1u << 17);
    return LB_OK;
  }
  rewind(f);
  r->f = f;
  return LB_OK;
}

static lb_status gz_failure(lbd_reader *r) {
  int err = Z_OK;
  const char *msg = gzerror(r->gz, &err);
  if (err == Z_ERRNO) return lb_fail(LB_ERR_IO, "%s: cannot read: %s", r->path, strerror(errno));
  if (err == Z_MEM_ERROR) return lb_fail(LB_ERR_NOMEM, "%s: out of memory in gzip decompression", r->path);
  /* zlib prefixes its message with the name it was given, "<fd:N>" for gzdopen: drop that. */
  if (msg && strncmp(msg, "<fd:", 4) == 0 && strstr(msg, ": ")) msg = strstr(msg, ": ") + 2;
  return lb_fail(LB_ERR_FORMAT, "%s: corrupt gzip data: %s", r->path, msg ? msg : "unknown error");
}

lb_status lbd_read(lbd_reader *r, void *buf, size_t n, size_t *got) {
  unsigned char *p = buf;
  *got = 0;
  if (r->f) {
    size_t k = fread(p, 1, n, r->f);
    *got = k;
    if (k < n && ferror(r->f)) return lb_fail(LB_ERR_IO, "%s: cannot read: %s", r->path, strerror(errno));
    return LB_OK;
  }
  while (*got < n) {
    size_t want = n - *got;
    if (want > (1u << 30)) want = 1u << 30; /* gzread counts in unsigned/int */
    int k = gzread(r->gz, p + *got, (unsigned)want);
    if (k < 0) return gz_failure(r);
    if (k == 0) break;
    *got += (size_t)k;
  }
  if (*got < n) {
    /* A short read is either a clean end of stream or a stream cut short (Z_BUF_ERROR);
     * anything else is corrupt data. */
    int err = Z_OK;
    gzerror(r->gz, &err);
    if (err == Z_BUF_ERROR)
      r->gz_cut = 1;
    else if (err != Z_OK)
      return gz_failure(r);
  }
  return LB_OK;
}

lb_status lbd_count_rest(lbd_reader *r, uint64_t *rest) {
  unsigned char scratch[1 << 14];
  *rest = 0;
  for (;;) {
    size_t got = 0;
    lb_status s = lbd_read(r, scratch, sizeof scratch, &got);
    if (s != LB_OK) return s;
    *rest += got;
    if (got < sizeof scratch) return LB_OK;
  }
}

lb_status lbd_size(lbd_reader *r, uint64_t *size) {
  if (r->f) {
    struct stat st;
    if (fstat(fileno(r->f), &st) == 0 && S_ISREG(st.st_mode)) {
      *size = (uint64_t)st.st_size;
      return LB_OK;
    }
  }
  /* gzip (or not a regular file): the only way to know is to decompress once and rewind. */
  lb_status s = lbd_count_rest(r, size);
  if (s != LB_OK) return s;
  if (r->gz_cut) return lb_fail(LB_ERR_FORMAT, "%s: truncated gzip stream (compressed file cut short)", r->path);
  if (r->f) {
    if (fseek(r->f, 0, SEEK_SET) != 0)
      return lb_fail(LB_ERR_IO, "%s: cannot seek: %s", r->path, strerror(errno));
  } else if (gzrewind(r->gz) != 0) {
    return gz_failure(r);
  }
  r->gz_cut = 0;
  return LB_OK;
}

lb_status lbd_expect_end(lbd_reader *r, const char *what) {
  uint64_t rest = 0;
  /* Reading on also makes zlib check the gzip trailer (CRC and length) of the last member. */
  lb_status s = lbd_count_rest(r, &rest);
  if (s != LB_OK) return s;
  if (rest)
    return lb_fail(LB_ERR_FORMAT, "%s: %llu byte(s) of trailing data after the %s (the file is longer than its header says)",
                   r->path, (unsigned long long)rest, what);
  if (r->gz_cut) return lb_fail(LB_ERR_FORMAT, "%s: truncated gzip stream (compressed file cut short)", r->path);
  return LB_OK;
}

const char *lbd_cut_note(const lbd_reader *r) { return r->gz_cut ? " (compressed stream cut short)" : ""; }

void lbd_close(lbd_reader *r) {
  if (r->f) fclose(r->f);
  if (r->gz) gzclose(r->gz);
  r->f = NULL;
  r->gz = NULL;
}
