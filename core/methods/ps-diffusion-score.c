/* ps-diffusion-score.c: analytic scores (Gaussian fit, known 2-D mixtures,
 * the training set as deltas), the Gaussian PF-ODE jump, and the 2-D
 * measures (sliced Wasserstein, energy distance, modes and off-support).
 */
#define G_LOG_DOMAIN "ps-diffusion"

#include "ps-diffusion.h"
#include "../eval/ps-eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

PsGmm *
ps_gmm_new (int K, int D, gboolean full_cov)
{
  g_return_val_if_fail (K >= 1 && D >= 1, NULL);
  PsGmm *g = g_new0 (PsGmm, 1);
  g->K = K;
  g->D = D;
  g->weights = g_new (double, K);
  for (int k = 0; k < K; k++)
    g->weights[k] = 1.0 / K;
  g->means = g_new0 (double, (gsize) K * D);
  if (full_cov)
    g->cov = g_new0 (double, (gsize) K * D * D);
  else
    g->var = g_new0 (double, K);
  return g;
}

void
ps_gmm_free (PsGmm *g)
{
  if (g == NULL)
    return;
  g_free (g->weights);
  g_free (g->means);
  g_free (g->cov);
  g_free (g->var);
  g_free (g);
}

PsGmm *
ps_gmm_gaussian_fit (const float *x, int n, int D)
{
  g_return_val_if_fail (n >= 2, NULL);
  PsGmm *g = ps_gmm_new (1, D, TRUE);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < D; j++)
      g->means[j] += x[(gsize) i * D + j];
  for (int j = 0; j < D; j++)
    g->means[j] /= n;
  for (int i = 0; i < n; i++)
    for (int a = 0; a < D; a++)
      {
        double da = x[(gsize) i * D + a] - g->means[a];
        for (int b = 0; b <= a; b++)
          g->cov[a * D + b] += da * (x[(gsize) i * D + b] - g->means[b]);
      }
  for (int a = 0; a < D; a++)
    for (int b = 0; b <= a; b++)
      {
        g->cov[a * D + b] /= n;
        g->cov[b * D + a] = g->cov[a * D + b];
      }
  return g;
}

PsGmm *
ps_gmm_delta_mixture (const float *x, int n, int D)
{
  PsGmm *g = ps_gmm_new (n, D, FALSE);
  for (gsize i = 0; i < (gsize) n * D; i++)
    g->means[i] = x[i];
  return g;
}

PsGmm *
ps_gmm_for_generator (const char *kind, double noise)
{
  PsGmm *g = NULL;
  if (g_strcmp0 (kind, "ring") == 0)
    {
      g = ps_gmm_new (8, 2, FALSE);
      for (int k = 0; k < 8; k++)
        {
          g->means[2 * k] = 2.0 * cos (2 * G_PI * k / 8.0);
          g->means[2 * k + 1] = 2.0 * sin (2 * G_PI * k / 8.0);
        }
    }
  else if (g_strcmp0 (kind, "grid") == 0)
    {
      g = ps_gmm_new (25, 2, FALSE);
      for (int k = 0; k < 25; k++)
        {
          g->means[2 * k] = (double) (k % 5) - 2.0;
          g->means[2 * k + 1] = (double) (k / 5) - 2.0;
        }
    }
  else if (g_strcmp0 (kind, "blobs") == 0)
    {
      static const double c[4][2] = { { -2.5, -2.5 }, { 2.5, -2.5 }, { -2.5, 2.5 }, { 2.5, 2.5 } };
      g = ps_gmm_new (4, 2, FALSE);
      memcpy (g->means, c, sizeof c);
    }
  if (g)
    for (int k = 0; k < g->K; k++)
      g->var[k] = noise * noise;
  return g;
}

/* Cholesky of a[D, D] in place (lower); returns FALSE if not positive definite. */
static gboolean
cholesky (double *a, int D)
{
  for (int j = 0; j < D; j++)
    {
      double s = a[j * D + j];
      for (int k = 0; k < j; k++)
        s -= a[j * D + k] * a[j * D + k];
      if (s <= 0)
        return FALSE;
      a[j * D + j] = sqrt (s);
      for (int i = j + 1; i < D; i++)
        {
          double v = a[i * D + j];
          for (int k = 0; k < j; k++)
            v -= a[i * D + k] * a[j * D + k];
          a[i * D + j] = v / a[j * D + j];
        }
    }
  return TRUE;
}

void
ps_gmm_score (const PsGmm *g, float *score, const float *x, int n, double ab)
{
  /* Each component diffuses to N(sqrt(ab) mu, ab Sigma + (1 - ab) I); the
   * mixture's score is the responsibility-weighted sum of the components'
   * scores -C^-1 (x - m).  Responsibilities in log space (deltas make them
   * extremely peaked at small noise). */
  const int K = g->K, D = g->D;
  const double sa = sqrt (ab);
  g_autofree double *chol = g->cov ? g_new (double, (gsize) K * D * D) : NULL;
  g_autofree double *logdet = g_new (double, K);
  for (int k = 0; k < K; k++)
    {
      if (g->cov)
        {
          double *c = chol + (gsize) k * D * D;
          for (int a = 0; a < D * D; a++)
            c[a] = ab * g->cov[(gsize) k * D * D + a];
          for (int a = 0; a < D; a++)
            c[a * D + a] += 1.0 - ab;
          if (!cholesky (c, D))
            {
              /* Numerically singular: regularise a little. */
              for (int a = 0; a < D * D; a++)
                c[a] = ab * g->cov[(gsize) k * D * D + a];
              for (int a = 0; a < D; a++)
                c[a * D + a] += 1.0 - ab + 1e-9;
              cholesky (c, D);
            }
          double ld = 0;
          for (int a = 0; a < D; a++)
            ld += 2 * log (c[a * D + a]);
          logdet[k] = ld;
        }
      else
        logdet[k] = D * log (ab * g->var[k] + 1.0 - ab);
    }
  g_autofree double *logp = g_new (double, K);
  g_autofree double *comp = g_new (double, (gsize) K * D);   /* -C^-1 (x - m) per component */
  g_autofree double *z = g_new (double, D);
  for (int i = 0; i < n; i++)
    {
      const float *xi = x + (gsize) i * D;
      double best = -INFINITY;
      for (int k = 0; k < K; k++)
        {
          double *ck = comp + (gsize) k * D;
          const double *mu = g->means + (gsize) k * D;
          double quad = 0;
          if (g->cov)
            {
              const double *L = chol + (gsize) k * D * D;
              for (int a = 0; a < D; a++)
                {
                  double v = xi[a] - sa * mu[a];
                  for (int b = 0; b < a; b++)
                    v -= L[a * D + b] * z[b];
                  z[a] = v / L[a * D + a];
                  quad += z[a] * z[a];
                }
              /* C^-1 (x - m) = L^-T z. */
              for (int a = D - 1; a >= 0; a--)
                {
                  double v = z[a];
                  for (int b = a + 1; b < D; b++)
                    v -= L[b * D + a] * ck[b];
                  ck[a] = v / L[a * D + a];
                }
              for (int a = 0; a < D; a++)
                ck[a] = -ck[a];
            }
          else
            {
              double c = ab * g->var[k] + 1.0 - ab;
              for (int a = 0; a < D; a++)
                {
                  double v = xi[a] - sa * mu[a];
                  quad += v * v / c;
                  ck[a] = -v / c;
                }
            }
          logp[k] = log (g->weights[k]) - 0.5 * (quad + logdet[k]);
          if (logp[k] > best)
            best = logp[k];
        }
      double tot = 0;
      for (int k = 0; k < K; k++)
        {
          logp[k] = exp (logp[k] - best);
          tot += logp[k];
        }
      float *si = score + (gsize) i * D;
      for (int a = 0; a < D; a++)
        {
          double v = 0;
          for (int k = 0; k < K; k++)
            v += logp[k] * comp[(gsize) k * D + a];
          si[a] = (float) (v / tot);
        }
    }
}

void
ps_gmm_eps_func (gpointer user, float *eps, const float *x, int n, int t, const int *cls)
{
  PsGmmEps *e = user;
  const PsGmm *g = e->gmm;
  double ab = e->sched->alpha_bar[t];
  float c = (float) (-sqrt (1.0 - ab));
  if (cls == NULL)
    ps_gmm_score (g, eps, x, n, ab);
  else
    {
      /* Class-conditional: the component named by the class (a one-row
       * view of the mixture), or the whole mixture for -1. */
      for (int i = 0; i < n; i++)
        {
          const float *xi = x + (gsize) i * g->D;
          float *ei = eps + (gsize) i * g->D;
          int k = cls[i];
          if (k < 0 || k >= g->K)
            {
              ps_gmm_score (g, ei, xi, 1, ab);
              continue;
            }
          PsGmm one = { 1, g->D, (double[]) { 1.0 }, g->means + (gsize) k * g->D,
                        g->cov ? g->cov + (gsize) k * g->D * g->D : NULL,
                        g->var ? g->var + k : NULL };
          ps_gmm_score (&one, ei, xi, 1, ab);
        }
    }
  for (gsize i = 0; i < (gsize) n * g->D; i++)
    eps[i] *= c;
}

void
ps_gmm_gaussian_jump (const PsGmm *g, const PsDiffSchedule *s, float *x, int n, int t_from,
                      int t_to)
{
  g_return_if_fail (g->K == 1 && g->cov != NULL);
  const int D = g->D;
  g_autofree double *a = g_memdup2 (g->cov, (gsize) D * D * sizeof (double));
  g_autofree double *lam = g_new (double, D);
  g_autofree double *U = g_new (double, (gsize) D * D);   /* eigenvectors as rows */
  ps_eig_sym (a, D, lam, U);
  double s0 = s->sigma[t_from], s1 = s->sigma[t_to];
  double r0 = sqrt (s->alpha_bar[t_from]), r1 = sqrt (s->alpha_bar[t_to]);
  g_autofree double *f = g_new (double, D);
  for (int k = 0; k < D; k++)
    {
      double l = MAX (lam[k], 0.0);
      f[k] = sqrt ((l + s1 * s1) / (l + s0 * s0));
    }
  g_autofree double *y = g_new (double, D);
  g_autofree double *c = g_new (double, D);
  for (int i = 0; i < n; i++)
    {
      float *xi = x + (gsize) i * D;
      for (int a2 = 0; a2 < D; a2++)
        y[a2] = xi[a2] / r0 - g->means[a2];
      for (int k = 0; k < D; k++)
        {
          double v = 0;
          for (int a2 = 0; a2 < D; a2++)
            v += U[(gsize) k * D + a2] * y[a2];
          c[k] = v * f[k];
        }
      for (int a2 = 0; a2 < D; a2++)
        {
          double v = g->means[a2];
          for (int k = 0; k < D; k++)
            v += U[(gsize) k * D + a2] * c[k];
          xi[a2] = (float) (v * r1);
        }
    }
}

/* ---- Measures --------------------------------------------------------- */

static int
cmp_float (const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}

double
ps_sliced_wasserstein (const float *a, int na, const float *b, int nb, int D, int n_proj,
                       guint64 seed)
{
  g_return_val_if_fail (na > 0 && nb > 0 && n_proj > 0, NAN);
  PsRng rng;
  ps_rng_init (&rng, seed, 77);
  g_autofree float *pa = g_new (float, na);
  g_autofree float *pb = g_new (float, nb);
  g_autofree float *dir = g_new (float, D);
  const int M = MIN (na, nb);
  double total = 0;
  for (int p = 0; p < n_proj; p++)
    {
      double nrm = 0;
      for (int j = 0; j < D; j++)
        {
          dir[j] = ps_rng_normal (&rng);
          nrm += (double) dir[j] * dir[j];
        }
      nrm = sqrt (nrm);
      for (int j = 0; j < D; j++)
        dir[j] = (float) (dir[j] / nrm);
      for (int i = 0; i < na; i++)
        {
          double v = 0;
          for (int j = 0; j < D; j++)
            v += (double) a[(gsize) i * D + j] * dir[j];
          pa[i] = (float) v;
        }
      for (int i = 0; i < nb; i++)
        {
          double v = 0;
          for (int j = 0; j < D; j++)
            v += (double) b[(gsize) i * D + j] * dir[j];
          pb[i] = (float) v;
        }
      qsort (pa, na, sizeof (float), cmp_float);
      qsort (pb, nb, sizeof (float), cmp_float);
      double acc = 0;
      for (int q = 0; q < M; q++)
        {
          int ia = (int) ((q + 0.5) * na / M), ib = (int) ((q + 0.5) * nb / M);
          acc += fabs ((double) pa[MIN (ia, na - 1)] - pb[MIN (ib, nb - 1)]);
        }
      total += acc / M;
    }
  return total / n_proj;
}

static double
mean_dist (const float *a, int na, const float *b, int nb, int D)
{
  double acc = 0;
  for (int i = 0; i < na; i++)
    for (int k = 0; k < nb; k++)
      {
        double s = 0;
        for (int j = 0; j < D; j++)
          {
            double d = (double) a[(gsize) i * D + j] - b[(gsize) k * D + j];
            s += d * d;
          }
        acc += sqrt (s);
      }
  return acc / ((double) na * nb);
}

double
ps_energy_distance (const float *a, int na, const float *b, int nb, int D)
{
  g_return_val_if_fail (na > 0 && nb > 0, NAN);
  return 2 * mean_dist (a, na, b, nb, D) - mean_dist (a, na, a, na, D) - mean_dist (b, nb, b, nb, D);
}

void
ps_mode_stats (const PsGmm *g, const float *x, int n, int *modes_covered, double *off_support,
               int *on_mode)
{
  const int K = g->K, D = g->D;
  g_autofree int *count = g_new0 (int, K);
  int off = 0;
  for (int i = 0; i < n; i++)
    {
      int best = -1;
      double bd = INFINITY;
      for (int k = 0; k < K; k++)
        {
          double s = 0;
          for (int j = 0; j < D; j++)
            {
              double d = x[(gsize) i * D + j] - g->means[(gsize) k * D + j];
              s += d * d;
            }
          double var = g->var ? g->var[k] : 0;
          if (g->cov)
            for (int j = 0; j < D; j++)
              var += g->cov[(gsize) k * D * D + j * D + j] / D;
          /* Within 3 standard deviations of the centre (at least 0.15 so
           * that nearly noiseless mixtures keep a usable disc). */
          double r = 3.0 * MAX (sqrt (var), 0.05);
          if (s <= r * r && s < bd)
            {
              bd = s;
              best = k;
            }
        }
      if (best < 0)
        off++;
      else
        count[best]++;
      if (on_mode)
        on_mode[i] = best;
    }
  int covered = 0;
  for (int k = 0; k < K; k++)
    if (count[k] > 0 && count[k] >= 0.1 * n * g->weights[k])
      covered++;
  if (modes_covered)
    *modes_covered = covered;
  if (off_support)
    *off_support = n > 0 ? (double) off / n : NAN;
}
