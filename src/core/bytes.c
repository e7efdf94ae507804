/* Byte buffers, bounds-checked readers and atomic file writes for the on-disk formats. */
#include "lowbit/bytes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void lb_buf_put(lb_buf *b, const void *p, size_t n) {
  if (b->oom) return;
  if (b->len + n > b->cap) {
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < b->len + n) ncap *= 2;
    uint8_t *nd = realloc(b->data, ncap);
    if (!nd) {
      b->oom = 1;
      return;
    }
    b->data = nd;
    b->cap = ncap;
  }
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
}

void lb_buf_u32(lb_buf *b, uint32_t v) { lb_buf_put(b, &v, 4); }
void lb_buf_i32(lb_buf *b, int32_t v) { lb_buf_put(b, &v, 4); }
void lb_buf_u64(lb_buf *b, uint64_t v) { lb_buf_put(b, &v, 8); }
void lb_buf_i64(lb_buf *b, int64_t v) { lb_buf_put(b, &v, 8); }
void lb_buf_f32(lb_buf *b, float v) { lb_buf_put(b, &v, 4); }
void lb_buf_f64(lb_buf *b, double v) { lb_buf_put(b, &v, 8); }

void lb_buf_str(lb_buf *b, const char *s, size_t width) {
  char tmp[256] = {0};
  if (width > sizeof tmp) width = sizeof tmp;
  size_t n = strlen(s);
  if (n > width - 1) n = width - 1;
  memcpy(tmp, s, n);
  lb_buf_put(b, tmp, width);
}

void lb_buf_free(lb_buf *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

void lb_reader_init(lb_reader *r, const void *p, size_t len) {
  r->p = p;
  r->len = len;
  r->pos = 0;
  r->overrun = 0;
}

int lb_get(lb_reader *r, void *out, size_t n) {
  if (r->overrun || n > r->len - r->pos) {
    r->overrun = 1;
    memset(out, 0, n);
    return 0;
  }
  memcpy(out, r->p + r->pos, n);
  r->pos += n;
  return 1;
}

#define GETTER(name, type)          \
  type name(lb_reader *r) {         \
    type v;                         \
    lb_get(r, &v, sizeof v);        \
    return v;                       \
  }
GETTER(lb_get_u32, uint32_t)
GETTER(lb_get_i32, int32_t)
GETTER(lb_get_u64, uint64_t)
GETTER(lb_get_i64, int64_t)
GETTER(lb_get_f32, float)
GETTER(lb_get_f64, double)

int lb_get_str(lb_reader *r, char *out, size_t width) {
  if (!lb_get(r, out, width)) return 0;
  if (memchr(out, 0, width) == NULL) {
    out[width - 1] = '\0';
    return 0;
  }
  return 1;
}

size_t lb_reader_left(const lb_reader *r) { return r->overrun ? 0 : r->len - r->pos; }

lb_status lb_write_file_atomic(const char *path, const void *data, size_t len) {
  char tmp[4096];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
    return lb_fail(LB_ERR_ARG, "%s: path too long", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) return lb_fail(LB_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
  int ok = fwrite(data, 1, len, f) == len;
  ok = (fflush(f) == 0) && ok;
  ok = (fsync(fileno(f)) == 0) && ok;
  int err = errno;
  ok = (fclose(f) == 0) && ok;
  if (!ok) {
    remove(tmp);
    return lb_fail(LB_ERR_IO, "%s: write failed: %s", path, strerror(err));
  }
  if (rename(tmp, path) != 0) {
    err = errno;
    remove(tmp);
    return lb_fail(LB_ERR_IO, "%s: cannot rename into place: %s", path, strerror(err));
  }
  return LB_OK;
}

lb_status lb_read_file(const char *path, uint8_t **data, size_t *len) {
  *data = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return lb_fail(LB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  if (fseek(f, 0, SEEK_END) != 0) {
    fclose(f);
    return lb_fail(LB_ERR_IO, "%s: cannot seek (not a regular file?)", path);
  }
  long size = ftell(f);
  if (size < 0) {
    fclose(f);
    return lb_fail(LB_ERR_IO, "%s: cannot tell size", path);
  }
  rewind(f);
  uint8_t *buf = malloc(size ? (size_t)size : 1);
  if (!buf) {
    fclose(f);
    return lb_fail(LB_ERR_NOMEM, "%s: cannot allocate %ld bytes", path, size);
  }
  if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
    free(buf);
    fclose(f);
    return lb_fail(LB_ERR_IO, "%s: read failed", path);
  }
  fclose(f);
  *data = buf;
  *len = (size_t)size;
  return LB_OK;
}
