/* ps-embedding-tsne.c: the Embedding view's t-SNE projection of a wide
 * embedding, computed on a worker thread (ps-tsne-job) with its layout
 * shown every 50 iterations. */
#define G_LOG_DOMAIN "ps-window"

#include "ps-embedding-view-private.h"

/* ---- t-SNE --------------------------------------------------------------- */

gboolean
ps_embedding_tsne_wanted (PsEmbeddingView *self)
{
  return gtk_drop_down_get_selected (self->projection_dropdown) == 1;
}

void
ps_embedding_tsne_stop (PsEmbeddingView *self)
{
  g_clear_pointer (&self->tsne_job, ps_tsne_job_cancel);
  gtk_widget_set_visible (self->tsne_box, FALSE);
}

static void
tsne_update_cb (gpointer user_data, const float *xy, guint n, guint iteration, guint n_iter,
                gboolean done, const GError *error)
{
  PsEmbeddingView *self = PS_EMBEDDING_VIEW (user_data);

  g_clear_pointer (&self->tsne_status, g_free);
  if (error != NULL)
    self->tsne_status = g_strdup_printf ("t-SNE failed: %s", error->message);
  else
    {
      g_free (self->tsne_layout);
      self->tsne_layout = g_memdup2 (xy, (gsize) n * 2 * sizeof (float));
      self->tsne_n = n;
      self->tsne_iteration = iteration;
      self->tsne_n_iter = n_iter;
      /* The layout grows a lot during the schedule: keep it in view until
       * the person pans or zooms (then tsne_fit is cleared). */
      ps_scatter_view_set_layout (self->scatter, xy, n, PS_PROJECTION_TSNE, self->tsne_fit);
      g_autofree char *text = g_strdup_printf ("%u / %u", iteration, n_iter);
      gtk_progress_bar_set_fraction (self->tsne_progress, n_iter ? (double) iteration / n_iter : 0);
      gtk_progress_bar_set_text (self->tsne_progress, text);
    }
  if (done)
    ps_embedding_tsne_stop (self);
  ps_embedding_view_update_info (self);
}

/* Lays out the shown embedding by t-SNE in the background, showing the
 * last layout of the same points meanwhile. */
void
ps_embedding_tsne_start (PsEmbeddingView *self)
{
  gsize d = 0, n = ps_scatter_view_get_n_points (self->scatter);
  const float *source = ps_scatter_view_get_source (self->scatter, &d);

  ps_embedding_tsne_stop (self);
  g_clear_pointer (&self->tsne_status, g_free);
  if (source == NULL || n < 4)
    return;
  if (self->tsne_layout && self->tsne_n == n)
    ps_scatter_view_set_layout (self->scatter, self->tsne_layout, n, PS_PROJECTION_TSNE, FALSE);
  self->tsne_fit = TRUE;
  self->tsne_iteration = 0;
  self->tsne_job = ps_tsne_job_start (source, (guint) n, (guint) d, self->tsne_iterations, 0, 50,
                                      tsne_update_cb, self);
  gtk_progress_bar_set_fraction (self->tsne_progress, 0);
  gtk_progress_bar_set_text (self->tsne_progress, "starting");
  gtk_widget_set_visible (self->tsne_box, TRUE);
}

void
ps_embedding_tsne_cancel_cb (PsEmbeddingView *self)
{
  if (self->tsne_job == NULL)
    return;
  ps_embedding_tsne_stop (self);
  g_clear_pointer (&self->tsne_status, g_free);
  self->tsne_status = g_strdup_printf ("t-SNE stopped at iteration %u", self->tsne_iteration);
  ps_embedding_view_update_info (self);
}

void
ps_embedding_tsne_projection_changed_cb (PsEmbeddingView *self)
{
  if (ps_embedding_tsne_wanted (self))
    ps_embedding_tsne_start (self);
  else
    {
      ps_embedding_tsne_stop (self);
      g_clear_pointer (&self->tsne_status, g_free);
      if (self->arrays != NULL)
        {
          g_autoptr (GPtrArray) arrays = g_ptr_array_ref (self->arrays);
          ps_embedding_view_show_arrays (self, arrays, self->shown_step, TRUE);
        }
    }
  ps_embedding_view_update_info (self);
}

void
ps_embedding_tsne_view_moved_cb (PsEmbeddingView *self)
{
  self->tsne_fit = FALSE;
}

void
ps_embedding_view_set_projection (PsEmbeddingView *self, PsProjection projection)
{
  g_return_if_fail (PS_IS_EMBEDDING_VIEW (self));

  /* t-SNE lays out the model's embedding: when 2-D data are shown and the
   * snapshot also has a wider embedding, switch to it first. */
  PsArray *emb = self->arrays ? ps_embedding_find_array (self->arrays, "embedding") : NULL;
  if (projection == PS_PROJECTION_TSNE && ps_scatter_view_get_source (self->scatter, NULL) == NULL
      && emb != NULL && emb->ndim == 2 && emb->shape[1] > 2)
    gtk_drop_down_set_selected (self->space_dropdown, 1);
  gtk_drop_down_set_selected (self->projection_dropdown, projection == PS_PROJECTION_TSNE ? 1 : 0);
}

void
ps_embedding_view_cancel_tsne (PsEmbeddingView *self)
{
  g_return_if_fail (PS_IS_EMBEDDING_VIEW (self));
  ps_embedding_tsne_cancel_cb (self);
}

gboolean
ps_embedding_view_is_tsne_running (PsEmbeddingView *self)
{
  g_return_val_if_fail (PS_IS_EMBEDDING_VIEW (self), FALSE);
  return self->tsne_job != NULL;
}

guint
ps_embedding_view_get_tsne_iteration (PsEmbeddingView *self)
{
  g_return_val_if_fail (PS_IS_EMBEDDING_VIEW (self), 0);
  return self->tsne_iteration;
}

void
ps_embedding_view_set_tsne_iterations (PsEmbeddingView *self, guint n_iter)
{
  g_return_if_fail (PS_IS_EMBEDDING_VIEW (self));
  self->tsne_iterations = n_iter;
}
