/* Benchmark: lowbit's fp32 convolution kernels against oneDNN's (Debian libdnnl-dev, the library
 * PyTorch's CPU convolutions call) on ResNet-8's layer shapes at batch 128: forward, dx and dw.
 * oneDNN gets the layouts it prefers (format "any", blocked) and the reorders into them are
 * not timed, so its column is the best that library does for the same arithmetic: the figure
 * that says how far our own kernels are from a tuned peer. Not a test.
 * usage: bench_conv_onednn [threads] [reps] */
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/nn.h"

typedef struct shape {
  const char *name;
  int c, hw, k, ksize, stride;
} shape;

static const shape layers[] = {
    {"1->16 3x3 28x28", 1, 28, 16, 3, 1},
    {"16->16 3x3 28x28", 16, 28, 16, 3, 1}, {"16->32 3x3 s2", 16, 28, 32, 3, 2}, {"32->32 3x3 14x14", 32, 14, 32, 3, 1},
    {"16->32 1x1 s2", 16, 28, 32, 1, 2},    {"32->64 3x3 s2", 32, 14, 64, 3, 2}, {"64->64 3x3 7x7", 64, 7, 64, 3, 1},
};

#define CHECK(call)                                                            \
  do {                                                                         \
    dnnl_status_t st_ = (call);                                                \
    if (st_ != dnnl_success) {                                                 \
      fprintf(stderr, "bench_conv_onednn: %s failed (%d)\n", #call, (int)st_); \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

/* A sequence of oneDNN primitives timed as one step (a convolution, or one with its reorders). */
#define SEQ_MAX 6
typedef struct dnn_seq {
  dnnl_primitive_t prim[SEQ_MAX];
  dnnl_exec_arg_t args[SEQ_MAX][3];
  int nargs[SEQ_MAX], n;
} dnn_seq;

static void seq_add(dnn_seq *q, dnnl_primitive_desc_t pd, int nargs, const dnnl_exec_arg_t *args) {
  CHECK(dnnl_primitive_create(&q->prim[q->n], pd));
  memcpy(q->args[q->n], args, (size_t)nargs * sizeof *args);
  q->nargs[q->n++] = nargs;
}

static dnnl_memory_t make_mem(const dnnl_memory_desc_t *md, dnnl_engine_t eng) {
  dnnl_memory_t m;
  CHECK(dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE));
  /* fill with small values so no denormals slow either side */
  void *h;
  CHECK(dnnl_memory_get_data_handle(m, &h));
  float *f = h;
  for (size_t i = 0; i < dnnl_memory_desc_get_size(md) / sizeof(float); i++) f[i] = (float)((int)(i % 7) - 3) * 0.125f;
  return m;
}

static const dnnl_memory_desc_t *mem_md(dnnl_memory_t m) {
  const dnnl_memory_desc_t *md;
  CHECK(dnnl_memory_get_memory_desc(m, &md));
  return md;
}

/* Appends a reorder from -> to to q (skipped when the layouts already agree). */
static void seq_reorder(dnn_seq *q, dnnl_memory_t from, dnnl_memory_t to, dnnl_engine_t eng) {
  if (dnnl_memory_desc_equal(mem_md(from), mem_md(to))) return;
  dnnl_primitive_desc_t pd;
  CHECK(dnnl_reorder_primitive_desc_create(&pd, mem_md(from), eng, mem_md(to), eng, NULL));
  dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
  seq_add(q, pd, 2, a);
  dnnl_primitive_desc_destroy(pd);
}

static double best_seq(int reps, const dnn_seq *q, dnnl_stream_t s) {
  double t_best = 1e30;
  for (int r = 0; r < reps; r++) {
    double t0 = lb_now();
    for (int i = 0; i < q->n; i++) CHECK(dnnl_primitive_execute(q->prim[i], s, q->nargs[i], q->args[i]));
    CHECK(dnnl_stream_wait(s));
    double t = lb_now() - t0;
    if (t < t_best) t_best = t;
  }
  return t_best;
}

static void seq_free(dnn_seq *q) {
  for (int i = 0; i < q->n; i++) dnnl_primitive_destroy(q->prim[i]);
}

/* what: 0 forward, 1 backward (dx and dw in one call, as the trainer makes it) */
static double best_lb(int reps, int what, const lb_conv2d_desc *d, float *x, float *w, float *y, float *dx, float *dw,
                      float *scratch) {
  double t_best = 1e30;
  for (int r = 0; r < reps; r++) {
    double t0 = lb_now();
    if (what == 0) lb_conv2d_forward(d, x, w, NULL, y, scratch);
    else lb_conv2d_backward(d, x, w, y, dx, dw, NULL, scratch);
    double t = lb_now() - t0;
    if (t < t_best) t_best = t;
  }
  return t_best;
}

static const char *impl_name(dnnl_primitive_desc_t pd) {
  const char *s = "?";
  dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s);
  return s;
}

static dnnl_memory_t pd_mem(dnnl_primitive_desc_t pd, dnnl_query_t what, dnnl_engine_t eng) {
  return make_mem(dnnl_primitive_desc_query_md(pd, what, 0), eng);
}

static dnnl_memory_t plain_mem(const dnnl_dims_t dims, dnnl_format_tag_t tag, dnnl_engine_t eng) {
  dnnl_memory_desc_t md;
  CHECK(dnnl_memory_desc_init_by_tag(&md, 4, dims, dnnl_f32, tag));
  return make_mem(&md, eng);
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 2;
  setenv("LOWBIT_CONV", "own", 1); /* the lowbit column is our own kernels, not the oneDNN dispatch */
  int reps = argc > 2 ? atoi(argv[2]) : 15;
  lb_set_num_threads(threads); /* sets the OpenMP team oneDNN uses as well */
  dnnl_engine_t eng;
  dnnl_stream_t strm;
  CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
  CHECK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
  printf("batch 128, %d threads, best of %d; ms (GFLOP/s)\n", threads, reps);
  printf("%-18s %-4s %13s %13s %13s %6s %6s  %s\n", "layer", "pass", "lowbit", "oneDNN", "oneDNN+reord", "lb/dnn",
         "lb/d+r", "oneDNN kernel");
  double tot[3] = {0, 0, 0}; /* lowbit, oneDNN, oneDNN with reorders */
  for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
    const shape *s = &layers[i];
    const int pad = s->ksize / 2;
    lb_conv2d_desc d = {128, s->c, s->hw, s->hw, s->k, s->ksize, s->ksize, s->stride, s->stride, pad, pad, 1, 1, 1, 0, 0, 0, 0};
    if (lb_conv2d_init(&d)) return 1;
    size_t nx = (size_t)128 * s->c * s->hw * s->hw, nw = (size_t)s->k * s->c * s->ksize * s->ksize;
    size_t ny = (size_t)128 * s->k * d.oh * d.ow;
    float *x = lb_alloc_aligned(nx * 4), *dx = lb_alloc_aligned(nx * 4), *w = lb_alloc_aligned(nw * 4);
    float *dw = lb_alloc_aligned(nw * 4), *y = lb_alloc_aligned(ny * 4);
    float *scratch = lb_alloc_aligned(lb_conv2d_scratch_floats(&d) * 4 + 64);
    for (size_t j = 0; j < nx; j++) x[j] = (float)((int)(j % 7) - 3) * 0.125f;
    for (size_t j = 0; j < nw; j++) w[j] = (float)((int)(j % 5) - 2) * 0.125f;
    memset(dx, 0, nx * 4);
    memset(dw, 0, nw * 4);

    dnnl_dims_t xd = {128, s->c, s->hw, s->hw}, wd = {s->k, s->c, s->ksize, s->ksize}, yd = {128, s->k, d.oh, d.ow};
    dnnl_dims_t strides = {s->stride, s->stride}, pl = {pad, pad};
    /* oneDNN's right padding: whatever makes the output size come out as ours */
    dnnl_dims_t pr = {(d.oh - 1) * s->stride + s->ksize - s->hw - pad, (d.ow - 1) * s->stride + s->ksize - s->hw - pad};
    dnnl_memory_desc_t xmd, wmd, ymd;
    CHECK(dnnl_memory_desc_init_by_tag(&xmd, 4, xd, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&wmd, 4, wd, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&ymd, 4, yd, dnnl_f32, dnnl_format_tag_any));
    dnnl_convolution_desc_t fd, bd, wdsc;
    CHECK(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &xmd, &wmd, NULL,
                                             &ymd, strides, pl, pr));
    CHECK(dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &xmd, &wmd, &ymd, strides, pl, pr));
    CHECK(dnnl_convolution_backward_weights_desc_init(&wdsc, dnnl_convolution_direct, &xmd, &wmd, NULL, &ymd, strides,
                                                      pl, pr));
    dnnl_primitive_desc_t fpd, dpd, wpd;
    CHECK(dnnl_primitive_desc_create(&fpd, &fd, NULL, eng, NULL));
    CHECK(dnnl_primitive_desc_create(&dpd, &bd, NULL, eng, fpd));
    CHECK(dnnl_primitive_desc_create(&wpd, &wdsc, NULL, eng, fpd));
    /* the tensors as our engine holds them (NCHW, OIHW) and as oneDNN's kernels want them */
    dnnl_memory_t px = plain_mem(xd, dnnl_nchw, eng), pw = plain_mem(wd, dnnl_oihw, eng);
    dnnl_memory_t py = plain_mem(yd, dnnl_nchw, eng), pdy = plain_mem(yd, dnnl_nchw, eng);
    dnnl_memory_t pdx = plain_mem(xd, dnnl_nchw, eng), pdw = plain_mem(wd, dnnl_oihw, eng);
    dnnl_memory_t bx = pd_mem(fpd, dnnl_query_src_md, eng), bw = pd_mem(fpd, dnnl_query_weights_md, eng);
    dnnl_memory_t by = pd_mem(fpd, dnnl_query_dst_md, eng), bdy = pd_mem(dpd, dnnl_query_diff_dst_md, eng);
    dnnl_memory_t bwd_w = pd_mem(dpd, dnnl_query_weights_md, eng), bdx = pd_mem(dpd, dnnl_query_diff_src_md, eng);
    dnnl_memory_t bx2 = pd_mem(wpd, dnnl_query_src_md, eng), bdy2 = pd_mem(wpd, dnnl_query_diff_dst_md, eng);
    dnnl_memory_t bdw = pd_mem(wpd, dnnl_query_diff_weights_md, eng);
    dnnl_exec_arg_t fa[3] = {{DNNL_ARG_SRC, bx}, {DNNL_ARG_WEIGHTS, bw}, {DNNL_ARG_DST, by}};
    dnnl_exec_arg_t da[3] = {{DNNL_ARG_DIFF_DST, bdy}, {DNNL_ARG_WEIGHTS, bwd_w}, {DNNL_ARG_DIFF_SRC, bdx}};
    dnnl_exec_arg_t wa[3] = {{DNNL_ARG_SRC, bx2}, {DNNL_ARG_DIFF_DST, bdy2}, {DNNL_ARG_DIFF_WEIGHTS, bdw}};
    /* kernels alone */
    dnn_seq f = {0}, bk = {0};
    seq_add(&f, fpd, 3, fa);
    seq_add(&bk, dpd, 3, da);
    seq_add(&bk, wpd, 3, wa);
    /* with the reorders an NCHW engine pays around them (PyTorch's eager path does the same);
     * the forward's blocked x is kept for dw */
    dnn_seq fr = {0}, br = {0};
    seq_reorder(&fr, px, bx, eng);
    seq_reorder(&fr, pw, bw, eng);
    seq_add(&fr, fpd, 3, fa);
    seq_reorder(&fr, by, py, eng);
    seq_reorder(&br, pdy, bdy, eng);
    seq_reorder(&br, pw, bwd_w, eng);
    seq_add(&br, dpd, 3, da);
    seq_reorder(&br, bdx, pdx, eng);
    if (!dnnl_memory_desc_equal(mem_md(bx), mem_md(bx2))) seq_reorder(&br, bx, bx2, eng);
    if (!dnnl_memory_desc_equal(mem_md(bdy), mem_md(bdy2))) seq_reorder(&br, bdy, bdy2, eng);
    seq_add(&br, wpd, 3, wa);
    seq_reorder(&br, bdw, pdw, eng);

    const double gflop = 2.0 * (double)ny * s->c * s->ksize * s->ksize / 1e9;
    const char *pass[2] = {"fwd", "bwd"};
    const dnn_seq *plain[2] = {&f, &bk}, *reord[2] = {&fr, &br};
    for (int what = 0; what < 2; what++) {
      const double fl = gflop * (what ? 2 : 1);
      double tl = best_lb(reps, what, &d, x, w, y, dx, dw, scratch);
      double tn = best_seq(reps, plain[what], strm), tr = best_seq(reps, reord[what], strm);
      tot[0] += tl;
      tot[1] += tn;
      tot[2] += tr;
      printf("%-18s %-4s %6.2f (%4.0f) %6.2f (%4.0f) %6.2f (%4.0f) %6.2f %6.2f  %s\n", s->name, pass[what], 1e3 * tl,
             fl / tl, 1e3 * tn, fl / tn, 1e3 * tr, fl / tr, tl / tn, tl / tr, impl_name(what ? dpd : fpd));
    }
    seq_free(&f);
    seq_free(&bk);
    seq_free(&fr);
    seq_free(&br);
    dnnl_memory_t mems[] = {px, pw, py, pdy, pdx, pdw, bx, bw, by, bdy, bwd_w, bdx, bx2, bdy2, bdw};
    for (size_t j = 0; j < sizeof mems / sizeof mems[0]; j++) dnnl_memory_destroy(mems[j]);
    dnnl_primitive_desc_destroy(fpd);
    dnnl_primitive_desc_destroy(dpd);
    dnnl_primitive_desc_destroy(wpd);
    lb_free_aligned(x);
    lb_free_aligned(dx);
    lb_free_aligned(w);
    lb_free_aligned(dw);
    lb_free_aligned(y);
    lb_free_aligned(scratch);
  }
  printf("all layers: lowbit %.2f ms, oneDNN %.2f ms (%.2fx), oneDNN with reorders %.2f ms (%.2fx)\n", 1e3 * tot[0],
         1e3 * tot[1], tot[0] / tot[1], 1e3 * tot[2], tot[0] / tot[2]);
  dnnl_stream_destroy(strm);
  dnnl_engine_destroy(eng);
  return 0;
}
