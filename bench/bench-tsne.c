/* bench-tsne.c: PCA to 50 dimensions, Barnes-Hut t-SNE and trustworthiness
 * on Fashion-MNIST images (the counterpart of bench_tsne.py).
 *
 *   bench-tsne [--n 10000] [--iters 1000] [--threads 1] [--seed 0]
 *              [--write-npy FILE]   # the selected rows, for the Python side
 *              [--write-y FILE]     # the final layout as raw float32 [n, 2]
 *
 * The rows are the first n training images, scaled to [0, 1].  One line:
 *   impl=ours threads=1 n=10000 pca_sec=.. tsne_sec=.. pca_cpu=.. tsne_cpu=.. setup_sec=..
 *   trust=.. kl=.. trust_sec=..
 * (*_sec wall seconds, *_cpu CPU seconds of all threads)
 * tsne_sec covers everything t-SNE does after the PCA to 50 (neighbours,
 * affinities, PCA initialisation and the iterations), as scikit-learn's
 * fit_transform does; trustworthiness (k = 10, against the 50-D input,
 * as in the Python script) is outside the timings.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ps-base.h"
#include "ps-dataset.h"
#include "ps-eval.h"
#include "ps-tsne.h"

/* Seconds of CPU used by the whole process (all threads).  The machine
 * this runs on is often shared, so CPU time is printed beside wall time. */
static double
cpu_now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* A .npy (format 1.0) of float32 [n, d], C order. */
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

int
main (int argc, char **argv)
{
  guint n = 10000, iters = 1000, threads = 1;
  guint64 seed = 0;
  const char *npy = NULL, *yout = NULL;
  gboolean trust_too = TRUE;
  for (int i = 1; i < argc; i++)
    {
      if (i + 1 < argc && strcmp (argv[i], "--n") == 0)
        n = (guint) atoi (argv[++i]);
      else if (i + 1 < argc && strcmp (argv[i], "--iters") == 0)
        iters = (guint) atoi (argv[++i]);
      else if (i + 1 < argc && strcmp (argv[i], "--threads") == 0)
        threads = (guint) atoi (argv[++i]);
      else if (i + 1 < argc && strcmp (argv[i], "--seed") == 0)
        seed = g_ascii_strtoull (argv[++i], NULL, 10);
      else if (i + 1 < argc && strcmp (argv[i], "--write-npy") == 0)
        npy = argv[++i];
      else if (strcmp (argv[i], "--no-trust") == 0)
        trust_too = FALSE;
      else if (i + 1 < argc && strcmp (argv[i], "--write-y") == 0)
        yout = argv[++i];
      else
        {
          fprintf (stderr, "usage: %s [--n N] [--iters N] [--threads 1|2] [--seed S] "
                   "[--write-npy FILE] [--write-y FILE] [--no-trust]\n", argv[0]);
          return 2;
        }
    }
  if (n < 100 || iters < 1 || threads < 1 || threads > 2)
    {
      fprintf (stderr, "bad arguments\n");
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
  if (train->n < n)
    {
      fprintf (stderr, "only %u training images\n", train->n);
      return 1;
    }
  const guint d = train->d;
  const float *x = train->x;   /* the first n rows */
  if (npy && !write_npy (npy, x, n, d))
    {
      fprintf (stderr, "cannot write %s\n", npy);
      return 1;
    }

  double t0 = ps_now (), c0 = cpu_now ();
  g_autoptr (PsPca) pca = ps_pca_fit (x, n, d, 50, seed, &error);
  if (!pca)
    {
      fprintf (stderr, "PCA: %s\n", error->message);
      return 1;
    }
  g_autofree float *x50 = g_new (float, (gsize) n * 50);
  ps_pca_transform (pca, x, n, x50);
  double pca_sec = ps_now () - t0, pca_cpu = cpu_now () - c0;

  PsTsneParams p;
  ps_tsne_params_init (&p);
  p.n_iter = iters;
  p.seed = seed;
  p.n_threads = threads;
  t0 = ps_now ();
  c0 = cpu_now ();
  g_autoptr (PsTsne) t = ps_tsne_new (x50, n, 50, &p, &error);
  if (!t)
    {
      fprintf (stderr, "t-SNE: %s\n", error->message);
      return 1;
    }
  double setup_sec = ps_now () - t0;
  double kl = ps_tsne_step (t, iters, &error);
  double tsne_sec = ps_now () - t0, tsne_cpu = cpu_now () - c0;
  if (error)
    {
      fprintf (stderr, "t-SNE: %s\n", error->message);
      return 1;
    }
  g_autofree float *y = ps_tsne_get_embedding (t);
  if (yout)
    {
      g_autoptr (GError) werr = NULL;
      if (!g_file_set_contents (yout, (const char *) y, (gssize) n * 2 * sizeof (float), &werr))
        fprintf (stderr, "%s\n", werr->message);
    }
  t0 = ps_now ();
  double trust = trust_too ? ps_trustworthiness (x50, n, 50, y, 2, 10, NULL, &error) : NAN;
  double trust_sec = ps_now () - t0;
  printf ("impl=ours threads=%u n=%u pca_sec=%.3f tsne_sec=%.3f pca_cpu=%.3f tsne_cpu=%.3f "
          "setup_sec=%.3f trust=%.4f kl=%.4f trust_sec=%.2f\n", threads, n, pca_sec, tsne_sec,
          pca_cpu, tsne_cpu, setup_sec, trust, kl, trust_sec);
  return 0;
}
