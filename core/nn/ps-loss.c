/* ps-loss.c: losses.  Each returns the mean loss and OVERWRITES its
 * gradient output with the gradient of that mean (a NULL gradient pointer
 * asks for the value only).  Sums run in double: a loss is a reduction over
 * the whole batch and its value is logged and compared across runs.
 */
#include <math.h>

#include "ps-layers.h"

/* Log-sum-exp of a row, shifted by its maximum so nothing overflows. */
static double
row_logsumexp (const float *x, int C, float scale)
{
  float maxv = -INFINITY;
  for (int c = 0; c < C; c++)
    maxv = isgreater (x[c] * scale, maxv) ? x[c] * scale : maxv;
  double sum = 0.0;
  for (int c = 0; c < C; c++)
    sum += expf (x[c] * scale - maxv);
  return maxv + log (sum);
}

float
ps_softmax_xent (float *dlogits, float *probs, const float *logits, const int *targets,
                 int B, int C, float smoothing)
{
  g_return_val_if_fail (B >= 0 && C > 0, 0.f);
  g_return_val_if_fail (smoothing >= 0.f && smoothing <= 1.f, 0.f);
  int n_valid = 0;
  for (int b = 0; b < B; b++)
    {
      g_return_val_if_fail (targets[b] >= -1 && targets[b] < C, 0.f);
      n_valid += targets[b] >= 0;
    }
  /* The smoothed target puts 1 - eps on the label and eps/C on every class
   * (the label included), as torch's label_smoothing does. */
  float off = smoothing / (float) C;
  float on = 1.f - smoothing + off;
  float inv_n = n_valid > 0 ? 1.f / (float) n_valid : 0.f;
  double total = 0.0;
  for (int b = 0; b < B; b++)
    {
      const float *x = logits + (gsize) b * C;
      double lse = row_logsumexp (x, C, 1.f);
      int y = targets[b];
      if (probs != NULL)
        {
          float *p = probs + (gsize) b * C;
          for (int c = 0; c < C; c++)
            p[c] = expf ((float) (x[c] - lse));
        }
      if (y >= 0)
        {
          /* -sum_c q_c log p_c = lse - sum_c q_c x_c */
          double qx = 0.0;
          if (off != 0.f)
            {
              double sx = 0.0;
              for (int c = 0; c < C; c++)
                sx += x[c];
              qx = off * sx;
            }
          qx += (double) (on - off) * x[y];
          total += lse - qx;
        }
      if (dlogits != NULL)
        {
          float *d = dlogits + (gsize) b * C;
          if (y < 0)
            {
              for (int c = 0; c < C; c++)
                d[c] = 0.f;
              continue;
            }
          for (int c = 0; c < C; c++)
            d[c] = (expf ((float) (x[c] - lse)) - off) * inv_n;
          d[y] -= (on - off) * inv_n;
        }
    }
  return n_valid > 0 ? (float) (total / n_valid) : 0.f;
}

float
ps_mse_loss (float *dpred, const float *pred, const float *target, gsize n)
{
  if (n == 0)
    return 0.f;
  double total = 0.0;
  for (gsize i = 0; i < n; i++)
    {
      double e = (double) pred[i] - target[i];
      total += e * e;
    }
  if (dpred != NULL)
    {
      float scale = 2.f / (float) n;
      for (gsize i = 0; i < n; i++)
        dpred[i] = scale * (pred[i] - target[i]);
    }
  return (float) (total / n);
}

float
ps_kl_loss (float *dlogits, const float *logits, const float *target_probs,
            int B, int C, float temperature)
{
  g_return_val_if_fail (B >= 0 && C > 0 && temperature > 0.f, 0.f);
  if (B == 0)
    return 0.f;
  float inv_t = 1.f / temperature;
  double total = 0.0;
  for (int b = 0; b < B; b++)
    {
      const float *x = logits + (gsize) b * C;
      const float *p = target_probs + (gsize) b * C;
      double lse = row_logsumexp (x, C, inv_t);
      /* sum_c p_c (log p_c - log q_c), with 0 log 0 = 0; log q_c is
       * x_c / T - lse. */
      double kl = 0.0;
      for (int c = 0; c < C; c++)
        if (p[c] > 0.f)
          kl += p[c] * (log (p[c]) - ((double) x[c] * inv_t - lse));
      total += kl;
      if (dlogits != NULL)
        {
          /* d/dx of T^2 * KL / B is T * (q - p) / B. */
          float scale = temperature / (float) B;
          float *d = dlogits + (gsize) b * C;
          for (int c = 0; c < C; c++)
            d[c] = scale * (expf ((float) (x[c] * inv_t - lse)) - p[c]);
        }
    }
  return (float) (total * temperature * temperature / B);
}

float
ps_bce_logits_loss (float *dlogits, const float *logits, const float *target, gsize n)
{
  if (n == 0)
    return 0.f;
  /* max(x, 0) - x t + log(1 + e^-|x|) equals -t log s(x) - (1-t) log(1-s(x))
   * without ever exponentiating a positive number. */
  double total = 0.0;
  for (gsize i = 0; i < n; i++)
    {
      float x = logits[i];
      total += fmaxf (x, 0.f) - x * target[i] + log1pf (expf (-fabsf (x)));
    }
  if (dlogits != NULL)
    {
      float scale = 1.f / (float) n;
      for (gsize i = 0; i < n; i++)
        dlogits[i] = scale * (1.f / (1.f + expf (-logits[i])) - target[i]);
    }
  return (float) (total / n);
}
