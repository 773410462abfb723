/* ps-plot-private.h: the figure's insides, shared by the ui/plot sources. */
#pragma once

#include "ps-plot.h"

G_BEGIN_DECLS

typedef enum
{
  PS_LAYER_SCATTER,
  PS_LAYER_REGIONS,
  PS_LAYER_PROTOTYPES,
  PS_LAYER_LINKS,
  PS_LAYER_ELLIPSE,
  PS_LAYER_QUIVER,
  PS_LAYER_TRAJECTORIES,
  PS_LAYER_CURVE,
  PS_LAYER_BAND,
  PS_LAYER_HISTOGRAM,
  PS_LAYER_VLINE,
  PS_LAYER_MATRIX,
  PS_LAYER_IMAGE,
  PS_LAYER_IMAGE_GRID,
} PsLayerKind;

/* One layer.  A tagged struct with a few generic slots rather than a type
 * per kind: every array is owned by the layer and freed with it. */
typedef struct
{
  PsLayerKind kind;
  char *name;
  PsColor color;
  gsize n;
  guint w, h, k;           /* grid or image sizes, class count */
  guint w2, h2;            /* heat overlay size */
  double p[8];             /* kind-specific numbers, see ps-plot-layers.c */
  float *f[6];             /* owned float arrays */
  double *d[4];            /* owned double arrays */
  gint32 *labels;
  guint8 *u8;
  char **captions;
  gboolean flag;
  PsScatterSpec spec;      /* scatter: points into f[], labels, u8 */
  cairo_surface_t *image;  /* regions/matrix/image: the prepared surface */
  cairo_surface_t *image2; /* image: heat overlay */
  int ext_state;           /* extent cache: 0 unknown, 1 valid, 2 none */
  double ext[4];
  gboolean ext_tight;
} PsLayer;

typedef struct
{
  char *name;
  PsColor color;
  gboolean is_line;
  gboolean is_star;
} PsLegendEntry;

struct _PsFigure
{
  char *title;
  char *x_label;
  char *y_label;
  PsPlotTheme theme;

  gboolean has_x_range, has_y_range;
  double x_range[2], y_range[2];
  gboolean equal_aspect;
  gboolean show_axes;
  gboolean show_grid;
  gboolean show_legend;

  GPtrArray *class_names;  /* char* */
  GArray *legend;          /* PsLegendEntry */

  gboolean has_colorbar;
  PsColormap cb_map;
  double cb_lo, cb_hi;
  char *cb_label;

  GPtrArray *layers;       /* PsLayer*, owned */
  guint next_color;
};

/* Layout of one rendering: the plot rectangle, ranges and where the legend
 * and colour bar go.  Computed by ps_plot_layout (ps-plot-axes.c). */
typedef struct
{
  PsPlotView view;
  double width, height;
  double legend_x, legend_y, legend_w, legend_h;
  guint legend_rows;
  double cb_x, cb_y, cb_w, cb_h;
  gboolean draw_legend;
  gboolean draw_colorbar;
} PsPlotLayout;

/* ps-plot-axes.c */
void ps_plot_layout (PsFigure *fig, cairo_t *cr, double width, double height,
                     PsPlotLayout *lay);
void ps_plot_draw_frame_back (PsFigure *fig, cairo_t *cr, const PsPlotLayout *lay);
void ps_plot_draw_frame_front (PsFigure *fig, cairo_t *cr, const PsPlotLayout *lay);
void ps_plot_set_font (cairo_t *cr, double size, gboolean bold);

/* ps-plot-layers.c */
void     ps_layer_free    (PsLayer *layer);
/* Data extent of a layer; FALSE if it has none.  *tight says the range
 * should not get a margin (images, matrices, regions). */
gboolean ps_layer_extent  (PsLayer *layer, double *x0, double *x1,
                           double *y0, double *y1, gboolean *tight);
gboolean ps_layer_is_background (const PsLayer *layer);
void     ps_layer_draw    (PsFigure *fig, PsLayer *layer, cairo_t *cr,
                           const PsPlotLayout *lay, gboolean vector);
PsLayer *ps_figure_append_layer (PsFigure *fig, PsLayerKind kind);
/* Image surfaces (owned by the caller) from grayscale [h*w] in [0, 1] and
 * from a heat field (inferno, alpha growing with the value). */
cairo_surface_t *ps_plot_gray_surface (const float *pixels, guint w, guint h);
cairo_surface_t *ps_plot_heat_surface (const float *heat, guint w, guint h, double alpha);

/* ps-plot-figure.c: a scatter as raster (through a device-resolution
 * image) or as vector paths. */
void ps_plot_draw_scatter (cairo_t *cr, const PsPlotView *view,
                           const PsScatterSpec *spec, gboolean vector);

static inline void
ps_cairo_set_color (cairo_t *cr, PsColor c)
{
  cairo_set_source_rgba (cr, c.r, c.g, c.b, c.a);
}

G_END_DECLS
