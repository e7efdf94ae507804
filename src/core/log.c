/* Logging through a user callback; silent by default. */
#include "lowbit/core.h"

#include <stdarg.h>
#include <stdio.h>

static lb_log_fn log_fn;
static void *log_user;

void lb_log_set_callback(lb_log_fn fn, void *user) {
  log_fn = fn;
  log_user = user;
}

void lb_log(lb_log_level level, const char *fmt, ...) {
  if (!log_fn) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  log_fn(level, msg, log_user);
}
