/* 2-D convolution, SIMD path (AVX-512, or AVX2+FMA): implicit GEMM with our own register-tiled
 * kernels, parallel over images with OpenMP only.
 *
 * Why not im2col + OpenBLAS here: the ResNet-sized convs have 16..64 output channels, where a
 * BLAS GEMM runs at a third of peak, im2col costs as much as the multiply, and OpenBLAS's own
 * spinning thread pool fights our OpenMP team for the 2 cores. Instead:
 *  - The batch is cut into a fixed number of slots (contiguous image ranges, a function of the
 *    descriptor only); each slot is processed by one thread with its own part of the scratch,
 *    in packs of a few images so that the kernels see long rows of pixels.
 *  - "Direct" mode (the usual case): the input pack is copied once into zero-padded planes, split
 *    by stride phase (plane (a,b) holds padded rows a, a+sh, ... and columns b, b+sw, ...), laid
 *    out [c][a][b][image][rows][cols]. On a phase plane every kernel tap (r,s) is a constant
 *    shift, so the GEMM operand row for (c,r,s) is just a pointer: no im2col, for any stride.
 *    Outputs are computed on the phase-plane width; the few junk columns/rows are dropped when
 *    storing. With stride 1, dx is the same kind of conv of padded dy with flipped, transposed
 *    filters; with larger strides dx = col2im(W^T dy), each slot owning whole images.
 *  - "Col" mode (when the phase grid would waste too much, some phase is never read, e.g. 1x1
 *    stride 2, or kernels above 16 taps): im2col of the pack into (C/g*R*S, pixels), then the
 *    same kernel.
 *  - dw accumulates per slot (vectors along pixels, summed per pack), then the slot partials are
 *    added in slot order: the result does not depend on the thread count.
 * Kernels: out(MR channels x NV vectors of pixels) += W(MR x kd) * B(kd x pixels), 8 x 48 with
 * AVX-512 (24 accumulators), weights packed so that the MR broadcasts of one kd step are
 * adjacent; dw in 4 x 4 tiles of pixel vectors. */
#include "nn/conv2d_impl.h"

#ifdef LB_CONV_SIMD

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX512F__)
typedef __m512 vf;
#define VL 16  /* floats per vector */
#define MR 8   /* kernel tile: MR output rows ... */
#define NV 3   /* ... times NV vectors of pixels (24 accumulators) */
#define DWK 4  /* dw tile: rows of dy ... */
#define DWD 4  /* ... times rows of B */
#define V_ZERO() _mm512_setzero_ps()
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, v) _mm512_storeu_ps((p), (v))
#define V_BCAST(x) _mm512_set1_ps(x)
#define V_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define V_HSUM(v) _mm512_reduce_add_ps(v)
#else
typedef __m256 vf;
#define VL 8
#define MR 4
#define NV 3
#define DWK 2
#define DWD 4
#define V_ZERO() _mm256_setzero_ps()
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_STORE(p, v) _mm256_storeu_ps((p), (v))
#define V_BCAST(x) _mm256_set1_ps(x)
#define V_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
static inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
#define V_HSUM(v) hsum8(v)
#endif

#define VT (NV * VL) /* pixels per kernel tile: grids are padded to a multiple of it */
#define SLOTS_MAX 8                   /* parallelism cap (and dw partial buffers) */
#define SLOTS_MIN 2                   /* keep two cores busy even when that exceeds the budget */
#define SLOT_BUDGET ((size_t)1 << 24) /* floats of scratch for all slots before we use fewer */
#define PACK_PIXELS 2048              /* aim for this many output pixels per pack */
#define DIRECT_MAX_WASTE 2.0          /* phase-grid pixels / real pixels allowed in direct mode */
#define MAX_TAPS 16                   /* direct mode handles kernels up to 16 x 16 */

static size_t rup(size_t a, size_t m) { return (a + m - 1) / m * m; }

typedef struct plan {
  int cg, kg, rs, crs;                     /* per group */
  int kg_mr, cg_mr, crs_mr, kg_dk, crs_dd; /* rounded up to the kernel tiles */
  int plane;                               /* OH*OW */
  int direct;                              /* forward and dw on phase planes of padded x */
  int dx_direct;                           /* dx as a stride-1 conv of padded dy */
  int nb;                                  /* images per pack */
  int hq, wq;                              /* phase plane of padded x: ceil((H+2ph)/sh) x ... */
  int hp2, wp2, ph2, pw2;                  /* padded dy (dx_direct) */
  size_t img, img2;                        /* hq*wq, hp2*wp2 */
  size_t q, q2, pp;                        /* per full pack: grid columns (direct, dx_direct), col columns */
  int nslots;
  size_t o_xpad, o_col, o_out, o_dyw, o_dyp, o_dypad, o_zero, o_part, slot, shared;
} plan;

/* Grid columns for m images stacked img apart: the last image ends at its last real output. */
static size_t grid_cols(int m, size_t img, int rows, int cols, int pitch) {
  return (size_t)(m - 1) * img + (size_t)(rows - 1) * pitch + (size_t)cols;
}

static void make_plan(const lb_conv2d_desc *d, plan *p) {
  memset(p, 0, sizeof *p);
  p->cg = d->c / d->groups;
  p->kg = d->k / d->groups;
  p->rs = d->r * d->s;
  p->crs = p->cg * p->rs;
  p->kg_mr = (int)rup((size_t)p->kg, MR);
  p->cg_mr = (int)rup((size_t)p->cg, MR);
  p->crs_mr = (int)rup((size_t)p->crs, MR);
  p->kg_dk = (int)rup((size_t)p->kg, DWK);
  p->crs_dd = (int)rup((size_t)p->crs, DWD);
  p->plane = d->oh * d->ow;
  const int small_kernel = d->r <= MAX_TAPS && d->s <= MAX_TAPS;
  p->hq = (int)(((int64_t)d->h + 2 * d->pad_h + d->stride_h - 1) / d->stride_h);
  p->wq = (int)(((int64_t)d->w + 2 * d->pad_w + d->stride_w - 1) / d->stride_w);
  p->img = (size_t)p->hq * p->wq;
  /* direct mode copies every phase plane: worth it only if every phase is read by some tap
   * (a 1x1 stride-2 conv reads a quarter of x: im2col copies less) */
  int used_h = 0, used_w = 0;
  for (int a = 0; a < d->stride_h; a++)
    for (int r = 0; r < d->r && r < MAX_TAPS; r++)
      if ((r * d->dil_h) % d->stride_h == a) {
        used_h++;
        break;
      }
  for (int b = 0; b < d->stride_w; b++)
    for (int s = 0; s < d->s && s < MAX_TAPS; s++)
      if ((s * d->dil_w) % d->stride_w == b) {
        used_w++;
        break;
      }
  p->direct = small_kernel && used_h == d->stride_h && used_w == d->stride_w &&
              (double)p->img <= DIRECT_MAX_WASTE * (double)p->plane;
  p->ph2 = d->dil_h * (d->r - 1) - d->pad_h;
  p->pw2 = d->dil_w * (d->s - 1) - d->pad_w;
  p->hp2 = d->oh + 2 * p->ph2;
  p->wp2 = d->ow + 2 * p->pw2;
  p->img2 = (size_t)p->hp2 * p->wp2;
  p->dx_direct = small_kernel && d->stride_h == 1 && d->stride_w == 1 && p->ph2 >= 0 && p->pw2 >= 0 &&
                 (double)p->img2 <= DIRECT_MAX_WASTE * (double)d->h * (double)d->w;
  /* x of one image in phase planes: every phase, each hq x wq */
  const size_t x_img = (size_t)d->stride_h * d->stride_w * p->img;
  int slots = d->n < SLOTS_MAX ? d->n : SLOTS_MAX;
  const int min_slots = slots < SLOTS_MIN ? slots : SLOTS_MIN;
  int nb = (int)(PACK_PIXELS / (p->direct ? p->img : (size_t)p->plane));
  if (nb < 1) nb = 1;
  for (;;) {
    const int per_slot = (d->n + slots - 1) / slots;
    p->nb = nb < per_slot ? nb : per_slot;
    p->q = grid_cols(p->nb, p->img, d->oh, d->ow, p->wq);
    p->q2 = grid_cols(p->nb, p->img2, d->h, d->w, p->wp2);
    p->pp = rup((size_t)p->nb * p->plane, VT);
    const size_t qp = rup(p->q, VT), q2p = rup(p->q2, VT);
    const int need_col = !p->direct || !p->dx_direct;
    size_t o = 0;
#define TAKE(field, n)                                                                            \
  do {                                                                                            \
    p->field = o;                                                                                 \
    o += rup((size_t)(n), 16);                                                                    \
  } while (0)
    TAKE(o_xpad, p->direct ? (size_t)p->cg * p->nb * x_img + VT : 0);
    TAKE(o_col, need_col ? (size_t)p->crs_mr * p->pp : 0);
    size_t out = (size_t)p->kg_mr * (p->direct ? qp : p->pp);
    if (p->dx_direct && (size_t)p->cg_mr * q2p > out) out = (size_t)p->cg_mr * q2p;
    TAKE(o_out, out);
    TAKE(o_dyw, p->direct ? (size_t)p->kg_dk * qp : 0);
    TAKE(o_dyp, need_col ? (size_t)p->kg_dk * p->pp : 0);
    TAKE(o_dypad, p->dx_direct ? (size_t)p->kg * p->nb * p->img2 + VT : 0);
    TAKE(o_zero, (p->direct ? qp : 0) + p->pp);
    TAKE(o_part, (size_t)d->groups * p->kg_dk * p->crs_dd);
#undef TAKE
    p->slot = o;
    if (slots <= min_slots || p->slot * (size_t)slots <= SLOT_BUDGET) break;
    if (nb > 1) nb = nb / 2; /* first shrink packs, then use fewer slots */
    else slots--;
  }
  p->nslots = slots;
  size_t wpk = (size_t)d->groups * p->kg_mr * p->crs; /* forward filters */
  const size_t wbk = p->dx_direct ? (size_t)d->groups * p->cg_mr * p->kg * p->rs
                                  : (size_t)d->groups * p->crs_mr * p->kg; /* dx filters */
  if (wbk > wpk) wpk = wbk;
  p->shared = rup(wpk, 16);
}

size_t lb_conv2d_simd_scratch_floats(const lb_conv2d_desc *d) {
  plan p;
  make_plan(d, &p);
  return 16 /* alignment */ + p.shared + (size_t)p.nslots * p.slot;
}

static float *align64(float *s) { return (float *)(((uintptr_t)s + 63) & ~(uintptr_t)63); }

/* ---- kernels --------------------------------------------------------------------------------- */

/* out[m*ldo + j] = sum over (i,r,s) of w[kd*MR + m] * b[i*s1 + offr[r] + offs[s] + j], where
 * kd = (i*nr + r)*ns + s, for m < MR and j < VT: one register tile, summed in kd order. */
static void kern_tile(const float *w, const float *b, int n1, size_t s1, int nr, const size_t *offr, int ns,
                      const size_t *offs, float *out, size_t ldo) {
  vf acc[MR][NV];
#pragma GCC unroll 16
  for (int m = 0; m < MR; m++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[m][v] = V_ZERO();
  for (int i = 0; i < n1; i++)
    for (int r = 0; r < nr; r++) {
      const float *bp = b + (size_t)i * s1 + offr[r];
      for (int t = 0; t < ns; t++, w += MR) {
        const float *bt = bp + offs[t];
        vf x[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) x[v] = V_LOAD(bt + v * VL);
#pragma GCC unroll 16
        for (int m = 0; m < MR; m++) {
          const vf wm = V_BCAST(w[m]);
#pragma GCC unroll 4
          for (int v = 0; v < NV; v++) acc[m][v] = V_FMA(wm, x[v], acc[m][v]);
        }
      }
    }
#pragma GCC unroll 16
  for (int m = 0; m < MR; m++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) V_STORE(out + (size_t)m * ldo + v * VL, acc[m][v]);
}

/* How a GEMM operand B is addressed: row (i,r,s) starts at base + i*s1 + offr[r] + offs[s]. */
typedef struct bview {
  const float *base;
  size_t s1;
  int n1, nr, ns;
  size_t offr[MAX_TAPS], offs[MAX_TAPS];
} bview;

/* A plain row-major operand: n1 rows of pitch ld. */
static void bview_rows(bview *v, const float *base, int n1, size_t ld) {
  v->base = base;
  v->s1 = ld;
  v->n1 = n1;
  v->nr = v->ns = 1;
  v->offr[0] = v->offs[0] = 0;
}

static const float *bview_row(const bview *v, int kd) {
  const int i = kd / (v->nr * v->ns), r = (kd / v->ns) % v->nr, t = kd % v->ns;
  return v->base + (size_t)i * v->s1 + v->offr[r] + v->offs[t];
}

/* out(rows_mr, cols) = Wpk * B over `cols` (a multiple of VT) columns; Wpk packed per MR block. */
static void gemm_tiles(const float *wpk, int rows_mr, const bview *v, size_t cols, float *out, size_t ldo) {
  const size_t kdim = (size_t)v->n1 * v->nr * v->ns;
  for (int mb = 0; mb < rows_mr; mb += MR)
    for (size_t j = 0; j < cols; j += VT)
      kern_tile(wpk + (size_t)mb * kdim, v->base + j, v->n1, v->s1, v->nr, v->offr, v->ns, v->offs,
                out + (size_t)mb * ldo + j, ldo);
}

/* part[i*ldp + j] += sum over cols of dyr[i][.] * br[j][.], for i < DWK, j < DWD. */
static void kern_dw(const float *const *dyr, const float *const *br, size_t cols, float *part, size_t ldp) {
  vf acc[DWK][DWD];
#pragma GCC unroll 4
  for (int i = 0; i < DWK; i++)
#pragma GCC unroll 4
    for (int j = 0; j < DWD; j++) acc[i][j] = V_ZERO();
  for (size_t v = 0; v < cols; v += VL) {
    vf a[DWK], b[DWD];
#pragma GCC unroll 4
    for (int i = 0; i < DWK; i++) a[i] = V_LOAD(dyr[i] + v);
#pragma GCC unroll 4
    for (int j = 0; j < DWD; j++) b[j] = V_LOAD(br[j] + v);
#pragma GCC unroll 4
    for (int i = 0; i < DWK; i++)
#pragma GCC unroll 4
      for (int j = 0; j < DWD; j++) acc[i][j] = V_FMA(a[i], b[j], acc[i][j]);
  }
  for (int i = 0; i < DWK; i++)
    for (int j = 0; j < DWD; j++) part[(size_t)i * ldp + j] += V_HSUM(acc[i][j]);
}

/* ---- packing and layout helpers ------------------------------------------------------------- */

/* Forward filters: wf[g][mb][kd][m] = w[g*kg + mb + m][kd] (zero rows past kg). */
static void pack_fwd(const lb_conv2d_desc *d, const plan *p, const float *w, float *wf) {
  for (int g = 0; g < d->groups; g++)
    for (int mb = 0; mb < p->kg_mr; mb += MR)
      for (int kd = 0; kd < p->crs; kd++)
        for (int m = 0; m < MR; m++) {
          const int k = mb + m;
          *wf++ = k < p->kg ? w[((size_t)g * p->kg + k) * p->crs + kd] : 0.0f;
        }
}

/* dx filters. dx_direct: flipped and transposed, wt[g][cb][(k,r,s)][i] = w[g*kg+k][cb+i][R-1-r][S-1-s];
 * otherwise W^T for dcol, wt[g][cb][k][i] = w[g*kg+k][cb+i] over the C/g*R*S index. */
static void pack_bwd(const lb_conv2d_desc *d, const plan *p, const float *w, float *wt) {
  for (int g = 0; g < d->groups; g++) {
    const float *wg = w + (size_t)g * p->kg * p->crs;
    if (p->dx_direct) {
      for (int cb = 0; cb < p->cg_mr; cb += MR)
        for (int k = 0; k < p->kg; k++)
          for (int t = 0; t < p->rs; t++)
            for (int i = 0; i < MR; i++)
              *wt++ = cb + i < p->cg ? wg[((size_t)k * p->cg + cb + i) * p->rs + (p->rs - 1 - t)] : 0.0f;
    } else {
      for (int cb = 0; cb < p->crs_mr; cb += MR)
        for (int k = 0; k < p->kg; k++)
          for (int i = 0; i < MR; i++) *wt++ = cb + i < p->crs ? wg[(size_t)k * p->crs + cb + i] : 0.0f;
    }
  }
}

/* Zero-padded phase planes of nch channels of m images (image stride src_img, channel stride h*w):
 * dst[c][a][b][i][y][x] = padded image i, channel c, at row y*sh + a, column x*sw + b, for
 * y < hq, x < wq; then VT zero floats (reads of the last tile may run past the end). With stride 1 this is just the padded stack. */
static void phase_stack(const float *src, size_t src_img, int nch, int m, int h, int w, int ph, int pw, int sh,
                        int sw, int hq, int wq, float *dst) {
  const size_t img = (size_t)hq * wq;
  for (int c = 0; c < nch; c++)
    for (int a = 0; a < sh; a++)
      for (int b = 0; b < sw; b++) {
        int lo, hi; /* columns x whose source column x*sw + b - pw is inside the image */
        lb_conv_valid_range(wq, w, sw, pw, b, &lo, &hi);
        for (int i = 0; i < m; i++) {
          const float *sp = src + (size_t)i * src_img + (size_t)c * h * w;
          float *o = dst + (((size_t)(c * sh + a) * sw + b) * m + i) * img;
          for (int y = 0; y < hq; y++) {
            float *row = o + (size_t)y * wq;
            const int sy = y * sh + a - ph;
            if (sy < 0 || sy >= h || lo >= hi) {
              memset(row, 0, sizeof(float) * (size_t)wq);
              continue;
            }
            const float *srow = sp + (size_t)sy * w + b - pw;
            memset(row, 0, sizeof(float) * (size_t)lo);
            if (sw == 1) memcpy(row + lo, srow + lo, sizeof(float) * (size_t)(hi - lo));
            else
              for (int x = lo; x < hi; x++) row[x] = srow[x * sw];
            memset(row + hi, 0, sizeof(float) * (size_t)(wq - hi));
          }
        }
      }
  memset(dst + (size_t)nch * sh * sw * m * img, 0, sizeof(float) * VT);
}

/* The forward/dw operand on phase planes of m images: tap (r,s) of channel c lives in phase
 * ((r*dh) % sh, (s*dw) % sw), shifted by ((r*dh) / sh, (s*dw) / sw). */
static void bview_phases(bview *v, const lb_conv2d_desc *d, const plan *p, const float *xp, int m) {
  const size_t phase = (size_t)m * p->img;
  v->base = xp;
  v->n1 = p->cg;
  v->s1 = (size_t)d->stride_h * d->stride_w * phase;
  v->nr = d->r;
  v->ns = d->s;
  for (int r = 0; r < d->r; r++) {
    const int t = r * d->dil_h;
    v->offr[r] = (size_t)(t % d->stride_h) * d->stride_w * phase + (size_t)(t / d->stride_h) * p->wq;
  }
  for (int s = 0; s < d->s; s++) {
    const int t = s * d->dil_w;
    v->offs[s] = (size_t)(t % d->stride_w) * phase + (size_t)(t / d->stride_w);
  }
}

/* The dx operand (stride 1): padded dy planes of m images, kg channels, taps as plain shifts. */
static void bview_dypad(bview *v, const lb_conv2d_desc *d, const plan *p, const float *dyq, int m) {
  v->base = dyq;
  v->n1 = p->kg;
  v->s1 = (size_t)m * p->img2;
  v->nr = d->r;
  v->ns = d->s;
  for (int r = 0; r < d->r; r++) v->offr[r] = (size_t)r * d->dil_h * p->wp2;
  for (int s = 0; s < d->s; s++) v->offs[s] = (size_t)s * d->dil_w;
}

/* im2col of m images (channels of one group) into col[crs][ld], columns (image, pixel), zero tail
 * up to the next multiple of VT. */
static void im2col_pack(const lb_conv2d_desc *d, const plan *p, const float *x, int m, float *col, size_t ld) {
  const size_t in_img = (size_t)d->c * d->h * d->w, cols = (size_t)m * p->plane;
  const size_t tail = rup(cols, VT) - cols;
  for (int c = 0; c < p->cg; c++)
    for (int t = 0; t < p->rs; t++) {
      float *row = col + (size_t)(c * p->rs + t) * ld;
      for (int i = 0; i < m; i++)
        lb_conv2d_im2col_plane(d, x + (size_t)i * in_img + (size_t)c * d->h * d->w, t / d->s, t % d->s,
                               row + (size_t)i * p->plane);
      memset(row + cols, 0, sizeof(float) * tail);
    }
}

/* dst[k][i*pitch_img + y*pitch + x] (+)= src[k][i][y][x] (+ bias[k]) for rows k < nk of m images.
 * Moves kernel output (grid layout) to NCHW or NCHW to grid layout, depending on the caller. */
static void grid_to_nchw(const float *grid, size_t ldg, size_t pitch_img, int pitch, int nk, int m, int h, int w,
                         const float *bias, float *dst, size_t dst_img, int accumulate) {
  for (int i = 0; i < m; i++)
    for (int k = 0; k < nk; k++) {
      const float *gk = grid + (size_t)k * ldg + (size_t)i * pitch_img;
      float *o = dst + (size_t)i * dst_img + (size_t)k * h * w;
      const float bv = bias ? bias[k] : 0.0f;
      for (int y = 0; y < h; y++) {
        const float *gr = gk + (size_t)y * pitch;
        float *orow = o + (size_t)y * w;
        if (accumulate) {
#pragma omp simd
          for (int x = 0; x < w; x++) orow[x] += gr[x];
        } else {
#pragma omp simd
          for (int x = 0; x < w; x++) orow[x] = gr[x] + bv;
        }
      }
    }
}

/* dy of m images (channels of one group) into grid rows dst[k][ld] (k < kg_dk, zero elsewhere). */
static void dy_to_grid(const lb_conv2d_desc *d, const plan *p, const float *dy, int m, size_t pitch_img,
                       int pitch, float *dst, size_t ld, size_t cols) {
  const size_t out_img = (size_t)d->k * p->plane;
  for (int k = 0; k < p->kg_dk; k++) memset(dst + (size_t)k * ld, 0, sizeof(float) * cols);
  for (int i = 0; i < m; i++)
    for (int k = 0; k < p->kg; k++) {
      const float *s = dy + (size_t)i * out_img + (size_t)k * p->plane;
      float *o = dst + (size_t)k * ld + (size_t)i * pitch_img;
      for (int y = 0; y < d->oh; y++) memcpy(o + (size_t)y * pitch, s + (size_t)y * d->ow, sizeof(float) * d->ow);
    }
}

/* part[k][kd] += sum over cols of dyg[k][.] * (row kd of v), rows past crs read as zero. */
static void dw_pack(const plan *p, const float *dyg, size_t ldy, const bview *v, const float *zero, size_t cols,
                    float *part) {
  for (int kb = 0; kb < p->kg_dk; kb += DWK) {
    const float *dyr[DWK];
    for (int i = 0; i < DWK; i++) dyr[i] = dyg + (size_t)(kb + i) * ldy;
    for (int db = 0; db < p->crs_dd; db += DWD) {
      const float *br[DWD];
      for (int j = 0; j < DWD; j++) br[j] = db + j < p->crs ? bview_row(v, db + j) : zero;
      kern_dw(dyr, br, cols, part + (size_t)kb * p->crs_dd + db, (size_t)p->crs_dd);
    }
  }
}

/* ---- forward ----------------------------------------------------------------------------------- */

/* x: (N,C,H,W), w: (K,C/g,R,S), b: (K) or NULL, y: (N,K,OH,OW). */
void lb_conv2d_simd_forward(const lb_conv2d_desc *d, const float *x, const float *w, const float *b, float *y,
                            float *scratch) {
  plan p;
  make_plan(d, &p);
  float *base = align64(scratch), *wf = base;
  pack_fwd(d, &p, w, wf);
  const size_t in_img = (size_t)d->c * d->h * d->w, out_img = (size_t)d->k * p.plane;
#pragma omp parallel for schedule(static) if (p.nslots > 1)
  for (int sl = 0; sl < p.nslots; sl++) {
    float *S = base + p.shared + (size_t)sl * p.slot;
    const int n_lo = (int)((int64_t)d->n * sl / p.nslots), n_hi = (int)((int64_t)d->n * (sl + 1) / p.nslots);
    bview v;
    for (int n0 = n_lo; n0 < n_hi; n0 += p.nb) {
      const int m = n_hi - n0 < p.nb ? n_hi - n0 : p.nb;
      for (int g = 0; g < d->groups; g++) {
        const float *xg = x + (size_t)n0 * in_img + (size_t)g * p.cg * d->h * d->w;
        const float *wg = wf + (size_t)g * p.kg_mr * p.crs;
        const float *bg = b ? b + (size_t)g * p.kg : NULL;
        float *yg = y + (size_t)n0 * out_img + (size_t)g * p.kg * p.plane, *out = S + p.o_out;
        if (p.direct) {
          float *xp = S + p.o_xpad;
          const size_t qp = rup(grid_cols(m, p.img, d->oh, d->ow, p.wq), VT);
          phase_stack(xg, in_img, p.cg, m, d->h, d->w, d->pad_h, d->pad_w, d->stride_h, d->stride_w, p.hq, p.wq,
                      xp);
          bview_phases(&v, d, &p, xp, m);
          gemm_tiles(wg, p.kg_mr, &v, qp, out, qp);
          grid_to_nchw(out, qp, p.img, p.wq, p.kg, m, d->oh, d->ow, bg, yg, out_img, 0);
        } else {
          float *col = S + p.o_col;
          im2col_pack(d, &p, xg, m, col, p.pp);
          bview_rows(&v, col, p.crs, p.pp);
          gemm_tiles(wg, p.kg_mr, &v, rup((size_t)m * p.plane, VT), out, p.pp);
          grid_to_nchw(out, p.pp, p.plane, d->ow, p.kg, m, d->oh, d->ow, bg, yg, out_img, 0);
        }
      }
    }
  }
}

/* ---- backward ---------------------------------------------------------------------------------- */

/* dy: (N,K,OH,OW); accumulates (or with dx_assign writes) dx: (N,C,H,W); accumulates dw: (K,C/g,R,S). */
void lb_conv2d_simd_backward(const lb_conv2d_desc *d, const float *x, const float *w, const float *dy, float *dx,
                             int dx_assign, float *dw, float *scratch) {
  if (!dx && !dw) return;
  plan p;
  make_plan(d, &p);
  float *base = align64(scratch), *wt = base;
  if (dx) pack_bwd(d, &p, w, wt);
  const size_t in_img = (size_t)d->c * d->h * d->w, out_img = (size_t)d->k * p.plane;
  const size_t part_n = (size_t)d->groups * p.kg_dk * p.crs_dd;
#pragma omp parallel for schedule(static) if (p.nslots > 1)
  for (int sl = 0; sl < p.nslots; sl++) {
    float *S = base + p.shared + (size_t)sl * p.slot;
    float *zero = S + p.o_zero, *part = S + p.o_part;
    memset(zero, 0, sizeof(float) * ((p.direct ? rup(p.q, VT) : 0) + p.pp));
    if (dw) memset(part, 0, sizeof(float) * part_n);
    const int n_lo = (int)((int64_t)d->n * sl / p.nslots), n_hi = (int)((int64_t)d->n * (sl + 1) / p.nslots);
    bview v;
    for (int n0 = n_lo; n0 < n_hi; n0 += p.nb) {
      const int m = n_hi - n0 < p.nb ? n_hi - n0 : p.nb;
      const size_t cols = rup((size_t)m * p.plane, VT);
      for (int g = 0; g < d->groups; g++) {
        const float *xg = x + (size_t)n0 * in_img + (size_t)g * p.cg * d->h * d->w;
        const float *dyg = dy + (size_t)n0 * out_img + (size_t)g * p.kg * p.plane;
        float *dyp = S + p.o_dyp, *col = S + p.o_col;
        int dyp_ready = 0;
        if (dw) {
          float *pg = part + (size_t)g * p.kg_dk * p.crs_dd;
          if (p.direct) {
            float *xp = S + p.o_xpad, *dyw = S + p.o_dyw;
            const size_t qp = rup(grid_cols(m, p.img, d->oh, d->ow, p.wq), VT);
            phase_stack(xg, in_img, p.cg, m, d->h, d->w, d->pad_h, d->pad_w, d->stride_h, d->stride_w, p.hq,
                        p.wq, xp);
            bview_phases(&v, d, &p, xp, m);
            dy_to_grid(d, &p, dyg, m, p.img, p.wq, dyw, qp, qp);
            dw_pack(&p, dyw, qp, &v, zero, qp, pg);
          } else {
            im2col_pack(d, &p, xg, m, col, p.pp);
            bview_rows(&v, col, p.crs, p.pp);
            dy_to_grid(d, &p, dyg, m, p.plane, d->ow, dyp, p.pp, cols);
            dyp_ready = 1;
            dw_pack(&p, dyp, p.pp, &v, zero, cols, pg);
          }
        }
        if (dx) {
          float *dxg = dx + (size_t)n0 * in_img + (size_t)g * p.cg * d->h * d->w, *out = S + p.o_out;
          if (p.dx_direct) {
            float *dyq = S + p.o_dypad;
            const size_t q2p = rup(grid_cols(m, p.img2, d->h, d->w, p.wp2), VT);
            phase_stack(dyg, out_img, p.kg, m, d->oh, d->ow, p.ph2, p.pw2, 1, 1, p.hp2, p.wp2, dyq);
            bview_dypad(&v, d, &p, dyq, m);
            gemm_tiles(wt + (size_t)g * p.cg_mr * p.kg * p.rs, p.cg_mr, &v, q2p, out, q2p);
            grid_to_nchw(out, q2p, p.img2, p.wp2, p.cg, m, d->h, d->w, NULL, dxg, in_img, !dx_assign);
          } else {
            if (!dyp_ready) dy_to_grid(d, &p, dyg, m, p.plane, d->ow, dyp, p.pp, cols);
            /* dcol(CRS, pixels) = W^T dy into the col buffer, then col2im image by image */
            bview_rows(&v, dyp, p.kg, p.pp);
            gemm_tiles(wt + (size_t)g * p.crs_mr * p.kg, p.crs_mr, &v, cols, col, p.pp);
            for (int i = 0; i < m; i++)
              for (int c = 0; c < p.cg; c++) {
                float *plane = dxg + (size_t)i * in_img + (size_t)c * d->h * d->w;
                if (dx_assign) memset(plane, 0, sizeof(float) * (size_t)d->h * d->w); /* col2im adds up taps */
                lb_conv2d_col2im_plane(d, col + (size_t)i * p.plane, p.pp, c, plane);
              }
          }
        }
      }
    }
  }
  if (dw) /* slot partials in slot order: independent of the thread count */
    for (int g = 0; g < d->groups; g++)
      for (int k = 0; k < p.kg; k++)
        for (int kd = 0; kd < p.crs; kd++) {
          const size_t at = ((size_t)g * p.kg_dk + k) * p.crs_dd + kd;
          float sum = 0.0f;
          for (int sl = 0; sl < p.nslots; sl++) sum += base[p.shared + (size_t)sl * p.slot + p.o_part + at];
          dw[((size_t)g * p.kg + k) * p.crs + kd] += sum;
        }
}

#endif
