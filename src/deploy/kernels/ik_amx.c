/* AMX conv tiles: TDPBUSD multiplies a 16 x 64 tile of u8 activations by a 64 x 16 tile of s8
 * weights (stored 16 rows of 16 channels x 4 bytes) into 16 x 16 int32, wrapping like
 * vpdpbusd, so the padded channels-last image, the weight offsets and the zero-point terms are
 * those of the VNNI path (ik_nhwc.c) and the results are the same bits.
 *
 * An A tile row is one output position: 64 bytes of its receptive field read straight from the
 * padded image with the tile's row stride (sw * Cp bytes), so no im2col. The field is nseg
 * segments (a kernel row's S taps are contiguous bytes when dw == 1), each read in 64-byte
 * chunks; bytes past a segment's end meet zero weights. With stride 1 the 16 rows of a tile are
 * 16 consecutive positions of the padded width, running across output rows (flat), so a 7-wide
 * output wastes 2 of every 9 rows instead of 9 of 16. A unit is one A tile x 2 weight tiles
 * into 2 accumulator tiles (16 positions x 32 channels); units alternate between two pairs of
 * accumulators so the epilogue of one overlaps the multiplies of the next. */
#include <immintrin.h>
#include <string.h>

#include "deploy/kernels/ik_nhwc.h"
#include "deploy/kernels/ik_x86.h"

/* worth it when the chunks carry at least half real bytes: a 1x1 layer of 16 channels (16 of
 * 64) or the folded conv1 run faster on plain VNNI */
int ik_amx_plan(ik_plan *pl) {
  if (pl->esize != 1 || pl->fold || pl->cstep != 4) return 0;
  const int dw1 = pl->dw == 1;
  const int nseg = dw1 ? pl->R : pl->R * pl->S, seg_len = dw1 ? pl->S * pl->Cp : pl->Cp;
  const int chunks = (seg_len + 63) / 64;
  if (2 * (int64_t)pl->C * pl->R * pl->S < (int64_t)nseg * chunks * 64) return 0;
  pl->amx = 1, pl->nseg = nseg, pl->seg_len = seg_len, pl->seg_chunks = chunks;
  pl->flat = pl->sh == 1 && pl->sw == 1;
  /* the furthest byte a tile load reads: the last tile's last row, last segment, last chunk */
  const int64_t cp = pl->Cp, last_seg = dw1 ? (int64_t)(pl->R - 1) * pl->dh * pl->Wp
                                            : (int64_t)(pl->R - 1) * pl->dh * pl->Wp + (int64_t)(pl->S - 1) * pl->dw;
  int64_t last_pos; /* in pixels of the padded image: the position of row 15 of the last tile */
  if (pl->flat) last_pos = (int64_t)(pl->OH - 1) * pl->Wp + pl->OW - 1 + 15;
  else last_pos = (int64_t)(pl->OH - 1) * pl->sh * pl->Wp + ((int64_t)(pl->OW - 1) / 16 * 16 + 15) * pl->sw;
  const int64_t end = (last_pos + last_seg) * cp + (int64_t)chunks * 64;
  const int64_t have = (int64_t)pl->Hp * pl->Wp * cp;
  pl->slack = end > have ? ik_round((size_t)(end - have)) : 0;
  pl->img_bytes = (size_t)have + pl->slack;
  return 1;
}

static int64_t kv_bytes(const ik_plan *pl) { return (int64_t)pl->nseg * pl->seg_chunks * 1024; }

size_t ik_amx_wlayout_bytes(const ik_plan *pl) { return (size_t)pl->Kv * (size_t)kv_bytes(pl); }

/* [kv][segment][chunk] tiles of [16 rows: 4 bytes each][16 channels][4 bytes]: reduction byte o
 * of a segment is tile row (o % 64) / 4 of chunk o / 64, byte o % 4 of its channel's 4. Values
 * as the VNNI layout: s8 w, or w - 128 for unsigned 8-bit weights. */
void ik_amx_wlayout_build(const ik_plan *pl, const lb_iconv *c, void *dst) {
  memset(dst, 0, ik_amx_wlayout_bytes(pl));
  int8_t *out = dst;
  const int off8 = (c->wbits == 8 && !c->w_signed) ? 128 : 0, dw1 = pl->dw == 1;
  for (int k = 0; k < pl->K; k++) {
    const uint8_t *row = c->w.data + (int64_t)k * c->w.row_bytes;
    int8_t *kt = out + (int64_t)(k / 16) * kv_bytes(pl) + (k % 16) * 4;
    int64_t t = 0;
    for (int ch = 0; ch < pl->C; ch++)
      for (int r = 0; r < pl->R; r++)
        for (int s = 0; s < pl->S; s++, t++) {
          const int seg = dw1 ? r : r * pl->S + s, o = dw1 ? s * pl->Cp + ch : ch;
          kt[((int64_t)seg * pl->seg_chunks + o / 64) * 1024 + (o % 64) / 4 * 64 + o % 4] =
              (int8_t)(ik_wget(row, t, c->w.bits, c->w.sgn) - off8);
        }
  }
}

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,amx-tile,amx-int8")
#include "deploy/kernels/ik_vnni_epi.h"

typedef struct tile_cfg {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} tile_cfg;

/* 16 output positions read as one A tile: the image offset of row 0, the row stride, which rows
 * are real outputs (their pixels p are consecutive from p0) */
typedef struct mtile {
  int64_t base, stride, p0;
  uint32_t valid;
} mtile;

static int64_t seg_offset(const ik_plan *pl, int seg) {
  if (pl->dw == 1) return (int64_t)seg * pl->dh * pl->Wp * pl->Cp;
  return ((int64_t)(seg / pl->S) * pl->dh * pl->Wp + (int64_t)(seg % pl->S) * pl->dw) * pl->Cp;
}

/* One unit of work: an A tile of 16 positions times nn (1-2) k vectors from kv, accumulated in
 * two tiles: 0-1 for even units, 2-3 for odd ones, so the next unit's multiplies run in the
 * AMX unit while this one's epilogue runs on the vector units. */
typedef struct unit {
  mtile mt;
  int kv, nn;
} unit;

/* C0/C1: the unit's accumulator tiles (immediates, hence a macro) */
#define IK_AMX_ISSUE(C0, C1)                                                              \
  do {                                                                                    \
    _tile_zero(C0);                                                                       \
    if (u->nn > 1) _tile_zero(C1);                                                        \
    for (int seg = 0; seg < pl->nseg; seg++) {                                            \
      const uint8_t *a = img + u->mt.base + seg_offset(pl, seg);                          \
      for (int j = 0; j < pl->seg_chunks; j++) {                                          \
        const int64_t wo = ((int64_t)seg * pl->seg_chunks + j) * 1024;                    \
        _tile_loadd(4, a + j * 64, u->mt.stride);                                         \
        _tile_loadd(6, w0 + wo, 64);                                                      \
        _tile_dpbusd(C0, 4, 6);                                                           \
        if (u->nn > 1) {                                                                  \
          _tile_loadd(7, w0 + kvb + wo, 64);                                              \
          _tile_dpbusd(C1, 4, 7);                                                         \
        }                                                                                 \
      }                                                                                   \
    }                                                                                     \
  } while (0)

static void issue(const ik_plan *pl, const int8_t *wl, const uint8_t *img, const unit *u, int odd) {
  const int64_t kvb = kv_bytes(pl);
  const int8_t *w0 = wl + (int64_t)u->kv * kvb;
  if (odd) IK_AMX_ISSUE(2, 3);
  else IK_AMX_ISSUE(0, 1);
}

/* The unit's accumulators through the epilogue. */
static void drain(const ik_plan *pl, const ik_epi *e, const unit *u, int odd, int32_t *acc, void *y) {
  int32_t buf[2][16 * 16] __attribute__((aligned(64)));
  if (odd) {
    _tile_stored(2, buf[0], 64);
    if (u->nn > 1) _tile_stored(3, buf[1], 64);
  } else {
    _tile_stored(0, buf[0], 64);
    if (u->nn > 1) _tile_stored(1, buf[1], 64);
  }
  for (int n = 0; n < u->nn; n++) {
    const int kb = (u->kv + n) * 16;
    if (u->mt.valid == 0xffffu) { /* the usual case: no gaps, unrolled */
      __m512i px[16];
      for (int r = 0; r < 16; r++) px[r] = _mm512_load_si512(buf[n] + r * 16);
      ik_epi_pixels(pl, e, px, 16, kb, u->mt.p0, acc, y);
      continue;
    }
    __m512i px[16];
    int np = 0;
    for (int r = 0; r < 16; r++)
      if (u->mt.valid >> r & 1) px[np++] = _mm512_load_si512(buf[n] + r * 16);
    if (np) ik_epi_pixels(pl, e, px, np, kb, u->mt.p0, acc, y);
  }
}

/* Runs every k-vector pair of an A tile, one unit behind in the epilogue. */
typedef struct pipe {
  unit prev;
  int have, parity;
} pipe;

static void run_tile(const ik_plan *pl, const int8_t *wl, const uint8_t *img, const mtile *mt, pipe *q,
                     const ik_epi *e, int32_t *acc, void *y) {
  if (!mt->valid) return;
  for (int kv = 0; kv < pl->Kv; kv += 2) {
    unit u = {*mt, kv, pl->Kv - kv > 1 ? 2 : 1};
    issue(pl, wl, img, &u, q->parity);
    if (q->have) drain(pl, e, &q->prev, !q->parity, acc, y);
    q->prev = u, q->have = 1, q->parity ^= 1;
  }
}

/* the tile of 16 flat positions from f (f = oh * Wp + ow; real when ow < OW and f < fend) */
static mtile flat_tile(const ik_plan *pl, int64_t f, int64_t fend) {
  mtile t = {f * pl->Cp, pl->Cp, 0, 0};
  int64_t oh = f / pl->Wp;
  int ow = (int)(f - oh * pl->Wp);
  for (int r = 0; r < 16 && f + r < fend; r++) {
    if (ow < pl->OW) {
      if (!t.valid) t.p0 = oh * pl->OW + ow;
      t.valid |= 1u << r;
    }
    if (++ow == pl->Wp) ow = 0, oh++;
  }
  return t;
}

void ik_amx_rows(const ik_plan *pl, const void *wl, const void *img, int oh0, int oh1, const ik_epi *e, int32_t *acc,
                 void *y) {
  if (oh0 >= oh1) return;
  tile_cfg cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 8; t++) cfg.rows[t] = 16, cfg.colsb[t] = 64;
  _tile_loadconfig(&cfg);
  pipe q = {.have = 0, .parity = 0};
  if (pl->flat) {
    const int64_t fend = (int64_t)(oh1 - 1) * pl->Wp + pl->OW;
    for (int64_t f = (int64_t)oh0 * pl->Wp; f < fend; f += 16) {
      mtile mt = flat_tile(pl, f, fend);
      run_tile(pl, wl, img, &mt, &q, e, acc, y);
    }
  } else {
    for (int oh = oh0; oh < oh1; oh++)
      for (int ow = 0; ow < pl->OW; ow += 16) {
        const int n = pl->OW - ow < 16 ? pl->OW - ow : 16;
        mtile mt = {((int64_t)oh * pl->sh * pl->Wp + (int64_t)ow * pl->sw) * pl->Cp, (int64_t)pl->sw * pl->Cp,
                    (int64_t)oh * pl->OW + ow, (uint32_t)((1u << n) - 1u)};
        run_tile(pl, wl, img, &mt, &q, e, acc, y);
      }
  }
  if (q.have) drain(pl, e, &q.prev, !q.parity, acc, y);
  _tile_release();
}

#pragma GCC pop_options
