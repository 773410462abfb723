/* test-diffusion.c: the diffusion machinery.  Samplers driven by the exact
 * score of a Gaussian reproduce it; schedule and parameterisation
 * conversions round-trip; the denoiser's input gradient matches finite
 * differences; a trained 2-D model beats an untrained one by a wide margin
 * and few-step DDIM stays near DDPM; the x0-variance hallucination detector
 * beats chance on the Gaussian grid; checkpoints resume bit-identically. */
#include <math.h>
#include <string.h>

#include "ps-base.h"
#include "ps-dataset.h"
#include "ps-method.h"
#include "ps-diffusion.h"
#include "ps-distill-guided.h"
#include "ps-gradcheck.h"

/* A correlated, shifted 2-D Gaussian. */
static PsGmm *
test_gaussian (void)
{
  PsGmm *g = ps_gmm_new (1, 2, TRUE);
  g->means[0] = 0.7;
  g->means[1] = -0.4;
  g->cov[0] = 0.5;
  g->cov[1] = g->cov[2] = 0.3;
  g->cov[3] = 0.4;
  return g;
}

static void
moments (const float *x, int n, double mean[2], double cov[4])
{
  mean[0] = mean[1] = 0;
  for (int i = 0; i < n; i++)
    {
      mean[0] += x[2 * i];
      mean[1] += x[2 * i + 1];
    }
  mean[0] /= n;
  mean[1] /= n;
  memset (cov, 0, 4 * sizeof (double));
  for (int i = 0; i < n; i++)
    {
      double a = x[2 * i] - mean[0], b = x[2 * i + 1] - mean[1];
      cov[0] += a * a;
      cov[1] += a * b;
      cov[3] += b * b;
    }
  cov[0] /= n;
  cov[1] /= n;
  cov[3] /= n;
  cov[2] = cov[1];
}

static void
assert_matches_gaussian (const PsGmm *g, const float *x, int n, const char *what)
{
  double mean[2], cov[4];
  moments (x, n, mean, cov);
  g_test_message ("%s: mean %.3f %.3f cov %.3f %.3f %.3f", what, mean[0], mean[1], cov[0],
                  cov[1], cov[3]);
  for (int j = 0; j < 2; j++)
    g_assert_cmpfloat (fabs (mean[j] - g->means[j]), <, 0.06);
  for (int j = 0; j < 4; j++)
    g_assert_cmpfloat (fabs (cov[j] - g->cov[j]), <, 0.06);
}

static void
test_samplers_gaussian (void)
{
  g_autoptr (GError) error = NULL;
  PsDiffSchedule *s = ps_diff_schedule_new (PS_DIFF_SCHED_LINEAR, 1000);
  PsGmm *g = test_gaussian ();
  PsGmmEps ge = { g, s };
  const int n = 3000;
  /* Step counts are large enough that the discretisation error (a few
   * percent of the variance at 50 DDIM steps on this schedule) stays below
   * the tolerance; the tolerance itself is about 3 standard errors. */
  struct { PsSamplerKind kind; int steps; float eta; } cases[] = {
    { PS_SAMPLER_DDPM, 1000, 1.f },
    { PS_SAMPLER_DDIM, 200, 0.f },
    { PS_SAMPLER_DDIM, 500, 1.f },
    { PS_SAMPLER_EULER, 200, 0.f },
    { PS_SAMPLER_HEUN, 40, 0.f },
  };
  g_autofree float *x = g_new (float, 2 * n);
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      PsRng rng;
      ps_rng_init (&rng, 11 + c, 1);
      ps_rng_fill_normal (&rng, x, 2 * n, 0.f, 1.f);
      PsSamplerConfig cfg;
      ps_sampler_config_init (&cfg, cases[c].kind, cases[c].steps);
      cfg.eta = cases[c].eta;
      g_assert_true (ps_diff_sample (s, ps_gmm_eps_func, &ge, x, n, 2, NULL, &cfg, &rng, NULL,
                                     &error));
      g_assert_no_error (error);
      /* Karras sigmas mapped onto 1000 timesteps can merge near t = 0. */
      g_assert_cmpint (cfg.n_steps, <=, cases[c].steps);
      g_assert_cmpint (cfg.n_steps, >=, cases[c].steps * 9 / 10);
      g_assert_cmpint (cfg.nfe, ==, cases[c].kind == PS_SAMPLER_HEUN ? 2 * cfg.n_steps - 1
                                                                     : cfg.n_steps);
      g_autofree char *what = g_strdup_printf ("%s %d eta %.0f", ps_sampler_name (cases[c].kind),
                                               cases[c].steps, cases[c].eta);
      assert_matches_gaussian (g, x, n, what);
    }

  /* A random-walk sampler that ignores the score must fail the same check
   * (the tolerance is not vacuous): pure noise has the wrong moments. */
  PsRng rng;
  ps_rng_init (&rng, 5, 1);
  ps_rng_fill_normal (&rng, x, 2 * n, 0.f, 1.f);
  double mean[2], cov[4];
  moments (x, n, mean, cov);
  g_assert_cmpfloat (fabs (mean[0] - g->means[0]), >, 0.06);

  /* Clamping x0 keeps DDIM samples inside the clamp (the last step returns
   * the clamped prediction), while unclamped samples of this Gaussian
   * reach beyond it. */
  for (int clip = 0; clip < 2; clip++)
    {
      ps_rng_fill_normal (&rng, x, 2 * n, 0.f, 1.f);
      PsSamplerConfig cfg;
      ps_sampler_config_init (&cfg, PS_SAMPLER_DDIM, 20);
      cfg.clip_x0 = clip ? 1.f : 0.f;
      g_assert_true (ps_diff_sample (s, ps_gmm_eps_func, &ge, x, n, 2, NULL, &cfg, &rng, NULL,
                                     &error));
      float mx = 0;
      for (int i = 0; i < 2 * n; i++)
        mx = MAX (mx, fabsf (x[i]));
      if (clip)
        g_assert_cmpfloat (mx, <=, 1.f);
      else
        g_assert_cmpfloat (mx, >, 1.5f);
    }

  /* The Gaussian jump from T-1 to 0 lands on the diffused Gaussian at t=0. */
  ps_rng_fill_normal (&rng, x, 2 * n, 0.f, 1.f);
  ps_gmm_gaussian_jump (g, s, x, n, s->T - 1, 0);
  assert_matches_gaussian (g, x, n, "gaussian jump");

  ps_gmm_free (g);
  ps_diff_schedule_free (s);
}

static void
test_conversions (void)
{
  for (int kind = 0; kind < 2; kind++)
    {
      PsDiffSchedule *s = ps_diff_schedule_new (kind, 1000);
      for (int t = 1; t < s->T; t++)
        {
          g_assert_cmpfloat (s->alpha_bar[t], <, s->alpha_bar[t - 1]);
          g_assert_cmpfloat (s->alpha_bar[t], >, 0.0);
        }
      for (int t = 0; t < s->T; t += 37)
        {
          double ab = s->alpha_bar[t];
          double back = ps_diff_alpha_bar_from_sigma (ps_diff_sigma_from_alpha_bar (ab));
          g_assert_cmpfloat (fabs (back - ab), <, 1e-12);
          g_assert_cmpint (ps_diff_schedule_nearest_t (s, s->sigma[t]), ==, t);
          float x0[3] = { 0.3f, -1.2f, 2.0f }, eps[3] = { -0.5f, 0.8f, 1.1f }, x[3];
          for (int j = 0; j < 3; j++)
            x[j] = (float) (sqrt (ab) * x0[j] + sqrt (1 - ab) * eps[j]);
          float e2[3], x02[3], v[3], e3[3], x03[3];
          ps_diff_eps_to_x0 (x02, x, eps, 3, ab);
          ps_diff_x0_to_eps (e2, x, x0, 3, ab);
          ps_diff_to_v (v, eps, x0, 3, ab);
          ps_diff_v_to_eps (e3, x, v, 3, ab);
          ps_diff_v_to_x0 (x03, x, v, 3, ab);
          /* eps -> x0 amplifies float error by sigma at high noise. */
          float tol = (float) (1e-5 * (1 + s->sigma[t]));
          for (int j = 0; j < 3; j++)
            {
              g_assert_cmpfloat (fabsf (x02[j] - x0[j]), <, tol);
              g_assert_cmpfloat (fabsf (e2[j] - eps[j]), <, 1e-3f);
              g_assert_cmpfloat (fabsf (e3[j] - eps[j]), <, 1e-5f);
              g_assert_cmpfloat (fabsf (x03[j] - x0[j]), <, 1e-5f);
            }
        }
      ps_diff_schedule_free (s);
    }
}

static void
test_input_grad (void)
{
  g_autoptr (GError) error = NULL;
  PsDiffSchedule *s = ps_diff_schedule_new (PS_DIFF_SCHED_LINEAR, 100);
  for (int pred = 0; pred < 3; pred++)
    {
      PsDenoiser *d = ps_denoiser_new (2, 8, 3, "16s-16s", pred, &error);
      g_assert_no_error (error);
      PsRng rng;
      ps_rng_init (&rng, 3, 0);
      ps_model_init (d->net, &rng);
      const int n = 4, t = 40;
      float x[8], deps[8], dx[8];
      int cls[4] = { 0, 1, 2, -1 };
      ps_rng_fill_normal (&rng, x, 8, 0.f, 1.f);
      ps_rng_fill_normal (&rng, deps, 8, 0.f, 1.f);
      ps_denoiser_eps_input_grad (d, s, dx, x, n, t, cls, deps);
      for (int i = 0; i < 8; i++)
        {
          const float h = 1e-2f;
          float xp[8], e1[8], e2[8];
          memcpy (xp, x, sizeof x);
          xp[i] += h;
          ps_denoiser_eps (d, s, e1, xp, n, t, cls, 0.f);
          xp[i] -= 2 * h;
          ps_denoiser_eps (d, s, e2, xp, n, t, cls, 0.f);
          double fd = 0;
          for (int j = 0; j < 8; j++)
            fd += deps[j] * (e1[j] - e2[j]) / (2 * h);
          g_assert_cmpfloat (fabs (fd - dx[i]), <, 2e-3 * (1 + fabs (fd)));
        }
      ps_denoiser_free (d);
    }
  ps_diff_schedule_free (s);
}

/* The exact score of the known grid mixture, sampled with DDIM, puts
 * every mode in place and almost nothing off the support; the same check
 * on the Gaussian fit of the grid (one broad blob) fails it. */
static void
test_mixture_score (void)
{
  g_autoptr (GError) error = NULL;
  PsDiffSchedule *s = ps_diff_schedule_new (PS_DIFF_SCHED_LINEAR, 1000);
  PsGmm *grid = ps_gmm_for_generator ("grid", 0.05);
  g_assert_nonnull (grid);
  g_autoptr (PsDataset) ds = ps_dataset_generate_2d ("grid", 2000, 0.05, 3, &error);
  PsGmm *fit = ps_gmm_gaussian_fit (ds->x, (int) ds->n, 2);
  const int n = 1000;
  g_autofree float *x = g_new (float, 2 * n);
  for (int which = 0; which < 2; which++)
    {
      PsGmmEps ge = { which == 0 ? grid : fit, s };
      PsRng rng;
      ps_rng_init (&rng, 21, 1);
      ps_rng_fill_normal (&rng, x, 2 * n, 0.f, 1.f);
      PsSamplerConfig cfg;
      ps_sampler_config_init (&cfg, PS_SAMPLER_DDIM, 100);
      g_assert_true (ps_diff_sample (s, ps_gmm_eps_func, &ge, x, n, 2, NULL, &cfg, &rng, NULL,
                                     &error));
      int covered;
      double off;
      ps_mode_stats (grid, x, n, &covered, &off, NULL);
      g_test_message ("%s score: modes %d off-support %.3f", which == 0 ? "mixture" : "gaussian",
                      covered, off);
      if (which == 0)
        {
          g_assert_cmpint (covered, ==, 25);
          g_assert_cmpfloat (off, <, 0.03);
        }
      else
        g_assert_cmpfloat (off, >, 0.5);
    }
  ps_gmm_free (fit);
  ps_gmm_free (grid);
  ps_diff_schedule_free (s);
}

static gpointer
create_ddpm (PsDataset *ds, guint64 seed, const char * const *sets)
{
  const PsMethod *m = ps_method_find ("ddpm");
  g_assert_nonnull (m);
  g_autoptr (PsParams) p = ps_method_default_params (m);
  g_autoptr (GError) error = NULL;
  for (const char * const *s = sets; s && *s; s++)
    {
      ps_params_set_string (p, *s, &error);
      g_assert_no_error (error);
    }
  gpointer model = m->create (m, p, ds, seed, &error);
  g_assert_no_error (error);
  g_assert_nonnull (model);
  return model;
}

static void
run_steps (gpointer model, guint64 from, guint64 to)
{
  const PsMethod *m = ps_method_find ("ddpm");
  g_autoptr (GError) error = NULL;
  for (guint64 s = from; s < to; s++)
    {
      PsStepInfo info = { .step = s, .total_steps = to };
      g_assert_true (m->step (model, &info, &error));
      g_assert_no_error (error);
      g_assert_true (isfinite (info.loss));
    }
}

static double
metric (PsMetrics *mt, const char *name)
{
  double v = NAN;
  g_assert_true (ps_metrics_get (mt, name, &v));
  return v;
}

static const char * const small_sets[] = {
  "hidden=64s-64s-64s", "timesteps=100", "eval_samples=1500", "ddim_steps=20", "steps=2500",
  "lr=3e-3", "ema=0.99", "halluc_window=10", "snapshot_samples=16", "eval_ddpm=true", NULL,
};

static double
train_eval (PsDataset *ds, guint64 seed, const char * const *sets, int steps, PsMetrics **out)
{
  const PsMethod *m = ps_method_find ("ddpm");
  gpointer model = create_ddpm (ds, seed, sets);
  run_steps (model, 0, steps);
  *out = m->evaluate (model);
  m->free (model);
  return metric (*out, "swd");
}

/* Classifier-free guidance: a conditional model on the grid (class =
 * component) puts more of its samples on the requested class's mode at
 * w = 1 than at w = 0, and nearly all of them. */
static void
test_cfg (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_generate_2d ("grid", 3000, 0.3, 5, &error);
  ps_dataset_assign_split (ds, 0.1, 0.2, 0);
  const char * const sets[] = { "hidden=64s-64s-64s", "timesteps=100", "ddim_steps=20",
                                "lr=3e-3", "ema=0.99", "conditional=true", "p_uncond=0.2",
                                "guidance=1", "eval_samples=800", NULL };
  g_autoptr (PsMetrics) mt = NULL;
  train_eval (ds, 2, sets, 1500, &mt);
  double w3 = metric (mt, "cfg_match"), w0 = metric (mt, "cfg_match_w0");
  g_test_message ("samples on the requested mode: w=0 %.3f, w=1 %.3f", w0, w3);
  g_assert_cmpfloat (w3, >, w0 + 0.05);
  g_assert_cmpfloat (w3, >, 0.9);
}

/* Minority guidance on an unbalanced ring (the upper four components keep
 * 10% of their rows): the guidance raises the share of samples on the
 * minority modes well above the unguided share and above their share of
 * the data. */
static void
test_minority (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_generate_2d ("ring", 3000, -1, 6, &error);
  ps_dataset_assign_split (ds, 0.1, 0.2, 0);
  const char * const sets[] = { "hidden=64s-64s-64s", "timesteps=100", "ddim_steps=20",
                                "lr=3e-3", "ema=0.99", "minority_keep=0.1", "minority_w=1",
                                "eval_samples=800", NULL };
  g_autoptr (PsMetrics) mt = NULL;
  train_eval (ds, 3, sets, 1500, &mt);
  double g = metric (mt, "minority_share"), u = metric (mt, "minority_share_unguided");
  g_test_message ("minority share: data %.3f unguided %.3f guided %.3f; off-support %.3f -> %.3f",
                  metric (mt, "minority_share_data"), u, g,
                  metric (mt, "minority_off_support_unguided"), metric (mt, "minority_off_support"));
  g_assert_cmpfloat (g, >, 1.8 * u);
  g_assert_cmpfloat (g, >, metric (mt, "minority_share_data"));
  /* Precision suffers: this small model is poor on the sparse modes, and
   * guided samples often land near them rather than on them (measured
   * 0.79 off the support against 0.29 unguided); a broken guidance that
   * throws everything off the support still fails. */
  g_assert_cmpfloat (metric (mt, "minority_off_support"), <, 0.9);
}

/* The difficulty curriculum trains as well as uniform timesteps at equal
 * steps (within noise) and far better than no training. */
static void
test_curriculum (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_generate_2d ("ring", 2000, -1, 7, &error);
  ps_dataset_assign_split (ds, 0.1, 0.2, 0);
  const char * const uni[] = { "hidden=64s-64s-64s", "timesteps=100", "ddim_steps=20",
                               "lr=3e-3", "ema=0.99", "eval_samples=800", "steps=1200", NULL };
  const char * const cur[] = { "hidden=64s-64s-64s", "timesteps=100", "ddim_steps=20",
                               "lr=3e-3", "ema=0.99", "eval_samples=800", "steps=1200", "t_sampler=curriculum",
                               NULL };
  g_autoptr (PsMetrics) m0 = NULL;
  g_autoptr (PsMetrics) m1 = NULL;
  g_autoptr (PsMetrics) m2 = NULL;
  double s0 = train_eval (ds, 4, uni, 0, &m0);
  double s1 = train_eval (ds, 4, uni, 1200, &m1);
  double s2 = train_eval (ds, 4, cur, 1200, &m2);
  g_test_message ("swd untrained %.4f uniform %.4f curriculum %.4f", s0, s1, s2);
  g_assert_cmpfloat (s2, <, 0.3 * s0);
  g_assert_cmpfloat (s2, <, 1.5 * s1 + 0.02);
}

static void
test_trained_grid (void)
{
  g_autoptr (GError) error = NULL;
  const PsMethod *m = ps_method_find ("ddpm");
  g_autoptr (PsDataset) ds = ps_dataset_generate_2d ("grid", 3000, -1, 1, &error);
  g_assert_no_error (error);
  ps_dataset_assign_split (ds, 0.1, 0.2, 0);

  gpointer untrained = create_ddpm (ds, 1, small_sets);
  g_autoptr (PsMetrics) mu = m->evaluate (untrained);
  gpointer trained = create_ddpm (ds, 1, small_sets);
  run_steps (trained, 0, 2500);
  g_autoptr (PsMetrics) mt = m->evaluate (trained);
  double swd_u = metric (mu, "swd"), swd_t = metric (mt, "swd");
  double ddim = metric (mt, "swd_ddim10"), auroc = metric (mt, "halluc_auroc");
  g_test_message ("swd untrained %.4f trained %.4f ddim10 %.4f heun %.4f; modes %.0f off %.3f "
                  "detector AUROC %.3f", swd_u, swd_t, ddim, metric (mt, "swd_heun"),
                  metric (mt, "modes_covered"), metric (mt, "off_support"), auroc);
  g_assert_cmpfloat (swd_t, <, 0.3 * swd_u);
  /* Few-step DDIM near DDPM: within the trained model's own error scale. */
  g_assert_cmpfloat (ddim, <, 2.0 * swd_t + 0.05);
  /* A small network blurs the grid's sharp modes (noise 0.05), so many
   * samples fall between them: that is the hallucination the detector is
   * meant to find.  Most modes are still reached. */
  g_assert_cmpfloat (metric (mt, "modes_covered"), >=, 13);
  /* The x0-variance detector beats chance on the grid (1500 samples: the
   * standard error of the AUROC is about 0.015). */
  g_assert_cmpfloat (auroc, >, 0.55);

  /* The snapshot carries trajectories for several samplers of equal shape
   * in S and D, starting from the same noise. */
  g_autoptr (GPtrArray) snap = m->snapshot (trained);
  const PsArray *t0 = NULL, *t1 = NULL;
  gboolean field = FALSE;
  for (guint i = 0; i < snap->len; i++)
    {
      const PsArray *a = g_ptr_array_index (snap, i);
      if (g_str_equal (a->kind, "trajectory"))
        t0 = a;
      else if (g_str_equal (a->kind, "trajectory_ddim"))
        t1 = a;
      else if (g_str_equal (a->kind, "score_field"))
        field = TRUE;
    }
  g_assert_nonnull (t0);
  g_assert_nonnull (t1);
  g_assert_true (field);
  g_assert_cmpuint (t0->ndim, ==, 3);
  g_assert_cmpuint (t0->shape[0], ==, 16);
  g_assert_cmpuint (t0->shape[1], ==, 101);
  g_assert_cmpuint (t1->shape[1], ==, 21);
  const float *a0 = g_bytes_get_data (t0->data, NULL), *a1 = g_bytes_get_data (t1->data, NULL);
  g_assert_cmpmem (a0, 2 * sizeof (float), a1, 2 * sizeof (float));
  m->free (untrained);
  m->free (trained);
}

static void
test_resume (void)
{
  g_autoptr (GError) error = NULL;
  const PsMethod *m = ps_method_find ("ddpm");
  g_autoptr (PsDataset) ds = ps_dataset_generate_2d ("moons", 600, -1, 2, &error);
  ps_dataset_assign_split (ds, 0.1, 0.2, 0);
  const char * const sets[] = { "hidden=32s-32s", "timesteps=50", "steps=60", "batch_size=64",
                                "conditional=true", NULL };
  gpointer straight = create_ddpm (ds, 9, sets);
  run_steps (straight, 0, 60);
  gpointer first = create_ddpm (ds, 9, sets);
  run_steps (first, 0, 25);
  g_autoptr (GBytes) ck = m->save (first);
  gpointer resumed = create_ddpm (ds, 4, sets);
  g_assert_true (m->load (resumed, ck, &error));
  g_assert_no_error (error);
  run_steps (resumed, 25, 60);
  g_autoptr (GBytes) s1 = m->save (straight), s2 = m->save (resumed);
  g_assert_true (g_bytes_equal (s1, s2));
  /* A different run does differ (the comparison can fail). */
  g_autoptr (GBytes) s3 = m->save (first);
  g_assert_false (g_bytes_equal (s1, s3));
  g_autoptr (GBytes) cut = g_bytes_new_from_bytes (ck, 0, g_bytes_get_size (ck) / 2);
  g_assert_false (m->load (resumed, cut, &error));
  g_assert_nonnull (error);
  m->free (straight);
  m->free (first);
  m->free (resumed);
}

/* One-step consistency samples beat one-step DDIM of a DDPM network of
 * the same architecture trained for as many steps (a single DDIM step from
 * noise can only return the posterior mean, near the ring's centre). */
static void
test_consistency_one_step (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_generate_2d ("ring", 3000, -1, 4, &error);
  g_assert_no_error (error);
  ps_dataset_assign_split (ds, 0.1, 0.2, 0);
  const int steps = 1500;

  const PsMethod *cm = ps_method_find ("consistency");
  g_assert_nonnull (cm);
  g_autoptr (PsParams) p = ps_method_default_params (cm);
  const char * const sets[] = { "hidden=64s-64s-64s", "batch_size=128", "s1=320", NULL };
  for (const char * const *s = sets; *s; s++)
    {
      ps_params_set_string (p, *s, &error);
      g_assert_no_error (error);
    }
  g_autofree char *st = g_strdup_printf ("steps=%d", steps);
  ps_params_set_string (p, st, &error);
  gpointer ct = cm->create (cm, p, ds, 3, &error);
  g_assert_no_error (error);
  for (int i = 0; i < steps; i++)
    {
      PsStepInfo info = { .step = (guint64) i, .total_steps = steps };
      g_assert_true (cm->step (ct, &info, &error));
      g_assert_true (isfinite (info.loss));
    }
  g_autoptr (PsMetrics) mt = cm->evaluate (ct);
  double swd_ct = metric (mt, "swd_1step");

  PsDiffSchedule *s = ps_diff_schedule_new (PS_DIFF_SCHED_LINEAR, 1000);
  PsDenoiser *d = ps_denoiser_new (2, 32, 0, "64s-64s-64s", PS_DIFF_PRED_EPS, &error);
  PsRng rng;
  ps_rng_init (&rng, 3, 0);
  ps_model_init (d->net, &rng);
  PsOptimConfig cfg;
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, 1e-3f);
  ps_model_set_optimizer (d->net, &cfg);
  float xb[256];
  for (int i = 0; i < steps; i++)
    {
      for (int b = 0; b < 128; b++)
        {
          guint r = ps_rng_below (&rng, ds->n);
          xb[2 * b] = ds->x[2 * r];
          xb[2 * b + 1] = ds->x[2 * r + 1];
        }
      float loss;
      g_assert_true (ps_denoiser_train_batch (d, s, xb, NULL, 128, 0.f, NULL, &rng, &loss, &error));
    }
  const int n = 2000;
  g_autofree float *x = g_new (float, 2 * n);
  ps_rng_fill_normal (&rng, x, 2 * n, 0.f, 1.f);
  PsDenoiserEps e = { d, s, 0.f };
  PsSamplerConfig sc;
  ps_sampler_config_init (&sc, PS_SAMPLER_DDIM, 1);
  g_assert_true (ps_diff_sample (s, ps_denoiser_eps_func, &e, x, n, 2, NULL, &sc, &rng, NULL, &error));
  g_autoptr (PsDataset) fresh = ps_dataset_generate_2d ("ring", n, -1, 987654, &error);
  double swd_ddim = ps_sliced_wasserstein (x, n, fresh->x, n, 2, 128, 5);
  g_test_message ("one step: consistency swd %.4f (2 steps %.4f), DDIM swd %.4f", swd_ct,
                  metric (mt, "swd_2step"), swd_ddim);
  g_assert_cmpfloat (swd_ct, <, 0.7 * swd_ddim);
  ps_denoiser_free (d);
  ps_diff_schedule_free (s);
  cm->free (ct);
}

/* Progressive distillation: after a 16-step teacher, students at 4 and 1
 * steps stay near the teacher's quality while the teacher's own 4- and
 * 1-step DDIM fall far behind; the snapshot holds every student's
 * trajectories from the teacher's starting noise. */
static void
test_distill (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_generate_2d ("ring", 2000, -1, 8, &error);
  ps_dataset_assign_split (ds, 0.1, 0.2, 0);
  const PsMethod *m = ps_method_find ("distill");
  g_assert_nonnull (m);
  g_autoptr (PsParams) p = ps_method_default_params (m);
  const char * const sets[] = { "hidden=64s-64s-64s", "timesteps=100",
                                "teacher_sampling_steps=16", "teacher_steps=1500",
                                "round_steps=300", "lr=3e-3", "ema=0.99", "eval_samples=800",
                                "snapshot_samples=16", NULL };
  for (const char * const *s = sets; *s; s++)
    {
      ps_params_set_string (p, *s, &error);
      g_assert_no_error (error);
    }
  gpointer model = m->create (m, p, ds, 1, &error);
  g_assert_no_error (error);
  guint64 total = m->total_steps (model);
  g_assert_cmpuint (total, ==, 1500 + 4 * 300);
  for (guint64 i = 0; i < total; i++)
    {
      PsStepInfo info = { .step = i, .total_steps = total };
      g_assert_true (m->step (model, &info, &error));
      g_assert_true (isfinite (info.loss));
    }
  g_autoptr (PsMetrics) mt = m->evaluate (model);
  double t16 = metric (mt, "swd_teacher16"), t4 = metric (mt, "swd_teacher4");
  double t1 = metric (mt, "swd_teacher1"), s4 = metric (mt, "swd_student4");
  double s1 = metric (mt, "swd_student1");
  g_test_message ("swd teacher 16 steps %.4f; 4 steps teacher %.4f student %.4f; 1 step "
                  "teacher %.4f student %.4f", t16, t4, s4, t1, s1);
  g_assert_cmpfloat (s4, <, 0.6 * t4);
  g_assert_cmpfloat (s1, <, 0.3 * t1);
  g_assert_cmpfloat (s1, <, 2.0 * t16 + 0.05);
  g_assert_cmpfloat (metric (mt, "nfe_student1"), ==, 1);

  g_autoptr (GPtrArray) snap = m->snapshot (model);
  const PsArray *tt = NULL, *ts = NULL;
  for (guint i = 0; i < snap->len; i++)
    {
      const PsArray *a = g_ptr_array_index (snap, i);
      if (g_str_equal (a->kind, "trajectory"))
        tt = a;
      else if (g_str_equal (a->kind, "trajectory_student4"))
        ts = a;
    }
  g_assert_nonnull (tt);
  g_assert_nonnull (ts);
  g_assert_cmpuint (tt->shape[1], ==, 17);
  g_assert_cmpuint (ts->shape[1], ==, 5);
  const float *a0 = g_bytes_get_data (tt->data, NULL), *a1 = g_bytes_get_data (ts->data, NULL);
  g_assert_cmpmem (a0, 2 * sizeof (float), a1, 2 * sizeof (float));

  /* A checkpoint round-trips: loaded into another run, it saves back the same. */
  g_autoptr (GBytes) ck = m->save (model);
  gpointer other = m->create (m, p, ds, 5, &error);
  g_assert_true (m->load (other, ck, &error));
  g_assert_no_error (error);
  g_autoptr (GBytes) ck2 = m->save (other);
  g_assert_true (g_bytes_equal (ck, ck2));
  m->free (other);
  m->free (model);
}

/* Guided distillation (Meng et al.): a conditional teacher with CFG on the
 * noisy grid; a w-conditioned student trained on w in [0, 4] and halved
 * to 4 steps (one evaluation each) matches the guided teacher at 16
 * steps (two evaluations each) better than the
 * untrained student (the teacher's weights, w ignored) and than the
 * teacher's own 4-step guided DDIM at w = 2 and w = 4 (by SWD and by how
 * far each sample lands from the teacher's); and its samples respond to w as the
 * teacher's do: closer to their class centre at w = 4 than at w = 0. */
static void
test_guided_distill (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_generate_2d ("grid", 3000, 0.3, 9, &error);
  ps_dataset_assign_split (ds, 0.1, 0.2, 0);
  const PsMethod *m = ps_method_find ("distill");
  g_autoptr (PsParams) p = ps_method_default_params (m);
  const char * const sets[] = { "hidden=64s-64s-64s", "timesteps=100", "guided=true",
                                "guidance=2", "w_min=0", "w_max=4", "p_uncond=0.2",
                                "teacher_sampling_steps=16", "min_steps=4", "teacher_steps=1500",
                                "guide_steps=800", "round_steps=600", "lr=3e-3", "student_lr=1e-3", "ema=0.99",
                                "eval_samples=800", NULL };
  for (const char * const *s = sets; *s; s++)
    {
      ps_params_set_string (p, *s, &error);
      g_assert_no_error (error);
    }
  gpointer model = m->create (m, p, ds, 2, &error);
  g_assert_no_error (error);
  guint64 total = m->total_steps (model);
  g_assert_cmpuint (total, ==, 1500 + 800 + 2 * 600);
  for (guint64 i = 0; i < total; i++)
    {
      PsStepInfo info = { .step = i, .total_steps = total };
      g_assert_true (m->step (model, &info, &error));
      g_assert_true (isfinite (info.loss));
    }
  g_autoptr (PsMetrics) mt = m->evaluate (model);
  g_assert_cmpfloat (metric (mt, "nfe_teacher4"), ==, 8);
  g_assert_cmpfloat (metric (mt, "nfe_student4"), ==, 4);
  g_test_message ("w = 2 on the requested mode: teacher 16 steps %.3f, 4 steps teacher %.3f "
                  "student %.3f", metric (mt, "class_match_teacher16"),
                  metric (mt, "class_match_teacher4"), metric (mt, "class_match_student4"));
  const char *const ws[] = { "0", "2", "4" };
  for (guint k = 0; k < G_N_ELEMENTS (ws); k++)
    {
      g_autofree char *ks = g_strdup_printf ("swd_w%s_student4", ws[k]);
      g_autofree char *kt = g_strdup_printf ("swd_w%s_teacher4", ws[k]);
      g_autofree char *ku = g_strdup_printf ("swd_w%s_untrained4", ws[k]);
      g_autofree char *ps = g_strdup_printf ("spread_w%s_student4", ws[k]);
      g_autofree char *pt = g_strdup_printf ("spread_w%s_teacher16", ws[k]);
      g_autofree char *ds_ = g_strdup_printf ("disp_w%s_student4", ws[k]);
      g_autofree char *dt_ = g_strdup_printf ("disp_w%s_teacher4", ws[k]);
      g_autofree char *du_ = g_strdup_printf ("disp_w%s_untrained4", ws[k]);
      g_test_message ("w = %s: swd to the guided teacher (16 steps): student 4 steps %.4f, "
                      "teacher 4 steps %.4f, untrained 4 steps %.4f; displacement %.4f %.4f "
                      "%.4f; spread to the class centre: teacher %.4f student %.4f", ws[k],
                      metric (mt, ks), metric (mt, kt), metric (mt, ku), metric (mt, ds_),
                      metric (mt, dt_), metric (mt, du_), metric (mt, pt), metric (mt, ps));
      /* At w = 0 the untrained student is the teacher itself. */
      if (k == 0)
        continue;
      g_assert_cmpfloat (metric (mt, ks), <, 0.7 * metric (mt, ku));
      g_assert_cmpfloat (metric (mt, ks), <, 0.7 * metric (mt, kt));
      g_assert_cmpfloat (metric (mt, ds_), <, 0.6 * metric (mt, du_));
    }
  double s0 = metric (mt, "spread_w0_student4"), s4 = metric (mt, "spread_w4_student4");
  double t0 = metric (mt, "spread_w0_teacher16"), t4 = metric (mt, "spread_w4_teacher16");
  g_assert_cmpfloat (t4, <, 0.85 * t0);
  g_assert_cmpfloat (s4, <, 0.85 * s0);
  g_assert_cmpfloat (fabs (s4 - t4), <, 0.5 * (t0 - t4));

  /* The window's resampling entry: the last student at a new w, same
   * noise, trajectories of 4 steps; an unguided request is refused. */
  const int n = 300;
  g_autofree float *noise = g_new (float, n * 2);
  g_autofree int *cls = g_new (int, n);
  PsRng rng;
  ps_rng_init (&rng, 4, 4);
  ps_rng_fill_normal (&rng, noise, n * 2, 0.f, 1.f);
  for (int i = 0; i < n; i++)
    cls[i] = i % 25;
  float *tr = NULL, *sig = NULL;
  int F = 0;
  g_assert_true (ps_distill_sample_guided (model, 3.f, noise, cls, n, NULL, &tr, &sig, &F, &error));
  g_assert_no_error (error);
  g_assert_cmpint (F, ==, 5);
  g_assert_cmpfloat (sig[F - 1], ==, 0.f);
  g_assert_cmpfloat (sig[0], >, 1.f);
  g_assert_cmpmem (tr, 2 * sizeof (float), noise, 2 * sizeof (float));
  g_free (tr);
  g_free (sig);
  gint cancel = 1;
  g_assert_false (ps_distill_sample_guided (model, 3.f, noise, cls, n, &cancel, &tr, &sig, &F,
                                            &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_CANCELLED);
  g_clear_error (&error);

  /* A checkpoint round-trips. */
  g_autoptr (GBytes) ck = m->save (model);
  gpointer other = m->create (m, p, ds, 5, &error);
  g_assert_true (m->load (other, ck, &error));
  g_autoptr (GBytes) ck2 = m->save (other);
  g_assert_true (g_bytes_equal (ck, ck2));
  m->free (other);
  m->free (model);
}

/* The w-conditioned student: a copy of a teacher predicts what the
 * teacher predicts at every w (zero w columns); the gradient of its
 * distillation loss over every parameter (the w columns included) and of
 * its prediction with respect to w (through the w embedding) match finite
 * differences. */
typedef struct
{
  PsWStudent *s;
  const PsDiffSchedule *sched;
  float *x, *target, *w, *dx0, *x0;
  int *t, *cls;
  int n;
} WGradCase;

static double
wgrad_loss (gpointer data)
{
  WGradCase *c = data;
  return ps_wstudent_x0_loss (c->s, c->sched, c->x, c->t, c->cls, c->w, c->target, c->n, FALSE);
}

static double
wgrad_pred (gpointer data)
{
  WGradCase *c = data;
  ps_wstudent_x0_rows (c->s, c->sched, c->x0, c->x, c->n, c->t, c->cls, c->w);
  double sum = 0;
  for (int i = 0; i < c->n * c->s->D; i++)
    sum += (double) c->dx0[i] * c->x0[i];
  return sum;
}

static void
test_wstudent_grad (void)
{
  g_autoptr (GError) error = NULL;
  const int n = 6, D = 2, C = 3;
  PsDiffSchedule *sched = ps_diff_schedule_new (PS_DIFF_SCHED_LINEAR, 50);
  PsDenoiser *teacher = ps_denoiser_new (D, 8, C, "8s-8s", PS_DIFF_PRED_V, &error);
  PsWStudent *s = ps_wstudent_new (D, 8, C, 6, "8s-8s", &error);
  g_assert_no_error (error);
  PsRng rng;
  ps_rng_init (&rng, 3, 1);
  ps_model_init (teacher->net, &rng);
  ps_wstudent_init_from (s, teacher);
  float x[12], target[12], w[6], dx0[12], x0[12], xt[12];
  int t[6], cls[6];
  for (int i = 0; i < n; i++)
    {
      t[i] = 5 + 8 * i;
      cls[i] = i % 4 == 3 ? -1 : i % C;
      w[i] = 0.5f * i;
    }
  ps_rng_fill_normal (&rng, x, 12, 0.f, 1.f);
  ps_rng_fill_normal (&rng, target, 12, 0.f, 1.f);
  ps_rng_fill_normal (&rng, dx0, 12, 0.f, 1.f);
  ps_denoiser_x0_rows (teacher, sched, xt, x, n, t, cls, 0.f);
  ps_wstudent_x0_rows (s, sched, x0, x, n, t, cls, w);
  for (int i = 0; i < 12; i++)
    g_assert_cmpfloat (fabsf (x0[i] - xt[i]), <, 1e-5f);

  /* Random weights everywhere (the w columns too) for the checks. */
  ps_model_init (s->net, &rng);
  WGradCase c = { s, sched, x, target, w, dx0, x0, t, cls, n };
  ps_wstudent_x0_loss (s, sched, x, t, cls, w, target, n, TRUE);
  gsize np = ps_model_n_params (s->net);
  g_autofree float *grad = g_memdup2 (ps_model_grads (s->net), np * sizeof (float));
  g_assert_true (ps_gradcheck (wgrad_loss, &c, ps_model_params (s->net), grad, np, 0, 2e-2, 1e-3,
                               "w-student loss", &error));
  g_assert_no_error (error);
  float dw[6] = { 0 };
  ps_wstudent_x0_w_grad (s, sched, dw, x, n, t, cls, w, dx0);
  gboolean any = FALSE;
  for (int i = 0; i < n; i++)
    any |= fabsf (dw[i]) > 1e-3f;
  g_assert_true (any);
  g_assert_true (ps_gradcheck (wgrad_pred, &c, w, dw, n, 0, 2e-2, 1e-3, "x0 by w", &error));
  g_assert_no_error (error);
  ps_wstudent_free (s);
  ps_denoiser_free (teacher);
  ps_diff_schedule_free (sched);
}

/* The Frechet distance: exact on Gaussians (|m|^2 + 1 for N(0, I) against
 * N(m, diag(4, 1))), and on digits features it separates held-out digits
 * (near) from noise images and from one class only (far). */
static void
test_frechet (void)
{
  const int n = 20000;
  g_autofree float *a = g_new (float, 2 * n);
  g_autofree float *b = g_new (float, 2 * n);
  PsRng rng;
  ps_rng_init (&rng, 77, 0);
  for (int i = 0; i < n; i++)
    {
      a[2 * i] = ps_rng_normal (&rng);
      a[2 * i + 1] = ps_rng_normal (&rng);
      b[2 * i] = 0.5f + 2.f * ps_rng_normal (&rng);
      b[2 * i + 1] = -1.f + ps_rng_normal (&rng);
    }
  double fd = ps_frechet_distance (a, n, b, n, 2);
  g_test_message ("gaussian FD %.4f (exact 2.25)", fd);
  g_assert_cmpfloat (fabs (fd - 2.25), <, 0.1);
  g_assert_cmpfloat (fabs (ps_frechet_distance (a, n, a, n, 2)), <, 1e-6);

  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) ds = ps_dataset_load_builtin ("digits", 0, 0, 0, &error);
  g_assert_no_error (error);
  const int D = (int) ds->d, half = (int) ds->n / 2;
  g_autofree int *y = g_new (int, ds->n);
  for (guint i = 0; i < ds->n; i++)
    y[i] = ds->y[i];
  PsModel *net = ps_fd_feature_net_train (ds->x, y, half, D, 10, 20, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (ps_model_accuracy (net, ds->x + (gsize) half * D, y + half, half, 0), >, 0.85);
  const int m = (int) ds->n - half;
  g_autofree float *fa = g_new (float, (gsize) half * PS_FD_FEATURES);
  g_autofree float *fb = g_new (float, (gsize) m * PS_FD_FEATURES);
  g_autofree float *noise = g_new (float, (gsize) m * D);
  for (gsize i = 0; i < (gsize) m * D; i++)
    noise[i] = 16.f * ps_rng_uniform (&rng);
  ps_fd_features (net, ds->x, half, fa);
  ps_fd_features (net, ds->x + (gsize) half * D, m, fb);
  double near = ps_frechet_distance (fa, half, fb, m, PS_FD_FEATURES);
  ps_fd_features (net, noise, m, fb);
  double far = ps_frechet_distance (fa, half, fb, m, PS_FD_FEATURES);
  /* One class only: the rows labelled 3. */
  g_autofree float *x3 = g_new (float, (gsize) ds->n * D);
  int n3 = 0;
  for (guint i = 0; i < ds->n; i++)
    if (y[i] == 3)
      memcpy (x3 + (gsize) n3++ * D, ds->x + (gsize) i * D, D * sizeof (float));
  ps_fd_features (net, x3, n3, fb);
  double one = ps_frechet_distance (fa, half, fb, n3, PS_FD_FEATURES);
  g_test_message ("digits FD: held-out %.3f, one class %.3f, noise %.3f", near, one, far);
  g_assert_cmpfloat (near * 5, <, one);
  g_assert_cmpfloat (near * 5, <, far);
  ps_model_free (net);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/diffusion/samplers-gaussian", test_samplers_gaussian);
  g_test_add_func ("/diffusion/conversions", test_conversions);
  g_test_add_func ("/diffusion/input-grad", test_input_grad);
  g_test_add_func ("/diffusion/mixture-score", test_mixture_score);
  g_test_add_func ("/diffusion/trained-grid", test_trained_grid);
  g_test_add_func ("/diffusion/resume", test_resume);
  g_test_add_func ("/diffusion/consistency-one-step", test_consistency_one_step);
  g_test_add_func ("/diffusion/cfg", test_cfg);
  g_test_add_func ("/diffusion/minority", test_minority);
  g_test_add_func ("/diffusion/curriculum", test_curriculum);
  g_test_add_func ("/diffusion/distill", test_distill);
  g_test_add_func ("/diffusion/guided-distill", test_guided_distill);
  g_test_add_func ("/diffusion/wstudent-grad", test_wstudent_grad);
  g_test_add_func ("/diffusion/frechet", test_frechet);
  return g_test_run ();
}
