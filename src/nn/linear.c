/* Fully connected layer on row-major matrices, through lb_sgemm (BLAS threads itself). */
#include "lowbit/nn.h"

#include <string.h>

/* x: (N,IN), w: (OUT,IN), b: (OUT) or NULL, y: (N,OUT) (overwritten). */
void lb_linear_forward(int n, int in, int out, const float *x, const float *w, const float *b, float *y) {
  if (n <= 0 || out <= 0) return;
  if (b) /* start from the bias and let the GEMM add x w^T on top (one pass over y) */
    for (int i = 0; i < n; i++) memcpy(y + (size_t)i * out, b, sizeof(float) * (size_t)out);
  lb_sgemm(0, 1, n, out, in, 1.0f, x, in, w, in, b ? 1.0f : 0.0f, y, out);
}

/* Columns whose batch sums are kept at once in the db reduction. */
#define LINEAR_DB_BLOCK 64

/* dy: (N,OUT); accumulates dx: (N,IN), dw: (OUT,IN), db: (OUT); any may be NULL. */
void lb_linear_backward(int n, int in, int out, const float *x, const float *w, const float *dy, float *dx,
                        float *dw, float *db) {
  if (n <= 0 || out <= 0) return;
  if (dx && in > 0) lb_sgemm(0, 0, n, in, out, 1.0f, dy, out, w, in, 1.0f, dx, in);  /* dx += dy w */
  if (dw && in > 0) lb_sgemm(1, 0, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw, in); /* dw += dy^T x */
  if (db) {
    /* rows in order, a block of columns at a time, summed in double: fixed order, row-contiguous */
    for (int j0 = 0; j0 < out; j0 += LINEAR_DB_BLOCK) {
      const int jn = out - j0 < LINEAR_DB_BLOCK ? out - j0 : LINEAR_DB_BLOCK;
      double acc[LINEAR_DB_BLOCK] = {0};
      for (int i = 0; i < n; i++) {
        const float *row = dy + (size_t)i * out + j0;
        for (int j = 0; j < jn; j++) acc[j] += row[j];
      }
      for (int j = 0; j < jn; j++) db[j0 + j] += (float)acc[j];
    }
  }
}
