/* ps-because.c: similarity changes under controlled image modifications
 * (see ps-because.h). */
#define G_LOG_DOMAIN "ps-because"

#include "ps-because.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *
ps_because_name (PsBecauseKind kind)
{
  static const char *names[] = { "contrast", "brightness", "blur", "erosion", "noise", "shift" };
  g_return_val_if_fail (kind < PS_BECAUSE_N_KINDS, "?");
  return names[kind];
}

void
ps_because_transform (float *out, const float *img, int H, int W, PsBecauseKind kind, PsRng *rng)
{
  const int P = H * W;
  switch (kind)
    {
    case PS_BECAUSE_CONTRAST:
      {
        double mean = 0;
        for (int i = 0; i < P; i++)
          mean += img[i];
        mean /= P;
        for (int i = 0; i < P; i++)
          out[i] = (float) (mean + 0.5 * (img[i] - mean));
        break;
      }
    case PS_BECAUSE_BRIGHTNESS:
      for (int i = 0; i < P; i++)
        out[i] = MIN (img[i] + 0.25f, 1.0f);
      break;
    case PS_BECAUSE_BLUR:
    case PS_BECAUSE_EROSION:
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
          {
            float acc = 0, mn = INFINITY;
            int cnt = 0;
            for (int dy = -1; dy <= 1; dy++)
              for (int dx = -1; dx <= 1; dx++)
                {
                  int yy = y + dy, xx = x + dx;
                  /* Outside the image counts as background (0) for the
                   * erosion and is left out of the blur's mean. */
                  if (yy < 0 || yy >= H || xx < 0 || xx >= W)
                    {
                      mn = MIN (mn, 0.0f);
                      continue;
                    }
                  acc += img[yy * W + xx];
                  mn = MIN (mn, img[yy * W + xx]);
                  cnt++;
                }
            out[y * W + x] = kind == PS_BECAUSE_BLUR ? acc / cnt : mn;
          }
      break;
    case PS_BECAUSE_NOISE:
      for (int i = 0; i < P; i++)
        out[i] = CLAMP (img[i] + 0.2f * ps_rng_normal (rng), 0.0f, 1.0f);
      break;
    case PS_BECAUSE_SHIFT:
      {
        int s = MAX (1, H / 14);
        for (int y = 0; y < H; y++)
          for (int x = 0; x < W; x++)
            out[y * W + x] = y >= s && x >= s ? img[(y - s) * W + (x - s)] : 0.0f;
        break;
      }
    default:
      g_return_if_reached ();
    }
}

void
ps_because_local (float *delta, PsBecauseSimFn fn, gpointer user, const float *img,
                  int H, int W, int K, guint64 seed)
{
  const int P = H * W, N = PS_BECAUSE_N_KINDS;
  g_autofree float *x = g_new (float, (gsize) (N + 1) * P);
  g_autofree float *s = g_new (float, (gsize) (N + 1) * K);
  PsRng rng;
  ps_rng_init (&rng, seed, 21);
  memcpy (x, img, P * sizeof (float));
  for (int t = 0; t < N; t++)
    ps_because_transform (x + (gsize) (t + 1) * P, img, H, W, (PsBecauseKind) t, &rng);
  fn (user, x, N + 1, s);
  for (int k = 0; k < K; k++)
    for (int t = 0; t < N; t++)
      delta[k * N + t] = s[k] - s[(gsize) (t + 1) * K + k];
}

void
ps_because_global (float *importance, PsBecauseSimFn fn, gpointer user,
                   const float *images, const int *top, const float *topw, int topk,
                   int H, int W, int K, guint64 seed)
{
  const int N = PS_BECAUSE_N_KINDS, P = H * W;
  g_autofree float *d = g_new (float, (gsize) K * N);
  for (int k = 0; k < K; k++)
    {
      double wsum = 0;
      double acc[PS_BECAUSE_N_KINDS] = { 0 };
      for (int j = 0; j < topk; j++)
        {
          int r = top[k * topk + j];
          if (r < 0)
            continue;
          ps_because_local (d, fn, user, images + (gsize) r * P, H, W, K, seed + (guint64) r);
          double w = MAX (topw[k * topk + j], 0.0f);
          for (int t = 0; t < N; t++)
            acc[t] += w * d[k * N + t];
          wsum += w;
        }
      for (int t = 0; t < N; t++)
        importance[k * N + t] = wsum > 0 ? (float) (acc[t] / wsum) : 0.0f;
    }
}

typedef struct
{
  float v;
  int i;
} ValIdx;

static int
cmp_val_idx (const void *a, const void *b)
{
  const ValIdx *x = a, *y = b;
  if (x->v != y->v)
    return x->v < y->v ? -1 : 1;
  return x->i - y->i;
}

/* rank[n]: 1-based ranks, ties get the mean of the ranks they span. */
static void
ranks (double *rank, const float *v, int n)
{
  g_autofree ValIdx *t = g_new (ValIdx, n);
  for (int i = 0; i < n; i++)
    {
      t[i].v = v[i];
      t[i].i = i;
    }
  qsort (t, n, sizeof (ValIdx), cmp_val_idx);
  for (int i = 0; i < n;)
    {
      int j = i;
      while (j + 1 < n && t[j + 1].v == t[i].v)
        j++;
      double r = 0.5 * (i + j) + 1.0;
      for (int q = i; q <= j; q++)
        rank[t[q].i] = r;
      i = j + 1;
    }
}

double
ps_because_spearman (const float *a, const float *b, int n)
{
  if (n < 2)
    return NAN;
  g_autofree double *ra = g_new (double, n);
  g_autofree double *rb = g_new (double, n);
  ranks (ra, a, n);
  ranks (rb, b, n);
  /* Pearson correlation of the ranks (exact with ties). */
  double ma = 0, mb = 0;
  for (int i = 0; i < n; i++)
    {
      ma += ra[i];
      mb += rb[i];
    }
  ma /= n;
  mb /= n;
  double sab = 0, saa = 0, sbb = 0;
  for (int i = 0; i < n; i++)
    {
      sab += (ra[i] - ma) * (rb[i] - mb);
      saa += (ra[i] - ma) * (ra[i] - ma);
      sbb += (rb[i] - mb) * (rb[i] - mb);
    }
  if (saa <= 0 || sbb <= 0)
    return NAN;
  return sab / sqrt (saa * sbb);
}
