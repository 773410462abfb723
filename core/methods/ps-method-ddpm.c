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
#include "ps-method-ddpm.h"
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
  { "eval_samples", PS_PARAM_INT, 1000, 100, 100000, NULL, "Samples drawn by evaluate" },
  { "eval_ddpm", PS_PARAM_BOOL, 0, 0, 1, NULL,
    "Also evaluate DDPM ancestral sampling over all T steps (slow: T network evaluations)" },
  { "minority_w", PS_PARAM_FLOAT, 0, 0, 20, NULL,
    "Minority guidance strength: push samples away from the training data's density" },
  { "minority_keep", PS_PARAM_FLOAT, 1, 0.01, 1, NULL,
    "Share of training rows kept for the upper half of the labels (an unbalanced mixture)" },
  { "t_sampler", PS_PARAM_CHOICE, 0, 0, 0, "uniform|curriculum",
    "Training timesteps: uniform, or an easy-to-hard curriculum from large t down" },
  { "curriculum_stages", PS_PARAM_INT, 5, 1, 100, NULL, "Timestep clusters of the curriculum" },
  { "curriculum_share", PS_PARAM_FLOAT, 0.5, 0, 1, NULL,
    "Share of the training steps spent in the curriculum before uniform sampling" },
  { "ddim_steps", PS_PARAM_INT, 50, 1, 1000, NULL, "Steps of the DDIM/ODE samplers" },
  { "clip_x0", PS_PARAM_BOOL, 1, 0, 1, NULL,
    "Images: clamp the predicted x0 to the pixel range in DDPM/DDIM sampling" },
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
  gboolean eval_ddpm, clip_x0;
  float minority_w, minority_keep;
  gboolean curriculum;
  int cur_stages;
  double cur_share;
  int *tb;               /* [batch] curriculum timesteps */
  PsGmm *kde;            /* training rows as deltas, for minority guidance */
  PsGmm *kde_top;        /* the rows of the top minority-score level */
  PsModel *fd_net;       /* digits: the Frechet-distance feature classifier, lazily */
  guint64 seed;
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
  g_free (m->tb);
  ps_gmm_free (m->truth);
  ps_gmm_free (m->kde);
  ps_gmm_free (m->kde_top);
  if (m->fd_net)
    ps_model_free (m->fd_net);
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

/* The minority classes of an unbalanced mixture: the upper half of the labels. */
static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static gboolean
ddpm_is_minority (DdpmModel *m, int y)
{
  return m->data->n_classes >= 2 && y >= (int) m->data->n_classes / 2;
}

/* Minority guidance (Um et al.): each training row (at most 1000) gets a
 * minority score, here -log of a kernel density of the training rows at a
 * bandwidth of 0.3 times the data's spread (the paper's Tweedie
 * reconstruction error plays this role for images; the density is its
 * direct 2-D counterpart), and the rows in the top decile form the target
 * level l*.  The level classifier p(l* | x_t) is then exact rather than
 * trained: with the rows as deltas diffused to step t, it is the mass of
 * the l* rows over the mass of all rows, so its gradient is the score of
 * the l* mixture minus the score of the whole mixture. */
static void
ddpm_minority_init (DdpmModel *m)
{
  const int D = m->D, nk = (int) MIN (m->n_train, 1000u);
  g_autofree float *xk = g_new (float, (gsize) nk * D);
  for (int i = 0; i < nk; i++)
    for (int j = 0; j < D; j++)
      xk[(gsize) i * D + j] = m->data->x[(gsize) m->train_idx[i] * D + j] * m->scale + m->shift;
  double spread = 0;
  for (int j = 0; j < D; j++)
    {
      double mu = 0, v = 0;
      for (int i = 0; i < nk; i++)
        mu += xk[(gsize) i * D + j] / nk;
      for (int i = 0; i < nk; i++)
        v += (xk[(gsize) i * D + j] - mu) * (xk[(gsize) i * D + j] - mu) / nk;
      spread += v / D;
    }
  double h2 = 0.09 * spread;
  g_autofree double *score = g_new (double, nk);
  for (int i = 0; i < nk; i++)
    {
      double dens = 0;
      for (int k = 0; k < nk; k++)
        {
          double d2 = 0;
          for (int j = 0; j < D; j++)
            {
              double d = xk[(gsize) i * D + j] - xk[(gsize) k * D + j];
              d2 += d * d;
            }
          dens += exp (-0.5 * d2 / h2);
        }
      score[i] = -log (dens);
    }
  g_autofree double *sorted = g_memdup2 (score, nk * sizeof (double));
  qsort (sorted, nk, sizeof (double), cmp_double);
  double cut = sorted[(int) (0.9 * (nk - 1))];
  g_autofree float *top = g_new (float, (gsize) nk * D);
  int nt = 0;
  for (int i = 0; i < nk; i++)
    if (score[i] >= cut)
      memcpy (top + (gsize) nt++ * D, xk + (gsize) i * D, D * sizeof (float));
  m->kde = ps_gmm_delta_mixture (xk, nk, D);
  m->kde_top = ps_gmm_delta_mixture (top, nt, D);
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
  m->seed = seed;
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
  m->minority_keep = (float) ps_params_get_float (params, "minority_keep");
  if (m->minority_keep < 1.f && data->n_classes >= 2)
    {
      /* An unbalanced mixture for minority guidance: the upper half of the
       * labels keeps only a share of its training rows (seeded). */
      PsRng krng;
      ps_rng_init (&krng, seed, 11);
      guint k = 0;
      for (guint i = 0; i < m->n_train; i++)
        if (!ddpm_is_minority (m, data->y[m->train_idx[i]])
            || ps_rng_uniform (&krng) < m->minority_keep)
          m->train_idx[k++] = m->train_idx[i];
      m->n_train = k;
    }
  m->total = (guint64) ps_params_get_int (params, "steps");
  m->eval_ddpm = ps_params_get_bool (params, "eval_ddpm");
  m->clip_x0 = ps_params_get_bool (params, "clip_x0") && data->img_h > 0;
  m->minority_w = (float) ps_params_get_float (params, "minority_w");
  m->curriculum = g_str_equal (ps_params_get_string (params, "t_sampler"), "curriculum");
  m->cur_stages = (int) ps_params_get_int (params, "curriculum_stages");
  m->cur_share = ps_params_get_float (params, "curriculum_share");
  m->batch = (int) ps_params_get_int (params, "batch_size");
  m->p_uncond = (float) ps_params_get_float (params, "p_uncond");
  m->guidance = (float) ps_params_get_float (params, "guidance");
  m->eval_samples = (int) ps_params_get_int (params, "eval_samples");
  m->ddim_steps = (int) ps_params_get_int (params, "ddim_steps");
  m->halluc_window = (int) ps_params_get_int (params, "halluc_window");
  m->snap_n = (int) ps_params_get_int (params, "snapshot_samples");
  m->xb = g_new (float, (gsize) m->batch * m->D);
  m->cb = g_new (int, m->batch);
  m->tb = g_new (int, m->batch);

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
      if (m->truth && m->minority_keep < 1.f && m->truth->K == (int) data->n_classes)
        {
          /* The mixture weights follow the (unbalanced) training labels. */
          for (int k = 0; k < m->truth->K; k++)
            m->truth->weights[k] = 0;
          for (guint i = 0; i < m->n_train; i++)
            m->truth->weights[data->y[m->train_idx[i]]] += 1.0 / m->n_train;
        }
    }
  if (m->minority_w > 0)
    ddpm_minority_init (m);

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
  /* The difficulty curriculum (DiffCurriculum): the timesteps fall into
   * `cur_stages` equal clusters; low-noise (small t) denoising is the hard
   * task, so stage j draws t from the j + 1 highest-noise clusters.  The
   * stages share the first `cur_share` of the training evenly; after that,
   * uniform t as usual. */
  const int *tfix = NULL;
  guint64 cur_steps = (guint64) (m->cur_share * m->total);
  if (m->curriculum && m->step < cur_steps)
    {
      const int T = m->sched->T;
      int stage = (int) (m->step * (guint64) m->cur_stages / cur_steps);
      int lo = T - (int) ((gint64) (stage + 1) * T / m->cur_stages);
      for (int b = 0; b < m->batch; b++)
        m->tb[b] = lo + (int) ps_rng_below (&m->rng, (guint32) (T - lo));
      tfix = m->tb;
    }
  float loss = NAN;
  if (!ps_denoiser_train_batch (m->den, m->sched, m->xb, m->conditional ? m->cb : NULL, m->batch,
                                m->p_uncond, tfix, &m->rng, &loss, error))
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

typedef struct
{
  DdpmModel *m;
} MinorityGuide;

/* Minority guidance toward the top minority-score level: the gradient of
 * log p(l* | x_t) (see ddpm_minority_init).  It acts only while t > T/10:
 * the high-noise steps choose the mode, and the last steps are left to the
 * network so that samples stay on the support. */
static void
minority_guide (gpointer user, float *grad, const float *x, int n, int t)
{
  DdpmModel *m = ((MinorityGuide *) user)->m;
  const gsize nd = (gsize) n * m->D;
  if (t * 10 <= m->sched->T)
    {
      memset (grad, 0, nd * sizeof (float));
      return;
    }
  g_autofree float *all = g_new (float, nd);
  ps_gmm_score (m->kde_top, grad, x, n, m->sched->alpha_bar[t]);
  ps_gmm_score (m->kde, all, x, n, m->sched->alpha_bar[t]);
  for (gsize i = 0; i < nd; i++)
    grad[i] -= all[i];
}

/* Draws n samples with one sampler from noise drawn by `rng` (or given);
 * with minority guidance when the model has it and `minority` is set. */
static gboolean
ddpm_sample_full (DdpmModel *m, float *x, int n, const int *cls, PsSamplerConfig *cfg, PsRng *rng,
                  float cfg_w, gboolean minority)
{
  MinorityGuide mg = { m };
  if (minority && m->kde && m->minority_w > 0)
    {
      cfg->guide = minority_guide;
      cfg->guide_data = &mg;
      cfg->guide_scale = m->minority_w;
    }
  if (m->clip_x0)
    cfg->clip_x0 = 1.f;
  PsDenoiserEps e = { m->den, m->sched, m->conditional ? cfg_w : 0.f };
  gboolean swapped = ps_model_swap_ema (m->den->net);
  gboolean ok = ps_diff_sample (m->sched, ps_denoiser_eps_func, &e, x, n, m->D, cls, cfg, rng,
                                NULL, NULL);
  if (swapped)
    ps_model_swap_ema (m->den->net);
  cfg->guide = NULL;
  return ok;
}

static gboolean
ddpm_sample (DdpmModel *m, float *x, int n, const int *cls, PsSamplerConfig *cfg, PsRng *rng)
{
  return ddpm_sample_full (m, x, n, cls, cfg, rng, m->guidance, TRUE);
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

static double ddpm_fd (DdpmModel *m, const float *x, int n, const float *ref, int nref);

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
  if (m->data->img_h > 0)
    ps_metrics_set (out, "fd_teleport", ddpm_fd (m, x, n, ref, nref));
  ps_metrics_set (out, "nfe_teleport", cfg.nfe);
  ps_gmm_free (fit);
}

/* The diffusion classifier: argmin over classes of the class-conditional
 * denoising error, with the same (t, eps) draws for every class; accuracy
 * on (at most 200) held-out rows after 1, 2, 4, 8 and 16 draws (the cost
 * is rows x draws x classes network evaluations). */
static void
ddpm_classifier_metrics (DdpmModel *m, PsMetrics *out)
{
  const int D = m->D, C = (int) m->data->n_classes;
  guint nt;
  g_autofree guint *rows = ps_split_indices (m->data, PS_SPLIT_TEST, TRUE, &nt);
  int n = (int) MIN (nt, 200u);
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
  for (int r = 1; r <= 16; r++)
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
      if ((r & (r - 1)) == 0)
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

/* Images: the Frechet distance between samples x[n, D] (data space) and
 * the reference rows, on the features of a classifier trained once per
 * model on the training rows (seeded by the run's seed). */
static double
ddpm_fd (DdpmModel *m, const float *x, int n, const float *ref, int nref)
{
  const int D = m->D, C = (int) m->data->n_classes;
  if (m->data->img_h == 0 || C < 2 || nref < 2 || n < 2)
    return NAN;
  if (m->fd_net == NULL)
    {
      g_autofree float *xt = ps_gather_rows (m->data, m->train_idx, m->n_train);
      g_autofree int *yt = g_new (int, m->n_train);
      for (guint i = 0; i < m->n_train; i++)
        yt[i] = m->data->y[m->train_idx[i]];
      m->fd_net = ps_fd_feature_net_train (xt, yt, (int) m->n_train, D, C, 30, m->seed, NULL);
      if (m->fd_net == NULL)
        return NAN;
    }
  g_autofree float *fa = g_new (float, (gsize) n * PS_FD_FEATURES);
  g_autofree float *fb = g_new (float, (gsize) nref * PS_FD_FEATURES);
  ps_fd_features (m->fd_net, x, n, fa);
  ps_fd_features (m->fd_net, ref, nref, fb);
  return ps_frechet_distance (fa, n, fb, nref, PS_FD_FEATURES);
}

/* DDIM samples at guidance cfg_w (and minority guidance when `minority`),
 * mapped to the known mixture's modes: on[n] gets each sample's mode or -1. */
static double
ddim_on_modes (DdpmModel *m, const float *noise, int n, const int *cls, float cfg_w,
               gboolean minority, int *on)
{
  g_autofree float *x = g_memdup2 (noise, (gsize) n * m->D * sizeof (float));
  PsSamplerConfig cfg;
  ps_sampler_config_init (&cfg, PS_SAMPLER_DDIM, m->ddim_steps);
  PsRng srng;
  ps_rng_init (&srng, 4242, 10);
  ddpm_sample_full (m, x, n, cls, &cfg, &srng, cfg_w, minority);
  to_data_space (m, x, (gsize) n * m->D);
  int covered;
  double off;
  ps_mode_stats (m->truth, x, n, &covered, &off, on);
  return off;
}

/* On a known mixture whose components are the classes: for conditional
 * models, the share of samples on the requested class's mode with the
 * run's guidance and without it (CFG); for minority guidance, the share of
 * samples on the minority modes with and without the guidance, beside
 * their share of the training data. */
static void
ddpm_mode_share_metrics (DdpmModel *m, PsMetrics *out, const float *noise, int n, const int *cls)
{
  g_autofree int *on = g_new (int, n);
  if (m->conditional)
    {
      const float ws[2] = { m->guidance, 0.f };
      const char *keys[2] = { "cfg_match", "cfg_match_w0" };
      for (int k = 0; k < (m->guidance != 0.f ? 2 : 1); k++)
        {
          ddim_on_modes (m, noise, n, cls, ws[k], FALSE, on);
          int hit = 0;
          for (int i = 0; i < n; i++)
            hit += on[i] == cls[i];
          ps_metrics_set (out, keys[k], (double) hit / n);
          if (m->guidance == 0.f)
            ps_metrics_set (out, keys[1], (double) hit / n);
        }
    }
  if (m->kde || m->minority_keep < 1.f)
    {
      for (int k = 0; k < 2; k++)
        {
          if (k == 0 && !m->kde)
            continue;
          double off = ddim_on_modes (m, noise, n, cls, m->guidance, k == 0, on);
          int hit = 0;
          for (int i = 0; i < n; i++)
            hit += on[i] >= 0 && ddpm_is_minority (m, on[i]);
          ps_metrics_set (out, k == 0 ? "minority_share" : "minority_share_unguided",
                          (double) hit / n);
          ps_metrics_set (out, k == 0 ? "minority_off_support" : "minority_off_support_unguided",
                          off);
        }
      int hit = 0;
      for (guint i = 0; i < m->n_train; i++)
        hit += ddpm_is_minority (m, m->data->y[m->train_idx[i]]);
      ps_metrics_set (out, "minority_share_data", (double) hit / m->n_train);
    }
}

/* The denoising error |eps - eps_hat|^2 per timestep cluster (the
 * curriculum's clusters, 0 = lowest noise), on up to 1000 training rows
 * with fixed noise draws: loss_t0 .. loss_t<K-1>. */
static void
ddpm_cluster_losses (DdpmModel *m, PsMetrics *out)
{
  const int D = m->D, T = m->sched->T, K = m->cur_stages;
  const int n = (int) MIN (m->n_train, 1000u);
  g_autofree float *x0 = g_new (float, (gsize) n * D);
  g_autofree float *noise = g_new (float, (gsize) n * D);
  g_autofree float *err = g_new (float, n);
  g_autofree int *t = g_new (int, n);
  g_autofree int *cls = m->conditional ? g_new (int, n) : NULL;
  for (int i = 0; i < n; i++)
    {
      for (int j = 0; j < D; j++)
        x0[(gsize) i * D + j] = m->data->x[(gsize) m->train_idx[i] * D + j] * m->scale + m->shift;
      if (cls)
        cls[i] = m->data->y[m->train_idx[i]];
    }
  PsRng rng;
  ps_rng_init (&rng, 1618, 12);
  gboolean swapped = ps_model_swap_ema (m->den->net);
  for (int k = 0; k < K; k++)
    {
      int lo = (int) ((gint64) k * T / K), hi = (int) ((gint64) (k + 1) * T / K);
      ps_rng_fill_normal (&rng, noise, (gsize) n * D, 0.f, 1.f);
      for (int i = 0; i < n; i++)
        t[i] = lo + (int) ps_rng_below (&rng, (guint32) MAX (1, hi - lo));
      ps_denoiser_errors (m->den, m->sched, err, x0, noise, t, cls, n);
      double sum = 0;
      for (int i = 0; i < n; i++)
        sum += err[i];
      g_autofree char *key = g_strdup_printf ("loss_t%d", k);
      ps_metrics_set (out, key, sum / n);
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

  /* DDPM over all T steps costs T network evaluations a sample, so it runs
   * only when asked; the first sampler run carries the mode statistics and
   * the hallucination detector. */
  struct { PsSamplerKind kind; int steps; const char *name; } runs[] = {
    { PS_SAMPLER_DDPM, m->sched->T, "ddpm" },
    { PS_SAMPLER_DDIM, m->ddim_steps, "ddim" },
    { PS_SAMPLER_DDIM, 20, "ddim20" },
    { PS_SAMPLER_DDIM, 10, "ddim10" },
    { PS_SAMPLER_HEUN, MAX (2, m->ddim_steps / 2), "heun" },
  };
  gboolean first = TRUE;
  for (guint r = m->eval_ddpm ? 0 : 1; r < G_N_ELEMENTS (runs); r++)
    {
      memcpy (x, noise, (gsize) n * D * sizeof (float));
      PsSamplerConfig cfg;
      ps_sampler_config_init (&cfg, runs[r].kind, runs[r].steps);
      if (first)
        {
          cfg.x0_var_window = MIN (m->halluc_window, runs[r].steps);
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
      if (m->data->img_h > 0)
        {
          g_autofree char *k3 = g_strdup_printf ("fd_%s", runs[r].name);
          ps_metrics_set (out, k3, ddpm_fd (m, x, n, ref, nref));
        }
      if (first)
        {
          first = FALSE;
          ps_metrics_set (out, "swd", swd);
          if (m->data->img_h > 0)
            {
              ps_metrics_set (out, "fd", ddpm_fd (m, x, n, ref, nref));
              /* The floor: training rows against the same reference. */
              g_autofree float *xt = ps_gather_rows (m->data, m->train_idx,
                                                     MIN (m->n_train, (guint) n));
              ps_metrics_set (out, "fd_train_rows",
                              ddpm_fd (m, xt, (int) MIN (m->n_train, (guint) n), ref, nref));
            }
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
              ps_metrics_set (out, "halluc_rate", off);
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
  if (m->truth && m->truth->K == (int) m->data->n_classes)
    ddpm_mode_share_metrics (m, out, noise, n, cls);
  ddpm_gaussian_metrics (m, out, noise, n, ref, nref);
  ddpm_cluster_losses (m, out);
  if (m->conditional)
    ddpm_classifier_metrics (m, out);
  return out;
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
  /* The primary trajectory is DDPM ancestral sampling; over all T steps
   * only with eval_ddpm (T network evaluations a sample), else on the
   * DDIM step count. */
  struct { PsSamplerKind kind; int steps; const char *suffix; } runs[] = {
    { PS_SAMPLER_DDPM, m->eval_ddpm ? m->sched->T : m->ddim_steps, "" },
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
      ps_diffusion_add_trajectory (out, runs[r].suffix, traj, tx0, tt, x, S, F, D);

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
  return ps_diffusion_ckpt_save (DDPM_MAGIC, m->step, &m->rng, m->den->net);
}

static gboolean
ddpm_load (gpointer p, GBytes *blob, GError **error)
{
  DdpmModel *m = p;
  return ps_diffusion_ckpt_load (blob, DDPM_MAGIC, "ddpm checkpoint", m->den->net, &m->step,
                                 &m->rng, error);
}

void
ps_ddpm_get_sampler (gpointer model, PsDenoiser **den, PsDiffSchedule **sched, int *ddim_steps,
                     float *guidance)
{
  DdpmModel *m = model;
  g_return_if_fail (m != NULL);
  *den = m->den;
  *sched = m->sched;
  *ddim_steps = m->ddim_steps;
  *guidance = m->guidance;
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
