/* ps-ood-view.c: scores, histograms with a draggable threshold, ROC and
 * prototype health of one run. */
#define G_LOG_DOMAIN "ps-window"

#include "ps-ood-view.h"

#include <math.h>
#include <string.h>

#include "ps-application.h"
#include "ps-dataset.h"
#include "ps-scatter-data.h"
#include "ps-scatter-view.h"

#define HIST_BINS 40
#define DUPLICATE_COS 0.99
#define UNUSED_MASS 0.01

struct _PsOodView
{
  GtkWidget parent_instance;

  /* Template. */
  GtkWidget *scroller;
  GtkLabel *summary_label;
  PsScatterView *scatter;
  GtkWidget *hist_area;
  GtkLabel *threshold_label;
  GtkLabel *tpr_label;
  GtkLabel *fpr_label;
  GtkLabel *confusion_label;
  GtkWidget *roc_area;
  GtkWidget *health_box;
  GtkWidget *matrix_area;
  GtkLabel *health_label;

  /* Owned: the scores of the rows used, split by class. */
  float *id_scores, *ood_scores;   /* sorted ascending */
  gsize n_id, n_ood;
  double lo, hi;                   /* score range */
  double threshold;
  gint64 run;                   /* the run shown, 0 for none */
  gboolean threshold_moved;     /* the person moved the threshold for `run` */
  double *roc_fpr, *roc_tpr;       /* [n_roc] */
  gsize n_roc;
  double auroc;                    /* from the curve */
  char *score_name;
  float *cos;                      /* [k, k] or NULL */
  guint k;
  double drag_x;
};

G_DEFINE_FINAL_TYPE (PsOodView, ps_ood_view, GTK_TYPE_WIDGET)

static int
cmp_float (const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}

/* How many of the sorted values v[n] lie strictly below t. */
static gsize
count_below (const float *v, gsize n, double t)
{
  gsize lo = 0, hi = n;
  while (lo < hi)
    {
      gsize mid = (lo + hi) / 2;
      if (v[mid] < t)
        lo = mid + 1;
      else
        hi = mid;
    }
  return lo;
}

/* ---- Figures -------------------------------------------------------------- */

static PsFigure *
histogram_figure (PsOodView *self)
{
  if (self->n_id + self->n_ood == 0)
    return NULL;
  PsFigure *fig = ps_figure_new ();
  g_autofree char *title = g_strdup_printf ("%s: ID and OOD", self->score_name);
  ps_figure_set_theme (fig, ps_current_theme ());
  ps_figure_set_title (fig, title);
  ps_figure_set_x_label (fig, "score (higher = more OOD)");
  ps_figure_set_y_label (fig, "density");
  ps_figure_set_x_range (fig, self->lo, self->hi);
  ps_figure_set_show_legend (fig, TRUE);
  if (self->n_id > 0)
    ps_figure_add_histogram (fig, "ID", self->id_scores, self->n_id, HIST_BINS, self->lo, self->hi,
                             TRUE, ps_palette_color (0));
  if (self->n_ood > 0)
    ps_figure_add_histogram (fig, "OOD", self->ood_scores, self->n_ood, HIST_BINS, self->lo,
                             self->hi, TRUE, ps_palette_color (3));
  ps_figure_add_vline (fig, self->threshold, (PsColor) { 0.1, 0.1, 0.1, 0.9 }, "threshold", FALSE);
  return fig;
}

static void
rates (PsOodView *self, double t, double *tpr, double *fpr, gsize *id_kept, gsize *ood_kept)
{
  *id_kept = count_below (self->id_scores, self->n_id, t);
  *ood_kept = count_below (self->ood_scores, self->n_ood, t);
  *tpr = self->n_id ? (double) *id_kept / self->n_id : 0;
  *fpr = self->n_ood ? (double) *ood_kept / self->n_ood : 0;
}

static PsFigure *
roc_figure (PsOodView *self)
{
  if (self->n_roc == 0)
    return NULL;
  PsFigure *fig = ps_figure_new ();
  g_autofree char *title = g_strdup_printf ("ROC (AUROC %.3f)", self->auroc);
  double diag[2] = { 0, 1 };
  double tpr, fpr;
  gsize a, b;

  ps_figure_set_theme (fig, ps_current_theme ());
  ps_figure_set_title (fig, title);
  ps_figure_set_x_label (fig, "FPR (OOD kept)");
  ps_figure_set_y_label (fig, "TPR (ID kept)");
  ps_figure_set_x_range (fig, 0, 1);
  ps_figure_set_y_range (fig, 0, 1);
  ps_figure_set_equal_aspect (fig, TRUE);
  ps_figure_add_curve (fig, "chance", diag, diag, 2, (PsColor) { 0.5, 0.5, 0.5, 0.6 }, 0);
  ps_figure_add_curve (fig, self->score_name, self->roc_fpr, self->roc_tpr, self->n_roc,
                       ps_palette_color (0), 0);
  rates (self, self->threshold, &tpr, &fpr, &a, &b);
  float px = fpr, py = tpr;
  PsScatterSpec spec = { .x = &px, .y = &py, .n = 1, .color = ps_palette_color (3), .radius = 6,
                         .alpha = 1 };
  ps_figure_add_scatter (fig, &spec);
  return fig;
}

static PsFigure *
matrix_figure (PsOodView *self)
{
  if (self->cos == NULL)
    return NULL;
  PsFigure *fig = ps_figure_new ();
  ps_figure_set_theme (fig, ps_current_theme ());
  ps_figure_set_title (fig, "Prototype cosine similarity");
  ps_figure_add_matrix (fig, self->cos, self->k, self->k, PS_COLORMAP_COOLWARM, -1, 1, "cos");
  return fig;
}

static void
draw_figure (cairo_t *cr, PsFigure *fig, int width, int height)
{
  if (fig == NULL)
    return;
  ps_figure_get_theme (fig)->background.a = 0;
  ps_figure_render (fig, cr, width, height);
  ps_figure_free (fig);
}

static void
draw_hist (GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer data)
{
  draw_figure (cr, histogram_figure (data), width, height);
}

static void
draw_roc (GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer data)
{
  draw_figure (cr, roc_figure (data), width, height);
}

static void
draw_matrix (GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer data)
{
  draw_figure (cr, matrix_figure (data), width, height);
}

/* ---- Threshold ------------------------------------------------------------ */

static void
update_labels (PsOodView *self)
{
  double tpr, fpr;
  gsize id_kept, ood_kept;
  char buf[256];

  rates (self, self->threshold, &tpr, &fpr, &id_kept, &ood_kept);
  g_snprintf (buf, sizeof buf, "threshold %.4g", self->threshold);
  gtk_label_set_label (self->threshold_label, buf);
  g_snprintf (buf, sizeof buf, "TPR (ID kept) %.1f%%", 100 * tpr);
  gtk_label_set_label (self->tpr_label, buf);
  g_snprintf (buf, sizeof buf, "FPR (OOD kept) %.1f%%", 100 * fpr);
  gtk_label_set_label (self->fpr_label, buf);
  g_snprintf (buf, sizeof buf,
              "ID kept %zu · ID rejected %zu · OOD kept %zu · OOD rejected %zu",
              id_kept, self->n_id - id_kept, ood_kept, self->n_ood - ood_kept);
  gtk_label_set_label (self->confusion_label, buf);
}

void
ps_ood_view_set_threshold (PsOodView *self, double threshold)
{
  g_return_if_fail (PS_IS_OOD_VIEW (self));

  self->threshold = CLAMP (threshold, self->lo, self->hi);
  update_labels (self);
  gtk_widget_queue_draw (self->hist_area);
  gtk_widget_queue_draw (self->roc_area);
}

double
ps_ood_view_get_threshold (PsOodView *self)
{
  g_return_val_if_fail (PS_IS_OOD_VIEW (self), 0);
  return self->threshold;
}

static void
threshold_at_pixel (PsOodView *self, double px)
{
  g_autoptr (PsFigure) fig = histogram_figure (self);
  PsPlotView view;
  double x, y;

  if (fig == NULL)
    return;
  ps_figure_get_view (fig, gtk_widget_get_width (self->hist_area),
                      gtk_widget_get_height (self->hist_area), &view);
  ps_plot_view_to_data (&view, px, 0, &x, &y);
  self->threshold_moved = TRUE;
  ps_ood_view_set_threshold (self, x);
}

static void
drag_begin_cb (GtkGestureDrag *gesture, double x, double y, PsOodView *self)
{
  self->drag_x = x;
  threshold_at_pixel (self, x);
}

static void
drag_update_cb (GtkGestureDrag *gesture, double dx, double dy, PsOodView *self)
{
  threshold_at_pixel (self, self->drag_x + dx);
}

/* ---- Data ----------------------------------------------------------------- */

static void
compute_roc (PsOodView *self)
{
  /* Sweeping the threshold upwards over every distinct score adds rows to
   * the "kept" side; the curve steps through (FPR, TPR) at each one. */
  gsize i = 0, j = 0, n = 0;

  self->roc_fpr = g_new (double, self->n_id + self->n_ood + 2);
  self->roc_tpr = g_new (double, self->n_id + self->n_ood + 2);
  self->roc_fpr[n] = 0;
  self->roc_tpr[n++] = 0;
  self->auroc = 0;
  while (i < self->n_id || j < self->n_ood)
    {
      float t = i < self->n_id && (j >= self->n_ood || self->id_scores[i] <= self->ood_scores[j])
                    ? self->id_scores[i]
                    : self->ood_scores[j];
      while (i < self->n_id && self->id_scores[i] == t)
        i++;
      while (j < self->n_ood && self->ood_scores[j] == t)
        j++;
      self->roc_fpr[n] = self->n_ood ? (double) j / self->n_ood : 1;
      self->roc_tpr[n] = self->n_id ? (double) i / self->n_id : 1;
      self->auroc += (self->roc_fpr[n] - self->roc_fpr[n - 1])
                     * (self->roc_tpr[n] + self->roc_tpr[n - 1]) / 2;
      n++;
    }
  self->n_roc = n;
}

static GString *
prototype_health (PsOodView *self, GPtrArray *arrays)
{
  PsArray *protos = ps_snapshot_find (arrays, "prototypes");
  PsArray *plabels = ps_snapshot_find (arrays, "prototype_labels");
  PsArray *assign = ps_snapshot_find (arrays, "assignments");

  if (protos == NULL || plabels == NULL || protos->dtype != PS_DTYPE_F32 || protos->ndim != 2
      || protos->shape[0] < 2 || ps_array_n_elements (plabels) != protos->shape[0])
    return NULL;

  guint k = protos->shape[0];
  gsize e = protos->shape[1];
  const float *p = ps_array_data (protos, NULL);
  g_autofree gint32 *labels = ps_snapshot_copy_i32 (plabels, k);
  g_autofree double *norm = g_new0 (double, k);
  GString *text = g_string_new (NULL);
  guint n_dup = 0;

  for (guint a = 0; a < k; a++)
    {
      for (gsize d = 0; d < e; d++)
        norm[a] += (double) p[a * e + d] * p[a * e + d];
      norm[a] = sqrt (norm[a]);
    }
  self->k = k;
  self->cos = g_new (float, (gsize) k * k);
  for (guint a = 0; a < k; a++)
    for (guint b = 0; b < k; b++)
      {
        double dot = 0;
        for (gsize d = 0; d < e; d++)
          dot += (double) p[a * e + d] * p[b * e + d];
        self->cos[a * k + b] = norm[a] > 0 && norm[b] > 0 ? dot / (norm[a] * norm[b]) : 0;
      }

  g_string_append (text, "Duplicates (cos > 0.99): ");
  for (guint a = 0; a < k; a++)
    for (guint b = a + 1; b < k; b++)
      if (self->cos[a * k + b] > DUPLICATE_COS)
        {
          if (n_dup < 12)
            g_string_append_printf (text, "%s#%u–#%u (class %d, %.3f)", n_dup ? ", " : "", a, b,
                                    labels ? labels[a] : -1, self->cos[a * k + b]);
          n_dup++;
        }
  if (n_dup == 0)
    g_string_append (text, "none");
  else if (n_dup > 12)
    g_string_append_printf (text, " and %u more", n_dup - 12);

  if (assign != NULL && assign->dtype == PS_DTYPE_F32 && assign->ndim == 2 && assign->shape[1] == k)
    {
      const float *w = ps_array_data (assign, NULL);
      g_autofree double *mass = g_new0 (double, k);
      double total = 0;
      guint n_unused = 0;
      for (gsize r = 0; r < assign->shape[0]; r++)
        for (guint c = 0; c < k; c++)
          {
            mass[c] += w[r * k + c];
            total += w[r * k + c];
          }
      g_string_append (text, "\nUnused (< 1% of the assignment mass): ");
      for (guint c = 0; c < k && total > 0; c++)
        if (mass[c] / total < UNUSED_MASS)
          {
            g_string_append_printf (text, "%s#%u (class %d, %.2f%%)", n_unused ? ", " : "", c,
                                    labels ? labels[c] : -1, 100 * mass[c] / total);
            n_unused++;
          }
      if (n_unused == 0)
        g_string_append (text, "none");
    }
  return text;
}

static char *
final_metrics_text (PsStore *store, gint64 run, const char *score_name)
{
  g_auto (GStrv) names = NULL;
  g_autofree double *values = NULL;
  const char *s = g_str_has_prefix (score_name, "ood_") ? score_name + 4 : score_name;
  g_autofree char *auroc_name = g_strdup_printf ("auroc_%s", s);
  g_autofree char *fpr_name = g_strdup_printf ("fpr95_%s", s);
  double auroc = NAN, fpr95 = NAN;

  if (store == NULL || !ps_store_final_metrics (store, run, &names, &values, NULL))
    return NULL;
  for (guint i = 0; names && names[i]; i++)
    {
      if (strcmp (names[i], auroc_name) == 0 || (isnan (auroc) && strcmp (names[i], "auroc") == 0))
        auroc = values[i];
      if (strcmp (names[i], fpr_name) == 0 || (isnan (fpr95) && strcmp (names[i], "fpr95") == 0))
        fpr95 = values[i];
    }
  if (isnan (auroc) && isnan (fpr95))
    return NULL;
  return g_strdup_printf ("final AUROC %.4f · FPR95 %.4f", auroc, fpr95);
}

/* Drops the scores, keeping the scatter (and its zoom) for the next
 * snapshot of the same run. */
static void
clear_scores (PsOodView *self)
{
  g_clear_pointer (&self->id_scores, g_free);
  g_clear_pointer (&self->ood_scores, g_free);
  g_clear_pointer (&self->roc_fpr, g_free);
  g_clear_pointer (&self->roc_tpr, g_free);
  g_clear_pointer (&self->score_name, g_free);
  g_clear_pointer (&self->cos, g_free);
  self->n_id = self->n_ood = self->n_roc = 0;
  self->k = 0;
  self->lo = self->hi = self->threshold = 0;
  gtk_label_set_label (self->summary_label, "");
  gtk_label_set_label (self->health_label, "");
  gtk_widget_set_visible (self->health_box, FALSE);
  gtk_widget_queue_draw (self->hist_area);
  gtk_widget_queue_draw (self->roc_area);
}

void
ps_ood_view_clear (PsOodView *self)
{
  g_return_if_fail (PS_IS_OOD_VIEW (self));

  clear_scores (self);
  ps_scatter_view_clear (self->scatter);
  self->run = 0;
  self->threshold_moved = FALSE;
}

gboolean
ps_ood_view_supports (GPtrArray *arrays)
{
  if (arrays == NULL)
    return FALSE;
  PsArray *scores = ps_snapshot_find (arrays, "scores");
  PsArray *ood = ps_snapshot_find (arrays, "ood");
  return scores != NULL && ood != NULL && ps_snapshot_find (arrays, "score_name") != NULL
         && ps_array_n_elements (scores) == ps_array_n_elements (ood)
         && ps_array_n_elements (scores) > 0;
}

gboolean
ps_ood_view_set_snapshot (PsOodView *self, PsStore *store, gint64 run, GPtrArray *arrays)
{
  g_return_val_if_fail (PS_IS_OOD_VIEW (self), FALSE);

  /* A newer snapshot of the run shown (live, while it trains) keeps the
   * threshold the person chose and the scatter's zoom. */
  gboolean same_run = run != 0 && run == self->run && self->id_scores != NULL;
  gboolean keep_threshold = same_run && self->threshold_moved;
  double kept_threshold = self->threshold;

  if (!ps_ood_view_supports (arrays))
    {
      ps_ood_view_clear (self);
      return FALSE;
    }
  clear_scores (self);
  self->run = run;
  self->threshold_moved = keep_threshold;

  PsArray *sa = ps_snapshot_find (arrays, "scores");
  PsArray *na = ps_snapshot_find (arrays, "score_name");
  PsArray *oa = ps_snapshot_find (arrays, "ood");
  PsArray *split = ps_snapshot_find (arrays, "split");
  gsize n = ps_array_n_elements (sa);
  g_autofree float *scores = ps_snapshot_copy_f32 (sa, n);
  g_autofree gint32 *ood = ps_snapshot_copy_i32 (oa, n);
  g_autofree gint32 *marks = split ? ps_snapshot_copy_i32 (split, n) : NULL;
  gsize nb;
  const char *name = ps_array_data (na, &nb);

  if (scores == NULL || ood == NULL)
    {
      ps_ood_view_clear (self);
      return FALSE;
    }
  self->score_name = g_strndup (name, nb);

  /* The OOD metrics are measured on the test split; so are these, when
   * the snapshot says which rows those are and it holds both kinds. */
  gboolean use_test = FALSE;
  if (marks != NULL)
    {
      gsize t_id = 0, t_ood = 0;
      for (gsize i = 0; i < n; i++)
        if (marks[i] == PS_SPLIT_TEST)
          {
            if (ood[i])
              t_ood++;
            else
              t_id++;
          }
      use_test = t_id > 0 && t_ood > 0;
    }
  self->id_scores = g_new (float, n);
  self->ood_scores = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    {
      if ((use_test && marks[i] != PS_SPLIT_TEST) || !isfinite (scores[i]))
        continue;
      if (ood[i])
        self->ood_scores[self->n_ood++] = scores[i];
      else
        self->id_scores[self->n_id++] = scores[i];
    }
  if (self->n_id + self->n_ood == 0)
    {
      ps_ood_view_clear (self);
      return FALSE;
    }
  qsort (self->id_scores, self->n_id, sizeof (float), cmp_float);
  qsort (self->ood_scores, self->n_ood, sizeof (float), cmp_float);
  self->lo = MIN (self->n_id ? self->id_scores[0] : INFINITY,
                  self->n_ood ? self->ood_scores[0] : INFINITY);
  self->hi = MAX (self->n_id ? self->id_scores[self->n_id - 1] : -INFINITY,
                  self->n_ood ? self->ood_scores[self->n_ood - 1] : -INFINITY);
  if (self->hi <= self->lo)
    self->hi = self->lo + 1;
  compute_roc (self);

  /* Start at the operating point FPR95 reports: 95% of ID rows kept. */
  double start = self->n_id ? self->id_scores[MIN ((gsize) ceil (0.95 * self->n_id), self->n_id - 1)]
                            : (self->lo + self->hi) / 2;
  ps_ood_view_set_threshold (self, keep_threshold ? kept_threshold : start);

  ps_scatter_view_set_color_by (self->scatter, PS_COLOR_BY_SCORE);
  ps_scatter_view_set_snapshot (self->scatter, arrays, same_run, NULL);

  g_autofree char *metrics = final_metrics_text (store, run, self->score_name);
  g_autofree char *summary = g_strdup_printf ("%s on %zu ID and %zu OOD rows%s · AUROC of these rows %.4f%s%s",
                                              self->score_name, self->n_id, self->n_ood,
                                              use_test ? " (test split)" : "", self->auroc,
                                              metrics ? " · " : "", metrics ? metrics : "");
  gtk_label_set_label (self->summary_label, summary);

  g_autoptr (GString) health = prototype_health (self, arrays);
  gtk_widget_set_visible (self->health_box, health != NULL);
  gtk_label_set_label (self->health_label, health ? health->str : "");
  gtk_widget_queue_draw (self->matrix_area);
  return TRUE;
}

const char *
ps_ood_view_get_tpr_text (PsOodView *self)
{
  g_return_val_if_fail (PS_IS_OOD_VIEW (self), NULL);
  return gtk_label_get_label (self->tpr_label);
}

const char *
ps_ood_view_get_health_text (PsOodView *self)
{
  g_return_val_if_fail (PS_IS_OOD_VIEW (self), NULL);
  return gtk_label_get_label (self->health_label);
}

GtkWidget *
ps_ood_view_get_histogram (PsOodView *self)
{
  g_return_val_if_fail (PS_IS_OOD_VIEW (self), NULL);
  return self->hist_area;
}

PsFigure *
ps_ood_view_build_figure (PsOodView *self)
{
  g_return_val_if_fail (PS_IS_OOD_VIEW (self), NULL);
  return histogram_figure (self);
}

/* ---- GObject ---------------------------------------------------------------- */

static void
ps_ood_view_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), PS_TYPE_OOD_VIEW);
  G_OBJECT_CLASS (ps_ood_view_parent_class)->dispose (object);
}

static void
ps_ood_view_finalize (GObject *object)
{
  PsOodView *self = PS_OOD_VIEW (object);

  g_free (self->id_scores);
  g_free (self->ood_scores);
  g_free (self->roc_fpr);
  g_free (self->roc_tpr);
  g_free (self->score_name);
  g_free (self->cos);
  G_OBJECT_CLASS (ps_ood_view_parent_class)->finalize (object);
}

static void
ps_ood_view_class_init (PsOodViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ps_ood_view_dispose;
  object_class->finalize = ps_ood_view_finalize;
  g_type_ensure (PS_TYPE_SCATTER_VIEW);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/protoscope/Protoscope/ui/ps-ood-view.ui");
  gtk_widget_class_bind_template_child (widget_class, PsOodView, scroller);
  gtk_widget_class_bind_template_child (widget_class, PsOodView, summary_label);
  gtk_widget_class_bind_template_child (widget_class, PsOodView, scatter);
  gtk_widget_class_bind_template_child (widget_class, PsOodView, hist_area);
  gtk_widget_class_bind_template_child (widget_class, PsOodView, threshold_label);
  gtk_widget_class_bind_template_child (widget_class, PsOodView, tpr_label);
  gtk_widget_class_bind_template_child (widget_class, PsOodView, fpr_label);
  gtk_widget_class_bind_template_child (widget_class, PsOodView, confusion_label);
  gtk_widget_class_bind_template_child (widget_class, PsOodView, roc_area);
  gtk_widget_class_bind_template_child (widget_class, PsOodView, health_box);
  gtk_widget_class_bind_template_child (widget_class, PsOodView, matrix_area);
  gtk_widget_class_bind_template_child (widget_class, PsOodView, health_label);
  gtk_widget_class_set_css_name (widget_class, "oodview");
}

static void
ps_ood_view_init (PsOodView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (self->hist_area), draw_hist, self, NULL);
  gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (self->roc_area), draw_roc, self, NULL);
  gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (self->matrix_area), draw_matrix, self, NULL);
  GtkGesture *drag = gtk_gesture_drag_new ();
  g_signal_connect (drag, "drag-begin", G_CALLBACK (drag_begin_cb), self);
  g_signal_connect (drag, "drag-update", G_CALLBACK (drag_update_cb), self);
  gtk_widget_add_controller (self->hist_area, GTK_EVENT_CONTROLLER (drag));
  gtk_widget_set_visible (self->health_box, FALSE);
}

GtkWidget *
ps_ood_view_new (void)
{
  return g_object_new (PS_TYPE_OOD_VIEW, NULL);
}
