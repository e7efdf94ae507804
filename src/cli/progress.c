#include "cli/progress.h"

#include <unistd.h>

#include "lowbit/core.h"

void lb_progress_begin(lb_progress *p, FILE *out, int quiet, const char *label, long total) {
  p->out = out;
  p->tty = isatty(fileno(out));
  p->quiet = quiet;
  p->start = p->last_print = lb_now();
  p->label = label;
  p->total = total > 0 ? total : 1;
}

static void fmt_time(double s, char *buf, size_t cap) {
  long t = (long)(s + 0.5);
  if (t >= 3600) snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

void lb_progress_update(lb_progress *p, long done, const char *extra) {
  if (p->quiet) return;
  double now = lb_now();
  double elapsed = now - p->start;
  /* a terminal is redrawn at most 10 times a second; a log gets a line every 15 s */
  double every = p->tty ? 0.1 : 15.0;
  if (now - p->last_print < every && done < p->total) return;
  p->last_print = now;
  char eta[32], el[32];
  double rate = elapsed > 0 ? done / elapsed : 0;
  fmt_time(rate > 0 ? (p->total - done) / rate : 0, eta, sizeof eta);
  fmt_time(elapsed, el, sizeof el);
  int pct = (int)(100.0 * done / p->total);
  if (p->tty) {
    enum { W = 24 };
    char bar[W + 1];
    int fill = (int)((long)W * done / p->total);
    for (int i = 0; i < W; i++) bar[i] = i < fill ? '#' : '.';
    bar[W] = '\0';
    fprintf(p->out, "\r%s [%s] %3d%% %ld/%ld %s elapsed %s eta %s \033[K", p->label, bar, pct, done, p->total,
            extra ? extra : "", el, eta);
  } else {
    fprintf(p->out, "%s %3d%% %ld/%ld %s elapsed %s eta %s\n", p->label, pct, done, p->total, extra ? extra : "", el, eta);
  }
  fflush(p->out);
}

void lb_progress_end(lb_progress *p) {
  if (p->quiet) return;
  if (p->tty) fprintf(p->out, "\r\033[K");
  fflush(p->out);
}
