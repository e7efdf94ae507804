/* lbrt: reference integer kernels for exported lowbit programs (see lbrt.h). Written for size
 * and clarity: no allocation, no scratch, one output element at a time. Only defined C is used:
 * no shift of a negative value, no signed overflow (sums wrap as uint32_t like the engine's
 * int32 accumulators), byte codes converted by arithmetic rather than by casts. */
#include "lbrt.h"

#include <math.h>

static int32_t load(const uint8_t *x, int32_t i, int sgn) {
  int32_t v = x[i];
  return sgn && v > 127 ? v - 256 : v;
}

static void store(uint8_t *y, int32_t i, int32_t v) { y[i] = (uint8_t)(v & 0xff); }

/* Weight code i of a signed `bits`-bit array packed LSB first. */
static int32_t weight(const uint8_t *wt, uint32_t i, int32_t bits) {
  uint32_t per = 8u / (uint32_t)bits, mask = (1u << bits) - 1u;
  int32_t v = (int32_t)((wt[i / per] >> ((i % per) * (uint32_t)bits)) & mask);
  return v >= (1 << (bits - 1)) ? v - (1 << bits) : v;
}

/* A wrapping 32-bit sum back to int32 without an implementation-defined conversion. */
static int32_t as_i32(uint32_t u) { return u <= 0x7fffffffu ? (int32_t)u : -(int32_t)(~u) - 1; }

int64_t lbrt_shift_rne(int64_t p, int32_t s) {
  if (s <= 0) return p;
  /* ties to even is symmetric, so round the magnitude and put the sign back */
  uint64_t mag = p < 0 ? 0u - (uint64_t)p : (uint64_t)p;
  uint64_t q = mag >> s, rem = mag & ((UINT64_C(1) << s) - 1u), half = UINT64_C(1) << (s - 1);
  if (rem > half || (rem == half && (q & 1u))) q++;
  return p < 0 ? -(int64_t)q : (int64_t)q;
}

static int32_t clamp(int64_t v, int32_t lo, int32_t hi) { return v < lo ? lo : v > hi ? hi : (int32_t)v; }

static int32_t requant_product(int64_t p, int32_t s, int32_t zp, int32_t lo, int32_t hi) {
  return clamp(zp + lbrt_shift_rne(p, s), lo, hi);
}
static int32_t requant(int64_t a, int32_t m, int32_t s, int32_t zp, int32_t lo, int32_t hi) {
  return requant_product(a * m, s, zp, lo, hi);
}

/* The clamp keeps q inside the code type, so int8 and uint8 codes store the same way. */
void lbrt_quantize(int32_t n, const float *x, float inv, int32_t zp, int32_t lo, int32_t hi, uint8_t *y) {
  for (int32_t i = 0; i < n; i++) {
    float r = rintf(x[i] * inv) + (float)zp;
    int32_t q = r != r ? zp : r < (float)lo ? lo : r > (float)hi ? hi : (int32_t)r;
    store(y, i, q);
  }
}

void lbrt_dequantize(int32_t n, const uint8_t *x, int x_signed, int32_t zp, float scale, float *y) {
  for (int32_t i = 0; i < n; i++) y[i] = (float)(load(x, i, x_signed) - zp) * scale;
}

/* acc for output channel k at (oy, ox): the valid taps of group k / (k / groups). */
static int32_t conv_acc(const lbrt_conv *p, const uint8_t *x, int32_t k, int32_t oy, int32_t ox) {
  int32_t cg = p->c / p->groups, kg = p->k / p->groups, g = k / kg;
  int32_t wz = p->wzp ? p->wzp[k] : 0;
  uint32_t taps = (uint32_t)cg * (uint32_t)p->r * (uint32_t)p->s, wi = (uint32_t)k * taps;
  uint32_t acc = 0;
  for (int32_t ci = 0; ci < cg; ci++) {
    const int32_t plane = (g * cg + ci) * p->h * p->w;
    for (int32_t r = 0; r < p->r; r++) {
      int32_t iy = oy * p->stride_h - p->pad_h + r * p->dil_h;
      for (int32_t s = 0; s < p->s; s++, wi++) {
        int32_t ix = ox * p->stride_w - p->pad_w + s * p->dil_w;
        if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w) continue; /* padding is the real 0 */
        int32_t xv = load(x, plane + iy * p->w + ix, p->x_signed) - p->xzp;
        acc += (uint32_t)(xv * (weight(p->wt, wi, p->wbits) - wz));
      }
    }
  }
  return as_i32(acc);
}

void lbrt_conv_run(const lbrt_conv *p, const uint8_t *x, void *y) {
  int32_t hw = p->oh * p->ow;
  for (int32_t k = 0; k < p->k; k++)
    for (int32_t oy = 0; oy < p->oh; oy++)
      for (int32_t ox = 0; ox < p->ow; ox++) {
        int32_t acc = conv_acc(p, x, k, oy, ox), b = p->bias ? p->bias[k] : 0;
        int32_t o = k * hw + oy * p->ow + ox;
        if (p->scale) {
          ((float *)y)[o] = fmaf((float)acc, p->scale[k], p->fbias ? p->fbias[k] : 0.0f);
        } else { /* the bias in product units: acc * M + bias * M + bfrac, then the shift */
          int64_t m = p->mult[k];
          int64_t a = (int64_t)acc * m + (int64_t)b * m + (p->bfrac ? p->bfrac[k] : 0);
          if (p->neg && p->neg[k]) a = -a;
          store((uint8_t *)y, o, requant_product(a, p->shift[k], p->yzp, p->lo, p->hi));
        }
      }
}

/* One axis of a pool window: start o*stride - pad; the full window stops at the far padding;
 * [*a, *b) is its part inside the input, *full its length with padding. */
static void span(int32_t o, int32_t stride, int32_t pad, int32_t kern, int32_t n, int32_t *a, int32_t *b,
                 int32_t *full) {
  int32_t start = o * stride - pad, end = start + kern;
  if (end > n + pad) end = n + pad;
  *full = end - start;
  *a = start < 0 ? 0 : start;
  *b = end > n ? n : end;
}

static void pool(const lbrt_pool *p, const uint8_t *x, uint8_t *y, int average) {
  for (int32_t ch = 0; ch < p->c; ch++)
    for (int32_t oy = 0; oy < p->oh; oy++)
      for (int32_t ox = 0; ox < p->ow; ox++) {
        int32_t y0, y1, fy, x0, x1, fx;
        span(oy, p->stride_h, p->pad_h, p->kh, p->h, &y0, &y1, &fy);
        span(ox, p->stride_w, p->pad_w, p->kw, p->w, &x0, &x1, &fx);
        int32_t best = -256, sum = 0; /* codes are >= -128: padding never wins */
        for (int32_t iy = y0; iy < y1; iy++)
          for (int32_t ix = x0; ix < x1; ix++) {
            int32_t v = load(x, (ch * p->h + iy) * p->w + ix, p->x_signed);
            if (v > best) best = v;
            sum += v - p->xzp;
          }
        int32_t o = (ch * p->oh + oy) * p->ow + ox;
        if (!average) {
          store(y, o, best);
        } else {
          int32_t cnt = p->count_pad ? fy * fx : (y1 - y0) * (x1 - x0);
          store(y, o, requant(sum, p->mult[cnt], p->shift[cnt], p->yzp, p->lo, p->hi));
        }
      }
}

void lbrt_maxpool(const lbrt_pool *p, const uint8_t *x, uint8_t *y) { pool(p, x, y, 0); }
void lbrt_avgpool(const lbrt_pool *p, const uint8_t *x, uint8_t *y) { pool(p, x, y, 1); }

void lbrt_add_run(const lbrt_add *p, const uint8_t *x1, const uint8_t *x2, uint8_t *y) {
  for (int32_t i = 0; i < p->n; i++) {
    int64_t a = (int64_t)(load(x1, i, p->s1) - p->z1) * p->m1 + (int64_t)(load(x2, i, p->s2) - p->z2) * p->m2;
    store(y, i, clamp(p->zy + lbrt_shift_rne(a, p->shift), p->lo, p->hi));
  }
}

void lbrt_gap_run(const lbrt_gap *p, const uint8_t *x, uint8_t *y) {
  for (int32_t ch = 0; ch < p->c; ch++) {
    int64_t sum = 0;
    for (int32_t i = 0; i < p->hw; i++) sum += load(x, ch * p->hw + i, p->x_signed) - p->xzp;
    store(y, ch, requant(sum, p->mult, p->shift, p->yzp, p->lo, p->hi));
  }
}

void lbrt_slice(const lbrt_move *p, const uint8_t *x, uint8_t *y) {
  for (int32_t o = 0; o < p->outer; o++)
    for (int32_t i = 0; i < p->count; i++)
      for (int32_t r = 0; r < p->inner; r++)
        *y++ = x[((o * p->d[0]) + p->start + i * p->step) * p->inner + r];
}

void lbrt_pad(const lbrt_move *p, const uint8_t *x, uint8_t *y) {
  for (int32_t o = 0; o < p->outer; o++)
    for (int32_t i = -p->begin; i < p->d[0] + p->end; i++)
      for (int32_t r = 0; r < p->inner; r++)
        *y++ = i >= 0 && i < p->d[0] ? x[(o * p->d[0] + i) * p->inner + r] : (uint8_t)(p->fill & 0xff);
}

void lbrt_concat(const lbrt_move *p, const uint8_t *const *x, uint8_t *y) {
  for (int32_t o = 0; o < p->outer; o++)
    for (int32_t j = 0; j < p->n; j++)
      for (int32_t i = 0; i < p->d[j] * p->inner; i++) *y++ = x[j][o * p->d[j] * p->inner + i];
}
