/* ps-diffusion-live.c: the guidance weight w as a slider that resamples a
 * class-conditional run live.
 *
 * For a finished 2-D run of `ddpm` with conditioning or of `distill` with
 * guided=true, the model is rebuilt from the run's last checkpoint on a
 * worker thread.  Moving the slider re-runs the sampler (DDIM with
 * classifier-free guidance at w for ddpm, the w-conditioned student on its
 * own few steps for distill) on the same starting noise on a worker
 * thread, for ddpm first with a few steps and then with the run's own;
 * the result becomes the "Guided (live)" sampler, one colour per
 * requested class.  At most one sampling job runs: moving the slider again
 * cancels it (the samplers poll a flag between steps) and the newest w
 * starts once it has stopped, while the last result stays on screen.
 *
 * Tasks hold no reference on the view, so a closing window never waits for
 * them: the view cancels `live_cancel` when it goes or the run changes, and
 * a callback that finds it cancelled touches nothing.
 */
#define G_LOG_DOMAIN "ps-window"

#include "ps-diffusion-view-private.h"

#include <math.h>
#include <string.h>

#include "ps-base.h"
#include "ps-diffusion.h"
#include "ps-distill-guided.h"
#include "ps-method.h"
#include "ps-window.h"
#include "ps-method-ddpm.h"

/* Particles resampled at each w (all drawn, all with trajectories). */
#define LIVE_N 1024
/* A slider move first samples ddpm with this many DDIM steps (a fifth of
 * the cost), then refines with the run's own step count. */
#define LIVE_COARSE_STEPS 10
enum
{
  SIGNAL_RESAMPLED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

struct _LiveModel
{
  gatomicrefcount ref;
  const PsMethod *method;
  gpointer model;          /* the method's model, rebuilt from the checkpoint */
  PsDataset *data;
  PsDenoiser *den;         /* ddpm: the model's denoiser with its EMA weights (borrowed) */
  PsDiffSchedule *sched;   /* ddpm: borrowed */
  int steps;               /* ddpm: DDIM steps */
  int n_classes;
  float w0, w_lo, w_hi;    /* the run's own w and the slider's range */
};

static LiveModel *
live_model_ref (LiveModel *lm)
{
  g_atomic_ref_count_inc (&lm->ref);
  return lm;
}

static void
live_model_unref (LiveModel *lm)
{
  if (lm == NULL || !g_atomic_ref_count_dec (&lm->ref))
    return;
  if (lm->model)
    lm->method->free (lm->model);
  g_clear_pointer (&lm->data, ps_dataset_unref);
  g_free (lm);
}

/* ---- Loading the model (worker thread) ---------------------------------- */

typedef struct
{
  char *store_path;
  gint64 run;
  LiveModel *lm;
  gboolean retry;          /* the run was still training: ask again later */
} LiveLoad;

static void
live_load_free (LiveLoad *l)
{
  g_clear_pointer (&l->lm, live_model_unref);
  g_free (l->store_path);
  g_free (l);
}

static void
live_load_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  LiveLoad *l = data;
  GError *error = NULL;
  g_autoptr (PsRunInfo) info = NULL;
  g_autoptr (PsParams) params = NULL;
  g_autoptr (GBytes) blob = NULL;
  const PsMethod *method = NULL;
  gint64 step = 0;
  PsStore *store = ps_store_open (l->store_path, &error);

  if (store == NULL || (info = ps_store_get_run (store, l->run, &error)) == NULL)
    goto fail;
  if (info->status == PS_RUN_RUNNING || info->status == PS_RUN_QUEUED
      || info->status == PS_RUN_PAUSED)
    {
      l->retry = TRUE;
      g_set_error (&error, PS_ERROR, PS_ERROR_NOT_FOUND, "run %" G_GINT64_FORMAT " is training",
                   l->run);
      goto fail;
    }
  method = ps_method_find (info->method);
  if (method == NULL
      || (!g_str_equal (method->id, "ddpm") && !g_str_equal (method->id, "distill")))
    {
      g_set_error (&error, PS_ERROR, PS_ERROR_NOT_FOUND, "%s has no guidance weight", info->method);
      goto fail;
    }
  params = ps_method_default_params (method);
  if (info->params_json && !ps_params_load_json (params, info->params_json, &error))
    goto fail;
  if (!ps_params_get_bool (params, g_str_equal (method->id, "ddpm") ? "conditional" : "guided"))
    {
      g_set_error (&error, PS_ERROR, PS_ERROR_NOT_FOUND, "run %" G_GINT64_FORMAT
                   " is not class-conditional", l->run);
      goto fail;
    }
  l->lm = g_new0 (LiveModel, 1);
  g_atomic_ref_count_init (&l->lm->ref);
  l->lm->method = method;
  l->lm->data = ps_dataset_open_spec (info->dataset, NULL, NULL, TRUE, &error);
  if (l->lm->data == NULL || (blob = ps_store_get_checkpoint (store, l->run, &step, &error)) == NULL)
    goto fail;
  if (l->lm->data->d != 2 || l->lm->data->n_classes < 2)
    {
      g_set_error (&error, PS_ERROR, PS_ERROR_VALUE, "%s is not a labelled 2-D set",
                   info->dataset);
      goto fail;
    }
  l->lm->n_classes = (int) l->lm->data->n_classes;
  l->lm->model = method->create (method, params, l->lm->data, info->seed, &error);
  if (l->lm->model == NULL || !method->load (l->lm->model, blob, &error))
    goto fail;
  if (g_str_equal (method->id, "ddpm"))
    {
      ps_ddpm_get_sampler (l->lm->model, &l->lm->den, &l->lm->sched, &l->lm->steps, &l->lm->w0);
      /* ddpm samples with the weights' moving average; the model is only
       * sampled from now on. */
      ps_model_swap_ema (l->lm->den->net);
      l->lm->w_lo = 0.f;
      l->lm->w_hi = MAX (4.f, 2.f * l->lm->w0);
    }
  else
    {
      l->lm->w0 = (float) ps_params_get_float (params, "guidance");
      l->lm->w_lo = (float) ps_params_get_float (params, "w_min");
      l->lm->w_hi = (float) ps_params_get_float (params, "w_max");
    }
  ps_store_close (store);
  g_task_return_boolean (task, TRUE);
  return;

fail:
  if (store)
    ps_store_close (store);
  g_task_return_error (task, error ? error : g_error_new (PS_ERROR, PS_ERROR_NOT_FOUND, "no model"));
}

/* ---- Sampling (worker thread) ------------------------------------------- */

struct _LiveJob
{
  LiveModel *lm;
  float w;
  int steps;               /* ddpm: DDIM steps of this pass */
  gboolean select;         /* show the result as soon as it arrives */
  float *noise;            /* [n, 2] */
  int *cls;                /* [n] */
  int n;
  gint cancel;
  float *traj;             /* out: [n, F, 2] */
  float *sigma;            /* out: [F] */
  int F;
  double ms;
  char *title;
};

static void
live_job_free (LiveJob *j)
{
  live_model_unref (j->lm);
  g_free (j->noise);
  g_free (j->cls);
  g_free (j->traj);
  g_free (j->sigma);
  g_free (j->title);
  g_free (j);
}

static void
live_sample_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  LiveJob *j = data;
  LiveModel *lm = j->lm;
  GError *error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  gboolean ok;

  if (lm->den != NULL)
    {
      PsSamplerConfig cfg;
      ps_sampler_config_init (&cfg, PS_SAMPLER_DDIM, j->steps);
      cfg.n_record = j->n;
      cfg.traj = g_new (float, (gsize) j->n * (j->steps + 1) * 2);
      cfg.traj_t = g_new (float, j->steps + 1);
      PsDenoiserEps e = { lm->den, lm->sched, j->w };
      PsRng rng;
      ps_rng_init (&rng, 1, 1);
      g_autofree float *x = g_memdup2 (j->noise, (gsize) j->n * 2 * sizeof (float));
      ok = ps_diff_sample (lm->sched, ps_denoiser_eps_func, &e, x, j->n, 2, j->cls, &cfg, &rng,
                           &j->cancel, &error);
      j->traj = cfg.traj;
      j->sigma = cfg.traj_t;
      j->F = cfg.n_steps + 1;
      j->title = g_strdup_printf ("w = %.2f · DDIM %d steps%s", j->w, cfg.n_steps,
                                  j->steps < lm->steps ? " (refining)" : "");
    }
  else
    {
      ok = ps_distill_sample_guided (lm->model, j->w, j->noise, j->cls, j->n, &j->cancel,
                                     &j->traj, &j->sigma, &j->F, &error);
      if (ok)
        j->title = g_strdup_printf ("w = %.2f · student %d steps", j->w, j->F - 1);
    }
  j->ms = (g_get_monotonic_time () - t0) / 1000.0;
  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

/* ---- The view's side (main thread) -------------------------------------- */

/* Puts the last live result into the sampler list (after the snapshot's
 * samplers) and, with `select`, shows it. */
static void
install_live (PsDiffusionView *self, gboolean select)
{
  if (self->live.S == 0 || self->n_samplers == 0)
    return;
  guint slot = self->samplers[self->n_samplers - 1].index == LIVE_SAMPLER ? self->n_samplers - 1
                                                                           : self->n_samplers;
  Sampler *s = &self->samplers[slot];
  gsize sf = (gsize) self->live.S * self->live.F;
  ps_diffusion_sampler_clear (s);
  s->index = LIVE_SAMPLER;
  s->S = self->live.S;
  s->F = self->live.F;
  s->px = g_memdup2 (self->live.px, sf * sizeof (float));
  s->py = g_memdup2 (self->live.py, sf * sizeof (float));
  s->t = g_memdup2 (self->live.t, s->F * sizeof (float));
  s->cls = g_memdup2 (self->live.cls, s->S * sizeof (int));
  s->title = g_strdup (self->live.title);
  gboolean added = slot == self->n_samplers;
  self->n_samplers = slot + 1;
  guint shown = gtk_drop_down_get_selected (self->sampler_dropdown);
  if (added || select)
    ps_diffusion_view_list_samplers (self, select ? slot : shown);
  else
    ps_diffusion_view_redraw (self);
}

static void start_job (PsDiffusionView *self, gboolean select, gboolean coarse);

static void
live_sampled_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LiveJob *j = g_task_get_task_data (G_TASK (result));
  g_autoptr (GError) error = NULL;

  if (g_cancellable_is_cancelled (g_task_get_cancellable (G_TASK (result))))
    return;
  PsDiffusionView *self = PS_DIFFUSION_VIEW (user_data);
  self->live_job = NULL;
  if (g_task_propagate_boolean (G_TASK (result), &error))
    {
      Sampler *s = &self->live;
      ps_diffusion_sampler_clear (s);
      s->index = LIVE_SAMPLER;
      s->S = (guint) j->n;
      s->F = (guint) j->F;
      s->px = g_new (float, (gsize) s->S * s->F);
      s->py = g_new (float, (gsize) s->S * s->F);
      for (guint p = 0; p < s->S; p++)
        for (guint f = 0; f < s->F; f++)
          {
            const float *q = j->traj + ((gsize) p * s->F + f) * 2;
            s->px[(gsize) f * s->S + p] = q[0];
            s->py[(gsize) f * s->S + p] = q[1];
          }
      s->t = g_steal_pointer (&j->sigma);
      s->cls = g_memdup2 (j->cls, s->S * sizeof (int));
      s->title = g_steal_pointer (&j->title);
      self->live_last_ms = j->ms;
      self->live_results++;
      g_autofree char *text = g_strdup_printf ("%s · %d samples · %.0f ms", s->title, j->n, j->ms);
      gtk_label_set_label (self->live_label, text);
      install_live (self, j->select && !self->live_pending);
      g_signal_emit (self, signals[SIGNAL_RESAMPLED], 0);
    }
  else if (!g_error_matches (error, PS_ERROR, PS_ERROR_CANCELLED))
    {
      g_autofree char *text = g_strdup_printf ("sampling failed: %s", error->message);
      gtk_label_set_label (self->live_label, text);
    }
  if (self->live_pending)
    start_job (self, TRUE, TRUE);
  else if (j->lm->den != NULL && j->steps < j->lm->steps && j->lm == self->live_model)
    start_job (self, TRUE, FALSE);
}

/* A sampling job at the slider's w; `coarse` makes ddpm's a quick first
 * pass that a full one follows. */
static void
start_job (PsDiffusionView *self, gboolean select, gboolean coarse)
{
  g_return_if_fail (self->live_model != NULL && self->live_job == NULL);
  LiveJob *j = g_new0 (LiveJob, 1);
  j->lm = live_model_ref (self->live_model);
  j->steps = coarse ? MIN (LIVE_COARSE_STEPS, j->lm->steps) : j->lm->steps;
  j->w = (float) gtk_adjustment_get_value (self->guidance_adjustment);
  j->select = select;
  j->n = self->live_n;
  j->noise = g_memdup2 (self->live_noise, (gsize) j->n * 2 * sizeof (float));
  j->cls = g_memdup2 (self->live_cls, (gsize) j->n * sizeof (int));
  self->live_job = j;
  self->live_pending = FALSE;
  g_autoptr (GTask) task = g_task_new (NULL, self->live_cancel, live_sampled_cb, self);
  g_task_set_task_data (task, j, (GDestroyNotify) live_job_free);
  g_task_run_in_thread (task, live_sample_thread);
}

void
ps_diffusion_live_guidance_changed_cb (PsDiffusionView *self)
{
  if (self->live_updating || self->live_model == NULL)
    return;
  if (self->live_job != NULL)
    {
      /* The running job stops at its next step; the newest w follows. */
      g_atomic_int_set (&self->live_job->cancel, 1);
      self->live_pending = TRUE;
      return;
    }
  start_job (self, TRUE, TRUE);
}

static void
live_loaded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LiveLoad *l = g_task_get_task_data (G_TASK (result));
  g_autoptr (GError) error = NULL;

  if (g_cancellable_is_cancelled (g_task_get_cancellable (G_TASK (result))))
    return;
  PsDiffusionView *self = PS_DIFFUSION_VIEW (user_data);
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_debug ("no guidance slider for run %" G_GINT64_FORMAT ": %s", l->run, error->message);
      /* A run still training is asked again at its next snapshot. */
      if (l->retry && l->run == self->live_run)
        g_clear_object (&self->live_cancel);
      return;
    }
  if (l->run != self->live_run)
    return;
  LiveModel *lm = self->live_model = g_steal_pointer (&l->lm);
  self->live_n = LIVE_N;
  self->live_noise = g_new (float, (gsize) LIVE_N * 2);
  self->live_cls = g_new (int, LIVE_N);
  PsRng rng;
  ps_rng_init (&rng, 2024, 7);
  ps_rng_fill_normal (&rng, self->live_noise, (gsize) LIVE_N * 2, 0.f, 1.f);
  for (int i = 0; i < LIVE_N; i++)
    self->live_cls[i] = i % lm->n_classes;
  double hi = lm->w_hi > lm->w_lo ? lm->w_hi : lm->w_lo + 1.0;
  self->live_updating = TRUE;
  gtk_adjustment_configure (self->guidance_adjustment, CLAMP (lm->w0, lm->w_lo, hi), lm->w_lo,
                            hi, 0.1, 0.5, 0);
  self->live_updating = FALSE;
  gtk_widget_set_visible (self->live_box, TRUE);
  gtk_label_set_label (self->live_label, "sampling…");
  /* A first result at the run's own w, listed but not shown. */
  start_job (self, FALSE, FALSE);
}

void
ps_diffusion_live_stop (PsDiffusionView *self)
{
  if (self->live_cancel)
    g_cancellable_cancel (self->live_cancel);
  g_clear_object (&self->live_cancel);
  if (self->live_job)
    g_atomic_int_set (&self->live_job->cancel, 1);
  self->live_job = NULL;
  self->live_pending = FALSE;
  g_clear_pointer (&self->live_model, live_model_unref);
  g_clear_pointer (&self->live_noise, g_free);
  g_clear_pointer (&self->live_cls, g_free);
  self->live_n = 0;
  ps_diffusion_sampler_clear (&self->live);
  self->live_results = 0;
  if (self->live_box)
    gtk_widget_set_visible (self->live_box, FALSE);
}

static void
live_set_run (PsDiffusionView *self, const char *store_path, gint64 run)
{
  if (run == self->live_run && g_strcmp0 (store_path, self->live_store_path) == 0)
    return;
  ps_diffusion_live_stop (self);
  g_free (self->live_store_path);
  self->live_store_path = g_strdup (store_path);
  self->live_run = store_path ? run : 0;
}

void
ps_diffusion_view_set_run (PsDiffusionView *self, const char *store_path, gint64 run_id)
{
  g_return_if_fail (PS_IS_DIFFUSION_VIEW (self));
  self->live_explicit = TRUE;
  live_set_run (self, store_path, run_id);
}

void
ps_diffusion_live_snapshot_shown (PsDiffusionView *self)
{
  if (!self->live_explicit)
    {
      /* In the window, the run shown is the window's current run. */
      GtkWidget *win = gtk_widget_get_ancestor (GTK_WIDGET (self), PS_TYPE_WINDOW);
      if (win != NULL)
        live_set_run (self, ps_window_get_store_path (PS_WINDOW (win)),
                      ps_window_get_current_run (PS_WINDOW (win)));
    }
  if (self->n_samplers == 0 || self->side != 0 || self->live_run == 0)
    {
      gtk_widget_set_visible (self->live_box, FALSE);
      return;
    }
  if (self->live_model != NULL)
    {
      gtk_widget_set_visible (self->live_box, TRUE);
      install_live (self, FALSE);
      return;
    }
  if (self->live_cancel != NULL)
    return;   /* loading, or tried already */
  LiveLoad *l = g_new0 (LiveLoad, 1);
  l->store_path = g_strdup (self->live_store_path);
  l->run = self->live_run;
  self->live_cancel = g_cancellable_new ();
  g_autoptr (GTask) task = g_task_new (NULL, self->live_cancel, live_loaded_cb, self);
  g_task_set_task_data (task, l, (GDestroyNotify) live_load_free);
  g_task_run_in_thread (task, live_load_thread);
}

void
ps_diffusion_live_class_init (GtkWidgetClass *widget_class)
{
  /**
   * PsDiffusionView::live-resampled:
   *
   * A resampling at a new guidance weight has arrived and is listed.
   */
  signals[SIGNAL_RESAMPLED] = g_signal_new ("live-resampled", G_TYPE_FROM_CLASS (widget_class),
                                            G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  gtk_widget_class_bind_template_child (widget_class, PsDiffusionView, live_box);
  gtk_widget_class_bind_template_child (widget_class, PsDiffusionView, guidance_scale);
  gtk_widget_class_bind_template_child (widget_class, PsDiffusionView, guidance_adjustment);
  gtk_widget_class_bind_template_child (widget_class, PsDiffusionView, live_label);
  gtk_widget_class_bind_template_callback_full (widget_class, "guidance_changed_cb",
                                                G_CALLBACK (ps_diffusion_live_guidance_changed_cb));
}

/* ---- Accessors for tests -------------------------------------------------- */

gboolean
ps_diffusion_view_get_live_ready (PsDiffusionView *self)
{
  g_return_val_if_fail (PS_IS_DIFFUSION_VIEW (self), FALSE);
  return self->live_model != NULL;
}

guint
ps_diffusion_view_get_live_results (PsDiffusionView *self)
{
  g_return_val_if_fail (PS_IS_DIFFUSION_VIEW (self), 0);
  return self->live_results;
}

double
ps_diffusion_view_get_live_ms (PsDiffusionView *self)
{
  g_return_val_if_fail (PS_IS_DIFFUSION_VIEW (self), 0);
  return self->live_last_ms;
}

gboolean
ps_diffusion_view_get_live_busy (PsDiffusionView *self)
{
  g_return_val_if_fail (PS_IS_DIFFUSION_VIEW (self), FALSE);
  return self->live_job != NULL;
}

GtkRange *
ps_diffusion_view_get_guidance_scale (PsDiffusionView *self)
{
  g_return_val_if_fail (PS_IS_DIFFUSION_VIEW (self), NULL);
  return GTK_RANGE (self->guidance_scale);
}

float *
ps_diffusion_view_dup_live_samples (PsDiffusionView *self, guint *n)
{
  g_return_val_if_fail (PS_IS_DIFFUSION_VIEW (self), NULL);
  const Sampler *s = &self->live;
  *n = s->S;
  if (s->S == 0)
    return NULL;
  float *xy = g_new (float, (gsize) s->S * 2);
  for (guint i = 0; i < s->S; i++)
    {
      xy[2 * i] = s->px[(gsize) (s->F - 1) * s->S + i];
      xy[2 * i + 1] = s->py[(gsize) (s->F - 1) * s->S + i];
    }
  return xy;
}
