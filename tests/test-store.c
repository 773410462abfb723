/* test-store.c: the SQLite run store: schema and pragmas, runs, metrics,
 * artifacts, checkpoints, crash recovery, refusing bad files without
 * touching them, concurrent writers, a full disk, merging, migrations.
 * Fixtures are in test-store-support.c. */
#define PS_STORE_COMPILATION 1 /* white-box: pragmas of the store's connection */

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "ps-store.h"
#include "test-store-support.h"

/* ---- Schema -------------------------------------------------------- */

static void
test_schema (void)
{
  Tmp t;
  tmp_init (&t);
  PsStore *s = open_ok (t.path);
  g_assert_cmpstr (ps_store_path (s), ==, t.path);
  g_assert_cmpint (query_int (t.path, "PRAGMA application_id"), ==, PS_STORE_APPLICATION_ID);
  g_assert_cmpint (query_int (t.path, "PRAGMA user_version"), ==, PS_STORE_SCHEMA_VERSION);
  g_assert_cmpint (query_int (t.path, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                              " AND name IN ('meta', 'runs', 'metrics', 'artifacts', 'checkpoints')"),
                   ==, 5);
  /* Metrics are keyed (clustered) on (run, name, step). */
  g_assert_cmpint (query_int (t.path, "SELECT count(*) FROM pragma_index_list('metrics')"
                              " WHERE origin = 'pk'"), ==, 1);
  g_assert_cmpint (query_int (t.path, "SELECT group_concat(name, ',') = 'run,name,step' FROM"
                              " (SELECT i.name FROM pragma_index_list('metrics') AS l,"
                              " pragma_index_info(l.name) AS i WHERE l.origin = 'pk' ORDER BY i.seqno)"),
                   ==, 1);
  g_assert_cmpint (query_int (t.path, "SELECT count(*) FROM meta WHERE key = 'application'"
                              " AND value = 'protoscope'"), ==, 1);

  /* The connection's own settings. */
  sqlite3_stmt *st = NULL;
  sqlite3_prepare_v2 (s->db, "PRAGMA journal_mode", -1, &st, NULL);
  g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
  g_assert_cmpstr ((const char *) sqlite3_column_text (st, 0), ==, "wal");
  sqlite3_finalize (st);
  const struct { const char *sql; int want; } pragmas[] = {
    { "PRAGMA foreign_keys", 1 },
    { "PRAGMA synchronous", 1 },  /* NORMAL */
    { "PRAGMA busy_timeout", 5000 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (pragmas); i++)
    {
      sqlite3_prepare_v2 (s->db, pragmas[i].sql, -1, &st, NULL);
      g_assert_cmpint (sqlite3_step (st), ==, SQLITE_ROW);
      g_assert_cmpint (sqlite3_column_int (st, 0), ==, pragmas[i].want);
      sqlite3_finalize (st);
    }
  ps_store_close (s);

  /* Reopening an existing store changes nothing about it. */
  s = open_ok (t.path);
  g_assert_cmpint (ps_store_count_runs (s, NULL), ==, 0);
  ps_store_close (s);
  g_assert_cmpint (query_int (t.path, "PRAGMA user_version"), ==, PS_STORE_SCHEMA_VERSION);
  tmp_clear (&t);
}

static void
test_default_path (void)
{
  /* G_TEST_OPTION_ISOLATE_DIRS points XDG_DATA_HOME at a temporary folder. */
  g_autofree char *path = ps_store_default_path ();
  g_assert_true (g_str_has_suffix (path, "/protoscope/runs.sqlite"));
  g_assert_true (g_str_has_prefix (path, g_get_user_data_dir ()));
  g_autofree char *dir = g_path_get_dirname (path);
  g_assert_true (g_file_test (dir, G_FILE_TEST_IS_DIR));
  PsStore *s = open_ok (path);
  ps_store_close (s);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
}

/* ---- Runs ---------------------------------------------------------- */

static void
test_runs (void)
{
  Tmp t;
  tmp_init (&t);
  PsStore *s = open_ok (t.path);
  g_autoptr (GError) error = NULL;

  gint64 a = new_run (s, "alpha", "mlp", "moons", 1);
  gint64 b = new_run (s, NULL, "mlp", "digits", 2);
  gint64 c = new_run (s, "gamma-1", "palm", "/data/x.csv", 3);
  g_assert_cmpint (ps_store_count_runs (s, NULL), ==, 3);

  g_autoptr (PsRunInfo) ib = ps_store_get_run (s, b, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ib->name, ==, "mlp-digits-2");
  g_assert_cmpstr (ib->method, ==, "mlp");
  g_assert_cmpstr (ib->params_json, ==, "{\"lr\": 0.1}");
  g_assert_cmpuint (ib->seed, ==, 2);
  g_assert_cmpint (ib->status, ==, PS_RUN_QUEUED);
  g_assert_cmpstr (ib->version, ==, ps_version ());
  g_assert_nonnull (ib->uuid);
  g_assert_cmpint (ib->last_step, ==, -1);
  g_assert_cmpfloat (ib->created, >, 1.0e9);
  g_assert_cmpfloat (ib->started, ==, 0);
  g_assert_true (g_uuid_string_is_valid (ib->uuid));
  g_assert_cmpint (ps_store_find_run_by_uuid (s, ib->uuid, &error), ==, b);
  g_assert_no_error (error);

  /* Filters. */
  struct { const char *m, *d, *st, *glob, *tag; guint want; } cases[] = {
    { NULL, NULL, NULL, NULL, NULL, 3 },
    { "mlp", NULL, NULL, NULL, NULL, 2 },
    { "mlp", "moons", NULL, NULL, NULL, 1 },
    { NULL, NULL, "queued", NULL, NULL, 3 },
    { NULL, NULL, "running", NULL, NULL, 0 },
    { NULL, NULL, NULL, "*a*", NULL, 2 },
    { NULL, NULL, NULL, "gamma-?", NULL, 1 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GPtrArray) l = ps_store_list_runs (s, cases[i].m, cases[i].d, cases[i].st,
                                                    cases[i].glob, cases[i].tag, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (l->len, ==, cases[i].want);
    }
  g_assert_null (ps_store_list_runs (s, NULL, NULL, "bogus", NULL, NULL, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_PARAM);
  g_clear_error (&error);
  {
    /* Newest first. */
    g_autoptr (GPtrArray) l = ps_store_list_runs (s, NULL, NULL, NULL, NULL, NULL, &error);
    g_assert_cmpint (((PsRunInfo *) l->pdata[0])->id, ==, c);
    g_assert_cmpint (((PsRunInfo *) l->pdata[2])->id, ==, a);
  }

  /* Tags: add, no duplicates, filter by exact tag, remove. */
  g_assert_true (ps_store_tag_run (s, a, "best", FALSE, &error));
  g_assert_true (ps_store_tag_run (s, a, "paper", FALSE, &error));
  g_assert_true (ps_store_tag_run (s, a, "best", FALSE, &error));
  g_assert_true (ps_store_tag_run (s, c, "bestest", FALSE, &error));
  g_assert_no_error (error);
  {
    g_autoptr (PsRunInfo) ia = ps_store_get_run (s, a, &error);
    g_assert_cmpstr (ia->tags, ==, "best,paper");
    g_autoptr (GPtrArray) l = ps_store_list_runs (s, NULL, NULL, NULL, NULL, "best", &error);
    g_assert_cmpuint (l->len, ==, 1);
    g_assert_cmpint (((PsRunInfo *) l->pdata[0])->id, ==, a);
  }
  g_assert_true (ps_store_tag_run (s, a, "best", TRUE, &error));
  {
    g_autoptr (PsRunInfo) ia = ps_store_get_run (s, a, &error);
    g_assert_cmpstr (ia->tags, ==, "paper");
  }
  g_assert_true (ps_store_tag_run (s, a, "paper", TRUE, &error));
  {
    g_autoptr (PsRunInfo) ia = ps_store_get_run (s, a, &error);
    g_assert_null (ia->tags);
  }
  g_assert_false (ps_store_tag_run (s, a, "a,b", FALSE, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_PARAM);
  g_clear_error (&error);
  g_assert_false (ps_store_tag_run (s, 999, "x", FALSE, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* Rename, note, progress, status times, cancel flag. */
  g_assert_true (ps_store_rename_run (s, b, "renamed", &error));
  g_assert_true (ps_store_set_note (s, b, "a note", &error));
  g_assert_true (ps_store_set_status (s, b, PS_RUN_RUNNING, NULL, &error));
  g_assert_true (ps_store_set_progress (s, b, 0.25, &error));
  g_assert_no_error (error);
  g_assert_false (ps_store_cancel_requested (s, b, &error));
  PsStore *other = open_ok (t.path); /* another connection, as another process would */
  g_assert_true (ps_store_request_cancel (other, b, &error));
  ps_store_close (other);
  g_assert_true (ps_store_cancel_requested (s, b, &error));
  g_assert_true (ps_store_set_status (s, b, PS_RUN_FAILED, "diverged at step 3", &error));
  g_assert_no_error (error);
  {
    g_autoptr (PsRunInfo) i2 = ps_store_get_run (s, b, &error);
    g_assert_cmpstr (i2->name, ==, "renamed");
    g_assert_cmpstr (i2->note, ==, "a note");
    g_assert_cmpfloat (i2->progress, ==, 0.25);
    g_assert_cmpint (i2->status, ==, PS_RUN_FAILED);
    g_assert_cmpstr (i2->error, ==, "diverged at step 3");
    g_assert_cmpfloat (i2->started, >, 0);
    g_assert_cmpfloat (i2->finished, >=, i2->started);
  }
  /* Resuming (running again) clears the error and the stale cancel. */
  g_assert_true (ps_store_set_status (s, b, PS_RUN_RUNNING, NULL, &error));
  g_assert_false (ps_store_cancel_requested (s, b, &error));
  {
    g_autoptr (PsRunInfo) i3 = ps_store_get_run (s, b, &error);
    g_assert_null (i3->error);
    g_assert_cmpfloat (i3->finished, ==, 0);
  }
  g_assert_false (ps_store_rename_run (s, 999, "x", &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (ps_store_get_run (s, 999, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, t.path));
  g_clear_error (&error);

  /* Delete cascades to metrics, artifacts and checkpoints. */
  add_rows (s, c, "loss", 0, 100);
  g_autoptr (GPtrArray) arrays = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  float f[6] = { 1, 2, 3, 4, 5, 6 };
  g_ptr_array_add (arrays, ps_array_new_f32 ("embedding", f, 3, 2));
  g_assert_true (ps_store_add_artifacts (s, c, 5, arrays, &error));
  g_autoptr (GBytes) blob = g_bytes_new_static ("state", 5);
  g_assert_true (ps_store_put_checkpoint (s, c, 5, blob, &error));
  g_assert_no_error (error);
  g_assert_true (ps_store_delete_run (s, c, &error));
  g_assert_no_error (error);
  g_assert_cmpint (query_int (t.path, "SELECT count(*) FROM metrics"), ==, 0);
  g_assert_cmpint (query_int (t.path, "SELECT count(*) FROM artifacts"), ==, 0);
  g_assert_cmpint (query_int (t.path, "SELECT count(*) FROM checkpoints"), ==, 0);
  g_assert_cmpint (ps_store_count_runs (s, NULL), ==, 2);
  g_assert_false (ps_store_delete_run (s, c, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_NOT_FOUND);
  g_clear_error (&error);

  g_assert_true (ps_run_status_from_name ("interrupted", NULL));
  for (int st = PS_RUN_QUEUED; st <= PS_RUN_PAUSED; st++)
    {
      PsRunStatus back;
      g_assert_true (ps_run_status_from_name (ps_run_status_name (st), &back));
      g_assert_cmpint (back, ==, st);
    }
  ps_store_close (s);
  tmp_clear (&t);
}

/* ---- Metrics ------------------------------------------------------- */

static void
test_metrics (void)
{
  Tmp t;
  tmp_init (&t);
  PsStore *s = open_ok (t.path);
  g_autoptr (GError) error = NULL;
  gint64 run = new_run (s, "m", "mlp", "moons", 0);
  gint64 other = new_run (s, "o", "mlp", "moons", 1);

  /* 1000 rows over three series, in one call: more than a chunk of the
   * multi-row insert and not a multiple of it, so both paths run. */
  const guint n = 1000;
  g_autofree PsMetricRow *rows = g_new0 (PsMetricRow, n);
  const char *names[] = { "loss", "acc", "lr" };
  for (guint i = 0; i < n; i++)
    rows[i] = (PsMetricRow) { i / 3, names[i % 3], i * 0.25, i * 0.01 };
  rows[7].value = NAN;
  g_assert_true (ps_store_add_metrics (s, run, rows, n, &error));
  g_assert_no_error (error);
  add_rows (s, other, "loss", 0, 10);
  g_assert_cmpint (query_int (t.path, "SELECT count(*) FROM metrics"), ==, n + 10);

  g_auto (GStrv) got_names = ps_store_metric_names (s, run, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (got_names), ==, 3);
  g_assert_cmpstr (got_names[0], ==, "acc");
  g_assert_cmpstr (got_names[1], ==, "loss");
  g_assert_cmpstr (got_names[2], ==, "lr");

  g_autoptr (GArray) steps = NULL, values = NULL;
  g_assert_true (ps_store_get_metric (s, run, "acc", &steps, &values, &error));
  g_assert_cmpuint (steps->len, ==, 333);
  for (guint k = 0; k < steps->len; k++)
    {
      guint i = 3 * k + 1;
      g_assert_cmpint (g_array_index (steps, gint64, k), ==, i / 3);
      if (i == 7)
        g_assert_true (isnan (g_array_index (values, double, k)));
      else
        g_assert_cmpfloat (g_array_index (values, double, k), ==, i * 0.25);
    }

  g_auto (GStrv) fn = NULL;
  g_autofree double *fv = NULL;
  g_assert_true (ps_store_final_metrics (s, run, &fn, &fv, &error));
  g_assert_cmpuint (g_strv_length (fn), ==, 3);
  g_assert_cmpfloat (fv[0], ==, 997 * 0.25);  /* acc: i = 997 */
  g_assert_cmpfloat (fv[1], ==, 999 * 0.25);  /* loss: i = 999 */
  g_assert_cmpfloat (fv[2], ==, 998 * 0.25);  /* lr: i = 998 */

  g_autoptr (PsRunInfo) info = ps_store_get_run (s, run, &error);
  g_assert_cmpint (info->last_step, ==, 333);

  /* Writing a step of a series again replaces its value. */
  PsMetricRow again[2] = { { 5, "loss", -1.0, 0 }, { 5, "loss", -2.0, 0 } };
  g_assert_true (ps_store_add_metrics (s, run, again, 2, &error));
  g_autoptr (GArray) ls = NULL, lv = NULL;
  g_assert_true (ps_store_get_metric (s, run, "loss", &ls, &lv, &error));
  g_assert_cmpuint (ls->len, ==, 334);
  g_assert_cmpint (g_array_index (ls, gint64, 5), ==, 5);
  g_assert_cmpfloat (g_array_index (lv, double, 5), ==, -2.0);

  /* A missing run: an error and nothing written. */
  g_assert_false (ps_store_add_metrics (s, 999, rows, 70, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_cmpint (query_int (t.path, "SELECT count(*) FROM metrics"), ==, n + 10);

  /* No metrics: empty lists, not errors. */
  gint64 empty = new_run (s, "e", "mlp", "moons", 2);
  g_auto (GStrv) none = ps_store_metric_names (s, empty, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (none), ==, 0);
  ps_store_close (s);
  tmp_clear (&t);
}

/* ---- Artifacts and checkpoints ------------------------------------- */

static void
test_artifacts (void)
{
  Tmp t;
  tmp_init (&t);
  PsStore *s = open_ok (t.path);
  g_autoptr (GError) error = NULL;
  gint64 run = new_run (s, "a", "mlp", "moons", 0);

  /* Every dtype, 1 to 4 dimensions, distinct bytes. */
  g_autoptr (GPtrArray) in = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  const gsize shapes[5][4] = { { 7 }, { 3, 5 }, { 2, 3, 4 }, { 2, 1, 3, 2 }, { 4, 0 } };
  const guint ndims[5] = { 1, 2, 3, 4, 2 };
  for (int dt = PS_DTYPE_F32; dt <= PS_DTYPE_I64; dt++)
    {
      gsize n = 1;
      for (guint d = 0; d < ndims[dt]; d++)
        n *= shapes[dt][d];
      gsize nb = n * ps_dtype_size (dt);
      g_autofree guint8 *bytes = g_malloc (MAX (nb, 1));
      for (gsize i = 0; i < nb; i++)
        bytes[i] = (guint8) (i * 31 + dt);
      g_autofree char *kind = g_strdup_printf ("kind-%s", ps_dtype_name (dt));
      g_ptr_array_add (in, ps_array_new (kind, dt, ndims[dt], shapes[dt], bytes));
    }
  g_assert_true (ps_store_add_artifacts (s, run, 10, in, &error));
  g_assert_no_error (error);

  /* A second snapshot with one array, then the first again (replaced). */
  g_autoptr (GPtrArray) in2 = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  gint32 labels[4] = { 0, 1, 1, 0 };
  g_ptr_array_add (in2, ps_array_new_i32 ("labels", labels, 4));
  g_assert_true (ps_store_add_artifacts (s, run, 20, in2, &error));
  g_assert_true (ps_store_add_artifacts (s, run, 10, in, &error));
  g_assert_no_error (error);

  g_autoptr (GArray) steps = ps_store_snapshot_steps (s, run, &error);
  g_assert_cmpuint (steps->len, ==, 2);
  g_assert_cmpint (g_array_index (steps, gint64, 0), ==, 10);
  g_assert_cmpint (g_array_index (steps, gint64, 1), ==, 20);

  g_autoptr (GPtrArray) out = ps_store_get_artifacts (s, run, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (out->len, ==, in->len);
  for (guint i = 0; i < in->len; i++)
    {
      PsArray *a = in->pdata[i], *b = out->pdata[i];
      g_assert_cmpstr (a->kind, ==, b->kind);
      g_assert_cmpint (a->dtype, ==, b->dtype);
      g_assert_cmpuint (a->ndim, ==, b->ndim);
      for (guint d = 0; d < a->ndim; d++)
        g_assert_cmpuint (a->shape[d], ==, b->shape[d]);
      g_assert_true (g_bytes_equal (a->data, b->data));
    }

  g_autoptr (GPtrArray) last = ps_store_get_artifacts (s, run, -1, &error);
  g_assert_cmpuint (last->len, ==, 1);
  g_autoptr (PsArray) l = ps_store_get_artifact (s, run, -1, "labels", &error);
  g_assert_no_error (error);
  g_assert_cmpmem (ps_array_data (l, NULL), 16, labels, 16);
  g_autoptr (PsArray) f = ps_store_get_artifact (s, run, 10, "kind-f64", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (f->shape[3], ==, 2);
  g_assert_null (ps_store_get_artifact (s, run, -1, "kind-f64", &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* A run without snapshots: empty, not an error. */
  gint64 bare = new_run (s, "b", "mlp", "moons", 1);
  g_autoptr (GPtrArray) none = ps_store_get_artifacts (s, bare, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (none->len, ==, 0);

  /* A blob whose size does not match its shape is reported, not read. */
  exec_raw (t.path, "UPDATE artifacts SET shape = '[99]' WHERE kind = 'labels'");
  g_assert_null (ps_store_get_artifact (s, run, 20, "labels", &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_STORE);
  g_clear_error (&error);
  ps_store_close (s);
  tmp_clear (&t);
}

static void
test_checkpoints (void)
{
  Tmp t;
  tmp_init (&t);
  PsStore *s = open_ok (t.path);
  g_autoptr (GError) error = NULL;
  gint64 run = new_run (s, "c", "mlp", "moons", 0);
  gint64 step = -1;
  g_assert_null (ps_store_get_checkpoint (s, run, &step, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_NOT_FOUND);
  g_clear_error (&error);

  for (int k = 1; k <= 3; k++)
    {
      g_autofree char *text = g_strdup_printf ("state at %d", k * 10);
      g_autoptr (GBytes) b = g_bytes_new (text, strlen (text));
      g_assert_true (ps_store_put_checkpoint (s, run, k * 10, b, &error));
      g_assert_no_error (error);
    }
  g_autoptr (GBytes) got = ps_store_get_checkpoint (s, run, &step, &error);
  g_assert_no_error (error);
  g_assert_cmpint (step, ==, 30);
  g_assert_cmpmem (g_bytes_get_data (got, NULL), g_bytes_get_size (got), "state at 30", 11);
  /* Only the newest is kept. */
  g_assert_cmpint (query_int (t.path, "SELECT count(*) FROM checkpoints"), ==, 1);
  ps_store_close (s);
  tmp_clear (&t);
}

static void
test_truncate (void)
{
  Tmp t;
  tmp_init (&t);
  PsStore *s = open_ok (t.path);
  g_autoptr (GError) error = NULL;
  gint64 run = new_run (s, "t", "mlp", "moons", 0);
  add_rows (s, run, "loss", 0, 10);
  add_rows (s, run, "acc", 0, 10);
  for (gint64 st = 3; st <= 9; st += 3)
    {
      g_autoptr (GPtrArray) a = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
      gint32 v[2] = { (gint32) st, 0 };
      g_ptr_array_add (a, ps_array_new_i32 ("labels", v, 2));
      g_assert_true (ps_store_add_artifacts (s, run, st, a, &error));
    }
  g_autoptr (GBytes) b = g_bytes_new_static ("ck", 2);
  g_assert_true (ps_store_put_checkpoint (s, run, 5, b, &error));
  g_assert_true (ps_store_truncate_after (s, run, 5, &error));
  g_assert_no_error (error);

  g_autoptr (GArray) steps = NULL;
  g_assert_true (ps_store_get_metric (s, run, "loss", &steps, NULL, &error));
  g_assert_cmpuint (steps->len, ==, 6);
  g_assert_cmpint (g_array_index (steps, gint64, 5), ==, 5);
  g_autoptr (GArray) snaps = ps_store_snapshot_steps (s, run, &error);
  g_assert_cmpuint (snaps->len, ==, 1);
  g_assert_cmpint (g_array_index (snaps, gint64, 0), ==, 3);
  g_autoptr (PsRunInfo) info = ps_store_get_run (s, run, &error);
  g_assert_cmpint (info->last_step, ==, 5);
  gint64 ck = -1;
  g_autoptr (GBytes) got = ps_store_get_checkpoint (s, run, &ck, &error);
  g_assert_cmpint (ck, ==, 5);
  ps_store_close (s);
  tmp_clear (&t);
}

/* ---- Crash recovery ------------------------------------------------ */

static void
test_interrupted_on_open (void)
{
  Tmp t;
  tmp_init (&t);
  PsStore *s = open_ok (t.path);
  g_autoptr (GError) error = NULL;
  /* A run of this (living) process stays running when another
   * connection opens the store. */
  gint64 mine = new_run (s, "mine", "mlp", "moons", 0);
  g_assert_true (ps_store_set_status (s, mine, PS_RUN_RUNNING, NULL, &error));
  ps_store_close (s);

  pid_t pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      PsStore *c = ps_store_open (t.path, NULL);
      if (c == NULL)
        _exit (2);
      gint64 id = ps_store_create_run (c, "crashed", "mlp", "moons", "{}", 7, NULL);
      if (id <= 0 || !ps_store_set_status (c, id, PS_RUN_RUNNING, NULL, NULL))
        _exit (3);
      PsMetricRow r[2] = { { 0, "loss", 1.0, 0 }, { 1, "loss", 0.5, 0.1 } };
      g_autoptr (GBytes) b = g_bytes_new_static ("state", 5);
      if (!ps_store_add_metrics (c, id, r, 2, NULL) || !ps_store_put_checkpoint (c, id, 1, b, NULL))
        _exit (4);
      /* No close, no status update: the process just ends. */
      _exit (0);
    }
  int wstatus = 0;
  g_assert_cmpint (waitpid (pid, &wstatus, 0), ==, pid);
  g_assert_true (WIFEXITED (wstatus));
  g_assert_cmpint (WEXITSTATUS (wstatus), ==, 0);

  s = open_ok (t.path);
  g_autoptr (GPtrArray) l = ps_store_list_runs (s, NULL, NULL, NULL, "crashed", NULL, &error);
  g_assert_cmpuint (l->len, ==, 1);
  PsRunInfo *r = l->pdata[0];
  g_assert_cmpint (r->status, ==, PS_RUN_INTERRUPTED);
  g_assert_nonnull (r->error);
  g_autoptr (GArray) steps = NULL;
  g_assert_true (ps_store_get_metric (s, r->id, "loss", &steps, NULL, &error));
  g_assert_cmpuint (steps->len, ==, 2);
  gint64 ck = -1;
  g_autoptr (GBytes) b = ps_store_get_checkpoint (s, r->id, &ck, &error);
  g_assert_nonnull (b);
  g_assert_cmpint (ck, ==, 1);
  g_autoptr (PsRunInfo) m = ps_store_get_run (s, mine, &error);
  g_assert_cmpint (m->status, ==, PS_RUN_RUNNING);
  ps_store_close (s);
  tmp_clear (&t);
}

static void
test_sigkill_mid_write (void)
{
  Tmp t;
  tmp_init (&t);
  ps_store_close (open_ok (t.path));
  int fds[2];
  g_assert_cmpint (pipe (fds), ==, 0);
  const int batch = 200;
  pid_t pid = fork_batch_writer (t.path, batch, fds);
  g_assert_cmpint (pid, >=, 0);
  close (fds[1]);
  int seen = 0;
  char buf;
  while (seen < 20 && read (fds[0], &buf, 1) == 1)
    seen++;
  g_assert_cmpint (seen, ==, 20);
  kill (pid, SIGKILL);
  int wstatus = 0;
  g_assert_cmpint (waitpid (pid, &wstatus, 0), ==, pid);
  g_assert_true (WIFSIGNALED (wstatus));
  close (fds[0]);

  g_autoptr (GError) error = NULL;
  PsStore *s = open_ok (t.path);
  g_autoptr (GPtrArray) l = ps_store_list_runs (s, NULL, NULL, NULL, NULL, NULL, &error);
  g_assert_cmpuint (l->len, ==, 1);
  PsRunInfo *r = l->pdata[0];
  g_assert_cmpint (r->status, ==, PS_RUN_INTERRUPTED);
  g_autoptr (GArray) steps = NULL;
  g_assert_true (ps_store_get_metric (s, r->id, "loss", &steps, NULL, &error));
  /* Whole batches only, at least those reported as committed, and the
   * steps contiguous from 0. */
  g_assert_cmpuint (steps->len % batch, ==, 0);
  g_assert_cmpuint (steps->len, >=, (guint) (seen * batch));
  for (guint k = 0; k < steps->len; k++)
    g_assert_cmpint (g_array_index (steps, gint64, k), ==, k);
  g_assert_cmpint (r->last_step, ==, (gint64) steps->len - 1);
  ps_store_close (s);
  g_assert_cmpint (query_int (t.path, "SELECT count(*) FROM pragma_quick_check WHERE "
                              "quick_check <> 'ok'"), ==, 0);
  tmp_clear (&t);
}

/* ---- Bad files ----------------------------------------------------- */

static void
test_bad_files (void)
{
  Tmp t;
  tmp_init (&t);
  g_autofree char *p = g_build_filename (t.dir, "x.sqlite", NULL);

  /* Random bytes. */
  guint8 junk[8192];
  for (gsize i = 0; i < sizeof junk; i++)
    junk[i] = (guint8) g_test_rand_int ();
  g_assert_true (g_file_set_contents (p, (char *) junk, sizeof junk, NULL));
  expect_refused (p, "not a SQLite database");

  /* A text file, and one shorter than a header. */
  g_assert_true (g_file_set_contents (p, "id,name\n1,a\n2,b\n", -1, NULL));
  expect_refused (p, "not a SQLite database");

  /* Another application's SQLite file. */
  g_unlink (p);
  exec_raw (p, "CREATE TABLE songs (title TEXT); INSERT INTO songs VALUES ('x');");
  expect_refused (p, "another application");

  /* A SQLite file with our application_id but no marker. */
  g_unlink (p);
  exec_raw (p, "CREATE TABLE t (a); PRAGMA application_id = 1349734995; PRAGMA user_version = 1;");
  expect_refused (p, "application marker");

  /* A store from a newer version. */
  g_unlink (p);
  make_store_with_data (p);
  exec_raw (p, "PRAGMA journal_mode = DELETE; PRAGMA user_version = 99;");
  expect_refused (p, "newer");

  /* Corrupt: a valid header and first page, garbage in the pages after. */
  g_unlink (p);
  make_store_with_data (p);
  exec_raw (p, "PRAGMA journal_mode = DELETE;");
  {
    g_autofree char *bytes = NULL;
    gsize len = 0;
    g_assert_true (g_file_get_contents (p, &bytes, &len, NULL));
    g_assert_cmpuint (len, >, 4 * 4096);
    for (gsize i = 4096; i < len; i++)
      bytes[i] = (char) g_test_rand_int ();
    g_assert_true (g_file_set_contents (p, bytes, len, NULL));
  }
  expect_refused (p, "corrupt");

  /* Corrupt in the first page, after the 100-byte header. */
  g_unlink (p);
  make_store_with_data (p);
  exec_raw (p, "PRAGMA journal_mode = DELETE;");
  {
    g_autofree char *bytes = NULL;
    gsize len = 0;
    g_assert_true (g_file_get_contents (p, &bytes, &len, NULL));
    for (gsize i = 100; i < len; i++)
      bytes[i] = (char) g_test_rand_int ();
    g_assert_true (g_file_set_contents (p, bytes, len, NULL));
  }
  expect_refused (p, "corrupt");

  /* A folder, and a missing folder. */
  g_autoptr (GError) error = NULL;
  g_assert_null (ps_store_open (t.dir, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_STORE);
  g_clear_error (&error);
  g_autofree char *nowhere = g_build_filename (t.dir, "no", "such", "runs.sqlite", NULL);
  g_assert_null (ps_store_open (nowhere, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_STORE);
  g_assert_nonnull (strstr (error->message, nowhere));
  g_clear_error (&error);
  g_autofree char *nowhere_dir = g_path_get_dirname (nowhere);
  g_assert_false (g_file_test (nowhere_dir, G_FILE_TEST_EXISTS));

  /* An empty file becomes a store. */
  g_unlink (p);
  g_assert_true (g_file_set_contents (p, "", 0, NULL));
  ps_store_close (open_ok (p));
  tmp_clear (&t);
}

static void
test_read_only (void)
{
  if (geteuid () == 0)
    {
      /* root ignores permission bits, so a read-only file or folder cannot
       * be made; SQLite's own read-only results are covered by the full
       * disk test's error mapping. */
      g_test_skip ("running as root: file permissions do not apply");
      return;
    }
  Tmp t;
  tmp_init (&t);
  g_autoptr (GError) error = NULL;

  /* An existing store that is read-only. */
  make_store_with_data (t.path);
  g_assert_cmpint (g_chmod (t.path, 0444), ==, 0);
  expect_refused (t.path, "read-only");
  g_chmod (t.path, 0644);

  /* A new store in a read-only folder. */
  g_autofree char *ro = g_build_filename (t.dir, "ro", NULL);
  g_assert_cmpint (g_mkdir (ro, 0555), ==, 0);
  g_autofree char *p = g_build_filename (ro, "runs.sqlite", NULL);
  g_assert_null (ps_store_open (p, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_STORE);
  g_assert_nonnull (strstr (error->message, p));
  g_assert_nonnull (strstr (error->message, "read-only"));
  g_assert_false (g_file_test (p, G_FILE_TEST_EXISTS));
  tmp_clear (&t);
}

static void
test_becomes_read_only (void)
{
  /* A store that turns read-only under a running writer (a remount, a
   * revoked permission): query_only makes SQLite answer SQLITE_READONLY
   * exactly as then, and works as root too. */
  Tmp t;
  tmp_init (&t);
  g_autoptr (GError) error = NULL;
  PsStore *s = open_ok (t.path);
  gint64 run = new_run (s, "r", "mlp", "moons", 0);
  add_rows (s, run, "loss", 0, 100);
  g_assert_cmpint (sqlite3_exec (s->db, "PRAGMA query_only = ON", NULL, NULL, NULL), ==, SQLITE_OK);
  PsMetricRow more[3] = { { 100, "loss", 1, 0 }, { 101, "loss", 1, 0 }, { 102, "loss", 1, 0 } };
  g_assert_false (ps_store_add_metrics (s, run, more, 3, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_STORE);
  g_assert_nonnull (strstr (error->message, t.path));
  g_assert_nonnull (strstr (error->message, "read-only"));
  g_clear_error (&error);
  g_assert_false (ps_store_set_status (s, run, PS_RUN_FINISHED, NULL, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_STORE);
  g_clear_error (&error);
  /* Reading still works, and what was stored stays. */
  g_autoptr (GArray) steps = NULL;
  g_assert_true (ps_store_get_metric (s, run, "loss", &steps, NULL, &error));
  g_assert_cmpuint (steps->len, ==, 100);
  ps_store_close (s);
  g_assert_cmpint (query_int (t.path, "SELECT count(*) FROM metrics"), ==, 100);
  tmp_clear (&t);
}

/* ---- Two writers --------------------------------------------------- */

static void
test_two_writers (void)
{
  Tmp t;
  tmp_init (&t);
  PsStore *s = open_ok (t.path);
  gint64 run = new_run (s, "shared", "mlp", "moons", 0);
  ps_store_close (s);
  Writer w[2] = {
    { t.path, run, "a", 40, 100, FALSE },
    { t.path, run, "b", 40, 100, FALSE },
  };
  GThread *th[2];
  for (int i = 0; i < 2; i++)
    th[i] = g_thread_new ("writer", writer_thread, &w[i]);
  for (int i = 0; i < 2; i++)
    g_thread_join (th[i]);
  g_assert_true (w[0].ok);
  g_assert_true (w[1].ok);
  g_assert_cmpint (query_int (t.path, "SELECT count(*) FROM metrics WHERE name = 'a'"), ==, 4000);
  g_assert_cmpint (query_int (t.path, "SELECT count(*) FROM metrics WHERE name = 'b'"), ==, 4000);
  g_assert_cmpint (query_int (t.path, "SELECT count(DISTINCT step) FROM metrics WHERE name = 'a'"),
                   ==, 4000);
  tmp_clear (&t);
}

/* ---- A full disk --------------------------------------------------- */

static void
test_full_disk_pages (void)
{
  Tmp t;
  tmp_init (&t);
  g_autoptr (GError) error = NULL;
  PsStore *s = open_ok (t.path);
  gint64 keep = new_run (s, "keep", "mlp", "moons", 0);
  add_rows (s, keep, "loss", 0, 500);
  /* Cap the file a few pages above its size: SQLite answers SQLITE_FULL,
   * just as with a full disk. */
  int pages = (int) query_int (t.path, "PRAGMA page_count");
  g_autofree char *cap = g_strdup_printf ("PRAGMA max_page_count = %d", pages + 4);
  g_assert_cmpint (sqlite3_exec (s->db, cap, NULL, NULL, NULL), ==, SQLITE_OK);

  gint64 big = new_run (s, "big", "mlp", "moons", 1);
  g_autoptr (GPtrArray) a = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  g_ptr_array_add (a, ps_array_new_f32 ("embedding", NULL, 1000, 256));
  g_assert_false (ps_store_add_artifacts (s, big, 0, a, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_STORE);
  g_assert_nonnull (strstr (error->message, t.path));
  g_assert_nonnull (strstr (error->message, "full"));
  g_clear_error (&error);
  /* The connection stays usable and nothing of the failed write stayed. */
  add_rows (s, keep, "acc", 0, 10);
  ps_store_close (s);
  g_assert_cmpint (query_int (t.path, "SELECT count(*) FROM artifacts"), ==, 0);
  g_assert_cmpint (query_int (t.path, "SELECT count(*) FROM metrics WHERE name = 'loss'"), ==, 500);
  g_assert_cmpint (query_int (t.path, "SELECT count(*) FROM metrics WHERE name = 'acc'"), ==, 10);
  tmp_clear (&t);
}

static void
test_full_disk_rlimit (void)
{
  /* A real write failure: in a subprocess, the file size limit makes
   * write() fail (EFBIG) once the WAL grows. */
  static Tmp t;
  if (g_test_subprocess ())
    {
      const char *path = g_getenv ("PS_TEST_STORE_PATH");
      PsStore *s = open_ok (path);
      gint64 big = new_run (s, "big", "mlp", "moons", 1);
      signal (SIGXFSZ, SIG_IGN);
      GStatBuf st;
      g_assert_cmpint (g_stat (path, &st), ==, 0);
      struct rlimit rl = { st.st_size + 64 * 1024, st.st_size + 64 * 1024 };
      g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &rl), ==, 0);
      g_autoptr (GPtrArray) a = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
      g_ptr_array_add (a, ps_array_new_f32 ("embedding", NULL, 2000, 256));
      g_autoptr (GError) error = NULL;
      g_assert_false (ps_store_add_artifacts (s, big, 0, a, &error));
      g_assert_error (error, PS_ERROR, PS_ERROR_STORE);
      g_assert_nonnull (strstr (error->message, path));
      g_printerr ("%s\n", error->message);
      ps_store_close (s);
      return;
    }
  tmp_init (&t);
  PsStore *s = open_ok (t.path);
  gint64 keep = new_run (s, "keep", "mlp", "moons", 0);
  add_rows (s, keep, "loss", 0, 3000);
  ps_store_close (s);
  g_setenv ("PS_TEST_STORE_PATH", t.path, TRUE);
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDOUT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*runs.sqlite*");
  s = open_ok (t.path);
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) steps = NULL;
  g_assert_true (ps_store_get_metric (s, keep, "loss", &steps, NULL, &error));
  g_assert_cmpuint (steps->len, ==, 3000);
  ps_store_close (s);
  g_assert_cmpint (query_int (t.path, "SELECT count(*) FROM artifacts"), ==, 0);
  g_assert_cmpint (query_int (t.path, "SELECT count(*) FROM pragma_quick_check WHERE "
                              "quick_check <> 'ok'"), ==, 0);
  tmp_clear (&t);
}

/* ---- Merge --------------------------------------------------------- */

static void
test_merge (void)
{
  Tmp t;
  tmp_init (&t);
  g_autofree char *other = g_build_filename (t.dir, "other.sqlite", NULL);
  g_autoptr (GError) error = NULL;

  PsStore *o = open_ok (other);
  gint64 o1 = new_run (o, "o1", "palm", "digits", 1);
  gint64 o2 = new_run (o, "o2", "palm", "digits", 2);
  fill_run (o, o1, 1);
  fill_run (o, o2, 2);
  g_assert_true (ps_store_tag_run (o, o2, "good", FALSE, &error));
  g_autoptr (PsRunInfo) o2info = ps_store_get_run (o, o2, &error);
  ps_store_close (o);

  PsStore *s = open_ok (t.path);
  gint64 mine = new_run (s, "mine", "mlp", "moons", 0);
  fill_run (s, mine, 0);

  Snapshot snap;
  snap_take (other, &snap);
  guint copied = 0, skipped = 0;
  g_assert_true (ps_store_merge (s, other, &copied, &skipped, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (copied, ==, 2);
  g_assert_cmpuint (skipped, ==, 0);
  snap_check_and_clear (other, &snap);

  g_assert_cmpint (ps_store_count_runs (s, NULL), ==, 3);
  gint64 id2 = ps_store_find_run_by_uuid (s, o2info->uuid, &error);
  g_assert_no_error (error);
  g_assert_cmpint (id2, !=, mine);
  g_autoptr (PsRunInfo) got = ps_store_get_run (s, id2, &error);
  g_assert_cmpstr (got->name, ==, "o2");
  g_assert_cmpstr (got->tags, ==, "good");
  g_assert_cmpstr (got->params_json, ==, o2info->params_json);
  g_assert_cmpint (got->last_step, ==, o2info->last_step);
  g_autoptr (GArray) steps = NULL;
  g_assert_true (ps_store_get_metric (s, id2, "loss", &steps, NULL, &error));
  g_assert_cmpuint (steps->len, ==, 102);
  g_autoptr (PsArray) p = ps_store_get_artifact (s, id2, -1, "prototypes", &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (((const float *) ps_array_data (p, NULL))[3], ==, 5);
  gint64 ck = -1;
  g_autoptr (GBytes) b = ps_store_get_checkpoint (s, id2, &ck, &error);
  g_assert_cmpint (ck, ==, 52);
  /* The store's own run is untouched. */
  g_autoptr (GArray) mine_steps = NULL;
  g_assert_true (ps_store_get_metric (s, mine, "loss", &mine_steps, NULL, &error));
  g_assert_cmpuint (mine_steps->len, ==, 100);
  g_assert_cmpint (query_int (t.path, "SELECT count(DISTINCT id) = count(*) FROM runs"), ==, 1);
  g_assert_cmpint (query_int (t.path, "SELECT count(*) FROM metrics"), ==, 100 + 101 + 102);

  /* A second merge copies nothing. */
  g_assert_true (ps_store_merge (s, other, &copied, &skipped, &error));
  g_assert_cmpuint (copied, ==, 0);
  g_assert_cmpuint (skipped, ==, 2);
  g_assert_cmpint (ps_store_count_runs (s, NULL), ==, 3);

  /* Merging a file that is not a store fails and changes nothing. */
  g_autofree char *text = g_build_filename (t.dir, "notes.txt", NULL);
  g_assert_true (g_file_set_contents (text, "hello", -1, NULL));
  g_assert_false (ps_store_merge (s, text, &copied, &skipped, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_STORE);
  g_assert_nonnull (strstr (error->message, text));
  g_clear_error (&error);
  g_assert_cmpint (ps_store_count_runs (s, NULL), ==, 3);
  ps_store_close (s);
  tmp_clear (&t);
}

/* ---- Migrations ---------------------------------------------------- */

static void
test_migrations (void)
{
  Tmp t;
  tmp_init (&t);
  const PsStoreMigration list[] = {
    { 1, "CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1);" },
    { 2, "ALTER TABLE t ADD COLUMN b TEXT DEFAULT 'two';" },
    { 3, "CREATE TABLE u (x); SELECT no_such_column FROM t;" },
  };
  sqlite3 *db = NULL;
  g_assert_cmpint (sqlite3_open (t.path, &db), ==, SQLITE_OK);
  g_autoptr (GError) error = NULL;

  g_assert_true (ps_store_run_migrations (db, t.path, list, 1, &error));
  g_assert_no_error (error);
  g_assert_cmpint (query_int (t.path, "PRAGMA user_version"), ==, 1);
  /* Version 2 is one more entry: only it runs. */
  g_assert_true (ps_store_run_migrations (db, t.path, list, 2, &error));
  g_assert_cmpint (query_int (t.path, "PRAGMA user_version"), ==, 2);
  g_assert_cmpint (query_int (t.path, "SELECT count(*) FROM t WHERE b = 'two'"), ==, 1);
  /* Nothing to do is not an error. */
  g_assert_true (ps_store_run_migrations (db, t.path, list, 2, &error));
  g_assert_cmpint (query_int (t.path, "SELECT count(*) FROM t"), ==, 1);
  /* A failing step rolls back entirely. */
  g_assert_false (ps_store_run_migrations (db, t.path, list, 3, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_STORE);
  g_assert_nonnull (strstr (error->message, t.path));
  g_clear_error (&error);
  g_assert_cmpint (query_int (t.path, "PRAGMA user_version"), ==, 2);
  g_assert_cmpint (query_int (t.path, "SELECT count(*) FROM sqlite_master WHERE name = 'u'"), ==, 0);
  /* A newer database is refused. */
  g_assert_false (ps_store_run_migrations (db, t.path, list, 1, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_STORE);
  g_assert_nonnull (strstr (error->message, "newer"));
  g_clear_error (&error);
  /* From scratch, every step in order. */
  sqlite3_close (db);
  g_unlink (t.path);
  g_assert_cmpint (sqlite3_open (t.path, &db), ==, SQLITE_OK);
  g_assert_true (ps_store_run_migrations (db, t.path, list, 2, &error));
  g_assert_cmpint (query_int (t.path, "PRAGMA user_version"), ==, 2);
  sqlite3_close (db);
  tmp_clear (&t);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_add_func ("/store/schema", test_schema);
  g_test_add_func ("/store/default-path", test_default_path);
  g_test_add_func ("/store/runs", test_runs);
  g_test_add_func ("/store/metrics", test_metrics);
  g_test_add_func ("/store/artifacts", test_artifacts);
  g_test_add_func ("/store/checkpoints", test_checkpoints);
  g_test_add_func ("/store/truncate", test_truncate);
  g_test_add_func ("/store/interrupted-on-open", test_interrupted_on_open);
  g_test_add_func ("/store/sigkill-mid-write", test_sigkill_mid_write);
  g_test_add_func ("/store/bad-files", test_bad_files);
  g_test_add_func ("/store/read-only", test_read_only);
  g_test_add_func ("/store/becomes-read-only", test_becomes_read_only);
  g_test_add_func ("/store/two-writers", test_two_writers);
  g_test_add_func ("/store/full-disk/pages", test_full_disk_pages);
  g_test_add_func ("/store/full-disk/rlimit", test_full_disk_rlimit);
  g_test_add_func ("/store/merge", test_merge);
  g_test_add_func ("/store/migrations", test_migrations);
  return g_test_run ();
}
