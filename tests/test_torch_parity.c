/* nn kernels against PyTorch: forward and backward of conv2d (the public fast path, the portable
 * im2col+BLAS path that SIMD builds bypass, and the _ref twin), linear, batch norm (train and
 * eval), max/avg/global-average pooling, relu/hardtanh and softmax cross-entropy, on the fixed
 * inputs of tests/fixtures/torch_nn.bin (written by tools/gen_torch_fixtures.py with Debian's
 * python3-torch; see its header for the format). Every output must match within 1e-5 relative
 * (see TOL and FLOOR_FRAC below). The fixture is committed, so a missing or damaged file is a
 * failure, not a skip. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/nn.h"
#include "nn/conv2d_impl.h" /* the portable im2col+BLAS conv path, which SIMD builds bypass */
#include "testutil.h"

/* Required agreement: |ours - torch| <= TOL * max(|torch_i|, FLOOR_FRAC * max_j |torch_j|).
 * The references are exact (float64 in PyTorch, rounded once to float32); ours are float32
 * kernels. A float32 sum of m terms carries an absolute error of order eps32 * sum|term_i|, which
 * follows the magnitude of the summands (the scale of the whole tensor), not of the result: an
 * element that is small because its terms cancel has a large error relative to itself. So an
 * element is judged relative to itself, but never relative to less than a tenth of the largest
 * magnitude in the same tensor. Any indexing, padding, divisor or sign bug moves elements by
 * O(tensor scale) and still fails by orders of magnitude. */
#define TOL 1e-5
#define FLOOR_FRAC 0.1

/* ---- fixture file (format in tools/gen_torch_fixtures.py) ----------------------------------- */
typedef struct fx_tensor {
  char name[32];
  int ndim;
  int64_t dims[LB_MAX_DIMS];
  int64_t numel;
  const float *data;
} fx_tensor;

typedef struct fx_record {
  char name[64];
  int count;
  fx_tensor t[16];
} fx_record;

/* Words are read with memcpy (no aliasing of the float buffer); the file is little-endian, like
 * every host lowbit supports. */
static uint32_t word_at(const float *base, int64_t i) {
  uint32_t v;
  memcpy(&v, base + i, sizeof v);
  return v;
}

typedef struct fx_reader {
  const float *w;
  int64_t pos, end;
  int bad;
} fx_reader;

static uint32_t rd_u32(fx_reader *r) {
  if (r->bad || r->pos >= r->end) {
    r->bad = 1;
    return 0;
  }
  return word_at(r->w, r->pos++);
}

static void rd_str(fx_reader *r, char *dst, size_t cap) {
  uint32_t len = rd_u32(r);
  int64_t words = ((int64_t)len + 3) / 4;
  if (r->bad || len >= cap || words > r->end - r->pos) {
    r->bad = 1;
    dst[0] = '\0';
    return;
  }
  memcpy(dst, r->w + r->pos, len);
  dst[len] = '\0';
  r->pos += words;
}

static int rd_record(fx_reader *r, fx_record *rec) {
  rd_str(r, rec->name, sizeof rec->name);
  uint32_t count = rd_u32(r);
  if (r->bad || count > sizeof rec->t / sizeof rec->t[0]) return 0;
  rec->count = (int)count;
  for (int i = 0; i < rec->count; i++) {
    fx_tensor *t = &rec->t[i];
    rd_str(r, t->name, sizeof t->name);
    uint32_t nd = rd_u32(r);
    if (r->bad || nd > LB_MAX_DIMS) return 0;
    t->ndim = (int)nd;
    t->numel = 1;
    for (int j = 0; j < t->ndim; j++) {
      t->dims[j] = rd_u32(r);
      if (t->dims[j] > (1 << 20)) return 0;
      t->numel *= t->dims[j];
    }
    if (r->bad || t->numel > r->end - r->pos) return 0;
    t->data = r->w + r->pos;
    r->pos += t->numel;
  }
  return !r->bad;
}

static const fx_tensor *get(const fx_record *rec, const char *name) {
  for (int i = 0; i < rec->count; i++)
    if (strcmp(rec->t[i].name, name) == 0) return &rec->t[i];
  return NULL;
}

/* The tensor `name`, which must exist with `numel` elements (numel < 0: any). */
static const fx_tensor *need(const fx_record *rec, const char *name, int64_t numel) {
  const fx_tensor *t = get(rec, name);
  CHECK_MSG(t != NULL, "%s: tensor '%s' missing", rec->name, name);
  if (t && numel >= 0 && t->numel != numel) {
    CHECK_MSG(t->numel == numel, "%s: '%s' has %lld elements, expected %lld", rec->name, name, (long long)t->numel,
              (long long)numel);
    return NULL;
  }
  return t;
}

/* ---- comparison and per-op bookkeeping --------------------------------------------------- */
enum { OP_CONV, OP_CONV_BLAS, OP_CONV_REF, OP_LINEAR, OP_BN_TRAIN, OP_BN_EVAL, OP_MAXPOOL, OP_AVGPOOL, OP_GAP, OP_RELU,
       OP_HARDTANH, OP_XENT, OP_COUNT };
static const char *op_names[OP_COUNT] = {"conv2d", "conv2d_blas", "conv2d_ref", "linear", "bn_train", "bn_eval", "maxpool",
                                         "avgpool", "gap", "relu", "hardtanh", "xent"};
static double op_worst[OP_COUNT];
static int op_cases[OP_COUNT];

static double rel_err(const float *got, const float *ref, int64_t n) {
  double mx = 0;
  for (int64_t i = 0; i < n; i++)
    if (fabs((double)ref[i]) > mx) mx = fabs((double)ref[i]);
  double floor = FLOOR_FRAC * mx;
  if (!(floor > 0)) floor = 1e-30; /* all-zero reference: any nonzero result fails */
  return lbt_max_rel_err(got, ref, n, floor);
}

/* Compare got against the record's tensor `name`; returns the error (inf if absent). */
static double cmp(int op, const fx_record *rec, const char *tag, const char *name, const float *got, int64_t n) {
  const fx_tensor *t = need(rec, name, n);
  if (!t) return INFINITY;
  double e = rel_err(got, t->data, n);
  CHECK_MSG(e <= TOL, "%s [%s] %s: relative error %.3g > %g", rec->name, tag, name, e, TOL);
  if (e > op_worst[op] || isnan(e)) op_worst[op] = isnan(e) ? INFINITY : e;
  printf("  %-44s %-5s %-13s %.2e\n", rec->name, tag, name, e);
  return e;
}

static float *zalloc(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

static float *nan_alloc(int64_t n) { /* outputs that must be fully overwritten start as NaN */
  float *p = zalloc(n);
  for (int64_t i = 0; p && i < n; i++) p[i] = NAN;
  return p;
}

static int cfg_int(const fx_tensor *cfg, int i) { return (int)lrintf(cfg->data[i]); }

/* ---- conv2d: cfg = [stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups] ----------------- */
static void run_conv(const fx_record *rec) {
  const fx_tensor *cfg = need(rec, "cfg", 7), *x = need(rec, "x", -1), *w = need(rec, "w", -1);
  if (!cfg || !x || !w || x->ndim != 4 || w->ndim != 4) return;
  lb_conv2d_desc d = {.n = (int)x->dims[0], .c = (int)x->dims[1], .h = (int)x->dims[2], .w = (int)x->dims[3],
                      .k = (int)w->dims[0], .r = (int)w->dims[2], .s = (int)w->dims[3],
                      .stride_h = cfg_int(cfg, 0), .stride_w = cfg_int(cfg, 1), .pad_h = cfg_int(cfg, 2),
                      .pad_w = cfg_int(cfg, 3), .dil_h = cfg_int(cfg, 4), .dil_w = cfg_int(cfg, 5),
                      .groups = cfg_int(cfg, 6)};
  CHECK_OK(lb_conv2d_init(&d));
  const fx_tensor *y = need(rec, "y", -1);
  if (!y || y->ndim != 4) return;
  CHECK_MSG(y->dims[1] == d.k && y->dims[2] == d.oh && y->dims[3] == d.ow, "%s: output %dx%d, torch %lldx%lld",
            rec->name, d.oh, d.ow, (long long)y->dims[2], (long long)y->dims[3]);
  CHECK(w->dims[1] == d.c / d.groups);
  const int64_t ny = (int64_t)d.n * d.k * d.oh * d.ow, nx = x->numel, nw = w->numel;
  const fx_tensor *b = get(rec, "b"), *dy = need(rec, "dy", ny);
  if (!dy || y->numel != ny || (b && b->numel != d.k)) return;
  size_t sf = lb_conv2d_scratch_floats(&d), sfb = lb_conv2d_blas_scratch_floats(&d);
  if (sfb > sf) sf = sfb;
  float *scratch = lb_alloc_aligned((sf ? sf : 1) * sizeof(float));
  float *yo = nan_alloc(ny), *dx = zalloc(nx), *dw = zalloc(nw), *db = zalloc(d.k);
  if (!scratch || !yo || !dx || !dw || !db) {
    CHECK_MSG(0, "out of memory");
  } else {
    /* the public (fast) kernels, the portable path behind them on non-SIMD builds, the _ref twin */
    static const int ops[3] = {OP_CONV, OP_CONV_BLAS, OP_CONV_REF};
    static const char *tags[3] = {"fast", "blas", "ref"};
    for (int pass = 0; pass < 3; pass++) {
      const int op = ops[pass];
      const char *tag = tags[pass];
      for (int64_t i = 0; i < ny; i++) yo[i] = NAN;
      memset(dx, 0, (size_t)nx * sizeof(float));
      memset(dw, 0, (size_t)nw * sizeof(float));
      memset(db, 0, (size_t)d.k * sizeof(float));
      if (pass == 0) {
        lb_conv2d_forward(&d, x->data, w->data, b ? b->data : NULL, yo, scratch);
        lb_conv2d_backward(&d, x->data, w->data, dy->data, dx, dw, b ? db : NULL, scratch);
      } else if (pass == 1) {
        lb_conv2d_blas_forward(&d, x->data, w->data, b ? b->data : NULL, yo, scratch);
        lb_conv2d_blas_backward(&d, x->data, w->data, dy->data, dx, dw, b ? db : NULL, scratch);
      } else {
        lb_conv2d_forward_ref(&d, x->data, w->data, b ? b->data : NULL, yo);
        lb_conv2d_backward_ref(&d, x->data, w->data, dy->data, dx, dw, b ? db : NULL);
      }
      cmp(op, rec, tag, "y", yo, ny);
      cmp(op, rec, tag, "dx", dx, nx);
      cmp(op, rec, tag, "dw", dw, nw);
      if (b) cmp(op, rec, tag, "db", db, d.k);
      op_cases[op]++;
    }
  }
  lb_free_aligned(scratch);
  free(yo);
  free(dx);
  free(dw);
  free(db);
}

/* ---- linear: x (N,IN), w (OUT,IN) ----------------------------------------------------------- */
static void run_linear(const fx_record *rec) {
  const fx_tensor *x = need(rec, "x", -1), *w = need(rec, "w", -1);
  if (!x || !w || x->ndim != 2 || w->ndim != 2 || x->dims[1] != w->dims[1]) {
    CHECK_MSG(0, "%s: bad x/w shapes", rec->name);
    return;
  }
  const int n = (int)x->dims[0], in = (int)x->dims[1], out = (int)w->dims[0];
  const fx_tensor *b = get(rec, "b"), *dy = need(rec, "dy", (int64_t)n * out);
  if (!dy || (b && b->numel != out)) return;
  float *y = nan_alloc((int64_t)n * out), *dx = zalloc(x->numel), *dw = zalloc(w->numel), *db = zalloc(out);
  if (y && dx && dw && db) {
    lb_linear_forward(n, in, out, x->data, w->data, b ? b->data : NULL, y);
    lb_linear_backward(n, in, out, x->data, w->data, dy->data, dx, dw, b ? db : NULL);
    cmp(OP_LINEAR, rec, "", "y", y, (int64_t)n * out);
    cmp(OP_LINEAR, rec, "", "dx", dx, x->numel);
    cmp(OP_LINEAR, rec, "", "dw", dw, w->numel);
    if (b) cmp(OP_LINEAR, rec, "", "db", db, out);
    op_cases[OP_LINEAR]++;
  } else {
    CHECK_MSG(0, "out of memory");
  }
  free(y);
  free(dx);
  free(dw);
  free(db);
}

/* ---- batch norm: x (N,C,...) with hw = product of the trailing dims ------------------------ */
static int bn_desc_from(const fx_record *rec, const fx_tensor *x, float eps, float momentum, lb_bn_desc *d) {
  if (!x || x->ndim < 2) return 0;
  int64_t hw = 1;
  for (int i = 2; i < x->ndim; i++) hw *= x->dims[i];
  *d = (lb_bn_desc){.n = (int)x->dims[0], .c = (int)x->dims[1], .hw = (int)hw, .eps = eps, .momentum = momentum};
  lb_status s = lb_bn_init(d);
  CHECK_MSG(s == LB_OK, "%s: lb_bn_init: %s", rec->name, lb_last_error());
  return s == LB_OK;
}

/* training: cfg = [eps, momentum] */
static void run_bn_train(const fx_record *rec) {
  const fx_tensor *cfg = need(rec, "cfg", 2), *x = need(rec, "x", -1);
  lb_bn_desc d;
  if (!cfg || !bn_desc_from(rec, x, cfg->data[0], cfg->data[1], &d)) return;
  const int64_t c = d.c, nx = x->numel;
  const fx_tensor *gamma = need(rec, "gamma", c), *beta = need(rec, "beta", c), *dy = need(rec, "dy", nx);
  const fx_tensor *rm0 = need(rec, "running_mean0", c), *rv0 = need(rec, "running_var0", c);
  if (!gamma || !beta || !dy || !rm0 || !rv0) return;
  float *y = nan_alloc(nx), *dx = zalloc(nx), *rm = zalloc(c), *rv = zalloc(c);
  float *sm = nan_alloc(c), *si = nan_alloc(c), *dg = zalloc(c), *dbeta = zalloc(c);
  if (y && dx && rm && rv && sm && si && dg && dbeta) {
    memcpy(rm, rm0->data, (size_t)c * sizeof(float));
    memcpy(rv, rv0->data, (size_t)c * sizeof(float));
    lb_bn_forward_train(&d, x->data, gamma->data, beta->data, rm, rv, y, sm, si);
    /* backward from our own saved statistics, as a training step does */
    lb_bn_backward(&d, x->data, gamma->data, sm, si, dy->data, dx, dg, dbeta);
    cmp(OP_BN_TRAIN, rec, "", "y", y, nx);
    cmp(OP_BN_TRAIN, rec, "", "save_mean", sm, c);
    cmp(OP_BN_TRAIN, rec, "", "save_invstd", si, c);
    cmp(OP_BN_TRAIN, rec, "", "running_mean", rm, c);
    cmp(OP_BN_TRAIN, rec, "", "running_var", rv, c);
    cmp(OP_BN_TRAIN, rec, "", "dx", dx, nx);
    cmp(OP_BN_TRAIN, rec, "", "dgamma", dg, c);
    cmp(OP_BN_TRAIN, rec, "", "dbeta", dbeta, c);
    op_cases[OP_BN_TRAIN]++;
  } else {
    CHECK_MSG(0, "out of memory");
  }
  free(y);
  free(dx);
  free(rm);
  free(rv);
  free(sm);
  free(si);
  free(dg);
  free(dbeta);
}

/* evaluation: cfg = [eps] */
static void run_bn_eval(const fx_record *rec) {
  const fx_tensor *cfg = need(rec, "cfg", 1), *x = need(rec, "x", -1);
  lb_bn_desc d;
  if (!cfg || !bn_desc_from(rec, x, cfg->data[0], 0.1f, &d)) return;
  const int64_t c = d.c;
  const fx_tensor *gamma = need(rec, "gamma", c), *beta = need(rec, "beta", c);
  const fx_tensor *rm = need(rec, "running_mean", c), *rv = need(rec, "running_var", c);
  float *y = nan_alloc(x->numel);
  if (gamma && beta && rm && rv && y) {
    lb_bn_forward_eval(&d, x->data, gamma->data, beta->data, rm->data, rv->data, y);
    cmp(OP_BN_EVAL, rec, "", "y", y, x->numel);
    op_cases[OP_BN_EVAL]++;
  }
  free(y);
}

/* ---- pooling: cfg = [kh, kw, stride_h, stride_w, pad_h, pad_w, ceil_mode, count_include_pad] - */
static void run_pool(const fx_record *rec, int maxpool) {
  const fx_tensor *cfg = need(rec, "cfg", 8), *x = need(rec, "x", -1), *yref = need(rec, "y", -1);
  if (!cfg || !x || !yref || x->ndim != 4 || yref->ndim != 4) return;
  lb_pool_desc d = {.n = (int)x->dims[0], .c = (int)x->dims[1], .h = (int)x->dims[2], .w = (int)x->dims[3],
                    .kh = cfg_int(cfg, 0), .kw = cfg_int(cfg, 1), .stride_h = cfg_int(cfg, 2),
                    .stride_w = cfg_int(cfg, 3), .pad_h = cfg_int(cfg, 4), .pad_w = cfg_int(cfg, 5),
                    .ceil_mode = cfg_int(cfg, 6), .count_include_pad = cfg_int(cfg, 7)};
  CHECK_OK(lb_pool_init(&d));
  CHECK_MSG(yref->dims[2] == d.oh && yref->dims[3] == d.ow, "%s: output %dx%d, torch %lldx%lld", rec->name, d.oh,
            d.ow, (long long)yref->dims[2], (long long)yref->dims[3]);
  const int64_t ny = (int64_t)d.n * d.c * d.oh * d.ow;
  const fx_tensor *dy = need(rec, "dy", ny);
  if (!dy || yref->numel != ny) return;
  const int op = maxpool ? OP_MAXPOOL : OP_AVGPOOL;
  float *y = nan_alloc(ny), *dx = zalloc(x->numel);
  int32_t *am = calloc((size_t)ny, sizeof(int32_t));
  if (y && dx && am) {
    if (maxpool) {
      lb_maxpool_forward(&d, x->data, y, am);
      lb_maxpool_backward(&d, dy->data, am, dx);
    } else {
      lb_avgpool_forward(&d, x->data, y);
      lb_avgpool_backward(&d, dy->data, dx);
    }
    cmp(op, rec, "", "y", y, ny);
    cmp(op, rec, "", "dx", dx, x->numel);
    op_cases[op]++;
  }
  free(y);
  free(dx);
  free(am);
}

static void run_gap(const fx_record *rec) {
  const fx_tensor *x = need(rec, "x", -1);
  if (!x || x->ndim != 4) return;
  const int n = (int)x->dims[0], c = (int)x->dims[1], hw = (int)(x->dims[2] * x->dims[3]);
  const fx_tensor *dy = need(rec, "dy", (int64_t)n * c);
  float *y = nan_alloc((int64_t)n * c), *dx = zalloc(x->numel);
  if (dy && y && dx) {
    lb_gap_forward(n, c, hw, x->data, y);
    lb_gap_backward(n, c, hw, dy->data, dx);
    cmp(OP_GAP, rec, "", "y", y, (int64_t)n * c);
    cmp(OP_GAP, rec, "", "dx", dx, x->numel);
    op_cases[OP_GAP]++;
  }
  free(y);
  free(dx);
}

/* ---- activations: hardtanh cfg = [lo, hi] ------------------------------------------------- */
static void run_act(const fx_record *rec, int hardtanh) {
  const fx_tensor *x = need(rec, "x", -1), *cfg = hardtanh ? need(rec, "cfg", 2) : NULL;
  if (!x || (hardtanh && !cfg)) return;
  const int64_t n = x->numel;
  const fx_tensor *dy = need(rec, "dy", n);
  float *y = nan_alloc(n), *dx = zalloc(n);
  if (dy && y && dx) {
    const int op = hardtanh ? OP_HARDTANH : OP_RELU;
    if (hardtanh) {
      lb_hardtanh_forward(n, cfg->data[0], cfg->data[1], x->data, y);
      lb_hardtanh_backward(n, cfg->data[0], cfg->data[1], x->data, dy->data, dx);
    } else {
      lb_relu_forward(n, x->data, y);
      lb_relu_backward(n, x->data, dy->data, dx);
    }
    cmp(op, rec, "", "y", y, n);
    cmp(op, rec, "", "dx", dx, n);
    op_cases[op]++;
  }
  free(y);
  free(dx);
}

/* ---- softmax cross-entropy: cfg = [label_smoothing, scale]; labels stored as floats --------- */
static void run_xent(const fx_record *rec) {
  const fx_tensor *cfg = need(rec, "cfg", 2), *z = need(rec, "logits", -1);
  if (!cfg || !z || z->ndim != 2) return;
  const int n = (int)z->dims[0], k = (int)z->dims[1];
  const fx_tensor *lab = need(rec, "labels", n);
  float *probs = nan_alloc(z->numel), *dz = zalloc(z->numel);
  int32_t *labels = calloc((size_t)n, sizeof(int32_t));
  if (lab && probs && dz && labels) {
    for (int i = 0; i < n; i++) {
      labels[i] = (int32_t)lrintf(lab->data[i]);
      CHECK(labels[i] >= 0 && labels[i] < k);
    }
    float loss = lb_softmax_xent_forward(n, k, z->data, labels, cfg->data[0], probs);
    lb_softmax_xent_backward(n, k, probs, labels, cfg->data[0], cfg->data[1], dz);
    cmp(OP_XENT, rec, "", "loss", &loss, 1);
    cmp(OP_XENT, rec, "", "probs", probs, z->numel);
    cmp(OP_XENT, rec, "", "dlogits", dz, z->numel);
    op_cases[OP_XENT]++;
  }
  free(probs);
  free(dz);
  free(labels);
}

/* ---- driver ------------------------------------------------------------------------------- */
static int starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static void dispatch(const fx_record *rec) {
  if (starts_with(rec->name, "conv2d/")) run_conv(rec);
  else if (starts_with(rec->name, "linear/")) run_linear(rec);
  else if (starts_with(rec->name, "bn_train/")) run_bn_train(rec);
  else if (starts_with(rec->name, "bn_eval/")) run_bn_eval(rec);
  else if (starts_with(rec->name, "maxpool/")) run_pool(rec, 1);
  else if (starts_with(rec->name, "avgpool/")) run_pool(rec, 0);
  else if (starts_with(rec->name, "gap/")) run_gap(rec);
  else if (starts_with(rec->name, "relu/")) run_act(rec, 0);
  else if (starts_with(rec->name, "hardtanh/")) run_act(rec, 1);
  else if (starts_with(rec->name, "xent/")) run_xent(rec);
  else CHECK_MSG(0, "unknown fixture record '%s'", rec->name);
}

static void run_file(const char *path) {
  int64_t words = 0;
  float *buf = lbt_read_f32(path, &words);
  CHECK_MSG(buf != NULL, "cannot read %s (it is committed; regenerate with /usr/bin/python3 "
                         "tools/gen_torch_fixtures.py)", path);
  if (!buf) return;
  uint32_t head[5] = {0};
  for (int i = 0; i < 5 && i < words; i++) head[i] = word_at(buf, i);
  const uint32_t payload = head[3];
  int ok = words >= 5 && memcmp(buf, "LBTF", 4) == 0 && head[1] == 1 && (int64_t)payload == words - 5;
  CHECK_MSG(ok, "%s: bad header (magic, version 1, or payload length)", path);
  if (ok) {
    uint32_t crc = lb_crc32(0, buf + 5, (size_t)payload * 4);
    CHECK_MSG(crc == head[4], "%s: checksum %08x, header says %08x", path, (unsigned)crc, (unsigned)head[4]);
    ok = crc == head[4];
  }
  if (ok) {
    fx_reader r = {.w = buf + 5, .pos = 0, .end = payload};
    const uint32_t nrec = head[2];
    static fx_record rec;
    for (uint32_t i = 0; i < nrec; i++) {
      if (!rd_record(&r, &rec)) {
        CHECK_MSG(0, "%s: record %u malformed", path, (unsigned)i);
        break;
      }
      dispatch(&rec);
    }
    CHECK_MSG(r.pos == r.end, "%s: %lld trailing words", path, (long long)(r.end - r.pos));
  }
  free(buf);
}

int main(void) {
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/fixtures/torch_nn.bin", lbt_source_dir());
  printf("fixture %s (tolerance %g relative, floor %g x max|ref| per tensor)\n", path, TOL, FLOOR_FRAC);
  run_file(path);
  printf("worst relative error per op:\n");
  for (int op = 0; op < OP_COUNT; op++) {
    printf("  %-11s %2d cases  %.2e\n", op_names[op], op_cases[op], op_worst[op]);
    CHECK_MSG(op_cases[op] > 0, "no fixture case ran for %s", op_names[op]);
  }
  return lbt_finish("test_torch_parity");
}
