/* ps-scatter-data.c: reading snapshot arrays, and a two-component PCA.
 *
 * The PCA is a power iteration on the d x d covariance with deflation:
 * embeddings are narrow (tens of columns), so this is instant; core/eval's
 * ps_pca_fit can replace it once it is part of the core build. */
#define G_LOG_DOMAIN "ps-window"

#include "ps-scatter-data.h"

#include <math.h>
#include <string.h>

PsArray *
ps_snapshot_find (GPtrArray *arrays, const char *kind)
{
  for (guint i = 0; i < arrays->len; i++)
    {
      PsArray *a = g_ptr_array_index (arrays, i);
      if (g_strcmp0 (a->kind, kind) == 0)
        return a;
    }
  return NULL;
}

/* A copy of a 1-D array of n values as i32 (NULL if absent or mismatched). */
gint32 *
ps_snapshot_copy_i32 (PsArray *a, gsize n)
{
  if (a == NULL || ps_array_n_elements (a) != n || n == 0)
    return NULL;
  gint32 *out = g_new (gint32, n);
  gconstpointer data = ps_array_data (a, NULL);
  for (gsize i = 0; i < n; i++)
    switch (a->dtype)
      {
      case PS_DTYPE_I32: out[i] = ((const gint32 *) data)[i]; break;
      case PS_DTYPE_I64: out[i] = (gint32) ((const gint64 *) data)[i]; break;
      case PS_DTYPE_U8: out[i] = ((const guint8 *) data)[i]; break;
      case PS_DTYPE_F32: out[i] = (gint32) ((const float *) data)[i]; break;
      case PS_DTYPE_F64: out[i] = (gint32) ((const double *) data)[i]; break;
      }
  return out;
}

float *
ps_snapshot_copy_f32 (PsArray *a, gsize n)
{
  if (a == NULL || ps_array_n_elements (a) != n || n == 0)
    return NULL;
  float *out = g_new (float, n);
  gconstpointer data = ps_array_data (a, NULL);
  for (gsize i = 0; i < n; i++)
    switch (a->dtype)
      {
      case PS_DTYPE_F32: out[i] = ((const float *) data)[i]; break;
      case PS_DTYPE_F64: out[i] = (float) ((const double *) data)[i]; break;
      case PS_DTYPE_I32: out[i] = (float) ((const gint32 *) data)[i]; break;
      case PS_DTYPE_I64: out[i] = (float) ((const gint64 *) data)[i]; break;
      case PS_DTYPE_U8: out[i] = ((const guint8 *) data)[i]; break;
      }
  return out;
}

/* The top two principal axes of rows x [n, d] by power iteration on the
 * d x d covariance (d is an embedding width, small), with deflation.
 * Writes mean[d] and axes[2][d]. */
void
ps_pca2_fit (const float *x, gsize n, gsize d, double *mean, double *axes)
{
  g_autofree double *cov = g_new0 (double, d * d);
  g_autofree double *v = g_new (double, d);
  g_autofree double *w = g_new (double, d);

  memset (mean, 0, d * sizeof (double));
  for (gsize i = 0; i < n; i++)
    for (gsize j = 0; j < d; j++)
      mean[j] += x[i * d + j];
  for (gsize j = 0; j < d; j++)
    mean[j] /= MAX (n, 1);
  for (gsize i = 0; i < n; i++)
    for (gsize a = 0; a < d; a++)
      {
        double xa = x[i * d + a] - mean[a];
        for (gsize b = a; b < d; b++)
          cov[a * d + b] += xa * (x[i * d + b] - mean[b]);
      }
  for (gsize a = 0; a < d; a++)
    for (gsize b = 0; b < a; b++)
      cov[a * d + b] = cov[b * d + a];

  for (int k = 0; k < 2; k++)
    {
      double lambda = 0;
      for (gsize j = 0; j < d; j++)
        v[j] = 1.0 / sqrt ((double) d) + (j == (gsize) k ? 0.5 : 0);
      for (int it = 0; it < 300; it++)
        {
          double norm = 0;
          for (gsize a = 0; a < d; a++)
            {
              double s = 0;
              for (gsize b = 0; b < d; b++)
                s += cov[a * d + b] * v[b];
              w[a] = s;
              norm += s * s;
            }
          norm = sqrt (norm);
          if (norm < 1e-30)
            break;
          double change = 0;
          for (gsize a = 0; a < d; a++)
            {
              change += fabs (w[a] / norm - v[a]);
              v[a] = w[a] / norm;
            }
          lambda = norm;
          if (change < 1e-9 * d)
            break;
        }
      memcpy (axes + k * d, v, d * sizeof (double));
      /* Deflate so the next iteration finds the second axis. */
      for (gsize a = 0; a < d; a++)
        for (gsize b = 0; b < d; b++)
          cov[a * d + b] -= lambda * v[a] * v[b];
    }
}

void
ps_pca2_apply (const double *mean, const double *axes, gsize d, const float *x, gsize n,
            float *ox, float *oy)
{
  for (gsize i = 0; i < n; i++)
    {
      double s0 = 0, s1 = 0;
      for (gsize j = 0; j < d; j++)
        {
          double c = x[i * d + j] - mean[j];
          s0 += c * axes[j];
          s1 += c * axes[d + j];
        }
      ox[i] = (float) s0;
      oy[i] = (float) s1;
    }
}
