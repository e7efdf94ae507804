/* Binary fake quantization, y = s * sign(x), with BinaryConnect's clipped straight-through
 * gradient and an LSQ-style scale gradient.
 *
 * The scale gradient treats sign() as the identity inside the window, as LSQ treats rint():
 * inside, y ~ s * (x/s) gives dy/ds = q - x/s; outside, y = s * q exactly gives q. The window
 * |x| <= s is where hardtanh(x/s) is the identity (BinaryNet's cancel-outside rule). */
#include <math.h>

#include "quant/binary_quant.h"
#include "quant/fq_dims.h"

#define FQB_PAR_MIN (1 << 16)  /* elements before threads pay off */
#define FQB_CHUNK (1 << 14)
#define FQB_MAX_CHUNKS 64

void lb_fqb_forward(const lb_qspec *q, const lb_shape *shape, const float *x, const float *scale, float *y) {
  lb_fq_dims d = lb_fq_dims_of(q, shape);
  int64_t rows = d.outer * d.C;
#pragma omp parallel for schedule(static) if (rows * d.inner >= FQB_PAR_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const float s = scale[r % d.C];
    const float *xr = x + r * d.inner;
    float *yr = y + r * d.inner;
    for (int64_t i = 0; i < d.inner; i++) yr[i] = xr[i] >= 0.0f ? s : -s;
  }
}

/* dx over one run of a parameter, and (if sum) the run's scale terms added to *sum in order. */
static void run_backward(const float *x, const float *dy, float *dx, int64_t n, float s, float gf, double *sum) {
  const float inv = 1.0f / s;
  double acc = 0.0;
  for (int64_t i = 0; i < n; i++) {
    const float q = x[i] >= 0.0f ? 1.0f : -1.0f;
    const int inside = fabsf(x[i]) <= s;
    if (dx) dx[i] += dy[i] * (float)inside;
    if (sum) acc += (double)(dy[i] * (inside ? q - x[i] * inv : q) * gf);
  }
  if (sum) *sum += acc;
}

void lb_fqb_backward(const lb_qspec *q, const lb_shape *shape, const float *x, const float *scale, const float *dy,
                     float grad_factor, float *dx, float *dscale) {
  lb_fq_dims d = lb_fq_dims_of(q, shape);
  const int64_t n = d.outer * d.C * d.inner;
  if (n <= 0 || (!dx && !dscale)) return;
  if (d.C == 1) {
    /* one parameter: fixed chunks (boundaries depend on n only), partial sums added in order */
    double part[FQB_MAX_CHUNKS];
    int64_t nch = (n + FQB_CHUNK - 1) / FQB_CHUNK;
    if (nch > FQB_MAX_CHUNKS) nch = FQB_MAX_CHUNKS;
    const int64_t chunk = (n + nch - 1) / nch;
#pragma omp parallel for schedule(static) if (n >= FQB_PAR_MIN)
    for (int64_t k = 0; k < nch; k++) {
      int64_t lo = k * chunk, hi = lo + chunk < n ? lo + chunk : n;
      part[k] = 0.0;
      if (hi > lo)
        run_backward(x + lo, dy + lo, dx ? dx + lo : NULL, hi - lo, scale[0], grad_factor, dscale ? &part[k] : NULL);
    }
    if (dscale) {
      double s = 0.0;
      for (int64_t k = 0; k < nch; k++) s += part[k];
      dscale[0] += (float)s;
    }
    return;
  }
  /* several parameters: each reduced serially in element order by one thread */
#pragma omp parallel for schedule(static) if (n >= FQB_PAR_MIN)
  for (int64_t c = 0; c < d.C; c++) {
    double s = 0.0;
    for (int64_t o = 0; o < d.outer; o++) {
      int64_t off = (o * d.C + c) * d.inner;
      run_backward(x + off, dy + off, dx ? dx + off : NULL, d.inner, scale[c], grad_factor, dscale ? &s : NULL);
    }
    if (dscale) dscale[c] += (float)s;
  }
}
