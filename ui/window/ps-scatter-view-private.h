/* ps-scatter-view-private.h: the scatter widget's state, shared by
 * ps-scatter-view.c (data, selection, pan and zoom, events) and
 * ps-scatter-draw.c (the figure, its textures and the overlays). */
#pragma once

#include "ps-point-grid.h"
#include "ps-scatter-data.h"
#include "ps-scatter-view.h"

G_BEGIN_DECLS

struct _PsScatterView
{
  GtkWidget parent_instance;

  /* Data (owned); n, x and y alias data's for brevity. */
  PsScatterData *data;
  gsize n;
  float *x, *y;                 /* [n] drawn coordinates (borrowed from data) */
  char **class_names;
  PsPointGrid *grid;

  /* View. */
  PsColorBy color_by;
  gboolean prefer_embedding;
  double x0, x1, y0, y1;        /* visible data range requested */
  gboolean have_range;
  PsPlotView view;              /* the layout at the current size */

  /* Selection and pointer. */
  guint8 *selected;             /* [n] */
  GArray *selection;            /* guint32, ascending */
  gssize hover;
  double pointer_x, pointer_y;
  gboolean dragging, box_select, lasso;
  GArray *lasso_points;         /* double pairs, widget pixels */
  double drag_x, drag_y, drag_dx, drag_dy;
  double drag_range[4];
  double zoom_last;

  /* The cached points texture and what it was built for.  A pan only
   * shifts it (and redraws the axes overlay); the points are rasterised
   * again once the pan settles. */
  GdkTexture *texture;          /* the plot area: background, points, prototypes */
  graphene_rect_t tex_rect;     /* where it goes (widget coordinates) */
  GdkTexture *strips[4];        /* the margins: axes, title, legend for `view` */
  /* The same pixels as cairo surfaces (device scale set): the cairo
   * renderer paints these directly, where a texture would be converted
   * into a new surface on every frame. */
  cairo_surface_t *tex_surface;
  cairo_surface_t *strip_surfaces[4];
  graphene_rect_t strip_rects[4];
  PsPlotView tex_view;          /* the view the points texture shows */
  gboolean panned;              /* the view moved since the texture was built */
  guint settle_id;
  gboolean dirty;
  int tex_width, tex_height, tex_scale;
  guint texture_builds;
};

/* ps-scatter-draw.c */
/* Drops the points texture and the margin strips. */
void ps_scatter_draw_clear_textures (PsScatterView *self);
/* GtkWidget::snapshot. */
void ps_scatter_draw_snapshot (GtkWidget *widget, GtkSnapshot *snapshot);

G_END_DECLS
