/* The executor's sharing of activation-gradient buffers (internal to the graph part). */
#ifndef LOWBIT_GRAPH_GRAD_PLAN_H
#define LOWBIT_GRAPH_GRAD_PLAN_H

#include "lowbit/graph.h"

/* For every node b that owns a gradient buffer (owner[b] == b, skip[b] == 0), offset[b] = its
 * byte offset in one region of *total bytes, sized for max_batch; buffers that are never live
 * at the same node of the backward share memory. owner: the node whose buffer node i's is
 * (an absorbed ReLU shares its input's); skip: node i is such a ReLU. */
lb_status lb_plan_grad_buffers(const lb_graph *g, const int *owner, const unsigned char *skip, int max_batch,
                               size_t *offset, size_t *total);

#endif
