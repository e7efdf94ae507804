/* Progress display: a redrawn bar on a terminal, plain periodic lines otherwise (logs, CI). */
#ifndef LOWBIT_CLI_PROGRESS_H
#define LOWBIT_CLI_PROGRESS_H

#include <stdio.h>

typedef struct lb_progress {
  FILE *out;
  int tty;
  int quiet;
  double start;       /* of the current phase */
  double last_print;
  const char *label;
  long total;
} lb_progress;

void lb_progress_begin(lb_progress *p, FILE *out, int quiet, const char *label, long total);
/* done of total units; extra: short text like "loss 0.412 lr 0.0931". */
void lb_progress_update(lb_progress *p, long done, const char *extra);
/* Finish the bar (newline on a terminal). */
void lb_progress_end(lb_progress *p);

#endif
