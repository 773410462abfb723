/* ps-diffusion-fd.c: the Frechet distance of the diffusion lab's digits
 * measures.  Features come from a small classifier trained on the data
 * (the FID recipe at our scale: an MLP "D-128r-64r-C" instead of
 * Inception), taken at its 64-wide penultimate layer; the distance is
 * between Gaussian fits of the two feature sets.
 */
#define G_LOG_DOMAIN "ps-diffusion"

#include "ps-diffusion.h"
#include "../eval/ps-eval.h"

#include <math.h>
#include <string.h>

/* Mean [F] and covariance [F, F] of x[n, F] in double. */
static void
gaussian_fit (const float *x, int n, int F, double *mean, double *cov)
{
  memset (mean, 0, F * sizeof (double));
  memset (cov, 0, (gsize) F * F * sizeof (double));
  for (int i = 0; i < n; i++)
    for (int j = 0; j < F; j++)
      mean[j] += x[(gsize) i * F + j];
  for (int j = 0; j < F; j++)
    mean[j] /= MAX (n, 1);
  g_autofree double *d = g_new (double, F);
  for (int i = 0; i < n; i++)
    {
      for (int j = 0; j < F; j++)
        d[j] = x[(gsize) i * F + j] - mean[j];
      for (int j = 0; j < F; j++)
        for (int k = j; k < F; k++)
          cov[(gsize) j * F + k] += d[j] * d[k];
    }
  for (int j = 0; j < F; j++)
    for (int k = j; k < F; k++)
      {
        double v = cov[(gsize) j * F + k] / MAX (n - 1, 1);
        cov[(gsize) j * F + k] = cov[(gsize) k * F + j] = v;
      }
}

double
ps_frechet_distance (const float *a, int na, const float *b, int nb, int F)
{
  g_return_val_if_fail (F > 0 && na > 1 && nb > 1, NAN);
  g_autofree double *ma = g_new (double, F);
  g_autofree double *mb = g_new (double, F);
  g_autofree double *ca = g_new (double, (gsize) F * F);
  g_autofree double *cb = g_new (double, (gsize) F * F);
  gaussian_fit (a, na, F, ma, ca);
  gaussian_fit (b, nb, F, mb, cb);
  double dist = 0, tr = 0;
  for (int j = 0; j < F; j++)
    {
      dist += (ma[j] - mb[j]) * (ma[j] - mb[j]);
      tr += ca[(gsize) j * F + j] + cb[(gsize) j * F + j];
    }
  /* tr((Ca Cb)^(1/2)) = tr((Ca^(1/2) Cb Ca^(1/2))^(1/2)), whose inner
   * matrix is symmetric, so two symmetric eigen-decompositions do. */
  g_autofree double *ev = g_new (double, F);
  g_autofree double *vec = g_new (double, (gsize) F * F);
  g_autofree double *work = g_memdup2 (ca, (gsize) F * F * sizeof (double));
  ps_eig_sym (work, (guint) F, ev, vec);
  g_autofree double *sa = g_new0 (double, (gsize) F * F);  /* Ca^(1/2) */
  for (int k = 0; k < F; k++)
    {
      double s = sqrt (MAX (ev[k], 0.0));
      for (int i = 0; i < F; i++)
        for (int j = 0; j < F; j++)
          sa[(gsize) i * F + j] += s * vec[(gsize) k * F + i] * vec[(gsize) k * F + j];
    }
  g_autofree double *t1 = g_new0 (double, (gsize) F * F);
  g_autofree double *mm = g_new0 (double, (gsize) F * F);
  for (int i = 0; i < F; i++)
    for (int k = 0; k < F; k++)
      {
        double s = sa[(gsize) i * F + k];
        for (int j = 0; j < F; j++)
          t1[(gsize) i * F + j] += s * cb[(gsize) k * F + j];
      }
  for (int i = 0; i < F; i++)
    for (int k = 0; k < F; k++)
      {
        double s = t1[(gsize) i * F + k];
        for (int j = 0; j < F; j++)
          mm[(gsize) i * F + j] += s * sa[(gsize) k * F + j];
      }
  for (int i = 0; i < F; i++)
    for (int j = i + 1; j < F; j++)
      mm[(gsize) i * F + j] = mm[(gsize) j * F + i] =
        0.5 * (mm[(gsize) i * F + j] + mm[(gsize) j * F + i]);
  ps_eig_sym (mm, (guint) F, ev, vec);
  double trs = 0;
  for (int k = 0; k < F; k++)
    trs += sqrt (MAX (ev[k], 0.0));
  return dist + tr - 2.0 * trs;
}

PsModel *
ps_fd_feature_net_train (const float *x, const int *y, int n, int D, int C, int epochs,
                         guint64 seed, GError **error)
{
  g_return_val_if_fail (n > 0 && D > 0 && C > 1, NULL);
  g_autofree char *spec = g_strdup_printf ("%d-128r-%dr-%d", D, PS_FD_FEATURES, C);
  PsModel *net = ps_model_new (spec, error);
  if (net == NULL)
    return NULL;
  PsRng rng;
  ps_rng_init (&rng, seed, 17);
  ps_model_init (net, &rng);
  PsOptimConfig cfg;
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, 1e-3f);
  ps_model_set_optimizer (net, &cfg);
  const int B = 64;
  g_autofree float *xb = g_new (float, (gsize) B * D);
  g_autofree int *yb = g_new (int, B);
  int steps = MAX (1, epochs * n / B);
  for (int s = 0; s < steps; s++)
    {
      for (int b = 0; b < B; b++)
        {
          guint r = ps_rng_below (&rng, (guint32) n);
          memcpy (xb + (gsize) b * D, x + (gsize) r * D, D * sizeof (float));
          yb[b] = y[r];
        }
      float loss;
      if (!ps_model_train_xent_batch (net, xb, yb, B, 0.f, &loss, error))
        {
          ps_model_free (net);
          return NULL;
        }
    }
  ps_model_set_training (net, FALSE);
  return net;
}

void
ps_fd_features (PsModel *net, const float *x, int n, float *feat)
{
  /* The penultimate representation: the last layer of width
   * PS_FD_FEATURES before the output layer (after its ReLU). */
  int L = ps_model_n_layers (net), at = -1;
  for (int i = L - 2; i >= 0 && at < 0; i--)
    if (ps_model_layer (net, i)->out_size == PS_FD_FEATURES)
      at = i;
  g_return_if_fail (at >= 0);
  int D = ps_model_in_size (net);
  for (int s0 = 0; s0 < n; s0 += 256)
    {
      int B = MIN (256, n - s0);
      ps_model_forward (net, x + (gsize) s0 * D, B);
      memcpy (feat + (gsize) s0 * PS_FD_FEATURES, ps_model_layer_output (net, at),
              (gsize) B * PS_FD_FEATURES * sizeof (float));
    }
}
