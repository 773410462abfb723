/* ps-robust-view.c: certified robustness (cbc): the points coloured by
 * their certified radius with the misclassified ones crossed out, and the
 * certified accuracy against the radius.
 *
 * The points are a PsScatterView fed a copy of the snapshot whose `scores`
 * are the certified radii; the crosses are drawn by a transparent drawing
 * area over it in the scatter's own layout (taken from the figure it
 * draws), so they follow pan and zoom.  The curve is measured on the test
 * rows when the snapshot marks them, like the run's acc_r* metrics, which
 * are drawn on it as dots when the store has them.
 */
#define G_LOG_DOMAIN "ps-window"

#include "ps-robust-view.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ps-application.h"
#include "ps-base.h"
#include "ps-dataset.h"
#include "ps-scatter-data.h"
#include "ps-scatter-view.h"

#define EXPORT_SCATTER_WIDTH 640.0
#define EXPORT_CURVE_WIDTH 560.0
#define EXPORT_HEIGHT 560.0

struct _PsRobustView
{
  GtkWidget parent_instance;

  /* Template. */
  GtkWidget *scroller;
  GtkLabel *summary_label;
  PsScatterView *scatter;
  GtkWidget *mark_area;
  GtkWidget *curve_area;
  GtkLabel *stats_label;

  /* Owned. */
  gint64 run;
  gsize n;               /* rows shown */
  guint32 *wrong;        /* [n_wrong] rows misclassified */
  gsize n_wrong;
  double *curve_r, *curve_acc;   /* [n_curve] certified accuracy against radius */
  gsize n_curve;
  gsize n_eval;          /* rows the curve counts */
  gboolean test_rows;    /* they are the test split */
  double clean_acc;
  double *reported_r, *reported_acc;   /* [n_reported] the run's acc_r* metrics */
  gsize n_reported;
};

G_DEFINE_FINAL_TYPE (PsRobustView, ps_robust_view, GTK_TYPE_WIDGET)

/* ---- Crosses over the scatter ---------------------------------------------------- */

static void
draw_wrong_marks (PsRobustView *self, cairo_t *cr, const PsPlotView *v, gboolean dark)
{
  const float *x = ps_scatter_view_get_x (self->scatter), *y = ps_scatter_view_get_y (self->scatter);

  if (x == NULL || ps_scatter_view_get_n_points (self->scatter) != self->n)
    return;
  cairo_save (cr);
  cairo_rectangle (cr, v->px, v->py, v->pw, v->ph);
  cairo_clip (cr);
  for (int pass = 0; pass < 2; pass++)
    {
      /* A light halo under the red cross keeps it visible on any colour. */
      if (pass == 0)
        cairo_set_source_rgba (cr, dark ? 0 : 1, dark ? 0 : 1, dark ? 0 : 1, 0.8);
      else
        cairo_set_source_rgba (cr, 0.9, 0.1, 0.1, 0.95);
      cairo_set_line_width (cr, pass == 0 ? 3.5 : 1.6);
      cairo_set_line_cap (cr, CAIRO_LINE_CAP_ROUND);
      for (gsize j = 0; j < self->n_wrong; j++)
        {
          double px, py, r = 4;
          ps_plot_view_to_pixel (v, x[self->wrong[j]], y[self->wrong[j]], &px, &py);
          if (px < v->px - r || px > v->px + v->pw + r || py < v->py - r || py > v->py + v->ph + r)
            continue;
          cairo_move_to (cr, px - r, py - r);
          cairo_line_to (cr, px + r, py + r);
          cairo_move_to (cr, px - r, py + r);
          cairo_line_to (cr, px + r, py - r);
        }
      cairo_stroke (cr);
    }

  /* The key, bottom left inside the plot. */
  char key[64];
  double kx = v->px + 10, ky = v->py + v->ph - 28;
  cairo_text_extents_t ext;
  g_snprintf (key, sizeof key, "misclassified (%zu): radius 0", self->n_wrong);
  cairo_select_font_face (cr, "Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, 11);
  cairo_text_extents (cr, key, &ext);
  cairo_rectangle (cr, kx - 6, ky - 4, ext.x_advance + 34, 22);
  cairo_set_source_rgba (cr, dark ? 0.15 : 1, dark ? 0.15 : 1, dark ? 0.15 : 1, 0.8);
  cairo_fill (cr);
  cairo_set_source_rgba (cr, 0.9, 0.1, 0.1, 0.95);
  cairo_set_line_width (cr, 1.6);
  cairo_move_to (cr, kx + 4, ky + 3);
  cairo_line_to (cr, kx + 12, ky + 11);
  cairo_move_to (cr, kx + 4, ky + 11);
  cairo_line_to (cr, kx + 12, ky + 3);
  cairo_stroke (cr);
  cairo_move_to (cr, kx + 22, ky + 11);
  if (dark)
    cairo_set_source_rgba (cr, 0.95, 0.95, 0.95, 1);
  else
    cairo_set_source_rgba (cr, 0.1, 0.1, 0.1, 1);
  cairo_show_text (cr, key);
  cairo_restore (cr);
}

static void
draw_marks (GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer data)
{
  PsRobustView *self = data;
  g_autoptr (PsFigure) fig = NULL;
  PsPlotView view;

  if (self->n == 0)
    return;
  fig = ps_scatter_view_build_figure (self->scatter, NULL);
  if (fig == NULL)
    return;
  ps_figure_get_view (fig, width, height, &view);
  draw_wrong_marks (self, cr, &view, ps_style_is_dark ());
}

/* ---- The certified accuracy curve ------------------------------------------------- */

static PsFigure *
curve_figure (PsRobustView *self)
{
  if (self->n_curve == 0)
    return NULL;
  PsFigure *fig = ps_figure_new ();
  double rmax = self->curve_r[self->n_curve - 1];
  g_autofree char *title = g_strdup_printf ("Certified accuracy (%zu %s)", self->n_eval,
                                            self->test_rows ? "test rows" : "rows");

  ps_figure_set_theme (fig, ps_current_theme ());
  ps_figure_set_title (fig, title);
  ps_figure_set_x_label (fig, "radius r (L2, input units)");
  ps_figure_set_y_label (fig, "correct with certified radius ≥ r");
  ps_figure_set_x_range (fig, 0, rmax > 0 ? rmax : 1);
  ps_figure_set_y_range (fig, 0, 1);
  /* The key is drawn inside the plot (draw_curve_key): a legend beside it
   * would take half of a narrow panel. */
  ps_figure_set_show_legend (fig, FALSE);
  ps_figure_add_curve (fig, "certified accuracy", self->curve_r, self->curve_acc, self->n_curve,
                       ps_palette_color (0), 0);
  float cx = 0, cy = (float) self->clean_acc;
  PsScatterSpec clean = { .x = &cx, .y = &cy, .n = 1, .color = ps_palette_color (3), .radius = 5,
                          .alpha = 1 };
  ps_figure_add_scatter (fig, &clean);
  if (self->n_reported > 0)
    {
      g_autofree float *rx = g_new (float, self->n_reported);
      g_autofree float *ry = g_new (float, self->n_reported);
      for (gsize i = 0; i < self->n_reported; i++)
        {
          rx[i] = (float) self->reported_r[i];
          ry[i] = (float) self->reported_acc[i];
        }
      PsScatterSpec rep = { .x = rx, .y = ry, .n = self->n_reported, .color = ps_palette_color (1),
                            .radius = 4, .alpha = 1 };
      ps_figure_add_scatter (fig, &rep);
    }
  return fig;
}

/* The key, in the plot's top right corner (the curve falls from the top
 * left, so that corner stays empty). */
static void
draw_curve_key (PsRobustView *self, cairo_t *cr, const PsPlotView *v, gboolean dark)
{
  char clean[64];
  const char *lines[3] = { "certified accuracy", clean, "reported by the run (acc_r*)" };
  PsColor colors[3] = { ps_palette_color (0), ps_palette_color (3), ps_palette_color (1) };
  int n = self->n_reported > 0 ? 3 : 2;
  double w = 0;
  cairo_text_extents_t ext;

  g_snprintf (clean, sizeof clean, "clean accuracy %.1f%%", 100 * self->clean_acc);
  cairo_save (cr);
  cairo_select_font_face (cr, "Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, 11);
  for (int i = 0; i < n; i++)
    {
      cairo_text_extents (cr, lines[i], &ext);
      w = MAX (w, ext.x_advance);
    }
  double x = v->px + v->pw - w - 34, y = v->py + 8;
  cairo_rectangle (cr, x - 6, y - 4, w + 36, 16 * n + 6);
  cairo_set_source_rgba (cr, dark ? 0.15 : 1, dark ? 0.15 : 1, dark ? 0.15 : 1, 0.85);
  cairo_fill (cr);
  for (int i = 0; i < n; i++)
    {
      double cy = y + 8 + 16 * i;
      cairo_set_source_rgba (cr, colors[i].r, colors[i].g, colors[i].b, 1);
      if (i == 0)
        {
          cairo_set_line_width (cr, 2);
          cairo_move_to (cr, x, cy);
          cairo_line_to (cr, x + 16, cy);
          cairo_stroke (cr);
        }
      else
        {
          cairo_arc (cr, x + 8, cy, i == 1 ? 5 : 4, 0, 2 * G_PI);
          cairo_fill (cr);
        }
      cairo_move_to (cr, x + 24, cy + 4);
      if (dark)
        cairo_set_source_rgba (cr, 0.95, 0.95, 0.95, 1);
      else
        cairo_set_source_rgba (cr, 0.1, 0.1, 0.1, 1);
      cairo_show_text (cr, lines[i]);
    }
  cairo_restore (cr);
}

static void
draw_curve (GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer data)
{
  g_autoptr (PsFigure) fig = curve_figure (data);
  PsPlotView view;

  if (fig == NULL)
    return;
  ps_figure_get_theme (fig)->background.a = 0;
  ps_figure_render (fig, cr, width, height);
  ps_figure_get_view (fig, width, height, &view);
  draw_curve_key (data, cr, &view, ps_style_is_dark ());
}

/* ---- Data --------------------------------------------------------------------------- */

static void
clear_data (PsRobustView *self)
{
  g_clear_pointer (&self->wrong, g_free);
  g_clear_pointer (&self->curve_r, g_free);
  g_clear_pointer (&self->curve_acc, g_free);
  g_clear_pointer (&self->reported_r, g_free);
  g_clear_pointer (&self->reported_acc, g_free);
  self->n = self->n_wrong = self->n_curve = self->n_eval = self->n_reported = 0;
  self->clean_acc = NAN;
  self->test_rows = FALSE;
}

static int
cmp_float (const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}

/* The step curve of certified accuracy: acc(r) = #{correct, radius >= r} /
 * n_eval, from r = 0 (the clean accuracy) to past the largest radius. */
static void
compute_curve (PsRobustView *self, float *radii, gsize m)
{
  double cur = (double) m / self->n_eval;
  gsize n = 0;

  qsort (radii, m, sizeof (float), cmp_float);
  self->curve_r = g_new (double, 2 * m + 3);
  self->curve_acc = g_new (double, 2 * m + 3);
  self->curve_r[n] = 0;
  self->curve_acc[n++] = cur;
  for (gsize i = 0; i < m;)
    {
      gsize j = i;
      while (j < m && radii[j] == radii[i])
        j++;
      /* Rows with radius exactly v still count at r = v; they drop out
       * just past it. */
      self->curve_r[n] = radii[i];
      self->curve_acc[n++] = cur;
      cur = (double) (m - j) / self->n_eval;
      self->curve_r[n] = radii[i];
      self->curve_acc[n++] = cur;
      i = j;
    }
  double rmax = m > 0 ? radii[m - 1] : 0;
  self->curve_r[n] = rmax > 0 ? rmax * 1.08 : 1;
  self->curve_acc[n++] = 0;
  self->n_curve = n;
}

static void
read_reported (PsRobustView *self, PsStore *store, gint64 run)
{
  g_auto (GStrv) names = NULL;
  g_autofree double *values = NULL;

  if (store == NULL || run == 0 || !ps_store_final_metrics (store, run, &names, &values, NULL))
    return;
  guint len = names ? g_strv_length (names) : 0;
  self->reported_r = g_new (double, MAX (len, 1));
  self->reported_acc = g_new (double, MAX (len, 1));
  for (guint i = 0; i < len; i++)
    {
      char *end = NULL;
      if (!g_str_has_prefix (names[i], "acc_r"))
        continue;
      double r = g_ascii_strtod (names[i] + 5, &end);
      if (end == names[i] + 5 || *end != '\0' || !isfinite (values[i]) || !(r >= 0))
        continue;
      self->reported_r[self->n_reported] = r;
      self->reported_acc[self->n_reported++] = values[i];
    }
}

/* The certified radius of each row: `certified_radius`, or for a snapshot
 * from before it existed, the prediction's radius (`scores` named
 * certified_radius) set to 0 where the prediction is wrong. */
static float *
certified_radii (GPtrArray *arrays, gsize n, const gint32 *labels, const gint32 *pred)
{
  PsArray *cr = ps_snapshot_find (arrays, "certified_radius");
  if (cr != NULL)
    return ps_snapshot_copy_f32 (cr, n);
  PsArray *na = ps_snapshot_find (arrays, "score_name");
  gsize nb = 0;
  const char *name = na ? ps_array_data (na, &nb) : NULL;
  if (name == NULL || nb != strlen ("certified_radius") || memcmp (name, "certified_radius", nb) != 0)
    return NULL;
  float *r = ps_snapshot_copy_f32 (ps_snapshot_find (arrays, "scores"), n);
  for (gsize i = 0; r && i < n; i++)
    if (labels[i] >= 0 && labels[i] != pred[i])
      r[i] = 0;
  return r;
}

gboolean
ps_robust_view_supports (GPtrArray *arrays)
{
  if (arrays == NULL)
    return FALSE;
  PsArray *lab = ps_snapshot_find (arrays, "labels");
  PsArray *pred = ps_snapshot_find (arrays, "predictions");
  PsArray *cr = ps_snapshot_find (arrays, "certified_radius");
  PsArray *sc = ps_snapshot_find (arrays, "scores");
  PsArray *na = ps_snapshot_find (arrays, "score_name");
  gsize nb = 0;
  const char *name = na ? ps_array_data (na, &nb) : NULL;
  gboolean named = name && nb == strlen ("certified_radius")
                   && memcmp (name, "certified_radius", nb) == 0 && sc != NULL;
  if (lab == NULL || pred == NULL || (cr == NULL && !named))
    return FALSE;
  gsize n = ps_array_n_elements (lab);
  return n > 0 && ps_array_n_elements (pred) == n
         && ps_array_n_elements (cr ? cr : sc) == n;
}

gboolean
ps_robust_view_set_snapshot (PsRobustView *self, PsStore *store, gint64 run, GPtrArray *arrays)
{
  g_return_val_if_fail (PS_IS_ROBUST_VIEW (self), FALSE);
  gboolean keep_view = run != 0 && run == self->run && self->n > 0;

  clear_data (self);
  self->run = run;
  if (!ps_robust_view_supports (arrays))
    {
      ps_scatter_view_clear (self->scatter);
      gtk_label_set_label (self->summary_label, "");
      gtk_label_set_label (self->stats_label, "");
      gtk_widget_queue_draw (self->mark_area);
      gtk_widget_queue_draw (self->curve_area);
      return FALSE;
    }

  gint64 t0 = g_get_monotonic_time ();
  const gsize n = ps_array_n_elements (ps_snapshot_find (arrays, "labels"));
  g_autofree gint32 *labels = ps_snapshot_copy_i32 (ps_snapshot_find (arrays, "labels"), n);
  g_autofree gint32 *pred = ps_snapshot_copy_i32 (ps_snapshot_find (arrays, "predictions"), n);
  PsArray *sa = ps_snapshot_find (arrays, "split");
  g_autofree gint32 *split = sa ? ps_snapshot_copy_i32 (sa, n) : NULL;
  g_autofree float *rad = certified_radii (arrays, n, labels, pred);
  if (rad == NULL)
    return FALSE;

  /* The rows the curve counts: the labelled test rows when marked. */
  gboolean test = FALSE;
  for (gsize i = 0; split && i < n && !test; i++)
    test = split[i] == PS_SPLIT_TEST && labels[i] >= 0;
  g_autofree float *ok_radii = g_new (float, n);
  gsize m = 0;
  double sum_r = 0;
  self->wrong = g_new (guint32, n);
  for (gsize i = 0; i < n; i++)
    {
      if (labels[i] >= 0 && pred[i] != labels[i])
        self->wrong[self->n_wrong++] = (guint32) i;
      if (labels[i] < 0 || (test && split[i] != PS_SPLIT_TEST))
        continue;
      self->n_eval++;
      if (pred[i] == labels[i])
        {
          float r = isfinite (rad[i]) ? MAX (rad[i], 0.f) : 0.f;
          ok_radii[m++] = r;
          sum_r += r;
        }
    }
  self->n = n;
  self->test_rows = test;
  if (self->n_eval > 0)
    {
      self->clean_acc = (double) m / self->n_eval;
      compute_curve (self, ok_radii, m);
    }
  read_reported (self, store, run);

  /* The scatter: the snapshot with the certified radius as its score. */
  g_autoptr (GPtrArray) shown = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  for (guint i = 0; i < arrays->len; i++)
    {
      PsArray *a = g_ptr_array_index (arrays, i);
      if (g_strcmp0 (a->kind, "scores") != 0 && g_strcmp0 (a->kind, "score_name") != 0)
        g_ptr_array_add (shown, ps_array_ref (a));
    }
  const char *sname = "certified radius";
  gsize shape[1] = { n }, nshape[1] = { strlen (sname) };
  g_ptr_array_add (shown, ps_array_new ("scores", PS_DTYPE_F32, 1, shape, rad));
  g_ptr_array_add (shown, ps_array_new ("score_name", PS_DTYPE_U8, 1, nshape, sname));
  ps_scatter_view_set_color_by (self->scatter, PS_COLOR_BY_SCORE);
  ps_scatter_view_set_snapshot (self->scatter, shown, keep_view, NULL);

  /* Median radius of the correct rows (ok_radii is sorted now). */
  double median = m > 0 ? (m % 2 ? ok_radii[m / 2] : 0.5 * (ok_radii[m / 2 - 1] + ok_radii[m / 2])) : 0;
  g_autofree char *summary = g_strdup_printf (
      "Certified L2 radius of %zu rows · %zu misclassified (crossed out, radius 0)", n, self->n_wrong);
  gtk_label_set_label (self->summary_label, summary);
  g_autofree char *stats = NULL;
  if (self->n_eval > 0)
    stats = g_strdup_printf ("<span size='x-large' weight='bold'>clean accuracy %.1f%%</span>\n"
                             "on %zu %s · certified radius of the correct rows: mean %.3g, "
                             "median %.3g, largest %.3g",
                             100 * self->clean_acc, self->n_eval, test ? "test rows" : "labelled rows",
                             m ? sum_r / m : 0.0, median, m ? ok_radii[m - 1] : 0.0);
  else
    stats = g_strdup ("No labelled rows: no accuracy");
  gtk_label_set_markup (self->stats_label, stats);
  gtk_widget_queue_draw (self->mark_area);
  gtk_widget_queue_draw (self->curve_area);
  g_debug ("robustness view: %zu rows in %.1f ms", n, (g_get_monotonic_time () - t0) / 1000.0);
  return TRUE;
}

const double *
ps_robust_view_get_curve (PsRobustView *self, const double **radius, gsize *n)
{
  g_return_val_if_fail (PS_IS_ROBUST_VIEW (self), NULL);
  if (radius)
    *radius = self->curve_r;
  if (n)
    *n = self->n_curve;
  return self->curve_acc;
}

gsize
ps_robust_view_get_n_misclassified (PsRobustView *self)
{
  g_return_val_if_fail (PS_IS_ROBUST_VIEW (self), 0);
  return self->n_wrong;
}

/* ---- Export ------------------------------------------------------------------------ */

typedef struct
{
  PsRobustView *self;
  PsFigure *fig, *curve;
} RobustPage;

static void
draw_robust_page (cairo_t *cr, double w, double h, gpointer data)
{
  RobustPage *p = data;
  double w1 = EXPORT_SCATTER_WIDTH, w2 = w - EXPORT_SCATTER_WIDTH;
  gboolean dark = ps_style_is_dark ();
  PsPlotView view;

  ps_figure_render (p->fig, cr, w1, h);
  ps_figure_get_view (p->fig, w1, h, &view);
  draw_wrong_marks (p->self, cr, &view, dark);
  cairo_translate (cr, w1, 0);
  ps_figure_render (p->curve, cr, w2, h);
  ps_figure_get_view (p->curve, w2, h, &view);
  draw_curve_key (p->self, cr, &view, dark);
}

gboolean
ps_robust_view_export (PsRobustView *self, const char *path, double scale, GError **error)
{
  g_return_val_if_fail (PS_IS_ROBUST_VIEW (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  g_autoptr (PsFigure) fig = self->n ? ps_scatter_view_build_figure (self->scatter,
                                                                      "Certified radius")
                                     : NULL;
  g_autoptr (PsFigure) curve = curve_figure (self);
  if (fig == NULL || curve == NULL)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND, "%s: no certified radii to export", path);
      return FALSE;
    }
  RobustPage page = { self, fig, curve };
  return ps_plot_write_page (path, "robustness view", EXPORT_SCATTER_WIDTH + EXPORT_CURVE_WIDTH,
                             EXPORT_HEIGHT, scale, draw_robust_page, &page, error);
}

/* ---- GObject ----------------------------------------------------------------------- */

static void
ps_robust_view_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), PS_TYPE_ROBUST_VIEW);
  G_OBJECT_CLASS (ps_robust_view_parent_class)->dispose (object);
}

static void
ps_robust_view_finalize (GObject *object)
{
  clear_data (PS_ROBUST_VIEW (object));
  G_OBJECT_CLASS (ps_robust_view_parent_class)->finalize (object);
}

static void
ps_robust_view_class_init (PsRobustViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ps_robust_view_dispose;
  object_class->finalize = ps_robust_view_finalize;
  g_type_ensure (PS_TYPE_SCATTER_VIEW);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/protoscope/Protoscope/ui/ps-robust-view.ui");
  gtk_widget_class_bind_template_child (widget_class, PsRobustView, scroller);
  gtk_widget_class_bind_template_child (widget_class, PsRobustView, summary_label);
  gtk_widget_class_bind_template_child (widget_class, PsRobustView, scatter);
  gtk_widget_class_bind_template_child (widget_class, PsRobustView, mark_area);
  gtk_widget_class_bind_template_child (widget_class, PsRobustView, curve_area);
  gtk_widget_class_bind_template_child (widget_class, PsRobustView, stats_label);
  gtk_widget_class_set_css_name (widget_class, "robustview");
}

static void
ps_robust_view_init (PsRobustView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->clean_acc = NAN;
  gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (self->mark_area), draw_marks, self, NULL);
  gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (self->curve_area), draw_curve, self, NULL);
  g_signal_connect_object (self->scatter, "view-changed", G_CALLBACK (gtk_widget_queue_draw),
                           self->mark_area, G_CONNECT_SWAPPED);
}

GtkWidget *
ps_robust_view_new (void)
{
  return g_object_new (PS_TYPE_ROBUST_VIEW, NULL);
}
