/* test-jobs.c: the job runner.
 *
 * The tests drive "linreg", a small method defined in test-jobs-support.c:
 * linear regression by minibatch SGD on synthetic data with knobs for NaN
 * losses, slow steps, cancellation inside a step and rendezvous between
 * jobs.
 */
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include "test-jobs-support.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Tests                                                                */
/* ------------------------------------------------------------------ */

static void
test_finish_events (void)
{
  g_autoptr (PsParams) params = linreg_params_new ("steps=100", NULL);
  PsRunner *runner = ps_runner_new (0);
  PsJobSpec spec = linreg_spec (params, 3, NULL);
  spec.eval_every = 10;
  spec.snapshot_every = 25;
  g_autoptr (PsJob) job = submit_ok (runner, &spec);
  g_assert_cmpint (ps_job_get_run_id (job), ==, 0);

  g_autoptr (GPtrArray) events = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_event_free);
  pop_until_end (runner, job, events);
  g_assert_cmpint (ps_job_wait (job), ==, PS_RUN_FINISHED);

  guint n_metrics = 0, n_snapshots = 0, n_progress = 0;
  gint64 last_progress = -1;
  PsEvent *first = g_ptr_array_index (events, 0);
  PsEvent *last = g_ptr_array_index (events, events->len - 1);
  g_assert_cmpint (first->type, ==, PS_EVENT_STARTED);
  g_assert_cmpuint (first->total_steps, ==, 100);
  g_assert_cmpint (last->type, ==, PS_EVENT_FINISHED);
  g_assert_nonnull (last->metrics);
  g_assert_true (ps_metrics_get (last->metrics, "test_mse", NULL));
  for (guint i = 1; i + 1 < events->len; i++)
    {
      PsEvent *e = g_ptr_array_index (events, i);
      g_assert_true (e->job == job);
      switch (e->type)
        {
        case PS_EVENT_PROGRESS:
          g_assert_cmpint ((gint64) e->step, >, last_progress);
          g_assert_true (isfinite (e->loss));
          last_progress = e->step;
          n_progress++;
          break;
        case PS_EVENT_METRICS:
          /* Evaluations at steps 9, 19, ..., 99; the one at 99 is also the
           * final one, so it is not repeated. */
          g_assert_cmpuint (e->step, ==, 10 * n_metrics + 9);
          /* A progress event followed by something else is never
           * collapsed, so the step's own progress comes right before. */
          {
            PsEvent *prev = g_ptr_array_index (events, i - 1);
            g_assert_cmpint (prev->type, ==, PS_EVENT_PROGRESS);
            g_assert_cmpuint (prev->step, ==, e->step);
          }
          n_metrics++;
          break;
        case PS_EVENT_SNAPSHOT:
          g_assert_cmpuint (e->step, ==, 25 * n_snapshots + 24);
          g_assert_cmpuint (e->arrays->len, ==, 2);
          n_snapshots++;
          break;
        default:
          g_assert_not_reached ();
        }
    }
  g_assert_cmpuint (n_metrics, ==, 10);
  g_assert_cmpuint (n_snapshots, ==, 4);
  g_assert_cmpuint (n_progress, >=, 10);
  g_assert_cmpuint (n_progress, <=, 100);
  g_assert_cmpint (last_progress, ==, 99);

  /* The final metrics equal the last evaluation, and the model learnt. */
  g_autoptr (PsMetrics) final = ps_job_get_final_metrics (job);
  double mse = 0, mse_event = 1;
  g_assert_true (ps_metrics_get (final, "test_mse", &mse));
  g_assert_true (ps_metrics_get (last->metrics, "test_mse", &mse_event));
  g_assert_cmpfloat (mse, ==, mse_event);
  g_assert_cmpfloat (mse, <, 0.1);
  g_assert_null (ps_job_get_error (job));
  guint64 total = 0;
  g_assert_cmpuint (ps_job_get_steps_done (job, &total), ==, 100);
  g_assert_cmpuint (total, ==, 100);

  PsDeliveryStats stats;
  ps_runner_get_delivery_stats (runner, &stats);
  g_assert_cmpuint (stats.events_delivered, ==, events->len);
  g_assert_cmpuint (stats.events_pushed - stats.events_collapsed, ==, events->len);
  ps_runner_free (runner);
}

static void
test_parallelism_one (void)
{
  g_autoptr (PsParams) params = linreg_params_new ("steps=20", "work_ms=1", NULL);
  concurrency_reset ();
  PsRunner *runner = ps_runner_new (1);
  PsJobSpec spec = linreg_spec (params, 1, NULL);
  g_autoptr (PsJob) a = submit_ok (runner, &spec);
  g_autoptr (PsJob) b = submit_ok (runner, &spec);
  g_autoptr (PsJob) c = submit_ok (runner, &spec);

  /* FIFO, one at a time: each job starts only after the one before it has
   * ended. */
  PsJob *order[] = { a, b, c };
  guint next = 0;
  PsJob *running = NULL;
  while (next < 3 || running)
    {
      g_autoptr (PsEvent) e = ps_runner_pop_event (runner, 10000);
      g_assert_nonnull (e);
      if (e->type == PS_EVENT_STARTED)
        {
          g_assert_null (running);
          g_assert_true (e->job == order[next]);
          running = e->job;
          next++;
        }
      else if (is_end (e->type))
        {
          g_assert_true (e->job == running);
          g_assert_cmpint (e->type, ==, PS_EVENT_FINISHED);
          running = NULL;
        }
      else
        g_assert_true (e->job == running);
    }
  g_assert_cmpint (g_atomic_int_get (&max_active_steps), ==, 1);
  ps_runner_free (runner);
}

static void
test_parallelism_two (void)
{
  /* Step 0 of each job waits until both jobs are inside it: that only
   * passes if the runner runs them at the same time. */
  g_autoptr (PsParams) params = linreg_params_new ("steps=5", "meet=2", NULL);
  concurrency_reset ();
  PsRunner *runner = ps_runner_new (1);
  ps_runner_set_parallelism (runner, 2);
  PsJobSpec spec = linreg_spec (params, 1, NULL);
  g_autoptr (PsJob) a = submit_ok (runner, &spec);
  g_autoptr (PsJob) b = submit_ok (runner, &spec);
  g_assert_cmpint (ps_job_wait (a), ==, PS_RUN_FINISHED);
  g_assert_cmpint (ps_job_wait (b), ==, PS_RUN_FINISHED);
  g_assert_false (meet_timed_out);
  g_assert_cmpint (g_atomic_int_get (&max_active_steps), ==, 2);
  ps_runner_free (runner);
}

static void
test_blas_threads (void)
{
  /* Without a user limit, a job alone gets every core; two jobs running
   * at once (both inside step 1 thanks to the rendezvous) get one each.
   * The environment is changed in a subprocess, before any thread exists. */
  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
      g_test_trap_assert_passed ();
      return;
    }
  g_unsetenv ("OPENBLAS_NUM_THREADS");

  g_autoptr (PsParams) alone = linreg_params_new ("steps=3", "record_blas=true", NULL);
  concurrency_reset ();
  PsRunner *runner = ps_runner_new (2);
  PsJobSpec spec = linreg_spec (alone, 1, NULL);
  g_autoptr (PsJob) solo = submit_ok (runner, &spec);
  g_assert_cmpint (ps_job_wait (solo), ==, PS_RUN_FINISHED);
  g_assert_cmpint (g_atomic_int_get (&blas_seen), ==, (gint) g_get_num_processors ());

  g_autoptr (PsParams) pair = linreg_params_new ("steps=3", "record_blas=true", "meet=2", NULL);
  concurrency_reset ();
  spec.params = pair;
  g_autoptr (PsJob) a = submit_ok (runner, &spec);
  g_autoptr (PsJob) b = submit_ok (runner, &spec);
  g_assert_cmpint (ps_job_wait (a), ==, PS_RUN_FINISHED);
  g_assert_cmpint (ps_job_wait (b), ==, PS_RUN_FINISHED);
  g_assert_false (meet_timed_out);
  g_assert_cmpint (g_atomic_int_get (&blas_seen), ==, 1);
  ps_runner_free (runner);

  /* A user limit caps the solo count (setenv is safe here: no job runs). */
  g_setenv ("OPENBLAS_NUM_THREADS", "1", TRUE);
  concurrency_reset ();
  runner = ps_runner_new (1);
  spec.params = alone;
  g_autoptr (PsJob) capped = submit_ok (runner, &spec);
  g_assert_cmpint (ps_job_wait (capped), ==, PS_RUN_FINISHED);
  g_assert_cmpint (g_atomic_int_get (&blas_seen), ==, 1);
  ps_runner_free (runner);

}

static void
test_cancel_latency (void)
{
  /* Steps of 20 ms: the cancel lands between steps. */
  g_autoptr (PsParams) params = linreg_params_new ("steps=100000", "work_ms=20", NULL);
  concurrency_reset ();
  double latency = measure_cancel_latency (&linreg_method, params, NULL, NULL, 3,
                                           wait_linreg_in_step, GSIZE_TO_POINTER (3), NULL);
  g_test_message ("cancel latency, 20 ms steps: %.1f ms", latency * 1e3);
  g_assert_cmpfloat (latency, >=, 0);
  g_assert_cmpfloat (latency, <, 0.2);

  /* Steps of 5 s that poll PsStepInfo.cancel: only the flag reaching the
   * method's inner loop makes this fast. */
  g_autoptr (PsParams) slow = linreg_params_new ("steps=10", "work_ms=5000", "abort_on_cancel=true", NULL);
  concurrency_reset ();
  latency = measure_cancel_latency (&linreg_method, slow, NULL, NULL, 0,
                                    wait_linreg_in_step, GSIZE_TO_POINTER (0), NULL);
  g_test_message ("cancel latency, 5 s steps polling the flag: %.1f ms", latency * 1e3);
  g_assert_cmpfloat (latency, >=, 0);
  g_assert_cmpfloat (latency, <, 0.2);

  /* With a store, the time includes the final checkpoint. */
  TempStore t;
  temp_store_init (&t);
  concurrency_reset ();
  latency = measure_cancel_latency (&linreg_method, params, NULL, t.path, 3,
                                    wait_linreg_in_step, GSIZE_TO_POINTER (3), NULL);
  g_test_message ("cancel latency with a store: %.1f ms", latency * 1e3);
  g_assert_cmpfloat (latency, >=, 0);
  g_assert_cmpfloat (latency, <, 0.2);
  temp_store_clear (&t);
}

static void
test_cancel_latency_all_methods (void)
{
  /* Every registered method with its default parameters on a small 2-D
   * set (or the 8x8 digits when it wants images), cancelled after five
   * steps: the cancel and every step so far must take under 200 ms. */
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) moons = ps_dataset_load_builtin ("moons", 400, 0.1, 1, &error);
  g_assert_no_error (error);
  ps_dataset_assign_split (moons, 0.0, 0.25, 1);
  g_autoptr (PsDataset) digits = ps_dataset_load_builtin ("digits", 0, 0, 1, &error);
  g_assert_no_error (error);
  ps_dataset_assign_split (digits, 0.0, 0.25, 1);

  guint n = 0;
  for (const PsMethod * const *m = ps_methods_all (); *m; m++)
    {
      g_autoptr (PsParams) params = ps_method_default_params (*m);
      PsDataset *data = moons;
      g_autoptr (GError) create_error = NULL;
      gpointer probe = (*m)->create (*m, params, data, 1, &create_error);
      if (probe == NULL)
        {
          g_clear_error (&create_error);
          data = digits;
          probe = (*m)->create (*m, params, data, 1, &create_error);
        }
      if (probe == NULL)
        {
          g_test_message ("%s: skipped, needs other data (%s)", (*m)->id, create_error->message);
          continue;
        }
      (*m)->free (probe);
      double max_step = 0;
      double latency = measure_cancel_latency (*m, params, data, NULL, 5, NULL, NULL, &max_step);
      g_test_message ("%s on %s: cancel latency %.1f ms, longest step %.1f ms", (*m)->id,
                      data->name, latency * 1e3, max_step * 1e3);
      if (latency < 0)
        continue;   /* it finished before the cancel: nothing to measure */
      g_assert_cmpfloat (latency, <, 0.2);
      g_assert_cmpfloat (max_step, <, 0.2);
      n++;
    }
  g_test_message ("%u methods measured", n);
}

static void
test_pause_resume (void)
{
  g_autoptr (PsParams) params = linreg_params_new ("steps=200", "work_ms=2", NULL);
  TempStore t;
  temp_store_init (&t);
  PsRunner *runner = ps_runner_new (1);
  PsJobSpec spec = linreg_spec (params, 5, t.path);
  g_autoptr (PsJob) job = submit_ok (runner, &spec);
  gint64 run = ps_job_get_run_id (job);
  g_assert_cmpint (run, >, 0);

  ps_event_free (pop_until (runner, job, PS_EVENT_PROGRESS, 5));
  ps_job_pause (job);
  g_autoptr (PsEvent) paused = pop_until (runner, job, PS_EVENT_PAUSED, 0);
  g_assert_cmpint (ps_job_get_status (job), ==, PS_RUN_PAUSED);
  g_assert_cmpint (stored_status (t.path, run, NULL), ==, PS_RUN_PAUSED);
  guint64 at = ps_job_get_steps_done (job, NULL);
  g_assert_cmpuint (at, ==, paused->step + 1);
  g_assert_cmpuint (at, <, 200);

  /* Nothing happens while paused: no event arrives within 300 ms (a
   * blocking wait on the queue) and no step is taken.  The worker still
   * wakes to poll the store's cancel flag meanwhile. */
  g_assert_null (ps_runner_pop_event (runner, 300));
  g_assert_cmpuint (ps_job_get_steps_done (job, NULL), ==, at);

  ps_job_resume (job);
  g_autoptr (PsEvent) resumed = pop_until (runner, job, PS_EVENT_RESUMED, 0);
  g_assert_cmpuint (resumed->step, ==, paused->step);
  g_autoptr (PsEvent) next = pop_until (runner, job, PS_EVENT_PROGRESS, 0);
  g_assert_cmpuint (next->step, ==, at);
  pop_until_end (runner, job, NULL);
  g_assert_cmpint (ps_job_wait (job), ==, PS_RUN_FINISHED);
  g_assert_cmpint (stored_status (t.path, run, NULL), ==, PS_RUN_FINISHED);
  g_assert_cmpuint (ps_job_get_steps_done (job, NULL), ==, 200);

  ps_runner_free (runner);
  temp_store_clear (&t);
}

static void
test_nan_fails (void)
{
  TempStore t;
  temp_store_init (&t);
  g_autoptr (PsParams) params = linreg_params_new ("steps=50", "nan_at=7", NULL);
  PsRunner *runner = ps_runner_new (1);
  PsJobSpec spec = linreg_spec (params, 1, t.path);
  g_autoptr (PsJob) job = submit_ok (runner, &spec);
  g_autoptr (GPtrArray) events = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_event_free);
  pop_until_end (runner, job, events);
  PsEvent *last = g_ptr_array_index (events, events->len - 1);
  g_assert_cmpint (last->type, ==, PS_EVENT_FAILED);
  g_assert_cmpstr (last->message, ==, "loss became NaN at step 7");
  g_assert_cmpint (ps_job_wait (job), ==, PS_RUN_FAILED);
  g_autofree char *err = ps_job_get_error (job);
  g_assert_cmpstr (err, ==, "loss became NaN at step 7");
  g_assert_null (ps_job_get_final_metrics (job));
  g_assert_cmpuint (ps_job_get_steps_done (job, NULL), ==, 7);

  /* The store says so too, and keeps the losses of steps 0..6. */
  g_autofree char *stored_error = NULL;
  g_assert_cmpint (stored_status (t.path, ps_job_get_run_id (job), &stored_error), ==, PS_RUN_FAILED);
  g_assert_cmpstr (stored_error, ==, "loss became NaN at step 7");
  PsStore *store = store_open_ok (t.path);
  g_autoptr (GArray) steps = NULL;
  g_autoptr (GArray) values = NULL;
  g_assert_true (ps_store_get_metric (store, ps_job_get_run_id (job), "loss", &steps, &values, NULL));
  g_assert_cmpuint (steps->len, ==, 7);
  g_assert_cmpint (g_array_index (steps, gint64, 6), ==, 6);
  ps_store_close (store);

  ps_runner_free (runner);
  temp_store_clear (&t);
}

static void
test_method_errors (void)
{
  /* A method's own errors fail the run with its message, in the store too. */
  TempStore t;
  temp_store_init (&t);
  PsRunner *runner = ps_runner_new (1);

  g_autoptr (PsParams) bad_step = linreg_params_new ("steps=50", "fail_at=12", NULL);
  PsJobSpec spec = linreg_spec (bad_step, 1, t.path);
  g_autoptr (PsJob) job = submit_ok (runner, &spec);
  g_assert_cmpint (ps_job_wait (job), ==, PS_RUN_FAILED);
  g_autofree char *err = ps_job_get_error (job);
  g_assert_cmpstr (err, ==, "step 12: the matrix went singular");
  g_autofree char *stored = NULL;
  g_assert_cmpint (stored_status (t.path, ps_job_get_run_id (job), &stored), ==, PS_RUN_FAILED);
  g_assert_cmpstr (stored, ==, err);

  g_autoptr (PsParams) bad_create = linreg_params_new ("fail_create=true", NULL);
  spec.params = bad_create;
  g_autoptr (PsJob) job2 = submit_ok (runner, &spec);
  g_autoptr (PsEvent) failed = pop_until (runner, job2, PS_EVENT_FAILED, 0);
  g_assert_cmpstr (failed->message, ==, "linreg refuses these data");
  g_assert_cmpint (ps_job_wait (job2), ==, PS_RUN_FAILED);
  g_autofree char *stored2 = NULL;
  g_assert_cmpint (stored_status (t.path, ps_job_get_run_id (job2), &stored2), ==, PS_RUN_FAILED);
  g_assert_cmpstr (stored2, ==, "linreg refuses these data");

  ps_runner_free (runner);
  temp_store_clear (&t);
}

typedef struct
{
  GPtrArray *types;     /* event types as they arrive, GINT_TO_POINTER */
  GPtrArray *steps;
  guint calls;
  gboolean ended;
  GMainLoop *loop;
} Delivery;

static void
on_event (const PsEvent *event, gpointer user_data)
{
  Delivery *d = user_data;
  g_ptr_array_add (d->types, GINT_TO_POINTER (event->type));
  g_ptr_array_add (d->steps, GSIZE_TO_POINTER ((gsize) event->step));
  d->calls++;
  if (is_end (event->type))
    {
      d->ended = TRUE;
      if (d->loop)
        g_main_loop_quit (d->loop);
    }
}

static void
check_delivery_order (Delivery *d, guint expected_metrics)
{
  guint n_metrics = 0;
  g_assert_cmpint (GPOINTER_TO_INT (d->types->pdata[0]), ==, PS_EVENT_STARTED);
  g_assert_cmpint (GPOINTER_TO_INT (d->types->pdata[d->types->len - 1]), ==, PS_EVENT_FINISHED);
  for (guint i = 0; i < d->types->len; i++)
    if (GPOINTER_TO_INT (d->types->pdata[i]) == PS_EVENT_METRICS)
      {
        /* Every evaluation (one per step here), in order, none dropped. */
        g_assert_cmpuint (GPOINTER_TO_SIZE (d->steps->pdata[i]), ==, n_metrics);
        n_metrics++;
      }
  g_assert_cmpuint (n_metrics, ==, expected_metrics);
}

static void
test_coalescing_drained (void)
{
  /* The context is not iterated while the job runs: every event piles up
   * behind one idle source, and one dispatch delivers them all. */
  const guint steps = 3000;
  g_autofree char *steps_arg = g_strdup_printf ("steps=%u", steps);
  g_autoptr (PsParams) params = linreg_params_new (steps_arg, NULL);
  g_autoptr (GMainContext) context = g_main_context_new ();
  Delivery d = { g_ptr_array_new (), g_ptr_array_new (), 0, FALSE, NULL };
  PsRunner *runner = ps_runner_new (1);
  ps_runner_attach (runner, context, on_event, &d);
  PsJobSpec spec = linreg_spec (params, 2, NULL);
  spec.eval_every = 1;
  g_autoptr (PsJob) job = submit_ok (runner, &spec);
  g_assert_cmpint (ps_job_wait (job), ==, PS_RUN_FINISHED);

  while (g_main_context_iteration (context, FALSE))
    ;
  g_assert_true (d.ended);
  PsDeliveryStats stats;
  ps_runner_get_delivery_stats (runner, &stats);
  g_test_message ("%u events pushed, %u collapsed, %u delivered in %u dispatches",
                  stats.events_pushed, stats.events_collapsed, stats.events_delivered,
                  stats.idle_dispatched);
  g_assert_cmpuint (stats.idle_dispatched, ==, 1);
  g_assert_cmpuint (stats.idle_scheduled, ==, 1);
  g_assert_cmpuint (stats.max_pending_idle, ==, 1);
  g_assert_cmpuint (stats.events_delivered, ==, d.calls);
  g_assert_cmpuint (stats.events_pushed - stats.events_collapsed, ==, d.calls);
  /* STARTED, 3000 evaluations, FINISHED and progress in between. */
  g_assert_cmpuint (d.calls, >=, steps + 2);
  check_delivery_order (&d, steps);

  ps_runner_free (runner);
  g_ptr_array_unref (d.types);
  g_ptr_array_unref (d.steps);
}

static void
test_attach_late (void)
{
  /* Events queued before a consumer attaches are delivered to it. */
  g_autoptr (PsParams) params = linreg_params_new ("steps=10", NULL);
  g_autoptr (GMainContext) context = g_main_context_new ();
  Delivery d = { g_ptr_array_new (), g_ptr_array_new (), 0, FALSE, NULL };
  PsRunner *runner = ps_runner_new (1);
  PsJobSpec spec = linreg_spec (params, 2, NULL);
  spec.eval_every = 1;
  g_autoptr (PsJob) job = submit_ok (runner, &spec);
  g_assert_cmpint (ps_job_wait (job), ==, PS_RUN_FINISHED);
  ps_runner_attach (runner, context, on_event, &d);
  while (g_main_context_iteration (context, FALSE))
    ;
  g_assert_true (d.ended);
  check_delivery_order (&d, 10);
  PsDeliveryStats stats;
  ps_runner_get_delivery_stats (runner, &stats);
  g_assert_cmpuint (stats.idle_dispatched, ==, 1);
  ps_runner_free (runner);
  g_ptr_array_unref (d.types);
  g_ptr_array_unref (d.steps);
}

static void
test_coalescing_live (void)
{
  /* A main loop runs while a fast job floods events: never more than one
   * idle source pending, fewer dispatches than events, all end events. */
  g_autoptr (PsParams) params = linreg_params_new ("steps=20000", NULL);
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_main_context_push_thread_default (context);
  Delivery d = { g_ptr_array_new (), g_ptr_array_new (), 0, FALSE, NULL };
  d.loop = g_main_loop_new (context, FALSE);
  PsRunner *runner = ps_runner_new (1);
  ps_runner_attach (runner, NULL, on_event, &d);
  PsJobSpec spec = linreg_spec (params, 4, NULL);
  spec.eval_every = 4;
  g_autoptr (PsJob) job = submit_ok (runner, &spec);
  g_main_loop_run (d.loop);
  g_assert_true (d.ended);
  g_assert_cmpint (ps_job_get_status (job), ==, PS_RUN_FINISHED);

  PsDeliveryStats stats;
  ps_runner_get_delivery_stats (runner, &stats);
  g_test_message ("%u events pushed, %u collapsed, %u delivered in %u dispatches",
                  stats.events_pushed, stats.events_collapsed, stats.events_delivered,
                  stats.idle_dispatched);
  g_assert_cmpuint (stats.max_pending_idle, ==, 1);
  g_assert_cmpuint (stats.idle_dispatched, <=, stats.idle_scheduled);
  g_assert_cmpuint (stats.idle_dispatched, <, d.calls);
  g_assert_cmpuint (stats.events_delivered, ==, d.calls);
  g_assert_cmpuint (stats.events_pushed - stats.events_collapsed, ==, d.calls);
  /* STARTED, progress, evaluations, the final snapshot, FINISHED. */
  g_assert_cmpuint (stats.events_pushed, ==, 1 + 20000 + 5000 + 1 + 1);
  /* Evaluation metrics steps are 3, 7, ...: check count and end events. */
  guint n_metrics = 0, n_end = 0;
  for (guint i = 0; i < d.types->len; i++)
    {
      int type = GPOINTER_TO_INT (d.types->pdata[i]);
      n_metrics += type == PS_EVENT_METRICS;
      n_end += is_end (type);
    }
  g_assert_cmpuint (n_metrics, ==, 5000);
  g_assert_cmpuint (n_end, ==, 1);

  ps_runner_free (runner);
  g_main_loop_unref (d.loop);
  g_main_context_pop_thread_default (context);
  g_ptr_array_unref (d.types);
  g_ptr_array_unref (d.steps);
}

static void
test_store_persists (void)
{
  TempStore t;
  temp_store_init (&t);
  g_autoptr (PsParams) params = linreg_params_new ("steps=60", NULL);
  PsRunner *runner = ps_runner_new (1);
  PsJobSpec spec = linreg_spec (params, 9, t.path);
  spec.eval_every = 10;
  spec.snapshot_every = 20;
  spec.checkpoint_every = 25;
  g_autoptr (PsJob) job = submit_ok (runner, &spec);
  gint64 run = ps_job_get_run_id (job);
  g_assert_cmpint (run, >, 0);
  /* The record exists as soon as submit returns. */
  PsStore *store = store_open_ok (t.path);
  g_autoptr (PsRunInfo) info = ps_store_get_run (store, run, NULL);
  g_assert_nonnull (info);
  g_assert_cmpstr (info->name, ==, "linreg-synthetic-9");
  g_assert_cmpstr (info->method, ==, "linreg");
  g_assert_cmpuint (info->seed, ==, 9);
  g_assert_cmpint (ps_job_wait (job), ==, PS_RUN_FINISHED);
  ps_runner_free (runner);

  g_autoptr (PsRunInfo) done = ps_store_get_run (store, run, NULL);
  g_assert_cmpint (done->status, ==, PS_RUN_FINISHED);
  g_assert_cmpfloat (done->progress, ==, 1.0);
  g_assert_cmpint (done->last_step, ==, 59);

  g_autoptr (GArray) steps = NULL;
  g_autoptr (GArray) values = NULL;
  g_assert_true (ps_store_get_metric (store, run, "loss", &steps, &values, NULL));
  g_assert_cmpuint (steps->len, ==, 60);
  for (guint i = 0; i < 60; i++)
    g_assert_cmpint (g_array_index (steps, gint64, i), ==, i);
  g_clear_pointer (&steps, g_array_unref);
  g_clear_pointer (&values, g_array_unref);
  g_assert_true (ps_store_get_metric (store, run, "lr", &steps, &values, NULL));
  g_assert_cmpuint (steps->len, ==, 60);
  g_clear_pointer (&steps, g_array_unref);
  g_clear_pointer (&values, g_array_unref);
  g_assert_true (ps_store_get_metric (store, run, "test_mse", &steps, &values, NULL));
  g_assert_cmpuint (steps->len, ==, 6);
  g_assert_cmpint (g_array_index (steps, gint64, 5), ==, 59);
  g_autoptr (PsMetrics) final = ps_job_get_final_metrics (job);
  double mse;
  g_assert_true (ps_metrics_get (final, "test_mse", &mse));
  g_assert_cmpfloat (g_array_index (values, double, 5), ==, mse);

  /* Snapshots at 19, 39, 59 (the last is also the final one). */
  g_autoptr (GArray) snaps = ps_store_snapshot_steps (store, run, NULL);
  g_assert_cmpuint (snaps->len, ==, 3);
  g_assert_cmpint (g_array_index (snaps, gint64, 0), ==, 19);
  g_assert_cmpint (g_array_index (snaps, gint64, 2), ==, 59);
  g_autoptr (PsArray) weights = ps_store_get_artifact (store, run, -1, "weights", NULL);
  g_assert_nonnull (weights);
  g_assert_cmpuint (weights->shape[1], ==, LINREG_D + 1);

  /* Checkpoints at 24, 49 and the final one at 59. */
  gint64 ckpt_step = -1;
  g_autoptr (GBytes) blob = ps_store_get_checkpoint (store, run, &ckpt_step, NULL);
  g_assert_nonnull (blob);
  g_assert_cmpint (ckpt_step, ==, 59);
  ps_store_close (store);
  temp_store_clear (&t);
}

/* Bit-identical comparison of two runs' series `name`. */
static void
assert_same_series (PsStore *store, gint64 a, gint64 b, const char *name)
{
  g_autoptr (GArray) sa = NULL, va = NULL, sb = NULL, vb = NULL;
  g_assert_true (ps_store_get_metric (store, a, name, &sa, &va, NULL));
  g_assert_true (ps_store_get_metric (store, b, name, &sb, &vb, NULL));
  g_assert_cmpuint (sa->len, ==, sb->len);
  g_assert_cmpmem (sa->data, sa->len * sizeof (gint64), sb->data, sb->len * sizeof (gint64));
  g_assert_cmpmem (va->data, va->len * sizeof (double), vb->data, vb->len * sizeof (double));
}

static void
assert_same_run (const char *path, gint64 a, gint64 b)
{
  PsStore *store = store_open_ok (path);
  assert_same_series (store, a, b, "loss");
  assert_same_series (store, a, b, "test_mse");
  assert_same_series (store, a, b, "w0");
  g_autoptr (GArray) snaps_a = ps_store_snapshot_steps (store, a, NULL);
  g_autoptr (GArray) snaps_b = ps_store_snapshot_steps (store, b, NULL);
  g_assert_cmpmem (snaps_a->data, snaps_a->len * sizeof (gint64),
                   snaps_b->data, snaps_b->len * sizeof (gint64));
  gint64 step_a, step_b;
  g_autoptr (GBytes) blob_a = ps_store_get_checkpoint (store, a, &step_a, NULL);
  g_autoptr (GBytes) blob_b = ps_store_get_checkpoint (store, b, &step_b, NULL);
  g_assert_cmpint (step_a, ==, step_b);
  g_assert_true (g_bytes_equal (blob_a, blob_b));
  g_autoptr (PsArray) wa = ps_store_get_artifact (store, a, -1, "weights", NULL);
  g_autoptr (PsArray) wb = ps_store_get_artifact (store, b, -1, "weights", NULL);
  g_assert_true (g_bytes_equal (wa->data, wb->data));
  ps_store_close (store);
}

static void
assert_same_metrics (PsMetrics *a, PsMetrics *b)
{
  g_assert_nonnull (a);
  g_assert_nonnull (b);
  g_assert_cmpuint (ps_metrics_len (a), ==, ps_metrics_len (b));
  for (guint i = 0; i < ps_metrics_len (a); i++)
    {
      g_assert_cmpstr (ps_metrics_name (a, i), ==, ps_metrics_name (b, i));
      double x = ps_metrics_value (a, i), y = ps_metrics_value (b, i);
      if (memcmp (&x, &y, sizeof x) != 0)
        g_test_message ("%s: %.17g vs %.17g", ps_metrics_name (a, i), x, y);
      g_assert_cmpmem (&x, sizeof x, &y, sizeof y);
    }
}

static void
test_resume_equivalence (void)
{
  TempStore t;
  temp_store_init (&t);
  g_autoptr (PsParams) params = linreg_params_new ("steps=80", "work_ms=1", NULL);
  PsRunner *runner = ps_runner_new (1);

  /* The reference: one uninterrupted run. */
  PsJobSpec spec = linreg_spec (params, 11, t.path);
  spec.eval_every = 10;
  spec.snapshot_every = 20;
  spec.checkpoint_every = 30;
  g_autoptr (PsJob) ref = submit_ok (runner, &spec);
  g_assert_cmpint (ps_job_wait (ref), ==, PS_RUN_FINISHED);
  g_autoptr (PsMetrics) ref_metrics = ps_job_get_final_metrics (ref);

  /* Stopped by max_steps at a step on the schedule, then resumed. */
  spec.max_steps = 40;
  g_autoptr (PsJob) first = submit_ok (runner, &spec);
  g_assert_cmpint (ps_job_wait (first), ==, PS_RUN_FINISHED);
  g_assert_cmpuint (ps_job_get_steps_done (first, NULL), ==, 40);
  PsJobSpec again = { 0 };
  again.method = &linreg_method;   /* not in the registry, so named here */
  again.store_path = t.path;
  again.resume_run = ps_job_get_run_id (first);
  again.eval_every = 10;
  again.snapshot_every = 20;
  again.checkpoint_every = 30;
  g_autoptr (PsJob) second = submit_ok (runner, &again);
  g_assert_cmpint (ps_job_get_run_id (second), ==, ps_job_get_run_id (first));
  g_assert_cmpint (ps_job_wait (second), ==, PS_RUN_FINISHED);
  g_autoptr (PsMetrics) second_metrics = ps_job_get_final_metrics (second);
  assert_same_metrics (ref_metrics, second_metrics);
  assert_same_run (t.path, ps_job_get_run_id (ref), ps_job_get_run_id (second));

  /* Resuming a run that has reached its end stores nothing new. */
  g_autoptr (PsJob) again_done = submit_ok (runner, &again);
  g_assert_cmpint (ps_job_wait (again_done), ==, PS_RUN_FINISHED);
  g_autoptr (PsMetrics) again_metrics = ps_job_get_final_metrics (again_done);
  assert_same_metrics (ref_metrics, again_metrics);
  assert_same_run (t.path, ps_job_get_run_id (ref), ps_job_get_run_id (second));

  /* Stopped by a cancel at an arbitrary step (paused first so that it
   * cannot run to the end meanwhile), then resumed. */
  spec.max_steps = 0;
  g_autoptr (PsJob) third = submit_ok (runner, &spec);
  ps_event_free (pop_until (runner, third, PS_EVENT_PROGRESS, 33));
  ps_job_pause (third);
  g_autoptr (PsEvent) paused = pop_until (runner, third, PS_EVENT_PAUSED, 0);
  g_assert_cmpuint (paused->step, <, 79);
  ps_job_cancel (third);
  g_assert_cmpint (ps_job_wait (third), ==, PS_RUN_CANCELLED);
  g_test_message ("cancelled after step %" G_GUINT64_FORMAT, paused->step);
  g_assert_cmpint (stored_status (t.path, ps_job_get_run_id (third), NULL), ==, PS_RUN_CANCELLED);
  again.resume_run = ps_job_get_run_id (third);
  g_autoptr (PsJob) fourth = submit_ok (runner, &again);
  g_autoptr (PsEvent) started = pop_until (runner, fourth, PS_EVENT_STARTED, 0);
  g_assert_cmpuint (started->step, ==, paused->step + 1);
  g_assert_cmpint (ps_job_wait (fourth), ==, PS_RUN_FINISHED);
  g_autoptr (PsMetrics) fourth_metrics = ps_job_get_final_metrics (fourth);
  assert_same_metrics (ref_metrics, fourth_metrics);
  assert_same_run (t.path, ps_job_get_run_id (ref), ps_job_get_run_id (fourth));

  /* A run without a checkpoint, or an unknown run, cannot be resumed. */
  g_autoptr (GError) error = NULL;
  again.resume_run = 999;
  g_assert_null (ps_runner_submit (runner, &again, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  PsStore *store = store_open_ok (t.path);
  gint64 bare = ps_store_create_run (store, "bare", "linreg", "synthetic", "{}", 1, &error);
  g_assert_no_error (error);
  g_assert_true (ps_store_set_status (store, bare, PS_RUN_INTERRUPTED, NULL, NULL));
  ps_store_close (store);
  again.resume_run = bare;
  g_assert_null (ps_runner_submit (runner, &again, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "no checkpoint"));

  ps_runner_free (runner);
  temp_store_clear (&t);
}

static void
test_store_killed (void)
{
  /* A process killed in the middle of a run keeps its curves up to the
   * last batch and its last checkpoint; the run is marked interrupted and
   * resumes to exactly what an uninterrupted run gives. */
  g_autoptr (PsParams) params = linreg_params_new ("steps=1000000", "work_ms=1", NULL);
  if (g_test_subprocess ())
    {
      PsRunner *runner = ps_runner_new (1);
      PsJobSpec spec = linreg_spec (params, 13, g_getenv ("PS_JOBS_TEST_STORE"));
      spec.eval_every = 10;
      spec.checkpoint_every = 10;
      g_autoptr (PsJob) job = submit_ok (runner, &spec);
      ps_job_wait (job);   /* killed long before the end */
      g_assert_not_reached ();
    }

  TempStore t;
  temp_store_init (&t);
  g_setenv ("PS_JOBS_TEST_STORE", t.path, TRUE);
  g_test_trap_subprocess (NULL, 1000 * 1000, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_unsetenv ("PS_JOBS_TEST_STORE");

  PsStore *store = store_open_ok (t.path);
  g_autoptr (PsRunInfo) info = ps_store_get_run (store, 1, NULL);
  g_assert_nonnull (info);
  g_assert_cmpint (info->status, ==, PS_RUN_INTERRUPTED);
  gint64 ckpt = -1;
  g_autoptr (GBytes) blob = ps_store_get_checkpoint (store, 1, &ckpt, NULL);
  g_assert_nonnull (blob);
  g_assert_cmpint (ckpt, >=, 9);
  g_assert_cmpint ((ckpt + 1) % 10, ==, 0);
  g_autoptr (GArray) steps = NULL;
  g_autoptr (GArray) values = NULL;
  g_assert_true (ps_store_get_metric (store, 1, "loss", &steps, &values, NULL));
  g_test_message ("killed: %u loss rows kept, checkpoint at step %" G_GINT64_FORMAT,
                  steps->len, ckpt);
  g_assert_cmpuint (steps->len, >, ckpt);
  for (guint i = 0; i < steps->len; i++)
    g_assert_cmpint (g_array_index (steps, gint64, i), ==, i);
  ps_store_close (store);

  /* Resume for 30 more steps, and run the same from scratch. */
  PsRunner *runner = ps_runner_new (1);
  PsJobSpec again = { 0 };
  again.method = &linreg_method;
  again.store_path = t.path;
  again.resume_run = 1;
  again.eval_every = 10;
  again.checkpoint_every = 10;
  again.max_steps = ckpt + 31;
  g_autoptr (PsJob) resumed = submit_ok (runner, &again);
  g_assert_cmpint (ps_job_wait (resumed), ==, PS_RUN_FINISHED);
  PsJobSpec spec = linreg_spec (params, 13, t.path);
  spec.eval_every = 10;
  spec.checkpoint_every = 10;
  spec.max_steps = ckpt + 31;
  g_autoptr (PsJob) ref = submit_ok (runner, &spec);
  g_assert_cmpint (ps_job_wait (ref), ==, PS_RUN_FINISHED);
  assert_same_run (t.path, ps_job_get_run_id (ref), 1);
  g_autoptr (PsMetrics) a = ps_job_get_final_metrics (ref);
  g_autoptr (PsMetrics) b = ps_job_get_final_metrics (resumed);
  assert_same_metrics (a, b);
  ps_runner_free (runner);
  temp_store_clear (&t);
}

static void
test_store_cancel_flag (void)
{
  TempStore t;
  temp_store_init (&t);
  g_autoptr (PsParams) params = linreg_params_new ("steps=100000", "work_ms=5", NULL);
  PsRunner *runner = ps_runner_new (1);
  PsJobSpec spec = linreg_spec (params, 1, t.path);
  g_autoptr (PsJob) job = submit_ok (runner, &spec);
  gint64 run = ps_job_get_run_id (job);
  ps_event_free (pop_until (runner, job, PS_EVENT_PROGRESS, 3));

  /* Another connection (as `protoscope-cli cancel` would) asks to stop. */
  PsStore *other = store_open_ok (t.path);
  double t0 = ps_now ();
  g_assert_true (ps_store_request_cancel (other, run, NULL));
  g_assert_cmpint (ps_job_wait (job), ==, PS_RUN_CANCELLED);
  double latency = ps_now () - t0;
  g_test_message ("cancel through the store: %.0f ms", latency * 1e3);
  g_assert_cmpfloat (latency, <, 1.0);
  g_autoptr (PsRunInfo) info = ps_store_get_run (other, run, NULL);
  g_assert_cmpint (info->status, ==, PS_RUN_CANCELLED);
  gint64 ckpt_step = -1;
  g_autoptr (GBytes) blob = ps_store_get_checkpoint (other, run, &ckpt_step, NULL);
  g_assert_nonnull (blob);
  g_assert_cmpint (ckpt_step + 1, ==, (gint64) ps_job_get_steps_done (job, NULL));

  /* Resuming clears the old request: the run goes on until cancelled
   * again (through the handle this time). */
  PsJobSpec again = { 0 };
  again.method = &linreg_method;   /* not in the registry, so named here */
  again.store_path = t.path;
  again.resume_run = run;
  g_autoptr (PsJob) resumed = submit_ok (runner, &again);
  ps_event_free (pop_until (runner, resumed, PS_EVENT_PROGRESS, ckpt_step + 60));
  g_assert_cmpint (ps_job_get_status (resumed), ==, PS_RUN_RUNNING);
  ps_job_cancel (resumed);
  g_assert_cmpint (ps_job_wait (resumed), ==, PS_RUN_CANCELLED);

  ps_store_close (other);
  ps_runner_free (runner);
  temp_store_clear (&t);
}

static void
test_store_write_fails (void)
{
  /* The run record vanishes under a paused job (deleted from another
   * connection): the next write fails, and so does the run, saying why. */
  TempStore t;
  temp_store_init (&t);
  g_autoptr (PsParams) params = linreg_params_new ("steps=1000", "work_ms=1", NULL);
  PsRunner *runner = ps_runner_new (1);
  PsJobSpec spec = linreg_spec (params, 1, t.path);
  g_autoptr (PsJob) job = submit_ok (runner, &spec);
  ps_event_free (pop_until (runner, job, PS_EVENT_PROGRESS, 2));
  ps_job_pause (job);
  ps_event_free (pop_until (runner, job, PS_EVENT_PAUSED, 0));
  PsStore *other = store_open_ok (t.path);
  g_assert_true (ps_store_delete_run (other, ps_job_get_run_id (job), NULL));
  ps_store_close (other);
  ps_job_resume (job);
  g_assert_cmpint (ps_job_wait (job), ==, PS_RUN_FAILED);
  g_autofree char *err = ps_job_get_error (job);
  g_test_message ("%s", err);
  g_assert_nonnull (strstr (err, "run store"));

  /* A store that cannot be opened is reported by submit. */
  g_autoptr (GError) error = NULL;
  g_autofree char *bad = g_build_filename (t.dir, "no-such-dir", "runs.sqlite", NULL);
  spec.store_path = bad;
  g_assert_null (ps_runner_submit (runner, &spec, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_STORE);

  ps_runner_free (runner);
  temp_store_clear (&t);
}

static void
test_free_cancels (void)
{
  /* Freeing the runner ends the running job and the queued ones. */
  g_autoptr (PsParams) params = linreg_params_new ("steps=100000", "work_ms=5", NULL);
  PsRunner *runner = ps_runner_new (1);
  PsJobSpec spec = linreg_spec (params, 1, NULL);
  g_autoptr (PsJob) a = submit_ok (runner, &spec);
  g_autoptr (PsJob) b = submit_ok (runner, &spec);
  g_autoptr (PsJob) c = submit_ok (runner, &spec);
  ps_event_free (pop_until (runner, a, PS_EVENT_PROGRESS, 1));
  g_assert_cmpint (ps_job_get_status (b), ==, PS_RUN_QUEUED);
  /* A queued job cancels at once, without waiting for a slot. */
  ps_job_cancel (c);
  g_assert_cmpint (ps_job_wait (c), ==, PS_RUN_CANCELLED);
  g_assert_cmpint (ps_job_get_status (a), ==, PS_RUN_RUNNING);
  ps_runner_free (runner);
  g_assert_cmpint (ps_job_get_status (a), ==, PS_RUN_CANCELLED);
  g_assert_cmpint (ps_job_get_status (b), ==, PS_RUN_CANCELLED);
  /* The handles stay usable after the runner is gone. */
  ps_job_cancel (a);
  ps_job_pause (b);
  g_assert_cmpint (ps_job_wait (b), ==, PS_RUN_CANCELLED);
}

/* Training is background work: worker threads run at a lower priority
 * than the thread that submitted them (which draws a window). */
static void
test_worker_priority (void)
{
#ifdef __linux__
  int caller = getpriority (PRIO_PROCESS, (id_t) syscall (SYS_gettid));
  PsRunner *runner = ps_runner_new (1);
  g_autoptr (PsParams) params = linreg_params_new ("steps=3", NULL);
  PsJobSpec spec = linreg_spec (params, 1, NULL);
  g_autoptr (PsJob) job = submit_ok (runner, &spec);
  g_assert_cmpint (ps_job_wait (job), ==, PS_RUN_FINISHED);
  g_assert_cmpint (g_atomic_int_get (&step_nice), >, caller);
  ps_runner_free (runner);
#else
  g_test_skip ("thread priorities are Linux-only");
#endif
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/jobs/worker-priority", test_worker_priority);
  g_test_add_func ("/jobs/finish/events", test_finish_events);
  g_test_add_func ("/jobs/parallelism/one", test_parallelism_one);
  g_test_add_func ("/jobs/parallelism/two", test_parallelism_two);
  g_test_add_func ("/jobs/parallelism/blas-threads", test_blas_threads);
  g_test_add_func ("/jobs/cancel/latency", test_cancel_latency);
  g_test_add_func ("/jobs/cancel/latency-all-methods", test_cancel_latency_all_methods);
  g_test_add_func ("/jobs/cancel/free", test_free_cancels);
  g_test_add_func ("/jobs/pause-resume", test_pause_resume);
  g_test_add_func ("/jobs/nan", test_nan_fails);
  g_test_add_func ("/jobs/method-errors", test_method_errors);
  g_test_add_func ("/jobs/events/coalescing-drained", test_coalescing_drained);
  g_test_add_func ("/jobs/events/coalescing-live", test_coalescing_live);
  g_test_add_func ("/jobs/events/attach-late", test_attach_late);
  g_test_add_func ("/jobs/store/persists", test_store_persists);
  g_test_add_func ("/jobs/store/resume-equivalence", test_resume_equivalence);
  g_test_add_func ("/jobs/store/cancel-flag", test_store_cancel_flag);
  g_test_add_func ("/jobs/store/killed", test_store_killed);
  g_test_add_func ("/jobs/store/write-fails", test_store_write_fails);
  return g_test_run ();
}
