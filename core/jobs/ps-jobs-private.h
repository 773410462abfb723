/* ps-jobs-private.h: what the runner (ps-jobs.c), the event queue
 * (ps-job-events.c) and the worker's training loop (ps-job-run.c) share.
 * Not installed, not for other modules. */
#pragma once

#include "ps-jobs.h"

G_BEGIN_DECLS

struct _PsJob
{
  gint ref_count;            /* atomic */
  PsRunner *runner;          /* borrowed: the runner outlives every running job */

  /* The spec, owned copies. */
  const PsMethod *method;
  PsParams *params;
  PsDataset *dataset;        /* a reference, dropped once the job has ended */
  char *dataset_name;
  guint64 seed;
  char *name;
  char *store_path;
  gint64 resume_run;
  guint snapshot_every;
  guint checkpoint_every;
  guint eval_every;
  guint64 max_steps;

  /* Resume: the checkpoint found at submit time and its step. */
  GBytes *resume_blob;
  gint64 resume_step;

  gint64 run_id;             /* 0 without a store; set before the job is queued */

  /* Non-zero once cancel was asked for.  Read by the worker between steps
   * and by the method's inner loops through PsStepInfo.cancel, so it is
   * only touched with g_atomic_int_*. */
  gint cancel;

  /* Everything below is guarded by `lock`; `cond` is broadcast whenever the
   * status, `pause_requested` or `cancel` changes. */
  GMutex lock;
  GCond cond;
  gboolean pause_requested;
  gboolean started;          /* taken by a worker (so no longer in the queue) */
  gboolean ended;
  PsRunStatus status;
  guint64 steps_done;
  guint64 total_steps;
  PsMetrics *final_metrics;
  char *error;
};

struct _PsRunner
{
  /* The job queue and the workers: guarded by `lock`; `cond` is broadcast
   * when a job is queued, a slot frees up, the parallelism changes or the
   * runner shuts down. */
  GMutex lock;
  GCond cond;
  GQueue queue;              /* PsJob* (references), FIFO */
  GPtrArray *threads;        /* GThread* */
  GPtrArray *jobs;           /* every job submitted (references), for free */
  guint parallelism;
  guint n_running;
  gboolean shutting_down;
  int blas_threads;          /* what the workers last asked OpenBLAS for; 0 = never */

  /* The event queue: guarded by `ev_lock`; `ev_cond` is signalled when an
   * event is pushed (for ps_runner_pop_event). */
  GMutex ev_lock;
  GCond ev_cond;
  GQueue events;             /* PsEvent* */
  GMainContext *context;     /* attached consumer, or NULL */
  PsEventFunc func;
  gpointer user_data;
  GSource *idle;             /* the one pending delivery source, or NULL */
  /* Delivery statistics for tests and diagnostics. */
  guint n_idle_scheduled;
  guint n_idle_dispatched;
  guint n_delivered;
  guint n_pushed;
  guint n_collapsed;
  guint max_pending;
};

/* ps-job-events.c */
PsEvent *ps_event_new_for_job (PsEventType type, PsJob *job);
/* Queues `event` (taking ownership) and wakes whoever consumes events. */
void     ps_runner_push_event (PsRunner *runner, PsEvent *event);
/* Drops queued events and the pending delivery source (runner teardown). */
void     ps_runner_events_clear (PsRunner *runner);

/* ps-job-run.c: runs one job to its end on the calling worker thread. */
void     ps_job_run (PsJob *job);
/* Records the job's end state, wakes waiters and emits the end event.
 * `metrics` and `message` are copied. */
void     ps_job_set_ended (PsJob *job, PsRunStatus status, guint64 step, guint64 total,
                           const PsMetrics *metrics, const char *message);
void     ps_job_set_status (PsJob *job, PsRunStatus status);
/* The number of BLAS threads the job should use now: the cores when it runs
 * alone, else one.  Called by a worker with no lock held. */
void     ps_runner_update_blas_threads (PsRunner *runner);

PsMetrics *ps_metrics_copy_internal (const PsMetrics *m);

G_END_DECLS
