/* ps-plot-layers.c: adding, measuring and drawing the figure's layers.
 *
 * Every add function copies its arrays into the layer, so a figure can be
 * exported long after the snapshot that fed it is gone.  Layers draw in
 * pixels through the layout's view; shapes whose size means something on
 * screen (markers, arrow heads) are sized in pixels, not data units.
 */
#define G_LOG_DOMAIN "ps-plot"

#include <math.h>
#include <string.h>

#include "ps-plot-private.h"

static gpointer
dup_or_null (gconstpointer p, gsize bytes)
{
  return p != NULL ? g_memdup2 (p, bytes) : NULL;
}

static PsColor
pick_color (PsFigure *fig, PsColor c)
{
  if (c.a > 0)
    return c;
  return ps_palette_color ((int) fig->next_color++);
}

static void
add_legend (PsFigure *fig, const char *name, PsColor color, gboolean is_line)
{
  if (name != NULL && *name != '\0')
    ps_figure_add_legend_entry (fig, name, color, is_line);
}

void
ps_layer_free (PsLayer *layer)
{
  if (layer == NULL)
    return;
  g_free (layer->name);
  for (guint i = 0; i < G_N_ELEMENTS (layer->f); i++)
    g_free (layer->f[i]);
  for (guint i = 0; i < G_N_ELEMENTS (layer->d); i++)
    g_free (layer->d[i]);
  g_free (layer->labels);
  g_free (layer->u8);
  g_strfreev (layer->captions);
  if (layer->image != NULL)
    cairo_surface_destroy (layer->image);
  if (layer->image2 != NULL)
    cairo_surface_destroy (layer->image2);
  g_free (layer);
}

PsLayer *
ps_figure_append_layer (PsFigure *fig, PsLayerKind kind)
{
  PsLayer *layer = g_new0 (PsLayer, 1);
  layer->kind = kind;
  g_ptr_array_add (fig->layers, layer);
  return layer;
}

/* ------------------------------------------------------------------ */
/* Adding                                                               */
/* ------------------------------------------------------------------ */

void
ps_figure_add_scatter (PsFigure *fig, const PsScatterSpec *spec)
{
  g_return_if_fail (fig != NULL && spec != NULL);
  g_return_if_fail (spec->n == 0 || (spec->x != NULL && spec->y != NULL));

  PsLayer *l = ps_figure_append_layer (fig, PS_LAYER_SCATTER);
  gsize n = spec->n;
  l->n = n;
  l->f[0] = dup_or_null (spec->x, n * sizeof (float));
  l->f[1] = dup_or_null (spec->y, n * sizeof (float));
  l->f[2] = dup_or_null (spec->scores, n * sizeof (float));
  l->labels = dup_or_null (spec->labels, n * sizeof (gint32));
  l->u8 = dup_or_null (spec->dimmed, n);
  l->spec = *spec;
  l->spec.x = l->f[0];
  l->spec.y = l->f[1];
  l->spec.scores = l->f[2];
  l->spec.labels = l->labels;
  l->spec.dimmed = l->u8;
}

/* Regions become a gw x gh image once, at add time: class colour with an
 * alpha that grows with confidence, so uncertain borders fade out. */
void
ps_figure_add_regions (PsFigure *fig, guint gw, guint gh,
                       double x0, double x1, double y0, double y1,
                       const gint32 *labels, const float *confidence,
                       const float *probs, guint k, gboolean smooth)
{
  g_return_if_fail (fig != NULL && gw > 0 && gh > 0);
  g_return_if_fail (labels != NULL || (probs != NULL && k > 0));

  PsLayer *l = ps_figure_append_layer (fig, PS_LAYER_REGIONS);
  l->w = gw;
  l->h = gh;
  l->p[0] = x0;
  l->p[1] = x1;
  l->p[2] = y0;
  l->p[3] = y1;
  l->flag = smooth;
  l->image = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, (int) gw, (int) gh);
  cairo_surface_flush (l->image);
  guint8 *data = cairo_image_surface_get_data (l->image);
  int stride = cairo_image_surface_get_stride (l->image);

  for (guint r = 0; r < gh; r++)
    {
      guint32 *row = (guint32 *) (data + (gsize) r * stride);
      for (guint c = 0; c < gw; c++)
        {
          gsize i = (gsize) r * gw + c;
          int label;
          double conf;
          if (probs != NULL)
            {
              const float *p = probs + i * k;
              guint best = 0;
              for (guint j = 1; j < k; j++)
                if (p[j] > p[best])
                  best = j;
              label = (int) best;
              conf = k > 1 ? (p[best] - 1.0 / k) / (1.0 - 1.0 / k) : 1.0;
            }
          else
            {
              label = labels[i];
              conf = confidence != NULL ? confidence[i] : 1.0;
            }
          if (!isfinite (conf))
            conf = 0;
          PsColor col = ps_palette_color (label);
          col.a = label < 0 ? 0 : 0.06 + 0.30 * CLAMP (conf, 0.0, 1.0);
          row[c] = ps_color_to_argb32 (col);
        }
    }
  cairo_surface_mark_dirty (l->image);
}

void
ps_figure_add_prototypes (PsFigure *fig, const float *x, const float *y, gsize n,
                          const gint32 *classes, const float *sizes)
{
  g_return_if_fail (fig != NULL && (n == 0 || (x != NULL && y != NULL)));

  PsLayer *l = ps_figure_append_layer (fig, PS_LAYER_PROTOTYPES);
  l->n = n;
  l->f[0] = dup_or_null (x, n * sizeof (float));
  l->f[1] = dup_or_null (y, n * sizeof (float));
  l->f[2] = dup_or_null (sizes, n * sizeof (float));
  l->labels = dup_or_null (classes, n * sizeof (gint32));
}

void
ps_figure_add_links (PsFigure *fig, const float *x0, const float *y0,
                     const float *x1, const float *y1, const float *weight,
                     gsize n, PsColor color)
{
  g_return_if_fail (fig != NULL);
  g_return_if_fail (n == 0 || (x0 && y0 && x1 && y1));

  PsLayer *l = ps_figure_append_layer (fig, PS_LAYER_LINKS);
  l->n = n;
  l->f[0] = dup_or_null (x0, n * sizeof (float));
  l->f[1] = dup_or_null (y0, n * sizeof (float));
  l->f[2] = dup_or_null (x1, n * sizeof (float));
  l->f[3] = dup_or_null (y1, n * sizeof (float));
  l->f[4] = dup_or_null (weight, n * sizeof (float));
  l->color = color.a > 0 ? color : fig->theme.muted;
}

void
ps_figure_add_ellipse (PsFigure *fig, double mx, double my, const double *cov,
                       double k_sigma, PsColor color)
{
  g_return_if_fail (fig != NULL && cov != NULL);

  PsLayer *l = ps_figure_append_layer (fig, PS_LAYER_ELLIPSE);
  l->p[0] = mx;
  l->p[1] = my;
  l->p[2] = cov[0];
  l->p[3] = 0.5 * (cov[1] + cov[2]); /* symmetrise */
  l->p[4] = cov[3];
  l->p[5] = k_sigma > 0 ? k_sigma : 2.0;
  l->color = pick_color (fig, color);
}

void
ps_figure_add_quiver (PsFigure *fig, const float *x, const float *y,
                      const float *u, const float *v, gsize n,
                      double scale, PsColor color)
{
  g_return_if_fail (fig != NULL && (n == 0 || (x && y && u && v)));

  PsLayer *l = ps_figure_append_layer (fig, PS_LAYER_QUIVER);
  l->n = n;
  l->f[0] = dup_or_null (x, n * sizeof (float));
  l->f[1] = dup_or_null (y, n * sizeof (float));
  l->f[2] = dup_or_null (u, n * sizeof (float));
  l->f[3] = dup_or_null (v, n * sizeof (float));
  l->p[0] = scale;
  l->color = color.a > 0 ? color : fig->theme.muted;
}

void
ps_figure_add_trajectories (PsFigure *fig, const float *xy, guint S, guint T,
                            const gint32 *labels, PsColor color, double alpha_start)
{
  g_return_if_fail (fig != NULL && (S == 0 || T == 0 || xy != NULL));

  PsLayer *l = ps_figure_append_layer (fig, PS_LAYER_TRAJECTORIES);
  l->n = S;
  l->k = T;
  l->f[0] = dup_or_null (xy, (gsize) S * T * 2 * sizeof (float));
  l->labels = dup_or_null (labels, S * sizeof (gint32));
  l->color = color.a > 0 ? color : ps_palette_color (0);
  l->p[0] = CLAMP (alpha_start, 0.0, 1.0);
}

void
ps_figure_add_curve (PsFigure *fig, const char *name, const double *x,
                     const double *y, gsize n, PsColor color, double smoothing)
{
  g_return_if_fail (fig != NULL && (n == 0 || (x != NULL && y != NULL)));

  PsLayer *l = ps_figure_append_layer (fig, PS_LAYER_CURVE);
  l->n = n;
  l->name = g_strdup (name);
  l->d[0] = dup_or_null (x, n * sizeof (double));
  l->d[1] = dup_or_null (y, n * sizeof (double));
  l->color = pick_color (fig, color);
  if (smoothing > 0 && smoothing < 1 && n > 0)
    {
      l->d[2] = g_new (double, n);
      ps_smooth_ema (l->d[2], y, n, smoothing);
    }
  add_legend (fig, name, l->color, TRUE);
}

void
ps_figure_add_band (PsFigure *fig, const char *name, const double *x,
                    const double *mean, const double *std, gsize n, PsColor color)
{
  g_return_if_fail (fig != NULL && (n == 0 || (x && mean && std)));

  PsLayer *l = ps_figure_append_layer (fig, PS_LAYER_BAND);
  l->n = n;
  l->name = g_strdup (name);
  l->d[0] = dup_or_null (x, n * sizeof (double));
  l->d[1] = dup_or_null (mean, n * sizeof (double));
  l->d[2] = dup_or_null (std, n * sizeof (double));
  l->color = pick_color (fig, color);
  add_legend (fig, name, l->color, TRUE);
}

void
ps_figure_add_histogram (PsFigure *fig, const char *name, const float *values,
                         gsize n, guint bins, double lo, double hi,
                         gboolean density, PsColor color)
{
  g_return_if_fail (fig != NULL && (n == 0 || values != NULL) && bins > 0);

  if (!(hi > lo))
    {
      lo = INFINITY;
      hi = -INFINITY;
      for (gsize i = 0; i < n; i++)
        if (isfinite (values[i]))
          {
            lo = MIN (lo, values[i]);
            hi = MAX (hi, values[i]);
          }
      if (!(hi > lo))
        {
          lo = isfinite (lo) ? lo - 0.5 : 0;
          hi = lo + 1;
        }
    }

  PsLayer *l = ps_figure_append_layer (fig, PS_LAYER_HISTOGRAM);
  l->k = bins;
  l->name = g_strdup (name);
  l->p[0] = lo;
  l->p[1] = hi;
  l->d[0] = g_new0 (double, bins);
  gsize used = 0;
  for (gsize i = 0; i < n; i++)
    {
      double v = values[i];
      if (!isfinite (v) || v < lo || v > hi)
        continue;
      guint b = (guint) ((v - lo) / (hi - lo) * bins);
      l->d[0][MIN (b, bins - 1)] += 1;
      used++;
    }
  if (density && used > 0)
    {
      double width = (hi - lo) / bins;
      for (guint b = 0; b < bins; b++)
        l->d[0][b] /= used * width;
    }
  l->color = pick_color (fig, color);
  add_legend (fig, name, l->color, FALSE);
}

void
ps_figure_add_vline (PsFigure *fig, double x, PsColor color, const char *name,
                     gboolean dashed)
{
  g_return_if_fail (fig != NULL);

  PsLayer *l = ps_figure_append_layer (fig, PS_LAYER_VLINE);
  l->p[0] = x;
  l->flag = dashed;
  l->color = color.a > 0 ? color : fig->theme.foreground;
  l->name = g_strdup (name);
  add_legend (fig, name, l->color, TRUE);
}

void
ps_figure_add_matrix (PsFigure *fig, const float *values, guint rows, guint cols,
                      PsColormap map, double lo, double hi, const char *label)
{
  g_return_if_fail (fig != NULL && values != NULL && rows > 0 && cols > 0);

  if (!(hi > lo))
    {
      lo = INFINITY;
      hi = -INFINITY;
      for (gsize i = 0; i < (gsize) rows * cols; i++)
        if (isfinite (values[i]))
          {
            lo = MIN (lo, values[i]);
            hi = MAX (hi, values[i]);
          }
      if (!(hi > lo))
        {
          lo = isfinite (lo) ? lo - 0.5 : 0;
          hi = lo + 1;
        }
    }

  PsLayer *l = ps_figure_append_layer (fig, PS_LAYER_MATRIX);
  l->w = cols;
  l->h = rows;
  l->image = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, (int) cols, (int) rows);
  cairo_surface_flush (l->image);
  guint8 *data = cairo_image_surface_get_data (l->image);
  int stride = cairo_image_surface_get_stride (l->image);
  for (guint r = 0; r < rows; r++)
    for (guint c = 0; c < cols; c++)
      {
        double t = (values[(gsize) r * cols + c] - lo) / (hi - lo);
        ((guint32 *) (data + (gsize) r * stride))[c] =
          ps_color_to_argb32 (ps_colormap_color (map, t));
      }
  cairo_surface_mark_dirty (l->image);

  /* Cells centred on integers, as imshow does, so ticks name rows and
   * columns rather than their borders. */
  ps_figure_set_x_range (fig, -0.5, cols - 0.5);
  ps_figure_set_y_range (fig, rows - 0.5, -0.5);
  ps_figure_set_colorbar (fig, map, lo, hi, label);
}

cairo_surface_t *
ps_plot_gray_surface (const float *pixels, guint w, guint h)
{
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, (int) w, (int) h);
  cairo_surface_flush (s);
  guint8 *data = cairo_image_surface_get_data (s);
  int stride = cairo_image_surface_get_stride (s);
  for (guint r = 0; r < h; r++)
    for (guint c = 0; c < w; c++)
      {
        float v = pixels[(gsize) r * w + c];
        guint32 g = isfinite (v) ? (guint32) lroundf (CLAMP (v, 0.0f, 1.0f) * 255) : 0;
        ((guint32 *) (data + (gsize) r * stride))[c] = 0xff000000u | g << 16 | g << 8 | g;
      }
  cairo_surface_mark_dirty (s);
  return s;
}

/* Heat is inferno with alpha growing with the value, so cold areas leave
 * the image underneath visible. */
cairo_surface_t *
ps_plot_heat_surface (const float *heat, guint w, guint h, double alpha)
{
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, (int) w, (int) h);
  cairo_surface_flush (s);
  guint8 *data = cairo_image_surface_get_data (s);
  int stride = cairo_image_surface_get_stride (s);
  for (guint r = 0; r < h; r++)
    for (guint c = 0; c < w; c++)
      {
        float v = heat[(gsize) r * w + c];
        double t = isfinite (v) ? CLAMP (v, 0.0f, 1.0f) : 0;
        PsColor col = ps_colormap_color (PS_COLORMAP_INFERNO, 0.45 + 0.55 * t);
        col.a = alpha * t;
        ((guint32 *) (data + (gsize) r * stride))[c] = ps_color_to_argb32 (col);
      }
  cairo_surface_mark_dirty (s);
  return s;
}

void
ps_figure_add_image (PsFigure *fig, const float *pixels, guint w, guint h,
                     double x0, double x1, double y0, double y1,
                     const float *heat, guint hw, guint hh, double heat_alpha,
                     const double *box)
{
  g_return_if_fail (fig != NULL && pixels != NULL && w > 0 && h > 0);
  g_return_if_fail (heat == NULL || (hw > 0 && hh > 0));

  PsLayer *l = ps_figure_append_layer (fig, PS_LAYER_IMAGE);
  l->w = w;
  l->h = h;
  l->p[0] = x0;
  l->p[1] = x1;
  l->p[2] = y0;
  l->p[3] = y1;
  l->image = ps_plot_gray_surface (pixels, w, h);
  if (heat != NULL)
    l->image2 = ps_plot_heat_surface (heat, hw, hh, heat_alpha > 0 ? heat_alpha : 0.6);
  if (box != NULL)
    {
      l->flag = TRUE;
      memcpy (&l->p[4], box, 4 * sizeof (double));
    }
}

void
ps_figure_add_image_grid (PsFigure *fig, const float *images, guint n,
                          guint w, guint h, guint cols,
                          const char *const *captions, const float *heat)
{
  g_return_if_fail (fig != NULL && (n == 0 || images != NULL) && w > 0 && h > 0);

  PsLayer *l = ps_figure_append_layer (fig, PS_LAYER_IMAGE_GRID);
  gsize sz = (gsize) n * w * h * sizeof (float);
  l->n = n;
  l->w = w;
  l->h = h;
  l->k = cols > 0 ? cols : (guint) ceil (sqrt (n));
  l->f[0] = dup_or_null (images, sz);
  l->f[1] = dup_or_null (heat, sz);
  if (captions != NULL)
    {
      l->captions = g_new0 (char *, n + 1);
      for (guint i = 0; i < n; i++)
        l->captions[i] = g_strdup (captions[i] != NULL ? captions[i] : "");
    }
  ps_figure_set_show_axes (fig, FALSE);
}

/* ------------------------------------------------------------------ */
/* Extents                                                              */
/* ------------------------------------------------------------------ */

static void
extent_f (const float *v, gsize n, double *lo, double *hi)
{
  for (gsize i = 0; i < n; i++)
    if (isfinite (v[i]))
      {
        *lo = MIN (*lo, v[i]);
        *hi = MAX (*hi, v[i]);
      }
}

static void
extent_d (const double *v, const double *off, double sign, gsize n, double *lo, double *hi)
{
  for (gsize i = 0; i < n; i++)
    {
      double x = v[i] + (off != NULL ? sign * off[i] : 0);
      if (isfinite (x))
        {
          *lo = MIN (*lo, x);
          *hi = MAX (*hi, x);
        }
    }
}

static gboolean
layer_extent (const PsLayer *l, double *x0, double *x1, double *y0, double *y1,
              gboolean *tight)
{
  double ax = INFINITY, bx = -INFINITY, ay = INFINITY, by = -INFINITY;
  *tight = FALSE;

  switch (l->kind)
    {
    case PS_LAYER_SCATTER:
    case PS_LAYER_PROTOTYPES:
    case PS_LAYER_QUIVER:
      extent_f (l->f[0], l->n, &ax, &bx);
      extent_f (l->f[1], l->n, &ay, &by);
      break;
    case PS_LAYER_LINKS:
      extent_f (l->f[0], l->n, &ax, &bx);
      extent_f (l->f[2], l->n, &ax, &bx);
      extent_f (l->f[1], l->n, &ay, &by);
      extent_f (l->f[3], l->n, &ay, &by);
      break;
    case PS_LAYER_TRAJECTORIES:
      for (gsize i = 0; i < l->n * l->k; i++)
        {
          extent_f (l->f[0] + 2 * i, 1, &ax, &bx);
          extent_f (l->f[0] + 2 * i + 1, 1, &ay, &by);
        }
      break;
    case PS_LAYER_ELLIPSE:
      {
        double rx = l->p[5] * sqrt (fabs (l->p[2])), ry = l->p[5] * sqrt (fabs (l->p[4]));
        ax = l->p[0] - rx;
        bx = l->p[0] + rx;
        ay = l->p[1] - ry;
        by = l->p[1] + ry;
      }
      break;
    case PS_LAYER_CURVE:
      extent_d (l->d[0], NULL, 0, l->n, &ax, &bx);
      extent_d (l->d[1], NULL, 0, l->n, &ay, &by);
      break;
    case PS_LAYER_BAND:
      extent_d (l->d[0], NULL, 0, l->n, &ax, &bx);
      extent_d (l->d[1], l->d[2], 1, l->n, &ay, &by);
      extent_d (l->d[1], l->d[2], -1, l->n, &ay, &by);
      break;
    case PS_LAYER_HISTOGRAM:
      ax = l->p[0];
      bx = l->p[1];
      ay = 0;
      extent_d (l->d[0], NULL, 0, l->k, &ay, &by);
      break;
    case PS_LAYER_VLINE:
      ax = bx = l->p[0];
      ay = NAN;
      by = NAN;
      *x0 = ax;
      *x1 = bx;
      *y0 = ay;
      *y1 = by;
      return isfinite (ax);
    case PS_LAYER_REGIONS:
    case PS_LAYER_IMAGE:
      ax = MIN (l->p[0], l->p[1]);
      bx = MAX (l->p[0], l->p[1]);
      ay = MIN (l->p[2], l->p[3]);
      by = MAX (l->p[2], l->p[3]);
      *tight = TRUE;
      break;
    case PS_LAYER_MATRIX:
      ax = -0.5;
      bx = l->w - 0.5;
      ay = -0.5;
      by = l->h - 0.5;
      *tight = TRUE;
      break;
    case PS_LAYER_IMAGE_GRID:
    default:
      return FALSE;
    }
  *x0 = ax;
  *x1 = bx;
  *y0 = ay;
  *y1 = by;
  return ax <= bx && ay <= by;
}

/* Layers never change after they are added, so the extent (a pass over
 * up to millions of points) is computed once and kept. */
gboolean
ps_layer_extent (PsLayer *l, double *x0, double *x1, double *y0, double *y1,
                 gboolean *tight)
{
  if (l->ext_state == 0)
    l->ext_state = layer_extent (l, &l->ext[0], &l->ext[1], &l->ext[2], &l->ext[3],
                                 &l->ext_tight) ? 1 : 2;
  *x0 = l->ext[0];
  *x1 = l->ext[1];
  *y0 = l->ext[2];
  *y1 = l->ext[3];
  *tight = l->ext_tight;
  return l->ext_state == 1;
}

gboolean
ps_layer_is_background (const PsLayer *l)
{
  return l->kind == PS_LAYER_REGIONS || l->kind == PS_LAYER_MATRIX
         || l->kind == PS_LAYER_IMAGE || l->kind == PS_LAYER_IMAGE_GRID;
}
