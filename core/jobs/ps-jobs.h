/* ps-jobs.h: the job runner.
 *
 * A job trains one method on a worker thread the runner owns (not the GTask
 * pool), taken from a queue with a settable parallelism.  Each worker sets
 * OpenBLAS to one thread unless its job runs alone.  Between steps the
 * worker checks cancel and pause; a method's step is short enough that a
 * cancel takes effect within 200 ms.
 *
 * When the job has a store path, the worker opens its own connection and
 * persists everything: the run record and status, metrics in batched
 * transactions, snapshots (every `snapshot_every` steps and at the end) as
 * artifacts, checkpoints (every `checkpoint_every` steps and at the end).
 * A NaN or Inf loss fails the run with the step and the reason.
 *
 * Events (progress, metrics, snapshots, end states) are queued; a consumer
 * either pops them (ps_runner_pop_event, e.g. the CLI) or attaches a GLib
 * main context, to which they are delivered coalesced: at most one idle
 * source is pending, and it drains the whole queue when it runs.
 */
#pragma once

#include <glib.h>
#include "../base/ps-base.h"
#include "../methods/ps-method.h"
#include "../store/ps-store.h"

G_BEGIN_DECLS

typedef struct _PsRunner PsRunner;
typedef struct _PsJob PsJob;

typedef enum
{
  PS_EVENT_STARTED,
  PS_EVENT_PROGRESS,    /* step, total_steps, loss */
  PS_EVENT_METRICS,     /* step, metrics (evaluation or per-step series) */
  PS_EVENT_SNAPSHOT,    /* step, arrays */
  PS_EVENT_PAUSED,
  PS_EVENT_RESUMED,
  PS_EVENT_FINISHED,    /* metrics: the final evaluation */
  PS_EVENT_FAILED,      /* message: the reason, with the step */
  PS_EVENT_CANCELLED,
} PsEventType;

typedef struct
{
  PsEventType type;
  PsJob *job;           /* a reference, released with the event */
  gint64 run_id;        /* 0 when the job has no store */
  guint64 step;
  guint64 total_steps;
  double loss;
  PsMetrics *metrics;   /* owned, or NULL */
  GPtrArray *arrays;    /* PsArray, owned, or NULL */
  char *message;        /* owned, or NULL */
} PsEvent;

void ps_event_free (PsEvent *event);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PsEvent, ps_event_free)

typedef struct
{
  const PsMethod *method;
  const PsParams *params;      /* copied */
  PsDataset *dataset;          /* referenced; splits already assigned */
  char *dataset_name;          /* what the run record says (a name or a path) */
  guint64 seed;
  char *name;                  /* run name, NULL for "<method>-<dataset>-<seed>" */
  char *store_path;            /* NULL: no persistence */
  gint64 resume_run;           /* > 0: continue this run from its last checkpoint */
  guint snapshot_every;        /* 0: only at the end */
  guint checkpoint_every;      /* 0: only at the end */
  guint eval_every;            /* 0: only at the end; evaluate() every N steps */
  guint64 max_steps;           /* 0: the method's total; > 0: stop after N (tests) */
} PsJobSpec;

/* parallelism 0 = the number of cores. */
PsRunner   *ps_runner_new         (guint parallelism);
/* Cancels every job, waits for the workers and frees the runner. */
void        ps_runner_free        (PsRunner *runner);
void        ps_runner_set_parallelism (PsRunner *runner, guint parallelism);

/* Queues a job.  With a store path, the run record is created (or, for
 * resume, checked) here, synchronously, so the caller knows the run id
 * before the job starts; errors in that step are returned.  Returns a new
 * reference. */
PsJob      *ps_runner_submit      (PsRunner *runner, const PsJobSpec *spec, GError **error);

/* Delivers events to `func` on `context` (NULL = the default context),
 * coalesced through at most one pending idle source. */
typedef void (*PsEventFunc) (const PsEvent *event, gpointer user_data);
void        ps_runner_attach      (PsRunner *runner, GMainContext *context,
                                   PsEventFunc func, gpointer user_data);
/* For consumers without a main loop: the next event, waiting up to
 * timeout_ms (-1 forever); NULL on timeout.  Not to be mixed with attach. */
PsEvent    *ps_runner_pop_event   (PsRunner *runner, int timeout_ms);

PsJob      *ps_job_ref            (PsJob *job);
void        ps_job_unref          (PsJob *job);
void        ps_job_cancel         (PsJob *job);
void        ps_job_pause          (PsJob *job);
void        ps_job_resume         (PsJob *job);
gint64      ps_job_get_run_id     (PsJob *job);
PsRunStatus ps_job_get_status     (PsJob *job);
/* Blocks until the job has ended (finished, failed or cancelled). */
PsRunStatus ps_job_wait           (PsJob *job);
/* The final metrics (after finished) or NULL; a new copy. */
PsMetrics  *ps_job_get_final_metrics (PsJob *job);
/* The failure message, or NULL. */
char       *ps_job_get_error      (PsJob *job);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PsJob, ps_job_unref)

/* ---- Additions (jobs engineer) ------------------------------------ */

/* Conventions of this implementation:
 *
 * - Steps are 0-based indices.  Progress, metrics and snapshot events, the
 *   stored metric rows, artifacts and checkpoints "at step i" all mean
 *   "after step i ran"; a run resumed from a checkpoint at step i goes on
 *   with step i+1.  Evaluation, snapshots and checkpoints happen after step
 *   i when (i + 1) is a multiple of their `_every`, and once more at the end
 *   unless the schedule just did, so the schedule depends on the step alone
 *   and a resumed run equals an uninterrupted one.
 * - max_steps counts from step 0 of the run (a resumed run stops at the same
 *   step); reaching it ends the job FINISHED with the usual final
 *   evaluation, snapshot and checkpoint.
 * - Every step emits PROGRESS (loss, and the step's PsStepInfo.metrics,
 *   whose ownership the runner takes).  A PROGRESS still queued when the
 *   same job emits the next one is replaced by it; all other events are
 *   delivered once each, in order.  METRICS events carry evaluations only;
 *   the per-step series ("loss" and the step metrics) go to the store.
 * - A NaN or Inf loss fails the run: "loss became NaN at step N" (or Inf),
 *   so a method without a loss must report some finite value.
 * - A method that abandons a step because PsStepInfo.cancel rose returns
 *   FALSE with PS_ERROR_CANCELLED: the job ends CANCELLED, and no checkpoint
 *   is taken of the half-done step (the last periodic one stays).
 * - A cancelled job with a store keeps a checkpoint at its last complete
 *   step.  Resuming (spec.resume_run) takes the method (when spec.method is
 *   NULL), the parameters (when spec.params is NULL), the seed and the names
 *   from the run record.
 * - BLAS threads: OpenBLAS's count is process-wide.  A job running alone
 *   gets every core (at most OPENBLAS_NUM_THREADS when set); whenever two or
 *   more run, everybody gets one.  Workers re-check between steps.
 */

/* Event delivery counters, for tests and diagnostics.  With a context
 * attached, max_pending_idle never exceeds 1 (coalescing), and one idle
 * dispatch may deliver many events. */
typedef struct
{
  guint events_pushed;      /* every event a worker emitted */
  guint events_collapsed;   /* progress events replaced by a newer one while queued */
  guint events_delivered;   /* handed to the attached func or popped */
  guint idle_scheduled;
  guint idle_dispatched;
  guint max_pending_idle;   /* the most idle sources ever pending at once */
} PsDeliveryStats;

void        ps_runner_get_delivery_stats (PsRunner *runner, PsDeliveryStats *stats);

/* How many steps the job has completed so far (including those of the run
 * it resumes) and, when non-NULL, the method's total (0 before start). */
guint64     ps_job_get_steps_done (PsJob *job, guint64 *total_steps);

G_END_DECLS
