/* Results files: one JSON object per line, appended with one write and an fsync per finished
 * cell, so a kill leaves at most one torn last line (no newline), which a resumed run drops. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/harness_internal.h"

/* ---- writing --------------------------------------------------------------------------------- */
lb_status lb_result_to_json(const lb_result *r, char **line) {
  *line = NULL;
  cJSON *o = cJSON_CreateObject();
  if (!o) return lb_fail(LB_ERR_NOMEM, "results: out of memory");
  cJSON_AddStringToObject(o, "recipe", r->recipe);
  cJSON_AddStringToObject(o, "model", r->model);
  cJSON_AddStringToObject(o, "data", r->data);
  cJSON_AddStringToObject(o, "method", r->cell.method);
  cJSON_AddStringToObject(o, "observer", r->cell.observer);
  cJSON_AddNumberToObject(o, "w", r->cell.w);
  cJSON_AddNumberToObject(o, "a", r->cell.a);
  cJSON_AddStringToObject(o, "backend", r->cell.backend);
  cJSON_AddStringToObject(o, "bn_fold", r->cell.bn_fold);
  cJSON_AddNumberToObject(o, "seed", (double)r->cell.seed);
  cJSON_AddNumberToObject(o, "epochs", r->epochs);
  cJSON_AddNumberToObject(o, "lr", r->lr);
  cJSON_AddNumberToObject(o, "calib", r->calib);
  cJSON_AddNumberToObject(o, "limit_train", r->limit_train);
  cJSON_AddNumberToObject(o, "limit_test", r->limit_test);
  cJSON_AddStringToObject(o, "fp32_id", r->fp32_id);
  cJSON_AddNumberToObject(o, "fp32_acc", r->fp32_acc);
  cJSON_AddNumberToObject(o, "sim_acc", r->sim_acc);
  if (r->has_int_acc) cJSON_AddNumberToObject(o, "int_acc", r->int_acc);
  else cJSON_AddNullToObject(o, "int_acc");
  cJSON_AddStringToObject(o, "int_note", r->int_note);
  cJSON_AddNumberToObject(o, "drop", r->drop);
  cJSON_AddNumberToObject(o, "size_bytes", (double)r->size_bytes);
  cJSON_AddNumberToObject(o, "fp32_size_bytes", (double)r->fp32_size_bytes);
  cJSON_AddNumberToObject(o, "bops", r->bops);
  cJSON_AddNumberToObject(o, "fp32_bops", r->fp32_bops);
  cJSON_AddNumberToObject(o, "train_s", r->train_s);
  cJSON_AddNumberToObject(o, "threads", r->threads);
  cJSON_AddStringToObject(o, "commit", r->commit);
  cJSON_AddStringToObject(o, "machine", r->machine);
  cJSON_AddNumberToObject(o, "cores", r->cores);
  cJSON *curve = cJSON_AddArrayToObject(o, "curve");
  for (int i = 0; curve && i < r->n_curve; i++) cJSON_AddItemToArray(curve, cJSON_CreateNumber(r->curve[i]));
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!text) return lb_fail(LB_ERR_NOMEM, "results: out of memory");
  size_t n = strlen(text);
  char *out = malloc(n + 2);
  if (!out) {
    cJSON_free(text);
    return lb_fail(LB_ERR_NOMEM, "results: out of memory");
  }
  memcpy(out, text, n);
  out[n] = '\n';
  out[n + 1] = '\0';
  cJSON_free(text);
  *line = out;
  return LB_OK;
}

lb_status lb_results_append(const char *path, const lb_result *r) {
  char *line;
  lb_status s = lb_result_to_json(r, &line);
  if (s) return s;
  size_t len = strlen(line);
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) {
    free(line);
    return lb_fail(LB_ERR_IO, "%s: cannot open for appending: %s", path, strerror(errno));
  }
  size_t done = 0;
  while (done < len) {
    ssize_t w = write(fd, line + done, len - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int e = errno;
      close(fd);
      free(line);
      return lb_fail(LB_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    done += (size_t)w;
  }
  free(line);
  if (fsync(fd) != 0) {
    int e = errno;
    close(fd);
    return lb_fail(LB_ERR_IO, "%s: fsync failed: %s", path, strerror(e));
  }
  if (close(fd) != 0) return lb_fail(LB_ERR_IO, "%s: close failed: %s", path, strerror(errno));
  return LB_OK;
}

lb_status lb_results_truncate(const char *path, size_t len) {
  if (truncate(path, (off_t)len) != 0) return lb_fail(LB_ERR_IO, "%s: cannot truncate: %s", path, strerror(errno));
  return LB_OK;
}

/* ---- reading --------------------------------------------------------------------------------- */
static lb_status need(const cJSON *o, const char *key, int string, const cJSON **v) {
  *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!*v) return lb_fail(LB_ERR_FORMAT, "key '%s' is missing", key);
  if (string ? !cJSON_IsString(*v) : !cJSON_IsNumber(*v))
    return lb_fail(LB_ERR_FORMAT, "key '%s' must be %s, not %s", key, string ? "a string" : "a number",
                   lb_json_type_name(*v));
  return LB_OK;
}

static lb_status take_str(const cJSON *o, const char *key, char *out, size_t cap) {
  const cJSON *v;
  lb_status s = need(o, key, 1, &v);
  if (s) return s;
  if (strlen(v->valuestring) >= cap) return lb_fail(LB_ERR_FORMAT, "key '%s' is too long", key);
  snprintf(out, cap, "%s", v->valuestring);
  return LB_OK;
}

static lb_status take_num(const cJSON *o, const char *key, double lo, double hi, double *out) {
  const cJSON *v;
  lb_status s = need(o, key, 0, &v);
  if (s) return s;
  if (!isfinite(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
    return lb_fail(LB_ERR_FORMAT, "key '%s' = %g is out of range [%g, %g]", key, v->valuedouble, lo, hi);
  *out = v->valuedouble;
  return LB_OK;
}

static lb_status take_int(const cJSON *o, const char *key, double lo, double hi, int64_t *out) {
  double d;
  lb_status s = take_num(o, key, lo, hi, &d);
  if (s) return s;
  if (d != floor(d)) return lb_fail(LB_ERR_FORMAT, "key '%s' = %g must be an integer", key, d);
  *out = (int64_t)d;
  return LB_OK;
}

static lb_status parse_record(const cJSON *o, lb_result *r) {
  if (!cJSON_IsObject(o)) return lb_fail(LB_ERR_FORMAT, "a line must hold a JSON object, not %s", lb_json_type_name(o));
  int64_t w, a, seed, epochs, calib, lt, le, size, fsize, threads, cores;
  lb_status s = take_str(o, "recipe", r->recipe, sizeof r->recipe);
  if (!s) s = take_str(o, "model", r->model, sizeof r->model);
  if (!s) s = take_str(o, "data", r->data, sizeof r->data);
  if (!s) s = take_str(o, "method", r->cell.method, sizeof r->cell.method);
  if (!s) s = take_str(o, "observer", r->cell.observer, sizeof r->cell.observer);
  if (!s) s = take_int(o, "w", 1, 32, &w);
  if (!s) s = take_int(o, "a", 1, 32, &a);
  if (!s) s = take_str(o, "backend", r->cell.backend, sizeof r->cell.backend);
  if (!s) s = take_str(o, "bn_fold", r->cell.bn_fold, sizeof r->cell.bn_fold);
  if (!s) s = take_int(o, "seed", 0, 9007199254740992.0, &seed);
  if (!s) s = take_int(o, "epochs", 0, LB_CURVE_MAX, &epochs);
  if (!s) s = take_num(o, "lr", 0, 100, &r->lr);
  if (!s) s = take_int(o, "calib", 0, 1e12, &calib);
  if (!s) s = take_int(o, "limit_train", 0, 1e12, &lt);
  if (!s) s = take_int(o, "limit_test", 0, 1e12, &le);
  if (!s) s = take_str(o, "fp32_id", r->fp32_id, sizeof r->fp32_id);
  if (!s) s = take_num(o, "fp32_acc", 0, 1, &r->fp32_acc);
  if (!s) s = take_num(o, "sim_acc", 0, 1, &r->sim_acc);
  if (s) return s;
  const cJSON *ia = cJSON_GetObjectItemCaseSensitive(o, "int_acc");
  if (!ia) return lb_fail(LB_ERR_FORMAT, "key 'int_acc' is missing (null when there is none)");
  if (cJSON_IsNull(ia)) {
    r->has_int_acc = 0;
  } else {
    s = take_num(o, "int_acc", 0, 1, &r->int_acc);
    if (s) return s;
    r->has_int_acc = 1;
  }
  s = take_str(o, "int_note", r->int_note, sizeof r->int_note);
  if (!s) s = take_num(o, "drop", -1, 1, &r->drop);
  if (!s) s = take_int(o, "size_bytes", 0, 1e15, &size);
  if (!s) s = take_int(o, "fp32_size_bytes", 0, 1e15, &fsize);
  if (!s) s = take_num(o, "bops", 0, 1e30, &r->bops);
  if (!s) s = take_num(o, "fp32_bops", 0, 1e30, &r->fp32_bops);
  if (!s) s = take_num(o, "train_s", 0, 1e12, &r->train_s);
  if (!s) s = take_int(o, "threads", 0, 1e6, &threads);
  if (!s) s = take_str(o, "commit", r->commit, sizeof r->commit);
  if (!s) s = take_str(o, "machine", r->machine, sizeof r->machine);
  if (!s) s = take_int(o, "cores", 0, 1e6, &cores);
  if (s) return s;
  const cJSON *curve = cJSON_GetObjectItemCaseSensitive(o, "curve");
  if (!curve) return lb_fail(LB_ERR_FORMAT, "key 'curve' is missing");
  if (!cJSON_IsArray(curve) || cJSON_GetArraySize(curve) > LB_CURVE_MAX)
    return lb_fail(LB_ERR_FORMAT, "key 'curve' must be an array of at most %d accuracies", LB_CURVE_MAX);
  r->n_curve = cJSON_GetArraySize(curve);
  for (int i = 0; i < r->n_curve; i++) {
    const cJSON *v = cJSON_GetArrayItem(curve, i);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 1))
      return lb_fail(LB_ERR_FORMAT, "key 'curve' entry %d must be an accuracy in [0, 1]", i);
    r->curve[i] = v->valuedouble;
  }
  r->cell.w = (int)w;
  r->cell.a = (int)a;
  r->cell.seed = (uint64_t)seed;
  r->epochs = (int)epochs;
  r->calib = (int)calib;
  r->limit_train = (int)lt;
  r->limit_test = (int)le;
  r->size_bytes = size;
  r->fp32_size_bytes = fsize;
  r->threads = (int)threads;
  r->cores = (int)cores;
  return LB_OK;
}

lb_status lb_result_from_json(const char *line, lb_result *r) {
  memset(r, 0, sizeof *r);
  cJSON *o = cJSON_Parse(line);
  if (!o) return lb_fail(LB_ERR_FORMAT, "not valid JSON");
  lb_status s = parse_record(o, r);
  cJSON_Delete(o);
  return s;
}

lb_status lb_results_push(lb_results *res, const lb_result *r) {
  if (res->n == res->cap) {
    int cap = res->cap ? 2 * res->cap : 16;
    lb_result *p = realloc(res->r, (size_t)cap * sizeof *p);
    if (!p) return lb_fail(LB_ERR_NOMEM, "results: out of memory");
    res->r = p;
    res->cap = cap;
  }
  res->r[res->n++] = *r;
  return LB_OK;
}

void lb_results_free(lb_results *res) {
  free(res->r);
  memset(res, 0, sizeof *res);
}

lb_status lb_results_load(const char *path, int allow_torn, lb_results *out) {
  memset(out, 0, sizeof *out);
  if (access(path, F_OK) != 0 && errno == ENOENT) return LB_OK;
  uint8_t *data;
  size_t len;
  lb_status s = lb_read_file(path, &data, &len);
  if (s) return s;
  if (memchr(data, '\0', len)) {
    free(data);
    return lb_fail(LB_ERR_FORMAT, "%s: holds a NUL byte; a results file is JSON lines", path);
  }
  char *text = (char *)data;
  size_t pos = 0;
  int line_no = 0;
  lb_result *rec = malloc(sizeof *rec);
  if (!rec) s = lb_fail(LB_ERR_NOMEM, "results: out of memory");
  while (!s && pos < len) {
    line_no++;
    char *nl = memchr(text + pos, '\n', len - pos);
    if (!nl) { /* the last line was cut short */
      if (allow_torn) out->torn_tail = 1;
      else s = lb_fail(LB_ERR_FORMAT, "%s:%d: the last line is incomplete (no newline: a write was cut short)", path, line_no);
      break;
    }
    *nl = '\0';
    const char *line = text + pos;
    pos = (size_t)(nl - text) + 1;
    if (strspn(line, " \t\r") == strlen(line)) {
      s = lb_fail(LB_ERR_FORMAT, "%s:%d: empty line", path, line_no);
      break;
    }
    s = lb_result_from_json(line, rec);
    if (s) {
      char why[512];
      snprintf(why, sizeof why, "%s", lb_last_error());
      s = lb_fail(s, "%s:%d: %s", path, line_no, why);
      break;
    }
    s = lb_results_push(out, rec);
    out->good_len = pos;
  }
  free(rec);
  free(data);
  if (s) lb_results_free(out);
  return s;
}
