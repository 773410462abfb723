/* ps-store-runs.c: run records: create, read, list, status, names, tags,
 * notes, cancel requests and deletion. */
#define G_LOG_DOMAIN "ps-store"
#define PS_STORE_COMPILATION 1

#include "ps-store.h"

#include <string.h>
#include <unistd.h>

static double
wall_clock (void)
{
  return g_get_real_time () / 1e6;
}

static char *
column_dup (sqlite3_stmt *stmt, int col)
{
  const unsigned char *text = sqlite3_column_text (stmt, col);
  return text != NULL ? g_strdup ((const char *) text) : NULL;
}

/* Reads one row of RUN_COLUMNS. */
static PsRunInfo *
run_from_row (sqlite3_stmt *stmt)
{
  PsRunInfo *info = g_new0 (PsRunInfo, 1);
  info->id = sqlite3_column_int64 (stmt, 0);
  info->name = column_dup (stmt, 1);
  info->method = column_dup (stmt, 2);
  info->dataset = column_dup (stmt, 3);
  info->params_json = column_dup (stmt, 4);
  info->seed = (guint64) sqlite3_column_int64 (stmt, 5);
  if (!ps_run_status_from_name ((const char *) sqlite3_column_text (stmt, 6), &info->status))
    info->status = PS_RUN_FAILED;
  info->created = sqlite3_column_double (stmt, 7);
  info->started = sqlite3_column_double (stmt, 8);
  info->finished = sqlite3_column_double (stmt, 9);
  info->error = column_dup (stmt, 10);
  info->version = column_dup (stmt, 11);
  info->tags = column_dup (stmt, 12);
  info->note = column_dup (stmt, 13);
  info->uuid = column_dup (stmt, 14);
  info->last_step = sqlite3_column_int64 (stmt, 15);
  info->progress = sqlite3_column_double (stmt, 16);
  return info;
}

gint64
ps_store_create_run (PsStore *store, const char *name, const char *method,
                     const char *dataset, const char *params_json, guint64 seed,
                     GError **error)
{
  g_return_val_if_fail (store != NULL, 0);
  g_return_val_if_fail (method != NULL && dataset != NULL, 0);

  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_RUN_INSERT, error);
  if (stmt == NULL)
    return 0;
  g_autofree char *uuid = g_uuid_string_random ();
  g_autofree char *base = g_path_get_basename (dataset);
  g_autofree char *default_name = NULL;
  if (name == NULL || *name == '\0')
    name = default_name = g_strdup_printf ("%s-%s-%" G_GUINT64_FORMAT, method, base, seed);

  sqlite3_bind_text (stmt, 1, uuid, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, name, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, method, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 4, dataset, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 5, params_json != NULL ? params_json : "{}", -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 6, (sqlite3_int64) seed);
  sqlite3_bind_double (stmt, 7, wall_clock ());
  sqlite3_bind_text (stmt, 8, ps_version (), -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 9, (sqlite3_int64) getpid ());
  sqlite3_bind_text (stmt, 10, store->host, -1, SQLITE_STATIC);
  if (!ps_store_step_done (store, stmt, "creating a run", error))
    return 0;
  return sqlite3_last_insert_rowid (store->db);
}

PsRunInfo *
ps_store_get_run (PsStore *store, gint64 id, GError **error)
{
  g_return_val_if_fail (store != NULL, NULL);
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_RUN_GET, error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, id);
  int rc = sqlite3_step (stmt);
  PsRunInfo *info = NULL;
  if (rc == SQLITE_ROW)
    info = run_from_row (stmt);
  else if (rc == SQLITE_DONE)
    g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND, "%s: no run with id %" G_GINT64_FORMAT,
                 store->path, id);
  else
    ps_store_fail (store, rc, "reading a run", error);
  sqlite3_reset (stmt);
  return info;
}

GPtrArray *
ps_store_list_runs (PsStore *store, const char *method, const char *dataset,
                    const char *status, const char *name_pattern, const char *tag,
                    GError **error)
{
  g_return_val_if_fail (store != NULL, NULL);
  if (status != NULL && !ps_run_status_from_name (status, NULL))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                   "unknown run status '%s' (queued, running, finished, failed, cancelled, "
                   "interrupted, paused)", status);
      return NULL;
    }
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_RUN_LIST, error);
  if (stmt == NULL)
    return NULL;
  const char *filters[] = { method, dataset, status, name_pattern, tag };
  for (int i = 0; i < 5; i++)
    if (filters[i] != NULL)
      sqlite3_bind_text (stmt, i + 1, filters[i], -1, SQLITE_STATIC);
  GPtrArray *runs = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_run_info_free);
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (runs, run_from_row (stmt));
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    {
      g_ptr_array_unref (runs);
      ps_store_fail (store, rc, "listing runs", error);
      return NULL;
    }
  return runs;
}

/* Runs an UPDATE/DELETE on one run and reports a missing run. */
static gboolean
finish_run_update (PsStore *store, sqlite3_stmt *stmt, gint64 id, const char *doing,
                   GError **error)
{
  if (!ps_store_step_done (store, stmt, doing, error))
    return FALSE;
  if (sqlite3_changes (store->db) == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND, "%s: no run with id %" G_GINT64_FORMAT,
                   store->path, id);
      return FALSE;
    }
  return TRUE;
}

gboolean
ps_store_set_status (PsStore *store, gint64 id, PsRunStatus status,
                     const char *error_message, GError **error)
{
  g_return_val_if_fail (store != NULL, FALSE);
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_RUN_SET_STATUS, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, id);
  sqlite3_bind_text (stmt, 2, ps_run_status_name (status), -1, SQLITE_STATIC);
  if (error_message != NULL)
    sqlite3_bind_text (stmt, 3, error_message, -1, SQLITE_STATIC);
  sqlite3_bind_double (stmt, 4, wall_clock ());
  sqlite3_bind_int64 (stmt, 5, (sqlite3_int64) getpid ());
  sqlite3_bind_text (stmt, 6, store->host, -1, SQLITE_STATIC);
  return finish_run_update (store, stmt, id, "setting a run's status", error);
}

gboolean
ps_store_set_progress (PsStore *store, gint64 id, double progress, GError **error)
{
  g_return_val_if_fail (store != NULL, FALSE);
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_RUN_SET_PROGRESS, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, id);
  sqlite3_bind_double (stmt, 2, CLAMP (progress, 0.0, 1.0));
  return finish_run_update (store, stmt, id, "saving a run's progress", error);
}

gboolean
ps_store_rename_run (PsStore *store, gint64 id, const char *name, GError **error)
{
  g_return_val_if_fail (store != NULL && name != NULL, FALSE);
  if (*name == '\0')
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "a run name cannot be empty");
      return FALSE;
    }
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_RUN_RENAME, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, id);
  sqlite3_bind_text (stmt, 2, name, -1, SQLITE_STATIC);
  return finish_run_update (store, stmt, id, "renaming a run", error);
}

gboolean
ps_store_tag_run (PsStore *store, gint64 id, const char *tag, gboolean remove, GError **error)
{
  g_return_val_if_fail (store != NULL && tag != NULL, FALSE);
  g_autofree char *clean = g_strstrip (g_strdup (tag));
  if (*clean == '\0' || strchr (clean, ',') != NULL)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                   "invalid tag '%s': a tag is a non-empty word without commas", tag);
      return FALSE;
    }
  g_auto (GStrv) parts = NULL;
  g_autofree char *joined = NULL;
  /* Read and write in one transaction so two taggers cannot lose a tag. */
  if (!ps_store_begin (store, error))
    return FALSE;
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_RUN_GET_TAGS, error);
  if (stmt == NULL)
    goto fail;
  sqlite3_bind_int64 (stmt, 1, id);
  int rc = sqlite3_step (stmt);
  if (rc == SQLITE_DONE)
    {
      sqlite3_reset (stmt);
      g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND, "%s: no run with id %" G_GINT64_FORMAT,
                   store->path, id);
      goto fail;
    }
  if (rc != SQLITE_ROW)
    {
      sqlite3_reset (stmt);
      ps_store_fail (store, rc, "reading tags", error);
      goto fail;
    }
  const char *old = (const char *) sqlite3_column_text (stmt, 0);
  parts = g_strsplit (old != NULL ? old : "", ",", -1);
  sqlite3_reset (stmt);

  GPtrArray *kept = g_ptr_array_new ();
  gboolean present = FALSE;
  for (char **p = parts; *p != NULL; p++)
    {
      if (**p == '\0')
        continue;
      if (strcmp (*p, clean) == 0)
        {
          present = TRUE;
          if (remove)
            continue;
        }
      g_ptr_array_add (kept, *p);
    }
  if (!remove && !present)
    g_ptr_array_add (kept, clean);
  g_ptr_array_add (kept, NULL);
  joined = g_strjoinv (",", (char **) kept->pdata);
  g_ptr_array_unref (kept);

  stmt = ps_store_stmt (store, PS_STMT_RUN_SET_TAGS, error);
  if (stmt == NULL)
    goto fail;
  sqlite3_bind_int64 (stmt, 1, id);
  if (*joined != '\0')
    sqlite3_bind_text (stmt, 2, joined, -1, SQLITE_STATIC);
  if (!ps_store_step_done (store, stmt, "saving tags", error))
    goto fail;
  return ps_store_commit (store, error);

fail:
  ps_store_rollback (store);
  return FALSE;
}

gboolean
ps_store_set_note (PsStore *store, gint64 id, const char *note, GError **error)
{
  g_return_val_if_fail (store != NULL, FALSE);
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_RUN_SET_NOTE, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, id);
  if (note != NULL)
    sqlite3_bind_text (stmt, 2, note, -1, SQLITE_STATIC);
  return finish_run_update (store, stmt, id, "saving a note", error);
}

gboolean
ps_store_delete_run (PsStore *store, gint64 id, GError **error)
{
  g_return_val_if_fail (store != NULL, FALSE);
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_RUN_DELETE, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, id);
  /* Metrics, artifacts and checkpoints go with it (ON DELETE CASCADE). */
  return finish_run_update (store, stmt, id, "deleting a run", error);
}

gboolean
ps_store_request_cancel (PsStore *store, gint64 id, GError **error)
{
  g_return_val_if_fail (store != NULL, FALSE);
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_RUN_REQUEST_CANCEL, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, id);
  return finish_run_update (store, stmt, id, "requesting a cancel", error);
}

gboolean
ps_store_cancel_requested (PsStore *store, gint64 id, GError **error)
{
  g_return_val_if_fail (store != NULL, FALSE);
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_RUN_CANCEL_REQUESTED, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, id);
  int rc = sqlite3_step (stmt);
  gboolean requested = rc == SQLITE_ROW && sqlite3_column_int (stmt, 0) != 0;
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    ps_store_fail (store, rc, "polling for a cancel request", error);
  return requested;
}

gint64
ps_store_count_runs (PsStore *store, GError **error)
{
  g_return_val_if_fail (store != NULL, -1);
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_RUN_COUNT, error);
  if (stmt == NULL)
    return -1;
  int rc = sqlite3_step (stmt);
  gint64 n = rc == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : -1;
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW)
    ps_store_fail (store, rc, "counting runs", error);
  return n;
}

gint64
ps_store_find_run_by_uuid (PsStore *store, const char *uuid, GError **error)
{
  g_return_val_if_fail (store != NULL && uuid != NULL, 0);
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_RUN_BY_UUID, error);
  if (stmt == NULL)
    return 0;
  sqlite3_bind_text (stmt, 1, uuid, -1, SQLITE_STATIC);
  int rc = sqlite3_step (stmt);
  gint64 id = rc == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : 0;
  sqlite3_reset (stmt);
  if (rc == SQLITE_DONE)
    g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND, "%s: no run with uuid %s",
                 store->path, uuid);
  else if (rc != SQLITE_ROW)
    ps_store_fail (store, rc, "looking up a run", error);
  return id;
}
