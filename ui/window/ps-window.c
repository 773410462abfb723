/* ps-window.c: the Protoscope main window. */
#define G_LOG_DOMAIN "ps-window"

#include "ps-window.h"

#include <math.h>
#include <string.h>

#include "ps-application.h"
#include "ps-jobs.h"
#include "ps-store.h"

/* How long a deletion can be undone, and how often the store is polled for
 * runs started by other processes. */
#define PS_UNDO_SECONDS 6
#define PS_REFRESH_MS 2000
/* The overview re-reads metrics at most this often while a run trains. */
#define PS_OVERVIEW_RELOAD_MS 1000

typedef enum
{
  ENTRY_RENAME,
  ENTRY_TAG,
} EntryMode;

struct _PsWindow
{
  GtkApplicationWindow parent_instance;

  /* Template. */
  GtkHeaderBar *header_bar;
  GtkWidget *pause_button;
  GtkWidget *view_switcher;
  GtkRevealer *toast_revealer;
  GtkLabel *toast_label;
  GtkInfoBar *error_bar;
  GtkLabel *error_title;
  GtkLabel *error_detail;
  GtkPaned *paned;
  PsRunList *run_list;
  GtkStack *main_stack;
  GtkStack *view_stack;
  PsOverviewView *overview;
  PsEmbeddingView *embedding;
  PsCompareView *compare;
  GtkStackPage *compare_page;
  GtkPopover *entry_popover;
  GtkLabel *entry_popover_label;
  GtkEntry *entry_popover_entry;
  GMenuModel *run_menu;

  /* Owned. */
  GSettings *settings;
  PsStore *store;
  char *store_path;
  PsRunner *runner;
  GHashTable *jobs;              /* run id (gint64*) -> PsJob* of jobs this window started */
  GPtrArray *pending_delete;     /* PsRunItem removed from the list, deleted on expiry */
  guint delete_timeout;
  guint refresh_timeout;
  guint overview_reload;
  EntryMode entry_mode;
  gint64 current_run;
  PsNewRunDialog *dialog;        /* weak */
};

G_DEFINE_FINAL_TYPE (PsWindow, ps_window, GTK_TYPE_APPLICATION_WINDOW)

static void update_actions (PsWindow *self);
static void refresh_runs (PsWindow *self);
static void commit_pending_delete (PsWindow *self);

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

static PsJob *
job_for_run (PsWindow *self, gint64 run)
{
  return g_hash_table_lookup (self->jobs, &run);
}

static gboolean
is_pending_delete (PsWindow *self, gint64 id)
{
  for (guint i = 0; i < self->pending_delete->len; i++)
    if (ps_run_item_get_id (g_ptr_array_index (self->pending_delete, i)) == id)
      return TRUE;
  return FALSE;
}

/* The final key metric of a run that has ended, read once per item. */
static void
load_key_metric (PsWindow *self, PsRunItem *item)
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

static gboolean
status_is_live (PsRunStatus s)
{
  return s == PS_RUN_QUEUED || s == PS_RUN_RUNNING || s == PS_RUN_PAUSED;
}

/* Brings the list in line with the store: new runs (from this window or
 * another process) appear, changed records update in place, deleted runs
 * disappear.  Runs waiting for their deletion to expire stay hidden. */
static void
refresh_runs (PsWindow *self)
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
  runs = ps_store_list_runs (self->store, NULL, NULL, NULL, NULL, NULL, &error);
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
      if (is_pending_delete (self, info->id))
        continue;
      g_hash_table_add (seen, &info->id);
      PsRunItem *item = ps_run_list_find (self->run_list, info->id, NULL);
      gboolean was_live = item ? status_is_live (ps_run_item_get_status (item)) : TRUE;
      /* For a job of this window, the job knows its state before the
       * store does (the worker writes it a moment later). */
      PsJob *job = job_for_run (self, info->id);
      if (job != NULL)
        {
          PsRunStatus js = ps_job_get_status (job);
          if (status_is_live (js) || js == PS_RUN_FINISHED)
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
      if (was_live && !status_is_live (info->status))
        load_key_metric (self, item);
    }

  for (guint i = g_list_model_get_n_items (G_LIST_MODEL (model)); i > 0; i--)
    {
      g_autoptr (PsRunItem) item = g_list_model_get_item (G_LIST_MODEL (model), i - 1);
      gint64 id = ps_run_item_get_id (item);
      if (!g_hash_table_contains (seen, &id))
        g_list_store_remove (model, i - 1);
    }
  update_actions (self);
}

static gboolean
refresh_timeout_cb (gpointer user_data)
{
  PsWindow *self = user_data;

  refresh_runs (self);
  return G_SOURCE_CONTINUE;
}

/* ---- Views ------------------------------------------------------------ */

static void
show_run (PsWindow *self, gint64 id)
{
  if (id == self->current_run)
    return;
  self->current_run = id;
  if (id == 0)
    {
      gtk_stack_set_visible_child_name (self->main_stack, "welcome");
      ps_overview_view_set_run (self->overview, NULL, 0);
      ps_embedding_view_set_run (self->embedding, NULL, 0);
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
    }
  update_actions (self);
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
  update_actions (self);
}

static gboolean
overview_reload_cb (gpointer user_data)
{
  PsWindow *self = user_data;

  self->overview_reload = 0;
  ps_overview_view_reload (self->overview);
  return G_SOURCE_REMOVE;
}

static void
schedule_overview_reload (PsWindow *self)
{
  if (self->overview_reload == 0)
    self->overview_reload = g_timeout_add (PS_OVERVIEW_RELOAD_MS, overview_reload_cb, self);
}

void
ps_window_set_view (PsWindow *self, const char *name)
{
  g_return_if_fail (PS_IS_WINDOW (self));
  gtk_stack_set_visible_child_name (self->view_stack, name);
  update_actions (self);
}

/* ---- Job events ------------------------------------------------------- */

static void
on_job_event (const PsEvent *event, gpointer user_data)
{
  PsWindow *self = user_data;
  PsRunItem *item = event->run_id > 0 ? ps_run_list_find (self->run_list, event->run_id, NULL) : NULL;

  if (item == NULL && event->run_id > 0 && !is_pending_delete (self, event->run_id))
    {
      /* A run this window submitted but has not listed yet. */
      refresh_runs (self);
      item = ps_run_list_find (self->run_list, event->run_id, NULL);
    }

  switch (event->type)
    {
    case PS_EVENT_STARTED:
    case PS_EVENT_RESUMED:
      if (item)
        ps_run_item_set_status (item, PS_RUN_RUNNING);
      break;
    case PS_EVENT_PROGRESS:
      if (item)
        {
          ps_run_item_set_status (item, PS_RUN_RUNNING);
          if (event->total_steps > 0)
            ps_run_item_set_progress (item, (double) event->step / event->total_steps);
        }
      break;
    case PS_EVENT_METRICS:
      if (item && event->metrics)
        {
          double v;
          const char *key = ps_run_item_get_key_metric_name (item);
          if (key && ps_metrics_get (event->metrics, key, &v))
            ps_run_item_set_key_metric (item, v);
        }
      if (event->run_id == self->current_run)
        schedule_overview_reload (self);
      break;
    case PS_EVENT_SNAPSHOT:
      if (event->run_id == self->current_run && event->arrays)
        ps_embedding_view_add_snapshot (self->embedding, event->run_id, event->step, event->arrays);
      break;
    case PS_EVENT_PAUSED:
      if (item)
        ps_run_item_set_status (item, PS_RUN_PAUSED);
      break;
    case PS_EVENT_FINISHED:
    case PS_EVENT_FAILED:
    case PS_EVENT_CANCELLED:
      {
        gint64 id = event->run_id;
        if (item)
          {
            PsRunStatus s = event->type == PS_EVENT_FINISHED ? PS_RUN_FINISHED
                            : event->type == PS_EVENT_FAILED ? PS_RUN_FAILED
                                                             : PS_RUN_CANCELLED;
            if (s == PS_RUN_FINISHED)
              ps_run_item_set_progress (item, 1.0);
            ps_run_item_set_status (item, s);
          }
        if (event->type == PS_EVENT_FAILED)
          {
            g_autofree char *title = g_strdup_printf ("Run “%s” failed",
                                                      item ? ps_run_item_get_name (item) : "?");
            ps_window_show_error (self, title, event->message);
          }
        g_hash_table_remove (self->jobs, &id);
        refresh_runs (self);
        if (item)
          load_key_metric (self, item);
        if (id == self->current_run)
          {
            g_clear_handle_id (&self->overview_reload, g_source_remove);
            ps_overview_view_reload (self->overview);
          }
      }
      break;
    default:
      break;
    }
  update_actions (self);
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
  refresh_runs (self);
  if (first != 0)
    {
      ps_run_list_set_filter_text (self->run_list, "");
      ps_run_list_select_run (self->run_list, first);
    }
  update_actions (self);
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

  commit_pending_delete (self);
  show_run (self, 0);
  g_clear_pointer (&self->store, ps_store_close);
  g_free (self->store_path);
  self->store = store;
  self->store_path = g_strdup (path);
  g_list_store_remove_all (ps_run_list_get_model (self->run_list));
  refresh_runs (self);
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
  update_actions (self);
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

/* ---- Deleting with undo ---------------------------------------------- */

static void
hide_toast (PsWindow *self)
{
  gtk_revealer_set_reveal_child (self->toast_revealer, FALSE);
}

static void
commit_pending_delete (PsWindow *self)
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
  commit_pending_delete (self);
  update_actions (self);
  return G_SOURCE_REMOVE;
}

static void
toast_dismiss_cb (PsWindow *self)
{
  commit_pending_delete (self);
  update_actions (self);
}

static void
delete_runs_action (GtkWidget *widget, const char *name, GVariant *param)
{
  PsWindow *self = PS_WINDOW (widget);
  g_autoptr (GPtrArray) selected = ps_run_list_get_selected (self->run_list);
  GListStore *model = ps_run_list_get_model (self->run_list);

  /* A second deletion commits the first: one undo step is kept. */
  commit_pending_delete (self);
  for (guint i = 0; i < selected->len; i++)
    {
      PsRunItem *item = g_ptr_array_index (selected, i);
      guint pos;
      if (job_for_run (self, ps_run_item_get_id (item)) != NULL)
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
  update_actions (self);
}

static void
undo_action (GtkWidget *widget, const char *name, GVariant *param)
{
  PsWindow *self = PS_WINDOW (widget);

  g_clear_handle_id (&self->delete_timeout, g_source_remove);
  g_ptr_array_set_size (self->pending_delete, 0);
  hide_toast (self);
  refresh_runs (self);
  update_actions (self);
}

/* ---- Run actions ------------------------------------------------------ */

static void
for_selected_jobs (PsWindow *self, void (*fn) (PsJob *job))
{
  g_autoptr (GPtrArray) selected = ps_run_list_get_selected (self->run_list);

  for (guint i = 0; i < selected->len; i++)
    {
      PsJob *job = job_for_run (self, ps_run_item_get_id (g_ptr_array_index (selected, i)));
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
      PsJob *job = job_for_run (self, ps_run_item_get_id (item));
      if (job)
        ps_job_cancel (job);
      else if (status_is_live (ps_run_item_get_status (item)) && self->store)
        /* A run of another process: it polls this flag. */
        ps_store_request_cancel (self->store, ps_run_item_get_id (item), NULL);
    }
}

static void
pause_resume_action (GtkWidget *widget, const char *name, GVariant *param)
{
  PsWindow *self = PS_WINDOW (widget);
  PsJob *job = job_for_run (self, self->current_run);

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
  refresh_runs (self);
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

  refresh_runs (self);
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
  gboolean comparing = g_strcmp0 (page, "compare") == 0;
  GtkWidget *view = showing_embedding (self) ? GTK_WIDGET (self->embedding)
                    : comparing             ? GTK_WIDGET (self->compare)
                                            : GTK_WIDGET (self->overview);
  g_autoptr (PsFigure) fig = showing_embedding (self) ? ps_embedding_view_build_figure (self->embedding)
                             : comparing ? ps_compare_view_build_figure (self->compare)
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
                                                showing_embedding (self) ? "embedding" : "curves",
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
static void
update_actions (PsWindow *self)
{
  GtkWidget *w = GTK_WIDGET (self);
  g_autoptr (GPtrArray) selected = ps_run_list_get_selected (self->run_list);
  gboolean any_running = FALSE, any_paused = FALSE, any_live = FALSE, any_deletable = FALSE;
  PsJob *current_job = job_for_run (self, self->current_run);

  for (guint i = 0; i < selected->len; i++)
    {
      PsRunItem *item = g_ptr_array_index (selected, i);
      PsJob *job = job_for_run (self, ps_run_item_get_id (item));
      PsRunStatus s = job ? ps_job_get_status (job) : ps_run_item_get_status (item);
      any_running |= job != NULL && (s == PS_RUN_RUNNING || s == PS_RUN_QUEUED);
      any_paused |= job != NULL && s == PS_RUN_PAUSED;
      any_live |= status_is_live (s);
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
  gtk_button_set_icon_name (GTK_BUTTON (self->pause_button),
                            paused ? "media-playback-start-symbolic" : "media-playback-pause-symbolic");
  gtk_widget_set_visible (self->pause_button, current_job != NULL);
  gtk_widget_set_visible (self->view_switcher, has_view);
}

static void
view_changed_cb (PsWindow *self)
{
  update_actions (self);
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
  commit_pending_delete (self);
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
  g_clear_handle_id (&self->overview_reload, g_source_remove);
  if (self->pending_delete)
    commit_pending_delete (self);
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
  gtk_widget_class_bind_template_child (widget_class, PsWindow, entry_popover);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, entry_popover_label);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, entry_popover_entry);
  gtk_widget_class_bind_template_child (widget_class, PsWindow, run_menu);
  gtk_widget_class_bind_template_callback (widget_class, error_bar_response_cb);
  gtk_widget_class_bind_template_callback (widget_class, run_selection_changed_cb);
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

static void
ps_window_init (PsWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->jobs = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                      (GDestroyNotify) ps_job_unref);
  self->pending_delete = g_ptr_array_new_with_free_func (g_object_unref);
  self->runner = ps_runner_new (0);
  ps_runner_attach (self->runner, NULL, on_job_event, self);

  /* The popover's parent is the window itself; size_allocate presents it. */
  gtk_widget_set_parent (GTK_WIDGET (self->entry_popover), GTK_WIDGET (self));
  ps_run_list_set_context_menu (self->run_list, self->run_menu);

  g_signal_connect_object (self->view_stack, "notify::visible-child",
                           G_CALLBACK (view_changed_cb), self, G_CONNECT_SWAPPED);
  self->refresh_timeout = g_timeout_add (PS_REFRESH_MS, refresh_timeout_cb, self);
  update_actions (self);
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
