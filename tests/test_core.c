/* core: status strings, error detail, shapes, arena alignment and capacity, RNG determinism. */
#include <math.h>
#include <string.h>

#include "testutil.h"

int main(void) {
  /* every status has its own text */
  for (int i = 0; i < LB_STATUS_COUNT; i++) {
    CHECK(strcmp(lb_status_str((lb_status)i), "unknown status") != 0);
    for (int j = 0; j < i; j++) CHECK(strcmp(lb_status_str((lb_status)i), lb_status_str((lb_status)j)) != 0);
  }
  CHECK(lb_fail(LB_ERR_IO, "x.idx: %s", "missing") == LB_ERR_IO);
  CHECK(strcmp(lb_last_error(), "x.idx: missing") == 0);
  /* prefixing the current message with itself as an argument (the common pattern) */
  lb_fail(LB_ERR_FORMAT, "node '%s': %s", "conv1", lb_last_error());
  CHECK_MSG(strcmp(lb_last_error(), "node 'conv1': x.idx: missing") == 0, "got '%s'", lb_last_error());

  lb_shape s = lb_shape4(2, 3, 4, 5);
  int64_t st[LB_MAX_DIMS];
  lb_shape_strides(&s, st);
  CHECK(lb_shape_numel(&s) == 120);
  CHECK(st[0] == 60 && st[1] == 20 && st[2] == 5 && st[3] == 1);
  char buf[64];
  CHECK(strcmp(lb_shape_str(&s, buf, sizeof buf), "(2,3,4,5)") == 0);

  lb_arena a;
  CHECK_OK(lb_arena_init(&a, 1000));
  void *p1 = lb_arena_alloc(&a, 3);
  void *p2 = lb_arena_alloc(&a, 100);
  CHECK(p1 && p2 && ((uintptr_t)p1 % 64) == 0 && ((uintptr_t)p2 % 64) == 0 && p2 != p1);
  CHECK(lb_arena_alloc(&a, 100000) == NULL);
  lb_arena_free(&a);

  lb_rng r1, r2;
  lb_rng_seed(&r1, 42);
  lb_rng_seed(&r2, 42);
  for (int i = 0; i < 100; i++) CHECK(lb_rng_u64(&r1) == lb_rng_u64(&r2));
  lb_rng_seed_stream(&r1, 42, 1, 0);
  lb_rng_seed_stream(&r2, 42, 0, 1);
  CHECK(lb_rng_u64(&r1) != lb_rng_u64(&r2));
  /* uniform in range, mean ~0.5; normal mean ~0, var ~1; below() unbiased-ish */
  double sum = 0, sum2 = 0;
  int hist[7] = {0};
  for (int i = 0; i < 70000; i++) {
    float u = lb_rng_uniform(&r1);
    CHECK(u >= 0.0f && u < 1.0f);
    float z = lb_rng_normal(&r1);
    sum += z;
    sum2 += (double)z * z;
    hist[lb_rng_below(&r1, 7)]++;
  }
  CHECK(fabs(sum / 70000) < 0.02);
  CHECK(fabs(sum2 / 70000 - 1.0) < 0.03);
  for (int i = 0; i < 7; i++) CHECK(hist[i] > 9500 && hist[i] < 10500);

  CHECK(lb_crc32(0, "123456789", 9) == 0xCBF43926u);
  return lbt_finish("test_core");
}
