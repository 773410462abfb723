/* ps-cluster-view.c: category discovery: clusters with covariance
 * ellipses, estimated K and split/merge events.
 *
 * The points are a PsScatterView (pan, zoom, hover come with it) fed a copy
 * of the snapshot whose colours say cluster, true class or old/new class.
 * The ellipses, the markers at the cluster means and their legend are
 * drawn by a transparent drawing area laid over the scatter, in the
 * scatter's own data-to-pixel mapping (taken from the figure it draws), so
 * they follow every pan and zoom; export draws the same marks onto the
 * exported figure.
 *
 * Ellipses are the moments of the cluster's rows in the drawn 2-D
 * coordinates.  For a Gaussian mixture (gpc, which has `cluster_cov`) the
 * rows are weighted by their responsibilities, which is exactly the
 * projection of the EM estimate on these rows (the projection is linear);
 * otherwise (gcd) each row counts for its nearest prototype.
 */
#define G_LOG_DOMAIN "ps-window"

#include "ps-cluster-view.h"

#include <math.h>
#include <string.h>

#include "ps-application.h"
#include "ps-base.h"
#include "ps-dataset.h"
#include "ps-eval.h"
#include "ps-scatter-data.h"
#include "ps-scatter-view.h"

/* Clusters whose rows weigh less than this get no ellipse. */
#define MIN_MASS 2.0
#define EXPORT_WIDTH 960.0
#define EXPORT_SCATTER_HEIGHT 620.0
#define EXPORT_K_HEIGHT 300.0

enum { COLOR_CLUSTER, COLOR_CLASS, COLOR_OLD_NEW };

typedef struct
{
  double mx, my;      /* mean in the drawn coordinates */
  double cov[4];      /* sxx, sxy, syx, syy */
  double mass;        /* rows (or responsibility) it holds */
  int color;          /* palette index */
  int cls;            /* class it is matched to, -1 */
  gboolean old;       /* carries (or is matched to) an old class */
  gboolean drawn;
} Cluster;

struct _PsClusterView
{
  GtkWidget parent_instance;

  /* Template. */
  GtkWidget *scroller;
  GtkLabel *summary_label;
  GtkDropDown *color_dropdown;
  PsScatterView *scatter;
  GtkWidget *ellipse_area;
  GtkLabel *accuracy_label;
  GtkWidget *k_area;
  GtkLabel *k_label;
  GtkLabel *class_label;

  /* Owned. */
  GPtrArray *base;       /* the snapshot's arrays minus those each colour mode replaces */
  gint64 run;
  gsize n;               /* rows */
  gint32 *labels;        /* [n] */
  gint32 *cluster_color; /* [n] palette index of each row's cluster */
  guint8 *old_classes;   /* [C] */
  guint C, K;
  Cluster *clusters;     /* [K] */
  guint n_ellipses;
  gint32 *k_history;     /* [n_k] K after each iteration */
  gsize n_k;
  gint32 *events;        /* [n_events, 5]: step, kind (0 split, 1 merge), a, b, K after */
  gsize n_events;
  double acc_all, acc_old, acc_new;
  guint n_acc;
};

G_DEFINE_FINAL_TYPE (PsClusterView, ps_cluster_view, GTK_TYPE_WIDGET)

/* ---- Marks drawn over a figure ------------------------------------------------- */

static void
text_at (cairo_t *cr, const char *text, double x, double y, double size, gboolean bold,
         gboolean dark, gboolean halo)
{
  cairo_select_font_face (cr, "Sans", CAIRO_FONT_SLANT_NORMAL,
                          bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, size);
  cairo_move_to (cr, x, y);
  if (halo)
    {
      cairo_text_path (cr, text);
      cairo_set_line_width (cr, 3);
      cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
      if (dark)
        cairo_set_source_rgba (cr, 0.12, 0.12, 0.12, 0.85);
      else
        cairo_set_source_rgba (cr, 1, 1, 1, 0.85);
      cairo_stroke (cr);
      cairo_move_to (cr, x, y);
    }
  if (dark)
    cairo_set_source_rgba (cr, 0.95, 0.95, 0.95, 1);
  else
    cairo_set_source_rgba (cr, 0.1, 0.1, 0.1, 1);
  cairo_show_text (cr, text);
}

static double
text_width (cairo_t *cr, const char *text, double size, gboolean bold)
{
  cairo_text_extents_t ext;
  cairo_select_font_face (cr, "Sans", CAIRO_FONT_SLANT_NORMAL,
                          bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, size);
  cairo_text_extents (cr, text, &ext);
  return ext.x_advance;
}

/* A star (old class) or a diamond (new class) of radius r at (x, y). */
static void
marker_path (cairo_t *cr, double x, double y, double r, gboolean star)
{
  cairo_new_path (cr);
  if (star)
    for (int i = 0; i < 10; i++)
      {
        double a = -G_PI / 2 + i * G_PI / 5, rr = i % 2 ? r * 0.45 : r;
        cairo_line_to (cr, x + rr * cos (a), y + rr * sin (a));
      }
  else
    {
      cairo_move_to (cr, x, y - r);
      cairo_line_to (cr, x + r * 0.8, y);
      cairo_line_to (cr, x, y + r);
      cairo_line_to (cr, x - r * 0.8, y);
    }
  cairo_close_path (cr);
}

static void
draw_marker (cairo_t *cr, double x, double y, double r, gboolean star, PsColor c, gboolean dark)
{
  /* A halo in the background colour keeps the marker apart from the
   * points of its own colour beneath it. */
  marker_path (cr, x, y, r, star);
  if (dark)
    cairo_set_source_rgba (cr, 0.1, 0.1, 0.1, 0.9);
  else
    cairo_set_source_rgba (cr, 1, 1, 1, 0.95);
  cairo_set_line_width (cr, 4);
  cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
  cairo_stroke_preserve (cr);
  cairo_set_source_rgba (cr, c.r, c.g, c.b, 1);
  cairo_fill_preserve (cr);
  if (dark)
    cairo_set_source_rgba (cr, 1, 1, 1, 0.9);
  else
    cairo_set_source_rgba (cr, 0.1, 0.1, 0.1, 0.9);
  cairo_set_line_width (cr, 1.2);
  cairo_stroke (cr);
}

/* The k-sigma ellipse of cluster c traced in data space and mapped to
 * pixels (right under unequal axis scales). */
static void
ellipse_path (cairo_t *cr, const PsPlotView *v, const Cluster *c, double k)
{
  double a = c->cov[0], b = c->cov[1], d = c->cov[3];
  double tr = (a + d) / 2, disc = sqrt ((a - d) * (a - d) / 4 + b * b);
  double r1 = k * sqrt (MAX (tr + disc, 0)), r2 = k * sqrt (MAX (tr - disc, 0));
  double th = 0.5 * atan2 (2 * b, a - d);

  cairo_new_path (cr);
  for (int i = 0; i < 72; i++)
    {
      double t = 2 * G_PI * i / 72, ex = r1 * cos (t), ey = r2 * sin (t), px, py;
      ps_plot_view_to_pixel (v, c->mx + ex * cos (th) - ey * sin (th),
                             c->my + ex * sin (th) + ey * cos (th), &px, &py);
      cairo_line_to (cr, px, py);
    }
  cairo_close_path (cr);
}

/* Ellipses (1 and 2 sigma; dashed for new classes), the markers at the
 * means with the class each cluster is matched to, and a small key. */
static void
draw_cluster_marks (PsClusterView *self, cairo_t *cr, const PsPlotView *v, gboolean dark)
{
  const double dash[2] = { 5, 3 };

  if (self->n_ellipses == 0)
    return;
  cairo_save (cr);
  cairo_rectangle (cr, v->px, v->py, v->pw, v->ph);
  cairo_clip (cr);
  for (guint k = 0; k < self->K; k++)
    {
      const Cluster *c = &self->clusters[k];
      PsColor col = ps_palette_color (c->color);
      if (!c->drawn)
        continue;
      /* Each outline goes over a halo in the background colour, so it
       * shows over the points of its own colour. */
      for (int sigma = 2; sigma >= 1; sigma--)
        {
          ellipse_path (cr, v, c, sigma);
          cairo_set_source_rgba (cr, col.r, col.g, col.b, sigma == 2 ? 0.05 : 0.1);
          cairo_fill_preserve (cr);
          cairo_set_dash (cr, NULL, 0, 0);
          if (dark)
            cairo_set_source_rgba (cr, 0.1, 0.1, 0.1, 0.7);
          else
            cairo_set_source_rgba (cr, 1, 1, 1, 0.75);
          cairo_set_line_width (cr, sigma == 2 ? 3.2 : 4);
          cairo_stroke_preserve (cr);
          cairo_set_dash (cr, dash, c->old ? 0 : 2, 0);
          cairo_set_source_rgba (cr, col.r, col.g, col.b, sigma == 2 ? 0.7 : 1);
          cairo_set_line_width (cr, sigma == 2 ? 1.3 : 2);
          cairo_stroke (cr);
        }
    }
  cairo_set_dash (cr, NULL, 0, 0);
  for (guint k = 0; k < self->K; k++)
    {
      const Cluster *c = &self->clusters[k];
      double px, py;
      char buf[32];
      if (!c->drawn)
        continue;
      ps_plot_view_to_pixel (v, c->mx, c->my, &px, &py);
      draw_marker (cr, px, py, c->old ? 9 : 7.5, c->old, ps_palette_color (c->color), dark);
      if (c->cls >= 0)
        g_snprintf (buf, sizeof buf, "%d", c->cls);
      else
        g_snprintf (buf, sizeof buf, "?");
      text_at (cr, buf, px + 9, py - 7, 12, TRUE, dark, TRUE);
    }

  /* The key, bottom left inside the plot. */
  double x = v->px + 10, y = v->py + v->ph - 58, w = 0;
  const char *lines[3] = { "old class (labelled)", "new class (discovered)", "1σ, 2σ ellipses (dashed: new)" };
  for (int i = 0; i < 3; i++)
    w = MAX (w, text_width (cr, lines[i], 11, FALSE));
  cairo_rectangle (cr, x - 6, y - 6, w + 40, 56);
  if (dark)
    cairo_set_source_rgba (cr, 0.15, 0.15, 0.15, 0.8);
  else
    cairo_set_source_rgba (cr, 1, 1, 1, 0.8);
  cairo_fill (cr);
  PsColor grey = { 0.55, 0.55, 0.55, 1 };
  draw_marker (cr, x + 8, y + 6, 7, TRUE, grey, dark);
  text_at (cr, lines[0], x + 24, y + 10, 11, FALSE, dark, FALSE);
  draw_marker (cr, x + 8, y + 22, 6, FALSE, grey, dark);
  text_at (cr, lines[1], x + 24, y + 26, 11, FALSE, dark, FALSE);
  cairo_set_source_rgba (cr, grey.r, grey.g, grey.b, 1);
  cairo_set_line_width (cr, 2);
  cairo_move_to (cr, x, y + 38);
  cairo_line_to (cr, x + 7, y + 38);
  cairo_stroke (cr);
  cairo_set_dash (cr, dash, 2, 0);
  cairo_move_to (cr, x + 9, y + 38);
  cairo_line_to (cr, x + 18, y + 38);
  cairo_stroke (cr);
  cairo_set_dash (cr, NULL, 0, 0);
  text_at (cr, lines[2], x + 24, y + 42, 11, FALSE, dark, FALSE);
  cairo_restore (cr);
}

static void
draw_ellipses (GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer data)
{
  PsClusterView *self = data;
  g_autoptr (PsFigure) fig = NULL;
  PsPlotView view;

  if (self->n_ellipses == 0)
    return;
  /* The same figure the scatter draws gives the same layout. */
  fig = ps_scatter_view_build_figure (self->scatter, NULL);
  if (fig == NULL)
    return;
  ps_figure_get_view (fig, width, height, &view);
  draw_cluster_marks (self, cr, &view, ps_style_is_dark ());
}

/* ---- The K timeline ------------------------------------------------------------ */

static PsFigure *
k_figure (PsClusterView *self)
{
  if (self->n_k == 0)
    return NULL;
  PsFigure *fig = ps_figure_new ();
  gsize n = 0;
  g_autofree double *x = g_new (double, 2 * self->n_k);
  g_autofree double *y = g_new (double, 2 * self->n_k);
  gint32 kmax = (gint32) self->C;
  gboolean have_split = FALSE, have_merge = FALSE;

  ps_figure_set_theme (fig, ps_current_theme ());
  ps_figure_set_title (fig, "Estimated number of clusters K");
  ps_figure_set_x_label (fig, "EM iteration");
  ps_figure_set_y_label (fig, "K");
  /* The key is drawn inside the plot (draw_k_labels): a legend beside it
   * would take a third of a narrow panel. */
  ps_figure_set_show_legend (fig, FALSE);
  /* Stairs: K changes only at the end of an iteration with moves. */
  for (gsize i = 0; i < self->n_k; i++)
    {
      if (i > 0 && self->k_history[i] != self->k_history[i - 1])
        {
          x[n] = i + 1;
          y[n++] = self->k_history[i - 1];
        }
      x[n] = i + 1;
      y[n++] = self->k_history[i];
      kmax = MAX (kmax, self->k_history[i]);
    }
  ps_figure_set_x_range (fig, 0, self->n_k + 1);
  /* Head room for the event labels and the key. */
  ps_figure_set_y_range (fig, 0, kmax * 1.7 + 1);
  for (gsize e = 0; e < self->n_events; e++)
    {
      const gint32 *ev = self->events + e * 5;
      gboolean split = ev[1] == 0;
      if (e > 0 && ev[0] == ev[-5] && ev[1] == ev[-4])
        continue;   /* one mark per step and kind */
      const char *name = NULL;
      if (split && !have_split)
        name = "split";
      else if (!split && !have_merge)
        name = "merge";
      have_split |= split;
      have_merge |= !split;
      ps_figure_add_vline (fig, ev[0] + 1, split ? ps_palette_color (2) : ps_palette_color (3), name,
                           TRUE);
    }
  if (self->C > 0)
    {
      double tx[2] = { 0, self->n_k + 1 }, ty[2] = { self->C, self->C };
      ps_figure_add_curve (fig, "true number of classes", tx, ty, 2, (PsColor) { 0.5, 0.5, 0.5, 0.7 }, 0);
    }
  if (n == 1)
    {
      /* A single iteration: a flat segment so the curve is visible. */
      x[1] = x[0] + 0.5;
      y[1] = y[0];
      n = 2;
    }
  ps_figure_add_curve (fig, "K", x, y, n, ps_palette_color (0), 0);
  return fig;
}

/* Labels at the top of the event marks: "2× → 9" (two moves, K = 9 after).  Labels that
 * would overlap go one row lower, or are left out. */
static void
draw_k_labels (PsClusterView *self, cairo_t *cr, const PsPlotView *v, gboolean dark)
{
  double right[3] = { -INFINITY, -INFINITY, -INFINITY };

  cairo_save (cr);
  cairo_rectangle (cr, v->px, v->py, v->pw, v->ph);
  cairo_clip (cr);
  for (gsize e = 0; e < self->n_events;)
    {
      const gint32 *ev = self->events + e * 5;
      gsize count = 0;
      gint32 k_after = ev[4];
      while (e < self->n_events && self->events[e * 5] == ev[0] && self->events[e * 5 + 1] == ev[1])
        {
          k_after = self->events[e * 5 + 4];
          count++;
          e++;
        }
      char buf[64];
      double px, py;
      /* The mark's colour says split or merge; the label says how many
       * moves and the K they left. */
      if (count > 1)
        g_snprintf (buf, sizeof buf, "%zu× → %d", count, k_after);
      else
        g_snprintf (buf, sizeof buf, "→ %d", k_after);
      ps_plot_view_to_pixel (v, ev[0] + 1, 0, &px, &py);
      double w = text_width (cr, buf, 10, TRUE);
      for (int row = 0; row < 3; row++)
        if (px + 3 > right[row] + 4)
          {
            {
              PsColor c = ps_palette_color (ev[1] == 0 ? 2 : 3);
              text_at (cr, buf, px + 3, v->py + 12 + 13 * row, 10, TRUE, dark, TRUE);
              /* Over the neutral text, the same glyphs in the mark's colour. */
              cairo_move_to (cr, px + 3, v->py + 12 + 13 * row);
              cairo_set_source_rgba (cr, c.r * 0.8, c.g * 0.8, c.b * 0.8, 1);
              cairo_show_text (cr, buf);
            }
            right[row] = px + 3 + w;
            break;
          }
    }

  /* The key, top right below the label rows. */
  const char *names[4] = { "K", "true number of classes", "split", "merge" };
  PsColor colors[4] = { ps_palette_color (0), { 0.5, 0.5, 0.5, 0.8 }, ps_palette_color (2),
                        ps_palette_color (3) };
  double kw = 0;
  for (int i = 0; i < 4; i++)
    kw = MAX (kw, text_width (cr, names[i], 10, FALSE));
  double kx = v->px + v->pw - kw - 32, ky = v->py + 46;
  cairo_rectangle (cr, kx - 6, ky - 4, kw + 34, 4 * 14 + 4);
  cairo_set_source_rgba (cr, dark ? 0.15 : 1, dark ? 0.15 : 1, dark ? 0.15 : 1, 0.85);
  cairo_fill (cr);
  for (int i = 0; i < 4; i++)
    {
      double cy = ky + 6 + 14 * i;
      const double dash[2] = { 4, 3 };
      cairo_set_source_rgba (cr, colors[i].r, colors[i].g, colors[i].b, colors[i].a);
      cairo_set_line_width (cr, i == 0 ? 2 : 1.5);
      cairo_set_dash (cr, dash, i >= 2 ? 2 : 0, 0);
      if (i >= 2)
        {
          cairo_move_to (cr, kx + 8, cy - 6);
          cairo_line_to (cr, kx + 8, cy + 6);
        }
      else
        {
          cairo_move_to (cr, kx, cy);
          cairo_line_to (cr, kx + 16, cy);
        }
      cairo_stroke (cr);
      cairo_set_dash (cr, NULL, 0, 0);
      text_at (cr, names[i], kx + 22, cy + 4, 10, FALSE, dark, FALSE);
    }
  cairo_restore (cr);
}

static void
draw_k (GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer data)
{
  PsClusterView *self = data;
  g_autoptr (PsFigure) fig = k_figure (self);
  PsPlotView view;

  if (fig == NULL)
    return;
  ps_figure_get_theme (fig)->background.a = 0;
  ps_figure_render (fig, cr, width, height);
  ps_figure_get_view (fig, width, height, &view);
  draw_k_labels (self, cr, &view, ps_style_is_dark ());
}

/* ---- Data ---------------------------------------------------------------------- */

static void
clear_data (PsClusterView *self)
{
  g_clear_pointer (&self->base, g_ptr_array_unref);
  g_clear_pointer (&self->labels, g_free);
  g_clear_pointer (&self->cluster_color, g_free);
  g_clear_pointer (&self->old_classes, g_free);
  g_clear_pointer (&self->clusters, g_free);
  g_clear_pointer (&self->k_history, g_free);
  g_clear_pointer (&self->events, g_free);
  self->n = self->C = self->K = self->n_ellipses = 0;
  self->n_k = self->n_events = 0;
  self->n_acc = 0;
  self->acc_all = self->acc_old = self->acc_new = NAN;
}

/* The arrays the scatter gets for the colour mode, and its class names. */
static void
show_points (PsClusterView *self, gboolean keep_view)
{
  g_autoptr (GPtrArray) arrays = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  g_auto (GStrv) names = NULL;
  guint mode = gtk_drop_down_get_selected (self->color_dropdown);

  if (self->base == NULL)
    return;
  for (guint i = 0; i < self->base->len; i++)
    g_ptr_array_add (arrays, ps_array_ref (g_ptr_array_index (self->base, i)));
  if (mode == COLOR_OLD_NEW)
    {
      g_autofree gint32 *on = g_new (gint32, self->n);
      for (gsize i = 0; i < self->n; i++)
        on[i] = self->labels[i] >= 0 && (guint) self->labels[i] < self->C
                ? !self->old_classes[self->labels[i]] : -1;
      g_ptr_array_add (arrays, ps_array_new_i32 ("labels", on, self->n));
      names = g_new0 (char *, 3);
      names[0] = g_strdup ("old class");
      names[1] = g_strdup ("new class");
      ps_scatter_view_set_color_by (self->scatter, PS_COLOR_BY_CLASS);
    }
  else
    {
      gint32 top = (gint32) self->C - 1;
      g_ptr_array_add (arrays, ps_array_new_i32 ("labels", self->labels, self->n));
      if (mode == COLOR_CLUSTER)
        {
          g_ptr_array_add (arrays, ps_array_new_i32 ("predictions", self->cluster_color, self->n));
          for (guint k = 0; k < self->K; k++)
            top = MAX (top, self->clusters[k].color);
        }
      names = g_new0 (char *, top + 2);
      for (gint32 c = 0; c <= top; c++)
        if ((guint) c < self->C)
          names[c] = g_strdup_printf ("%d (%s)", c, self->old_classes[c] ? "old" : "new");
        else
          names[c] = g_strdup_printf ("unmatched %d", c - (gint32) self->C + 1);
      ps_scatter_view_set_color_by (self->scatter,
                                    mode == COLOR_CLUSTER ? PS_COLOR_BY_PREDICTION : PS_COLOR_BY_CLASS);
    }
  ps_scatter_view_set_class_names (self->scatter, (const char *const *) names);
  ps_scatter_view_set_snapshot (self->scatter, arrays, keep_view, NULL);
  gtk_widget_queue_draw (self->ellipse_area);
}

static void
color_changed_cb (GObject *dropdown, GParamSpec *pspec, PsClusterView *self)
{
  show_points (self, TRUE);
}

/* Moments of each cluster's rows in the drawn coordinates. */
static void
compute_ellipses (PsClusterView *self, const gint32 *cl, const float *w)
{
  gsize n = ps_scatter_view_get_n_points (self->scatter);
  const float *x = ps_scatter_view_get_x (self->scatter), *y = ps_scatter_view_get_y (self->scatter);
  const guint K = self->K;

  self->n_ellipses = 0;
  if (n != self->n || x == NULL || y == NULL)
    return;
  g_autofree double *s = g_new0 (double, (gsize) K * 6);   /* w, wx, wy, wxx, wxy, wyy */
  for (gsize i = 0; i < n; i++)
    for (guint k = 0; k < K; k++)
      {
        double wk = w ? w[i * K + k] : cl[i] == (gint32) k;
        if (!(wk > 0) || !isfinite (x[i]) || !isfinite (y[i]))
          continue;
        double *t = s + k * 6;
        t[0] += wk;
        t[1] += wk * x[i];
        t[2] += wk * y[i];
        t[3] += wk * x[i] * x[i];
        t[4] += wk * x[i] * y[i];
        t[5] += wk * y[i] * y[i];
      }
  for (guint k = 0; k < K; k++)
    {
      Cluster *c = &self->clusters[k];
      const double *t = s + k * 6;
      c->mass = t[0];
      if (t[0] < MIN_MASS)
        continue;
      c->mx = t[1] / t[0];
      c->my = t[2] / t[0];
      c->cov[0] = MAX (t[3] / t[0] - c->mx * c->mx, 0);
      c->cov[1] = c->cov[2] = t[4] / t[0] - c->mx * c->my;
      c->cov[3] = MAX (t[5] / t[0] - c->my * c->my, 0);
      c->drawn = isfinite (c->cov[0] + c->cov[1] + c->cov[3]);
      self->n_ellipses += c->drawn;
    }
}

static void
update_accuracy_text (PsClusterView *self)
{
  g_autofree char *text = NULL;

  if (self->n_acc == 0)
    text = g_strdup ("No labelled rows: no accuracy");
  else
    text = g_strdup_printf ("Accuracy (Hungarian matching, %u labelled rows)\n"
                            "<span size='x-large' weight='bold'>all %.1f%%</span>   "
                            "<span size='x-large'>old %.1f%%   new %.1f%%</span>",
                            self->n_acc, 100 * self->acc_all, 100 * self->acc_old,
                            100 * self->acc_new);
  gtk_label_set_markup (self->accuracy_label, text);
}

gboolean
ps_cluster_view_supports (GPtrArray *arrays)
{
  if (arrays == NULL)
    return FALSE;
  PsArray *cl = ps_snapshot_find (arrays, "clusters");
  PsArray *lab = ps_snapshot_find (arrays, "labels");
  PsArray *old = ps_snapshot_find (arrays, "old_classes");
  return cl != NULL && lab != NULL && old != NULL && ps_array_n_elements (cl) > 0
         && ps_array_n_elements (cl) == ps_array_n_elements (lab) && ps_array_n_elements (old) > 0;
}

gboolean
ps_cluster_view_set_snapshot (PsClusterView *self, PsStore *store, gint64 run, GPtrArray *arrays)
{
  g_return_val_if_fail (PS_IS_CLUSTER_VIEW (self), FALSE);
  gboolean keep_view = run != 0 && run == self->run && self->base != NULL;

  (void) store;
  clear_data (self);
  self->run = run;
  if (!ps_cluster_view_supports (arrays))
    {
      ps_scatter_view_clear (self->scatter);
      gtk_label_set_label (self->summary_label, "");
      gtk_label_set_label (self->accuracy_label, "");
      gtk_label_set_label (self->k_label, "");
      gtk_label_set_label (self->class_label, "");
      gtk_widget_queue_draw (self->ellipse_area);
      gtk_widget_queue_draw (self->k_area);
      return FALSE;
    }

  gint64 t0 = g_get_monotonic_time ();
  PsArray *ca = ps_snapshot_find (arrays, "clusters");
  PsArray *oa = ps_snapshot_find (arrays, "old_classes");
  PsArray *aa = ps_snapshot_find (arrays, "assignments");
  PsArray *ka = ps_snapshot_find (arrays, "cluster_known");
  PsArray *sa = ps_snapshot_find (arrays, "split");
  PsArray *kh = ps_snapshot_find (arrays, "k_history");
  PsArray *ev = ps_snapshot_find (arrays, "events");
  const gsize n = ps_array_n_elements (ca);
  g_autofree gint32 *cl = ps_snapshot_copy_i32 (ca, n);
  g_autofree gint32 *split = sa ? ps_snapshot_copy_i32 (sa, n) : NULL;

  self->n = n;
  self->labels = ps_snapshot_copy_i32 (ps_snapshot_find (arrays, "labels"), n);
  self->C = (guint) ps_array_n_elements (oa);
  self->old_classes = g_new (guint8, self->C);
  {
    g_autofree gint32 *o = ps_snapshot_copy_i32 (oa, self->C);
    for (guint c = 0; c < self->C; c++)
      self->old_classes[c] = o[c] != 0;
  }
  gint32 kmax = 0;
  for (gsize i = 0; i < n; i++)
    {
      cl[i] = MAX (cl[i], 0);
      kmax = MAX (kmax, cl[i] + 1);
      if (self->labels[i] >= (gint32) self->C)
        self->labels[i] = -1;
    }
  /* Responsibilities weigh the rows of a mixture (gpc has cluster_cov). */
  g_autofree float *w = NULL;
  if (aa != NULL && aa->ndim == 2 && aa->shape[0] == n && ps_snapshot_find (arrays, "cluster_cov"))
    {
      w = ps_snapshot_copy_f32 (aa, n * aa->shape[1]);
      kmax = MAX (kmax, (gint32) aa->shape[1]);
      if ((gsize) kmax != aa->shape[1])
        g_clear_pointer (&w, g_free);
    }
  self->K = (guint) kmax;
  self->clusters = g_new0 (Cluster, self->K);

  /* Clusters matched one-to-one to classes on all labelled rows; an
   * unmatched cluster gets a colour past the classes'. */
  g_autofree gint32 *map = g_new (gint32, self->K);
  for (guint k = 0; k < self->K; k++)
    map[k] = -1;
  ps_cluster_accuracy (cl, self->labels, (guint) n, map);
  g_autofree gint32 *known = ka ? ps_snapshot_copy_i32 (ka, self->K) : NULL;
  int extra = 0;
  for (guint k = 0; k < self->K; k++)
    {
      Cluster *c = &self->clusters[k];
      c->cls = map[k] >= 0 && (guint) map[k] < self->C ? map[k] : -1;
      c->color = c->cls >= 0 ? c->cls : (int) self->C + extra++;
      c->old = known ? known[k] >= 0 : c->cls >= 0 && self->old_classes[c->cls];
    }
  self->cluster_color = g_new (gint32, n);
  for (gsize i = 0; i < n; i++)
    self->cluster_color[i] = self->clusters[cl[i]].color;

  /* Accuracy on the test rows when the snapshot marks them. */
  {
    g_autofree gint32 *pc = g_new (gint32, n);
    g_autofree gint32 *py = g_new (gint32, n);
    gboolean test = FALSE;
    for (gsize i = 0; split && i < n && !test; i++)
      test = split[i] == PS_SPLIT_TEST && self->labels[i] >= 0;
    for (gsize i = 0; i < n; i++)
      if (self->labels[i] >= 0 && (!test || split[i] == PS_SPLIT_TEST))
        {
          pc[self->n_acc] = cl[i];
          py[self->n_acc++] = self->labels[i];
        }
    if (self->n_acc > 0)
      ps_cluster_accuracy_old_new (pc, py, self->n_acc, self->old_classes, self->C,
                                   &self->acc_all, &self->acc_old, &self->acc_new);
    /* Per class: the share of its rows in the cluster matched to it (the
     * same one-to-one matching, on these rows), which tells which new
     * classes were found. */
    g_autoptr (GString) table = g_string_new ("<tt>class      rows  in its cluster\n");
    g_autofree gint32 *emap = g_new (gint32, self->K);
    g_autofree guint *rows = g_new0 (guint, self->C), *hits = g_new0 (guint, self->C);
    for (guint k = 0; k < self->K; k++)
      emap[k] = -1;
    if (self->n_acc > 0)
      ps_cluster_accuracy (pc, py, self->n_acc, emap);
    for (guint i = 0; i < self->n_acc; i++)
      {
        rows[py[i]]++;
        hits[py[i]] += emap[pc[i]] == py[i];
      }
    for (guint c = 0; c < self->C; c++)
      if (rows[c] > 0)
        g_string_append_printf (table, "%2u (%s) %7u  %5.1f%%\n", c,
                                self->old_classes[c] ? "old" : "new", rows[c],
                                100.0 * hits[c] / rows[c]);
    g_string_append (table, "</tt>");
    gtk_label_set_markup (self->class_label, self->n_acc > 0 ? table->str : "");
  }

  /* The timeline. */
  if (kh != NULL && ps_array_n_elements (kh) > 0)
    {
      self->n_k = ps_array_n_elements (kh);
      self->k_history = ps_snapshot_copy_i32 (kh, self->n_k);
    }
  if (ev != NULL && ev->ndim == 2 && ev->shape[1] == 5 && ev->shape[0] > 0)
    {
      self->n_events = ev->shape[0];
      self->events = ps_snapshot_copy_i32 (ev, self->n_events * 5);
    }

  /* What the scatter shows: the snapshot without the arrays the colour
   * modes replace, and without prototypes (the means are marked here). */
  self->base = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  for (guint i = 0; i < arrays->len; i++)
    {
      PsArray *a = g_ptr_array_index (arrays, i);
      if (g_strcmp0 (a->kind, "labels") != 0 && g_strcmp0 (a->kind, "predictions") != 0
          && g_strcmp0 (a->kind, "prototypes") != 0)
        g_ptr_array_add (self->base, ps_array_ref (a));
    }
  show_points (self, keep_view);
  compute_ellipses (self, cl, w);

  guint n_old = 0, n_new = 0;
  for (guint k = 0; k < self->K; k++)
    if (self->clusters[k].mass > 0)
      {
        n_old += self->clusters[k].old;
        n_new += !self->clusters[k].old;
      }
  guint c_old = 0;
  for (guint c = 0; c < self->C; c++)
    c_old += self->old_classes[c];
  g_autofree char *summary = g_strdup_printf (
      "%u clusters (%u with an old class, %u discovered) for %u classes (%u old, %u new) · %zu rows",
      n_old + n_new, n_old, n_new, self->C, c_old, self->C - c_old, n);
  gtk_label_set_label (self->summary_label, summary);
  update_accuracy_text (self);
  if (self->n_k > 0)
    {
      guint ns = 0, nm = 0;
      for (gsize e = 0; e < self->n_events; e++)
        {
          ns += self->events[e * 5 + 1] == 0;
          nm += self->events[e * 5 + 1] == 1;
        }
      g_autofree char *t = g_strdup_printf ("K went from %d to %d in %zu iterations: %u splits and "
                                            "%u merges accepted.",
                                            self->k_history[0], self->k_history[self->n_k - 1],
                                            self->n_k, ns, nm);
      gtk_label_set_label (self->k_label, t);
    }
  else
    {
      g_autofree char *t = g_strdup_printf ("This method is given the number of classes (K = %u); "
                                            "gpc estimates it with split and merge moves.",
                                            self->K);
      gtk_label_set_label (self->k_label, t);
    }
  gtk_widget_set_visible (self->k_area, self->n_k > 0);
  gtk_widget_queue_draw (self->k_area);
  g_debug ("cluster view: %zu rows, %u clusters in %.1f ms", n, self->K,
           (g_get_monotonic_time () - t0) / 1000.0);
  return TRUE;
}

guint
ps_cluster_view_get_n_ellipses (PsClusterView *self)
{
  g_return_val_if_fail (PS_IS_CLUSTER_VIEW (self), 0);
  return self->n_ellipses;
}

const gint32 *
ps_cluster_view_get_k_history (PsClusterView *self, gsize *n)
{
  g_return_val_if_fail (PS_IS_CLUSTER_VIEW (self), NULL);
  if (n)
    *n = self->n_k;
  return self->k_history;
}

gboolean
ps_cluster_view_get_accuracy (PsClusterView *self, double *all, double *old_acc, double *new_acc)
{
  g_return_val_if_fail (PS_IS_CLUSTER_VIEW (self), FALSE);
  if (all)
    *all = self->acc_all;
  if (old_acc)
    *old_acc = self->acc_old;
  if (new_acc)
    *new_acc = self->acc_new;
  return self->n_acc > 0;
}

/* ---- Export -------------------------------------------------------------------- */

typedef struct
{
  PsClusterView *self;
  PsFigure *fig, *kfig;
  double h1;
} ClusterPage;

static void
draw_cluster_page (cairo_t *cr, double w, double h, gpointer data)
{
  ClusterPage *p = data;
  gboolean dark = ps_style_is_dark ();
  PsPlotView view;

  ps_figure_render (p->fig, cr, w, p->h1);
  ps_figure_get_view (p->fig, w, p->h1, &view);
  draw_cluster_marks (p->self, cr, &view, dark);
  if (p->kfig)
    {
      cairo_translate (cr, 0, p->h1);
      ps_figure_render (p->kfig, cr, w, h - p->h1);
      ps_figure_get_view (p->kfig, w, h - p->h1, &view);
      draw_k_labels (p->self, cr, &view, dark);
    }
}

gboolean
ps_cluster_view_export (PsClusterView *self, const char *path, double scale, GError **error)
{
  g_return_val_if_fail (PS_IS_CLUSTER_VIEW (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  g_autofree char *title = NULL;
  if (self->n_acc > 0)
    title = g_strdup_printf ("Clusters: accuracy all %.1f%% · old %.1f%% · new %.1f%%",
                             100 * self->acc_all, 100 * self->acc_old, 100 * self->acc_new);
  g_autoptr (PsFigure) fig = ps_scatter_view_build_figure (self->scatter, title ? title : "Clusters");
  if (fig == NULL || self->base == NULL)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND, "%s: no clusters to export", path);
      return FALSE;
    }
  g_autoptr (PsFigure) kfig = k_figure (self);
  ClusterPage page = { self, fig, kfig, EXPORT_SCATTER_HEIGHT };
  return ps_plot_write_page (path, "clusters", EXPORT_WIDTH,
                             EXPORT_SCATTER_HEIGHT + (kfig ? EXPORT_K_HEIGHT : 0), scale,
                             draw_cluster_page, &page, error);
}

/* ---- GObject ------------------------------------------------------------------- */

static void
ps_cluster_view_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), PS_TYPE_CLUSTER_VIEW);
  G_OBJECT_CLASS (ps_cluster_view_parent_class)->dispose (object);
}

static void
ps_cluster_view_finalize (GObject *object)
{
  clear_data (PS_CLUSTER_VIEW (object));
  G_OBJECT_CLASS (ps_cluster_view_parent_class)->finalize (object);
}

static void
ps_cluster_view_class_init (PsClusterViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ps_cluster_view_dispose;
  object_class->finalize = ps_cluster_view_finalize;
  g_type_ensure (PS_TYPE_SCATTER_VIEW);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/protoscope/Protoscope/ui/ps-cluster-view.ui");
  gtk_widget_class_bind_template_child (widget_class, PsClusterView, scroller);
  gtk_widget_class_bind_template_child (widget_class, PsClusterView, summary_label);
  gtk_widget_class_bind_template_child (widget_class, PsClusterView, color_dropdown);
  gtk_widget_class_bind_template_child (widget_class, PsClusterView, scatter);
  gtk_widget_class_bind_template_child (widget_class, PsClusterView, ellipse_area);
  gtk_widget_class_bind_template_child (widget_class, PsClusterView, accuracy_label);
  gtk_widget_class_bind_template_child (widget_class, PsClusterView, k_area);
  gtk_widget_class_bind_template_child (widget_class, PsClusterView, k_label);
  gtk_widget_class_bind_template_child (widget_class, PsClusterView, class_label);
  gtk_widget_class_set_css_name (widget_class, "clusterview");
}

static void
ps_cluster_view_init (PsClusterView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->acc_all = self->acc_old = self->acc_new = NAN;
  gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (self->ellipse_area), draw_ellipses, self, NULL);
  gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (self->k_area), draw_k, self, NULL);
  g_signal_connect_object (self->scatter, "view-changed", G_CALLBACK (gtk_widget_queue_draw),
                           self->ellipse_area, G_CONNECT_SWAPPED);
  g_signal_connect (self->color_dropdown, "notify::selected", G_CALLBACK (color_changed_cb), self);
}

GtkWidget *
ps_cluster_view_new (void)
{
  return g_object_new (PS_TYPE_CLUSTER_VIEW, NULL);
}
