/* ps-window.c: the Protoscope main window. */
#define G_LOG_DOMAIN "ps-window"

#include "ps-window.h"

#include <string.h>

#include "ps-application.h"
#include "ps-jobs.h"
#include "ps-store.h"

/* How often the store is polled for runs started by other processes. */
#define PS_REFRESH_MS 2000

#include "ps-window-private.h"

G_DEFINE_FINAL_TYPE (PsWindow, ps_window, GTK_TYPE_APPLICATION_WINDOW)


/* ---- Errors ---------------------------------------------------------- */

void
ps_window_show_error (PsWindow *self, const char *title, const char *detail)
{
  g_return_if_fail (PS_IS_WINDOW (self));

  gtk_label_set_label (self->error_title, title);
  gtk_label_set_label (self->error_detail, detail ? detail : "");
  gtk_widget_set_visible (GTK_WIDGET (self->error_detail), detail != NULL && *detail);
  gtk_info_bar_set_revealed (self->error_bar, TRUE);
}

char *
ps_window_get_error_text (PsWindow *self)
{
  g_return_val_if_fail (PS_IS_WINDOW (self), NULL);

  if (!gtk_info_bar_get_revealed (self->error_bar))
    return NULL;
  return g_strdup_printf ("%s\n%s", gtk_label_get_label (self->error_title),
                          gtk_label_get_label (self->error_detail));
}

static void
error_bar_response_cb (PsWindow *self, int response)
{
  gtk_info_bar_set_revealed (self->error_bar, FALSE);
}

/* ---- Runs in the list ------------------------------------------------ */

PsJob *
ps_window_job_for_run (PsWindow *self, gint64 run)
{
  return g_hash_table_lookup (self->jobs, &run);
}

gboolean
ps_window_is_pending_delete (PsWindow *self, gint64 id)
{
  for (guint i = 0; i < self->pending_delete->len; i++)
    if (ps_run_item_get_id (g_ptr_array_index (self->pending_delete, i)) == id)
      return TRUE;
  return FALSE;
}

/* The final key metric of a run that has ended, read once per item. */
void
ps_window_load_key_metric (PsWindow *self, PsRunItem *item)
{
  const char *key = ps_run_item_get_key_metric_name (item);
  g_auto (GStrv) names = NULL;
  g_autofree double *values = NULL;

  if (key == NULL || self->store == NULL)
    return;
  if (!ps_store_final_metrics (self->store, ps_run_item_get_id (item), &names, &values, NULL))
    return;
  for (guint i = 0; names && names[i]; i++)
    if (strcmp (names[i], key) == 0)
      ps_run_item_set_key_metric (item, values[i]);
}

gboolean
ps_window_status_is_live (PsRunStatus s)
{
  return s == PS_RUN_QUEUED || s == PS_RUN_RUNNING || s == PS_RUN_PAUSED;
}

/* Brings the list in line with the store: new runs (from this window or
 * another process) appear, changed records update in place, deleted runs
 * disappear.  Runs waiting for their deletion to expire stay hidden. */
void
ps_window_refresh_runs (PsWindow *self)
{
  GListStore *model = ps_run_list_get_model (self->run_list);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) runs = NULL;
  g_autoptr (GHashTable) seen = g_hash_table_new (g_int64_hash, g_int64_equal);

  if (self->store == NULL)
    {
      g_list_store_remove_all (model);
      return;
    }
  gint64 t0 = g_get_monotonic_time ();
  runs = ps_store_list_runs (self->store, NULL, NULL, NULL, NULL, NULL, &error);
  g_debug ("listing the runs took %.1f ms", (g_get_monotonic_time () - t0) / 1e3);
  if (runs == NULL)
    {
      g_autofree char *title = g_strdup_printf ("Could not read the runs of %s", self->store_path);
      ps_window_show_error (self, title, error->message);
      return;
    }

  guint insert_at = 0;
  for (guint i = 0; i < runs->len; i++)
    {
      PsRunInfo *info = g_ptr_array_index (runs, i);
      if (ps_window_is_pending_delete (self, info->id))
        continue;
      g_hash_table_add (seen, &info->id);
      PsRunItem *item = ps_run_list_find (self->run_list, info->id, NULL);
      gboolean was_live = item ? ps_window_status_is_live (ps_run_item_get_status (item)) : TRUE;
      /* For a job of this window, the job knows its state before the
       * store does (the worker writes it a moment later). */
      PsJob *job = ps_window_job_for_run (self, info->id);
      if (job != NULL)
        {
          PsRunStatus js = ps_job_get_status (job);
          if (ps_window_status_is_live (js) || js == PS_RUN_FINISHED)
            info->status = js;
          if (item != NULL)
            info->progress = MAX (info->progress, ps_run_item_get_progress (item));
        }
      if (item != NULL)
        ps_run_item_update (item, info);
      else
        {
          g_autoptr (PsRunItem) fresh = ps_run_item_new (info);
          g_list_store_insert (model, MIN (insert_at, g_list_model_get_n_items (G_LIST_MODEL (model))),
                               fresh);
          item = fresh;
        }
      insert_at++;
      if (was_live && !ps_window_status_is_live (info->status))
        ps_window_load_key_metric (self, item);
    }

  for (guint i = g_list_model_get_n_items (G_LIST_MODEL (model)); i > 0; i--)
    {
      g_autoptr (PsRunItem) item = g_list_model_get_item (G_LIST_MODEL (model), i - 1);
      gint64 id = ps_run_item_get_id (item);
      if (!g_hash_table_contains (seen, &id))
        g_list_store_remove (model, i - 1);
    }
  ps_window_update_actions (self);
}

static gboolean
refresh_timeout_cb (gpointer user_data)
{
  PsWindow *self = user_data;

  ps_window_refresh_runs (self);
  return G_SOURCE_CONTINUE;
}

/* ---- Views ------------------------------------------------------------ */

static void
show_run (PsWindow *self, gint64 id)
{
  if (id == self->current_run)
    return;
  self->current_run = id;
  self->overview_stale = FALSE;
  if (id == 0)
    {
      gtk_stack_set_visible_child_name (self->main_stack, "welcome");
      ps_overview_view_set_run (self->overview, NULL, 0);
      ps_embedding_view_set_run (self->embedding, NULL, 0);
      ps_window_update_snapshot_views (self);
      gtk_window_set_title (GTK_WINDOW (self), "Protoscope");
    }
  else
    {
      PsRunItem *item = ps_run_list_find (self->run_list, id, NULL);
      g_autofree char *title = g_strdup_printf ("%s — Protoscope",
                                                item ? ps_run_item_get_name (item) : "Run");
      gtk_window_set_title (GTK_WINDOW (self), title);
      gtk_stack_set_visible_child_name (self->main_stack, "views");
      ps_overview_view_set_run (self->overview, self->store, id);
      ps_embedding_view_set_run (self->embedding, self->store, id);
      ps_window_update_snapshot_views (self);
    }
  ps_window_update_actions (self);
}

static void
run_selection_changed_cb (PsWindow *self)
{
  g_autoptr (GPtrArray) selected = ps_run_list_get_selected (self->run_list);

  /* With several runs selected, Overview and Embedding show the first of
   * them and Compare all of them. */
  show_run (self, selected->len > 0 ? ps_run_item_get_id (g_ptr_array_index (selected, 0)) : 0);
  if (selected->len >= 2)
    {
      g_autofree gint64 *ids = g_new (gint64, selected->len);
      for (guint i = 0; i < selected->len; i++)
        ids[i] = ps_run_item_get_id (g_ptr_array_index (selected, i));
      ps_compare_view_set_runs (self->compare, self->store, ids, selected->len);
      gtk_stack_page_set_visible (self->compare_page, TRUE);
      gtk_stack_set_visible_child_name (self->view_stack, "compare");
    }
  else
    {
      if (g_strcmp0 (gtk_stack_get_visible_child_name (self->view_stack), "compare") == 0)
        gtk_stack_set_visible_child_name (self->view_stack, "overview");
      gtk_stack_page_set_visible (self->compare_page, FALSE);
      ps_compare_view_set_runs (self->compare, NULL, NULL, 0);
    }
  ps_window_update_actions (self);
}

void
ps_window_set_view (PsWindow *self, const char *name)
{
  g_return_if_fail (PS_IS_WINDOW (self));
  gtk_stack_set_visible_child_name (self->view_stack, name);
  ps_window_update_actions (self);
}

/* ---- Submitting runs -------------------------------------------------- */

gint64
ps_window_submit (PsWindow *self, const PsRunRequest *request, GError **error)
{
  g_return_val_if_fail (PS_IS_WINDOW (self), 0);
  g_return_val_if_fail (request != NULL && request->method != NULL, 0);

  if (self->store == NULL)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_STORE, "No run store is open");
      return 0;
    }

  gint64 first = 0;
  for (guint i = 0; i < MAX (request->n_seeds, 1); i++)
    {
      PsJobSpec spec = { 0 };
      g_autofree char *name = NULL;

      if (request->name && *request->name)
        name = request->n_seeds > 1
                   ? g_strdup_printf ("%s-s%" G_GUINT64_FORMAT, request->name, request->seed + i)
                   : g_strdup (request->name);
      spec.method = request->method;
      spec.params = request->params;
      spec.dataset = request->dataset;
      spec.dataset_name = request->dataset_name;
      spec.seed = request->seed + i;
      spec.name = name;
      spec.store_path = self->store_path;
      spec.snapshot_every = request->snapshot_every;
      spec.eval_every = request->eval_every;
      PsJob *job = ps_runner_submit (self->runner, &spec, error);
      if (job == NULL)
        break;
      gint64 *key = g_new (gint64, 1);
      *key = ps_job_get_run_id (job);
      g_hash_table_insert (self->jobs, key, job);
      if (first == 0)
        first = *key;
    }
  ps_window_refresh_runs (self);
  if (first != 0)
    {
      ps_run_list_set_filter_text (self->run_list, "");
      ps_run_list_select_run (self->run_list, first);
    }
  ps_window_update_actions (self);
  return first;
}

void
ps_window_start_demo (PsWindow *self)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PsRunRequest) req = g_new0 (PsRunRequest, 1);

  g_return_if_fail (PS_IS_WINDOW (self));

  req->method = ps_method_find ("mlp");
  if (req->method == NULL)
    {
      ps_window_show_error (self, "The demo is not available", "This build has no “mlp” method.");
      return;
    }
  req->params = ps_method_default_params (req->method);
  /* Long enough (about 15 s here) that a person sees the regions move. */
  if (!ps_params_set (req->params, "spec", "2-16r-16r-2", &error)
      || !ps_params_set (req->params, "epochs", "400", &error))
    {
      ps_window_show_error (self, "The demo could not be set up", error->message);
      return;
    }
  req->dataset = ps_run_request_load_dataset ("moons", 1000, 0.15, NULL, NULL,
                                              &req->dataset_name, &error);
  if (req->dataset == NULL)
    {
      ps_window_show_error (self, "The demo data could not be made", error->message);
      return;
    }
  req->n_seeds = 1;
  req->name = g_strdup ("demo-moons");
  req->snapshot_every = 40;
  req->eval_every = 40;
  if (ps_window_submit (self, req, &error) == 0)
    {
      g_autofree char *title = g_strdup_printf ("The demo could not start in %s", self->store_path);
      ps_window_show_error (self, title, error ? error->message : NULL);
      return;
    }
  ps_window_set_view (self, "embedding");
}

void
ps_window_maybe_start_first_demo (PsWindow *self)
{
  g_return_if_fail (PS_IS_WINDOW (self));

  if (self->store != NULL && ps_store_count_runs (self->store, NULL) == 0)
    ps_window_start_demo (self);
}

/* ---- Store ------------------------------------------------------------ */

gboolean
ps_window_open_store (PsWindow *self, const char *path)
{
  g_autoptr (GError) error = NULL;

  g_return_val_if_fail (PS_IS_WINDOW (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  PsStore *store = ps_store_open (path, &error);
  if (store == NULL)
    {
      g_autofree char *title = g_strdup_printf ("Could not open the run store %s", path);
      ps_window_show_error (self, title, error->message);
      return FALSE;
    }

  ps_window_commit_pending_delete (self);
  show_run (self, 0);
  g_clear_pointer (&self->store, ps_store_close);
  g_free (self->store_path);
  self->store = store;
  self->store_path = g_strdup (path);
  g_list_store_remove_all (ps_run_list_get_model (self->run_list));
  ps_window_refresh_runs (self);
  /* Open on the newest run, so the window never starts empty-handed. */
  if (g_list_model_get_n_items (G_LIST_MODEL (ps_run_list_get_model (self->run_list))) > 0)
    {
      g_autoptr (PsRunItem) newest = g_list_model_get_item (G_LIST_MODEL (ps_run_list_get_model (self->run_list)), 0);
      ps_run_list_select_run (self->run_list, ps_run_item_get_id (newest));
    }

  g_autofree char *base = g_path_get_basename (path);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->header_bar), path);
  if (self->settings != NULL)
    g_settings_set_string (self->settings, "last-store", path);
  gtk_info_bar_set_revealed (self->error_bar, FALSE);
  ps_window_update_actions (self);
  return TRUE;
}

const char *
ps_window_get_store_path (PsWindow *self)
{
  g_return_val_if_fail (PS_IS_WINDOW (self), NULL);
  return self->store_path;
}

static gboolean
is_dataset_file (const char *path)
{
  return g_str_has_suffix (path, ".npy") || g_str_has_suffix (path, ".csv")
         || g_str_has_suffix (path, ".csv.gz");
}

void
ps_window_open_file (PsWindow *self, GFile *file)
{
  g_autofree char *path = g_file_get_path (file);
  g_autoptr (GError) error = NULL;

  g_return_if_fail (PS_IS_WINDOW (self));

  if (path == NULL)
    {
      g_autofree char *uri = g_file_get_uri (file);
      ps_window_show_error (self, "Only local files can be opened", uri);
      return;
    }
  if (!is_dataset_file (path))
    {
      ps_window_open_store (self, path);
      return;
    }

  /* Read it now so a bad file is reported at once, in the window. */
  g_autofree char *display = NULL;
  g_autoptr (PsDataset) ds = ps_run_request_load_dataset (path, 0, -1, NULL, NULL, &display, &error);
  if (ds == NULL)
    {
      g_autofree char *title = g_strdup_printf ("Could not open the dataset %s", path);
      ps_window_show_error (self, title, error->message);
      return;
    }
  PsNewRunDialog *dialog = ps_window_show_new_run_dialog (self);
  ps_new_run_dialog_set_dataset_file (dialog, path, NULL, NULL);
}

/* ---- New-run dialog --------------------------------------------------- */

static gboolean
dialog_start_cb (PsNewRunDialog *dialog, PsRunRequest *request, PsWindow *self)
{
  g_autoptr (GError) error = NULL;
  gint64 id = ps_window_submit (self, request, &error);

  if (id == 0)
    {
      ps_new_run_dialog_show_error (dialog, error ? error->message : "The run could not start");
      return FALSE;
    }
  return TRUE;
}

PsNewRunDialog *
ps_window_show_new_run_dialog (PsWindow *self)
{
  g_return_val_if_fail (PS_IS_WINDOW (self), NULL);

  if (self->dialog == NULL)
    {
      self->dialog = ps_new_run_dialog_new (GTK_WINDOW (self));
      g_object_add_weak_pointer (G_OBJECT (self->dialog), (gpointer *) &self->dialog);
      g_signal_connect_object (self->dialog, "start", G_CALLBACK (dialog_start_cb), self, 0);
    }
  gtk_window_present (GTK_WINDOW (self->dialog));
  return self->dialog;
}

/* ---- Window state ----------------------------------------------------- */

static gboolean
ps_window_close_request (GtkWindow *window)
{
  PsWindow *self = PS_WINDOW (window);

  if (self->settings != NULL)
    {
      int w, h;
      gtk_window_get_default_size (window, &w, &h);
      g_settings_set_boolean (self->settings, "window-maximized", gtk_window_is_maximized (window));
      if (!gtk_window_is_maximized (window) && w > 0 && h > 0)
        {
          g_settings_set_int (self->settings, "window-width", w);
          g_settings_set_int (self->settings, "window-height", h);
        }
      g_settings_set_int (self->settings, "sidebar-width", gtk_paned_get_position (self->paned));
    }
  ps_window_commit_pending_delete (self);
  return GTK_WINDOW_CLASS (ps_window_parent_class)->close_request (window);
}

static void
restore_state (PsWindow *self)
{
  if (self->settings == NULL)
    return;
  gtk_window_set_default_size (GTK_WINDOW (self), g_settings_get_int (self->settings, "window-width"),
                               g_settings_get_int (self->settings, "window-height"));
  if (g_settings_get_boolean (self->settings, "window-maximized"))
    gtk_window_maximize (GTK_WINDOW (self));
  gtk_paned_set_position (self->paned, g_settings_get_int (self->settings, "sidebar-width"));
}

/* ---- GObject ---------------------------------------------------------- */

static void
ps_window_dispose (GObject *object)
{
  PsWindow *self = PS_WINDOW (object);

  if (self->dialog)
    gtk_window_destroy (GTK_WINDOW (self->dialog));
  g_clear_handle_id (&self->refresh_timeout, g_source_remove);
  ps_window_drop_live_views (self);
  g_clear_pointer (&self->views_arrays, g_ptr_array_unref);
  g_clear_handle_id (&self->live_tick_id, g_source_remove);
  if (self->pending_delete)
    ps_window_commit_pending_delete (self);
  /* The runner cancels and joins its workers; its pending events die with
   * it, so the callback never sees a disposed window. */
  g_clear_pointer (&self->runner, ps_runner_free);
  g_clear_pointer (&self->jobs, g_hash_table_unref);
  if (self->entry_popover)
    {
      gtk_widget_unparent (GTK_WIDGET (self->entry_popover));
      self->entry_popover = NULL;
    }
  /* GtkWindow unparents its own child and titlebar in its dispose. */
  G_OBJECT_CLASS (ps_window_parent_class)->dispose (object);
}

static void
ps_window_finalize (GObject *object)
{
  PsWindow *self = PS_WINDOW (object);

  g_clear_pointer (&self->store, ps_store_close);
  g_free (self->store_path);
  g_free (self->views_signature);
  g_clear_pointer (&self->live_pending, g_hash_table_unref);
  g_clear_pointer (&self->pending_delete, g_ptr_array_unref);
  g_clear_object (&self->settings);
  G_OBJECT_CLASS (ps_window_parent_class)->finalize (object);
}

static void
ps_window_size_allocate (GtkWidget *widget, int width, int height, int baseline)
{
  PsWindow *self = PS_WINDOW (widget);

  GTK_WIDGET_CLASS (ps_window_parent_class)->size_allocate (widget, width, height, baseline);
  if (self->entry_popover)
    gtk_popover_present (self->entry_popover);
}

static guint debug_frames;

static void
debug_after_paint (GdkFrameClock *clock, gpointer user_data)
{
  debug_frames++;
}

static gboolean
debug_frames_cb (gpointer user_data)
{
  g_printerr ("frames in the last second: %u\n", debug_frames);
  debug_frames = 0;
  return G_SOURCE_CONTINUE;
}

static void
ps_window_realize (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (ps_window_parent_class)->realize (widget);
  /* Start with the focus on the list of runs, not in the filter entry: a
   * focused entry blinks its cursor with a tick callback, which repaints
   * the window every frame while it sits idle (on a software renderer
   * that is a full frame each time and stalls the main loop). */
  gtk_window_set_focus (GTK_WINDOW (widget),
                        ps_run_list_get_runs_widget (ps_window_get_run_list (PS_WINDOW (widget))));
  if (g_getenv ("PS_DEBUG_FRAMES"))
    {
      g_signal_connect (gtk_widget_get_frame_clock (widget), "after-paint",
                        G_CALLBACK (debug_after_paint), NULL);
      g_timeout_add (1000, debug_frames_cb, NULL);
    }
}

static void
ps_window_class_init (PsWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = ps_window_dispose;
  object_class->finalize = ps_window_finalize;
  widget_class->size_allocate = ps_window_size_allocate;
  widget_class->realize = ps_window_realize;
  window_class->close_request = ps_window_close_request;

  g_type_ensure (PS_TYPE_RUN_LIST);
  g_type_ensure (PS_TYPE_OVERVIEW_VIEW);
  g_type_ensure (PS_TYPE_EMBEDDING_VIEW);
  g_type_ensure (PS_TYPE_COMPARE_VIEW);
  g_type_ensure (PS_TYPE_OOD_VIEW);
  g_type_ensure (PS_TYPE_DIFFUSION_VIEW);
  g_type_ensure (PS_TYPE_GALLERY_VIEW);
  g_type_ensure (PS_TYPE_CLUSTER_VIEW);
  g_type_ensure (PS_TYPE_ROBUST_VIEW);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/protoscope/Protoscope/ui/ps-window.ui");
  gtk_widget_class_bind_template_child (widget_class, PsWindow, header_bar);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, pause_button);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, view_switcher);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, toast_revealer);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, toast_label);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, error_bar);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, error_title);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, error_detail);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, paned);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, run_list);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, main_stack);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, view_stack);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, overview);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, embedding);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, compare);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, compare_page);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, ood);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, ood_page);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, diffusion);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, diffusion_page);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, gallery);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, gallery_page);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, cluster);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, cluster_page);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, robust);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, robust_page);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, entry_popover);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, entry_popover_label);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, entry_popover_entry);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, run_menu);
  gtk_widget_class_bind_template_callback (widget_class, error_bar_response_cb);
  gtk_widget_class_bind_template_callback (widget_class, run_selection_changed_cb);
  ps_window_class_install_actions (widget_class);

}

static void
ps_window_init (PsWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->jobs = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                      (GDestroyNotify) ps_job_unref);
  self->pending_delete = g_ptr_array_new_with_free_func (g_object_unref);
  self->live_pending = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  ps_embedding_view_set_external_pacing (self->embedding, TRUE);
  self->runner = ps_runner_new (0);
  ps_runner_attach (self->runner, NULL, ps_window_on_job_event, self);

  /* The popover's parent is the window itself; size_allocate presents it. */
  gtk_widget_set_parent (GTK_WIDGET (self->entry_popover), GTK_WIDGET (self));
  ps_run_list_set_context_menu (self->run_list, self->run_menu);

  g_signal_connect_object (self->view_stack, "notify::visible-child",
                           G_CALLBACK (ps_window_view_changed_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->view_stack, "notify::visible-child",
                           G_CALLBACK (ps_window_live_view_stack_changed_cb), self, G_CONNECT_SWAPPED);
  self->refresh_timeout = g_timeout_add (PS_REFRESH_MS, refresh_timeout_cb, self);
  ps_window_update_actions (self);
}

PsWindow *
ps_window_new (GtkApplication *app, GSettings *settings)
{
  PsWindow *self = g_object_new (PS_TYPE_WINDOW, "application", app, NULL);

  if (settings != NULL)
    {
      self->settings = g_object_ref (settings);
      restore_state (self);
    }
  return self;
}

PsRunList *
ps_window_get_run_list (PsWindow *self)
{
  g_return_val_if_fail (PS_IS_WINDOW (self), NULL);
  return self->run_list;
}

PsEmbeddingView *
ps_window_get_embedding_view (PsWindow *self)
{
  g_return_val_if_fail (PS_IS_WINDOW (self), NULL);
  return self->embedding;
}

PsCompareView *
ps_window_get_compare_view (PsWindow *self)
{
  g_return_val_if_fail (PS_IS_WINDOW (self), NULL);
  return self->compare;
}

PsOverviewView *
ps_window_get_overview_view (PsWindow *self)
{
  g_return_val_if_fail (PS_IS_WINDOW (self), NULL);
  return self->overview;
}

gint64
ps_window_get_current_run (PsWindow *self)
{
  g_return_val_if_fail (PS_IS_WINDOW (self), 0);
  return self->current_run;
}

PsOodView *
ps_window_get_ood_view (PsWindow *self)
{
  g_return_val_if_fail (PS_IS_WINDOW (self), NULL);
  return self->ood;
}

gboolean
ps_window_has_view (PsWindow *self, const char *name)
{
  g_return_val_if_fail (PS_IS_WINDOW (self), FALSE);
  GtkWidget *child = gtk_stack_get_child_by_name (self->view_stack, name);
  return child != NULL && gtk_stack_page_get_visible (gtk_stack_get_page (self->view_stack, child));
}

PsDiffusionView *
ps_window_get_diffusion_view (PsWindow *self)
{
  g_return_val_if_fail (PS_IS_WINDOW (self), NULL);
  return self->diffusion;
}

PsGalleryView *
ps_window_get_gallery_view (PsWindow *self)
{
  g_return_val_if_fail (PS_IS_WINDOW (self), NULL);
  return self->gallery;
}

PsClusterView *
ps_window_get_cluster_view (PsWindow *self)
{
  g_return_val_if_fail (PS_IS_WINDOW (self), NULL);
  return self->cluster;
}

PsRobustView *
ps_window_get_robust_view (PsWindow *self)
{
  g_return_val_if_fail (PS_IS_WINDOW (self), NULL);
  return self->robust;
}
