/* bench-cluster.c: k-means, a full-covariance Gaussian mixture and the
 * nearest-centroid classifier on Fashion-MNIST (the counterpart of
 * bench_cluster.py).
 *
 *   bench-cluster --dir DIR [--threads 1] [--seed 0]
 *
 * Writes into DIR what the Python side needs so both start from the same
 * point: train.npy (60000 x 784 in [0, 1]), train_y.npy, test.npy,
 * test_y.npy, km_init.npy (10 training rows chosen by the seed: the
 * k-means start), pca50.npy (our PCA of the training rows to 50
 * dimensions, the mixture's data) and gmm_means.npy (10 of its rows: the
 * mixture's start means; weights 1/10 and every covariance the data's
 * covariance, which the Python side recomputes).  Then one line:
 *   impl=ours threads=.. km_sec=.. km_cpu=.. km_iter=.. km_inertia=.. gmm_sec=..
 *   gmm_cpu=.. gmm_iter=.. gmm_ll=.. nc_acc=..   (*_sec wall, *_cpu CPU of all threads)
 * k-means is ps_kmeans_from_centres: Lloyd's iterations from the given
 * centres with scikit-learn's stopping rule (labels unchanged, or squared
 * centre shift <= 1e-4 times the mean feature variance, at most 300
 * iterations).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ps-base.h"
#include "ps-dataset.h"
#include "ps-eval.h"
#include "ps-gmm.h"
#include "ps-kmeans.h"

#include <time.h>

/* CPU seconds of the whole process: the machine is often shared, so CPU
 * time is printed beside wall time. */
static double
cpu_now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static gboolean
write_npy (const char *path, const float *x, guint n, guint d)
{
  FILE *f = fopen (path, "wb");
  if (!f)
    return FALSE;
  char dict[128];
  int len = snprintf (dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%u, %u), }", n, d);
  int total = 10 + len + 1;
  int pad = (64 - total % 64) % 64;
  unsigned char head[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0 };
  guint16 hlen = (guint16) (len + pad + 1);
  head[8] = hlen & 0xff;
  head[9] = hlen >> 8;
  gboolean ok = fwrite (head, 1, 10, f) == 10 && fwrite (dict, 1, len, f) == (size_t) len;
  for (int i = 0; i < pad && ok; i++)
    ok = fputc (' ', f) != EOF;
  ok = ok && fputc ('\n', f) != EOF;
  ok = ok && fwrite (x, sizeof (float), (size_t) n * d, f) == (size_t) n * d;
  return fclose (f) == 0 && ok;
}

static gboolean
write_in (const char *dir, const char *name, const float *x, guint n, guint d)
{
  g_autofree char *p = g_build_filename (dir, name, NULL);
  if (!write_npy (p, x, n, d))
    {
      fprintf (stderr, "cannot write %s\n", p);
      return FALSE;
    }
  return TRUE;
}

static float *
labels_f32 (const PsDataset *ds)
{
  float *y = g_new (float, ds->n);
  for (guint i = 0; i < ds->n; i++)
    y[i] = (float) ds->y[i];
  return y;
}

int
main (int argc, char **argv)
{
  guint threads = 1;
  guint64 seed = 0;
  const char *dir = NULL;
  for (int i = 1; i < argc; i++)
    {
      if (i + 1 < argc && strcmp (argv[i], "--threads") == 0)
        threads = (guint) atoi (argv[++i]);
      else if (i + 1 < argc && strcmp (argv[i], "--seed") == 0)
        seed = g_ascii_strtoull (argv[++i], NULL, 10);
      else if (i + 1 < argc && strcmp (argv[i], "--dir") == 0)
        dir = argv[++i];
      else
        {
          fprintf (stderr, "usage: bench-cluster --dir DIR [--threads N] [--seed S]\n");
          return 2;
        }
    }
  if (dir == NULL)
    {
      fprintf (stderr, "bench-cluster: --dir is required\n");
      return 2;
    }
  ps_blas_set_threads ((int) threads);
  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) all = ps_dataset_load_idx_dir (ps_fashion_mnist_dir (), &error);
  if (all == NULL)
    {
      fprintf (stderr, "cannot load Fashion-MNIST: %s\n", error->message);
      return 1;
    }
  g_autoptr (PsDataset) train = ps_dataset_split_view (all, PS_SPLIT_TRAIN);
  g_autoptr (PsDataset) test = ps_dataset_split_view (all, PS_SPLIT_TEST);
  const guint n = train->n, d = train->d, K = 10;
  g_autofree float *ytr = labels_f32 (train), *yte = labels_f32 (test);
  PsRng rng;
  ps_rng_init (&rng, seed, 21);
  g_autofree guint *perm = g_new (guint, n);
  ps_rng_permutation (&rng, perm, n);
  g_autofree float *c = g_new (float, (gsize) K * d);
  for (guint k = 0; k < K; k++)
    memcpy (c + (gsize) k * d, train->x + (gsize) perm[k] * d, d * sizeof (float));
  if (!write_in (dir, "train.npy", train->x, n, d) || !write_in (dir, "train_y.npy", ytr, n, 1)
      || !write_in (dir, "test.npy", test->x, test->n, d) || !write_in (dir, "test_y.npy", yte, test->n, 1)
      || !write_in (dir, "km_init.npy", c, K, d))
    return 1;

  /* k-means. */
  int km_iter;
  double t0 = ps_now (), c0 = cpu_now ();
  guint km_it = 0;
  double inertia = ps_kmeans_from_centres (train->x, n, d, K, 300, 1e-4, c, NULL, &km_it, &error);
  km_iter = (int) km_it;
  if (inertia < 0)
    {
      fprintf (stderr, "k-means: %s\n", error->message);
      return 1;
    }
  double km_sec = ps_now () - t0, km_cpu = cpu_now () - c0;

  /* The mixture on our 50-D PCA (untimed), from the same start as the
   * Python side. */
  const int P = 50;
  g_autoptr (PsPca) pca = ps_pca_fit (train->x, n, d, P, seed, &error);
  if (!pca)
    {
      fprintf (stderr, "PCA: %s\n", error->message);
      return 1;
    }
  g_autofree float *z = g_new (float, (gsize) n * P);
  ps_pca_transform (pca, train->x, n, z);
  g_autoptr (PsGaussMix) g = ps_gaussmix_new (K, P, 1e-6);
  g_autofree float *gm = g_new (float, (gsize) K * P);
  for (guint k = 0; k < K; k++)
    for (int j = 0; j < P; j++)
      {
        gm[(gsize) k * P + j] = z[(gsize) perm[K + k] * P + j];
        g->means[(gsize) k * P + j] = gm[(gsize) k * P + j];
      }
  if (!write_in (dir, "pca50.npy", z, n, P) || !write_in (dir, "gmm_means.npy", gm, K, P))
    return 1;
  {
    /* Every covariance starts as the data's (ddof 0) plus the ridge. */
    g_autofree double *mu = g_new0 (double, P);
    for (guint i = 0; i < n; i++)
      for (int j = 0; j < P; j++)
        mu[j] += z[(gsize) i * P + j] / n;
    g_autofree float *zc = g_new (float, (gsize) n * P);
    for (guint i = 0; i < n; i++)
      for (int j = 0; j < P; j++)
        zc[(gsize) i * P + j] = (float) (z[(gsize) i * P + j] - mu[j]);
    g_autofree float *cov = g_new (float, (gsize) P * P);
    ps_sgemm (TRUE, FALSE, P, P, (int) n, 1.f / n, zc, P, zc, P, 0.f, cov, P);
    for (guint k = 0; k < K; k++)
      for (int t = 0; t < P * P; t++)
        g->covs[(gsize) k * P * P + t] = cov[t] + (t / P == t % P ? 1e-6 : 0);
  }
  int gmm_iter;
  t0 = ps_now ();
  c0 = cpu_now ();
  double ll = ps_gaussmix_fit (g, z, n, NULL, 100, 1e-3, &gmm_iter);
  double gmm_sec = ps_now () - t0, gmm_cpu = cpu_now () - c0;

  /* Nearest centroid: class means of the training images, the nearest
   * mean for each test image. */
  g_autofree float *means = g_new0 (float, (gsize) K * d);
  g_autofree double *acc = g_new0 (double, (gsize) K * d);
  g_autofree guint *cnt = g_new0 (guint, K);
  for (guint i = 0; i < n; i++)
    {
      for (guint j = 0; j < d; j++)
        acc[(gsize) train->y[i] * d + j] += train->x[(gsize) i * d + j];
      cnt[train->y[i]]++;
    }
  for (guint k = 0; k < K; k++)
    for (guint j = 0; j < d; j++)
      means[(gsize) k * d + j] = (float) (acc[(gsize) k * d + j] / MAX (cnt[k], 1));
  g_autofree gint32 *pred = g_new (gint32, test->n);
  ps_kmeans_predict (test->x, test->n, d, means, K, pred, NULL);
  guint ok = 0;
  for (guint i = 0; i < test->n; i++)
    ok += pred[i] == test->y[i];
  printf ("impl=ours threads=%u km_sec=%.3f km_cpu=%.3f km_iter=%d km_inertia=%.6e gmm_sec=%.3f "
          "gmm_cpu=%.3f gmm_iter=%d gmm_ll=%.6f nc_acc=%.4f\n", threads, km_sec, km_cpu, km_iter,
          inertia, gmm_sec, gmm_cpu, gmm_iter, ll, (double) ok / test->n);
  return 0;
}
