/* test-nn-train.c: what training runs on: every loss against central
 * finite differences (losses overwrite their gradient), Adam's vector lanes
 * against the formula, and the diffusion denoiser's direct MLP path against
 * ps_model.  Shares the gradient check of test-nn-support.c. */
#include <math.h>
#include <string.h>

#include "test-nn-support.h"
#include "ps-diffusion.h"
#include "ps-optim.h"

/* ---- Losses -------------------------------------------------------------------------- */

static void
test_xent_value (void)
{
  /* Hand-computed: logits (1, 2, 3), label 2, smoothing 0.1, C = 3.
   * log-sum-exp = 3 + log(1 + e^-1 + e^-2) = 3.4076059644;
   * smoothed targets (0.1/3, 0.1/3, 0.9 + 0.1/3) give
   * sum q x = 0.2 + 2.7 = 2.9, so the loss is 0.5076059644 (and
   * 0.4076059644 without smoothing).  The second row is ignored. */
  const float logits[6] = { 1, 2, 3, 50, -7, 0 };
  const int labels[2] = { 2, -1 };
  float d[6], probs[6];
  for (int i = 0; i < 6; i++)
    d[i] = 123.f;                /* losses overwrite */
  float loss = ps_softmax_xent (d, probs, logits, labels, 2, 3, 0.1f);
  g_assert_cmpfloat_with_epsilon (loss, 0.5076059644, 1e-6);
  loss = ps_softmax_xent (NULL, NULL, logits, labels, 2, 3, 0.f);
  g_assert_cmpfloat_with_epsilon (loss, 0.4076059644, 1e-6);
  /* Gradient of the mean over the one valid row: p - q. */
  double z = exp (1) + exp (2) + exp (3);
  g_assert_cmpfloat_with_epsilon (d[0], exp (1) / z - 0.1 / 3, 1e-6);
  g_assert_cmpfloat_with_epsilon (d[2], exp (3) / z - 0.9 - 0.1 / 3, 1e-6);
  g_assert_cmpfloat (d[3], ==, 0.f);
  g_assert_cmpfloat (d[4], ==, 0.f);
  g_assert_cmpfloat (d[5], ==, 0.f);
  g_assert_cmpfloat_with_epsilon (probs[1], exp (2) / z, 1e-6);
  /* Ignored rows still get their probabilities. */
  g_assert_cmpfloat_with_epsilon (probs[3] + probs[4] + probs[5], 1.0, 1e-6);

  /* Huge logits stay finite; all rows ignored gives 0 and zero gradient. */
  const float big[3] = { 1e4f, -1e4f, 0.f };
  const int lbl[1] = { 1 };
  loss = ps_softmax_xent (d, NULL, big, lbl, 1, 3, 0.f);
  g_assert_cmpfloat_with_epsilon (loss, 2e4, 1.0);
  g_assert_true (ps_all_finite (d, 3));
  const int none[1] = { -1 };
  loss = ps_softmax_xent (d, NULL, big, none, 1, 3, 0.1f);
  g_assert_cmpfloat (loss, ==, 0.f);
  g_assert_cmpfloat (d[0], ==, 0.f);
}

static void
test_xent_grad (void)
{
  PsRng rng;
  ps_rng_init (&rng, 80, 0);
  LossCtx c = { 6, 5 };
  c.logits = randn (&rng, 30, 2.f);
  int labels[6] = { 0, 4, -1, 2, 2, 1 };
  c.labels = labels;
  float *d = TNEW (float, 30);
  const float smooth[] = { 0.f, 0.1f };
  for (guint k = 0; k < G_N_ELEMENTS (smooth); k++)
    {
      c.smoothing = smooth[k];
      ps_softmax_xent (d, NULL, c.logits, c.labels, 6, 5, c.smoothing);
      check_grad ("xent", xent_obj, &c, c.logits, d, 30, 1e-2f, 1e-3);
    }
}

static void
test_mse (void)
{
  const float pred[2] = { 1, 3 }, target[2] = { 0, 1 };
  float d[2];
  g_assert_cmpfloat_with_epsilon (ps_mse_loss (d, pred, target, 2), 2.5, 1e-6);
  g_assert_cmpfloat_with_epsilon (d[0], 1.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (d[1], 2.0, 1e-6);

  PsRng rng;
  ps_rng_init (&rng, 81, 0);
  LossCtx c = { 0 };
  c.n = 40;
  c.logits = randn (&rng, 40, 1.f);
  c.target = randn (&rng, 40, 1.f);
  float *g = TNEW (float, 40);
  ps_mse_loss (g, c.logits, c.target, 40);
  check_grad ("mse", mse_obj, &c, c.logits, g, 40, 1e-2f, 1e-3);
}

static void
test_kl (void)
{
  PsRng rng;
  ps_rng_init (&rng, 82, 0);
  LossCtx c = { 4, 6 };
  c.logits = randn (&rng, 24, 1.5f);
  c.target = randn (&rng, 24, 1.f);
  ps_softmax_forward (c.target, c.target, 4, 6);
  /* A zero target probability must count as 0 log 0 = 0. */
  c.target[0] = 0.f;
  double s = 0.0;
  for (int j = 1; j < 6; j++)
    s += c.target[j];
  for (int j = 1; j < 6; j++)
    c.target[j] /= s;
  float *d = TNEW (float, 24);
  const float temps[] = { 1.f, 2.f };
  for (guint k = 0; k < G_N_ELEMENTS (temps); k++)
    {
      c.temperature = temps[k];
      float T = c.temperature;
      float loss = ps_kl_loss (d, c.logits, c.target, 4, 6, T);
      /* The definition in double: T^2 * mean over rows of
       * sum p (log p - log softmax(x / T)). */
      double expect = 0.0;
      for (int b = 0; b < 4; b++)
        {
          double z = 0.0;
          for (int j = 0; j < 6; j++)
            z += exp (c.logits[b * 6 + j] / T);
          for (int j = 0; j < 6; j++)
            {
              double pj = c.target[b * 6 + j];
              if (pj > 0)
                expect += pj * (log (pj) - (c.logits[b * 6 + j] / T - log (z)));
            }
        }
      expect *= (double) T * T / 4;
      g_assert_cmpfloat (expect, >, 0.0);
      g_assert_cmpfloat_with_epsilon (loss, expect, 1e-5);
      check_grad ("kl", kl_obj, &c, c.logits, d, 24, 1e-2f, 1e-3);
    }
  /* Logits equal to T log p give KL = 0 and zero gradient. */
  for (int i = 0; i < 24; i++)
    c.target[i] = MAX (c.target[i], 1e-3f);
  ps_softmax_forward (c.target, c.target, 4, 6);
  for (int i = 0; i < 24; i++)
    c.logits[i] = 2.f * logf (c.target[i]) + 5.f;
  g_assert_cmpfloat_with_epsilon (ps_kl_loss (d, c.logits, c.target, 4, 6, 2.f), 0.0, 1e-5);
  g_assert_cmpfloat (max_abs_diff (d, (float[24]) { 0 }, 24), <, 1e-6);
}

static void
test_bce (void)
{
  PsRng rng;
  ps_rng_init (&rng, 83, 0);
  LossCtx c = { 0 };
  c.n = 50;
  c.logits = randn (&rng, 50, 2.f);
  c.target = TNEW (float, 50);
  ps_rng_fill_uniform (&rng, c.target, 50, 0.f, 1.f);
  for (int i = 0; i < 10; i++)
    c.target[i] = i % 2;        /* hard labels as well as soft ones */
  float *d = TNEW (float, 50);
  float loss = ps_bce_logits_loss (d, c.logits, c.target, 50);
  double expect = 0.0;
  for (int i = 0; i < 50; i++)
    {
      double s = 1.0 / (1.0 + exp (-(double) c.logits[i]));
      expect -= c.target[i] * log (s) + (1 - c.target[i]) * log (1 - s);
    }
  g_assert_cmpfloat_with_epsilon (loss, expect / 50, 1e-5);
  check_grad ("bce", bce_obj, &c, c.logits, d, 50, 1e-2f, 1e-3);

  /* Confident logits: the naive form would take log(0). */
  const float x[2] = { 100.f, -100.f }, t[2] = { 0.f, 0.f };
  loss = ps_bce_logits_loss (d, x, t, 2);
  g_assert_cmpfloat_with_epsilon (loss, 50.0, 1e-3);
  g_assert_cmpfloat_with_epsilon (d[0], 0.5, 1e-6);
  g_assert_cmpfloat_with_epsilon (d[1], 0.0, 1e-6);
}

/* ---- Adam's vector lanes -------------------------------------------------- */

/* ps_optim_step's Adam runs 16, 4 and 1 parameters at a time (AVX-512, SSE,
 * the tail); a length of 16 k + 4 j + r exercises all three against the
 * formula written out per parameter, over a few steps with weight decay. */
static void
test_adam_lanes (void)
{
  enum { N = 16 * 5 + 4 * 2 + 3, STEPS = 3 };
  PsRng rng;
  ps_rng_init (&rng, 70, 0);
  float *p = randn (&rng, N, 1.f), *ref = tdup (p, N);
  double m[N] = { 0 }, v[N] = { 0 };
  PsOptimConfig cfg;
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, 1e-2f);
  cfg.weight_decay = 0.1f;
  PsOptim *opt = ps_optim_new (&cfg, N);
  for (int t = 1; t <= STEPS; t++)
    {
      float *g = randn (&rng, N, 1.f);
      double ss = 0;
      for (int i = 0; i < N; i++)
        {
          ss += (double) g[i] * g[i];
          double gi = g[i] + 0.1 * ref[i];
          m[i] = 0.9 * m[i] + 0.1 * gi;
          v[i] = 0.999 * v[i] + 0.001 * gi * gi;
          double mh = m[i] / (1 - pow (0.9, t)), vh = v[i] / (1 - pow (0.999, t));
          ref[i] = (float) (ref[i] - 1e-2 * mh / (sqrt (vh) + 1e-8));
        }
      float norm = ps_optim_step (opt, p, g);
      g_assert_cmpfloat (fabs (norm - sqrt (ss)), <=, 1e-5 * sqrt (ss));
      for (int i = 0; i < N; i++)
        g_assert_cmpfloat (fabsf (p[i] - ref[i]), <=, 1e-5f * (1.f + fabsf (ref[i])));
    }
  ps_optim_free (opt);
}

/* ---- The denoiser's direct MLP path ------------------------------------ */

/* ps-diffusion.c runs plain dense/SiLU denoisers through its own fused
 * kernels and a split first layer; ps_model (the reference, itself checked
 * against finite differences in test-model) must agree on the predictions
 * at a shared timestep (with classes, the null class, guidance, a direct
 * and a GEMM first layer, over more rows than one block, split over two
 * threads) and on the
 * parameter gradients of both training steps. */
static void
test_denoiser_direct (void)
{
  static const struct
  {
    int D, E, C;
    const char *hidden;
    PsDiffPred pred;
  } cases[] = {
    { 2, 8, 3, "16s-16s", PS_DIFF_PRED_EPS },
    { 12, 4, 0, "8s-8", PS_DIFF_PRED_V },
    { 3, 0, 2, "", PS_DIFF_PRED_X0 },
  };
  PsDiffSchedule *s = ps_diff_schedule_new (PS_DIFF_SCHED_LINEAR, 100);
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++)
    {
      g_autoptr (GError) error = NULL;
      /* The first case has enough rows for the two-thread split. */
      const int D = cases[k].D, n = k == 0 ? 2100 : 300;
      PsDenoiser *a = ps_denoiser_new (D, cases[k].E, cases[k].C, cases[k].hidden,
                                       cases[k].pred, &error);
      g_assert_no_error (error);
      PsDenoiser *r = ps_denoiser_new (D, cases[k].E, cases[k].C, cases[k].hidden,
                                       cases[k].pred, &error);
      g_assert_no_error (error);
      PsRng rng;
      ps_rng_init (&rng, 60 + k, 0);
      ps_model_init (a->net, &rng);
      /* Non-zero biases, so a dropped bias would show. */
      float *pa = ps_model_params (a->net);
      for (gsize i = 0; i < ps_model_n_params (a->net); i++)
        pa[i] += 0.1f * ps_rng_normal (&rng);
      memcpy (ps_model_params (r->net), pa, ps_model_n_params (a->net) * sizeof (float));
      ps_denoiser_set_direct (r, FALSE);
      g_assert_true (ps_denoiser_get_direct (a));
      g_assert_false (ps_denoiser_get_direct (r));

      float *x = g_new (float, (gsize) n * D), *ea = g_new (float, (gsize) n * D);
      float *er = g_new (float, (gsize) n * D);
      int *cls = g_new (int, n);
      ps_rng_fill_normal (&rng, x, (gsize) n * D, 0.f, 1.5f);
      for (int i = 0; i < n; i++)
        cls[i] = (int) ps_rng_below (&rng, cases[k].C + 3) - 1;   /* -1..C+1 */
      const int ts[3] = { 0, 37, 99 };
      const int blas_threads = ps_blas_get_threads ();
      ps_blas_set_threads (2);
      for (int j = 0; j < 3; j++)
        for (int variant = 0; variant < 3; variant++)
          {
            const int *cc = variant == 0 ? NULL : cls;
            float w = variant == 2 ? 1.5f : 0.f;
            ps_denoiser_eps (a, s, ea, x, n, ts[j], cc, w);
            ps_denoiser_eps (r, s, er, x, n, ts[j], cc, w);
            float scale = 1.f + max_abs (er, (gsize) n * D);
            g_assert_cmpfloat (max_abs_diff (ea, er, (gsize) n * D), <=, 2e-5f * scale);
          }
      g_assert_cmpint (ps_blas_get_threads (), ==, 2);
      ps_blas_set_threads (blas_threads);

      /* Gradients: both optimizers at rate 0, so the parameters stay
       * equal and the gradient slabs can be compared after each step. */
      PsOptimConfig oc;
      ps_optim_config_init (&oc, PS_OPTIM_SGD, 0.f);
      ps_model_set_optimizer (a->net, &oc);
      ps_model_set_optimizer (r->net, &oc);
      const gsize np = ps_model_n_params (a->net);
      for (int step = 0; step < 2; step++)
        {
          const int B = 70;
          PsRng ra, rr;
          ps_rng_init (&ra, 90 + step, 0);
          rr = ra;
          float la = 0.f, lr = 0.f;
          if (step == 0)
            {
              g_assert_true (ps_denoiser_train_batch (a, s, x, cls, B, 0.3f, NULL, &ra, &la,
                                                      &error));
              g_assert_true (ps_denoiser_train_batch (r, s, x, cls, B, 0.3f, NULL, &rr, &lr,
                                                      &error));
            }
          else
            {
              int *tt = g_new (int, B);
              for (int i = 0; i < B; i++)
                tt[i] = (int) ps_rng_below (&ra, 100);
              g_assert_true (ps_denoiser_train_x0 (a, s, x, tt, cls, x + D, B, &la, &error));
              g_assert_true (ps_denoiser_train_x0 (r, s, x, tt, cls, x + D, B, &lr, &error));
              g_free (tt);
            }
          g_assert_no_error (error);
          g_assert_cmpfloat (fabsf (la - lr), <=, 1e-5f * (1.f + fabsf (lr)));
          const float *ga = ps_model_grads (a->net), *gr = ps_model_grads (r->net);
          float scale = max_abs (gr, np);
          g_assert_cmpfloat (scale, >, 0.f);
          g_assert_cmpfloat (max_abs_diff (ga, gr, np), <=, 1e-5f * scale);
        }
      g_free (x);
      g_free (ea);
      g_free (er);
      g_free (cls);
      ps_denoiser_free (a);
      ps_denoiser_free (r);
    }
  /* A network with another activation keeps to ps_model. */
  g_autoptr (GError) error = NULL;
  PsDenoiser *o = ps_denoiser_new (2, 4, 0, "8r-8", PS_DIFF_PRED_EPS, &error);
  g_assert_no_error (error);
  g_assert_false (ps_denoiser_get_direct (o));
  ps_denoiser_free (o);
  ps_diff_schedule_free (s);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/nn/denoiser/direct", test_denoiser_direct);
  g_test_add_data_func ("/nn/optim/adam-lanes", test_adam_lanes, run_in_arena);
  g_test_add_data_func ("/nn/loss/xent/value", test_xent_value, run_in_arena);
  g_test_add_data_func ("/nn/loss/xent/grad", test_xent_grad, run_in_arena);
  g_test_add_data_func ("/nn/loss/mse", test_mse, run_in_arena);
  g_test_add_data_func ("/nn/loss/kl", test_kl, run_in_arena);
  g_test_add_data_func ("/nn/loss/bce", test_bce, run_in_arena);

  return g_test_run ();
}
