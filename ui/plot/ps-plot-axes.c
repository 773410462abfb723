/* ps-plot-axes.c: ticks, data <-> pixel transforms, the layout of a figure
 * and everything drawn around the data: background, grid, spines, tick
 * labels, axis titles, the title, the legend and the colour bar. */
#define G_LOG_DOMAIN "ps-plot"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ps-plot-private.h"

/* ------------------------------------------------------------------ */
/* Ticks                                                                */
/* ------------------------------------------------------------------ */

static double
nice_step (double raw)
{
  double mag = pow (10.0, floor (log10 (raw)));
  double norm = raw / mag;
  double m = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
  return m * mag;
}

guint
ps_plot_nice_ticks (double lo, double hi, guint target, double *ticks, guint max_ticks,
                    double *step_out)
{
  if (step_out)
    *step_out = 0;
  if (!isfinite (lo) || !isfinite (hi) || max_ticks == 0)
    return 0;
  if (lo > hi)
    {
      double t = lo;
      lo = hi;
      hi = t;
    }
  target = MAX (target, 1u);
  if (hi - lo <= fabs (hi) * 1e-12 || hi == lo)
    {
      ticks[0] = lo;
      if (step_out)
        *step_out = lo != 0 ? nice_step (fabs (lo) * 0.1) : 1.0;
      return 1;
    }

  double step = nice_step ((hi - lo) / target);
  /* Never more ticks than the buffer holds. */
  while ((hi - lo) / step + 1 > max_ticks)
    step = nice_step (step * 1.6);
  double eps = step * 1e-9;
  double k0 = ceil ((lo - eps) / step);
  guint n = 0;
  for (double k = k0; n < max_ticks; k += 1)
    {
      double v = k * step;
      if (v > hi + eps)
        break;
      /* k * step can land a hair off zero; show an exact zero. */
      if (fabs (v) < eps)
        v = 0;
      ticks[n++] = v;
    }
  if (step_out)
    *step_out = step;
  return n;
}

void
ps_plot_nice_range (double *lo, double *hi, guint target)
{
  g_return_if_fail (lo != NULL && hi != NULL);

  if (!isfinite (*lo) || !isfinite (*hi))
    {
      *lo = 0;
      *hi = 1;
      return;
    }
  if (*lo > *hi)
    {
      double t = *lo;
      *lo = *hi;
      *hi = t;
    }
  if (*hi - *lo <= fabs (*hi) * 1e-12)
    {
      double d = *lo != 0 ? fabs (*lo) * 0.1 : 0.5;
      *lo -= d;
      *hi += d;
    }
  double step = nice_step ((*hi - *lo) / MAX (target, 1u));
  *lo = floor (*lo / step + 1e-9) * step;
  *hi = ceil (*hi / step - 1e-9) * step;
}

void
ps_plot_format_tick (char *buf, gsize size, double value, double step)
{
  g_return_if_fail (buf != NULL && size > 0);

  step = fabs (step);
  if (step > 0 && fabs (value) < step * 1e-6)
    value = 0;
  double mag = MAX (fabs (value), step);
  if (value == 0)
    g_snprintf (buf, size, "0");
  else if (mag >= 1e6 || (step > 0 && step < 1e-4))
    {
      /* Enough significant digits to tell neighbouring ticks apart. */
      int digits = step > 0 ? (int) ceil (log10 (fabs (value) / step) - 1e-9) : 2;
      digits = CLAMP (digits, 0, 6);
      g_snprintf (buf, size, "%.*e", digits, value);
    }
  else
    {
      int decimals = step > 0 ? (int) ceil (-log10 (step) - 1e-9) : 2;
      decimals = CLAMP (decimals, 0, 10);
      g_snprintf (buf, size, "%.*f", decimals, value);
    }
}

/* ------------------------------------------------------------------ */
/* Transforms                                                           */
/* ------------------------------------------------------------------ */

void
ps_plot_view_to_pixel (const PsPlotView *v, double x, double y, double *px, double *py)
{
  *px = v->px + (x - v->x0) / (v->x1 - v->x0) * v->pw;
  *py = v->py + v->ph - (y - v->y0) / (v->y1 - v->y0) * v->ph;
}

void
ps_plot_view_to_data (const PsPlotView *v, double px, double py, double *x, double *y)
{
  *x = v->x0 + (px - v->px) / v->pw * (v->x1 - v->x0);
  *y = v->y0 + (v->py + v->ph - py) / v->ph * (v->y1 - v->y0);
}

void
ps_plot_view_scale (const PsPlotView *v, double *sx, double *sy)
{
  *sx = fabs (v->pw / (v->x1 - v->x0));
  *sy = fabs (v->ph / (v->y1 - v->y0));
}

void
ps_plot_view_zoom (PsPlotView *v, double factor, double cx, double cy)
{
  g_return_if_fail (factor > 0);
  double x, y;
  ps_plot_view_to_data (v, cx, cy, &x, &y);
  v->x0 = x + (v->x0 - x) / factor;
  v->x1 = x + (v->x1 - x) / factor;
  v->y0 = y + (v->y0 - y) / factor;
  v->y1 = y + (v->y1 - y) / factor;
}

void
ps_plot_view_pan (PsPlotView *v, double dx_px, double dy_px)
{
  double dx = -dx_px / v->pw * (v->x1 - v->x0);
  double dy = dy_px / v->ph * (v->y1 - v->y0);
  v->x0 += dx;
  v->x1 += dx;
  v->y0 += dy;
  v->y1 += dy;
}

/* ------------------------------------------------------------------ */
/* Text                                                                 */
/* ------------------------------------------------------------------ */

void
ps_plot_set_font (cairo_t *cr, double size, gboolean bold)
{
  cairo_select_font_face (cr, "Sans", CAIRO_FONT_SLANT_NORMAL,
                          bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, size);
}

static double
text_width (cairo_t *cr, const char *s)
{
  cairo_text_extents_t e;
  cairo_text_extents (cr, s, &e);
  return e.x_advance;
}

/* Draws `s` with its box anchored at (x, y): ha 0/0.5/1 = left/centre/right,
 * va 0/0.5/1 = top/middle/bottom of the font's ascent+descent box. */
static void
draw_text (cairo_t *cr, const char *s, double x, double y, double ha, double va)
{
  cairo_font_extents_t fe;
  cairo_font_extents (cr, &fe);
  double w = text_width (cr, s);
  double h = fe.ascent + fe.descent;
  cairo_move_to (cr, x - w * ha, y - h * va + fe.ascent);
  cairo_show_text (cr, s);
}

/* ------------------------------------------------------------------ */
/* Layout                                                               */
/* ------------------------------------------------------------------ */

#define MAX_TICKS 32
#define TICK_LEN 4.0
#define PAD 8.0

static guint
n_legend_entries (PsFigure *fig)
{
  return fig->class_names->len + fig->legend->len;
}

static void
data_ranges (PsFigure *fig, double *x0, double *x1, double *y0, double *y1)
{
  double ex0 = INFINITY, ex1 = -INFINITY, ey0 = INFINITY, ey1 = -INFINITY;
  gboolean all_tight = TRUE, any = FALSE;

  for (guint i = 0; i < fig->layers->len; i++)
    {
      double a, b, c, d;
      gboolean tight = FALSE;
      if (!ps_layer_extent (g_ptr_array_index (fig->layers, i), &a, &b, &c, &d, &tight))
        continue;
      any = TRUE;
      all_tight = all_tight && tight;
      /* fmin/fmax skip NaN: a vertical line has no y extent. */
      ex0 = fmin (ex0, a);
      ex1 = fmax (ex1, b);
      ey0 = fmin (ey0, c);
      ey1 = fmax (ey1, d);
    }
  /* Each axis falls back on its own: a lone vertical line still sets x. */
  if (!any || !isfinite (ex0 + ex1))
    {
      ex0 = 0;
      ex1 = 1;
    }
  if (!any || !isfinite (ey0 + ey1))
    {
      ey0 = 0;
      ey1 = 1;
    }
  if (ex1 - ex0 <= 0)
    {
      double dd = ex0 != 0 ? fabs (ex0) * 0.1 : 0.5;
      ex0 -= dd;
      ex1 += dd;
    }
  if (ey1 - ey0 <= 0)
    {
      double dd = ey0 != 0 ? fabs (ey0) * 0.1 : 0.5;
      ey0 -= dd;
      ey1 += dd;
    }
  if (!all_tight)
    {
      /* A 4% margin, as matplotlib does, keeps edge markers whole. */
      double mx = (ex1 - ex0) * 0.04, my = (ey1 - ey0) * 0.04;
      /* Histograms and counts start at zero: keep the floor on the axis. */
      ex0 -= mx;
      ex1 += mx;
      ey0 = ey0 == 0 ? 0 : ey0 - my;
      ey1 += my;
    }
  *x0 = fig->has_x_range ? fig->x_range[0] : ex0;
  *x1 = fig->has_x_range ? fig->x_range[1] : ex1;
  *y0 = fig->has_y_range ? fig->y_range[0] : ey0;
  *y1 = fig->has_y_range ? fig->y_range[1] : ey1;
}

static double
max_tick_label_width (cairo_t *cr, double lo, double hi, guint target)
{
  double ticks[MAX_TICKS], step, w = 0;
  guint n = ps_plot_nice_ticks (lo, hi, target, ticks, MAX_TICKS, &step);
  for (guint i = 0; i < n; i++)
    {
      char buf[64];
      ps_plot_format_tick (buf, sizeof buf, ticks[i], step);
      w = MAX (w, text_width (cr, buf));
    }
  return w;
}

static guint
x_tick_target (double pw)
{
  return CLAMP ((guint) (pw / 90), 2u, 10u);
}

static guint
y_tick_target (double ph)
{
  return CLAMP ((guint) (ph / 55), 2u, 10u);
}

void
ps_plot_layout (PsFigure *fig, cairo_t *cr_in, double width, double height,
                PsPlotLayout *lay)
{
  cairo_surface_t *tmp = NULL;
  cairo_t *cr = cr_in;
  const PsPlotTheme *th = &fig->theme;

  if (cr == NULL)
    {
      tmp = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, 1, 1);
      cr = cairo_create (tmp);
    }
  cairo_save (cr);

  memset (lay, 0, sizeof *lay);
  lay->width = width;
  lay->height = height;

  double x0, x1, y0, y1;
  data_ranges (fig, &x0, &x1, &y0, &y1);

  double fs = th->font_size;
  double top = PAD + 4, bottom = PAD, left = PAD, right = PAD + 8;
  if (fig->title != NULL)
    top += th->title_size * 1.3 + 4;

  if (fig->show_axes)
    {
      ps_plot_set_font (cr, fs, FALSE);
      bottom += TICK_LEN + 3 + fs * 1.25;
      if (fig->x_label != NULL)
        bottom += fs * 1.3 + 4;
      double guess_h = height - top - bottom;
      left += TICK_LEN + 4 + max_tick_label_width (cr, y0, y1, y_tick_target (guess_h));
      if (fig->y_label != NULL)
        left += fs * 1.3 + 6;
    }

  lay->draw_colorbar = fig->has_colorbar;
  lay->draw_legend = !lay->draw_colorbar && fig->show_legend && n_legend_entries (fig) > 0;
  if (lay->draw_colorbar)
    {
      ps_plot_set_font (cr, fs, FALSE);
      double wl = max_tick_label_width (cr, fig->cb_lo, fig->cb_hi, 5);
      lay->cb_w = 12;
      double extra = lay->cb_w + TICK_LEN + 4 + wl + 4;
      if (fig->cb_label != NULL)
        extra += fs * 1.3 + 2;
      right += extra + 10;
    }
  else if (lay->draw_legend)
    {
      ps_plot_set_font (cr, fs, FALSE);
      double w = 0;
      for (guint i = 0; i < fig->class_names->len; i++)
        w = MAX (w, text_width (cr, g_ptr_array_index (fig->class_names, i)));
      for (guint i = 0; i < fig->legend->len; i++)
        w = MAX (w, text_width (cr, g_array_index (fig->legend, PsLegendEntry, i).name));
      lay->legend_w = 10 + 20 + 6 + MAX (w, text_width (cr, "+000 more")) + 10;
      lay->legend_rows = n_legend_entries (fig);
      lay->legend_h = 8 + lay->legend_rows * fs * 1.6 + 6;
      right += lay->legend_w + 10;
    }

  PsPlotView *v = &lay->view;
  v->px = left;
  v->py = top;
  v->pw = MAX (width - left - right, 10.0);
  v->ph = MAX (height - top - bottom, 10.0);
  v->x0 = x0;
  v->x1 = x1;
  v->y0 = y0;
  v->y1 = y1;

  if (fig->equal_aspect)
    {
      /* Grow whichever range is too short so one unit spans the same
       * number of pixels on both axes; the data stays centred. */
      double sx = v->pw / fabs (x1 - x0), sy = v->ph / fabs (y1 - y0);
      if (sx > sy)
        {
          double half = v->pw / sy / 2 * (x1 > x0 ? 1 : -1), c = (x0 + x1) / 2;
          v->x0 = c - half;
          v->x1 = c + half;
        }
      else
        {
          double half = v->ph / sx / 2 * (y1 > y0 ? 1 : -1), c = (y0 + y1) / 2;
          v->y0 = c - half;
          v->y1 = c + half;
        }
    }

  if (lay->draw_colorbar)
    {
      lay->cb_x = v->px + v->pw + 14;
      lay->cb_y = v->py;
      lay->cb_h = v->ph;
    }
  if (lay->draw_legend)
    {
      lay->legend_x = v->px + v->pw + 10;
      lay->legend_y = v->py;
      /* A legend taller than the plot shows what fits and a count of the
       * rest rather than running off the figure. */
      double row = fs * 1.6;
      guint fit = (guint) MAX (1.0, floor ((v->ph - 14) / row));
      if (lay->legend_rows > fit)
        {
          lay->legend_rows = fit;
          lay->legend_h = 8 + fit * row + 6;
        }
    }

  cairo_restore (cr);
  if (tmp != NULL)
    {
      cairo_destroy (cr);
      cairo_surface_destroy (tmp);
    }
}

void
ps_figure_get_view (PsFigure *fig, double width, double height, PsPlotView *view)
{
  g_return_if_fail (fig != NULL && view != NULL);
  PsPlotLayout lay;
  ps_plot_layout (fig, NULL, width, height, &lay);
  *view = lay.view;
}

/* ------------------------------------------------------------------ */
/* Drawing                                                              */
/* ------------------------------------------------------------------ */

void
ps_plot_draw_frame_back (PsFigure *fig, cairo_t *cr, const PsPlotLayout *lay)
{
  const PsPlotTheme *th = &fig->theme;
  const PsPlotView *v = &lay->view;

  cairo_save (cr);
  ps_cairo_set_color (cr, th->background);
  cairo_rectangle (cr, 0, 0, lay->width, lay->height);
  cairo_fill (cr);
  if (fig->show_axes)
    {
      ps_cairo_set_color (cr, th->plot_background);
      cairo_rectangle (cr, v->px, v->py, v->pw, v->ph);
      cairo_fill (cr);
    }

  if (fig->show_axes && fig->show_grid)
    {
      double ticks[MAX_TICKS], step;
      cairo_set_line_width (cr, 0.8);
      ps_cairo_set_color (cr, th->grid);
      guint n = ps_plot_nice_ticks (v->x0, v->x1, x_tick_target (v->pw), ticks, MAX_TICKS, &step);
      for (guint i = 0; i < n; i++)
        {
          double px, py;
          ps_plot_view_to_pixel (v, ticks[i], v->y0, &px, &py);
          /* Half-pixel alignment keeps thin lines crisp. */
          px = floor (px) + 0.5;
          cairo_move_to (cr, px, v->py);
          cairo_line_to (cr, px, v->py + v->ph);
        }
      n = ps_plot_nice_ticks (v->y0, v->y1, y_tick_target (v->ph), ticks, MAX_TICKS, &step);
      for (guint i = 0; i < n; i++)
        {
          double px, py;
          ps_plot_view_to_pixel (v, v->x0, ticks[i], &px, &py);
          py = floor (py) + 0.5;
          cairo_move_to (cr, v->px, py);
          cairo_line_to (cr, v->px + v->pw, py);
        }
      cairo_stroke (cr);
    }
  cairo_restore (cr);
}

static void
draw_axes (PsFigure *fig, cairo_t *cr, const PsPlotLayout *lay)
{
  const PsPlotTheme *th = &fig->theme;
  const PsPlotView *v = &lay->view;
  double fs = th->font_size;
  double ticks[MAX_TICKS], step;
  char buf[64];

  /* Spines: left and bottom only, the calmer matplotlib look. */
  cairo_set_line_width (cr, 1.0);
  ps_cairo_set_color (cr, th->muted);
  double left = floor (v->px) + 0.5, bottom = floor (v->py + v->ph) + 0.5;
  cairo_move_to (cr, left, v->py);
  cairo_line_to (cr, left, bottom);
  cairo_line_to (cr, v->px + v->pw, bottom);
  cairo_stroke (cr);

  ps_plot_set_font (cr, fs, FALSE);
  guint n = ps_plot_nice_ticks (v->x0, v->x1, x_tick_target (v->pw), ticks, MAX_TICKS, &step);
  for (guint i = 0; i < n; i++)
    {
      double px, py;
      ps_plot_view_to_pixel (v, ticks[i], v->y0, &px, &py);
      px = floor (px) + 0.5;
      ps_cairo_set_color (cr, th->muted);
      cairo_move_to (cr, px, bottom);
      cairo_line_to (cr, px, bottom + TICK_LEN);
      cairo_stroke (cr);
      ps_plot_format_tick (buf, sizeof buf, ticks[i], step);
      ps_cairo_set_color (cr, th->foreground);
      draw_text (cr, buf, px, bottom + TICK_LEN + 3, 0.5, 0);
    }
  n = ps_plot_nice_ticks (v->y0, v->y1, y_tick_target (v->ph), ticks, MAX_TICKS, &step);
  double max_w = 0;
  for (guint i = 0; i < n; i++)
    {
      double px, py;
      ps_plot_view_to_pixel (v, v->x0, ticks[i], &px, &py);
      py = floor (py) + 0.5;
      ps_cairo_set_color (cr, th->muted);
      cairo_move_to (cr, left, py);
      cairo_line_to (cr, left - TICK_LEN, py);
      cairo_stroke (cr);
      ps_plot_format_tick (buf, sizeof buf, ticks[i], step);
      max_w = MAX (max_w, text_width (cr, buf));
      ps_cairo_set_color (cr, th->foreground);
      draw_text (cr, buf, left - TICK_LEN - 4, py, 1, 0.5);
    }

  ps_cairo_set_color (cr, th->foreground);
  if (fig->x_label != NULL)
    draw_text (cr, fig->x_label, v->px + v->pw / 2,
               bottom + TICK_LEN + 3 + fs * 1.25 + 4, 0.5, 0);
  if (fig->y_label != NULL)
    {
      cairo_save (cr);
      cairo_translate (cr, left - TICK_LEN - 4 - max_w - 6, v->py + v->ph / 2);
      cairo_rotate (cr, -G_PI / 2);
      draw_text (cr, fig->y_label, 0, 0, 0.5, 1);
      cairo_restore (cr);
    }
}

static void
draw_legend (PsFigure *fig, cairo_t *cr, const PsPlotLayout *lay)
{
  const PsPlotTheme *th = &fig->theme;
  double fs = th->font_size, row = fs * 1.6;
  double x = lay->legend_x, y = lay->legend_y;

  ps_cairo_set_color (cr, th->legend_background);
  cairo_rectangle (cr, x, y, lay->legend_w, lay->legend_h);
  cairo_fill (cr);

  ps_plot_set_font (cr, fs, FALSE);
  guint n = n_legend_entries (fig);
  for (guint i = 0; i < n && i < lay->legend_rows; i++)
    {
      double cy = y + 8 + row * i + row / 2;
      if (i == lay->legend_rows - 1 && n > lay->legend_rows)
        {
          char more[32];
          g_snprintf (more, sizeof more, "+%u more", n - i);
          ps_cairo_set_color (cr, th->muted);
          draw_text (cr, more, x + 10, cy, 0, 0.5);
          break;
        }
      PsLegendEntry e = { 0 };
      if (i < fig->class_names->len)
        {
          e.name = g_ptr_array_index (fig->class_names, i);
          e.color = ps_palette_color ((int) i);
        }
      else
        e = g_array_index (fig->legend, PsLegendEntry, i - fig->class_names->len);
      ps_cairo_set_color (cr, e.color);
      if (e.is_line)
        {
          cairo_set_line_width (cr, 2.0);
          cairo_move_to (cr, x + 10, cy);
          cairo_line_to (cr, x + 30, cy);
          cairo_stroke (cr);
        }
      else if (e.is_star)
        {
          /* The label before left a current point; start afresh. */
          cairo_new_path (cr);
          for (int k = 0; k < 10; k++)
            {
              double ang = -G_PI / 2 + k * G_PI / 5, rr = k % 2 ? 2.6 : 6.5;
              cairo_line_to (cr, x + 20 + rr * cos (ang), cy + rr * sin (ang));
            }
          cairo_close_path (cr);
          cairo_fill_preserve (cr);
          ps_cairo_set_color (cr, th->foreground);
          cairo_set_line_width (cr, 0.8);
          cairo_stroke (cr);
        }
      else
        {
          cairo_arc (cr, x + 20, cy, 4.5, 0, 2 * G_PI);
          cairo_fill (cr);
        }
      ps_cairo_set_color (cr, th->foreground);
      draw_text (cr, e.name, x + 36, cy, 0, 0.5);
    }
}

static void
draw_colorbar (PsFigure *fig, cairo_t *cr, const PsPlotLayout *lay)
{
  const PsPlotTheme *th = &fig->theme;
  double x = lay->cb_x, y = lay->cb_y, w = lay->cb_w, h = lay->cb_h;

  /* A gradient with many stops is exact enough and stays vector in SVG. */
  cairo_pattern_t *pat = cairo_pattern_create_linear (0, y + h, 0, y);
  for (int i = 0; i <= 32; i++)
    {
      PsColor c = ps_colormap_color (fig->cb_map, i / 32.0);
      cairo_pattern_add_color_stop_rgb (pat, i / 32.0, c.r, c.g, c.b);
    }
  cairo_rectangle (cr, x, y, w, h);
  cairo_set_source (cr, pat);
  cairo_fill (cr);
  cairo_pattern_destroy (pat);

  double ticks[MAX_TICKS], step, max_w = 0;
  char buf[64];
  ps_plot_set_font (cr, th->font_size, FALSE);
  guint n = ps_plot_nice_ticks (fig->cb_lo, fig->cb_hi, 5, ticks, MAX_TICKS, &step);
  double lo = MIN (fig->cb_lo, fig->cb_hi), hi = MAX (fig->cb_lo, fig->cb_hi);
  cairo_set_line_width (cr, 1.0);
  for (guint i = 0; i < n && hi > lo; i++)
    {
      double py = floor (y + h - (ticks[i] - lo) / (hi - lo) * h) + 0.5;
      ps_cairo_set_color (cr, th->muted);
      cairo_move_to (cr, x + w, py);
      cairo_line_to (cr, x + w + TICK_LEN, py);
      cairo_stroke (cr);
      ps_plot_format_tick (buf, sizeof buf, ticks[i], step);
      max_w = MAX (max_w, text_width (cr, buf));
      ps_cairo_set_color (cr, th->foreground);
      draw_text (cr, buf, x + w + TICK_LEN + 3, py, 0, 0.5);
    }
  if (fig->cb_label != NULL)
    {
      cairo_save (cr);
      cairo_translate (cr, x + w + TICK_LEN + 3 + max_w + 6, y + h / 2);
      cairo_rotate (cr, G_PI / 2);
      ps_cairo_set_color (cr, th->foreground);
      draw_text (cr, fig->cb_label, 0, 0, 0.5, 1);
      cairo_restore (cr);
    }
}

void
ps_plot_draw_frame_front (PsFigure *fig, cairo_t *cr, const PsPlotLayout *lay)
{
  const PsPlotTheme *th = &fig->theme;

  cairo_save (cr);
  if (fig->show_axes)
    draw_axes (fig, cr, lay);
  if (fig->title != NULL)
    {
      ps_plot_set_font (cr, th->title_size, TRUE);
      ps_cairo_set_color (cr, th->foreground);
      const PsPlotView *v = &lay->view;
      draw_text (cr, fig->title, v->px + v->pw / 2, PAD + 2, 0.5, 0);
    }
  if (lay->draw_legend)
    draw_legend (fig, cr, lay);
  if (lay->draw_colorbar)
    draw_colorbar (fig, cr, lay);
  cairo_restore (cr);
}
