/* test-ui-diffusion-view.c: the guidance slider of the diffusion view.
 *
 * A small class-conditional DDPM is trained here on the Gaussian grid and
 * stored as a finished run; the view shown on its snapshot reloads the
 * model from the checkpoint, shows the slider, resamples at the run's w,
 * and a new w resamples the same noise: with guidance the particles land
 * on their class and closer together; a move shows a quick 10-step pass
 * before the full one.  Quick slider moves while a job runs end with the
 * newest w only.  Waits iterate the main loop until the view reports, never
 * sleep.  Run with GTK_A11Y=none under xvfb-run. */
#include <gtk/gtk.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "ui-test-util.h"
#include "ps-base.h"
#include "ps-dataset.h"
#include "ps-diffusion.h"
#include "ps-diffusion-view.h"
#include "ps-method.h"
#include "ps-store.h"

typedef struct
{
  PsDiffusionView *view;
  guint results;     /* wait until more results than this and no job runs */
  guint signals;
} Wait;

static gboolean
resampled (gpointer data)
{
  Wait *w = data;
  return ps_diffusion_view_get_live_results (w->view) > w->results
         && !ps_diffusion_view_get_live_busy (w->view);
}

static void
resampled_cb (PsDiffusionView *view, Wait *w)
{
  w->signals++;
}

/* How class-conditional the samples xy[n, 2] are (the view asks for the
 * classes in turn): the share whose nearest class centre of the data is
 * the requested class, and the mean distance of a sample to the mean of
 * the samples of its class (the spread within a class). */
static void
class_stats (const float *xy, guint n, PsDataset *ds, double *match, double *spread)
{
  const int C = (int) ds->n_classes;
  g_autofree double *mu = g_new0 (double, 2 * C);
  g_autofree double *smu = g_new0 (double, 2 * C);
  g_autofree int *cnt = g_new0 (int, C);
  g_autofree int *scnt = g_new0 (int, C);
  for (guint i = 0; i < ds->n; i++)
    {
      cnt[ds->y[i]]++;
      mu[2 * ds->y[i]] += ds->x[2 * i];
      mu[2 * ds->y[i] + 1] += ds->x[2 * i + 1];
    }
  for (guint i = 0; i < n; i++)
    {
      int c = (int) (i % (guint) C);
      scnt[c]++;
      smu[2 * c] += xy[2 * i];
      smu[2 * c + 1] += xy[2 * i + 1];
    }
  guint hit = 0;
  double sum = 0;
  for (guint i = 0; i < n; i++)
    {
      int c = (int) (i % (guint) C), best = -1;
      double best_d = INFINITY;
      for (int k = 0; k < C; k++)
        {
          double dx = xy[2 * i] - mu[2 * k] / cnt[k], dy = xy[2 * i + 1] - mu[2 * k + 1] / cnt[k];
          if (dx * dx + dy * dy < best_d)
            {
              best_d = dx * dx + dy * dy;
              best = k;
            }
        }
      hit += best == c;
      double dx = xy[2 * i] - smu[2 * c] / scnt[c], dy = xy[2 * i + 1] - smu[2 * c + 1] / scnt[c];
      sum += sqrt (dx * dx + dy * dy);
    }
  *match = (double) hit / n;
  *spread = sum / n;
}

/* Trains a conditional DDPM into a new store; returns the run id. */
static gint64
train_run (const char *path, PsDataset **data_out)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_open_spec ("grid:n=2000,noise=0.3,seed=4", NULL, NULL,
                                                   TRUE, &error);
  g_assert_no_error (error);
  const PsMethod *m = ps_method_find ("ddpm");
  g_autoptr (PsParams) p = ps_method_default_params (m);
  const char *const sets[] = { "conditional=true", "guidance=1", "p_uncond=0.2",
                               "hidden=64s-64s-64s", "timesteps=100", "steps=1500",
                               "batch_size=128", "lr=3e-3", "ema=0.99", "ddim_steps=50",
                               "snapshot_samples=64", "eval_samples=200", NULL };
  for (const char *const *s = sets; *s; s++)
    {
      ps_params_set_string (p, *s, &error);
      g_assert_no_error (error);
    }
  gpointer model = m->create (m, p, ds, 3, &error);
  g_assert_no_error (error);
  guint64 total = m->total_steps (model);
  for (guint64 i = 0; i < total; i++)
    {
      PsStepInfo info = { .step = i, .total_steps = total };
      g_assert_true (m->step (model, &info, &error));
    }
  PsStore *store = ps_store_open (path, &error);
  g_assert_no_error (error);
  g_autofree char *json = ps_params_to_json (p);
  gint64 run = ps_store_create_run (store, "guided grid", "ddpm", "grid:n=2000,noise=0.3,seed=4",
                                    json, 3, &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) ck = m->save (model);
  g_autoptr (GPtrArray) snap = m->snapshot (model);
  g_assert_true (ps_store_put_checkpoint (store, run, (gint64) total - 1, ck, &error));
  g_assert_true (ps_store_add_artifacts (store, run, (gint64) total - 1, snap, &error));
  g_assert_true (ps_store_set_status (store, run, PS_RUN_FINISHED, NULL, &error));
  ps_store_close (store);
  m->free (model);
  *data_out = g_steal_pointer (&ds);
  return run;
}

/* Sampling speed behind the slider: 2048 points, 50 DDIM steps with
 * classifier-free guidance (two network evaluations a step) on the
 * default 2-D network (128s x3, weights as initialised: the cost does not
 * depend on them). */
static double
time_ddim_cfg (int n, int hidden_default, double *cpu_ms)
{
  g_autoptr (GError) error = NULL;
  PsDenoiser *d = ps_denoiser_new (2, 32, 25, hidden_default ? "128s-128s-128s" : "64s-64s-64s",
                                   PS_DIFF_PRED_EPS, &error);
  g_assert_no_error (error);
  PsRng rng;
  ps_rng_init (&rng, 1, 1);
  ps_model_init (d->net, &rng);
  PsDiffSchedule *s = ps_diff_schedule_new (PS_DIFF_SCHED_LINEAR, 1000);
  g_autofree float *x = g_new (float, (gsize) n * 2);
  g_autofree int *cls = g_new (int, n);
  for (int i = 0; i < n; i++)
    cls[i] = i % 25;
  ps_rng_fill_normal (&rng, x, (gsize) n * 2, 0.f, 1.f);
  PsSamplerConfig cfg;
  ps_sampler_config_init (&cfg, PS_SAMPLER_DDIM, 50);
  cfg.n_record = n;
  g_autofree float *traj = g_new (float, (gsize) n * 51 * 2);
  cfg.traj = traj;
  PsDenoiserEps e = { d, s, 2.f };
  struct timespec c0, c1;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &c0);
  gint64 t0 = g_get_monotonic_time ();
  g_assert_true (ps_diff_sample (s, ps_denoiser_eps_func, &e, x, n, 2, cls, &cfg, &rng, NULL,
                                 &error));
  double ms = (g_get_monotonic_time () - t0) / 1000.0;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &c1);
  *cpu_ms = (c1.tv_sec - c0.tv_sec) * 1e3 + (c1.tv_nsec - c0.tv_nsec) / 1e6;
  ps_denoiser_free (d);
  ps_diff_schedule_free (s);
  return ms;
}

static void
test_guidance_slider (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("ps-ui-diffusion-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "runs.sqlite", NULL);
  g_autoptr (PsDataset) ds = NULL;
  gint64 run = train_run (path, &ds);

  PsStore *store = ps_store_open (path, &error);
  g_autoptr (GPtrArray) arrays = ps_store_get_artifacts (store, run, -1, &error);
  ps_store_close (store);
  g_assert_nonnull (arrays);

  GtkWidget *window = gtk_window_new ();
  gtk_window_set_default_size (GTK_WINDOW (window), 1100, 700);
  PsDiffusionView *view = PS_DIFFUSION_VIEW (ps_diffusion_view_new ());
  g_object_ref_sink (view);
  gtk_window_set_child (GTK_WINDOW (window), GTK_WIDGET (view));
  gtk_window_present (GTK_WINDOW (window));
  Wait w = { view, 0, 0 };
  g_signal_connect (view, "live-resampled", G_CALLBACK (resampled_cb), &w);

  /* Without a run the slider stays hidden. */
  g_assert_true (ps_diffusion_view_set_snapshot (view, arrays));
  GtkWidget *scale = GTK_WIDGET (ps_diffusion_view_get_guidance_scale (view));
  g_assert_false (gtk_widget_is_visible (scale));

  ps_diffusion_view_set_run (view, path, run);
  g_assert_true (ps_diffusion_view_set_snapshot (view, arrays));
  guint snapshot_samplers = ps_diffusion_view_get_n_frames (view) > 0;
  g_assert_true (snapshot_samplers);
  g_assert_true (wait_for (resampled, &w, 60));
  g_assert_true (ps_diffusion_view_get_live_ready (view));
  g_assert_true (gtk_widget_is_visible (scale));
  g_assert_cmpfloat (gtk_range_get_value (GTK_RANGE (scale)), ==, 1.0);
  g_assert_cmpuint (w.signals, ==, 1);
  guint n1;
  g_autofree float *s1 = ps_diffusion_view_dup_live_samples (view, &n1);
  g_assert_cmpuint (n1, ==, 1024);
  double ms1 = ps_diffusion_view_get_live_ms (view);

  /* No guidance, then w = 2: the same noise lands on the requested class
   * and closer together within each class. */
  w.results = ps_diffusion_view_get_live_results (view);
  guint before = w.signals;
  gtk_range_set_value (GTK_RANGE (scale), 0.0);
  g_assert_true (ps_diffusion_view_get_live_busy (view));
  g_assert_true (wait_for (resampled, &w, 60));
  /* A quick 10-step pass, then the run's 50 steps. */
  g_assert_cmpuint (w.signals, ==, before + 2);
  guint n0;
  g_autofree float *s0 = ps_diffusion_view_dup_live_samples (view, &n0);
  double ms0 = ps_diffusion_view_get_live_ms (view);
  w.results = ps_diffusion_view_get_live_results (view);
  gtk_range_set_value (GTK_RANGE (scale), 2.0);
  g_assert_true (wait_for (resampled, &w, 60));
  guint n2;
  g_autofree float *s2 = ps_diffusion_view_dup_live_samples (view, &n2);
  double ms2 = ps_diffusion_view_get_live_ms (view);
  g_assert_cmpuint (n0, ==, n1);
  g_assert_cmpuint (n2, ==, n1);
  double moved = 0;
  for (guint i = 0; i < 2 * n1; i++)
    moved = MAX (moved, fabs (s0[i] - s2[i]));
  double m0, sp0, m1, sp1, m2, sp2;
  class_stats (s0, n0, ds, &m0, &sp0);
  class_stats (s1, n1, ds, &m1, &sp1);
  class_stats (s2, n2, ds, &m2, &sp2);
  g_test_message ("1024 particles, DDIM 50 with CFG: %.0f ms at w = 1 (the first, while the "
                  "window maps), %.0f ms at w = 0, %.0f ms at w = 2; on the requested class "
                  "%.3f / %.3f / %.3f, spread within a class %.3f / %.3f / %.3f (w = 0 / 1 / 2)",
                  ms1, ms0, ms2, m0, m1, m2, sp0, sp1, sp2);
  g_assert_cmpfloat (moved, >, 0.05);
  g_assert_cmpfloat (m2, >, m0 + 0.1);
  g_assert_cmpfloat (sp2, <, 0.5 * sp0);
  /* The live sampler is the one shown now, with its 51 frames. */
  g_assert_cmpuint (ps_diffusion_view_get_n_frames (view), ==, 51);

  /* Quick moves while sampling: only the newest w is shown in the end. */
  w.results = ps_diffusion_view_get_live_results (view);
  gtk_range_set_value (GTK_RANGE (scale), 2.0);
  gtk_range_set_value (GTK_RANGE (scale), 3.0);
  gtk_range_set_value (GTK_RANGE (scale), 1.0);
  g_assert_true (wait_for (resampled, &w, 60));
  guint n3;
  g_autofree float *s3 = ps_diffusion_view_dup_live_samples (view, &n3);
  g_assert_cmpmem (s3, n3 * 2 * sizeof (float), s1, n1 * 2 * sizeof (float));

  /* A new snapshot of the same run keeps the model and the last result. */
  g_assert_true (ps_diffusion_view_set_snapshot (view, arrays));
  g_assert_true (ps_diffusion_view_get_live_ready (view));
  g_assert_true (gtk_widget_is_visible (scale));

  /* Wall time on a shared machine says little: the process's CPU time is
   * printed beside it, with one BLAS thread so that it counts no spinning. */
  int blas = ps_blas_get_threads ();
  ps_blas_set_threads (1);
  for (int k = 0; k < 4; k++)
    {
      int n = k % 2 ? 2048 : 1024;
      double cpu, wall = time_ddim_cfg (n, k >= 2, &cpu);
      g_test_message ("%d points, 50 DDIM steps with CFG, %s x3: %.0f ms wall, %.0f ms CPU", n,
                      k >= 2 ? "128s" : "64s", wall, cpu);
    }
  ps_blas_set_threads (blas);

  gtk_window_destroy (GTK_WINDOW (window));
  g_assert_finalize_object (view);
  g_unlink (path);
  g_autofree char *wal = g_strconcat (path, "-wal", NULL);
  g_autofree char *shm = g_strconcat (path, "-shm", NULL);
  g_unlink (wal);
  g_unlink (shm);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  if (g_getenv ("DISPLAY") == NULL && g_getenv ("WAYLAND_DISPLAY") == NULL)
    {
      g_print ("1..0 # SKIP no display\n");
      return 0;
    }
  g_setenv ("GSK_RENDERER", "cairo", TRUE);
  gtk_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ui/diffusion-view/guidance-slider", test_guidance_slider);
  return g_test_run ();
}
