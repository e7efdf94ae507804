/* Residual add y = a + b and its backward, plus the add fused with the ReLU that follows it in a
 * residual block (one pass instead of two forward, instead of three backward). y may alias a or
 * b (in-place add). */
#include "lowbit/nn.h"

#define ADD_PAR_MIN (1 << 18) /* memory bound: threads only help on large tensors */

void lb_add_forward(int64_t n, const float *a, const float *b, float *y) {
#pragma omp parallel for schedule(static) if (n >= ADD_PAR_MIN)
  for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void lb_add_backward(int64_t n, const float *dy, float *da, float *db) { lb_add_backward_ex(n, NULL, dy, da, 0, db, 0); }

/* The fused loops carry `simd`: GCC's -O2 cost model will not vectorize a loop that needs a
 * runtime alias check or a scalar tail. Iterations are independent (y may equal a or b, it may
 * not overlap them otherwise), so the bits are those of the scalar loop. The `parallel:` modifier
 * keeps the size threshold off the simd part. */

/* The ReLU is lb_relu_forward's select (v < 0 ? 0 : v), so NaN and -0 pass exactly as in the
 * unfused composition; it compiles to a vector max, no branch. */
void lb_add_relu_forward(int64_t n, const float *a, const float *b, float *y) {
#pragma omp parallel for simd schedule(static) if (parallel : n >= ADD_PAR_MIN)
  for (int64_t i = 0; i < n; i++) {
    const float v = a[i] + b[i];
    y[i] = v < 0.0f ? 0.0f : v;
  }
}

/* g = 0 + (y > 0 ? dy : 0), the value lb_relu_backward leaves in a zeroed buffer (the 0 + turns
 * a -0 into +0 as there; the select keeps a blocked NaN in dy blocked). With both gradients
 * wanted, one pass feeds both. */
void lb_add_relu_backward(int64_t n, const float *y, const float *dy, float *da, float *db) {
  lb_add_backward_ex(n, y, dy, da, 0, db, 0);
}

/* One gradient: d = 0 + g or d += g, g = dy or the ReLU-masked dy. */
static void add_grad(int64_t n, const float *y, const float *dy, float *d, int assign) {
  if (y && assign) {
#pragma omp parallel for simd schedule(static) if (parallel : n >= ADD_PAR_MIN)
    for (int64_t i = 0; i < n; i++) d[i] = 0.0f + (y[i] > 0.0f ? dy[i] : 0.0f); /* never -0: as 0 + g */
  } else if (y) {
#pragma omp parallel for simd schedule(static) if (parallel : n >= ADD_PAR_MIN)
    for (int64_t i = 0; i < n; i++) d[i] += 0.0f + (y[i] > 0.0f ? dy[i] : 0.0f);
  } else if (assign) {
#pragma omp parallel for simd schedule(static) if (parallel : n >= ADD_PAR_MIN)
    for (int64_t i = 0; i < n; i++) d[i] = 0.0f + dy[i];
  } else {
#pragma omp parallel for simd schedule(static) if (parallel : n >= ADD_PAR_MIN)
    for (int64_t i = 0; i < n; i++) d[i] += dy[i];
  }
}

void lb_add_backward_ex(int64_t n, const float *y, const float *dy, float *da, int da_assign, float *db, int db_assign) {
  if (da && db && da != db && y) { /* one pass feeds both, as lb_add_relu_backward */
#pragma omp parallel for simd schedule(static) if (parallel : n >= ADD_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
      const float g = 0.0f + (y[i] > 0.0f ? dy[i] : 0.0f);
      da[i] = da_assign ? 0.0f + g : da[i] + g;
      db[i] = db_assign ? 0.0f + g : db[i] + g;
    }
    return;
  }
  if (da) add_grad(n, y, dy, da, da_assign);
  if (db) add_grad(n, y, dy, db, db_assign);
}
