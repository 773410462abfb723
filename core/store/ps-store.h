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

G_END_DECLS
