/* SVG plot primitives for the HTML report (see svg.h). Coordinates are written with one decimal:
 * the page is the same bytes for the same results. */
#include "harness/svg.h"

#include <math.h>
#include <stdio.h>

#include "harness/harness_internal.h"

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};

const char *lb_plot_color(int i) { return palette[(unsigned)i % (sizeof palette / sizeof palette[0])]; }

void lb_plot_nice(double *lo, double *hi, double *step) {
  double range = *hi - *lo;
  if (!(range > 0)) {
    double pad = fabs(*lo) > 0 ? fabs(*lo) * 0.05 : 1.0;
    *lo -= pad;
    *hi += pad;
    range = *hi - *lo;
  }
  double raw = range / 5, mag = pow(10, floor(log10(raw))), f = raw / mag;
  *step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  *lo = floor(*lo / *step) * *step;
  *hi = ceil(*hi / *step) * *step;
}

double lb_plot_px(const lb_plot *p, double x) {
  double w = p->width - p->left - p->right;
  return p->left + (p->x1 > p->x0 ? (x - p->x0) / (p->x1 - p->x0) : 0.5) * w;
}

double lb_plot_py(const lb_plot *p, double y) {
  double h = p->height - p->top - p->bottom;
  return p->top + h - (p->y1 > p->y0 ? (y - p->y0) / (p->y1 - p->y0) : 0.5) * h;
}

static void tick_label(char *buf, size_t cap, double v, double step) {
  int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
  if (decimals > 6) decimals = 6;
  snprintf(buf, cap, "%.*f", decimals, fabs(v) < step * 1e-9 ? 0.0 : v);
}

/* A grid or tick line and its label. */
static void tick(lb_buf *b, double x1, double y1, double x2, double y2, const char *stroke, double tx, double ty,
                 const char *anchor, const char *label) {
  lb_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/><text class=\"tick\" "
               "x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">", x1, y1, x2, y2, stroke, tx, ty, anchor);
  lb_sb_html(b, label);
  lb_sb_printf(b, "</text>\n");
}

void lb_plot_begin(lb_buf *b, const lb_plot *p, const char *kind, const char *title, const char *xlabel,
                   const char *ylabel, double xstep, double ystep, const char *const *labels, int n_labels) {
  double ax0 = p->left, ax1 = p->width - p->right, ay0 = p->top, ay1 = p->height - p->bottom;
  lb_sb_printf(b, "<svg class=\"plot\" data-plot=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", kind, p->width, p->height, p->width, p->height);
  lb_sb_html(b, title);
  lb_sb_printf(b, "\">\n<title>");
  lb_sb_html(b, title);
  lb_sb_printf(b, "</title>\n<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", p->width, p->height);
  lb_sb_printf(b, "<text class=\"ptitle\" x=\"%.1f\" y=\"18\" text-anchor=\"middle\">", (ax0 + ax1) / 2);
  lb_sb_html(b, title);
  lb_sb_printf(b, "</text>\n<g class=\"grid\">\n");
  for (double y = p->y0; y <= p->y1 + ystep * 1e-6; y += ystep) {
    char t[32];
    tick_label(t, sizeof t, y, ystep);
    double py = lb_plot_py(p, y);
    tick(b, ax0, py, ax1, py, "#e3e3e3", ax0 - 6, py + 4, "end", t);
  }
  if (labels) {
    for (int i = 0; i < n_labels; i++) {
      double px = lb_plot_px(p, i);
      tick(b, px, ay1, px, ay1 + 5, "#999", px, ay1 + 18, "middle", labels[i]);
    }
  } else {
    for (double x = p->x0; x <= p->x1 + xstep * 1e-6; x += xstep) {
      char t[32];
      tick_label(t, sizeof t, x, xstep);
      double px = lb_plot_px(p, x);
      tick(b, px, ay1, px, ay1 + 5, "#999", px, ay1 + 18, "middle", t);
    }
  }
  lb_sb_printf(b, "</g>\n<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
               "stroke=\"#333\"/>\n", ax0, ay0, ax1 - ax0, ay1 - ay0);
  lb_sb_printf(b, "<text class=\"xlabel\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", (ax0 + ax1) / 2, ay1 + 36);
  lb_sb_html(b, xlabel);
  lb_sb_printf(b, "</text>\n<text class=\"ylabel\" x=\"14\" y=\"%.1f\" text-anchor=\"middle\" "
               "transform=\"rotate(-90 14 %.1f)\">", (ay0 + ay1) / 2, (ay0 + ay1) / 2);
  lb_sb_html(b, ylabel);
  lb_sb_printf(b, "</text>\n");
}

void lb_plot_series(lb_buf *b, const lb_plot *p, const char *name, const double *x, const double *y, int n,
                    const char *color, int dash) {
  lb_sb_printf(b, "<g class=\"series\" data-series=\"");
  lb_sb_html(b, name);
  lb_sb_printf(b, "\">\n");
  if (n >= 2) {
    lb_sb_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", color,
                 dash ? " stroke-dasharray=\"6 4\"" : "");
    for (int i = 0; i < n; i++) lb_sb_printf(b, "%s%.1f,%.1f", i ? " " : "", lb_plot_px(p, x[i]), lb_plot_py(p, y[i]));
    lb_sb_printf(b, "\"/>\n");
  }
  for (int i = 0; i < n; i++) {
    lb_sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"><title>", lb_plot_px(p, x[i]),
                 lb_plot_py(p, y[i]), color);
    lb_sb_html(b, name);
    lb_sb_printf(b, ": %.4g, %.2f</title></circle>\n", x[i], y[i]);
  }
  lb_sb_printf(b, "</g>\n");
}

void lb_plot_errbar(lb_buf *b, const lb_plot *p, double x, double y, double e, const char *color) {
  if (!(e > 0)) return;
  double px = lb_plot_px(p, x), lo = lb_plot_py(p, y - e), hi = lb_plot_py(p, y + e);
  lb_sb_printf(b, "<path class=\"errbar\" d=\"M%.1f %.1fV%.1fM%.1f %.1fH%.1fM%.1f %.1fH%.1f\" stroke=\"%s\"/>\n", px, lo,
               hi, px - 4, lo, px + 4, px - 4, hi, px + 4, color);
}

void lb_plot_hline(lb_buf *b, const lb_plot *p, double y, const char *label) {
  double py = lb_plot_py(p, y);
  lb_sb_printf(b, "<g class=\"reference\"><line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#000\" "
               "stroke-dasharray=\"2 3\"/><text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">",
               p->left, py, p->width - p->right, py, p->width - p->right - 4, py - 4);
  lb_sb_html(b, label);
  lb_sb_printf(b, "</text></g>\n");
}

void lb_plot_legend(lb_buf *b, const lb_plot *p, int i, const char *name, const char *color, int dash) {
  int cols = 2, col = i % cols, row = i / cols;
  double colw = (double)(p->width - p->left - p->right) / cols;
  double x = p->left + col * colw, y = p->height - p->bottom + 52 + row * 16;
  lb_sb_printf(b, "<g class=\"legend\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
               "stroke-width=\"2\"%s/><text class=\"tick\" x=\"%.1f\" y=\"%.1f\">", x, y - 4, x + 18, y - 4, color,
               dash ? " stroke-dasharray=\"6 4\"" : "", x + 24, y);
  lb_sb_html(b, name);
  lb_sb_printf(b, "</text></g>\n");
}

void lb_plot_end(lb_buf *b) { lb_sb_printf(b, "</svg>\n"); }
