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

/* Hot loops get an AVX2+FMA clone picked at load time (the build targets
 * baseline x86-64); fixed 8-lane partial sums keep each clone
 * deterministic. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define GMM_VEC __attribute__ ((target_clones ("arch=x86-64-v3", "default"), \
                                optimize ("tree-vectorize", "vect-cost-model=dynamic")))
#else
#define GMM_VEC
#endif

typedef float V8 __attribute__ ((vector_size (32)));
typedef float V8u __attribute__ ((vector_size (32), aligned (4)));
#define load8(p) (*(const V8u *) (p))
#define hsum8(v) ((((v)[0] + (v)[4]) + ((v)[1] + (v)[5])) + (((v)[2] + (v)[6]) + ((v)[3] + (v)[7])))

/* Rows per block: the whitened block [GMM_BLOCK, K * D] stays a few MB
 * while each GEMM is still large enough for OpenBLAS's threads. */
#define GMM_BLOCK 2048

/* For m rows: logp[i, k] = cst[k] - 0.5 |y[i, k*D:(k+1)*D] - shift[k]|^2. */
static GMM_VEC void
quad_forms (float *logp, const float *y, const float *shift, const float *cst, guint m, int K, int D)
{
  for (guint i = 0; i < m; i++)
    {
      const float *yi = y + (gsize) i * K * D;
      for (int k = 0; k < K; k++)
        {
          const float *yk = yi + (gsize) k * D;
          const float *sk = shift + (gsize) k * D;
          V8 acc = { 0 };
          gsize b = 0;
          for (; b + 8 <= (gsize) D; b += 8)
            {
              V8 t = load8 (yk + b) - load8 (sk + b);
              acc += t * t;
            }
          float q = hsum8 (acc);
          for (; b < (gsize) D; b++)
            q += (yk[b] - sk[b]) * (yk[b] - sk[b]);
          logp[(gsize) i * K + k] = cst[k] - 0.5f * q;
        }
    }
}

/* Log-sum-exp of each row of logp [m, K], summed in double. */
static double
sum_logsumexp (const float *logp, guint m, int K)
{
  double total = 0;
  for (guint i = 0; i < m; i++)
    {
      const float *r = logp + (gsize) i * K;
      float mx = r[0];
      for (int k = 1; k < K; k++)
        mx = MAX (mx, r[k]);
      float s = 0;
      for (int k = 0; k < K; k++)
        s += expf (r[k] - mx);
      total += (double) mx + log (s);
    }
  return total;
}

double
ps_gaussmix_log_likelihood (const PsGaussMix *g, const float *x, guint n, float *logp_out)
{
  const int K = g->K, D = g->D;
  const int KD = K * D;
  g_autofree double *l = g_new (double, (gsize) D * D);
  g_autofree double *li = g_new (double, (gsize) D * D);
  /* W [D, K*D]: column block k is L_k^-T, so x W gives every component's
   * whitened coordinates L_k^-1 x in one GEMM. */
  g_autofree float *w = g_new (float, (gsize) D * KD);
  g_autofree float *shift = g_new (float, (gsize) KD);   /* L_k^-1 mu_k */
  g_autofree float *cst = g_new (float, K);
  const double c0 = -0.5 * D * log (2 * G_PI);
  for (int k = 0; k < K; k++)
    {
      if (!cholesky (l, g->covs + (gsize) k * D * D, D))
        return -INFINITY;
      tri_inverse (li, l, D);
      double logdet = 0;
      for (int j = 0; j < D; j++)
        logdet += log (l[(gsize) j * D + j]);
      for (int a = 0; a < D; a++)
        for (int b = 0; b < D; b++)
          w[(gsize) a * KD + k * D + b] = (float) li[(gsize) b * D + a];
      for (int b = 0; b < D; b++)
        {
          double s = 0;
          for (int a = 0; a <= b; a++)
            s += g->means[(gsize) k * D + a] * li[(gsize) b * D + a];
          shift[k * D + b] = (float) s;
        }
      double lw = g->weights[k] > 0 ? log (g->weights[k]) : -INFINITY;
      cst[k] = (float) (lw + c0 - logdet);
    }
  guint bm = MIN (MAX (n, 1), GMM_BLOCK);
  float *y = ps_alloc0 ((gsize) bm * KD * sizeof (float));
  float *logp = logp_out ? logp_out : ps_alloc0 ((gsize) bm * K * sizeof (float));
  double total = 0;
  for (guint r0 = 0; r0 < n; r0 += GMM_BLOCK)
    {
      guint m = MIN (GMM_BLOCK, n - r0);
      float *lp = logp_out ? logp_out + (gsize) r0 * K : logp;
      ps_sgemm (FALSE, FALSE, (int) m, KD, D, 1.f, x + (gsize) r0 * D, D, w, KD, 0.f, y, KD);
      quad_forms (lp, y, shift, cst, m, K, D);
      total += sum_logsumexp (lp, m, K);
    }
  ps_free (y);
  if (logp != logp_out)
    ps_free (logp);
  return n ? total / n : 0;
}

/* z[m, K*D]: block k of row i is r[i, k] * (x[i] - mu[k]). */
static GMM_VEC void
scale_rows (float *z, const float *x, const float *r, const float *mu, guint m, int K, int D)
{
  for (guint i = 0; i < m; i++)
    {
      const float *xi = x + (gsize) i * D;
      float *zi = z + (gsize) i * K * D;
      for (int k = 0; k < K; k++)
        {
          float rk = r[(gsize) i * K + k];
          const float *mk = mu + (gsize) k * D;
          float *zk = zi + (gsize) k * D;
          for (int a = 0; a < D; a++)
            zk[a] = rk * (xi[a] - mk[a]);
        }
    }
}

void
ps_gaussmix_m_step (PsGaussMix *g, const float *x, guint n, const float *resp)
{
  const int K = g->K, D = g->D;
  const int KD = K * D;
  g_autofree double *nk = g_new0 (double, K);
  g_autofree double *pivot = g_new0 (double, D);
  g_autofree float *pf = g_new (float, D);
  for (guint i = 0; i < n; i++)
    {
      for (int k = 0; k < K; k++)
        nk[k] += resp[(gsize) i * K + k];
      for (int a = 0; a < D; a++)
        pivot[a] += x[(gsize) i * D + a];
    }
  for (int a = 0; a < D; a++)
    {
      pivot[a] = n ? pivot[a] / n : 0;
      pf[a] = (float) pivot[a];
    }
  guint bm = MIN (MAX (n, 1), GMM_BLOCK);
  float *xc = ps_alloc0 ((gsize) bm * D * sizeof (float));
  float *z = ps_alloc0 ((gsize) bm * KD * sizeof (float));
  float *s2 = ps_alloc0 ((gsize) D * KD * sizeof (float));   /* [D, K*D] */
  float *s1 = ps_alloc0 ((gsize) K * D * sizeof (float));    /* [K, D] */
  float *muf = ps_alloc0 ((gsize) K * D * sizeof (float));

  /* Means first: r^T (x - p) / n_k, about the data mean p. */
  for (guint r0 = 0; r0 < n; r0 += GMM_BLOCK)
    {
      guint m = MIN (GMM_BLOCK, n - r0);
      for (guint i = 0; i < m; i++)
        for (int a = 0; a < D; a++)
          xc[(gsize) i * D + a] = x[(gsize) (r0 + i) * D + a] - pf[a];
      ps_sgemm (TRUE, FALSE, K, D, (int) m, 1.f, resp + (gsize) r0 * K, K, xc, D,
                r0 == 0 ? 0.f : 1.f, s1, D);
    }
  double tot = 0;
  for (int k = 0; k < K; k++)
    {
      tot += nk[k];
      for (int a = 0; a < D; a++)
        {
          double mu = nk[k] >= 1e-8 ? pivot[a] + s1[(gsize) k * D + a] / nk[k] : g->means[(gsize) k * D + a];
          muf[(gsize) k * D + a] = (float) mu;
          if (nk[k] >= 1e-8)
            g->means[(gsize) k * D + a] = mu;
        }
    }

  /* Scatter of every component in one GEMM per block of rows:
   * (x - p)^T [r_1 (x - mu_1), ..., r_K (x - mu_K)].  Since
   * sum_i r_ik (x_i - mu_k) = 0, block k is the scatter about mu_k; only
   * the right factor needs each component's own centring for float to
   * keep the precision of thin components. */
  for (guint r0 = 0; r0 < n; r0 += GMM_BLOCK)
    {
      guint m = MIN (GMM_BLOCK, n - r0);
      for (guint i = 0; i < m; i++)
        for (int a = 0; a < D; a++)
          xc[(gsize) i * D + a] = x[(gsize) (r0 + i) * D + a] - pf[a];
      scale_rows (z, x + (gsize) r0 * D, resp + (gsize) r0 * K, muf, m, K, D);
      ps_sgemm (TRUE, FALSE, D, KD, (int) m, 1.f, xc, D, z, KD, r0 == 0 ? 0.f : 1.f, s2, KD);
    }
  for (int k = 0; k < K; k++)
    {
      /* A component without mass keeps its parameters, weight 0. */
      g->weights[k] = tot > 0 ? nk[k] / tot : 0;
      if (nk[k] < 1e-8)
        continue;
      double *c = g->covs + (gsize) k * D * D;
      for (int a = 0; a < D; a++)
        for (int b = 0; b < D; b++)
          c[(gsize) a * D + b] = 0.5 * ((double) s2[(gsize) a * KD + k * D + b]
                                        + s2[(gsize) b * KD + k * D + a]) / nk[k]
                                 + (a == b ? g->reg : 0);
    }
  ps_free (xc);
  ps_free (z);
  ps_free (s2);
  ps_free (s1);
  ps_free (muf);
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
      float s = 0;
      for (int k = 0; k < K; k++)
        {
          o[k] = expf (r[k] - mx);
          s += o[k];
        }
      /* Responsibilities below 1e-20 are flushed to zero: they change no
       * float sum, and as denormals (e^-90 and below) in the M-step's
       * products they made each GEMM several times slower. */
      float inv = 1.f / s;
      for (int k = 0; k < K; k++)
        {
          float v = o[k] * inv;
          o[k] = v < 1e-20f ? 0.f : v;
        }
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
