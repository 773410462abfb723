/* ps-store.h: the SQLite run store.
 *
 * One ordinary SQLite file holds every run: its record (method, dataset,
 * parameters as JSON, seed, status, times, error, version, tags, note),
 * metric series, artifacts (typed n-d arrays) and checkpoints.  Any SQLite
 * tool can read it.  WAL mode, foreign keys, prepared statements only,
 * schema versions by PRAGMA user_version with migrations.
 *
 * A PsStore is one connection.  It is not shared between threads: each
 * thread that writes opens its own PsStore on the same file (SQLite and
 * WAL serialise the writers; a busy timeout absorbs the waits).
 */
#pragma once

#include <glib.h>
#include "../base/ps-base.h"
#include "../base/ps-array.h"

G_BEGIN_DECLS

typedef struct _PsStore PsStore;

typedef enum
{
  PS_RUN_QUEUED,
  PS_RUN_RUNNING,
  PS_RUN_FINISHED,
  PS_RUN_FAILED,
  PS_RUN_CANCELLED,
  PS_RUN_INTERRUPTED,
  PS_RUN_PAUSED,
} PsRunStatus;

const char *ps_run_status_name (PsRunStatus s);            /* "queued", ... */
gboolean    ps_run_status_from_name (const char *name, PsRunStatus *out);

typedef struct
{
  gint64 id;
  char *name;
  char *method;
  char *dataset;
  char *params_json;
  guint64 seed;
  PsRunStatus status;
  double created, started, finished;   /* Unix seconds; 0 if not yet */
  char *error;                         /* NULL unless failed */
  char *version;
  char *tags;                          /* comma-separated, or NULL */
  char *note;
  char *uuid;                          /* globally unique, used by merge */
  gint64 last_step;                    /* highest metric step stored */
  double progress;                     /* 0..1 as last reported */
} PsRunInfo;

void ps_run_info_free (PsRunInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PsRunInfo, ps_run_info_free)

/* ---- Opening ------------------------------------------------------ */

/* Opens or creates `path`.  A file that is not SQLite, a SQLite file of
 * another application, a store from a newer version, a read-only location
 * or a corrupt file each give a PS_ERROR_STORE error naming the file, and
 * the file is never modified.  Runs left `running` by a crashed process
 * (whose pid is no longer alive) are marked `interrupted`. */
PsStore    *ps_store_open  (const char *path, GError **error);
void        ps_store_close (PsStore *store);
const char *ps_store_path  (PsStore *store);
/* $XDG_DATA_HOME/protoscope/runs.sqlite (directory created). */
char       *ps_store_default_path (void);

/* ---- Runs --------------------------------------------------------- */

gint64    ps_store_create_run (PsStore *store, const char *name, const char *method,
                               const char *dataset, const char *params_json,
                               guint64 seed, GError **error);
PsRunInfo *ps_store_get_run   (PsStore *store, gint64 id, GError **error);
/* Runs matching the filters (NULL = any), newest first.  `name_pattern`
 * is a glob (*, ?).  Returns PsRunInfo*; free with g_ptr_array_unref. */
GPtrArray *ps_store_list_runs (PsStore *store, const char *method, const char *dataset,
                               const char *status, const char *name_pattern,
                               const char *tag, GError **error);
gboolean  ps_store_set_status (PsStore *store, gint64 id, PsRunStatus status,
                               const char *error_message, GError **error);
gboolean  ps_store_set_progress (PsStore *store, gint64 id, double progress, GError **error);
gboolean  ps_store_rename_run (PsStore *store, gint64 id, const char *name, GError **error);
/* Adds (or with remove=TRUE removes) one tag. */
gboolean  ps_store_tag_run    (PsStore *store, gint64 id, const char *tag,
                               gboolean remove, GError **error);
gboolean  ps_store_set_note   (PsStore *store, gint64 id, const char *note, GError **error);
gboolean  ps_store_delete_run (PsStore *store, gint64 id, GError **error);
/* Asks a run (possibly in another process) to stop: the runner polls it. */
gboolean  ps_store_request_cancel (PsStore *store, gint64 id, GError **error);
gboolean  ps_store_cancel_requested (PsStore *store, gint64 id, GError **error);

/* ---- Metrics ------------------------------------------------------ */

typedef struct
{
  gint64 step;
  const char *name;
  double value;
  double wall;    /* seconds since the run started */
} PsMetricRow;

/* Inserts rows in one transaction. */
gboolean  ps_store_add_metrics (PsStore *store, gint64 run, const PsMetricRow *rows,
                                gsize n, GError **error);
/* Names of the run's series, sorted. */
GStrv     ps_store_metric_names (PsStore *store, gint64 run, GError **error);
/* One series: steps and values (GArray of gint64 and double). */
gboolean  ps_store_get_metric (PsStore *store, gint64 run, const char *name,
                               GArray **steps, GArray **values, GError **error);
/* The last value of every series, as a PsMetrics-like pair of arrays:
 * names (GStrv) and values (double*). */
gboolean  ps_store_final_metrics (PsStore *store, gint64 run, GStrv *names,
                                  double **values, GError **error);

/* ---- Artifacts ---------------------------------------------------- */

/* Inserts the arrays (one snapshot) at `step` in one transaction. */
gboolean  ps_store_add_artifacts (PsStore *store, gint64 run, gint64 step,
                                  GPtrArray *arrays, GError **error);
/* Steps that have a snapshot, ascending (GArray of gint64). */
GArray   *ps_store_snapshot_steps (PsStore *store, gint64 run, GError **error);
/* The arrays stored at `step` (step < 0: the last snapshot). */
GPtrArray *ps_store_get_artifacts (PsStore *store, gint64 run, gint64 step, GError **error);
/* One array of `kind` at `step` (step < 0: the last one). */
PsArray  *ps_store_get_artifact (PsStore *store, gint64 run, gint64 step,
                                 const char *kind, GError **error);

/* ---- Checkpoints -------------------------------------------------- */

gboolean  ps_store_put_checkpoint (PsStore *store, gint64 run, gint64 step,
                                   GBytes *blob, GError **error);
/* The latest checkpoint, and its step. */
GBytes   *ps_store_get_checkpoint (PsStore *store, gint64 run, gint64 *step, GError **error);
/* Removes metrics and artifacts after `step` (used by resume). */
gboolean  ps_store_truncate_after (PsStore *store, gint64 run, gint64 step, GError **error);

/* ---- Merge -------------------------------------------------------- */

/* Copies every run of `other_path` not already present (by uuid) with
 * new ids.  Writes the number copied and skipped. */
gboolean  ps_store_merge (PsStore *store, const char *other_path, guint *copied,
                          guint *skipped, GError **error);

/* ---- Additions (store engineer) ------------------------------------ */

/* PRAGMA application_id of every Protoscope store ("PsRS"), and the schema
 * version this program writes (PRAGMA user_version). */
#define PS_STORE_APPLICATION_ID 0x50735253
#define PS_STORE_SCHEMA_VERSION 1

/* One schema migration: the SQL that brings a store from version - 1 to
 * `version`.  The list is ordered; adding schema version 2 means appending
 * one entry to the table in ps-store.c. */
typedef struct
{
  int version;
  const char *sql;
} PsStoreMigration;

/* Runs, in one transaction, every migration of `list` whose version is
 * above the database's user_version and sets user_version after each.  A
 * database newer than the last entry, or a failing step, is an error and
 * leaves the database as it was.  `db` is a sqlite3 connection; `path`
 * names the file in messages.  Exposed so tests can drive fake migrations. */
struct sqlite3;
gboolean ps_store_run_migrations (struct sqlite3 *db, const char *path,
                                  const PsStoreMigration *list, guint n,
                                  GError **error);

/* The number of runs in the store (-1 on error). */
gint64    ps_store_count_runs (PsStore *store, GError **error);

/* The id of the run whose uuid is `uuid`, or 0 (with PS_ERROR_NOT_FOUND). */
gint64    ps_store_find_run_by_uuid (PsStore *store, const char *uuid, GError **error);

#ifdef PS_STORE_COMPILATION
/* Private to core/store/: shared by its .c files. */
#include <sqlite3.h>

typedef enum
{
  PS_STMT_BEGIN,
  PS_STMT_COMMIT,
  PS_STMT_ROLLBACK,
  PS_STMT_RUN_INSERT,
  PS_STMT_RUN_GET,
  PS_STMT_RUN_LIST,
  PS_STMT_RUN_SET_STATUS,
  PS_STMT_RUN_SET_PROGRESS,
  PS_STMT_RUN_RENAME,
  PS_STMT_RUN_GET_TAGS,
  PS_STMT_RUN_SET_TAGS,
  PS_STMT_RUN_SET_NOTE,
  PS_STMT_RUN_DELETE,
  PS_STMT_RUN_REQUEST_CANCEL,
  PS_STMT_RUN_CANCEL_REQUESTED,
  PS_STMT_RUN_COUNT,
  PS_STMT_RUN_BY_UUID,
  PS_STMT_RUN_EXISTS,
  PS_STMT_RUN_BUMP_LAST_STEP,
  PS_STMT_RUN_RESET_LAST_STEP,
  PS_STMT_METRIC_INSERT,
  PS_STMT_METRIC_INSERT_MANY,
  PS_STMT_METRIC_NAMES,
  PS_STMT_METRIC_SERIES,
  PS_STMT_METRIC_FINAL,
  PS_STMT_METRIC_TRUNCATE,
  PS_STMT_ARTIFACT_INSERT,
  PS_STMT_ARTIFACT_STEPS,
  PS_STMT_ARTIFACT_LAST_STEP,
  PS_STMT_ARTIFACT_AT,
  PS_STMT_ARTIFACT_KIND_AT,
  PS_STMT_ARTIFACT_TRUNCATE,
  PS_STMT_ARTIFACT_DELETE_AT,
  PS_STMT_CHECKPOINT_PUT,
  PS_STMT_CHECKPOINT_PRUNE,
  PS_STMT_CHECKPOINT_GET,
  PS_STMT_CHECKPOINT_TRUNCATE,
  PS_STMT_N
} PsStoreStmt;

/* Rows per statement in PS_STMT_METRIC_INSERT_MANY. */
#define PS_STORE_METRIC_CHUNK 64

struct _PsStore
{
  sqlite3 *db;
  char *path;
  char *host;
  sqlite3_stmt *stmts[PS_STMT_N];
};

/* The cached statement `id`, reset and with cleared bindings; NULL and an
 * error when it cannot be prepared. */
sqlite3_stmt *ps_store_stmt (PsStore *store, PsStoreStmt id, GError **error);
/* Sets a PS_ERROR_STORE error naming the file for SQLite result `rc`
 * while `doing` something; always returns FALSE. */
gboolean ps_store_fail (PsStore *store, int rc, const char *doing, GError **error);
gboolean ps_store_fail_path (const char *path, sqlite3 *db, int rc, const char *doing,
                             GError **error);
/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
gboolean ps_store_begin (PsStore *store, GError **error);
gboolean ps_store_commit (PsStore *store, GError **error);
void     ps_store_rollback (PsStore *store);
/* Steps a statement that returns no row (SQLITE_DONE expected). */
gboolean ps_store_step_done (PsStore *store, sqlite3_stmt *stmt, const char *doing,
                             GError **error);
/* Checks, through a read-only connection, that `path` is an existing
 * Protoscope store this program can read; writes its schema version. */
gboolean ps_store_check_existing (const char *path, int *version, GError **error);
/* PS_ERROR_NOT_FOUND unless run `id` exists. */
gboolean ps_store_check_run (PsStore *store, gint64 id, GError **error);
#endif

G_END_DECLS
