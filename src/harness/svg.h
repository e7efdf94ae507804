/* Minimal SVG line/scatter plots for the HTML report: axes with ticks and labels, lines,
 * markers, error bars and a legend, written as text. */
#ifndef LOWBIT_HARNESS_SVG_H
#define LOWBIT_HARNESS_SVG_H

#include "lowbit/bytes.h"

typedef struct lb_plot {
  double x0, x1, y0, y1;  /* data range shown */
  int width, height;
  int left, right, top, bottom; /* margins in pixels */
  int legend_rows;
} lb_plot;

/* Colour of series i (a fixed palette that stays readable on white and in grey print). */
const char *lb_plot_color(int i);
/* Round the range out to tick steps (1, 2 or 5 times a power of ten). */
void lb_plot_nice(double *lo, double *hi, double *step);
/* Open <svg class="plot" data-plot=kind>, draw the frame, the y ticks every ystep, the axis
 * labels and the title. x ticks: numeric every xstep when labels is NULL, else the n_labels
 * category labels at x = 0..n_labels-1. */
void lb_plot_begin(lb_buf *b, const lb_plot *p, const char *kind, const char *title, const char *xlabel,
                   const char *ylabel, double xstep, double ystep, const char *const *labels, int n_labels);
double lb_plot_px(const lb_plot *p, double x);
double lb_plot_py(const lb_plot *p, double y);
/* A series as a polyline (n >= 2) with circle markers; dashed when dash != 0; data-series=name. */
void lb_plot_series(lb_buf *b, const lb_plot *p, const char *name, const double *x, const double *y, int n,
                    const char *color, int dash);
/* Vertical error bar at x from y-e to y+e. */
void lb_plot_errbar(lb_buf *b, const lb_plot *p, double x, double y, double e, const char *color);
/* Horizontal reference line at y with a label at its right end. */
void lb_plot_hline(lb_buf *b, const lb_plot *p, double y, const char *label);
/* Legend entry i (below the plot area, two per row). */
void lb_plot_legend(lb_buf *b, const lb_plot *p, int i, const char *name, const char *color, int dash);
void lb_plot_end(lb_buf *b);

#endif
