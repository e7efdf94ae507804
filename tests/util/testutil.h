/* Small test helpers shared by every tests/test_*.c: checks that count failures, a visible skip,
 * buffers, random fills, error measures, a finite-difference gradient checker and temp files. */
#ifndef LOWBIT_TESTUTIL_H
#define LOWBIT_TESTUTIL_H

#include <stdio.h>

#include "lowbit/core.h"
#include "lowbit/data.h"

#define LBT_SKIP 77 /* ctest's SKIP_RETURN_CODE */

extern int lbt_checks;
extern int lbt_failures;

#define CHECK(cond)                                                                           \
  do {                                                                                        \
    lbt_checks++;                                                                             \
    if (!(cond)) {                                                                            \
      lbt_failures++;                                                                         \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                \
    }                                                                                         \
  } while (0)

#define CHECK_MSG(cond, ...)                                                                  \
  do {                                                                                        \
    lbt_checks++;                                                                             \
    if (!(cond)) {                                                                            \
      lbt_failures++;                                                                         \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);                \
      fprintf(stderr, __VA_ARGS__);                                                           \
      fputc('\n', stderr);                                                                    \
    }                                                                                         \
  } while (0)

/* Expect an lb_status; prints lb_last_error() on mismatch. */
#define CHECK_STATUS(expr, want)                                                              \
  do {                                                                                        \
    lb_status lbt_s_ = (expr);                                                                \
    lbt_checks++;                                                                             \
    if (lbt_s_ != (want)) {                                                                   \
      lbt_failures++;                                                                         \
      fprintf(stderr, "%s:%d: %s returned %s (%s), expected %s\n", __FILE__, __LINE__, #expr, \
              lb_status_str(lbt_s_), lb_last_error(), lb_status_str(want));                   \
    }                                                                                         \
  } while (0)
#define CHECK_OK(expr) CHECK_STATUS(expr, LB_OK)

#define CHECK_NEAR(a, b, tol)                                                                 \
  do {                                                                                        \
    double lbt_a_ = (double)(a), lbt_b_ = (double)(b);                                        \
    lbt_checks++;                                                                             \
    if (!(lbt_a_ - lbt_b_ <= (tol) && lbt_b_ - lbt_a_ <= (tol))) {                            \
      lbt_failures++;                                                                         \
      fprintf(stderr, "%s:%d: %s = %.9g, %s = %.9g, |diff| > %g\n", __FILE__, __LINE__, #a,   \
              lbt_a_, #b, lbt_b_, (double)(tol));                                             \
    }                                                                                         \
  } while (0)

/* Print a summary line and return the process exit code (0 pass, 1 fail). */
int lbt_finish(const char *name);
/* Print why, return LBT_SKIP: use as `return lbt_skip("name", "no data at %s", p);`. */
int lbt_skip(const char *name, const char *why);

/* n floats (at least one), 64-byte aligned; release with free(). Exits the test on OOM. */
float *lbt_falloc(size_t n);

void lbt_fill_uniform(float *x, int64_t n, lb_rng *rng, float lo, float hi);
/* max_i |a_i - b_i| / max(|b_i|, floor) */
double lbt_max_rel_err(const float *a, const float *b, int64_t n, double floor);
double lbt_max_abs_err(const float *a, const float *b, int64_t n);
/* max_i |a_i| (0 for n = 0) */
double lbt_max_abs(const float *a, size_t n);
/* Error relative to the scale of the whole reference: lbt_max_rel_err with
 * floor = 1e-2 * lbt_max_abs(want) (at least 1e-30, so an all-zero reference still fails on any
 * nonzero result). Rounding of float sums lands near 1e-6 of that scale, an indexing mistake near
 * 1, and elements far below the tensor's scale are not judged by their own tiny magnitude. */
double lbt_scaled_err(const float *got, const float *want, size_t n);

/* Finite-difference gradient check. loss(ctx) must run the forward pass on the current
 * contents of param and return a scalar computed in double. analytic[i] is the gradient of that
 * loss w.r.t. param[i]. Checks `samples` elements (all if samples <= 0 or >= n) by central
 * differences with step eps; returns the worst error |num-ana| / max(|num|,|ana|, floor). */
typedef double (*lbt_loss_fn)(void *ctx);
double lbt_grad_check(lbt_loss_fn loss, void *ctx, float *param, const float *analytic, int64_t n,
                      int samples, double eps, double floor, lb_rng *rng);

/* Dot product in double: the usual scalar loss sum(y * r) for gradient checks. */
double lbt_dot(const float *y, const float *r, int64_t n);

/* Directory of the source tree (env LOWBIT_SOURCE_DIR, set by ctest), and the CLI binary. */
const char *lbt_source_dir(void);
const char *lbt_cli(void);
/* The read-only shared/ folder beside the project (env LOWBIT_SHARED_DIR, else
 * <source dir>/../shared). Tests that need it skip visibly when it is absent. */
const char *lbt_shared_dir(void);
int lbt_file_exists(const char *path);

/* Temp files. lbt_tmp_init makes a fresh directory /tmp/<prefix>XXXXXX and returns its path
 * (NULL, after saying why on stderr, if it cannot). lbt_tmp_path returns "<dir>/<name>" and
 * remembers it, as lbt_write_file and lbt_write_gz remember what they write; the string stays
 * valid until the path is removed. lbt_write_file/lbt_write_gz write len bytes (plain, or gzip
 * compressed) and CHECK the open, the write (plain: only if len > 0) and the close.
 * lbt_tmp_remove removes every remembered path below path, deepest first, then path itself, and
 * returns 0 if that last removal worked (so a directory holding anything not remembered fails,
 * and what could not be removed is kept for a later try). lbt_tmp_cleanup does that for the
 * whole directory. */
const char *lbt_tmp_init(const char *prefix);
const char *lbt_tmp_path(const char *name);
void lbt_write_file(const char *path, const void *data, size_t len);
void lbt_write_gz(const char *path, const void *data, size_t len);
int lbt_tmp_remove(const char *path);
int lbt_tmp_cleanup(void);

/* A dataset loader's failure: CHECK that status s is want, that lb_last_error() names `who` and
 * contains `what`, and that *out (filled with 0xAB before the call) was zeroed; line is the
 * caller's, for the messages. Frees *out if the load unexpectedly succeeded. */
void lbt_check_load_failure(lb_status s, lb_dataset *out, lb_status want, const char *who, const char *what,
                            int line);
/* Every field of d is zero / NULL: what a failed load or lb_dataset_free leaves. */
int lbt_dataset_zeroed(const lb_dataset *d);

/* Read a fixture file of float32 values written by tools/gen_torch_fixtures.py.
 * Returns a malloc'ed array and its count, or NULL. */
float *lbt_read_f32(const char *path, int64_t *count);

/* Read up to cap-1 bytes of a file into buf, NUL-terminated ("" if it cannot be read). */
void lbt_slurp(const char *path, char *buf, size_t cap);
/* Run the lowbit CLI (lbt_cli()) with printf-style arguments and no standard input; its stdout
 * and stderr land in lbt_out and lbt_err. Returns the exit code, -1 if it did not exit. */
#define LBT_OUT_CAP (1 << 16)
extern char lbt_out[LBT_OUT_CAP], lbt_err[LBT_OUT_CAP];
int lbt_run_cli(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* A quantizer spec from its fields (tests build many of them). */
#include "lowbit/quant.h"
lb_qspec lbt_qspec(int bits, int is_signed, int symmetric, int narrow, lb_qgran gran, int axis, int group,
                   lb_qscale_kind scale_kind);
/* A plan request with min/max observers and no BN folding (tests set the rest by field). */
#include "lowbit/qgraph.h"
lb_qplan_request lbt_qplan_request(const char *backend, int wbits, int abits, lb_estimator est);

/* ONNX Runtime (npm onnxruntime-node in <source>/node_modules, run by tools/ort_run.js) as the
 * outside runtime exports are checked against. lbt_ort_available says why not (stderr) and
 * returns 0 when node or the package is missing; lbt_ort_run runs model on x (float32, dims
 * of the input, ndims <= 4) and reads ny floats of its first output into y; 0 on success. */
int lbt_ort_available(void);
int lbt_ort_run(const char *model, const float *x, const int64_t *dims, int ndims, float *y, int64_t ny);

#endif
