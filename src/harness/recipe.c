/* Bench recipes: JSON parsed with cJSON and checked key by key, so a typo or a wrong type is
 * reported with the key's path instead of silently falling back to a default. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/harness_internal.h"
#include "lowbit/qgraph.h"

typedef struct rctx {
  const char *src;
} rctx;

#define BAD(c, path, ...) bad_value((c), (path), __VA_ARGS__)

static lb_status bad_value(const rctx *c, const char *path, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static lb_status bad_value(const rctx *c, const char *path, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return lb_fail(LB_ERR_FORMAT, "%s: %s: %s", c->src, path, msg);
}

static lb_status wrong_type(const rctx *c, const char *path, const char *want, const cJSON *v) {
  return BAD(c, path, "must be %s, not %s", want, lb_json_type_name(v));
}

static void subpath(char *buf, size_t cap, const char *parent, const char *key) {
  if (parent[0]) snprintf(buf, cap, "%s.%s", parent, key);
  else snprintf(buf, cap, "%s", key);
}

/* An integer in [lo, hi]. Absent: *out untouched, or an error if required. */
static lb_status get_int(const rctx *c, const cJSON *obj, const char *parent, const char *key, long lo, long hi,
                         int required, long *out) {
  char path[128];
  subpath(path, sizeof path, parent, key);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return required ? BAD(c, path, "missing (required)") : LB_OK;
  if (!cJSON_IsNumber(v)) return wrong_type(c, path, "an integer", v);
  double d = v->valuedouble;
  if (d != floor(d)) return BAD(c, path, "must be an integer, got %g", d);
  if (d < (double)lo || d > (double)hi) return BAD(c, path, "must be in %ld..%ld, got %.0f", lo, hi, d);
  *out = (long)d;
  return LB_OK;
}

static lb_status get_int32(const rctx *c, const cJSON *obj, const char *parent, const char *key, long lo, long hi,
                           int required, int *out) {
  long v = *out;
  lb_status s = get_int(c, obj, parent, key, lo, hi, required, &v);
  if (!s) *out = (int)v;
  return s;
}

/* A number in (lo, hi] (lo_open) or [lo, hi]. */
static lb_status get_float(const rctx *c, const cJSON *obj, const char *parent, const char *key, double lo, int lo_open,
                           double hi, float *out) {
  char path[128];
  subpath(path, sizeof path, parent, key);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return LB_OK;
  if (!cJSON_IsNumber(v)) return wrong_type(c, path, "a number", v);
  double d = v->valuedouble;
  if (!isfinite(d) || (lo_open ? d <= lo : d < lo) || d > hi)
    return BAD(c, path, "must be in %s%g, %g], got %g", lo_open ? "(" : "[", lo, hi, d);
  *out = (float)d;
  return LB_OK;
}

static lb_status get_str(const rctx *c, const cJSON *obj, const char *parent, const char *key, int required, char *out,
                         size_t cap) {
  char path[128];
  subpath(path, sizeof path, parent, key);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return required ? BAD(c, path, "missing (required)") : LB_OK;
  if (!cJSON_IsString(v)) return wrong_type(c, path, "a string", v);
  if (!v->valuestring[0]) return BAD(c, path, "must not be empty");
  if (strlen(v->valuestring) >= cap) return BAD(c, path, "too long (at most %zu characters)", cap - 1);
  snprintf(out, cap, "%s", v->valuestring);
  return LB_OK;
}

/* A non-empty array of at most LB_RECIPE_MAX_LIST items. */
static lb_status get_array(const rctx *c, const cJSON *obj, const char *parent, const char *key, int required,
                           const cJSON **arr, int *n) {
  char path[128];
  subpath(path, sizeof path, parent, key);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  *arr = NULL;
  *n = 0;
  if (!v) return required ? BAD(c, path, "missing (required)") : LB_OK;
  if (!cJSON_IsArray(v)) return wrong_type(c, path, "an array", v);
  int count = cJSON_GetArraySize(v);
  if (count < 1) return BAD(c, path, "must not be empty");
  if (count > LB_RECIPE_MAX_LIST) return BAD(c, path, "at most %d entries, got %d", LB_RECIPE_MAX_LIST, count);
  *arr = v;
  *n = count;
  return LB_OK;
}

static const char *const qat_methods[] = {"lsq", "lsq+", "pact", "dorefa", "ste", NULL};

static int method_known(const char *m) {
  if (!strcmp(m, "ptq")) return 1;
  for (int i = 0; qat_methods[i]; i++)
    if (!strcmp(qat_methods[i], m)) return 1;
  return 0;
}

static int backend_known(const char *name) { return lb_backend_find(name) != NULL; }

/* A required list of names, each accepted by ok(), into rows of `width` characters. */
static lb_status get_names(const rctx *c, const cJSON *g, const char *where, const char *key, int (*ok)(const char *),
                           const char *what, const char *hint, char *out, size_t width, int *n) {
  const cJSON *arr;
  lb_status s = get_array(c, g, where, key, 1, &arr, n);
  for (int i = 0; !s && i < *n; i++) {
    const cJSON *v = cJSON_GetArrayItem(arr, i);
    char path[128];
    snprintf(path, sizeof path, "%s%s%s[%d]", where, where[0] ? "." : "", key, i);
    if (!cJSON_IsString(v)) s = wrong_type(c, path, "a string", v);
    else if (!ok(v->valuestring)) s = BAD(c, path, "unknown %s '%s' (%s)", what, v->valuestring, hint);
    else if (strlen(v->valuestring) >= width) s = BAD(c, path, "too long");
    else snprintf(out + (size_t)i * width, width, "%s", v->valuestring);
  }
  return s;
}

static lb_status parse_group(const rctx *c, const cJSON *g, const char *where, const lb_recipe_group *defaults,
                             lb_recipe_group *out) {
  static const char *const known[] = {"methods", "bits", "backends", "bn_fold", "observer", NULL};
  lb_status s = lb_json_known_keys(g, known, c->src, where[0] ? where : "the recipe");
  if (s) return s;
  *out = *defaults;
  char path[128];
  const cJSON *arr;
  int n;
  s = get_names(c, g, where, "methods", method_known, "method", "lsq, lsq+, pact, dorefa, ste, ptq", out->methods[0],
                sizeof out->methods[0], &out->n_methods);
  if (s) return s;
  s = get_array(c, g, where, "bits", 1, &arr, &n);
  if (s) return s;
  out->n_bits = n;
  for (int i = 0; i < n; i++) {
    const cJSON *v = cJSON_GetArrayItem(arr, i);
    snprintf(path, sizeof path, "%s%sbits[%d]", where, where[0] ? "." : "", i);
    if (!cJSON_IsObject(v)) return wrong_type(c, path, "an object {\"w\": bits, \"a\": bits}", v);
    static const char *const bk[] = {"w", "a", NULL};
    s = lb_json_known_keys(v, bk, c->src, path);
    if (!s) s = get_int32(c, v, path, "w", 1, 16, 1, &out->bits[i].w);
    if (!s) s = get_int32(c, v, path, "a", 1, 16, 1, &out->bits[i].a);
    if (s) return s;
  }
  s = get_names(c, g, where, "backends", backend_known, "backend", "lowbit backends lists them", out->backends[0],
                sizeof out->backends[0], &out->n_backends);
  if (s) return s;
  s = get_str(c, g, where, "bn_fold", 0, out->bn_fold, sizeof out->bn_fold);
  if (!s) s = get_str(c, g, where, "observer", 0, out->observer, sizeof out->observer);
  if (s) return s;
  lb_bn_fold f;
  snprintf(path, sizeof path, "%s%sbn_fold", where, where[0] ? "." : "");
  if (lb_bn_fold_parse(out->bn_fold, &f)) return BAD(c, path, "unknown BN folding '%s' (none, merge, freeze, fold)", out->bn_fold);
  lb_observer_kind k;
  snprintf(path, sizeof path, "%s%sobserver", where, where[0] ? "." : "");
  if (lb_observer_kind_parse(out->observer, &k))
    return BAD(c, path, "unknown observer '%s' (minmax, ema, percentile, mse, kl, lsq)", out->observer);
  /* backend rules that need no graph: fixed-width backends and the log grid */
  for (int b = 0; b < out->n_backends; b++) {
    const lb_backend *be = lb_backend_find(out->backends[b]);
    for (int i = 0; i < out->n_bits; i++)
      if (be->fixed_bits && (out->bits[i].w != be->fixed_bits || out->bits[i].a != be->fixed_bits))
        return BAD(c, where[0] ? where : "bits", "backend %s runs %d-bit only, so W%dA%d cannot run on it; put the %d-bit "
                   "backend comparison in a matrix group of its own", be->name, be->fixed_bits, out->bits[i].w,
                   out->bits[i].a, be->fixed_bits);
    for (int m = 0; m < out->n_methods; m++)
      if (be->log_grid && strcmp(out->methods[m], "ptq") && strcmp(out->methods[m], "ste"))
        return BAD(c, where[0] ? where : "methods", "backend %s uses its own log quantizer: methods ptq or ste only, not %s",
                   be->name, out->methods[m]);
  }
  return LB_OK;
}

static lb_status parse_model(const rctx *c, const cJSON *m, lb_recipe *r) {
  if (!m) return BAD(c, "model", "missing (required): {\"zoo\": NAME} or {\"checkpoint\": FILE.lbm} or {\"onnx\": FILE}");
  if (!cJSON_IsObject(m)) return wrong_type(c, "model", "an object", m);
  static const char *const known[] = {"zoo", "train", "checkpoint", "onnx", "normalize", NULL};
  lb_status s = lb_json_known_keys(m, known, c->src, "model");
  if (s) return s;
  const cJSON *zoo = cJSON_GetObjectItemCaseSensitive(m, "zoo");
  const cJSON *ck = cJSON_GetObjectItemCaseSensitive(m, "checkpoint");
  const cJSON *ox = cJSON_GetObjectItemCaseSensitive(m, "onnx");
  if (!!zoo + !!ck + !!ox != 1) return BAD(c, "model", "give exactly one of zoo, checkpoint, onnx");
  if (zoo) {
    char name[LB_NAME_MAX] = "";
    s = get_str(c, m, "model", "zoo", 1, name, sizeof name);
    if (s) return s;
    if (lb_train_config_default(&r->fp32, name)) return BAD(c, "model.zoo", "%s", lb_last_error());
    r->source = LB_MODEL_ZOO;
  } else {
    s = get_str(c, m, "model", ck ? "checkpoint" : "onnx", 1, r->model_path, sizeof r->model_path);
    if (s) return s;
    r->source = ck ? LB_MODEL_CHECKPOINT : LB_MODEL_ONNX;
    if (cJSON_GetObjectItemCaseSensitive(m, "train")) return BAD(c, "model.train", "only with a zoo model (a given model is not trained)");
  }
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, "train");
  if (t) {
    if (!cJSON_IsObject(t)) return wrong_type(c, "model.train", "an object", t);
    static const char *const tk[] = {"epochs", "lr", "batch", "seed", "wd", NULL};
    s = lb_json_known_keys(t, tk, c->src, "model.train");
    long seed = (long)r->fp32.seed;
    if (!s) s = get_int32(c, t, "model.train", "epochs", 1, LB_CURVE_MAX, 0, &r->fp32.epochs);
    if (!s) s = get_float(c, t, "model.train", "lr", 0, 1, 100, &r->fp32.lr);
    if (!s) s = get_int32(c, t, "model.train", "batch", 1, 65536, 0, &r->fp32.batch);
    if (!s) s = get_int(c, t, "model.train", "seed", 0, 2147483647L, 0, &seed);
    if (!s) s = get_float(c, t, "model.train", "wd", 0, 0, 0.999, &r->fp32.optim.weight_decay);
    if (s) return s;
    r->fp32.seed = (uint64_t)seed;
  }
  const cJSON *nm = cJSON_GetObjectItemCaseSensitive(m, "normalize");
  if (nm) {
    if (!cJSON_IsObject(nm)) return wrong_type(c, "model.normalize", "an object {\"mean\": [...], \"std\": [...]}", nm);
    static const char *const nk[] = {"mean", "std", NULL};
    s = lb_json_known_keys(nm, nk, c->src, "model.normalize");
    if (s) return s;
    for (int which = 0; which < 2; which++) {
      const char *key = which ? "std" : "mean";
      char path[64];
      snprintf(path, sizeof path, "model.normalize.%s", key);
      const cJSON *a = cJSON_GetObjectItemCaseSensitive(nm, key);
      if (!a) return BAD(c, path, "missing (required)");
      if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 1 || cJSON_GetArraySize(a) > 4)
        return BAD(c, path, "must be an array of 1 to 4 numbers (one per channel)");
      for (int i = 0; i < cJSON_GetArraySize(a); i++) {
        const cJSON *v = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || (which && v->valuedouble <= 0))
          return BAD(c, path, "entry %d must be a %snumber", i, which ? "positive " : "");
        (which ? r->norm_std : r->norm_mean)[i] = (float)v->valuedouble;
      }
    }
    r->has_norm = 1;
  } else if (r->source == LB_MODEL_ONNX) {
    return BAD(c, "model.normalize", "missing: an ONNX model does not say how its inputs were normalised");
  }
  return LB_OK;
}

/* Two groups naming the same cell would make the results ambiguous. */
static lb_status check_duplicates(const rctx *c, const lb_recipe *r, int n) {
  lb_cell *cells = malloc((size_t)n * sizeof *cells);
  if (!cells) return lb_fail(LB_ERR_NOMEM, "recipe: out of memory");
  lb_recipe_cells(r, cells, n);
  lb_status s = LB_OK;
  for (int i = 0; i < n && !s; i++)
    for (int j = 0; j < i && !s; j++)
      if (!memcmp(&cells[i], &cells[j], sizeof cells[i])) {
        char key[160];
        lb_cell_key(&cells[i], key, sizeof key);
        s = BAD(c, "matrix", "the cell %s is listed twice", key);
      }
  free(cells);
  return s;
}

lb_status lb_recipe_parse(const char *text, const char *source, lb_recipe *r) {
  rctx c = {source ? source : "recipe"};
  memset(r, 0, sizeof *r);
  cJSON *root = cJSON_Parse(text);
  if (!root) {
    const char *at = cJSON_GetErrorPtr();
    int line = 1;
    if (at)
      for (const char *p = text; p < at && *p; p++) line += *p == '\n';
    return lb_fail(LB_ERR_FORMAT, "%s: not valid JSON (near line %d)", c.src, line);
  }
  lb_status s = LB_OK;
  if (!cJSON_IsObject(root)) {
    s = lb_fail(LB_ERR_FORMAT, "%s: the recipe must be a JSON object, not %s", c.src, lb_json_type_name(root));
    goto done;
  }
  static const char *const known[] = {"name", "description", "model", "data", "methods", "bits", "backends", "bn_fold",
                                      "observer", "w_observer", "matrix", "seeds", "epochs", "lr", "wd", "batch",
                                      "calib", "limit_train", "limit_test", "threads", NULL};
  s = lb_json_known_keys(root, known, c.src, "the recipe");
  if (!s) s = get_str(&c, root, "", "name", 1, r->name, sizeof r->name);
  if (!s) {
    for (const char *p = r->name; *p && !s; p++)
      if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
        s = BAD(&c, "name", "use letters, digits, '-', '_' and '.' only (it names cache files), got '%s'", r->name);
  }
  const cJSON *desc = cJSON_GetObjectItemCaseSensitive(root, "description");
  if (!s && desc && !cJSON_IsString(desc)) s = wrong_type(&c, "description", "a string", desc);
  if (!s) s = parse_model(&c, cJSON_GetObjectItemCaseSensitive(root, "model"), r);
  if (!s) s = get_str(&c, root, "", "data", 1, r->data, sizeof r->data);
  if (s) goto done;
  snprintf(r->fp32.data, sizeof r->fp32.data, "%s", r->data);
  r->epochs = 1;
  r->lr = 0.01f;
  r->wd = 1e-4f;
  r->calib = 256;
  snprintf(r->w_observer, sizeof r->w_observer, "minmax");
  s = get_int32(&c, root, "", "epochs", 1, LB_CURVE_MAX, 0, &r->epochs);
  if (!s) s = get_float(&c, root, "", "lr", 0, 1, 100, &r->lr);
  if (!s) s = get_float(&c, root, "", "wd", 0, 0, 0.999, &r->wd);
  if (!s) s = get_int32(&c, root, "", "batch", 1, 65536, 0, &r->batch);
  if (!s) s = get_int32(&c, root, "", "calib", 1, 1 << 24, 0, &r->calib);
  if (!s) s = get_int32(&c, root, "", "limit_train", 0, 1 << 30, 0, &r->limit_train);
  if (!s) s = get_int32(&c, root, "", "limit_test", 0, 1 << 30, 0, &r->limit_test);
  if (!s) s = get_int32(&c, root, "", "threads", 0, 1024, 0, &r->threads);
  if (!s) s = get_str(&c, root, "", "w_observer", 0, r->w_observer, sizeof r->w_observer);
  lb_observer_kind k;
  if (!s && lb_observer_kind_parse(r->w_observer, &k))
    s = BAD(&c, "w_observer", "unknown observer '%s' (minmax, ema, percentile, mse, kl, lsq)", r->w_observer);
  if (s) goto done;
  const cJSON *seeds;
  s = get_array(&c, root, "", "seeds", 1, &seeds, &r->n_seeds);
  for (int i = 0; !s && i < r->n_seeds; i++) {
    const cJSON *v = cJSON_GetArrayItem(seeds, i);
    char path[32];
    snprintf(path, sizeof path, "seeds[%d]", i);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 || v->valuedouble > 2147483647.0)
      s = BAD(&c, path, "must be an integer in 0..2147483647, got %s", cJSON_IsNumber(v) ? "another number" : lb_json_type_name(v));
    else r->seeds[i] = (uint64_t)v->valuedouble;
    for (int j = 0; !s && j < i; j++)
      if (r->seeds[j] == r->seeds[i]) s = BAD(&c, path, "seed %llu is listed twice", (unsigned long long)r->seeds[i]);
  }
  if (s) goto done;
  /* group defaults come from the top level */
  lb_recipe_group def;
  memset(&def, 0, sizeof def);
  snprintf(def.bn_fold, sizeof def.bn_fold, "none");
  snprintf(def.observer, sizeof def.observer, "minmax");
  s = get_str(&c, root, "", "bn_fold", 0, def.bn_fold, sizeof def.bn_fold);
  if (!s) s = get_str(&c, root, "", "observer", 0, def.observer, sizeof def.observer);
  if (s) goto done;
  const cJSON *matrix = cJSON_GetObjectItemCaseSensitive(root, "matrix");
  int top_lists = cJSON_HasObjectItem(root, "methods") || cJSON_HasObjectItem(root, "bits") || cJSON_HasObjectItem(root, "backends");
  if (matrix && top_lists) {
    s = BAD(&c, "matrix", "give either matrix (a list of groups) or methods/bits/backends at the top level, not both");
  } else if (matrix) {
    if (!cJSON_IsArray(matrix)) s = wrong_type(&c, "matrix", "an array of groups", matrix);
    else if (cJSON_GetArraySize(matrix) < 1 || cJSON_GetArraySize(matrix) > LB_RECIPE_MAX_GROUPS)
      s = BAD(&c, "matrix", "must hold 1 to %d groups", LB_RECIPE_MAX_GROUPS);
    for (int i = 0; !s && i < cJSON_GetArraySize(matrix); i++) {
      char where[32];
      snprintf(where, sizeof where, "matrix[%d]", i);
      const cJSON *g = cJSON_GetArrayItem(matrix, i);
      if (!cJSON_IsObject(g)) s = wrong_type(&c, where, "an object", g);
      else s = parse_group(&c, g, where, &def, &r->groups[r->n_groups++]);
    }
  } else {
    /* the top level is the only group; parse_group would reject the other top-level keys */
    cJSON *g = cJSON_CreateObject();
    if (!g) {
      s = lb_fail(LB_ERR_NOMEM, "recipe: out of memory");
      goto done;
    }
    static const char *const gk[] = {"methods", "bits", "backends", NULL};
    for (int i = 0; gk[i]; i++) {
      cJSON *v = cJSON_GetObjectItemCaseSensitive(root, gk[i]);
      if (v) cJSON_AddItemReferenceToObject(g, gk[i], v);
    }
    s = parse_group(&c, g, "", &def, &r->groups[r->n_groups++]);
    cJSON_Delete(g);
  }
  if (s) goto done;
  int cells = lb_recipe_cells(r, NULL, 0);
  if (cells > 4096) s = BAD(&c, "matrix", "%d cells; at most 4096", cells);
  if (!s) s = check_duplicates(&c, r, cells);
done:
  cJSON_Delete(root);
  if (s) memset(r, 0, sizeof *r);
  return s;
}

lb_status lb_recipe_load(const char *path, lb_recipe *r) {
  uint8_t *data;
  size_t len;
  memset(r, 0, sizeof *r);
  lb_status s = lb_read_file(path, &data, &len);
  if (s) return s;
  char *text = realloc(data, len + 1);
  if (!text) {
    free(data);
    return lb_fail(LB_ERR_NOMEM, "%s: out of memory", path);
  }
  text[len] = '\0';
  if (strlen(text) != len) s = lb_fail(LB_ERR_FORMAT, "%s: holds a NUL byte; a recipe is JSON text", path);
  else s = lb_recipe_parse(text, path, r);
  free(text);
  return s;
}

int lb_cell_is_qat(const lb_cell *c) { return strcmp(c->method, "ptq") != 0; }

int lb_recipe_cells(const lb_recipe *r, lb_cell *cells, int cap) {
  int n = 0;
  /* seed outermost: a partial run (--max-cells, Ctrl-C) finishes a whole table at the first
   * seed before starting the next */
  for (int s = 0; s < r->n_seeds; s++)
    for (int g = 0; g < r->n_groups; g++) {
      const lb_recipe_group *G = &r->groups[g];
      for (int m = 0; m < G->n_methods; m++)
        for (int b = 0; b < G->n_bits; b++)
          for (int k = 0; k < G->n_backends; k++) {
            if (cells && n < cap) {
              lb_cell *c = &cells[n];
              memset(c, 0, sizeof *c);
              snprintf(c->method, sizeof c->method, "%s", G->methods[m]);
              if (!strcmp(G->methods[m], "ptq")) snprintf(c->observer, sizeof c->observer, "%s", G->observer);
              c->w = G->bits[b].w;
              c->a = G->bits[b].a;
              snprintf(c->backend, sizeof c->backend, "%s", G->backends[k]);
              snprintf(c->bn_fold, sizeof c->bn_fold, "%s", G->bn_fold);
              c->seed = r->seeds[s];
            }
            n++;
          }
    }
  return n;
}

void lb_cell_key(const lb_cell *c, char *buf, size_t cap) {
  snprintf(buf, cap, "%s%s%s|W%dA%d|%s|%s|seed %llu", c->method, c->observer[0] ? ":" : "", c->observer, c->w, c->a,
           c->backend, c->bn_fold, (unsigned long long)c->seed);
}
