/* The program file (.lbp), little endian:
 *   "LOWBITP\n", u32 version, u32 section count,
 *   sections: char tag[16] (NUL padded), u64 length, bytes   ("meta", "tensors", "steps", "w8", "i32", "f32")
 *   u32 CRC-32 of everything before it.
 * One field list per record (io_meta, io_tensor, io_step) serves both writing and reading, so
 * the two directions cannot drift apart. Loading checks the checksum, then every count, offset
 * and length (lb_program_validate), and fails with a message naming what is wrong. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowbit/bytes.h"
#include "lowbit/deploy.h"

#define LBP_MAGIC "LOWBITP\n"
#define LBP_MAX_RECORDS (1 << 20)
#define LBP_MAX_POOL ((int64_t)1 << 31)

/* Either writes into b or reads from r (a file of `version`). */
typedef struct io {
  lb_buf *b;
  lb_reader *r;
  uint32_t version;
} io;

static void io_i32(io *o, int32_t *v) {
  if (o->b) lb_buf_i32(o->b, *v);
  else *v = lb_get_i32(o->r);
}
static void io_int(io *o, int *v) {
  int32_t t = *v;
  io_i32(o, &t);
  *v = t;
}
static void io_i64(io *o, int64_t *v) {
  if (o->b) lb_buf_i64(o->b, *v);
  else *v = lb_get_i64(o->r);
}
static void io_f32(io *o, float *v) {
  if (o->b) lb_buf_f32(o->b, *v);
  else *v = lb_get_f32(o->r);
}
static void io_str(io *o, char *s, size_t width) {
  if (o->b) lb_buf_str(o->b, s, width);
  else if (!lb_get_str(o->r, s, width)) o->r->overrun = 1;
}

static void io_meta(io *o, lb_program *p) {
  io_str(o, p->model, sizeof p->model);
  io_str(o, p->backend, sizeof p->backend);
  int32_t crc = (int32_t)p->source_crc;
  io_i32(o, &crc);
  p->source_crc = (uint32_t)crc;
  io_int(o, &p->in_c);
  io_int(o, &p->in_h);
  io_int(o, &p->in_w);
  io_int(o, &p->classes);
  for (int i = 0; i < 4; i++) io_f32(o, &p->norm_mean[i]);
  for (int i = 0; i < 4; i++) io_f32(o, &p->norm_std[i]);
  io_int(o, &p->n_tensors);
  io_int(o, &p->n_steps);
  io_i64(o, &p->n_w8);
  io_i64(o, &p->n_i32);
  io_i64(o, &p->n_f32);
  io_i64(o, &p->arena_per_image);
  io_i64(o, &p->arena_naive);
}

static void io_tensor(io *o, lb_prog_tensor *t) {
  io_str(o, t->name, sizeof t->name);
  int *ints[] = {&t->kind, &t->c, &t->h, &t->w, &t->bits, &t->is_signed};
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) io_int(o, ints[i]);
  io_i32(o, &t->zp);
  io_i32(o, &t->qmin);
  io_i32(o, &t->qmax);
  io_f32(o, &t->scale);
  io_i64(o, &t->offset);
  io_i64(o, &t->bytes);
}

static void io_step(io *o, lb_prog_step *s) {
  io_str(o, s->name, sizeof s->name);
  int *ints[] = {&s->kind,  &s->in[0],    &s->in[1],    &s->in[2],    &s->in[3],    &s->out,   &s->k,
                 &s->r,     &s->s,        &s->stride_h, &s->stride_w, &s->pad_h,    &s->pad_w, &s->dil_h,
                 &s->dil_w, &s->groups,   &s->wbits,    &s->w_signed, &s->pool_kh,  &s->pool_kw, &s->pool_sh,
                 &s->pool_sw, &s->pool_ph, &s->pool_pw, &s->pool_count_pad, &s->pool_ceil,
                 &s->mv_dim[0], &s->mv_dim[1], &s->mv_dim[2], &s->mv_dim[3], &s->mv_start, &s->mv_step,
                 &s->mv_count, &s->mv_begin, &s->mv_end};
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) io_int(o, ints[i]);
  int64_t *longs[] = {&s->w_off, &s->w_len, &s->wzp_off, &s->bias_off, &s->bfrac_off, &s->mult_off,
                      &s->shift_off, &s->neg_off, &s->scale_off, &s->fbias_off, &s->macs, &s->mv_outer, &s->mv_inner};
  for (size_t i = 0; i < sizeof longs / sizeof longs[0]; i++) io_i64(o, longs[i]);
  int32_t *i32s[] = {&s->lo, &s->hi, &s->add_m1, &s->add_m2, &s->add_shift, &s->mv_fill};
  for (size_t i = 0; i < sizeof i32s / sizeof i32s[0]; i++) io_i32(o, i32s[i]);
  io_f32(o, &s->inv);
  if (o->b || o->version >= 4) {
    io_f32(o, &s->flo);
    io_f32(o, &s->fhi);
  } else { /* version 3: no float steps, no float clamps */
    s->flo = -INFINITY;
    s->fhi = INFINITY;
  }
}

static void put_section(lb_buf *out, const char *tag, const lb_buf *body) {
  lb_buf_str(out, tag, 16);
  lb_buf_u64(out, body->len);
  lb_buf_put(out, body->data, body->len);
}

lb_status lb_program_to_bytes(const lb_program *p, uint8_t **data, size_t *len) {
  lb_buf sec[6];
  memset(sec, 0, sizeof sec);
  lb_program copy = *p;
  io o = {&sec[0], NULL, LB_LBP_VERSION};
  io_meta(&o, &copy);
  o.b = &sec[1];
  for (int i = 0; i < p->n_tensors; i++) io_tensor(&o, &p->tensors[i]);
  o.b = &sec[2];
  for (int i = 0; i < p->n_steps; i++) io_step(&o, &p->steps[i]);
  lb_buf_put(&sec[3], p->w8, (size_t)p->n_w8);
  for (int64_t i = 0; i < p->n_i32; i++) lb_buf_i32(&sec[4], p->i32[i]);
  for (int64_t i = 0; i < p->n_f32; i++) lb_buf_f32(&sec[5], p->f32[i]);
  static const char *tags[6] = {"meta", "tensors", "steps", "w8", "i32", "f32"};
  lb_buf out = {0};
  lb_buf_put(&out, LBP_MAGIC, 8);
  lb_buf_u32(&out, LB_LBP_VERSION);
  lb_buf_u32(&out, 6);
  int oom = 0;
  for (int i = 0; i < 6; i++) {
    put_section(&out, tags[i], &sec[i]);
    oom |= sec[i].oom;
    lb_buf_free(&sec[i]);
  }
  lb_buf_u32(&out, lb_crc32(0, out.data, out.len));
  if (oom || out.oom) {
    lb_buf_free(&out);
    return lb_fail(LB_ERR_NOMEM, "program: out of memory while serialising");
  }
  *data = out.data;
  *len = out.len;
  return LB_OK;
}

lb_status lb_program_save(const char *path, const lb_program *p) {
  lb_status st = lb_program_validate(p);
  if (st) return st;
  uint8_t *data;
  size_t len;
  st = lb_program_to_bytes(p, &data, &len);
  if (st) return st;
  st = lb_write_file_atomic(path, data, len);
  free(data);
  return st;
}

/* Find section `tag` in the body; its reader is set up over its bytes. */
static int find_section(const uint8_t *data, size_t len, uint32_t nsec, const char *tag, lb_reader *out) {
  lb_reader r;
  lb_reader_init(&r, data, len);
  for (uint32_t i = 0; i < nsec; i++) {
    char t[16];
    if (!lb_get_str(&r, t, 16)) return 0;
    uint64_t l = lb_get_u64(&r);
    if (r.overrun || l > lb_reader_left(&r)) return 0;
    if (!strcmp(t, tag)) {
      lb_reader_init(out, r.p + r.pos, (size_t)l);
      return 1;
    }
    r.pos += (size_t)l;
  }
  return 0;
}

lb_status lb_program_from_bytes(const uint8_t *data, size_t len, lb_program **out) {
  *out = NULL;
  if (len < 8 + 4 + 4 + 4 || memcmp(data, LBP_MAGIC, 8))
    return lb_fail(LB_ERR_FORMAT, "not a lowbit program file (bad magic or too short)");
  uint32_t stored, crc = lb_crc32(0, data, len - 4);
  memcpy(&stored, data + len - 4, 4);
  lb_reader h;
  lb_reader_init(&h, data + 8, 8);
  uint32_t version = lb_get_u32(&h), nsec = lb_get_u32(&h);
  if (version != LB_LBP_VERSION && version != 3)
    return lb_fail(LB_ERR_VERSION, "program file version %u, this lowbit reads 3 and %d (lower the model again: lowbit deploy)",
                   version, LB_LBP_VERSION);
  if (stored != crc) return lb_fail(LB_ERR_CHECKSUM, "program file checksum mismatch (corrupt or truncated)");
  if (nsec > 64) return lb_fail(LB_ERR_FORMAT, "program file: %u sections", nsec);
  const uint8_t *body = data + 16;
  size_t blen = len - 20;
  lb_reader sec[6];
  static const char *tags[6] = {"meta", "tensors", "steps", "w8", "i32", "f32"};
  for (int i = 0; i < 6; i++)
    if (!find_section(body, blen, nsec, tags[i], &sec[i]))
      return lb_fail(LB_ERR_FORMAT, "program file: section '%s' missing or truncated", tags[i]);
  lb_program *p = calloc(1, sizeof *p);
  if (!p) return lb_fail(LB_ERR_NOMEM, "program: out of memory");
  io o = {NULL, &sec[0], version};
  io_meta(&o, p);
  lb_status st = LB_OK;
  if (sec[0].overrun) st = lb_fail(LB_ERR_FORMAT, "program file: meta section truncated");
  else if (p->n_tensors < 1 || p->n_tensors > LBP_MAX_RECORDS || p->n_steps < 1 || p->n_steps > LBP_MAX_RECORDS ||
           p->n_w8 < 0 || p->n_w8 > LBP_MAX_POOL || p->n_i32 < 0 || p->n_i32 > LBP_MAX_POOL || p->n_f32 < 0 ||
           p->n_f32 > LBP_MAX_POOL)
    st = lb_fail(LB_ERR_FORMAT, "program file: counts out of range (%d tensors, %d steps)", p->n_tensors, p->n_steps);
  else if ((uint64_t)p->n_w8 != sec[3].len || (uint64_t)p->n_i32 * 4 != sec[4].len ||
           (uint64_t)p->n_f32 * 4 != sec[5].len)
    st = lb_fail(LB_ERR_FORMAT, "program file: pool sections do not match their counts");
  if (!st) {
    p->tensors = calloc((size_t)p->n_tensors, sizeof *p->tensors);
    p->steps = calloc((size_t)p->n_steps, sizeof *p->steps);
    p->w8 = malloc((size_t)p->n_w8 + 1);
    p->i32 = malloc((size_t)p->n_i32 * 4 + 4);
    p->f32 = malloc((size_t)p->n_f32 * 4 + 4);
    if (!p->tensors || !p->steps || !p->w8 || !p->i32 || !p->f32) st = lb_fail(LB_ERR_NOMEM, "program: out of memory");
  }
  if (!st) {
    o.r = &sec[1];
    for (int i = 0; i < p->n_tensors; i++) io_tensor(&o, &p->tensors[i]);
    o.r = &sec[2];
    for (int i = 0; i < p->n_steps; i++) io_step(&o, &p->steps[i]);
    lb_get(&sec[3], p->w8, (size_t)p->n_w8);
    for (int64_t i = 0; i < p->n_i32; i++) p->i32[i] = lb_get_i32(&sec[4]);
    for (int64_t i = 0; i < p->n_f32; i++) p->f32[i] = lb_get_f32(&sec[5]);
    for (int i = 1; i < 6 && !st; i++)
      if (sec[i].overrun || lb_reader_left(&sec[i]))
        st = lb_fail(LB_ERR_FORMAT, "program file: section '%s' has the wrong length", tags[i]);
  }
  if (!st) st = lb_program_validate(p);
  if (st) {
    lb_program_free(p);
    return st;
  }
  *out = p;
  return LB_OK;
}

lb_status lb_program_load(const char *path, lb_program **out) {
  uint8_t *data;
  size_t len;
  *out = NULL;
  lb_status st = lb_read_file(path, &data, &len);
  if (st) return st;
  st = lb_program_from_bytes(data, len, out);
  free(data);
  if (st) {
    char why[400];
    snprintf(why, sizeof why, "%s", lb_last_error());
    return lb_fail(st, "%s: %s", path, why);
  }
  return LB_OK;
}
