/* bench-store.c: run store write throughput.
 *
 * Metric ingest: N rows (four series, as a training run logs them) in one
 * ps_store_add_metrics call, that is one transaction.  Artifact writes:
 * snapshots of float32 arrays through ps_store_add_artifacts, one
 * transaction per snapshot.  Both on a fresh store file in WAL mode with
 * synchronous=NORMAL, as the application uses it.  Building the rows in
 * memory is not timed (bench_store.py does the same).
 *
 * Output: one "key value" line per number, for bench/run-store.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <glib/gstdio.h>

#include <sqlite3.h>

#include "ps-store.h"

/* CPU seconds of this process (user + system): on a busy machine this
 * says more than the wall clock. */
static double
cpu_now (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec
         + ru.ru_stime.tv_usec / 1e6;
}

static void
die (GError *error)
{
  g_printerr ("bench-store: %s\n", error->message);
  exit (1);
}

int
main (int argc, char **argv)
{
  gint64 n_rows = 1000000;
  int n_snapshots = 16, arrays_per_snapshot = 4, array_mb = 2, repeats = 3;
  g_autofree char *keep = NULL;
  GOptionEntry entries[] = {
    { "rows", 0, 0, G_OPTION_ARG_INT64, &n_rows, "Metric rows (default 1000000)", "N" },
    { "snapshots", 0, 0, G_OPTION_ARG_INT, &n_snapshots, "Snapshots (default 16)", "N" },
    { "arrays", 0, 0, G_OPTION_ARG_INT, &arrays_per_snapshot, "Arrays per snapshot (default 4)", "N" },
    { "array-mb", 0, 0, G_OPTION_ARG_INT, &array_mb, "MB per array (default 2)", "N" },
    { "repeats", 0, 0, G_OPTION_ARG_INT, &repeats, "Best of N (default 3)", "N" },
    { "keep", 0, 0, G_OPTION_ARG_FILENAME, &keep, "Leave the last store at FILE (its schema is the Python side's)", "FILE" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- run store write throughput");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    die (error);
  if (n_rows < 1 || n_snapshots < 1 || arrays_per_snapshot < 1 || array_mb < 1 || repeats < 1)
    {
      g_printerr ("bench-store: every count must be at least 1\n");
      return 2;
    }

  const char *names[] = { "loss", "train_acc", "lr", "grad_norm" };
  PsMetricRow *rows = g_new (PsMetricRow, n_rows);
  for (gint64 i = 0; i < n_rows; i++)
    rows[i] = (PsMetricRow) { i / 4, names[i % 4], 1.0 / (1.0 + i), i * 1e-4 };

  gsize floats = (gsize) array_mb * 1024 * 1024 / sizeof (float);
  g_autoptr (GPtrArray) snapshot = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  for (int a = 0; a < arrays_per_snapshot; a++)
    {
      float *x = g_new (float, floats);
      for (gsize i = 0; i < floats; i++)
        x[i] = (float) (i % 1000) * 0.001f + a;
      g_ptr_array_add (snapshot, ps_array_new_f32 ("embedding", x, floats / 2, 2));
      g_free (x);
    }
  double total_mb = (double) n_snapshots * arrays_per_snapshot * array_mb;

  g_autofree char *dir = g_dir_make_tmp ("ps-bench-store-XXXXXX", NULL);
  double best_rows = 0, best_rows_s = 0, best_rows_cpu = 0, best_mb = 0;
  for (int r = 0; r < repeats; r++)
    {
      g_autofree char *path = g_build_filename (dir, "bench.sqlite", NULL);
      PsStore *store = ps_store_open (path, &error);
      if (store == NULL)
        die (error);
      gint64 run = ps_store_create_run (store, "bench", "mlp", "moons", "{}", 0, &error);
      if (run <= 0)
        die (error);

      double t0 = ps_now (), c0 = cpu_now ();
      if (!ps_store_add_metrics (store, run, rows, n_rows, &error))
        die (error);
      double dt = ps_now () - t0, dc = cpu_now () - c0;
      if (n_rows / dt > best_rows)
        best_rows = n_rows / dt, best_rows_s = dt, best_rows_cpu = dc;

      t0 = ps_now ();
      for (int s = 0; s < n_snapshots; s++)
        if (!ps_store_add_artifacts (store, run, s, snapshot, &error))
          die (error);
      dt = ps_now () - t0;
      best_mb = MAX (best_mb, total_mb / dt);
      ps_store_close (store);

      const char *suffixes[] = { "", "-wal", "-shm" };
      for (guint k = 0; k < G_N_ELEMENTS (suffixes); k++)
        {
          g_autofree char *f = g_strconcat (path, suffixes[k], NULL);
          if (r == repeats - 1 && keep != NULL && k == 0)
            {
              if (g_rename (f, keep) != 0)
                g_printerr ("bench-store: cannot move the store to %s\n", keep);
            }
          else
            g_unlink (f);
        }
    }
  g_rmdir (dir);
  g_free (rows);

  printf ("sqlite %s\n", sqlite3_libversion ());
  printf ("metric_rows %" G_GINT64_FORMAT "\n", n_rows);
  printf ("metric_seconds %.3f\n", best_rows_s);
  printf ("metric_rows_per_s %.0f\n", best_rows);
  printf ("metric_cpu_seconds %.3f\n", best_rows_cpu);
  printf ("artifact_mb %.0f\n", total_mb);
  printf ("artifact_mb_per_s %.1f\n", best_mb);
  return 0;
}
