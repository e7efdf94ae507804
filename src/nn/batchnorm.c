/* Batch normalization over (N, HW) per channel: training forward with running-stat update,
 * evaluation forward, and the backward through the batch statistics; each also fused with a
 * following ReLU (lb_bn_relu_*), which saves the separate activation passes over the tensor.
 *
 * Layout x: (N,C,HW). Channel c lives in N planes of HW contiguous floats, plane i at
 * x + (i*C + c)*HW. Every kernel makes two passes over memory (statistics, then element-wise),
 * each a stream through whole images: a pass parallel over channels instead jumps C*HW floats
 * from plane to plane, which the prefetcher cannot follow on small planes (7x7: 3x slower,
 * measured with cold caches, the state a training step leaves them in).
 *
 * The statistics are summed in a fixed order whatever the thread count, so results are
 * bit-identical for 1 or many threads: each plane in BN_LANES double lanes, plane totals per
 * channel over a fixed group of images (BN_GROUPS groups, set by N alone), then the groups in
 * order. Threads take whole groups.
 *
 * The plain and fused kernels are thin wrappers over one routine each (bn_train, bn_eval,
 * bn_backward) with an activation flag, so statistics and coefficients are computed by the same
 * code: the fused result is bit-identical to lb_relu_* composed with the plain kernel. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/batchnorm_impl.h"

/* Below this many elements the OpenMP fork/join costs more than it saves. */
#define BN_PAR_MIN 32768

/* Images are summed in at most this many fixed groups (enough to keep a few threads busy). */
#define BN_GROUPS 16

/* The plane loops carry `omp simd`: GCC's -O2 cost model will not vectorize a loop that
 * needs a runtime alias check or a scalar tail, and every plane loop needs both. Iterations are
 * independent and have no reduction, so the results are the same bits as the scalar loop. */

lb_status lb_bn_init(lb_bn_desc *d) {
  if (!d) return lb_fail(LB_ERR_ARG, "bn: NULL descriptor");
  if (d->n <= 0 || d->c <= 0 || d->hw <= 0)
    return lb_fail(LB_ERR_ARG, "bn: dims must be positive (n=%d c=%d hw=%d)", d->n, d->c, d->hw);
  if ((double)d->n * (double)d->c * (double)d->hw > 9.0e18)
    return lb_fail(LB_ERR_SHAPE, "bn: tensor too large (n=%d c=%d hw=%d)", d->n, d->c, d->hw);
  /* written so that NaN fails too */
  if (!(d->eps > 0.0f) || isinf(d->eps)) return lb_fail(LB_ERR_ARG, "bn: eps must be > 0 and finite (%g)", (double)d->eps);
  if (!(d->momentum >= 0.0f && d->momentum <= 1.0f))
    return lb_fail(LB_ERR_ARG, "bn: momentum must be in [0,1] (%g)", (double)d->momentum);
  if (d->layout != LB_LAYOUT_NCHW && d->layout != LB_LAYOUT_NCHW16C)
    return lb_fail(LB_ERR_ARG, "bn: unknown layout %d", d->layout);
  if (d->layout == LB_LAYOUT_NCHW16C && d->c % 16 != 0)
    return lb_fail(LB_ERR_SHAPE, "bn: the nChw16c layout needs channels in multiples of 16 (c=%d)", d->c);
  return LB_OK;
}

/* s += sum(p - shift), q += sum((p - shift)^2) over len floats, in double. The shift (a value
 * of the same channel) keeps the one-pass variance free of cancellation when |mean| >> std. */
static void bn_sums(const float *p, int64_t len, double shift, double *s, double *q) {
  int64_t i = 0;
  for (; i + BN_LANES <= len; i += BN_LANES) {
    for (int j = 0; j < BN_LANES; j++) {
      double v = (double)p[i + j] - shift;
      s[j] += v;
      q[j] += v * v;
    }
  }
  for (; i < len; i++) {
    double v = (double)p[i] - shift;
    s[0] += v;
    q[0] += v * v;
  }
}

/* sd += sum(g), sx += sum(g * (x - mean)) over len floats, in double, g = bn_grad_in. */
static inline void bn_grad_sums(const float *x, const float *dy, const float *y, int relu, int64_t len,
                                double mean, double *sd, double *sx) {
  int64_t i = 0;
  for (; i + BN_LANES <= len; i += BN_LANES) {
    for (int j = 0; j < BN_LANES; j++) {
      double g = (double)bn_grad_in(dy, y, i + j, relu);
      sd[j] += g;
      sx[j] += g * ((double)x[i + j] - mean);
    }
  }
  for (; i < len; i++) {
    double g = (double)bn_grad_in(dy, y, i, relu);
    sd[0] += g;
    sx[0] += g * ((double)x[i] - mean);
  }
}

/* dp += a*g + b*(x - mf) + k over one plane, g = bn_grad_in. */
static inline void bn_dx_plane(const float *xp, const float *gp, const float *yp, int relu, float *dp,
                               int64_t hw, float mf, float a, float b, float k, int assign) {
  if (assign) {
#pragma omp simd
    for (int64_t j = 0; j < hw; j++) dp[j] = 0.0f + (a * bn_grad_in(gp, yp, j, relu) + b * (xp[j] - mf) + k);
    return;
  }
#pragma omp simd
  for (int64_t j = 0; j < hw; j++) dp[j] += a * bn_grad_in(gp, yp, j, relu) + b * (xp[j] - mf) + k;
}

static double bn_lanes_total(const double *a) {
  double t = 0;
  for (int j = 0; j < BN_LANES; j++) t += a[j];
  return t;
}

static int bn_groups(int n) { return n < BN_GROUPS ? n : BN_GROUPS; }

/* Images [*lo, *hi) of group k out of groups. */
static void bn_group_range(int n, int groups, int k, int *lo, int *hi) {
  *lo = (int)((int64_t)n * k / groups);
  *hi = (int)((int64_t)n * (k + 1) / groups);
}

/* Offset of element p = 0 of channel c in image i, in either layout. */
static int64_t bn_index(const lb_bn_desc *d, int i, int c) {
  const int64_t hw = d->hw;
  if (d->layout == LB_LAYOUT_NCHW16C) return (((int64_t)i * (d->c / 16) + c / 16) * hw) * 16 + c % 16;
  return ((int64_t)i * d->c + c) * hw;
}

/* Per-group partial sums: two arrays of groups * C doubles, then C floats for each of three
 * per-channel coefficients. The kernels return void (as every nn kernel); a few kilobytes that
 * cannot be had mean the process is about to die anyway, so say why and stop. */
typedef struct bn_work {
  double *p1, *p2;       /* [group * C + c] */
  double *shift;         /* per channel */
  float *mf, *a, *b, *k; /* per channel */
} bn_work;

static bn_work bn_work_alloc(int groups, int nc) {
  bn_work w;
  const size_t nd = (2 * (size_t)groups + 1) * (size_t)nc, nf = 4 * (size_t)nc;
  w.p1 = malloc(nd * sizeof(double) + nf * sizeof(float));
  if (!w.p1) {
    fprintf(stderr, "lowbit: batch norm: out of memory for %zu bytes of partial sums\n", nd * sizeof(double));
    abort();
  }
  w.p2 = w.p1 + (size_t)groups * (size_t)nc;
  w.shift = w.p2 + (size_t)groups * (size_t)nc;
  w.mf = (float *)(w.p1 + nd);
  w.a = w.mf + nc;
  w.b = w.a + nc;
  w.k = w.b + nc;
  return w;
}

/* yp = (xp - mf)*a + b over one plane, then floored at lo: v < lo ? lo : v. With lo = -INFINITY
 * the floor returns v for every float (NaN too), so the plain kernels keep their exact output;
 * with lo = 0 it is lb_relu_forward's rule bit for bit (NaN and -0 pass unchanged). Either way
 * the loop is one compare-select (a vector max) per element, no branch. */
static void bn_affine_plane(const float *xp, float *yp, int64_t hw, float mf, float a, float b, float lo) {
#pragma omp simd
  for (int64_t j = 0; j < hw; j++) {
    const float v = (xp[j] - mf) * a + b;
    yp[j] = v < lo ? lo : v;
  }
}

static float bn_floor(int relu) { return relu ? 0.0f : -INFINITY; }

/* x,y: (N,C,HW); gamma, beta, running_*, save_*: (C). gamma/beta NULL mean 1/0 (affine off);
 * NULL running or save pointers are skipped. relu: y = max(0, BN(x)). */
static void bn_train(const lb_bn_desc *d, const float *x, const float *gamma, const float *beta,
                     float *running_mean, float *running_var, float *y, float *save_mean, float *save_invstd,
                     int relu) {
  const int n = d->n, nc = d->c, groups = bn_groups(d->n);
  const float lo = bn_floor(relu);
  const int64_t hw = d->hw, cs = (int64_t)nc * hw;
  const int64_t m = (int64_t)n * hw, planes = (int64_t)n * nc;
  const double mom = (double)d->momentum, eps = (double)d->eps;
  /* n/(n-1) for the running variance; with a single value per channel PyTorch refuses to train,
   * we keep the (zero) biased variance instead of dividing by zero. */
  const double unbias = m > 1 ? (double)m / (double)(m - 1) : 1.0;
  const int par = m * nc >= BN_PAR_MIN, blocked = d->layout == LB_LAYOUT_NCHW16C;
  bn_work w = bn_work_alloc(groups, nc);

  /* pass 1: per group, sums of x - shift and its square; the shift (the channel's first value)
   * keeps the one-pass variance free of cancellation when |mean| >> std */
  for (int c = 0; c < nc; c++) w.shift[c] = (double)x[bn_index(d, 0, c)];
#pragma omp parallel for schedule(static) if (par)
  for (int k = 0; k < groups; k++) {
    int i0, i1;
    bn_group_range(n, groups, k, &i0, &i1);
    double *gs = w.p1 + (size_t)k * nc, *gq = w.p2 + (size_t)k * nc;
    for (int c = 0; c < nc; c++) gs[c] = gq[c] = 0.0;
    for (int i = i0; i < i1; i++) {
      if (blocked) {
        for (int c = 0; c < nc; c += 16) lb_bn_block_sums(x + i * cs + c * hw, hw, w.shift + c, gs + c, gq + c);
        continue;
      }
      for (int c = 0; c < nc; c++) {
        double s[BN_LANES] = {0}, q[BN_LANES] = {0};
        bn_sums(x + i * cs + c * hw, hw, w.shift[c], s, q);
        gs[c] += bn_lanes_total(s);
        gq[c] += bn_lanes_total(q);
      }
    }
  }

  for (int c = 0; c < nc; c++) {
    double ss = 0.0, qq = 0.0;
    for (int k = 0; k < groups; k++) {
      ss += w.p1[(size_t)k * nc + c];
      qq += w.p2[(size_t)k * nc + c];
    }
    const double shift = w.shift[c];
    double ms = ss / (double)m; /* mean of the shifted values */
    double var = qq / (double)m - ms * ms;
    if (var < 0) var = 0;
    double mean = shift + ms;
    double invstd = 1.0 / sqrt(var + eps);
    if (save_mean) save_mean[c] = (float)mean;
    if (save_invstd) save_invstd[c] = (float)invstd;
    if (running_mean) running_mean[c] = (float)((1.0 - mom) * (double)running_mean[c] + mom * mean);
    if (running_var) running_var[c] = (float)((1.0 - mom) * (double)running_var[c] + mom * var * unbias);
    /* y = (x - mf)*a + b, with the part of the mean that float mf cannot hold folded into b
     * (matters when |mean| >> std) */
    w.mf[c] = (float)mean;
    const double ad = (gamma ? (double)gamma[c] : 1.0) * invstd;
    w.a[c] = (float)ad;
    w.b[c] = (float)((beta ? (double)beta[c] : 0.0) - (mean - (double)w.mf[c]) * ad);
  }

  /* pass 2: element-wise, every plane (block of 16 planes) independent */
  const int64_t step = blocked ? 16 : 1;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t pl = 0; pl < planes; pl += step) {
    const int c = (int)(pl % nc);
    if (blocked)
      lb_bn_block_affine(x + pl * hw, y + pl * hw, hw, w.mf + c, w.a + c, w.b + c, lo);
    else
      bn_affine_plane(x + pl * hw, y + pl * hw, hw, w.mf[c], w.a[c], w.b[c], lo);
  }
  free(w.p1);
}

void lb_bn_forward_train(const lb_bn_desc *d, const float *x, const float *gamma, const float *beta,
                         float *running_mean, float *running_var, float *y, float *save_mean,
                         float *save_invstd) {
  bn_train(d, x, gamma, beta, running_mean, running_var, y, save_mean, save_invstd, 0);
}

void lb_bn_relu_forward_train(const lb_bn_desc *d, const float *x, const float *gamma, const float *beta,
                              float *running_mean, float *running_var, float *y, float *save_mean,
                              float *save_invstd) {
  bn_train(d, x, gamma, beta, running_mean, running_var, y, save_mean, save_invstd, 1);
}

/* Evaluation: y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta (relu: max(0, y)). */
static void bn_eval(const lb_bn_desc *d, const float *x, const float *gamma, const float *beta,
                    const float *running_mean, const float *running_var, float *y, int relu) {
  const int n = d->n, nc = d->c;
  const float lo = bn_floor(relu);
  const int64_t hw = d->hw;
  const double eps = (double)d->eps;
  const int64_t planes = (int64_t)n * nc;

  bn_work w = bn_work_alloc(0, nc);
  for (int c = 0; c < nc; c++) {
    const double invstd = 1.0 / sqrt((double)running_var[c] + eps);
    w.mf[c] = running_mean[c];
    w.a[c] = (float)((gamma ? (double)gamma[c] : 1.0) * invstd);
    w.b[c] = beta ? beta[c] : 0.0f;
  }
  /* one pass, so parallel over all (n, c) planes (blocks of 16 planes): every element is
   * computed independently */
  const int64_t step = d->layout == LB_LAYOUT_NCHW16C ? 16 : 1;
#pragma omp parallel for schedule(static) if (planes * hw >= BN_PAR_MIN)
  for (int64_t pl = 0; pl < planes; pl += step) {
    const int c = (int)(pl % nc);
    if (step == 16)
      lb_bn_block_affine(x + pl * hw, y + pl * hw, hw, w.mf + c, w.a + c, w.b + c, lo);
    else
      bn_affine_plane(x + pl * hw, y + pl * hw, hw, w.mf[c], w.a[c], w.b[c], lo);
  }
  free(w.p1);
}

void lb_bn_forward_eval(const lb_bn_desc *d, const float *x, const float *gamma, const float *beta,
                        const float *running_mean, const float *running_var, float *y) {
  bn_eval(d, x, gamma, beta, running_mean, running_var, y, 0);
}

void lb_bn_relu_forward_eval(const lb_bn_desc *d, const float *x, const float *gamma, const float *beta,
                             const float *running_mean, const float *running_var, float *y) {
  bn_eval(d, x, gamma, beta, running_mean, running_var, y, 1);
}

/* With xhat = (x - mean) * invstd and M = N*HW values per channel:
 *   dbeta  = sum(dy),  dgamma = sum(dy * xhat),
 *   dx     = gamma * invstd * (dy - dbeta/M - xhat * dgamma/M).
 * The last two terms are the gradient through the batch mean and variance. y is the fused
 * BN+ReLU forward's output, whose ReLU masks dy on the fly (bn_grad_in), or NULL for plain BN:
 * the same two passes either way, no masked copy of dy. */
static void bn_backward(const lb_bn_desc *d, const float *x, const float *y, const float *gamma,
                        const float *save_mean, const float *save_invstd, const float *dy, float *dx,
                        int dx_assign, float *dgamma, float *dbeta) {
  if (!dx && !dgamma && !dbeta) return;
  const int n = d->n, nc = d->c, groups = bn_groups(d->n);
  const int64_t hw = d->hw, cs = (int64_t)nc * hw;
  const int64_t m = (int64_t)n * hw, planes = (int64_t)n * nc;
  const int par = m * nc >= BN_PAR_MIN, blocked = d->layout == LB_LAYOUT_NCHW16C;
  bn_work w = bn_work_alloc(groups, nc);

  /* pass 1: per group, sum(g) and sum(g * (x - mean)) per channel */
#pragma omp parallel for schedule(static) if (par)
  for (int k = 0; k < groups; k++) {
    int i0, i1;
    bn_group_range(n, groups, k, &i0, &i1);
    double *gd = w.p1 + (size_t)k * nc, *gx = w.p2 + (size_t)k * nc;
    for (int c = 0; c < nc; c++) gd[c] = gx[c] = 0.0;
    for (int i = i0; i < i1; i++) {
      if (blocked) {
        for (int c = 0; c < nc; c += 16)
          lb_bn_block_grad_sums(x + i * cs + c * hw, dy + i * cs + c * hw, y ? y + i * cs + c * hw : NULL, y != NULL,
                                hw, save_mean + c, gd + c, gx + c);
        continue;
      }
      for (int c = 0; c < nc; c++) {
        double sd[BN_LANES] = {0}, sx[BN_LANES] = {0};
        const int64_t o = i * cs + c * hw;
        if (y)
          bn_grad_sums(x + o, dy + o, y + o, 1, hw, (double)save_mean[c], sd, sx);
        else
          bn_grad_sums(x + o, dy + o, NULL, 0, hw, (double)save_mean[c], sd, sx);
        gd[c] += bn_lanes_total(sd);
        gx[c] += bn_lanes_total(sx);
      }
    }
  }

  for (int c = 0; c < nc; c++) {
    double sum_dy = 0.0, sum_dy_xm = 0.0;
    for (int k = 0; k < groups; k++) {
      sum_dy += w.p1[(size_t)k * nc + c];
      sum_dy_xm += w.p2[(size_t)k * nc + c];
    }
    const double invstd = (double)save_invstd[c];
    const double sum_dy_xhat = sum_dy_xm * invstd;
    if (dbeta) dbeta[c] += (float)sum_dy;
    if (dgamma) dgamma[c] += (float)sum_dy_xhat;
    /* dx += a*dy + b*(x - mean) + k, coefficients folded in double */
    const double g = (gamma ? (double)gamma[c] : 1.0) * invstd;
    w.a[c] = (float)g;
    w.b[c] = (float)(-g * invstd * sum_dy_xhat / (double)m);
    w.k[c] = (float)(-g * sum_dy / (double)m);
    w.mf[c] = save_mean[c];
  }

  /* pass 2: element-wise, every plane (block of 16 planes) independent */
  if (dx) {
    const int64_t step = blocked ? 16 : 1;
#pragma omp parallel for schedule(static) if (par)
    for (int64_t pl = 0; pl < planes; pl += step) {
      const int c = (int)(pl % nc);
      const int64_t o = pl * hw;
      if (blocked)
        lb_bn_block_dx(x + o, dy + o, y ? y + o : NULL, y != NULL, dx + o, hw, w.mf + c, w.a + c, w.b + c, w.k + c,
                       dx_assign);
      else if (y)
        bn_dx_plane(x + o, dy + o, y + o, 1, dx + o, hw, w.mf[c], w.a[c], w.b[c], w.k[c], dx_assign);
      else
        bn_dx_plane(x + o, dy + o, NULL, 0, dx + o, hw, w.mf[c], w.a[c], w.b[c], w.k[c], dx_assign);
    }
  }
  free(w.p1);
}

void lb_bn_backward(const lb_bn_desc *d, const float *x, const float *gamma, const float *save_mean,
                    const float *save_invstd, const float *dy, float *dx, float *dgamma, float *dbeta) {
  bn_backward(d, x, NULL, gamma, save_mean, save_invstd, dy, dx, 0, dgamma, dbeta);
}

void lb_bn_relu_backward(const lb_bn_desc *d, const float *x, const float *y, const float *gamma,
                         const float *save_mean, const float *save_invstd, const float *dy, float *dx,
                         float *dgamma, float *dbeta) {
  bn_backward(d, x, y, gamma, save_mean, save_invstd, dy, dx, 0, dgamma, dbeta);
}

void lb_bn_backward_ex(const lb_bn_desc *d, const float *x, const float *y, const float *gamma, const float *save_mean,
                       const float *save_invstd, const float *dy, float *dx, int dx_assign, float *dgamma, float *dbeta) {
  bn_backward(d, x, y, gamma, save_mean, save_invstd, dy, dx, dx_assign, dgamma, dbeta);
}
