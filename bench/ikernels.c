/* Integer kernels, layer by layer on the resnet8 shapes (Fashion-MNIST 1x28x28, channels
 * 16/32/64) at batch 256, and batch-1 linear layers: int8 vs int4 vs int2 vs binary, each as
 * GOP/s (2 ops per multiply-accumulate) and as a ratio against our own int8 kernel and our fp32
 * convolution (lb_conv2d_forward) on the same shape, measured in the same run.
 * Usage: bench_ikernels [batch] [seconds per measurement]. LOWBIT_KERNELS=ref|avx2 forces a
 * variant; OMP_NUM_THREADS sets the threads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/ikernel.h"

static double g_secs = 0.3;

/* Runs stmt until g_secs have passed (at least 5 times) and returns the fastest call's seconds:
 * on a machine shared with other jobs the minimum is the figure least disturbed by them (a
 * call that was preempted is only ever slower). */
#define TIME_IT(out, stmt)                                     \
  do {                                                         \
    stmt;                                                      \
    double t0_ = lb_now(), best_ = 1e30, t_;                   \
    int it_ = 0;                                               \
    do {                                                       \
      double c0_ = lb_now();                                   \
      stmt;                                                    \
      t_ = lb_now();                                           \
      if (t_ - c0_ < best_) best_ = t_ - c0_;                  \
      it_++;                                                   \
    } while (t_ - t0_ < g_secs || it_ < 5);                    \
    (out) = best_;                                             \
  } while (0)

static void fill(void *p, size_t n, uint64_t seed) {
  lb_rng r;
  lb_rng_seed(&r, seed);
  for (size_t i = 0; i < n; i++) ((uint8_t *)p)[i] = (uint8_t)lb_rng_u64(&r);
}

static void fill_w(int8_t *w, size_t n, int bits, uint64_t seed) {
  lb_rng r;
  lb_rng_seed(&r, seed);
  for (size_t i = 0; i < n; i++) {
    if (bits == 1) w[i] = lb_rng_below(&r, 2) ? 1 : -1;
    else w[i] = (int8_t)((int)lb_rng_below(&r, 1u << bits) - (1 << (bits - 1)));
  }
}

typedef struct layer {
  const char *name;
  int c, h, k, r, stride, pad;
} layer;

static void conv_layer(const layer *L, int n, lb_ik_isa isa) {
  lb_conv2d_desc d = {.n = n, .c = L->c, .h = L->h, .w = L->h, .k = L->k, .r = L->r, .s = L->r, .stride_h = L->stride,
                      .stride_w = L->stride, .pad_h = L->pad, .pad_w = L->pad, .dil_h = 1, .dil_w = 1, .groups = 1};
  if (lb_conv2d_init(&d) != LB_OK) {
    fprintf(stderr, "%s: %s\n", L->name, lb_last_error());
    return;
  }
  const size_t nx = (size_t)n * d.c * d.h * d.w, nw = (size_t)d.k * d.c * d.r * d.s, ny = (size_t)n * d.k * d.oh * d.ow;
  const double ops = 2.0 * (double)ny * (double)d.c * d.r * d.s;
  float *xf = malloc(nx * 4), *wf = malloc(nw * 4), *yf = malloc(ny * 4);
  float *fs = malloc(lb_conv2d_scratch_floats(&d) * 4 + 64);
  for (size_t i = 0; i < nx; i++) xf[i] = (float)(i % 7) * 0.1f;
  for (size_t i = 0; i < nw; i++) wf[i] = (float)(i % 5) * 0.1f - 0.2f;
  double t_fp32;
  TIME_IT(t_fp32, lb_conv2d_forward(&d, xf, wf, NULL, yf, fs));
  uint8_t *x = malloc(nx), *y = malloc(ny), *xb = malloc((size_t)n * d.h * d.w * ((d.c + 7) / 8));
  int8_t *w = malloc(nw), *xs = malloc(nx);
  int64_t *bias = calloc((size_t)d.k, sizeof *bias);
  int32_t *M = malloc((size_t)d.k * 4), *acc = malloc(ny * 4);
  int *s = malloc((size_t)d.k * sizeof(int));
  for (int k = 0; k < d.k; k++) M[k] = 1 << 30, s[k] = 38;
  fill(x, nx, 1);
  const int bits[4] = {8, 4, 2, 1};
  double t[4] = {0};
  size_t wmem[4] = {0};
  for (int b = 0; b < 4; b++) {
    fill_w(w, nw, bits[b], 2 + (uint64_t)b);
    lb_iconv *c = NULL;
    if (lb_iconv_prepare(&d, bits[b], 1, w, NULL, 0, isa, &c) != LB_OK) {
      fprintf(stderr, "%s: %s\n", L->name, lb_last_error());
      continue;
    }
    wmem[b] = lb_iconv_weight_bytes(c);
    size_t sb = lb_iconv_scratch_requant(c, n);
    void *scr = lb_alloc_aligned(sb > 0 ? sb : 64);
    if (bits[b] == 1) {
      fill_w(xs, nx, 1, 9);
      lb_ik_pack_binary(isa, n, d.c, d.h, d.w, xs, xb);
      TIME_IT(t[b], lb_iconv_run_binary(c, n, xb, acc, scr));
    } else {
      TIME_IT(t[b], lb_iconv_run_requant(c, n, x, 3, bias, M, s, 0, 0, 255, 0, y, scr));
    }
    lb_free_aligned(scr);
    lb_iconv_free(c);
  }
  printf("%-14s %3dx%2dx%2d k%-3d %dx%d/%d | fp32 %7.1f | int8 %7.1f (%4.2fx fp32) | int4 %7.1f (%4.2fx i8) | int2 %7.1f "
         "(%4.2fx i8) | bin %7.1f (%4.2fx i8, %5.2fx fp32) | weight bytes i4/i8 %4.2f\n",
         L->name, d.c, d.h, d.w, d.k, d.r, d.s, d.stride_h, ops / t_fp32 * 1e-9, ops / t[0] * 1e-9, t_fp32 / t[0],
         ops / t[1] * 1e-9, t[0] / t[1], ops / t[2] * 1e-9, t[0] / t[2], ops / t[3] * 1e-9, t[0] / t[3], t_fp32 / t[3],
         wmem[0] ? (double)wmem[1] / (double)wmem[0] : 0.0);
  free(xf), free(wf), free(yf), free(fs), free(x), free(y), free(xb), free(w), free(xs), free(bias), free(M), free(acc),
      free(s);
}

static void linear_layer(int n, int k, int c, lb_ik_isa isa) {
  const double ops = 2.0 * n * (double)k * c;
  float *xf = malloc((size_t)n * c * 4), *wf = malloc((size_t)k * c * 4), *yf = malloc((size_t)n * k * 4);
  for (size_t i = 0; i < (size_t)n * c; i++) xf[i] = (float)(i % 7) * 0.1f;
  for (size_t i = 0; i < (size_t)k * c; i++) wf[i] = (float)(i % 5) * 0.1f;
  double t_fp32;
  TIME_IT(t_fp32, lb_linear_forward(n, c, k, xf, wf, NULL, yf));
  uint8_t *x = malloc((size_t)n * c);
  int8_t *w = malloc((size_t)k * c);
  int32_t *acc = malloc((size_t)n * k * 4);
  fill(x, (size_t)n * c, 5);
  const int bits[3] = {8, 4, 2};
  double t[3] = {0};
  for (int b = 0; b < 3; b++) {
    fill_w(w, (size_t)k * c, bits[b], 6);
    lb_ilinear *l = NULL;
    if (lb_ilinear_prepare(k, c, bits[b], 1, w, NULL, 0, isa, &l) != LB_OK) {
      fprintf(stderr, "linear: %s\n", lb_last_error());
      continue;
    }
    TIME_IT(t[b], lb_ilinear_run(l, n, x, 3, acc));
    lb_ilinear_free(l);
  }
  printf("linear n=%-3d %5dx%-5d | fp32 %7.2f | int8 %7.2f (%4.2fx fp32, %6.1f GB/s weights) | int4 %7.2f (%4.2fx i8) | "
         "int2 %7.2f (%4.2fx i8)\n",
         n, k, c, ops / t_fp32 * 1e-9, ops / t[0] * 1e-9, t_fp32 / t[0], (double)k * c / t[0] * 1e-9, ops / t[1] * 1e-9,
         t[0] / t[1], ops / t[2] * 1e-9, t[0] / t[2]);
  free(xf), free(wf), free(yf), free(x), free(w), free(acc);
}

/* Peak estimate: per core per cycle, vpdpbusd on zmm does 64 u8*s8 MACs and this class of core
 * issues 2 per cycle (ports 0 and 5) = 256 int8 ops/cycle; AVX2 vpmaddwd does 16 int16 MACs, 2
 * per cycle = 64 ops/cycle; an AMX TDPBUSD does 16x16x64 MACs per 16 cycles = 2048 ops/cycle
 * (Intel's figure for Sapphire Rapids). Times cores and the clock /proc/cpuinfo reports. */
static void print_peak(lb_ik_isa isa) {
  double mhz = 0;
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[256];
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "cpu MHz", 7)) {
      sscanf(strchr(line, ':') + 1, "%lf", &mhz);
      break;
    }
  if (f) fclose(f);
  int cores = lb_get_num_threads();
  double per = isa == LB_IK_AMX ? 2048.0 : isa == LB_IK_AVX512VNNI ? 256.0 : isa == LB_IK_AVX2 ? 64.0 : 2.0;
  printf("variant %s, %d threads, clock %.0f MHz: int8 peak estimate %.0f GOP/s (%g ops/cycle/core x cores x clock)\n",
         lb_ik_isa_name(isa), cores, mhz, per * cores * mhz * 1e-3, per);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 256;
  if (argc > 2) g_secs = atof(argv[2]);
  if (n <= 0) n = 256;
  lb_ik_isa isa = lb_ik_select();
  print_peak(isa);
  printf("conv layers at batch %d, GOP/s (binary: acc only, others with the fused requant)\n", n);
  static const layer layers[] = {
      {"conv1", 1, 28, 16, 3, 1, 1},   {"s1 3x3", 16, 28, 16, 3, 1, 1}, {"s2 3x3 /2", 16, 28, 32, 3, 2, 1},
      {"s2 3x3", 32, 14, 32, 3, 1, 1}, {"s2 1x1 /2", 16, 28, 32, 1, 2, 0}, {"s3 3x3 /2", 32, 14, 64, 3, 2, 1},
      {"s3 3x3", 64, 7, 64, 3, 1, 1},  {"s3 1x1 /2", 32, 14, 64, 1, 2, 0},
  };
  for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) conv_layer(&layers[i], n, isa);
  printf("linear layers (fp32 is lb_linear_forward on OpenBLAS)\n");
  linear_layer(1, 1024, 1024, isa);
  linear_layer(1, 4096, 4096, isa);
  linear_layer(1, 10, 64, isa);
  linear_layer(n, 10, 64, isa);
  return 0;
}
