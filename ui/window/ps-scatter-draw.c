/* ps-scatter-draw.c: how the scatter widget draws itself: the figure,
 * the cached points texture and margin strips (shifted by a pan, rebuilt
 * once it settles) and the cheap overlays (prototype lines, rings, hover,
 * lasso and box selection). */
#define G_LOG_DOMAIN "ps-window"

#include <math.h>
#include <string.h>

#include "ps-application.h"
#include "ps-scatter-view-private.h"

/* Prototype lines fainter than this are not drawn. */
#define PS_PROTO_LINE_MIN 0.01f

/* ---- Textures ------------------------------------------------------------ */

static void
clear_strips (PsScatterView *self)
{
  for (guint i = 0; i < G_N_ELEMENTS (self->strips); i++)
    {
      g_clear_object (&self->strips[i]);
      g_clear_pointer (&self->strip_surfaces[i], cairo_surface_destroy);
    }
}

void
ps_scatter_draw_clear_textures (PsScatterView *self)
{
  g_clear_object (&self->texture);
  g_clear_pointer (&self->tex_surface, cairo_surface_destroy);
  clear_strips (self);
}

/* A copy of the device-pixel rectangle (x, y, w, h) of `surface`, at
 * device scale `scale`. */
static cairo_surface_t *
sub_surface (cairo_surface_t *surface, int x, int y, int w, int h, int scale)
{
  cairo_surface_t *sub = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, w, h);
  cairo_t *cr = cairo_create (sub);
  cairo_set_operator (cr, CAIRO_OPERATOR_SOURCE);
  cairo_set_source_surface (cr, surface, -x, -y);
  cairo_paint (cr);
  cairo_destroy (cr);
  cairo_surface_set_device_scale (sub, scale, scale);
  return sub;
}

/* Whether the window draws with the cairo renderer (see ps_pick_renderer). */
static gboolean
cairo_renderer (GtkWidget *widget)
{
  GtkNative *native = gtk_widget_get_native (widget);
  GskRenderer *renderer = native ? gtk_native_get_renderer (native) : NULL;
  return renderer != NULL && GSK_IS_CAIRO_RENDERER (renderer);
}

/* `surface` at `rect` (its logical size) as a cairo node: the cairo
 * renderer replays it as one blit from our cached pixels. */
static void
append_surface (GtkSnapshot *snapshot, cairo_surface_t *surface, const graphene_rect_t *rect)
{
  cairo_t *cr = gtk_snapshot_append_cairo (snapshot, rect);
  cairo_set_source_surface (cr, surface, rect->origin.x, rect->origin.y);
  cairo_paint (cr);
  cairo_destroy (cr);
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
        self->strip_surfaces[i] = sub_surface (overlay, rects[i][0], rects[i][1], rects[i][2], rects[i][3], scale);
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

  ps_scatter_draw_clear_textures (self);
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
      self->tex_surface = sub_surface (points, r[0], r[1], r[2] - r[0], r[3] - r[1], scale);
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

void
ps_scatter_draw_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
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
  gboolean use_cairo = cairo_renderer (widget);
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
      graphene_rect_t at = GRAPHENE_RECT_INIT (self->tex_rect.origin.x + dx, self->tex_rect.origin.y + dy,
                                               self->tex_rect.size.width, self->tex_rect.size.height);
      if (use_cairo)
        append_surface (snapshot, self->tex_surface, &at);
      else
        gtk_snapshot_append_texture (snapshot, self->texture, &at);
      if (shifted)
        gtk_snapshot_pop (snapshot);
    }
  for (guint i = 0; i < G_N_ELEMENTS (self->strips); i++)
    if (self->strips[i] && use_cairo)
      append_surface (snapshot, self->strip_surfaces[i], &self->strip_rects[i]);
    else if (self->strips[i])
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
