/* train/optim: SGD, Adam and AdamW against PyTorch (tests/fixtures/optim_fixtures.h from
 * tools/gen_optim_fixtures.py), weight-decay exemption, config validation, state layout,
 * thread-count independence, and the learning-rate schedules. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures/optim_fixtures.h"
#include "lowbit/optim.h"
#include "testutil.h"

/* The generator's inputs (keep in sync with tools/gen_optim_fixtures.py). All exact in float. */
static float fix_init_w(int slot, int i) {
  if (slot == 0) return (float)((i % 2 ? 1.0 : -1.0) * (0.5 + 0.125 * i));
  return (float)(0.25 - 0.375 * i);
}

static float fix_grad(int slot, int t, int i) { return (float)(((5 * i + 3 * t + 7 * slot) % 11) - 5) / 8.0f; }

static int has_text(const char *needle) { return strstr(lb_last_error(), needle) != NULL; }

static void test_against_torch(void) {
  const int n_cases = (int)(sizeof optf_cases / sizeof optf_cases[0]);
  CHECK(n_cases >= 9);
  for (int c = 0; c < n_cases; c++) {
    const optf_case *fc = &optf_cases[c];
    float wa[OPTF_NA], wb[OPTF_NB], ga[OPTF_NA], gb[OPTF_NB];
    for (int i = 0; i < OPTF_NA; i++) wa[i] = fix_init_w(0, i);
    for (int i = 0; i < OPTF_NB; i++) wb[i] = fix_init_w(1, i);
    lb_optim_kind kind = LB_OPTIM_SGD;
    CHECK_OK(lb_optim_kind_parse(fc->kind, &kind));
    lb_optim_config cfg;
    lb_optim_config_default(&cfg, kind);
    cfg.momentum = fc->momentum;
    cfg.nesterov = fc->nesterov;
    cfg.weight_decay = fc->weight_decay;
    cfg.beta1 = fc->beta1;
    cfg.beta2 = fc->beta2;
    cfg.eps = fc->eps;
    const lb_optim_slot slots[2] = {{wa, ga, OPTF_NA, 1}, {wb, gb, OPTF_NB, 0}};
    lb_optim o;
    CHECK_OK(lb_optim_create(&o, &cfg, slots, 2));
    if (!o.slots) continue;
    for (int t = 0; t < OPTF_STEPS; t++) {
      for (int i = 0; i < OPTF_NA; i++) ga[i] = fix_grad(0, t, i);
      for (int i = 0; i < OPTF_NB; i++) gb[i] = fix_grad(1, t, i);
      lb_optim_step(&o, fc->lr[t]);
    }
    CHECK(o.steps == OPTF_STEPS);
    /* pure relative error: every expected weight is well away from zero */
    double ea = lbt_max_rel_err(wa, fc->w_a, OPTF_NA, 1e-30);
    double eb = lbt_max_rel_err(wb, fc->w_b, OPTF_NB, 1e-30);
    CHECK_MSG(ea <= 1e-6, "%s: decayed slot max rel err %.3g", fc->name, ea);
    CHECK_MSG(eb <= 1e-6, "%s: exempt slot max rel err %.3g", fc->name, eb);
    lb_optim_free(&o);
    CHECK(o.slots == NULL && o.state == NULL);
  }
}

/* Zero gradients isolate weight decay: only slots with decay = 1 may move. */
static void test_decay_exemption(void) {
  const lb_optim_kind kinds[3] = {LB_OPTIM_SGD, LB_OPTIM_ADAM, LB_OPTIM_ADAMW};
  for (int k = 0; k < 3; k++) {
    float wa[4] = {1, -2, 0.5f, 4}, wb[4] = {1, -2, 0.5f, 4}, g[4] = {0, 0, 0, 0};
    lb_optim_config cfg;
    lb_optim_config_default(&cfg, kinds[k]);
    cfg.weight_decay = 0.5f;
    const lb_optim_slot slots[2] = {{wa, g, 4, 1}, {wb, g, 4, 0}};
    lb_optim o;
    CHECK_OK(lb_optim_create(&o, &cfg, slots, 2));
    if (!o.slots) continue;
    lb_optim_step(&o, 0.125f);
    const float init[4] = {1, -2, 0.5f, 4};
    for (int i = 0; i < 4; i++) {
      CHECK_MSG(wb[i] == init[i], "%s: exempt w[%d] = %.9g", lb_optim_kind_name(kinds[k]), i, (double)wb[i]);
      if (kinds[k] == LB_OPTIM_ADAM) {
        /* L2 gradient 0.5*w, first Adam step moves by lr*sign(g) */
        CHECK_NEAR(wa[i], init[i] - 0.125f * (init[i] > 0 ? 1.0f : -1.0f), 1e-6);
      } else {
        /* SGD: w -= lr*wd*w; AdamW: w *= 1 - lr*wd and the zero-gradient update adds nothing */
        CHECK_NEAR(wa[i], init[i] * (1.0f - 0.125f * 0.5f), 1e-6);
      }
    }
    lb_optim_free(&o);
  }
}

typedef struct bad_cfg {
  lb_optim_kind kind;
  float momentum, wd, beta1, beta2, eps;
  int nesterov;
  const char *needle;
} bad_cfg;

static void test_validation(void) {
  float w[3] = {1, 2, 3}, g[3] = {0, 0, 0};
  const lb_optim_slot ok_slot = {w, g, 3, 1};
  const bad_cfg bad[] = {
      {LB_OPTIM_SGD, -0.1f, 0, 0.9f, 0.999f, 1e-8f, 0, "momentum"},
      {LB_OPTIM_SGD, 1.0f, 0, 0.9f, 0.999f, 1e-8f, 0, "momentum"},
      {LB_OPTIM_SGD, NAN, 0, 0.9f, 0.999f, 1e-8f, 0, "momentum"},
      {LB_OPTIM_SGD, 0.0f, 0, 0.9f, 0.999f, 1e-8f, 1, "nesterov"},
      {LB_OPTIM_SGD, 0.9f, 0, 0.9f, 0.999f, 1e-8f, 2, "nesterov"},
      {LB_OPTIM_SGD, 0.9f, -1e-4f, 0.9f, 0.999f, 1e-8f, 0, "weight_decay"},
      {LB_OPTIM_SGD, 0.9f, INFINITY, 0.9f, 0.999f, 1e-8f, 0, "weight_decay"},
      {LB_OPTIM_ADAMW, 0, NAN, 0.9f, 0.999f, 1e-8f, 0, "weight_decay"},
      {LB_OPTIM_ADAM, 0, 0, 1.0f, 0.999f, 1e-8f, 0, "beta1"},
      {LB_OPTIM_ADAM, 0, 0, -0.5f, 0.999f, 1e-8f, 0, "beta1"},
      {LB_OPTIM_ADAMW, 0, 0, 0.9f, 1.0f, 1e-8f, 0, "beta2"},
      {LB_OPTIM_ADAMW, 0, 0, 0.9f, NAN, 1e-8f, 0, "beta2"},
      {LB_OPTIM_ADAM, 0, 0, 0.9f, 0.999f, 0.0f, 0, "eps"},
      {LB_OPTIM_ADAM, 0, 0, 0.9f, 0.999f, -1e-8f, 0, "eps"},
      {LB_OPTIM_ADAMW, 0, 0, 0.9f, 0.999f, INFINITY, 0, "eps"},
      {(lb_optim_kind)7, 0, 0, 0.9f, 0.999f, 1e-8f, 0, "kind"},
  };
  for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
    lb_optim_config cfg = {bad[b].kind, bad[b].momentum, bad[b].nesterov, bad[b].wd,
                           bad[b].beta1, bad[b].beta2, bad[b].eps};
    lb_optim o;
    lb_clear_error();
    CHECK_STATUS(lb_optim_create(&o, &cfg, &ok_slot, 1), LB_ERR_ARG);
    CHECK_MSG(has_text(bad[b].needle), "case %zu: message '%s' lacks '%s'", b, lb_last_error(), bad[b].needle);
    CHECK(o.slots == NULL && o.state == NULL);
    lb_optim_free(&o); /* safe after a failed create */
  }

  /* fields a kind does not use are not checked */
  lb_optim_config cfg;
  lb_optim_config_default(&cfg, LB_OPTIM_SGD);
  cfg.beta1 = 3.0f;
  cfg.eps = -1.0f;
  lb_optim o;
  CHECK_OK(lb_optim_create(&o, &cfg, &ok_slot, 1));
  lb_optim_free(&o);

  /* slots */
  lb_optim_config_default(&cfg, LB_OPTIM_ADAM);
  CHECK_STATUS(lb_optim_create(&o, &cfg, NULL, 1), LB_ERR_ARG);
  CHECK_STATUS(lb_optim_create(&o, &cfg, &ok_slot, 0), LB_ERR_ARG);
  const lb_optim_slot empty = {w, g, 0, 1}, no_w = {NULL, g, 3, 1}, no_g = {w, NULL, 3, 1};
  CHECK_STATUS(lb_optim_create(&o, &cfg, &empty, 1), LB_ERR_ARG);
  CHECK(has_text("slot 0"));
  const lb_optim_slot two[2] = {ok_slot, no_w};
  CHECK_STATUS(lb_optim_create(&o, &cfg, two, 2), LB_ERR_ARG);
  CHECK(has_text("slot 1") && has_text("weight"));
  CHECK_STATUS(lb_optim_create(&o, &cfg, &no_g, 1), LB_ERR_ARG);
  CHECK(has_text("gradient"));
  CHECK_STATUS(lb_optim_create(&o, NULL, &ok_slot, 1), LB_ERR_ARG);
  CHECK_STATUS(lb_optim_create(NULL, &cfg, &ok_slot, 1), LB_ERR_ARG);
}

static void test_names_defaults_state(void) {
  for (int k = 0; k < LB_OPTIM_KIND_COUNT; k++) {
    lb_optim_kind back = LB_OPTIM_KIND_COUNT;
    CHECK_OK(lb_optim_kind_parse(lb_optim_kind_name((lb_optim_kind)k), &back));
    CHECK(back == (lb_optim_kind)k);
  }
  lb_optim_kind kind;
  CHECK_STATUS(lb_optim_kind_parse("adagrad", &kind), LB_ERR_NOT_FOUND);
  CHECK(has_text("adagrad"));
  CHECK(strcmp(lb_optim_kind_name(LB_OPTIM_ADAMW), "adamw") == 0);
  CHECK(strcmp(lb_optim_kind_name(LB_OPTIM_KIND_COUNT), "unknown") == 0);

  lb_optim_config cfg;
  lb_optim_config_default(&cfg, LB_OPTIM_SGD);
  CHECK(cfg.kind == LB_OPTIM_SGD && cfg.momentum == 0.9f && cfg.nesterov == 0 && cfg.weight_decay == 0.0f);
  lb_optim_config_default(&cfg, LB_OPTIM_ADAM);
  CHECK(cfg.kind == LB_OPTIM_ADAM && cfg.beta1 == 0.9f && cfg.beta2 == 0.999f && cfg.eps == 1e-8f &&
        cfg.weight_decay == 0.0f);

  /* state size per kind, zero-filled */
  float w1[5] = {0}, g1[5] = {0}, w2[11] = {0}, g2[11] = {0};
  const lb_optim_slot slots[2] = {{w1, g1, 5, 1}, {w2, g2, 11, 0}};
  const struct { lb_optim_kind kind; float momentum; int64_t floats; } sizes[] = {
      {LB_OPTIM_SGD, 0.0f, 0}, {LB_OPTIM_SGD, 0.5f, 16}, {LB_OPTIM_ADAM, 0.0f, 32}, {LB_OPTIM_ADAMW, 0.0f, 32}};
  for (int s = 0; s < 4; s++) {
    lb_optim_config_default(&cfg, sizes[s].kind);
    cfg.momentum = sizes[s].momentum;
    lb_optim o;
    CHECK_OK(lb_optim_create(&o, &cfg, slots, 2));
    CHECK(o.state_floats == sizes[s].floats && o.n_slots == 2 && o.steps == 0);
    CHECK((o.state != NULL) == (sizes[s].floats > 0));
    CHECK(o.slots != slots && o.slots && o.slots[1].n == 11 && o.slots[1].decay == 0);
    int zero = 1;
    for (int64_t i = 0; i < o.state_floats; i++) zero &= o.state[i] == 0.0f;
    CHECK(zero);
    lb_optim_free(&o);
  }
}

/* One long slice takes the OpenMP path; the same data cut into short slices runs serially.
 * Both, with one or two threads, must give the same bits. */
#define BIG_N 100000
#define BIG_STEPS 3
static void run_big(const lb_optim_config *cfg, float *w, float *g, int64_t chunk, int threads) {
  lb_rng rng;
  lb_rng_seed(&rng, 7);
  lbt_fill_uniform(w, BIG_N, &rng, -1.0f, 1.0f);
  int n_slots = (int)((BIG_N + chunk - 1) / chunk);
  lb_optim_slot *slots = calloc((size_t)n_slots, sizeof *slots);
  CHECK(slots != NULL);
  if (!slots) return;
  for (int s = 0; s < n_slots; s++) {
    int64_t lo = (int64_t)s * chunk, hi = lo + chunk < BIG_N ? lo + chunk : BIG_N;
    slots[s] = (lb_optim_slot){w + lo, g + lo, hi - lo, 1};
  }
  lb_set_num_threads(threads);
  lb_optim o;
  CHECK_OK(lb_optim_create(&o, cfg, slots, n_slots));
  free(slots);
  if (!o.slots) return;
  for (int t = 0; t < BIG_STEPS; t++) {
    lbt_fill_uniform(g, BIG_N, &rng, -1.0f, 1.0f);
    lb_optim_step(&o, 0.01f);
  }
  lb_optim_free(&o);
}

static void test_thread_independence(void) {
  float *w_par = malloc(BIG_N * sizeof(float)), *w_ser = malloc(BIG_N * sizeof(float));
  float *w_one = malloc(BIG_N * sizeof(float)), *g = malloc(BIG_N * sizeof(float));
  CHECK(w_par && w_ser && w_one && g);
  if (!w_par || !w_ser || !w_one || !g) goto done;
  for (int k = 0; k < LB_OPTIM_KIND_COUNT; k++) {
    lb_optim_config cfg;
    lb_optim_config_default(&cfg, (lb_optim_kind)k);
    cfg.weight_decay = 0.01f;
    cfg.nesterov = k == LB_OPTIM_SGD;
    run_big(&cfg, w_par, g, BIG_N, 2);
    run_big(&cfg, w_ser, g, 1000, 2);
    run_big(&cfg, w_one, g, BIG_N, 1);
    CHECK_MSG(memcmp(w_par, w_ser, BIG_N * sizeof(float)) == 0, "%s: one slice vs short slices differ",
              lb_optim_kind_name((lb_optim_kind)k));
    CHECK_MSG(memcmp(w_par, w_one, BIG_N * sizeof(float)) == 0, "%s: 2 threads vs 1 thread differ",
              lb_optim_kind_name((lb_optim_kind)k));
  }
done:
  lb_set_num_threads(0);
  free(w_par);
  free(w_ser);
  free(w_one);
  free(g);
}

/* ---- schedules ------------------------------------------------------------------------------ */
static lb_sched sched(lb_sched_kind kind, float base, int64_t total, int64_t warmup) {
  lb_sched s;
  memset(&s, 0, sizeof s);
  s.kind = kind;
  s.base_lr = base;
  s.total_steps = total;
  s.warmup_steps = warmup;
  s.step_size = 10;
  s.gamma = 0.5f;
  s.min_lr = 0.0f;
  return s;
}

static void test_schedules(void) {
  /* constant with warm-up: base*(step+1)/warmup, then flat */
  lb_sched s = sched(LB_SCHED_CONSTANT, 0.1f, 100, 4);
  CHECK_OK(lb_sched_validate(&s));
  CHECK_NEAR(lb_sched_lr(&s, 0), 0.025, 1e-9);
  CHECK_NEAR(lb_sched_lr(&s, 1), 0.05, 1e-9);
  CHECK(lb_sched_lr(&s, 3) == 0.1f);
  CHECK(lb_sched_lr(&s, 4) == 0.1f);
  CHECK(lb_sched_lr(&s, 99) == 0.1f && lb_sched_lr(&s, 5000) == 0.1f);
  CHECK(lb_sched_lr(&s, -3) == lb_sched_lr(&s, 0));
  s.warmup_steps = 0;
  CHECK(lb_sched_lr(&s, 0) == 0.1f);

  /* step decay: boundaries every step_size steps, counted after warm-up */
  s = sched(LB_SCHED_STEP, 0.1f, 100, 0);
  CHECK_OK(lb_sched_validate(&s));
  CHECK(lb_sched_lr(&s, 0) == 0.1f && lb_sched_lr(&s, 9) == 0.1f);
  CHECK(lb_sched_lr(&s, 10) == 0.05f && lb_sched_lr(&s, 19) == 0.05f);
  CHECK(lb_sched_lr(&s, 20) == 0.025f);
  s.warmup_steps = 5;
  CHECK_NEAR(lb_sched_lr(&s, 0), 0.02, 1e-9);
  CHECK(lb_sched_lr(&s, 4) == 0.1f && lb_sched_lr(&s, 14) == 0.1f);
  CHECK(lb_sched_lr(&s, 15) == 0.05f && lb_sched_lr(&s, 25) == 0.025f);
  s.gamma = 0.1f;
  s.warmup_steps = 0;
  CHECK_NEAR(lb_sched_lr(&s, 35), 1e-4, 1e-10);
  s.gamma = 1.0f;
  CHECK(lb_sched_lr(&s, 99) == 0.1f);

  /* cosine: starts at base after warm-up, (base+min)/2 halfway, min at the end and after */
  s = sched(LB_SCHED_COSINE, 1.0f, 105, 5);
  s.min_lr = 0.1f;
  CHECK_OK(lb_sched_validate(&s));
  CHECK_NEAR(lb_sched_lr(&s, 0), 0.2, 1e-7);
  CHECK(lb_sched_lr(&s, 4) == 1.0f);
  CHECK(lb_sched_lr(&s, 5) == 1.0f);
  CHECK_NEAR(lb_sched_lr(&s, 55), 0.55, 1e-7);
  CHECK_NEAR(lb_sched_lr(&s, 30), 0.1 + 0.9 * 0.5 * (1 + cos(3.14159265358979323846 * 0.25)), 1e-7);
  CHECK(lb_sched_lr(&s, 104) > 0.1f);
  CHECK(lb_sched_lr(&s, 105) == 0.1f && lb_sched_lr(&s, 1000) == 0.1f);
  int monotone = 1;
  for (int64_t t = 0; t < 4; t++) monotone &= lb_sched_lr(&s, t) < lb_sched_lr(&s, t + 1);
  for (int64_t t = 5; t < 110; t++) monotone &= lb_sched_lr(&s, t) >= lb_sched_lr(&s, t + 1);
  CHECK(monotone);
  s = sched(LB_SCHED_COSINE, 0.5f, 10, 0);
  CHECK(lb_sched_lr(&s, 0) == 0.5f);
  CHECK_NEAR(lb_sched_lr(&s, 5), 0.25, 1e-7);

  /* validation */
  struct { lb_sched s; const char *needle; } bad[18];
  int nb = 0;
  bad[nb].s = sched(LB_SCHED_CONSTANT, 0.0f, 10, 0), bad[nb++].needle = "base_lr";
  bad[nb].s = sched(LB_SCHED_CONSTANT, -0.1f, 10, 0), bad[nb++].needle = "base_lr";
  bad[nb].s = sched(LB_SCHED_COSINE, NAN, 10, 0), bad[nb++].needle = "base_lr";
  bad[nb].s = sched(LB_SCHED_STEP, INFINITY, 10, 0), bad[nb++].needle = "base_lr";
  bad[nb].s = sched(LB_SCHED_CONSTANT, 0.1f, 0, 0), bad[nb++].needle = "total_steps";
  bad[nb].s = sched(LB_SCHED_COSINE, 0.1f, -5, 0), bad[nb++].needle = "total_steps";
  bad[nb].s = sched(LB_SCHED_CONSTANT, 0.1f, 10, -1), bad[nb++].needle = "warmup_steps";
  bad[nb].s = sched(LB_SCHED_COSINE, 0.1f, 10, 10), bad[nb++].needle = "warmup_steps";
  bad[nb].s = sched(LB_SCHED_STEP, 0.1f, 10, 0), bad[nb].s.step_size = 0, bad[nb++].needle = "step_size";
  bad[nb].s = sched(LB_SCHED_STEP, 0.1f, 10, 0), bad[nb].s.gamma = 0.0f, bad[nb++].needle = "gamma";
  bad[nb].s = sched(LB_SCHED_STEP, 0.1f, 10, 0), bad[nb].s.gamma = 1.5f, bad[nb++].needle = "gamma";
  bad[nb].s = sched(LB_SCHED_STEP, 0.1f, 10, 0), bad[nb].s.gamma = NAN, bad[nb++].needle = "gamma";
  bad[nb].s = sched(LB_SCHED_COSINE, 0.1f, 10, 0), bad[nb].s.min_lr = -0.01f, bad[nb++].needle = "min_lr";
  bad[nb].s = sched(LB_SCHED_COSINE, 0.1f, 10, 0), bad[nb].s.min_lr = 0.2f, bad[nb++].needle = "min_lr";
  bad[nb].s = sched(LB_SCHED_COSINE, 0.1f, 10, 0), bad[nb].s.min_lr = NAN, bad[nb++].needle = "min_lr";
  bad[nb].s = sched((lb_sched_kind)9, 0.1f, 10, 0), bad[nb++].needle = "kind";
  for (int b = 0; b < nb; b++) {
    lb_clear_error();
    CHECK_STATUS(lb_sched_validate(&bad[b].s), LB_ERR_ARG);
    CHECK_MSG(has_text(bad[b].needle), "schedule case %d: message '%s' lacks '%s'", b, lb_last_error(),
              bad[b].needle);
  }
  CHECK_STATUS(lb_sched_validate(NULL), LB_ERR_ARG);
  /* unused fields are not checked: gamma and step_size only matter for "step" */
  s = sched(LB_SCHED_COSINE, 0.1f, 10, 0);
  s.gamma = 7.0f;
  s.step_size = 0;
  CHECK_OK(lb_sched_validate(&s));

  for (int k = 0; k < LB_SCHED_KIND_COUNT; k++) {
    lb_sched_kind back = LB_SCHED_KIND_COUNT;
    CHECK_OK(lb_sched_kind_parse(lb_sched_kind_name((lb_sched_kind)k), &back));
    CHECK(back == (lb_sched_kind)k);
  }
  lb_sched_kind kind;
  CHECK_STATUS(lb_sched_kind_parse("linear", &kind), LB_ERR_NOT_FOUND);
  CHECK(strcmp(lb_sched_kind_name(LB_SCHED_COSINE), "cosine") == 0);
  CHECK(strcmp(lb_sched_kind_name(LB_SCHED_KIND_COUNT), "unknown") == 0);
}

int main(void) {
  test_against_torch();
  test_decay_exemption();
  test_validation();
  test_names_defaults_state();
  test_thread_independence();
  test_schedules();
  return lbt_finish("test_optim");
}
