/* Benchmark: the two convolution paths on ResNet-8's layer shapes at batch 128 - lowbit's
 * SIMD implicit-GEMM kernels against im2col + OpenBLAS - forward, dx and dw, so the dispatch in
 * src/nn/conv2d.c is chosen by measurement. Not a test.   usage: bench_conv_paths [threads] [reps] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/nn.h"
#include "nn/conv2d_impl.h"

typedef struct shape {
  const char *name;
  int c, hw, k, ksize, stride;
} shape;

static const shape layers[] = {
    {"16->16 3x3 28x28", 16, 28, 16, 3, 1}, {"16->32 3x3 s2", 16, 28, 32, 3, 2}, {"32->32 3x3 14x14", 32, 14, 32, 3, 1},
    {"16->32 1x1 s2", 16, 28, 32, 1, 2},    {"32->64 3x3 s2", 32, 14, 64, 3, 2}, {"64->64 3x3 7x7", 64, 7, 64, 3, 1},
};

typedef void (*fwd_fn)(const lb_conv2d_desc *, const float *, const float *, const float *, float *, float *);
typedef void (*bwd_fn)(const lb_conv2d_desc *, const float *, const float *, const float *, float *, float *, float *,
                       float *);

/* Best of reps: the machine is shared and noisy, the minimum is the most repeatable figure. */
static double best(int reps, int what, const lb_conv2d_desc *d, fwd_fn f, bwd_fn b, float *x, float *w, float *y,
                   float *dx, float *dw, float *scratch) {
  double t_best = 1e30;
  for (int r = 0; r < reps; r++) {
    double t0 = lb_now();
    if (what == 0) f(d, x, w, NULL, y, scratch);
    else if (what == 1) b(d, x, w, y, dx, NULL, NULL, scratch);
    else b(d, x, w, y, NULL, dw, NULL, scratch);
    double t = lb_now() - t0;
    if (t < t_best) t_best = t;
  }
  return t_best;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 2;
  setenv("LOWBIT_CONV", "own", 1); /* the lowbit column is our own kernels, not the oneDNN dispatch */
  int reps = argc > 2 ? atoi(argv[2]) : 15;
  lb_set_num_threads(threads);
  printf("batch 128, %d threads, best of %d; ms (GFLOP/s)\n", threads, reps);
  printf("%-18s %-6s %16s %16s %8s\n", "layer", "pass", "simd", "im2col+blas", "blas/simd");
  for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
    const shape *s = &layers[i];
    lb_conv2d_desc d = {128, s->c, s->hw, s->hw, s->k, s->ksize, s->ksize, s->stride, s->stride,
                        s->ksize / 2, s->ksize / 2, 1, 1, 1, 0, 0, 0, 0};
    if (lb_conv2d_init(&d)) return 1;
    size_t nx = (size_t)128 * s->c * s->hw * s->hw, nw = (size_t)s->k * s->c * s->ksize * s->ksize;
    size_t ny = (size_t)128 * s->k * d.oh * d.ow;
    size_t ns = lb_conv2d_scratch_floats(&d), nb = lb_conv2d_blas_scratch_floats(&d);
    float *x = lb_alloc_aligned(nx * 4), *dx = lb_alloc_aligned(nx * 4), *w = lb_alloc_aligned(nw * 4);
    float *dw = lb_alloc_aligned(nw * 4), *y = lb_alloc_aligned(ny * 4);
    float *scratch = lb_alloc_aligned((ns > nb ? ns : nb) * 4 + 64);
    lb_rng rng;
    lb_rng_seed(&rng, 1);
    for (size_t j = 0; j < nx; j++) x[j] = lb_rng_normal(&rng);
    for (size_t j = 0; j < nw; j++) w[j] = lb_rng_normal(&rng);
    memset(dx, 0, nx * 4);
    memset(dw, 0, nw * 4);
    double gflop = 2.0 * (double)ny * s->c * s->ksize * s->ksize / 1e9;
    const char *pass[3] = {"fwd", "dx", "dw"};
    for (int what = 0; what < 3; what++) {
      double ts = best(reps, what, &d, lb_conv2d_forward, lb_conv2d_backward, x, w, y, dx, dw, scratch);
      double tb = best(reps, what, &d, lb_conv2d_blas_forward, lb_conv2d_blas_backward, x, w, y, dx, dw, scratch);
      printf("%-18s %-6s %7.2f (%5.0f) %7.2f (%5.0f) %8.2f\n", s->name, pass[what], 1e3 * ts, gflop / ts, 1e3 * tb,
             gflop / tb, tb / ts);
    }
    lb_free_aligned(x);
    lb_free_aligned(dx);
    lb_free_aligned(w);
    lb_free_aligned(dw);
    lb_free_aligned(y);
    lb_free_aligned(scratch);
  }
  return 0;
}
