/* Row-major single-precision GEMM through the real BLAS (OpenBLAS, DESIGN.md section 5).
 * OpenBLAS runs its own thread pool; callers must not wrap lb_sgemm in OpenMP regions. */
#include "lowbit/nn.h"

#include <cblas.h>

void lb_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    /* BLAS semantics with an empty sum: C = beta * C (beta == 0 clears, even NaN). */
    for (int i = 0; i < m; i++) {
      float *row = c + (size_t)i * (size_t)ldc;
      for (int j = 0; j < n; j++) row[j] = beta == 0.0f ? 0.0f : beta * row[j];
    }
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n,
              k, alpha, a, lda, b, ldb, beta, c, ldc);
}
