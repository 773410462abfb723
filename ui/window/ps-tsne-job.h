/* ps-tsne-job.h: core's Barnes-Hut t-SNE on a worker thread, reporting
 * its layout to the main loop every few iterations.
 *
 * The caller owns the job until ps_tsne_job_cancel; after that call no
 * callback runs again, so results for stale data are dropped even when
 * they were already queued.  The worker frees the shared state when it
 * ends.  No GTK: only GLib and core. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _PsTsneJob PsTsneJob;

/* Called in the main context: the layout xy [n, 2] (borrowed) after
 * `iteration` of `n_iter`; `done` on the last call, with `error` set if
 * the run failed (the layout is then NULL). */
typedef void (*PsTsneJobUpdate) (gpointer user_data, const float *xy, guint n, guint iteration,
                                 guint n_iter, gboolean done, const GError *error);

/* Starts t-SNE of x [n, d] (copied) with perplexity min(30, (n - 1) / 3),
 * `n_iter` iterations (0: 1000), seeded; reports every `report_every`
 * iterations (0: 50). */
PsTsneJob *ps_tsne_job_start (const float *x, guint n, guint d, guint n_iter, guint64 seed,
                              guint report_every, PsTsneJobUpdate update, gpointer user_data);
/* Stops the job: no callback after this returns.  NULL is ignored. */
void       ps_tsne_job_cancel (PsTsneJob *job);

G_END_DECLS
