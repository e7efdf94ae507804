/* Shapes, float tensors and aligned allocation. */
#include "lowbit/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lb_shape lb_shape1(int64_t a) {
  lb_shape s = {1, {a}};
  return s;
}
lb_shape lb_shape2(int64_t a, int64_t b) {
  lb_shape s = {2, {a, b}};
  return s;
}
lb_shape lb_shape3(int64_t a, int64_t b, int64_t c) {
  lb_shape s = {3, {a, b, c}};
  return s;
}
lb_shape lb_shape4(int64_t a, int64_t b, int64_t c, int64_t d) {
  lb_shape s = {4, {a, b, c, d}};
  return s;
}

int64_t lb_shape_numel(const lb_shape *s) {
  int64_t n = 1;
  for (int i = 0; i < s->ndim; i++) n *= s->d[i];
  return n;
}

int lb_shape_equal(const lb_shape *a, const lb_shape *b) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->d[i] != b->d[i]) return 0;
  return 1;
}

void lb_shape_strides(const lb_shape *s, int64_t strides[LB_MAX_DIMS]) {
  int64_t acc = 1;
  for (int i = s->ndim - 1; i >= 0; i--) {
    strides[i] = acc;
    acc *= s->d[i];
  }
}

char *lb_shape_str(const lb_shape *s, char *buf, size_t cap) {
  size_t used = 0;
  if (cap == 0) return buf;
  buf[0] = '\0';
  used += (size_t)snprintf(buf + used, cap - used, "(");
  for (int i = 0; i < s->ndim && used < cap; i++)
    used += (size_t)snprintf(buf + used, cap - used, i ? ",%lld" : "%lld", (long long)s->d[i]);
  if (used < cap) snprintf(buf + used, cap - used, ")");
  return buf;
}

void *lb_alloc_aligned(size_t bytes) {
  void *p = NULL;
  if (bytes == 0) bytes = LB_ARENA_ALIGN;
  bytes = (bytes + LB_ARENA_ALIGN - 1) / LB_ARENA_ALIGN * LB_ARENA_ALIGN;
  if (posix_memalign(&p, LB_ARENA_ALIGN, bytes) != 0) return NULL;
  return p;
}

void lb_free_aligned(void *p) { free(p); }

lb_status lb_tensor_alloc(lb_tensor *t, lb_shape shape) {
  int64_t n = lb_shape_numel(&shape);
  if (shape.ndim < 0 || shape.ndim > LB_MAX_DIMS || n < 0)
    return lb_fail(LB_ERR_ARG, "tensor: invalid shape");
  t->data = lb_alloc_aligned((size_t)n * sizeof(float));
  if (!t->data) return lb_fail(LB_ERR_NOMEM, "tensor: cannot allocate %lld floats", (long long)n);
  memset(t->data, 0, (size_t)n * sizeof(float));
  t->shape = shape;
  return LB_OK;
}

void lb_tensor_free(lb_tensor *t) {
  lb_free_aligned(t->data);
  t->data = NULL;
}
