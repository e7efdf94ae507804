/* Private helpers of the harness part: text building and JSON key checking. */
#ifndef LOWBIT_HARNESS_INTERNAL_H
#define LOWBIT_HARNESS_INTERNAL_H

#include <cjson/cJSON.h>

#include "lowbit/bytes.h"
#include "lowbit/harness.h"

/* printf onto the end of b (b->oom set on failure); the text stays NUL-terminated. */
void lb_sb_printf(lb_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Append s with the characters HTML gives meaning to (& < > ") escaped. */
void lb_sb_html(lb_buf *b, const char *s);
/* Hand the text over as a malloc'ed string (b is emptied); LB_ERR_NOMEM if an append failed. */
lb_status lb_sb_take(lb_buf *b, char **text);

/* Every key of obj must be one of known (NULL-terminated); the error names where and which. */
lb_status lb_json_known_keys(const cJSON *obj, const char *const *known, const char *src, const char *where);
const char *lb_json_type_name(const cJSON *v);

/* Rows of one (recipe, model, data) of a summary belong to one report block. */
int lb_summary_same_model(const lb_summary_row *a, const lb_summary_row *b);
/* Whether result r belongs to summary row row. */
int lb_summary_row_has(const lb_summary_row *row, const lb_result *r);
/* Whether summary row i is the first of its block. */
int lb_block_first(const lb_summary_row *rows, int i);

/* A report block as a table: rows are (method, observer, bits, BN folding), columns backends,
 * cell[r * n_cols + c] the summary row index or -1. */
typedef struct lb_rtable {
  int n_rows, n_cols;
  int *row_rep;  /* a summary row index naming each table row */
  int *col_rep;  /* a summary row index naming each column (its backend) */
  int *cell;
  int max_n;     /* the most seeds any row of the block has */
} lb_rtable;
lb_status lb_rtable_build(const lb_summary_row *rows, int n, int first, lb_rtable *t);
void lb_rtable_free(lb_rtable *t);
/* The paragraph under a block's heading: fp32 reference, seeds, settings, machine (HTML-escaped
 * when html). */
void lb_block_facts(lb_buf *b, const lb_results *res, const lb_summary_row *first, int html);
/* "92.76 ± 0.10 (-0.47)": mean ± std and the difference to fp32 in points; "n/a" without data.
 * A cell measured on fewer seeds than block_seeds says how many it has, so a mean over two
 * seeds is not read as one over three. */
void lb_cell_text(const lb_summary_row *r, int integer, int block_seeds, char *buf, size_t cap);
/* Why the cells of a block without an integer accuracy have none, one line per distinct reason
 * (the first row naming it). */
void lb_int_notes(lb_buf *b, const lb_summary_row *rows, int n, int first, int html);
/* "lsq", "ptq (mse)" */
void lb_method_label(const lb_summary_row *r, char *buf, size_t cap);

/* Integer accuracy of a calibrated quantized graph on test (int_eval.c). A graph that cannot be
 * lowered (LB_ERR_UNSUPPORTED) is not an error: *note says why and *acc stays 0; on success
 * *note names the engine. */
lb_status lb_harness_int_accuracy(const lb_graph *qg, const char *backend, const lb_dataset *test,
                                  const lb_augment *norm, double *acc, char *note, size_t note_cap);

/* Integer accuracy of a calibrated quantized graph on test (int_eval.c). A graph that cannot be
 * lowered (LB_ERR_UNSUPPORTED) is not an error: *note says why and *acc stays 0; on success
 * *note names the engine. */
lb_status lb_harness_int_accuracy(const lb_graph *qg, const char *backend, const lb_dataset *test,
                                  const lb_augment *norm, double *acc, char *note, size_t note_cap);

#endif
