#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>

int lbt_checks;
int lbt_failures;

int lbt_finish(const char *name) {
  printf("%s: %d checks, %d failed\n", name, lbt_checks, lbt_failures);
  return lbt_failures ? 1 : 0;
}

int lbt_skip(const char *name, const char *why) {
  printf("%s: SKIPPED: %s\n", name, why);
  return LBT_SKIP;
}

void lbt_fill_uniform(float *x, int64_t n, lb_rng *rng, float lo, float hi) {
  for (int64_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * lb_rng_uniform(rng);
}

double lbt_max_rel_err(const float *a, const float *b, int64_t n, double floor) {
  double worst = 0;
  for (int64_t i = 0; i < n; i++) {
    double den = fabs((double)b[i]);
    if (den < floor) den = floor;
    double e = fabs((double)a[i] - (double)b[i]) / den;
    if (e > worst || isnan(e)) worst = isnan(e) ? INFINITY : e;
  }
  return worst;
}

double lbt_max_abs_err(const float *a, const float *b, int64_t n) {
  double worst = 0;
  for (int64_t i = 0; i < n; i++) {
    double e = fabs((double)a[i] - (double)b[i]);
    if (e > worst || isnan(e)) worst = isnan(e) ? INFINITY : e;
  }
  return worst;
}

double lbt_dot(const float *y, const float *r, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (double)y[i] * (double)r[i];
  return s;
}

double lbt_grad_check(lbt_loss_fn loss, void *ctx, float *param, const float *analytic, int64_t n,
                      int samples, double eps, double floor, lb_rng *rng) {
  double worst = 0;
  int64_t count = (samples <= 0 || samples >= n) ? n : samples;
  for (int64_t t = 0; t < count; t++) {
    int64_t i = (count == n) ? t : (int64_t)lb_rng_below(rng, (uint32_t)n);
    float saved = param[i];
    param[i] = (float)((double)saved + eps);
    double up = loss(ctx);
    param[i] = (float)((double)saved - eps);
    double down = loss(ctx);
    /* use the step actually representable in float */
    double h = (double)(float)((double)saved + eps) - (double)(float)((double)saved - eps);
    param[i] = saved;
    double num = (up - down) / h;
    double ana = analytic[i];
    double den = fmax(fmax(fabs(num), fabs(ana)), floor);
    double e = fabs(num - ana) / den;
    if (e > worst || isnan(e)) worst = isnan(e) ? INFINITY : e;
  }
  return worst;
}

const char *lbt_source_dir(void) {
  const char *d = getenv("LOWBIT_SOURCE_DIR");
  return d ? d : ".";
}

const char *lbt_cli(void) {
  const char *c = getenv("LOWBIT_CLI");
  return c ? c : "lowbit";
}

int lbt_file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

float *lbt_read_f32(const char *path, int64_t *count) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long bytes = ftell(f);
  fseek(f, 0, SEEK_SET);
  if (bytes < 0 || bytes % 4) {
    fclose(f);
    return NULL;
  }
  float *v = malloc((size_t)bytes + 4);
  if (v && fread(v, 1, (size_t)bytes, f) != (size_t)bytes) {
    free(v);
    v = NULL;
  }
  fclose(f);
  if (v) *count = bytes / 4;
  return v;
}
