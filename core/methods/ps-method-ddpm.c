/* ps-method-ddpm.c: DDPM/DDIM training on 2-D sets and on digits, with
 * optional class conditioning and classifier-free guidance; evaluation by
 * sliced Wasserstein and energy distance to a fresh sample of the true
 * distribution (2-D generators), modes and off-support share on known
 * mixtures, and the x0-variance hallucination detector's AUROC.
 */
#define G_LOG_DOMAIN "ps-ddpm"

#include "ps-method.h"
#include "ps-method-util.h"
#include "ps-diffusion.h"
#include "../eval/ps-eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const PsParamSpec ddpm_params[] = {
  { "steps", PS_PARAM_INT, 5000, 1, 10000000, NULL, "Training iterations" },
  { "batch_size", PS_PARAM_INT, 256, 1, 8192, NULL, "Samples per step" },
  { "lr", PS_PARAM_FLOAT, 1e-3, 1e-6, 1.0, NULL, "Learning rate (Adam)", TRUE },
  { "hidden", PS_PARAM_STRING, 0, 0, 0, "auto",
    "Hidden layers as a spec tail, e.g. 128s-128s-128s; auto: 128s x3 for 2-D, 256s x3 otherwise" },
  { "emb_dim", PS_PARAM_INT, 32, 0, 512, NULL, "Width of the sinusoidal time embedding" },
  { "timesteps", PS_PARAM_INT, 1000, 10, 4000, NULL, "Diffusion timesteps T" },
  { "schedule", PS_PARAM_CHOICE, 0, 0, 0, "linear|cosine", "Noise schedule (VP)" },
  { "prediction", PS_PARAM_CHOICE, 0, 0, 0, "eps|x0|v", "What the network predicts" },
  { "ema", PS_PARAM_FLOAT, 0.995, 0, 0.99999, NULL, "EMA decay of the weights used for sampling (0: off)" },
  { "conditional", PS_PARAM_BOOL, 0, 0, 1, NULL, "Condition on the class (with a null class)" },
  { "p_uncond", PS_PARAM_FLOAT, 0.1, 0, 1, NULL, "Share of training rows with the class dropped (CFG)" },
  { "guidance", PS_PARAM_FLOAT, 0, 0, 20, NULL, "Classifier-free guidance strength w" },
  { "eval_samples", PS_PARAM_INT, 2000, 100, 100000, NULL, "Samples drawn by evaluate" },
  { "ddim_steps", PS_PARAM_INT, 50, 1, 1000, NULL, "Steps of the DDIM/ODE samplers" },
  { "halluc_window", PS_PARAM_INT, 20, 2, 1000, NULL,
    "Final sampler steps over which the predicted-x0 variance is measured" },
  { "snapshot_samples", PS_PARAM_INT, 256, 8, 4096, NULL, "Trajectories recorded per sampler" },
};

typedef struct
{
  PsDataset *data;
  PsDenoiser *den;
  PsDiffSchedule *sched;
  PsRng rng;             /* batches, timesteps and noise */
  guint *train_idx;
  guint n_train;
  guint64 step, total;
  int batch;
  float p_uncond, guidance;
  gboolean conditional;
  int D;
  float scale, shift;    /* model space = data * scale + shift */
  float *xb;
  int *cb;
  PsGmm *truth;          /* known 2-D mixture, or NULL */
  double gen_noise;
  int eval_samples, ddim_steps, halluc_window, snap_n;
} DdpmModel;

static void
ddpm_free (gpointer p)
{
  DdpmModel *m = p;
  if (m == NULL)
    return;
  ps_denoiser_free (m->den);
  ps_diff_schedule_free (m->sched);
  ps_dataset_unref (m->data);
  g_free (m->train_idx);
  g_free (m->xb);
  g_free (m->cb);
  ps_gmm_free (m->truth);
  g_free (m);
}

/* The generator noise recorded in a dataset's source "grid(n=.., noise=0.05, ..)". */
static double
source_noise (PsDataset *ds)
{
  const char *p = ds->source ? strstr (ds->source, "noise=") : NULL;
  return p ? g_ascii_strtod (p + 6, NULL) : -1;
}

static gboolean
is_generator (PsDataset *ds)
{
  return ds->d == 2 && ds->source && ps_dataset_builtin_description (ds->name) != NULL
         && g_str_has_prefix (ds->source, ds->name);
}

static gpointer
ddpm_create (const PsMethod *method, const PsParams *params, PsDataset *data, guint64 seed,
             GError **error)
{
  const char *hidden = ps_params_get_string (params, "hidden");
  g_autofree char *h = g_strcmp0 (hidden, "auto") == 0 || hidden[0] == '\0'
                       ? g_strdup (data->d <= 16 ? "128s-128s-128s" : "256s-256s-256s")
                       : g_strdup (hidden);
  gboolean cond = ps_params_get_bool (params, "conditional");
  if (cond && data->n_classes < 1)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "%s: conditioning needs labels", data->name);
      return NULL;
    }
  const char *pred = ps_params_get_string (params, "prediction");
  PsDiffPred pk = g_str_equal (pred, "x0") ? PS_DIFF_PRED_X0
                : g_str_equal (pred, "v") ? PS_DIFF_PRED_V : PS_DIFF_PRED_EPS;
  PsDenoiser *den = ps_denoiser_new ((int) data->d, (int) ps_params_get_int (params, "emb_dim"),
                                     cond ? (int) data->n_classes : 0, h, pk, error);
  if (den == NULL)
    return NULL;

  DdpmModel *m = g_new0 (DdpmModel, 1);
  m->data = ps_dataset_ref (data);
  m->den = den;
  m->D = (int) data->d;
  m->conditional = cond;
  m->sched = ps_diff_schedule_new (g_str_equal (ps_params_get_string (params, "schedule"), "cosine")
                                   ? PS_DIFF_SCHED_COSINE : PS_DIFF_SCHED_LINEAR,
                                   (int) ps_params_get_int (params, "timesteps"));
  ps_rng_init (&m->rng, seed, 1);
  PsRng init_rng;
  ps_rng_init (&init_rng, seed, 2);
  ps_model_init (den->net, &init_rng);
  m->train_idx = ps_split_indices (data, PS_SPLIT_TRAIN, FALSE, &m->n_train);
  if (m->n_train == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "%s has no training samples", data->name);
      ddpm_free (m);
      return NULL;
    }
  m->total = (guint64) ps_params_get_int (params, "steps");
  m->batch = (int) ps_params_get_int (params, "batch_size");
  m->p_uncond = (float) ps_params_get_float (params, "p_uncond");
  m->guidance = (float) ps_params_get_float (params, "guidance");
  m->eval_samples = (int) ps_params_get_int (params, "eval_samples");
  m->ddim_steps = (int) ps_params_get_int (params, "ddim_steps");
  m->halluc_window = (int) ps_params_get_int (params, "halluc_window");
  m->snap_n = (int) ps_params_get_int (params, "snapshot_samples");
  m->xb = g_new (float, (gsize) m->batch * m->D);
  m->cb = g_new (int, m->batch);

  /* Images (digits) are mapped from [0, max] to [-1, 1]; 2-D data are used
   * as they are (the generators are already at unit scale). */
  m->scale = 1.f;
  m->shift = 0.f;
  if (data->img_h > 0)
    {
      float mx = 0;
      for (gsize i = 0; i < (gsize) data->n * data->d; i++)
        mx = MAX (mx, data->x[i]);
      if (mx > 0)
        {
          m->scale = 2.f / mx;
          m->shift = -1.f;
        }
    }
  if (is_generator (data))
    {
      m->gen_noise = source_noise (data);
      m->truth = ps_gmm_for_generator (data->name, m->gen_noise);
    }

  PsOptimConfig cfg;
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, (float) ps_params_get_float (params, "lr"));
  ps_model_set_optimizer (den->net, &cfg);
  double ema = ps_params_get_float (params, "ema");
  if (ema > 0)
    ps_optim_ema_enable (ps_model_get_optimizer (den->net), (float) ema, ps_model_params (den->net));
  return m;
}

static guint64
ddpm_total_steps (gpointer p)
{
  return ((DdpmModel *) p)->total;
}

static gboolean
ddpm_step (gpointer p, PsStepInfo *info, GError **error)
{
  DdpmModel *m = p;
  const int D = m->D;
  for (int b = 0; b < m->batch; b++)
    {
      guint row = m->train_idx[ps_rng_below (&m->rng, m->n_train)];
      for (int j = 0; j < D; j++)
        m->xb[(gsize) b * D + j] = m->data->x[(gsize) row * D + j] * m->scale + m->shift;
      m->cb[b] = m->data->y[row];
    }
  float loss = NAN;
  if (!ps_denoiser_train_batch (m->den, m->sched, m->xb, m->conditional ? m->cb : NULL, m->batch,
                                m->p_uncond, NULL, &m->rng, &loss, error))
    {
      if (g_error_matches (*error, PS_ERROR, PS_ERROR_DIVERGED))
        {
          g_clear_error (error);
          loss = NAN;
        }
      else
        return FALSE;
    }
  m->step++;
  info->loss = loss;
  info->done = m->step >= m->total;
  return TRUE;
}

/* Draws n samples with one sampler from noise drawn by `rng` (or given). */
static gboolean
ddpm_sample (DdpmModel *m, float *x, int n, const int *cls, PsSamplerConfig *cfg, PsRng *rng)
{
  PsDenoiserEps e = { m->den, m->sched, m->conditional ? m->guidance : 0.f };
  gboolean swapped = ps_model_swap_ema (m->den->net);
  gboolean ok = ps_diff_sample (m->sched, ps_denoiser_eps_func, &e, x, n, m->D, cls, cfg, rng,
                                NULL, NULL);
  if (swapped)
    ps_model_swap_ema (m->den->net);
  return ok;
}

/* Class labels for conditional sampling: cycling through the classes. */
static int *
sample_classes (DdpmModel *m, int n)
{
  if (!m->conditional)
    return NULL;
  int *c = g_new (int, n);
  for (int i = 0; i < n; i++)
    c[i] = i % (int) m->data->n_classes;
  return c;
}

static void
to_data_space (DdpmModel *m, float *x, gsize n)
{
  for (gsize i = 0; i < n; i++)
    x[i] = (x[i] - m->shift) / m->scale;
}

/* GaussTeleport: how much of the learned eps the Gaussian fit of the data
 * explains at several noise levels (R^2), and sampling by jumping with the
 * Gaussian's exact PF-ODE solution to an intermediate level, then DDIM
 * with the network for the remaining steps. */
static void
ddpm_gaussian_metrics (DdpmModel *m, PsMetrics *out, const float *noise, int n, const float *ref,
                       int nref)
{
  const int D = m->D, T = m->sched->T;
  const int nf = (int) MIN (m->n_train, 2000u);
  g_autofree float *x0 = g_new (float, (gsize) nf * D);
  for (int i = 0; i < nf; i++)
    for (int j = 0; j < D; j++)
      x0[(gsize) i * D + j] = m->data->x[(gsize) m->train_idx[i] * D + j] * m->scale + m->shift;
  PsGmm *fit = ps_gmm_gaussian_fit (x0, nf, D);
  PsGmmEps ge = { fit, m->sched };
  g_autofree float *xt = g_new (float, (gsize) nf * D);
  g_autofree float *el = g_new (float, (gsize) nf * D);
  g_autofree float *eg = g_new (float, (gsize) nf * D);
  PsRng rng;
  ps_rng_init (&rng, 31337, 7);
  gboolean swapped = ps_model_swap_ema (m->den->net);
  const double fr[5] = { 0.02, 0.1, 0.25, 0.5, 0.8 };
  for (int l = 0; l < 5; l++)
    {
      int t = (int) (fr[l] * (T - 1));
      double ab = m->sched->alpha_bar[t];
      for (gsize i = 0; i < (gsize) nf * D; i++)
        xt[i] = (float) (sqrt (ab) * x0[i] + sqrt (1 - ab) * ps_rng_normal (&rng));
      ps_denoiser_eps (m->den, m->sched, el, xt, nf, t, NULL, 0.f);
      ps_gmm_eps_func (&ge, eg, xt, nf, t, NULL);
      double res = 0, tot = 0;
      g_autofree double *mean = g_new0 (double, D);
      for (int i = 0; i < nf; i++)
        for (int j = 0; j < D; j++)
          mean[j] += el[(gsize) i * D + j] / nf;
      for (int i = 0; i < nf; i++)
        for (int j = 0; j < D; j++)
          {
            gsize q = (gsize) i * D + j;
            res += (double) (el[q] - eg[q]) * (el[q] - eg[q]);
            tot += (el[q] - mean[j]) * (el[q] - mean[j]);
          }
      g_autofree char *key = g_strdup_printf ("gauss_r2_sigma%.2g", m->sched->sigma[t]);
      ps_metrics_set (out, key, tot > 0 ? 1.0 - res / tot : NAN);
    }
  if (swapped)
    ps_model_swap_ema (m->den->net);

  /* Teleport past the first 30% of the timesteps, then the DDIM schedule's
   * share of steps below that level. */
  int t_skip = (int) (0.7 * (T - 1));
  g_autofree float *x = g_memdup2 (noise, (gsize) n * D * sizeof (float));
  ps_gmm_gaussian_jump (fit, m->sched, x, n, T - 1, t_skip);
  PsSamplerConfig cfg;
  ps_sampler_config_init (&cfg, PS_SAMPLER_DDIM, MAX (1, (int) lround (m->ddim_steps * 0.7)));
  cfg.t_start = t_skip;
  g_autofree int *cls = sample_classes (m, n);
  PsRng srng;
  ps_rng_init (&srng, 4242, 8);
  ddpm_sample (m, x, n, cls, &cfg, &srng);
  to_data_space (m, x, (gsize) n * D);
  if (nref > 0)
    ps_metrics_set (out, "swd_teleport", ps_sliced_wasserstein (x, n, ref, nref, D, 128, 5));
  ps_metrics_set (out, "nfe_teleport", cfg.nfe);
  ps_gmm_free (fit);
}

/* The diffusion classifier: argmin over classes of the class-conditional
 * denoising error, with the same (t, eps) draws for every class; accuracy
 * on (at most 300) held-out rows after 1, 4, 16 and 32 draws. */
static void
ddpm_classifier_metrics (DdpmModel *m, PsMetrics *out)
{
  const int D = m->D, C = (int) m->data->n_classes;
  guint nt;
  g_autofree guint *rows = ps_split_indices (m->data, PS_SPLIT_TEST, TRUE, &nt);
  int n = (int) MIN (nt, 300u);
  if (n == 0 || C < 2)
    return;
  g_autofree float *x0 = g_new (float, (gsize) n * D);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < D; j++)
      x0[(gsize) i * D + j] = m->data->x[(gsize) rows[i] * D + j] * m->scale + m->shift;
  g_autofree double *sum = g_new0 (double, (gsize) n * C);
  g_autofree float *noise = g_new (float, (gsize) n * D);
  g_autofree float *err = g_new (float, n);
  g_autofree int *t = g_new (int, n);
  g_autofree int *cls = g_new (int, n);
  PsRng rng;
  ps_rng_init (&rng, 2718, 9);
  gboolean swapped = ps_model_swap_ema (m->den->net);
  for (int r = 1; r <= 32; r++)
    {
      ps_rng_fill_normal (&rng, noise, (gsize) n * D, 0.f, 1.f);
      for (int i = 0; i < n; i++)
        t[i] = (int) ps_rng_below (&rng, (guint32) m->sched->T);
      for (int c = 0; c < C; c++)
        {
          for (int i = 0; i < n; i++)
            cls[i] = c;
          ps_denoiser_errors (m->den, m->sched, err, x0, noise, t, cls, n);
          for (int i = 0; i < n; i++)
            sum[(gsize) i * C + c] += err[i];
        }
      if (r == 1 || r == 4 || r == 16 || r == 32)
        {
          int correct = 0;
          for (int i = 0; i < n; i++)
            {
              int best = 0;
              for (int c = 1; c < C; c++)
                if (sum[(gsize) i * C + c] < sum[(gsize) i * C + best])
                  best = c;
              correct += best == m->data->y[rows[i]];
            }
          g_autofree char *key = g_strdup_printf ("diffcls_acc_%d", r);
          ps_metrics_set (out, key, (double) correct / n);
        }
    }
  if (swapped)
    ps_model_swap_ema (m->den->net);
}

static PsMetrics *
ddpm_evaluate (gpointer p)
{
  DdpmModel *m = p;
  PsMetrics *out = ps_metrics_new ();
  const int n = m->eval_samples, D = m->D;
  g_autofree float *noise = g_new (float, (gsize) n * D);
  g_autofree float *x = g_new (float, (gsize) n * D);
  g_autofree float *xvar = g_new (float, n);
  g_autofree int *cls = sample_classes (m, n);
  PsRng rng;
  ps_rng_init (&rng, 12345, 3);
  ps_rng_fill_normal (&rng, noise, (gsize) n * D, 0.f, 1.f);

  /* The reference: a fresh sample of the true distribution for generated
   * 2-D sets, else the held-out rows. */
  g_autoptr (PsDataset) fresh = NULL;
  g_autofree float *ref = NULL;
  int nref = 0;
  if (is_generator (m->data))
    fresh = ps_dataset_generate_2d (m->data->name, (guint) n, m->gen_noise, 987654, NULL);
  if (fresh)
    {
      ref = g_memdup2 (fresh->x, (gsize) n * D * sizeof (float));
      nref = n;
    }
  else
    {
      guint nt;
      g_autofree guint *rows = ps_split_indices (m->data, PS_SPLIT_TEST, FALSE, &nt);
      if (nt == 0)
        {
          g_free (rows);
          rows = ps_split_indices (m->data, PS_SPLIT_TRAIN, FALSE, &nt);
        }
      ref = ps_gather_rows (m->data, rows, nt);
      nref = (int) nt;
    }

  struct { PsSamplerKind kind; int steps; const char *name; } runs[] = {
    { PS_SAMPLER_DDPM, m->sched->T, "ddpm" },
    { PS_SAMPLER_DDIM, m->ddim_steps, "ddim" },
    { PS_SAMPLER_DDIM, 10, "ddim10" },
    { PS_SAMPLER_HEUN, MAX (2, m->ddim_steps / 2), "heun" },
  };
  for (guint r = 0; r < G_N_ELEMENTS (runs); r++)
    {
      memcpy (x, noise, (gsize) n * D * sizeof (float));
      PsSamplerConfig cfg;
      ps_sampler_config_init (&cfg, runs[r].kind, runs[r].steps);
      if (r == 0)
        {
          cfg.x0_var_window = m->halluc_window;
          cfg.x0_var = xvar;
        }
      PsRng srng;
      ps_rng_init (&srng, 4242, 4);
      ddpm_sample (m, x, n, cls, &cfg, &srng);
      to_data_space (m, x, (gsize) n * D);
      g_autofree char *k1 = g_strdup_printf ("swd_%s", runs[r].name);
      g_autofree char *k2 = g_strdup_printf ("nfe_%s", runs[r].name);
      double swd = nref > 0 ? ps_sliced_wasserstein (x, n, ref, nref, D, 128, 5) : NAN;
      ps_metrics_set (out, k1, swd);
      ps_metrics_set (out, k2, cfg.nfe);
      if (r == 0)
        {
          ps_metrics_set (out, "swd", swd);
          if (D <= 16 && nref > 0)
            {
              int ne = MIN (n, 1000), nr = MIN (nref, 1000);
              ps_metrics_set (out, "energy", ps_energy_distance (x, ne, ref, nr, D));
            }
          if (m->truth)
            {
              int covered;
              double off;
              g_autofree int *on = g_new (int, n);
              ps_mode_stats (m->truth, x, n, &covered, &off, on);
              ps_metrics_set (out, "modes_covered", covered);
              ps_metrics_set (out, "modes_total", m->truth->K);
              ps_metrics_set (out, "off_support", off);
              /* The detector: a larger x0 variance over the last steps should
               * flag off-support (hallucinated) samples. */
              g_autofree guint8 *pos = g_new (guint8, n);
              int npos = 0;
              for (int i = 0; i < n; i++)
                npos += pos[i] = on[i] < 0;
              if (npos > 0 && npos < n)
                ps_metrics_set (out, "halluc_auroc", ps_auroc (xvar, pos, (guint) n));
            }
        }
    }
  ddpm_gaussian_metrics (m, out, noise, n, ref, nref);
  if (m->conditional)
    ddpm_classifier_metrics (m, out);
  return out;
}

/* Adds "trajectory<suffix>", "_x0", "_t" and "samples<suffix>". */
static void
add_trajectory (GPtrArray *out, const char *suffix, const float *traj, const float *x0,
                const float *tt, const float *final, int S, int F, int D)
{
  g_autofree char *k1 = g_strdup_printf ("trajectory%s", suffix);
  g_autofree char *k2 = g_strdup_printf ("trajectory%s_x0", suffix);
  g_autofree char *k3 = g_strdup_printf ("trajectory%s_t", suffix);
  g_autofree char *k4 = g_strdup_printf ("samples%s", suffix);
  gsize sh[3] = { S, F, D };
  g_ptr_array_add (out, ps_array_new (k1, PS_DTYPE_F32, 3, sh, traj));
  g_ptr_array_add (out, ps_array_new (k2, PS_DTYPE_F32, 3, sh, x0));
  gsize st[1] = { F };
  g_ptr_array_add (out, ps_array_new (k3, PS_DTYPE_F32, 1, st, tt));
  g_ptr_array_add (out, ps_array_new_f32 (k4, final, S, D));
}

static GPtrArray *
ddpm_snapshot (gpointer p)
{
  DdpmModel *m = p;
  PsDataset *ds = m->data;
  const int D = m->D, S = m->snap_n;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  guint n;
  g_autofree guint *rows = ps_snapshot_rows (ds, &n);
  g_autofree float *xd = ps_gather_rows (ds, rows, n);
  ps_snapshot_add_common (out, ds, rows, n, xd);

  /* The same starting noise for every sampler. */
  g_autofree float *noise = g_new (float, (gsize) S * D);
  PsRng rng;
  ps_rng_init (&rng, 777, 5);
  ps_rng_fill_normal (&rng, noise, (gsize) S * D, 0.f, 1.f);
  g_autofree int *cls = sample_classes (m, S);
  struct { PsSamplerKind kind; int steps; const char *suffix; } runs[] = {
    { PS_SAMPLER_DDPM, m->sched->T, "" },
    { PS_SAMPLER_DDIM, m->ddim_steps, "_ddim" },
    { PS_SAMPLER_EULER, m->ddim_steps, "_euler" },
    { PS_SAMPLER_HEUN, MAX (2, m->ddim_steps / 2), "_heun" },
  };
  g_autofree float *xvar = g_new (float, S);
  for (guint r = 0; r < G_N_ELEMENTS (runs); r++)
    {
      PsSamplerConfig cfg;
      ps_sampler_config_init (&cfg, runs[r].kind, runs[r].steps);
      int F = MIN (runs[r].steps, m->sched->T) + 1;
      g_autofree float *x = g_memdup2 (noise, (gsize) S * D * sizeof (float));
      g_autofree float *traj = g_new0 (float, (gsize) S * F * D);
      g_autofree float *tx0 = g_new0 (float, (gsize) S * F * D);
      g_autofree float *tt = g_new0 (float, F);
      cfg.n_record = S;
      cfg.traj = traj;
      cfg.traj_x0 = tx0;
      cfg.traj_t = tt;
      if (r == 0)
        {
          cfg.x0_var_window = m->halluc_window;
          cfg.x0_var = xvar;
        }
      PsRng srng;
      ps_rng_init (&srng, 4242, 6);
      ddpm_sample (m, x, S, cls, &cfg, &srng);
      F = cfg.n_steps + 1;
      to_data_space (m, x, (gsize) S * D);
      to_data_space (m, traj, (gsize) S * F * D);
      to_data_space (m, tx0, (gsize) S * F * D);
      add_trajectory (out, runs[r].suffix, traj, tx0, tt, x, S, F, D);

      if (r == 0 && ds->img_h > 0 && ds->img_h * ds->img_w == (guint) D)
        {
          /* Predicted-x0 strips: 8 samples x 10 frames along the DDPM path. */
          const int NS = MIN (8, S), NF = 10;
          g_autofree float *img = g_new (float, (gsize) NS * NF * D);
          for (int s = 0; s < NS; s++)
            for (int f = 0; f < NF; f++)
              {
                int fr = (int) ((gint64) f * (F - 1) / (NF - 1));
                memcpy (img + ((gsize) s * NF + f) * D, tx0 + ((gsize) s * F + fr) * D,
                        D * sizeof (float));
              }
          gsize ish[3] = { (gsize) NS * NF, ds->img_h, ds->img_w };
          g_ptr_array_add (out, ps_array_new ("images", PS_DTYPE_F32, 3, ish, img));
        }
    }
  gsize s1[1] = { S };
  g_ptr_array_add (out, ps_array_new ("scores", PS_DTYPE_F32, 1, s1, xvar));
  const char *sname = "halluc_x0_var";
  gsize nshape[1] = { strlen (sname) };
  g_ptr_array_add (out, ps_array_new ("score_name", PS_DTYPE_U8, 1, nshape, sname));

  if (D == 2)
    {
      /* The learned score on a G x G grid at K noise levels (in data space
       * coordinates of x_t; the model space equals data space for 2-D). */
      const int G = 24, K = 4;
      float ext[4];
      ps_extent_2d (ds->x, ds->n, 0.15f, ext);
      g_autofree float *grid = g_new (float, (gsize) G * G * 2);
      for (int i = 0; i < G; i++)
        for (int j = 0; j < G; j++)
          {
            grid[((gsize) i * G + j) * 2] = ext[0] + (ext[1] - ext[0]) * (j + 0.5f) / G;
            grid[((gsize) i * G + j) * 2 + 1] = ext[2] + (ext[3] - ext[2]) * (i + 0.5f) / G;
          }
      g_autofree float *field = g_new (float, (gsize) K * G * G * 2);
      g_autofree float *afield = m->truth ? g_new (float, (gsize) K * G * G * 2) : NULL;
      g_autofree float *ft = g_new (float, K);
      const int tks[4] = { 0, m->sched->T / 10, m->sched->T / 3, m->sched->T * 2 / 3 };
      gboolean swapped = ps_model_swap_ema (m->den->net);
      for (int k = 0; k < K; k++)
        {
          int t = tks[k];
          double ab = m->sched->alpha_bar[t];
          float *f = field + (gsize) k * G * G * 2;
          ps_denoiser_eps (m->den, m->sched, f, grid, G * G, t, NULL, 0.f);
          float c = (float) (-1.0 / sqrt (1.0 - ab));
          for (int i = 0; i < G * G * 2; i++)
            f[i] *= c;
          if (afield)
            ps_gmm_score (m->truth, afield + (gsize) k * G * G * 2, grid, G * G, ab);
          ft[k] = (float) m->sched->sigma[t];
        }
      if (swapped)
        ps_model_swap_ema (m->den->net);
      gsize fsh[4] = { K, G, G, 2 };
      g_ptr_array_add (out, ps_array_new ("score_field", PS_DTYPE_F32, 4, fsh, field));
      if (afield)
        g_ptr_array_add (out, ps_array_new ("score_field_analytic", PS_DTYPE_F32, 4, fsh, afield));
      gsize ksh[1] = { K };
      g_ptr_array_add (out, ps_array_new ("score_field_t", PS_DTYPE_F32, 1, ksh, ft));
      gsize esh[1] = { 4 };
      g_ptr_array_add (out, ps_array_new ("field_extent", PS_DTYPE_F32, 1, esh, ext));
    }
  return out;
}

#define DDPM_MAGIC 0x4d504444u  /* "DDPM" */

static GBytes *
ddpm_save (gpointer p)
{
  DdpmModel *m = p;
  g_autoptr (GBytes) net = ps_model_save (m->den->net);
  PsBlobWriter w;
  ps_blob_writer_init (&w, DDPM_MAGIC);
  ps_blob_put_u64 (&w, m->step);
  ps_blob_put_rng (&w, &m->rng);
  ps_blob_put_bytes (&w, net);
  return ps_blob_writer_finish (&w);
}

static gboolean
ddpm_load (gpointer p, GBytes *blob, GError **error)
{
  DdpmModel *m = p;
  PsBlobReader r;
  if (!ps_blob_reader_init (&r, blob, DDPM_MAGIC, "ddpm checkpoint", error))
    return FALSE;
  guint64 step;
  PsRng rng;
  g_autoptr (GBytes) net = NULL;
  if (!ps_blob_get_u64 (&r, &step, error) || !ps_blob_get_rng (&r, &rng, error)
      || !(net = ps_blob_get_bytes (&r, error)))
    return FALSE;
  if (!ps_model_load_into (m->den->net, net, error))
    return FALSE;
  m->step = step;
  m->rng = rng;
  return TRUE;
}

const PsMethod ps_method_ddpm = {
  .id = "ddpm",
  .title = "DDPM / DDIM diffusion model",
  .family = "Diffusion",
  .paper = "Ho et al. 2020 (DDPM); Song et al. 2021 (DDIM); Ho & Salimans 2022 (CFG)",
  .summary = "A denoising diffusion model: an MLP with a sinusoidal time embedding (and an "
             "optional class one-hot with a null class for classifier-free guidance) trained to "
             "predict the noise, x0 or v on a linear or cosine schedule, with EMA weights. "
             "Sampled by DDPM ancestral steps, DDIM, and probability-flow ODE Euler/Heun on the "
             "same starting noise. Evaluated by sliced Wasserstein and energy distance to a "
             "fresh sample of the generator; on the ring and grid mixtures also modes covered, "
             "the off-support (hallucination) share and the AUROC of the predicted-x0 variance "
             "detector. The small version drops U-Nets and images larger than 8x8.",
  .key_metric = "swd",
  .params = ddpm_params,
  .n_params = G_N_ELEMENTS (ddpm_params),
  .create = ddpm_create,
  .free = ddpm_free,
  .total_steps = ddpm_total_steps,
  .step = ddpm_step,
  .evaluate = ddpm_evaluate,
  .snapshot = ddpm_snapshot,
  .explain = NULL,
  .save = ddpm_save,
  .load = ddpm_load,
};
