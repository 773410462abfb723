/* ps-ood.c: OOD scores and their metrics (the set-up is in ps-proto-net.c). */
#define G_LOG_DOMAIN "ps-ood"

#include "ps-ood.h"
#include "ps-method-util.h"
#include "../eval/ps-eval.h"
#include "../nn/ps-layers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char * const score_names[PS_OOD_N_SCORES] = {
  "proto", "knn", "mahalanobis", "msp", "energy",
};

const char *
ps_ood_score_name (PsOodScore score)
{
  g_return_val_if_fail (score < PS_OOD_N_SCORES, NULL);
  return score_names[score];
}

gboolean
ps_ood_score_from_name (const char *name, PsOodScore *out)
{
  for (int s = 0; s < PS_OOD_N_SCORES; s++)
    if (g_strcmp0 (name, score_names[s]) == 0)
      {
        *out = (PsOodScore) s;
        return TRUE;
      }
  return FALSE;
}

/* ---- Scores ---------------------------------------------------------- */

void
ps_ood_proto_score (float *score, const float *z, int N, const float *protos, int K, int E,
                    PsSimilarity kind)
{
  if (N <= 0)
    return;
  if (K <= 0)
    {
      for (int i = 0; i < N; i++)
        score[i] = NAN;
      return;
    }
  g_autofree float *sim = g_new (float, (gsize) N * K);
  ps_proto_similarity (sim, z, protos, N, K, E, kind);
  for (int i = 0; i < N; i++)
    {
      float best = -INFINITY;
      for (int k = 0; k < K; k++)
        best = MAX (best, sim[(gsize) i * K + k]);
      score[i] = kind == PS_SIM_COSINE ? 1.f - best : -best;
    }
}

void
ps_ood_knn_score (float *score, const float *z, int N, const float *bank, int M, int E, int k)
{
  if (N <= 0)
    return;
  if (M <= 0)
    {
      for (int i = 0; i < N; i++)
        score[i] = NAN;
      return;
    }
  k = CLAMP (k, 1, M);
  g_autofree float *zn = g_memdup2 (z, (gsize) N * E * sizeof (float));
  g_autofree float *bn = g_memdup2 (bank, (gsize) M * E * sizeof (float));
  ps_proto_normalize_rows (zn, N, E);
  ps_proto_normalize_rows (bn, M, E);
  /* Rows in blocks so the similarity matrix stays small; each row keeps its
   * k largest cosines in a sorted list (k is tens, M thousands). */
  const int blk = 256;
  g_autofree float *sim = g_new (float, (gsize) blk * M);
  g_autofree float *top = g_new (float, k);
  for (int s = 0; s < N; s += blk)
    {
      int B = MIN (blk, N - s);
      ps_sgemm (FALSE, TRUE, B, M, E, 1.f, zn + (gsize) s * E, E, bn, E, 0.f, sim, M);
      for (int b = 0; b < B; b++)
        {
          const float *r = sim + (gsize) b * M;
          int have = 0;
          for (int j = 0; j < M; j++)
            {
              float v = r[j];
              if (have == k && v <= top[k - 1])
                continue;
              int pos = have < k ? have++ : k - 1;
              while (pos > 0 && top[pos - 1] < v)
                {
                  top[pos] = top[pos - 1];
                  pos--;
                }
              top[pos] = v;
            }
          /* |a - b| for unit vectors is sqrt(2 - 2 cos). */
          score[s + b] = sqrtf (MAX (0.f, 2.f - 2.f * top[k - 1]));
        }
    }
}

void
ps_ood_msp_score (float *score, const float *logits, int N, int C)
{
  for (int i = 0; i < N; i++)
    {
      const float *l = logits + (gsize) i * C;
      float mx = -INFINITY;
      for (int c = 0; c < C; c++)
        mx = MAX (mx, l[c]);
      double tot = 0;
      for (int c = 0; c < C; c++)
        tot += exp ((double) l[c] - mx);
      score[i] = (float) (-1.0 / tot);   /* the largest probability is exp(0) / tot */
    }
}

void
ps_ood_energy_score (float *score, const float *logits, int N, int C, float temperature)
{
  g_return_if_fail (temperature > 0.f);
  for (int i = 0; i < N; i++)
    {
      const float *l = logits + (gsize) i * C;
      double mx = -INFINITY;
      for (int c = 0; c < C; c++)
        mx = MAX (mx, l[c] / temperature);
      double tot = 0;
      for (int c = 0; c < C; c++)
        tot += exp (l[c] / temperature - mx);
      score[i] = (float) (-temperature * (mx + log (tot)));
    }
}

struct _PsMahalanobis
{
  int C, F;
  float *white;     /* [F, F] L^-1 with Sigma = L L^T */
  float *wmeans;    /* [C, F] whitened class means */
};

void
ps_mahalanobis_free (PsMahalanobis *m)
{
  if (m == NULL)
    return;
  g_free (m->white);
  g_free (m->wmeans);
  g_free (m);
}

PsMahalanobis *
ps_mahalanobis_fit (const float *feat, const int *y, int N, int C, int F, double ridge,
                    GError **error)
{
  g_autofree double *mean = g_new0 (double, (gsize) C * F);
  g_autofree int *count = g_new0 (int, C);
  for (int i = 0; i < N; i++)
    if (y[i] >= 0 && y[i] < C)
      {
        count[y[i]]++;
        for (int j = 0; j < F; j++)
          mean[(gsize) y[i] * F + j] += feat[(gsize) i * F + j];
      }
  int used = 0;
  for (int c = 0; c < C; c++)
    {
      if (count[c] == 0)
        {
          g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                       "Mahalanobis: class %d has no training sample", c);
          return NULL;
        }
      used += count[c];
      for (int j = 0; j < F; j++)
        mean[(gsize) c * F + j] /= count[c];
    }
  /* Shared within-class covariance, in double. */
  g_autofree double *cov = g_new0 (double, (gsize) F * F);
  g_autofree double *d = g_new (double, F);
  for (int i = 0; i < N; i++)
    {
      if (y[i] < 0 || y[i] >= C)
        continue;
      for (int j = 0; j < F; j++)
        d[j] = feat[(gsize) i * F + j] - mean[(gsize) y[i] * F + j];
      for (int a = 0; a < F; a++)
        for (int b = 0; b <= a; b++)
          cov[(gsize) a * F + b] += d[a] * d[b];
    }
  double trace = 0;
  for (int a = 0; a < F; a++)
    trace += cov[(gsize) a * F + a] / used;
  /* The ridge keeps dead ReLU units (zero variance) from making the
   * covariance singular. */
  double lift = ridge * trace / F + 1e-9;
  for (int a = 0; a < F; a++)
    {
      for (int b = 0; b <= a; b++)
        cov[(gsize) a * F + b] /= used;
      cov[(gsize) a * F + a] += lift;
    }
  /* Cholesky, lower triangle in place. */
  for (int j = 0; j < F; j++)
    {
      double s = cov[(gsize) j * F + j];
      for (int k = 0; k < j; k++)
        s -= cov[(gsize) j * F + k] * cov[(gsize) j * F + k];
      if (!(s > 0))
        {
          g_set_error (error, PS_ERROR, PS_ERROR_VALUE,
                       "Mahalanobis: the feature covariance is not positive definite");
          return NULL;
        }
      double ljj = sqrt (s);
      cov[(gsize) j * F + j] = ljj;
      for (int i = j + 1; i < F; i++)
        {
          double t = cov[(gsize) i * F + j];
          for (int k = 0; k < j; k++)
            t -= cov[(gsize) i * F + k] * cov[(gsize) j * F + k];
          cov[(gsize) i * F + j] = t / ljj;
        }
    }
  /* L^-1 by forward substitution, column by column. */
  PsMahalanobis *m = g_new0 (PsMahalanobis, 1);
  m->C = C;
  m->F = F;
  m->white = g_new0 (float, (gsize) F * F);
  g_autofree double *col = g_new (double, F);
  for (int c = 0; c < F; c++)
    {
      for (int i = 0; i < F; i++)
        {
          double t = i == c ? 1.0 : 0.0;
          for (int k = c; k < i; k++)
            t -= cov[(gsize) i * F + k] * col[k];
          col[i] = i < c ? 0.0 : t / cov[(gsize) i * F + i];
        }
      for (int i = 0; i < F; i++)
        m->white[(gsize) i * F + c] = (float) col[i];
    }
  m->wmeans = g_new0 (float, (gsize) C * F);
  for (int c = 0; c < C; c++)
    for (int i = 0; i < F; i++)
      {
        double t = 0;
        for (int k = 0; k <= i; k++)
          t += m->white[(gsize) i * F + k] * mean[(gsize) c * F + k];
        m->wmeans[(gsize) c * F + i] = (float) t;
      }
  return m;
}

void
ps_mahalanobis_score (const PsMahalanobis *m, float *score, const float *feat, int N)
{
  g_return_if_fail (m != NULL);
  const int F = m->F, C = m->C, blk = 512;
  g_autofree float *w = g_new (float, (gsize) blk * F);
  for (int s = 0; s < N; s += blk)
    {
      int B = MIN (blk, N - s);
      /* w = feat @ white^T: each row whitened. */
      ps_sgemm (FALSE, TRUE, B, F, F, 1.f, feat + (gsize) s * F, F, m->white, F, 0.f, w, F);
      for (int b = 0; b < B; b++)
        {
          double best = INFINITY;
          for (int c = 0; c < C; c++)
            {
              double dd = 0;
              for (int j = 0; j < F; j++)
                {
                  double t = (double) w[(gsize) b * F + j] - m->wmeans[(gsize) c * F + j];
                  dd += t * t;
                }
              best = MIN (best, dd);
            }
          score[s + b] = (float) best;
        }
    }
}

/* ---- Metrics ------------------------------------------------------------ */

void
ps_ood_add_metrics (PsMetrics *out, const char *name, const float *score, const guint8 *is_ood,
                    guint n)
{
  g_autofree char *a = g_strdup_printf ("auroc_%s", name);
  g_autofree char *f = g_strdup_printf ("fpr95_%s", name);
  g_autofree char *p = g_strdup_printf ("aupr_%s", name);
  /* A score that could not be computed (a failed Mahalanobis fit) is
   * reported as NaN rather than ranked. */
  gboolean ok = ps_all_finite (score, n);
  ps_metrics_set (out, a, ok ? ps_auroc (score, is_ood, n) : NAN);
  ps_metrics_set (out, f, ok ? ps_fpr95 (score, is_ood, n, PS_POSITIVE_ID) : NAN);
  ps_metrics_set (out, p, ok ? ps_aupr (score, is_ood, n, PS_POSITIVE_ID) : NAN);
}

void
ps_ood_inputs_alloc (PsOodInputs *in, guint n, int E, int F, int C)
{
  in->n = n;
  in->E = E;
  in->F = F;
  in->C = C;
  in->z = g_new (float, (gsize) MAX (n, 1) * E);
  in->feat = g_new (float, (gsize) MAX (n, 1) * F);
  in->logits = g_new (float, (gsize) MAX (n, 1) * C);
}

void
ps_ood_inputs_clear (PsOodInputs *in)
{
  g_clear_pointer (&in->z, g_free);
  g_clear_pointer (&in->feat, g_free);
  g_clear_pointer (&in->logits, g_free);
  in->n = 0;
}

void
ps_ood_all_scores (float *scores, const PsOodInputs *test, const PsOodInputs *train,
                   const int *train_y, const float *protos, int K, PsSimilarity kind, int knn_k)
{
  const int n = (int) test->n;
  ps_ood_proto_score (scores + (gsize) PS_OOD_PROTO * n, test->z, n, protos, K, test->E, kind);
  ps_ood_knn_score (scores + (gsize) PS_OOD_KNN * n, test->z, n, train->z, (int) train->n,
                    test->E, knn_k);
  g_autoptr (GError) error = NULL;
  g_autoptr (PsMahalanobis) maha = ps_mahalanobis_fit (train->feat, train_y, (int) train->n,
                                                       test->C, test->F, 1e-3, &error);
  float *ms = scores + (gsize) PS_OOD_MAHALANOBIS * n;
  if (maha)
    ps_mahalanobis_score (maha, ms, test->feat, n);
  else
    {
      g_debug ("%s", error->message);
      for (int i = 0; i < n; i++)
        ms[i] = NAN;
    }
  ps_ood_msp_score (scores + (gsize) PS_OOD_MSP * n, test->logits, n, test->C);
  ps_ood_energy_score (scores + (gsize) PS_OOD_ENERGY * n, test->logits, n, test->C, 1.f);
}
