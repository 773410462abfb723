/* ps-jobs.c: the runner's queue, its worker threads and the job handle.
 *
 * The runner owns plain GThreads (not the GTask pool, whose threads are
 * shared with every other GIO user and must not be blocked for minutes).
 * Jobs wait in a FIFO queue guarded by one mutex; a worker sleeps on a
 * condition variable until a job is queued and a slot is free (fewer than
 * `parallelism` jobs running).  Threads are created lazily, up to the
 * parallelism, and live until the runner is freed; lowering the
 * parallelism leaves the extra threads asleep rather than killing them.
 *
 * OpenBLAS's thread count is process-wide, so the runner cannot give one
 * job many BLAS threads and another one.  The compromise: every change is
 * made under the runner's lock, a job that runs alone asks for all the
 * cores (capped by OPENBLAS_NUM_THREADS when the user set it, since those
 * threads busy-wait and a user who limited them meant it), and as soon as a
 * second job runs the count drops to one for everybody.  Workers re-check
 * between steps, so a job left alone after the others ended gets the cores
 * back.  Raising the count only ever happens while a single job runs, so no
 * other job can be inside a BLAS call at that moment.
 */
#define G_LOG_DOMAIN "ps-jobs"

#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include "ps-jobs-private.h"

#include <stdlib.h>

/* ------------------------------------------------------------------ */
/* Jobs                                                                 */
/* ------------------------------------------------------------------ */

PsMetrics *
ps_metrics_copy_internal (const PsMetrics *m)
{
  if (m == NULL)
    return NULL;
  PsMetrics *copy = ps_metrics_new ();
  for (guint i = 0; i < ps_metrics_len (m); i++)
    ps_metrics_set (copy, ps_metrics_name (m, i), ps_metrics_value (m, i));
  return copy;
}

static PsJob *
ps_job_new (PsRunner *runner, const PsJobSpec *spec)
{
  PsJob *job = g_new0 (PsJob, 1);
  job->ref_count = 1;
  job->runner = runner;
  job->method = spec->method;
  job->params = spec->params ? ps_params_copy (spec->params) : NULL;
  job->dataset = spec->dataset ? ps_dataset_ref (spec->dataset) : NULL;
  job->dataset_name = g_strdup (spec->dataset_name ? spec->dataset_name
                                : spec->dataset && spec->dataset->name ? spec->dataset->name
                                : "none");
  job->seed = spec->seed;
  job->name = g_strdup (spec->name);
  job->store_path = g_strdup (spec->store_path);
  job->resume_run = spec->resume_run;
  job->snapshot_every = spec->snapshot_every;
  job->checkpoint_every = spec->checkpoint_every;
  job->eval_every = spec->eval_every;
  job->max_steps = spec->max_steps;
  job->resume_step = -1;
  job->status = PS_RUN_QUEUED;
  g_mutex_init (&job->lock);
  g_cond_init (&job->cond);
  return job;
}

PsJob *
ps_job_ref (PsJob *job)
{
  g_return_val_if_fail (job != NULL, NULL);
  g_atomic_int_inc (&job->ref_count);
  return job;
}

void
ps_job_unref (PsJob *job)
{
  if (job == NULL)
    return;
  if (!g_atomic_int_dec_and_test (&job->ref_count))
    return;
  g_clear_pointer (&job->params, ps_params_free);
  g_clear_pointer (&job->dataset, ps_dataset_unref);
  g_free (job->dataset_name);
  g_free (job->name);
  g_free (job->store_path);
  g_clear_pointer (&job->resume_blob, g_bytes_unref);
  g_clear_pointer (&job->final_metrics, ps_metrics_free);
  g_free (job->error);
  g_mutex_clear (&job->lock);
  g_cond_clear (&job->cond);
  g_free (job);
}

void
ps_job_set_status (PsJob *job, PsRunStatus status)
{
  g_mutex_lock (&job->lock);
  job->status = status;
  g_cond_broadcast (&job->cond);
  g_mutex_unlock (&job->lock);
}

void
ps_job_set_ended (PsJob *job, PsRunStatus status, guint64 step, guint64 total,
                  const PsMetrics *metrics, const char *message)
{
  PsRunner *runner;
  PsEventType type = status == PS_RUN_FINISHED ? PS_EVENT_FINISHED
                     : status == PS_RUN_FAILED ? PS_EVENT_FAILED
                     : PS_EVENT_CANCELLED;
  PsEvent *event = ps_event_new_for_job (type, job);
  event->step = step;
  event->total_steps = total;
  event->metrics = ps_metrics_copy_internal (metrics);
  event->message = g_strdup (message);

  g_mutex_lock (&job->lock);
  g_assert (!job->ended);
  job->status = status;
  job->ended = TRUE;
  g_clear_pointer (&job->final_metrics, ps_metrics_free);
  job->final_metrics = status == PS_RUN_FINISHED ? ps_metrics_copy_internal (metrics) : NULL;
  g_free (job->error);
  job->error = g_strdup (message);
  /* The model holds its own reference; the job needs the data no longer. */
  g_clear_pointer (&job->dataset, ps_dataset_unref);
  g_clear_pointer (&job->resume_blob, g_bytes_unref);
  runner = job->runner;
  /* The end event is queued before waiters wake, so whoever returns from
   * ps_job_wait finds it already in the queue. */
  if (runner)
    ps_runner_push_event (runner, event);
  else
    ps_event_free (event);
  g_cond_broadcast (&job->cond);
  g_mutex_unlock (&job->lock);
}

/* Ends a job that never reached a worker.  Its run record (if any) is
 * marked cancelled through a short-lived connection of the caller's own. */
static void
ps_job_end_unstarted (PsJob *job)
{
  if (job->store_path && job->run_id > 0)
    {
      g_autoptr (GError) error = NULL;
      PsStore *store = ps_store_open (job->store_path, &error);
      if (store == NULL || !ps_store_set_status (store, job->run_id, PS_RUN_CANCELLED, NULL, &error))
        g_message ("run %" G_GINT64_FORMAT ": could not record the cancellation: %s",
                   job->run_id, error ? error->message : "unknown error");
      if (store)
        ps_store_close (store);
    }
  ps_job_set_ended (job, PS_RUN_CANCELLED, 0, 0, NULL, NULL);
}

void
ps_job_cancel (PsJob *job)
{
  g_return_if_fail (job != NULL);

  PsRunner *runner;
  gboolean started;
  gboolean dequeued = FALSE;

  g_atomic_int_set (&job->cancel, 1);
  g_mutex_lock (&job->lock);
  runner = job->ended ? NULL : job->runner;
  started = job->started;
  g_cond_broadcast (&job->cond);
  g_mutex_unlock (&job->lock);

  if (runner == NULL || started)
    return;

  /* Still queued: take it out so it ends now rather than when a slot
   * frees up (which may be after a long job). */
  g_mutex_lock (&runner->lock);
  dequeued = g_queue_remove (&runner->queue, job);
  g_mutex_unlock (&runner->lock);
  if (dequeued)
    {
      ps_job_end_unstarted (job);
      ps_job_unref (job);   /* the queue's reference */
    }
}

void
ps_job_pause (PsJob *job)
{
  g_return_if_fail (job != NULL);
  g_mutex_lock (&job->lock);
  if (!job->ended)
    job->pause_requested = TRUE;
  g_cond_broadcast (&job->cond);
  g_mutex_unlock (&job->lock);
}

void
ps_job_resume (PsJob *job)
{
  g_return_if_fail (job != NULL);
  g_mutex_lock (&job->lock);
  job->pause_requested = FALSE;
  g_cond_broadcast (&job->cond);
  g_mutex_unlock (&job->lock);
}

gint64
ps_job_get_run_id (PsJob *job)
{
  g_return_val_if_fail (job != NULL, 0);
  return job->run_id;
}

PsRunStatus
ps_job_get_status (PsJob *job)
{
  g_return_val_if_fail (job != NULL, PS_RUN_FAILED);
  g_mutex_lock (&job->lock);
  PsRunStatus status = job->status;
  g_mutex_unlock (&job->lock);
  return status;
}

PsRunStatus
ps_job_wait (PsJob *job)
{
  g_return_val_if_fail (job != NULL, PS_RUN_FAILED);
  g_mutex_lock (&job->lock);
  while (!job->ended)
    g_cond_wait (&job->cond, &job->lock);
  PsRunStatus status = job->status;
  g_mutex_unlock (&job->lock);
  return status;
}

PsMetrics *
ps_job_get_final_metrics (PsJob *job)
{
  g_return_val_if_fail (job != NULL, NULL);
  g_mutex_lock (&job->lock);
  PsMetrics *copy = ps_metrics_copy_internal (job->final_metrics);
  g_mutex_unlock (&job->lock);
  return copy;
}

char *
ps_job_get_error (PsJob *job)
{
  g_return_val_if_fail (job != NULL, NULL);
  g_mutex_lock (&job->lock);
  char *copy = g_strdup (job->error);
  g_mutex_unlock (&job->lock);
  return copy;
}

guint64
ps_job_get_steps_done (PsJob *job, guint64 *total_steps)
{
  g_return_val_if_fail (job != NULL, 0);
  g_mutex_lock (&job->lock);
  guint64 done = job->steps_done;
  if (total_steps)
    *total_steps = job->total_steps;
  g_mutex_unlock (&job->lock);
  return done;
}

/* ------------------------------------------------------------------ */
/* Workers                                                              */
/* ------------------------------------------------------------------ */

static int
solo_blas_threads (void)
{
  int n = (int) g_get_num_processors ();
  const char *env = g_getenv ("OPENBLAS_NUM_THREADS");
  if (env != NULL && atoi (env) > 0)
    n = MIN (n, atoi (env));
  return MAX (n, 1);
}

void
ps_runner_update_blas_threads (PsRunner *runner)
{
  g_mutex_lock (&runner->lock);
  int want = runner->n_running <= 1 ? solo_blas_threads () : 1;
  if (want != runner->blas_threads)
    {
      ps_blas_set_threads (want);
      runner->blas_threads = want;
    }
  g_mutex_unlock (&runner->lock);
}

/* The nice value of worker threads (0-19; 10 is "background"). */
#define PS_WORKER_NICE 10

static gpointer
worker_main (gpointer data)
{
  PsRunner *runner = data;

  /* Training is background work: on Linux, where nice is per thread, the
   * workers yield the CPU to the thread that draws the window (and to its
   * renderer's threads).  Without contention they run at full speed. */
#ifdef __linux__
  setpriority (PRIO_PROCESS, (id_t) syscall (SYS_gettid), PS_WORKER_NICE);
#endif

  g_mutex_lock (&runner->lock);
  for (;;)
    {
      while (!runner->shutting_down
             && (runner->queue.length == 0 || runner->n_running >= runner->parallelism))
        g_cond_wait (&runner->cond, &runner->lock);
      /* ps_runner_free ends the jobs still queued itself. */
      if (runner->shutting_down)
        break;

      PsJob *job = g_queue_pop_head (&runner->queue);
      runner->n_running++;
      g_mutex_lock (&job->lock);
      job->started = TRUE;
      g_mutex_unlock (&job->lock);
      g_mutex_unlock (&runner->lock);

      ps_job_run (job);
      ps_job_unref (job);   /* the queue's reference */

      g_mutex_lock (&runner->lock);
      runner->n_running--;
      g_cond_broadcast (&runner->cond);
    }
  g_mutex_unlock (&runner->lock);
  return NULL;
}

/* Called with the runner's lock held. */
static gboolean
ensure_threads_locked (PsRunner *runner, GError **error)
{
  while (runner->threads->len < runner->parallelism)
    {
      g_autofree char *name = g_strdup_printf ("ps-worker-%u", runner->threads->len);
      GThread *thread = g_thread_try_new (name, worker_main, runner, error);
      if (thread == NULL)
        return runner->threads->len > 0;
      g_ptr_array_add (runner->threads, thread);
    }
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* The runner                                                           */
/* ------------------------------------------------------------------ */

PsRunner *
ps_runner_new (guint parallelism)
{
  PsRunner *runner = g_new0 (PsRunner, 1);
  g_mutex_init (&runner->lock);
  g_cond_init (&runner->cond);
  g_queue_init (&runner->queue);
  runner->threads = g_ptr_array_new ();
  runner->jobs = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_job_unref);
  runner->parallelism = parallelism ? parallelism : g_get_num_processors ();
  g_mutex_init (&runner->ev_lock);
  g_cond_init (&runner->ev_cond);
  g_queue_init (&runner->events);
  return runner;
}

void
ps_runner_set_parallelism (PsRunner *runner, guint parallelism)
{
  g_return_if_fail (runner != NULL);
  g_mutex_lock (&runner->lock);
  runner->parallelism = parallelism ? parallelism : g_get_num_processors ();
  if (runner->queue.length > 0)
    {
      g_autoptr (GError) error = NULL;
      if (!ensure_threads_locked (runner, &error) && error)
        g_message ("could not start a worker thread: %s", error->message);
    }
  g_cond_broadcast (&runner->cond);
  g_mutex_unlock (&runner->lock);
}

static gpointer
copy_job_ref (gconstpointer job, gpointer unused)
{
  return ps_job_ref ((PsJob *) job);
}

void
ps_runner_free (PsRunner *runner)
{
  if (runner == NULL)
    return;

  g_mutex_lock (&runner->lock);
  runner->shutting_down = TRUE;
  g_autoptr (GPtrArray) jobs = g_ptr_array_copy (runner->jobs, copy_job_ref, NULL);
  g_ptr_array_set_free_func (jobs, (GDestroyNotify) ps_job_unref);
  g_mutex_unlock (&runner->lock);

  /* Queued jobs end here; running ones see the flag between steps. */
  for (guint i = 0; i < jobs->len; i++)
    ps_job_cancel (g_ptr_array_index (jobs, i));

  g_mutex_lock (&runner->lock);
  g_cond_broadcast (&runner->cond);
  g_mutex_unlock (&runner->lock);
  for (guint i = 0; i < runner->threads->len; i++)
    g_thread_join (g_ptr_array_index (runner->threads, i));

  /* Jobs may outlive the runner in the caller's hands; they must no
   * longer reach it. */
  for (guint i = 0; i < jobs->len; i++)
    {
      PsJob *job = g_ptr_array_index (jobs, i);
      g_mutex_lock (&job->lock);
      job->runner = NULL;
      g_mutex_unlock (&job->lock);
    }

  ps_runner_events_clear (runner);
  g_assert (runner->queue.length == 0);
  g_ptr_array_unref (runner->threads);
  g_ptr_array_unref (runner->jobs);
  g_mutex_clear (&runner->lock);
  g_cond_clear (&runner->cond);
  g_mutex_clear (&runner->ev_lock);
  g_cond_clear (&runner->ev_cond);
  g_free (runner);
}

static char *
default_run_name (PsJob *job)
{
  return g_strdup_printf ("%s-%s-%" G_GUINT64_FORMAT, job->method->id, job->dataset_name, job->seed);
}

/* Checks that `job->resume_run` can be continued and takes over what the
 * run record says (method, parameters, seed, names) and its checkpoint. */
static gboolean
prepare_resume (PsJob *job, PsStore *store, GError **error)
{
  g_autoptr (PsRunInfo) info = ps_store_get_run (store, job->resume_run, error);
  if (info == NULL)
    {
      if (error && *error == NULL)
        g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND, "%s: no run %" G_GINT64_FORMAT,
                     job->store_path, job->resume_run);
      return FALSE;
    }
  if (job->method == NULL)
    job->method = ps_method_find (info->method);
  if (job->method == NULL || g_strcmp0 (job->method->id, info->method) != 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                   "run %" G_GINT64_FORMAT " was trained with method '%s', which %s",
                   job->resume_run, info->method,
                   job->method ? "is not the method asked for" : "this build does not have");
      return FALSE;
    }
  if (info->status == PS_RUN_RUNNING || info->status == PS_RUN_QUEUED || info->status == PS_RUN_PAUSED)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                   "run %" G_GINT64_FORMAT " is %s; only a stopped run can be resumed",
                   job->resume_run, ps_run_status_name (info->status));
      return FALSE;
    }
  if (job->params == NULL)
    {
      job->params = ps_method_default_params (job->method);
      if (info->params_json && !ps_params_load_json (job->params, info->params_json, error))
        {
          g_prefix_error (error, "run %" G_GINT64_FORMAT ": ", job->resume_run);
          return FALSE;
        }
    }
  /* The run's own seed: a resumed run is the same run, continued. */
  job->seed = info->seed;
  g_free (job->name);
  job->name = g_strdup (info->name);
  g_free (job->dataset_name);
  job->dataset_name = g_strdup (info->dataset);

  gint64 step = -1;
  g_autoptr (GError) local = NULL;
  job->resume_blob = ps_store_get_checkpoint (store, job->resume_run, &step, &local);
  if (job->resume_blob == NULL)
    {
      if (local)
        g_propagate_prefixed_error (error, g_steal_pointer (&local),
                                    "run %" G_GINT64_FORMAT ": ", job->resume_run);
      else
        g_set_error (error, PS_ERROR, PS_ERROR_NOT_FOUND,
                     "run %" G_GINT64_FORMAT " has no checkpoint to resume from", job->resume_run);
      return FALSE;
    }
  job->resume_step = step;
  job->run_id = job->resume_run;
  /* The record keeps its ended status until the worker marks it running:
   * the store clears a stale cancel request only on that transition. */
  return TRUE;
}

static gboolean
create_run_record (PsJob *job, GError **error)
{
  g_autoptr (GError) local = NULL;
  PsStore *store = ps_store_open (job->store_path, error);
  if (store == NULL)
    return FALSE;

  gboolean ok;
  if (job->resume_run > 0)
    ok = prepare_resume (job, store, &local);
  else
    {
      g_autofree char *json = ps_params_to_json (job->params);
      g_autofree char *name = job->name ? g_strdup (job->name) : default_run_name (job);
      job->run_id = ps_store_create_run (store, name, job->method->id, job->dataset_name,
                                         json, job->seed, &local);
      ok = job->run_id > 0;
      if (!ok && local == NULL)
        g_set_error (&local, PS_ERROR, PS_ERROR_STORE, "%s: could not create the run record",
                     job->store_path);
    }
  ps_store_close (store);
  if (!ok)
    g_propagate_error (error, g_steal_pointer (&local));
  return ok;
}

PsJob *
ps_runner_submit (PsRunner *runner, const PsJobSpec *spec, GError **error)
{
  g_return_val_if_fail (runner != NULL, NULL);
  g_return_val_if_fail (spec != NULL, NULL);
  g_return_val_if_fail (spec->method != NULL || spec->resume_run > 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (spec->resume_run > 0 && spec->store_path == NULL)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                   "resuming run %" G_GINT64_FORMAT " needs the store it lives in", spec->resume_run);
      return NULL;
    }

  g_autoptr (PsJob) job = ps_job_new (runner, spec);
  /* A resumed run without explicit parameters takes those of its record
   * (in prepare_resume); a new one gets the method's defaults. */
  if (job->params == NULL && job->resume_run <= 0)
    job->params = ps_method_default_params (job->method);
  if (job->store_path && !create_run_record (job, error))
    return NULL;

  g_mutex_lock (&runner->lock);
  if (runner->shutting_down)
    {
      g_mutex_unlock (&runner->lock);
      g_set_error (error, PS_ERROR, PS_ERROR_CANCELLED, "the job runner is shutting down");
      return NULL;
    }
  if (!ensure_threads_locked (runner, error))
    {
      g_mutex_unlock (&runner->lock);
      g_prefix_error (error, "could not start a worker thread: ");
      return NULL;
    }
  /* Forget jobs that have ended, so a long session does not pile them up. */
  for (guint i = runner->jobs->len; i-- > 0;)
    {
      PsJob *old = g_ptr_array_index (runner->jobs, i);
      g_mutex_lock (&old->lock);
      gboolean ended = old->ended;
      g_mutex_unlock (&old->lock);
      if (ended)
        g_ptr_array_remove_index_fast (runner->jobs, i);
    }
  g_ptr_array_add (runner->jobs, ps_job_ref (job));
  g_queue_push_tail (&runner->queue, ps_job_ref (job));
  g_cond_broadcast (&runner->cond);
  g_mutex_unlock (&runner->lock);

  return g_steal_pointer (&job);
}
