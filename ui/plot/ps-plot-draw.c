/* ps-plot-draw.c: drawing each kind of layer through the layout's view. */
#define G_LOG_DOMAIN "ps-plot"

#include <math.h>
#include <string.h>

#include "ps-plot-private.h"

static void
to_px (const PsPlotView *v, double x, double y, double *px, double *py)
{
  ps_plot_view_to_pixel (v, x, y, px, py);
}

/* Paints `image` (w x h) so its top-left corner lands on data (xa, ya) and
 * its bottom-right on (xb, yb); either may be the lower coordinate, which is
 * how a bottom-up field and a top-down image share this code. */
static void
paint_image (cairo_t *cr, const PsPlotView *v, cairo_surface_t *image, guint w, guint h,
             double xa, double ya, double xb, double yb, cairo_filter_t filter)
{
  double pxa, pya, pxb, pyb;
  to_px (v, xa, ya, &pxa, &pya);
  to_px (v, xb, yb, &pxb, &pyb);
  cairo_save (cr);
  cairo_rectangle (cr, v->px, v->py, v->pw, v->ph);
  cairo_clip (cr);
  cairo_rectangle (cr, MIN (pxa, pxb), MIN (pya, pyb), fabs (pxb - pxa), fabs (pyb - pya));
  cairo_clip (cr);
  cairo_translate (cr, pxa, pya);
  cairo_scale (cr, (pxb - pxa) / w, (pyb - pya) / h);
  cairo_set_source_surface (cr, image, 0, 0);
  cairo_pattern_t *pat = cairo_get_source (cr);
  cairo_pattern_set_filter (pat, filter);
  /* Pad so bilinear filtering does not fade the outermost half cell. */
  cairo_pattern_set_extend (pat, CAIRO_EXTEND_PAD);
  cairo_paint (cr);
  cairo_restore (cr);
}

static void
star_path (cairo_t *cr, double cx, double cy, double r)
{
  for (int k = 0; k < 10; k++)
    {
      double ang = -G_PI / 2 + k * G_PI / 5, rr = k % 2 ? r * 0.42 : r;
      cairo_line_to (cr, cx + rr * cos (ang), cy + rr * sin (ang));
    }
  cairo_close_path (cr);
}

static void
draw_prototypes (PsFigure *fig, PsLayer *l, cairo_t *cr, const PsPlotView *v)
{
  /* The outline contrasts with the background so stars stay visible on
   * top of same-coloured points. */
  PsColor outline = fig->theme.foreground;
  cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
  for (gsize i = 0; i < l->n; i++)
    {
      double px, py;
      if (!isfinite (l->f[0][i]) || !isfinite (l->f[1][i]))
        continue;
      to_px (v, l->f[0][i], l->f[1][i], &px, &py);
      double r = l->f[2] != NULL && l->f[2][i] > 0 ? l->f[2][i] : 9.0;
      PsColor c = ps_palette_color (l->labels != NULL ? l->labels[i] : 0);
      cairo_new_path (cr);
      star_path (cr, px, py, r);
      ps_cairo_set_color (cr, c);
      cairo_fill_preserve (cr);
      ps_cairo_set_color (cr, outline);
      cairo_set_line_width (cr, 1.3);
      cairo_stroke (cr);
    }
}

static void
draw_links (PsLayer *l, cairo_t *cr, const PsPlotView *v)
{
  cairo_set_line_width (cr, 1.2);
  for (gsize i = 0; i < l->n; i++)
    {
      double a = l->f[4] != NULL ? l->f[4][i] : 1.0;
      if (!(a > 0.005))
        continue;
      double ax, ay, bx, by;
      to_px (v, l->f[0][i], l->f[1][i], &ax, &ay);
      to_px (v, l->f[2][i], l->f[3][i], &bx, &by);
      cairo_set_source_rgba (cr, l->color.r, l->color.g, l->color.b, MIN (a, 1.0) * l->color.a);
      cairo_move_to (cr, ax, ay);
      cairo_line_to (cr, bx, by);
      cairo_stroke (cr);
    }
}

static void
draw_ellipse (PsLayer *l, cairo_t *cr, const PsPlotView *v)
{
  /* Eigen-decomposition of the symmetric 2x2 covariance. */
  double a = l->p[2], b = l->p[3], d = l->p[4], k = l->p[5];
  double tr = (a + d) / 2, disc = sqrt (((a - d) / 2) * ((a - d) / 2) + b * b);
  double l1 = MAX (tr + disc, 0.0), l2 = MAX (tr - disc, 0.0);
  double th = 0.5 * atan2 (2 * b, a - d);
  double r1 = k * sqrt (l1), r2 = k * sqrt (l2);

  /* Traced in data space and mapped point by point, so the ellipse stays
   * right under unequal axis scales. */
  cairo_new_path (cr);
  for (int i = 0; i <= 96; i++)
    {
      double t = 2 * G_PI * i / 96;
      double ex = r1 * cos (t), ey = r2 * sin (t);
      double x = l->p[0] + ex * cos (th) - ey * sin (th);
      double y = l->p[1] + ex * sin (th) + ey * cos (th);
      double px, py;
      to_px (v, x, y, &px, &py);
      cairo_line_to (cr, px, py);
    }
  cairo_close_path (cr);
  cairo_set_source_rgba (cr, l->color.r, l->color.g, l->color.b, 0.12 * l->color.a);
  cairo_fill_preserve (cr);
  cairo_set_source_rgba (cr, l->color.r, l->color.g, l->color.b, 0.9 * l->color.a);
  cairo_set_line_width (cr, 1.6);
  cairo_stroke (cr);
}

static void
draw_quiver (PsLayer *l, cairo_t *cr, const PsPlotView *v)
{
  double scale = l->p[0];
  if (!(scale > 0))
    {
      double m = 0;
      for (gsize i = 0; i < l->n; i++)
        {
          double len = hypot (l->f[2][i], l->f[3][i]);
          if (isfinite (len))
            m = MAX (m, len);
        }
      double span = MAX (fabs (v->x1 - v->x0), fabs (v->y1 - v->y0));
      scale = m > 0 ? span / 20 / m : 1;
    }
  /* All shafts in one stroke and all heads in one fill: two Cairo paths
   * for the whole field. */
  ps_cairo_set_color (cr, l->color);
  cairo_set_line_width (cr, 1.1);
  cairo_set_line_cap (cr, CAIRO_LINE_CAP_ROUND);
  for (int part = 0; part < 2; part++)
    {
      cairo_new_path (cr);
      for (gsize i = 0; i < l->n; i++)
        {
          double ax, ay, bx, by;
          to_px (v, l->f[0][i], l->f[1][i], &ax, &ay);
          to_px (v, l->f[0][i] + l->f[2][i] * scale, l->f[1][i] + l->f[3][i] * scale, &bx, &by);
          double dx = bx - ax, dy = by - ay, len = hypot (dx, dy);
          if (!(len > 0.5) || !isfinite (len))
            continue;
          double hl = MIN (6.0, len * 0.4), hw = hl * 0.5;
          double ux = dx / len, uy = dy / len;
          if (part == 0)
            {
              /* The shaft stops where the head begins so the tip stays sharp. */
              cairo_move_to (cr, ax, ay);
              cairo_line_to (cr, bx - ux * hl * 0.5, by - uy * hl * 0.5);
            }
          else
            {
              cairo_move_to (cr, bx, by);
              cairo_line_to (cr, bx - ux * hl - uy * hw, by - uy * hl + ux * hw);
              cairo_line_to (cr, bx - ux * hl + uy * hw, by - uy * hl - ux * hw);
              cairo_close_path (cr);
            }
        }
      if (part == 0)
        cairo_stroke (cr);
      else
        cairo_fill (cr);
    }
}

#define FADE_LEVELS 12

/* Colour group of trajectory s: its palette slot, or 0 for the single
 * colour.  Index PS_PALETTE_SIZE is "no class". */
static guint
trajectory_group (const PsLayer *l, gsize s)
{
  if (l->labels == NULL)
    return 0;
  return l->labels[s] < 0 ? PS_PALETTE_SIZE : (guint) l->labels[s] % PS_PALETTE_SIZE;
}

static void
draw_trajectories (PsLayer *l, cairo_t *cr, const PsPlotView *v)
{
  guint T = l->k;
  if (l->n == 0 || T == 0)
    return;

  /* Segments are grouped by colour and by a few fade levels, one stroke
   * each: a stroke per segment would cost a Cairo path per segment (slow
   * for thousands of trajectories, and huge in SVG).  Butt caps keep the
   * joints between levels from beading. */
  cairo_set_line_width (cr, 1.3);
  cairo_set_line_cap (cr, CAIRO_LINE_CAP_BUTT);
  cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
  for (guint g = 0; g <= PS_PALETTE_SIZE; g++)
    {
      PsColor c = l->labels != NULL ? ps_palette_color (g == PS_PALETTE_SIZE ? -1 : (int) g)
                                    : l->color;
      gboolean any = FALSE;
      for (guint level = 0; level < FADE_LEVELS; level++)
        {
          /* Alpha rises along the path: where it ends matters most. */
          double a = l->p[0] + (1 - l->p[0]) * (level + 1) / (double) FADE_LEVELS;
          guint t0 = (guint) ((guint64) level * (T - 1) / FADE_LEVELS);
          guint t1 = (guint) ((guint64) (level + 1) * (T - 1) / FADE_LEVELS);
          cairo_new_path (cr);
          for (gsize s = 0; s < l->n; s++)
            {
              if (trajectory_group (l, s) != g)
                continue;
              any = TRUE;
              const float *xy = l->f[0] + s * T * 2;
              gboolean pen = FALSE;
              for (guint t = t0; t <= t1 && t < T; t++)
                {
                  if (!isfinite (xy[2 * t]) || !isfinite (xy[2 * t + 1]))
                    {
                      pen = FALSE;
                      continue;
                    }
                  double px, py;
                  to_px (v, xy[2 * t], xy[2 * t + 1], &px, &py);
                  if (pen)
                    cairo_line_to (cr, px, py);
                  else
                    cairo_move_to (cr, px, py);
                  pen = TRUE;
                }
            }
          cairo_set_source_rgba (cr, c.r, c.g, c.b, a * 0.9 * c.a);
          cairo_stroke (cr);
          if (!any)
            break;
        }
      if (!any)
        {
          if (l->labels == NULL)
            break;
          continue;
        }
      /* A dot where each trajectory ends. */
      ps_cairo_set_color (cr, c);
      for (gsize s = 0; s < l->n; s++)
        {
          const float *end = l->f[0] + (s * T + T - 1) * 2;
          if (trajectory_group (l, s) != g || !isfinite (end[0]) || !isfinite (end[1]))
            continue;
          double px, py;
          to_px (v, end[0], end[1], &px, &py);
          cairo_new_sub_path (cr);
          cairo_arc (cr, px, py, 2.6, 0, 2 * G_PI);
        }
      cairo_fill (cr);
      if (l->labels == NULL)
        break;
    }
}

/* A polyline that breaks at non-finite values. */
static void
polyline (cairo_t *cr, const PsPlotView *v, const double *x, const double *y, gsize n)
{
  gboolean pen = FALSE;
  for (gsize i = 0; i < n; i++)
    {
      if (!isfinite (x[i]) || !isfinite (y[i]))
        {
          pen = FALSE;
          continue;
        }
      double px, py;
      to_px (v, x[i], y[i], &px, &py);
      if (pen)
        cairo_line_to (cr, px, py);
      else
        cairo_move_to (cr, px, py);
      pen = TRUE;
    }
}

/* A point with no finite neighbour makes no line: a metric evaluated once
 * (a final test accuracy) would be invisible.  Such points get a dot. */
static void
isolated_dots (cairo_t *cr, const PsPlotView *v, const double *x, const double *y, gsize n)
{
  for (gsize i = 0; i < n; i++)
    {
      if (!isfinite (x[i]) || !isfinite (y[i]))
        continue;
      gboolean prev = i > 0 && isfinite (x[i - 1]) && isfinite (y[i - 1]);
      gboolean next = i + 1 < n && isfinite (x[i + 1]) && isfinite (y[i + 1]);
      if (prev || next)
        continue;
      double px, py;
      to_px (v, x[i], y[i], &px, &py);
      cairo_new_sub_path (cr);
      cairo_arc (cr, px, py, 3.2, 0, 2 * G_PI);
    }
  cairo_fill (cr);
}

static void
draw_curve (PsLayer *l, cairo_t *cr, const PsPlotView *v)
{
  cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
  if (l->d[2] != NULL)
    {
      /* The raw series stays visible but faint, as in TensorBoard. */
      cairo_set_source_rgba (cr, l->color.r, l->color.g, l->color.b, 0.25 * l->color.a);
      cairo_set_line_width (cr, 1.2);
      polyline (cr, v, l->d[0], l->d[1], l->n);
      cairo_stroke (cr);
    }
  ps_cairo_set_color (cr, l->color);
  cairo_set_line_width (cr, 1.8);
  polyline (cr, v, l->d[0], l->d[2] != NULL ? l->d[2] : l->d[1], l->n);
  cairo_stroke (cr);
  isolated_dots (cr, v, l->d[0], l->d[2] != NULL ? l->d[2] : l->d[1], l->n);
}

static void
draw_band (PsLayer *l, cairo_t *cr, const PsPlotView *v)
{
  const double *x = l->d[0], *m = l->d[1], *s = l->d[2];
  gboolean pen = FALSE;
  for (gsize i = 0; i < l->n; i++)
    {
      double px, py;
      if (!isfinite (x[i] + m[i] + s[i]))
        continue;
      to_px (v, x[i], m[i] + s[i], &px, &py);
      if (pen)
        cairo_line_to (cr, px, py);
      else
        cairo_move_to (cr, px, py);
      pen = TRUE;
    }
  for (gsize j = l->n; j-- > 0;)
    {
      double px, py;
      if (!isfinite (x[j] + m[j] + s[j]))
        continue;
      to_px (v, x[j], m[j] - s[j], &px, &py);
      cairo_line_to (cr, px, py);
    }
  cairo_close_path (cr);
  cairo_set_source_rgba (cr, l->color.r, l->color.g, l->color.b, 0.2 * l->color.a);
  cairo_fill (cr);
  ps_cairo_set_color (cr, l->color);
  cairo_set_line_width (cr, 1.8);
  cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
  polyline (cr, v, x, m, l->n);
  cairo_stroke (cr);
  isolated_dots (cr, v, x, m, l->n);
}

static void
draw_histogram (PsLayer *l, cairo_t *cr, const PsPlotView *v)
{
  double lo = l->p[0], hi = l->p[1], bw = (hi - lo) / l->k;
  double ax, ay, bx, by;

  for (guint b = 0; b < l->k; b++)
    {
      to_px (v, lo + b * bw, 0, &ax, &ay);
      to_px (v, lo + (b + 1) * bw, l->d[0][b], &bx, &by);
      cairo_rectangle (cr, ax, by, bx - ax, ay - by);
    }
  cairo_set_source_rgba (cr, l->color.r, l->color.g, l->color.b, 0.35 * l->color.a);
  cairo_fill (cr);

  /* A step outline makes two overlapping histograms readable. */
  to_px (v, lo, 0, &ax, &ay);
  cairo_move_to (cr, ax, ay);
  for (guint b = 0; b < l->k; b++)
    {
      to_px (v, lo + b * bw, l->d[0][b], &ax, &ay);
      to_px (v, lo + (b + 1) * bw, l->d[0][b], &bx, &by);
      cairo_line_to (cr, ax, ay);
      cairo_line_to (cr, bx, by);
    }
  to_px (v, hi, 0, &bx, &by);
  cairo_line_to (cr, bx, by);
  ps_cairo_set_color (cr, l->color);
  cairo_set_line_width (cr, 1.5);
  cairo_stroke (cr);
}

static void
draw_vline (PsLayer *l, cairo_t *cr, const PsPlotView *v)
{
  double px, py;
  to_px (v, l->p[0], v->y0, &px, &py);
  if (l->flag)
    {
      double dash[] = { 6, 4 };
      cairo_set_dash (cr, dash, 2, 0);
    }
  ps_cairo_set_color (cr, l->color);
  cairo_set_line_width (cr, 1.6);
  cairo_move_to (cr, px, v->py);
  cairo_line_to (cr, px, v->py + v->ph);
  cairo_stroke (cr);
  cairo_set_dash (cr, NULL, 0, 0);
}

static void
draw_image (PsLayer *l, cairo_t *cr, const PsPlotView *v)
{
  double x0 = l->p[0], x1 = l->p[1], y0 = l->p[2], y1 = l->p[3];
  paint_image (cr, v, l->image, l->w, l->h, x0, y1, x1, y0, CAIRO_FILTER_NEAREST);
  if (l->image2 != NULL)
    paint_image (cr, v, l->image2, cairo_image_surface_get_width (l->image2),
                 cairo_image_surface_get_height (l->image2), x0, y1, x1, y0,
                 CAIRO_FILTER_BILINEAR);
  if (l->flag)
    {
      double ax, ay, bx, by;
      to_px (v, l->p[4], l->p[5], &ax, &ay);
      to_px (v, l->p[6], l->p[7], &bx, &by);
      cairo_rectangle (cr, MIN (ax, bx), MIN (ay, by), fabs (bx - ax), fabs (by - ay));
      cairo_set_source_rgb (cr, 0.1, 0.85, 1.0);
      cairo_set_line_width (cr, 2.0);
      cairo_stroke (cr);
    }
}

static void
draw_image_grid (PsFigure *fig, PsLayer *l, cairo_t *cr, const PsPlotView *v)
{
  guint cols = MAX (l->k, 1u), rows = (l->n + cols - 1) / cols;
  if (rows == 0)
    return;
  double fs = fig->theme.font_size;
  double cap_h = l->captions != NULL ? fs * 1.5 : 0;
  double cw = v->pw / cols, ch = v->ph / rows;
  double side = MIN ((cw - 8) / l->w, (ch - 8 - cap_h) / l->h);
  if (side <= 0)
    return;
  double iw = side * l->w, ih = side * l->h;
  gsize sz = (gsize) l->w * l->h;

  ps_plot_set_font (cr, fs, FALSE);
  for (guint i = 0; i < l->n; i++)
    {
      guint r = i / cols, c = i % cols;
      double x = v->px + c * cw + (cw - iw) / 2;
      double y = v->py + r * ch + (ch - ih - cap_h) / 2;
      cairo_surface_t *s = ps_plot_gray_surface (l->f[0] + i * sz, l->w, l->h);
      cairo_save (cr);
      cairo_translate (cr, x, y);
      cairo_scale (cr, side, side);
      cairo_set_source_surface (cr, s, 0, 0);
      cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_NEAREST);
      cairo_rectangle (cr, 0, 0, l->w, l->h);
      cairo_fill (cr);
      cairo_surface_destroy (s);
      if (l->f[1] != NULL)
        {
          s = ps_plot_heat_surface (l->f[1] + i * sz, l->w, l->h, 0.6);
          cairo_set_source_surface (cr, s, 0, 0);
          cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_BILINEAR);
          cairo_pattern_set_extend (cairo_get_source (cr), CAIRO_EXTEND_PAD);
          cairo_rectangle (cr, 0, 0, l->w, l->h);
          cairo_fill (cr);
          cairo_surface_destroy (s);
        }
      cairo_restore (cr);
      ps_cairo_set_color (cr, fig->theme.grid);
      cairo_set_line_width (cr, 1.0);
      cairo_rectangle (cr, x - 0.5, y - 0.5, iw + 1, ih + 1);
      cairo_stroke (cr);
      if (l->captions != NULL && l->captions[i] != NULL)
        {
          cairo_text_extents_t e;
          cairo_font_extents_t fe;
          cairo_text_extents (cr, l->captions[i], &e);
          cairo_font_extents (cr, &fe);
          ps_cairo_set_color (cr, fig->theme.foreground);
          cairo_move_to (cr, x + iw / 2 - e.x_advance / 2, y + ih + 4 + fe.ascent);
          cairo_show_text (cr, l->captions[i]);
        }
    }
}

void
ps_layer_draw (PsFigure *fig, PsLayer *l, cairo_t *cr, const PsPlotLayout *lay,
               gboolean vector)
{
  const PsPlotView *v = &lay->view;

  cairo_save (cr);
  /* Everything but the image grid lives inside the plot rectangle. */
  cairo_rectangle (cr, v->px, v->py, v->pw, v->ph);
  cairo_clip (cr);
  cairo_new_path (cr);
  switch (l->kind)
    {
    case PS_LAYER_SCATTER:
      {
        /* Scores without their own range follow the colour bar, so the
         * bar tells the truth about the colours. */
        PsScatterSpec spec = l->spec;
        if (spec.scores != NULL && !(spec.score_max > spec.score_min) && fig->has_colorbar
            && fig->cb_hi != fig->cb_lo)
          {
            spec.score_min = MIN (fig->cb_lo, fig->cb_hi);
            spec.score_max = MAX (fig->cb_lo, fig->cb_hi);
            spec.colormap = fig->cb_map;
          }
        ps_plot_draw_scatter (cr, v, &spec, vector);
      }
      break;
    case PS_LAYER_REGIONS:
      paint_image (cr, v, l->image, l->w, l->h, l->p[0], l->p[2], l->p[1], l->p[3],
                   l->flag ? CAIRO_FILTER_BILINEAR : CAIRO_FILTER_NEAREST);
      break;
    case PS_LAYER_PROTOTYPES:
      draw_prototypes (fig, l, cr, v);
      break;
    case PS_LAYER_LINKS:
      draw_links (l, cr, v);
      break;
    case PS_LAYER_ELLIPSE:
      draw_ellipse (l, cr, v);
      break;
    case PS_LAYER_QUIVER:
      draw_quiver (l, cr, v);
      break;
    case PS_LAYER_TRAJECTORIES:
      draw_trajectories (l, cr, v);
      break;
    case PS_LAYER_CURVE:
      draw_curve (l, cr, v);
      break;
    case PS_LAYER_BAND:
      draw_band (l, cr, v);
      break;
    case PS_LAYER_HISTOGRAM:
      draw_histogram (l, cr, v);
      break;
    case PS_LAYER_VLINE:
      draw_vline (l, cr, v);
      break;
    case PS_LAYER_MATRIX:
      paint_image (cr, v, l->image, l->w, l->h, -0.5, -0.5, l->w - 0.5, l->h - 0.5,
                   CAIRO_FILTER_NEAREST);
      break;
    case PS_LAYER_IMAGE:
      draw_image (l, cr, v);
      break;
    case PS_LAYER_IMAGE_GRID:
      draw_image_grid (fig, l, cr, v);
      break;
    default:
      break;
    }
  cairo_restore (cr);
}
