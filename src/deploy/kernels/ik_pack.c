/* Weight packing: integer values one per int8 in, rows of 8/4/2/1-bit fields out. */
#include <stdlib.h>
#include <string.h>

#include "deploy/kernels/ik_internal.h"

lb_status ik_wmat_pack(ik_wmat *m, int rows, int64_t len, int bits, int sgn, const int8_t *w, const int32_t *zp,
                       const char *who) {
  memset(m, 0, sizeof *m);
  if (!w) return lb_fail(LB_ERR_ARG, "%s: NULL weights", who);
  if (bits != 8 && bits != 4 && bits != 2 && bits != 1)
    return lb_fail(LB_ERR_ARG, "%s: weight bits %d not in {8, 4, 2, 1}", who, bits);
  if (bits == 1 && zp) return lb_fail(LB_ERR_ARG, "%s: binary weights take no zero points", who);
  if (rows <= 0 || len <= 0) return lb_fail(LB_ERR_SHAPE, "%s: empty weight matrix (%d x %lld)", who, rows, (long long)len);
  /* 8-bit unsigned values arrive as the bytes of the int8 array, read as uint8 */
  int lo = bits == 1 ? -1 : sgn ? -(1 << (bits - 1)) : 0;
  int hi = bits == 1 ? 1 : sgn ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
  for (int r = 0; r < rows; r++)
    for (int64_t i = 0; i < len; i++) {
      int v = (bits == 8 && !sgn) ? (int)(uint8_t)w[r * len + i] : (int)w[r * len + i];
      if (v < lo || v > hi || (bits == 1 && v == 0))
        return lb_fail(LB_ERR_ARG, "%s: weight [%d][%lld] = %d does not fit %d-bit %s", who, r, (long long)i, v, bits,
                       bits == 1 ? "binary (-1/+1)" : sgn ? "signed" : "unsigned");
    }
  if (zp)
    for (int r = 0; r < rows; r++)
      if (zp[r] < lo || zp[r] > hi) /* a zero point is a code of the weight type */
        return lb_fail(LB_ERR_ARG, "%s: weight zero point [%d] = %d outside [%d, %d]", who, r, (int)zp[r], lo, hi);
  m->rows = rows;
  m->len = len;
  m->bits = bits;
  m->sgn = bits == 1 ? 1 : sgn;
  m->row_bytes = (len * bits + 7) / 8;
  m->data = calloc((size_t)(rows * m->row_bytes), 1);
  m->zp = calloc((size_t)rows, sizeof *m->zp);
  if (!m->data || !m->zp) return lb_fail(LB_ERR_NOMEM, "%s: packed weights", who);
  for (int r = 0; r < rows; r++) {
    uint8_t *row = m->data + r * m->row_bytes;
    for (int64_t i = 0; i < len; i++) {
      int v = (bits == 8 && !sgn) ? (int)(uint8_t)w[r * len + i] : (int)w[r * len + i];
      unsigned field = bits == 1 ? (v > 0 ? 1u : 0u) : ((unsigned)v & ((1u << bits) - 1u));
      int64_t bit = i * bits;
      row[bit >> 3] |= (uint8_t)(field << (bit & 7));
    }
    if (zp) m->zp[r] = zp[r];
    if (m->zp[r]) m->zp_any = 1;
  }
  return LB_OK;
}

void ik_wmat_free(ik_wmat *m) {
  free(m->data);
  free(m->zp);
  memset(m, 0, sizeof *m);
}

void ik_wmat_unpack_row16(const ik_wmat *m, int r, int16_t *out) {
  const uint8_t *row = m->data + r * m->row_bytes;
  for (int64_t i = 0; i < m->len; i++) out[i] = (int16_t)(ik_wget(row, i, m->bits, m->sgn) - m->zp[r]);
}
