#include "testutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/wait.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

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

float *lbt_falloc(size_t n) {
  size_t bytes = (sizeof(float) * (n ? n : 1) + 63) / 64 * 64; /* aligned_alloc wants a multiple */
  float *p = n < SIZE_MAX / 8 ? aligned_alloc(64, bytes) : NULL;
  if (!p) {
    fprintf(stderr, "out of memory (%zu floats)\n", n);
    exit(1);
  }
  return p;
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

double lbt_max_abs(const float *a, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i]));
  return m;
}

double lbt_scaled_err(const float *got, const float *want, size_t n) {
  double floor = 1e-2 * lbt_max_abs(want, n);
  return lbt_max_rel_err(got, want, (int64_t)n, floor > 1e-30 ? floor : 1e-30);
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

const char *lbt_shared_dir(void) {
  static char dir[4096];
  const char *env = getenv("LOWBIT_SHARED_DIR");
  if (env) return env;
  if (!dir[0]) snprintf(dir, sizeof dir, "%s/../shared", lbt_source_dir());
  return dir;
}

const char *lbt_cli(void) {
  const char *c = getenv("LOWBIT_CLI");
  return c ? c : "lowbit";
}

int lbt_file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

int lbt_dataset_zeroed(const lb_dataset *d) {
  return d->n == 0 && d->c == 0 && d->h == 0 && d->w == 0 && d->classes == 0 && !d->images && !d->labels;
}

void lbt_check_load_failure(lb_status s, lb_dataset *out, lb_status want, const char *who, const char *what,
                            int line) {
  const char *msg = lb_last_error();
  CHECK_MSG(s == want, "line %d: got %s (%s), want %s", line, lb_status_str(s), msg, lb_status_str(want));
  CHECK_MSG(strstr(msg, who) != NULL, "line %d: message \"%s\" does not name %s", line, msg, who);
  CHECK_MSG(strstr(msg, what) != NULL, "line %d: message \"%s\" lacks \"%s\"", line, msg, what);
  CHECK_MSG(lbt_dataset_zeroed(out), "line %d: out not zeroed on failure", line);
  if (s == LB_OK) lb_dataset_free(out);
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

/* ---- temp files ----------------------------------------------------------------------------- */
enum { TMP_PATHS = 128, TMP_LEN = 512 };
static char tmp_dir[TMP_LEN];
static char tmp_paths[TMP_PATHS][TMP_LEN]; /* "" once removed */
static int tmp_n;

const char *lbt_tmp_init(const char *prefix) {
  snprintf(tmp_dir, sizeof tmp_dir, "/tmp/%sXXXXXX", prefix);
  if (!mkdtemp(tmp_dir)) {
    fprintf(stderr, "mkdtemp %s: %s\n", tmp_dir, strerror(errno));
    tmp_dir[0] = '\0';
    return NULL;
  }
  tmp_n = 0;
  return tmp_dir;
}

static const char *tmp_remember(const char *path) {
  for (int i = 0; i < tmp_n; i++)
    if (strcmp(tmp_paths[i], path) == 0) return tmp_paths[i];
  if (tmp_n == TMP_PATHS || strlen(path) >= TMP_LEN) {
    fprintf(stderr, "testutil: too many temp paths, or too long: %s\n", path);
    exit(1);
  }
  snprintf(tmp_paths[tmp_n], TMP_LEN, "%s", path);
  return tmp_paths[tmp_n++];
}

const char *lbt_tmp_path(const char *name) {
  char p[2 * TMP_LEN];
  snprintf(p, sizeof p, "%s/%s", tmp_dir, name);
  return tmp_remember(p);
}

void lbt_write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  CHECK_MSG(f != NULL, "cannot create %s", path);
  if (!f) return;
  if (len) CHECK_MSG(fwrite(data, 1, len, f) == len, "writing %s", path);
  CHECK_MSG(fclose(f) == 0, "closing %s", path);
  tmp_remember(path);
}

void lbt_write_gz(const char *path, const void *data, size_t len) {
  gzFile g = gzopen(path, "wb");
  CHECK_MSG(g != NULL, "cannot create %s", path);
  if (!g) return;
  CHECK_MSG(gzwrite(g, data, (unsigned)len) == (int)len, "writing %s", path);
  CHECK_MSG(gzclose(g) == Z_OK, "closing %s", path);
  tmp_remember(path);
}

int lbt_tmp_remove(const char *path) {
  char root[TMP_LEN];
  snprintf(root, sizeof root, "%s", path); /* path may be one of the remembered strings */
  size_t n = strlen(root);
  char tried[TMP_PATHS] = {0};
  int removed_root = 0;
  for (;;) { /* deepest first: a path below another is longer than it; root itself comes last */
    int pick = -1;
    for (int i = 0; i < tmp_n; i++) {
      const char *q = tmp_paths[i];
      if (!tried[i] && q[0] && strncmp(q, root, n) == 0 && (q[n] == '/' || q[n] == '\0') &&
          (pick < 0 || strlen(q) > strlen(tmp_paths[pick])))
        pick = i;
    }
    if (pick < 0) break;
    tried[pick] = 1;
    /* forget what is gone, or was never made; keep the rest for lbt_tmp_cleanup to retry */
    int ok = remove(tmp_paths[pick]) == 0;
    if (ok && strcmp(tmp_paths[pick], root) == 0) removed_root = 1;
    if (ok || errno == ENOENT) tmp_paths[pick][0] = '\0';
  }
  return removed_root || remove(root) == 0 ? 0 : -1;
}

int lbt_tmp_cleanup(void) {
  if (!tmp_dir[0]) return 0;
  int rc = lbt_tmp_remove(tmp_dir);
  tmp_dir[0] = '\0';
  tmp_n = 0;
  return rc;
}

lb_qspec lbt_qspec(int bits, int is_signed, int symmetric, int narrow, lb_qgran gran, int axis, int group,
                   lb_qscale_kind scale_kind) {
  lb_qspec q;
  memset(&q, 0, sizeof q);
  q.bits = bits;
  q.is_signed = is_signed;
  q.symmetric = symmetric;
  q.narrow = narrow;
  q.gran = gran;
  q.axis = axis;
  q.group = group;
  q.scale_kind = scale_kind;
  return q;
}

void lbt_slurp(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
  buf[n] = '\0';
  if (f) fclose(f);
}

char lbt_out[LBT_OUT_CAP], lbt_err[LBT_OUT_CAP];

int lbt_run_cli(const char *fmt, ...) {
  static char out_path[64], err_path[64];
  if (!out_path[0]) { /* two private capture files for the whole test process */
    snprintf(out_path, sizeof out_path, "/tmp/lbt_cli_out_%ld", (long)getpid());
    snprintf(err_path, sizeof err_path, "/tmp/lbt_cli_err_%ld", (long)getpid());
  }
  char args[2048], cmd[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s' </dev/null", lbt_cli(), args, out_path, err_path);
  int st = system(cmd);
  lbt_slurp(out_path, lbt_out, sizeof lbt_out);
  lbt_slurp(err_path, lbt_err, sizeof lbt_err);
  remove(out_path);
  remove(err_path);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

lb_qplan_request lbt_qplan_request(const char *backend, int wbits, int abits, lb_estimator est) {
  lb_qplan_request r;
  memset(&r, 0, sizeof r);
  r.backend = backend;
  r.wbits = wbits;
  r.abits = abits;
  r.est = est;
  r.w_observer = r.a_observer = LB_OBS_MINMAX;
  return r;
}

int lbt_ort_available(void) {
  char path[1024];
  snprintf(path, sizeof path, "%s/node_modules/onnxruntime-node/package.json", lbt_source_dir());
  if (!lbt_file_exists(path)) {
    fprintf(stderr, "onnxruntime-node not installed (%s missing; scripts/test.sh installs it)\n", path);
    return 0;
  }
  if (system("node --version >/dev/null 2>&1") != 0) {
    fprintf(stderr, "node is not on PATH (Debian package nodejs)\n");
    return 0;
  }
  return 1;
}

int lbt_ort_run(const char *model, const float *x, const int64_t *dims, int ndims, float *y, int64_t ny) {
  char in_path[64], out_path[64], shape[128] = "", cmd[2048];
  snprintf(in_path, sizeof in_path, "/tmp/lbt_ort_in_%ld", (long)getpid());
  snprintf(out_path, sizeof out_path, "/tmp/lbt_ort_out_%ld", (long)getpid());
  int64_t numel = 1;
  for (int i = 0; i < ndims; i++) {
    numel *= dims[i];
    size_t len = strlen(shape);
    snprintf(shape + len, sizeof shape - len, "%s%lld", i ? "," : "", (long long)dims[i]);
  }
  FILE *f = fopen(in_path, "wb");
  if (!f) return -1;
  size_t wrote = fwrite(x, sizeof(float), (size_t)numel, f);
  if (fclose(f) != 0 || wrote != (size_t)numel) return -1;
  snprintf(cmd, sizeof cmd, "node '%s/tools/ort_run.js' '%s' '%s' %s '%s'", lbt_source_dir(), model, in_path, shape,
           out_path);
  int st = system(cmd);
  int rc = -1;
  f = fopen(out_path, "rb");
  if (st == 0 && f) {
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (bytes == (long)(ny * (int64_t)sizeof(float)) && fread(y, sizeof(float), (size_t)ny, f) == (size_t)ny) rc = 0;
    else fprintf(stderr, "ort_run: output has %ld bytes, expected %lld\n", bytes, (long long)(ny * 4));
  }
  if (f) fclose(f);
  remove(in_path);
  remove(out_path);
  return rc;
}
