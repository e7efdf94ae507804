/* Convolutions on nChw16c activations (x_layout / y_layout): the same bits as on NCHW for y, dx
 * (assigned and accumulated) and dw, every combination of layouts, on the ResNet shapes oneDNN
 * runs; the bias gradient (summed in another order) within float rounding; and the descriptor
 * checks, which also hold on a build without oneDNN. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/nn.h"
#include "testutil.h"

typedef struct conv_out {
  float *y, *dx, *dw, *db; /* y, dx in NCHW */
} conv_out;

static void to_layout(int layout, int n, int c, int64_t hw, const float *src, float *dst) {
  if (layout == LB_LAYOUT_NCHW16C)
    lb_layout_to_nchw16c(n, c, hw, src, dst);
  else
    memcpy(dst, src, sizeof(float) * (size_t)n * (size_t)c * (size_t)hw);
}

static void from_layout(int layout, int n, int c, int64_t hw, const float *src, float *dst) {
  if (layout == LB_LAYOUT_NCHW16C)
    lb_layout_to_nchw(n, c, hw, src, dst);
  else
    memcpy(dst, src, sizeof(float) * (size_t)n * (size_t)c * (size_t)hw);
}

/* Forward and backward of d (layouts as set) on NCHW data x, w, b, dy; dx starts as dx0
 * (accumulate) or garbage (assign). */
static conv_out run(const lb_conv2d_desc *d, int assign, const float *x, const float *w, const float *b,
                    const float *dy, const float *dx0) {
  const int64_t hw = (int64_t)d->h * d->w, ohw = (int64_t)d->oh * d->ow;
  const size_t nx = (size_t)d->n * d->c * hw, ny = (size_t)d->n * d->k * ohw, nw = (size_t)d->k * d->c * d->r * d->s;
  float *xl = malloc(sizeof(float) * nx), *yl = malloc(sizeof(float) * ny), *dyl = malloc(sizeof(float) * ny);
  float *dxl = malloc(sizeof(float) * nx), *scratch = malloc(sizeof(float) * (lb_conv2d_scratch_floats(d) + 1));
  conv_out o = {malloc(sizeof(float) * ny), malloc(sizeof(float) * nx), calloc(nw, sizeof(float)),
                calloc((size_t)d->k, sizeof(float))};
  to_layout(d->x_layout, d->n, d->c, hw, x, xl);
  to_layout(d->y_layout, d->n, d->k, ohw, dy, dyl);
  if (assign)
    for (size_t i = 0; i < nx; i++) dxl[i] = NAN; /* must be overwritten */
  else
    to_layout(d->x_layout, d->n, d->c, hw, dx0, dxl);
  lb_conv2d_forward(d, xl, w, b, yl, scratch);
  lb_conv2d_backward_ex(d, xl, w, dyl, dxl, assign, o.dw, o.db, scratch);
  from_layout(d->y_layout, d->n, d->k, ohw, yl, o.y);
  from_layout(d->x_layout, d->n, d->c, hw, dxl, o.dx);
  free(xl), free(yl), free(dyl), free(dxl), free(scratch);
  return o;
}

static void test_shape(lb_conv2d_desc base, lb_rng *rng) {
  CHECK_OK(lb_conv2d_init(&base));
  const size_t nx = (size_t)base.n * base.c * base.h * base.w, ny = (size_t)base.n * base.k * base.oh * base.ow;
  const size_t nw = (size_t)base.k * base.c * base.r * base.s;
  float *x = malloc(sizeof(float) * nx), *dx0 = malloc(sizeof(float) * nx), *dy = malloc(sizeof(float) * ny);
  float *w = malloc(sizeof(float) * nw), *b = malloc(sizeof(float) * (size_t)base.k);
  lbt_fill_uniform(x, (int64_t)nx, rng, -1, 1);
  lbt_fill_uniform(dx0, (int64_t)nx, rng, -1, 1);
  lbt_fill_uniform(dy, (int64_t)ny, rng, -1, 1);
  lbt_fill_uniform(w, (int64_t)nw, rng, -0.3f, 0.3f);
  lbt_fill_uniform(b, base.k, rng, -0.3f, 0.3f);
  for (int assign = 0; assign < 2; assign++) {
    conv_out ref = run(&base, assign, x, w, b, dy, dx0);
    for (int xl = 0; xl < 2; xl++)
      for (int yl = 0; yl < 2; yl++) {
        if ((!xl && !yl) || (xl && base.c % 16)) continue;
        lb_conv2d_desc d = base;
        d.x_layout = xl;
        d.y_layout = yl;
        CHECK_OK(lb_conv2d_init(&d));
        conv_out got = run(&d, assign, x, w, b, dy, dx0);
        CHECK_MSG(memcmp(got.y, ref.y, sizeof(float) * ny) == 0, "c%d k%d x%d y%d: y differs", d.c, d.k, xl, yl);
        CHECK_MSG(memcmp(got.dx, ref.dx, sizeof(float) * nx) == 0, "c%d k%d x%d y%d assign %d: dx differs", d.c, d.k,
                  xl, yl, assign);
        CHECK_MSG(memcmp(got.dw, ref.dw, sizeof(float) * nw) == 0, "c%d k%d x%d y%d: dw differs", d.c, d.k, xl, yl);
        /* float sums of up to 784 values of |dy| <= 1 in two orders: rounding is ~1e-5 here */
        CHECK_MSG(lbt_max_rel_err(got.db, ref.db, base.k, 1.0) < 1e-3, "db off by %.3g",
                  lbt_max_rel_err(got.db, ref.db, base.k, 1.0));
        free(got.y), free(got.dx), free(got.dw), free(got.db);
      }
    free(ref.y), free(ref.dx), free(ref.dw), free(ref.db);
  }
  free(x), free(dx0), free(dy), free(w), free(b);
}

static void test_init(void) {
  lb_conv2d_desc d = {.n = 2, .c = 24, .h = 8, .w = 8, .k = 32, .r = 3, .s = 3, .stride_h = 1, .stride_w = 1,
                      .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1, .groups = 1, .x_layout = LB_LAYOUT_NCHW16C};
  CHECK_STATUS(lb_conv2d_init(&d), LB_ERR_SHAPE); /* 24 input channels are not whole blocks */
  d.x_layout = 5;
  CHECK_STATUS(lb_conv2d_init(&d), LB_ERR_ARG);
  d.x_layout = LB_LAYOUT_NCHW;
  d.y_layout = LB_LAYOUT_NCHW16C;
  CHECK_STATUS(lb_conv2d_init(&d), lb_conv2d_onednn_version() ? LB_OK : LB_ERR_UNSUPPORTED);
  d.c = d.k = d.groups = 32; /* depthwise: our kernels only */
  CHECK_STATUS(lb_conv2d_init(&d), LB_ERR_UNSUPPORTED);
}

int main(void) {
  lb_set_num_threads(2);
  test_init();
  if (!lb_conv2d_onednn_version()) return lbt_skip("test_nn_conv_layout", "built without oneDNN");
  lb_rng rng;
  lb_rng_seed(&rng, 1207);
  /* n, c, h, w, k, r, s, stride, pad, dilation, groups */
  const lb_conv2d_desc shapes[] = {
      {3, 16, 28, 28, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}, {2, 16, 28, 28, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 0, 0, 0, 0},
      {2, 16, 28, 28, 32, 1, 1, 2, 2, 0, 0, 1, 1, 1, 0, 0, 0, 0}, {2, 64, 7, 7, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
      {2, 1, 28, 28, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}, /* stem: x stays NCHW */
      {3, 32, 9, 11, 48, 3, 3, 1, 2, 1, 0, 1, 1, 1, 0, 0, 0, 0}, /* odd plane, uneven stride */
  };
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) test_shape(shapes[i], &rng);
  return lbt_finish("test_nn_conv_layout");
}
