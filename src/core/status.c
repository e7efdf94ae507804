/* Status codes and the per-thread error detail behind them. */
#include "lowbit/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[512];

const char *lb_status_str(lb_status s) {
  switch (s) {
  case LB_OK: return "ok";
  case LB_ERR_ARG: return "invalid argument";
  case LB_ERR_NOMEM: return "out of memory";
  case LB_ERR_IO: return "input/output error";
  case LB_ERR_FORMAT: return "malformed file";
  case LB_ERR_CHECKSUM: return "checksum mismatch";
  case LB_ERR_VERSION: return "unsupported version";
  case LB_ERR_SHAPE: return "shape mismatch";
  case LB_ERR_NOT_FOUND: return "not found";
  case LB_ERR_UNSUPPORTED: return "not supported";
  case LB_ERR_STATE: return "invalid state";
  case LB_ERR_INTERRUPTED: return "interrupted";
  case LB_STATUS_COUNT: break;
  }
  return "unknown status";
}

/* Formats into a scratch buffer first: callers often pass lb_last_error() itself as an
 * argument to prefix it ("node 'x': %s"), and vsnprintf must not read the buffer it writes. */
lb_status lb_fail(lb_status s, const char *fmt, ...) {
  static _Thread_local char scratch[sizeof last_error];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(scratch, sizeof scratch, fmt, ap);
  va_end(ap);
  memcpy(last_error, scratch, sizeof last_error);
  return s;
}

const char *lb_last_error(void) { return last_error; }

void lb_clear_error(void) { last_error[0] = '\0'; }
