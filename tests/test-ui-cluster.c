/* test-ui-cluster.c: the category discovery view on a small gpc run trained
 * here (four 2-D blobs, two of them new): it is listed, draws one ellipse
 * pair per cluster and the K timeline, exports PNG/SVG/PDF, refuses a
 * snapshot without clusters, and is finalized without leaks. */
#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <math.h>
#include <string.h>

#include "ui-test-util.h"
#include "ps-application.h"
#include "ps-cluster-view.h"
#include "ps-dataset.h"
#include "ps-method.h"

/* The colour chooser, found in the widget tree. */
static GtkDropDown *
find_dropdown (GtkWidget *widget)
{
  if (GTK_IS_DROP_DOWN (widget))
    return GTK_DROP_DOWN (widget);
  for (GtkWidget *c = gtk_widget_get_first_child (widget); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkDropDown *d = find_dropdown (c);
      if (d)
        return d;
    }
  return NULL;
}

static void
test_gpc (void)
{
  g_autoptr (PsDataset) ds = generated_600 ("blobs");
  const char *sets[] = { "k_init=7", "iterations=15", NULL };
  g_autoptr (PsMetrics) mt = NULL;
  g_autoptr (GPtrArray) snap = train_snapshot ("gpc", ds, sets, &mt);
  double k_est, all, old_acc, new_acc, a, o, nw;
  g_assert_true (ps_metrics_get (mt, "k_est", &k_est));
  g_assert_true (ps_metrics_get (mt, "acc_all", &all));
  g_assert_true (ps_metrics_get (mt, "acc_old", &old_acc));
  g_assert_true (ps_metrics_get (mt, "acc_new", &new_acc));

  GtkWidget *window = gtk_window_new ();
  GtkWidget *view = ps_cluster_view_new ();
  PsClusterView *cv = PS_CLUSTER_VIEW (view);
  gtk_window_set_default_size (GTK_WINDOW (window), 1200, 800);
  gtk_window_set_child (GTK_WINDOW (window), view);
  g_object_ref (view);

  gint64 t0 = g_get_monotonic_time ();
  g_assert_true (ps_cluster_view_set_snapshot (cv, NULL, 1, snap));
  double ms = (g_get_monotonic_time () - t0) / 1000.0;
  g_test_message ("gpc on blobs: K = %.0f, set_snapshot %.1f ms for %u rows", k_est, ms, ds->n);

  /* One ellipse pair per component, all of them holding rows here. */
  g_assert_cmpuint (ps_cluster_view_get_n_ellipses (cv), ==, (guint) k_est);
  gsize n_k;
  const gint32 *kh = ps_cluster_view_get_k_history (cv, &n_k);
  g_assert_cmpuint (n_k, ==, 15);
  g_assert_cmpint (kh[n_k - 1], ==, (gint32) k_est);
  /* The view's accuracy on the test rows is evaluate's. */
  g_assert_true (ps_cluster_view_get_accuracy (cv, &a, &o, &nw));
  g_assert_cmpfloat (fabs (a - all), <, 1e-9);
  g_assert_cmpfloat (fabs (o - old_acc), <, 1e-9);
  g_assert_cmpfloat (fabs (nw - new_acc), <, 1e-9);
  g_assert_cmpfloat (a, >, 0.8);

  gtk_window_present (GTK_WINDOW (window));
  wait_painted (view);
  /* A newer snapshot of the same run keeps working (live updates). */
  g_assert_true (ps_cluster_view_set_snapshot (cv, NULL, 1, snap));
  wait_painted (view);
  /* Each colour mode redraws the same points and ellipses. */
  GtkDropDown *colors = find_dropdown (view);
  g_assert_nonnull (colors);
  for (guint mode = 1; mode <= 3; mode++)
    {
      gtk_drop_down_set_selected (colors, mode % 3);
      wait_painted (view);
      g_assert_cmpuint (ps_cluster_view_get_n_ellipses (cv), ==, (guint) k_est);
    }

  g_autofree char *dir = g_dir_make_tmp ("ps-cluster-XXXXXX", NULL);
  g_autofree char *png = g_build_filename (dir, "c.png", NULL);
  g_autofree char *svg = g_build_filename (dir, "c.svg", NULL);
  g_autofree char *pdf = g_build_filename (dir, "c.pdf", NULL);
  g_autofree char *bad = g_build_filename (dir, "c.bmp", NULL);
  g_autoptr (GError) error = NULL;
  g_assert_true (ps_cluster_view_export (cv, png, 1, &error));
  g_assert_no_error (error);
  check_file (png, "\x89PNG\r\n\x1a\n", 20000);
  g_assert_true (ps_cluster_view_export (cv, svg, 1, &error));
  check_file (svg, "<?xml", 20000);
  g_assert_true (ps_cluster_view_export (cv, pdf, 1, &error));
  check_file (pdf, "%PDF", 5000);
  g_assert_false (ps_cluster_view_export (cv, bad, 1, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_UNSUPPORTED);
  g_clear_error (&error);
  /* PNG size follows the scale: 960 x 920 at 1, twice that at 2. */
  g_autoptr (GdkTexture) t1 = gdk_texture_new_from_filename (png, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gdk_texture_get_width (t1), ==, 960);
  g_assert_cmpint (gdk_texture_get_height (t1), ==, 920);
  g_assert_true (ps_cluster_view_export (cv, png, 2, &error));
  g_autoptr (GdkTexture) t2 = gdk_texture_new_from_filename (png, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gdk_texture_get_width (t2), ==, 1920);
  g_unlink (png);
  g_unlink (svg);
  g_unlink (pdf);
  g_rmdir (dir);

  gtk_window_destroy (GTK_WINDOW (window));
  g_assert_finalize_object (view);
}

/* ProtoGCD: clusters from its prototypes, no K timeline. */
static void
test_gcd (void)
{
  g_autoptr (PsDataset) ds = generated_600 ("blobs");
  const char *sets[] = { "epochs=3", "embed_dim=8", NULL };
  g_autoptr (GPtrArray) snap = train_snapshot ("gcd", ds, sets, NULL);
  GtkWidget *view = g_object_ref_sink (ps_cluster_view_new ());
  PsClusterView *cv = PS_CLUSTER_VIEW (view);
  gsize n_k = 99;

  g_assert_true (ps_cluster_view_set_snapshot (cv, NULL, 2, snap));
  g_assert_cmpuint (ps_cluster_view_get_n_ellipses (cv), >=, 2);
  g_assert_cmpuint (ps_cluster_view_get_n_ellipses (cv), <=, 4);
  g_assert_null (ps_cluster_view_get_k_history (cv, &n_k));
  g_assert_cmpuint (n_k, ==, 0);
  g_assert_finalize_object (view);
}

/* A classifier's snapshot has no clusters: the page is not listed, and
 * the view forgets what it showed. */
static void
test_mlp_refused (void)
{
  g_autoptr (PsDataset) ds = generated_600 ("blobs");
  const char *gsets[] = { "k_init=4", "iterations=3", NULL };
  const char *msets[] = { "epochs=1", NULL };
  g_autoptr (GPtrArray) gpc = train_snapshot ("gpc", ds, gsets, NULL);
  g_autoptr (GPtrArray) mlp = train_snapshot ("mlp", ds, msets, NULL);
  GtkWidget *view = g_object_ref_sink (ps_cluster_view_new ());
  PsClusterView *cv = PS_CLUSTER_VIEW (view);
  g_autoptr (GError) error = NULL;

  g_assert_false (ps_cluster_view_set_snapshot (cv, NULL, 3, NULL));
  g_assert_true (ps_cluster_view_set_snapshot (cv, NULL, 3, gpc));
  g_assert_cmpuint (ps_cluster_view_get_n_ellipses (cv), >, 0);
  g_assert_false (ps_cluster_view_set_snapshot (cv, NULL, 4, mlp));
  g_assert_cmpuint (ps_cluster_view_get_n_ellipses (cv), ==, 0);
  g_assert_null (ps_cluster_view_get_k_history (cv, NULL));
  g_assert_false (ps_cluster_view_export (cv, "/nonexistent/c.png", 1, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_NOT_FOUND);
  g_assert_finalize_object (view);
}

int
main (int argc, char **argv)
{
  if (!ui_test_init (&argc, &argv))
    return 0;

  g_test_add_func ("/ui/cluster/gpc", test_gpc);
  g_test_add_func ("/ui/cluster/gcd", test_gcd);
  g_test_add_func ("/ui/cluster/mlp-refused", test_mlp_refused);
  return g_test_run ();
}
