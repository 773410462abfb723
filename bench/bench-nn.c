/* bench-nn.c: train the reference MLP or CNN on Fashion-MNIST and print
 * seconds per epoch and test accuracy (the counterpart of bench_nn_torch.py).
 *
 *   bench-nn --net mlp|cnn [--epochs N] [--threads N] [--batch N] [--seed S]
 *            [--max-batches N]
 *
 * --max-batches stops each epoch after N batches (for quick profiling runs;
 * the reported time then covers only those batches).
 *
 * One line per epoch:
 *   net=mlp impl=ours threads=1 epoch=1 sec=1.234 loss=0.5123 test_acc=0.8421 cpu=1.201
 * cpu= is the process CPU time of the same pass (all threads): on a host
 * shared with other jobs it varies much less than the wall time.
 * The timed part is the training pass only (shuffle, batch gather, forward,
 * backward, Adam); evaluation is outside it, as in the PyTorch script.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ps-base.h"
#include "ps-dataset.h"
#include "ps-model.h"

static double
cpu_now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

static const char *
spec_for (const char *net)
{
  if (strcmp (net, "mlp") == 0)
    return "784-256r-128r-10";
  if (strcmp (net, "cnn") == 0)
    return "1x28x28:c16k3p1r-m2-c32k3p1r-m2-f-64r-10";
  return NULL;
}

int
main (int argc, char **argv)
{
  const char *net = "mlp";
  int epochs = 1, threads = 1, batch = 128, max_batches = 0;
  guint64 seed = 0;
  for (int i = 1; i < argc; i++)
    {
      if (i + 1 < argc && strcmp (argv[i], "--net") == 0)
        net = argv[++i];
      else if (i + 1 < argc && strcmp (argv[i], "--epochs") == 0)
        epochs = atoi (argv[++i]);
      else if (i + 1 < argc && strcmp (argv[i], "--threads") == 0)
        threads = atoi (argv[++i]);
      else if (i + 1 < argc && strcmp (argv[i], "--batch") == 0)
        batch = atoi (argv[++i]);
      else if (i + 1 < argc && strcmp (argv[i], "--max-batches") == 0)
        max_batches = atoi (argv[++i]);
      else if (i + 1 < argc && strcmp (argv[i], "--seed") == 0)
        seed = g_ascii_strtoull (argv[++i], NULL, 10);
      else
        {
          fprintf (stderr, "usage: %s --net mlp|cnn [--epochs N] [--threads N] [--batch N] "
                   "[--seed S] [--max-batches N]\n", argv[0]);
          return 2;
        }
    }
  const char *spec = spec_for (net);
  if (spec == NULL || epochs < 1 || threads < 1 || batch < 1)
    {
      fprintf (stderr, "bad arguments\n");
      return 2;
    }
  ps_blas_set_threads (threads);

  g_autoptr (GError) error = NULL;
  g_autoptr (PsDataset) all = ps_dataset_load_idx_dir (ps_fashion_mnist_dir (), &error);
  if (all == NULL)
    {
      fprintf (stderr, "cannot load Fashion-MNIST: %s\n", error->message);
      return 1;
    }
  g_autoptr (PsDataset) train = ps_dataset_split_view (all, PS_SPLIT_TRAIN);
  g_autoptr (PsDataset) test = ps_dataset_split_view (all, PS_SPLIT_TEST);
  const guint d = train->d, n = train->n;

  g_autoptr (PsModel) m = ps_model_new (spec, &error);
  g_assert_no_error (error);
  PsRng rng;
  ps_rng_init (&rng, seed, 0);
  ps_model_init (m, &rng);
  PsOptimConfig cfg;
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, 1e-3f);
  ps_model_set_optimizer (m, &cfg);

  guint *perm = g_new (guint, n);
  float *xb = ps_alloc0 ((gsize) batch * d * sizeof (float));
  int *yb = g_new (int, batch);

  for (int epoch = 1; epoch <= epochs; epoch++)
    {
      double t0 = ps_now (), c0 = cpu_now ();
      ps_rng_permutation (&rng, perm, n);
      double loss_sum = 0.0;
      int n_batches = 0;
      for (guint s = 0; s < n; s += batch)
        {
          if (max_batches > 0 && n_batches >= max_batches)
            break;
          int B = (int) MIN ((guint) batch, n - s);
          for (int i = 0; i < B; i++)
            {
              guint r = perm[s + i];
              memcpy (xb + (gsize) i * d, train->x + (gsize) r * d, d * sizeof (float));
              yb[i] = train->y[r];
            }
          float loss;
          if (!ps_model_train_xent_batch (m, xb, yb, B, 0.f, &loss, &error))
            {
              fprintf (stderr, "%s\n", error->message);
              return 1;
            }
          loss_sum += loss;
          n_batches++;
        }
      double sec = ps_now () - t0, cpu = cpu_now () - c0;
      double acc = ps_model_accuracy (m, test->x, (const int *) test->y, (int) test->n, 1000);
      printf ("net=%s impl=ours threads=%d epoch=%d sec=%.3f loss=%.4f test_acc=%.4f cpu=%.3f\n",
              net, threads, epoch, sec, loss_sum / n_batches, acc, cpu);
      fflush (stdout);
    }

  g_free (perm);
  ps_free (xb);
  g_free (yb);
  return 0;
}
