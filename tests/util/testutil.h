/* Small test helpers shared by every tests/test_*.c: checks that count failures, a visible skip,
 * random fills, error measures and a finite-difference gradient checker. */
#ifndef LOWBIT_TESTUTIL_H
#define LOWBIT_TESTUTIL_H

#include <stdio.h>

#include "lowbit/core.h"

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

void lbt_fill_uniform(float *x, int64_t n, lb_rng *rng, float lo, float hi);
/* max_i |a_i - b_i| / max(|b_i|, floor) */
double lbt_max_rel_err(const float *a, const float *b, int64_t n, double floor);
double lbt_max_abs_err(const float *a, const float *b, int64_t n);

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
int lbt_file_exists(const char *path);

/* Read a fixture file of float32 values written by tools/gen_torch_fixtures.py.
 * Returns a malloc'ed array and its count, or NULL. */
float *lbt_read_f32(const char *path, int64_t *count);

#endif
