/* Arena: one aligned allocation per memory class, handed out in pieces. */
#include "lowbit/core.h"

#include <string.h>

size_t lb_arena_round(size_t bytes) { return (bytes + LB_ARENA_ALIGN - 1) / LB_ARENA_ALIGN * LB_ARENA_ALIGN; }

lb_status lb_arena_init(lb_arena *a, size_t bytes) {
  a->size = lb_arena_round(bytes);
  a->used = 0;
  a->base = lb_alloc_aligned(a->size);
  if (!a->base) return lb_fail(LB_ERR_NOMEM, "arena: cannot allocate %zu bytes", a->size);
  memset(a->base, 0, a->size);
  return LB_OK;
}

void *lb_arena_alloc(lb_arena *a, size_t bytes) {
  size_t need = lb_arena_round(bytes);
  if (!a->base || need > a->size - a->used) return NULL;
  void *p = a->base + a->used;
  a->used += need;
  return p;
}

void lb_arena_reset(lb_arena *a) { a->used = 0; }

void lb_arena_free(lb_arena *a) {
  lb_free_aligned(a->base);
  a->base = NULL;
  a->size = a->used = 0;
}
