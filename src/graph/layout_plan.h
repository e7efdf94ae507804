/* The fused executor's choice of activation layouts (internal to the graph part). */
#ifndef LOWBIT_GRAPH_LAYOUT_PLAN_H
#define LOWBIT_GRAPH_LAYOUT_PLAN_H

#include "lowbit/graph.h"
#include "lowbit/nn.h"

/* layout[i] (g->n_nodes entries) = the lb_layout of node i's output. */
lb_status lb_plan_layouts(const lb_graph *g, unsigned char *layout);

#endif
