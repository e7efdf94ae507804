/* Plain-loop reference twins of the 2-D convolution (DESIGN.md: every optimized kernel keeps one).
 * Written for obviousness, not speed: every output and every gradient element is gathered
 * straight from its definition and summed in double. The fast path (conv2d.c) computes the
 * same sums by im2col/GEMM/col2im, so these share no code with it on purpose. */
#include "lowbit/nn.h"

/* x: (N,C,H,W), w: (K,C/g,R,S), b: (K) or NULL, y: (N,K,OH,OW). */
void lb_conv2d_forward_ref(const lb_conv2d_desc *d, const float *x, const float *w, const float *b, float *y) {
  const int cg = d->c / d->groups, kg = d->k / d->groups;
  for (int n = 0; n < d->n; n++)
    for (int k = 0; k < d->k; k++) {
      const int g = k / kg;
      for (int oh = 0; oh < d->oh; oh++)
        for (int ow = 0; ow < d->ow; ow++) {
          double acc = b ? (double)b[k] : 0.0;
          for (int c = 0; c < cg; c++)
            for (int r = 0; r < d->r; r++) {
              const int ih = oh * d->stride_h - d->pad_h + r * d->dil_h;
              if (ih < 0 || ih >= d->h) continue;
              for (int s = 0; s < d->s; s++) {
                const int iw = ow * d->stride_w - d->pad_w + s * d->dil_w;
                if (iw < 0 || iw >= d->w) continue;
                const float xv = x[(((size_t)n * d->c + (size_t)(g * cg + c)) * d->h + ih) * d->w + iw];
                const float wv = w[(((size_t)k * cg + c) * d->r + r) * d->s + s];
                acc += (double)xv * (double)wv;
              }
            }
          y[(((size_t)n * d->k + k) * d->oh + oh) * d->ow + ow] = (float)acc;
        }
    }
}

/* Output index o along one axis that input index i feeds through kernel tap t, or -1:
 * i = o*stride - pad + t*dil must hold exactly. */
static int out_index(int i, int t, int stride, int pad, int dil, int out) {
  const int num = i + pad - t * dil;
  if (num < 0 || num % stride != 0) return -1;
  const int o = num / stride;
  return o < out ? o : -1;
}

/* dy: (N,K,OH,OW); accumulates dx: (N,C,H,W), dw: (K,C/g,R,S), db: (K). */
void lb_conv2d_backward_ref(const lb_conv2d_desc *d, const float *x, const float *w, const float *dy, float *dx,
                            float *dw, float *db) {
  const int cg = d->c / d->groups, kg = d->k / d->groups;
  const size_t plane_out = (size_t)d->oh * d->ow;
  if (db)
    for (int k = 0; k < d->k; k++) {
      double acc = 0;
      for (int n = 0; n < d->n; n++)
        for (size_t p = 0; p < plane_out; p++) acc += dy[((size_t)n * d->k + k) * plane_out + p];
      db[k] += (float)acc;
    }
  if (dw)
    for (int k = 0; k < d->k; k++) {
      const int g = k / kg;
      for (int c = 0; c < cg; c++)
        for (int r = 0; r < d->r; r++)
          for (int s = 0; s < d->s; s++) {
            double acc = 0;
            for (int n = 0; n < d->n; n++)
              for (int oh = 0; oh < d->oh; oh++) {
                const int ih = oh * d->stride_h - d->pad_h + r * d->dil_h;
                if (ih < 0 || ih >= d->h) continue;
                for (int ow = 0; ow < d->ow; ow++) {
                  const int iw = ow * d->stride_w - d->pad_w + s * d->dil_w;
                  if (iw < 0 || iw >= d->w) continue;
                  acc += (double)x[(((size_t)n * d->c + (size_t)(g * cg + c)) * d->h + ih) * d->w + iw] *
                         (double)dy[((size_t)n * d->k + k) * plane_out + (size_t)oh * d->ow + ow];
                }
              }
            dw[(((size_t)k * cg + c) * d->r + r) * d->s + s] += (float)acc;
          }
    }
  if (dx)
    for (int n = 0; n < d->n; n++)
      for (int ci = 0; ci < d->c; ci++) {
        const int g = ci / cg, c = ci % cg;
        for (int ih = 0; ih < d->h; ih++)
          for (int iw = 0; iw < d->w; iw++) {
            double acc = 0;
            for (int r = 0; r < d->r; r++) {
              const int oh = out_index(ih, r, d->stride_h, d->pad_h, d->dil_h, d->oh);
              if (oh < 0) continue;
              for (int s = 0; s < d->s; s++) {
                const int ow = out_index(iw, s, d->stride_w, d->pad_w, d->dil_w, d->ow);
                if (ow < 0) continue;
                for (int kk = 0; kk < kg; kk++) {
                  const int k = g * kg + kk;
                  acc += (double)w[(((size_t)k * cg + c) * d->r + r) * d->s + s] *
                         (double)dy[((size_t)n * d->k + k) * plane_out + (size_t)oh * d->ow + ow];
                }
              }
            }
            dx[(((size_t)n * d->c + ci) * d->h + ih) * d->w + iw] += (float)acc;
          }
      }
}
