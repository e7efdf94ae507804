/* Data-movement kernels: slice, constant pad, concat (see nn_shape.h). */
#include "nn/nn_shape.h"

#include <string.h>

void lb_slice_forward(int64_t outer, int64_t d_in, int64_t inner, int64_t start, int64_t step, int64_t count, const float *x,
                      float *y) {
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < count; i++)
      memcpy(y + (o * count + i) * inner, x + (o * d_in + start + i * step) * inner, (size_t)inner * sizeof(float));
}

void lb_slice_backward(int64_t outer, int64_t d_in, int64_t inner, int64_t start, int64_t step, int64_t count, const float *dy,
                       float *dx) {
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < count; i++) {
      const float *src = dy + (o * count + i) * inner;
      float *dst = dx + (o * d_in + start + i * step) * inner;
      for (int64_t r = 0; r < inner; r++) dst[r] += src[r];
    }
}

/* Walk every input row (all indices but the last) of every sample and call back with the input
 * and output offsets of the row; the output offset includes the padding before each dimension. */
typedef struct pad_geom {
  int nd;
  int64_t in_stride[6], out_stride[6], in_n, out_n, rows;
} pad_geom;

static pad_geom pad_geometry(int nd, const int64_t *in_dims, const int64_t *begin, const int64_t *end) {
  pad_geom g = {.nd = nd};
  int64_t si = 1, so = 1;
  for (int k = nd - 1; k >= 0; k--) {
    g.in_stride[k] = si;
    g.out_stride[k] = so;
    si *= in_dims[k];
    so *= in_dims[k] + begin[k] + end[k];
  }
  g.in_n = si;
  g.out_n = so;
  g.rows = si / in_dims[nd - 1];
  return g;
}

/* Output offset (within a sample) of the first element of input row r. */
static int64_t pad_row_offset(const pad_geom *g, const int64_t *in_dims, const int64_t *begin, int64_t r) {
  int64_t off = begin[g->nd - 1];
  for (int k = g->nd - 2; k >= 0; k--) {
    int64_t idx = r % in_dims[k];
    r /= in_dims[k];
    off += (idx + begin[k]) * g->out_stride[k];
  }
  return off;
}

void lb_pad_forward(int batch, int nd, const int64_t *in_dims, const int64_t *begin, const int64_t *end, float value,
                    const float *x, float *y) {
  pad_geom g = pad_geometry(nd, in_dims, begin, end);
  int64_t w = in_dims[nd - 1];
  for (int64_t k = 0; k < (int64_t)batch * g.out_n; k++) y[k] = value;
  for (int n = 0; n < batch; n++)
    for (int64_t r = 0; r < g.rows; r++)
      memcpy(y + n * g.out_n + pad_row_offset(&g, in_dims, begin, r), x + n * g.in_n + r * w, (size_t)w * sizeof(float));
}

void lb_pad_backward(int batch, int nd, const int64_t *in_dims, const int64_t *begin, const int64_t *end, const float *dy,
                     float *dx) {
  pad_geom g = pad_geometry(nd, in_dims, begin, end);
  int64_t w = in_dims[nd - 1];
  for (int n = 0; n < batch; n++)
    for (int64_t r = 0; r < g.rows; r++) {
      const float *src = dy + n * g.out_n + pad_row_offset(&g, in_dims, begin, r);
      float *dst = dx + n * g.in_n + r * w;
      for (int64_t j = 0; j < w; j++) dst[j] += src[j];
    }
}

void lb_concat_forward(int64_t outer, int64_t inner, int n, const int64_t *d, const float *const *x, float *y) {
  int64_t total = 0;
  for (int j = 0; j < n; j++) total += d[j];
  for (int64_t o = 0; o < outer; o++) {
    int64_t at = 0;
    for (int j = 0; j < n; j++) {
      memcpy(y + (o * total + at) * inner, x[j] + o * d[j] * inner, (size_t)(d[j] * inner) * sizeof(float));
      at += d[j];
    }
  }
}

void lb_concat_backward(int64_t outer, int64_t inner, int n, const int64_t *d, const float *dy, float *const *dx) {
  int64_t total = 0;
  for (int j = 0; j < n; j++) total += d[j];
  for (int64_t o = 0; o < outer; o++) {
    int64_t at = 0;
    for (int j = 0; j < n; j++) {
      if (dx[j]) {
        const float *src = dy + (o * total + at) * inner;
        float *dst = dx[j] + o * d[j] * inner;
        for (int64_t r = 0; r < d[j] * inner; r++) dst[r] += src[r];
      }
      at += d[j];
    }
  }
}
