/* ps-plot-figure.c: the figure's lifetime and settings, rendering onto a
 * cairo_t, export to PNG/SVG/PDF, the CSV writer and curve smoothing. */
#define G_LOG_DOMAIN "ps-plot"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <math.h>
#include <string.h>

#include "ps-base.h"
#include "ps-plot-private.h"

PsFigure *
ps_figure_new (void)
{
  PsFigure *fig = g_new0 (PsFigure, 1);
  ps_plot_theme_init (&fig->theme, PS_THEME_LIGHT);
  fig->show_axes = TRUE;
  fig->show_grid = TRUE;
  fig->show_legend = TRUE;
  fig->class_names = g_ptr_array_new_with_free_func (g_free);
  fig->legend = g_array_new (FALSE, TRUE, sizeof (PsLegendEntry));
  fig->layers = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_layer_free);
  return fig;
}

void
ps_figure_free (PsFigure *fig)
{
  if (fig == NULL)
    return;
  g_free (fig->title);
  g_free (fig->x_label);
  g_free (fig->y_label);
  g_free (fig->cb_label);
  g_ptr_array_unref (fig->class_names);
  for (guint i = 0; i < fig->legend->len; i++)
    g_free (g_array_index (fig->legend, PsLegendEntry, i).name);
  g_array_unref (fig->legend);
  g_ptr_array_unref (fig->layers);
  g_free (fig);
}

static void
replace_str (char **slot, const char *value)
{
  g_free (*slot);
  *slot = value != NULL && *value != '\0' ? g_strdup (value) : NULL;
}

void
ps_figure_set_title (PsFigure *fig, const char *title)
{
  g_return_if_fail (fig != NULL);
  replace_str (&fig->title, title);
}

void
ps_figure_set_x_label (PsFigure *fig, const char *label)
{
  g_return_if_fail (fig != NULL);
  replace_str (&fig->x_label, label);
}

void
ps_figure_set_y_label (PsFigure *fig, const char *label)
{
  g_return_if_fail (fig != NULL);
  replace_str (&fig->y_label, label);
}

void
ps_figure_set_theme (PsFigure *fig, PsThemeKind kind)
{
  g_return_if_fail (fig != NULL);
  ps_plot_theme_init (&fig->theme, kind);
}

PsPlotTheme *
ps_figure_get_theme (PsFigure *fig)
{
  g_return_val_if_fail (fig != NULL, NULL);
  return &fig->theme;
}

void
ps_figure_set_x_range (PsFigure *fig, double lo, double hi)
{
  g_return_if_fail (fig != NULL && isfinite (lo) && isfinite (hi) && lo != hi);
  fig->has_x_range = TRUE;
  fig->x_range[0] = lo;
  fig->x_range[1] = hi;
}

void
ps_figure_set_y_range (PsFigure *fig, double lo, double hi)
{
  g_return_if_fail (fig != NULL && isfinite (lo) && isfinite (hi) && lo != hi);
  fig->has_y_range = TRUE;
  fig->y_range[0] = lo;
  fig->y_range[1] = hi;
}

void
ps_figure_clear_ranges (PsFigure *fig)
{
  g_return_if_fail (fig != NULL);
  fig->has_x_range = fig->has_y_range = FALSE;
}

void
ps_figure_set_equal_aspect (PsFigure *fig, gboolean equal)
{
  g_return_if_fail (fig != NULL);
  fig->equal_aspect = equal;
}

void
ps_figure_set_show_axes (PsFigure *fig, gboolean show)
{
  g_return_if_fail (fig != NULL);
  fig->show_axes = show;
}

void
ps_figure_set_show_grid (PsFigure *fig, gboolean show)
{
  g_return_if_fail (fig != NULL);
  fig->show_grid = show;
}

void
ps_figure_set_show_legend (PsFigure *fig, gboolean show)
{
  g_return_if_fail (fig != NULL);
  fig->show_legend = show;
}

void
ps_figure_set_class_names (PsFigure *fig, const char *const *names, guint n)
{
  g_return_if_fail (fig != NULL && (n == 0 || names != NULL));
  g_ptr_array_set_size (fig->class_names, 0);
  for (guint i = 0; i < n; i++)
    g_ptr_array_add (fig->class_names, g_strdup (names[i] != NULL ? names[i] : ""));
}

void
ps_figure_set_colorbar (PsFigure *fig, PsColormap map, double lo, double hi,
                        const char *label)
{
  g_return_if_fail (fig != NULL);
  fig->has_colorbar = TRUE;
  fig->cb_map = map;
  fig->cb_lo = lo;
  fig->cb_hi = hi;
  replace_str (&fig->cb_label, label);
}

void
ps_figure_add_legend_entry (PsFigure *fig, const char *name, PsColor color,
                            gboolean is_line)
{
  g_return_if_fail (fig != NULL && name != NULL);
  PsLegendEntry e = { g_strdup (name), color, is_line, FALSE };
  g_array_append_val (fig->legend, e);
}

void
ps_figure_add_legend_star (PsFigure *fig, const char *name, PsColor color)
{
  g_return_if_fail (fig != NULL && name != NULL);
  PsLegendEntry e = { g_strdup (name), color, FALSE, TRUE };
  g_array_append_val (fig->legend, e);
}

/* ------------------------------------------------------------------ */
/* Rendering                                                            */
/* ------------------------------------------------------------------ */

#define MAX_RASTER_SIDE 16384
#define PS_VECTOR_POINT_LIMIT 200000

void
ps_plot_draw_scatter (cairo_t *cr, const PsPlotView *view, const PsScatterSpec *spec,
                      gboolean vector)
{
  /* Up to a few hundred thousand points a vector file stays reasonable
   * (about 45 bytes a point); beyond that the points are embedded as an
   * image at twice the page resolution, as matplotlib's rasterized=True. */
  double oversample = 1;
  if (vector && spec->n <= PS_VECTOR_POINT_LIMIT)
    {
      ps_scatter_draw_vector (cr, view, spec);
      return;
    }
  if (vector)
    oversample = 2;

  /* Rasterise at the target's device resolution (its transform times any
   * HiDPI device scale), aligned to its pixel grid, so the points are as
   * sharp on a 2x export as on screen.  Plots are never rotated, so the
   * transform is a scale and a translation.  Image pixels are CTM units
   * times `os`. */
  double ds_x = 1, ds_y = 1;
  cairo_surface_get_device_scale (cairo_get_target (cr), &ds_x, &ds_y);
  double os = oversample * ds_x;
  cairo_matrix_t ctm;
  cairo_get_matrix (cr, &ctm);
  double sx = 1, sy = 0, tx = 0, ty = 1;
  cairo_matrix_transform_distance (&ctm, &sx, &sy);
  cairo_matrix_transform_distance (&ctm, &tx, &ty);
  double scale_x = fabs (sx) * os, scale_y = fabs (ty) * os;
  double dx0 = view->px, dy0 = view->py;
  double dx1 = view->px + view->pw, dy1 = view->py + view->ph;
  cairo_matrix_transform_point (&ctm, &dx0, &dy0);
  cairo_matrix_transform_point (&ctm, &dx1, &dy1);
  dx0 *= os;
  dy0 *= os;
  dx1 *= os;
  dy1 *= os;
  double ox = floor (MIN (dx0, dx1)), oy = floor (MIN (dy0, dy1));
  int W = (int) ceil (MAX (dx0, dx1) - ox), H = (int) ceil (MAX (dy0, dy1) - oy);
  if (W <= 0 || H <= 0 || W > MAX_RASTER_SIDE || H > MAX_RASTER_SIDE)
    return;

  cairo_surface_t *img = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, W, H);
  if (cairo_surface_status (img) != CAIRO_STATUS_SUCCESS)
    {
      cairo_surface_destroy (img);
      return;
    }
  cairo_surface_flush (img);
  PsPlotView dv = *view;
  dv.px = MIN (dx0, dx1) - ox;
  dv.py = MIN (dy0, dy1) - oy;
  dv.pw = fabs (dx1 - dx0);
  dv.ph = fabs (dy1 - dy0);
  ps_scatter_rasterize ((guint32 *) cairo_image_surface_get_data (img), W, H,
                        cairo_image_surface_get_stride (img), &dv, spec,
                        sqrt (scale_x * scale_y));
  cairo_surface_mark_dirty (img);

  cairo_save (cr);
  cairo_identity_matrix (cr);
  cairo_scale (cr, 1 / os, 1 / os);
  cairo_set_source_surface (cr, img, ox, oy);
  cairo_paint (cr);
  cairo_restore (cr);
  cairo_surface_destroy (img);
}

static gboolean
target_is_vector (cairo_t *cr)
{
  switch (cairo_surface_get_type (cairo_get_target (cr)))
    {
    case CAIRO_SURFACE_TYPE_PDF:
    case CAIRO_SURFACE_TYPE_PS:
    case CAIRO_SURFACE_TYPE_SVG:
      return TRUE;
    default:
      return FALSE;
    }
}

void
ps_figure_render_parts (PsFigure *fig, cairo_t *cr, double width, double height,
                        PsRenderParts parts)
{
  g_return_if_fail (fig != NULL && cr != NULL);

  PsPlotLayout lay;
  gboolean vector = target_is_vector (cr);
  ps_plot_layout (fig, cr, width, height, &lay);

  cairo_save (cr);
  if (parts & PS_RENDER_BACKGROUND)
    {
      ps_plot_draw_frame_back (fig, cr, &lay);
      for (guint i = 0; i < fig->layers->len; i++)
        {
          PsLayer *l = g_ptr_array_index (fig->layers, i);
          if (ps_layer_is_background (l))
            ps_layer_draw (fig, l, cr, &lay, vector);
        }
    }
  if (parts & PS_RENDER_POINTS)
    for (guint i = 0; i < fig->layers->len; i++)
      {
        PsLayer *l = g_ptr_array_index (fig->layers, i);
        if (l->kind == PS_LAYER_SCATTER)
          ps_layer_draw (fig, l, cr, &lay, vector);
      }
  if (parts & PS_RENDER_OVERLAY)
    {
      for (guint i = 0; i < fig->layers->len; i++)
        {
          PsLayer *l = g_ptr_array_index (fig->layers, i);
          if (l->kind != PS_LAYER_SCATTER && !ps_layer_is_background (l))
            ps_layer_draw (fig, l, cr, &lay, vector);
        }
      ps_plot_draw_frame_front (fig, cr, &lay);
    }
  cairo_restore (cr);
}

void
ps_figure_render (PsFigure *fig, cairo_t *cr, double width, double height)
{
  ps_figure_render_parts (fig, cr, width, height, PS_RENDER_ALL);
}

/* ------------------------------------------------------------------ */
/* Export                                                               */
/* ------------------------------------------------------------------ */

static gboolean
check_cairo (cairo_status_t status, const char *path, const char *what, GError **error)
{
  if (status == CAIRO_STATUS_SUCCESS)
    return TRUE;
  g_set_error (error, PS_ERROR, PS_ERROR_IO, "Could not write the %s to “%s”: %s", what,
               path, cairo_status_to_string (status));
  return FALSE;
}

gboolean
ps_plot_write_page (const char *path, const char *what, double width, double height,
                    double scale, PsPageDrawFunc draw, gpointer user_data, GError **error)
{
  g_return_val_if_fail (path != NULL && what != NULL && draw != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!(width >= 1 && height >= 1 && width <= 20000 && height <= 20000))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                   "%s: a %s of %g x %g is out of range (1 to 20000)", path, what, width, height);
      return FALSE;
    }
  if (!(scale > 0))
    scale = 1;

  const char *dot = strrchr (path, '.');
  const char *slash = strrchr (path, '/');
  g_autofree char *ext = dot != NULL && (slash == NULL || dot > slash)
                         ? g_ascii_strdown (dot + 1, -1) : g_strdup ("");
  gboolean png = g_str_equal (ext, "png");
  cairo_surface_t *surface;

  if (png)
    {
      int pw = (int) ceil (width * scale), ph = (int) ceil (height * scale);
      if (pw > 32767 || ph > 32767)
        {
          g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                       "%s: a PNG of %d x %d pixels is too large", path, pw, ph);
          return FALSE;
        }
      surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, pw, ph);
    }
  else if (g_str_equal (ext, "svg"))
    {
      surface = cairo_svg_surface_create (path, width, height);
      if (cairo_surface_status (surface) == CAIRO_STATUS_SUCCESS)
        cairo_svg_surface_set_document_unit (surface, CAIRO_SVG_UNIT_PX);
    }
  else if (g_str_equal (ext, "pdf"))
    surface = cairo_pdf_surface_create (path, width, height);
  else
    {
      g_set_error (error, PS_ERROR, PS_ERROR_UNSUPPORTED,
                   "Cannot write the %s as “%s”: use .png, .svg or .pdf", what,
                   *ext != '\0' ? ext : path);
      return FALSE;
    }
  if (!check_cairo (cairo_surface_status (surface), path, what, error))
    {
      cairo_surface_destroy (surface);
      return FALSE;
    }

  cairo_t *cr = cairo_create (surface);
  if (png)
    cairo_scale (cr, scale, scale);
  draw (cr, width, height, user_data);
  cairo_status_t st = cairo_status (cr);
  cairo_destroy (cr);
  if (st == CAIRO_STATUS_SUCCESS && png)
    st = cairo_surface_write_to_png (surface, path);
  cairo_surface_finish (surface);
  if (st == CAIRO_STATUS_SUCCESS)
    st = cairo_surface_status (surface);
  cairo_surface_destroy (surface);
  return check_cairo (st, path, what, error);
}

static void
draw_figure_page (cairo_t *cr, double width, double height, gpointer fig)
{
  ps_figure_render (fig, cr, width, height);
}

gboolean
ps_figure_export (PsFigure *fig, const char *path, double width, double height,
                  double scale, GError **error)
{
  g_return_val_if_fail (fig != NULL && path != NULL, FALSE);
  return ps_plot_write_page (path, "figure", width, height, scale, draw_figure_page, fig, error);
}

gboolean
ps_points_write_csv (const char *path, const float *x, const float *y,
                     const gint32 *labels, const float *scores, gsize n,
                     GError **error)
{
  g_return_val_if_fail (path != NULL && (n == 0 || (x != NULL && y != NULL)), FALSE);

  g_autoptr (GString) s = g_string_sized_new (32 + n * 32);
  g_string_append (s, "x,y");
  if (labels != NULL)
    g_string_append (s, ",label");
  if (scores != NULL)
    g_string_append (s, ",score");
  g_string_append_c (s, '\n');
  for (gsize i = 0; i < n; i++)
    {
      char bx[G_ASCII_DTOSTR_BUF_SIZE], by[G_ASCII_DTOSTR_BUF_SIZE];
      /* %.9g round-trips a float and ignores the locale's decimal comma. */
      g_string_append_printf (s, "%s,%s", g_ascii_formatd (bx, sizeof bx, "%.9g", x[i]),
                              g_ascii_formatd (by, sizeof by, "%.9g", y[i]));
      if (labels != NULL)
        g_string_append_printf (s, ",%d", labels[i]);
      if (scores != NULL)
        {
          char bs[G_ASCII_DTOSTR_BUF_SIZE];
          g_string_append_printf (s, ",%s", g_ascii_formatd (bs, sizeof bs, "%.9g", scores[i]));
        }
      g_string_append_c (s, '\n');
    }

  g_autoptr (GError) local = NULL;
  if (!g_file_set_contents (path, s->str, (gssize) s->len, &local))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_IO, "Could not write points to “%s”: %s",
                   path, local->message);
      return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* Smoothing                                                            */
/* ------------------------------------------------------------------ */

void
ps_smooth_ema (double *out, const double *in, gsize n, double weight)
{
  g_return_if_fail (n == 0 || (out != NULL && in != NULL));

  weight = CLAMP (weight, 0.0, 0.999999);
  /* TensorBoard's running value starts at zero and is divided by
   * 1 - weight^count to remove the bias toward zero.  The same average
   * written as an update of the debiased value itself,
   *   m += (v - m) * (1 - weight) / (1 - weight^count),
   * gives the first output exactly equal to the first input and keeps a
   * constant series exactly constant. */
  double m = NAN, decay = 1;
  for (gsize i = 0; i < n; i++)
    {
      double v = in[i];
      if (!isfinite (v))
        {
          out[i] = m;
          continue;
        }
      decay *= weight;
      double a = (1 - weight) / (1 - decay);
      /* a == 1 (the first value, or no smoothing) copies exactly. */
      m = isnan (m) || a >= 1 ? v : m + (v - m) * a;
      out[i] = m;
    }
}
