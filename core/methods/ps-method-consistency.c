/* ps-method-consistency.c: consistency training with the improved
 * techniques of Song & Dhariwal (iCT): no teacher and no EMA target (the
 * target is the online network under stop-gradient), the pseudo-Huber
 * distance, lognormal sampling of the discretisation index and a doubling
 * discretisation N(k).  One- and two-step generation.
 */
#define G_LOG_DOMAIN "ps-consistency"

#include "ps-method.h"
#include "ps-method-util.h"
#include "ps-diffusion.h"

#include <math.h>
#include <string.h>

static const PsParamSpec ct_params[] = {
  { "steps", PS_PARAM_INT, 5000, 1, 10000000, NULL, "Training iterations" },
  { "batch_size", PS_PARAM_INT, 256, 1, 8192, NULL, "Samples per step" },
  { "lr", PS_PARAM_FLOAT, 1e-3, 1e-6, 1.0, NULL, "Learning rate (Adam)", TRUE },
  { "hidden", PS_PARAM_STRING, 0, 0, 0, "128s-128s-128s", "Hidden layers as a spec tail" },
  { "emb_dim", PS_PARAM_INT, 32, 2, 512, NULL, "Width of the noise-level embedding" },
  { "sigma_max", PS_PARAM_FLOAT, 80, 1, 1000, NULL, "Largest noise level" },
  { "sigma_mid", PS_PARAM_FLOAT, 0.5, 0.01, 100, NULL, "Noise level of the second step" },
  { "s0", PS_PARAM_INT, 10, 2, 10000, NULL, "Initial discretisation steps" },
  { "s1", PS_PARAM_INT, 1280, 2, 100000, NULL, "Final discretisation steps" },
  { "eval_samples", PS_PARAM_INT, 2000, 100, 100000, NULL, "Samples drawn by evaluate" },
};

#define SIGMA_MIN 0.002
#define SIGMA_D 0.5
#define RHO 7.0
#define P_MEAN (-1.1)
#define P_STD 2.0

typedef struct
{
  PsDataset *data;
  PsDenoiser *den;       /* F_theta over [c_in x, emb(c_noise)] */
  PsRng rng;
  guint *train_idx;
  guint n_train;
  guint64 step, total;
  int batch, D, s0, s1;
  double sigma_max, sigma_mid;
  float *x0, *z, *xa, *fa, *xb, *fb, *grad;
  double *sig, *pdf;     /* current grid [N] and index probabilities [N-1] */
  int n_grid;
} CtModel;

static void
ct_free (gpointer p)
{
  CtModel *m = p;
  if (m == NULL)
    return;
  ps_denoiser_free (m->den);
  ps_dataset_unref (m->data);
  g_free (m->train_idx);
  g_free (m->x0);
  g_free (m->z);
  g_free (m->xa);
  g_free (m->fa);
  g_free (m->xb);
  g_free (m->fb);
  g_free (m->grad);
  g_free (m->sig);
  g_free (m->pdf);
  g_free (m);
}

static double c_skip (double s) { double d = s - SIGMA_MIN; return SIGMA_D * SIGMA_D / (d * d + SIGMA_D * SIGMA_D); }
static double c_out (double s) { return SIGMA_D * (s - SIGMA_MIN) / sqrt (SIGMA_D * SIGMA_D + s * s); }
static double c_in (double s) { return 1.0 / sqrt (s * s + SIGMA_D * SIGMA_D); }
/* The embedding sees 250 log(sigma): a spread of a few hundred, which the
 * sinusoidal frequencies resolve. */
static float c_noise (double s) { return (float) (250.0 * log (s)); }

/* f(x, sigma) for rows x[n, D] at per-row sigma; writes out[n, D].  The
 * network's activations stay for a backward pass. */
static void
ct_forward (CtModel *m, float *out, const float *x, const double *sig, int n)
{
  const int D = m->D;
  g_autofree float *xin = g_new (float, (gsize) n * D);
  g_autofree float *tv = g_new (float, n);
  for (int i = 0; i < n; i++)
    {
      float ci = (float) c_in (sig[i]);
      for (int j = 0; j < D; j++)
        xin[(gsize) i * D + j] = ci * x[(gsize) i * D + j];
      tv[i] = c_noise (sig[i]);
    }
  ps_denoiser_build_input (m->den, xin, n, tv, NULL);
  const float *F = ps_model_forward (m->den->net, m->den->in, n);
  for (int i = 0; i < n; i++)
    {
      float cs = (float) c_skip (sig[i]), co = (float) c_out (sig[i]);
      for (int j = 0; j < D; j++)
        {
          gsize q = (gsize) i * D + j;
          out[q] = cs * x[q] + co * F[q];
        }
    }
}

static void
ct_set_grid (CtModel *m, int N)
{
  if (N == m->n_grid)
    return;
  m->n_grid = N;
  m->sig = g_renew (double, m->sig, N);
  m->pdf = g_renew (double, m->pdf, N - 1);
  double a = pow (SIGMA_MIN, 1 / RHO), b = pow (m->sigma_max, 1 / RHO);
  for (int i = 0; i < N; i++)
    m->sig[i] = pow (a + (double) i / (N - 1) * (b - a), RHO);
  double tot = 0;
  for (int i = 0; i < N - 1; i++)
    {
      m->pdf[i] = erf ((log (m->sig[i + 1]) - P_MEAN) / (G_SQRT2 * P_STD))
                  - erf ((log (m->sig[i]) - P_MEAN) / (G_SQRT2 * P_STD));
      tot += m->pdf[i];
    }
  for (int i = 0; i < N - 1; i++)
    m->pdf[i] /= tot;
}

static int
ct_n_grid (CtModel *m)
{
  /* N(k) = min(s0 2^floor(k / K'), s1) + 1, K' = floor(K / (log2(s1/s0) + 1)). */
  double kp = floor ((double) m->total / (log2 ((double) m->s1 / m->s0) + 1));
  int e = kp > 0 ? (int) floor ((double) m->step / kp) : 0;
  double n = MIN ((double) m->s0 * pow (2.0, MIN (e, 30)), (double) m->s1);
  return (int) n + 1;
}

static gpointer
ct_create (const PsMethod *method, const PsParams *params, PsDataset *data, guint64 seed,
           GError **error)
{
  PsDenoiser *den = ps_denoiser_new ((int) data->d, (int) ps_params_get_int (params, "emb_dim"), 0,
                                     ps_params_get_string (params, "hidden"), PS_DIFF_PRED_X0,
                                     error);
  if (den == NULL)
    return NULL;
  CtModel *m = g_new0 (CtModel, 1);
  m->data = ps_dataset_ref (data);
  m->den = den;
  m->D = (int) data->d;
  ps_rng_init (&m->rng, seed, 1);
  PsRng init_rng;
  ps_rng_init (&init_rng, seed, 2);
  ps_model_init (den->net, &init_rng);
  m->train_idx = ps_split_indices (data, PS_SPLIT_TRAIN, FALSE, &m->n_train);
  if (m->n_train == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "%s has no training samples", data->name);
      ct_free (m);
      return NULL;
    }
  m->total = (guint64) ps_params_get_int (params, "steps");
  m->batch = (int) ps_params_get_int (params, "batch_size");
  m->s0 = (int) ps_params_get_int (params, "s0");
  m->s1 = (int) MAX (m->s0, ps_params_get_int (params, "s1"));
  m->sigma_max = ps_params_get_float (params, "sigma_max");
  m->sigma_mid = ps_params_get_float (params, "sigma_mid");
  gsize bd = (gsize) m->batch * m->D;
  m->x0 = g_new (float, bd);
  m->z = g_new (float, bd);
  m->xa = g_new (float, bd);
  m->fa = g_new (float, bd);
  m->xb = g_new (float, bd);
  m->fb = g_new (float, bd);
  m->grad = g_new (float, bd);
  PsOptimConfig cfg;
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, (float) ps_params_get_float (params, "lr"));
  ps_model_set_optimizer (den->net, &cfg);
  return m;
}

static guint64
ct_total_steps (gpointer p)
{
  return ((CtModel *) p)->total;
}

static gboolean
ct_step (gpointer p, PsStepInfo *info, GError **error)
{
  CtModel *m = p;
  const int B = m->batch, D = m->D;
  ct_set_grid (m, ct_n_grid (m));
  g_autofree double *sa = g_new (double, B);
  g_autofree double *sb = g_new (double, B);
  g_autofree float *pdf = g_new (float, m->n_grid - 1);
  for (int i = 0; i < m->n_grid - 1; i++)
    pdf[i] = (float) m->pdf[i];
  for (int b = 0; b < B; b++)
    {
      guint row = m->train_idx[ps_rng_below (&m->rng, m->n_train)];
      int i = (int) ps_rng_categorical (&m->rng, pdf, m->n_grid - 1);
      sa[b] = m->sig[i];
      sb[b] = m->sig[i + 1];
      for (int j = 0; j < D; j++)
        {
          gsize q = (gsize) b * D + j;
          m->x0[q] = m->data->x[(gsize) row * D + j];
          m->z[q] = ps_rng_normal (&m->rng);
          m->xa[q] = m->x0[q] + (float) sa[b] * m->z[q];
          m->xb[q] = m->x0[q] + (float) sb[b] * m->z[q];
        }
    }
  ps_model_set_training (m->den->net, TRUE);
  /* The target: the same network at the smaller noise, no gradient. */
  ct_forward (m, m->fa, m->xa, sa, B);
  ct_forward (m, m->fb, m->xb, sb, B);
  const double c = 0.00054 * sqrt (D);
  double loss = 0;
  for (int b = 0; b < B; b++)
    {
      double d2 = 0;
      for (int j = 0; j < D; j++)
        {
          double d = m->fb[(gsize) b * D + j] - m->fa[(gsize) b * D + j];
          d2 += d * d;
        }
      double r = sqrt (d2 + c * c);
      double lam = 1.0 / (sb[b] - sa[b]);
      loss += lam * (r - c) / B;
      /* d/dF = lam / B * (fb - fa) / r * c_out(sigma_b). */
      double g = lam / B / r * c_out (sb[b]);
      for (int j = 0; j < D; j++)
        {
          gsize q = (gsize) b * D + j;
          m->grad[q] = (float) (g * (m->fb[q] - m->fa[q]));
        }
    }
  if (!isfinite (loss))
    {
      info->loss = NAN;
      m->step++;
      info->done = m->step >= m->total;
      return TRUE;
    }
  ps_model_zero_grad (m->den->net);
  ps_model_backward (m->den->net, m->grad, PS_BACKWARD_PARAMS);
  ps_model_step (m->den->net);
  m->step++;
  info->loss = loss;
  info->done = m->step >= m->total;
  if (info->metrics)
    ps_metrics_set (info->metrics, "n_discretisation", m->n_grid);
  (void) error;
  return TRUE;
}

/* One- or two-step generation from z[n, D]; x gets the samples, mid (when
 * non-NULL) the one-step result. */
static void
ct_generate (CtModel *m, float *x, const float *z, int n, int n_steps, float *mid, PsRng *rng)
{
  const int D = m->D;
  gboolean was = ps_model_get_training (m->den->net);
  ps_model_set_training (m->den->net, FALSE);
  g_autofree double *sg = g_new (double, n);
  g_autofree float *xin = g_new (float, (gsize) n * D);
  for (int i = 0; i < n; i++)
    sg[i] = m->sigma_max;
  for (gsize q = 0; q < (gsize) n * D; q++)
    xin[q] = (float) m->sigma_max * z[q];
  ct_forward (m, x, xin, sg, n);
  if (mid)
    memcpy (mid, x, (gsize) n * D * sizeof (float));
  if (n_steps >= 2)
    {
      float s = (float) sqrt (m->sigma_mid * m->sigma_mid - SIGMA_MIN * SIGMA_MIN);
      for (int i = 0; i < n; i++)
        sg[i] = m->sigma_mid;
      for (gsize q = 0; q < (gsize) n * D; q++)
        xin[q] = x[q] + s * ps_rng_normal (rng);
      ct_forward (m, x, xin, sg, n);
    }
  ps_model_set_training (m->den->net, was);
}

static PsMetrics *
ct_evaluate (gpointer p)
{
  CtModel *m = p;
  PsMetrics *out = ps_metrics_new ();
  const int n = 2000, D = m->D;
  g_autofree float *z = g_new (float, (gsize) n * D);
  g_autofree float *x = g_new (float, (gsize) n * D);
  g_autofree float *x1 = g_new (float, (gsize) n * D);
  PsRng rng;
  ps_rng_init (&rng, 12345, 3);
  ps_rng_fill_normal (&rng, z, (gsize) n * D, 0.f, 1.f);
  ct_generate (m, x, z, n, 2, x1, &rng);
  g_autoptr (PsDataset) fresh = NULL;
  if (D == 2 && m->data->source && g_str_has_prefix (m->data->source, m->data->name))
    {
      const char *np = strstr (m->data->source, "noise=");
      fresh = ps_dataset_generate_2d (m->data->name, n, np ? g_ascii_strtod (np + 6, NULL) : -1,
                                      987654, NULL);
    }
  g_autofree float *ref = NULL;
  int nref;
  if (fresh)
    {
      ref = g_memdup2 (fresh->x, (gsize) n * D * sizeof (float));
      nref = n;
    }
  else
    {
      guint nt;
      g_autofree guint *rows = ps_split_indices (m->data, PS_SPLIT_TEST, FALSE, &nt);
      ref = ps_gather_rows (m->data, rows, nt);
      nref = (int) nt;
    }
  if (nref > 0)
    {
      ps_metrics_set (out, "swd_1step", ps_sliced_wasserstein (x1, n, ref, nref, D, 128, 5));
      ps_metrics_set (out, "swd_2step", ps_sliced_wasserstein (x, n, ref, nref, D, 128, 5));
    }
  ps_metrics_set (out, "n_discretisation", ct_n_grid (m));
  return out;
}

static GPtrArray *
ct_snapshot (gpointer p)
{
  CtModel *m = p;
  PsDataset *ds = m->data;
  const int S = 256, D = m->D;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  guint n;
  g_autofree guint *rows = ps_snapshot_rows (ds, &n);
  g_autofree float *xd = ps_gather_rows (ds, rows, n);
  ps_snapshot_add_common (out, ds, rows, n, xd);
  /* The same starting noise as the ddpm snapshot (seed 777, stream 5). */
  g_autofree float *z = g_new (float, (gsize) S * D);
  PsRng rng;
  ps_rng_init (&rng, 777, 5);
  ps_rng_fill_normal (&rng, z, (gsize) S * D, 0.f, 1.f);
  g_autofree float *x = g_new (float, (gsize) S * D);
  g_autofree float *x1 = g_new (float, (gsize) S * D);
  ct_generate (m, x, z, S, 2, x1, &rng);
  /* Frames: the noise at sigma_max (in VP units, like the ddpm
   * trajectories), the one-step and the two-step samples. */
  g_autofree float *traj = g_new (float, (gsize) S * 3 * D);
  for (int s = 0; s < S; s++)
    {
      memcpy (traj + ((gsize) s * 3) * D, z + (gsize) s * D, D * sizeof (float));
      memcpy (traj + ((gsize) s * 3 + 1) * D, x1 + (gsize) s * D, D * sizeof (float));
      memcpy (traj + ((gsize) s * 3 + 2) * D, x + (gsize) s * D, D * sizeof (float));
    }
  gsize sh[3] = { S, 3, D };
  g_ptr_array_add (out, ps_array_new ("trajectory", PS_DTYPE_F32, 3, sh, traj));
  float tt[3] = { (float) m->sigma_max, (float) m->sigma_mid, 0.f };
  gsize st[1] = { 3 };
  g_ptr_array_add (out, ps_array_new ("trajectory_t", PS_DTYPE_F32, 1, st, tt));
  g_ptr_array_add (out, ps_array_new_f32 ("samples", x1, S, D));
  g_ptr_array_add (out, ps_array_new_f32 ("samples_2step", x, S, D));
  return out;
}

#define CT_MAGIC 0x31544349u  /* "ICT1" */

static GBytes *
ct_save (gpointer p)
{
  CtModel *m = p;
  return ps_diffusion_ckpt_save (CT_MAGIC, m->step, &m->rng, m->den->net);
}

static gboolean
ct_load (gpointer p, GBytes *blob, GError **error)
{
  CtModel *m = p;
  return ps_diffusion_ckpt_load (blob, CT_MAGIC, "consistency checkpoint", m->den->net,
                                 &m->step, &m->rng, error);
}

const PsMethod ps_method_consistency = {
  .id = "consistency",
  .title = "Consistency training (iCT)",
  .family = "Diffusion",
  .paper = "Song & Dhariwal 2023, Improved Techniques for Training Consistency Models",
  .summary = "A one-step generator trained without a teacher: f(x, sigma) = c_skip x + c_out F "
             "(EDM preconditioning, sigma_data 0.5) is made consistent between adjacent noise "
             "levels of a Karras grid, with the online network under stop-gradient as the "
             "target (no EMA teacher), the pseudo-Huber distance, lognormal sampling of the "
             "level and a discretisation that doubles from s0 to s1 over training. Samples in "
             "one step, or two with re-noising to sigma_mid. The small version is an MLP on "
             "2-D sets or digits.",
  .key_metric = "swd_1step",
  .params = ct_params,
  .n_params = G_N_ELEMENTS (ct_params),
  .create = ct_create,
  .free = ct_free,
  .total_steps = ct_total_steps,
  .step = ct_step,
  .evaluate = ct_evaluate,
  .snapshot = ct_snapshot,
  .explain = NULL,
  .save = ct_save,
  .load = ct_load,
};
