/* Uniform fake quantization (quantize-dequantize) with its straight-through and LSQ/LSQ+
 * gradients, operation for operation as PyTorch 1.13's CPU kernels
 * (fake_quantize_per_{tensor,channel}_affine and _fake_quantize_learnable_per_{tensor,channel}_affine),
 * so that forward values and dx match bit for bit. Binary (+-1) specs go to binary_quant.c.
 *
 * Layout: (outer, C, inner) as fq_dims.h.
 *
 * Determinism: element-wise outputs are trivially deterministic. dscale/dzero are sums; a single
 * parameter is reduced over fixed chunks (chunk boundaries depend on the size only) whose partial
 * sums are added in chunk order, and several parameters are each reduced serially in element
 * order by one thread. Partial sums are kept in double. Neither depends on the thread count. */
#include <math.h>

#include "lowbit/quant.h"
#include "quant/binary_quant.h"
#include "quant/fq_dims.h"

#define FQ_PAR_MIN (1 << 16)  /* elements before threads pay off (memory bound) */
#define FQ_MAX_CHUNKS 64      /* partial sums for a single-parameter reduction */
#define FQ_MIN_CHUNK (1 << 14)

typedef struct fq_layout {
  int64_t outer, C, inner;
  float qmin, qmax;
  int sym, tensor; /* symmetric spec; per-tensor granularity */
} fq_layout;

static fq_layout layout_of(const lb_qspec *q, const lb_shape *shape) {
  fq_layout l;
  int32_t lo, hi;
  lb_qspec_range(q, &lo, &hi);
  l.qmin = (float)lo;
  l.qmax = (float)hi;
  l.sym = q->symmetric;
  l.tensor = q->gran == LB_QGRAN_TENSOR;
  lb_fq_dims d = lb_fq_dims_of(q, shape);
  l.outer = d.outer;
  l.C = d.C;
  l.inner = d.inner;
  return l;
}

static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* The zero point the forward pass (and the STE mask) uses: clamp(rint(zero), qmin, qmax), as
 * PyTorch's learnable forward (round, clamp, then integer). Symmetric specs and a NULL zero
 * array use 0. */
static inline float zp_forward(const fq_layout *l, const float *zero, int64_t c) {
  if (l->sym || !zero) return 0.0f;
  return clampf(rintf(zero[c]), l->qmin, l->qmax);
}

/* The zero point PyTorch's learnable backward uses. Per channel (and per group) it is the forward
 * one. Per tensor PyTorch (_get_zero_point_from_tensor with is_forward=false) truncates
 * clamp(zero + 0.5, qmin, qmax) instead: exact halves round up, and negative non-integer zero
 * points land one step above the forward's (-1.3 -> 0, not -1). We follow it so that LSQ+
 * per-tensor gradients match PyTorch; integer zero points agree either way. */
static inline float zp_backward(const fq_layout *l, const float *zero, int64_t c) {
  if (l->sym || !zero) return 0.0f;
  if (l->tensor) return (float)(int64_t)clampf(zero[0] + 0.5f, l->qmin, l->qmax);
  return clampf(rintf(zero[c]), l->qmin, l->qmax);
}

/* ---- forward ------------------------------------------------------------------------------- */
static void fwd_run(const float *x, float *y, int64_t n, float s, float zp, float qmin, float qmax) {
  float inv = 1.0f / s;
  for (int64_t j = 0; j < n; j++) {
    float r = clampf(rintf(x[j] * inv) + zp, qmin, qmax);
    y[j] = (r - zp) * s;
  }
}

/* Element range [lo, hi) of the flat tensor, split into runs of one parameter. */
static void fwd_range(const fq_layout *l, const float *x, const float *scale, const float *zero, float *y, int64_t lo,
                      int64_t hi) {
  int64_t j = lo;
  while (j < hi) {
    int64_t row = j / l->inner, c = row % l->C;
    int64_t end = (row + 1) * l->inner;
    if (end > hi) end = hi;
    fwd_run(x + j, y + j, end - j, scale[c], zp_forward(l, zero, c), l->qmin, l->qmax);
    j = end;
  }
}

/* inner == 1 (channel on the last axis): one parameter per element within each row of C. */
static void fwd_rows(const fq_layout *l, const float *x, const float *scale, const float *zero, float *y) {
  int64_t C = l->C;
#pragma omp parallel for schedule(static) if (l->outer * C >= FQ_PAR_MIN)
  for (int64_t o = 0; o < l->outer; o++) {
    const float *xr = x + o * C;
    float *yr = y + o * C;
    for (int64_t c = 0; c < C; c++) {
      float s = scale[c], zp = zp_forward(l, zero, c);
      float r = clampf(rintf(xr[c] * (1.0f / s)) + zp, l->qmin, l->qmax);
      yr[c] = (r - zp) * s;
    }
  }
}

void lb_fq_forward(const lb_qspec *q, const lb_shape *shape, const float *x, const float *scale, const float *zero,
                   float *y) {
  if (q->binary) {
    lb_fqb_forward(q, shape, x, scale, y);
    return;
  }
  fq_layout l = layout_of(q, shape);
  int64_t n = l.outer * l.C * l.inner;
  if (n <= 0) return;
  if (l.inner == 1 && l.C > 1) {
    fwd_rows(&l, x, scale, zero, y);
    return;
  }
  int64_t nch = (n + FQ_MIN_CHUNK - 1) / FQ_MIN_CHUNK;
#pragma omp parallel for schedule(static) if (n >= FQ_PAR_MIN)
  for (int64_t k = 0; k < nch; k++) {
    int64_t lo = k * FQ_MIN_CHUNK, hi = lo + FQ_MIN_CHUNK < n ? lo + FQ_MIN_CHUNK : n;
    fwd_range(&l, x, scale, zero, y, lo, hi);
  }
}

/* ---- straight-through backward ----------------------------------------------------------- */
static void ste_run(const float *x, const float *dy, float *dx, int64_t n, float s, float zp, float qmin, float qmax) {
  float inv = 1.0f / s;
  for (int64_t j = 0; j < n; j++) {
    float r = rintf(x[j] * inv) + zp;
    dx[j] += dy[j] * (float)(r >= qmin && r <= qmax); /* dy * mask: -0 where dy < 0, as PyTorch */
  }
}

void lb_fq_backward_ste(const lb_qspec *q, const lb_shape *shape, const float *x, const float *scale,
                        const float *zero, const float *dy, float *dx) {
  if (!dx) return;
  if (q->binary) {
    lb_fqb_backward(q, shape, x, scale, dy, 0.0f, dx, NULL);
    return;
  }
  fq_layout l = layout_of(q, shape);
  int64_t n = l.outer * l.C * l.inner;
  if (n <= 0) return;
  int64_t nch = (n + FQ_MIN_CHUNK - 1) / FQ_MIN_CHUNK;
#pragma omp parallel for schedule(static) if (n >= FQ_PAR_MIN)
  for (int64_t k = 0; k < nch; k++) {
    int64_t j = k * FQ_MIN_CHUNK, hi = j + FQ_MIN_CHUNK < n ? j + FQ_MIN_CHUNK : n;
    while (j < hi) {
      int64_t row = j / l.inner, c = row % l.C;
      int64_t end = (row + 1) * l.inner;
      if (end > hi) end = hi;
      ste_run(x + j, dy + j, dx + j, end - j, scale[c], zp_forward(&l, zero, c), l.qmin, l.qmax);
      j = end;
    }
  }
}

/* ---- LSQ / LSQ+ backward ----------------------------------------------------------------- */
/* PyTorch's learnable backward rounds after adding the zero point, rint(zp + x*inv), unlike its
 * forward, rint(x*inv) + zp: at exact ties with an odd zero point the two disagree (x*inv = 254.5,
 * zp = 1, qmax = 255: the forward keeps 255, the backward calls it clamped). We follow it.
 * PyTorch's CPU kernel is compiled for AVX2/AVX-512 with floating-point contraction, so
 * zp + x*inv is one fused multiply-add (rounded once) and so is (q - zp)*s - x; the fixtures show
 * it (x*inv rounds to -2.5 but the exact product is below it, and the fused sum rounds to -1, not
 * -0). We use fmaf for both, which is also exact on every machine (without hardware FMA, fmaf is
 * a slower library call). */
typedef struct lsq_par {
  float s, inv, zb, qmin, qmax, dsmall, dbig, gf;
} lsq_par;

static lsq_par lsq_par_of(const fq_layout *l, float s, float zb, float gf) {
  lsq_par p;
  p.s = s;
  p.inv = 1.0f / s;
  p.zb = zb;
  p.qmin = l->qmin;
  p.qmax = l->qmax;
  p.dsmall = l->qmin - zb;
  p.dbig = l->qmax - zb;
  p.gf = gf;
  return p;
}

static void lsq_dx_run(const float *x, const float *dy, float *dx, int64_t n, const lsq_par *p) {
  const float inv = p->inv, zb = p->zb, qmin = p->qmin, qmax = p->qmax;
  for (int64_t j = 0; j < n; j++) {
    float xq = rintf(fmaf(x[j], inv, zb));
    /* dy * mask: -0 where dy < 0, as PyTorch */
    dx[j] += dy[j] * (float)((xq >= qmin) & (xq <= qmax));
  }
}

/* The per-element dscale and dzero terms, each rounded to float exactly as PyTorch computes it. */
static inline void lsq_terms(float xv, float g, const lsq_par *p, float *ts, float *tz) {
  float xq = rintf(fmaf(xv, p->inv, p->zb));
  float inside = g * fmaf(xq - p->zb, p->s, -xv) * p->inv * p->gf;
  float below = g * p->dsmall * p->gf, above = g * p->dbig * p->gf, clamped = -g * p->s * p->gf;
  int lo = xq < p->qmin, hi = xq > p->qmax;
  *ts = lo ? below : (hi ? above : inside);
  *tz = (lo | hi) ? clamped : 0.0f;
}

/* Sums of the terms over n elements, in double. Eight interleaved accumulators combined in a
 * fixed order: the result depends only on n, and the compiler can vectorize the body. with_z 0
 * skips the zero-point terms (a symmetric spec has none): the scale sum keeps its bits. */
#define LSQ_LANES 8
static inline __attribute__((always_inline)) void lsq_sum_body(const float *x, const float *dy, int64_t n,
                                                               const lsq_par *p, double *sum_s, double *sum_z,
                                                               const int with_z) {
  double as[LSQ_LANES] = {0}, az[LSQ_LANES] = {0};
  int64_t j = 0;
  for (; j + LSQ_LANES <= n; j += LSQ_LANES)
    for (int k = 0; k < LSQ_LANES; k++) {
      float ts, tz;
      lsq_terms(x[j + k], dy[j + k], p, &ts, &tz);
      as[k] += (double)ts;
      if (with_z) az[k] += (double)tz;
    }
  for (int k = 0; j < n; j++, k++) {
    float ts, tz;
    lsq_terms(x[j], dy[j], p, &ts, &tz);
    as[k] += (double)ts;
    if (with_z) az[k] += (double)tz;
  }
  double ss = 0.0, sz = 0.0;
  for (int k = 0; k < LSQ_LANES; k++) {
    ss += as[k];
    sz += az[k];
  }
  *sum_s += ss;
  *sum_z += sz;
}

static void lsq_sum_run(const float *x, const float *dy, int64_t n, const lsq_par *p, double *sum_s, double *sum_z,
                        int with_z) {
  if (with_z)
    lsq_sum_body(x, dy, n, p, sum_s, sum_z, 1);
  else
    lsq_sum_body(x, dy, n, p, sum_s, sum_z, 0);
}

void lb_fq_backward_lsq(const lb_qspec *q, const lb_shape *shape, const float *x, const float *scale,
                        const float *zero, const float *dy, float grad_factor, float *dx, float *dscale, float *dzero) {
  if (q->binary) {
    lb_fqb_backward(q, shape, x, scale, dy, grad_factor, dx, dscale);
    return;
  }
  fq_layout l = layout_of(q, shape);
  int64_t n = l.outer * l.C * l.inner;
  if (n <= 0) return;
  if (q->symmetric) dzero = NULL;
  const int64_t C = l.C, inner = l.inner, outer = l.outer;
  if (C == 1 && (dscale || dzero)) {
    /* one parameter over all n elements: fixed chunks (by size only), partials added in order.
     * Each chunk's dx is computed right before its sums, so the sums read x and dy from cache
     * (the backward is memory bound; a separate dx pass read them from memory twice). */
    double ps[FQ_MAX_CHUNKS], pz[FQ_MAX_CHUNKS];
    int64_t nch = (n + FQ_MIN_CHUNK - 1) / FQ_MIN_CHUNK;
    if (nch > FQ_MAX_CHUNKS) nch = FQ_MAX_CHUNKS;
    int64_t chunk = (n + nch - 1) / nch;
    lsq_par p = lsq_par_of(&l, scale[0], zp_backward(&l, zero, 0), grad_factor);
#pragma omp parallel for schedule(static) if (n >= FQ_PAR_MIN)
    for (int64_t k = 0; k < nch; k++) {
      int64_t lo = k * chunk, hi = lo + chunk < n ? lo + chunk : n;
      ps[k] = 0.0;
      pz[k] = 0.0;
      if (hi <= lo) continue;
      if (dx) lsq_dx_run(x + lo, dy + lo, dx + lo, hi - lo, &p);
      lsq_sum_run(x + lo, dy + lo, hi - lo, &p, &ps[k], &pz[k], dzero != NULL);
    }
    double ss = 0.0, sz = 0.0;
    for (int64_t k = 0; k < nch; k++) {
      ss += ps[k];
      sz += pz[k];
    }
    if (dscale) dscale[0] += (float)ss;
    if (dzero) dzero[0] += (float)sz;
    return;
  }
  if (dx) {
    int64_t nch = (n + FQ_MIN_CHUNK - 1) / FQ_MIN_CHUNK;
#pragma omp parallel for schedule(static) if (n >= FQ_PAR_MIN)
    for (int64_t k = 0; k < nch; k++) {
      int64_t j = k * FQ_MIN_CHUNK, hi = j + FQ_MIN_CHUNK < n ? j + FQ_MIN_CHUNK : n;
      while (j < hi) {
        int64_t row = j / inner, c = row % C;
        int64_t end = (row + 1) * inner;
        if (end > hi) end = hi;
        lsq_par p = lsq_par_of(&l, scale[c], zp_backward(&l, zero, c), grad_factor);
        lsq_dx_run(x + j, dy + j, dx + j, end - j, &p);
        j = end;
      }
    }
  }
  if (!dscale && !dzero) return;
  /* several parameters: each reduced serially, in element order, by one thread */
#pragma omp parallel for schedule(static) if (n >= FQ_PAR_MIN)
  for (int64_t c = 0; c < C; c++) {
    lsq_par p = lsq_par_of(&l, scale[c], zp_backward(&l, zero, c), grad_factor);
    double ss = 0.0, sz = 0.0;
    for (int64_t o = 0; o < outer; o++) {
      int64_t off = (o * C + c) * inner;
      lsq_sum_run(x + off, dy + off, inner, &p, &ss, &sz, dzero != NULL);
    }
    if (dscale) dscale[c] += (float)ss;
    if (dzero) dzero[c] += (float)sz;
  }
}

float lb_lsq_grad_factor(const lb_qspec *q, const lb_shape *shape) {
  int32_t qmin, qmax;
  lb_qspec_range(q, &qmin, &qmax);
  int64_t np = lb_qspec_num_params(q, shape);
  int64_t numel = lb_shape_numel(shape);
  double per = np > 0 ? (double)numel / (double)np : (double)numel;
  double qp = qmax > 0 ? (double)qmax : 1.0; /* signed 1-bit has qmax 0: use 1, not a division by 0 */
  if (per <= 0.0) return 0.0f;
  return (float)(1.0 / sqrt(per * qp));
}
