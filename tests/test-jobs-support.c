/* test-jobs-support.c: the test-only method and helpers of test-jobs.c.
 *
 * "linreg" is linear regression by minibatch SGD on synthetic data, with
 * its own PCG32 stream, a checkpoint that carries the weights, the RNG and
 * the step, and knobs for what the runner must cope with: a NaN loss at a
 * given step, steps that take a while (busy computation, never sleep),
 * steps that abandon their work when the cancel flag rises, and a
 * rendezvous that only passes once several jobs are inside a step at the
 * same time.
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

#define N_TRAIN 256
#define N_TEST 64
#define BATCH 16

/* ------------------------------------------------------------------ */
/* The test method                                                      */
/* ------------------------------------------------------------------ */

static const PsParamSpec linreg_params[] = {
  { "steps", PS_PARAM_INT, 100, 0, 1e9, NULL, "Training steps." },
  { "lr", PS_PARAM_FLOAT, 0.05, 1e-6, 1.0, NULL, "Learning rate.", TRUE },
  { "nan_at", PS_PARAM_INT, -1, -1, 1e9, NULL, "Report a NaN loss at this step (-1: never)." },
  { "work_ms", PS_PARAM_FLOAT, 0, 0, 10000, NULL, "Busy computation per step, in ms." },
  { "abort_on_cancel", PS_PARAM_BOOL, 0, 0, 1, NULL, "Abandon a step when cancel rises." },
  { "meet", PS_PARAM_INT, 0, 0, 16, NULL, "Steps 0 and 1 wait until this many jobs are in them." },
  { "fail_at", PS_PARAM_INT, -1, -1, 1e9, NULL, "Fail with an error at this step (-1: never)." },
  { "fail_create", PS_PARAM_BOOL, 0, 0, 1, NULL, "Refuse to build the model." },
  { "record_blas", PS_PARAM_BOOL, 0, 0, 1, NULL, "Record the BLAS thread count seen in step 1." },
};

/* Concurrency observed across every linreg model. */
static gint active_steps;
gint max_active_steps;
static GMutex meet_lock;
static GCond meet_cond;
static guint meet_count[2];
gint blas_seen;   /* ps_blas_get_threads () in step 1, when recorded */
gboolean meet_timed_out;
/* The index of the last step any linreg model has entered, and a condition
 * signalled at every entry, so a test can act while a step is running. */
static gint64 entered_step = -1;

void
concurrency_reset (void)
{
  g_atomic_int_set (&active_steps, 0);
  g_atomic_int_set (&max_active_steps, 0);
  g_mutex_lock (&meet_lock);
  meet_count[0] = meet_count[1] = 0;
  blas_seen = 0;
  meet_timed_out = FALSE;
  entered_step = -1;
  g_mutex_unlock (&meet_lock);
}

typedef struct
{
  guint64 steps;
  double lr;
  gint64 nan_at;
  gint64 fail_at;
  double work_ms;
  gboolean abort_on_cancel;
  guint meet;
  gboolean record_blas;
  float x[N_TRAIN * LINREG_D], y[N_TRAIN];
  float tx[N_TEST * LINREG_D], ty[N_TEST];
  /* The training state: everything save() writes. */
  guint64 step;
  PsRng rng;
  float w[LINREG_D];
  float b;
} Linreg;

static gpointer
linreg_create (const PsMethod *method, const PsParams *params, PsDataset *data,
               guint64 seed, GError **error)
{
  if (ps_params_get_bool (params, "fail_create"))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "linreg refuses these data");
      return NULL;
    }
  Linreg *m = g_new0 (Linreg, 1);
  m->steps = ps_params_get_int (params, "steps");
  m->lr = ps_params_get_float (params, "lr");
  m->nan_at = ps_params_get_int (params, "nan_at");
  m->fail_at = ps_params_get_int (params, "fail_at");
  m->work_ms = ps_params_get_float (params, "work_ms");
  m->abort_on_cancel = ps_params_get_bool (params, "abort_on_cancel");
  m->meet = ps_params_get_int (params, "meet");
  m->record_blas = ps_params_get_bool (params, "record_blas");

  /* The data are the same for every seed; the seed drives the
   * initialisation and the minibatches. */
  PsRng data_rng;
  ps_rng_init (&data_rng, 12345, 1);
  const float w_true[LINREG_D] = { 1.5f, -2.0f, 0.5f, 3.0f };
  for (int i = 0; i < N_TRAIN + N_TEST; i++)
    {
      float *x = i < N_TRAIN ? &m->x[i * LINREG_D] : &m->tx[(i - N_TRAIN) * LINREG_D];
      float y = 0.25f;
      for (int j = 0; j < LINREG_D; j++)
        {
          x[j] = ps_rng_normal (&data_rng);
          y += w_true[j] * x[j];
        }
      y += 0.1f * ps_rng_normal (&data_rng);
      if (i < N_TRAIN)
        m->y[i] = y;
      else
        m->ty[i - N_TRAIN] = y;
    }
  ps_rng_init (&m->rng, seed, 7);
  ps_rng_fill_normal (&m->rng, m->w, LINREG_D, 0.0f, 0.1f);
  return m;
}

static void
linreg_free (gpointer model)
{
  g_free (model);
}

static guint64
linreg_total_steps (gpointer model)
{
  return ((Linreg *) model)->steps;
}

static void
note_active (gint delta)
{
  gint now = g_atomic_int_add (&active_steps, delta) + delta;
  gint max;
  while ((max = g_atomic_int_get (&max_active_steps)) < now
         && !g_atomic_int_compare_and_exchange (&max_active_steps, max, now))
    ;
}

/* Blocks until `n` jobs have arrived at step `step` (or ten seconds
 * passed, which means the runner did not run them at once). */
static void
meet_others (guint n, guint step)
{
  gint64 until = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  g_mutex_lock (&meet_lock);
  meet_count[step]++;
  g_cond_broadcast (&meet_cond);
  while (meet_count[step] < n)
    if (!g_cond_wait_until (&meet_cond, &meet_lock, until))
      {
        meet_timed_out = TRUE;
        break;
      }
  g_mutex_unlock (&meet_lock);
}

gint step_nice = -100;

static gboolean
linreg_step (gpointer model, PsStepInfo *info, GError **error)
{
  Linreg *m = model;
#ifdef __linux__
  g_atomic_int_set (&step_nice, getpriority (PRIO_PROCESS, (id_t) syscall (SYS_gettid)));
#endif
  g_assert_cmpuint (info->step, ==, m->step);
  note_active (+1);
  g_mutex_lock (&meet_lock);
  entered_step = (gint64) info->step;
  g_cond_broadcast (&meet_cond);
  g_mutex_unlock (&meet_lock);
  if (m->meet > 1 && info->step < 2)
    meet_others (m->meet, info->step);
  if (m->record_blas && info->step == 1)
    g_atomic_int_set (&blas_seen, ps_blas_get_threads ());

  if (m->work_ms > 0)
    {
      /* Busy work, as a real step would do, polling the cancel flag like
       * a long inner loop should. */
      double until = ps_now () + m->work_ms / 1000.0;
      volatile float sink = 0;
      while (ps_now () < until)
        {
          for (int k = 0; k < 2000; k++)
            sink += sqrtf ((float) k) * 1e-3f;
          if (m->abort_on_cancel && g_atomic_int_get (info->cancel))
            {
              note_active (-1);
              g_set_error (error, PS_ERROR, PS_ERROR_CANCELLED, "step %" G_GUINT64_FORMAT " abandoned",
                           info->step);
              return FALSE;
            }
        }
    }

  if ((gint64) info->step == m->fail_at)
    {
      note_active (-1);
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "the matrix went singular");
      return FALSE;
    }

  float gw[LINREG_D] = { 0 }, gb = 0;
  double loss = 0;
  for (int k = 0; k < BATCH; k++)
    {
      guint i = ps_rng_below (&m->rng, N_TRAIN);
      const float *x = &m->x[i * LINREG_D];
      float pred = m->b;
      for (int j = 0; j < LINREG_D; j++)
        pred += m->w[j] * x[j];
      float r = pred - m->y[i];
      loss += (double) r * r / BATCH;
      for (int j = 0; j < LINREG_D; j++)
        gw[j] += 2.0f * r * x[j] / BATCH;
      gb += 2.0f * r / BATCH;
    }
  for (int j = 0; j < LINREG_D; j++)
    m->w[j] -= (float) m->lr * gw[j];
  m->b -= (float) m->lr * gb;

  info->loss = (gint64) info->step == m->nan_at ? NAN : loss;
  info->metrics = ps_metrics_new ();
  ps_metrics_set (info->metrics, "lr", m->lr);
  m->step++;
  info->done = m->step >= m->steps;
  note_active (-1);
  return TRUE;
}

static PsMetrics *
linreg_evaluate (gpointer model)
{
  Linreg *m = model;
  double mse = 0;
  for (int i = 0; i < N_TEST; i++)
    {
      float pred = m->b;
      for (int j = 0; j < LINREG_D; j++)
        pred += m->w[j] * m->tx[i * LINREG_D + j];
      mse += (double) (pred - m->ty[i]) * (pred - m->ty[i]) / N_TEST;
    }
  PsMetrics *metrics = ps_metrics_new ();
  ps_metrics_set (metrics, "test_mse", mse);
  ps_metrics_set (metrics, "w0", m->w[0]);
  return metrics;
}

static GPtrArray *
linreg_snapshot (gpointer model)
{
  Linreg *m = model;
  GPtrArray *arrays = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  float wb[LINREG_D + 1];
  memcpy (wb, m->w, sizeof m->w);
  wb[LINREG_D] = m->b;
  g_ptr_array_add (arrays, ps_array_new_f32 ("weights", wb, 1, LINREG_D + 1));
  g_ptr_array_add (arrays, ps_array_new_f32 ("embedding", m->tx, N_TEST, LINREG_D));
  return arrays;
}

#define LINREG_MAGIC 0x4c696e52u

static GBytes *
linreg_save (gpointer model)
{
  Linreg *m = model;
  GByteArray *out = g_byte_array_new ();
  guint32 magic = LINREG_MAGIC;
  g_byte_array_append (out, (guint8 *) &magic, sizeof magic);
  g_byte_array_append (out, (guint8 *) &m->step, sizeof m->step);
  g_byte_array_append (out, (guint8 *) &m->rng, sizeof m->rng);
  g_byte_array_append (out, (guint8 *) m->w, sizeof m->w);
  g_byte_array_append (out, (guint8 *) &m->b, sizeof m->b);
  return g_byte_array_free_to_bytes (out);
}

static gboolean
linreg_load (gpointer model, GBytes *blob, GError **error)
{
  Linreg *m = model;
  gsize n;
  const guint8 *p = g_bytes_get_data (blob, &n);
  guint32 magic;
  if (n != sizeof magic + sizeof m->step + sizeof m->rng + sizeof m->w + sizeof m->b
      || (memcpy (&magic, p, sizeof magic), magic != LINREG_MAGIC))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "not a linreg checkpoint");
      return FALSE;
    }
  p += sizeof magic;
  memcpy (&m->step, p, sizeof m->step);
  p += sizeof m->step;
  memcpy (&m->rng, p, sizeof m->rng);
  p += sizeof m->rng;
  memcpy (m->w, p, sizeof m->w);
  p += sizeof m->w;
  memcpy (&m->b, p, sizeof m->b);
  return TRUE;
}

const PsMethod linreg_method = {
  .id = "linreg",
  .title = "Linear regression (test)",
  .family = "Tests",
  .summary = "Minibatch SGD on synthetic linear data, for the runner's tests.",
  .key_metric = "test_mse",
  .params = linreg_params,
  .n_params = G_N_ELEMENTS (linreg_params),
  .create = linreg_create,
  .free = linreg_free,
  .total_steps = linreg_total_steps,
  .step = linreg_step,
  .evaluate = linreg_evaluate,
  .snapshot = linreg_snapshot,
  .save = linreg_save,
  .load = linreg_load,
};

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

/* Parameters from "name=value" assignments, NULL-terminated. */
PsParams *
linreg_params_new (const char *first, ...)
{
  PsParams *params = ps_method_default_params (&linreg_method);
  va_list ap;
  va_start (ap, first);
  for (const char *a = first; a != NULL; a = va_arg (ap, const char *))
    {
      g_autoptr (GError) error = NULL;
      g_assert_true (ps_params_set_string (params, a, &error));
      g_assert_no_error (error);
    }
  va_end (ap);
  return params;
}

PsJobSpec
linreg_spec (const PsParams *params, guint64 seed, const char *store_path)
{
  PsJobSpec spec = { 0 };
  spec.method = &linreg_method;
  spec.params = params;
  spec.dataset_name = (char *) "synthetic";
  spec.seed = seed;
  spec.store_path = (char *) store_path;
  return spec;
}

PsJob *
submit_ok (PsRunner *runner, const PsJobSpec *spec)
{
  g_autoptr (GError) error = NULL;
  PsJob *job = ps_runner_submit (runner, spec, &error);
  g_assert_no_error (error);
  g_assert_nonnull (job);
  return job;
}

gboolean
is_end (PsEventType type)
{
  return type == PS_EVENT_FINISHED || type == PS_EVENT_FAILED || type == PS_EVENT_CANCELLED;
}

/* Pops events until `job` has ended; every event is appended to `events`
 * (when non-NULL) or freed.  A runner that stops emitting fails the test
 * after ten seconds rather than hanging it. */
void
pop_until_end (PsRunner *runner, PsJob *job, GPtrArray *events)
{
  for (;;)
    {
      PsEvent *event = ps_runner_pop_event (runner, 10000);
      g_assert_nonnull (event);
      gboolean end = event->job == job && is_end (event->type);
      if (events)
        g_ptr_array_add (events, event);
      else
        ps_event_free (event);
      if (end)
        return;
    }
}

/* Pops until `job` emits an event of `type` (with step >= min_step for
 * progress), which is returned; other events are freed. */
PsEvent *
pop_until (PsRunner *runner, PsJob *job, PsEventType type, guint64 min_step)
{
  for (;;)
    {
      PsEvent *event = ps_runner_pop_event (runner, 10000);
      g_assert_nonnull (event);
      if (event->job == job && event->type == type && event->step >= min_step)
        return event;
      g_assert_false (event->job == job && is_end (event->type));
      ps_event_free (event);
    }
}

void
temp_store_init (TempStore *t)
{
  g_autoptr (GError) error = NULL;
  t->dir = g_dir_make_tmp ("ps-jobs-XXXXXX", &error);
  g_assert_no_error (error);
  t->path = g_build_filename (t->dir, "runs.sqlite", NULL);
}

void
temp_store_clear (TempStore *t)
{
  g_autoptr (GDir) dir = g_dir_open (t->dir, 0, NULL);
  const char *name;
  while (dir && (name = g_dir_read_name (dir)))
    {
      g_autofree char *p = g_build_filename (t->dir, name, NULL);
      g_unlink (p);
    }
  g_rmdir (t->dir);
  g_free (t->dir);
  g_free (t->path);
}

PsStore *
store_open_ok (const char *path)
{
  g_autoptr (GError) error = NULL;
  PsStore *store = ps_store_open (path, &error);
  g_assert_no_error (error);
  return store;
}

PsRunStatus
stored_status (const char *path, gint64 run, char **error_text)
{
  g_autoptr (GError) error = NULL;
  PsStore *store = store_open_ok (path);
  g_autoptr (PsRunInfo) info = ps_store_get_run (store, run, &error);
  g_assert_no_error (error);
  PsRunStatus status = info->status;
  if (error_text)
    *error_text = g_strdup (info->error);
  ps_store_close (store);
  return status;
}

/* Blocks until a linreg model is inside step `step` or later (ten seconds
 * at most). */
void
wait_linreg_in_step (gpointer data, gpointer unused)
{
  gint64 step = GPOINTER_TO_SIZE (data);
  gint64 until = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  g_mutex_lock (&meet_lock);
  while (entered_step < step)
    g_assert_true (g_cond_wait_until (&meet_cond, &meet_lock, until));
  g_mutex_unlock (&meet_lock);
}

/* ------------------------------------------------------------------ */
/* Reusable: cancel latency of any method                               */
/* ------------------------------------------------------------------ */

/* Runs `method` on `data` with `params`, waits until it has completed
 * `after_steps` steps (or started, when 0) and then for `ready` (when
 * non-NULL, e.g. until the method is inside its next step), cancels it and
 * returns the seconds from the request to the CANCELLED event.  With a
 * store path the time includes the final checkpoint.  Returns a negative
 * value when the job ended by itself before the cancel (too short to
 * measure).
 *
 * Since a cancel that lands between two steps is cheap, the longest step
 * matters as much: `max_step` (when non-NULL) receives the longest time
 * between two consecutive progress events before the cancel, which is
 * one step's duration (plus a scheduled evaluation, none here). */
double
measure_cancel_latency (const PsMethod *method, const PsParams *params, PsDataset *data,
                        const char *store_path, guint64 after_steps,
                        GFunc ready, gpointer ready_data, double *max_step)
{
  PsRunner *runner = ps_runner_new (1);
  PsJobSpec spec = { 0 };
  spec.method = method;
  spec.params = params;
  spec.dataset = data;
  spec.dataset_name = data ? data->name : (char *) "synthetic";
  spec.seed = 1;
  spec.store_path = (char *) store_path;
  g_autoptr (PsJob) job = submit_ok (runner, &spec);

  double latency = -1;
  double last_event = 0;
  if (max_step)
    *max_step = 0;
  for (;;)
    {
      PsEvent *event = ps_runner_pop_event (runner, 60000);
      g_assert_nonnull (event);
      double now = ps_now ();
      if (event->type == PS_EVENT_PROGRESS || event->type == PS_EVENT_STARTED)
        {
          if (max_step && last_event > 0)
            *max_step = MAX (*max_step, now - last_event);
          last_event = now;
        }
      gboolean reached = event->type == (after_steps ? PS_EVENT_PROGRESS : PS_EVENT_STARTED)
                         && event->step + 1 >= after_steps;
      gboolean ended = is_end (event->type);
      ps_event_free (event);
      if (ended)
        break;
      if (reached)
        {
          if (ready)
            ready (ready_data, NULL);
          double t0 = ps_now ();
          ps_job_cancel (job);
          g_autoptr (GPtrArray) rest = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_event_free);
          pop_until_end (runner, job, rest);
          PsEvent *last = g_ptr_array_index (rest, rest->len - 1);
          if (last->type == PS_EVENT_CANCELLED)
            latency = ps_now () - t0;
          break;
        }
    }
  ps_runner_free (runner);
  return latency;
}
