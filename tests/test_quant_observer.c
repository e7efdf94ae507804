/* Observers (quant.h): every kind against a direct computation of what it should produce. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/quant.h"
#include "testutil.h"

static lb_qspec spec(int bits, int is_signed, int symmetric) {
  return lbt_qspec(bits, is_signed, symmetric, 0, LB_QGRAN_TENSOR, 0, 0, LB_QSCALE_FLOAT);
}

/* quant.h's formulas, written out again here */
static void want_qparams(const lb_qspec *q, float lo, float hi, float *s, float *z) {
  int32_t qmin, qmax;
  lb_qspec_range(q, &qmin, &qmax);
  lo = lo < 0 ? lo : 0;
  hi = hi > 0 ? hi : 0;
  if (q->symmetric && q->is_signed)
    *s = (-lo > hi ? -lo : hi) / ((float)(qmax - qmin) / 2.0f);
  else if (q->symmetric)
    *s = hi / (float)qmax;
  else
    *s = (hi - lo) / (float)(qmax - qmin);
  if (*s < FLT_EPSILON) *s = FLT_EPSILON;
  if (q->scale_kind == LB_QSCALE_POW2) *s = lb_qscale_pow2(*s);
  float zz = q->symmetric ? 0.0f : (float)qmin - rintf(lo / *s);
  *z = zz < qmin ? (float)qmin : zz > qmax ? (float)qmax : zz;
}

static int is_pow2(float s) {
  int e;
  return s > 0 && frexpf(s, &e) == 0.5f;
}

static void test_names(void) {
  for (int k = 0; k < LB_OBS_KIND_COUNT; k++) {
    lb_observer_kind got = LB_OBS_KIND_COUNT;
    CHECK_OK(lb_observer_kind_parse(lb_observer_kind_name((lb_observer_kind)k), &got));
    CHECK(got == (lb_observer_kind)k);
  }
  lb_observer_kind got;
  CHECK_STATUS(lb_observer_kind_parse("histogram", &got), LB_ERR_ARG);
  CHECK(strstr(lb_last_error(), "histogram") != NULL);
  CHECK(strcmp(lb_observer_kind_name(LB_OBS_KL), "kl") == 0);
  CHECK(strcmp(lb_observer_kind_name((lb_observer_kind)42), "unknown") == 0);
}

static void test_minmax_ema(void) {
  const float b1[4] = {1.0f, -2.0f, 3.0f, 0.25f}, b2[4] = {0.5f, 4.0f, -1.0f, 0.0f}, b3[4] = {-0.5f, 1.5f, 0, 0};
  lb_shape sh = lb_shape1(4);
  const lb_qspec qs = spec(8, 1, 1), qa = spec(8, 0, 0), qu = spec(4, 0, 1);
  const lb_qspec *qq[3] = {&qs, &qa, &qu};
  for (int i = 0; i < 3; i++) {
    lb_observer o;
    CHECK_OK(lb_observer_init(&o, LB_OBS_MINMAX, qq[i], &sh));
    CHECK(o.n_params == 1);
    CHECK_OK(lb_observer_update(&o, &sh, b1));
    CHECK_OK(lb_observer_update(&o, &sh, b2));
    CHECK_OK(lb_observer_update(&o, &sh, b3));
    float s, z, ws, wz;
    CHECK_OK(lb_observer_compute(&o, &s, &z));
    want_qparams(qq[i], -2.0f, 4.0f, &ws, &wz);
    CHECK(s == ws && z == wz);
    lb_observer_free(&o);
  }
  /* affine zero point by hand: uint8 over [-2, 4]: s = 6/255, zero = rint(2/s) = rint(85) */
  {
    float s, z;
    lb_observer o;
    CHECK_OK(lb_observer_init(&o, LB_OBS_MINMAX, &qa, &sh));
    CHECK_OK(lb_observer_update(&o, &sh, b1));
    CHECK_OK(lb_observer_update(&o, &sh, b2));
    CHECK_OK(lb_observer_compute(&o, &s, &z));
    CHECK_NEAR(s, 6.0 / 255.0, 1e-8);
    CHECK(z == 85.0f);
    lb_observer_free(&o);
    /* all-positive data: the range is widened to 0, so zero = qmin */
    const float pos[4] = {1.0f, 2.0f, 3.0f, 5.0f};
    CHECK_OK(lb_observer_init(&o, LB_OBS_MINMAX, &qa, &sh));
    CHECK_OK(lb_observer_update(&o, &sh, pos));
    CHECK_OK(lb_observer_compute(&o, &s, &z));
    CHECK(z == 0.0f);
    CHECK_NEAR(s, 5.0 / 255.0, 1e-8);
    lb_observer_free(&o);
  }
  /* EMA: the first batch sets m, then m <- 0.9 m + 0.1 batch (default momentum), and a custom one */
  for (int pass = 0; pass < 2; pass++) {
    lb_observer o;
    CHECK_OK(lb_observer_init(&o, LB_OBS_EMA_MINMAX, &qa, &sh));
    CHECK_NEAR(o.momentum, 0.1, 1e-7);
    const double c = pass ? 0.25 : 0.1;
    o.momentum = (float)c;
    CHECK_OK(lb_observer_update(&o, &sh, b1));
    CHECK_OK(lb_observer_update(&o, &sh, b2));
    CHECK_OK(lb_observer_update(&o, &sh, b3));
    double mn = -2.0, mx = 3.0;
    mn = (1 - c) * mn + c * -1.0, mx = (1 - c) * mx + c * 4.0;
    mn = (1 - c) * mn + c * -0.5, mx = (1 - c) * mx + c * 1.5;
    float s, z, ws, wz;
    CHECK_OK(lb_observer_compute(&o, &s, &z));
    want_qparams(&qa, (float)mn, (float)mx, &ws, &wz);
    CHECK_NEAR(s, ws, 1e-6 * ws);
    CHECK(z == wz);
    lb_observer_free(&o);
  }
}

static void test_per_channel(void) {
  const float x[12] = {1, -2, 3, 0.5f, /**/ -8, 2, 1, 0, /**/ 0.1f, 0.2f, -0.3f, 0.05f};
  lb_shape sh = lb_shape2(3, 4);
  lb_qspec q = spec(8, 1, 1);
  q.gran = LB_QGRAN_CHANNEL;
  float s[4], z[4], ws, wz;
  lb_observer o;
  /* rows */
  q.axis = 0;
  CHECK_OK(lb_observer_init(&o, LB_OBS_MINMAX, &q, &sh));
  CHECK(o.n_params == 3);
  CHECK_OK(lb_observer_update(&o, &sh, x));
  CHECK_OK(lb_observer_compute(&o, s, z));
  for (int r = 0; r < 3; r++) {
    float lo = x[r * 4], hi = x[r * 4];
    for (int c = 0; c < 4; c++) lo = fminf(lo, x[r * 4 + c]), hi = fmaxf(hi, x[r * 4 + c]);
    want_qparams(&q, lo, hi, &ws, &wz);
    CHECK_MSG(s[r] == ws && z[r] == 0, "row %d: %g vs %g", r, (double)s[r], (double)ws);
  }
  /* a partial batch cannot be observed when dimension 0 is the channel axis */
  lb_shape part = lb_shape2(2, 4);
  CHECK_STATUS(lb_observer_update(&o, &part, x), LB_ERR_SHAPE);
  lb_observer_free(&o);
  /* columns, affine, two batches (the second one a partial batch of one row) */
  q.axis = 1;
  q.symmetric = 0;
  q.is_signed = 0;
  CHECK_OK(lb_observer_init(&o, LB_OBS_MINMAX, &q, &sh));
  CHECK(o.n_params == 4);
  CHECK_OK(lb_observer_update(&o, &sh, x));
  const float extra[4] = {9, -9, 0, 0};
  lb_shape one = lb_shape2(1, 4);
  CHECK_OK(lb_observer_update(&o, &one, extra));
  CHECK_OK(lb_observer_compute(&o, s, z));
  for (int c = 0; c < 4; c++) {
    float lo = extra[c], hi = extra[c];
    for (int r = 0; r < 3; r++) lo = fminf(lo, x[r * 4 + c]), hi = fmaxf(hi, x[r * 4 + c]);
    want_qparams(&q, lo, hi, &ws, &wz);
    CHECK_MSG(s[c] == ws && z[c] == wz, "column %d: %g %g vs %g %g", c, (double)s[c], (double)z[c], (double)ws,
              (double)wz);
  }
  lb_observer_free(&o);
  /* groups of 2 along each row of (3,4): 6 scales */
  q = spec(4, 1, 1);
  q.gran = LB_QGRAN_GROUP;
  q.group = 2;
  float gs[6], gz[6];
  CHECK_OK(lb_observer_init(&o, LB_OBS_MINMAX, &q, &sh));
  CHECK(o.n_params == 6);
  CHECK_OK(lb_observer_update(&o, &sh, x));
  CHECK_OK(lb_observer_compute(&o, gs, gz));
  for (int g = 0; g < 6; g++) {
    want_qparams(&q, fminf(x[2 * g], x[2 * g + 1]), fmaxf(x[2 * g], x[2 * g + 1]), &ws, &wz);
    CHECK_MSG(gs[g] == ws, "group %d", g);
  }
  lb_observer_free(&o);
}

/* Every kind, per channel on axis 1 of (4,3,5) over two batches (the second wider, so the
 * histograms grow), gives for each channel what a per-tensor observer of that channel's
 * elements alone gives. */
static void test_per_channel_all_kinds(void) {
  enum { D0 = 4, C = 3, D2 = 5, N = D0 * C * D2 };
  float x[2][N], slice[2][D0 * D2];
  lb_rng rng;
  lb_rng_seed(&rng, 11);
  for (int b = 0; b < 2; b++)
    for (int i = 0; i < N; i++) x[b][i] = (1.0f + 2.0f * b) * (float)(i / D2 % C + 1) * (lb_rng_uniform(&rng) - 0.3f);
  lb_shape sh = lb_shape3(D0, C, D2), ssh = lb_shape1(D0 * D2);
  for (int k = 0; k < LB_OBS_KIND_COUNT; k++)
    for (int sym = 0; sym < 2; sym++) {
      lb_qspec q = spec(4, sym, sym);
      q.gran = LB_QGRAN_CHANNEL;
      q.axis = 1;
      const lb_qspec qt = spec(4, sym, sym);
      lb_observer o, t;
      float s[C], z[C], ts, tz;
      CHECK_OK(lb_observer_init(&o, (lb_observer_kind)k, &q, &sh));
      o.percentile = 99.0f;
      o.bins = 256;
      CHECK_OK(lb_observer_update(&o, &sh, x[0]));
      CHECK_OK(lb_observer_update(&o, &sh, x[1]));
      CHECK_OK(lb_observer_compute(&o, s, z));
      for (int c = 0; c < C; c++) {
        for (int b = 0; b < 2; b++)
          for (int i = 0; i < D0; i++)
            for (int j = 0; j < D2; j++) slice[b][i * D2 + j] = x[b][(i * C + c) * D2 + j];
        CHECK_OK(lb_observer_init(&t, (lb_observer_kind)k, &qt, &ssh));
        t.percentile = 99.0f;
        t.bins = 256;
        CHECK_OK(lb_observer_update(&t, &ssh, slice[0]));
        CHECK_OK(lb_observer_update(&t, &ssh, slice[1]));
        CHECK_OK(lb_observer_compute(&t, &ts, &tz));
        CHECK_MSG(fabsf(s[c] - ts) <= 1e-6f * ts && z[c] == tz, "%s %s channel %d: %g %g vs %g %g",
                  lb_observer_kind_name((lb_observer_kind)k), sym ? "sym" : "affine", c, (double)s[c], (double)z[c],
                  (double)ts, (double)tz);
        lb_observer_free(&t);
      }
      lb_observer_free(&o);
    }
}

static void test_percentile(void) {
  enum { N = 10000 };
  float *x = lbt_falloc(N);
  for (int i = 0; i < N; i++) x[i] = (float)i;
  const lb_qspec q = spec(8, 1, 1);
  lb_shape sh = lb_shape1(N), half = lb_shape1(N / 2);
  lb_observer o;
  float s, z;
  CHECK_OK(lb_observer_init(&o, LB_OBS_PERCENTILE, &q, &sh));
  CHECK_NEAR(o.percentile, 99.99, 1e-4);
  o.percentile = 99.0f;
  CHECK_OK(lb_observer_update(&o, &sh, x));
  CHECK_OK(lb_observer_compute(&o, &s, &z));
  const double width = 9999.0 / 2048; /* the histogram's bin */
  CHECK_NEAR(s * 127.5, 9899.01, width);
  lb_observer_free(&o);
  /* the same data in two halves, the second beyond the first's range: the histogram grows
   * (bins merged, so up to 4x coarser here) and the answer stays in the right place */
  CHECK_OK(lb_observer_init(&o, LB_OBS_PERCENTILE, &q, &sh));
  o.percentile = 99.0f;
  CHECK_OK(lb_observer_update(&o, &half, x));
  CHECK_OK(lb_observer_update(&o, &half, x + N / 2));
  CHECK_OK(lb_observer_compute(&o, &s, &z));
  CHECK_NEAR(s * 127.5, 9899.01, 4 * width);
  lb_observer_free(&o);
  /* affine: both tails of x (-5000 .. 4999): 1st and 99th percentiles */
  for (int i = 0; i < N; i++) x[i] = (float)(i - N / 2);
  const lb_qspec qa = spec(8, 0, 0);
  CHECK_OK(lb_observer_init(&o, LB_OBS_PERCENTILE, &qa, &sh));
  o.percentile = 99.0f;
  CHECK_OK(lb_observer_update(&o, &sh, x));
  CHECK_OK(lb_observer_compute(&o, &s, &z));
  /* s = (hi - lo)/255, zero = -rint(lo/s) with lo ~ -4900.0, hi ~ 4899.0 (100 values beyond each) */
  CHECK_NEAR(s * 255.0, 9799.0, 2 * width);
  CHECK_NEAR(-(double)z * s, -4900.0, width + s);
  lb_observer_free(&o);
  /* the same in two halves, negative then positive: the grid slides and widens */
  CHECK_OK(lb_observer_init(&o, LB_OBS_PERCENTILE, &qa, &sh));
  o.percentile = 99.0f;
  CHECK_OK(lb_observer_update(&o, &half, x));
  CHECK_OK(lb_observer_update(&o, &half, x + N / 2));
  CHECK_OK(lb_observer_compute(&o, &s, &z));
  CHECK_NEAR(s * 255.0, 9799.0, 4 * width);
  CHECK_NEAR(-(double)z * s, -4900.0, 2 * width + s);
  lb_observer_free(&o);
  /* default 99.99 clips a single far outlier among 10^4 values */
  for (int i = 0; i < N; i++) x[i] = (float)(i % 100) / 100.0f;
  x[17] = 1000.0f;
  CHECK_OK(lb_observer_init(&o, LB_OBS_PERCENTILE, &q, &sh));
  CHECK_OK(lb_observer_update(&o, &sh, x));
  CHECK_OK(lb_observer_compute(&o, &s, &z));
  CHECK(s * 127.5f < 2.0f);
  lb_observer_free(&o);
  free(x);
}

/* sum (x - fq(x))^2 with lb_fq_forward, per tensor */
static double direct_sq_error(const lb_qspec *q, const float *x, int64_t n, float s, float z) {
  lb_shape sh = lb_shape1(n);
  float *y = lbt_falloc((size_t)n);
  lb_fq_forward(q, &sh, x, &s, &z, y);
  double e = 0;
  for (int64_t i = 0; i < n; i++) e += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
  free(y);
  return e;
}

static void test_mse(void) {
  enum { N = 4096 };
  float *x = lbt_falloc(N);
  lb_rng rng;
  lb_rng_seed(&rng, 7);
  const lb_qspec qs = spec(4, 1, 1), qa = spec(4, 0, 0);
  for (int pass = 0; pass < 2; pass++) {
    const lb_qspec *q = pass ? &qa : &qs;
    for (int i = 0; i < N; i++) x[i] = lb_rng_normal(&rng) + (pass ? 1.0f : 0.0f);
    x[5] = 12.0f, x[900] = -9.0f; /* outliers: clipping them pays at 4 bits */
    lb_shape sh = lb_shape1(N);
    lb_observer o;
    CHECK_OK(lb_observer_init(&o, LB_OBS_MSE, q, &sh));
    CHECK_OK(lb_observer_update(&o, &sh, x));
    float s, z;
    CHECK_OK(lb_observer_compute(&o, &s, &z));
    const double chosen = direct_sq_error(q, x, N, s, z);
    const float fr[] = {1.0f, 0.9f, 0.7f, 0.5f, 0.4f, 0.3f, 0.2f, 0.1f};
    double full = 0;
    for (size_t k = 0; k < sizeof fr / sizeof fr[0]; k++) {
      float cs, cz;
      want_qparams(q, fr[k] * -9.0f, fr[k] * 12.0f, &cs, &cz);
      const double e = direct_sq_error(q, x, N, cs, cz);
      if (k == 0) full = e;
      CHECK_MSG(chosen <= e * 1.01, "%s: chosen s=%g err %g > fraction %g err %g", pass ? "affine" : "sym", (double)s,
                chosen, (double)fr[k], e);
    }
    CHECK_MSG(chosen < 0.5 * full, "clipping should clearly win: %g vs %g", chosen, full);
    lb_observer_free(&o);
  }
  free(x);
}

/* TensorRT entropy calibration (MXNet's reference code), written naively: P with the outliers
 * in its last bin, Q from the histogram without them, expanded over P's non-zero bins; both
 * normalised; a bin with P > 0 and Q = 0 rules the candidate out */
static int kl_reference(const double *hist, int bins, int nq) {
  double best = INFINITY;
  int besti = -1;
  double *p = calloc((size_t)bins, sizeof *p), *qd = calloc((size_t)bins, sizeof *qd);
  for (int i = nq; i <= bins; i++) {
    for (int b = 0; b < i; b++) p[b] = hist[b];
    for (int b = i; b < bins; b++) p[i - 1] += hist[b];
    const int m = i / nq;
    for (int j = 0; j < nq; j++) {
      const int lo = j * m, hi = j == nq - 1 ? i : (j + 1) * m;
      double mass = 0;
      int cnt = 0;
      for (int b = lo; b < hi; b++) mass += hist[b], cnt += p[b] != 0;
      for (int b = lo; b < hi; b++) qd[b] = p[b] != 0 ? mass / cnt : 0;
    }
    double sp = 0, sq = 0, kl = 0;
    for (int b = 0; b < i; b++) sp += p[b], sq += qd[b];
    for (int b = 0; b < i; b++)
      if (p[b] != 0) kl += qd[b] == 0 ? INFINITY : p[b] / sp * log((p[b] / sp) / (qd[b] / sq));
    if (kl < best - 1e-12) best = kl, besti = i;
  }
  free(p);
  free(qd);
  return besti;
}

static void test_kl(void) {
  enum { BINS = 64, MAXN = 20000 };
  float *x = lbt_falloc(MAXN);
  double hist[BINS];
  int n = 0;
  /* |x| at bin centres (bin width 1: one value at 64 sets max|x| = 64, and lands in the last
   * bin), with a decaying, slightly bumpy profile and a sparse tail; signs alternate */
  for (int b = 0; b < BINS; b++) {
    int c = (int)(2000.0 * exp(-b / 5.0)) + (b % 3) + (b > 40 && b % 7 == 0 ? 3 : 0);
    if (b == BINS - 1) c = 0;
    hist[b] = c;
    for (int k = 0; k < c; k++, n++) x[n] = (n % 2 ? -1.0f : 1.0f) * ((float)b + 0.5f);
  }
  x[n++] = -64.0f;
  hist[BINS - 1] += 1;
  const lb_qspec q = spec(4, 1, 1); /* qmax 7: 7 levels */
  lb_shape sh = lb_shape1(n);
  lb_observer o;
  CHECK_OK(lb_observer_init(&o, LB_OBS_KL, &q, &sh));
  CHECK(o.bins == 2048);
  o.bins = BINS;
  CHECK_OK(lb_observer_update(&o, &sh, x));
  float s, z;
  CHECK_OK(lb_observer_compute(&o, &s, &z));
  const int ref = kl_reference(hist, BINS, 7);
  CHECK_MSG(ref > 7 && ref < BINS, "reference threshold %d", ref);
  CHECK_MSG(fabs(s * 7.5 - (ref + 0.5)) < 1e-4, "KL threshold %g, reference %g", s * 7.5, ref + 0.5);
  CHECK_STATUS(lb_observer_update(&o, &sh, x), LB_OK);
  o.bins = 128; /* bins are fixed by the first update */
  CHECK_STATUS(lb_observer_update(&o, &sh, x), LB_ERR_STATE);
  lb_observer_free(&o);
  /* 8 bits on the default 2048 bins: a threshold within the observed range */
  CHECK_OK(lb_observer_init(&o, LB_OBS_KL, &(lb_qspec){.bits = 8, .is_signed = 1, .symmetric = 1}, &sh));
  CHECK_OK(lb_observer_update(&o, &sh, x));
  CHECK_OK(lb_observer_compute(&o, &s, &z));
  CHECK(s * 127.5f > 1.0f && s * 127.5f <= 64.1f);
  lb_observer_free(&o);
  free(x);
}

static void test_lsq(void) {
  const float x[6] = {0.5f, -1.5f, 2.0f, -0.25f, 1.0f, 0.0f};
  lb_shape sh = lb_shape1(6);
  const double mean = (0.5 + 1.5 + 2.0 + 0.25 + 1.0) / 6;
  const lb_qspec qs = spec(4, 1, 1), qa = spec(8, 0, 0);
  lb_observer o;
  float s, z;
  CHECK_OK(lb_observer_init(&o, LB_OBS_LSQ, &qs, &sh));
  CHECK_OK(lb_observer_update(&o, &sh, x));
  CHECK_OK(lb_observer_compute(&o, &s, &z));
  CHECK_NEAR(s, 2 * mean / sqrt(7.0), 1e-6);
  CHECK(z == 0);
  lb_observer_free(&o);
  CHECK_OK(lb_observer_init(&o, LB_OBS_LSQ, &qa, &sh));
  CHECK_OK(lb_observer_update(&o, &sh, x));
  CHECK_OK(lb_observer_compute(&o, &s, &z));
  /* affine: the min/max range (LSQ+'s fallback), s = (2 - (-1.5)) / 255, zero = -rint(-1.5 / s) */
  CHECK_NEAR(s, 3.5 / 255.0, 1e-7);
  CHECK(z == -rintf(-1.5f / s));
  lb_observer_free(&o);
  /* the collapse this avoids: at 4 bits unsigned, LSQ's step with the zero point at the minimum
   * would leave no level above 0 for data whose minimum is far below its mean |x| */
  const float tail[6] = {-9.0f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
  const lb_qspec q4 = spec(4, 0, 0);
  CHECK_OK(lb_observer_init(&o, LB_OBS_LSQ, &q4, &sh));
  CHECK_OK(lb_observer_update(&o, &sh, tail));
  CHECK_OK(lb_observer_compute(&o, &s, &z));
  CHECK_MSG((15 - z) * s >= 0.5f, "4-bit affine LSQ init keeps 0.5 representable: top level %g", (double)((15 - z) * s));
  lb_observer_free(&o);
}

static void test_pow2_and_floor(void) {
  enum { N = 1000 };
  float *x = lbt_falloc(N);
  lb_rng rng;
  lb_rng_seed(&rng, 3);
  lbt_fill_uniform(x, N, &rng, -3.3f, 2.9f);
  lb_shape sh = lb_shape1(N);
  for (int k = 0; k < LB_OBS_KIND_COUNT; k++) {
    for (int sym = 0; sym < 2; sym++) {
      lb_qspec q = spec(6, sym, sym);
      q.scale_kind = LB_QSCALE_POW2;
      lb_observer o;
      float s, z, s2, z2;
      CHECK_OK(lb_observer_init(&o, (lb_observer_kind)k, &q, &sh));
      CHECK_OK(lb_observer_update(&o, &sh, x));
      CHECK_OK(lb_observer_compute(&o, &s, &z));
      CHECK_MSG(is_pow2(s), "%s: scale %g is not a power of two", lb_observer_kind_name((lb_observer_kind)k),
                (double)s);
      CHECK(z == rintf(z));
      lb_observer_free(&o);
      /* the same with a float scale: the pow2 one is its rounding in the log domain (the range
       * does not depend on the scale kind, except for MSE which searches with the real scale) */
      q.scale_kind = LB_QSCALE_FLOAT;
      CHECK_OK(lb_observer_init(&o, (lb_observer_kind)k, &q, &sh));
      CHECK_OK(lb_observer_update(&o, &sh, x));
      CHECK_OK(lb_observer_compute(&o, &s2, &z2));
      if (k != LB_OBS_MSE) CHECK(s == lb_qscale_pow2(s2));
      lb_observer_free(&o);
    }
  }
  /* all zeros: the scale floors at FLT_EPSILON (every kind) */
  memset(x, 0, sizeof(float) * N);
  for (int k = 0; k < LB_OBS_KIND_COUNT; k++) {
    lb_qspec q = spec(8, 0, 0);
    lb_observer o;
    float s, z;
    CHECK_OK(lb_observer_init(&o, (lb_observer_kind)k, &q, &sh));
    CHECK_OK(lb_observer_update(&o, &sh, x));
    CHECK_OK(lb_observer_compute(&o, &s, &z));
    CHECK_MSG(s == FLT_EPSILON && z == 0, "%s: %g %g", lb_observer_kind_name((lb_observer_kind)k), (double)s,
              (double)z);
    /* and data arriving after a batch of zeros widens the histogram from nothing */
    for (int i = 0; i < N; i++) x[i] = (float)(i - 500) / 100.0f;
    CHECK_OK(lb_observer_update(&o, &sh, x));
    CHECK_OK(lb_observer_compute(&o, &s, &z));
    CHECK_MSG(s > 0.001f && s < 0.2f, "%s: %g", lb_observer_kind_name((lb_observer_kind)k), (double)s);
    memset(x, 0, sizeof(float) * N);
    lb_observer_free(&o);
  }
  free(x);
}

static void test_errors(void) {
  lb_shape sh = lb_shape2(2, 3), other = lb_shape2(2, 4), bigger = lb_shape2(3, 3);
  const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  lb_qspec q = spec(8, 1, 1);
  lb_observer o;
  float s, z;
  CHECK_STATUS(lb_observer_init(&o, (lb_observer_kind)17, &q, &sh), LB_ERR_ARG);
  CHECK(o.state == NULL);
  lb_qspec bad = spec(0, 1, 1);
  CHECK_STATUS(lb_observer_init(&o, LB_OBS_MINMAX, &bad, &sh), LB_ERR_ARG);
  CHECK(strstr(lb_last_error(), "bits") != NULL);
  bad = spec(8, 1, 1);
  bad.gran = LB_QGRAN_CHANNEL;
  bad.axis = 3;
  CHECK_STATUS(lb_observer_init(&o, LB_OBS_MINMAX, &bad, &sh), LB_ERR_SHAPE);
  CHECK(o.state == NULL);

  CHECK_OK(lb_observer_init(&o, LB_OBS_MINMAX, &q, &sh));
  CHECK_STATUS(lb_observer_compute(&o, &s, &z), LB_ERR_STATE);
  CHECK(strstr(lb_last_error(), "nothing observed") != NULL);
  CHECK_STATUS(lb_observer_update(&o, &other, x), LB_ERR_SHAPE);
  CHECK(strstr(lb_last_error(), "(2,4)") != NULL);
  CHECK_STATUS(lb_observer_update(&o, &bigger, x), LB_ERR_SHAPE);
  lb_shape smaller = lb_shape2(1, 3), flat = lb_shape1(6);
  CHECK_STATUS(lb_observer_update(&o, &flat, x), LB_ERR_SHAPE);
  CHECK_OK(lb_observer_update(&o, &smaller, x));
  /* a non-finite value is refused and leaves the observer as it was */
  const float bad_x[6] = {100, -100, NAN, 0, 0, 0};
  CHECK_STATUS(lb_observer_update(&o, &sh, bad_x), LB_ERR_ARG);
  CHECK_OK(lb_observer_compute(&o, &s, &z));
  CHECK(s == 3.0f / 127.5f);
  CHECK(o.batches == 1);
  lb_observer_free(&o);
  CHECK(o.state == NULL);
  CHECK_STATUS(lb_observer_update(&o, &sh, x), LB_ERR_STATE);

  CHECK_OK(lb_observer_init(&o, LB_OBS_PERCENTILE, &q, &sh));
  o.percentile = 0.0f;
  CHECK_STATUS(lb_observer_update(&o, &sh, x), LB_ERR_ARG);
  CHECK(strstr(lb_last_error(), "percentile") != NULL);
  o.percentile = 100.5f;
  CHECK_STATUS(lb_observer_update(&o, &sh, x), LB_ERR_ARG);
  o.percentile = 100.0f;
  CHECK_OK(lb_observer_update(&o, &sh, x));
  CHECK_OK(lb_observer_compute(&o, &s, &z));
  CHECK(s == 6.0f / 127.5f); /* the 100th percentile is the maximum */
  o.percentile = -1.0f;
  CHECK_STATUS(lb_observer_compute(&o, &s, &z), LB_ERR_ARG);
  lb_observer_free(&o);

  CHECK_OK(lb_observer_init(&o, LB_OBS_EMA_MINMAX, &q, &sh));
  o.momentum = 1.5f;
  CHECK_STATUS(lb_observer_update(&o, &sh, x), LB_ERR_ARG);
  lb_observer_free(&o);
  CHECK_OK(lb_observer_init(&o, LB_OBS_MSE, &q, &sh));
  o.bins = 1;
  CHECK_STATUS(lb_observer_update(&o, &sh, x), LB_ERR_ARG);
  lb_observer_free(&o);
}

int main(void) {
  test_names();
  test_minmax_ema();
  test_per_channel();
  test_per_channel_all_kinds();
  test_percentile();
  test_mse();
  test_kl();
  test_lsq();
  test_pow2_and_floor();
  test_errors();
  return lbt_finish("test_quant_observer");
}
