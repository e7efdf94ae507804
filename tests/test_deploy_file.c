/* The program file and the arena plan: save/load round trips bit for bit; every truncation and
 * every flipped byte of a small program fails with a clear error (checksum or validation),
 * never a crash; corrupted fields behind a recomputed checksum are caught by validation; the
 * liveness plan never overlaps two tensors that are live at the same step and beats no reuse;
 * power-of-two backends requantize with pure shifts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy_testlib.h"

static lb_dataset data;

static void set_crc(uint8_t *b, size_t len) {
  uint32_t c = lb_crc32(0, b, len - 4);
  memcpy(b + len - 4, &c, 4);
}

static void file_case(const lb_program *p) {
  uint8_t *bytes;
  size_t len;
  CHECK_OK(lb_program_to_bytes(p, &bytes, &len));
  lb_program *q = NULL;
  CHECK_OK(lb_program_from_bytes(bytes, len, &q));
  if (q) {
    uint8_t *b2;
    size_t l2;
    CHECK_OK(lb_program_to_bytes(q, &b2, &l2));
    CHECK(l2 == len && memcmp(bytes, b2, len) == 0);
    free(b2);
    lb_program_free(q);
  }
  /* on disk, atomically */
  const char *dir = lbt_tmp_init("lbdeploy");
  if (dir) {
    const char *path = lbt_tmp_path("p.lbp");
    CHECK_OK(lb_program_save(path, p));
    CHECK_OK(lb_program_load(path, &q));
    lb_program_free(q);
    q = NULL;
    CHECK_STATUS(lb_program_load(lbt_tmp_path("missing.lbp"), &q), LB_ERR_IO);
  }
  /* every truncation */
  int crashes_avoided = 0;
  for (size_t cut = 0; cut < len; cut++) {
    lb_status st = lb_program_from_bytes(bytes, cut, &q);
    CHECK_MSG(st != LB_OK && q == NULL && lb_last_error()[0], "truncated at %zu: status %d", cut, (int)st);
    crashes_avoided += st != LB_OK;
  }
  CHECK(crashes_avoided == (int)len);
  /* every byte flipped: the checksum (or the magic/version) catches it */
  uint8_t *m = malloc(len);
  for (size_t i = 0; i < len; i++) {
    memcpy(m, bytes, len);
    m[i] ^= 0x5A;
    lb_status st = lb_program_from_bytes(m, len, &q);
    CHECK_MSG(st != LB_OK && q == NULL, "byte %zu flipped: accepted", i);
  }
  /* flipped bytes behind a valid checksum: validation must refuse or the program must be
   * harmless to run (values only); it must never crash. Run whatever loads. */
  lb_rng r;
  lb_rng_seed(&r, 3);
  int refused = 0, loaded = 0;
  float *x = lbt_falloc((size_t)2 * 784), *y = lbt_falloc(20);
  for (int t = 0; t < 800; t++) {
    memcpy(m, bytes, len);
    size_t i = 16 + lb_rng_below(&r, (uint32_t)(len - 20));
    m[i] = (uint8_t)lb_rng_u64(&r);
    set_crc(m, len);
    lb_status st = lb_program_from_bytes(m, len, &q);
    if (st) {
      refused++;
      CHECK(q == NULL && lb_last_error()[0]);
      continue;
    }
    loaded++;
    lb_engine *e = NULL;
    if (!lb_engine_create(q, 2, 0, &e)) {
      CHECK_OK(lb_engine_run(e, 2, x, y));
      lb_engine_free(e);
    }
    lb_program_free(q);
  }
  printf("corrupted behind a valid checksum: %d refused, %d loaded and ran\n", refused, loaded);
  CHECK(refused > 0);
  /* specific fields */
  /* a newer version and version 1 (before the data-movement steps) are refused */
  for (uint32_t v = 1; v <= LB_LBP_VERSION + 1; v += LB_LBP_VERSION) {
    memcpy(m, bytes, len);
    for (int i = 0; i < 4; i++) m[8 + i] = (uint8_t)(v >> (8 * i));
    CHECK_STATUS(lb_program_from_bytes(m, len, &q), LB_ERR_VERSION);
  }
  memcpy(m, bytes, len);
  m[0] = 'X';
  CHECK_STATUS(lb_program_from_bytes(m, len, &q), LB_ERR_FORMAT);
  free(x);
  free(y);
  free(m);
  free(bytes);
  lbt_tmp_cleanup();
}

/* A version 3 file (before float steps: no flo/fhi, the last 8 bytes of each step record) still
 * loads, as the same program with no float clamps. */
static void version3_case(const lb_program *p) {
  uint8_t *bytes = NULL;
  size_t len = 0;
  CHECK_OK(lb_program_to_bytes(p, &bytes, &len));
  if (!bytes) return;
  uint8_t *old = malloc(len);
  size_t at = 16, o = 16;
  memcpy(old, bytes, 16);
  old[8] = 3;
  old[9] = old[10] = old[11] = 0;
  while (at + 24 <= len - 4) { /* sections: tag[16], u64 length, bytes */
    uint64_t l;
    memcpy(&l, bytes + at + 16, 8);
    const uint8_t *body = bytes + at + 24;
    memcpy(old + o, bytes + at, 16);
    if (strcmp((const char *)bytes + at, "steps")) {
      memcpy(old + o + 16, &l, 8);
      memcpy(old + o + 24, body, (size_t)l);
      o += 24 + (size_t)l;
    } else {
      size_t rec = (size_t)l / (size_t)p->n_steps, nl = 0;
      for (int i = 0; i < p->n_steps; i++, nl += rec - 8) memcpy(old + o + 24 + nl, body + i * rec, rec - 8);
      uint64_t l3 = nl;
      memcpy(old + o + 16, &l3, 8);
      o += 24 + nl;
    }
    at += 24 + (size_t)l;
  }
  set_crc(old, o + 4);
  lb_program *q = NULL;
  CHECK_OK(lb_program_from_bytes(old, o + 4, &q));
  if (q) {
    CHECK(q->n_steps == p->n_steps && q->n_tensors == p->n_tensors);
    int same = 1;
    for (int i = 0; i < q->n_steps; i++)
      same &= q->steps[i].kind == p->steps[i].kind && q->steps[i].w_off == p->steps[i].w_off &&
              q->steps[i].lo == p->steps[i].lo && q->steps[i].flo == -INFINITY && q->steps[i].fhi == INFINITY;
    CHECK(same);
  }
  lb_program_free(q);
  free(old);
  free(bytes);
}

static void arena_case(const lb_program *p) {
  CHECK(p->arena_per_image > 0 && p->arena_per_image < p->arena_naive);
  for (int a = 0; a < p->n_tensors; a++)
    for (int b = a + 1; b < p->n_tensors; b++) {
      const lb_prog_tensor *ta = &p->tensors[a], *tb = &p->tensors[b];
      if (ta->kind != LB_PT_CODES || tb->kind != LB_PT_CODES) continue;
      int fa = -1, la = -1, fb = -1, lb = -1;
      for (int i = 0; i < p->n_steps; i++) {
        const lb_prog_step *s = &p->steps[i];
        int ua = s->out == a || s->in[0] == a || s->in[1] == a, ub = s->out == b || s->in[0] == b || s->in[1] == b;
        if (s->out == a) fa = i;
        if (s->out == b) fb = i;
        if (ua) la = i;
        if (ub) lb = i;
      }
      int live_together = !(la < fb || lb < fa);
      int overlap = ta->offset < tb->offset + tb->bytes && tb->offset < ta->offset + ta->bytes;
      CHECK_MSG(!(live_together && overlap), "tensors '%s' and '%s' share memory while both live", ta->name, tb->name);
    }
  lb_engine *e = NULL;
  CHECK_OK(lb_engine_create(p, 4, 0, &e));
  if (e) CHECK(lb_engine_arena_bytes(e) >= (size_t)p->arena_per_image * 4);
  lb_engine_free(e);
}

static void pow2_case(const char *backend) {
  lb_status st;
  lb_graph *qg = dtl_quantized("resnet8", backend, 8, 8, LB_BN_FOLD_PYTORCH, &data, &st);
  lb_program *p = NULL;
  CHECK(qg && !lb_lower(qg, backend, NULL, &p));
  int steps = 0;
  for (int i = 0; p && i < p->n_steps; i++) {
    const lb_prog_step *s = &p->steps[i];
    if (s->mult_off >= 0 && (s->kind == LB_PS_CONV || s->kind == LB_PS_LINEAR))
      for (int j = 0; j < s->k; j++) CHECK(p->i32[s->mult_off + j] == (1 << 30));
    if (s->kind == LB_PS_ADD) CHECK((s->add_m1 & (s->add_m1 - 1)) == 0 && (s->add_m2 & (s->add_m2 - 1)) == 0);
    steps++;
  }
  CHECK(steps > 5);
  lb_program_free(p);
  lb_graph_free(qg);
}

int main(void) {
  dtl_dataset(&data, 16, 9);
  lb_status st;
  lb_graph *qg = dtl_quantized("lenet5", "fbgemm", 4, 4, LB_BN_FOLD_NONE, &data, &st);
  CHECK(qg != NULL);
  lb_program *p = NULL;
  if (qg) CHECK_OK(lb_lower(qg, "fbgemm", NULL, &p));
  if (p) {
    file_case(p);
    version3_case(p);
    arena_case(p);
  }
  lb_program_free(p);
  lb_graph_free(qg);
  qg = dtl_quantized("mobilenetv2-tiny", "tensorrt", 8, 8, LB_BN_FOLD_NONE, &data, &st);
  p = NULL;
  if (qg) CHECK_OK(lb_lower(qg, "tensorrt", NULL, &p));
  if (p) arena_case(p);
  lb_program_free(p);
  lb_graph_free(qg);
  pow2_case("vitis");
  pow2_case("tvm");
  lb_dataset_free(&data);
  return lbt_finish("test_deploy_file");
}
