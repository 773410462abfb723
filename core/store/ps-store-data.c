/* ps-store-data.c: metric series, artifacts (typed n-d arrays) and
 * checkpoints.  Every write of several rows is one transaction, so a crash
 * leaves either the whole batch or none of it. */
#define G_LOG_DOMAIN "ps-store"
#define PS_STORE_COMPILATION 1

#include "ps-store.h"

#include <math.h>
#include <string.h>

#include <json-glib/json-glib.h>

/* ------------------------------------------------------------------ */
/* Metrics                                                              */
/* ------------------------------------------------------------------ */

static void
bind_metric (sqlite3_stmt *stmt, int first, gint64 run, const PsMetricRow *row)
{
  sqlite3_bind_int64 (stmt, first, run);
  sqlite3_bind_int64 (stmt, first + 1, row->step);
  sqlite3_bind_text (stmt, first + 2, row->name, -1, SQLITE_STATIC);
  /* SQLite stores NaN as NULL; reading maps NULL back to NaN. */
  sqlite3_bind_double (stmt, first + 3, row->value);
  sqlite3_bind_double (stmt, first + 4, row->wall);
}

/* The order in which to insert `rows`: by name, then step (stable, so of
 * two rows for the same step the later one is inserted last and wins).
 * Rows in key order let SQLite append to the B-tree instead of searching
 * it when the run is the newest one, which is the common case; grouping
 * by name costs one hash lookup per row, and the steps of a series are
 * normally already ascending. */
typedef struct
{
  const char *name;
  GArray *idx;    /* guint */
} MetricBucket;

static int
bucket_cmp (gconstpointer a, gconstpointer b)
{
  return strcmp (((const MetricBucket *) a)->name, ((const MetricBucket *) b)->name);
}

static int
step_cmp (gconstpointer a, gconstpointer b, gpointer data)
{
  const PsMetricRow *rows = data;
  gint64 sa = rows[*(const guint *) a].step, sb = rows[*(const guint *) b].step;
  return sa < sb ? -1 : sa > sb;
}

static guint *
metric_order (const PsMetricRow *rows, gsize n)
{
  g_autoptr (GHashTable) index = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GArray) buckets = g_array_new (FALSE, FALSE, sizeof (MetricBucket));
  const char *last_name = NULL;
  guint last_bucket = 0;
  for (gsize i = 0; i < n; i++)
    {
      const char *name = rows[i].name;
      guint b;
      if (last_name != NULL && (name == last_name || strcmp (name, last_name) == 0))
        b = last_bucket;
      else
        {
          gpointer found;
          if (g_hash_table_lookup_extended (index, name, NULL, &found))
            b = GPOINTER_TO_UINT (found);
          else
            {
              MetricBucket nb = { name, g_array_new (FALSE, FALSE, sizeof (guint)) };
              b = buckets->len;
              g_array_append_val (buckets, nb);
              g_hash_table_insert (index, (gpointer) name, GUINT_TO_POINTER (b));
            }
        }
      last_name = name;
      last_bucket = b;
      guint ii = (guint) i;
      g_array_append_val (g_array_index (buckets, MetricBucket, b).idx, ii);
    }
  g_array_sort (buckets, bucket_cmp);
  guint *order = g_new (guint, n);
  gsize k = 0;
  for (guint b = 0; b < buckets->len; b++)
    {
      GArray *idx = g_array_index (buckets, MetricBucket, b).idx;
      guint *v = (guint *) idx->data;
      gboolean sorted = TRUE;
      for (guint j = 1; j < idx->len && sorted; j++)
        sorted = rows[v[j - 1]].step <= rows[v[j]].step;
      if (!sorted)
        g_qsort_with_data (v, idx->len, sizeof (guint), step_cmp, (gpointer) rows);
      memcpy (order + k, v, idx->len * sizeof (guint));
      k += idx->len;
      g_array_unref (idx);
    }
  g_assert (k == n);
  return order;
}

gboolean
ps_store_add_metrics (PsStore *store, gint64 run, const PsMetricRow *rows, gsize n,
                      GError **error)
{
  g_return_val_if_fail (store != NULL, FALSE);
  g_return_val_if_fail (n == 0 || rows != NULL, FALSE);
  g_return_val_if_fail (n < G_MAXUINT, FALSE);
  for (gsize i = 0; i < n; i++)
    g_return_val_if_fail (rows[i].name != NULL, FALSE);
  if (n == 0)
    return TRUE;

  const char *doing = "saving metrics";
  g_autofree guint *order = metric_order (rows, n);
  if (!ps_store_begin (store, error))
    return FALSE;
  if (!ps_store_check_run (store, run, error))
    goto fail;

  /* Rows go in chunks of PS_STORE_METRIC_CHUNK per statement: one VDBE
   * program run per chunk instead of per row. */
  gint64 max_step = G_MININT64;
  gsize i = 0;
  if (n >= PS_STORE_METRIC_CHUNK)
    {
      sqlite3_stmt *many = ps_store_stmt (store, PS_STMT_METRIC_INSERT_MANY, error);
      if (many == NULL)
        goto fail;
      for (; i + PS_STORE_METRIC_CHUNK <= n; i += PS_STORE_METRIC_CHUNK)
        {
          for (int k = 0; k < PS_STORE_METRIC_CHUNK; k++)
            {
              const PsMetricRow *row = &rows[order[i + k]];
              bind_metric (many, 1 + 5 * k, run, row);
              max_step = MAX (max_step, row->step);
            }
          int rc = sqlite3_step (many);
          sqlite3_reset (many);
          if (rc != SQLITE_DONE)
            {
              ps_store_fail (store, rc, doing, error);
              goto fail;
            }
        }
    }
  if (i < n)
    {
      sqlite3_stmt *one = ps_store_stmt (store, PS_STMT_METRIC_INSERT, error);
      if (one == NULL)
        goto fail;
      for (; i < n; i++)
        {
          const PsMetricRow *row = &rows[order[i]];
          bind_metric (one, 1, run, row);
          max_step = MAX (max_step, row->step);
          int rc = sqlite3_step (one);
          sqlite3_reset (one);
          if (rc != SQLITE_DONE)
            {
              ps_store_fail (store, rc, doing, error);
              goto fail;
            }
        }
    }

  sqlite3_stmt *bump = ps_store_stmt (store, PS_STMT_RUN_BUMP_LAST_STEP, error);
  if (bump == NULL)
    goto fail;
  sqlite3_bind_int64 (bump, 1, run);
  sqlite3_bind_int64 (bump, 2, max_step);
  if (!ps_store_step_done (store, bump, doing, error))
    goto fail;
  return ps_store_commit (store, error);

fail:
  ps_store_rollback (store);
  return FALSE;
}

GStrv
ps_store_metric_names (PsStore *store, gint64 run, GError **error)
{
  g_return_val_if_fail (store != NULL, NULL);
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_METRIC_NAMES, error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, run);
  g_autoptr (GStrvBuilder) names = g_strv_builder_new ();
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_strv_builder_add (names, (const char *) sqlite3_column_text (stmt, 0));
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    {
      ps_store_fail (store, rc, "reading metric names", error);
      return NULL;
    }
  return g_strv_builder_end (names);
}

static double
column_value (sqlite3_stmt *stmt, int col)
{
  if (sqlite3_column_type (stmt, col) == SQLITE_NULL)
    return NAN;
  return sqlite3_column_double (stmt, col);
}

gboolean
ps_store_get_metric (PsStore *store, gint64 run, const char *name, GArray **steps,
                     GArray **values, GError **error)
{
  g_return_val_if_fail (store != NULL && name != NULL, FALSE);
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_METRIC_SERIES, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, run);
  sqlite3_bind_text (stmt, 2, name, -1, SQLITE_STATIC);
  g_autoptr (GArray) s = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GArray) v = g_array_new (FALSE, FALSE, sizeof (double));
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      gint64 step = sqlite3_column_int64 (stmt, 0);
      double value = column_value (stmt, 1);
      g_array_append_val (s, step);
      g_array_append_val (v, value);
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    return ps_store_fail (store, rc, "reading a metric series", error);
  if (steps != NULL)
    *steps = g_steal_pointer (&s);
  if (values != NULL)
    *values = g_steal_pointer (&v);
  return TRUE;
}

gboolean
ps_store_final_metrics (PsStore *store, gint64 run, GStrv *names, double **values,
                        GError **error)
{
  g_return_val_if_fail (store != NULL, FALSE);
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_METRIC_FINAL, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, run);
  g_autoptr (GStrvBuilder) nb = g_strv_builder_new ();
  g_autoptr (GArray) v = g_array_new (FALSE, FALSE, sizeof (double));
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      double value = column_value (stmt, 1);
      g_strv_builder_add (nb, (const char *) sqlite3_column_text (stmt, 0));
      g_array_append_val (v, value);
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    return ps_store_fail (store, rc, "reading final metrics", error);
  if (names != NULL)
    *names = g_strv_builder_end (nb);
  if (values != NULL)
    *values = (double *) g_array_free (g_steal_pointer (&v), FALSE);
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* Artifacts                                                            */
/* ------------------------------------------------------------------ */

static char *
shape_to_json (const PsArray *array)
{
  g_autoptr (JsonArray) shape = json_array_new ();
  for (guint d = 0; d < array->ndim; d++)
    json_array_add_int_element (shape, (gint64) array->shape[d]);
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_ARRAY);
  json_node_set_array (node, shape);
  return json_to_string (node, FALSE);
}

static gboolean
shape_from_json (const char *text, guint *ndim, gsize *shape)
{
  g_autoptr (JsonNode) node = json_from_string (text, NULL);
  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    return FALSE;
  JsonArray *a = json_node_get_array (node);
  guint n = json_array_get_length (a);
  if (n < 1 || n > PS_ARRAY_MAX_DIMS)
    return FALSE;
  for (guint d = 0; d < n; d++)
    {
      JsonNode *e = json_array_get_element (a, d);
      if (json_node_get_value_type (e) != G_TYPE_INT64 || json_node_get_int (e) < 0)
        return FALSE;
      shape[d] = (gsize) json_node_get_int (e);
    }
  *ndim = n;
  return TRUE;
}

/* One row of (kind, dtype, shape, data) as a new array; a row that does
 * not describe its blob is reported as a damaged store. */
static PsArray *
artifact_from_row (PsStore *store, sqlite3_stmt *stmt, GError **error)
{
  const char *kind = (const char *) sqlite3_column_text (stmt, 0);
  const char *dtype_name = (const char *) sqlite3_column_text (stmt, 1);
  const char *shape_text = (const char *) sqlite3_column_text (stmt, 2);
  PsDtype dtype;
  guint ndim = 0;
  gsize shape[PS_ARRAY_MAX_DIMS] = { 0 };
  if (!ps_dtype_from_name (dtype_name, &dtype) || shape_text == NULL
      || !shape_from_json (shape_text, &ndim, shape))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_STORE,
                   "%s: artifact '%s' has an unknown dtype or shape ('%s', '%s')",
                   store->path, kind ? kind : "?", dtype_name ? dtype_name : "",
                   shape_text ? shape_text : "");
      return NULL;
    }
  gsize expect = ps_dtype_size (dtype);
  for (guint d = 0; d < ndim; d++)
    expect *= shape[d];
  const void *blob = sqlite3_column_blob (stmt, 3);
  gsize size = (gsize) sqlite3_column_bytes (stmt, 3);
  if (size != expect)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_STORE,
                   "%s: artifact '%s' holds %" G_GSIZE_FORMAT " bytes but its shape %s of %s "
                   "needs %" G_GSIZE_FORMAT, store->path, kind, size, shape_text, dtype_name,
                   expect);
      return NULL;
    }
  g_autoptr (GBytes) bytes = g_bytes_new (size ? blob : NULL, size);
  return ps_array_new_take (kind, dtype, ndim, shape, bytes);
}

gboolean
ps_store_add_artifacts (PsStore *store, gint64 run, gint64 step, GPtrArray *arrays,
                        GError **error)
{
  g_return_val_if_fail (store != NULL && arrays != NULL, FALSE);
  const char *doing = "saving artifacts";
  if (!ps_store_begin (store, error))
    return FALSE;
  if (!ps_store_check_run (store, run, error))
    goto fail;

  /* A snapshot is the complete set at its step: saving it again (the
   * final snapshot on a periodic one's step) replaces the old set. */
  sqlite3_stmt *del = ps_store_stmt (store, PS_STMT_ARTIFACT_DELETE_AT, error);
  if (del == NULL)
    goto fail;
  sqlite3_bind_int64 (del, 1, run);
  sqlite3_bind_int64 (del, 2, step);
  if (!ps_store_step_done (store, del, doing, error))
    goto fail;

  for (guint i = 0; i < arrays->len; i++)
    {
      const PsArray *a = g_ptr_array_index (arrays, i);
      sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_ARTIFACT_INSERT, error);
      if (stmt == NULL)
        goto fail;
      g_autofree char *shape = shape_to_json (a);
      gsize size = 0;
      gconstpointer data = ps_array_data (a, &size);
      sqlite3_bind_int64 (stmt, 1, run);
      sqlite3_bind_int64 (stmt, 2, step);
      sqlite3_bind_text (stmt, 3, a->kind != NULL ? a->kind : "array", -1, SQLITE_STATIC);
      sqlite3_bind_text (stmt, 4, ps_dtype_name (a->dtype), -1, SQLITE_STATIC);
      sqlite3_bind_text (stmt, 5, shape, -1, SQLITE_STATIC);
      /* An empty array still needs a non-NULL blob for the NOT NULL column. */
      sqlite3_bind_blob64 (stmt, 6, size ? data : "", size, SQLITE_STATIC);
      if (!ps_store_step_done (store, stmt, doing, error))
        goto fail;
    }
  return ps_store_commit (store, error);

fail:
  ps_store_rollback (store);
  return FALSE;
}

GArray *
ps_store_snapshot_steps (PsStore *store, gint64 run, GError **error)
{
  g_return_val_if_fail (store != NULL, NULL);
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_ARTIFACT_STEPS, error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, run);
  GArray *steps = g_array_new (FALSE, FALSE, sizeof (gint64));
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      gint64 s = sqlite3_column_int64 (stmt, 0);
      g_array_append_val (steps, s);
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    {
      g_array_unref (steps);
      ps_store_fail (store, rc, "reading snapshot steps", error);
      return NULL;
    }
  return steps;
}

/* Resolves step < 0 to the run's last snapshot step; FALSE (no error)
 * when the run has no snapshot. */
static gboolean
resolve_step (PsStore *store, gint64 run, gint64 *step, GError **error)
{
  if (*step >= 0)
    return TRUE;
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_ARTIFACT_LAST_STEP, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, run);
  int rc = sqlite3_step (stmt);
  gboolean found = rc == SQLITE_ROW && sqlite3_column_type (stmt, 0) != SQLITE_NULL;
  if (found)
    *step = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW)
    return ps_store_fail (store, rc, "reading snapshot steps", error);
  return found;
}

GPtrArray *
ps_store_get_artifacts (PsStore *store, gint64 run, gint64 step, GError **error)
{
  g_return_val_if_fail (store != NULL, NULL);
  GError *local = NULL;
  GPtrArray *arrays = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  if (!resolve_step (store, run, &step, &local))
    {
      if (local != NULL)
        {
          g_propagate_error (error, local);
          g_clear_pointer (&arrays, g_ptr_array_unref);
        }
      return arrays;
    }
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_ARTIFACT_AT, error);
  if (stmt == NULL)
    {
      g_ptr_array_unref (arrays);
      return NULL;
    }
  sqlite3_bind_int64 (stmt, 1, run);
  sqlite3_bind_int64 (stmt, 2, step);
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      PsArray *a = artifact_from_row (store, stmt, error);
      if (a == NULL)
        {
          sqlite3_reset (stmt);
          g_ptr_array_unref (arrays);
          return NULL;
        }
      g_ptr_array_add (arrays, a);
    }
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    {
      g_ptr_array_unref (arrays);
      ps_store_fail (store, rc, "reading artifacts", error);
      return NULL;
    }
  return arrays;
}

PsArray *
ps_store_get_artifact (PsStore *store, gint64 run, gint64 step, const char *kind,
                       GError **error)
{
  g_return_val_if_fail (store != NULL && kind != NULL, NULL);
  GError *local = NULL;
  gint64 asked = step;
  if (!resolve_step (store, run, &step, &local))
    {
      if (local != NULL)
        g_propagate_error (error, local);
      else
        g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND,
                     "%s: run %" G_GINT64_FORMAT " has no snapshot", store->path, run);
      return NULL;
    }
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_ARTIFACT_KIND_AT, error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, run);
  sqlite3_bind_int64 (stmt, 2, step);
  sqlite3_bind_text (stmt, 3, kind, -1, SQLITE_STATIC);
  int rc = sqlite3_step (stmt);
  PsArray *a = NULL;
  if (rc == SQLITE_ROW)
    a = artifact_from_row (store, stmt, error);
  else if (rc == SQLITE_DONE)
    g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND,
                 "%s: run %" G_GINT64_FORMAT " has no artifact '%s' at %s %" G_GINT64_FORMAT,
                 store->path, run, kind, asked < 0 ? "its last snapshot, step" : "step", step);
  else
    ps_store_fail (store, rc, "reading an artifact", error);
  sqlite3_reset (stmt);
  return a;
}

/* ------------------------------------------------------------------ */
/* Checkpoints                                                          */
/* ------------------------------------------------------------------ */

gboolean
ps_store_put_checkpoint (PsStore *store, gint64 run, gint64 step, GBytes *blob,
                         GError **error)
{
  g_return_val_if_fail (store != NULL && blob != NULL, FALSE);
  const char *doing = "saving a checkpoint";
  if (!ps_store_begin (store, error))
    return FALSE;
  if (!ps_store_check_run (store, run, error))
    goto fail;
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_CHECKPOINT_PUT, error);
  if (stmt == NULL)
    goto fail;
  gsize size = 0;
  gconstpointer data = g_bytes_get_data (blob, &size);
  sqlite3_bind_int64 (stmt, 1, run);
  sqlite3_bind_int64 (stmt, 2, step);
  sqlite3_bind_double (stmt, 3, g_get_real_time () / 1e6);
  sqlite3_bind_blob64 (stmt, 4, size ? data : "", size, SQLITE_STATIC);
  if (!ps_store_step_done (store, stmt, doing, error))
    goto fail;
  /* Only the newest checkpoint is kept: it is all resume needs, and a
   * model's state can be large. */
  stmt = ps_store_stmt (store, PS_STMT_CHECKPOINT_PRUNE, error);
  if (stmt == NULL)
    goto fail;
  sqlite3_bind_int64 (stmt, 1, run);
  sqlite3_bind_int64 (stmt, 2, step);
  if (!ps_store_step_done (store, stmt, doing, error))
    goto fail;
  return ps_store_commit (store, error);

fail:
  ps_store_rollback (store);
  return FALSE;
}

GBytes *
ps_store_get_checkpoint (PsStore *store, gint64 run, gint64 *step, GError **error)
{
  g_return_val_if_fail (store != NULL, NULL);
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_CHECKPOINT_GET, error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, run);
  int rc = sqlite3_step (stmt);
  GBytes *blob = NULL;
  if (rc == SQLITE_ROW)
    {
      if (step != NULL)
        *step = sqlite3_column_int64 (stmt, 0);
      const void *data = sqlite3_column_blob (stmt, 1);
      int size = sqlite3_column_bytes (stmt, 1);
      blob = g_bytes_new (size ? data : NULL, size);
    }
  else if (rc == SQLITE_DONE)
    g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND,
                 "%s: run %" G_GINT64_FORMAT " has no checkpoint", store->path, run);
  else
    ps_store_fail (store, rc, "reading a checkpoint", error);
  sqlite3_reset (stmt);
  return blob;
}

gboolean
ps_store_truncate_after (PsStore *store, gint64 run, gint64 step, GError **error)
{
  g_return_val_if_fail (store != NULL, FALSE);
  const char *doing = "truncating a run";
  static const PsStoreStmt deletes[] = {
    PS_STMT_METRIC_TRUNCATE, PS_STMT_ARTIFACT_TRUNCATE, PS_STMT_CHECKPOINT_TRUNCATE,
  };
  if (!ps_store_begin (store, error))
    return FALSE;
  if (!ps_store_check_run (store, run, error))
    goto fail;
  for (guint i = 0; i < G_N_ELEMENTS (deletes); i++)
    {
      sqlite3_stmt *stmt = ps_store_stmt (store, deletes[i], error);
      if (stmt == NULL)
        goto fail;
      sqlite3_bind_int64 (stmt, 1, run);
      sqlite3_bind_int64 (stmt, 2, step);
      if (!ps_store_step_done (store, stmt, doing, error))
        goto fail;
    }
  sqlite3_stmt *reset = ps_store_stmt (store, PS_STMT_RUN_RESET_LAST_STEP, error);
  if (reset == NULL)
    goto fail;
  sqlite3_bind_int64 (reset, 1, run);
  if (!ps_store_step_done (store, reset, doing, error))
    goto fail;
  return ps_store_commit (store, error);

fail:
  ps_store_rollback (store);
  return FALSE;
}
