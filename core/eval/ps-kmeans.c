/* ps-kmeans.c: k-means with greedy k-means++ seeding and Lloyd
 * iterations.
 *
 * All point-to-centre distances come from one GEMM per block of rows,
 * |x - c|^2 = |x|^2 - 2 x.c + |c|^2, which is what makes k-means on
 * 70000 x 784 images take seconds rather than minutes.  The cancellation
 * in that formula can make a tiny distance slightly negative; those are
 * clamped at zero.
 */
#define G_LOG_DOMAIN "ps-eval"

#include "ps-eval.h"

#include <math.h>
#include <string.h>

#define KM_BLOCK_ROWS 4096

/* For rows of x [n, d]: the nearest of centres c [k, d] and its squared
 * distance.  xx[n] and cc[k] are the squared norms; buf holds
 * [KM_BLOCK_ROWS, k].  Returns the sum of the distances. */
static double
nearest (const float *x, const float *xx, guint n, guint d, const float *c, const float *cc, guint k,
         float *buf, gint32 *assign, float *dist2)
{
  double total = 0;
  for (guint r0 = 0; r0 < n; r0 += KM_BLOCK_ROWS)
    {
      guint m = MIN (KM_BLOCK_ROWS, n - r0);
      ps_sgemm (FALSE, TRUE, (int) m, (int) k, (int) d, -2.0f, x + (gsize) r0 * d, (int) d,
                c, (int) d, 0.0f, buf, (int) k);
      for (guint i = 0; i < m; i++)
        {
          const float *row = buf + (gsize) i * k;
          float best = INFINITY;
          guint arg = 0;
          for (guint j = 0; j < k; j++)
            {
              float v = row[j] + cc[j];
              if (v < best)
                {
                  best = v;
                  arg = j;
                }
            }
          float dd = MAX (0.0f, best + xx[r0 + i]);
          if (assign)
            assign[r0 + i] = (gint32) arg;
          if (dist2)
            dist2[r0 + i] = dd;
          total += dd;
        }
    }
  return total;
}

static void
row_norms (float *out, const float *x, guint n, guint d)
{
  for (guint i = 0; i < n; i++)
    {
      const float *row = x + (gsize) i * d;
      double s = 0;
      for (guint j = 0; j < d; j++)
        s += (double) row[j] * row[j];
      out[i] = (float) s;
    }
}

void
ps_kmeans_predict (const float *x, guint n, guint d, const float *centers, guint k,
                   gint32 *assign, float *dist2)
{
  g_return_if_fail (x != NULL && centers != NULL && k > 0);
  float *xx = ps_alloc0 ((gsize) n * sizeof (float));
  float *cc = ps_alloc0 ((gsize) k * sizeof (float));
  float *buf = ps_alloc0 ((gsize) MIN (n, KM_BLOCK_ROWS) * k * sizeof (float));
  row_norms (xx, x, n, d);
  row_norms (cc, centers, k, d);
  nearest (x, xx, n, d, centers, cc, k, buf, assign, dist2);
  ps_free (xx);
  ps_free (cc);
  ps_free (buf);
}

/* dist [n, k] = squared distances from every row to every centre. */
static void
all_distances (float *dist, const float *x, const float *xx, guint n, guint d,
               const float *c, const float *cc, guint k)
{
  ps_sgemm (FALSE, TRUE, (int) n, (int) k, (int) d, -2.0f, x, (int) d, c, (int) d, 0.0f, dist, (int) k);
  for (guint i = 0; i < n; i++)
    for (guint j = 0; j < k; j++)
      dist[(gsize) i * k + j] = MAX (0.0f, dist[(gsize) i * k + j] + xx[i] + cc[j]);
}

/* Greedy k-means++ (Arthur & Vassilvitskii, with 2 + ln k candidates per
 * centre as scikit-learn does): the candidates are drawn together and
 * scored with one GEMM, and the one that lowers the potential most wins. */
static void
seed_plus_plus (const float *x, const float *xx, guint n, guint d, guint k, PsRng *rng,
                float *centers, float *d2, float *buf)
{
  guint trials = 2 + (guint) log ((double) k);
  float *cand = ps_alloc0 ((gsize) trials * d * sizeof (float));
  float *cand_cc = ps_alloc0 ((gsize) trials * sizeof (float));
  float *dist = ps_alloc0 ((gsize) n * trials * sizeof (float));
  g_autofree double *pot = g_new (double, trials);
  guint first = ps_rng_below (rng, n);
  memcpy (centers, x + (gsize) first * d, d * sizeof (float));
  float cc0;
  row_norms (&cc0, centers, 1, d);
  nearest (x, xx, n, d, centers, &cc0, 1, buf, NULL, d2);
  for (guint c = 1; c < k; c++)
    {
      for (guint t = 0; t < trials; t++)
        {
          guint pick = ps_rng_categorical (rng, d2, n);
          memcpy (cand + (gsize) t * d, x + (gsize) pick * d, d * sizeof (float));
        }
      row_norms (cand_cc, cand, trials, d);
      all_distances (dist, x, xx, n, d, cand, cand_cc, trials);
      for (guint t = 0; t < trials; t++)
        pot[t] = 0;
      for (guint i = 0; i < n; i++)
        for (guint t = 0; t < trials; t++)
          pot[t] += MIN (dist[(gsize) i * trials + t], d2[i]);
      guint best = 0;
      for (guint t = 1; t < trials; t++)
        if (pot[t] < pot[best])
          best = t;
      memcpy (centers + (gsize) c * d, cand + (gsize) best * d, d * sizeof (float));
      for (guint i = 0; i < n; i++)
        d2[i] = MIN (d2[i], dist[(gsize) i * trials + best]);
    }
  ps_free (cand);
  ps_free (cand_cc);
  ps_free (dist);
}

double
ps_kmeans (const float *x, guint n, guint d, guint k,
           guint n_init, guint max_iter, double tol, guint64 seed,
           float *centers, gint32 *assign, guint *n_iter, GError **error)
{
  g_return_val_if_fail (x != NULL && centers != NULL, -1);
  if (k == 0 || k > n || d == 0)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM, "k-means: cannot make %u clusters of %u samples", k, n);
      return -1;
    }
  if (!ps_all_finite (x, (gsize) n * d))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_VALUE, "k-means: the data hold NaN or infinite values");
      return -1;
    }
  n_init = MAX (n_init, 1);
  max_iter = MAX (max_iter, 1);

  /* The stopping tolerance is relative to the data's spread, as in
   * scikit-learn: tol times the mean per-feature variance. */
  g_autofree double *mean = g_new0 (double, d);
  g_autofree double *var = g_new0 (double, d);
  for (guint i = 0; i < n; i++)
    for (guint j = 0; j < d; j++)
      mean[j] += x[(gsize) i * d + j];
  for (guint j = 0; j < d; j++)
    mean[j] /= n;
  for (guint i = 0; i < n; i++)
    for (guint j = 0; j < d; j++)
      {
        double t = x[(gsize) i * d + j] - mean[j];
        var[j] += t * t;
      }
  double mean_var = 0;
  for (guint j = 0; j < d; j++)
    mean_var += var[j] / n;
  mean_var /= d;
  double tol_abs = tol * mean_var;

  float *xx = ps_alloc0 ((gsize) n * sizeof (float));
  float *cc = ps_alloc0 ((gsize) k * sizeof (float));
  float *buf = ps_alloc0 ((gsize) MIN (n, KM_BLOCK_ROWS) * MAX (k, 1) * sizeof (float));
  float *d2 = ps_alloc0 ((gsize) n * sizeof (float));
  float *c = ps_alloc0 ((gsize) k * d * sizeof (float));
  gint32 *a = g_new (gint32, n);
  g_autofree double *acc = g_new (double, (gsize) k * d);
  g_autofree guint *count = g_new (guint, k);
  row_norms (xx, x, n, d);

  PsRng rng;
  ps_rng_init (&rng, seed, 0x4b6d);
  double best = INFINITY;
  for (guint run = 0; run < n_init; run++)
    {
      seed_plus_plus (x, xx, n, d, k, &rng, c, d2, buf);
      guint it = 0;
      for (; it < max_iter; it++)
        {
          row_norms (cc, c, k, d);
          nearest (x, xx, n, d, c, cc, k, buf, a, d2);
          memset (acc, 0, (gsize) k * d * sizeof (double));
          memset (count, 0, k * sizeof (guint));
          for (guint i = 0; i < n; i++)
            {
              double *dst = acc + (gsize) a[i] * d;
              const float *row = x + (gsize) i * d;
              for (guint j = 0; j < d; j++)
                dst[j] += row[j];
              count[a[i]]++;
            }
          double shift = 0;
          for (guint j = 0; j < k; j++)
            {
              float *cj = c + (gsize) j * d;
              if (count[j] == 0)
                {
                  /* An empty cluster takes over the point farthest from
                   * its centre, which also lowers the inertia most. */
                  guint far = 0;
                  for (guint i = 1; i < n; i++)
                    if (d2[i] > d2[far])
                      far = i;
                  d2[far] = 0;
                  for (guint t = 0; t < d; t++)
                    {
                      double v = x[(gsize) far * d + t];
                      shift += (v - cj[t]) * (v - cj[t]);
                      cj[t] = (float) v;
                    }
                  continue;
                }
              for (guint t = 0; t < d; t++)
                {
                  double v = acc[(gsize) j * d + t] / count[j];
                  shift += (v - cj[t]) * (v - cj[t]);
                  cj[t] = (float) v;
                }
            }
          if (shift <= tol_abs)
            {
              it++;
              break;
            }
        }
      /* A final assignment step so labels and inertia match the centres. */
      row_norms (cc, c, k, d);
      double inertia = nearest (x, xx, n, d, c, cc, k, buf, a, d2);
      if (inertia < best)
        {
          best = inertia;
          memcpy (centers, c, (gsize) k * d * sizeof (float));
          if (assign)
            memcpy (assign, a, n * sizeof (gint32));
          if (n_iter)
            *n_iter = MIN (it, max_iter);
        }
    }
  ps_free (xx);
  ps_free (cc);
  ps_free (buf);
  ps_free (d2);
  ps_free (c);
  g_free (a);
  return best;
}
