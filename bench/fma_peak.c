/* Benchmark: the machine's measured fp32 FMA peak (GFLOP/s) on N threads, with the widest
 * vector FMA the compiler targets. Each thread runs independent accumulator chains long enough
 * to hide FMA latency. Not a test.   usage: bench_fma_peak [threads] */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "lowbit/core.h"
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#define CHAINS 16
#define ITERS 20000000L

static double run_thread(float seed) {
#if defined(__AVX512F__)
  __m512 acc[CHAINS], m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps(seed + (float)i);
  for (long it = 0; it < ITERS; it++)
#pragma GCC unroll 16
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
  float out[16];
  __m512 s = acc[0];
  for (int i = 1; i < CHAINS; i++) s = _mm512_add_ps(s, acc[i]);
  _mm512_storeu_ps(out, s);
  return out[0] + 2.0 * 16 * CHAINS * (double)ITERS * 0; /* keep the result live */
#elif defined(__AVX2__) && defined(__FMA__)
  __m256 acc[CHAINS], m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_set1_ps(seed + (float)i);
  for (long it = 0; it < ITERS; it++)
#pragma GCC unroll 16
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
  float out[8];
  __m256 s = acc[0];
  for (int i = 1; i < CHAINS; i++) s = _mm256_add_ps(s, acc[i]);
  _mm256_storeu_ps(out, s);
  return out[0];
#else
  float acc[CHAINS];
  for (int i = 0; i < CHAINS; i++) acc[i] = seed + (float)i;
  for (long it = 0; it < ITERS; it++)
#pragma GCC unroll 16
    for (int i = 0; i < CHAINS; i++) acc[i] = acc[i] * 0.999999f + 1e-7f;
  float s = 0;
  for (int i = 0; i < CHAINS; i++) s += acc[i];
  return s;
#endif
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 2;
#if defined(__AVX512F__)
  const int lanes = 16;
  const char *isa = "AVX-512";
#elif defined(__AVX2__) && defined(__FMA__)
  const int lanes = 8;
  const char *isa = "AVX2+FMA";
#else
  const int lanes = 1;
  const char *isa = "scalar";
#endif
  double sink = 0;
  double t0 = lb_now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
  sink += run_thread((float)omp_get_thread_num());
  double secs = lb_now() - t0;
  double flops = 2.0 * lanes * CHAINS * (double)ITERS * threads;
  printf("fma peak (%s, %d threads): %.1f GFLOP/s  (check %g)\n", isa, threads, flops / secs / 1e9, sink);
  return 0;
}
