/* The .lbm model file: graph, parameters and tagged sections owned by other parts, with a
 * CRC-32 over everything. Loading re-runs shape inference on every node, so a file can never
 * describe a graph the library would not build itself. */
#include <stdlib.h>
#include <string.h>

#include "lowbit/bytes.h"
#include "lowbit/graph.h"

static const char LBM_MAGIC[8] = {'L', 'O', 'W', 'B', 'I', 'T', 'M', '\n'};
#define OP_NAME_W 32
#define MAX_SECTIONS 64

static void put_shape(lb_buf *b, const lb_shape *s) {
  lb_buf_u32(b, (uint32_t)s->ndim);
  for (int i = 0; i < LB_MAX_DIMS; i++) lb_buf_i64(b, i < s->ndim ? s->d[i] : 0);
}

static int get_shape(lb_reader *r, lb_shape *s) {
  uint32_t nd = lb_get_u32(r);
  s->ndim = (int)nd;
  for (int i = 0; i < LB_MAX_DIMS; i++) s->d[i] = lb_get_i64(r);
  if (nd > LB_MAX_DIMS) return 0;
  for (int i = 0; i < s->ndim; i++)
    if (s->d[i] <= 0 || s->d[i] > (1LL << 31)) return 0;
  return !r->overrun;
}

static void put_graph(lb_buf *b, const lb_graph *g) {
  lb_buf_str(b, g->model, LB_NAME_MAX);
  lb_buf_u32(b, (uint32_t)g->n_nodes);
  lb_buf_u32(b, (uint32_t)g->output);
  put_shape(b, &g->nodes[0].shape);
  for (int i = 1; i < g->n_nodes; i++) {
    const lb_node *n = &g->nodes[i];
    lb_buf_str(b, n->op->name, OP_NAME_W);
    lb_buf_str(b, n->name, LB_NAME_MAX);
    lb_buf_u32(b, (uint32_t)n->n_inputs);
    for (int j = 0; j < LB_NODE_MAX_INPUTS; j++) lb_buf_i32(b, j < n->n_inputs ? n->inputs[j] : -1);
    for (int j = 0; j < LB_NODE_IATTRS; j++) lb_buf_i32(b, n->ia[j]);
    for (int j = 0; j < LB_NODE_FATTRS; j++) lb_buf_f32(b, n->fa[j]);
  }
}

static void put_params(lb_buf *b, const lb_graph *g) {
  lb_buf_u32(b, (uint32_t)g->n_params);
  for (int i = 0; i < g->n_params; i++) {
    lb_buf_str(b, g->params[i].name, LB_PARAM_NAME_MAX);
    put_shape(b, &g->params[i].shape);
  }
  for (int i = 0; i < g->n_params; i++)
    lb_buf_put(b, g->values + g->params[i].offset, (size_t)g->params[i].numel * sizeof(float));
}

static void put_section(lb_buf *out, const char *tag, const void *data, uint64_t len) {
  lb_buf_str(out, tag, 16);
  lb_buf_u64(out, len);
  lb_buf_put(out, data, (size_t)len);
}

lb_status lb_lbm_save(const char *path, const lb_graph *g, const lb_section *extra, int n_extra) {
  if (!g->values) return lb_fail(LB_ERR_STATE, "%s: graph has no parameter values to save", path);
  if (n_extra < 0 || n_extra + 2 > MAX_SECTIONS) return lb_fail(LB_ERR_ARG, "%s: too many sections", path);
  lb_buf graph = {0}, params = {0}, out = {0};
  put_graph(&graph, g);
  put_params(&params, g);
  lb_buf_put(&out, LBM_MAGIC, 8);
  lb_buf_u32(&out, LB_LBM_VERSION);
  lb_buf_u32(&out, (uint32_t)(2 + n_extra));
  put_section(&out, "graph", graph.data, graph.len);
  put_section(&out, "params", params.data, params.len);
  for (int i = 0; i < n_extra; i++) put_section(&out, extra[i].tag, extra[i].data, extra[i].len);
  lb_buf_u32(&out, lb_crc32(0, out.data, out.len));
  lb_status s = (graph.oom || params.oom || out.oom) ? lb_fail(LB_ERR_NOMEM, "%s: out of memory while serialising", path)
                                                     : lb_write_file_atomic(path, out.data, out.len);
  lb_buf_free(&graph);
  lb_buf_free(&params);
  lb_buf_free(&out);
  return s;
}

/* Rebuild the graph node by node from its section; every node goes through shape inference. */
static lb_status read_graph(const char *path, lb_reader *r, lb_graph **out) {
  char model[LB_NAME_MAX];
  if (!lb_get_str(r, model, sizeof model)) return lb_fail(LB_ERR_FORMAT, "%s: graph section: bad model name", path);
  uint32_t n_nodes = lb_get_u32(r), output = lb_get_u32(r);
  lb_shape in;
  if (!get_shape(r, &in)) return lb_fail(LB_ERR_FORMAT, "%s: graph section: bad input shape", path);
  if (n_nodes < 1 || n_nodes > 100000 || output >= n_nodes)
    return lb_fail(LB_ERR_FORMAT, "%s: graph section: %u nodes, output %u: inconsistent", path, n_nodes, output);
  lb_graph *g;
  lb_status s = lb_graph_create(&g, model, in);
  if (s) return lb_fail(s, "%s: %s", path, lb_last_error());
  for (uint32_t i = 1; i < n_nodes && !s; i++) {
    char op[OP_NAME_W], name[LB_NAME_MAX];
    int inputs[LB_NODE_MAX_INPUTS], ia[LB_NODE_IATTRS];
    float fa[LB_NODE_FATTRS];
    int ok = lb_get_str(r, op, sizeof op) & lb_get_str(r, name, sizeof name);
    uint32_t n_in = lb_get_u32(r);
    for (int j = 0; j < LB_NODE_MAX_INPUTS; j++) inputs[j] = lb_get_i32(r);
    for (int j = 0; j < LB_NODE_IATTRS; j++) ia[j] = lb_get_i32(r);
    for (int j = 0; j < LB_NODE_FATTRS; j++) fa[j] = lb_get_f32(r);
    if (!ok || r->overrun || n_in > LB_NODE_MAX_INPUTS) {
      s = lb_fail(LB_ERR_FORMAT, "%s: graph section: node %u is malformed", path, i);
      break;
    }
    for (uint32_t j = 0; j < n_in; j++)
      if (inputs[j] < 0 || (uint32_t)inputs[j] >= i) {
        s = lb_fail(LB_ERR_FORMAT, "%s: node '%s' reads node %d, which does not precede it", path, name, inputs[j]);
        break;
      }
    if (s) break;
    if (!lb_op_find(op)) {
      s = lb_fail(LB_ERR_UNSUPPORTED, "%s: node '%s' uses op '%s', unknown to this build", path, name, op);
      break;
    }
    s = lb_graph_add(g, op, name, inputs, (int)n_in, ia, LB_NODE_IATTRS, fa, LB_NODE_FATTRS, NULL);
    if (s) s = lb_fail(LB_ERR_FORMAT, "%s: %s", path, lb_last_error());
  }
  if (!s && lb_reader_left(r) != 0) s = lb_fail(LB_ERR_FORMAT, "%s: graph section has trailing bytes", path);
  if (s) {
    lb_graph_free(g);
    return s;
  }
  g->output = (int)output;
  *out = g;
  return LB_OK;
}

static lb_status read_params(const char *path, lb_reader *r, lb_graph *g) {
  uint32_t n = lb_get_u32(r);
  if (n != (uint32_t)g->n_params)
    return lb_fail(LB_ERR_FORMAT, "%s: %u parameters stored, the graph declares %d", path, n, g->n_params);
  for (int i = 0; i < g->n_params; i++) {
    char name[LB_PARAM_NAME_MAX];
    lb_shape s;
    int ok = lb_get_str(r, name, sizeof name);
    ok &= get_shape(r, &s);
    if (!ok) return lb_fail(LB_ERR_FORMAT, "%s: parameter table entry %d is malformed", path, i);
    if (strcmp(name, g->params[i].name) || !lb_shape_equal(&s, &g->params[i].shape))
      return lb_fail(LB_ERR_FORMAT, "%s: parameter %d is '%s', the graph expects '%s' with another shape", path, i, name,
                     g->params[i].name);
  }
  lb_status st = lb_graph_alloc_values(g);
  if (st) return st;
  for (int i = 0; i < g->n_params; i++)
    if (!lb_get(r, g->values + g->params[i].offset, (size_t)g->params[i].numel * sizeof(float)))
      return lb_fail(LB_ERR_FORMAT, "%s: parameter data truncated at '%s'", path, g->params[i].name);
  if (lb_reader_left(r) != 0) return lb_fail(LB_ERR_FORMAT, "%s: parameter section has trailing bytes", path);
  return LB_OK;
}

lb_status lb_lbm_load(const char *path, lb_graph **g_out, lb_section **extra, int *n_extra) {
  *g_out = NULL;
  if (extra) *extra = NULL;
  if (n_extra) *n_extra = 0;
  uint8_t *data;
  size_t len;
  lb_status s = lb_read_file(path, &data, &len);
  if (s) return s;
  s = lb_lbm_load_bytes(data, len, path, g_out, extra, n_extra);
  free(data);
  return s;
}

lb_status lb_lbm_load_bytes(const uint8_t *data, size_t len, const char *path, lb_graph **g_out, lb_section **extra,
                            int *n_extra) {
  *g_out = NULL;
  if (extra) *extra = NULL;
  if (n_extra) *n_extra = 0;
  lb_status s = LB_OK;
  lb_graph *g = NULL;
  lb_section *secs = NULL;
  int n_secs = 0;
  if (len < 20 || memcmp(data, LBM_MAGIC, 8) != 0) {
    s = lb_fail(LB_ERR_FORMAT, "%s: not a lowbit model file (bad magic)", path);
    goto done;
  }
  uint32_t stored_crc;
  memcpy(&stored_crc, data + len - 4, 4);
  lb_reader r;
  lb_reader_init(&r, data + 8, len - 12);
  uint32_t version = lb_get_u32(&r), count = lb_get_u32(&r);
  if (version != LB_LBM_VERSION) {
    s = lb_fail(LB_ERR_VERSION, "%s: model file version %u, this build reads version %d", path, version, LB_LBM_VERSION);
    goto done;
  }
  if (lb_crc32(0, data, len - 4) != stored_crc) {
    s = lb_fail(LB_ERR_CHECKSUM, "%s: checksum mismatch: the file is corrupt or truncated", path);
    goto done;
  }
  if (count < 2 || count > MAX_SECTIONS) {
    s = lb_fail(LB_ERR_FORMAT, "%s: %u sections is not a valid count", path, count);
    goto done;
  }
  secs = calloc(count, sizeof *secs);
  if (!secs) {
    s = lb_fail(LB_ERR_NOMEM, "%s: out of memory", path);
    goto done;
  }
  for (uint32_t i = 0; i < count; i++) {
    lb_section *sec = &secs[n_secs];
    int ok = lb_get_str(&r, sec->tag, sizeof sec->tag);
    sec->len = lb_get_u64(&r);
    if (!ok || r.overrun || sec->len > lb_reader_left(&r)) {
      s = lb_fail(LB_ERR_FORMAT, "%s: section %u is truncated or malformed", path, i);
      goto done;
    }
    lb_reader body;
    lb_reader_init(&body, r.p + r.pos, (size_t)sec->len);
    r.pos += (size_t)sec->len;
    if (i == 0 || i == 1) {
      if (strcmp(sec->tag, i == 0 ? "graph" : "params")) {
        s = lb_fail(LB_ERR_FORMAT, "%s: section %u should be '%s', found '%s'", path, i, i ? "params" : "graph", sec->tag);
        goto done;
      }
      s = i == 0 ? read_graph(path, &body, &g) : read_params(path, &body, g);
      if (s) goto done;
      continue;
    }
    sec->data = malloc(sec->len ? (size_t)sec->len : 1);
    if (!sec->data) {
      s = lb_fail(LB_ERR_NOMEM, "%s: out of memory", path);
      goto done;
    }
    memcpy(sec->data, body.p, (size_t)sec->len);
    n_secs++;
  }
  if (lb_reader_left(&r) != 0) s = lb_fail(LB_ERR_FORMAT, "%s: trailing bytes after the last section", path);
done:
  if (s) {
    lb_graph_free(g);
    lb_sections_free(secs, n_secs);
    return s;
  }
  *g_out = g;
  if (extra) *extra = secs;
  else lb_sections_free(secs, n_secs);
  if (n_extra) *n_extra = n_secs;
  return LB_OK;
}

void lb_sections_free(lb_section *s, int n) {
  if (!s) return;
  for (int i = 0; i < n; i++) free(s[i].data);
  free(s);
}

const lb_section *lb_sections_find(const lb_section *s, int n, const char *tag) {
  for (int i = 0; i < n; i++)
    if (!strcmp(s[i].tag, tag)) return &s[i];
  return NULL;
}
