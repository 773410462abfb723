/* ps-store.c: opening a run store, its schema and migrations, the
 * statement cache and the mapping of SQLite failures to errors.
 *
 * Opening is careful: an existing file is first inspected through a
 * read-only connection (header, application_id, user_version, integrity),
 * so a file that is not ours, too new or damaged is reported without a
 * single byte of it being written.  Only then is the read-write connection
 * opened, switched to WAL and migrated.
 */
#define G_LOG_DOMAIN "ps-store"
#define PS_STORE_COMPILATION 1

#include "ps-store.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

/* ------------------------------------------------------------------ */
/* Schema                                                               */
/* ------------------------------------------------------------------ */

/* Version 1.  Parameters are a JSON object; shapes a JSON array; the
 * metric name is stored per row so that `sqlite3 runs.sqlite "SELECT ..."`
 * needs no join.  last_step is kept up to date by the writers so that
 * listing runs never scans the metrics.
 *
 * The metrics table is clustered on (run, name, step) (WITHOUT ROWID): the
 * index the readers need is the table itself, so an insert updates one
 * B-tree instead of two, the file is about 40% smaller, and reading one
 * series is a sequential scan.  A series has one value per step; writing a
 * step again replaces it. */
static const char schema_v1[] =
  "CREATE TABLE meta (\n"
  "  key TEXT PRIMARY KEY,\n"
  "  value TEXT NOT NULL\n"
  ");\n"
  "INSERT INTO meta (key, value) VALUES ('application', 'protoscope');\n"
  "CREATE TABLE runs (\n"
  "  id INTEGER PRIMARY KEY,\n"
  "  uuid TEXT NOT NULL UNIQUE,\n"
  "  name TEXT NOT NULL,\n"
  "  method TEXT NOT NULL,\n"
  "  dataset TEXT NOT NULL,\n"
  "  params TEXT NOT NULL DEFAULT '{}',\n"
  "  seed INTEGER NOT NULL DEFAULT 0,\n"
  "  status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running',\n"
  "    'finished', 'failed', 'cancelled', 'interrupted', 'paused')),\n"
  "  created REAL NOT NULL,\n"
  "  started REAL,\n"
  "  finished REAL,\n"
  "  error TEXT,\n"
  "  version TEXT NOT NULL,\n"
  "  tags TEXT,\n"
  "  note TEXT,\n"
  "  owner_pid INTEGER,\n"
  "  owner_host TEXT,\n"
  "  progress REAL NOT NULL DEFAULT 0,\n"
  "  last_step INTEGER NOT NULL DEFAULT -1,\n"
  "  cancel_requested INTEGER NOT NULL DEFAULT 0\n"
  ");\n"
  "CREATE INDEX runs_status ON runs (status);\n"
  "CREATE TABLE metrics (\n"
  "  run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
  "  step INTEGER NOT NULL,\n"
  "  name TEXT NOT NULL,\n"
  "  value REAL,\n"
  "  wall REAL,\n"
  "  PRIMARY KEY (run, name, step)\n"
  ") WITHOUT ROWID;\n"
  "CREATE TABLE artifacts (\n"
  "  id INTEGER PRIMARY KEY,\n"
  "  run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
  "  step INTEGER NOT NULL,\n"
  "  kind TEXT NOT NULL,\n"
  "  dtype TEXT NOT NULL,\n"
  "  shape TEXT NOT NULL,\n"
  "  data BLOB NOT NULL\n"
  ");\n"
  "CREATE INDEX artifacts_run_step ON artifacts (run, step);\n"
  "CREATE TABLE checkpoints (\n"
  "  run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
  "  step INTEGER NOT NULL,\n"
  "  created REAL NOT NULL,\n"
  "  data BLOB NOT NULL,\n"
  "  PRIMARY KEY (run, step)\n"
  ");\n"
  /* 0x50735253, "PsRS". */
  "PRAGMA application_id = 1349734995;\n";

/* Schema version N is reached by applying entries 1..N in order: version 2
 * is one more line here (and PS_STORE_SCHEMA_VERSION bumped). */
static const PsStoreMigration migrations[] = {
  { 1, schema_v1 },
};

G_STATIC_ASSERT (G_N_ELEMENTS (migrations) == PS_STORE_SCHEMA_VERSION);

/* ------------------------------------------------------------------ */
/* Statements                                                           */
/* ------------------------------------------------------------------ */

#define RUN_COLUMNS \
  "id, name, method, dataset, params, seed, status, created, started, finished, " \
  "error, version, tags, note, uuid, last_step, progress"

/* Every series name of a run, found by skipping through the (run, name,
 * step) key instead of reading every row of the run. */
#define METRIC_NAMES_CTE \
  "WITH RECURSIVE names (name) AS (" \
  "  SELECT min (name) FROM metrics WHERE run = ?1" \
  "  UNION ALL" \
  "  SELECT (SELECT min (name) FROM metrics WHERE run = ?1 AND name > names.name)" \
  "  FROM names WHERE names.name IS NOT NULL) "

static const char *const stmt_sql[PS_STMT_N] = {
  [PS_STMT_BEGIN] = "BEGIN IMMEDIATE",
  [PS_STMT_COMMIT] = "COMMIT",
  [PS_STMT_ROLLBACK] = "ROLLBACK",
  [PS_STMT_RUN_INSERT] =
    "INSERT INTO runs (uuid, name, method, dataset, params, seed, status, created,"
    " version, owner_pid, owner_host) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?8, ?9, ?10)",
  [PS_STMT_RUN_GET] = "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?1",
  [PS_STMT_RUN_LIST] =
    "SELECT " RUN_COLUMNS " FROM runs"
    " WHERE (?1 IS NULL OR method = ?1) AND (?2 IS NULL OR dataset = ?2)"
    " AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR name GLOB ?4)"
    " AND (?5 IS NULL OR instr (',' || coalesce (tags, '') || ',', ',' || ?5 || ',') > 0)"
    " ORDER BY created DESC, id DESC",
  /* Starting (or resuming) makes this process the owner, clears a stale
   * error and, when the run had ended, a stale cancel request; ending
   * stamps the finish time. */
  [PS_STMT_RUN_SET_STATUS] =
    "UPDATE runs SET"
    " cancel_requested = CASE WHEN ?2 = 'running' AND status IN ('interrupted', 'failed',"
    "   'cancelled', 'finished') THEN 0 ELSE cancel_requested END,"
    " status = ?2, error = ?3,"
    " started = CASE WHEN ?2 = 'running' AND started IS NULL THEN ?4 ELSE started END,"
    " finished = CASE WHEN ?2 IN ('finished', 'failed', 'cancelled', 'interrupted') THEN ?4"
    "   WHEN ?2 IN ('running', 'queued') THEN NULL ELSE finished END,"
    " owner_pid = CASE WHEN ?2 IN ('running', 'queued', 'paused') THEN ?5 ELSE owner_pid END,"
    " owner_host = CASE WHEN ?2 IN ('running', 'queued', 'paused') THEN ?6 ELSE owner_host END"
    " WHERE id = ?1",
  [PS_STMT_RUN_SET_PROGRESS] = "UPDATE runs SET progress = ?2 WHERE id = ?1",
  [PS_STMT_RUN_RENAME] = "UPDATE runs SET name = ?2 WHERE id = ?1",
  [PS_STMT_RUN_GET_TAGS] = "SELECT tags FROM runs WHERE id = ?1",
  [PS_STMT_RUN_SET_TAGS] = "UPDATE runs SET tags = ?2 WHERE id = ?1",
  [PS_STMT_RUN_SET_NOTE] = "UPDATE runs SET note = ?2 WHERE id = ?1",
  [PS_STMT_RUN_DELETE] = "DELETE FROM runs WHERE id = ?1",
  [PS_STMT_RUN_REQUEST_CANCEL] = "UPDATE runs SET cancel_requested = 1 WHERE id = ?1",
  [PS_STMT_RUN_CANCEL_REQUESTED] = "SELECT cancel_requested FROM runs WHERE id = ?1",
  [PS_STMT_RUN_COUNT] = "SELECT count(*) FROM runs",
  [PS_STMT_RUN_BY_UUID] = "SELECT id FROM runs WHERE uuid = ?1",
  [PS_STMT_RUN_EXISTS] = "SELECT 1 FROM runs WHERE id = ?1",
  [PS_STMT_RUN_BUMP_LAST_STEP] = "UPDATE runs SET last_step = max (last_step, ?2) WHERE id = ?1",
  [PS_STMT_RUN_RESET_LAST_STEP] =
    "UPDATE runs SET last_step = coalesce ((SELECT max (step) FROM metrics WHERE run = ?1), -1)"
    " WHERE id = ?1",
  [PS_STMT_METRIC_INSERT] =
    "INSERT OR REPLACE INTO metrics (run, step, name, value, wall) VALUES (?1, ?2, ?3, ?4, ?5)",
  [PS_STMT_METRIC_INSERT_MANY] = NULL, /* generated: PS_STORE_METRIC_CHUNK rows */
  [PS_STMT_METRIC_NAMES] =
    METRIC_NAMES_CTE "SELECT name FROM names WHERE name IS NOT NULL ORDER BY name",
  [PS_STMT_METRIC_SERIES] =
    "SELECT step, value FROM metrics WHERE run = ?1 AND name = ?2 ORDER BY step",
  [PS_STMT_METRIC_FINAL] =
    METRIC_NAMES_CTE "SELECT name, (SELECT value FROM metrics WHERE run = ?1 AND name = names.name"
    " ORDER BY step DESC LIMIT 1) FROM names WHERE name IS NOT NULL ORDER BY name",
  [PS_STMT_METRIC_TRUNCATE] = "DELETE FROM metrics WHERE run = ?1 AND step > ?2",
  [PS_STMT_ARTIFACT_INSERT] =
    "INSERT INTO artifacts (run, step, kind, dtype, shape, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
  [PS_STMT_ARTIFACT_STEPS] = "SELECT DISTINCT step FROM artifacts WHERE run = ?1 ORDER BY step",
  [PS_STMT_ARTIFACT_LAST_STEP] = "SELECT max (step) FROM artifacts WHERE run = ?1",
  [PS_STMT_ARTIFACT_AT] =
    "SELECT kind, dtype, shape, data FROM artifacts WHERE run = ?1 AND step = ?2 ORDER BY id",
  [PS_STMT_ARTIFACT_KIND_AT] =
    "SELECT kind, dtype, shape, data FROM artifacts WHERE run = ?1 AND step = ?2 AND kind = ?3"
    " ORDER BY id DESC LIMIT 1",
  [PS_STMT_ARTIFACT_TRUNCATE] = "DELETE FROM artifacts WHERE run = ?1 AND step > ?2",
  [PS_STMT_ARTIFACT_DELETE_AT] = "DELETE FROM artifacts WHERE run = ?1 AND step = ?2",
  [PS_STMT_CHECKPOINT_PUT] =
    "INSERT OR REPLACE INTO checkpoints (run, step, created, data) VALUES (?1, ?2, ?3, ?4)",
  [PS_STMT_CHECKPOINT_PRUNE] = "DELETE FROM checkpoints WHERE run = ?1 AND step <> ?2",
  [PS_STMT_CHECKPOINT_GET] =
    "SELECT step, data FROM checkpoints WHERE run = ?1 ORDER BY step DESC LIMIT 1",
  [PS_STMT_CHECKPOINT_TRUNCATE] = "DELETE FROM checkpoints WHERE run = ?1 AND step > ?2",
};

static char *
metric_insert_many_sql (void)
{
  GString *s = g_string_new ("INSERT OR REPLACE INTO metrics (run, step, name, value, wall) VALUES ");
  for (int i = 0; i < PS_STORE_METRIC_CHUNK; i++)
    g_string_append (s, i ? ", (?, ?, ?, ?, ?)" : "(?, ?, ?, ?, ?)");
  return g_string_free (s, FALSE);
}

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

static const char *
describe_rc (int rc)
{
  switch (rc & 0xff)
    {
    case SQLITE_FULL:
      return "the disk is full (or the store reached its size limit)";
    case SQLITE_READONLY:
      return "the store is read-only";
    case SQLITE_IOERR:
      return "an input/output error occurred (is the disk full, removed or read-only?)";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return "the file is corrupt";
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return "the store stayed locked by another process";
    case SQLITE_CANTOPEN:
      return "the file cannot be opened";
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return "access was denied";
    case SQLITE_NOMEM:
      return "out of memory";
    default:
      return NULL;
    }
}

gboolean
ps_store_fail_path (const char *path, sqlite3 *db, int rc, const char *doing, GError **error)
{
  const char *problem = describe_rc (rc);
  const char *detail = db != NULL ? sqlite3_errmsg (db) : sqlite3_errstr (rc);
  if (problem != NULL)
    g_set_error (error, PS_ERROR, PS_ERROR_STORE, "%s: %s while %s (SQLite: %s)",
                 path, problem, doing, detail);
  else
    g_set_error (error, PS_ERROR, PS_ERROR_STORE, "%s: SQLite failed while %s: %s",
                 path, doing, detail);
  return FALSE;
}

gboolean
ps_store_fail (PsStore *store, int rc, const char *doing, GError **error)
{
  return ps_store_fail_path (store->path, store->db, rc, doing, error);
}

/* ------------------------------------------------------------------ */
/* Statement cache and transactions                                     */
/* ------------------------------------------------------------------ */

sqlite3_stmt *
ps_store_stmt (PsStore *store, PsStoreStmt id, GError **error)
{
  g_return_val_if_fail (id < PS_STMT_N, NULL);
  sqlite3_stmt *stmt = store->stmts[id];
  if (stmt != NULL)
    {
      sqlite3_reset (stmt);
      sqlite3_clear_bindings (stmt);
      return stmt;
    }
  g_autofree char *generated = NULL;
  const char *sql = stmt_sql[id];
  if (id == PS_STMT_METRIC_INSERT_MANY)
    sql = generated = metric_insert_many_sql ();
  int rc = sqlite3_prepare_v3 (store->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      ps_store_fail (store, rc, "preparing a statement", error);
      return NULL;
    }
  store->stmts[id] = stmt;
  return stmt;
}

gboolean
ps_store_step_done (PsStore *store, sqlite3_stmt *stmt, const char *doing, GError **error)
{
  int rc = sqlite3_step (stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    {
      ps_store_fail (store, rc, doing, error);
      sqlite3_reset (stmt);
      return FALSE;
    }
  sqlite3_reset (stmt);
  return TRUE;
}

gboolean
ps_store_begin (PsStore *store, GError **error)
{
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_BEGIN, error);
  return stmt != NULL && ps_store_step_done (store, stmt, "starting a transaction", error);
}

gboolean
ps_store_commit (PsStore *store, GError **error)
{
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_COMMIT, error);
  if (stmt != NULL && ps_store_step_done (store, stmt, "committing", error))
    return TRUE;
  /* A failed COMMIT (disk full) may leave the transaction open; roll it
   * back so the connection stays usable and nothing half-written stays. */
  ps_store_rollback (store);
  return FALSE;
}

void
ps_store_rollback (PsStore *store)
{
  if (sqlite3_get_autocommit (store->db))
    return;
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_ROLLBACK, NULL);
  if (stmt != NULL)
    {
      sqlite3_step (stmt);
      sqlite3_reset (stmt);
    }
}

gboolean
ps_store_check_run (PsStore *store, gint64 id, GError **error)
{
  sqlite3_stmt *stmt = ps_store_stmt (store, PS_STMT_RUN_EXISTS, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, id);
  int rc = sqlite3_step (stmt);
  sqlite3_reset (stmt);
  if (rc == SQLITE_ROW)
    return TRUE;
  if (rc != SQLITE_DONE)
    return ps_store_fail (store, rc, "looking up a run", error);
  g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND, "%s: no run with id %" G_GINT64_FORMAT,
               store->path, id);
  return FALSE;
}

/* ------------------------------------------------------------------ */
/* Migrations                                                           */
/* ------------------------------------------------------------------ */

static int
pragma_int (sqlite3 *db, const char *sql, int *out)
{
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    return rc;
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      *out = sqlite3_column_int (stmt, 0);
      rc = SQLITE_OK;
    }
  sqlite3_finalize (stmt);
  return rc;
}

gboolean
ps_store_run_migrations (sqlite3 *db, const char *path, const PsStoreMigration *list,
                         guint n, GError **error)
{
  g_return_val_if_fail (db != NULL && list != NULL && n > 0, FALSE);
  const char *doing = "upgrading the schema";
  int rc = sqlite3_exec (db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    return ps_store_fail_path (path, db, rc, doing, error);

  /* Read the version inside the write transaction: another process may
   * have migrated the file between our inspection and now. */
  int version = 0;
  rc = pragma_int (db, "PRAGMA user_version", &version);
  if (rc != SQLITE_OK)
    {
      ps_store_fail_path (path, db, rc, doing, error);
      goto fail;
    }
  int latest = list[n - 1].version;
  if (version > latest)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_STORE,
                   "%s: the store has schema version %d, written by a newer Protoscope "
                   "(this one reads up to version %d)", path, version, latest);
      goto fail;
    }
  for (guint i = 0; i < n; i++)
    {
      g_assert (list[i].version == (int) i + 1);
      if (list[i].version <= version)
        continue;
      char *errmsg = NULL;
      rc = sqlite3_exec (db, list[i].sql, NULL, NULL, &errmsg);
      if (rc != SQLITE_OK)
        {
          g_set_error (error, PS_ERROR, PS_ERROR_STORE,
                       "%s: upgrading the schema to version %d failed: %s",
                       path, list[i].version, errmsg ? errmsg : sqlite3_errstr (rc));
          sqlite3_free (errmsg);
          goto fail;
        }
      /* PRAGMA takes no bound parameters; the value is our own integer. */
      g_autofree char *set = g_strdup_printf ("PRAGMA user_version = %d", list[i].version);
      rc = sqlite3_exec (db, set, NULL, NULL, NULL);
      if (rc != SQLITE_OK)
        {
          ps_store_fail_path (path, db, rc, doing, error);
          goto fail;
        }
    }
  rc = sqlite3_exec (db, "COMMIT", NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    {
      ps_store_fail_path (path, db, rc, doing, error);
      goto fail;
    }
  return TRUE;

fail:
  if (!sqlite3_get_autocommit (db))
    sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
  return FALSE;
}

/* ------------------------------------------------------------------ */
/* Inspection of an existing file (read-only)                           */
/* ------------------------------------------------------------------ */

/* Below this size the whole file is checked (PRAGMA quick_check, a few
 * tens of milliseconds) on open; above it only the schema, the runs and
 * the first page of every other table are read, so opening a large store
 * (the runner opens one per job) stays instant.  Damage deeper inside a
 * large store is then reported by the query that meets it. */
#define FULL_CHECK_MAX_BYTES (8 * 1024 * 1024)

static gboolean
fail_open (const char *path, const char *problem, GError **error)
{
  g_set_error (error, PS_ERROR, PS_ERROR_STORE, "%s: %s", path, problem);
  return FALSE;
}

static gboolean
probe_table (sqlite3 *db, const char *sql)
{
  sqlite3_stmt *stmt = NULL;
  if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK)
    return FALSE;
  int rc;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    ;
  sqlite3_finalize (stmt);
  return rc == SQLITE_DONE;
}

static gboolean
inspect_readonly (const char *path, goffset size, gboolean *empty, int *version_out,
                  GError **error)
{
  gboolean ok = FALSE;
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  *empty = FALSE;

  int rc = sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK)
    {
      ps_store_fail_path (path, db, rc, "opening it read-only to check it", error);
      goto out;
    }
  sqlite3_busy_timeout (db, 5000);

  int app_id = 0, version = 0, n_objects = 0;
  if ((rc = pragma_int (db, "PRAGMA application_id", &app_id)) != SQLITE_OK
      || (rc = pragma_int (db, "PRAGMA user_version", &version)) != SQLITE_OK
      || (rc = pragma_int (db, "SELECT count(*) FROM sqlite_master", &n_objects)) != SQLITE_OK)
    {
      if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT)
        fail_open (path, "the file is corrupt (its schema cannot be read)", error);
      else
        ps_store_fail_path (path, db, rc, "reading its header", error);
      goto out;
    }
  if ((guint32) app_id != PS_STORE_APPLICATION_ID)
    {
      if (app_id == 0 && n_objects == 0 && version == 0)
        {
          /* An empty SQLite file: nothing to protect, it becomes a store. */
          *empty = TRUE;
          ok = TRUE;
          goto out;
        }
      g_autofree char *msg =
        g_strdup_printf ("a SQLite database of another application, not a Protoscope run store "
                         "(application_id 0x%08x, %d schema objects)", (guint32) app_id, n_objects);
      fail_open (path, msg, error);
      goto out;
    }
  if (version > PS_STORE_SCHEMA_VERSION)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_STORE,
                   "%s: the store has schema version %d, written by a newer Protoscope "
                   "(this one reads up to version %d)", path, version, PS_STORE_SCHEMA_VERSION);
      goto out;
    }

  /* The application marker in `meta` guards against a file that merely
   * carries our application_id. */
  if (version >= 1)
    {
      rc = sqlite3_prepare_v2 (db, "SELECT value FROM meta WHERE key = 'application'", -1,
                               &stmt, NULL);
      if (rc == SQLITE_OK)
        rc = sqlite3_step (stmt);
      if (rc != SQLITE_ROW
          || g_strcmp0 ((const char *) sqlite3_column_text (stmt, 0), "protoscope") != 0)
        {
          if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB)
            fail_open (path, "the file is corrupt (its schema cannot be read)", error);
          else
            fail_open (path, "not a Protoscope run store (the application marker is missing)",
                       error);
          goto out;
        }
      sqlite3_finalize (stmt);
      stmt = NULL;
    }

  if (size <= FULL_CHECK_MAX_BYTES)
    {
      rc = sqlite3_prepare_v2 (db, "PRAGMA quick_check", -1, &stmt, NULL);
      if (rc == SQLITE_OK)
        rc = sqlite3_step (stmt);
      if (rc != SQLITE_ROW
          || g_strcmp0 ((const char *) sqlite3_column_text (stmt, 0), "ok") != 0)
        {
          fail_open (path, "the file is corrupt (its integrity check failed)", error);
          goto out;
        }
    }
  else if (version >= 1
           && !(probe_table (db, "SELECT * FROM runs")
                && probe_table (db, "SELECT run FROM metrics LIMIT 1")
                && probe_table (db, "SELECT id FROM artifacts LIMIT 1")
                && probe_table (db, "SELECT run FROM checkpoints LIMIT 1")))
    {
      fail_open (path, "the file is corrupt (a table cannot be read)", error);
      goto out;
    }
  ok = TRUE;
  if (version_out != NULL)
    *version_out = version;

out:
  sqlite3_finalize (stmt);
  sqlite3_close_v2 (db);
  return ok;
}

static gboolean
check_header (const char *path, GError **error)
{
  FILE *f = g_fopen (path, "rb");
  if (f == NULL)
    {
      int saved = errno;
      g_set_error (error, PS_ERROR, PS_ERROR_STORE, "%s: cannot be read: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  char header[100];
  size_t got = fread (header, 1, sizeof header, f);
  fclose (f);
  if (got < sizeof header || memcmp (header, "SQLite format 3", 16) != 0)
    return fail_open (path, "not a SQLite database (wrong file header)", error);
  return TRUE;
}

gboolean
ps_store_check_existing (const char *path, int *version, GError **error)
{
  GStatBuf st;
  if (g_stat (path, &st) != 0)
    {
      int saved = errno;
      g_set_error (error, PS_ERROR, PS_ERROR_STORE, "%s: %s", path, g_strerror (saved));
      return FALSE;
    }
  if (!S_ISREG (st.st_mode))
    return fail_open (path, "not a regular file", error);
  if (!check_header (path, error))
    return FALSE;
  gboolean empty = FALSE;
  if (!inspect_readonly (path, st.st_size, &empty, version, error))
    return FALSE;
  if (empty)
    return fail_open (path, "an empty SQLite database, not a Protoscope run store", error);
  return TRUE;
}

/* Everything that can be said about `path` before writing to it. */
static gboolean
check_before_open (const char *path, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  GStatBuf st;
  if (g_stat (path, &st) != 0)
    {
      int saved = errno;
      if (saved != ENOENT)
        {
          g_set_error (error, PS_ERROR, PS_ERROR_STORE, "%s: %s", path, g_strerror (saved));
          return FALSE;
        }
      if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
        return fail_open (path, "cannot create the store: its folder does not exist", error);
      if (g_access (dir, W_OK | X_OK) != 0)
        return fail_open (path, "cannot create the store: its folder is read-only", error);
      return TRUE;
    }
  if (!S_ISREG (st.st_mode))
    return fail_open (path, "not a regular file", error);
  if (st.st_size > 0)
    {
      gboolean empty;
      if (!check_header (path, error) || !inspect_readonly (path, st.st_size, &empty, NULL, error))
        return FALSE;
    }
  /* SQLite would fail later with a vaguer message, and might already have
   * created a -wal file beside a store it cannot write. */
  if (g_access (path, W_OK) != 0)
    return fail_open (path, "the file is read-only", error);
  if (g_access (dir, W_OK | X_OK) != 0)
    return fail_open (path, "its folder is read-only (SQLite needs to write the -wal "
                      "and -shm files beside it)", error);
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* Opening and closing                                                  */
/* ------------------------------------------------------------------ */

static gboolean
exec_pragma (PsStore *store, const char *sql, GError **error)
{
  int rc = sqlite3_exec (store->db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    return ps_store_fail (store, rc, "configuring the connection", error);
  return TRUE;
}

/* Runs left running (or queued or paused) by a process of this host that
 * no longer exists become `interrupted`; what they wrote stays. */
static gboolean
mark_interrupted (PsStore *store, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2 (store->db,
                               "SELECT id, owner_pid FROM runs WHERE status IN "
                               "('running', 'queued', 'paused') AND owner_host = ?1",
                               -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    return ps_store_fail (store, rc, "looking for interrupted runs", error);
  sqlite3_bind_text (stmt, 1, store->host, -1, SQLITE_STATIC);
  g_autoptr (GArray) dead = g_array_new (FALSE, FALSE, sizeof (gint64));
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      gint64 id = sqlite3_column_int64 (stmt, 0);
      gint64 pid = sqlite3_column_int64 (stmt, 1);
      /* EPERM means the process exists but is someone else's. */
      if (pid <= 0 || (kill ((pid_t) pid, 0) != 0 && errno == ESRCH))
        g_array_append_val (dead, id);
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    return ps_store_fail (store, rc, "looking for interrupted runs", error);
  for (guint i = 0; i < dead->len; i++)
    {
      gint64 id = g_array_index (dead, gint64, i);
      g_debug ("%s: run %" G_GINT64_FORMAT " was left running by a dead process", store->path, id);
      if (!ps_store_set_status (store, id, PS_RUN_INTERRUPTED,
                                "the process running it ended unexpectedly", error))
        return FALSE;
    }
  return TRUE;
}

PsStore *
ps_store_open (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL && *path != '\0', NULL);

  if (!check_before_open (path, error))
    return NULL;

  PsStore *store = g_new0 (PsStore, 1);
  store->path = g_strdup (path);
  store->host = g_strdup (g_get_host_name ());

  int rc = sqlite3_open_v2 (path, &store->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
                            | SQLITE_OPEN_URI, NULL);
  if (rc != SQLITE_OK)
    {
      ps_store_fail (store, rc, "opening it", error);
      goto fail;
    }
  sqlite3_extended_result_codes (store->db, 1);
  sqlite3_busy_timeout (store->db, 5000);

  /* WAL lets a reader (the window) follow a writer (a CLI run) without
   * blocking it; synchronous=NORMAL is durable across crashes of the
   * process, which is what we need, and much faster than FULL.  16 KiB
   * pages (only applied when the file is created) halve the cost of the
   * large artifact blobs and barely change that of metric rows; the cache
   * is 16 MiB. */
  if (!exec_pragma (store, "PRAGMA page_size = 16384", error)
      || !exec_pragma (store, "PRAGMA cache_size = -16384", error)
      || !exec_pragma (store, "PRAGMA journal_mode = WAL", error)
      || !exec_pragma (store, "PRAGMA synchronous = NORMAL", error)
      || !exec_pragma (store, "PRAGMA foreign_keys = ON", error))
    goto fail;

  if (!ps_store_run_migrations (store->db, path, migrations, G_N_ELEMENTS (migrations), error))
    goto fail;

  int app_id = 0;
  rc = pragma_int (store->db, "PRAGMA application_id", &app_id);
  if (rc != SQLITE_OK)
    {
      ps_store_fail (store, rc, "reading its header", error);
      goto fail;
    }
  if ((guint32) app_id != PS_STORE_APPLICATION_ID)
    {
      fail_open (path, "a SQLite database of another application, not a Protoscope run store",
                 error);
      goto fail;
    }

  if (!mark_interrupted (store, error))
    goto fail;
  return store;

fail:
  ps_store_close (store);
  return NULL;
}

void
ps_store_close (PsStore *store)
{
  if (store == NULL)
    return;
  for (guint i = 0; i < PS_STMT_N; i++)
    sqlite3_finalize (store->stmts[i]);
  if (store->db != NULL)
    sqlite3_close_v2 (store->db);
  g_free (store->path);
  g_free (store->host);
  g_free (store);
}

const char *
ps_store_path (PsStore *store)
{
  g_return_val_if_fail (store != NULL, NULL);
  return store->path;
}

char *
ps_store_default_path (void)
{
  g_autofree char *dir = g_build_filename (g_get_user_data_dir (), "protoscope", NULL);
  /* A failure here surfaces as a clear error when the store is opened. */
  g_mkdir_with_parents (dir, 0700);
  return g_build_filename (dir, "runs.sqlite", NULL);
}

/* ------------------------------------------------------------------ */
/* Small shared pieces                                                  */
/* ------------------------------------------------------------------ */

static const char *const status_names[] = {
  [PS_RUN_QUEUED] = "queued",
  [PS_RUN_RUNNING] = "running",
  [PS_RUN_FINISHED] = "finished",
  [PS_RUN_FAILED] = "failed",
  [PS_RUN_CANCELLED] = "cancelled",
  [PS_RUN_INTERRUPTED] = "interrupted",
  [PS_RUN_PAUSED] = "paused",
};

const char *
ps_run_status_name (PsRunStatus s)
{
  g_return_val_if_fail ((guint) s < G_N_ELEMENTS (status_names), "?");
  return status_names[s];
}

gboolean
ps_run_status_from_name (const char *name, PsRunStatus *out)
{
  for (guint i = 0; i < G_N_ELEMENTS (status_names); i++)
    if (g_strcmp0 (status_names[i], name) == 0)
      {
        if (out != NULL)
          *out = (PsRunStatus) i;
        return TRUE;
      }
  return FALSE;
}

void
ps_run_info_free (PsRunInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->name);
  g_free (info->method);
  g_free (info->dataset);
  g_free (info->params_json);
  g_free (info->error);
  g_free (info->version);
  g_free (info->tags);
  g_free (info->note);
  g_free (info->uuid);
  g_free (info);
}
