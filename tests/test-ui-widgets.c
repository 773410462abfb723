/* test-ui-widgets.c: every widget of the window is created, used a little
 * and finalized without leaks (g_assert_finalize_object). */
#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <math.h>
#include <string.h>

#include "ui-test-util.h"
#include "ps-application.h"
#include "ps-compare-view.h"
#include "ps-diffusion-view.h"
#include "ps-ood-view.h"
#include "ps-embedding-view.h"
#include "ps-new-run-dialog.h"
#include "ps-overview-view.h"
#include "ps-run-item.h"
#include "ps-run-list.h"
#include "ps-scatter-view.h"
#include "ps-window.h"

static PsRunInfo
fake_info (gint64 id, const char *name, PsRunStatus status)
{
  PsRunInfo info = { 0 };

  info.id = id;
  info.name = (char *) name;
  info.method = (char *) "mlp";
  info.dataset = (char *) "moons";
  info.status = status;
  info.created = 1.7e9;
  info.tags = (char *) "baseline";
  return info;
}

static void
count_cb (guint *counter)
{
  (*counter)++;
}

static void
test_run_item (void)
{
  PsRunInfo info = fake_info (7, "alpha", PS_RUN_RUNNING);
  PsRunItem *item = ps_run_item_new (&info);
  guint notified = 0;

  g_signal_connect_swapped (item, "notify::progress", G_CALLBACK (count_cb), &notified);
  g_assert_cmpint (ps_run_item_get_id (item), ==, 7);
  g_assert_cmpstr (ps_run_item_get_name (item), ==, "alpha");
  g_assert_true (isnan (ps_run_item_get_key_metric (item)));
  ps_run_item_set_progress (item, 0.5);
  ps_run_item_set_progress (item, 0.5);   /* no change, no notify */
  g_assert_cmpuint (notified, ==, 1);
  g_autofree char *status = ps_run_item_describe_status (item);
  g_assert_cmpstr (status, ==, "Running 50%");
  g_assert_true (ps_run_item_matches (item, "ALPHA mlp"));
  g_assert_true (ps_run_item_matches (item, "baseline"));
  g_assert_false (ps_run_item_matches (item, "alpha digits"));
  g_assert_finalize_object (item);
}

static void
test_run_list (void)
{
  GtkWidget *list = ps_run_list_new ();
  GtkWidget *window = gtk_window_new ();
  GListStore *model;

  g_object_ref_sink (list);
  gtk_window_set_child (GTK_WINDOW (window), list);
  model = ps_run_list_get_model (PS_RUN_LIST (list));
  for (int i = 0; i < 3; i++)
    {
      g_autofree char *name = g_strdup_printf ("run-%d", i);
      PsRunInfo info = fake_info (i + 1, name, PS_RUN_FINISHED);
      if (i == 2)
        info.dataset = (char *) "digits";
      g_autoptr (PsRunItem) item = ps_run_item_new (&info);
      g_list_store_append (model, item);
    }
  gtk_window_present (GTK_WINDOW (window));
  drain ();

  g_assert_cmpuint (ps_run_list_get_n_visible (PS_RUN_LIST (list)), ==, 3);
  ps_run_list_set_filter_text (PS_RUN_LIST (list), "digits");
  g_assert_cmpuint (ps_run_list_get_n_visible (PS_RUN_LIST (list)), ==, 1);
  ps_run_list_set_filter_text (PS_RUN_LIST (list), "");
  ps_run_list_select_run (PS_RUN_LIST (list), 2);
  g_autoptr (GPtrArray) sel = ps_run_list_get_selected (PS_RUN_LIST (list));
  g_assert_cmpuint (sel->len, ==, 1);
  g_assert_cmpint (ps_run_item_get_id (g_ptr_array_index (sel, 0)), ==, 2);

  /* A live status change reaches the row's text without a rebind. */
  PsRunItem *item = ps_run_list_find (PS_RUN_LIST (list), 3, NULL);
  g_assert_nonnull (item);
  ps_run_item_set_status (item, PS_RUN_RUNNING);
  ps_run_item_set_progress (item, 0.25);
  g_autofree char *text = ps_run_list_get_status_text (PS_RUN_LIST (list), 3);
  g_assert_cmpstr (text, ==, "Running 25%");

  gtk_window_destroy (GTK_WINDOW (window));
  drain ();
  g_clear_pointer (&sel, g_ptr_array_unref);
  g_assert_finalize_object (list);
}

static GPtrArray *
moons_like_snapshot (gsize n, gboolean with_field, guint emb_dim)
{
  GPtrArray *arrays = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  g_autofree float *pts = g_new (float, n * 2);
  g_autofree float *emb = g_new (float, n * emb_dim);
  g_autofree gint32 *lab = g_new (gint32, n);
  g_autofree gint32 *pred = g_new (gint32, n);
  g_autofree float *conf = g_new (float, n);

  for (gsize i = 0; i < n; i++)
    {
      double t = M_PI * i / n;
      lab[i] = i % 2;
      pts[2 * i] = lab[i] ? 1 - cos (t) : cos (t);
      pts[2 * i + 1] = lab[i] ? 0.5 - sin (t) : sin (t);
      for (guint j = 0; j < emb_dim; j++)
        emb[i * emb_dim + j] = pts[2 * i + (j % 2)] * (1 + j) + 0.01f * j;
      pred[i] = i % 7 == 0 ? 1 - lab[i] : lab[i];
      conf[i] = 0.5f + 0.5f * (float) i / n;
    }
  if (with_field)
    g_ptr_array_add (arrays, ps_array_new_f32 ("points", pts, n, 2));
  g_ptr_array_add (arrays, ps_array_new_f32 ("embedding", emb, n, emb_dim));
  g_ptr_array_add (arrays, ps_array_new_i32 ("labels", lab, n));
  g_ptr_array_add (arrays, ps_array_new_i32 ("predictions", pred, n));
  gsize shape1[1] = { n };
  g_ptr_array_add (arrays, ps_array_new ("confidence", PS_DTYPE_F32, 1, shape1, conf));
  if (with_field)
    {
      const gsize G = 16;
      g_autofree float *field = g_new (float, G * G * 2);
      for (gsize i = 0; i < G * G; i++)
        {
          field[2 * i] = (float) (i % G) / G;
          field[2 * i + 1] = 1 - field[2 * i];
        }
      gsize fshape[3] = { G, G, 2 };
      g_ptr_array_add (arrays, ps_array_new ("decision_field", PS_DTYPE_F32, 3, fshape, field));
      float ext[4] = { -1.5f, 2.5f, -1, 1.5f };
      gsize eshape[1] = { 4 };
      g_ptr_array_add (arrays, ps_array_new ("field_extent", PS_DTYPE_F32, 1, eshape, ext));
    }
  return arrays;
}

static gboolean
texture_built (gpointer data)
{
  return ps_scatter_view_get_texture_builds (PS_SCATTER_VIEW (data)) > 0;
}

static guint rebuilt_threshold;

static gboolean
texture_rebuilt_again (gpointer data)
{
  return ps_scatter_view_get_texture_builds (PS_SCATTER_VIEW (data)) > rebuilt_threshold;
}

static void
test_scatter_view (void)
{
  GtkWidget *scatter = ps_scatter_view_new ();
  GtkWidget *window = gtk_window_new ();
  g_autoptr (GPtrArray) arrays = moons_like_snapshot (400, TRUE, 8);
  g_autoptr (GError) error = NULL;

  g_object_ref_sink (scatter);
  gtk_window_set_default_size (GTK_WINDOW (window), 640, 480);
  gtk_window_set_child (GTK_WINDOW (window), scatter);
  g_assert_true (ps_scatter_view_set_snapshot (PS_SCATTER_VIEW (scatter), arrays, FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ps_scatter_view_get_n_points (PS_SCATTER_VIEW (scatter)), ==, 400);
  /* 2-D points are drawn as they are, never projected. */
  g_assert_false (ps_scatter_view_is_projected (PS_SCATTER_VIEW (scatter)));
  g_assert_cmpfloat (ps_scatter_view_get_x (PS_SCATTER_VIEW (scatter))[3], ==,
                     ((const float *) ps_array_data (g_ptr_array_index (arrays, 0), NULL))[6]);

  gtk_window_present (GTK_WINDOW (window));
  g_assert_true (wait_for (texture_built, scatter, 20));
  guint builds = ps_scatter_view_get_texture_builds (PS_SCATTER_VIEW (scatter));

  /* Clicking on a point selects it. */
  double px, py;
  g_assert_true (ps_scatter_view_point_to_widget (PS_SCATTER_VIEW (scatter), 10, &px, &py));
  gssize hit = ps_scatter_view_select_at (PS_SCATTER_VIEW (scatter), px, py);
  g_assert_cmpint (hit, >=, 0);
  gsize n_sel = 0;
  const guint32 *sel = ps_scatter_view_get_selection (PS_SCATTER_VIEW (scatter), &n_sel);
  g_assert_cmpuint (n_sel, ==, 1);
  g_assert_cmpuint (sel[0], ==, (guint32) hit);

  /* The selection dims the other points: one rebuild.  A redraw without
   * a data or view change (a hover) reuses the texture; a zoom rebuilds. */
  wait_painted (scatter);
  guint after_select = ps_scatter_view_get_texture_builds (PS_SCATTER_VIEW (scatter));
  g_assert_cmpuint (after_select, ==, builds + 1);
  wait_painted (scatter);
  g_assert_cmpuint (ps_scatter_view_get_texture_builds (PS_SCATTER_VIEW (scatter)), ==, after_select);
  ps_scatter_view_zoom (PS_SCATTER_VIEW (scatter), 2.0);
  wait_painted (scatter);
  g_assert_cmpuint (ps_scatter_view_get_texture_builds (PS_SCATTER_VIEW (scatter)), ==, after_select + 1);

  /* A pan shifts the cached points at once (no new rasterisation, the
   * point moves by the pan) and draws them again once it settles. */
  guint after_zoom = after_select + 1;
  rebuilt_threshold = after_zoom;
  double bx, by, ax, ay;
  g_assert_true (ps_scatter_view_point_to_widget (PS_SCATTER_VIEW (scatter), 10, &bx, &by));
  ps_scatter_view_pan (PS_SCATTER_VIEW (scatter), 12, 0);
  wait_painted (scatter);
  g_assert_cmpuint (ps_scatter_view_get_texture_builds (PS_SCATTER_VIEW (scatter)), ==, after_zoom);
  g_assert_true (ps_scatter_view_point_to_widget (PS_SCATTER_VIEW (scatter), 10, &ax, &ay));
  g_assert_cmpfloat (fabs (ax - bx - 12), <, 0.5);
  g_assert_cmpfloat (fabs (ay - by), <, 0.5);
  g_assert_true (wait_for (texture_rebuilt_again, scatter, 10));

  /* A higher-dimensional embedding alone is projected by PCA. */
  g_autoptr (GPtrArray) emb_only = moons_like_snapshot (200, FALSE, 12);
  g_assert_true (ps_scatter_view_set_snapshot (PS_SCATTER_VIEW (scatter), emb_only, FALSE, &error));
  g_assert_true (ps_scatter_view_is_projected (PS_SCATTER_VIEW (scatter)));
  g_autoptr (PsFigure) fig = ps_scatter_view_build_figure (PS_SCATTER_VIEW (scatter), "t");
  g_assert_nonnull (fig);

  /* Nothing to draw is an error, not a crash. */
  g_autoptr (GPtrArray) empty = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  g_assert_false (ps_scatter_view_set_snapshot (PS_SCATTER_VIEW (scatter), empty, FALSE, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_NOT_FOUND);

  gtk_window_destroy (GTK_WINDOW (window));
  drain ();
  g_assert_finalize_object (scatter);
}

/* The scatter as it paints now, downloaded: B, G, R, A bytes. */
static guint8 *
render_pixels (GtkWidget *widget, int *w_out, int *h_out)
{
  int w = gtk_widget_get_width (widget), h = gtk_widget_get_height (widget);
  g_autoptr (GdkPaintable) paintable = gtk_widget_paintable_new (widget);
  GtkSnapshot *snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (paintable, snapshot, w, h);
  g_autoptr (GskRenderNode) node = gtk_snapshot_free_to_node (snapshot);
  g_assert_nonnull (node);
  GskRenderer *renderer = gtk_native_get_renderer (gtk_widget_get_native (widget));
  g_autoptr (GdkTexture) texture = gsk_renderer_render_texture (renderer, node, &GRAPHENE_RECT_INIT (0, 0, w, h));
  guint8 *px = g_malloc ((gsize) w * h * 4);
  gdk_texture_download (texture, px, (gsize) w * 4);
  *w_out = w;
  *h_out = h;
  return px;
}

/* How far the pixel at `f` of the way from (ax, ay) to (bx, by) is from
 * the one 5 pixels beside it (across the line): the line's ink. */
static int
line_ink (const guint8 *px, int w, int h, double ax, double ay, double bx, double by, double f)
{
  double x = ax + f * (bx - ax), y = ay + f * (by - ay);
  double len = hypot (bx - ax, by - ay);
  double nx = -(by - ay) / len, ny = (bx - ax) / len;
  int i = (int) round (x), j = (int) round (y);
  int i2 = (int) round (x + 5 * nx), j2 = (int) round (y + 5 * ny);
  g_assert_true (i >= 0 && i < w && j >= 0 && j < h && i2 >= 0 && i2 < w && j2 >= 0 && j2 < h);
  int ink = 0;
  for (int c = 0; c < 3; c++)
    ink = MAX (ink, abs (px[4 * (j * w + i) + c] - px[4 * (j2 * w + i2) + c]));
  return ink;
}

/* With one point selected, lines join it to the prototypes, as opaque as
 * its soft assignment to each (the snapshot's `assignments`); without
 * them the view approximates the weights from the geometry. */
static void
test_scatter_prototype_lines (void)
{
  GtkWidget *scatter = ps_scatter_view_new ();
  GtkWidget *window = gtk_window_new ();
  g_autoptr (GPtrArray) arrays = moons_like_snapshot (400, FALSE, 2);
  g_autoptr (GError) error = NULL;
  const gsize n = 400, k = 3;
  /* Prototypes beside the moons (the embedding is (x, 2y)). */
  float protos[6] = { -1.0f, 1.0f, 2.0f, 1.0f, -1.0f, -0.5f };
  g_autofree float *assign = g_new (float, n * k);
  for (gsize i = 0; i < n; i++)
    {
      assign[i * k] = 0.75f;
      assign[i * k + 1] = 0.25f;
      assign[i * k + 2] = 0.0f;
    }
  g_ptr_array_add (arrays, ps_array_new_f32 ("prototypes", protos, k, 2));
  g_ptr_array_add (arrays, ps_array_new_f32 ("assignments", assign, n, k));

  g_object_ref_sink (scatter);
  gtk_window_set_default_size (GTK_WINDOW (window), 640, 480);
  gtk_window_set_child (GTK_WINDOW (window), scatter);
  g_assert_true (ps_scatter_view_set_snapshot (PS_SCATTER_VIEW (scatter), arrays, FALSE, &error));
  g_assert_no_error (error);
  gtk_window_present (GTK_WINDOW (window));
  g_assert_true (wait_for (texture_built, scatter, 20));

  /* Nothing selected: no lines. */
  g_assert_cmpuint (ps_scatter_view_get_prototype_lines (PS_SCATTER_VIEW (scatter), NULL, NULL), ==, 0);

  /* The top of the first moon, (0, 1). */
  guint32 sel = 200;
  ps_scatter_view_select (PS_SCATTER_VIEW (scatter), &sel, 1);
  wait_painted (scatter);
  float w[3];
  gboolean approx = TRUE;
  g_assert_cmpuint (ps_scatter_view_get_prototype_lines (PS_SCATTER_VIEW (scatter), w, &approx), ==, 2);
  g_assert_false (approx);
  g_assert_cmpfloat (w[0], ==, 0.75f);
  g_assert_cmpfloat (w[1], ==, 0.25f);
  g_assert_cmpfloat (w[2], ==, 0.0f);

  /* On screen: the 0.75 line is darker than the 0.25 one; the third
   * prototype (weight 0) has none. */
  double sx, sy, p[6];
  g_assert_true (ps_scatter_view_point_to_widget (PS_SCATTER_VIEW (scatter), sel, &sx, &sy));
  for (gsize j = 0; j < k; j++)
    g_assert_true (ps_scatter_view_prototype_to_widget (PS_SCATTER_VIEW (scatter), j, &p[2 * j], &p[2 * j + 1]));
  int pw, ph;
  g_autofree guint8 *px = render_pixels (scatter, &pw, &ph);
  int ink0 = line_ink (px, pw, ph, sx, sy, p[0], p[1], 0.8);
  int ink1 = line_ink (px, pw, ph, sx, sy, p[2], p[3], 0.8);
  int ink2 = line_ink (px, pw, ph, sx, sy, p[4], p[5], 0.5);
  g_test_message ("line ink: %d %d %d", ink0, ink1, ink2);
  g_assert_cmpint (ink0, >, ink1 + 20);
  g_assert_cmpint (ink1, >, 15);
  g_assert_cmpint (ink2, <, 8);

  /* Two points selected: no lines. */
  guint32 two[2] = { 10, 200 };
  ps_scatter_view_select (PS_SCATTER_VIEW (scatter), two, 2);
  g_assert_cmpuint (ps_scatter_view_get_prototype_lines (PS_SCATTER_VIEW (scatter), NULL, NULL), ==, 0);

  /* Without `assignments` the weights are approximated: they sum to one
   * and the nearest prototype weighs most. */
  g_ptr_array_remove_index (arrays, arrays->len - 1);
  g_assert_true (ps_scatter_view_set_snapshot (PS_SCATTER_VIEW (scatter), arrays, FALSE, &error));
  ps_scatter_view_select (PS_SCATTER_VIEW (scatter), &sel, 1);
  g_assert_cmpuint (ps_scatter_view_get_prototype_lines (PS_SCATTER_VIEW (scatter), w, &approx), >=, 1);
  g_assert_true (approx);
  g_assert_cmpfloat (fabs (w[0] + w[1] + w[2] - 1), <, 1e-5);
  g_assert_cmpfloat (w[0], >, w[1]);
  g_assert_cmpfloat (w[0], >, w[2]);

  gtk_window_destroy (GTK_WINDOW (window));
  drain ();
  g_assert_finalize_object (scatter);
}

static void
test_overview_view (void)
{
  GtkWidget *view = ps_overview_view_new ();

  g_object_ref_sink (view);
  g_assert_null (ps_overview_view_build_figure (PS_OVERVIEW_VIEW (view)));
  ps_overview_view_set_run (PS_OVERVIEW_VIEW (view), NULL, 0);
  g_assert_cmpint (ps_overview_view_get_run (PS_OVERVIEW_VIEW (view)), ==, 0);
  g_assert_finalize_object (view);
}

static void
test_compare_view (void)
{
  GtkWidget *view = ps_compare_view_new ();

  g_object_ref_sink (view);
  ps_compare_view_set_runs (PS_COMPARE_VIEW (view), NULL, NULL, 0);
  g_assert_cmpuint (ps_compare_view_get_n_groups (PS_COMPARE_VIEW (view)), ==, 0);
  g_assert_null (ps_compare_view_build_figure (PS_COMPARE_VIEW (view)));
  g_assert_finalize_object (view);
}

static void
test_embedding_view (void)
{
  GtkWidget *view = ps_embedding_view_new ();
  g_autoptr (GPtrArray) arrays = moons_like_snapshot (300, TRUE, 4);

  g_object_ref_sink (view);
  /* Live snapshots of another run are ignored. */
  ps_embedding_view_add_snapshot (PS_EMBEDDING_VIEW (view), 5, 10, arrays);
  g_assert_cmpint (ps_embedding_view_get_step (PS_EMBEDDING_VIEW (view)), ==, -1);
  g_assert_null (ps_embedding_view_build_figure (PS_EMBEDDING_VIEW (view)));
  g_assert_finalize_object (view);
}

static gboolean
tsne_reported (gpointer data)
{
  return ps_embedding_view_get_tsne_iteration (PS_EMBEDDING_VIEW (data)) > 0;
}

static gboolean
tsne_finished (gpointer data)
{
  return !ps_embedding_view_is_tsne_running (PS_EMBEDDING_VIEW (data));
}

/* A store in a temporary directory with one run holding `arrays` at step 1. */
static PsStore *
store_with_snapshot (GPtrArray *arrays, char **dir_out, gint64 *run_out)
{
  g_autoptr (GError) error = NULL;
  *dir_out = g_dir_make_tmp ("ps-ui-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *path = g_build_filename (*dir_out, "runs.sqlite", NULL);
  PsStore *store = ps_store_open (path, &error);
  g_assert_no_error (error);
  *run_out = ps_store_create_run (store, "emb", "mlp", "moons", "{}", 0, &error);
  g_assert_no_error (error);
  g_assert_true (ps_store_add_artifacts (store, *run_out, 1, arrays, &error));
  return store;
}

static void
remove_store (PsStore *store, char *dir)
{
  g_autofree char *path = g_strdup (ps_store_path (store));
  ps_store_close (store);
  g_remove (path);
  g_autofree char *wal = g_strconcat (path, "-wal", NULL), *shm = g_strconcat (path, "-shm", NULL);
  g_remove (wal);
  g_remove (shm);
  g_rmdir (dir);
  g_free (dir);
}

/* t-SNE in the embedding view: starts on a worker thread, reports layouts
 * that replace the PCA one, stops on request keeping the last layout, and
 * runs to the end when left alone.  2-D data are never re-projected. */
static void
test_embedding_tsne (void)
{
  g_autoptr (GPtrArray) arrays = moons_like_snapshot (400, FALSE, 8);
  char *dir = NULL;
  gint64 run = 0;
  PsStore *store = store_with_snapshot (arrays, &dir, &run);
  GtkWidget *window = gtk_window_new ();
  GtkWidget *view = ps_embedding_view_new ();
  PsEmbeddingView *ev = PS_EMBEDDING_VIEW (view);
  PsScatterView *scatter = ps_embedding_view_get_scatter (ev);

  gtk_window_set_default_size (GTK_WINDOW (window), 800, 600);
  gtk_window_set_child (GTK_WINDOW (window), view);
  gtk_window_present (GTK_WINDOW (window));
  ps_embedding_view_set_run (ev, store, run);
  g_assert_cmpint (ps_scatter_view_get_projection (scatter), ==, PS_PROJECTION_PCA);
  g_autofree float *pca_x = g_memdup2 (ps_scatter_view_get_x (scatter), 400 * sizeof (float));

  /* Start, see a first layout, stop: the layout stays, nothing changes after. */
  ps_embedding_view_set_tsne_iterations (ev, 300);
  ps_embedding_view_set_projection (ev, PS_PROJECTION_TSNE);
  g_assert_true (ps_embedding_view_is_tsne_running (ev));
  g_assert_true (wait_for (tsne_reported, view, 60));
  g_assert_cmpint (ps_scatter_view_get_projection (scatter), ==, PS_PROJECTION_TSNE);
  g_assert_true (memcmp (pca_x, ps_scatter_view_get_x (scatter), 400 * sizeof (float)) != 0);
  ps_embedding_view_cancel_tsne (ev);
  g_assert_false (ps_embedding_view_is_tsne_running (ev));
  guint stopped_at = ps_embedding_view_get_tsne_iteration (ev);
  g_autofree float *kept = g_memdup2 (ps_scatter_view_get_x (scatter), 400 * sizeof (float));
  /* Reports queued before the stop must be dropped. */
  gint64 until = g_get_monotonic_time () + G_USEC_PER_SEC / 2;
  while (g_get_monotonic_time () < until)
    g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (ps_embedding_view_get_tsne_iteration (ev), ==, stopped_at);
  g_assert_cmpmem (kept, 400 * sizeof (float), ps_scatter_view_get_x (scatter), 400 * sizeof (float));
  g_assert_cmpint (ps_scatter_view_get_projection (scatter), ==, PS_PROJECTION_TSNE);

  /* Back to PCA restores the projection; t-SNE again runs to the end. */
  ps_embedding_view_set_projection (ev, PS_PROJECTION_PCA);
  g_assert_cmpint (ps_scatter_view_get_projection (scatter), ==, PS_PROJECTION_PCA);
  g_assert_cmpmem (pca_x, 400 * sizeof (float), ps_scatter_view_get_x (scatter), 400 * sizeof (float));
  ps_embedding_view_set_projection (ev, PS_PROJECTION_TSNE);
  g_assert_true (wait_for (tsne_finished, view, 120));
  g_assert_cmpuint (ps_embedding_view_get_tsne_iteration (ev), ==, 300);
  wait_painted (view);

  /* A run whose embedding is 2-D is shown as is: no source to re-project. */
  g_autoptr (GPtrArray) flat = moons_like_snapshot (50, FALSE, 2);
  char *dir2 = NULL;
  gint64 run2 = 0;
  PsStore *store2 = store_with_snapshot (flat, &dir2, &run2);
  ps_embedding_view_set_run (ev, store2, run2);
  g_assert_false (ps_embedding_view_is_tsne_running (ev));
  g_assert_cmpint (ps_scatter_view_get_projection (scatter), ==, PS_PROJECTION_NONE);
  g_assert_null (ps_scatter_view_get_source (scatter, NULL));

  /* Destroying the view while a job runs drops its reports. */
  ps_embedding_view_set_run (ev, store, run);
  g_assert_true (ps_embedding_view_is_tsne_running (ev));
  gtk_window_destroy (GTK_WINDOW (window));
  drain ();
  remove_store (store, dir);
  remove_store (store2, dir2);
}


static PsArray *
u8_array (const char *kind, const guint8 *data, gsize n)
{
  gsize shape[1] = { n };
  return ps_array_new (kind, PS_DTYPE_U8, 1, shape, data);
}

/* Ten rows scored 0..9, the last five held out: every threshold's rates
 * are known by hand.  Prototypes 0 and 1 are the same vector and
 * component 2 gets no assignment mass. */
static GPtrArray *
ood_snapshot (void)
{
  GPtrArray *arrays = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  float points[20], scores[10], protos[6] = { 1, 0, 1, 0, 0, 1 }, assign[30] = { 0 };
  gint32 labels[10], plabels[3] = { 0, 0, 1 };
  guint8 ood[10];

  for (int i = 0; i < 10; i++)
    {
      points[2 * i] = i;
      points[2 * i + 1] = i % 3;
      scores[i] = i;
      labels[i] = i % 2;
      ood[i] = i >= 5;
      assign[3 * i + (i % 2)] = 1;
    }
  g_ptr_array_add (arrays, ps_array_new_f32 ("points", points, 10, 2));
  g_ptr_array_add (arrays, ps_array_new_i32 ("labels", labels, 10));
  g_ptr_array_add (arrays, ps_array_new_f32 ("scores", scores, 10, 1));
  g_ptr_array_add (arrays, u8_array ("score_name", (const guint8 *) "ood_proto", 9));
  g_ptr_array_add (arrays, u8_array ("ood", ood, 10));
  g_ptr_array_add (arrays, ps_array_new_f32 ("prototypes", protos, 3, 2));
  g_ptr_array_add (arrays, ps_array_new_i32 ("prototype_labels", plabels, 3));
  g_ptr_array_add (arrays, ps_array_new_f32 ("assignments", assign, 10, 3));
  return arrays;
}

static void
test_ood_view (void)
{
  GtkWidget *view = ps_ood_view_new ();
  PsOodView *ood = PS_OOD_VIEW (view);
  g_autoptr (GPtrArray) arrays = ood_snapshot ();
  g_autoptr (GPtrArray) empty = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);

  g_object_ref_sink (view);
  g_assert_false (ps_ood_view_set_snapshot (ood, NULL, 0, empty));
  g_assert_null (ps_ood_view_build_figure (ood));
  g_assert_true (ps_ood_view_supports (arrays));
  g_assert_true (ps_ood_view_set_snapshot (ood, NULL, 0, arrays));

  /* Scores below the threshold are kept as ID. */
  ps_ood_view_set_threshold (ood, 5);
  g_assert_cmpstr (ps_ood_view_get_tpr_text (ood), ==, "TPR (ID kept) 100.0%");
  ps_ood_view_set_threshold (ood, 3);
  g_assert_cmpstr (ps_ood_view_get_tpr_text (ood), ==, "TPR (ID kept) 60.0%");
  ps_ood_view_set_threshold (ood, 100);
  g_assert_cmpfloat (ps_ood_view_get_threshold (ood), ==, 9);

  const char *health = ps_ood_view_get_health_text (ood);
  g_assert_nonnull (strstr (health, "#0–#1"));
  g_assert_nonnull (strstr (health, "Unused (< 1% of the assignment mass): #2"));
  g_autoptr (PsFigure) fig = ps_ood_view_build_figure (ood);
  g_assert_nonnull (fig);
  g_assert_finalize_object (view);
}

static GPtrArray *
diffusion_snapshot (void)
{
  GPtrArray *arrays = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  const guint S = 3, F = 5, F2 = 3, K = 2, G = 4;
  float traj[3 * 5 * 2], traj2[3 * 3 * 2], t[5], t2[3], points[8], scores[3] = { 0.1f, 5, 0.2f };
  float field[2 * 4 * 4 * 2], ft[2] = { 1, 0.1f }, ext[4] = { -2, 2, -2, 2 };

  for (guint s = 0; s < S; s++)
    {
      for (guint f = 0; f < F; f++)
        {
          traj[(s * F + f) * 2] = (float) s - f * 0.1f;
          traj[(s * F + f) * 2 + 1] = (float) f * 0.2f;
        }
      for (guint f = 0; f < F2; f++)
        {
          traj2[(s * F2 + f) * 2] = (float) s;
          traj2[(s * F2 + f) * 2 + 1] = (float) f;
        }
    }
  for (guint f = 0; f < F; f++)
    t[f] = 1.0f - f * 0.2f;
  for (guint f = 0; f < F2; f++)
    t2[f] = 1.0f - f * 0.4f;
  for (guint i = 0; i < 8; i++)
    points[i] = i % 2 ? 1 : -1;
  for (guint i = 0; i < K * G * G * 2; i++)
    field[i] = (i % 2) ? 0.5f : -0.5f;
  gsize s3[3] = { S, F, 2 }, s3b[3] = { S, F2, 2 }, s4[4] = { K, G, G, 2 }, sk[1] = { K };
  gsize s1[1] = { 4 };
  g_ptr_array_add (arrays, ps_array_new ("trajectory", PS_DTYPE_F32, 3, s3, traj));
  g_ptr_array_add (arrays, ps_array_new_f32 ("trajectory_t", t, F, 1));
  g_ptr_array_add (arrays, ps_array_new ("trajectory_ddim", PS_DTYPE_F32, 3, s3b, traj2));
  g_ptr_array_add (arrays, ps_array_new_f32 ("trajectory_ddim_t", t2, F2, 1));
  g_ptr_array_add (arrays, ps_array_new_f32 ("points", points, 4, 2));
  g_ptr_array_add (arrays, ps_array_new_f32 ("scores", scores, 3, 1));
  g_ptr_array_add (arrays, u8_array ("score_name", (const guint8 *) "halluc_x0_var", 13));
  g_ptr_array_add (arrays, ps_array_new ("score_field", PS_DTYPE_F32, 4, s4, field));
  g_ptr_array_add (arrays, ps_array_new ("score_field_analytic", PS_DTYPE_F32, 4, s4, field));
  g_ptr_array_add (arrays, ps_array_new ("score_field_t", PS_DTYPE_F32, 1, sk, ft));
  g_ptr_array_add (arrays, ps_array_new ("field_extent", PS_DTYPE_F32, 1, s1, ext));
  return arrays;
}

static void
test_diffusion_view (void)
{
  GtkWidget *view = ps_diffusion_view_new ();
  PsDiffusionView *dv = PS_DIFFUSION_VIEW (view);
  g_autoptr (GPtrArray) arrays = diffusion_snapshot ();
  g_autoptr (GPtrArray) ood = ood_snapshot ();
  g_autoptr (GError) error = NULL;

  g_object_ref_sink (view);
  g_assert_false (ps_diffusion_view_supports (ood));
  g_assert_false (ps_diffusion_view_set_snapshot (dv, ood));
  g_assert_cmpuint (ps_diffusion_view_get_n_frames (dv), ==, 0);
  g_assert_null (ps_diffusion_view_build_figure (dv));

  g_assert_true (ps_diffusion_view_set_snapshot (dv, arrays));
  g_assert_cmpuint (ps_diffusion_view_get_n_frames (dv), ==, 5);
  g_assert_cmpuint (ps_diffusion_view_get_n_hallucinated (dv), ==, 1);
  ps_diffusion_view_set_frame (dv, 3);
  g_assert_cmpuint (ps_diffusion_view_get_frame (dv), ==, 3);
  g_assert_true (g_str_has_prefix (ps_diffusion_view_get_frame_text (dv), "frame 3 / 4"));
  ps_diffusion_view_set_frame (dv, 99);
  g_assert_cmpuint (ps_diffusion_view_get_frame (dv), ==, 4);

  /* DDIM has 3 frames: frame 4 of 5 is its last. */
  g_assert_true (ps_diffusion_view_set_sampler (dv, "_ddim"));
  g_assert_false (ps_diffusion_view_set_sampler (dv, "_heun"));
  g_assert_cmpuint (ps_diffusion_view_get_n_frames (dv), ==, 3);
  g_assert_cmpuint (ps_diffusion_view_get_frame (dv), ==, 2);
  ps_diffusion_view_set_side_by_side (dv, TRUE, "");
  g_autoptr (PsFigure) fig = ps_diffusion_view_build_figure (dv);
  g_assert_nonnull (fig);

  g_autofree char *dir = g_dir_make_tmp ("ps-frames-XXXXXX", &error);
  g_assert_no_error (error);
  guint written = 0;
  g_assert_true (ps_diffusion_view_export_frames (dv, dir, 160, 120, &written, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (written, ==, 3);
  for (guint f = 0; f < 3; f++)
    {
      g_autofree char *name = g_strdup_printf ("frame-%04u.png", f);
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
      g_remove (path);
    }
  g_rmdir (dir);
  ps_diffusion_view_clear (dv);
  g_assert_cmpuint (ps_diffusion_view_get_n_frames (dv), ==, 0);
  g_assert_finalize_object (view);
}

static void
test_new_run_dialog (void)
{
  PsNewRunDialog *dialog = ps_new_run_dialog_new (NULL);
  g_autoptr (GError) error = NULL;

  g_object_ref (dialog);
  g_assert_nonnull (ps_new_run_dialog_get_method (dialog));
  if (ps_method_find ("mlp") != NULL)
    {
      g_assert_true (ps_new_run_dialog_set_method (dialog, "mlp"));
      g_assert_cmpstr (ps_new_run_dialog_get_method (dialog)->id, ==, "mlp");
      g_assert_true (ps_new_run_dialog_set_param (dialog, "epochs", "2"));
      g_assert_false (ps_new_run_dialog_set_param (dialog, "no_such_param", "2"));
    }
  g_assert_false (ps_new_run_dialog_set_method (dialog, "no-such-method"));
  g_assert_false (ps_new_run_dialog_set_dataset (dialog, "no-such-data"));
  g_assert_true (ps_new_run_dialog_set_dataset (dialog, "blobs"));
  ps_new_run_dialog_set_generator (dialog, 200, 0.1);
  ps_new_run_dialog_set_seed (dialog, 3, 2);
  g_autoptr (PsRunRequest) req = ps_new_run_dialog_build_request (dialog, &error);
  g_assert_no_error (error);
  g_assert_nonnull (req);
  g_assert_cmpuint (req->dataset->n, ==, 200);
  g_assert_cmpstr (req->dataset_name, ==, "blobs:n=200,noise=0.1");
  g_assert_cmpuint (req->seed, ==, 3);
  g_assert_cmpuint (req->n_seeds, ==, 2);

  /* A file that does not exist is refused with its name in the message. */
  ps_new_run_dialog_set_dataset_file (dialog, "/nonexistent/x.npy", NULL, NULL);
  g_autoptr (PsRunRequest) bad = ps_new_run_dialog_build_request (dialog, &error);
  g_assert_null (bad);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (ps_new_run_dialog_get_error (dialog), "x.npy"));

  gtk_window_destroy (GTK_WINDOW (dialog));
  drain ();
  g_assert_finalize_object (dialog);
}

static void
test_window (void)
{
  PsWindow *window = ps_window_new (NULL, NULL);

  g_object_ref (window);
  g_assert_null (ps_window_get_error_text (window));
  ps_window_show_error (window, "Title", "detail");
  g_autofree char *text = ps_window_get_error_text (window);
  g_assert_cmpstr (text, ==, "Title\ndetail");
  gtk_window_destroy (GTK_WINDOW (window));
  drain ();
  g_assert_finalize_object (window);
}

int
main (int argc, char **argv)
{
  if (!ui_test_init (&argc, &argv))
    return 0;

  g_test_add_func ("/ui/widgets/run-item", test_run_item);
  g_test_add_func ("/ui/widgets/run-list", test_run_list);
  g_test_add_func ("/ui/widgets/scatter-view", test_scatter_view);
  g_test_add_func ("/ui/widgets/scatter-prototype-lines", test_scatter_prototype_lines);
  g_test_add_func ("/ui/widgets/overview-view", test_overview_view);
  g_test_add_func ("/ui/widgets/embedding-view", test_embedding_view);
  g_test_add_func ("/ui/widgets/embedding-tsne", test_embedding_tsne);
  g_test_add_func ("/ui/widgets/compare-view", test_compare_view);
  g_test_add_func ("/ui/widgets/new-run-dialog", test_new_run_dialog);
  g_test_add_func ("/ui/widgets/ood-view", test_ood_view);
  g_test_add_func ("/ui/widgets/diffusion-view", test_diffusion_view);
  g_test_add_func ("/ui/widgets/window", test_window);
  return g_test_run ();
}
