/* Little helpers for on-disk formats: a growable byte buffer to write into and a bounds-checked
 * reader that latches the first overrun. Values are stored little-endian. */
#ifndef LOWBIT_BYTES_H
#define LOWBIT_BYTES_H

#include "lowbit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lb_buf {
  uint8_t *data;
  size_t len, cap;
  int oom; /* an append failed; the buffer is incomplete */
} lb_buf;

void lb_buf_put(lb_buf *b, const void *p, size_t n);
void lb_buf_u32(lb_buf *b, uint32_t v);
void lb_buf_i32(lb_buf *b, int32_t v);
void lb_buf_u64(lb_buf *b, uint64_t v);
void lb_buf_i64(lb_buf *b, int64_t v);
void lb_buf_f32(lb_buf *b, float v);
void lb_buf_f64(lb_buf *b, double v);
/* A fixed-width, NUL-padded string field (truncated to width-1 characters). */
void lb_buf_str(lb_buf *b, const char *s, size_t width);
void lb_buf_free(lb_buf *b);

typedef struct lb_reader {
  const uint8_t *p;
  size_t len, pos;
  int overrun; /* a read went past the end; every later read returns zeros */
} lb_reader;

void lb_reader_init(lb_reader *r, const void *p, size_t len);
int lb_get(lb_reader *r, void *out, size_t n); /* 1 on success */
uint32_t lb_get_u32(lb_reader *r);
int32_t lb_get_i32(lb_reader *r);
uint64_t lb_get_u64(lb_reader *r);
int64_t lb_get_i64(lb_reader *r);
float lb_get_f32(lb_reader *r);
double lb_get_f64(lb_reader *r);
/* Reads a fixed-width string field; fails (returns 0) if it is not NUL-terminated. */
int lb_get_str(lb_reader *r, char *out, size_t width);
size_t lb_reader_left(const lb_reader *r);

/* Write `len` bytes to path atomically: "<path>.tmp.<pid>", fsync, rename. */
lb_status lb_write_file_atomic(const char *path, const void *data, size_t len);
/* Read a whole file (malloc'ed). Clear errors naming the path. */
lb_status lb_read_file(const char *path, uint8_t **data, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
