/* xoshiro256** seeded through splitmix64: fast, small state, easy to save and restore. */
#include "lowbit/core.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void lb_rng_seed(lb_rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

void lb_rng_seed_stream(lb_rng *r, uint64_t seed, uint64_t a, uint64_t b) {
  uint64_t x = seed;
  uint64_t h = splitmix64(&x);
  x = h ^ (a * 0xd1342543de82ef95ULL);
  h = splitmix64(&x);
  x = h ^ (b * 0x9fb21c651e98df25ULL + 0x632be59bd9b4e019ULL);
  lb_rng_seed(r, splitmix64(&x));
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t lb_rng_u64(lb_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

uint32_t lb_rng_below(lb_rng *r, uint32_t n) {
  if (n == 0) return 0;
  /* Lemire's multiply-and-reject: unbiased without a division in the common case. */
  uint64_t m = (uint64_t)(uint32_t)(lb_rng_u64(r) >> 32) * n;
  uint32_t low = (uint32_t)m;
  if (low < n) {
    uint32_t threshold = (uint32_t)(-n) % n;
    while (low < threshold) {
      m = (uint64_t)(uint32_t)(lb_rng_u64(r) >> 32) * n;
      low = (uint32_t)m;
    }
  }
  return (uint32_t)(m >> 32);
}

float lb_rng_uniform(lb_rng *r) { return (float)(lb_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

float lb_rng_normal(lb_rng *r) {
  /* Box-Muller; one value per call keeps the stream position simple to reason about. */
  double u1 = ((double)(lb_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
  double u2 = (double)(lb_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
