/* Batch normalization over (N, HW) per channel: training forward with running-stat update,
 * evaluation forward, and the backward through the batch statistics; each also fused with a
 * following ReLU (lb_bn_relu_*), which saves the separate activation passes over the tensor.
 *
 * Layout x: (N,C,HW). Channel c lives in N planes of HW contiguous floats, plane i at
 * x + (i*C + c)*HW. Every kernel makes two passes over memory (statistics, then element-wise),
 * each a stream through whole images: a pass parallel over channels instead jumps C*HW floats
 * from plane to plane, which the prefetcher cannot follow on small planes (ResNet-8's 7x7 batch
 * norms ran 2.3-2.5x faster in the training step streaming, `LB_PROFILE=1 bench_train_step`).
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

/* Channels per round of passes. A round's per-group partial sums and per-channel coefficients
 * live on the caller's stack (about 35 KB), so the kernels allocate nothing (nn.h); C beyond it
 * takes more rounds, each over its own channels' planes only, so no element is read twice.
 * Each channel's sums are the same whatever the round size. A multiple of 16 (nChw16c blocks). */
#define BN_CBLK 128
typedef struct bn_work {
  double p1[BN_GROUPS][BN_CBLK], p2[BN_GROUPS][BN_CBLK];
  double shift[BN_CBLK];
  float mf[BN_CBLK], a[BN_CBLK], b[BN_CBLK], k[BN_CBLK];
} bn_work;

/* The planes of channels [c0, c0 + cb) in every image, as plane indices i*C + c in order. */
static int64_t bn_plane(int nc, int c0, int cb, int64_t q) { return q / cb * nc + c0 + q % cb; }

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
static void bn_train_round(const lb_bn_desc *d, int c0, int cb, const float *x, const float *gamma, const float *beta,
                           float *running_mean, float *running_var, float *y, float *save_mean, float *save_invstd,
                           int relu, bn_work *w) {
  const int n = d->n, nc = d->c, groups = bn_groups(d->n);
  const float lo = bn_floor(relu);
  const int64_t hw = d->hw, cs = (int64_t)nc * hw;
  const int64_t m = (int64_t)n * hw;
  const double mom = (double)d->momentum, eps = (double)d->eps;
  /* n/(n-1) for the running variance; with a single value per channel PyTorch refuses to train,
   * we keep the (zero) biased variance instead of dividing by zero. */
  const double unbias = m > 1 ? (double)m / (double)(m - 1) : 1.0;
  const int par = m * nc >= BN_PAR_MIN, blocked = d->layout == LB_LAYOUT_NCHW16C;

  /* pass 1: per group, sums of x - shift and its square; the shift (the channel's first value)
   * keeps the one-pass variance free of cancellation when |mean| >> std */
  for (int j = 0; j < cb; j++) w->shift[j] = (double)x[bn_index(d, 0, c0 + j)];
#pragma omp parallel for schedule(static) if (par)
  for (int k = 0; k < groups; k++) {
    int i0, i1;
    bn_group_range(n, groups, k, &i0, &i1);
    double *gs = w->p1[k], *gq = w->p2[k];
    for (int j = 0; j < cb; j++) gs[j] = gq[j] = 0.0;
    for (int i = i0; i < i1; i++) {
      const float *xi = x + i * cs + (int64_t)c0 * hw;
      if (blocked) {
        for (int j = 0; j < cb; j += 16) lb_bn_block_sums(xi + j * hw, hw, w->shift + j, gs + j, gq + j);
        continue;
      }
      for (int j = 0; j < cb; j++) {
        double sl[BN_LANES] = {0}, ql[BN_LANES] = {0};
        bn_sums(xi + j * hw, hw, w->shift[j], sl, ql);
        gs[j] += bn_lanes_total(sl);
        gq[j] += bn_lanes_total(ql);
      }
    }
  }

  for (int j = 0; j < cb; j++) {
    const int c = c0 + j;
    double ss = 0.0, qq = 0.0;
    for (int k = 0; k < groups; k++) {
      ss += w->p1[k][j];
      qq += w->p2[k][j];
    }
    double ms = ss / (double)m; /* mean of the shifted values */
    double var = qq / (double)m - ms * ms;
    if (var < 0) var = 0;
    double mean = w->shift[j] + ms;
    double invstd = 1.0 / sqrt(var + eps);
    if (save_mean) save_mean[c] = (float)mean;
    if (save_invstd) save_invstd[c] = (float)invstd;
    if (running_mean) running_mean[c] = (float)((1.0 - mom) * (double)running_mean[c] + mom * mean);
    if (running_var) running_var[c] = (float)((1.0 - mom) * (double)running_var[c] + mom * var * unbias);
    /* y = (x - mf)*a + b, with the part of the mean that float mf cannot hold folded into b
     * (matters when |mean| >> std) */
    w->mf[j] = (float)mean;
    const double ad = (gamma ? (double)gamma[c] : 1.0) * invstd;
    w->a[j] = (float)ad;
    w->b[j] = (float)((beta ? (double)beta[c] : 0.0) - (mean - (double)w->mf[j]) * ad);
  }

  /* pass 2: element-wise, every plane (block of 16 planes) independent */
  const int64_t step = blocked ? 16 : 1;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t q = 0; q < (int64_t)n * cb; q += step) {
    const int j = (int)(q % cb);
    const int64_t o = bn_plane(nc, c0, cb, q) * hw;
    if (blocked)
      lb_bn_block_affine(x + o, y + o, hw, w->mf + j, w->a + j, w->b + j, lo);
    else
      bn_affine_plane(x + o, y + o, hw, w->mf[j], w->a[j], w->b[j], lo);
  }
}

/* x,y: (N,C,HW); gamma, beta, running_*, save_*: (C). gamma/beta NULL mean 1/0 (affine off);
 * NULL running or save pointers are skipped. relu: y = max(0, BN(x)). */
static void bn_train(const lb_bn_desc *d, const float *x, const float *gamma, const float *beta,
                     float *running_mean, float *running_var, float *y, float *save_mean, float *save_invstd,
                     int relu) {
  bn_work w;
  for (int c0 = 0; c0 < d->c; c0 += BN_CBLK)
    bn_train_round(d, c0, d->c - c0 < BN_CBLK ? d->c - c0 : BN_CBLK, x, gamma, beta, running_mean, running_var, y,
                   save_mean, save_invstd, relu, &w);
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
  const int64_t step = d->layout == LB_LAYOUT_NCHW16C ? 16 : 1;
  bn_work w;
  for (int c0 = 0; c0 < nc; c0 += BN_CBLK) {
    const int cb = nc - c0 < BN_CBLK ? nc - c0 : BN_CBLK;
    for (int j = 0; j < cb; j++) {
      const int c = c0 + j;
      const double invstd = 1.0 / sqrt((double)running_var[c] + eps);
      w.mf[j] = running_mean[c];
      w.a[j] = (float)((gamma ? (double)gamma[c] : 1.0) * invstd);
      w.b[j] = beta ? beta[c] : 0.0f;
    }
    /* one pass, so parallel over all planes (blocks of 16 planes): every element is computed
     * independently */
#pragma omp parallel for schedule(static) if ((int64_t)n * nc * hw >= BN_PAR_MIN)
    for (int64_t q = 0; q < (int64_t)n * cb; q += step) {
      const int j = (int)(q % cb);
      const int64_t o = bn_plane(nc, c0, cb, q) * hw;
      if (step == 16)
        lb_bn_block_affine(x + o, y + o, hw, w.mf + j, w.a + j, w.b + j, lo);
      else
        bn_affine_plane(x + o, y + o, hw, w.mf[j], w.a[j], w.b[j], lo);
    }
  }
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
static void bn_backward_round(const lb_bn_desc *d, int c0, int cb, const float *x, const float *y, const float *gamma,
                              const float *save_mean, const float *save_invstd, const float *dy, float *dx,
                              int dx_assign, float *dgamma, float *dbeta, bn_work *w) {
  const int n = d->n, nc = d->c, groups = bn_groups(d->n);
  const int64_t hw = d->hw, cs = (int64_t)nc * hw;
  const int64_t m = (int64_t)n * hw;
  const int par = m * nc >= BN_PAR_MIN, blocked = d->layout == LB_LAYOUT_NCHW16C;

  /* pass 1: per group, sum(g) and sum(g * (x - mean)) per channel */
#pragma omp parallel for schedule(static) if (par)
  for (int k = 0; k < groups; k++) {
    int i0, i1;
    bn_group_range(n, groups, k, &i0, &i1);
    double *gd = w->p1[k], *gx = w->p2[k];
    for (int j = 0; j < cb; j++) gd[j] = gx[j] = 0.0;
    for (int i = i0; i < i1; i++) {
      const int64_t oi = i * cs + (int64_t)c0 * hw;
      if (blocked) {
        for (int j = 0; j < cb; j += 16) {
          const int64_t o = oi + j * hw;
          lb_bn_block_grad_sums(x + o, dy + o, y ? y + o : NULL, y != NULL, hw, save_mean + c0 + j, gd + j, gx + j);
        }
        continue;
      }
      for (int j = 0; j < cb; j++) {
        double sd[BN_LANES] = {0}, sx[BN_LANES] = {0};
        const int64_t o = oi + j * hw;
        const double mean = (double)save_mean[c0 + j];
        if (y)
          bn_grad_sums(x + o, dy + o, y + o, 1, hw, mean, sd, sx);
        else
          bn_grad_sums(x + o, dy + o, NULL, 0, hw, mean, sd, sx);
        gd[j] += bn_lanes_total(sd);
        gx[j] += bn_lanes_total(sx);
      }
    }
  }

  for (int j = 0; j < cb; j++) {
    const int c = c0 + j;
    double sum_dy = 0.0, sum_dy_xm = 0.0;
    for (int k = 0; k < groups; k++) {
      sum_dy += w->p1[k][j];
      sum_dy_xm += w->p2[k][j];
    }
    const double invstd = (double)save_invstd[c];
    const double sum_dy_xhat = sum_dy_xm * invstd;
    if (dbeta) dbeta[c] += (float)sum_dy;
    if (dgamma) dgamma[c] += (float)sum_dy_xhat;
    /* dx += a*dy + b*(x - mean) + k, coefficients folded in double */
    const double g = (gamma ? (double)gamma[c] : 1.0) * invstd;
    w->a[j] = (float)g;
    w->b[j] = (float)(-g * invstd * sum_dy_xhat / (double)m);
    w->k[j] = (float)(-g * sum_dy / (double)m);
    w->mf[j] = save_mean[c];
  }

  /* pass 2: element-wise, every plane (block of 16 planes) independent */
  if (!dx) return;
  const int64_t step = blocked ? 16 : 1;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t q = 0; q < (int64_t)n * cb; q += step) {
    const int j = (int)(q % cb);
    const int64_t o = bn_plane(nc, c0, cb, q) * hw;
    if (blocked)
      lb_bn_block_dx(x + o, dy + o, y ? y + o : NULL, y != NULL, dx + o, hw, w->mf + j, w->a + j, w->b + j, w->k + j,
                     dx_assign);
    else if (y)
      bn_dx_plane(x + o, dy + o, y + o, 1, dx + o, hw, w->mf[j], w->a[j], w->b[j], w->k[j], dx_assign);
    else
      bn_dx_plane(x + o, dy + o, NULL, 0, dx + o, hw, w->mf[j], w->a[j], w->b[j], w->k[j], dx_assign);
  }
}

static void bn_backward(const lb_bn_desc *d, const float *x, const float *y, const float *gamma,
                        const float *save_mean, const float *save_invstd, const float *dy, float *dx,
                        int dx_assign, float *dgamma, float *dbeta) {
  if (!dx && !dgamma && !dbeta) return;
  bn_work w;
  for (int c0 = 0; c0 < d->c; c0 += BN_CBLK)
    bn_backward_round(d, c0, d->c - c0 < BN_CBLK ? d->c - c0 : BN_CBLK, x, y, gamma, save_mean, save_invstd, dy, dx,
                      dx_assign, dgamma, dbeta, &w);
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
