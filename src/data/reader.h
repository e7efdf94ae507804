/* Internal to src/data: a byte reader over a plain or gzip-compressed file.
 * gzip is recognised by its magic bytes (1f 8b), never by the file name, so "x.gz" holding plain
 * bytes and "x" holding gzip data both read correctly. Every error is recorded with lb_fail and
 * names the file. */
#ifndef LB_DATA_READER_H
#define LB_DATA_READER_H

#include <stdio.h>
#include <zlib.h>

#include "lowbit/core.h"

typedef struct lbd_reader {
  const char *path; /* borrowed, for messages */
  FILE *f;          /* plain file, or NULL */
  gzFile gz;        /* gzip file, or NULL */
  int gz_cut;       /* set when a gzip stream ended before its trailer (file cut short) */
} lbd_reader;

/* Open path; LB_ERR_IO naming the path and strerror if it cannot be opened. */
lb_status lbd_open(lbd_reader *r, const char *path);
/* Read up to n bytes into buf; *got is what was read (less than n only at end of file).
 * LB_ERR_IO on a read error, LB_ERR_FORMAT on corrupt gzip data. */
lb_status lbd_read(lbd_reader *r, void *buf, size_t n, size_t *got);
/* Read to the end and count the remaining (uncompressed) bytes. */
lb_status lbd_count_rest(lbd_reader *r, uint64_t *rest);
/* Total uncompressed size of the file, leaving the reader at the start again. */
lb_status lbd_size(lbd_reader *r, uint64_t *size);
/* Fail with LB_ERR_FORMAT if anything follows the current position ("what" names the data
 * that should have been last, e.g. "pixel data"). */
lb_status lbd_expect_end(lbd_reader *r, const char *what);
/* " (compressed stream cut short)" after a truncated gzip stream, "" otherwise: appended to
 * truncation messages. */
const char *lbd_cut_note(const lbd_reader *r);
void lbd_close(lbd_reader *r);

#endif
