/* test-ui-robust.c: the robustness view on a small cbc run trained here
 * (moons): it is listed, its certified accuracy curve starts at the clean
 * accuracy and never rises, the misclassified rows are marked, it exports
 * PNG/SVG/PDF, refuses a classifier without radii, and is finalized
 * without leaks. */
#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <math.h>
#include <string.h>

#include "ui-test-util.h"
#include "ps-application.h"
#include "ps-dataset.h"
#include "ps-method.h"
#include "ps-robust-view.h"

static void
test_cbc (void)
{
  g_autoptr (PsDataset) ds = generated_600 ("moons");
  const char *sets[] = { "epochs=5", NULL };
  g_autoptr (PsMetrics) mt = NULL;
  g_autoptr (GPtrArray) snap = train_snapshot ("cbc", ds, sets, &mt);
  double clean, r01;
  g_assert_true (ps_metrics_get (mt, "test_acc", &clean));
  g_assert_true (ps_metrics_get (mt, "acc_r0.1", &r01));

  GtkWidget *window = gtk_window_new ();
  GtkWidget *view = ps_robust_view_new ();
  PsRobustView *rv = PS_ROBUST_VIEW (view);
  gtk_window_set_default_size (GTK_WINDOW (window), 1200, 800);
  gtk_window_set_child (GTK_WINDOW (window), view);
  g_object_ref (view);

  g_assert_true (ps_robust_view_supports (snap));
  gint64 t0 = g_get_monotonic_time ();
  g_assert_true (ps_robust_view_set_snapshot (rv, NULL, 1, snap));
  double ms = (g_get_monotonic_time () - t0) / 1000.0;
  g_test_message ("cbc on moons: clean accuracy %.3f, at r = 0.1 %.3f; set_snapshot %.1f ms for "
                  "%u rows", clean, r01, ms, ds->n);
  g_assert_cmpfloat (clean, >, 0.7);

  /* The curve starts at evaluate's clean accuracy (the same test rows),
   * never rises, passes through evaluate's certified accuracy at 0.1 and
   * ends at 0. */
  gsize n;
  const double *r;
  const double *acc = ps_robust_view_get_curve (rv, &r, &n);
  g_assert_nonnull (acc);
  g_assert_cmpuint (n, >, 3);
  g_assert_cmpfloat (r[0], ==, 0);
  g_assert_cmpfloat (fabs (acc[0] - clean), <, 1e-9);
  for (gsize i = 1; i < n; i++)
    {
      g_assert_cmpfloat (acc[i], <=, acc[i - 1]);
      g_assert_cmpfloat (r[i], >=, r[i - 1]);
    }
  g_assert_cmpfloat (acc[n - 1], ==, 0);
  /* The value at r = 0.1 is that of the first point at or past it (a
   * point pair at radius v holds the value before and after rows of radius
   * exactly v drop out). */
  double at = NAN;
  for (gsize i = 0; i < n && isnan (at); i++)
    if (r[i] >= 0.1)
      at = acc[i];
  g_assert_cmpfloat (fabs (at - r01), <, 1e-9);
  g_assert_cmpfloat (acc[n / 2], <, acc[0]);

  /* Every misclassified row of the snapshot is marked. */
  const gint32 *y = NULL;
  gsize wrong = 0;
  for (guint i = 0; i < snap->len; i++)
    {
      PsArray *a = g_ptr_array_index (snap, i);
      if (g_strcmp0 (a->kind, "labels") == 0)
        y = ps_array_data (a, NULL);
    }
  for (guint i = 0; i < snap->len; i++)
    {
      PsArray *a = g_ptr_array_index (snap, i);
      if (g_strcmp0 (a->kind, "predictions") == 0)
        {
          const gint32 *p = ps_array_data (a, NULL);
          for (gsize j = 0; j < ps_array_n_elements (a); j++)
            wrong += p[j] != y[j];
        }
    }
  g_assert_cmpuint (wrong, >, 0);
  g_assert_cmpuint (ps_robust_view_get_n_misclassified (rv), ==, wrong);

  gtk_window_present (GTK_WINDOW (window));
  wait_painted (view);
  g_assert_true (ps_robust_view_set_snapshot (rv, NULL, 1, snap));
  wait_painted (view);

  /* A snapshot from before certified_radius existed (only `scores` named
   * certified_radius, the prediction's radius) gives the same curve. */
  acc = ps_robust_view_get_curve (rv, &r, &n);
  g_autofree double *r_new = g_memdup2 (r, n * sizeof (double));
  g_autofree double *acc_new = g_memdup2 (acc, n * sizeof (double));
  g_autoptr (GPtrArray) old = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  for (guint i = 0; i < snap->len; i++)
    {
      PsArray *a = g_ptr_array_index (snap, i);
      if (g_strcmp0 (a->kind, "certified_radius") != 0)
        g_ptr_array_add (old, ps_array_ref (a));
    }
  g_assert_true (ps_robust_view_supports (old));
  g_assert_true (ps_robust_view_set_snapshot (rv, NULL, 2, old));
  gsize n_old;
  const double *r_old;
  const double *acc_old = ps_robust_view_get_curve (rv, &r_old, &n_old);
  g_assert_cmpuint (n_old, ==, n);
  g_assert_cmpmem (r_old, n * sizeof (double), r_new, n * sizeof (double));
  g_assert_cmpmem (acc_old, n * sizeof (double), acc_new, n * sizeof (double));
  wait_painted (view);

  g_autofree char *dir = g_dir_make_tmp ("ps-robust-XXXXXX", NULL);
  g_autofree char *png = g_build_filename (dir, "r.png", NULL);
  g_autofree char *svg = g_build_filename (dir, "r.svg", NULL);
  g_autofree char *pdf = g_build_filename (dir, "r.pdf", NULL);
  g_autofree char *bad = g_build_filename (dir, "r.txt", NULL);
  g_autoptr (GError) error = NULL;
  g_assert_true (ps_robust_view_export (rv, png, 1, &error));
  g_assert_no_error (error);
  check_file (png, "\x89PNG\r\n\x1a\n", 20000);
  g_assert_true (ps_robust_view_export (rv, svg, 1, &error));
  check_file (svg, "<?xml", 20000);
  g_assert_true (ps_robust_view_export (rv, pdf, 1, &error));
  check_file (pdf, "%PDF", 5000);
  g_assert_false (ps_robust_view_export (rv, bad, 1, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_UNSUPPORTED);
  g_clear_error (&error);
  g_autoptr (GdkTexture) t1 = gdk_texture_new_from_filename (png, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gdk_texture_get_width (t1), ==, 1200);
  g_assert_cmpint (gdk_texture_get_height (t1), ==, 560);
  g_unlink (png);
  g_unlink (svg);
  g_unlink (pdf);
  g_rmdir (dir);

  gtk_window_destroy (GTK_WINDOW (window));
  g_assert_finalize_object (view);
}

/* A classifier's snapshot has no radii: the page is not listed, and the
 * view forgets what it showed. */
static void
test_mlp_refused (void)
{
  g_autoptr (PsDataset) ds = generated_600 ("moons");
  const char *csets[] = { "epochs=1", NULL };
  g_autoptr (GPtrArray) cbc = train_snapshot ("cbc", ds, csets, NULL);
  g_autoptr (GPtrArray) mlp = train_snapshot ("mlp", ds, csets, NULL);
  GtkWidget *view = g_object_ref_sink (ps_robust_view_new ());
  PsRobustView *rv = PS_ROBUST_VIEW (view);
  g_autoptr (GError) error = NULL;
  gsize n = 9;

  g_assert_false (ps_robust_view_set_snapshot (rv, NULL, 3, NULL));
  g_assert_true (ps_robust_view_set_snapshot (rv, NULL, 3, cbc));
  g_assert_nonnull (ps_robust_view_get_curve (rv, NULL, NULL));
  g_assert_false (ps_robust_view_supports (mlp));
  g_assert_false (ps_robust_view_set_snapshot (rv, NULL, 4, mlp));
  g_assert_null (ps_robust_view_get_curve (rv, NULL, &n));
  g_assert_cmpuint (n, ==, 0);
  g_assert_false (ps_robust_view_export (rv, "/nonexistent/r.png", 1, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_NOT_FOUND);
  g_assert_finalize_object (view);
}

int
main (int argc, char **argv)
{
  if (!ui_test_init (&argc, &argv))
    return 0;

  g_test_add_func ("/ui/robust/cbc", test_cbc);
  g_test_add_func ("/ui/robust/mlp-refused", test_mlp_refused);
  return g_test_run ();
}
