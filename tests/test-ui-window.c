/* test-ui-window.c: the window driven as a person would, without a mouse:
 * the new-run flow, the explanation of a selected point, a bad file, the
 * deletion with undo, and the figure and CSV exports. */
#include <gtk/gtk.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "ui-test-util.h"
#include "ps-application.h"
#include "ps-window.h"
#include "ps-window-private.h"

typedef struct
{
  char *dir;
  char *store;
  PsWindow *window;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  GError *error = NULL;

  f->dir = g_dir_make_tmp ("ps-ui-window-XXXXXX", &error);
  g_assert_no_error (error);
  f->store = g_build_filename (f->dir, "runs.sqlite", NULL);
  f->window = ps_window_new (NULL, NULL);
  g_object_ref (f->window);
  gtk_window_set_default_size (GTK_WINDOW (f->window), 1200, 800);
  if (g_getenv ("PS_SCREENSHOT_DIR"))
    gtk_window_set_default_size (GTK_WINDOW (f->window), 1600, 1000);
  g_assert_true (ps_window_open_store (f->window, f->store));
  gtk_window_present (GTK_WINDOW (f->window));
}

static void
remove_tree (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d && (name = g_dir_read_name (d)))
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_remove (path);
    }
  g_rmdir (dir);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  gtk_window_destroy (GTK_WINDOW (f->window));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_finalize_object (f->window);
  remove_tree (f->dir);
  g_free (f->store);
  g_free (f->dir);
}

/* ---- Starting a run through the dialog ---------------------------------- */

typedef struct
{
  PsWindow *window;
  gint64 run;
  gboolean saw_running;
  GArray *statuses;
} RunWatch;

static void
status_notify_cb (PsRunItem *item, GParamSpec *pspec, RunWatch *w)
{
  PsRunStatus s = ps_run_item_get_status (item);

  g_array_append_val (w->statuses, s);
  if (s == PS_RUN_RUNNING)
    {
      /* The row itself says so, with its progress. */
      g_autofree char *text = ps_run_list_get_status_text (ps_window_get_run_list (w->window), w->run);
      g_assert_true (g_str_has_prefix (text, "Running"));
      w->saw_running = TRUE;
    }
}

static gboolean
run_finished (gpointer data)
{
  RunWatch *w = data;
  g_autofree char *text = ps_run_list_get_status_text (ps_window_get_run_list (w->window), w->run);

  return g_strcmp0 (text, "Finished") == 0;
}

/* Fills the dialog as a person would and presses Start; returns the run.
 * A generated set has `n` points. */
static gint64
start_run_sized (Fixture *f, const char *dataset, guint n, const char *epochs, RunWatch *watch)
{
  PsNewRunDialog *dialog = ps_window_show_new_run_dialog (f->window);

  g_assert_true (ps_new_run_dialog_set_method (dialog, "mlp"));
  g_assert_true (ps_new_run_dialog_set_dataset (dialog, dataset));
  ps_new_run_dialog_set_generator (dialog, n, 0.15);
  g_assert_true (ps_new_run_dialog_set_param (dialog, "epochs", epochs));
  ps_new_run_dialog_set_seed (dialog, 1, 1);
  ps_new_run_dialog_set_run_name (dialog, "ui-test");

  /* Watch the row from the moment it appears: the first events of a fast
   * run may arrive in the same batch as its end. */
  PsRunList *list = ps_window_get_run_list (f->window);
  GListStore *model = ps_run_list_get_model (list);
  guint before = g_list_model_get_n_items (G_LIST_MODEL (model));
  /* A started run closes the dialog. */
  g_object_add_weak_pointer (G_OBJECT (dialog), (gpointer *) &dialog);
  g_signal_emit_by_name (ps_new_run_dialog_get_start_button (dialog), "clicked");
  g_assert_null (dialog);

  gint64 run = ps_window_get_current_run (f->window);
  g_assert_cmpint (run, >, 0);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (model)), ==, before + 1);
  PsRunItem *item = ps_run_list_find (list, run, NULL);
  g_assert_nonnull (item);
  g_assert_cmpstr (ps_run_item_get_name (item), ==, "ui-test");
  if (watch)
    {
      watch->run = run;
      /* The row may already say Running when it appears (the worker is
       * quick to start): that counts as seen. */
      status_notify_cb (item, NULL, watch);
      g_signal_connect (item, "notify::status", G_CALLBACK (status_notify_cb), watch);
    }
  return run;
}

static gint64
start_run_on (Fixture *f, const char *dataset, const char *epochs, RunWatch *watch)
{
  return start_run_sized (f, dataset, 400, epochs, watch);
}

static gint64
start_run_through_dialog (Fixture *f, const char *epochs, RunWatch *watch)
{
  return start_run_on (f, "moons", epochs, watch);
}

static void
test_new_run_flow (Fixture *f, gconstpointer data)
{
  RunWatch w = { f->window, 0, FALSE, g_array_new (FALSE, FALSE, sizeof (PsRunStatus)) };

  if (ps_method_find ("mlp") == NULL)
    {
      g_test_skip ("no mlp method in this build");
      return;
    }
  gint64 run = start_run_through_dialog (f, "40", &w);
  g_assert_true (wait_for (run_finished, &w, 120));
  g_assert_true (w.saw_running);
  g_assert_cmpint (g_array_index (w.statuses, PsRunStatus, w.statuses->len - 1), ==, PS_RUN_FINISHED);
  g_signal_handlers_disconnect_by_data (ps_run_list_find (ps_window_get_run_list (f->window), run, NULL), &w);
  g_array_unref (w.statuses);

  /* The overview shows the finished run and its curves. */
  PsOverviewView *overview = ps_window_get_overview_view (f->window);
  g_assert_cmpint (ps_overview_view_get_run (overview), ==, run);
  g_assert_cmpstr (ps_overview_view_get_status_text (overview), ==, "Finished");
  g_autoptr (PsFigure) curves = ps_overview_view_build_figure (overview);
  g_assert_nonnull (curves);
  g_assert_null (ps_window_get_error_text (f->window));
}

/* A finished short run, shown in the Embedding view. */
static gint64
finished_run (Fixture *f)
{
  RunWatch w = { f->window, 0, FALSE, g_array_new (FALSE, FALSE, sizeof (PsRunStatus)) };
  gint64 run = start_run_through_dialog (f, "5", &w);

  g_assert_true (wait_for (run_finished, &w, 120));
  g_signal_handlers_disconnect_by_data (ps_run_list_find (ps_window_get_run_list (f->window), run, NULL), &w);
  g_array_unref (w.statuses);
  ps_window_set_view (f->window, "embedding");
  return run;
}

static gboolean
scatter_drawn (gpointer data)
{
  PsScatterView *scatter = data;
  return ps_scatter_view_get_n_points (scatter) > 0 && ps_scatter_view_get_texture_builds (scatter) > 0;
}

/* ---- Selecting a point fills the explanation panel --------------------- */

static void
test_select_explains (Fixture *f, gconstpointer data)
{
  if (ps_method_find ("mlp") == NULL)
    {
      g_test_skip ("no mlp method in this build");
      return;
    }
  finished_run (f);
  PsEmbeddingView *view = ps_window_get_embedding_view (f->window);
  PsScatterView *scatter = ps_embedding_view_get_scatter (view);
  g_assert_true (wait_for (scatter_drawn, scatter, 30));
  g_assert_null (ps_embedding_view_get_explanation_title (view));

  double x, y;
  g_assert_true (ps_scatter_view_point_to_widget (scatter, 5, &x, &y));
  gssize hit = ps_scatter_view_select_at (scatter, x, y);
  g_assert_cmpint (hit, >=, 0);
  const char *title = ps_embedding_view_get_explanation_title (view);
  g_assert_nonnull (title);
  g_assert_true (g_str_has_prefix (title, "Sample "));
  g_assert_nonnull (strstr (title, "predicted"));
  g_assert_cmpuint (ps_embedding_view_get_n_neighbours (view), >, 0);

  /* Clicking on empty space clears the selection and the panel. */
  ps_scatter_view_select_at (scatter, 1, 1);
  g_assert_null (ps_embedding_view_get_explanation_title (view));
}

/* ---- The method's own explanation, from the run's checkpoint ----------- */

static gboolean
model_explains (gpointer data)
{
  PsEmbeddingView *view = data;
  return ps_embedding_view_has_model (view) && ps_embedding_view_get_n_neighbours (view) > 0;
}

static void
test_model_explains (Fixture *f, gconstpointer data)
{
  RunWatch w = { f->window, 0, FALSE, g_array_new (FALSE, FALSE, sizeof (PsRunStatus)) };

  if (ps_method_find ("mlp") == NULL)
    {
      g_test_skip ("no mlp method in this build");
      return;
    }
  /* digits can be reloaded by name, so the model comes back from its
   * checkpoint and explains with the method's explain(). */
  gint64 run = start_run_on (f, "digits", "2", &w);
  g_assert_true (wait_for (run_finished, &w, 120));
  g_signal_handlers_disconnect_by_data (ps_run_list_find (ps_window_get_run_list (f->window), run, NULL), &w);
  g_array_unref (w.statuses);
  ps_window_set_view (f->window, "embedding");
  PsEmbeddingView *view = ps_window_get_embedding_view (f->window);
  PsScatterView *scatter = ps_embedding_view_get_scatter (view);
  g_assert_true (wait_for (scatter_drawn, scatter, 30));
  g_assert_true (ps_scatter_view_is_projected (scatter));
  guint32 idx = 3;
  ps_scatter_view_select (scatter, &idx, 1);
  g_assert_nonnull (ps_embedding_view_get_explanation_title (view));
  g_assert_true (wait_for (model_explains, view, 60));
}

/* ---- A bad file is reported in the window ------------------------------- */

static void
test_bad_npy (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->dir, "broken.npy", NULL);
  g_assert_true (g_file_set_contents (path, "\x93NUMPY garbage that is not a header", -1, NULL));
  g_autoptr (GFile) file = g_file_new_for_path (path);

  ps_window_open_file (f->window, file);
  g_autofree char *text = ps_window_get_error_text (f->window);
  g_assert_nonnull (text);
  g_assert_nonnull (strstr (text, "broken.npy"));

  /* The window keeps working: the store is still open and usable. */
  g_assert_cmpstr (ps_window_get_store_path (f->window), ==, f->store);
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (f->window)));
  g_autofree char *bad_store = g_build_filename (f->dir, "not-a-store.sqlite", NULL);
  g_assert_true (g_file_set_contents (bad_store, "this is not SQLite at all, not even close", -1, NULL));
  g_assert_false (ps_window_open_store (f->window, bad_store));
  g_autofree char *text2 = ps_window_get_error_text (f->window);
  g_assert_nonnull (strstr (text2, "not-a-store.sqlite"));
  g_assert_cmpstr (ps_window_get_store_path (f->window), ==, f->store);
}

/* ---- The CLI writing into the window's store ------------------------------ */

typedef struct
{
  PsWindow *window;
  const char *name;
} NamedRun;

static gboolean
named_run_finished (gpointer data)
{
  NamedRun *w = data;
  GListModel *model = G_LIST_MODEL (ps_run_list_get_model (ps_window_get_run_list (w->window)));

  for (guint i = 0; i < g_list_model_get_n_items (model); i++)
    {
      g_autoptr (PsRunItem) item = g_list_model_get_item (model, i);
      if (g_strcmp0 (ps_run_item_get_name (item), w->name) == 0)
        return ps_run_item_get_status (item) == PS_RUN_FINISHED;
    }
  return FALSE;
}

static void
subprocess_exited_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  g_subprocess_wait_finish (G_SUBPROCESS (source), res, NULL);
  *(gboolean *) data = TRUE;
}

static gboolean
flag_is_set (gpointer data)
{
  return *(gboolean *) data;
}

/* The window keeps the store open while another process trains into it:
 * the CLI's run completes and appears in the window, finished. */
static void
test_cli_shares_store (Fixture *f, gconstpointer data)
{
  const char *cli = g_getenv ("PROTOSCOPE_CLI");
  if (cli == NULL || !g_file_test (cli, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("protoscope-cli is not built");
      return;
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE
                                                   | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error,
                                                   cli, "train", "mlp", "--dataset", "moons",
                                                   "--set", "epochs=3", "--db", f->store,
                                                   "--name", "from-cli", NULL);
  g_assert_no_error (error);
  /* Keep the window's loop running (its periodic store refresh included)
   * while the other process writes. */
  gboolean exited = FALSE;
  g_subprocess_wait_async (proc, NULL, subprocess_exited_cb, &exited);
  g_assert_true (wait_for (flag_is_set, &exited, 60));
  g_assert_true (g_subprocess_get_successful (proc));
  NamedRun w = { f->window, "from-cli" };
  g_assert_true (wait_for (named_run_finished, &w, 20));
}

/* ---- Delete with undo ---------------------------------------------------- */

static gboolean
metric_known (gpointer data)
{
  return isfinite (ps_run_item_get_key_metric (data));
}

typedef struct
{
  PsRunList *list;
  gint64 first;
} OrderWatch;

static gboolean
listed_first (gpointer data)
{
  OrderWatch *o = data;
  return ps_run_list_get_id_at (o->list, 0) == o->first;
}

/* With the list sorted by key metric, a run that trains moves when its
 * metric arrives: before, it has none and sorts last; its first
 * evaluation is below the finished run's (a value no accuracy reaches),
 * so it must end up first, and stay selected. */
static void
test_run_list_resorts (Fixture *f, gconstpointer data)
{
  if (ps_method_find ("mlp") == NULL)
    {
      g_test_skip ("no mlp method in this build");
      return;
    }
  gint64 done = finished_run (f);
  PsRunList *list = ps_window_get_run_list (f->window);
  ps_run_item_set_key_metric (ps_run_list_find (list, done, NULL), 1e9);
  ps_run_list_sort_by (list, "metric", GTK_SORT_ASCENDING);

  /* Long enough (20k points, 1000 epochs: minutes) that the first live
   * evaluation is shown long before it ends, however fast the machine;
   * the window cancels it when the fixture closes. */
  RunWatch w = { f->window, 0, FALSE, g_array_new (FALSE, FALSE, sizeof (PsRunStatus)) };
  gint64 run = start_run_sized (f, "moons", 20000, "1000", &w);
  PsRunItem *item = ps_run_list_find (list, run, NULL);
  g_assert_cmpint (ps_run_list_get_id_at (list, 0), ==, done);
  g_assert_cmpint (ps_run_list_get_id_at (list, 1), ==, run);

  g_assert_true (wait_for (metric_known, item, 120));
  /* Still training: the metric came from a live evaluation. */
  g_assert_cmpint (ps_run_item_get_status (item), ==, PS_RUN_RUNNING);
  OrderWatch o = { list, run };
  g_assert_true (wait_for (listed_first, &o, 10));
  g_assert_cmpint (ps_run_list_get_id_at (list, 1), ==, done);
  g_autoptr (GPtrArray) selected = ps_run_list_get_selected (list);
  g_assert_cmpuint (selected->len, ==, 1);
  g_assert_cmpint (ps_run_item_get_id (g_ptr_array_index (selected, 0)), ==, run);
  g_assert_cmpint (ps_window_get_current_run (f->window), ==, run);
  g_signal_handlers_disconnect_by_data (item, &w);
  g_array_unref (w.statuses);
}

static void
test_delete_undo (Fixture *f, gconstpointer data)
{
  if (ps_method_find ("mlp") == NULL)
    {
      g_test_skip ("no mlp method in this build");
      return;
    }
  gint64 run = finished_run (f);
  PsRunList *list = ps_window_get_run_list (f->window);

  ps_run_list_select_run (list, run);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->window), "win.delete-runs", NULL));
  g_assert_null (ps_run_list_find (list, run, NULL));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->window), "win.undo", NULL));
  g_assert_nonnull (ps_run_list_find (list, run, NULL));

  /* Deleting again and closing the window commits the deletion. */
  ps_run_list_select_run (list, run);
  gtk_widget_activate_action (GTK_WIDGET (f->window), "win.delete-runs", NULL);
  g_assert_null (ps_run_list_find (list, run, NULL));
  g_assert_true (ps_window_open_store (f->window, f->store));
  g_assert_null (ps_run_list_find (list, run, NULL));
}

/* With PS_SCREENSHOT_DIR set, saves the window as it is painted to
 * <dir>/<name> (how docs/screenshots/ are kept current). */
static void
maybe_screenshot (GtkWidget *widget, const char *name)
{
  const char *dir = g_getenv ("PS_SCREENSHOT_DIR");
  if (dir == NULL)
    return;
  int w = gtk_widget_get_width (widget), h = gtk_widget_get_height (widget);
  g_autoptr (GdkPaintable) paintable = gtk_widget_paintable_new (widget);
  GtkSnapshot *snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (paintable, snapshot, w, h);
  g_autoptr (GskRenderNode) node = gtk_snapshot_free_to_node (snapshot);
  if (node == NULL)
    return;
  GskRenderer *renderer = gtk_native_get_renderer (gtk_widget_get_native (widget));
  g_autoptr (GdkTexture) texture = gsk_renderer_render_texture (renderer, node,
                                                                &GRAPHENE_RECT_INIT (0, 0, w, h));
  g_autofree char *path = g_build_filename (dir, name, NULL);
  gdk_texture_save_to_png (texture, path);
}

/* ---- Compare ------------------------------------------------------------ */

/* The samples selected in `to` are exactly those selected in `from`
 * (by dataset row when the snapshots carry sample_index). */
static void
assert_linked (PsScatterView *from, PsScatterView *to, gsize expect)
{
  gsize n_from = 0, n_to = 0;
  const guint32 *a = ps_scatter_view_get_selection (from, &n_from);
  const guint32 *b = ps_scatter_view_get_selection (to, &n_to);
  const gint64 *ia = ps_scatter_view_get_sample_index (from);
  const gint64 *ib = ps_scatter_view_get_sample_index (to);

  g_assert_cmpuint (n_from, ==, expect);
  g_assert_cmpuint (n_to, ==, n_from);
  for (gsize k = 0; k < n_to; k++)
    {
      gint64 id = ib ? ib[b[k]] : b[k];
      gboolean found = FALSE;
      for (gsize j = 0; j < n_from && !found; j++)
        found = (ia ? ia[a[j]] : a[j]) == id;
      g_assert_true (found);
    }
}

static void
test_compare_seeds (Fixture *f, gconstpointer data)
{
  if (ps_method_find ("mlp") == NULL)
    {
      g_test_skip ("no mlp method in this build");
      return;
    }
  gint64 a = finished_run (f);
  gint64 b = finished_run (f);
  PsCompareView *compare = ps_window_get_compare_view (f->window);

  /* The two runs share method, data and parameters: one group, drawn as a
   * mean +- std band.  Selecting both opens the Compare page. */
  gint64 ids[2] = { a, b };
  ps_run_list_select_runs (ps_window_get_run_list (f->window), ids, 2);
  g_assert_cmpuint (ps_compare_view_get_n_groups (compare), ==, 1);
  g_autoptr (PsFigure) fig = ps_compare_view_build_figure (compare);
  g_assert_nonnull (fig);
  g_autofree char *svg = g_build_filename (f->dir, "compare.svg", NULL);
  g_autoptr (GError) error = NULL;
  g_assert_true (ps_window_export_figure (f->window, svg, &error));
  g_assert_no_error (error);

  /* Their embeddings side by side, selection linked by sample. */
  g_assert_cmpuint (ps_compare_view_get_n_embeddings (compare), ==, 2);
  PsScatterView *left = ps_compare_view_get_embedding (compare, 0);
  PsScatterView *right = ps_compare_view_get_embedding (compare, 1);
  gsize n_left = ps_scatter_view_get_n_points (left);
  g_assert_cmpuint (n_left, >, 20);
  guint32 pick[5] = { 1, 3, 7, 11, 19 };
  ps_scatter_view_select (left, pick, 5);
  assert_linked (left, right, 5);
  if (g_getenv ("PS_SCREENSHOT_DIR"))
    {
      /* A lasso-sized selection reads better in a picture. */
      g_autoptr (GArray) many = g_array_new (FALSE, FALSE, sizeof (guint32));
      const float *lx = ps_scatter_view_get_x (left);
      for (guint32 i = 0; i < n_left; i++)
        if (lx[i] > 0.5f)
          g_array_append_val (many, i);
      ps_scatter_view_select (left, (guint32 *) many->data, many->len);
      gtk_widget_queue_draw (GTK_WIDGET (f->window));
      wait_painted (GTK_WIDGET (f->window));
      maybe_screenshot (GTK_WIDGET (f->window), "compare-side-by-side.png");
      ps_scatter_view_select (left, pick, 5);
    }
  /* And back the other way, replacing the first selection. */
  guint32 pick2[2] = { 0, 2 };
  ps_scatter_view_select (right, pick2, 2);
  assert_linked (right, left, 2);
  ps_scatter_view_select (right, NULL, 0);
  gsize n_after = 1;
  ps_scatter_view_get_selection (left, &n_after);
  g_assert_cmpuint (n_after, ==, 0);

  /* Back to one run: the Compare page goes away. */
  ps_run_list_select_run (ps_window_get_run_list (f->window), a);
  g_assert_cmpuint (ps_compare_view_get_n_groups (compare), ==, 0);
}

/* ---- t-SNE of a trained run's embedding ------------------------------ */

static gboolean
tsne_done (gpointer data)
{
  PsEmbeddingView *view = data;
  return !ps_embedding_view_is_tsne_running (view) && ps_embedding_view_get_tsne_iteration (view) > 0;
}

static void
test_tsne (Fixture *f, gconstpointer data)
{
  if (ps_method_find ("mlp") == NULL)
    {
      g_test_skip ("no mlp method in this build");
      return;
    }
  finished_run (f);
  PsEmbeddingView *view = ps_window_get_embedding_view (f->window);
  PsScatterView *scatter = ps_embedding_view_get_scatter (view);
  g_assert_true (wait_for (scatter_drawn, scatter, 30));

  /* Asking for t-SNE on 2-D data switches to the model's embedding (the
   * data's own coordinates are never re-projected). */
  ps_embedding_view_set_tsne_iterations (view, 250);
  ps_embedding_view_set_projection (view, PS_PROJECTION_TSNE);
  g_assert_true (ps_embedding_view_is_tsne_running (view));
  g_assert_true (wait_for (tsne_done, view, 120));
  g_assert_cmpint (ps_scatter_view_get_projection (scatter), ==, PS_PROJECTION_TSNE);
  g_assert_cmpuint (ps_embedding_view_get_tsne_iteration (view), ==, 250);
  wait_painted (GTK_WIDGET (f->window));
  maybe_screenshot (GTK_WIDGET (f->window), "tsne.png");
}

/* ---- Export ---------------------------------------------------------------- */

static void
assert_file_starts (const char *path, const char *magic, gsize magic_len, gsize min_size)
{
  g_autofree char *contents = NULL;
  gsize len = 0;

  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  g_assert_cmpuint (len, >=, min_size);
  g_assert_cmpmem (contents, magic_len, magic, magic_len);
}

static void
test_export (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  if (ps_method_find ("mlp") == NULL)
    {
      g_test_skip ("no mlp method in this build");
      return;
    }
  finished_run (f);
  PsScatterView *scatter = ps_embedding_view_get_scatter (ps_window_get_embedding_view (f->window));
  g_assert_true (wait_for (scatter_drawn, scatter, 30));

  g_autofree char *png = g_build_filename (f->dir, "fig.png", NULL);
  g_autofree char *svg = g_build_filename (f->dir, "fig.svg", NULL);
  g_autofree char *pdf = g_build_filename (f->dir, "fig.pdf", NULL);
  g_autofree char *csv = g_build_filename (f->dir, "points.csv", NULL);
  g_autofree char *bad = g_build_filename (f->dir, "fig.bmp", NULL);

  g_assert_true (ps_window_export_figure (f->window, png, &error));
  g_assert_no_error (error);
  g_assert_true (ps_window_export_figure (f->window, svg, &error));
  g_assert_true (ps_window_export_figure (f->window, pdf, &error));
  assert_file_starts (png, "\x89PNG\r\n\x1a\n", 8, 1000);
  assert_file_starts (svg, "<?xml", 5, 1000);
  assert_file_starts (pdf, "%PDF", 4, 1000);
  g_assert_false (ps_window_export_figure (f->window, bad, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);

  /* The PNG is at twice the view's size and shows many colours: points of
   * two classes over decision regions, not a blank canvas. */
  g_autoptr (GdkTexture) tex = gdk_texture_new_from_filename (png, &error);
  g_assert_no_error (error);
  int w = gdk_texture_get_width (tex), h = gdk_texture_get_height (tex);
  g_assert_cmpint (w, ==, 2 * MAX (gtk_widget_get_width (GTK_WIDGET (scatter)), 640));
  g_assert_cmpint (h, ==, 2 * MAX (gtk_widget_get_height (GTK_WIDGET (scatter)), 480));
  g_autofree guint32 *px = g_new (guint32, (gsize) w * h);
  gdk_texture_download (tex, (guchar *) px, w * 4);
  g_autoptr (GHashTable) colours = g_hash_table_new (NULL, NULL);
  for (int i = 0; i < w * h; i += 7)
    g_hash_table_add (colours, GUINT_TO_POINTER (px[i]));
  g_assert_cmpuint (g_hash_table_size (colours), >, 50);

  /* The widget itself, rendered offscreen with the cairo renderer, draws
   * the same kind of picture. */
  GdkPaintable *paintable = gtk_widget_paintable_new (GTK_WIDGET (scatter));
  GtkSnapshot *snap = gtk_snapshot_new ();
  int sw = gtk_widget_get_width (GTK_WIDGET (scatter)), sh = gtk_widget_get_height (GTK_WIDGET (scatter));
  gdk_paintable_snapshot (paintable, snap, sw, sh);
  g_autoptr (GskRenderNode) node = gtk_snapshot_free_to_node (snap);
  g_assert_nonnull (node);
  GskRenderer *renderer = gtk_native_get_renderer (GTK_NATIVE (f->window));
  g_autoptr (GdkTexture) shot = gsk_renderer_render_texture (renderer, node, NULL);
  int tw = gdk_texture_get_width (shot), th = gdk_texture_get_height (shot);
  g_autofree guint32 *spx = g_new (guint32, (gsize) tw * th);
  gdk_texture_download (shot, (guchar *) spx, tw * 4);
  g_hash_table_remove_all (colours);
  for (int i = 0; i < tw * th; i += 3)
    g_hash_table_add (colours, GUINT_TO_POINTER (spx[i]));
  g_assert_cmpuint (g_hash_table_size (colours), >, 50);
  g_object_unref (paintable);

  /* The points as CSV: a header and one row per point. */
  g_assert_true (ps_embedding_view_export_csv (ps_window_get_embedding_view (f->window), csv, &error));
  g_assert_no_error (error);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (csv, &text, NULL, NULL));
  g_assert_true (g_str_has_prefix (text, "x,y"));
  g_auto (GStrv) lines = g_strsplit (g_strstrip (text), "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, ps_scatter_view_get_n_points (scatter) + 1);
}


/* ---- OOD and diffusion views ------------------------------------------- */

/* Submits `method` on `dataset` with "key=value" settings and waits until
 * the run has finished; returns its id. */
static gint64
finished_method_run (Fixture *f, const char *method, const char *dataset,
                     const char *const *settings)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PsRunRequest) req = g_new0 (PsRunRequest, 1);

  req->method = ps_method_find (method);
  g_assert_nonnull (req->method);
  req->params = ps_method_default_params (req->method);
  for (guint i = 0; settings && settings[i]; i++)
    {
      g_auto (GStrv) kv = g_strsplit (settings[i], "=", 2);
      g_assert_true (ps_params_set (req->params, kv[0], kv[1], &error));
      g_assert_no_error (error);
    }
  req->dataset = ps_run_request_load_dataset (dataset, 0, -1, NULL, NULL, &req->dataset_name, &error);
  g_assert_no_error (error);
  req->n_seeds = 1;
  req->seed = 1;
  req->name = g_strdup (method);
  req->snapshot_every = 0;
  req->eval_every = 0;
  gint64 run = ps_window_submit (f->window, req, &error);
  g_assert_no_error (error);
  g_assert_cmpint (run, >, 0);
  RunWatch w = { f->window, run, FALSE, NULL };
  g_assert_true (wait_for (run_finished, &w, 120));
  g_assert_cmpint (ps_window_get_current_run (f->window), ==, run);
  return run;
}

static double
percent_in (const char *text)
{
  const char *p = strpbrk (text, "0123456789");
  g_assert_nonnull (p);
  return g_ascii_strtod (p, NULL);
}

static void
test_ood_view (Fixture *f, gconstpointer data)
{
  if (ps_method_find ("palm") == NULL)
    {
      g_test_skip ("no palm method in this build");
      return;
    }
  const char *settings[] = { "ood_classes=7,8,9",
                             g_getenv ("PS_SCREENSHOT_DIR") ? "epochs=20" : "epochs=2", NULL };
  finished_method_run (f, "palm", "digits", settings);

  g_assert_true (ps_window_has_view (f->window, "ood"));
  g_assert_false (ps_window_has_view (f->window, "diffusion"));
  ps_window_set_view (f->window, "ood");
  PsOodView *ood = ps_window_get_ood_view (f->window);
  wait_painted (GTK_WIDGET (f->window));
  maybe_screenshot (GTK_WIDGET (f->window), "ood-view.png");

  /* The threshold starts where 95% of the ID rows are kept. */
  g_autofree char *start = g_strdup (ps_ood_view_get_tpr_text (ood));
  g_assert_true (g_str_has_prefix (start, "TPR"));
  g_assert_cmpfloat (fabs (percent_in (start) - 95), <, 1.5);

  /* Moving the threshold to the low end (where a drag to the plot's left
   * edge clamps it) keeps no ID row: the labels follow at once. */
  GtkWidget *hist = ps_ood_view_get_histogram (ood);
  double before = ps_ood_view_get_threshold (ood);
  ps_ood_view_set_threshold (ood, -G_MAXDOUBLE);
  g_assert_cmpfloat (ps_ood_view_get_threshold (ood), <, before);
  g_assert_cmpstr (ps_ood_view_get_tpr_text (ood), !=, start);
  g_assert_cmpfloat (percent_in (ps_ood_view_get_tpr_text (ood)), ==, 0);
  g_assert_cmpint (gtk_widget_get_width (hist), >, 0);

  /* PALM has prototypes and assignments: the health panel lists both checks. */
  g_assert_true (g_str_has_prefix (ps_ood_view_get_health_text (ood), "Duplicates"));
  g_assert_nonnull (strstr (ps_ood_view_get_health_text (ood), "Unused"));

  g_autofree char *png = g_build_filename (f->dir, "ood.png", NULL);
  g_autoptr (GError) error = NULL;
  g_assert_true (ps_window_export_figure (f->window, png, &error));
  g_assert_no_error (error);
  assert_file_starts (png, "\x89PNG\r\n\x1a\n", 8, 1000);
}


typedef struct
{
  PsWindow *window;
  gint64 run;
  double threshold;
} LiveWatch;

static gboolean
run_item_ended (PsWindow *window, gint64 run)
{
  PsRunItem *item = ps_run_list_find (ps_window_get_run_list (window), run, NULL);
  return item == NULL || !ps_window_status_is_live (ps_run_item_get_status (item));
}

static gboolean
ood_page_listed (gpointer data)
{
  LiveWatch *w = data;
  return ps_window_has_view (w->window, "ood") || run_item_ended (w->window, w->run);
}

static gboolean
ood_threshold_moved (gpointer data)
{
  LiveWatch *w = data;
  return ps_ood_view_get_threshold (ps_window_get_ood_view (w->window)) != w->threshold
         || run_item_ended (w->window, w->run);
}

/* While a PALM run trains, the OOD page follows its live snapshots (the
 * scores move, so the threshold at 95% of ID rows moves), at most once per
 * live tick (PS_LIVE_TICK_MS, 1 s). */
static void
test_ood_view_live (Fixture *f, gconstpointer data)
{
  if (ps_method_find ("palm") == NULL)
    {
      g_test_skip ("no palm method in this build");
      return;
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (PsRunRequest) req = g_new0 (PsRunRequest, 1);
  req->method = ps_method_find ("palm");
  req->params = ps_method_default_params (req->method);
  g_assert_true (ps_params_set (req->params, "ood_classes", "7,8,9", &error));
  g_assert_true (ps_params_set (req->params, "epochs", "300", &error));
  req->dataset = ps_run_request_load_dataset ("digits", 0, -1, NULL, NULL, &req->dataset_name, &error);
  g_assert_no_error (error);
  req->n_seeds = 1;
  req->seed = 1;
  req->name = g_strdup ("palm-live");
  req->snapshot_every = 4;
  gint64 t0 = g_get_monotonic_time ();
  gint64 run = ps_window_submit (f->window, req, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ps_window_get_current_run (f->window), ==, run);

  LiveWatch w = { f->window, run, 0 };
  g_assert_true (wait_for (ood_page_listed, &w, 60));
  g_assert_false (run_item_ended (f->window, run));
  ps_window_set_view (f->window, "ood");
  w.threshold = ps_ood_view_get_threshold (ps_window_get_ood_view (f->window));
  guint updates = ps_window_get_live_view_updates (f->window);
  g_assert_true (wait_for (ood_threshold_moved, &w, 60));
  /* It moved while the run was still training, by a live snapshot. */
  g_assert_false (run_item_ended (f->window, run));
  g_assert_cmpuint (ps_window_get_live_view_updates (f->window), >, updates);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (GTK_STACK (gtk_widget_get_parent (GTK_WIDGET (ps_window_get_ood_view (f->window))))), ==, "ood");
  /* Throttled: no more updates than one a second since the run began. */
  double elapsed = (g_get_monotonic_time () - t0) / 1e6;
  g_assert_cmpuint (ps_window_get_live_view_updates (f->window), <=, (guint) elapsed + 1);
}

static gboolean
frame_advanced (gpointer data)
{
  return ps_diffusion_view_get_frame (data) > 0;
}

static void
test_diffusion_view (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  if (ps_method_find ("ddpm") == NULL)
    {
      g_test_skip ("no ddpm method in this build");
      return;
    }
  /* A tiny model keeps the test fast; screenshots get a trained one. */
  gboolean shots = g_getenv ("PS_SCREENSHOT_DIR") != NULL;
  const char *quick[] = { "steps=200", "timesteps=40", "ddim_steps=10", "eval_samples=100",
                          "snapshot_samples=40", "hidden=32s-32s", NULL };
  const char *trained[] = { "steps=3000", "timesteps=100", "ddim_steps=25", "eval_samples=500", "eval_ddpm=true",
                            "snapshot_samples=200", NULL };
  finished_method_run (f, "ddpm", "ring", shots ? trained : quick);

  g_assert_true (ps_window_has_view (f->window, "diffusion"));
  g_assert_false (ps_window_has_view (f->window, "ood"));
  ps_window_set_view (f->window, "diffusion");
  PsDiffusionView *view = ps_window_get_diffusion_view (f->window);
  guint n = ps_diffusion_view_get_n_frames (view);
  /* The DDPM path is stored at every step or thinned (without eval_ddpm):
   * whatever was stored, the view has one frame per stored frame. */
  g_assert_cmpuint (n, >, 8);
  g_assert_cmpuint (ps_diffusion_view_get_frame (view), ==, 0);
  /* 10% of 40 samples, more only on ties. */
  g_assert_cmpuint (ps_diffusion_view_get_n_hallucinated (view), >=, shots ? 20 : 4);

  /* The scrubber moves the frame and its label. */
  g_autofree char *first = g_strdup (ps_diffusion_view_get_frame_text (view));
  gtk_range_set_value (ps_diffusion_view_get_scale (view), 7);
  g_assert_cmpuint (ps_diffusion_view_get_frame (view), ==, 7);
  g_assert_cmpstr (ps_diffusion_view_get_frame_text (view), !=, first);
  g_autofree char *expect = g_strdup_printf ("frame 7 / %u", n - 1);
  g_assert_true (g_str_has_prefix (ps_diffusion_view_get_frame_text (view), expect));

  /* Another sampler keeps the same share of the path. */
  g_assert_true (ps_diffusion_view_set_sampler (view, "_ddim"));
  guint nd = ps_diffusion_view_get_n_frames (view);
  g_assert_cmpuint (nd, ==, (shots ? 25 : 10) + 1);
  g_assert_cmpuint (ps_diffusion_view_get_frame (view), ==, (guint) lround (7.0 * (nd - 1) / (n - 1)));
  g_assert_true (ps_diffusion_view_set_sampler (view, ""));

  /* Playing advances the frame from a tick callback. */
  ps_diffusion_view_set_frame (view, 0);
  ps_diffusion_view_set_playing (view, TRUE);
  g_assert_true (wait_for (frame_advanced, view, 10));
  ps_diffusion_view_set_playing (view, FALSE);
  g_assert_false (ps_diffusion_view_get_playing (view));

  ps_diffusion_view_set_frame (view, n * 9 / 10);
  if (shots)
    ps_diffusion_view_set_side_by_side (view, TRUE, "_heun");
  wait_painted (GTK_WIDGET (f->window));
  maybe_screenshot (GTK_WIDGET (f->window), "diffusion-view.png");
  ps_diffusion_view_set_side_by_side (view, FALSE, NULL);

  /* The window's export writes the current frame; the frames export one
   * numbered PNG per frame. */
  g_autofree char *png = g_build_filename (f->dir, "frame.svg", NULL);
  g_assert_true (ps_window_export_figure (f->window, png, &error));
  g_assert_no_error (error);
  assert_file_starts (png, "<?xml", 5, 1000);
  g_autofree char *frames = g_build_filename (f->dir, "frames", NULL);
  guint written = 0;
  gint64 t0 = g_get_monotonic_time ();
  g_assert_true (ps_diffusion_view_export_frames (view, frames, 320, 240, &written, &error));
  g_test_message ("%u frames (figure, render, PNG) in %.1f ms each", written,
                  (g_get_monotonic_time () - t0) / 1e3 / MAX (written, 1));
  g_assert_no_error (error);
  g_assert_cmpuint (written, ==, n);
  g_autoptr (GDir) dir = g_dir_open (frames, 0, &error);
  g_assert_no_error (error);
  guint count = 0;
  const char *name;
  while ((name = g_dir_read_name (dir)))
    {
      g_autofree char *path = g_build_filename (frames, name, NULL);
      g_assert_true (g_str_has_prefix (name, "frame-") && g_str_has_suffix (name, ".png"));
      assert_file_starts (path, "\x89PNG\r\n\x1a\n", 8, 500);
      count++;
    }
  g_assert_cmpuint (count, ==, n);
  g_autofree char *last_name = g_strdup_printf ("frame-%04u.png", n - 1);
  g_autofree char *last = g_build_filename (frames, last_name, NULL);
  g_assert_true (g_file_test (last, G_FILE_TEST_EXISTS));
  remove_tree (frames);
}

int
main (int argc, char **argv)
{
  if (!ui_test_init (&argc, &argv))
    return 0;
  /* Screenshots catch no stack transition half way. */
  if (g_getenv ("PS_SCREENSHOT_DIR"))
    g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);

  g_test_add ("/ui/window/new-run-flow", Fixture, NULL, fixture_setup, test_new_run_flow, fixture_teardown);
  g_test_add ("/ui/window/select-explains", Fixture, NULL, fixture_setup, test_select_explains, fixture_teardown);
  g_test_add ("/ui/window/model-explains", Fixture, NULL, fixture_setup, test_model_explains, fixture_teardown);
  g_test_add ("/ui/window/bad-npy", Fixture, NULL, fixture_setup, test_bad_npy, fixture_teardown);
  g_test_add ("/ui/window/cli-shares-store", Fixture, NULL, fixture_setup, test_cli_shares_store, fixture_teardown);
  g_test_add ("/ui/window/run-list-resorts", Fixture, NULL, fixture_setup, test_run_list_resorts, fixture_teardown);
  g_test_add ("/ui/window/delete-undo", Fixture, NULL, fixture_setup, test_delete_undo, fixture_teardown);
  g_test_add ("/ui/window/compare-seeds", Fixture, NULL, fixture_setup, test_compare_seeds, fixture_teardown);
  g_test_add ("/ui/window/tsne", Fixture, NULL, fixture_setup, test_tsne, fixture_teardown);
  g_test_add ("/ui/window/export", Fixture, NULL, fixture_setup, test_export, fixture_teardown);
  g_test_add ("/ui/window/ood-view", Fixture, NULL, fixture_setup, test_ood_view, fixture_teardown);
  g_test_add ("/ui/window/ood-view-live", Fixture, NULL, fixture_setup, test_ood_view_live, fixture_teardown);
  g_test_add ("/ui/window/diffusion-view", Fixture, NULL, fixture_setup, test_diffusion_view, fixture_teardown);
  return g_test_run ();
}
