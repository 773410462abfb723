/* ps-probpsenn.c: probabilistic prototypes and far-OOD sets (see
 * ps-probpsenn.h). */
#define G_LOG_DOMAIN "ps-probpsenn"

#include "ps-probpsenn.h"

#include <math.h>
#include <string.h>

void
ps_pps_sample (float *protos, const float *mu, const float *logvar, const float *eps, gsize n)
{
  for (gsize i = 0; i < n; i++)
    protos[i] = mu[i] + expf (0.5f * logvar[i]) * eps[i];
}

void
ps_pps_sample_backward (float *dmu, float *dlogvar, const float *dprotos, const float *logvar,
                        const float *eps, gsize n)
{
  for (gsize i = 0; i < n; i++)
    {
      if (dmu)
        dmu[i] += dprotos[i];
      if (dlogvar)
        dlogvar[i] += dprotos[i] * eps[i] * 0.5f * expf (0.5f * logvar[i]);
    }
}

float
ps_pps_kl (float *dmu, float *dlogvar, const float *mu, const float *logvar, gsize n,
           float m0, float s0, float weight)
{
  const double inv2s2 = 1.0 / (2.0 * (double) s0 * s0);
  const double logs0 = log (s0);
  double acc = 0.0;
  for (gsize i = 0; i < n; i++)
    {
      double v = exp (logvar[i]), dm = (double) mu[i] - m0;
      acc += logs0 - 0.5 * logvar[i] + (v + dm * dm) * inv2s2 - 0.5;
      if (dmu)
        dmu[i] += (float) (weight * 2.0 * dm * inv2s2);
      if (dlogvar)
        dlogvar[i] += (float) (weight * (v * inv2s2 - 0.5));
    }
  return (float) (weight * acc);
}

void
ps_pps_distances (float *dist, float *patches, float *pnorm, const float *feat,
                  const float *protos, int B, int D, int HW, int P)
{
  /* Patches as rows: patches[b * HW + s, d] = feat[b, d, s]. */
  for (int b = 0; b < B; b++)
    for (int d = 0; d < D; d++)
      {
        const float *src = feat + ((gsize) b * D + d) * HW;
        for (int s = 0; s < HW; s++)
          patches[((gsize) b * HW + s) * D + d] = src[s];
      }
  for (int p = 0; p < P; p++)
    {
      double acc = 0.0;
      for (int d = 0; d < D; d++)
        acc += (double) protos[(gsize) p * D + d] * protos[(gsize) p * D + d];
      pnorm[p] = (float) acc;
    }
  const int R = B * HW;
  /* dist = -2 patches protos^T, then the squared norms are added. */
  ps_sgemm (FALSE, TRUE, R, P, D, -2.0f, patches, D, protos, D, 0.0f, dist, P);
  for (int r = 0; r < R; r++)
    {
      const float *f = patches + (gsize) r * D;
      double acc = 0.0;
      for (int d = 0; d < D; d++)
        acc += (double) f[d] * f[d];
      float fn = (float) acc;
      float *row = dist + (gsize) r * P;
      for (int p = 0; p < P; p++)
        row[p] = MAX (row[p] + fn + pnorm[p], 0.0f);
    }
}

static double
entropy_of (const float *p, int C)
{
  double h = 0.0;
  for (int c = 0; c < C; c++)
    if (p[c] > 0.0f)
      h -= (double) p[c] * log (p[c]);
  return h;
}

void
ps_pps_predictive (float *mean, float *entropy, float *mi, float *pstd, const float *probs,
                   int S, int B, int C)
{
  const double logc = C > 1 ? log ((double) C) : 1.0;
  for (int b = 0; b < B; b++)
    {
      float *mb = mean + (gsize) b * C;
      double hmean = 0.0;
      for (int c = 0; c < C; c++)
        {
          double acc = 0.0;
          for (int s = 0; s < S; s++)
            acc += probs[((gsize) s * B + b) * C + c];
          mb[c] = (float) (acc / S);
        }
      for (int s = 0; s < S; s++)
        hmean += entropy_of (probs + ((gsize) s * B + b) * C, C);
      hmean /= S;
      double h = entropy_of (mb, C);
      if (entropy)
        entropy[b] = (float) (h / logc);
      if (mi)
        mi[b] = (float) (MAX (h - hmean, 0.0) / logc);
      if (pstd)
        {
          int best = 0;
          for (int c = 1; c < C; c++)
            if (mb[c] > mb[best])
              best = c;
          double var = 0.0;
          for (int s = 0; s < S; s++)
            {
              double t = probs[((gsize) s * B + b) * C + best] - mb[best];
              var += t * t;
            }
          pstd[b] = (float) sqrt (var / S);
        }
    }
}

/* ---- Far out-of-distribution sets -------------------------------------- */

void
ps_pps_resize (float *out, const float *img, int h, int w, int H, int W)
{
  if (H <= h && W <= w)
    {
      /* Area averaging: output cell [i, j] covers the input rectangle
       * [i h / H, (i + 1) h / H) x [j w / W, (j + 1) w / W), fractional
       * pixels weighted by their overlap. */
      for (int i = 0; i < H; i++)
        {
          double y0 = (double) i * h / H, y1 = (double) (i + 1) * h / H;
          for (int j = 0; j < W; j++)
            {
              double x0 = (double) j * w / W, x1 = (double) (j + 1) * w / W;
              double acc = 0.0, area = 0.0;
              for (int y = (int) floor (y0); y < (int) ceil (y1) && y < h; y++)
                {
                  double wy = MIN (y1, y + 1.0) - MAX (y0, (double) y);
                  for (int x = (int) floor (x0); x < (int) ceil (x1) && x < w; x++)
                    {
                      double wx = MIN (x1, x + 1.0) - MAX (x0, (double) x);
                      acc += wy * wx * img[y * w + x];
                      area += wy * wx;
                    }
                }
              out[i * W + j] = (float) (area > 0 ? acc / area : 0.0);
            }
        }
      return;
    }
  for (int i = 0; i < H; i++)
    {
      float sy = CLAMP (((float) i + 0.5f) * h / H - 0.5f, 0.0f, (float) (h - 1));
      int ya = (int) floorf (sy), yb = MIN (ya + 1, h - 1);
      float ty = sy - ya;
      for (int j = 0; j < W; j++)
        {
          float sx = CLAMP (((float) j + 0.5f) * w / W - 0.5f, 0.0f, (float) (w - 1));
          int xa = (int) floorf (sx), xb = MIN (xa + 1, w - 1);
          float tx = sx - xa;
          float top = img[ya * w + xa] * (1 - tx) + img[ya * w + xb] * tx;
          float bot = img[yb * w + xa] * (1 - tx) + img[yb * w + xb] * tx;
          out[i * W + j] = top * (1 - ty) + bot * ty;
        }
    }
}

static guint32
be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

/* The first n images of Fashion-MNIST's test file, [n, 28 * 28] in [0, 1]. */
static float *
fashion_test_images (guint *n, int *h, int *w, GError **error)
{
  const char *dir = ps_fashion_mnist_dir ();
  g_autofree char *path = g_build_filename (dir, "t10k-images-idx3-ubyte.gz", NULL);
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_free (path);
      path = g_build_filename (dir, "t10k-images-idx3-ubyte", NULL);
    }
  gsize len = 0;
  g_autofree guint8 *buf = ps_data_read_file (path, &len, error);
  if (buf == NULL)
    return NULL;
  if (len < 16 || be32 (buf) != 0x00000803u)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "%s: not an IDX image file", path);
      return NULL;
    }
  guint32 count = be32 (buf + 4), rows = be32 (buf + 8), cols = be32 (buf + 12);
  if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096
      || (guint64) count * rows * cols > len - 16)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_FORMAT, "%s: truncated or corrupt IDX header", path);
      return NULL;
    }
  *n = MIN (*n, count);
  float *x = g_new (float, (gsize) MAX (*n, 1) * rows * cols);
  for (gsize i = 0; i < (gsize) *n * rows * cols; i++)
    x[i] = buf[16 + i] / 255.0f;
  *h = (int) rows;
  *w = (int) cols;
  return x;
}

float *
ps_pps_far_set (PsDataset *ds, const char *kind, guint n, guint64 seed, const char **used,
                GError **error)
{
  const int H = (int) ds->img_h, W = (int) ds->img_w;
  if (H == 0 || W == 0 || ds->img_c > 1)
    kind = "noise";
  else if (g_strcmp0 (kind, "auto") == 0)
    {
      if (H >= 28)
        kind = "digits";
      else
        {
          kind = g_file_test (ps_fashion_mnist_dir (), G_FILE_TEST_IS_DIR) ? "fashion" : "noise";
        }
    }
  float *out = g_new (float, (gsize) MAX (n, 1) * ds->d);
  if (g_strcmp0 (kind, "noise") == 0)
    {
      PsRng rng;
      ps_rng_init (&rng, seed, 21);
      ps_rng_fill_uniform (&rng, out, (gsize) n * ds->d, 0.0f, 1.0f);
      *used = "noise";
      return out;
    }
  g_autofree float *src = NULL;
  int h = 0, w = 0;
  guint avail = 0;
  if (g_strcmp0 (kind, "fashion") == 0)
    {
      avail = n;
      src = fashion_test_images (&avail, &h, &w, error);
      if (src == NULL)
        {
          g_free (out);
          return NULL;
        }
      *used = "fashion";
    }
  else if (g_strcmp0 (kind, "digits") == 0)
    {
      g_autoptr (PsDataset) dg = ps_dataset_load_builtin ("digits", 0, 0, 0, error);
      if (dg == NULL)
        {
          g_free (out);
          return NULL;
        }
      avail = MIN (n, dg->n);
      h = w = 8;
      src = g_memdup2 (dg->x, (gsize) avail * dg->d * sizeof (float));
      *used = "digits";
    }
  else
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                   "far_ood: unknown far set '%s' (auto, fashion, digits, noise)", kind);
      g_free (out);
      return NULL;
    }
  /* Fewer source images than asked: cycle through them. */
  for (guint i = 0; i < n; i++)
    ps_pps_resize (out + (gsize) i * ds->d, src + (gsize) (i % MAX (avail, 1)) * h * w, h, w, H,
                   W);
  return out;
}
