/* 2-D convolution through oneDNN (Debian's libdnnl-dev): the fp32 path for the layer shapes
 * where it beats our own SIMD kernels (bench/conv_onednn.c measures both; see docs/training.md).
 *
 * Weights stay OIHW, activations are NCHW or nChw16c (the descriptor's x_layout / y_layout).
 * oneDNN's kernels want blocked layouts (nChw16c and friends), so each call reorders whatever
 * differs into the caller's scratch, runs the primitive there and reorders the result back; an
 * accumulating output (dw always, dx unless assigned) comes back through a reorder with a sum
 * post-op, dst = src + dst. With NCHW activations that is what PyTorch's eager path does around
 * the same library; the executor keeps activations in nChw16c between layers, so then only the
 * weights and accumulated gradients are reordered. For stride 1, dx is computed by a forward
 * primitive on the flipped weights (flip_wanted), which also accumulates in place.
 *
 * Primitives are built once per descriptor (their JIT code costs milliseconds) and kept in a
 * process-wide cache; memories and the stream are made per call around the caller's pointers,
 * so concurrent calls share nothing writable. Every primitive takes its scratchpad from our
 * scratch (user scratchpad mode), so lb_conv2d_scratch_floats covers all memory a call uses.
 *
 * Determinism: oneDNN's CPU convolutions partition work statically and reduce dw in a fixed
 * order, so the same inputs on the same thread count give the same bits (tests/test_nn_conv.c
 * checks it); unlike our own kernels, the bits may change with the thread count. */
#include "nn/conv2d_impl.h"

#ifdef LB_HAVE_ONEDNN

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dnn_conv {
  lb_conv2d_desc d;
  int threads; /* oneDNN sizes its work split when a primitive is built: one entry per team size */
  int ok; /* 0: oneDNN refused the shape; our own kernels take it */
  dnnl_primitive_t fwd, bwd_data, bwd_weights;
  /* flip: dx is a forward convolution of dy with the flipped, transposed weights (bwd_data is
   * that forward primitive, bwd_data_add the same with dx += ...; see build_flipped) */
  int flip;
  dnnl_primitive_t bwd_data_add;
  /* layouts: the caller's (plain) and the kernels' (blocked); wt: the flipped weights, plain */
  dnnl_memory_desc_t x, w, y, b, wt;
  dnnl_memory_desc_t f_x, f_w, f_y, d_dy, d_w, d_dx, w_x, w_dy, w_dw;
  /* reorders; NULL where the layouts already agree */
  dnnl_primitive_t r_x, r_fw, r_y, r_dy, r_dw_in, r_dx_set, r_dx_add, r_wx, r_wdy, r_dw_add;
  /* scratch regions, in floats */
  size_t o_x, o_w, o_wt, o_y, o_dx, o_wdy, o_dw, o_b, o_pad, total;
} dnn_conv;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static dnn_conv **cache;
static size_t cache_n, cache_cap;
static dnnl_engine_t engine;

static int dnn_ok(dnnl_status_t st) { return st == dnnl_success; }

/* attr for every primitive: scratchpad from our scratch; sum: accumulate into dst */
static dnnl_primitive_attr_t make_attr(int sum) {
  dnnl_primitive_attr_t a = NULL;
  if (!dnn_ok(dnnl_primitive_attr_create(&a))) return NULL;
  int ok = dnn_ok(dnnl_primitive_attr_set_scratchpad_mode(a, dnnl_scratchpad_mode_user));
  if (ok && sum) {
    dnnl_post_ops_t po = NULL;
    ok = dnn_ok(dnnl_post_ops_create(&po)) && dnn_ok(dnnl_post_ops_append_sum(po, 1.0f)) &&
         dnn_ok(dnnl_primitive_attr_set_post_ops(a, po));
    if (po) dnnl_post_ops_destroy(po);
  }
  if (!ok) {
    dnnl_primitive_attr_destroy(a);
    return NULL;
  }
  return a;
}

static size_t floats_of(const dnnl_memory_desc_t *md) { return (dnnl_memory_desc_get_size(md) + 63) / 64 * 16; }

static size_t scratchpad_floats(const_dnnl_primitive_desc_t pd) {
  const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  return md ? floats_of(md) : 0;
}

/* A reorder from -> to (with sum: to += from); *pad grows to its scratchpad. always: build it
 * even when the layouts agree (the accumulating ones). Returns 0 on failure. */
static int make_reorder(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, int sum, int always,
                        dnnl_primitive_t *out, size_t *pad) {
  *out = NULL;
  if (!always && dnnl_memory_desc_equal(from, to)) return 1;
  dnnl_primitive_attr_t a = make_attr(sum);
  dnnl_primitive_desc_t pd = NULL;
  int ok = a && dnn_ok(dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, a));
  if (ok) {
    size_t s = scratchpad_floats(pd);
    if (s > *pad) *pad = s;
    ok = dnn_ok(dnnl_primitive_create(out, pd));
  }
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (a) dnnl_primitive_attr_destroy(a);
  return ok;
}

static const dnnl_memory_desc_t *md_of(const_dnnl_primitive_desc_t pd, dnnl_query_t q) {
  return dnnl_primitive_desc_query_md(pd, q, 0);
}

/* Stride 1, no dilation, padding at most r-1 / s-1 on each side, C >= 16: then dx is the forward
 * convolution of dy with w flipped in space and with K and C swapped, padded by r-1-pad. oneDNN
 * 2.6's forward kernels run that faster than its backward-data ones in the training step, and
 * a forward takes a sum post-op, so an accumulated dx needs no reorder-with-sum afterwards. */
static int flip_wanted(const lb_conv2d_desc *d) {
  /* the flipped convolution has C outputs: with few, oneDNN has only its reference kernel */
  if (d->c < 16) return 0;
  const int pr_h = (d->oh - 1) + d->r - d->h - d->pad_h, pr_w = (d->ow - 1) + d->s - d->w - d->pad_w;
  return d->stride_h == 1 && d->stride_w == 1 && d->pad_h < d->r && d->pad_w < d->s && pr_h >= 0 &&
         pr_h < d->r && pr_w >= 0 && pr_w < d->s;
}

/* The two forward primitives (assign, accumulate) that compute dx for a flip_wanted shape;
 * their descriptors take the places of the backward-data ones (d_dy, d_w, d_dx). *pd: the
 * accumulating one's primitive descriptor (for its scratchpad size; the plain one is smaller
 * or equal, checked below). */
static int build_flipped(dnn_conv *e, const_dnnl_primitive_desc_t fpd, dnnl_primitive_desc_t *pd) {
  const lb_conv2d_desc *d = &e->d;
  dnnl_dims_t wtd = {d->c, d->k, d->r, d->s};
  dnnl_dims_t st = {1, 1}, pl = {d->r - 1 - d->pad_h, d->s - 1 - d->pad_w};
  dnnl_dims_t pr = {d->r - 1 - ((d->oh - 1) + d->r - d->h - d->pad_h),
                    d->s - 1 - ((d->ow - 1) + d->s - d->w - d->pad_w)};
  dnnl_memory_desc_t awt;
  dnnl_convolution_desc_t td;
  /* dy and dx in the layouts the forward chose for y and x (left free, oneDNN would pick other
   * kernels with other layouts here, and reorder every activation gradient in and out) */
  if (!dnn_ok(dnnl_memory_desc_init_by_tag(&e->wt, 4, wtd, dnnl_f32, dnnl_oihw)) ||
      !dnn_ok(dnnl_memory_desc_init_by_tag(&awt, 4, wtd, dnnl_f32, dnnl_format_tag_any)) ||
      !dnn_ok(dnnl_convolution_forward_desc_init(&td, dnnl_forward_training, dnnl_convolution_direct,
                                                 md_of(fpd, dnnl_query_dst_md), &awt, NULL,
                                                 md_of(fpd, dnnl_query_src_md), st, pl, pr)))
    return 0;
  dnnl_primitive_attr_t set = make_attr(0), add = make_attr(1);
  dnnl_primitive_desc_t spd = NULL;
  int ok = set && add && dnn_ok(dnnl_primitive_desc_create(&spd, &td, set, engine, NULL)) &&
           dnn_ok(dnnl_primitive_desc_create(pd, &td, add, engine, NULL)) &&
           dnn_ok(dnnl_primitive_create(&e->bwd_data, spd)) && dnn_ok(dnnl_primitive_create(&e->bwd_data_add, *pd));
  if (ok) {
    e->d_dy = *md_of(spd, dnnl_query_src_md);
    e->d_w = *md_of(spd, dnnl_query_weights_md);
    e->d_dx = *md_of(spd, dnnl_query_dst_md);
    /* both primitives must read and write the same layouts and fit the same scratchpad, and
     * run a real kernel: where oneDNN has only its reference loops (few channels, say), the
     * backward-data primitive is far faster */
    const char *impl = NULL;
    ok = dnnl_memory_desc_equal(&e->d_dy, md_of(*pd, dnnl_query_src_md)) &&
         dnnl_memory_desc_equal(&e->d_w, md_of(*pd, dnnl_query_weights_md)) &&
         dnnl_memory_desc_equal(&e->d_dx, md_of(*pd, dnnl_query_dst_md)) &&
         scratchpad_floats(spd) <= scratchpad_floats(*pd) &&
         dnn_ok(dnnl_primitive_desc_query(spd, dnnl_query_impl_info_str, 0, &impl)) && impl &&
         strncmp(impl, "ref", 3) != 0;
  }
  if (spd) dnnl_primitive_desc_destroy(spd);
  if (set) dnnl_primitive_attr_destroy(set);
  if (add) dnnl_primitive_attr_destroy(add);
  if (!ok) { /* the caller builds the backward-data primitive instead */
    if (e->bwd_data) dnnl_primitive_destroy(e->bwd_data);
    if (e->bwd_data_add) dnnl_primitive_destroy(e->bwd_data_add);
    if (*pd) dnnl_primitive_desc_destroy(*pd);
    e->bwd_data = e->bwd_data_add = NULL;
    *pd = NULL;
  }
  return ok;
}

/* wt[c][k][i][j] = w[k][c][r-1-i][s-1-j] (OIHW in, the flipped convolution's OIHW out). */
static void flip_weights(const lb_conv2d_desc *d, const float *w, float *wt) {
  const int64_t rs = (int64_t)d->r * d->s;
  for (int k = 0; k < d->k; k++)
    for (int c = 0; c < d->c; c++) {
      const float *src = w + ((int64_t)k * d->c + c) * rs;
      float *dst = wt + ((int64_t)c * d->k + k) * rs;
      for (int64_t i = 0; i < rs; i++) dst[rs - 1 - i] = src[i];
    }
}

/* Builds the three convolution primitives and the reorders around them. */
static int build(dnn_conv *e) {
  const lb_conv2d_desc *d = &e->d;
  dnnl_dims_t xd = {d->n, d->c, d->h, d->w}, wd = {d->k, d->c, d->r, d->s}, yd = {d->n, d->k, d->oh, d->ow};
  dnnl_dims_t bd = {d->k}, st = {d->stride_h, d->stride_w}, pl = {d->pad_h, d->pad_w};
  /* oneDNN's right padding is whatever makes its output size ours */
  dnnl_dims_t pr = {(dnnl_dim_t)(d->oh - 1) * d->stride_h + d->r - d->h - d->pad_h,
                    (dnnl_dim_t)(d->ow - 1) * d->stride_w + d->s - d->w - d->pad_w};
  dnnl_memory_desc_t ax, aw, ay, nb;
  const dnnl_format_tag_t xt = d->x_layout == LB_LAYOUT_NCHW16C ? dnnl_nChw16c : dnnl_nchw;
  const dnnl_format_tag_t yt = d->y_layout == LB_LAYOUT_NCHW16C ? dnnl_nChw16c : dnnl_nchw;
  if (!dnn_ok(dnnl_memory_desc_init_by_tag(&e->x, 4, xd, dnnl_f32, xt)) ||
      !dnn_ok(dnnl_memory_desc_init_by_tag(&e->w, 4, wd, dnnl_f32, dnnl_oihw)) ||
      !dnn_ok(dnnl_memory_desc_init_by_tag(&e->y, 4, yd, dnnl_f32, yt)) ||
      !dnn_ok(dnnl_memory_desc_init_by_tag(&e->b, 1, bd, dnnl_f32, dnnl_a)) ||
      !dnn_ok(dnnl_memory_desc_init_by_tag(&ax, 4, xd, dnnl_f32, dnnl_format_tag_any)) ||
      !dnn_ok(dnnl_memory_desc_init_by_tag(&aw, 4, wd, dnnl_f32, dnnl_format_tag_any)) ||
      !dnn_ok(dnnl_memory_desc_init_by_tag(&ay, 4, yd, dnnl_f32, dnnl_format_tag_any)))
    return 0;
  nb = e->b;
  dnnl_convolution_desc_t fd, dd, wdsc;
  if (!dnn_ok(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &ax, &aw,
                                                 &nb, &ay, st, pl, pr)) ||
      !dnn_ok(dnnl_convolution_backward_weights_desc_init(&wdsc, dnnl_convolution_direct, &ax, &aw, NULL, &ay, st,
                                                          pl, pr)))
    return 0;
  dnnl_primitive_attr_t a = make_attr(0);
  dnnl_primitive_desc_t fpd = NULL, dpd = NULL, wpd = NULL;
  int ok = a && dnn_ok(dnnl_primitive_desc_create(&fpd, &fd, a, engine, NULL)) &&
           dnn_ok(dnnl_primitive_desc_create(&wpd, &wdsc, a, engine, fpd)) &&
           dnn_ok(dnnl_primitive_create(&e->fwd, fpd)) && dnn_ok(dnnl_primitive_create(&e->bwd_weights, wpd));
  size_t pad = 0;
  e->flip = ok && flip_wanted(d) && build_flipped(e, fpd, &dpd);
  if (ok && !e->flip) {
    ok = dnn_ok(dnnl_convolution_backward_data_desc_init(&dd, dnnl_convolution_direct, &ax, &aw, &ay, st, pl, pr)) &&
         dnn_ok(dnnl_primitive_desc_create(&dpd, &dd, a, engine, fpd)) &&
         dnn_ok(dnnl_primitive_create(&e->bwd_data, dpd));
    if (ok) {
      e->d_dy = *md_of(dpd, dnnl_query_diff_dst_md);
      e->d_w = *md_of(dpd, dnnl_query_weights_md);
      e->d_dx = *md_of(dpd, dnnl_query_diff_src_md);
    }
  }
  if (ok) {
    e->f_x = *md_of(fpd, dnnl_query_src_md);
    e->f_w = *md_of(fpd, dnnl_query_weights_md);
    e->f_y = *md_of(fpd, dnnl_query_dst_md);
    e->w_x = *md_of(wpd, dnnl_query_src_md);
    e->w_dy = *md_of(wpd, dnnl_query_diff_dst_md);
    e->w_dw = *md_of(wpd, dnnl_query_diff_weights_md);
    const_dnnl_primitive_desc_t pds[3] = {fpd, dpd, wpd};
    for (int i = 0; i < 3; i++)
      if (scratchpad_floats(pds[i]) > pad) pad = scratchpad_floats(pds[i]);
    /* dw reads the blocked dy of dx when their layouts agree, else reorders it again; the
     * flipped path reorders an accumulated dx in with r_x, so it needs d_dx == f_x */
    ok = (!e->flip || dnnl_memory_desc_equal(&e->f_x, &e->d_dx)) &&
         make_reorder(&e->x, &e->f_x, 0, 0, &e->r_x, &pad) && make_reorder(&e->w, &e->f_w, 0, 0, &e->r_fw, &pad) &&
         make_reorder(&e->f_y, &e->y, 0, 0, &e->r_y, &pad) && make_reorder(&e->y, &e->d_dy, 0, 0, &e->r_dy, &pad) &&
         make_reorder(e->flip ? &e->wt : &e->w, &e->d_w, 0, 0, &e->r_dw_in, &pad) &&
         make_reorder(&e->d_dx, &e->x, 0, 0, &e->r_dx_set, &pad) &&
         make_reorder(&e->d_dx, &e->x, 1, 1, &e->r_dx_add, &pad) &&
         make_reorder(&e->x, &e->w_x, 0, 0, &e->r_wx, &pad) &&
         make_reorder(&e->d_dy, &e->w_dy, 0, 0, &e->r_wdy, &pad) &&
         make_reorder(&e->w_dw, &e->w, 1, 1, &e->r_dw_add, &pad);
  }
  if (fpd) dnnl_primitive_desc_destroy(fpd);
  if (dpd) dnnl_primitive_desc_destroy(dpd);
  if (wpd) dnnl_primitive_desc_destroy(wpd);
  if (a) dnnl_primitive_attr_destroy(a);
  if (!ok) return 0;
  /* scratch: blocked x (forward or dw), weights, y / dy, dx, dw's own dy when its layout
   * differs, dw, a zero bias, and one scratchpad shared by the primitives (they run one at a time) */
  size_t o = 0;
  e->o_x = o, o += floats_of(&e->f_x) > floats_of(&e->w_x) ? floats_of(&e->f_x) : floats_of(&e->w_x);
  e->o_w = o, o += floats_of(&e->f_w) > floats_of(&e->d_w) ? floats_of(&e->f_w) : floats_of(&e->d_w);
  e->o_wt = o, o += e->flip ? floats_of(&e->wt) : 0;
  e->o_y = o, o += floats_of(&e->f_y) > floats_of(&e->d_dy) ? floats_of(&e->f_y) : floats_of(&e->d_dy);
  e->o_dx = o, o += floats_of(&e->d_dx);
  e->o_wdy = o, o += e->r_wdy ? floats_of(&e->w_dy) : 0;
  e->o_dw = o, o += floats_of(&e->w_dw);
  e->o_b = o, o += ((size_t)d->k + 15) / 16 * 16;
  e->o_pad = o, o += pad > 16 ? pad : 16;
  e->total = o + 16; /* + room to align the base to 64 bytes */
  return 1;
}

/* The shapes oneDNN takes, decided by the shape alone (not by the layouts: the executor's
 * nChw16c and NCHW runs of one graph must use the same kernels, hence give the same bits):
 * groups 1, no dilation, 16 or more filters, and 16 or more input channels or a first layer's
 * 1-4 (oneDNN has kernels for plain-layout first layers). With reorders on every call (NCHW
 * tensors) the stem and the 1x1 convolutions ran slightly slower than our kernels; kept in
 * nChw16c between layers they run 2-3x faster (bench/README.md). Our kernels keep the rest. */
static int shape_wanted(const lb_conv2d_desc *d) {
  return d->groups == 1 && d->dil_h == 1 && d->dil_w == 1 && d->k >= 16 && (d->c >= 16 || d->c <= 4);
}

/* LOWBIT_CONV=own keeps every convolution on our kernels (read once, under cache_lock). */
static int backend_enabled(void) {
  static int enabled = -1;
  if (enabled < 0) {
    const char *v = getenv("LOWBIT_CONV");
    enabled = !(v && strcmp(v, "own") == 0);
  }
  return enabled;
}

static dnn_conv *cache_add(const lb_conv2d_desc *d, int threads) {
  if (!engine && !dnn_ok(dnnl_engine_create(&engine, dnnl_cpu, 0))) {
    engine = NULL;
    return NULL;
  }
  if (cache_n == cache_cap) {
    size_t cap = 2 * cache_cap + 16;
    dnn_conv **grown = realloc(cache, cap * sizeof *grown);
    if (!grown) return NULL;
    cache = grown;
    cache_cap = cap;
  }
  dnn_conv *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->d = *d;
  e->threads = threads;
  e->ok = build(e);
  cache[cache_n++] = e;
  return e;
}

/* The cached primitives for d (built on first use), or NULL when our kernels take d. */
static const dnn_conv *lookup(const lb_conv2d_desc *d) {
  if (!shape_wanted(d)) return NULL;
  pthread_mutex_lock(&cache_lock);
  if (!backend_enabled()) {
    pthread_mutex_unlock(&cache_lock);
    return NULL;
  }
  const int threads = lb_get_num_threads();
  const dnn_conv *e = NULL;
  for (size_t i = 0; i < cache_n && !e; i++)
    if (cache[i]->threads == threads && memcmp(&cache[i]->d, d, sizeof *d) == 0) e = cache[i];
  if (!e) e = cache_add(d, threads);
  pthread_mutex_unlock(&cache_lock);
  return e && e->ok ? e : NULL;
}

/* ---- one call: memories around the caller's pointers ---- */
#define RUN_MEMS 24
typedef struct run {
  const dnn_conv *e;
  float *base; /* the scratch, 64-byte aligned */
  dnnl_stream_t stream;
  dnnl_memory_t pad;
  dnnl_memory_t mems[RUN_MEMS];
  int nm;
} run;

/* Failing after the primitives were built means a broken library or memory exhausted while
 * wrapping a pointer; the conv API has no status to carry it, so stop loudly. */
static void must(dnnl_status_t st, const char *what) {
  if (st == dnnl_success) return;
  fprintf(stderr, "lowbit: oneDNN convolution failed in %s (status %d); LOWBIT_CONV=own avoids oneDNN\n", what,
          (int)st);
  abort();
}

static dnnl_memory_t wrap(run *r, const dnnl_memory_desc_t *md, const void *p) {
  dnnl_memory_t m;
  if (r->nm == RUN_MEMS) must(dnnl_out_of_memory, "wrap");
  must(dnnl_memory_create(&m, md, engine, (void *)p), "memory_create");
  r->mems[r->nm++] = m;
  return m;
}

static void run_begin(run *r, const dnn_conv *e, float *scratch) {
  r->e = e;
  r->base = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  r->nm = 0;
  must(dnnl_stream_create(&r->stream, engine, dnnl_stream_default_flags), "stream_create");
  dnnl_memory_desc_t md;
  dnnl_dims_t n = {(dnnl_dim_t)((e->total - e->o_pad - 16) * sizeof(float))};
  must(dnnl_memory_desc_init_by_tag(&md, 1, n, dnnl_u8, dnnl_a), "scratchpad desc");
  r->pad = wrap(r, &md, r->base + e->o_pad);
}

static void run_end(run *r) {
  must(dnnl_stream_wait(r->stream), "stream_wait");
  for (int i = 0; i < r->nm; i++) dnnl_memory_destroy(r->mems[i]);
  dnnl_stream_destroy(r->stream);
}

static void exec(run *r, dnnl_primitive_t p, int a0, dnnl_memory_t m0, int a1, dnnl_memory_t m1, int a2,
                 dnnl_memory_t m2, int a3, dnnl_memory_t m3) {
  dnnl_exec_arg_t args[5] = {{a0, m0}, {a1, m1}, {DNNL_ARG_SCRATCHPAD, r->pad}, {a2, m2}, {a3, m3}};
  int n = a2 ? (a3 ? 5 : 4) : 3;
  must(dnnl_primitive_execute(p, r->stream, n, args), "execute");
}

static void reorder(run *r, dnnl_primitive_t p, dnnl_memory_t from, dnnl_memory_t to) {
  exec(r, p, DNNL_ARG_FROM, from, DNNL_ARG_TO, to, 0, NULL, 0, NULL);
}

/* The caller's tensor in the kernel's layout md: itself when no reorder is needed, else a
 * reorder of it into the scratch at offset o. */
static dnnl_memory_t as_input(run *r, dnnl_primitive_t re, const dnnl_memory_desc_t *plain, const void *p,
                              const dnnl_memory_desc_t *md, size_t o) {
  dnnl_memory_t user = wrap(r, plain, p);
  if (!re) return user;
  dnnl_memory_t blocked = wrap(r, md, r->base + o);
  reorder(r, re, user, blocked);
  return blocked;
}

size_t lb_conv2d_onednn_scratch_floats(const lb_conv2d_desc *d) {
  const dnn_conv *e = lookup(d);
  return e ? e->total : 0;
}

int lb_conv2d_onednn_forward(const lb_conv2d_desc *d, const float *x, const float *w, const float *b, float *y,
                             float *scratch) {
  const dnn_conv *e = lookup(d);
  if (!e) return 0;
  run r;
  run_begin(&r, e, scratch);
  dnnl_memory_t mx = as_input(&r, e->r_x, &e->x, x, &e->f_x, e->o_x);
  dnnl_memory_t mw = as_input(&r, e->r_fw, &e->w, w, &e->f_w, e->o_w);
  if (!b) {
    memset(r.base + e->o_b, 0, sizeof(float) * (size_t)d->k);
    b = r.base + e->o_b;
  }
  dnnl_memory_t mb = wrap(&r, &e->b, b);
  dnnl_memory_t my = wrap(&r, e->r_y ? &e->f_y : &e->y, e->r_y ? (void *)(r.base + e->o_y) : (void *)y);
  exec(&r, e->fwd, DNNL_ARG_SRC, mx, DNNL_ARG_WEIGHTS, mw, DNNL_ARG_BIAS, mb, DNNL_ARG_DST, my);
  if (e->r_y) reorder(&r, e->r_y, my, wrap(&r, &e->y, y));
  run_end(&r);
  return 1;
}

int lb_conv2d_onednn_backward(const lb_conv2d_desc *d, const float *x, const float *w, const float *dy, float *dx,
                              int dx_assign, float *dw, float *scratch) {
  const dnn_conv *e = lookup(d);
  if (!e) return 0;
  if (dx && lb_conv2d_is_subsample(d)) { /* oneDNN would write all of dx; see conv2d_subsample.c */
    lb_conv2d_subsample_dx(d, w, dy, dx, dx_assign);
    dx = NULL;
  } else if (dx && lb_conv2d_is_narrow(d)) { /* oneDNN would pad C to 16; see conv2d_narrow.c */
    lb_conv2d_narrow_dx(d, w, dy, dx, dx_assign);
    dx = NULL;
  }
  if (!dx && !dw) return 1;
  run r;
  run_begin(&r, e, scratch);
  dnnl_memory_t mdy = as_input(&r, e->r_dy, &e->y, dy, &e->d_dy, e->o_y);
  if (dx) {
    dnnl_memory_t mw;
    if (e->flip) {
      flip_weights(d, w, r.base + e->o_wt);
      mw = as_input(&r, e->r_dw_in, &e->wt, r.base + e->o_wt, &e->d_w, e->o_w);
    } else {
      mw = as_input(&r, e->r_dw_in, &e->w, w, &e->d_w, e->o_w);
    }
    /* a dx in the kernel's own layout is written in place when assigned, and accumulated in
     * place by the flipped forward's sum post-op. That post-op may add the old dx before the
     * last input-channel chunk, so an accumulated dx in another layout goes through the same
     * primitive on a copy (not a reorder-with-sum): both layouts get the same bits. */
    const int direct = !e->r_dx_set && (dx_assign || e->flip);
    dnnl_memory_t mdx = wrap(&r, &e->d_dx, direct ? (void *)dx : (void *)(r.base + e->o_dx));
    if (e->flip) {
      const int add = !dx_assign;
      if (add && !direct) reorder(&r, e->r_x, wrap(&r, &e->x, dx), mdx); /* f_x is d_dx here */
      exec(&r, add ? e->bwd_data_add : e->bwd_data, DNNL_ARG_SRC, mdy, DNNL_ARG_WEIGHTS, mw, DNNL_ARG_DST, mdx, 0,
           NULL);
      if (!direct) reorder(&r, e->r_dx_set, mdx, wrap(&r, &e->x, dx));
    } else {
      exec(&r, e->bwd_data, DNNL_ARG_DIFF_DST, mdy, DNNL_ARG_WEIGHTS, mw, DNNL_ARG_DIFF_SRC, mdx, 0, NULL);
      if (!direct) reorder(&r, dx_assign ? e->r_dx_set : e->r_dx_add, mdx, wrap(&r, &e->x, dx));
    }
  }
  if (dw) {
    dnnl_memory_t mx = as_input(&r, e->r_wx, &e->x, x, &e->w_x, e->o_x); /* no forward x here */
    dnnl_memory_t mdy2 = mdy;
    if (e->r_wdy) {
      mdy2 = wrap(&r, &e->w_dy, r.base + e->o_wdy);
      reorder(&r, e->r_wdy, mdy, mdy2);
    }
    dnnl_memory_t mdw = wrap(&r, &e->w_dw, r.base + e->o_dw);
    exec(&r, e->bwd_weights, DNNL_ARG_SRC, mx, DNNL_ARG_DIFF_DST, mdy2, DNNL_ARG_DIFF_WEIGHTS, mdw, 0, NULL);
    reorder(&r, e->r_dw_add, mdw, wrap(&r, &e->w, dw));
  }
  run_end(&r);
  return 1;
}

const char *lb_conv2d_onednn_version(void) {
  static char text[48];
  const dnnl_version_t *v = dnnl_version();
  snprintf(text, sizeof text, "oneDNN %d.%d.%d", v->major, v->minor, v->patch);
  return text;
}

#else

const char *lb_conv2d_onednn_version(void) { return NULL; }

#endif
