/* Data movement in integer programs: the SLICE / PAD / CONCAT kernels against their element-loop
 * references, and movenet (tests/deploy_movenet.h: a ResNet shortcut, a concat of float tensors,
 * an asymmetric pad, a negative-step slice, reshapes, a data-movement output) lowered, verified
 * at 0 LSB against the deploy-exact simulation, saved and loaded; refusals of a pad value off
 * the grid and of corrupted data-movement steps, and random step bytes behind a valid checksum. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/kernels/ik_move.h"
#include "deploy_movenet.h"
#include "deploy_testlib.h"

static lb_dataset data;
static const lb_augment norm = {{0.2f}, {0.3f}, 0, 0};

static void fill_random(lb_rng *r, uint8_t *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] = (uint8_t)lb_rng_below(r, 256);
}

static void kernels_case(void) {
  lb_rng r;
  lb_rng_seed(&r, 7);
  enum { MAX = 4096 };
  uint8_t *x[4], *y = malloc(4 * MAX), *yr = malloc(4 * MAX);
  for (int j = 0; j < 4; j++) {
    x[j] = malloc(MAX);
    fill_random(&r, x[j], MAX);
  }
  for (int t = 0; t < 200; t++) {
    int64_t outer = 1 + lb_rng_below(&r, 6), d = 1 + lb_rng_below(&r, 9), inner = 1 + lb_rng_below(&r, 12);
    /* slice: any start and step (negative too) that stay inside */
    int64_t start = lb_rng_below(&r, (uint32_t)d), step = (int64_t)lb_rng_below(&r, 5) - 2;
    if (!step) step = 1;
    int64_t room = step > 0 ? (d - 1 - start) / step : start / -step, count = 1 + lb_rng_below(&r, (uint32_t)room + 1);
    memset(y, 0xAA, 4 * MAX);
    memset(yr, 0x55, 4 * MAX);
    lb_ik_slice(outer, d, inner, start, step, count, x[0], y);
    lb_ik_slice_ref(outer, d, inner, start, step, count, x[0], yr);
    CHECK_MSG(!memcmp(y, yr, (size_t)(outer * count * inner)), "slice %lld %lld %lld %lld %lld %lld", (long long)outer,
              (long long)d, (long long)inner, (long long)start, (long long)step, (long long)count);
    int64_t b = lb_rng_below(&r, 4), e = lb_rng_below(&r, 4);
    uint8_t fill = (uint8_t)lb_rng_below(&r, 256);
    lb_ik_pad(outer, d, inner, b, e, fill, x[0], y);
    lb_ik_pad_ref(outer, d, inner, b, e, fill, x[0], yr);
    CHECK(!memcmp(y, yr, (size_t)(outer * (b + d + e) * inner)));
    int n = 2 + (int)lb_rng_below(&r, 3);
    int64_t ds[4], sum = 0;
    for (int j = 0; j < n; j++) sum += ds[j] = 1 + lb_rng_below(&r, 6);
    lb_ik_concat(outer, inner, n, ds, (const uint8_t *const *)x, y);
    lb_ik_concat_ref(outer, inner, n, ds, (const uint8_t *const *)x, yr);
    CHECK(!memcmp(y, yr, (size_t)(outer * sum * inner)));
  }
  /* a known case: x = 0..11 as (1, 4, 3); slice rows 3, 1 (start 3, step -2) */
  uint8_t v[12], w[6];
  for (int i = 0; i < 12; i++) v[i] = (uint8_t)i;
  lb_ik_slice(1, 4, 3, 3, -2, 2, v, w);
  CHECK(w[0] == 9 && w[2] == 11 && w[3] == 3 && w[5] == 5);
  for (int j = 0; j < 4; j++) free(x[j]);
  free(y);
  free(yr);
}

static int count_kind(const lb_program *p, int kind) {
  int c = 0;
  for (int i = 0; i < p->n_steps; i++) c += p->steps[i].kind == kind;
  return c;
}

/* Lower, verify at 0 LSB, round-trip the file; returns the program (caller frees) or NULL. */
static lb_program *movenet_case(int codes_out, const char *backend) {
  lb_status st;
  lb_graph *qg = mvn_quantized(codes_out, 0.0f, backend, &data, &norm, &st);
  CHECK_MSG(qg != NULL, "movenet %s: %s", backend, lb_last_error());
  if (!qg) return NULL;
  lb_program *p = NULL;
  st = lb_lower(qg, backend, &norm, &p);
  CHECK_MSG(st == LB_OK, "lower movenet%s %s: %s", codes_out ? " (codes out)" : "", backend, lb_last_error());
  if (st) {
    lb_graph_free(qg);
    return NULL;
  }
  CHECK(count_kind(p, LB_PS_SLICE) >= (codes_out ? 3 : 3));
  CHECK(count_kind(p, LB_PS_PAD) >= (codes_out ? 3 : 3)); /* channel pad, h and w of the SAME pad */
  CHECK(count_kind(p, LB_PS_CONCAT) == (codes_out ? 2 : 1));
  lb_verify_report r;
  st = lb_verify(qg, p, &data, &norm, data.n, 16, &r);
  CHECK_MSG(st == LB_OK, "verify: %s", lb_last_error());
  if (!st) {
    int worst = 0, found_pad = 0;
    for (int i = 0; i < r.n_units; i++) {
      if (r.units[i].diff_sim && r.units[i].worst_sim > worst) worst = r.units[i].worst_sim;
      found_pad += !strcmp(r.units[i].core, "sc.pad") || !strcmp(r.units[i].core, "ap.pad");
    }
    CHECK_MSG(worst == 0 && r.logits_diff_sim == 0, "movenet %s: engine differs from the simulation by %d LSB, %lld logits",
              backend, worst, (long long)r.logits_diff_sim);
    int academic = !strcmp(backend, "academic"); /* quantizes conv/linear inputs only: its pads are float */
    CHECK(r.n_units >= (academic ? 5 : 7) && (academic || found_pad));
    CHECK(r.correct_engine == r.correct_sim);
    printf("movenet%-12s %-9s %3d steps: 0 LSB in %d units, top-1 differing from the fake-quant graph: %lld/%d\n",
           codes_out ? " (codes out)" : "", backend, p->n_steps, r.n_units, (long long)r.pred_diff_fq, r.images);
    lb_verify_report_free(&r);
  }
  /* the file keeps every data-movement field */
  uint8_t *bytes = NULL;
  size_t len = 0;
  lb_program *q = NULL;
  CHECK_OK(lb_program_to_bytes(p, &bytes, &len));
  if (bytes) CHECK_OK(lb_program_from_bytes(bytes, len, &q));
  if (q) {
    lb_engine *e1 = NULL, *e2 = NULL;
    float *x = lbt_falloc(8 * 784), *y1 = lbt_falloc(80), *y2 = lbt_falloc(80);
    for (int i = 0; i < 8 * 784; i++) x[i] = (data.images[i] / 255.0f - 0.2f) / 0.3f;
    CHECK_OK(lb_engine_create(p, 8, 0, &e1));
    CHECK_OK(lb_engine_create(q, 3, 0, &e2)); /* another batch split */
    if (e1 && e2) {
      CHECK_OK(lb_engine_run(e1, 8, x, y1));
      CHECK_OK(lb_engine_run(e2, 8, x, y2));
      CHECK(!memcmp(y1, y2, 80 * sizeof(float)));
    }
    lb_engine_free(e1);
    lb_engine_free(e2);
    free(x);
    free(y1);
    free(y2);
    lb_program_free(q);
  }
  free(bytes);
  lb_graph_free(qg);
  return p;
}

/* Corrupt one field of a data-movement step: the validator refuses it. */
static void corrupt_case(const lb_program *p) {
  for (int t = 0; t < 6; t++) {
    lb_program c = *p;
    c.steps = malloc((size_t)p->n_steps * sizeof *c.steps);
    c.tensors = malloc((size_t)p->n_tensors * sizeof *c.tensors);
    memcpy(c.steps, p->steps, (size_t)p->n_steps * sizeof *c.steps);
    memcpy(c.tensors, p->tensors, (size_t)p->n_tensors * sizeof *c.tensors);
    int want = t < 3 ? LB_PS_SLICE : t < 5 ? LB_PS_PAD : LB_PS_CONCAT, at = -1;
    for (int i = 0; i < p->n_steps && at < 0; i++)
      if (p->steps[i].kind == want) at = i;
    CHECK(at >= 0);
    if (at < 0) continue;
    lb_prog_step *s = &c.steps[at];
    if (t == 0) s->mv_count++;
    if (t == 1) s->mv_step = 0;
    if (t == 2) s->mv_start = s->mv_dim[0];
    if (t == 3) s->mv_fill = c.tensors[s->out].qmax + 1;
    if (t == 4) s->mv_end++;
    if (t == 5) c.tensors[s->in[1]].zp ^= 1; /* inputs on different grids */
    CHECK_STATUS(lb_program_validate(&c), LB_ERR_FORMAT);
    free(c.steps);
    free(c.tensors);
  }
}

/* Random bytes of the "steps" section changed behind a valid checksum: the loader refuses, or
 * the program runs without touching memory it does not own (the sanitizer build watches). */
static void fuzz_steps_case(const lb_program *p) {
  uint8_t *bytes = NULL, *m;
  size_t len = 0, at = 16, start = 0, end = 0;
  if (lb_program_to_bytes(p, &bytes, &len)) return;
  while (at + 24 <= len && !end) { /* sections: tag[16], u64 length, body */
    uint64_t n;
    memcpy(&n, bytes + at + 16, 8);
    if (!strcmp((const char *)bytes + at, "steps")) start = at + 24, end = start + (size_t)n;
    at += 24 + (size_t)n;
  }
  CHECK(end > start && end <= len);
  m = malloc(len);
  lb_rng r;
  lb_rng_seed(&r, 5);
  int refused = 0, ran = 0;
  float *x = lbt_falloc(2 * 784), *y = lbt_falloc(20);
  for (int i = 0; i < 2 * 784; i++) x[i] = (float)(i % 17) - 8.0f;
  for (int t = 0; m && end > start && t < 600; t++) {
    memcpy(m, bytes, len);
    for (int k = 0; k < 1 + t % 3; k++) m[start + lb_rng_below(&r, (uint32_t)(end - start))] = (uint8_t)lb_rng_u64(&r);
    uint32_t c = lb_crc32(0, m, len - 4);
    memcpy(m + len - 4, &c, 4);
    lb_program *q = NULL;
    if (lb_program_from_bytes(m, len, &q)) {
      refused++;
      continue;
    }
    lb_engine *e = NULL;
    if (!lb_engine_create(q, 2, 0, &e)) {
      CHECK_OK(lb_engine_run(e, 2, x, y));
      ran++;
    }
    lb_engine_free(e);
    lb_program_free(q);
  }
  printf("steps corrupted behind a valid checksum: %d refused, %d ran\n", refused, ran);
  CHECK(refused > 0);
  free(m);
  free(x);
  free(y);
  free(bytes);
}

static void refusal_case(void) {
  lb_status st;
  lb_graph *qg = mvn_quantized(1, 0.3f, "tensorrt", &data, &norm, &st);
  CHECK_MSG(qg != NULL, "movenet: %s", lb_last_error());
  if (!qg) return;
  lb_program *p = NULL;
  CHECK_STATUS(lb_lower(qg, NULL, &norm, &p), LB_ERR_UNSUPPORTED);
  CHECK_MSG(strstr(lb_last_error(), "ap.pad") && strstr(lb_last_error(), "not on its input's grid"), "message: %s",
            lb_last_error());
  CHECK(p == NULL);
  lb_graph_free(qg);
}

int main(void) {
  dtl_dataset(&data, 48, 11);
  kernels_case();
  lb_program *p = movenet_case(0, "tensorrt");
  lb_program_free(movenet_case(0, "fbgemm"));
  /* academic: the shortcut's slices and pad and the add run on floats, the pool after the float
   * concat's quantizer on codes */
  lb_program *f = movenet_case(0, "academic");
  if (f) CHECK_MSG(lb_program_float_steps(f) >= 4, "%d float steps", lb_program_float_steps(f));
  if (f) fuzz_steps_case(f);
  lb_program_free(f);
  lb_program *q = movenet_case(1, "tensorrt");
  if (q) corrupt_case(q);
  if (q) fuzz_steps_case(q);
  refusal_case();
  lb_program_free(p);
  lb_program_free(q);
  free(data.images);
  free(data.labels);
  return lbt_finish("test_deploy_move");
}
