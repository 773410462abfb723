/* ps-gmm.c: full-covariance Gaussian mixtures by EM (see ps-gmm.h). */
#define G_LOG_DOMAIN "ps-gmm"

#include "ps-gmm.h"
#include "../base/ps-base.h"

#include <math.h>
#include <string.h>

PsGaussMix *
ps_gaussmix_new (int K, int D, double reg)
{
  g_return_val_if_fail (K > 0 && D > 0, NULL);
  PsGaussMix *g = g_new0 (PsGaussMix, 1);
  g->K = K;
  g->D = D;
  g->reg = reg;
  g->weights = g_new0 (double, K);
  g->means = g_new0 (double, (gsize) K * D);
  g->covs = g_new0 (double, (gsize) K * D * D);
  for (int k = 0; k < K; k++)
    {
      g->weights[k] = 1.0 / K;
      for (int j = 0; j < D; j++)
        g->covs[((gsize) k * D + j) * D + j] = 1;
    }
  return g;
}

void
ps_gaussmix_free (PsGaussMix *g)
{
  if (g == NULL)
    return;
  g_free (g->weights);
  g_free (g->means);
  g_free (g->covs);
  g_free (g);
}

PsGaussMix *
ps_gaussmix_copy (const PsGaussMix *g)
{
  PsGaussMix *c = ps_gaussmix_new (g->K, g->D, g->reg);
  memcpy (c->weights, g->weights, g->K * sizeof (double));
  memcpy (c->means, g->means, (gsize) g->K * g->D * sizeof (double));
  memcpy (c->covs, g->covs, (gsize) g->K * g->D * g->D * sizeof (double));
  return c;
}

/* Lower Cholesky factor of a[D, D] into l; FALSE when not positive
 * definite. */
static gboolean
cholesky (double *l, const double *a, int D)
{
  memset (l, 0, (gsize) D * D * sizeof (double));
  for (int i = 0; i < D; i++)
    for (int j = 0; j <= i; j++)
      {
        double s = a[(gsize) i * D + j];
        for (int k = 0; k < j; k++)
          s -= l[(gsize) i * D + k] * l[(gsize) j * D + k];
        if (i == j)
          {
            if (!(s > 0))
              return FALSE;
            l[(gsize) i * D + i] = sqrt (s);
          }
        else
          l[(gsize) i * D + j] = s / l[(gsize) j * D + j];
      }
  return TRUE;
}

/* m = L^-1 (lower triangular) of l[D, D]. */
static void
tri_inverse (double *m, const double *l, int D)
{
  memset (m, 0, (gsize) D * D * sizeof (double));
  for (int j = 0; j < D; j++)
    {
      m[(gsize) j * D + j] = 1.0 / l[(gsize) j * D + j];
      for (int i = j + 1; i < D; i++)
        {
          double s = 0;
          for (int k = j; k < i; k++)
            s += l[(gsize) i * D + k] * m[(gsize) k * D + j];
          m[(gsize) i * D + j] = -s / l[(gsize) i * D + i];
        }
    }
}

double
ps_gaussmix_log_likelihood (const PsGaussMix *g, const float *x, guint n, float *logp_out)
{
  const int K = g->K, D = g->D;
  g_autofree double *l = g_new (double, (gsize) D * D);
  g_autofree double *li = g_new (double, (gsize) D * D);
  g_autofree float *lit = g_new (float, (gsize) D * D);   /* L^-T as float [D, D] */
  g_autofree float *y = g_new (float, (gsize) MAX (n, 1) * D);
  g_autofree double *shift = g_new (double, D);
  float *logp = logp_out ? logp_out : g_new (float, (gsize) MAX (n, 1) * K);
  const double c0 = -0.5 * D * log (2 * G_PI);
  for (int k = 0; k < K; k++)
    {
      if (!cholesky (l, g->covs + (gsize) k * D * D, D))
        {
          if (logp != logp_out)
            g_free (logp);
          return -INFINITY;
        }
      tri_inverse (li, l, D);
      double logdet = 0;
      for (int j = 0; j < D; j++)
        logdet += log (l[(gsize) j * D + j]);
      /* y = x L^-T - mu L^-T: one GEMM over the data per component. */
      for (int a = 0; a < D; a++)
        for (int b = 0; b < D; b++)
          lit[(gsize) a * D + b] = (float) li[(gsize) b * D + a];
      for (int b = 0; b < D; b++)
        {
          double s = 0;
          for (int a = 0; a < D; a++)
            s += g->means[(gsize) k * D + a] * li[(gsize) b * D + a];
          shift[b] = s;
        }
      ps_sgemm (FALSE, FALSE, (int) n, D, D, 1.f, x, D, lit, D, 0.f, y, D);
      double lw = g->weights[k] > 0 ? log (g->weights[k]) : -INFINITY;
      for (guint i = 0; i < n; i++)
        {
          const float *yi = y + (gsize) i * D;
          double q = 0;
          for (int b = 0; b < D; b++)
            {
              double t = yi[b] - shift[b];
              q += t * t;
            }
          logp[(gsize) i * K + k] = (float) (lw + c0 - logdet - 0.5 * q);
        }
    }
  double total = 0;
  for (guint i = 0; i < n; i++)
    {
      const float *r = logp + (gsize) i * K;
      float mx = r[0];
      for (int k = 1; k < K; k++)
        mx = MAX (mx, r[k]);
      double s = 0;
      for (int k = 0; k < K; k++)
        s += exp ((double) r[k] - mx);
      total += mx + log (s);
    }
  if (logp != logp_out)
    g_free (logp);
  return n ? total / n : 0;
}

void
ps_gaussmix_m_step (PsGaussMix *g, const float *x, guint n, const float *resp)
{
  const int K = g->K, D = g->D;
  g_autofree float *z = g_new (float, (gsize) MAX (n, 1) * D);
  g_autofree float *cov = g_new (float, (gsize) D * D);
  g_autofree double *nk = g_new0 (double, K);
  g_autofree float *mf = g_new (float, (gsize) K * D);
  for (guint i = 0; i < n; i++)
    for (int k = 0; k < K; k++)
      nk[k] += resp[(gsize) i * K + k];
  /* Means: resp^T x in one GEMM. */
  ps_sgemm (TRUE, FALSE, K, D, (int) n, 1.f, resp, K, x, D, 0.f, mf, D);
  double tot = 0;
  for (int k = 0; k < K; k++)
    tot += nk[k];
  for (int k = 0; k < K; k++)
    {
      /* A component without mass keeps its parameters, weight 0. */
      g->weights[k] = tot > 0 ? nk[k] / tot : 0;
      if (nk[k] < 1e-8)
        continue;
      double *mu = g->means + (gsize) k * D;
      for (int j = 0; j < D; j++)
        mu[j] = mf[(gsize) k * D + j] / nk[k];
      /* Scatter of sqrt(r) (x - mu), centred first so float keeps the
       * precision. */
      for (guint i = 0; i < n; i++)
        {
          float s = sqrtf (resp[(gsize) i * K + k]);
          const float *xi = x + (gsize) i * D;
          float *zi = z + (gsize) i * D;
          for (int j = 0; j < D; j++)
            zi[j] = s * (float) (xi[j] - mu[j]);
        }
      ps_sgemm (TRUE, FALSE, D, D, (int) n, 1.f, z, D, z, D, 0.f, cov, D);
      double *c = g->covs + (gsize) k * D * D;
      for (int a = 0; a < D; a++)
        for (int b = 0; b < D; b++)
          c[(gsize) a * D + b] = 0.5 * (cov[(gsize) a * D + b] + cov[(gsize) b * D + a]) / nk[k]
                                 + (a == b ? g->reg : 0);
    }
}

static void
responsibilities (float *resp, const float *logp, guint n, int K, const int *clamp)
{
  for (guint i = 0; i < n; i++)
    {
      const float *r = logp + (gsize) i * K;
      float *o = resp + (gsize) i * K;
      if (clamp && clamp[i] >= 0 && clamp[i] < K)
        {
          for (int k = 0; k < K; k++)
            o[k] = k == clamp[i];
          continue;
        }
      float mx = r[0];
      for (int k = 1; k < K; k++)
        mx = MAX (mx, r[k]);
      double s = 0;
      for (int k = 0; k < K; k++)
        s += exp ((double) r[k] - mx);
      for (int k = 0; k < K; k++)
        o[k] = (float) (exp ((double) r[k] - mx) / s);
    }
}

double
ps_gaussmix_em_step (PsGaussMix *g, const float *x, guint n, const int *clamp, float *resp_out)
{
  const int K = g->K;
  g_autofree float *logp = g_new (float, (gsize) MAX (n, 1) * K);
  double ll = ps_gaussmix_log_likelihood (g, x, n, logp);
  if (clamp)
    {
      /* A labelled sample's likelihood is that of its own component. */
      double adj = 0;
      for (guint i = 0; i < n; i++)
        if (clamp[i] >= 0 && clamp[i] < K)
          {
            const float *r = logp + (gsize) i * K;
            float mx = r[0];
            for (int k = 1; k < K; k++)
              mx = MAX (mx, r[k]);
            double s = 0;
            for (int k = 0; k < K; k++)
              s += exp ((double) r[k] - mx);
            adj += r[clamp[i]] - (mx + log (s));
          }
      ll += n ? adj / n : 0;
    }
  float *resp = resp_out ? resp_out : logp;
  responsibilities (resp, logp, n, K, clamp);
  ps_gaussmix_m_step (g, x, n, resp);
  return ll;
}

double
ps_gaussmix_fit (PsGaussMix *g, const float *x, guint n, const int *clamp, int max_iter, double tol,
            int *n_iter)
{
  double prev = -INFINITY, ll = -INFINITY;
  int it = 0;
  while (it < max_iter)
    {
      ll = ps_gaussmix_em_step (g, x, n, clamp, NULL);
      it++;
      if (fabs (ll - prev) < tol)
        break;
      prev = ll;
    }
  if (n_iter)
    *n_iter = it;
  return ll;
}

void
ps_gaussmix_predict (const PsGaussMix *g, const float *x, guint n, gint32 *assign)
{
  const int K = g->K;
  g_autofree float *logp = g_new (float, (gsize) MAX (n, 1) * K);
  ps_gaussmix_log_likelihood (g, x, n, logp);
  for (guint i = 0; i < n; i++)
    {
      int b = 0;
      for (int k = 1; k < K; k++)
        if (logp[(gsize) i * K + k] > logp[(gsize) i * K + b])
          b = k;
      assign[i] = b;
    }
}
