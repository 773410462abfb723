/* test-store-support.c: fixtures of test-store.c: temporary directories,
 * stores with data, raw SQLite access beside the store, byte-for-byte
 * snapshots of a file, and writers on threads or in a forked process. */
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <sqlite3.h>

#include "test-store-support.h"

void
tmp_init (Tmp *t)
{
  t->dir = g_dir_make_tmp ("ps-store-XXXXXX", NULL);
  g_assert_nonnull (t->dir);
  t->path = g_build_filename (t->dir, "runs.sqlite", NULL);
}

void
remove_tree (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      g_chmod (path, 0700);
      GDir *d = g_dir_open (path, 0, NULL);
      const char *name;
      while (d && (name = g_dir_read_name (d)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          remove_tree (child);
        }
      if (d)
        g_dir_close (d);
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

void
tmp_clear (Tmp *t)
{
  remove_tree (t->dir);
  g_free (t->dir);
  g_free (t->path);
}

PsStore *
open_ok (const char *path)
{
  g_autoptr (GError) error = NULL;
  PsStore *s = ps_store_open (path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (s);
  return s;
}

gint64
new_run (PsStore *s, const char *name, const char *method, const char *dataset, guint64 seed)
{
  g_autoptr (GError) error = NULL;
  gint64 id = ps_store_create_run (s, name, method, dataset, "{\"lr\": 0.1}", seed, &error);
  g_assert_no_error (error);
  g_assert_cmpint (id, >, 0);
  return id;
}

/* A query on a separate raw connection, returning one integer. */
gint64
query_int (const char *path, const char *sql)
{
  sqlite3 *db = NULL;
  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  sqlite3_busy_timeout (db, 5000);
  sqlite3_stmt *st = NULL;
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &st, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  gint64 v = sqlite3_column_int64 (st, 0);
  sqlite3_finalize (st);
  sqlite3_close (db);
  return v;
}

void
exec_raw (const char *path, const char *sql)
{
  sqlite3 *db = NULL;
  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  char *msg = NULL;
  int rc = sqlite3_exec (db, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK)
    g_error ("%s: %s", sql, msg);
  sqlite3_close (db);
}

void
add_rows (PsStore *s, gint64 run, const char *name, gint64 from, gint64 n)
{
  g_autofree PsMetricRow *rows = g_new0 (PsMetricRow, n);
  for (gint64 i = 0; i < n; i++)
    rows[i] = (PsMetricRow) { from + i, name, (double) (from + i) * 0.5, (double) i };
  g_autoptr (GError) error = NULL;
  g_assert_true (ps_store_add_metrics (s, run, rows, n, &error));
  g_assert_no_error (error);
}

void
snap_take (const char *path, Snapshot *s)
{
  g_assert_true (g_file_get_contents (path, &s->bytes, &s->len, NULL));
  g_assert_cmpint (g_stat (path, &s->st), ==, 0);
}

/* A WAL-mode store read by a read-only connection gets empty -wal and
 * -shm files beside it (SQLite needs them to read); the file itself must
 * stay byte for byte and its -wal empty. */
void
snap_check_and_clear (const char *path, Snapshot *s)
{
  g_autofree char *now = NULL;
  gsize len = 0;
  GStatBuf st;
  g_assert_true (g_file_get_contents (path, &now, &len, NULL));
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpmem (now, len, s->bytes, s->len);
  g_assert_cmpint (st.st_mtim.tv_sec, ==, s->st.st_mtim.tv_sec);
  g_assert_cmpint (st.st_mtim.tv_nsec, ==, s->st.st_mtim.tv_nsec);
  g_autofree char *wal = g_strconcat (path, "-wal", NULL);
  GStatBuf wst;
  if (g_stat (wal, &wst) == 0)
    g_assert_cmpint (wst.st_size, ==, 0);
  g_free (s->bytes);
}

/* Opens `path`, expects PS_ERROR_STORE naming the file and containing
 * `needle`, and checks the file did not change. */
void
expect_refused (const char *path, const char *needle)
{
  Snapshot snap;
  snap_take (path, &snap);
  g_autoptr (GError) error = NULL;
  PsStore *s = ps_store_open (path, &error);
  g_assert_null (s);
  g_assert_error (error, PS_ERROR, PS_ERROR_STORE);
  g_test_message ("refused: %s", error->message);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, needle));
  g_assert_null (strchr (error->message, '\n'));
  snap_check_and_clear (path, &snap);
}

void
make_store_with_data (const char *path)
{
  PsStore *s = open_ok (path);
  for (int k = 0; k < 5; k++)
    {
      gint64 id = new_run (s, NULL, "mlp", "moons", k);
      add_rows (s, id, "loss", 0, 2000);
    }
  ps_store_close (s); /* the last close checkpoints the WAL into the file */
}

gpointer
writer_thread (gpointer data)
{
  Writer *w = data;
  PsStore *s = ps_store_open (w->path, NULL);
  w->ok = s != NULL;
  g_autofree PsMetricRow *rows = g_new0 (PsMetricRow, w->per_batch);
  for (int b = 0; w->ok && b < w->batches; b++)
    {
      for (int i = 0; i < w->per_batch; i++)
        rows[i] = (PsMetricRow) { (gint64) b * w->per_batch + i, w->name, i, 0 };
      g_autoptr (GError) error = NULL;
      if (!ps_store_add_metrics (s, w->run, rows, w->per_batch, &error))
        {
          g_printerr ("writer %s: %s\n", w->name, error->message);
          w->ok = FALSE;
        }
    }
  ps_store_close (s);
  return NULL;
}

void
fill_run (PsStore *s, gint64 id, int k)
{
  g_autoptr (GError) error = NULL;
  add_rows (s, id, "loss", 0, 100 + k);
  g_autoptr (GPtrArray) a = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  float v[4] = { k, k + 1, k + 2, k + 3 };
  g_ptr_array_add (a, ps_array_new_f32 ("prototypes", v, 2, 2));
  g_assert_true (ps_store_add_artifacts (s, id, 50, a, &error));
  g_autoptr (GBytes) b = g_bytes_new (v, sizeof v);
  g_assert_true (ps_store_put_checkpoint (s, id, 50 + k, b, &error));
  g_assert_no_error (error);
}

/* Forks a process that creates a running run in the store at `path` and
 * adds "loss" rows to it in batches of `batch`, forever, writing one byte
 * to fds[1] after each committed batch.  Returns the child's pid (or -1)
 * in the parent; the child only ends by a signal or, on a store error,
 * with exit status 2 to 4. */
pid_t
fork_batch_writer (const char *path, int batch, const int fds[2])
{
  pid_t pid = fork ();
  if (pid != 0)
    return pid;
  close (fds[0]);
  PsStore *c = ps_store_open (path, NULL);
  gint64 id = c ? ps_store_create_run (c, "killed", "mlp", "moons", "{}", 0, NULL) : 0;
  if (id <= 0 || !ps_store_set_status (c, id, PS_RUN_RUNNING, NULL, NULL))
    _exit (2);
  PsMetricRow *rows = g_new0 (PsMetricRow, batch);
  for (gint64 k = 0;; k++)
    {
      for (int i = 0; i < batch; i++)
        rows[i] = (PsMetricRow) { k * batch + i, "loss", (double) i, 0 };
      if (!ps_store_add_metrics (c, id, rows, batch, NULL))
        _exit (3);
      /* Report each committed batch to the parent. */
      char one = 1;
      if (write (fds[1], &one, 1) != 1)
        _exit (4);
    }
}
