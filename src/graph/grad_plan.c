/* Which activation-gradient buffers may share memory. The backward visits nodes in reverse
 * order; node b's gradient is written first by its last consumer (the highest node index that
 * has a backward) and read for the last time by b's own backward, so it is live over the node
 * indices [b, last consumer]. Buffers whose ranges do not meet take turns in one slot.
 *
 * Sharing halves the memory the backward writes to, and (the point) the slot a gradient lands
 * in was just read by a backward a few nodes later, so it is still in cache: writing to a
 * buffer untouched since the last step costs a read of each line from memory first. Among the
 * free slots of the right size the most recently freed is taken for the same reason. */
#include <stdlib.h>

#include "graph/grad_plan.h"
#include "graph/ops.h"

typedef struct slot {
  size_t bytes, offset;
  int free_after; /* the lowest node index of the last range placed here */
} slot;

lb_status lb_plan_grad_buffers(const lb_graph *g, const int *owner, const unsigned char *skip, int max_batch,
                               size_t *offset, size_t *total) {
  const int nn = g->n_nodes, o = g->output;
  int *hi = malloc((size_t)nn * sizeof *hi), *order = malloc((size_t)nn * sizeof *order);
  slot *slots = malloc((size_t)nn * sizeof *slots);
  if (!hi || !order || !slots) {
    free(hi), free(order), free(slots);
    return lb_fail(LB_ERR_NOMEM, "executor: out of memory");
  }
  for (int b = 0; b < nn; b++) hi[b] = b;
  hi[o] = nn; /* the caller's gradient is copied in before any backward */
  for (int j = 1; j <= o; j++) {
    const lb_node *n = &g->nodes[j];
    if (skip[j] || !n->op->backward) continue;
    for (int k = 0; k < n->n_inputs; k++) {
      const int b = owner[n->inputs[k]];
      if (hi[b] < j) hi[b] = j;
    }
  }
  /* owners in the order their ranges open during the backward: highest end first */
  int m = 0;
  for (int b = 1; b < nn; b++)
    if (!skip[b]) order[m++] = b;
  for (int i = 1; i < m; i++) /* insertion sort, stable; graphs have tens to hundreds of nodes */
    for (int k = i; k > 0 && hi[order[k - 1]] < hi[order[k]]; k--) {
      const int t = order[k];
      order[k] = order[k - 1];
      order[k - 1] = t;
    }
  int ns = 0;
  size_t end = 0;
  for (int i = 0; i < m; i++) {
    const int b = order[i];
    const size_t bytes = lb_arena_round((size_t)max_batch * (size_t)lb_node_numel(&g->nodes[b]) * sizeof(float));
    int best = -1;
    for (int s = 0; s < ns; s++)
      if (slots[s].bytes == bytes && slots[s].free_after > hi[b] &&
          (best < 0 || slots[s].free_after < slots[best].free_after))
        best = s;
    if (best < 0) {
      best = ns++;
      slots[best].bytes = bytes;
      slots[best].offset = end;
      end += bytes;
    }
    slots[best].free_after = b;
    offset[b] = slots[best].offset;
  }
  *total = end;
  free(hi), free(order), free(slots);
  return LB_OK;
}
