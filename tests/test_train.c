/* train: the loop learns, is deterministic, resumes bit-exactly (after an epoch or mid-epoch),
 * calls hooks at the documented points, and rejects nonsense configurations. */
#include <stdlib.h>
#include <string.h>

#include "lowbit/bytes.h"
#include "lowbit/train.h"
#include "testutil.h"

/* 4 classes of 8x8 images: a bright 4x4 square in quadrant `label`, on noise. */
static void make_data(lb_dataset *d, int n, uint64_t seed) {
  lb_rng r;
  lb_rng_seed(&r, seed);
  d->n = n;
  d->c = 1;
  d->h = d->w = 8;
  d->classes = 4;
  d->images = malloc((size_t)n * 64);
  d->labels = malloc((size_t)n * sizeof(int32_t));
  for (int i = 0; i < n; i++) {
    int k = (int)lb_rng_below(&r, 4);
    d->labels[i] = k;
    for (int y = 0; y < 8; y++)
      for (int x = 0; x < 8; x++) {
        int in = (y / 4 == k / 2) && (x / 4 == k % 2);
        d->images[i * 64 + y * 8 + x] = (uint8_t)(lb_rng_below(&r, 120) + (in ? 120 : 0));
      }
  }
}

static lb_train_config config(const char *model) {
  lb_train_config c;
  lb_train_config_default(&c, model);
  c.epochs = 3;
  c.batch = 32;
  c.eval_batch = 64;
  c.lr = 0.05f;
  c.warmup_epochs = 0.5f;
  return c;
}

typedef struct counts {
  int begin, steps, backward, update, epochs, end;
  int stop_at;
  volatile int *flag;
  lb_trainer *t;
} counts;
static lb_status h_begin(lb_trainer *t, void *u) { (void)t; ((counts *)u)->begin++; return LB_OK; }
static lb_status h_step(lb_trainer *t, void *u) { (void)t; ((counts *)u)->steps++; return LB_OK; }
static lb_status h_back(lb_trainer *t, void *u) { (void)t; ((counts *)u)->backward++; return LB_OK; }
static lb_status h_update(lb_trainer *t, void *u) {
  counts *c = u;
  c->update++;
  if (c->flag && t->global_step + 1 == c->stop_at) *c->flag = 1;
  return LB_OK;
}
static lb_status h_epoch(lb_trainer *t, const lb_epoch_stats *s, void *u) {
  (void)t;
  counts *c = u;
  c->epochs++;
  CHECK(s->epoch == c->epochs && s->test_acc >= 0 && s->test_acc <= 1);
  return LB_OK;
}
static lb_status h_end(lb_trainer *t, void *u) { (void)t; ((counts *)u)->end++; return LB_OK; }

static int files_equal(const char *a, const char *b) {
  uint8_t *da, *db;
  size_t la, lb;
  if (lb_read_file(a, &da, &la) || lb_read_file(b, &db, &lb)) return 0;
  int eq = la == lb && !memcmp(da, db, la);
  free(da);
  free(db);
  return eq;
}

/* Stops a run of c in the middle of epoch 2 (step 21 of 16 per epoch), resumes it from part and
 * checks the result is the bytes of the uninterrupted run already saved in full. */
static void check_mid_epoch_resume(const lb_train_config *c, lb_dataset *train, lb_dataset *test, const char *full,
                                   const char *part) {
  lb_trainer *t;
  volatile int flag = 0;
  counts stop = {0};
  stop.flag = &flag;
  stop.stop_at = 21;
  CHECK_OK(lb_trainer_create(&t, c, train, test));
  lb_hook stopper = {"stop", &stop, NULL, NULL, NULL, h_update, NULL, NULL};
  lb_trainer_add_hook(t, &stopper);
  t->stop_flag = (const volatile int *)&flag;
  snprintf(t->checkpoint_path, sizeof t->checkpoint_path, "%s", part);
  CHECK_STATUS(lb_trainer_run(t), LB_ERR_INTERRUPTED);
  lb_trainer_free(t);
  CHECK_OK(lb_trainer_resume(&t, part, train, test));
  CHECK(t && t->epoch == 1 && t->step == 5 && t->global_step == 21);
  snprintf(t->checkpoint_path, sizeof t->checkpoint_path, "%s", part);
  CHECK_OK(lb_trainer_run(t));
  lb_trainer_free(t);
  CHECK_MSG(files_equal(full, part), "%s: resume mid-epoch differs from the uninterrupted run", c->model);
}

int main(void) {
  lb_set_num_threads(2);
  if (!lbt_tmp_init("lbtest_train")) return lbt_skip("test_train", "no temp dir");
  const char *full = lbt_tmp_path("full.lbm"), *part = lbt_tmp_path("part.lbm");
  lb_dataset train, test;
  make_data(&train, 512, 1);
  make_data(&test, 256, 2);

  /* learns, with hooks called at every point */
  lb_train_config c = config("mlp");
  lb_trainer *t;
  CHECK_OK(lb_trainer_create(&t, &c, &train, &test));
  counts k = {0};
  lb_hook hook = {"count", &k, h_begin, h_step, h_back, h_update, h_epoch, h_end};
  CHECK_OK(lb_trainer_add_hook(t, &hook));
  snprintf(t->checkpoint_path, sizeof t->checkpoint_path, "%s", full);
  CHECK_OK(lb_trainer_run(t));
  CHECK(k.begin == 1 && k.end == 1 && k.epochs == 3);
  CHECK(k.steps == 3 * 16 && k.backward == k.steps && k.update == k.steps);
  double acc, loss;
  CHECK_OK(lb_evaluate(t->g, &test, &t->cfg.aug, 64, &acc, &loss));
  CHECK_MSG(acc > 0.95, "accuracy %.3f", acc);
  lb_trainer_free(t);

  /* same seed, same threads: same bytes; another seed: other bytes */
  CHECK_OK(lb_trainer_create(&t, &c, &train, &test));
  snprintf(t->checkpoint_path, sizeof t->checkpoint_path, "%s", part);
  CHECK_OK(lb_trainer_run(t));
  lb_trainer_free(t);
  CHECK(files_equal(full, part));
  c.seed = 2;
  CHECK_OK(lb_trainer_create(&t, &c, &train, &test));
  snprintf(t->checkpoint_path, sizeof t->checkpoint_path, "%s", part);
  CHECK_OK(lb_trainer_run(t));
  lb_trainer_free(t);
  CHECK(!files_equal(full, part));

  /* resume after one epoch and mid-epoch, on a model with batch norm and dropout */
  c = config("mobilenetv2-tiny");
  c.epochs = 2;
  CHECK_OK(lb_trainer_create(&t, &c, &train, &test));
  snprintf(t->checkpoint_path, sizeof t->checkpoint_path, "%s", full);
  CHECK_OK(lb_trainer_run(t));
  lb_trainer_free(t);

  CHECK_OK(lb_trainer_create(&t, &c, &train, &test));
  snprintf(t->checkpoint_path, sizeof t->checkpoint_path, "%s", part);
  t->stop_after_epochs = 1;
  CHECK_STATUS(lb_trainer_run(t), LB_ERR_INTERRUPTED);
  lb_trainer_free(t);
  CHECK_OK(lb_trainer_resume(&t, part, &train, &test));
  CHECK(t && t->epoch == 1 && t->step == 0);
  snprintf(t->checkpoint_path, sizeof t->checkpoint_path, "%s", part);
  CHECK_OK(lb_trainer_run(t));
  lb_trainer_free(t);
  CHECK_MSG(files_equal(full, part), "resume after an epoch differs from the uninterrupted run");

  check_mid_epoch_resume(&c, &train, &test, full, part);

  /* resnet8's 16..64-channel 3x3 convs run on oneDNN where it is built in: a run stopped
   * mid-epoch and resumed ends with the uninterrupted run's bytes there too */
  c = config("resnet8");
  c.epochs = 2;
  CHECK_OK(lb_trainer_create(&t, &c, &train, &test));
  snprintf(t->checkpoint_path, sizeof t->checkpoint_path, "%s", full);
  CHECK_OK(lb_trainer_run(t));
  lb_trainer_free(t);
  check_mid_epoch_resume(&c, &train, &test, full, part);

  /* a plain model file (no training sections) cannot be resumed */
  lb_graph *g;
  CHECK_OK(lb_zoo_build("mlp", 1, 8, 8, 4, &g));
  lb_graph_init_params(g, 1);
  lb_lbm_save(part, g, NULL, 0);
  lb_graph_free(g);
  CHECK_STATUS(lb_trainer_resume(&t, part, &train, &test), LB_ERR_FORMAT);
  CHECK(strstr(lb_last_error(), "not a training checkpoint") != NULL);

  /* nonsense configurations */
  c = config("mlp");
  c.epochs = 0;
  CHECK_STATUS(lb_trainer_create(&t, &c, &train, &test), LB_ERR_ARG);
  c = config("mlp");
  c.lr = -1;
  CHECK_STATUS(lb_trainer_create(&t, &c, &train, &test), LB_ERR_ARG);
  c = config("mlp");
  c.batch = 100000;
  CHECK_STATUS(lb_trainer_create(&t, &c, &train, &test), LB_ERR_ARG);
  c = config("mlp");
  c.batch = 1000; /* more than the 512 training images */
  CHECK_STATUS(lb_trainer_create(&t, &c, &train, &test), LB_ERR_ARG);
  c = config("mlp");
  c.label_smoothing = 1.0f;
  CHECK_STATUS(lb_trainer_create(&t, &c, &train, &test), LB_ERR_ARG);
  CHECK_STATUS(lb_train_config_default(&c, "gpt5"), LB_ERR_NOT_FOUND);

  lbt_tmp_cleanup();
  lb_dataset_free(&train);
  lb_dataset_free(&test);
  return lbt_finish("test_train");
}
