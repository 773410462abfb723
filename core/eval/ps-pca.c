/* ps-pca.c: principal component analysis and a small symmetric
 * eigensolver.
 *
 * The expensive part of PCA on, say, 70000 x 784 images is forming the
 * covariance; that is one blocked ps_sgemm over centred row chunks that
 * computes only the upper block triangle.  The top-k eigenvectors of the
 * d x d covariance then come from subspace iteration with Rayleigh-Ritz:
 * each step costs one l x d by d x d product (l = k plus oversampling),
 * and a Jacobi solve of the tiny l x l projected matrix orders and
 * refines the vectors.  Iteration stops when every kept Ritz pair's
 * residual is small, so the result does not depend on a guessed number of
 * power iterations.
 */
#define G_LOG_DOMAIN "ps-eval"

#include "ps-eval.h"

#include <math.h>
#include <string.h>

#define PCA_CHUNK_ROWS   2048
#define PCA_BLOCK        256
#define PCA_EXPLICIT_MAX 2048

/* ------------------------------------------------------------------ */
/* Symmetric eigensolver                                                */
/* ------------------------------------------------------------------ */

void
ps_eig_sym (double *a, guint n, double *evals, double *evecs)
{
  g_return_if_fail (a != NULL && evals != NULL && evecs != NULL);
  g_autofree double *v = g_new0 (double, (gsize) n * n);
  for (guint i = 0; i < n; i++)
    v[(gsize) i * n + i] = 1.0;
  double norm = 0;
  for (gsize k = 0; k < (gsize) n * n; k++)
    norm += a[k] * a[k];
  /* Cyclic Jacobi: rotate away every off-diagonal entry in turn; a sweep
   * squares the off-diagonal mass once it is small, so few sweeps do. */
  for (int sweep = 0; sweep < 100; sweep++)
    {
      double off = 0;
      for (guint p = 0; p < n; p++)
        for (guint q = p + 1; q < n; q++)
          off += a[(gsize) p * n + q] * a[(gsize) p * n + q];
      if (off <= 1e-30 * norm || off == 0)
        break;
      for (guint p = 0; p < n; p++)
        for (guint q = p + 1; q < n; q++)
          {
            double apq = a[(gsize) p * n + q];
            if (fabs (apq) < 1e-300)
              continue;
            double app = a[(gsize) p * n + p], aqq = a[(gsize) q * n + q];
            double theta = (aqq - app) / (2 * apq);
            double t = (theta >= 0 ? 1.0 : -1.0) / (fabs (theta) + sqrt (theta * theta + 1));
            double c = 1 / sqrt (t * t + 1), s = t * c;
            /* A <- J^T A J with J = rotation in the (p, q) plane. */
            for (guint k = 0; k < n; k++)
              {
                double akp = a[(gsize) k * n + p], akq = a[(gsize) k * n + q];
                a[(gsize) k * n + p] = c * akp - s * akq;
                a[(gsize) k * n + q] = s * akp + c * akq;
              }
            for (guint k = 0; k < n; k++)
              {
                double apk = a[(gsize) p * n + k], aqk = a[(gsize) q * n + k];
                a[(gsize) p * n + k] = c * apk - s * aqk;
                a[(gsize) q * n + k] = s * apk + c * aqk;
              }
            a[(gsize) p * n + q] = a[(gsize) q * n + p] = 0;
            for (guint k = 0; k < n; k++)
              {
                double vkp = v[(gsize) k * n + p], vkq = v[(gsize) k * n + q];
                v[(gsize) k * n + p] = c * vkp - s * vkq;
                v[(gsize) k * n + q] = s * vkp + c * vkq;
              }
          }
    }
  /* Sort decreasing; eigenvectors are the columns of v. */
  g_autofree guint *order = g_new (guint, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    order[i] = i;
  for (guint i = 1; i < n; i++)
    {
      guint o = order[i];
      guint j = i;
      while (j > 0 && a[(gsize) order[j - 1] * n + order[j - 1]] < a[(gsize) o * n + o])
        {
          order[j] = order[j - 1];
          j--;
        }
      order[j] = o;
    }
  for (guint i = 0; i < n; i++)
    {
      evals[i] = a[(gsize) order[i] * n + order[i]];
      for (guint k = 0; k < n; k++)
        evecs[(gsize) i * n + k] = v[(gsize) k * n + order[i]];
    }
}

/* ------------------------------------------------------------------ */
/* PCA                                                                  */
/* ------------------------------------------------------------------ */

void
ps_pca_free (PsPca *pca)
{
  if (!pca)
    return;
  ps_free (pca->mean);
  ps_free (pca->components);
  ps_free (pca->explained_variance);
  ps_free (pca->explained_variance_ratio);
  g_free (pca);
}

/* Copies rows [r0, r0 + m) of x, centred, into buf [m, d]. */
static void
center_rows (float *restrict buf, const float *restrict x, const float *restrict mean,
             guint r0, guint m, guint d)
{
  for (guint i = 0; i < m; i++)
    {
      const float *src = x + (gsize) (r0 + i) * d;
      float *dst = buf + (gsize) i * d;
      for (guint j = 0; j < d; j++)
        dst[j] = src[j] - mean[j];
    }
}

/* cov [d, d] = Xc^T Xc / (n - 1), computing only blocks on and above the
 * diagonal and mirroring them. */
static void
covariance (float *cov, const float *x, const float *mean, guint n, guint d)
{
  guint nb = (d + PCA_BLOCK - 1) / PCA_BLOCK;
  guint bs = (d + nb - 1) / nb;
  guint chunk = MIN (n, PCA_CHUNK_ROWS);
  float *buf = ps_alloc0 ((gsize) chunk * d * sizeof (float));
  memset (cov, 0, (gsize) d * d * sizeof (float));
  for (guint r0 = 0; r0 < n; r0 += chunk)
    {
      guint m = MIN (chunk, n - r0);
      center_rows (buf, x, mean, r0, m, d);
      for (guint bi = 0; bi < nb; bi++)
        for (guint bj = bi; bj < nb; bj++)
          {
            guint i0 = bi * bs, j0 = bj * bs;
            if (i0 >= d || j0 >= d)
              continue;
            guint mi = MIN (bs, d - i0), mj = MIN (bs, d - j0);
            ps_sgemm (TRUE, FALSE, (int) mi, (int) mj, (int) m,
                      1.0f, buf + i0, (int) d, buf + j0, (int) d,
                      1.0f, cov + (gsize) i0 * d + j0, (int) d);
          }
    }
  ps_free (buf);
  float scale = 1.0f / (float) (n - 1);
  for (guint i = 0; i < d; i++)
    for (guint j = i; j < d; j++)
      {
        /* Blocks below the diagonal were never written: mirror them. */
        float v = cov[(gsize) i * d + j] * scale;
        cov[(gsize) i * d + j] = v;
        cov[(gsize) j * d + i] = v;
      }
}

/* z [l, d] = q [l, d] @ Cov, with Cov either explicit or applied through
 * two passes over the centred rows. */
typedef struct
{
  const float *cov;        /* [d, d] or NULL */
  const float *x, *mean;
  guint n, d;
  float *buf, *tmp;        /* implicit path: [chunk, d] and [chunk, l] */
} CovOp;

static void
cov_apply (CovOp *op, const float *q, guint l, float *z)
{
  guint d = op->d;
  if (op->cov)
    {
      ps_sgemm (FALSE, FALSE, (int) l, (int) d, (int) d, 1.0f, q, (int) d, op->cov, (int) d, 0.0f, z, (int) d);
      return;
    }
  memset (z, 0, (gsize) l * d * sizeof (float));
  guint chunk = MIN (op->n, PCA_CHUNK_ROWS);
  for (guint r0 = 0; r0 < op->n; r0 += chunk)
    {
      guint m = MIN (chunk, op->n - r0);
      center_rows (op->buf, op->x, op->mean, r0, m, d);
      /* tmp [m, l] = Xc q^T;  z += tmp^T Xc. */
      ps_sgemm (FALSE, TRUE, (int) m, (int) l, (int) d, 1.0f, op->buf, (int) d, q, (int) d, 0.0f, op->tmp, (int) l);
      ps_sgemm (TRUE, FALSE, (int) l, (int) d, (int) m, 1.0f / (float) (op->n - 1), op->tmp, (int) l,
                op->buf, (int) d, 1.0f, z, (int) d);
    }
}

/* Modified Gram-Schmidt on the rows of q [l, d], in double; a row that
 * collapses (rank deficiency) is replaced by a fresh random direction. */
static void
orthonormalize (float *q, guint l, guint d, PsRng *rng)
{
  g_autofree double *r = g_new (double, (gsize) l * d);
  for (gsize k = 0; k < (gsize) l * d; k++)
    r[k] = q[k];
  for (guint i = 0; i < l; i++)
    {
      double *ri = r + (gsize) i * d;
      for (int attempt = 0; attempt < 3; attempt++)
        {
          double before = 0;
          for (guint k = 0; k < d; k++)
            before += ri[k] * ri[k];
          /* Two rounds of projection keep orthogonality at double precision. */
          for (int round = 0; round < 2; round++)
            for (guint j = 0; j < i; j++)
              {
                const double *rj = r + (gsize) j * d;
                double dot = 0;
                for (guint k = 0; k < d; k++)
                  dot += ri[k] * rj[k];
                for (guint k = 0; k < d; k++)
                  ri[k] -= dot * rj[k];
              }
          double nrm = 0;
          for (guint k = 0; k < d; k++)
            nrm += ri[k] * ri[k];
          if (nrm > 1e-20 * MAX (before, 1e-300) && nrm > 0)
            {
              double inv = 1 / sqrt (nrm);
              for (guint k = 0; k < d; k++)
                ri[k] *= inv;
              break;
            }
          for (guint k = 0; k < d; k++)
            ri[k] = ps_rng_normal (rng);
        }
    }
  for (gsize k = 0; k < (gsize) l * d; k++)
    q[k] = (float) r[k];
}

PsPca *
ps_pca_fit (const float *x, guint n, guint d, guint k, guint64 seed, GError **error)
{
  g_return_val_if_fail (x != NULL, NULL);
  if (n < 2 || k == 0 || k > MIN (n, d))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                   "PCA: cannot take %u components of %u samples with %u features", k, n, d);
      return NULL;
    }
  if (!ps_all_finite (x, (gsize) n * d))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "PCA: the data hold NaN or infinite values");
      return NULL;
    }
  PsPca *pca = g_new0 (PsPca, 1);
  pca->d = d;
  pca->k = k;
  pca->mean = ps_alloc0 ((gsize) d * sizeof (float));
  pca->components = ps_alloc0 ((gsize) k * d * sizeof (float));
  pca->explained_variance = ps_alloc0 ((gsize) k * sizeof (float));
  pca->explained_variance_ratio = ps_alloc0 ((gsize) k * sizeof (float));

  g_autofree double *sum = g_new0 (double, d);
  for (guint i = 0; i < n; i++)
    {
      const float *row = x + (gsize) i * d;
      for (guint j = 0; j < d; j++)
        sum[j] += row[j];
    }
  for (guint j = 0; j < d; j++)
    pca->mean[j] = (float) (sum[j] / n);

  CovOp op = { NULL, x, pca->mean, n, d, NULL, NULL };
  float *cov = NULL;
  gboolean explicit = d <= PCA_EXPLICIT_MAX;
  /* Oversampling: extra directions make the gap that drives convergence
   * lambda_(l+1) / lambda_k instead of lambda_(k+1) / lambda_k. */
  guint l = MIN (d, k + MAX (10u, k / 2));
  double total = 0;
  if (explicit)
    {
      cov = ps_alloc0 ((gsize) d * d * sizeof (float));
      double t0 = ps_now ();
      covariance (cov, x, pca->mean, n, d);
      g_debug ("PCA: covariance of %u x %u in %.3f s", n, d, ps_now () - t0);
      for (guint j = 0; j < d; j++)
        total += cov[(gsize) j * d + j];
      op.cov = cov;
    }
  else
    {
      for (guint i = 0; i < n; i++)
        {
          const float *row = x + (gsize) i * d;
          for (guint j = 0; j < d; j++)
            {
              double t = row[j] - pca->mean[j];
              sum[j] = (i == 0 ? 0 : sum[j]) + t * t;
            }
        }
      for (guint j = 0; j < d; j++)
        total += sum[j] / (n - 1);
      guint chunk = MIN (n, PCA_CHUNK_ROWS);
      op.buf = ps_alloc0 ((gsize) chunk * d * sizeof (float));
      op.tmp = ps_alloc0 ((gsize) chunk * l * sizeof (float));
    }
  pca->total_variance = total;

  PsRng rng;
  ps_rng_init (&rng, seed, 0x9ca);
  float *q = ps_alloc0 ((gsize) l * d * sizeof (float));
  float *z = ps_alloc0 ((gsize) l * d * sizeof (float));
  float *y = ps_alloc0 ((gsize) l * d * sizeof (float));
  float *u = ps_alloc0 ((gsize) l * d * sizeof (float));
  float *wf = ps_alloc0 ((gsize) l * l * sizeof (float));
  float *bf = ps_alloc0 ((gsize) l * l * sizeof (float));
  g_autofree double *b = g_new (double, (gsize) l * l);
  g_autofree double *theta = g_new (double, l);
  g_autofree double *w = g_new (double, (gsize) l * l);
  ps_rng_fill_normal (&rng, q, (gsize) l * d, 0.f, 1.f);
  orthonormalize (q, l, d, &rng);

  /* The implicit path pays two passes over x per step, so it takes a
   * fixed budget like randomized PCA; the explicit one iterates to
   * convergence (capped for pathological spectra). */
  guint max_iter = 10;
  if (explicit)
    {
      /* A step costs 2 l d^2 flops against about 1.25 n d^2 for the
       * covariance; capping the steps at half that keeps a flat spectrum
       * (slow convergence) from costing more than the covariance did. */
      double budget = 0.3 * (double) n / l;
      max_iter = (guint) CLAMP (budget, 30.0, 1000.0);
    }
  double prev_captured = 0;
  for (guint it = 0; it < max_iter; it++)
    {
      cov_apply (&op, q, l, z);
      /* Rayleigh-Ritz: b = q Cov q^T = z q^T, solved exactly. */
      ps_sgemm (FALSE, TRUE, (int) l, (int) l, (int) d, 1.0f, z, (int) d, q, (int) d, 0.0f, bf, (int) l);
      for (guint i = 0; i < l; i++)
        for (guint j = 0; j < l; j++)
          b[(gsize) i * l + j] = 0.5 * ((double) bf[(gsize) i * l + j] + bf[(gsize) j * l + i]);
      ps_eig_sym (b, l, theta, w);
      for (gsize t = 0; t < (gsize) l * l; t++)
        wf[t] = (float) w[t];
      /* u = w q (Ritz vectors), y = w z (= Cov applied to them). */
      ps_sgemm (FALSE, FALSE, (int) l, (int) d, (int) l, 1.0f, wf, (int) l, q, (int) d, 0.0f, u, (int) d);
      ps_sgemm (FALSE, FALSE, (int) l, (int) d, (int) l, 1.0f, wf, (int) l, z, (int) d, 0.0f, y, (int) d);
      double worst = 0;
      for (guint i = 0; i < k; i++)
        {
          double r2 = 0;
          for (guint j = 0; j < d; j++)
            {
              double t = y[(gsize) i * d + j] - theta[i] * u[(gsize) i * d + j];
              r2 += t * t;
            }
          worst = MAX (worst, sqrt (r2));
        }
      /* Residuals relative to the largest eigenvalue; float arithmetic
       * limits how far below 1e-6 this can go. */
      /* The variance captured by the top k only grows, and converges about
       * twice as fast (in log terms) as the vectors; once it stops moving
       * the remaining vector error lies within near-degenerate eigenvalues
       * (a flat spectrum, noise), where more iterations buy nothing. */
      double captured = 0;
      for (guint i = 0; i < k; i++)
        captured += theta[i];
      gboolean stalled = it >= 10 && captured - prev_captured <= 1e-7 * captured;
      prev_captured = captured;
      if (worst <= 2e-6 * MAX (theta[0], 1e-30) || stalled || it + 1 == max_iter)
        {
          g_debug ("PCA: %u subspace iterations, relative residual %.2g", it + 1, worst / MAX (theta[0], 1e-30));
          break;
        }
      memcpy (q, y, (gsize) l * d * sizeof (float));
      orthonormalize (q, l, d, &rng);
    }

  for (guint i = 0; i < k; i++)
    {
      float *dst = pca->components + (gsize) i * d;
      /* Renormalise the Ritz vector and fix its sign: largest entry > 0. */
      double nrm = 0;
      guint arg = 0;
      for (guint j = 0; j < d; j++)
        {
          nrm += (double) u[(gsize) i * d + j] * u[(gsize) i * d + j];
          if (fabsf (u[(gsize) i * d + j]) > fabsf (u[(gsize) i * d + arg]))
            arg = j;
        }
      double s = (u[(gsize) i * d + arg] < 0 ? -1.0 : 1.0) / sqrt (MAX (nrm, 1e-300));
      for (guint j = 0; j < d; j++)
        dst[j] = (float) (u[(gsize) i * d + j] * s);
      pca->explained_variance[i] = (float) MAX (theta[i], 0.0);
      pca->explained_variance_ratio[i] = total > 0 ? (float) (MAX (theta[i], 0.0) / total) : 0.f;
    }

  ps_free (q);
  ps_free (z);
  ps_free (y);
  ps_free (u);
  ps_free (wf);
  ps_free (bf);
  ps_free (cov);
  ps_free (op.buf);
  ps_free (op.tmp);
  return pca;
}

void
ps_pca_transform (const PsPca *pca, const float *x, guint n, float *out)
{
  g_return_if_fail (pca != NULL && (x != NULL || n == 0) && (out != NULL || n == 0));
  guint d = pca->d, k = pca->k;
  if (n == 0)
    return;
  /* out = x W^T - (W mean)^T broadcast: one GEMM and no centred copy. */
  ps_sgemm (FALSE, TRUE, (int) n, (int) k, (int) d, 1.0f, x, (int) d, pca->components, (int) d, 0.0f, out, (int) k);
  g_autofree float *shift = g_new (float, k);
  for (guint c = 0; c < k; c++)
    {
      double s = 0;
      for (guint j = 0; j < d; j++)
        s += (double) pca->components[(gsize) c * d + j] * pca->mean[j];
      shift[c] = (float) s;
    }
  for (guint i = 0; i < n; i++)
    for (guint c = 0; c < k; c++)
      out[(gsize) i * k + c] -= shift[c];
}
