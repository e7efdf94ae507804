/* The executor: runs a graph forward in node order and backward in reverse, from one arena
 * holding every activation, activation gradient, saved state and the shared scratch. */
#include <stdlib.h>
#include <string.h>

#include "graph/grad_plan.h"
#include "graph/layout_plan.h"
#include "graph/ops.h"

struct lb_exec {
  lb_graph *g;
  int max_batch;
  lb_arena arena;
  float **out;      /* per node output (node 0: the caller's input) */
  float **dout;     /* per node output gradient (NULL for node 0) */
  void **aux;       /* per node saved state */
  int *owner;       /* the node whose dout buffer node i's is (an absorbed ReLU shares its input's) */
  unsigned char *touched; /* backward: a gradient reached this owner's buffer in the current pass */
  float *scratch;
  float *grads;     /* parameter gradients, parallel to g->values */
  int batch;        /* batch of the last forward */
  int trained;      /* the last forward was a training forward */
  lb_rng *rng;
  double *prof_fwd, *prof_bwd; /* optional per-node timing */
  unsigned char *fused;         /* node absorbs its ReLU consumer */
  unsigned char *skip;          /* a ReLU absorbed by its input node */
  unsigned char *layout;        /* per node output: lb_layout (all NCHW without fusion) */
};

/* Mark every ReLU whose input node can absorb it and feeds nothing else. */
static lb_status plan_fusion(lb_exec *e) {
  const lb_graph *g = e->g;
  int nn = g->n_nodes;
  int *uses = calloc((size_t)nn, sizeof *uses);
  if (!uses) return lb_fail(LB_ERR_NOMEM, "executor: out of memory");
  for (int i = 1; i <= g->output; i++)
    for (int j = 0; j < g->nodes[i].n_inputs; j++) uses[g->nodes[i].inputs[j]]++;
  uses[g->output]++; /* the caller reads the output */
  const lb_op_def *relu = lb_op_find("relu");
  for (int i = 1; i <= g->output; i++) {
    const lb_node *n = &g->nodes[i];
    if (n->op != relu) continue;
    int b = n->inputs[0];
    const lb_op_def *op = g->nodes[b].op;
    if (b > 0 && uses[b] == 1 && op->forward_relu && op->backward_relu) {
      e->fused[b] = 1;
      e->skip[i] = 1;
    }
  }
  free(uses);
  return LB_OK;
}

lb_status lb_exec_create(lb_exec **out, lb_graph *g, int max_batch) { return lb_exec_create_ex(out, g, max_batch, 1); }

lb_status lb_exec_create_ex(lb_exec **out, lb_graph *g, int max_batch, int fuse) {
  *out = NULL;
  if (max_batch <= 0) return lb_fail(LB_ERR_ARG, "executor: batch size must be positive, got %d", max_batch);
  if (!g->values) return lb_fail(LB_ERR_STATE, "executor: graph parameters are not allocated");
  lb_exec *e = calloc(1, sizeof *e);
  if (!e) return lb_fail(LB_ERR_NOMEM, "executor: out of memory");
  e->g = g;
  e->max_batch = max_batch;
  int nn = g->n_nodes;
  e->out = calloc((size_t)nn, sizeof *e->out);
  e->dout = calloc((size_t)nn, sizeof *e->dout);
  e->aux = calloc((size_t)nn, sizeof *e->aux);
  e->grads = lb_alloc_aligned((size_t)(g->n_values > 0 ? g->n_values : 1) * sizeof(float));
  e->fused = calloc((size_t)nn, 1);
  e->skip = calloc((size_t)nn, 1);
  e->owner = calloc((size_t)nn, sizeof *e->owner);
  e->touched = calloc((size_t)nn, 1);
  e->layout = calloc((size_t)nn, 1);
  if (!e->out || !e->dout || !e->aux || !e->grads || !e->fused || !e->skip || !e->owner || !e->touched ||
      !e->layout) {
    lb_exec_free(e);
    return lb_fail(LB_ERR_NOMEM, "executor: out of memory");
  }
  memset(e->grads, 0, (size_t)(g->n_values > 0 ? g->n_values : 1) * sizeof(float));
  lb_status s = fuse ? plan_fusion(e) : LB_OK;
  if (!s && fuse) s = lb_plan_layouts(g, e->layout);
  if (s) {
    lb_exec_free(e);
    return s;
  }

  /* an absorbed ReLU shares its input node's buffers: its consumers read the fused output and
   * accumulate their gradients where the fused backward looks for them */
  for (int i = 1; i < nn; i++)
    e->owner[i] = e->skip[i] ? e->owner[g->nodes[i].inputs[0]] : i; /* inputs come earlier */
  size_t *grad_at = calloc((size_t)nn, sizeof *grad_at), douts = 0;
  if (!grad_at) {
    lb_exec_free(e);
    return lb_fail(LB_ERR_NOMEM, "executor: out of memory");
  }
  s = lb_plan_grad_buffers(g, e->owner, e->skip, max_batch, grad_at, &douts);

  /* size everything first, then take it from one arena */
  size_t act = 0, aux = 0, scratch = 0;
  for (int i = 1; i < nn && !s; i++) {
    const lb_node *n = &g->nodes[i];
    act += e->skip[i] ? 0 : lb_arena_round((size_t)max_batch * (size_t)lb_node_numel(n) * sizeof(float));
    if (n->op->aux_bytes) aux += lb_arena_round(n->op->aux_bytes(g, n, max_batch));
    if (n->op->scratch_floats) {
      size_t need = n->op->scratch_floats(g, n, max_batch);
      if (need > scratch) scratch = need;
    }
  }
  size_t scratch_bytes = lb_arena_round(scratch * sizeof(float));
  if (!s) s = lb_arena_init(&e->arena, act + douts + aux + scratch_bytes + LB_ARENA_ALIGN);
  if (s) {
    free(grad_at);
    lb_exec_free(e);
    return s;
  }
  for (int i = 1; i < nn; i++) {
    size_t bytes = (size_t)max_batch * (size_t)lb_node_numel(&g->nodes[i]) * sizeof(float);
    if (!e->skip[i]) e->out[i] = lb_arena_alloc(&e->arena, bytes);
  }
  char *grad_region = douts ? lb_arena_alloc(&e->arena, douts) : NULL;
  for (int i = 1; i < nn; i++) {
    e->out[i] = e->out[e->owner[i]];
    e->dout[i] = grad_region ? (float *)(grad_region + grad_at[e->owner[i]]) : NULL;
  }
  free(grad_at);
  for (int i = 1; i < nn; i++) {
    const lb_node *n = &g->nodes[i];
    /* no state: NULL, not a zero-byte block that would alias the next one */
    const size_t bytes = n->op->aux_bytes ? n->op->aux_bytes(g, n, max_batch) : 0;
    if (bytes) e->aux[i] = lb_arena_alloc(&e->arena, bytes);
  }
  e->scratch = scratch_bytes ? lb_arena_alloc(&e->arena, scratch_bytes) : NULL;
  *out = e;
  return LB_OK;
}

void lb_exec_free(lb_exec *e) {
  if (!e) return;
  lb_arena_free(&e->arena);
  free(e->out);
  free(e->dout);
  free(e->aux);
  lb_free_aligned(e->grads);
  free(e->fused);
  free(e->skip);
  free(e->owner);
  free(e->touched);
  free(e->layout);
  free(e);
}

static void fill_ctx(lb_exec *e, int i, lb_op_ctx *c) {
  const lb_graph *g = e->g;
  const lb_node *n = &g->nodes[i];
  memset(c, 0, sizeof *c);
  c->batch = e->batch;
  c->training = e->trained;
  for (int j = 0; j < n->n_inputs; j++) {
    c->in[j] = e->out[n->inputs[j]];
    c->in_shape[j] = &g->nodes[n->inputs[j]].shape;
    c->din[j] = e->dout[n->inputs[j]]; /* NULL for the graph input */
    c->in_layout[j] = e->layout[n->inputs[j]];
  }
  c->out_layout = e->layout[i];
  for (int j = 0; j < n->n_params; j++) {
    const lb_param *p = &g->params[n->first_param + j];
    c->param[j] = g->values + p->offset;
    c->dparam[j] = p->trainable ? e->grads + p->offset : NULL;
  }
  c->out = e->out[i];
  c->dout = e->dout[i];
  c->aux = e->aux[i];
  c->scratch = e->scratch;
  c->rng = e->rng;
}

const float *lb_exec_forward(lb_exec *e, const float *x, int batch, int training, lb_rng *rng) {
  if (batch <= 0 || batch > e->max_batch) {
    lb_fail(LB_ERR_ARG, "executor: batch %d outside 1..%d", batch, e->max_batch);
    return NULL;
  }
  if (training && !rng) {
    lb_fail(LB_ERR_ARG, "executor: a training forward needs a random generator");
    return NULL;
  }
  e->batch = batch;
  e->trained = training;
  e->rng = rng;
  e->out[0] = (float *)x; /* the input is read, never written */
  lb_op_ctx c;
  for (int i = 1; i <= e->g->output; i++) {
    if (e->skip[i]) continue;
    const lb_node *n = &e->g->nodes[i];
    fill_ctx(e, i, &c);
    double t0 = e->prof_fwd ? lb_now() : 0.0;
    (e->fused[i] ? n->op->forward_relu : n->op->forward)(n, &c);
    if (e->prof_fwd) e->prof_fwd[i] += lb_now() - t0;
  }
  return e->out[e->g->output];
}

/* Zeroes node i's gradient buffer for the current batch, with the thread team (it is a pass
 * over memory, as large as the activation). */
static void zero_dout(lb_exec *e, int i) {
  const int64_t n = (int64_t)e->batch * lb_node_numel(&e->g->nodes[i]);
  float *p = e->dout[i];
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
  for (int64_t b = 0; b < n; b += 4096) memset(p + b, 0, sizeof(float) * (size_t)(n - b < 4096 ? n - b : 4096));
  e->touched[e->owner[i]] = 1;
}

/* Gradient buffers are not zeroed up front: the first op to write one in a pass overwrites it
 * (ops with backward_assigns) or finds it zeroed just before (other ops), so most buffers are
 * written once instead of zeroed and then accumulated into. */
void lb_exec_backward(lb_exec *e, const float *doutput) {
  lb_graph *g = e->g;
  int o = g->output;
  memset(e->touched, 0, (size_t)g->n_nodes);
  memcpy(e->dout[o], doutput, (size_t)e->batch * (size_t)lb_node_numel(&g->nodes[o]) * sizeof(float));
  e->touched[e->owner[o]] = 1;
  lb_op_ctx c;
  for (int i = o; i >= 1; i--) {
    const lb_node *n = &g->nodes[i];
    if (!n->op->backward || e->skip[i]) continue;
    if (!e->touched[e->owner[i]]) zero_dout(e, i); /* no consumer sent a gradient: it is 0 */
    fill_ctx(e, i, &c);
    c.din_fresh = 0;
    for (int j = 0; j < n->n_inputs; j++) {
      int in = n->inputs[j];
      if (!c.din[j] || e->touched[e->owner[in]]) continue;
      if (n->op->backward_assigns) {
        c.din_fresh |= 1u << j;
        e->touched[e->owner[in]] = 1; /* a second input naming the same buffer accumulates */
      } else {
        zero_dout(e, in);
      }
    }
    double t0 = e->prof_bwd ? lb_now() : 0.0;
    (e->fused[i] ? n->op->backward_relu : n->op->backward)(n, &c);
    if (e->prof_bwd) e->prof_bwd[i] += lb_now() - t0;
  }
}

void lb_exec_zero_grad(lb_exec *e) { memset(e->grads, 0, (size_t)e->g->n_values * sizeof(float)); }

float *lb_exec_grads(lb_exec *e) { return e->grads; }

const float *lb_exec_node_output(const lb_exec *e, int node) {
  if (node < 0 || node >= e->g->n_nodes) return NULL;
  return e->out[node];
}

int lb_exec_node_layout(const lb_exec *e, int node) {
  if (node < 0 || node >= e->g->n_nodes) return LB_LAYOUT_NCHW;
  return e->layout[node];
}

size_t lb_exec_arena_bytes(const lb_exec *e) { return e->arena.size; }

void lb_exec_set_profile(lb_exec *e, double *fwd, double *bwd) {
  e->prof_fwd = fwd;
  e->prof_bwd = bwd;
}
