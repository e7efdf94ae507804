/* lowbit harness: benchmark recipes, the bench run (method x bits x backend x seed, resumable,
 * one JSON line per finished cell), summaries over seeds, and the report (Markdown + HTML/SVG).
 * docs/bench-harness.md describes the recipe keys and the results format.
 *
 * The harness composes the same library calls as the qat and ptq verbs (plan, apply, calibrate,
 * train, evaluate); it adds no quantization logic of its own. Like the rest of the library it
 * never prints: progress and warnings go to callbacks. */
#ifndef LOWBIT_HARNESS_H
#define LOWBIT_HARNESS_H

#include "lowbit/graph.h"
#include "lowbit/train.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LB_RECIPE_MAX_LIST 16   /* methods, bit pairs, backends, seeds per list */
#define LB_RECIPE_MAX_GROUPS 8  /* matrix groups */
#define LB_CURVE_MAX 200        /* QAT epochs per cell (a curve point per epoch) */
#define LB_PATH_MAX 1024

/* ---- recipes ----------------------------------------------------------------------------- */
typedef struct lb_bits_pair {
  int w, a;
} lb_bits_pair;

/* One block of the matrix: every method x bits x backend of it runs for every seed. */
typedef struct lb_recipe_group {
  char methods[LB_RECIPE_MAX_LIST][16]; /* lsq, lsq+, pact, dorefa, ste (QAT); ptq (calibration only) */
  int n_methods;
  lb_bits_pair bits[LB_RECIPE_MAX_LIST];
  int n_bits;
  char backends[LB_RECIPE_MAX_LIST][32];
  int n_backends;
  char bn_fold[16];   /* none, merge, freeze, fold */
  char observer[16];  /* ptq activation observer */
} lb_recipe_group;

typedef enum lb_model_source { LB_MODEL_ZOO = 0, LB_MODEL_CHECKPOINT, LB_MODEL_ONNX } lb_model_source;

typedef struct lb_recipe {
  char name[64];
  /* model */
  lb_model_source source;
  char model_path[LB_PATH_MAX]; /* checkpoint or onnx file */
  lb_train_config fp32;         /* zoo: the float training recipe (defaults + "train" overrides) */
  int has_norm;                 /* "normalize" given: mean/std override the model's */
  float norm_mean[4], norm_std[4];
  char data[256];
  /* run settings */
  int limit_train, limit_test; /* 0 = whole split */
  int threads;                 /* 0 = all cores */
  uint64_t seeds[LB_RECIPE_MAX_LIST];
  int n_seeds;
  int epochs;                  /* QAT fine-tuning epochs */
  float lr, wd;
  int batch;                   /* QAT batch; 0 = the float recipe's */
  int calib;                   /* calibration images */
  char w_observer[16];
  lb_recipe_group groups[LB_RECIPE_MAX_GROUPS];
  int n_groups;
} lb_recipe;

/* Parse and check a recipe. Errors name the file, the key path ("matrix[1].bits[0].w") and the
 * problem (unknown key, wrong type, bad value, missing key). */
lb_status lb_recipe_load(const char *path, lb_recipe *r);
lb_status lb_recipe_parse(const char *text, const char *source, lb_recipe *r);

/* One cell of the matrix. */
typedef struct lb_cell {
  char method[16];
  char observer[16]; /* ptq: the activation observer; QAT: "" */
  int w, a;
  char backend[32];
  char bn_fold[16];
  uint64_t seed;
} lb_cell;

/* The cells in run order (seed, group, method, bits, backend). Returns the count; cells may be
 * NULL to count only; at most cap are written. */
int lb_recipe_cells(const lb_recipe *r, lb_cell *cells, int cap);
/* "lsq|W4A4|academic|none|seed 1": the identity of a cell inside a recipe. */
void lb_cell_key(const lb_cell *c, char *buf, size_t cap);
int lb_cell_is_qat(const lb_cell *c);

/* ---- results: one JSON object per line ---------------------------------------------------- */
typedef struct lb_result {
  char recipe[64], model[LB_NAME_MAX], data[256];
  lb_cell cell;
  /* settings the cell ran with (a resumed run refuses a file made with other settings) */
  int epochs, calib, limit_train, limit_test;
  double lr;
  char fp32_id[24];      /* identifies the float model (hash of how it was made) */
  /* measurements */
  double fp32_acc, sim_acc;
  int has_int_acc;       /* 0: int_acc is null and int_note says why */
  double int_acc;
  char int_note[640];  /* "no integer program: " + a whole lb_last_error() message */
  double drop;           /* fp32_acc - sim_acc (positive: accuracy lost) */
  int64_t size_bytes, fp32_size_bytes;
  double bops, fp32_bops;
  double train_s;
  int threads, cores;
  char commit[64], machine[128];
  int n_curve;           /* per-epoch test accuracy of QAT (0 for ptq) */
  double curve[LB_CURVE_MAX];
} lb_result;

typedef struct lb_results {
  lb_result *r;
  int n, cap;
  size_t good_len;       /* bytes of the file up to the end of the last complete line */
  int torn_tail;         /* the last line had no newline (a write cut short) and was left out */
} lb_results;

/* Read a results file. A missing file is an empty set. Every complete line must be a valid
 * record: errors name the path and line number and the key at fault. A last line without its
 * newline is a write cut short: with allow_torn it is left out (torn_tail = 1), else an error. */
lb_status lb_results_load(const char *path, int allow_torn, lb_results *out);
void lb_results_free(lb_results *res);
lb_status lb_results_push(lb_results *res, const lb_result *r);
/* One line of JSON, newline-terminated (malloc'ed). */
lb_status lb_result_to_json(const lb_result *r, char **line);
/* Parse one line; errors name the key (the caller adds the line number). */
lb_status lb_result_from_json(const char *line, lb_result *r);
/* Append one record to path with a single write, then fsync. */
lb_status lb_results_append(const char *path, const lb_result *r);
/* Cut a file to len bytes (dropping a torn last line before appending). */
lb_status lb_results_truncate(const char *path, size_t len);

/* ---- summaries: mean and standard deviation over seeds ------------------------------------ */
typedef struct lb_summary_row {
  char recipe[64], model[LB_NAME_MAX], data[256];
  char method[16], observer[16], backend[32], bn_fold[16];
  int w, a;
  int n;                         /* seeds */
  double fp32_mean, sim_mean, sim_std, int_mean, int_std, drop_mean;
  int n_int;                     /* cells with an integer accuracy */
  int64_t size_bytes;
  double bops;
  const lb_result *first;        /* the first record of the row (borrowed from the results) */
} lb_summary_row;

/* Rows in first-appearance order of (recipe, model, data, method, observer, w, a, backend,
 * bn_fold); std is the sample standard deviation (0 for one seed). rows is malloc'ed. */
lb_status lb_summarize(const lb_results *res, lb_summary_row **rows, int *n_rows);
/* "93.21 ± 0.12" (percent) into buf. */
char *lb_fmt_mean_std(double mean, double std, int n, char *buf, size_t cap);

/* ---- the bench run ------------------------------------------------------------------------ */
typedef struct lb_bench_events {
  void *user;
  void (*warn)(const char *msg, void *user);
  /* a cell starts (index of total, already-finished cells are reported with skipped = 1) */
  void (*cell_begin)(const lb_cell *c, int index, int total, int skipped, void *user);
  void (*cell_end)(const lb_result *r, int index, int total, void *user);
  void (*epoch)(const lb_epoch_stats *s, void *user); /* float training and QAT epochs */
  void (*note)(const char *msg, void *user);          /* phases: float model, calibration */
} lb_bench_events;

typedef struct lb_bench_options {
  int max_cells;                 /* > 0: stop after running this many cells (tests, partial runs) */
  const volatile int *stop_flag; /* checked between cells and epochs */
} lb_bench_options;

/* Where the float model of a recipe is cached: "<results>.fp32-<id>.lbm" beside the results. */
void lb_bench_fp32_cache_path(const lb_recipe *r, const char *results_path, char *buf, size_t cap);
/* Run every cell of r that results_path does not hold yet, appending one line per cell.
 * *ran receives the number of cells run now, *done the cells finished in total. Returns
 * LB_ERR_INTERRUPTED if stop_flag or max_cells ended it early. */
lb_status lb_bench_run(const lb_recipe *r, const char *results_path, const lb_bench_options *opt,
                       const lb_bench_events *ev, int *ran, int *done);

/* ---- measures ------------------------------------------------------------------------------ */
/* Bytes to deploy g: each conv/linear weight at its quantizer's width (32 bits when float), plus
 * per output channel a 32-bit bias (BN folded) and a 32-bit scale per weight scale. */
int64_t lb_model_size_bytes(const lb_graph *g);
/* BOPs per sample: sum over conv/linear of MACs x weight bits x input activation bits (32 for
 * float). */
double lb_model_bops(const lb_graph *g);
/* CPU model name (from /proc/cpuinfo) and online cores. */
void lb_machine_info(char *buf, size_t cap, int *cores);
/* The commit the program was built from: LOWBIT_GIT_COMMIT (compile-time define, else the
 * environment variable), else "unknown". */
const char *lb_git_commit(void);

/* ---- report -------------------------------------------------------------------------------- */
/* Write dir/results.md and dir/report.html (self-contained: inline CSS and SVG, no scripts).
 * The directory is created if missing. */
lb_status lb_report_write(const lb_results *res, const char *dir);
/* The Markdown and HTML texts themselves (malloc'ed, NUL-terminated). */
lb_status lb_report_markdown(const lb_results *res, char **text);
lb_status lb_report_html(const lb_results *res, char **text);

#ifdef __cplusplus
}
#endif
#endif
