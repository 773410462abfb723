/* ps-diffusion-export.c: the diffusion view's figure and frames export. */
#define G_LOG_DOMAIN "ps-window"

#include "ps-diffusion-view-private.h"

#include <glib/gstdio.h>

#include "ps-base.h"

/* ---- Export ------------------------------------------------------------------ */

PsFigure *
ps_diffusion_view_build_figure (PsDiffusionView *self)
{
  g_return_val_if_fail (PS_IS_DIFFUSION_VIEW (self), NULL);
  if (self->n_samplers == 0)
    return NULL;
  return ps_diffusion_view_frame_figure (self, &self->samplers[self->shown], self->frame);
}

static gboolean
write_frame (PsDiffusionView *self, const char *dir, guint f, int width, int height, GError **error)
{
  g_autofree char *name = g_strdup_printf ("frame-%04u.png", f);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (PsFigure) fig = ps_diffusion_view_frame_figure (self, &self->samplers[self->shown], f);
  return fig != NULL && ps_figure_export (fig, path, width, height, 1.0, error);
}

gboolean
ps_diffusion_view_export_frames (PsDiffusionView *self, const char *dir, int width, int height,
                                 guint *n_written, GError **error)
{
  g_return_val_if_fail (PS_IS_DIFFUSION_VIEW (self), FALSE);
  g_return_val_if_fail (dir != NULL, FALSE);

  guint n = ps_diffusion_view_get_n_frames (self);
  if (n_written)
    *n_written = 0;
  if (n == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND, "There are no frames to export");
      return FALSE;
    }
  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_IO, "Could not create the folder %s", dir);
      return FALSE;
    }
  for (guint f = 0; f < n; f++)
    {
      if (!write_frame (self, dir, f, width, height, error))
        return FALSE;
      if (n_written)
        *n_written = f + 1;
    }
  return TRUE;
}

/* The button writes one frame per idle so the window stays responsive. */
static gboolean
export_idle_cb (gpointer data)
{
  PsDiffusionView *self = data;
  g_autoptr (GError) error = NULL;
  guint n = ps_diffusion_view_get_n_frames (self);
  int w = MAX (gtk_widget_get_width (self->area_a), 640);
  int h = MAX (gtk_widget_get_height (self->area_a), 480);

  if (self->export_next < n && write_frame (self, self->export_dir, self->export_next, w, h, &error))
    {
      self->export_next++;
      g_autofree char *text = g_strdup_printf ("exporting frame %u / %u", self->export_next, n);
      gtk_label_set_label (self->info_label, text);
      if (self->export_next < n)
        return G_SOURCE_CONTINUE;
    }
  g_autofree char *done = error ? g_strdup_printf ("export stopped: %s", error->message)
                                : g_strdup_printf ("%u frames written to %s", self->export_next,
                                                   self->export_dir);
  gtk_label_set_label (self->info_label, done);
  gtk_widget_set_sensitive (self->export_frames_button, TRUE);
  self->export_idle = 0;
  return G_SOURCE_REMOVE;
}

static void
export_folder_response_cb (GtkNativeDialog *native, int response, PsDiffusionView *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (native));
      g_autofree char *path = file ? g_file_get_path (file) : NULL;
      if (path != NULL && self->export_idle == 0 && ps_diffusion_view_get_n_frames (self) > 0)
        {
          g_free (self->export_dir);
          self->export_dir = g_steal_pointer (&path);
          self->export_next = 0;
          gtk_widget_set_sensitive (self->export_frames_button, FALSE);
          self->export_idle = g_idle_add (export_idle_cb, self);
        }
    }
  g_object_unref (native);
}

void
ps_diffusion_export_clicked_cb (PsDiffusionView *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  GtkFileChooserNative *native = gtk_file_chooser_native_new (
      "Export frames into a folder", GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
      GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, "_Export", "_Cancel");
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (native), TRUE);
  g_signal_connect (native, "response", G_CALLBACK (export_folder_response_cb), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (native));
}
