/* ps-job-run.c: one job's life on its worker thread.
 *
 * create (or create + load a checkpoint) -> steps -> end state.  Between
 * steps the worker honours pause and cancel, and on a schedule that depends
 * only on the step index it evaluates, snapshots and checkpoints.  Because
 * the schedule is a function of the step alone, a run stopped at step k and
 * resumed from its checkpoint at k performs exactly the same calls, in the
 * same order, as a run that never stopped; together with a method whose
 * save/load carries its RNG and step, the two give bit-identical results.
 *
 * Step numbering: PsStepInfo.step is the 0-based index of the step.  A
 * metric row, an artifact or a checkpoint "at step i" was taken after step
 * i ran, and resuming from a checkpoint at step i continues with step i+1.
 * Progress, metrics and snapshot events carry that same index.
 *
 * Persistence: the worker opens its own PsStore (connections are not
 * shared across threads).  Metric rows are buffered and written in one
 * transaction every quarter second or 256 rows, and at every end state, so
 * a killed process loses at most the last batch.  The run's progress is
 * written at the same rate, and the run's cancel flag (set by
 * `protoscope-cli cancel` from another process) is polled as often.  Any
 * store failure fails the run with a message that says so.
 */
#define G_LOG_DOMAIN "ps-jobs"

#include "ps-jobs-private.h"

#include <math.h>

#define FLUSH_INTERVAL   0.25   /* seconds between metric transactions */
#define FLUSH_ROWS       256    /* or this many rows, whichever comes first */
#define POLL_INTERVAL    0.25   /* seconds between progress writes and cancel polls */

typedef struct
{
  PsJob *job;
  const PsMethod *method;
  gpointer model;
  PsStore *store;            /* NULL without persistence */
  GArray *rows;              /* PsMetricRow; names are interned strings */
  double t0;
  double last_flush;
  double last_poll;
  guint64 total;
  gint64 last_done;          /* index of the last completed step, -1 before any */
  gint64 last_eval;          /* step of the last evaluation / snapshot / checkpoint */
  gint64 last_snapshot;
  gint64 last_checkpoint;
  PsMetrics *eval;           /* the last evaluation */
  gboolean state_partial;    /* a step was abandoned half-way: do not checkpoint */
  gboolean stopped;          /* training ended because of a cancel */
} RunCtx;

static gboolean
cancelled (RunCtx *c)
{
  return g_atomic_int_get (&c->job->cancel) != 0;
}

static void
emit (RunCtx *c, PsEventType type, gint64 step, double loss, PsMetrics *metrics, GPtrArray *arrays)
{
  PsRunner *runner = c->job->runner;
  PsEvent *event = ps_event_new_for_job (type, c->job);
  event->step = step < 0 ? 0 : (guint64) step;
  event->total_steps = c->total;
  event->loss = loss;
  event->metrics = metrics;
  event->arrays = arrays;
  ps_runner_push_event (runner, event);
}

/* Turns a store error into the run's failure message. */
static void
store_failed (RunCtx *c, GError **error, GError *store_error, const char *what)
{
  if (store_error == NULL)
    g_set_error (error, PS_ERROR, PS_ERROR_STORE, "%s: could not %s", ps_store_path (c->store), what);
  else
    g_propagate_prefixed_error (error, store_error, "could not %s in the run store: ", what);
}

static void
add_row (RunCtx *c, gint64 step, const char *name, double value)
{
  if (c->store == NULL)
    return;
  PsMetricRow row = { step, g_intern_string (name), value, ps_now () - c->t0 };
  g_array_append_val (c->rows, row);
}

static gboolean
flush_rows (RunCtx *c, GError **error)
{
  c->last_flush = ps_now ();
  if (c->store == NULL || c->rows->len == 0)
    return TRUE;
  GError *local = NULL;
  if (!ps_store_add_metrics (c->store, c->job->run_id, (PsMetricRow *) c->rows->data,
                             c->rows->len, &local))
    {
      store_failed (c, error, local, "write metrics");
      return FALSE;
    }
  g_array_set_size (c->rows, 0);
  return TRUE;
}

static gboolean
set_store_status (RunCtx *c, PsRunStatus status, const char *message, GError **error)
{
  GError *local = NULL;
  if (c->store && !ps_store_set_status (c->store, c->job->run_id, status, message, &local))
    {
      store_failed (c, error, local, "record the run's status");
      return FALSE;
    }
  return TRUE;
}

/* Metric flushes, progress and the cross-process cancel flag, each at
 * most a few times a second. */
static gboolean
periodic_store_work (RunCtx *c, GError **error)
{
  if (c->store == NULL)
    return TRUE;
  double now = ps_now ();
  if ((c->rows->len >= FLUSH_ROWS || now - c->last_flush >= FLUSH_INTERVAL)
      && !flush_rows (c, error))
    return FALSE;
  if (now - c->last_poll >= POLL_INTERVAL)
    {
      GError *local = NULL;
      c->last_poll = now;
      double progress = c->total ? (double) (c->last_done + 1) / (double) c->total : 0.0;
      if (!ps_store_set_progress (c->store, c->job->run_id, CLAMP (progress, 0.0, 1.0), &local))
        {
          store_failed (c, error, local, "record progress");
          return FALSE;
        }
      gboolean requested = ps_store_cancel_requested (c->store, c->job->run_id, &local);
      if (local)
        {
          store_failed (c, error, local, "read the cancel flag");
          return FALSE;
        }
      if (requested)
        ps_job_cancel (c->job);
    }
  return TRUE;
}

static gboolean
do_evaluate (RunCtx *c, gint64 step, GError **error)
{
  PsMetrics *m = c->method->evaluate (c->model);
  if (m == NULL)
    m = ps_metrics_new ();
  for (guint i = 0; i < ps_metrics_len (m); i++)
    add_row (c, step, ps_metrics_name (m, i), ps_metrics_value (m, i));
  g_clear_pointer (&c->eval, ps_metrics_free);
  c->eval = m;
  c->last_eval = step;
  emit (c, PS_EVENT_METRICS, step, NAN, ps_metrics_copy_internal (m), NULL);
  return TRUE;
}

static gboolean
do_snapshot (RunCtx *c, gint64 step, GError **error)
{
  c->last_snapshot = step;
  if (c->method->snapshot == NULL)
    return TRUE;
  GPtrArray *arrays = c->method->snapshot (c->model);
  if (arrays == NULL)
    return TRUE;
  if (c->store)
    {
      GError *local = NULL;
      if (!ps_store_add_artifacts (c->store, c->job->run_id, step, arrays, &local))
        {
          g_ptr_array_unref (arrays);
          store_failed (c, error, local, "write a snapshot");
          return FALSE;
        }
    }
  emit (c, PS_EVENT_SNAPSHOT, step, NAN, NULL, arrays);
  return TRUE;
}

static gboolean
do_checkpoint (RunCtx *c, gint64 step, GError **error)
{
  c->last_checkpoint = step;
  if (c->store == NULL || c->method->save == NULL || step < 0)
    return TRUE;
  g_autoptr (GBytes) blob = c->method->save (c->model);
  if (blob == NULL)
    return TRUE;
  GError *local = NULL;
  /* The metrics up to this step go first, so the store never holds a
   * checkpoint ahead of its curves. */
  if (!flush_rows (c, error))
    return FALSE;
  if (!ps_store_put_checkpoint (c->store, c->job->run_id, step, blob, &local))
    {
      store_failed (c, error, local, "write a checkpoint");
      return FALSE;
    }
  return TRUE;
}

static gboolean
due (guint every, gint64 step)
{
  return every > 0 && (step + 1) % every == 0;
}

/* Blocks while the job is paused.  Returns FALSE on a store error. */
static gboolean
wait_while_paused (RunCtx *c, GError **error)
{
  PsJob *job = c->job;

  g_mutex_lock (&job->lock);
  gboolean pause = job->pause_requested && !cancelled (c);
  g_mutex_unlock (&job->lock);
  if (!pause)
    return TRUE;

  if (!flush_rows (c, error) || !set_store_status (c, PS_RUN_PAUSED, NULL, error))
    return FALSE;
  ps_job_set_status (job, PS_RUN_PAUSED);
  emit (c, PS_EVENT_PAUSED, c->last_done, NAN, NULL, NULL);

  g_mutex_lock (&job->lock);
  while (job->pause_requested && !cancelled (c))
    {
      if (c->store == NULL)
        {
          g_cond_wait (&job->cond, &job->lock);
          continue;
        }
      /* With a store, wake up now and then to read the cross-process cancel
       * flag; a resume or cancel here still wakes the wait at once. */
      gint64 until = g_get_monotonic_time () + (gint64) (POLL_INTERVAL * G_USEC_PER_SEC);
      if (g_cond_wait_until (&job->cond, &job->lock, until))
        continue;
      g_mutex_unlock (&job->lock);
      GError *local = NULL;
      gboolean requested = ps_store_cancel_requested (c->store, job->run_id, &local);
      if (local)
        {
          store_failed (c, error, local, "read the cancel flag");
          return FALSE;
        }
      if (requested)
        g_atomic_int_set (&job->cancel, 1);
      g_mutex_lock (&job->lock);
    }
  g_mutex_unlock (&job->lock);

  if (cancelled (c))
    return TRUE;
  if (!set_store_status (c, PS_RUN_RUNNING, NULL, error))
    return FALSE;
  ps_job_set_status (job, PS_RUN_RUNNING);
  emit (c, PS_EVENT_RESUMED, c->last_done, NAN, NULL, NULL);
  return TRUE;
}

static void
set_steps_done (RunCtx *c)
{
  g_mutex_lock (&c->job->lock);
  c->job->steps_done = (guint64) (c->last_done + 1);
  c->job->total_steps = c->total;
  g_mutex_unlock (&c->job->lock);
}

/* Prepares the model: create, and for a resumed run load the checkpoint
 * and drop what the earlier attempt stored after it. */
static gboolean
start_model (RunCtx *c, GError **error)
{
  PsJob *job = c->job;

  c->model = c->method->create (c->method, job->params, job->dataset, job->seed, error);
  if (c->model == NULL)
    {
      if (error && *error == NULL)
        g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "%s could not build its model", c->method->id);
      return FALSE;
    }
  c->total = c->method->total_steps (c->model);
  if (job->resume_blob == NULL)
    return TRUE;

  if (c->method->load == NULL)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_UNSUPPORTED, "%s cannot load checkpoints", c->method->id);
      return FALSE;
    }
  if (!c->method->load (c->model, job->resume_blob, error))
    {
      g_prefix_error (error, "could not load the checkpoint at step %" G_GINT64_FORMAT ": ",
                      job->resume_step);
      return FALSE;
    }
  GError *local = NULL;
  if (c->store && !ps_store_truncate_after (c->store, job->run_id, job->resume_step, &local))
    {
      store_failed (c, error, local, "drop what came after the checkpoint");
      return FALSE;
    }
  c->last_done = job->resume_step;
  c->last_checkpoint = job->resume_step;
  return TRUE;
}

/* The step loop.  Returns FALSE with an error on failure; on return with
 * TRUE the job either reached its end or was cancelled. */
static gboolean
train (RunCtx *c, GError **error)
{
  PsJob *job = c->job;
  guint64 end = job->max_steps > 0 ? MIN (c->total, job->max_steps) : c->total;
  gboolean done = FALSE;

  for (guint64 step = (guint64) (c->last_done + 1); step < end && !done; step++)
    {
      if (!wait_while_paused (c, error))
        return FALSE;
      if (cancelled (c))
        {
          c->stopped = TRUE;
          return TRUE;
        }
      ps_runner_update_blas_threads (job->runner);

      PsStepInfo info = { 0 };
      info.step = step;
      info.total_steps = c->total;
      info.cancel = &job->cancel;
      info.loss = NAN;
      GError *local = NULL;
      if (!c->method->step (c->model, &info, &local))
        {
          g_clear_pointer (&info.metrics, ps_metrics_free);
          if (g_error_matches (local, PS_ERROR, PS_ERROR_CANCELLED) && cancelled (c))
            {
              /* The method gave up half-way through the step because it
               * was asked to: the model is not at a step boundary, so no
               * checkpoint of it may be taken. */
              g_error_free (local);
              c->state_partial = TRUE;
              c->stopped = TRUE;
              return TRUE;
            }
          if (local == NULL)
            g_set_error (&local, PS_ERROR, PS_ERROR_VALUE, "%s failed", c->method->id);
          g_propagate_prefixed_error (error, local, "step %" G_GUINT64_FORMAT ": ", step);
          return FALSE;
        }
      if (!isfinite (info.loss))
        {
          g_clear_pointer (&info.metrics, ps_metrics_free);
          g_set_error (error, PS_ERROR, PS_ERROR_DIVERGED, "loss became %s at step %" G_GUINT64_FORMAT,
                       isnan (info.loss) ? "NaN" : "Inf", step);
          return FALSE;
        }
      c->last_done = (gint64) step;
      set_steps_done (c);
      done = info.done;

      add_row (c, step, "loss", info.loss);
      if (info.metrics)
        for (guint i = 0; i < ps_metrics_len (info.metrics); i++)
          add_row (c, step, ps_metrics_name (info.metrics, i), ps_metrics_value (info.metrics, i));
      emit (c, PS_EVENT_PROGRESS, step, info.loss, g_steal_pointer (&info.metrics), NULL);

      if (due (job->eval_every, step) && !do_evaluate (c, step, error))
        return FALSE;
      if (due (job->snapshot_every, step) && !do_snapshot (c, step, error))
        return FALSE;
      if (due (job->checkpoint_every, step) && !do_checkpoint (c, step, error))
        return FALSE;
      if (!periodic_store_work (c, error))
        return FALSE;
    }
  return TRUE;
}

/* The end of a run that was not cancelled: evaluate, snapshot and
 * checkpoint at the last step unless the schedule just did. */
static gboolean
finish (RunCtx *c, GError **error)
{
  gint64 step = MAX (c->last_done, 0);
  /* A run resumed with no step left to do (it had reached its end) already
   * stored its final evaluation, snapshot and checkpoint at this step: the
   * evaluation is repeated for the FINISHED event only. */
  if (c->job->resume_step >= 0 && c->last_done == c->job->resume_step)
    {
      c->eval = c->method->evaluate (c->model);
      if (c->eval == NULL)
        c->eval = ps_metrics_new ();
    }
  else
    {
      if ((c->eval == NULL || c->last_eval != step) && !do_evaluate (c, step, error))
        return FALSE;
      if (c->last_snapshot != step && !do_snapshot (c, step, error))
        return FALSE;
      if (c->last_checkpoint != c->last_done && !do_checkpoint (c, c->last_done, error))
        return FALSE;
    }
  if (!flush_rows (c, error))
    return FALSE;
  GError *local = NULL;
  if (c->store && !ps_store_set_progress (c->store, c->job->run_id, 1.0, &local))
    {
      store_failed (c, error, local, "record progress");
      return FALSE;
    }
  return set_store_status (c, PS_RUN_FINISHED, NULL, error);
}

/* A cancelled run keeps a checkpoint at its last complete step, so that
 * `resume` continues it. */
static gboolean
stop (RunCtx *c, GError **error)
{
  if (!c->state_partial && c->model && c->last_done >= 0 && c->last_checkpoint != c->last_done
      && !do_checkpoint (c, c->last_done, error))
    return FALSE;
  if (!flush_rows (c, error))
    return FALSE;
  return set_store_status (c, PS_RUN_CANCELLED, NULL, error);
}

void
ps_job_run (PsJob *job)
{
  RunCtx ctx = { 0 };
  RunCtx *c = &ctx;
  g_autoptr (GError) error = NULL;
  gboolean ok = TRUE;

  c->job = job;
  c->method = job->method;
  c->rows = g_array_new (FALSE, FALSE, sizeof (PsMetricRow));
  c->t0 = ps_now ();
  c->last_flush = c->last_poll = c->t0;
  c->last_done = c->last_eval = c->last_snapshot = c->last_checkpoint = -1;

  if (job->store_path)
    {
      c->store = ps_store_open (job->store_path, &error);
      if (c->store == NULL)
        {
          g_prefix_error (&error, "could not open the run store: ");
          ok = FALSE;
        }
    }

  if (ok && cancelled (c))
    {
      /* Cancelled between leaving the queue and starting. */
      c->stopped = TRUE;
      ok = set_store_status (c, PS_RUN_CANCELLED, NULL, &error);
      goto out;
    }

  if (ok)
    ok = set_store_status (c, PS_RUN_RUNNING, NULL, &error);
  if (ok)
    {
      ps_job_set_status (job, PS_RUN_RUNNING);
      ps_runner_update_blas_threads (job->runner);
      ok = start_model (c, &error);
    }
  if (ok)
    {
      set_steps_done (c);
      emit (c, PS_EVENT_STARTED, c->last_done + 1, NAN, NULL, NULL);
      ok = train (c, &error);
    }
  if (ok)
    ok = c->stopped ? stop (c, &error) : finish (c, &error);

out:
  if (!ok)
    {
      /* Keep what was measured before the failure; a store that just
       * failed may fail again, which changes nothing. */
      g_autoptr (GError) ignored = NULL;
      if (c->store && !g_error_matches (error, PS_ERROR, PS_ERROR_STORE))
        flush_rows (c, &ignored);
      g_clear_error (&ignored);
      set_store_status (c, PS_RUN_FAILED, error->message, &ignored);
      if (ignored)
        g_message ("run %" G_GINT64_FORMAT ": could not record the failure: %s",
                   job->run_id, ignored->message);
    }

  guint64 end_step = (guint64) MAX (c->last_done, 0);
  if (!ok)
    ps_job_set_ended (job, PS_RUN_FAILED, end_step, c->total, NULL, error->message);
  else if (c->stopped)
    ps_job_set_ended (job, PS_RUN_CANCELLED, end_step, c->total, NULL, NULL);
  else
    ps_job_set_ended (job, PS_RUN_FINISHED, end_step, c->total, c->eval, NULL);

  if (c->model)
    c->method->free (c->model);
  g_clear_pointer (&c->eval, ps_metrics_free);
  g_array_unref (c->rows);
  if (c->store)
    ps_store_close (c->store);
}
