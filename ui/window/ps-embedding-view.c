/* ps-embedding-view.c: the Embedding view of one run. */
#define G_LOG_DOMAIN "ps-window"

#include "ps-embedding-view-private.h"

#include <math.h>

#include "ps-array.h"
#include "ps-base.h"
#include "ps-dataset.h"

/* The shortest interval between two live snapshots shown. */
#define PS_LIVE_SNAPSHOT_MS 1000

static void drop_pending (PsEmbeddingView *self);


G_DEFINE_FINAL_TYPE (PsEmbeddingView, ps_embedding_view, GTK_TYPE_WIDGET)

PsArray *
ps_embedding_find_array (GPtrArray *arrays, const char *kind)
{
  for (guint i = 0; arrays && i < arrays->len; i++)
    {
      PsArray *a = g_ptr_array_index (arrays, i);
      if (g_strcmp0 (a->kind, kind) == 0)
        return a;
    }
  return NULL;
}

/* ---- Explanation ------------------------------------------------------- */

/* The scatter's "selection-changed" (a template callback). */
static void
selection_changed_cb (PsEmbeddingView *self)
{
  ps_embedding_explain_update (self);
}

/* ---- Snapshots ---------------------------------------------------------- */

void
ps_embedding_view_update_info (PsEmbeddingView *self)
{
  gsize n = ps_scatter_view_get_n_points (self->scatter);
  PsArray *emb = ps_embedding_find_array (self->arrays, "embedding");
  g_autofree char *text = NULL;

  PsArray *pts = ps_embedding_find_array (self->arrays, "points");
  gtk_widget_set_visible (GTK_WIDGET (self->space_dropdown), pts != NULL && emb != NULL);
  /* Precomputed 2-D coordinates are never re-projected: the choice of
   * projection shows only for a wider embedding. */
  gtk_widget_set_visible (GTK_WIDGET (self->projection_dropdown),
                          ps_scatter_view_get_source (self->scatter, NULL) != NULL);
  PsProjection proj = ps_scatter_view_get_projection (self->scatter);
  if (n == 0)
    text = g_strdup ("");
  else if (proj != PS_PROJECTION_NONE && emb)
    text = g_strdup_printf ("%" G_GSIZE_FORMAT " points · %s of the %" G_GSIZE_FORMAT "-D embedding%s%s",
                            n, proj == PS_PROJECTION_TSNE ? "t-SNE" : "PCA", emb->shape[1],
                            self->tsne_status ? " · " : "", self->tsne_status ? self->tsne_status : "");
  else
    text = g_strdup_printf ("%" G_GSIZE_FORMAT " points · input space", n);
  gtk_label_set_label (self->info_label, text);
}

static void
update_step_label (PsEmbeddingView *self)
{
  g_autofree char *text = NULL;
  gboolean at_end = self->steps->len == 0
                    || self->shown_step == g_array_index (self->steps, gint64, self->steps->len - 1);

  if (self->shown_step < 0)
    text = g_strdup ("no snapshot");
  else
    text = g_strdup_printf ("step %" G_GINT64_FORMAT " · %u/%u%s", self->shown_step,
                            (guint) gtk_adjustment_get_value (self->timeline_adjustment) + 1,
                            MAX (self->steps->len, 1), at_end ? "" : "");
  gtk_label_set_label (self->step_label, text);
  gtk_widget_set_sensitive (self->timeline, self->steps->len > 1);
}

void
ps_embedding_view_show_arrays (PsEmbeddingView *self, GPtrArray *arrays, gint64 step, gboolean keep_view)
{
  g_autoptr (GError) error = NULL;

  g_clear_pointer (&self->arrays, g_ptr_array_unref);
  self->arrays = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  for (guint i = 0; i < arrays->len; i++)
    g_ptr_array_add (self->arrays, ps_array_ref (g_ptr_array_index (arrays, i)));
  self->shown_step = step;
  /* A running t-SNE lays out the previous data: drop it. */
  ps_embedding_tsne_stop (self);
  if (!ps_scatter_view_set_snapshot (self->scatter, self->arrays, keep_view, &error))
    ps_scatter_view_clear (self->scatter);
  if (ps_embedding_tsne_wanted (self))
    ps_embedding_tsne_start (self);
  ps_embedding_view_update_info (self);
  update_step_label (self);
  ps_embedding_explain_update (self);
}

static void
set_timeline (PsEmbeddingView *self, guint index)
{
  self->updating_timeline = TRUE;
  gtk_adjustment_configure (self->timeline_adjustment, index, 0,
                            MAX (self->steps->len, 1) - 1 + 1, 1, 1, 1);
  self->updating_timeline = FALSE;
}

static void
timeline_changed_cb (PsEmbeddingView *self)
{
  if (self->updating_timeline || self->store == NULL || self->steps->len == 0)
    return;
  guint index = (guint) round (gtk_adjustment_get_value (self->timeline_adjustment));
  index = MIN (index, self->steps->len - 1);
  gint64 step = g_array_index (self->steps, gint64, index);
  if (step == self->shown_step)
    return;
  g_autoptr (GPtrArray) arrays = ps_store_get_artifacts (self->store, self->run_id, step, NULL);
  if (arrays != NULL && arrays->len > 0)
    ps_embedding_view_show_arrays (self, arrays, step, TRUE);
}

void
ps_embedding_view_set_run (PsEmbeddingView *self, PsStore *store, gint64 run_id)
{
  g_return_if_fail (PS_IS_EMBEDDING_VIEW (self));

  self->store = store;
  self->run_id = store ? run_id : 0;
  g_clear_pointer (&self->dataset_name, g_free);
  g_clear_pointer (&self->image_data, ps_dataset_unref);
  self->image_data_tried = FALSE;
  ps_embedding_explain_drop_model (self);
  drop_pending (self);
  ps_embedding_tsne_stop (self);
  g_clear_pointer (&self->tsne_layout, g_free);
  g_clear_pointer (&self->tsne_status, g_free);
  self->tsne_n = 0;
  if (self->run_id != 0)
    {
      g_autoptr (PsRunInfo) info = ps_store_get_run (store, run_id, NULL);
      if (info)
        self->dataset_name = g_strdup (info->dataset);
    }
  g_array_set_size (self->steps, 0);
  self->shown_step = -1;
  g_clear_pointer (&self->arrays, g_ptr_array_unref);
  ps_scatter_view_clear (self->scatter);
  /* Names in the legend and the hover text where the dataset has them. */
  ps_scatter_view_set_class_names (self->scatter, ps_dataset_builtin_class_names (self->dataset_name));

  if (self->run_id != 0)
    {
      g_autoptr (GArray) steps = ps_store_snapshot_steps (store, run_id, NULL);
      if (steps != NULL)
        g_array_append_vals (self->steps, steps->data, steps->len);
    }
  set_timeline (self, self->steps->len ? self->steps->len - 1 : 0);
  if (self->steps->len > 0)
    {
      gint64 last = g_array_index (self->steps, gint64, self->steps->len - 1);
      g_autoptr (GPtrArray) arrays = ps_store_get_artifacts (store, run_id, last, NULL);
      if (arrays != NULL && arrays->len > 0)
        ps_embedding_view_show_arrays (self, arrays, last, FALSE);
    }
  ps_embedding_view_update_info (self);
  update_step_label (self);
  ps_embedding_explain_update (self);
}

gint64
ps_embedding_view_get_run (PsEmbeddingView *self)
{
  g_return_val_if_fail (PS_IS_EMBEDDING_VIEW (self), 0);
  return self->run_id;
}

/* The timeline's knob is at the end of its range as last configured (the
 * range grows only when a live snapshot is shown: moving the slider for
 * every snapshot would repaint the window for each). */
static gboolean
at_timeline_end (PsEmbeddingView *self)
{
  double v = gtk_adjustment_get_value (self->timeline_adjustment);
  double end = gtk_adjustment_get_upper (self->timeline_adjustment)
               - gtk_adjustment_get_page_size (self->timeline_adjustment);
  return round (v) >= round (end);
}

static void
drop_pending (PsEmbeddingView *self)
{
  g_clear_handle_id (&self->pending_id, g_source_remove);
  g_clear_pointer (&self->pending_arrays, g_ptr_array_unref);
}

gboolean
ps_embedding_view_show_pending (PsEmbeddingView *self)
{
  g_return_val_if_fail (PS_IS_EMBEDDING_VIEW (self), FALSE);

  g_autoptr (GPtrArray) arrays = g_steal_pointer (&self->pending_arrays);
  g_clear_handle_id (&self->pending_id, g_source_remove);
  if (arrays == NULL)
    return FALSE;
  self->last_live_show = g_get_monotonic_time ();
  /* Only while still following the live end. */
  if (self->steps->len > 0
      && g_array_index (self->steps, gint64, self->steps->len - 1) == self->pending_step
      && at_timeline_end (self))
    {
      set_timeline (self, self->steps->len - 1);
      ps_embedding_view_show_arrays (self, arrays, self->pending_step, self->shown_step >= 0);
      return TRUE;
    }
  return FALSE;
}

static gboolean
show_pending_cb (gpointer data)
{
  PsEmbeddingView *self = data;

  self->pending_id = 0;
  ps_embedding_view_show_pending (self);
  return G_SOURCE_REMOVE;
}

void
ps_embedding_view_set_external_pacing (PsEmbeddingView *self, gboolean external)
{
  g_return_if_fail (PS_IS_EMBEDDING_VIEW (self));
  self->external_pacing = !!external;
}

void
ps_embedding_view_add_snapshot (PsEmbeddingView *self, gint64 run_id, gint64 step, GPtrArray *arrays)
{
  g_return_if_fail (PS_IS_EMBEDDING_VIEW (self));
  g_return_if_fail (arrays != NULL);

  g_debug ("snapshot of run %" G_GINT64_FORMAT " at step %" G_GINT64_FORMAT " (showing run %" G_GINT64_FORMAT ", %u steps)",
           run_id, step, self->run_id, self->steps->len);
  if (run_id != self->run_id)
    return;
  /* Follow the live end only when the person is not looking back. */
  gboolean following = self->steps->len == 0 || at_timeline_end (self);
  if (self->steps->len == 0 || g_array_index (self->steps, gint64, self->steps->len - 1) < step)
    g_array_append_val (self->steps, step);
  if (following)
    {
      /* Redrawing tens of thousands of points for every snapshot of a fast
       * run would take the main loop from the person: show the newest at
       * most every PS_LIVE_SNAPSHOT_MS. */
      gint64 now = g_get_monotonic_time ();
      if (self->shown_step < 0
          || (!self->external_pacing && now - self->last_live_show >= PS_LIVE_SNAPSHOT_MS * 1000))
        {
          drop_pending (self);
          self->last_live_show = now;
          set_timeline (self, self->steps->len - 1);
          ps_embedding_view_show_arrays (self, arrays, step, self->shown_step >= 0);
        }
      else
        {
          g_clear_pointer (&self->pending_arrays, g_ptr_array_unref);
          self->pending_arrays = g_ptr_array_ref (arrays);
          self->pending_step = step;
          if (self->pending_id == 0 && !self->external_pacing)
            self->pending_id = g_timeout_add (PS_LIVE_SNAPSHOT_MS - (now - self->last_live_show) / 1000,
                                              show_pending_cb, self);
        }
    }
  else
    {
      double v = gtk_adjustment_get_value (self->timeline_adjustment);
      set_timeline (self, (guint) v);
      update_step_label (self);
    }
}

PsScatterView *
ps_embedding_view_get_scatter (PsEmbeddingView *self)
{
  g_return_val_if_fail (PS_IS_EMBEDDING_VIEW (self), NULL);
  return self->scatter;
}

gint64
ps_embedding_view_get_step (PsEmbeddingView *self)
{
  g_return_val_if_fail (PS_IS_EMBEDDING_VIEW (self), -1);
  return self->shown_step;
}

PsFigure *
ps_embedding_view_build_figure (PsEmbeddingView *self)
{
  g_return_val_if_fail (PS_IS_EMBEDDING_VIEW (self), NULL);

  g_autofree char *title = self->shown_step >= 0
      ? g_strdup_printf ("Run %" G_GINT64_FORMAT ", step %" G_GINT64_FORMAT, self->run_id, self->shown_step)
      : NULL;
  return ps_scatter_view_build_figure (self->scatter, title);
}

gboolean
ps_embedding_view_export_csv (PsEmbeddingView *self, const char *path, GError **error)
{
  g_return_val_if_fail (PS_IS_EMBEDDING_VIEW (self), FALSE);

  gsize n = ps_scatter_view_get_n_points (self->scatter);
  gsize n_sel = 0;
  const guint32 *sel = ps_scatter_view_get_selection (self->scatter, &n_sel);
  const float *x = ps_scatter_view_get_x (self->scatter);
  const float *y = ps_scatter_view_get_y (self->scatter);
  PsArray *labels = ps_embedding_find_array (self->arrays, "labels");
  PsArray *scores = ps_embedding_find_array (self->arrays, "scores");
  if (scores == NULL)
    scores = ps_embedding_find_array (self->arrays, "confidence");
  const gint32 *lab = labels && labels->dtype == PS_DTYPE_I32 && ps_array_n_elements (labels) == n
                          ? ps_array_data (labels, NULL) : NULL;
  const float *sc = scores && scores->dtype == PS_DTYPE_F32 && ps_array_n_elements (scores) == n
                        ? ps_array_data (scores, NULL) : NULL;

  if (n == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND, "There are no points to export");
      return FALSE;
    }
  if (n_sel == 0)
    return ps_points_write_csv (path, x, y, lab, sc, n, error);

  g_autofree float *sx = g_new (float, n_sel);
  g_autofree float *sy = g_new (float, n_sel);
  g_autofree gint32 *sl = lab ? g_new (gint32, n_sel) : NULL;
  g_autofree float *ss = sc ? g_new (float, n_sel) : NULL;
  for (gsize i = 0; i < n_sel; i++)
    {
      sx[i] = x[sel[i]];
      sy[i] = y[sel[i]];
      if (sl)
        sl[i] = lab[sel[i]];
      if (ss)
        ss[i] = sc[sel[i]];
    }
  return ps_points_write_csv (path, sx, sy, sl, ss, n_sel, error);
}

const char *
ps_embedding_view_get_explanation_title (PsEmbeddingView *self)
{
  g_return_val_if_fail (PS_IS_EMBEDDING_VIEW (self), NULL);
  return self->explain_text;
}

guint
ps_embedding_view_get_n_neighbours (PsEmbeddingView *self)
{
  g_return_val_if_fail (PS_IS_EMBEDDING_VIEW (self), 0);
  return self->n_neighbours;
}

gboolean
ps_embedding_view_has_model (PsEmbeddingView *self)
{
  g_return_val_if_fail (PS_IS_EMBEDDING_VIEW (self), FALSE);
  return self->model != NULL;
}

static void
space_changed_cb (PsEmbeddingView *self)
{
  ps_scatter_view_set_prefer_embedding (self->scatter, gtk_drop_down_get_selected (self->space_dropdown) == 1);
  if (self->arrays != NULL)
    {
      g_autoptr (GPtrArray) arrays = g_ptr_array_ref (self->arrays);
      ps_embedding_view_show_arrays (self, arrays, self->shown_step, FALSE);
    }
}

static void
color_changed_cb (PsEmbeddingView *self)
{
  ps_scatter_view_set_color_by (self->scatter, (PsColorBy) gtk_drop_down_get_selected (self->color_dropdown));
}

/* ---- GObject ----------------------------------------------------------- */

static void
ps_embedding_view_dispose (GObject *object)
{
  PsEmbeddingView *self = PS_EMBEDDING_VIEW (object);

  ps_embedding_explain_drop_model (self);
  drop_pending (self);
  ps_embedding_tsne_stop (self);
  gtk_widget_dispose_template (GTK_WIDGET (self), PS_TYPE_EMBEDDING_VIEW);
  G_OBJECT_CLASS (ps_embedding_view_parent_class)->dispose (object);
}

static void
ps_embedding_view_finalize (GObject *object)
{
  PsEmbeddingView *self = PS_EMBEDDING_VIEW (object);

  g_array_unref (self->steps);
  g_clear_pointer (&self->arrays, g_ptr_array_unref);
  g_free (self->explain_text);
  g_free (self->dataset_name);
  g_free (self->tsne_layout);
  g_free (self->tsne_status);
  g_clear_pointer (&self->image_data, ps_dataset_unref);
  ps_embedding_explain_drop_model (self);
  G_OBJECT_CLASS (ps_embedding_view_parent_class)->finalize (object);
}

static void
ps_embedding_view_class_init (PsEmbeddingViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ps_embedding_view_dispose;
  object_class->finalize = ps_embedding_view_finalize;

  g_type_ensure (PS_TYPE_SCATTER_VIEW);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/protoscope/Protoscope/ui/ps-embedding-view.ui");
  gtk_widget_class_bind_template_child (widget_class, PsEmbeddingView, box);
  gtk_widget_class_bind_template_child (widget_class, PsEmbeddingView, color_dropdown);
  gtk_widget_class_bind_template_child (widget_class, PsEmbeddingView, space_dropdown);
  gtk_widget_class_bind_template_callback (widget_class, space_changed_cb);
  gtk_widget_class_bind_template_child (widget_class, PsEmbeddingView, projection_dropdown);
  gtk_widget_class_bind_template_child (widget_class, PsEmbeddingView, tsne_box);
  gtk_widget_class_bind_template_child (widget_class, PsEmbeddingView, tsne_progress);
  gtk_widget_class_bind_template_child (widget_class, PsEmbeddingView, tsne_cancel);
  gtk_widget_class_bind_template_callback_full (widget_class, "projection_changed_cb",
                                                G_CALLBACK (ps_embedding_tsne_projection_changed_cb));
  gtk_widget_class_bind_template_callback_full (widget_class, "tsne_cancel_cb",
                                                G_CALLBACK (ps_embedding_tsne_cancel_cb));
  gtk_widget_class_bind_template_child (widget_class, PsEmbeddingView, info_label);
  gtk_widget_class_bind_template_child (widget_class, PsEmbeddingView, scatter);
  gtk_widget_class_bind_template_child (widget_class, PsEmbeddingView, timeline_adjustment);
  gtk_widget_class_bind_template_child (widget_class, PsEmbeddingView, timeline);
  gtk_widget_class_bind_template_child (widget_class, PsEmbeddingView, step_label);
  gtk_widget_class_bind_template_child (widget_class, PsEmbeddingView, explain_title);
  gtk_widget_class_bind_template_child (widget_class, PsEmbeddingView, explain_grid);
  gtk_widget_class_bind_template_child (widget_class, PsEmbeddingView, explain_picture);
  gtk_widget_class_bind_template_child (widget_class, PsEmbeddingView, neighbours_title);
  gtk_widget_class_bind_template_child (widget_class, PsEmbeddingView, neighbours_box);
  gtk_widget_class_bind_template_callback (widget_class, color_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, selection_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, timeline_changed_cb);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "embeddingview");
}

static void
ps_embedding_view_init (PsEmbeddingView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->steps = g_array_new (FALSE, FALSE, sizeof (gint64));
  self->shown_step = -1;
  update_step_label (self);
  g_signal_connect_swapped (self->scatter, "view-changed", G_CALLBACK (ps_embedding_tsne_view_moved_cb), self);
}

GtkWidget *
ps_embedding_view_new (void)
{
  return g_object_new (PS_TYPE_EMBEDDING_VIEW, NULL);
}
