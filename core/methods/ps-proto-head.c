/* ps-proto-head.c: similarities, assignment rules, update rules and
 * prototype losses (see ps-proto-head.h for the conventions). */
#define G_LOG_DOMAIN "ps-proto"

#include "ps-proto-head.h"
#include "../base/ps-base.h"

#include <math.h>
#include <string.h>

#define NORM_EPS 1e-12

const char *
ps_similarity_name (PsSimilarity kind)
{
  return kind == PS_SIM_COSINE ? "cosine" : "euclidean";
}

static double
row_norm (const float *x, int E)
{
  double s = 0;
  for (int j = 0; j < E; j++)
    s += (double) x[j] * x[j];
  return sqrt (s);
}

void
ps_proto_normalize_rows (float *x, int N, int E)
{
  for (int i = 0; i < N; i++)
    {
      float *r = x + (gsize) i * E;
      double n = row_norm (r, E);
      if (n > NORM_EPS)
        for (int j = 0; j < E; j++)
          r[j] = (float) (r[j] / n);
    }
}

/* ---- Similarities ------------------------------------------------------ */

void
ps_proto_similarity (float *sim, const float *z, const float *protos, int N, int K, int E,
                     PsSimilarity kind)
{
  g_return_if_fail (sim != NULL && z != NULL && protos != NULL);
  if (N <= 0 || K <= 0)
    return;
  ps_sgemm (FALSE, TRUE, N, K, E, 1.f, z, E, protos, E, 0.f, sim, K);
  g_autofree double *pn = g_new (double, K);
  for (int k = 0; k < K; k++)
    pn[k] = row_norm (protos + (gsize) k * E, E);
  for (int i = 0; i < N; i++)
    {
      double zn = row_norm (z + (gsize) i * E, E);
      float *s = sim + (gsize) i * K;
      for (int k = 0; k < K; k++)
        {
          if (kind == PS_SIM_COSINE)
            s[k] = (float) (s[k] / (MAX (zn, NORM_EPS) * MAX (pn[k], NORM_EPS)));
          else
            /* -|z|^2 + 2 z.p - |p|^2, clamped at 0 against rounding. */
            s[k] = (float) MIN (0.0, -(zn * zn) + 2.0 * s[k] - pn[k] * pn[k]);
        }
    }
}

void
ps_proto_similarity_backward (float *dz, float *dprotos, const float *dsim, const float *z,
                              const float *protos, int N, int K, int E, PsSimilarity kind)
{
  g_return_if_fail (dsim != NULL && z != NULL && protos != NULL);
  if (N <= 0 || K <= 0)
    return;
  if (kind == PS_SIM_NEG_SQEUCLID)
    {
      /* s = -|z - p|^2: ds/dz = -2 (z - p), ds/dp = 2 (z - p). */
      for (int i = 0; i < N; i++)
        {
          const float *zi = z + (gsize) i * E;
          for (int k = 0; k < K; k++)
            {
              float g = dsim[(gsize) i * K + k];
              if (g == 0.f)
                continue;
              const float *pk = protos + (gsize) k * E;
              for (int j = 0; j < E; j++)
                {
                  float diff = zi[j] - pk[j];
                  if (dz)
                    dz[(gsize) i * E + j] -= 2.f * g * diff;
                  if (dprotos)
                    dprotos[(gsize) k * E + j] += 2.f * g * diff;
                }
            }
        }
      return;
    }

  /* Cosine: s = a.b / (|a| |b|); ds/da = b / (|a| |b|) - s a / |a|^2. */
  g_autofree double *pn = g_new (double, K);
  for (int k = 0; k < K; k++)
    pn[k] = MAX (row_norm (protos + (gsize) k * E, E), NORM_EPS);
  for (int i = 0; i < N; i++)
    {
      const float *zi = z + (gsize) i * E;
      double zn = MAX (row_norm (zi, E), NORM_EPS);
      for (int k = 0; k < K; k++)
        {
          double g = dsim[(gsize) i * K + k];
          if (g == 0.0)
            continue;
          const float *pk = protos + (gsize) k * E;
          double dot = 0;
          for (int j = 0; j < E; j++)
            dot += (double) zi[j] * pk[j];
          double s = dot / (zn * pn[k]);
          for (int j = 0; j < E; j++)
            {
              if (dz)
                dz[(gsize) i * E + j] += (float) (g * (pk[j] / (zn * pn[k]) - s * zi[j] / (zn * zn)));
              if (dprotos)
                dprotos[(gsize) k * E + j] += (float) (g * (zi[j] / (zn * pn[k]) - s * pk[j] / (pn[k] * pn[k])));
            }
        }
    }
}

/* ---- Assignment rules ---------------------------------------------------- */

void
ps_proto_class_mask (guint8 *mask, const int *y, const int *proto_labels, int N, int K)
{
  for (int i = 0; i < N; i++)
    for (int k = 0; k < K; k++)
      mask[(gsize) i * K + k] = y[i] < 0 || proto_labels[k] == y[i];
}

void
ps_proto_assign_argmax (int *assign, const float *sim, const guint8 *mask, int N, int K)
{
  for (int i = 0; i < N; i++)
    {
      int best = -1;
      for (int k = 0; k < K; k++)
        {
          if (mask && !mask[(gsize) i * K + k])
            continue;
          if (best < 0 || sim[(gsize) i * K + k] > sim[(gsize) i * K + best])
            best = k;
        }
      assign[i] = best;
    }
}

void
ps_proto_assign_softmax (float *w, const float *sim, int N, int K, float temperature)
{
  g_return_if_fail (temperature > 0.f);
  for (int i = 0; i < N; i++)
    {
      const float *s = sim + (gsize) i * K;
      float *o = w + (gsize) i * K;
      float mx = -INFINITY;
      for (int k = 0; k < K; k++)
        mx = MAX (mx, s[k]);
      double tot = 0;
      for (int k = 0; k < K; k++)
        {
          o[k] = expf ((s[k] - mx) / temperature);
          tot += o[k];
        }
      for (int k = 0; k < K; k++)
        o[k] = (float) (o[k] / tot);
    }
}

void
ps_proto_sinkhorn (float *q, const float *sim, int N, int K, float epsilon, int iters)
{
  g_return_if_fail (epsilon > 0.f);
  if (N <= 0 || K <= 0)
    return;
  gsize nk = (gsize) N * K;
  g_autofree double *Q = g_new (double, nk);
  g_autofree double *col = g_new (double, K);
  float mx = -INFINITY;
  for (gsize t = 0; t < nk; t++)
    mx = MAX (mx, sim[t]);
  double tot = 0;
  for (gsize t = 0; t < nk; t++)
    {
      Q[t] = exp ((double) (sim[t] - mx) / epsilon);
      tot += Q[t];
    }
  for (gsize t = 0; t < nk; t++)
    Q[t] /= tot;
  for (int it = 0; it < iters; it++)
    {
      /* Every prototype gets mass 1/K ... */
      memset (col, 0, K * sizeof (double));
      for (int i = 0; i < N; i++)
        for (int k = 0; k < K; k++)
          col[k] += Q[(gsize) i * K + k];
      for (int i = 0; i < N; i++)
        for (int k = 0; k < K; k++)
          if (col[k] > 0)
            Q[(gsize) i * K + k] /= col[k] * K;
      /* ... and every sample mass 1/N. */
      for (int i = 0; i < N; i++)
        {
          double r = 0;
          for (int k = 0; k < K; k++)
            r += Q[(gsize) i * K + k];
          for (int k = 0; k < K; k++)
            if (r > 0)
              Q[(gsize) i * K + k] /= r * N;
        }
    }
  for (gsize t = 0; t < nk; t++)
    q[t] = (float) (Q[t] * N);
}

void
ps_proto_mask_topk (float *w, const guint8 *mask, int N, int K, int topk)
{
  g_autofree guint8 *keep = g_new (guint8, K);
  for (int i = 0; i < N; i++)
    {
      float *r = w + (gsize) i * K;
      if (mask)
        for (int k = 0; k < K; k++)
          if (!mask[(gsize) i * K + k])
            r[k] = 0.f;
      if (topk > 0 && topk < K)
        {
          /* K is a few dozen at most: repeated selection is enough.  Ties
           * go to the lower index so the result is deterministic. */
          memset (keep, 0, K);
          for (int t = 0; t < topk; t++)
            {
              int best = -1;
              for (int k = 0; k < K; k++)
                if (!keep[k] && (best < 0 || r[k] > r[best]))
                  best = k;
              keep[best] = 1;
            }
          for (int k = 0; k < K; k++)
            if (!keep[k])
              r[k] = 0.f;
        }
      double tot = 0;
      for (int k = 0; k < K; k++)
        tot += r[k];
      for (int k = 0; k < K; k++)
        r[k] = tot > 0 ? (float) (r[k] / tot) : 0.f;
    }
}

/* ---- Update rules -------------------------------------------------------- */

void
ps_proto_ema_update (float *protos, float *norms, float *w_hat, const float *w, const float *z,
                     int N, int K, int E, float alpha)
{
  g_autofree float *wh = g_new (float, (gsize) MAX (N, 1) * K);
  g_autofree double *col = g_new0 (double, K);
  for (int i = 0; i < N; i++)
    for (int k = 0; k < K; k++)
      col[k] += w[(gsize) i * K + k];
  for (int i = 0; i < N; i++)
    for (int k = 0; k < K; k++)
      wh[(gsize) i * K + k] = col[k] > 0 ? (float) (w[(gsize) i * K + k] / col[k]) : 0.f;
  /* protos = alpha * protos + (1 - alpha) * w_hat^T z */
  if (N > 0)
    ps_sgemm (TRUE, FALSE, K, E, N, 1.f - alpha, wh, K, z, E, alpha, protos, E);
  else
    for (gsize t = 0; t < (gsize) K * E; t++)
      protos[t] *= alpha;
  for (int k = 0; k < K; k++)
    {
      float *p = protos + (gsize) k * E;
      double n = row_norm (p, E);
      if (norms)
        norms[k] = (float) n;
      if (n > NORM_EPS)
        for (int j = 0; j < E; j++)
          p[j] = (float) (p[j] / n);
    }
  if (w_hat)
    memcpy (w_hat, wh, (gsize) N * K * sizeof (float));
}

void
ps_proto_ema_backward (float *dz, const float *dprotos, const float *protos_new,
                       const float *norms, const float *w_hat, int N, int K, int E, float alpha)
{
  if (dz == NULL || N <= 0)
    return;
  /* p = u / |u|: dL/du = (dp - p (p.dp)) / |u|; u_k gets (1 - alpha)
   * w_hat[i, k] z_i from sample i. */
  g_autofree float *G = g_new0 (float, (gsize) K * E);
  for (int k = 0; k < K; k++)
    {
      const float *p = protos_new + (gsize) k * E, *g = dprotos + (gsize) k * E;
      if (norms[k] <= NORM_EPS)
        continue;
      double pg = 0;
      for (int j = 0; j < E; j++)
        pg += (double) p[j] * g[j];
      for (int j = 0; j < E; j++)
        G[(gsize) k * E + j] = (float) ((g[j] - p[j] * pg) / norms[k]);
    }
  ps_sgemm (FALSE, FALSE, N, E, K, 1.f - alpha, w_hat, K, G, E, 1.f, dz, E);
}

void
ps_proto_class_means (float *protos, int *counts, const float *z, const int *y, int N, int C, int E)
{
  memset (protos, 0, (gsize) C * E * sizeof (float));
  memset (counts, 0, C * sizeof (int));
  g_autofree double *acc = g_new0 (double, (gsize) C * E);
  for (int i = 0; i < N; i++)
    {
      int c = y[i];
      if (c < 0 || c >= C)
        continue;
      counts[c]++;
      for (int j = 0; j < E; j++)
        acc[(gsize) c * E + j] += z[(gsize) i * E + j];
    }
  for (int c = 0; c < C; c++)
    if (counts[c] > 0)
      for (int j = 0; j < E; j++)
        protos[(gsize) c * E + j] = (float) (acc[(gsize) c * E + j] / counts[c]);
}

void
ps_proto_class_means_backward (float *dz, const float *dprotos, const int *y, const int *counts,
                               int N, int C, int E)
{
  for (int i = 0; i < N; i++)
    {
      int c = y[i];
      if (c < 0 || c >= C || counts[c] == 0)
        continue;
      for (int j = 0; j < E; j++)
        dz[(gsize) i * E + j] += dprotos[(gsize) c * E + j] / counts[c];
    }
}

/* ---- Losses -------------------------------------------------------------- */

float
ps_proto_ce_loss (float *dz, float *dprotos, const float *z, const int *y, const float *protos,
                  const guint8 *valid, int N, int K, int E, PsSimilarity kind, float temperature)
{
  g_return_val_if_fail (temperature > 0.f, NAN);
  g_autofree float *sim = g_new (float, (gsize) MAX (N, 1) * K);
  g_autofree float *dsim = g_new0 (float, (gsize) MAX (N, 1) * K);
  ps_proto_similarity (sim, z, protos, N, K, E, kind);
  int used = 0;
  for (int i = 0; i < N; i++)
    used += y[i] >= 0 && y[i] < K && (!valid || valid[y[i]]);
  if (used == 0)
    return 0.f;
  double loss = 0;
  for (int i = 0; i < N; i++)
    {
      int t = y[i];
      if (t < 0 || t >= K || (valid && !valid[t]))
        continue;
      const float *s = sim + (gsize) i * K;
      float *ds = dsim + (gsize) i * K;
      double mx = -INFINITY;
      for (int k = 0; k < K; k++)
        if (!valid || valid[k])
          mx = MAX (mx, s[k] / temperature);
      double tot = 0;
      for (int k = 0; k < K; k++)
        if (!valid || valid[k])
          tot += exp (s[k] / temperature - mx);
      double lse = mx + log (tot);
      loss += lse - s[t] / temperature;
      for (int k = 0; k < K; k++)
        if (!valid || valid[k])
          {
            double p = exp (s[k] / temperature - lse);
            ds[k] = (float) ((p - (k == t)) / (used * temperature));
          }
    }
  ps_proto_similarity_backward (dz, dprotos, dsim, z, protos, N, K, E, kind);
  return (float) (loss / used);
}

float
ps_palm_mle_loss (float *dz, float *probs, const float *z, const float *protos, const float *w,
                  int N, int K, int E, float tau)
{
  g_return_val_if_fail (tau > 0.f, NAN);
  if (N <= 0)
    return 0.f;
  g_autofree float *l = g_new (float, (gsize) N * K);
  g_autofree float *dl = g_new (float, (gsize) N * K);
  ps_sgemm (FALSE, TRUE, N, K, E, 1.f / tau, z, E, protos, E, 0.f, l, K);
  double loss = 0;
  for (int i = 0; i < N; i++)
    {
      const float *li = l + (gsize) i * K, *wi = w + (gsize) i * K;
      double mx = -INFINITY, tot = 0, pos = 0;
      for (int k = 0; k < K; k++)
        mx = MAX (mx, li[k]);
      for (int k = 0; k < K; k++)
        tot += exp (li[k] - mx);
      double lse = mx + log (tot);
      for (int k = 0; k < K; k++)
        {
          double p = exp (li[k] - lse);
          pos += (double) wi[k] * li[k];
          dl[(gsize) i * K + k] = (float) ((p - wi[k]) / N);
          if (probs)
            probs[(gsize) i * K + k] = (float) p;
        }
      loss += lse - pos;
    }
  /* dz = dl @ protos / tau */
  if (dz)
    ps_sgemm (FALSE, FALSE, N, E, K, 1.f / tau, dl, K, protos, E, 1.f, dz, E);
  return (float) (loss / N);
}

float
ps_palm_proto_contrast_loss (float *dprotos, const float *protos, const int *proto_labels,
                             int K, int E, float temperature)
{
  g_return_val_if_fail (temperature > 0.f, NAN);
  if (K < 2)
    return 0.f;
  g_autofree float *L = g_new (float, (gsize) K * K);
  g_autofree float *dL = g_new0 (float, (gsize) K * K);
  ps_sgemm (FALSE, TRUE, K, K, E, 1.f / temperature, protos, E, protos, E, 0.f, L, K);
  double loss = 0;
  for (int p = 0; p < K; p++)
    {
      const float *lp = L + (gsize) p * K;
      double mx = -INFINITY, tot = 0, pos = 0;
      int npos = 0;
      for (int q = 0; q < K; q++)
        if (q != p)
          {
            mx = MAX (mx, lp[q]);
            if (proto_labels[q] == proto_labels[p])
              npos++;
          }
      for (int q = 0; q < K; q++)
        if (q != p)
          tot += exp (lp[q] - mx);
      double lse = mx + log (tot);
      for (int q = 0; q < K; q++)
        {
          if (q == p)
            continue;
          gboolean positive = proto_labels[q] == proto_labels[p];
          if (positive)
            pos += lp[q] / npos;
          double g = exp (lp[q] - lse) - (positive ? 1.0 / npos : 0.0);
          dL[(gsize) p * K + q] = (float) (g / K);
        }
      loss += lse - pos;
    }
  if (dprotos)
    {
      /* L = P P^T / T: dP = (dL + dL^T) P / T. */
      ps_sgemm (FALSE, FALSE, K, E, K, 1.f / temperature, dL, K, protos, E, 1.f, dprotos, E);
      ps_sgemm (TRUE, FALSE, K, E, K, 1.f / temperature, dL, K, protos, E, 1.f, dprotos, E);
    }
  return (float) (loss / K);
}
