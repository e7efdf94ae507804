/* lowbit bench: run a recipe's matrix cell by cell from one float model, appending a results
 * line per finished cell. A cell is the same composition of library calls as `lowbit qat` or
 * `lowbit ptq` (plan, apply, calibrate, fine-tune, evaluate). */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/harness_internal.h"
#include "lowbit/onnx.h"
#include "lowbit/qgraph.h"

typedef struct bench {
  const lb_recipe *r;
  const lb_bench_options *opt;
  const lb_bench_events *ev;
  lb_dataset train, test;
  lb_graph *fp32;             /* float model */
  lb_train_config cfg;        /* its recipe (data, normalisation, augmentation, batch) */
  char fp32_id[24];
  double fp32_acc;
  int64_t fp32_size;
  double fp32_bops;
  char machine[128];
  int cores;
} bench;

static void note(const bench *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void note(const bench *b, const char *fmt, ...) {
  if (!b->ev || !b->ev->note) return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  b->ev->note(msg, b->ev->user);
}

static int stopped(const bench *b) { return b->opt && b->opt->stop_flag && *b->opt->stop_flag; }

/* FNV-1a over the text that says how the float model is made: a different recipe gets a
 * different cache file, never a stale model. */
static void fp32_id(const lb_recipe *r, char *buf, size_t cap) {
  char desc[2048];
  const lb_train_config *c = &r->fp32;
  snprintf(desc, sizeof desc, "v1|%d|%s|%s|%s|%d|%d|%.9g|%d|%" PRIu64 "|%.9g|%d|%.9g,%.9g,%.9g|%.9g,%.9g,%.9g", (int)r->source,
           r->model_path, c->model, r->data, r->limit_train, c->epochs, (double)c->lr, c->batch, c->seed,
           (double)c->optim.weight_decay, r->has_norm, (double)r->norm_mean[0], (double)r->norm_mean[1],
           (double)r->norm_mean[2], (double)r->norm_std[0], (double)r->norm_std[1], (double)r->norm_std[2]);
  uint64_t h = 1469598103934665603ull;
  for (const char *p = desc; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
  snprintf(buf, cap, "%016" PRIx64, h);
}

void lb_bench_fp32_cache_path(const lb_recipe *r, const char *results_path, char *buf, size_t cap) {
  char id[24];
  fp32_id(r, id, sizeof id);
  snprintf(buf, cap, "%s.fp32-%s-%.8s.lbm", results_path, r->name, id);
}

static lb_status open_split(const char *spec, int train, int limit, lb_dataset *d) {
  lb_status s = lb_dataset_open(spec, train, d);
  if (s || limit <= 0 || limit >= d->n) return s;
  lb_dataset part;
  s = lb_dataset_slice(d, 0, limit, &part);
  lb_dataset_free(d);
  if (!s) *d = part;
  return s;
}

/* ---- the float model ------------------------------------------------------------------------ */
typedef struct epoch_sink {
  const bench *b;
  double *curve;
  int *n_curve;
} epoch_sink;

static void on_epoch(const lb_trainer *t, const lb_epoch_stats *s, void *user) {
  (void)t;
  epoch_sink *k = user;
  if (k->curve && *k->n_curve < LB_CURVE_MAX) k->curve[(*k->n_curve)++] = s->test_acc >= 0 ? s->test_acc : 0.0;
  if (k->b->ev && k->b->ev->epoch) k->b->ev->epoch(s, k->b->ev->user);
}

static lb_status train_fp32(bench *b, const char *cache) {
  const lb_recipe *r = b->r;
  lb_train_config cfg = r->fp32;
  if (r->has_norm) {
    memcpy(cfg.aug.mean, r->norm_mean, sizeof cfg.aug.mean);
    memcpy(cfg.aug.std, r->norm_std, sizeof cfg.aug.std);
  }
  note(b, "training the float %s (%d epochs); cached as %s", cfg.model, cfg.epochs, cache);
  lb_trainer *t;
  lb_status s = lb_trainer_create(&t, &cfg, &b->train, &b->test);
  if (s) return s;
  epoch_sink sink = {b, NULL, NULL};
  t->on_epoch = on_epoch;
  t->cb_user = &sink;
  if (b->opt) t->stop_flag = b->opt->stop_flag;
  s = lb_trainer_run(t);
  if (!s) s = lb_model_save(cache, t->g, &t->cfg);
  lb_trainer_free(t);
  return s;
}

static lb_status load_fp32(bench *b, const char *results_path) {
  const lb_recipe *r = b->r;
  char cache[LB_PATH_MAX + 128];
  const char *path = r->model_path;
  lb_status s;
  if (r->source == LB_MODEL_ZOO) {
    lb_bench_fp32_cache_path(r, results_path, cache, sizeof cache);
    if (access(cache, F_OK) != 0) {
      s = train_fp32(b, cache);
      if (s) return s;
    } else {
      note(b, "float model from the cache %s", cache);
    }
    path = cache; /* a fresh model is read back too: a resumed run starts from the same bytes */
  }
  int has_cfg = 0;
  s = r->source == LB_MODEL_ONNX ? lb_onnx_import(path, &b->fp32, NULL) : lb_model_load(path, &b->fp32, &b->cfg, &has_cfg);
  if (s) return s;
  if (lb_graph_is_quantized(b->fp32)) return lb_fail(LB_ERR_ARG, "bench: %s is already quantized; give the float model", path);
  if (!has_cfg) {
    if (!r->has_norm)
      return lb_fail(LB_ERR_ARG, "bench: %s holds no training recipe, so its input normalisation is unknown: give "
                     "model.normalize", path);
    lb_train_config_default(&b->cfg, "resnet20"); /* as `lowbit import`: the CNN recipe (crop + flip) */
    /* exporters name graphs generically ("torch_jit"): the file's stem says more */
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    const char *dot = strrchr(base, '.');
    int len = dot && dot > base ? (int)(dot - base) : (int)strlen(base);
    snprintf(b->cfg.model, sizeof b->cfg.model, "%.*s", len < LB_NAME_MAX - 1 ? len : LB_NAME_MAX - 1, base);
  }
  snprintf(b->cfg.data, sizeof b->cfg.data, "%s", r->data);
  if (r->has_norm) {
    memcpy(b->cfg.aug.mean, r->norm_mean, sizeof b->cfg.aug.mean);
    memcpy(b->cfg.aug.std, r->norm_std, sizeof b->cfg.aug.std);
  }
  s = lb_evaluate(b->fp32, &b->test, &b->cfg.aug, 256, &b->fp32_acc, NULL);
  if (s) return s;
  b->fp32_size = lb_model_size_bytes(b->fp32);
  b->fp32_bops = lb_model_bops(b->fp32);
  note(b, "float %s: %.2f%% on %d test images", b->cfg.model, 100 * b->fp32_acc, b->test.n);
  return LB_OK;
}

/* ---- one cell --------------------------------------------------------------------------------- */
static lb_status make_request(const bench *b, const lb_cell *c, lb_qplan_request *q) {
  memset(q, 0, sizeof *q);
  q->backend = c->backend;
  q->wbits = c->w;
  q->abits = c->a;
  lb_bn_fold f;
  lb_status s = lb_bn_fold_parse(c->bn_fold, &f);
  if (s) return s;
  q->bn_fold = f;
  if (!lb_cell_is_qat(c)) { /* PTQ: round to nearest with calibrated scales */
    q->est = LB_EST_STE;
    s = lb_observer_kind_parse(c->observer, &q->a_observer);
    if (!s) s = lb_observer_kind_parse(b->r->w_observer, &q->w_observer);
    return s;
  }
  s = lb_estimator_parse(c->method, &q->est);
  if (s) return s;
  /* as `lowbit qat`: LSQ starts from its own initialisation, the others from min/max */
  int lsq = q->est == LB_EST_LSQ || q->est == LB_EST_LSQ_PLUS;
  q->w_observer = q->a_observer = lsq ? LB_OBS_LSQ : LB_OBS_MINMAX;
  return LB_OK;
}

/* Calibration images: a subset of the training split drawn with the cell's seed. */
static lb_status calib_subset(const bench *b, uint64_t seed, lb_dataset *out) {
  const lb_dataset *d = &b->train;
  int n = b->r->calib < d->n ? b->r->calib : d->n;
  size_t per = (size_t)d->c * (size_t)d->h * (size_t)d->w;
  int32_t *idx = malloc((size_t)d->n * sizeof *idx);
  memset(out, 0, sizeof *out);
  out->images = malloc((size_t)n * per);
  out->labels = malloc((size_t)n * sizeof *out->labels);
  if (!idx || !out->images || !out->labels) {
    free(idx);
    lb_dataset_free(out);
    return lb_fail(LB_ERR_NOMEM, "bench: out of memory");
  }
  for (int i = 0; i < d->n; i++) idx[i] = i;
  lb_rng rng;
  lb_rng_seed_stream(&rng, seed, 0xCA11B, 0);
  lb_shuffle(idx, d->n, &rng);
  for (int i = 0; i < n; i++) {
    memcpy(out->images + (size_t)i * per, d->images + (size_t)idx[i] * per, per);
    out->labels[i] = d->labels[idx[i]];
  }
  free(idx);
  out->n = n;
  out->c = d->c;
  out->h = d->h;
  out->w = d->w;
  out->classes = d->classes;
  return LB_OK;
}

static void fill_result(const bench *b, const lb_cell *c, lb_result *res) {
  const lb_recipe *r = b->r;
  memset(res, 0, sizeof *res);
  snprintf(res->recipe, sizeof res->recipe, "%s", r->name);
  snprintf(res->model, sizeof res->model, "%s", b->cfg.model);
  snprintf(res->data, sizeof res->data, "%s", r->data);
  res->cell = *c;
  res->epochs = lb_cell_is_qat(c) ? r->epochs : 0;
  char lr[32]; /* the recipe's decimal value, not the float's binary expansion */
  snprintf(lr, sizeof lr, "%.7g", (double)r->lr);
  res->lr = lb_cell_is_qat(c) ? strtod(lr, NULL) : 0.0;
  res->calib = r->calib;
  res->limit_train = r->limit_train;
  res->limit_test = r->limit_test;
  snprintf(res->fp32_id, sizeof res->fp32_id, "%s", b->fp32_id);
  res->fp32_acc = b->fp32_acc;
  res->fp32_size_bytes = b->fp32_size;
  res->fp32_bops = b->fp32_bops;
  res->threads = lb_get_num_threads();
  snprintf(res->commit, sizeof res->commit, "%s", lb_git_commit());
  snprintf(res->machine, sizeof res->machine, "%s", b->machine);
  res->cores = b->cores;
}

static lb_status run_cell(bench *b, const lb_cell *c, lb_result *res) {
  const lb_recipe *r = b->r;
  fill_result(b, c, res);
  double t0 = lb_now();
  lb_qplan_request q;
  lb_qplan plan = {0};
  lb_graph *qg = NULL;
  lb_status s = make_request(b, c, &q);
  if (!s) s = lb_qplan_make(b->fp32, &q, &plan);
  if (!s) s = lb_quant_apply(b->fp32, &plan, &qg);
  lb_qplan_free(&plan);
  lb_dataset cal = {0};
  if (!s) s = calib_subset(b, c->seed, &cal);
  if (!s) s = lb_quant_calibrate(qg, &cal, &b->cfg.aug, cal.n, 128);
  lb_dataset_free(&cal);
  if (s) {
    lb_graph_free(qg);
    return s;
  }
  lb_trainer *t = NULL;
  if (lb_cell_is_qat(c)) {
    lb_train_config cfg = b->cfg;
    cfg.epochs = r->epochs;
    cfg.lr = r->lr;
    cfg.min_lr = 0.0f;
    cfg.warmup_epochs = 0.0f;
    cfg.sched.kind = LB_SCHED_COSINE;
    cfg.optim.weight_decay = r->wd;
    cfg.seed = c->seed;
    if (r->batch) cfg.batch = r->batch;
    s = lb_trainer_create_from_graph(&t, &cfg, qg, &b->train, &b->test); /* owns qg now */
    qg = NULL;
    if (s) return s;
    epoch_sink sink = {b, res->curve, &res->n_curve};
    t->on_epoch = on_epoch;
    t->cb_user = &sink;
    if (b->opt) t->stop_flag = b->opt->stop_flag;
    s = lb_trainer_run(t);
  }
  lb_graph *g = t ? t->g : qg;
  if (!s) s = lb_evaluate(g, &b->test, &b->cfg.aug, 256, &res->sim_acc, NULL);
  res->train_s = lb_now() - t0;
  res->drop = res->fp32_acc - res->sim_acc;
  if (!s) { /* the deployed program's accuracy, from the same quantized graph */
    s = lb_harness_int_accuracy(g, c->backend, &b->test, &b->cfg.aug, &res->int_acc, res->int_note, sizeof res->int_note);
    res->has_int_acc = !s && strncmp(res->int_note, "no integer program", 18) != 0;
  }
  res->size_bytes = lb_model_size_bytes(g);
  res->bops = lb_model_bops(g);
  if (t) lb_trainer_free(t);
  else lb_graph_free(qg);
  return s;
}

/* ---- the matrix ------------------------------------------------------------------------------- */
static int same_settings(const lb_result *x, const lb_result *want, char *why, size_t cap) {
  if (x->epochs != want->epochs) snprintf(why, cap, "epochs %d, the recipe says %d", x->epochs, want->epochs);
  else if (fabs(x->lr - want->lr) > 1e-6 * fabs(want->lr)) snprintf(why, cap, "lr %g, the recipe says %g", x->lr, want->lr);
  else if (x->calib != want->calib) snprintf(why, cap, "calib %d, the recipe says %d", x->calib, want->calib);
  else if (x->limit_train != want->limit_train || x->limit_test != want->limit_test)
    snprintf(why, cap, "limits %d/%d, the recipe says %d/%d", x->limit_train, x->limit_test, want->limit_train,
             want->limit_test);
  else if (strcmp(x->fp32_id, want->fp32_id)) snprintf(why, cap, "another float model (id %s, the recipe's is %s)", x->fp32_id, want->fp32_id);
  else if (strcmp(x->data, want->data)) snprintf(why, cap, "data %.100s, the recipe says %.100s", x->data, want->data);
  else return 1;
  return 0;
}

static int find_done(const lb_results *res, const lb_recipe *r, const lb_cell *c) {
  for (int i = 0; i < res->n; i++)
    if (!strcmp(res->r[i].recipe, r->name) && !memcmp(&res->r[i].cell, c, sizeof *c)) return i;
  return -1;
}

static lb_status run_matrix(bench *b, const char *results_path, lb_results *done_set, lb_cell *cells, int n, int *ran,
                            int *done) {
  const lb_recipe *r = b->r;
  const lb_bench_events *ev = b->ev;
  /* every remaining cell is planned before the first one runs: a rule it breaks shows now */
  for (int i = 0; i < n; i++) {
    if (find_done(done_set, r, &cells[i]) >= 0) continue;
    lb_qplan_request q;
    lb_qplan plan = {0};
    lb_status s = make_request(b, &cells[i], &q);
    if (!s) s = lb_qplan_make(b->fp32, &q, &plan);
    lb_qplan_free(&plan);
    if (s) {
      char key[160], why[512];
      lb_cell_key(&cells[i], key, sizeof key);
      snprintf(why, sizeof why, "%s", lb_last_error());
      return lb_fail(s, "bench: cell %s cannot run: %s", key, why);
    }
  }
  lb_result *res = malloc(sizeof *res);
  if (!res) return lb_fail(LB_ERR_NOMEM, "bench: out of memory");
  lb_status s = LB_OK;
  for (int i = 0; i < n && !s; i++) {
    if (find_done(done_set, r, &cells[i]) >= 0) {
      if (ev && ev->cell_begin) ev->cell_begin(&cells[i], i, n, 1, ev->user);
      continue;
    }
    if (stopped(b) || (b->opt && b->opt->max_cells > 0 && *ran >= b->opt->max_cells)) {
      s = lb_fail(LB_ERR_INTERRUPTED, "bench: stopped with %d of %d cells done; run again to continue", *done, n);
      break;
    }
    if (ev && ev->cell_begin) ev->cell_begin(&cells[i], i, n, 0, ev->user);
    s = run_cell(b, &cells[i], res);
    if (s == LB_ERR_INTERRUPTED) {
      s = lb_fail(s, "bench: stopped with %d of %d cells done; run again to continue", *done, n);
      break;
    }
    if (!s) s = lb_results_append(results_path, res);
    if (!s) s = lb_results_push(done_set, res);
    if (!s) {
      (*ran)++;
      (*done)++;
      if (ev && ev->cell_end) ev->cell_end(res, i, n, ev->user);
    }
  }
  free(res);
  return s;
}

lb_status lb_bench_run(const lb_recipe *r, const char *results_path, const lb_bench_options *opt,
                       const lb_bench_events *ev, int *ran, int *done) {
  *ran = *done = 0;
  bench b;
  memset(&b, 0, sizeof b);
  b.r = r;
  b.opt = opt;
  b.ev = ev;
  fp32_id(r, b.fp32_id, sizeof b.fp32_id);
  lb_machine_info(b.machine, sizeof b.machine, &b.cores);
  lb_set_num_threads(r->threads);
  lb_results prev;
  lb_status s = lb_results_load(results_path, 1, &prev);
  if (s) return s;
  if (prev.torn_tail) {
    if (ev && ev->warn) {
      char msg[LB_PATH_MAX + 128];
      snprintf(msg, sizeof msg, "%s: the last line was cut short (interrupted write); dropping it and running that cell again",
               results_path);
      ev->warn(msg, ev->user);
    }
    s = lb_results_truncate(results_path, prev.good_len);
    if (s) {
      lb_results_free(&prev);
      return s;
    }
  }
  int n = lb_recipe_cells(r, NULL, 0);
  lb_cell *cells = malloc((size_t)n * sizeof *cells);
  if (!cells) {
    lb_results_free(&prev);
    return lb_fail(LB_ERR_NOMEM, "bench: out of memory");
  }
  lb_recipe_cells(r, cells, n);
  /* lines of this recipe must have been made with the same settings */
  lb_result want;
  for (int i = 0; i < prev.n && !s; i++) {
    if (strcmp(prev.r[i].recipe, r->name)) continue;
    b.fp32_acc = 0;
    fill_result(&b, &prev.r[i].cell, &want);
    char why[256];
    if (!same_settings(&prev.r[i], &want, why, sizeof why))
      s = lb_fail(LB_ERR_STATE, "bench: %s line %d was made by recipe %s with %s: write to a new results file", results_path,
                  i + 1, r->name, why);
  }
  for (int i = 0; i < n; i++) *done += find_done(&prev, r, &cells[i]) >= 0;
  if (!s && *done == n) {
    note(&b, "all %d cells are already in %s", n, results_path);
  } else if (!s) {
    s = open_split(r->data, 1, r->limit_train, &b.train);
    if (!s) s = open_split(r->data, 0, r->limit_test, &b.test);
    if (!s) s = load_fp32(&b, results_path);
    if (!s) s = run_matrix(&b, results_path, &prev, cells, n, ran, done);
  }
  free(cells);
  lb_results_free(&prev);
  lb_graph_free(b.fp32);
  lb_dataset_free(&b.train);
  lb_dataset_free(&b.test);
  return s;
}
