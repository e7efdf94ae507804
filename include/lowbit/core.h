/* lowbit core: status codes, error detail, shapes and tensors, arenas, RNG, logging, threads.
 * Knows nothing about layers or quantization (DESIGN.md section 2). */
#ifndef LOWBIT_CORE_H
#define LOWBIT_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status ---------------------------------------------------------------------------- */
typedef enum lb_status {
  LB_OK = 0,
  LB_ERR_ARG,         /* an argument is out of range or inconsistent */
  LB_ERR_NOMEM,       /* allocation failed */
  LB_ERR_IO,          /* open/read/write/rename failed */
  LB_ERR_FORMAT,      /* a file is malformed or truncated */
  LB_ERR_CHECKSUM,    /* a file's checksum does not match */
  LB_ERR_VERSION,     /* a file's version is not supported */
  LB_ERR_SHAPE,       /* tensor shapes do not fit together */
  LB_ERR_NOT_FOUND,   /* a named thing (model, op, parameter) does not exist */
  LB_ERR_UNSUPPORTED, /* valid request, but not implemented */
  LB_ERR_STATE,       /* call made in the wrong state */
  LB_ERR_INTERRUPTED, /* stopped on request (e.g. SIGINT); state was saved */
  LB_STATUS_COUNT
} lb_status;

/* Short constant text for a status code ("invalid argument"). */
const char *lb_status_str(lb_status s);

/* Record a one-line human-readable detail for the failure on this thread and return s.
 * Library code uses it as `return lb_fail(LB_ERR_FORMAT, "%s: truncated", path);`. */
lb_status lb_fail(lb_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* The detail recorded by the last lb_fail on this thread ("" if none). */
const char *lb_last_error(void);
void lb_clear_error(void);

/* ---- shapes and tensors ---------------------------------------------------------------- */
#define LB_MAX_DIMS 6

typedef struct lb_shape {
  int ndim;
  int64_t d[LB_MAX_DIMS];
} lb_shape;

lb_shape lb_shape1(int64_t a);
lb_shape lb_shape2(int64_t a, int64_t b);
lb_shape lb_shape3(int64_t a, int64_t b, int64_t c);
lb_shape lb_shape4(int64_t a, int64_t b, int64_t c, int64_t d);
int64_t lb_shape_numel(const lb_shape *s);
int lb_shape_equal(const lb_shape *a, const lb_shape *b);
/* Row-major (C order) strides in elements. */
void lb_shape_strides(const lb_shape *s, int64_t strides[LB_MAX_DIMS]);
/* "(16,3,3,3)" into buf; returns buf. */
char *lb_shape_str(const lb_shape *s, char *buf, size_t cap);

/* A float32 tensor: a view, never owning unless created by lb_tensor_alloc. NCHW for images. */
typedef struct lb_tensor {
  float *data;
  lb_shape shape;
} lb_tensor;

lb_status lb_tensor_alloc(lb_tensor *t, lb_shape shape); /* zero-filled, 64-byte aligned */
void lb_tensor_free(lb_tensor *t);

/* 64-byte aligned allocation for SIMD kernels; free with lb_free_aligned. NULL on failure. */
void *lb_alloc_aligned(size_t bytes);
void lb_free_aligned(void *p);

/* ---- arena: one allocation per memory class, handed out in aligned pieces ---------------- */
typedef struct lb_arena {
  unsigned char *base;
  size_t size;
  size_t used;
} lb_arena;

#define LB_ARENA_ALIGN 64
/* Round a byte count up to the arena alignment (use it to size an arena in advance). */
size_t lb_arena_round(size_t bytes);
lb_status lb_arena_init(lb_arena *a, size_t bytes); /* zero-filled */
/* A zero-initialised piece of `bytes`, LB_ARENA_ALIGN aligned; NULL if the arena is full. */
void *lb_arena_alloc(lb_arena *a, size_t bytes);
void lb_arena_reset(lb_arena *a);
void lb_arena_free(lb_arena *a);

/* ---- RNG: xoshiro256**, seedable and serialisable (32 bytes of state) --------------------- */
typedef struct lb_rng {
  uint64_t s[4];
} lb_rng;

void lb_rng_seed(lb_rng *r, uint64_t seed);
/* An independent stream derived from (seed, a, b): e.g. (run seed, epoch, step). */
void lb_rng_seed_stream(lb_rng *r, uint64_t seed, uint64_t a, uint64_t b);
uint64_t lb_rng_u64(lb_rng *r);
uint32_t lb_rng_below(lb_rng *r, uint32_t n); /* uniform in [0, n), unbiased */
float lb_rng_uniform(lb_rng *r);              /* uniform in [0, 1) */
float lb_rng_normal(lb_rng *r);               /* standard normal */

/* ---- logging: the library prints nothing unless a callback is set ----------------------- */
typedef enum lb_log_level { LB_LOG_DEBUG = 0, LB_LOG_INFO, LB_LOG_WARN, LB_LOG_ERROR } lb_log_level;
typedef void (*lb_log_fn)(lb_log_level level, const char *msg, void *user);
void lb_log_set_callback(lb_log_fn fn, void *user);
void lb_log(lb_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---- threads: OpenMP for our loops, the BLAS pool for GEMM ------------------------------ */
/* n <= 0 means "all cores". Applies to OpenMP and to OpenBLAS. */
void lb_set_num_threads(int n);
int lb_get_num_threads(void);

/* ---- checksums ------------------------------------------------------------------------- */
uint32_t lb_crc32(uint32_t crc, const void *data, size_t len);

/* Monotonic wall clock in seconds (for progress and benchmarks, never for tests). */
double lb_now(void);

#ifdef __cplusplus
}
#endif
#endif
