/* Threads, clock and checksum: thin wrappers over OpenMP, OpenBLAS, POSIX and zlib. */
#include "lowbit/core.h"

#include <omp.h>
#include <time.h>
#include <zlib.h>

/* OpenBLAS exports this in every threading variant; declared here to avoid its cblas.h. */
void openblas_set_num_threads(int num_threads);

static int lb_threads;

void lb_set_num_threads(int n) {
  if (n <= 0) n = omp_get_num_procs();
  lb_threads = n;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

int lb_get_num_threads(void) { return lb_threads > 0 ? lb_threads : omp_get_max_threads(); }

uint32_t lb_crc32(uint32_t crc, const void *data, size_t len) {
  const unsigned char *p = data;
  while (len > 0) {
    uInt chunk = len > (1u << 30) ? (1u << 30) : (uInt)len;
    crc = (uint32_t)crc32(crc, p, chunk);
    p += chunk;
    len -= chunk;
  }
  return crc;
}

double lb_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
