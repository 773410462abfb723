/* bench-diffusion.c: our side of the 2-D DDPM benchmark (see run-diffusion.sh).
 *
 *   bench-diffusion [--threads N] [--steps N] [--seed N] [--init ours|torch]
 *                   [--dump-data FILE] [--swd-of FILE]
 *
 * Trains DEN-2D (2 + 32 time embedding -> 128 x 3 SiLU -> 2, eps
 * prediction, linear schedule T = 1000, Adam 1e-3, batch 256) on 10,000
 * points of the 8-Gaussian ring, then draws 10,000 samples with 1000 DDPM
 * steps and with 50 DDIM steps, and prints one line:
 *
 *   impl=ours threads=1 seed=1 train_sec=.. ddpm_sec=.. ddim_sec=.. swd_ddpm=.. swd_ddim=..
 *   train_cpu=.. ddpm_cpu=.. ddim_cpu=..
 *
 * (the *_cpu fields: process CPU time of each phase, steadier than wall
 * time on a loaded machine, for A/B runs of our own code).  --seed seeds
 * the initialisation, the training draws and the sampling noise (the
 * training points stay the same).  --init torch replaces our He-uniform
 * initialisation with PyTorch's default for nn.Linear (weights and biases
 * uniform in +-1/sqrt(fan_in)), to compare training recipes.
 *
 * The sliced Wasserstein distance is to a fresh sample of the ring (seed
 * 987654).  --dump-data writes the training points (raw little-endian f32,
 * 10000 x 2) for the PyTorch side; --swd-of FILE prints the same distance
 * for samples written by the PyTorch side, and exits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

#include "ps-base.h"
#include "ps-dataset.h"
#include "ps-diffusion.h"

static double
cpu_now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* PyTorch's nn.Linear default: kaiming_uniform(a = sqrt(5)) for the
 * weights, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for
 * the biases. */
static void
init_like_torch (PsModel *m, PsRng *rng)
{
  float *params = ps_model_params (m);
  for (int i = 0; i < ps_model_n_layers (m); i++)
    {
      const PsLayerInfo *l = ps_model_layer (m, i);
      if (l->kind != PS_LAYER_LINEAR)
        continue;
      float bound = (float) (1.0 / sqrt ((double) l->in_size));
      ps_rng_fill_uniform (rng, params + l->param_off, l->n_weight + l->n_bias, -bound, bound);
    }
}

static double
swd_to_truth (const float *x, int n)
{
  g_autoptr (GError) error = NULL;
  PsDataset *ref = ps_dataset_generate_2d ("ring", 10000, -1, 987654, &error);
  g_assert_no_error (error);
  double v = ps_sliced_wasserstein (x, n, ref->x, (int) ref->n, 2, 256, 5);
  ps_dataset_unref (ref);
  return v;
}

int
main (int argc, char **argv)
{
  int threads = 1, steps = 10000, seed = 1;
  const char *dump = NULL, *swd_of = NULL, *init = "ours";
  for (int i = 1; i < argc; i++)
    {
      if (g_str_equal (argv[i], "--threads") && i + 1 < argc)
        threads = atoi (argv[++i]);
      else if (g_str_equal (argv[i], "--steps") && i + 1 < argc)
        steps = atoi (argv[++i]);
      else if (g_str_equal (argv[i], "--seed") && i + 1 < argc)
        seed = atoi (argv[++i]);
      else if (g_str_equal (argv[i], "--init") && i + 1 < argc
               && (g_str_equal (argv[i + 1], "ours") || g_str_equal (argv[i + 1], "torch")))
        init = argv[++i];
      else if (g_str_equal (argv[i], "--dump-data") && i + 1 < argc)
        dump = argv[++i];
      else if (g_str_equal (argv[i], "--swd-of") && i + 1 < argc)
        swd_of = argv[++i];
      else
        {
          fprintf (stderr, "usage: %s [--threads N] [--steps N] [--seed N] [--init ours|torch] "
                   "[--dump-data FILE] [--swd-of FILE]\n", argv[0]);
          return 2;
        }
    }
  g_autoptr (GError) error = NULL;
  if (swd_of)
    {
      gchar *buf = NULL;
      gsize len = 0;
      if (!g_file_get_contents (swd_of, &buf, &len, &error))
        {
          fprintf (stderr, "%s\n", error->message);
          return 1;
        }
      printf ("swd=%.5f\n", swd_to_truth ((const float *) buf, (int) (len / (2 * sizeof (float)))));
      g_free (buf);
      return 0;
    }

  ps_blas_set_threads (threads);
  PsDataset *ds = ps_dataset_generate_2d ("ring", 10000, -1, 0, &error);
  g_assert_no_error (error);
  if (dump)
    {
      if (!g_file_set_contents (dump, (const char *) ds->x, (gssize) ds->n * 2 * sizeof (float),
                                &error))
        {
          fprintf (stderr, "%s\n", error->message);
          return 1;
        }
      return 0;
    }

  PsDiffSchedule *s = ps_diff_schedule_new (PS_DIFF_SCHED_LINEAR, 1000);
  PsDenoiser *d = ps_denoiser_new (2, 32, 0, "128s-128s-128s", PS_DIFF_PRED_EPS, &error);
  g_assert_no_error (error);
  PsRng rng;
  ps_rng_init (&rng, (guint64) seed, 0);
  ps_model_init (d->net, &rng);
  if (g_str_equal (init, "torch"))
    init_like_torch (d->net, &rng);
  PsOptimConfig cfg;
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, 1e-3f);
  ps_model_set_optimizer (d->net, &cfg);

  const int B = 256;
  float *xb = g_new (float, B * 2);
  double t0 = ps_now (), c0 = cpu_now ();
  float loss = 0;
  for (int it = 0; it < steps; it++)
    {
      for (int b = 0; b < B; b++)
        {
          guint r = ps_rng_below (&rng, ds->n);
          xb[2 * b] = ds->x[2 * r];
          xb[2 * b + 1] = ds->x[2 * r + 1];
        }
      if (!ps_denoiser_train_batch (d, s, xb, NULL, B, 0.f, NULL, &rng, &loss, &error))
        {
          fprintf (stderr, "%s\n", error->message);
          return 1;
        }
    }
  double train_sec = ps_now () - t0, train_cpu = cpu_now () - c0;

  const int n = 10000;
  float *x = g_new (float, n * 2), *noise = g_new (float, n * 2);
  ps_rng_fill_normal (&rng, noise, n * 2, 0.f, 1.f);
  PsDenoiserEps e = { d, s, 0.f };
  double res[2][3];
  for (int k = 0; k < 2; k++)
    {
      PsSamplerConfig sc;
      ps_sampler_config_init (&sc, k == 0 ? PS_SAMPLER_DDPM : PS_SAMPLER_DDIM, k == 0 ? 1000 : 50);
      memcpy (x, noise, n * 2 * sizeof (float));
      t0 = ps_now ();
      c0 = cpu_now ();
      ps_diff_sample (s, ps_denoiser_eps_func, &e, x, n, 2, NULL, &sc, &rng, NULL, NULL);
      res[k][0] = ps_now () - t0;
      res[k][2] = cpu_now () - c0;
      res[k][1] = swd_to_truth (x, n);
    }
  printf ("impl=ours threads=%d seed=%d init=%s train_sec=%.3f ddpm_sec=%.3f ddim_sec=%.3f "
          "swd_ddpm=%.5f swd_ddim=%.5f loss=%.4f train_cpu=%.3f ddpm_cpu=%.3f ddim_cpu=%.3f\n",
          threads, seed, init, train_sec, res[0][0], res[1][0], res[0][1], res[1][1], loss,
          train_cpu, res[0][2], res[1][2]);
  fflush (stdout);
  g_free (x);
  g_free (noise);
  g_free (xb);
  ps_denoiser_free (d);
  ps_diff_schedule_free (s);
  ps_dataset_unref (ds);
  return 0;
}
