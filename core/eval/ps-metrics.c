/* ps-metrics.c: classification, OOD detection and clustering metrics,
 * and the Hungarian assignment they rely on. */
#define G_LOG_DOMAIN "ps-eval"

#include "ps-eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double
ps_accuracy (const gint32 *pred, const gint32 *y, guint n)
{
  g_return_val_if_fail (n == 0 || (pred && y), NAN);
  guint total = 0, right = 0;
  for (guint i = 0; i < n; i++)
    if (y[i] >= 0)
      {
        total++;
        right += pred[i] == y[i];
      }
  return total ? (double) right / total : NAN;
}

void
ps_confusion_matrix (guint *cm, const gint32 *pred, const gint32 *y, guint n, guint k)
{
  g_return_if_fail (cm != NULL);
  memset (cm, 0, (gsize) k * k * sizeof (guint));
  for (guint i = 0; i < n; i++)
    if (y[i] >= 0 && (guint) y[i] < k && pred[i] >= 0 && (guint) pred[i] < k)
      cm[(gsize) y[i] * k + pred[i]]++;
}

/* ------------------------------------------------------------------ */
/* OOD detection                                                        */
/* ------------------------------------------------------------------ */

typedef struct
{
  double s;      /* "positive-ness": higher = more likely positive */
  guint8 pos;
} Scored;

static int
scored_desc (const void *a, const void *b)
{
  double x = ((const Scored *) a)->s, y = ((const Scored *) b)->s;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* Orients the scores so that higher means positive and sorts them
 * decreasing.  Returns NULL when a class is empty or a score is NaN. */
static Scored *
sorted_scores (const float *score, const guint8 *is_ood, guint n, PsPositive positive,
               guint *n_pos, guint *n_neg)
{
  Scored *s = g_new (Scored, MAX (n, 1));
  *n_pos = *n_neg = 0;
  for (guint i = 0; i < n; i++)
    {
      if (isnan (score[i]))
        {
          g_free (s);
          return NULL;
        }
      gboolean ood = is_ood[i] != 0;
      s[i].pos = positive == PS_POSITIVE_OOD ? ood : !ood;
      s[i].s = positive == PS_POSITIVE_OOD ? score[i] : -(double) score[i];
      *n_pos += s[i].pos;
    }
  *n_neg = n - *n_pos;
  if (*n_pos == 0 || *n_neg == 0)
    {
      g_free (s);
      return NULL;
    }
  qsort (s, n, sizeof (Scored), scored_desc);
  return s;
}

double
ps_auroc (const float *score, const guint8 *is_ood, guint n)
{
  g_return_val_if_fail (n == 0 || (score && is_ood), NAN);
  guint P, N;
  g_autofree Scored *s = sorted_scores (score, is_ood, n, PS_POSITIVE_OOD, &P, &N);
  if (!s)
    return NAN;
  /* Mann-Whitney: with ranks counted from the lowest score and ties given
   * their average rank, AUROC = (sum of positive ranks - P(P+1)/2) / (P N). */
  double rank_sum = 0;
  guint i = 0;
  while (i < n)
    {
      guint j = i;
      guint pos_in_group = 0;
      while (j < n && s[j].s == s[i].s)
        pos_in_group += s[j++].pos;
      /* Descending positions i..j-1 are ascending ranks n-j+1 .. n-i. */
      double avg_rank = ((double) (n - j + 1) + (double) (n - i)) / 2.0;
      rank_sum += avg_rank * pos_in_group;
      i = j;
    }
  return (rank_sum - (double) P * (P + 1) / 2.0) / ((double) P * N);
}

double
ps_fpr_at_tpr (const float *score, const guint8 *is_ood, guint n, PsPositive positive, double tpr)
{
  g_return_val_if_fail (n == 0 || (score && is_ood), NAN);
  g_return_val_if_fail (tpr > 0 && tpr <= 1, NAN);
  guint P, N;
  g_autofree Scored *s = sorted_scores (score, is_ood, n, positive, &P, &N);
  if (!s)
    return NAN;
  /* The threshold is the score of the ceil(tpr P)-th positive from the top:
   * the highest threshold whose true positive rate reaches tpr.  Every
   * sample scored at or above it is called positive. */
  guint need = (guint) ceil (tpr * P - 1e-9);
  need = MAX (need, 1);
  guint seen = 0, i = 0;
  double t = 0;
  for (; i < n; i++)
    if (s[i].pos && ++seen == need)
      {
        t = s[i].s;
        break;
      }
  guint fp = 0;
  for (guint j = 0; j < n && s[j].s >= t; j++)
    fp += !s[j].pos;
  return (double) fp / N;
}

double
ps_fpr95 (const float *score, const guint8 *is_ood, guint n, PsPositive positive)
{
  return ps_fpr_at_tpr (score, is_ood, n, positive, 0.95);
}

double
ps_aupr (const float *score, const guint8 *is_ood, guint n, PsPositive positive)
{
  g_return_val_if_fail (n == 0 || (score && is_ood), NAN);
  guint P, N;
  g_autofree Scored *s = sorted_scores (score, is_ood, n, positive, &P, &N);
  if (!s)
    return NAN;
  double ap = 0, prev_recall = 0;
  guint tp = 0, fp = 0, i = 0;
  while (i < n)
    {
      guint j = i;
      while (j < n && s[j].s == s[i].s)
        {
          tp += s[j].pos;
          fp += !s[j].pos;
          j++;
        }
      double recall = (double) tp / P;
      double precision = (double) tp / (tp + fp);
      ap += (recall - prev_recall) * precision;
      prev_recall = recall;
      i = j;
    }
  return ap;
}

/* ------------------------------------------------------------------ */
/* Hungarian assignment                                                 */
/* ------------------------------------------------------------------ */

/* Shortest augmenting paths with row and column potentials, for n <= m
 * rows; a[i, j] is read through (i * m + j) from 0-based cost. */
static double
hungarian_rows_le_cols (const double *a, guint n, guint m, gint *row_to_col)
{
  g_autofree double *u = g_new0 (double, n + 1);
  g_autofree double *v = g_new0 (double, m + 1);
  g_autofree guint *p = g_new0 (guint, m + 1);     /* p[j]: row matched to column j (1-based, 0 = none) */
  g_autofree guint *way = g_new0 (guint, m + 1);
  g_autofree double *minv = g_new (double, m + 1);
  g_autofree gboolean *used = g_new (gboolean, m + 1);
  for (guint i = 1; i <= n; i++)
    {
      p[0] = i;
      guint j0 = 0;
      for (guint j = 0; j <= m; j++)
        {
          minv[j] = INFINITY;
          used[j] = FALSE;
        }
      do
        {
          used[j0] = TRUE;
          guint i0 = p[j0], j1 = 0;
          double delta = INFINITY;
          for (guint j = 1; j <= m; j++)
            if (!used[j])
              {
                double cur = a[(gsize) (i0 - 1) * m + (j - 1)] - u[i0] - v[j];
                if (cur < minv[j])
                  {
                    minv[j] = cur;
                    way[j] = j0;
                  }
                if (minv[j] < delta)
                  {
                    delta = minv[j];
                    j1 = j;
                  }
              }
          for (guint j = 0; j <= m; j++)
            if (used[j])
              {
                u[p[j]] += delta;
                v[j] -= delta;
              }
            else
              minv[j] -= delta;
          j0 = j1;
        }
      while (p[j0] != 0);
      do
        {
          guint j1 = way[j0];
          p[j0] = p[j1];
          j0 = j1;
        }
      while (j0 != 0);
    }
  double total = 0;
  for (guint i = 0; i < n; i++)
    row_to_col[i] = -1;
  for (guint j = 1; j <= m; j++)
    if (p[j] != 0)
      {
        row_to_col[p[j] - 1] = (gint) (j - 1);
        total += a[(gsize) (p[j] - 1) * m + (j - 1)];
      }
  return total;
}

double
ps_hungarian (const double *cost, guint n_rows, guint n_cols, gint *row_to_col)
{
  g_return_val_if_fail (cost != NULL || n_rows * n_cols == 0, NAN);
  g_return_val_if_fail (row_to_col != NULL || n_rows == 0, NAN);
  if (n_rows == 0)
    return 0;
  if (n_cols == 0)
    {
      for (guint i = 0; i < n_rows; i++)
        row_to_col[i] = -1;
      return 0;
    }
  if (n_rows <= n_cols)
    return hungarian_rows_le_cols (cost, n_rows, n_cols, row_to_col);
  /* More rows than columns: solve the transpose, then invert the map. */
  g_autofree double *t = g_new (double, (gsize) n_rows * n_cols);
  for (guint i = 0; i < n_rows; i++)
    for (guint j = 0; j < n_cols; j++)
      t[(gsize) j * n_rows + i] = cost[(gsize) i * n_cols + j];
  g_autofree gint *col_to_row = g_new (gint, n_cols);
  double total = hungarian_rows_le_cols (t, n_cols, n_rows, col_to_row);
  for (guint i = 0; i < n_rows; i++)
    row_to_col[i] = -1;
  for (guint j = 0; j < n_cols; j++)
    if (col_to_row[j] >= 0)
      row_to_col[col_to_row[j]] = (gint) j;
  return total;
}

/* ------------------------------------------------------------------ */
/* Clustering accuracy                                                  */
/* ------------------------------------------------------------------ */

/* Matches clusters to classes maximising the number of labelled samples
 * that agree; map[K] gets each cluster's class (-1 when unmatched). */
static guint
match_clusters (const gint32 *pred, const gint32 *y, guint n, gint32 **map_out)
{
  gint32 max_p = -1, max_y = -1;
  for (guint i = 0; i < n; i++)
    {
      max_p = MAX (max_p, pred[i]);
      if (y[i] >= 0)
        max_y = MAX (max_y, y[i]);
    }
  guint kp = (guint) (max_p + 1), ky = (guint) (max_y + 1);
  gint32 *map = g_new (gint32, MAX (kp, 1));
  for (guint c = 0; c < kp; c++)
    map[c] = -1;
  *map_out = map;
  if (kp == 0 || ky == 0)
    return kp;
  g_autofree double *cost = g_new0 (double, (gsize) kp * ky);
  for (guint i = 0; i < n; i++)
    if (y[i] >= 0 && pred[i] >= 0)
      cost[(gsize) pred[i] * ky + y[i]] -= 1.0;
  g_autofree gint *r2c = g_new (gint, kp);
  ps_hungarian (cost, kp, ky, r2c);
  for (guint c = 0; c < kp; c++)
    map[c] = r2c[c];
  return kp;
}

double
ps_cluster_accuracy (const gint32 *pred, const gint32 *y, guint n, gint32 *cluster_to_class)
{
  g_return_val_if_fail (n == 0 || (pred && y), NAN);
  g_autofree gint32 *map = NULL;
  guint kp = match_clusters (pred, y, n, &map);
  if (cluster_to_class)
    memcpy (cluster_to_class, map, kp * sizeof (gint32));
  guint total = 0, right = 0;
  for (guint i = 0; i < n; i++)
    if (y[i] >= 0)
      {
        total++;
        right += pred[i] >= 0 && map[pred[i]] == y[i];
      }
  return total ? (double) right / total : NAN;
}

void
ps_cluster_accuracy_old_new (const gint32 *pred, const gint32 *y, guint n,
                             const guint8 *is_old_class, guint n_classes,
                             double *all, double *old_acc, double *new_acc)
{
  g_return_if_fail (n == 0 || (pred && y));
  g_autofree gint32 *map = NULL;
  match_clusters (pred, y, n, &map);
  guint t[2] = { 0, 0 }, r[2] = { 0, 0 };
  for (guint i = 0; i < n; i++)
    {
      if (y[i] < 0)
        continue;
      /* Classes beyond the mask count as new: they were not known. */
      int old = (guint) y[i] < n_classes && is_old_class[y[i]] ? 1 : 0;
      gboolean right = pred[i] >= 0 && map[pred[i]] == y[i];
      t[old]++;
      r[old] += right;
    }
  if (all)
    *all = t[0] + t[1] ? (double) (r[0] + r[1]) / (t[0] + t[1]) : NAN;
  if (old_acc)
    *old_acc = t[1] ? (double) r[1] / t[1] : NAN;
  if (new_acc)
    *new_acc = t[0] ? (double) r[0] / t[0] : NAN;
}
