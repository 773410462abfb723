/* ps-window-actions.c: the window's actions (runs, files, export, views)
 * and the one function that decides which of them are enabled. */
#define G_LOG_DOMAIN "ps-window"

#include "ps-window.h"

#include <math.h>
#include <string.h>

#include "ps-jobs.h"
#include "ps-store.h"
#include "ps-window-private.h"

/* How long a deletion can be undone. */
#define PS_UNDO_SECONDS 6

/* ---- Deleting with undo ---------------------------------------------- */

static void
hide_toast (PsWindow *self)
{
  gtk_revealer_set_reveal_child (self->toast_revealer, FALSE);
}

void
ps_window_commit_pending_delete (PsWindow *self)
{
  g_clear_handle_id (&self->delete_timeout, g_source_remove);
  for (guint i = 0; i < self->pending_delete->len; i++)
    {
      PsRunItem *item = g_ptr_array_index (self->pending_delete, i);
      g_autoptr (GError) error = NULL;
      if (self->store && !ps_store_delete_run (self->store, ps_run_item_get_id (item), &error))
        {
          g_autofree char *title = g_strdup_printf ("Could not delete “%s”", ps_run_item_get_name (item));
          ps_window_show_error (self, title, error->message);
        }
    }
  g_ptr_array_set_size (self->pending_delete, 0);
  if (self->toast_revealer)
    hide_toast (self);
}

static gboolean
delete_timeout_cb (gpointer user_data)
{
  PsWindow *self = user_data;

  self->delete_timeout = 0;
  ps_window_commit_pending_delete (self);
  ps_window_update_actions (self);
  return G_SOURCE_REMOVE;
}

static void
toast_dismiss_cb (PsWindow *self)
{
  ps_window_commit_pending_delete (self);
  ps_window_update_actions (self);
}

static void
delete_runs_action (GtkWidget *widget, const char *name, GVariant *param)
{
  PsWindow *self = PS_WINDOW (widget);
  g_autoptr (GPtrArray) selected = ps_run_list_get_selected (self->run_list);
  GListStore *model = ps_run_list_get_model (self->run_list);

  /* A second deletion commits the first: one undo step is kept. */
  ps_window_commit_pending_delete (self);
  for (guint i = 0; i < selected->len; i++)
    {
      PsRunItem *item = g_ptr_array_index (selected, i);
      guint pos;
      if (ps_window_job_for_run (self, ps_run_item_get_id (item)) != NULL)
        continue;   /* a training run is cancelled first, not deleted */
      if (ps_run_list_find (self->run_list, ps_run_item_get_id (item), &pos))
        {
          g_ptr_array_add (self->pending_delete, g_object_ref (item));
          g_list_store_remove (model, pos);
        }
    }
  if (self->pending_delete->len == 0)
    return;

  g_autofree char *text = self->pending_delete->len == 1
      ? g_strdup_printf ("Deleted “%s”", ps_run_item_get_name (g_ptr_array_index (self->pending_delete, 0)))
      : g_strdup_printf ("Deleted %u runs", self->pending_delete->len);
  gtk_label_set_label (self->toast_label, text);
  gtk_revealer_set_reveal_child (self->toast_revealer, TRUE);
  self->delete_timeout = g_timeout_add_seconds (PS_UNDO_SECONDS, delete_timeout_cb, self);
  ps_window_update_actions (self);
}

static void
undo_action (GtkWidget *widget, const char *name, GVariant *param)
{
  PsWindow *self = PS_WINDOW (widget);

  g_clear_handle_id (&self->delete_timeout, g_source_remove);
  g_ptr_array_set_size (self->pending_delete, 0);
  hide_toast (self);
  ps_window_refresh_runs (self);
  ps_window_update_actions (self);
}

/* ---- Run actions ------------------------------------------------------ */

static void
for_selected_jobs (PsWindow *self, void (*fn) (PsJob *job))
{
  g_autoptr (GPtrArray) selected = ps_run_list_get_selected (self->run_list);

  for (guint i = 0; i < selected->len; i++)
    {
      PsJob *job = ps_window_job_for_run (self, ps_run_item_get_id (g_ptr_array_index (selected, i)));
      if (job)
        fn (job);
    }
}

static void
pause_run_action (GtkWidget *widget, const char *name, GVariant *param)
{
  for_selected_jobs (PS_WINDOW (widget), ps_job_pause);
}

static void
resume_run_action (GtkWidget *widget, const char *name, GVariant *param)
{
  for_selected_jobs (PS_WINDOW (widget), ps_job_resume);
}

static void
cancel_run_action (GtkWidget *widget, const char *name, GVariant *param)
{
  PsWindow *self = PS_WINDOW (widget);
  g_autoptr (GPtrArray) selected = ps_run_list_get_selected (self->run_list);

  for (guint i = 0; i < selected->len; i++)
    {
      PsRunItem *item = g_ptr_array_index (selected, i);
      PsJob *job = ps_window_job_for_run (self, ps_run_item_get_id (item));
      if (job)
        ps_job_cancel (job);
      else if (ps_window_status_is_live (ps_run_item_get_status (item)) && self->store)
        /* A run of another process: it polls this flag. */
        ps_store_request_cancel (self->store, ps_run_item_get_id (item), NULL);
    }
}

static void
pause_resume_action (GtkWidget *widget, const char *name, GVariant *param)
{
  PsWindow *self = PS_WINDOW (widget);
  PsJob *job = ps_window_job_for_run (self, self->current_run);

  if (job == NULL)
    return;
  if (ps_job_get_status (job) == PS_RUN_PAUSED)
    ps_job_resume (job);
  else
    ps_job_pause (job);
}

static void
show_entry_popover (PsWindow *self, EntryMode mode)
{
  g_autoptr (GPtrArray) selected = ps_run_list_get_selected (self->run_list);
  graphene_point_t p;

  if (selected->len == 0)
    return;
  self->entry_mode = mode;
  if (mode == ENTRY_RENAME)
    {
      gtk_label_set_label (self->entry_popover_label, "Rename Run");
      gtk_editable_set_text (GTK_EDITABLE (self->entry_popover_entry),
                             ps_run_item_get_name (g_ptr_array_index (selected, 0)));
    }
  else
    {
      gtk_label_set_label (self->entry_popover_label,
                           selected->len == 1 ? "Add a Tag (“-tag” removes it)"
                                              : "Tag the Selected Runs (“-tag” removes it)");
      gtk_editable_set_text (GTK_EDITABLE (self->entry_popover_entry), "");
    }
  if (!gtk_widget_compute_point (GTK_WIDGET (self->run_list), GTK_WIDGET (self),
                                 &GRAPHENE_POINT_INIT (120, 40), &p))
    p = GRAPHENE_POINT_INIT (120, 80);
  gtk_popover_set_pointing_to (self->entry_popover,
                               &(GdkRectangle) { (int) p.x, (int) p.y, 1, 1 });
  gtk_popover_popup (self->entry_popover);
  gtk_widget_grab_focus (GTK_WIDGET (self->entry_popover_entry));
}

static void
entry_popover_apply_cb (PsWindow *self)
{
  g_autoptr (GPtrArray) selected = ps_run_list_get_selected (self->run_list);
  const char *text = gtk_editable_get_text (GTK_EDITABLE (self->entry_popover_entry));
  g_autofree char *value = g_strstrip (g_strdup (text));
  g_autoptr (GError) error = NULL;

  gtk_popover_popdown (self->entry_popover);
  if (*value == '\0' || self->store == NULL)
    return;
  for (guint i = 0; i < selected->len && error == NULL; i++)
    {
      gint64 id = ps_run_item_get_id (g_ptr_array_index (selected, i));
      if (self->entry_mode == ENTRY_RENAME)
        {
          ps_store_rename_run (self->store, id, value, &error);
          break;
        }
      gboolean remove = value[0] == '-';
      ps_store_tag_run (self->store, id, remove ? value + 1 : value, remove, &error);
    }
  if (error)
    ps_window_show_error (self, self->entry_mode == ENTRY_RENAME ? "Could not rename the run"
                                                                 : "Could not tag the runs",
                          error->message);
  ps_window_refresh_runs (self);
}

static void
rename_run_action (GtkWidget *widget, const char *name, GVariant *param)
{
  show_entry_popover (PS_WINDOW (widget), ENTRY_RENAME);
}

static void
tag_run_action (GtkWidget *widget, const char *name, GVariant *param)
{
  show_entry_popover (PS_WINDOW (widget), ENTRY_TAG);
}

/* ---- Window actions --------------------------------------------------- */

static void
new_run_action (GtkWidget *widget, const char *name, GVariant *param)
{
  ps_window_show_new_run_dialog (PS_WINDOW (widget));
}

static void
demo_action (GtkWidget *widget, const char *name, GVariant *param)
{
  ps_window_start_demo (PS_WINDOW (widget));
}

static void
refresh_action (GtkWidget *widget, const char *name, GVariant *param)
{
  PsWindow *self = PS_WINDOW (widget);

  ps_window_refresh_runs (self);
  if (self->current_run)
    ps_overview_view_reload (self->overview);
}

static void
open_store_response_cb (GtkNativeDialog *native, int response, PsWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (native));
      ps_window_open_file (self, file);
    }
  g_object_unref (native);
}

static void
add_filter (GtkFileChooser *chooser, const char *title, const char *const *patterns)
{
  g_autoptr (GtkFileFilter) filter = gtk_file_filter_new ();

  gtk_file_filter_set_name (filter, title);
  for (const char *const *p = patterns; *p; p++)
    gtk_file_filter_add_pattern (filter, *p);
  gtk_file_chooser_add_filter (chooser, filter);
}

static void
open_store_action (GtkWidget *widget, const char *name, GVariant *param)
{
  PsWindow *self = PS_WINDOW (widget);
  GtkFileChooserNative *native =
      gtk_file_chooser_native_new ("Open a Run Store or Dataset", GTK_WINDOW (self),
                                   GTK_FILE_CHOOSER_ACTION_OPEN, "_Open", "_Cancel");

  add_filter (GTK_FILE_CHOOSER (native), "Run stores (*.sqlite, *.db)",
              (const char *[]) { "*.sqlite", "*.sqlite3", "*.db", NULL });
  add_filter (GTK_FILE_CHOOSER (native), "Datasets (*.npy, *.csv)",
              (const char *[]) { "*.npy", "*.csv", "*.csv.gz", NULL });
  add_filter (GTK_FILE_CHOOSER (native), "All files", (const char *[]) { "*", NULL });
  g_signal_connect (native, "response", G_CALLBACK (open_store_response_cb), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (native));
}

static gboolean
showing_embedding (PsWindow *self)
{
  return g_strcmp0 (gtk_stack_get_visible_child_name (self->view_stack), "embedding") == 0;
}

static gboolean export_figure_at (PsWindow *self, const char *path, double scale, GError **error);

gboolean
ps_window_export_figure (PsWindow *self, const char *path, GError **error)
{
  return export_figure_at (self, path, 2.0, error);
}

/* `scale` multiplies the pixels of a PNG (vector formats ignore it). */
static gboolean
export_figure_at (PsWindow *self, const char *path, double scale, GError **error)
{
  g_return_val_if_fail (PS_IS_WINDOW (self), FALSE);

  const char *page = gtk_stack_get_visible_child_name (self->view_stack);
  /* Views that draw more than one figure (sheets, panels) export themselves. */
  if (g_strcmp0 (page, "prototypes") == 0)
    return ps_gallery_view_export (self->gallery, path, scale, error);
  if (g_strcmp0 (page, "clusters") == 0)
    return ps_cluster_view_export (self->cluster, path, scale, error);
  if (g_strcmp0 (page, "robustness") == 0)
    return ps_robust_view_export (self->robust, path, scale, error);
  gboolean comparing = g_strcmp0 (page, "compare") == 0;
  gboolean ood = g_strcmp0 (page, "ood") == 0;
  gboolean diffusion = g_strcmp0 (page, "diffusion") == 0;
  GtkWidget *view = showing_embedding (self) ? GTK_WIDGET (self->embedding)
                    : comparing             ? GTK_WIDGET (self->compare)
                    : ood                   ? ps_ood_view_get_histogram (self->ood)
                    : diffusion             ? ps_diffusion_view_get_area (self->diffusion)
                                            : GTK_WIDGET (self->overview);
  g_autoptr (PsFigure) fig = showing_embedding (self) ? ps_embedding_view_build_figure (self->embedding)
                             : comparing ? ps_compare_view_build_figure (self->compare)
                             : ood       ? ps_ood_view_build_figure (self->ood)
                             : diffusion ? ps_diffusion_view_build_figure (self->diffusion)
                                         : ps_overview_view_build_figure (self->overview);
  if (fig == NULL)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND, "There is no figure to export");
      return FALSE;
    }
  double w = MAX (gtk_widget_get_width (view), 640);
  double h = MAX (gtk_widget_get_height (view), 480);
  if (showing_embedding (self))
    {
      GtkWidget *scatter = GTK_WIDGET (ps_embedding_view_get_scatter (self->embedding));
      w = MAX (gtk_widget_get_width (scatter), 640);
      h = MAX (gtk_widget_get_height (scatter), 480);
    }
  return ps_figure_export (fig, path, w, h, scale, error);
}

static void
export_response_cb (GtkNativeDialog *native, int response, PsWindow *self)
{
  gboolean csv = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (native), "ps-csv"));

  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (native));
      g_autofree char *path = g_file_get_path (file);
      g_autoptr (GError) error = NULL;
      const char *choice = csv ? NULL : gtk_file_chooser_get_choice (GTK_FILE_CHOOSER (native), "scale");
      double scale = choice ? g_ascii_strtod (choice, NULL) : 2.0;
      gboolean ok = csv ? ps_embedding_view_export_csv (self->embedding, path, &error)
                        : export_figure_at (self, path, scale > 0 ? scale : 2.0, &error);
      if (!ok)
        {
          g_autofree char *title = g_strdup_printf ("Could not export to %s", path);
          ps_window_show_error (self, title, error->message);
        }
    }
  g_object_unref (native);
}

static void
show_export_dialog (PsWindow *self, gboolean csv)
{
  GtkFileChooserNative *native =
      gtk_file_chooser_native_new (csv ? "Export Points as CSV" : "Export Figure", GTK_WINDOW (self),
                                   GTK_FILE_CHOOSER_ACTION_SAVE, "_Export", "_Cancel");
  PsRunItem *item = ps_run_list_find (self->run_list, self->current_run, NULL);
  const char *base = item ? ps_run_item_get_name (item) : "figure";
  g_autofree char *suggested = g_strdup_printf ("%s-%s.%s", base,
                                                showing_embedding (self) ? "embedding"
                                                : g_strcmp0 (gtk_stack_get_visible_child_name (self->view_stack), "ood") == 0 ? "ood"
                                                : g_strcmp0 (gtk_stack_get_visible_child_name (self->view_stack), "diffusion") == 0 ? "frame"
                                                : g_strcmp0 (gtk_stack_get_visible_child_name (self->view_stack), "prototypes") == 0 ? "explanation"
                                                : g_strcmp0 (gtk_stack_get_visible_child_name (self->view_stack), "clusters") == 0 ? "clusters"
                                                : g_strcmp0 (gtk_stack_get_visible_child_name (self->view_stack), "robustness") == 0 ? "robustness"
                                                : "curves",
                                                csv ? "csv" : "png");

  if (csv)
    add_filter (GTK_FILE_CHOOSER (native), "CSV (*.csv)", (const char *[]) { "*.csv", NULL });
  else
    {
      add_filter (GTK_FILE_CHOOSER (native), "Figures (*.png, *.svg, *.pdf)",
                  (const char *[]) { "*.png", "*.svg", "*.pdf", NULL });
      /* The PNG's pixel scale; the format follows the file's extension. */
      gtk_file_chooser_add_choice (GTK_FILE_CHOOSER (native), "scale", "PNG scale",
                                   (const char *[]) { "1", "2", "3", "4", NULL },
                                   (const char *[]) { "1×", "2×", "3×", "4×", NULL });
      gtk_file_chooser_set_choice (GTK_FILE_CHOOSER (native), "scale", "2");
    }
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (native), suggested);
  g_object_set_data (G_OBJECT (native), "ps-csv", GINT_TO_POINTER (csv));
  g_signal_connect (native, "response", G_CALLBACK (export_response_cb), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (native));
}

static void
export_action (GtkWidget *widget, const char *name, GVariant *param)
{
  show_export_dialog (PS_WINDOW (widget), FALSE);
}

static void
export_csv_action (GtkWidget *widget, const char *name, GVariant *param)
{
  show_export_dialog (PS_WINDOW (widget), TRUE);
}

static void
fullscreen_action (GtkWidget *widget, const char *name, GVariant *param)
{
  if (gtk_window_is_fullscreen (GTK_WINDOW (widget)))
    gtk_window_unfullscreen (GTK_WINDOW (widget));
  else
    gtk_window_fullscreen (GTK_WINDOW (widget));
}

static void
filter_action (GtkWidget *widget, const char *name, GVariant *param)
{
  ps_run_list_focus_filter (PS_WINDOW (widget)->run_list);
}

static void
zoom_fit_action (GtkWidget *widget, const char *name, GVariant *param)
{
  PsWindow *self = PS_WINDOW (widget);

  ps_scatter_view_zoom_fit (ps_embedding_view_get_scatter (self->embedding));
}

static void
show_overview_action (GtkWidget *widget, const char *name, GVariant *param)
{
  ps_window_set_view (PS_WINDOW (widget), "overview");
}

static void
show_embedding_action (GtkWidget *widget, const char *name, GVariant *param)
{
  ps_window_set_view (PS_WINDOW (widget), "embedding");
}

/* The one place that decides which actions are enabled. */
void
ps_window_update_actions (PsWindow *self)
{
  GtkWidget *w = GTK_WIDGET (self);
  g_autoptr (GPtrArray) selected = ps_run_list_get_selected (self->run_list);
  gboolean any_running = FALSE, any_paused = FALSE, any_live = FALSE, any_deletable = FALSE;
  PsJob *current_job = ps_window_job_for_run (self, self->current_run);

  for (guint i = 0; i < selected->len; i++)
    {
      PsRunItem *item = g_ptr_array_index (selected, i);
      PsJob *job = ps_window_job_for_run (self, ps_run_item_get_id (item));
      PsRunStatus s = job ? ps_job_get_status (job) : ps_run_item_get_status (item);
      any_running |= job != NULL && (s == PS_RUN_RUNNING || s == PS_RUN_QUEUED);
      any_paused |= job != NULL && s == PS_RUN_PAUSED;
      any_live |= ps_window_status_is_live (s);
      any_deletable |= job == NULL;
    }

  gboolean has_view = self->current_run != 0;
  gboolean has_points = ps_scatter_view_get_n_points (ps_embedding_view_get_scatter (self->embedding)) > 0;

  gtk_widget_action_set_enabled (w, "win.new-run", self->store != NULL);
  gtk_widget_action_set_enabled (w, "win.demo", self->store != NULL);
  gtk_widget_action_set_enabled (w, "win.refresh", self->store != NULL);
  gtk_widget_action_set_enabled (w, "win.export",
                                 has_view && (!showing_embedding (self) || has_points));
  gtk_widget_action_set_enabled (w, "win.export-csv", has_view && has_points);
  gtk_widget_action_set_enabled (w, "win.zoom-fit", has_view && has_points);
  gtk_widget_action_set_enabled (w, "win.pause-run", any_running);
  gtk_widget_action_set_enabled (w, "win.resume-run", any_paused);
  gtk_widget_action_set_enabled (w, "win.cancel-run", any_live);
  gtk_widget_action_set_enabled (w, "win.pause-resume", current_job != NULL);
  gtk_widget_action_set_enabled (w, "win.rename-run", selected->len == 1);
  gtk_widget_action_set_enabled (w, "win.tag-run", selected->len >= 1);
  gtk_widget_action_set_enabled (w, "win.delete-runs", any_deletable);
  gtk_widget_action_set_enabled (w, "win.undo", self->pending_delete->len > 0);
  gtk_widget_action_set_enabled (w, "win.show-overview", has_view);
  gtk_widget_action_set_enabled (w, "win.show-embedding", has_view);

  gboolean paused = current_job && ps_job_get_status (current_job) == PS_RUN_PAUSED;
  /* Setting the same icon again rebuilds the image, which repaints the
   * window; this runs on every job event. */
  const char *icon = paused ? "media-playback-start-symbolic" : "media-playback-pause-symbolic";
  if (g_strcmp0 (gtk_button_get_icon_name (GTK_BUTTON (self->pause_button)), icon) != 0)
    gtk_button_set_icon_name (GTK_BUTTON (self->pause_button), icon);
  gtk_widget_set_visible (self->pause_button, current_job != NULL);
  gtk_widget_set_visible (self->view_switcher, has_view);
}

void
ps_window_view_changed_cb (PsWindow *self)
{
  ps_window_update_actions (self);
}

/* Installs every window action and the callbacks of the toast and the
 * entry popover. */
void
ps_window_class_install_actions (GtkWidgetClass *widget_class)
{
  gtk_widget_class_bind_template_callback (widget_class, toast_dismiss_cb);
  gtk_widget_class_bind_template_callback (widget_class, entry_popover_apply_cb);
  gtk_widget_class_install_action (widget_class, "win.new-run", NULL, new_run_action);
  gtk_widget_class_install_action (widget_class, "win.open-store", NULL, open_store_action);
  gtk_widget_class_install_action (widget_class, "win.demo", NULL, demo_action);
  gtk_widget_class_install_action (widget_class, "win.refresh", NULL, refresh_action);
  gtk_widget_class_install_action (widget_class, "win.export", NULL, export_action);
  gtk_widget_class_install_action (widget_class, "win.export-csv", NULL, export_csv_action);
  gtk_widget_class_install_action (widget_class, "win.fullscreen", NULL, fullscreen_action);
  gtk_widget_class_install_action (widget_class, "win.filter", NULL, filter_action);
  gtk_widget_class_install_action (widget_class, "win.undo", NULL, undo_action);
  gtk_widget_class_install_action (widget_class, "win.zoom-fit", NULL, zoom_fit_action);
  gtk_widget_class_install_action (widget_class, "win.show-overview", NULL, show_overview_action);
  gtk_widget_class_install_action (widget_class, "win.show-embedding", NULL, show_embedding_action);
  gtk_widget_class_install_action (widget_class, "win.pause-run", NULL, pause_run_action);
  gtk_widget_class_install_action (widget_class, "win.resume-run", NULL, resume_run_action);
  gtk_widget_class_install_action (widget_class, "win.cancel-run", NULL, cancel_run_action);
  gtk_widget_class_install_action (widget_class, "win.pause-resume", NULL, pause_resume_action);
  gtk_widget_class_install_action (widget_class, "win.rename-run", NULL, rename_run_action);
  gtk_widget_class_install_action (widget_class, "win.tag-run", NULL, tag_run_action);
  gtk_widget_class_install_action (widget_class, "win.delete-runs", NULL, delete_runs_action);
}
