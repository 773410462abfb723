/* ps-tsne-job.c: t-SNE on a worker thread with progress in the main loop. */
#define G_LOG_DOMAIN "ps-window"

#include "ps-tsne-job.h"

#include <math.h>
#include <string.h>

#include "ps-base.h"
#include "ps-tsne.h"

struct _PsTsneJob
{
  gint ref_count;          /* atomic: the owner, the worker and each queued report */
  gint cancel;             /* atomic: read by ps_tsne inside its loops */
  gboolean dropped;        /* main thread only: the owner cancelled */
  GMainContext *context;
  PsTsneJobUpdate update;
  gpointer user_data;
  float *x;
  guint n, d, n_iter, report_every;
  guint64 seed;
};

typedef struct
{
  PsTsneJob *job;
  float *xy;
  guint iteration, n_iter;
  gboolean done;
  GError *error;
} Report;

static void
job_unref (PsTsneJob *job)
{
  if (!g_atomic_int_dec_and_test (&job->ref_count))
    return;
  g_main_context_unref (job->context);
  g_free (job->x);
  g_free (job);
}

static void
report_free (Report *r)
{
  job_unref (r->job);
  g_free (r->xy);
  g_clear_error (&r->error);
  g_free (r);
}

static gboolean
report_dispatch (gpointer data)
{
  Report *r = data;

  /* `dropped` is only written in the main context, where this runs. */
  if (!r->job->dropped)
    r->job->update (r->job->user_data, r->xy, r->job->n, r->iteration, r->n_iter, r->done, r->error);
  return G_SOURCE_REMOVE;
}

static void
post (PsTsneJob *job, float *xy, guint iteration, guint n_iter, gboolean done, GError *error)
{
  Report *r = g_new0 (Report, 1);

  g_atomic_int_inc (&job->ref_count);
  r->job = job;
  r->xy = xy;
  r->iteration = iteration;
  r->n_iter = n_iter;
  r->done = done;
  r->error = error;
  /* Above the redraw priority's neighbours but below input: a report
   * replaces the texture, which the next frame draws. */
  g_main_context_invoke_full (job->context, G_PRIORITY_DEFAULT_IDLE, report_dispatch, r,
                              (GDestroyNotify) report_free);
}

static gpointer
worker (gpointer data)
{
  PsTsneJob *job = data;
  PsTsneParams params;
  GError *error = NULL;

  ps_tsne_params_init (&params);
  params.perplexity = MIN (30.0, MAX ((job->n - 1) / 3.0, 1.0));
  if (job->n_iter > 0)
    {
      params.n_iter = job->n_iter;
      params.exaggeration_iter = MIN (params.exaggeration_iter, job->n_iter / 4);
    }
  params.seed = job->seed;
  params.cancel = &job->cancel;
  /* One gradient thread: the other core keeps training and the UI going. */
  params.n_threads = 1;

  PsTsne *tsne = ps_tsne_new (job->x, job->n, job->d, &params, &error);
  g_clear_pointer (&job->x, g_free);
  if (tsne == NULL)
    {
      post (job, NULL, 0, params.n_iter, TRUE, error);
      job_unref (job);
      return NULL;
    }
  while (!ps_tsne_is_done (tsne) && !g_atomic_int_get (&job->cancel))
    {
      double kl = ps_tsne_step (tsne, job->report_every, &error);
      if (error != NULL)
        break;
      (void) kl;
      gboolean done = ps_tsne_is_done (tsne);
      post (job, ps_tsne_get_embedding (tsne), ps_tsne_get_iteration (tsne),
            ps_tsne_get_n_iter (tsne), done, NULL);
    }
  if (error != NULL)
    post (job, NULL, ps_tsne_get_iteration (tsne), ps_tsne_get_n_iter (tsne), TRUE, error);
  ps_tsne_free (tsne);
  job_unref (job);
  return NULL;
}

PsTsneJob *
ps_tsne_job_start (const float *x, guint n, guint d, guint n_iter, guint64 seed,
                   guint report_every, PsTsneJobUpdate update, gpointer user_data)
{
  g_return_val_if_fail (x != NULL && n > 0 && d > 0 && update != NULL, NULL);

  PsTsneJob *job = g_new0 (PsTsneJob, 1);
  job->ref_count = 2; /* the owner and the worker */
  job->context = g_main_context_ref_thread_default ();
  job->update = update;
  job->user_data = user_data;
  job->x = g_memdup2 (x, (gsize) n * d * sizeof (float));
  job->n = n;
  job->d = d;
  job->n_iter = n_iter;
  job->report_every = report_every > 0 ? report_every : 50;
  job->seed = seed;
  GThread *thread = g_thread_new ("ps-tsne", worker, job);
  g_thread_unref (thread);
  return job;
}

void
ps_tsne_job_cancel (PsTsneJob *job)
{
  if (job == NULL)
    return;
  job->dropped = TRUE;
  g_atomic_int_set (&job->cancel, 1);
  job_unref (job);
}
