/* ps-scatter-view.c: the embedding scatter widget. */
#define G_LOG_DOMAIN "ps-window"

#include "ps-scatter-view.h"

#include <math.h>
#include <string.h>

#include "ps-application.h"
#include "ps-array.h"
#include "ps-base.h"
#include "ps-point-grid.h"
#include "ps-scatter-data.h"

/* Prototype lines fainter than this are not drawn. */
#define PS_PROTO_LINE_MIN 0.01f
/* Pixels the pointer may be away from a point and still hover or pick it. */
#define PICK_RADIUS 8.0
/* A press that moves less than this is a click, not a drag. */
#define CLICK_SLOP 4.0
/* Points are rasterised again this long after the last pan step. */
#define PS_PAN_SETTLE_MS 120

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
  graphene_rect_t strip_rects[4];
  PsPlotView tex_view;          /* the view the points texture shows */
  gboolean panned;              /* the view moved since the texture was built */
  guint settle_id;
  gboolean dirty;
  int tex_width, tex_height, tex_scale;
  guint texture_builds;
};

enum
{
  SIGNAL_SELECTION_CHANGED,
  SIGNAL_VIEW_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (PsScatterView, ps_scatter_view, GTK_TYPE_WIDGET)

static void
invalidate (PsScatterView *self)
{
  self->dirty = TRUE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static gboolean
settle_cb (gpointer data)
{
  PsScatterView *self = data;
  self->settle_id = 0;
  invalidate (self);
  return G_SOURCE_REMOVE;
}

/* The visible range moved by a pan: the next frame shifts the cached
 * points and redraws only the axes; the points are drawn again once the
 * pan has been still for a moment. */
static void
pan_invalidate (PsScatterView *self)
{
  self->panned = TRUE;
  if (self->settle_id)
    g_source_remove (self->settle_id);
  self->settle_id = g_timeout_add (PS_PAN_SETTLE_MS, settle_cb, self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
clear_strips (PsScatterView *self)
{
  for (guint i = 0; i < G_N_ELEMENTS (self->strips); i++)
    g_clear_object (&self->strips[i]);
}

static void
clear_textures (PsScatterView *self)
{
  g_clear_object (&self->texture);
  clear_strips (self);
}

/* ---- Data ------------------------------------------------------------- */

static void
clear_data (PsScatterView *self)
{
  g_clear_pointer (&self->data, ps_scatter_data_free);
  self->n = 0;
  self->x = self->y = NULL;
  g_clear_pointer (&self->selected, g_free);
  g_clear_pointer (&self->grid, ps_point_grid_free);
  self->hover = -1;
}

static void
fit_range (PsScatterView *self)
{
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;

  for (gsize i = 0; i < self->n; i++)
    if (isfinite (self->x[i]) && isfinite (self->y[i]))
      {
        xmin = MIN (xmin, self->x[i]);
        xmax = MAX (xmax, self->x[i]);
        ymin = MIN (ymin, self->y[i]);
        ymax = MAX (ymax, self->y[i]);
      }
  if (!isfinite (xmin))
    {
      self->have_range = FALSE;
      return;
    }
  double mx = 0.06 * MAX (xmax - xmin, 1e-6), my = 0.06 * MAX (ymax - ymin, 1e-6);
  self->x0 = xmin - mx;
  self->x1 = xmax + mx;
  self->y0 = ymin - my;
  self->y1 = ymax + my;
  self->have_range = TRUE;
}

/* Takes `data`; keeps the selection when `keep_view` and the number of
 * points is unchanged. */
static void
set_data (PsScatterView *self, PsScatterData *data, gboolean keep_view)
{
  gsize old_n = self->n;
  g_autoptr (GArray) old_selection = g_array_copy (self->selection);
  gsize n = data->n;

  clear_data (self);
  self->data = data;
  self->n = n;
  self->x = data->x;
  self->y = data->y;
  self->grid = ps_point_grid_new (self->x, self->y, n);
  self->selected = g_new0 (guint8, n);
  if (keep_view && old_n == n)
    {
      for (guint i = 0; i < old_selection->len; i++)
        self->selected[g_array_index (old_selection, guint32, i)] = 1;
    }
  else
    {
      g_array_set_size (self->selection, 0);
      if (old_selection->len > 0)
        g_signal_emit (self, signals[SIGNAL_SELECTION_CHANGED], 0);
    }
  if (!keep_view || !self->have_range)
    fit_range (self);
  invalidate (self);
}

gboolean
ps_scatter_view_set_snapshot (PsScatterView *self, GPtrArray *arrays, gboolean keep_view,
                              GError **error)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), FALSE);
  g_return_val_if_fail (arrays != NULL, FALSE);

  PsScatterData *data = ps_scatter_data_new_from_snapshot (arrays, self->prefer_embedding, error);
  if (data == NULL)
    return FALSE;
  set_data (self, data, keep_view);
  return TRUE;
}

void
ps_scatter_view_set_layout (PsScatterView *self, const float *xy, gsize n, PsProjection projection,
                            gboolean fit)
{
  g_return_if_fail (PS_IS_SCATTER_VIEW (self));
  g_return_if_fail (xy != NULL);

  if (self->data == NULL || n != self->n)
    return;
  ps_scatter_data_set_layout (self->data, xy, projection);
  /* The hit-testing grid indexes the coordinates: rebuild it. */
  g_clear_pointer (&self->grid, ps_point_grid_free);
  self->grid = ps_point_grid_new (self->x, self->y, self->n);
  if (fit || !self->have_range)
    fit_range (self);
  invalidate (self);
}

PsProjection
ps_scatter_view_get_projection (PsScatterView *self)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), PS_PROJECTION_NONE);
  return self->data ? self->data->projection : PS_PROJECTION_NONE;
}

const float *
ps_scatter_view_get_source (PsScatterView *self, gsize *d)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), NULL);
  if (d)
    *d = self->data ? self->data->d : 0;
  return self->data ? self->data->source : NULL;
}

const gint64 *
ps_scatter_view_get_sample_index (PsScatterView *self)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), NULL);
  return self->data ? self->data->sample_index : NULL;
}

void
ps_scatter_view_set_prefer_embedding (PsScatterView *self, gboolean prefer)
{
  g_return_if_fail (PS_IS_SCATTER_VIEW (self));
  self->prefer_embedding = !!prefer;
}

void
ps_scatter_view_clear (PsScatterView *self)
{
  g_return_if_fail (PS_IS_SCATTER_VIEW (self));

  gboolean had_selection = self->selection->len > 0;
  clear_data (self);
  g_array_set_size (self->selection, 0);
  self->have_range = FALSE;
  clear_textures (self);
  invalidate (self);
  if (had_selection)
    g_signal_emit (self, signals[SIGNAL_SELECTION_CHANGED], 0);
}

void
ps_scatter_view_set_class_names (PsScatterView *self, const char * const *names)
{
  g_return_if_fail (PS_IS_SCATTER_VIEW (self));

  g_strfreev (self->class_names);
  self->class_names = g_strdupv ((char **) names);
  invalidate (self);
}

void
ps_scatter_view_set_color_by (PsScatterView *self, PsColorBy mode)
{
  g_return_if_fail (PS_IS_SCATTER_VIEW (self));

  if (self->color_by == mode)
    return;
  self->color_by = mode;
  invalidate (self);
}

PsColorBy
ps_scatter_view_get_color_by (PsScatterView *self)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), PS_COLOR_BY_CLASS);
  return self->color_by;
}

gsize
ps_scatter_view_get_n_points (PsScatterView *self)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), 0);
  return self->n;
}

const float *
ps_scatter_view_get_x (PsScatterView *self)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), NULL);
  return self->x;
}

const float *
ps_scatter_view_get_y (PsScatterView *self)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), NULL);
  return self->y;
}

gboolean
ps_scatter_view_is_projected (PsScatterView *self)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), FALSE);
  return self->data != NULL && self->data->projection != PS_PROJECTION_NONE;
}

guint
ps_scatter_view_get_texture_builds (PsScatterView *self)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), 0);
  return self->texture_builds;
}

/* ---- The figure ------------------------------------------------------- */

static PsFigure *
build_figure (PsScatterView *self, const char *title, gboolean skip_points)
{
  if (self->n == 0)
    return NULL;
  PsScatterFigureOptions options = {
    .color_by = self->color_by,
    .theme = ps_style_is_dark () ? PS_THEME_DARK : PS_THEME_LIGHT,
    .title = title,
    .class_names = (const char *const *) self->class_names,
    .selected = self->selection->len > 0 ? self->selected : NULL,
    .have_range = self->have_range,
    .x0 = self->x0, .x1 = self->x1, .y0 = self->y0, .y1 = self->y1,
    .skip_points = skip_points,
  };
  return ps_scatter_data_figure (self->data, &options);
}

PsFigure *
ps_scatter_view_build_figure (PsScatterView *self, const char *title)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), NULL);
  return build_figure (self, title, FALSE);
}

/* ---- Drawing ------------------------------------------------------------ */

static void
free_surface_bytes (gpointer surface)
{
  cairo_surface_destroy (surface);
}

/* Renders `parts` of the figure into a cairo image surface of the widget's
 * size in device pixels, and updates the view to the layout the figure
 * settled on. */
static cairo_surface_t *
render_surface (PsScatterView *self, PsFigure *fig, int width, int height, int scale,
                PsRenderParts parts)
{
  PsPlotTheme *theme = ps_figure_get_theme (fig);
  theme->background.a = 0;
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, width * scale,
                                                         height * scale);
  cairo_t *cr = cairo_create (surface);
  cairo_scale (cr, scale, scale);
  ps_figure_render_parts (fig, cr, width, height, parts);
  cairo_destroy (cr);
  cairo_surface_flush (surface);

  ps_figure_get_view (fig, width, height, &self->view);
  /* Keep the range the layout settled on (equal aspect widens one axis),
   * so pan and zoom start from what is on screen. */
  self->x0 = self->view.x0;
  self->x1 = self->view.x1;
  self->y0 = self->view.y0;
  self->y1 = self->view.y1;
  return surface;
}

/* The surface's pixels, owning a reference to it. */
static GBytes *
surface_bytes (cairo_surface_t *surface)
{
  int stride = cairo_image_surface_get_stride (surface);
  int h = cairo_image_surface_get_height (surface);
  return g_bytes_new_with_free_func (cairo_image_surface_get_data (surface), (gsize) stride * h,
                                     free_surface_bytes, cairo_surface_reference (surface));
}

/* A texture of the device-pixel rectangle (x, y, w, h) of `bytes`, without
 * a copy: the renderer uploads only these pixels. */
static GdkTexture *
sub_texture (GBytes *bytes, int stride, int x, int y, int w, int h)
{
  g_autoptr (GBytes) sub = g_bytes_new_from_bytes (bytes, (gsize) y * stride + 4 * (gsize) x,
                                                   (gsize) (h - 1) * stride + 4 * (gsize) w);
  return gdk_memory_texture_new (w, h, GDK_MEMORY_DEFAULT, sub, stride);
}

/* The plot area in device pixels, grown by `grow` (negative: shrunk),
 * within the widget. */
static void
plot_rect_px (PsScatterView *self, int scale, int grow, int pw, int ph, int r[4])
{
  r[0] = CLAMP ((int) floor (self->view.px * scale) - grow, 0, pw);
  r[1] = CLAMP ((int) floor (self->view.py * scale) - grow, 0, ph);
  r[2] = CLAMP ((int) ceil ((self->view.px + self->view.pw) * scale) + grow, r[0], pw);
  r[3] = CLAMP ((int) ceil ((self->view.py + self->view.ph) * scale) + grow, r[1], ph);
}

/* Axis spines straddle the plot's edge: this many device pixels inside it
 * belong to the margins (they do not move with a pan). */
#define EDGE_PX 3

/* The margins of the overlay (axes, title, legend) as up to four textures
 * of their own pixels: a full-window overlay would make every frame blend
 * the whole window once more, which a software renderer pays per pixel. */
static void
set_strips (PsScatterView *self, cairo_surface_t *overlay, int scale)
{
  int pw = cairo_image_surface_get_width (overlay), ph = cairo_image_surface_get_height (overlay);
  int stride = cairo_image_surface_get_stride (overlay);
  g_autoptr (GBytes) bytes = surface_bytes (overlay);
  int r[4];
  plot_rect_px (self, scale, -EDGE_PX, pw, ph, r);
  int rects[4][4] = {
    { 0, 0, pw, r[1] },                  /* top, full width */
    { 0, r[3], pw, ph - r[3] },          /* bottom, full width */
    { 0, r[1], r[0], r[3] - r[1] },      /* left */
    { r[2], r[1], pw - r[2], r[3] - r[1] }, /* right */
  };

  clear_strips (self);
  for (guint i = 0; i < 4; i++)
    if (rects[i][2] > 0 && rects[i][3] > 0)
      {
        self->strips[i] = sub_texture (bytes, stride, rects[i][0], rects[i][1], rects[i][2], rects[i][3]);
        self->strip_rects[i] = GRAPHENE_RECT_INIT ((float) rects[i][0] / scale, (float) rects[i][1] / scale,
                                                   (float) rects[i][2] / scale, (float) rects[i][3] / scale);
      }
}

/* The points texture holds the plot area: its background, regions, points
 * and the overlay's inside (prototypes, which move with the points); the
 * margin strips the rest of the overlay.  Both are rebuilt only when the
 * data, the view, the colours, the selection or the size change; a pan
 * shifts the points texture and rebuilds only the margins until it
 * settles. */
static void
rebuild_texture (PsScatterView *self, int width, int height, int scale)
{
  g_autoptr (PsFigure) fig = build_figure (self, NULL, FALSE);

  clear_textures (self);
  self->dirty = FALSE;
  self->panned = FALSE;
  self->tex_width = width;
  self->tex_height = height;
  self->tex_scale = scale;
  if (fig == NULL || width <= 0 || height <= 0)
    return;
  cairo_surface_t *points = render_surface (self, fig, width, height, scale,
                                            PS_RENDER_BACKGROUND | PS_RENDER_POINTS);
  cairo_surface_t *overlay = render_surface (self, fig, width, height, scale, PS_RENDER_OVERLAY);
  int pw = width * scale, ph = height * scale;
  int inner[4], r[4];
  plot_rect_px (self, scale, -EDGE_PX, pw, ph, inner);
  plot_rect_px (self, scale, 0, pw, ph, r);

  /* The overlay's inside joins the points. */
  cairo_t *cr = cairo_create (points);
  cairo_rectangle (cr, inner[0], inner[1], inner[2] - inner[0], inner[3] - inner[1]);
  cairo_clip (cr);
  cairo_set_source_surface (cr, overlay, 0, 0);
  cairo_paint (cr);
  cairo_destroy (cr);
  cairo_surface_flush (points);

  if (r[2] > r[0] && r[3] > r[1])
    {
      g_autoptr (GBytes) bytes = surface_bytes (points);
      self->texture = sub_texture (bytes, cairo_image_surface_get_stride (points),
                                   r[0], r[1], r[2] - r[0], r[3] - r[1]);
      self->tex_rect = GRAPHENE_RECT_INIT ((float) r[0] / scale, (float) r[1] / scale,
                                           (float) (r[2] - r[0]) / scale, (float) (r[3] - r[1]) / scale);
    }
  self->tex_view = self->view;
  set_strips (self, overlay, scale);
  cairo_surface_destroy (points);
  cairo_surface_destroy (overlay);
  self->texture_builds++;
}

static void
rebuild_overlay (PsScatterView *self, int width, int height, int scale)
{
  g_autoptr (PsFigure) fig = build_figure (self, NULL, TRUE);

  self->panned = FALSE;
  clear_strips (self);
  if (fig == NULL)
    return;
  cairo_surface_t *overlay = render_surface (self, fig, width, height, scale, PS_RENDER_OVERLAY);
  set_strips (self, overlay, scale);
  cairo_surface_destroy (overlay);
}

static void
append_ring (GtkSnapshot *snapshot, double cx, double cy, double r, const GdkRGBA *color, double w)
{
  GskRoundedRect rr;
  float widths[4] = { w, w, w, w };
  GdkRGBA colors[4] = { *color, *color, *color, *color };

  gsk_rounded_rect_init_from_rect (&rr, &GRAPHENE_RECT_INIT (cx - r, cy - r, 2 * r, 2 * r), r);
  gtk_snapshot_append_border (snapshot, &rr, widths, colors);
}

gsize
ps_scatter_view_get_prototype_lines (PsScatterView *self, float *weights, gboolean *approximate)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), 0);

  if (self->data == NULL || self->selection->len != 1 || self->data->n_protos == 0)
    return 0;
  gsize k = self->data->n_protos, lines = 0;
  g_autofree float *w = g_new (float, k);
  if (!ps_scatter_data_prototype_weights (self->data, g_array_index (self->selection, guint32, 0),
                                          w, approximate))
    return 0;
  for (gsize j = 0; j < k; j++)
    lines += isfinite (w[j]) && w[j] >= PS_PROTO_LINE_MIN;
  if (weights)
    memcpy (weights, w, k * sizeof (float));
  return lines;
}

gboolean
ps_scatter_view_prototype_to_widget (PsScatterView *self, gsize k, double *x, double *y)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), FALSE);

  if (self->data == NULL || k >= self->data->n_protos || self->texture == NULL)
    return FALSE;
  ps_plot_view_to_pixel (&self->view, self->data->proto_x[k], self->data->proto_y[k], x, y);
  return TRUE;
}

/* Lines from the one selected point to the prototypes, as opaque as its
 * assignment to each: a Cairo node over just the lines' bounds, clipped to
 * the plot. */
static void
append_prototype_lines (PsScatterView *self, GtkSnapshot *snapshot, const GdkRGBA *color)
{
  gsize k = self->data ? self->data->n_protos : 0;
  if (k == 0 || self->selection->len != 1)
    return;
  g_autofree float *w = g_new (float, k);
  if (ps_scatter_view_get_prototype_lines (self, w, NULL) == 0)
    return;
  double sx, sy;
  if (!ps_scatter_view_point_to_widget (self, g_array_index (self->selection, guint32, 0), &sx, &sy))
    return;
  g_autofree double *xy = g_new (double, 2 * k);
  double x0 = sx, x1 = sx, y0 = sy, y1 = sy;
  for (gsize j = 0; j < k; j++)
    {
      ps_scatter_view_prototype_to_widget (self, j, &xy[2 * j], &xy[2 * j + 1]);
      if (!(isfinite (w[j]) && w[j] >= PS_PROTO_LINE_MIN))
        continue;
      x0 = MIN (x0, xy[2 * j]);
      x1 = MAX (x1, xy[2 * j]);
      y0 = MIN (y0, xy[2 * j + 1]);
      y1 = MAX (y1, xy[2 * j + 1]);
    }
  /* The lines' bounds within the plot, a little wider for the line caps. */
  x0 = MAX (x0 - 3, self->view.px);
  y0 = MAX (y0 - 3, self->view.py);
  x1 = MIN (x1 + 3, self->view.px + self->view.pw);
  y1 = MIN (y1 + 3, self->view.py + self->view.ph);
  if (x1 <= x0 || y1 <= y0)
    return;
  cairo_t *cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (x0, y0, x1 - x0, y1 - y0));
  cairo_set_line_width (cr, 2);
  cairo_set_line_cap (cr, CAIRO_LINE_CAP_ROUND);
  for (gsize j = 0; j < k; j++)
    if (isfinite (w[j]) && w[j] >= PS_PROTO_LINE_MIN)
      {
        cairo_set_source_rgba (cr, color->red, color->green, color->blue, MIN (w[j], 1.0f));
        cairo_move_to (cr, sx, sy);
        cairo_line_to (cr, xy[2 * j], xy[2 * j + 1]);
        cairo_stroke (cr);
      }
  cairo_destroy (cr);
}

static void
ps_scatter_view_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  PsScatterView *self = PS_SCATTER_VIEW (widget);
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);
  int scale = gtk_widget_get_scale_factor (widget);
  gboolean dark = ps_style_is_dark ();
  GdkRGBA ring = dark ? (GdkRGBA) { 1, 1, 1, 0.95 } : (GdkRGBA) { 0.1, 0.1, 0.1, 0.9 };

  if (self->n == 0)
    {
      PangoLayout *layout = gtk_widget_create_pango_layout (widget, "No snapshot to show yet");
      int lw, lh;
      GdkRGBA fg = dark ? (GdkRGBA) { 1, 1, 1, 0.5 } : (GdkRGBA) { 0, 0, 0, 0.45 };
      pango_layout_get_pixel_size (layout, &lw, &lh);
      gtk_snapshot_save (snapshot);
      gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT ((width - lw) / 2.0, (height - lh) / 2.0));
      gtk_snapshot_append_layout (snapshot, layout, &fg);
      gtk_snapshot_restore (snapshot);
      g_object_unref (layout);
      return;
    }

  if (self->dirty || self->texture == NULL || width != self->tex_width
      || height != self->tex_height || scale != self->tex_scale)
    {
      gint64 t0 = g_get_monotonic_time ();
      rebuild_texture (self, width, height, scale);
      g_debug ("points texture %dx%d rebuilt in %.1f ms", width, height,
               (g_get_monotonic_time () - t0) / 1000.0);
    }
  else if (self->panned)
    {
      gint64 t0 = g_get_monotonic_time ();
      rebuild_overlay (self, width, height, scale);
      g_debug ("axes overlay %dx%d rebuilt in %.1f ms", width, height,
               (g_get_monotonic_time () - t0) / 1000.0);
    }
  if (self->texture)
    {
      /* Where the texture's data origin lands in the current view. */
      double ax, ay, bx, by;
      ps_plot_view_to_pixel (&self->tex_view, self->tex_view.x0, self->tex_view.y0, &ax, &ay);
      ps_plot_view_to_pixel (&self->view, self->tex_view.x0, self->tex_view.y0, &bx, &by);
      /* Whole device pixels: a fractional shift makes renderers resample
       * the whole texture. */
      double dx = round ((bx - ax) * scale) / scale, dy = round ((by - ay) * scale) / scale;
      gboolean shifted = fabs (dx) > 1e-3 || fabs (dy) > 1e-3;
      if (shifted)
        gtk_snapshot_push_clip (snapshot, &self->tex_rect);
      gtk_snapshot_append_texture (snapshot, self->texture,
                                   &GRAPHENE_RECT_INIT (self->tex_rect.origin.x + dx,
                                                        self->tex_rect.origin.y + dy,
                                                        self->tex_rect.size.width,
                                                        self->tex_rect.size.height));
      if (shifted)
        gtk_snapshot_pop (snapshot);
    }
  for (guint i = 0; i < G_N_ELEMENTS (self->strips); i++)
    if (self->strips[i])
      gtk_snapshot_append_texture (snapshot, self->strips[i], &self->strip_rects[i]);

  /* Overlays: cheap nodes, redrawn on pointer motion without the texture. */
  append_prototype_lines (self, snapshot, &ring);
  /* Rings mark a few chosen points; a large selection is shown by the
   * dimming of the rest alone. */
  for (guint i = 0; self->selection->len <= 8 && i < self->selection->len; i++)
    {
      double px, py;
      if (ps_scatter_view_point_to_widget (self, g_array_index (self->selection, guint32, i), &px, &py))
        append_ring (snapshot, px, py, 7, &ring, 2);
    }
  if (self->hover >= 0)
    {
      double px, py;
      GdkRGBA halo = { ring.red, ring.green, ring.blue, 0.35 };
      if (ps_scatter_view_point_to_widget (self, self->hover, &px, &py))
        {
          append_ring (snapshot, px, py, 9, &halo, 4);
          append_ring (snapshot, px, py, 6, &ring, 1.5);
        }
    }
  if (self->dragging && self->lasso && self->lasso_points->len >= 4)
    {
      /* A Cairo node only while the lasso is being drawn. */
      cairo_t *cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (0, 0, width, height));
      const double *p = (const double *) self->lasso_points->data;
      cairo_move_to (cr, p[0], p[1]);
      for (guint i = 1; i < self->lasso_points->len / 2; i++)
        cairo_line_to (cr, p[2 * i], p[2 * i + 1]);
      cairo_close_path (cr);
      cairo_set_source_rgba (cr, 0.21, 0.52, 0.89, 0.15);
      cairo_fill_preserve (cr);
      cairo_set_source_rgba (cr, 0.21, 0.52, 0.89, 1);
      cairo_set_line_width (cr, 1.5);
      cairo_stroke (cr);
      cairo_destroy (cr);
    }
  if (self->dragging && self->box_select)
    {
      double x = MIN (self->drag_x, self->drag_x + self->drag_dx);
      double y = MIN (self->drag_y, self->drag_y + self->drag_dy);
      graphene_rect_t r = GRAPHENE_RECT_INIT (x, y, fabs (self->drag_dx), fabs (self->drag_dy));
      GskRoundedRect rr;
      float widths[4] = { 1, 1, 1, 1 };
      GdkRGBA accent = { 0.21, 0.52, 0.89, 1 };
      GdkRGBA colors[4] = { accent, accent, accent, accent };
      gtk_snapshot_append_color (snapshot, &(GdkRGBA) { 0.21, 0.52, 0.89, 0.15 }, &r);
      gsk_rounded_rect_init_from_rect (&rr, &r, 0);
      gtk_snapshot_append_border (snapshot, &rr, widths, colors);
    }
}

gboolean
ps_scatter_view_point_to_widget (PsScatterView *self, gsize i, double *x, double *y)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), FALSE);

  if (i >= self->n || self->texture == NULL)
    return FALSE;
  ps_plot_view_to_pixel (&self->view, self->x[i], self->y[i], x, y);
  return TRUE;
}

/* ---- Selection ---------------------------------------------------------- */

static int
compare_u32 (gconstpointer a, gconstpointer b)
{
  guint32 x = *(const guint32 *) a, y = *(const guint32 *) b;
  return x < y ? -1 : x > y;
}

void
ps_scatter_view_select (PsScatterView *self, const guint32 *indices, gsize n)
{
  g_return_if_fail (PS_IS_SCATTER_VIEW (self));

  if (self->selected)
    memset (self->selected, 0, self->n);
  g_array_set_size (self->selection, 0);
  for (gsize i = 0; i < n; i++)
    if (indices[i] < self->n && !self->selected[indices[i]])
      {
        self->selected[indices[i]] = 1;
        g_array_append_val (self->selection, indices[i]);
      }
  g_array_sort (self->selection, compare_u32);
  invalidate (self);
  g_signal_emit (self, signals[SIGNAL_SELECTION_CHANGED], 0);
}

const guint32 *
ps_scatter_view_get_selection (PsScatterView *self, gsize *n)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), NULL);

  if (n)
    *n = self->selection->len;
  return (const guint32 *) self->selection->data;
}

gssize
ps_scatter_view_select_at (PsScatterView *self, double x, double y)
{
  g_return_val_if_fail (PS_IS_SCATTER_VIEW (self), -1);

  if (self->grid == NULL || self->texture == NULL)
    return -1;
  gssize hit = ps_point_grid_nearest_pixel (self->grid, &self->view, x, y, PICK_RADIUS);
  if (hit >= 0)
    {
      guint32 idx = (guint32) hit;
      ps_scatter_view_select (self, &idx, 1);
    }
  else if (self->selection->len > 0)
    ps_scatter_view_select (self, NULL, 0);
  return hit;
}

/* ---- View changes ------------------------------------------------------- */

void
ps_scatter_view_zoom_fit (PsScatterView *self)
{
  g_return_if_fail (PS_IS_SCATTER_VIEW (self));

  fit_range (self);
  invalidate (self);
}

static void
zoom_about (PsScatterView *self, double factor, double cx, double cy)
{
  if (self->texture == NULL || !isfinite (factor) || factor <= 0)
    return;
  PsPlotView v = self->view;
  ps_plot_view_zoom (&v, factor, cx, cy);
  self->x0 = v.x0;
  self->x1 = v.x1;
  self->y0 = v.y0;
  self->y1 = v.y1;
  self->view = v;
  invalidate (self);
  g_signal_emit (self, signals[SIGNAL_VIEW_CHANGED], 0);
}

void
ps_scatter_view_pan (PsScatterView *self, double dx, double dy)
{
  g_return_if_fail (PS_IS_SCATTER_VIEW (self));

  if (!self->have_range || self->view.pw <= 0)
    return;
  PsPlotView v = self->view;
  ps_plot_view_pan (&v, dx, dy);
  self->x0 = v.x0;
  self->x1 = v.x1;
  self->y0 = v.y0;
  self->y1 = v.y1;
  self->view = v;
  pan_invalidate (self);
  g_signal_emit (self, signals[SIGNAL_VIEW_CHANGED], 0);
}

void
ps_scatter_view_zoom (PsScatterView *self, double factor)
{
  g_return_if_fail (PS_IS_SCATTER_VIEW (self));
  zoom_about (self, factor, self->view.px + self->view.pw / 2, self->view.py + self->view.ph / 2);
}

static gboolean
scroll_cb (GtkEventControllerScroll *controller, double dx, double dy, PsScatterView *self)
{
  zoom_about (self, exp (-dy * 0.15), self->pointer_x, self->pointer_y);
  return TRUE;
}

static void
zoom_begin_cb (GtkGesture *gesture, GdkEventSequence *sequence, PsScatterView *self)
{
  self->zoom_last = 1.0;
}

static void
zoom_scale_changed_cb (GtkGestureZoom *gesture, double scale, PsScatterView *self)
{
  double cx, cy;

  if (!gtk_gesture_get_bounding_box_center (GTK_GESTURE (gesture), &cx, &cy))
    cx = self->pointer_x, cy = self->pointer_y;
  zoom_about (self, scale / self->zoom_last, cx, cy);
  self->zoom_last = scale;
}

static void
motion_cb (GtkEventControllerMotion *controller, double x, double y, PsScatterView *self)
{
  self->pointer_x = x;
  self->pointer_y = y;
  if (self->dragging || self->grid == NULL || self->texture == NULL)
    return;
  gssize hit = ps_point_grid_nearest_pixel (self->grid, &self->view, x, y, PICK_RADIUS);
  if (hit != self->hover)
    {
      self->hover = hit;
      /* Only the overlay changes: no invalidate(), the texture stays. */
      gtk_widget_queue_draw (GTK_WIDGET (self));
    }
}

static void
leave_cb (GtkEventControllerMotion *controller, PsScatterView *self)
{
  if (self->hover >= 0)
    {
      self->hover = -1;
      gtk_widget_queue_draw (GTK_WIDGET (self));
    }
}

static void
drag_begin_cb (GtkGestureDrag *gesture, double x, double y, PsScatterView *self)
{
  GdkModifierType mods = gtk_event_controller_get_current_event_state (GTK_EVENT_CONTROLLER (gesture));

  gtk_widget_grab_focus (GTK_WIDGET (self));
  self->dragging = TRUE;
  self->box_select = (mods & GDK_SHIFT_MASK) != 0;
  self->lasso = !self->box_select && (mods & GDK_CONTROL_MASK) != 0;
  g_array_set_size (self->lasso_points, 0);
  if (self->lasso)
    {
      double p[2] = { x, y };
      g_array_append_vals (self->lasso_points, p, 2);
    }
  self->drag_x = x;
  self->drag_y = y;
  self->drag_dx = self->drag_dy = 0;
  self->drag_range[0] = self->x0;
  self->drag_range[1] = self->x1;
  self->drag_range[2] = self->y0;
  self->drag_range[3] = self->y1;
}

static void
drag_update_cb (GtkGestureDrag *gesture, double dx, double dy, PsScatterView *self)
{
  self->drag_dx = dx;
  self->drag_dy = dy;
  if (self->lasso)
    {
      double p[2] = { self->drag_x + dx, self->drag_y + dy };
      g_array_append_vals (self->lasso_points, p, 2);
      gtk_widget_queue_draw (GTK_WIDGET (self));
      return;
    }
  if (self->box_select)
    {
      gtk_widget_queue_draw (GTK_WIDGET (self));
      return;
    }
  if (self->texture == NULL || hypot (dx, dy) < CLICK_SLOP)
    return;
  double sx, sy;
  ps_plot_view_scale (&self->view, &sx, &sy);
  double ddx = dx / sx * (self->drag_range[1] > self->drag_range[0] ? 1 : -1);
  double ddy = dy / sy * (self->drag_range[3] > self->drag_range[2] ? 1 : -1);
  self->x0 = self->drag_range[0] - ddx;
  self->x1 = self->drag_range[1] - ddx;
  self->y0 = self->drag_range[2] + ddy;
  self->y1 = self->drag_range[3] + ddy;
  pan_invalidate (self);
  g_signal_emit (self, signals[SIGNAL_VIEW_CHANGED], 0);
}

static void
drag_end_cb (GtkGestureDrag *gesture, double dx, double dy, PsScatterView *self)
{
  gboolean click = hypot (dx, dy) < CLICK_SLOP;

  self->dragging = FALSE;
  if (click)
    ps_scatter_view_select_at (self, self->drag_x, self->drag_y);
  else if (self->lasso && self->grid && self->texture && self->lasso_points->len >= 6)
    {
      /* The polygon in data space, implicitly closed. */
      gsize nv = self->lasso_points->len / 2, n = 0;
      g_autofree double *poly = g_new (double, 2 * nv);
      for (gsize i = 0; i < nv; i++)
        ps_plot_view_to_data (&self->view, g_array_index (self->lasso_points, double, 2 * i),
                              g_array_index (self->lasso_points, double, 2 * i + 1),
                              &poly[2 * i], &poly[2 * i + 1]);
      g_autofree guint32 *idx = ps_point_grid_in_polygon (self->grid, poly, nv, &n);
      ps_scatter_view_select (self, idx, n);
    }
  else if (self->box_select && self->grid && self->texture)
    {
      double ax, ay, bx, by;
      gsize n = 0;
      ps_plot_view_to_data (&self->view, self->drag_x, self->drag_y, &ax, &ay);
      ps_plot_view_to_data (&self->view, self->drag_x + dx, self->drag_y + dy, &bx, &by);
      g_autofree guint32 *idx = ps_point_grid_in_rect (self->grid, ax, ay, bx, by, &n);
      ps_scatter_view_select (self, idx, n);
    }
  self->box_select = FALSE;
  self->lasso = FALSE;
  g_array_set_size (self->lasso_points, 0);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static gboolean
key_pressed_cb (GtkEventControllerKey *controller, guint keyval, guint keycode,
                GdkModifierType state, PsScatterView *self)
{
  if (state & (GDK_CONTROL_MASK | GDK_ALT_MASK))
    return FALSE;
  switch (keyval)
    {
    case GDK_KEY_plus:
    case GDK_KEY_equal:
    case GDK_KEY_KP_Add:
      ps_scatter_view_zoom (self, 1.25);
      return TRUE;
    case GDK_KEY_minus:
    case GDK_KEY_KP_Subtract:
      ps_scatter_view_zoom (self, 0.8);
      return TRUE;
    case GDK_KEY_0:
    case GDK_KEY_KP_0:
      ps_scatter_view_zoom_fit (self);
      return TRUE;
    case GDK_KEY_Escape:
      if (self->selection->len == 0)
        return FALSE;
      ps_scatter_view_select (self, NULL, 0);
      return TRUE;
    default:
      return FALSE;
    }
}

static gboolean
ps_scatter_view_query_tooltip (GtkWidget *widget, int x, int y, gboolean keyboard,
                               GtkTooltip *tooltip)
{
  PsScatterView *self = PS_SCATTER_VIEW (widget);
  g_autoptr (GString) s = g_string_new (NULL);

  if (self->grid == NULL || self->texture == NULL)
    return FALSE;
  gssize i = ps_point_grid_nearest_pixel (self->grid, &self->view, x, y, PICK_RADIUS);
  if (i < 0)
    return FALSE;
  g_string_append_printf (s, "<b>Sample %" G_GSSIZE_FORMAT "</b>", i);
  if (self->data->labels)
    {
      gint32 c = self->data->labels[i];
      const char *name = self->class_names && c >= 0 && (guint) c < g_strv_length (self->class_names)
                             ? self->class_names[c] : NULL;
      g_autofree char *esc = name ? g_markup_escape_text (name, -1) : NULL;
      g_string_append_printf (s, "\nclass %d%s%s%s", c, esc ? " (" : "", esc ? esc : "", esc ? ")" : "");
    }
  if (self->data->predictions)
    g_string_append_printf (s, "\npredicted %d", self->data->predictions[i]);
  if (self->data->scores)
    g_string_append_printf (s, "\n%s %.3f", self->data->score_name, self->data->scores[i]);
  g_string_append_printf (s, "\n(%.3g, %.3g)", self->x[i], self->y[i]);
  gtk_tooltip_set_markup (tooltip, s->str);
  return TRUE;
}

/* ---- GObject --------------------------------------------------------------- */

static void
theme_changed_cb (PsScatterView *self)
{
  /* The figure's colours follow the style: redraw the points texture. */
  invalidate (self);
}

static void
ps_scatter_view_realize (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (ps_scatter_view_parent_class)->realize (widget);
  GtkSettings *settings = gtk_widget_get_settings (widget);
  g_signal_connect_object (settings, "notify::gtk-application-prefer-dark-theme",
                           G_CALLBACK (theme_changed_cb), widget, G_CONNECT_SWAPPED);
  g_signal_connect_object (settings, "notify::gtk-theme-name",
                           G_CALLBACK (theme_changed_cb), widget, G_CONNECT_SWAPPED);
}

static void
ps_scatter_view_unrealize (GtkWidget *widget)
{
  g_signal_handlers_disconnect_by_func (gtk_widget_get_settings (widget), theme_changed_cb, widget);
  g_clear_handle_id (&PS_SCATTER_VIEW (widget)->settle_id, g_source_remove);
  GTK_WIDGET_CLASS (ps_scatter_view_parent_class)->unrealize (widget);
}

static void
ps_scatter_view_measure (GtkWidget *widget, GtkOrientation orientation, int for_size,
                         int *minimum, int *natural, int *minimum_baseline, int *natural_baseline)
{
  *minimum = 200;
  *natural = orientation == GTK_ORIENTATION_HORIZONTAL ? 640 : 480;
}

static void
ps_scatter_view_finalize (GObject *object)
{
  PsScatterView *self = PS_SCATTER_VIEW (object);

  clear_data (self);
  g_strfreev (self->class_names);
  g_array_unref (self->selection);
  g_array_unref (self->lasso_points);
  clear_textures (self);
  g_clear_handle_id (&self->settle_id, g_source_remove);
  G_OBJECT_CLASS (ps_scatter_view_parent_class)->finalize (object);
}

static void
ps_scatter_view_class_init (PsScatterViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->finalize = ps_scatter_view_finalize;
  widget_class->snapshot = ps_scatter_view_snapshot;
  widget_class->realize = ps_scatter_view_realize;
  widget_class->unrealize = ps_scatter_view_unrealize;
  widget_class->measure = ps_scatter_view_measure;
  widget_class->query_tooltip = ps_scatter_view_query_tooltip;

  signals[SIGNAL_SELECTION_CHANGED] =
      g_signal_new ("selection-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                    0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  /* The person panned or zoomed. */
  signals[SIGNAL_VIEW_CHANGED] =
      g_signal_new ("view-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                    0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  gtk_widget_class_set_css_name (widget_class, "scatterview");
}

static void
ps_scatter_view_init (PsScatterView *self)
{
  GtkWidget *widget = GTK_WIDGET (self);

  self->selection = g_array_new (FALSE, FALSE, sizeof (guint32));
  self->lasso_points = g_array_new (FALSE, FALSE, sizeof (double));
  self->hover = -1;
  self->dirty = TRUE;
  gtk_widget_set_focusable (widget, TRUE);
  gtk_widget_set_has_tooltip (widget, TRUE);
  gtk_widget_set_hexpand (widget, TRUE);
  gtk_widget_set_vexpand (widget, TRUE);

  GtkEventController *motion = gtk_event_controller_motion_new ();
  g_signal_connect (motion, "motion", G_CALLBACK (motion_cb), self);
  g_signal_connect (motion, "leave", G_CALLBACK (leave_cb), self);
  gtk_widget_add_controller (widget, motion);

  GtkEventController *scroll = gtk_event_controller_scroll_new (GTK_EVENT_CONTROLLER_SCROLL_VERTICAL);
  g_signal_connect (scroll, "scroll", G_CALLBACK (scroll_cb), self);
  gtk_widget_add_controller (widget, scroll);

  GtkGesture *drag = gtk_gesture_drag_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (drag), GDK_BUTTON_PRIMARY);
  g_signal_connect (drag, "drag-begin", G_CALLBACK (drag_begin_cb), self);
  g_signal_connect (drag, "drag-update", G_CALLBACK (drag_update_cb), self);
  g_signal_connect (drag, "drag-end", G_CALLBACK (drag_end_cb), self);
  gtk_widget_add_controller (widget, GTK_EVENT_CONTROLLER (drag));

  GtkGesture *zoom = gtk_gesture_zoom_new ();
  g_signal_connect (zoom, "begin", G_CALLBACK (zoom_begin_cb), self);
  g_signal_connect (zoom, "scale-changed", G_CALLBACK (zoom_scale_changed_cb), self);
  gtk_widget_add_controller (widget, GTK_EVENT_CONTROLLER (zoom));

  GtkEventController *keys = gtk_event_controller_key_new ();
  g_signal_connect (keys, "key-pressed", G_CALLBACK (key_pressed_cb), self);
  gtk_widget_add_controller (widget, keys);
}

GtkWidget *
ps_scatter_view_new (void)
{
  return g_object_new (PS_TYPE_SCATTER_VIEW, NULL);
}
