/* ps-store-merge.c: copying runs from another store file.
 *
 * The other file is checked read-only first, then attached read-only
 * (a `mode=ro` URI) to this connection, so merging can never write to it.
 * Runs are matched by uuid: a run already present is skipped, so merging
 * the same file twice copies nothing the second time.  Everything is
 * copied in one transaction: a failure (disk full) leaves this store as it
 * was.
 */
#define G_LOG_DOMAIN "ps-store"
#define PS_STORE_COMPILATION 1

#include "ps-store.h"

#include <string.h>

/* The copy statements: ?1 is the run id in the other store, ?2 the new id
 * here.  Artifacts keep their order (id), so a snapshot lists its arrays
 * as before. */
static const char *const copy_sql[] = {
  "INSERT INTO main.metrics (run, step, name, value, wall)"
  " SELECT ?2, step, name, value, wall FROM merge_src.metrics WHERE run = ?1",
  "INSERT INTO main.artifacts (run, step, kind, dtype, shape, data)"
  " SELECT ?2, step, kind, dtype, shape, data FROM merge_src.artifacts WHERE run = ?1 ORDER BY id",
  "INSERT INTO main.checkpoints (run, step, created, data)"
  " SELECT ?2, step, created, data FROM merge_src.checkpoints WHERE run = ?1",
};

static const char copy_run_sql[] =
  "INSERT INTO main.runs (uuid, name, method, dataset, params, seed, status, created, started,"
  " finished, error, version, tags, note, owner_pid, owner_host, progress, last_step,"
  " cancel_requested)"
  " SELECT uuid, name, method, dataset, params, seed, status, created, started,"
  " finished, error, version, tags, note, owner_pid, owner_host, progress, last_step,"
  " cancel_requested FROM merge_src.runs WHERE id = ?1";

static const char pending_sql[] =
  "SELECT id, uuid IN (SELECT uuid FROM main.runs) FROM merge_src.runs ORDER BY id";

static gboolean
exec_bound (PsStore *store, const char *sql, const char *text, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2 (store->db, sql, -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    {
      if (text != NULL)
        sqlite3_bind_text (stmt, 1, text, -1, SQLITE_TRANSIENT);
      rc = sqlite3_step (stmt);
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    return ps_store_fail (store, rc, "merging", error);
  return TRUE;
}

gboolean
ps_store_merge (PsStore *store, const char *other_path, guint *copied, guint *skipped,
                GError **error)
{
  g_return_val_if_fail (store != NULL && other_path != NULL, FALSE);
  if (copied != NULL)
    *copied = 0;
  if (skipped != NULL)
    *skipped = 0;

  int version = 0;
  if (!ps_store_check_existing (other_path, &version, error))
    return FALSE;
  /* Older schemas would need their columns mapped here; there is only
   * version 1 so far. */
  if (version != PS_STORE_SCHEMA_VERSION)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_STORE,
                   "%s: schema version %d cannot be merged (open it once with this version "
                   "of Protoscope to upgrade it)", other_path, version);
      return FALSE;
    }

  g_autofree char *abs = g_canonicalize_filename (other_path, NULL);
  g_autofree char *escaped = g_uri_escape_string (abs, "/", FALSE);
  g_autofree char *uri = g_strdup_printf ("file:%s?mode=ro", escaped);
  if (!exec_bound (store, "ATTACH DATABASE ?1 AS merge_src", uri, error))
    return FALSE;

  gboolean ok = FALSE;
  guint n_copied = 0, n_skipped = 0;
  sqlite3_stmt *pending = NULL, *copy_run = NULL;
  sqlite3_stmt *copy[G_N_ELEMENTS (copy_sql)] = { NULL };
  g_autoptr (GArray) todo = g_array_new (FALSE, FALSE, sizeof (gint64));

  if (!ps_store_begin (store, error))
    goto detach;

  int rc = sqlite3_prepare_v2 (store->db, pending_sql, -1, &pending, NULL);
  if (rc != SQLITE_OK)
    {
      ps_store_fail (store, rc, "merging", error);
      goto out;
    }
  while ((rc = sqlite3_step (pending)) == SQLITE_ROW)
    {
      gint64 id = sqlite3_column_int64 (pending, 0);
      if (sqlite3_column_int (pending, 1))
        n_skipped++;
      else
        g_array_append_val (todo, id);
    }
  if (rc != SQLITE_DONE)
    {
      ps_store_fail_path (other_path, store->db, rc, "reading its runs", error);
      goto out;
    }

  rc = sqlite3_prepare_v2 (store->db, copy_run_sql, -1, &copy_run, NULL);
  for (guint k = 0; rc == SQLITE_OK && k < G_N_ELEMENTS (copy_sql); k++)
    rc = sqlite3_prepare_v2 (store->db, copy_sql[k], -1, &copy[k], NULL);
  if (rc != SQLITE_OK)
    {
      ps_store_fail (store, rc, "merging", error);
      goto out;
    }

  for (guint i = 0; i < todo->len; i++)
    {
      gint64 old_id = g_array_index (todo, gint64, i);
      sqlite3_reset (copy_run);
      sqlite3_bind_int64 (copy_run, 1, old_id);
      rc = sqlite3_step (copy_run);
      if (rc != SQLITE_DONE)
        {
          ps_store_fail (store, rc, "copying a run", error);
          goto out;
        }
      gint64 new_id = sqlite3_last_insert_rowid (store->db);
      for (guint k = 0; k < G_N_ELEMENTS (copy_sql); k++)
        {
          sqlite3_reset (copy[k]);
          sqlite3_bind_int64 (copy[k], 1, old_id);
          sqlite3_bind_int64 (copy[k], 2, new_id);
          rc = sqlite3_step (copy[k]);
          if (rc != SQLITE_DONE)
            {
              ps_store_fail (store, rc, "copying a run's data", error);
              goto out;
            }
        }
      n_copied++;
    }

  /* Statements on the attached database must be finalized before it can
   * be detached, and committing first keeps the order simple. */
  g_clear_pointer (&pending, sqlite3_finalize);
  g_clear_pointer (&copy_run, sqlite3_finalize);
  for (guint k = 0; k < G_N_ELEMENTS (copy_sql); k++)
    g_clear_pointer (&copy[k], sqlite3_finalize);
  if (!ps_store_commit (store, error))
    goto detach;
  ok = TRUE;
  if (copied != NULL)
    *copied = n_copied;
  if (skipped != NULL)
    *skipped = n_skipped;
  goto detach;

out:
  sqlite3_finalize (pending);
  sqlite3_finalize (copy_run);
  for (guint k = 0; k < G_N_ELEMENTS (copy_sql); k++)
    sqlite3_finalize (copy[k]);
  ps_store_rollback (store);

detach:
  exec_bound (store, "DETACH DATABASE merge_src", NULL, NULL);
  return ok;
}
