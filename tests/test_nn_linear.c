/* GEMM wrapper and fully connected layer: against plain double loops (all transposes, leading
 * dimensions, alpha/beta, empty sums), accumulate semantics, NULL gradients, finite differences. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/nn.h"
#include "testutil.h"

/* ---- lb_sgemm ------------------------------------------------------------------------------ */
static void test_sgemm(void) {
  lb_rng rng;
  lb_rng_seed(&rng, 5);
  static const int dims[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 9, 33}, {64, 48, 20}, {2, 70, 1}, {40, 1, 13}};
  for (size_t t = 0; t < sizeof dims / sizeof dims[0]; t++)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++) {
        const int m = dims[t][0], n = dims[t][1], k = dims[t][2];
        /* leading dimensions larger than needed, to catch lda/ldb/ldc mix-ups */
        const int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 5;
        const int arows = ta ? k : m, brows = tb ? n : k;
        float *a = lbt_falloc((size_t)arows * lda), *b = lbt_falloc((size_t)brows * ldb);
        float *c = lbt_falloc((size_t)m * ldc), *want = lbt_falloc((size_t)m * ldc);
        lbt_fill_uniform(a, (int64_t)arows * lda, &rng, -1, 1);
        lbt_fill_uniform(b, (int64_t)brows * ldb, &rng, -1, 1);
        lbt_fill_uniform(c, (int64_t)m * ldc, &rng, -1, 1);
        memcpy(want, c, sizeof(float) * (size_t)m * ldc);
        const float alpha = 0.75f, beta = -1.5f;
        for (int i = 0; i < m; i++)
          for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++) {
              const double av = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
              const double bv = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
              s += av * bv;
            }
            want[(size_t)i * ldc + j] = (float)(alpha * s + beta * want[(size_t)i * ldc + j]);
          }
        lb_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        double e = lbt_scaled_err(c, want, (size_t)m * ldc); /* padding columns must be untouched too */
        CHECK_MSG(e <= 1e-5, "sgemm %dx%dx%d ta%d tb%d: err %g", m, n, k, ta, tb, e);
        free(a), free(b), free(c), free(want);
      }
  /* k == 0: C = beta*C, and beta == 0 clears even NaN */
  float c[6] = {1, 2, 3, 4, NAN, 6}, dummy = 0;
  lb_sgemm(0, 0, 2, 2, 0, 1.0f, &dummy, 1, &dummy, 2, 2.0f, c, 3);
  CHECK(c[0] == 2 && c[1] == 4 && c[2] == 3 && c[3] == 8 && isnan(c[4]));
  lb_sgemm(0, 0, 2, 2, 0, 1.0f, &dummy, 1, &dummy, 2, 0.0f, c, 3);
  CHECK(c[0] == 0 && c[1] == 0 && c[2] == 3 && c[3] == 0 && c[4] == 0 && c[5] == 6);
  /* beta == 0 with k > 0 ignores what C held */
  float a1[2] = {1, 2}, b1[2] = {3, 4}, c1[1] = {NAN};
  lb_sgemm(0, 0, 1, 1, 2, 1.0f, a1, 2, b1, 1, 0.0f, c1, 1);
  CHECK(c1[0] == 11.0f);
}

/* ---- linear: references in double ----------------------------------------------------------- */
static void ref_forward(int n, int in, int out, const float *x, const float *w, const float *b, float *y) {
  for (int i = 0; i < n; i++)
    for (int o = 0; o < out; o++) {
      double s = b ? b[o] : 0.0;
      for (int j = 0; j < in; j++) s += (double)x[(size_t)i * in + j] * w[(size_t)o * in + j];
      y[(size_t)i * out + o] = (float)s;
    }
}

static void ref_backward(int n, int in, int out, const float *x, const float *w, const float *dy, float *dx,
                         float *dw, float *db) {
  for (int i = 0; i < n; i++)
    for (int j = 0; j < in; j++) {
      double s = 0;
      for (int o = 0; o < out; o++) s += (double)dy[(size_t)i * out + o] * w[(size_t)o * in + j];
      dx[(size_t)i * in + j] += (float)s;
    }
  for (int o = 0; o < out; o++) {
    for (int j = 0; j < in; j++) {
      double s = 0;
      for (int i = 0; i < n; i++) s += (double)dy[(size_t)i * out + o] * x[(size_t)i * in + j];
      dw[(size_t)o * in + j] += (float)s;
    }
    double s = 0;
    for (int i = 0; i < n; i++) s += dy[(size_t)i * out + o];
    db[o] += (float)s;
  }
}

static void test_linear_vs_reference(void) {
  static const int shapes[][3] = {{1, 1, 1}, {4, 7, 3}, {128, 64, 10}, {5, 130, 67}, {33, 1, 9}, {2, 9, 200}};
  lb_rng rng;
  lb_rng_seed(&rng, 9);
  for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
    const int n = shapes[t][0], in = shapes[t][1], out = shapes[t][2];
    const size_t nx = (size_t)n * in, nw = (size_t)out * in, ny = (size_t)n * out;
    float *x = lbt_falloc(nx), *w = lbt_falloc(nw), *b = lbt_falloc(out);
    float *y = lbt_falloc(ny), *yr = lbt_falloc(ny), *dy = lbt_falloc(ny);
    float *dx = lbt_falloc(nx), *dw = lbt_falloc(nw), *db = lbt_falloc(out);
    float *dxr = lbt_falloc(nx), *dwr = lbt_falloc(nw), *dbr = lbt_falloc(out);
    float *dx0 = lbt_falloc(nx), *dw0 = lbt_falloc(nw), *db0 = lbt_falloc(out);
    lbt_fill_uniform(x, (int64_t)nx, &rng, -1, 1);
    lbt_fill_uniform(w, (int64_t)nw, &rng, -1, 1);
    lbt_fill_uniform(b, out, &rng, -1, 1);
    lbt_fill_uniform(dy, (int64_t)ny, &rng, -1, 1);
    lbt_fill_uniform(dx0, (int64_t)nx, &rng, -1, 1);
    lbt_fill_uniform(dw0, (int64_t)nw, &rng, -1, 1);
    lbt_fill_uniform(db0, out, &rng, -1, 1);
    for (int with_bias = 0; with_bias < 2; with_bias++) {
      for (size_t i = 0; i < ny; i++) y[i] = NAN;
      ref_forward(n, in, out, x, w, with_bias ? b : NULL, yr);
      lb_linear_forward(n, in, out, x, w, with_bias ? b : NULL, y);
      double e = lbt_scaled_err(y, yr, ny);
      CHECK_MSG(e <= 1e-4, "linear forward %d,%d,%d bias %d: err %g", n, in, out, with_bias, e);
    }
    memcpy(dxr, dx0, sizeof(float) * nx), memcpy(dwr, dw0, sizeof(float) * nw), memcpy(dbr, db0, sizeof(float) * out);
    ref_backward(n, in, out, x, w, dy, dxr, dwr, dbr);
    memcpy(dx, dx0, sizeof(float) * nx), memcpy(dw, dw0, sizeof(float) * nw), memcpy(db, db0, sizeof(float) * out);
    lb_linear_backward(n, in, out, x, w, dy, dx, dw, db);
    double ex = lbt_scaled_err(dx, dxr, nx), ew = lbt_scaled_err(dw, dwr, nw), eb = lbt_scaled_err(db, dbr, out);
    CHECK_MSG(ex <= 1e-4 && ew <= 1e-4 && eb <= 1e-4, "linear backward %d,%d,%d: dx %g dw %g db %g", n, in, out, ex,
              ew, eb);
    /* one gradient at a time, the others NULL */
    memcpy(dx, dx0, sizeof(float) * nx);
    lb_linear_backward(n, in, out, x, w, dy, dx, NULL, NULL);
    CHECK(lbt_scaled_err(dx, dxr, nx) <= 1e-4);
    memcpy(dw, dw0, sizeof(float) * nw);
    lb_linear_backward(n, in, out, x, w, dy, NULL, dw, NULL);
    CHECK(lbt_scaled_err(dw, dwr, nw) <= 1e-4);
    memcpy(db, db0, sizeof(float) * out);
    lb_linear_backward(n, in, out, x, w, dy, NULL, NULL, db);
    CHECK(lbt_scaled_err(db, dbr, out) <= 1e-4);
    free(x), free(w), free(b), free(y), free(yr), free(dy), free(dx), free(dw), free(db);
    free(dxr), free(dwr), free(dbr), free(dx0), free(dw0), free(db0);
  }
}

/* degenerate sizes: nothing to do must touch nothing; IN == 0 gives y = b */
static void test_linear_degenerate(void) {
  float y[4] = {7, 7, 7, 7}, b[2] = {1.5f, -2}, x[1] = {0}, w[1] = {0}, dy[4] = {1, 1, 1, 1};
  lb_linear_forward(0, 3, 2, x, w, b, y);
  CHECK(y[0] == 7 && y[3] == 7);
  lb_linear_forward(2, 0, 2, x, w, b, y);
  CHECK(y[0] == 1.5f && y[1] == -2 && y[2] == 1.5f && y[3] == -2);
  lb_linear_forward(2, 0, 2, x, w, NULL, y);
  CHECK(y[0] == 0 && y[3] == 0);
  float db[2] = {1, 1};
  lb_linear_backward(2, 0, 2, x, w, dy, NULL, NULL, db);
  CHECK(db[0] == 3 && db[1] == 3);
}

/* ---- finite differences: loss = sum(y * r) in double ---------------------------------------- */
typedef struct gc_ctx {
  int n, in, out;
  float *x, *w, *b, *y, *r;
} gc_ctx;

static double gc_loss(void *p) {
  gc_ctx *c = p;
  lb_linear_forward(c->n, c->in, c->out, c->x, c->w, c->b, c->y);
  return lbt_dot(c->y, c->r, (int64_t)c->n * c->out);
}

static void test_linear_grad_check(void) {
  lb_rng rng;
  lb_rng_seed(&rng, 13);
  gc_ctx c = {6, 11, 5, lbt_falloc(66), lbt_falloc(55), lbt_falloc(5), lbt_falloc(30), lbt_falloc(30)};
  float dx[66] = {0}, dw[55] = {0}, db[5] = {0};
  lbt_fill_uniform(c.x, 66, &rng, -1, 1);
  lbt_fill_uniform(c.w, 55, &rng, -1, 1);
  lbt_fill_uniform(c.b, 5, &rng, -1, 1);
  lbt_fill_uniform(c.r, 30, &rng, -1, 1);
  lb_linear_backward(c.n, c.in, c.out, c.x, c.w, c.r, dx, dw, db);
  const double ex = lbt_grad_check(gc_loss, &c, c.x, dx, 66, 0, 0.05, 0.05, &rng);
  const double ew = lbt_grad_check(gc_loss, &c, c.w, dw, 55, 0, 0.05, 0.05, &rng);
  const double eb = lbt_grad_check(gc_loss, &c, c.b, db, 5, 0, 0.05, 0.05, &rng);
  CHECK_MSG(ex <= 2e-3, "grad x: %g", ex);
  CHECK_MSG(ew <= 2e-3, "grad w: %g", ew);
  CHECK_MSG(eb <= 2e-3, "grad b: %g", eb);
  free(c.x), free(c.w), free(c.b), free(c.y), free(c.r);
}

int main(void) {
  lb_set_num_threads(2);
  test_sgemm();
  test_linear_vs_reference();
  test_linear_degenerate();
  test_linear_grad_check();
  return lbt_finish("test_nn_linear");
}
