/* test-model.c: the sequential model, optimizers, schedules and checkpoints. */
#include <math.h>
#include <string.h>

#include "ps-base.h"
#include "ps-gradcheck.h"
#include "ps-layers.h"
#include "ps-model.h"
#include "ps-optim.h"

/* ------------------------------------------------------------------ */
/* Spec parsing                                                         */
/* ------------------------------------------------------------------ */

static void
test_spec_good (void)
{
  struct
  {
    const char *spec;
    int n_layers;
    gsize n_params;
    int in, out;
  } cases[] = {
    { "784-256r-128r-10", 5, 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10, 784, 10 },
    { "1x28x28:c16k3p1r-m2-c32k3p1r-m2-f-64r-10", 10,
      (16 * 9 + 16) + (32 * 16 * 9 + 32) + (1568 * 64 + 64) + (64 * 10 + 10), 784, 10 },
    /* linear, layer norm, ReLU, dropout, linear, L2 norm */
    { "2-8nrd0.5-4u", 6, 2 * 8 + 8 + 8 + 8 + 8 * 4 + 4, 2, 4 },
    { "4-3l0.2-2g-5s-1t", 8, 4 * 3 + 3 + 3 * 2 + 2 + 2 * 5 + 5 + 5 + 1, 4, 1 },
    /* stride-2 conv with SiLU, avg pool, linear flattens by itself */
    { "3x8x8:c4k3s2p1s-a2-5", 4, (4 * 3 * 9 + 4) + (4 * 2 * 2 * 5 + 5), 192, 5 },
    { "  10-2  ", 1, 22, 10, 2 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (PsModel) m = ps_model_new (cases[i].spec, &error);
      g_assert_no_error (error);
      g_assert_nonnull (m);
      g_assert_cmpint (ps_model_n_layers (m), ==, cases[i].n_layers);
      g_assert_cmpuint (ps_model_n_params (m), ==, cases[i].n_params);
      g_assert_cmpint (ps_model_in_size (m), ==, cases[i].in);
      g_assert_cmpint (ps_model_out_size (m), ==, cases[i].out);
    }

  /* Shapes through the CNN, and the parsed layer kinds in order. */
  g_autoptr (PsModel) cnn = ps_model_new ("1x28x28:c16k3p1r-m2-c32k3p1r-m2-f-64r-10", NULL);
  PsLayerKind kinds[] = { PS_LAYER_CONV, PS_LAYER_RELU, PS_LAYER_MAXPOOL, PS_LAYER_CONV,
                          PS_LAYER_RELU, PS_LAYER_MAXPOOL, PS_LAYER_FLATTEN, PS_LAYER_LINEAR,
                          PS_LAYER_RELU, PS_LAYER_LINEAR };
  for (int i = 0; i < 10; i++)
    g_assert_cmpint (ps_model_layer (cnn, i)->kind, ==, kinds[i]);
  const PsLayerInfo *l = ps_model_layer (cnn, 5);
  g_assert_cmpint (l->out_c, ==, 32);
  g_assert_cmpint (l->out_h, ==, 7);
  g_assert_cmpint (l->out_w, ==, 7);
  g_assert_cmpuint (ps_model_layer (cnn, 7)->in_size, ==, 1568);

  g_autoptr (PsModel) ln = ps_model_new ("2-8nrd0.5-4u", NULL);
  g_assert_cmpint (ps_model_layer (ln, 1)->kind, ==, PS_LAYER_LAYERNORM);
  g_assert_cmpint (ps_model_layer (ln, 3)->kind, ==, PS_LAYER_DROPOUT);
  g_assert_cmpfloat_with_epsilon (ps_model_layer (ln, 3)->p, 0.5f, 1e-7);
  g_assert_cmpint (ps_model_layer (ln, 5)->kind, ==, PS_LAYER_L2NORM);
  g_autofree char *desc = ps_model_describe_layer (cnn, 0);
  g_assert_nonnull (strstr (desc, "conv"));
}

static void
test_spec_bad (void)
{
  struct
  {
    const char *spec;
    const char *mention;   /* part of the message naming the problem */
  } cases[] = {
    { "", "empty" },
    { "abc", "input width" },
    { "784", "no layers" },
    { "784-", "empty item" },
    { "784--10", "empty item" },
    { "784-10q", "'q'" },
    { "784-c16-10", "image input" },
    { "1x28:10", "CxHxW" },
    { "0x28x28:10", "CxHxW" },
    { "1x28x28:c16k3p5", "not a valid convolution" },
    { "1x4x4:c2k7", "does not fit" },
    { "2-4d1.5", "dropout" },
    { "2-4d", "dropout" },
    { "1x4x4:m8", "does not fit" },
    { "0-10", "input width" },
    { "784-0", "at least one output" },
    { "4-8-m2", "pooling needs an image" },
    { "4-8 -2", "space" },
    { "4-8l2", "slope" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      PsModel *m = ps_model_new (cases[i].spec, &error);
      g_assert_null (m);
      g_assert_error (error, PS_ERROR, PS_ERROR_PARAM);
      if (strstr (error->message, cases[i].mention) == NULL)
        g_error ("spec \"%s\": message \"%s\" does not mention \"%s\"", cases[i].spec,
                 error->message, cases[i].mention);
    }
}

/* ------------------------------------------------------------------ */
/* Whole-model finite-difference gradient check                        */
/* ------------------------------------------------------------------ */

/* L = sum(out * r), evaluated in double. */
static double
probe_loss (PsModel *m, const float *x, int B, const float *r)
{
  const float *out = ps_model_forward (m, x, B);
  gsize n = (gsize) B * ps_model_out_size (m);
  double s = 0.0;
  for (gsize i = 0; i < n; i++)
    s += (double) out[i] * r[i];
  return s;
}

typedef struct
{
  PsModel *m;
  const float *x;
  int B;
  const float *r;
} Probe;

static double
probe_cb (gpointer data)
{
  Probe *pr = data;
  return probe_loss (pr->m, pr->x, pr->B, pr->r);
}

static void
gradcheck_model (const char *spec, int B, guint64 seed)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PsModel) m = ps_model_new (spec, &error);
  g_assert_no_error (error);
  PsRng rng;
  ps_rng_init (&rng, seed, 1);
  ps_model_init (m, &rng);
  ps_model_set_training (m, FALSE);
  /* Non-zero biases and layer-norm affines, so their gradients matter. */
  float *p = ps_model_params (m);
  gsize np = ps_model_n_params (m);
  for (gsize i = 0; i < np; i++)
    p[i] += 0.1f * ps_rng_normal (&rng);

  int in = ps_model_in_size (m), out = ps_model_out_size (m);
  g_autofree float *x = g_new (float, (gsize) B * in);
  g_autofree float *r = g_new (float, (gsize) B * out);
  ps_rng_fill_normal (&rng, x, (gsize) B * in, 0.f, 1.f);
  ps_rng_fill_normal (&rng, r, (gsize) B * out, 0.f, 1.f);

  /* Analytic gradients: all at once, then parameters only, then input only,
   * which must agree with each other. */
  ps_model_zero_grad (m);
  probe_loss (m, x, B, r);
  ps_model_backward (m, r, PS_BACKWARD_ALL);
  g_autofree float *gp = g_memdup2 (ps_model_grads (m), np * sizeof (float));
  g_autofree float *gx = g_memdup2 (ps_model_input_grad (m), (gsize) B * in * sizeof (float));

  ps_model_zero_grad (m);
  probe_loss (m, x, B, r);
  ps_model_backward (m, r, PS_BACKWARD_PARAMS);
  g_assert_cmpmem (ps_model_grads (m), np * sizeof (float), gp, np * sizeof (float));

  ps_model_zero_grad (m);
  probe_loss (m, x, B, r);
  ps_model_backward (m, r, PS_BACKWARD_INPUT);
  g_assert_true (ps_all_finite (ps_model_input_grad (m), (gsize) B * in));
  for (gsize i = 0; i < np; i++)
    g_assert_cmpfloat (ps_model_grads (m)[i], ==, 0.f);
  g_assert_cmpmem (ps_model_input_grad (m), (gsize) B * in * sizeof (float), gx,
                   (gsize) B * in * sizeof (float));

  /* Parameters accumulate: a second backward doubles them. */
  ps_model_zero_grad (m);
  probe_loss (m, x, B, r);
  ps_model_backward (m, r, PS_BACKWARD_PARAMS);
  ps_model_backward (m, r, PS_BACKWARD_PARAMS);
  for (gsize i = 0; i < np; i++)
    g_assert_cmpfloat (fabsf (ps_model_grads (m)[i] - 2.f * gp[i]), <=,
                       1e-5f * (1.f + fabsf (gp[i])));

  Probe pr = { m, x, B, r };
  g_assert_true (ps_gradcheck (probe_cb, &pr, p, gp, np, 0, 2e-2, 2e-3, "dparam", &error));
  g_assert_no_error (error);
  g_assert_true (ps_gradcheck (probe_cb, &pr, x, gx, (gsize) B * in, 0, 2e-2, 2e-3, "dinput",
                               &error));
  g_assert_no_error (error);
}

/* The checker itself must catch a wrong gradient. */
static void
test_gradcheck_catches (void)
{
  g_autoptr (PsModel) m = ps_model_new ("3-4t-2", NULL);
  PsRng rng;
  ps_rng_init (&rng, 5, 0);
  ps_model_init (m, &rng);
  float x[6], r[4];
  ps_rng_fill_normal (&rng, x, 6, 0.f, 1.f);
  ps_rng_fill_normal (&rng, r, 4, 0.f, 1.f);
  ps_model_zero_grad (m);
  probe_loss (m, x, 2, r);
  ps_model_backward (m, r, PS_BACKWARD_PARAMS);
  gsize np = ps_model_n_params (m);
  g_autofree float *g = g_memdup2 (ps_model_grads (m), np * sizeof (float));
  Probe pr = { m, x, 2, r };
  g_autoptr (GError) error = NULL;
  g_assert_true (ps_gradcheck (probe_cb, &pr, ps_model_params (m), g, np, 0, 2e-2, 2e-3,
                               "ok", &error));
  g[3] = g[3] * 1.5f + 0.1f;
  g_assert_false (ps_gradcheck (probe_cb, &pr, ps_model_params (m), g, np, 0, 2e-2, 2e-3,
                                "broken", &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_VALUE);
  g_assert_nonnull (strstr (error->message, "broken[3]"));
}

static void
test_gradcheck_dense (void)
{
  gradcheck_model ("5-7t-6ng-4s-3l0.1-4", 3, 11);
  gradcheck_model ("4-6g-5u", 4, 12);
  /* ReLU kinks make finite differences unreliable; one small model with
   * well-separated pre-activations still checks the ReLU path. */
  gradcheck_model ("3-4r-2", 2, 13);
}

static void
test_gradcheck_conv (void)
{
  gradcheck_model ("2x6x6:c3k3p1t-m2-c4k2g-f-5s-3", 2, 21);
  gradcheck_model ("1x7x7:c2k3s2p1s-a2-4u", 3, 22);
  /* The conv-ReLU-pool block the model runs image by image.  With two
   * ReLU layers, finite differences fail for some draws (seeds 23 and 28),
   * presumably a kink inside the step; the exact comparison of the same
   * path with the kernels is test_conv_block_matches_kernels. */
  gradcheck_model ("2x6x6:c3k3p1r-m2-c2k3p1r-m3-3", 2, 24);
}

/* The model runs conv-ReLU-pool blocks image by image (and fuses the
 * pool and ReLU backward); here every layer output and every gradient is
 * compared with the batched kernels applied layer by layer. */
static void
test_conv_block_matches_kernels (void)
{
  enum { B = 3 };
  g_autoptr (PsModel) m = ps_model_new ("2x8x8:c3k3p1r-m2-c4k3p1r-f-5", NULL);
  g_assert_nonnull (m);
  PsRng rng;
  ps_rng_init (&rng, 41, 0);
  ps_model_init (m, &rng);
  float *p = ps_model_params (m);
  for (gsize i = 0; i < ps_model_n_params (m); i++)
    p[i] += 0.1f * ps_rng_normal (&rng);
  float x[B * 128], r[B * 5];
  ps_rng_fill_normal (&rng, x, G_N_ELEMENTS (x), 0.f, 1.f);
  ps_rng_fill_normal (&rng, r, G_N_ELEMENTS (r), 0.f, 1.f);

  const PsLayerInfo *c1 = ps_model_layer (m, 0), *c2 = ps_model_layer (m, 3);
  const PsLayerInfo *fc = ps_model_layer (m, 6);
  const float *w1 = p + c1->param_off, *b1 = w1 + c1->n_weight;
  const float *w2 = p + c2->param_off, *b2 = w2 + c2->n_weight;
  const float *w3 = p + fc->param_off, *b3 = w3 + fc->n_weight;
  float scratch[2 * 3 * 9 * 64];
  float a1[B * 192], r1[B * 192], p1[B * 48], a2[B * 64], r2[B * 64], out[B * 5];
  int am1[B * 48];
  ps_conv2d_forward (a1, x, w1, b1, scratch, B, 2, 8, 8, 3, 3, 1, 1);
  ps_relu_forward (r1, a1, G_N_ELEMENTS (a1));
  ps_maxpool_forward (p1, am1, r1, B, 3, 8, 8, 2, 2);
  ps_conv2d_forward (a2, p1, w2, b2, scratch, B, 3, 4, 4, 4, 3, 1, 1);
  ps_relu_forward (r2, a2, G_N_ELEMENTS (a2));
  ps_linear_forward (out, r2, w3, b3, B, 64, 5);

  ps_model_set_training (m, FALSE);
  ps_model_forward (m, x, B);
  const float *layer_expect[] = { a1, r1, p1, a2, r2 };
  const gsize layer_n[] = { G_N_ELEMENTS (a1), G_N_ELEMENTS (r1), G_N_ELEMENTS (p1),
                            G_N_ELEMENTS (a2), G_N_ELEMENTS (r2) };
  for (int i = 0; i < 5; i++)
    g_assert_cmpmem (ps_model_layer_output (m, i), layer_n[i] * sizeof (float),
                     layer_expect[i], layer_n[i] * sizeof (float));
  g_assert_cmpmem (ps_model_layer_output (m, -1), sizeof out, out, sizeof out);

  /* Backward by hand; every kernel adds, so buffers start at zero. */
  gsize np = ps_model_n_params (m);
  g_autofree float *g = g_new0 (float, np);
  float dr2[B * 64] = { 0 }, da2[B * 64] = { 0 }, dp1[B * 48] = { 0 };
  float dr1[B * 192] = { 0 }, da1[B * 192] = { 0 }, dx[B * 128] = { 0 };
  ps_linear_backward (dr2, g + fc->param_off, g + fc->param_off + fc->n_weight, r, r2, w3, B,
                      64, 5);
  ps_relu_backward (da2, dr2, a2, G_N_ELEMENTS (da2));
  ps_conv2d_backward (dp1, g + c2->param_off, g + c2->param_off + c2->n_weight, da2, p1, w2,
                      scratch, B, 3, 4, 4, 4, 3, 1, 1);
  ps_maxpool_backward (dr1, dp1, am1, B, 3, 8, 8, 2, 2);
  ps_relu_backward (da1, dr1, a1, G_N_ELEMENTS (da1));
  ps_conv2d_backward (dx, g + c1->param_off, g + c1->param_off + c1->n_weight, da1, x, w1,
                      scratch, B, 2, 8, 8, 3, 3, 1, 1);

  ps_model_zero_grad (m);
  ps_model_backward (m, r, PS_BACKWARD_ALL);
  gsize nonzero = 0;
  for (gsize i = 0; i < np; i++)
    {
      g_assert_cmpfloat (ps_model_grads (m)[i], ==, g[i]);
      nonzero += g[i] != 0.f;
    }
  g_assert_cmpuint (nonzero, >, np / 2);
  for (gsize i = 0; i < G_N_ELEMENTS (dx); i++)
    g_assert_cmpfloat (ps_model_input_grad (m)[i], ==, dx[i]);

  /* Parameters only: the first block's input gradient is skipped. */
  ps_model_zero_grad (m);
  ps_model_backward (m, r, PS_BACKWARD_PARAMS);
  for (gsize i = 0; i < np; i++)
    g_assert_cmpfloat (ps_model_grads (m)[i], ==, g[i]);
}

/* With two BLAS threads the conv blocks of a large batch run on two
 * threads: outputs and input gradients are the same bits (every image is
 * computed alone), the weight gradients the same up to the rounding of
 * summing the two halves apart. */
static void
test_conv_block_two_threads (void)
{
  enum { B = 40 };
  const int before = ps_blas_get_threads ();
  g_autoptr (PsModel) m = ps_model_new ("2x8x8:c3k3p1r-m2-c4k3p1r-m2-f-5", NULL);
  PsRng rng;
  ps_rng_init (&rng, 43, 0);
  ps_model_init (m, &rng);
  g_autofree float *x = g_new (float, B * 128);
  g_autofree float *r = g_new (float, B * 5);
  ps_rng_fill_normal (&rng, x, B * 128, 0.f, 1.f);
  ps_rng_fill_normal (&rng, r, B * 5, 0.f, 1.f);
  gsize np = ps_model_n_params (m);
  float *out[2], *grad[2], *dx[2];
  for (int t = 0; t < 2; t++)
    {
      ps_blas_set_threads (t + 1);
      out[t] = g_memdup2 (ps_model_forward (m, x, B), B * 5 * sizeof (float));
      ps_model_zero_grad (m);
      ps_model_backward (m, r, PS_BACKWARD_ALL);
      grad[t] = g_memdup2 (ps_model_grads (m), np * sizeof (float));
      dx[t] = g_memdup2 (ps_model_input_grad (m), B * 128 * sizeof (float));
      g_assert_true (ps_model_used_second_thread (m) == (t == 1));
    }
  ps_blas_set_threads (before);
  g_assert_cmpmem (out[0], B * 5 * sizeof (float), out[1], B * 5 * sizeof (float));
  g_assert_cmpmem (dx[0], B * 128 * sizeof (float), dx[1], B * 128 * sizeof (float));
  double worst = 0, scale = 0;
  for (gsize i = 0; i < np; i++)
    {
      worst = MAX (worst, fabs (grad[0][i] - grad[1][i]));
      scale = MAX (scale, fabs (grad[0][i]));
    }
  g_test_message ("two threads: largest weight-gradient difference %.3g of %.3g", worst, scale);
  g_assert_cmpfloat (scale, >, 0);
  g_assert_cmpfloat (worst, <=, 1e-5 * scale);
  for (int t = 0; t < 2; t++)
    {
      g_free (out[t]);
      g_free (grad[t]);
      g_free (dx[t]);
    }
  /* Small batches stay on one thread. */
  g_autoptr (PsModel) m2 = ps_model_new ("2x8x8:c3k3p1r-m2-c4k3p1r-m2-f-5", NULL);
  ps_blas_set_threads (2);
  ps_model_forward (m2, x, 8);
  ps_blas_set_threads (before);
  g_assert_false (ps_model_used_second_thread (m2));
}

/* ps_model_train_xent_batch writes the gradients in the backward pass
 * instead of zeroing and adding; the step must equal the long way round
 * on a copy of the model, bit for bit, with stale gradients in the slab
 * beforehand. */
static void
test_train_step_matches_zero_backward (void)
{
  const char *specs[] = { "2x6x6:c3k3p1r-m2-c2k3p1t-f-8nr-4", "5-7r-6g-4" };
  for (guint t = 0; t < G_N_ELEMENTS (specs); t++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (PsModel) a = ps_model_new (specs[t], &error);
      g_assert_no_error (error);
      PsRng rng;
      ps_rng_init (&rng, 51 + t, 0);
      ps_model_init (a, &rng);
      PsOptimConfig cfg;
      ps_optim_config_init (&cfg, PS_OPTIM_ADAM, 1e-2f);
      ps_model_set_optimizer (a, &cfg);
      g_autoptr (GBytes) blob = ps_model_save (a);
      g_autoptr (PsModel) b = ps_model_load (blob, &error);
      g_assert_no_error (error);

      enum { B = 4 };
      int in = ps_model_in_size (a), C = ps_model_out_size (a);
      gsize np = ps_model_n_params (a);
      g_autofree float *x = g_new (float, (gsize) B * in);
      int y[B];
      g_autofree float *dlogits = g_new (float, (gsize) B * C);
      g_autofree float *probs = g_new (float, (gsize) B * C);
      for (int step = 0; step < 3; step++)
        {
          ps_rng_fill_normal (&rng, x, (gsize) B * in, 0.f, 1.f);
          for (int i = 0; i < B; i++)
            y[i] = (int) ps_rng_below (&rng, C);
          /* Garbage in both gradient slabs: neither path may read it. */
          for (gsize i = 0; i < np; i++)
            ps_model_grads (a)[i] = ps_model_grads (b)[i] = 7.f;
          float loss_a;
          g_assert_true (ps_model_train_xent_batch (a, x, y, B, 0.f, &loss_a, &error));
          g_assert_no_error (error);

          const float *logits = ps_model_forward (b, x, B);
          float loss_b = ps_softmax_xent (dlogits, probs, logits, y, B, C, 0.f);
          ps_model_zero_grad (b);
          ps_model_backward (b, dlogits, PS_BACKWARD_PARAMS);
          ps_model_step (b);

          g_assert_cmpfloat (loss_a, ==, loss_b);
          gsize nonzero = 0;
          for (gsize i = 0; i < np; i++)
            {
              g_assert_cmpfloat (ps_model_grads (a)[i], ==, ps_model_grads (b)[i]);
              g_assert_cmpfloat (ps_model_params (a)[i], ==, ps_model_params (b)[i]);
              nonzero += ps_model_grads (a)[i] != 0.f;
            }
          g_assert_cmpuint (nonzero, >, np / 2);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Optimizers                                                           */
/* ------------------------------------------------------------------ */

/* f(x) = sum a_i (x_i - c_i)^2; returns max |x_i - c_i| after `steps`. */
static double
minimise_quadratic (const PsOptimConfig *cfg, int steps)
{
  enum { N = 6 };
  const float a[N] = { 0.5f, 1.f, 2.f, 0.3f, 1.5f, 4.f };
  const float c[N] = { 1.f, -2.f, 0.5f, 3.f, -1.f, 0.f };
  float x[N] = { 0 }, g[N];
  PsOptim *opt = ps_optim_new (cfg, N);
  for (int s = 0; s < steps; s++)
    {
      for (int i = 0; i < N; i++)
        g[i] = 2.f * a[i] * (x[i] - c[i]);
      ps_optim_step (opt, x, g);
    }
  g_assert_cmpint (opt->t, ==, steps);
  ps_optim_free (opt);
  double worst = 0.0;
  for (int i = 0; i < N; i++)
    worst = MAX (worst, fabs (x[i] - c[i]));
  return worst;
}

static void
test_optim_quadratic (void)
{
  PsOptimConfig cfg;

  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, 0.05f);
  g_assert_cmpfloat (minimise_quadratic (&cfg, 5), >, 0.5);
  g_assert_cmpfloat (minimise_quadratic (&cfg, 1000), <, 1e-2);

  ps_optim_config_init (&cfg, PS_OPTIM_SGD, 0.05f);
  g_assert_cmpfloat (minimise_quadratic (&cfg, 500), <, 1e-3);
  cfg.momentum = 0.9f;
  g_assert_cmpfloat (minimise_quadratic (&cfg, 500), <, 1e-3);
  cfg.nesterov = TRUE;
  g_assert_cmpfloat (minimise_quadratic (&cfg, 500), <, 1e-3);

  /* Warm-up plus cosine decay still converges. */
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, 0.1f);
  cfg.sched.kind = PS_SCHED_COSINE;
  cfg.sched.warmup_steps = 20;
  cfg.sched.total_steps = 1500;
  cfg.sched.min_lr = 1e-4f;
  g_assert_cmpfloat (minimise_quadratic (&cfg, 1520), <, 1e-2);
}

static void
test_optim_adamw_decay (void)
{
  enum { N = 5 };
  float p[N] = { 1.f, -2.f, 3.f, 0.5f, -0.25f }, g[N] = { 0 }, orig[N];
  memcpy (orig, p, sizeof p);

  PsOptimConfig cfg;
  ps_optim_config_init (&cfg, PS_OPTIM_ADAMW, 0.1f);
  cfg.weight_decay = 0.5f;
  PsOptim *opt = ps_optim_new (&cfg, N);
  /* With zero gradients Adam's own update is zero, so only the decoupled
   * decay acts: p <- p * (1 - lr * wd) per step. */
  for (int s = 0; s < 10; s++)
    ps_optim_step (opt, p, g);
  for (int i = 0; i < N; i++)
    {
      g_assert_cmpfloat (fabsf (p[i]), <, fabsf (orig[i]));
      g_assert_cmpfloat_with_epsilon (p[i], orig[i] * powf (1.f - 0.05f, 10), 1e-5);
    }
  ps_optim_free (opt);

  /* Plain Adam without decay leaves them untouched. */
  memcpy (p, orig, sizeof p);
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, 0.1f);
  opt = ps_optim_new (&cfg, N);
  ps_optim_step (opt, p, g);
  g_assert_cmpmem (p, sizeof p, orig, sizeof orig);
  ps_optim_free (opt);
}

static void
test_optim_clip (void)
{
  float g[4] = { 6.f, 0.f, 8.f, 0.f };   /* norm 10 */
  float n = ps_clip_grad_norm (g, 4, 1.f);
  g_assert_cmpfloat_with_epsilon (n, 10.f, 1e-5);
  g_assert_cmpfloat_with_epsilon (ps_clip_grad_norm (g, 4, 0.f), 1.f, 1e-5);
  g_assert_cmpfloat_with_epsilon (g[0], 0.6f, 1e-6);
  g_assert_cmpfloat_with_epsilon (g[2], 0.8f, 1e-6);

  /* Under the cap nothing changes. */
  float h[2] = { 0.3f, 0.4f };
  ps_clip_grad_norm (h, 2, 1.f);
  g_assert_cmpfloat (h[0], ==, 0.3f);
  g_assert_cmpfloat (h[1], ==, 0.4f);

  /* Through the optimizer: SGD with lr 1 moves by exactly the clipped
   * gradient. */
  PsOptimConfig cfg;
  ps_optim_config_init (&cfg, PS_OPTIM_SGD, 1.f);
  cfg.clip_norm = 2.f;
  PsOptim *opt = ps_optim_new (&cfg, 2);
  float p[2] = { 0.f, 0.f }, gg[2] = { 30.f, 40.f };
  float norm = ps_optim_step (opt, p, gg);
  g_assert_cmpfloat_with_epsilon (norm, 50.f, 1e-4);
  g_assert_cmpfloat_with_epsilon (sqrtf (p[0] * p[0] + p[1] * p[1]), 2.f, 1e-5);
  ps_optim_free (opt);

  /* Adam without clipping measures the norm inside its update loop (the
   * vector part and the tail): it must be the same norm, and the gradients
   * must stay unscaled. */
  float q[10] = { 0 }, gq[10];
  for (int i = 0; i < 10; i++)
    gq[i] = (float) (i + 1);
  ps_optim_config_init (&cfg, PS_OPTIM_ADAM, 0.1f);
  opt = ps_optim_new (&cfg, 10);
  norm = ps_optim_step (opt, q, gq);
  g_assert_cmpfloat_with_epsilon (norm, sqrtf (385.f), 1e-4);
  g_assert_cmpfloat_with_epsilon (opt->last_grad_norm, sqrtf (385.f), 1e-4);
  g_assert_cmpfloat (gq[9], ==, 10.f);
  ps_optim_free (opt);
}

static void
test_schedules (void)
{
  PsSchedule s = { 0 };
  s.kind = PS_SCHED_CONSTANT;
  s.lr = 0.3f;
  g_assert_cmpfloat (ps_schedule_lr (&s, 0), ==, 0.3f);
  g_assert_cmpfloat (ps_schedule_lr (&s, 12345), ==, 0.3f);

  s.kind = PS_SCHED_STEP;
  s.lr = 1.f;
  s.gamma = 0.5f;
  s.step_every = 10;
  gint64 steps[] = { 0, 9, 10, 19, 20, 25, 99 };
  for (guint i = 0; i < G_N_ELEMENTS (steps); i++)
    g_assert_cmpfloat_with_epsilon (ps_schedule_lr (&s, steps[i]),
                                    powf (0.5f, (float) (steps[i] / 10)), 1e-7);

  s.kind = PS_SCHED_COSINE;
  s.lr = 1.f;
  s.min_lr = 0.1f;
  s.total_steps = 100;
  g_assert_cmpfloat_with_epsilon (ps_schedule_lr (&s, 0), 1.f, 1e-6);
  g_assert_cmpfloat_with_epsilon (ps_schedule_lr (&s, 50), 0.55f, 1e-6);
  g_assert_cmpfloat_with_epsilon (ps_schedule_lr (&s, 100), 0.1f, 1e-6);
  g_assert_cmpfloat_with_epsilon (ps_schedule_lr (&s, 500), 0.1f, 1e-6);
  g_assert_cmpfloat_with_epsilon (ps_schedule_lr (&s, 25),
                                  0.1 + 0.9 * 0.5 * (1 + cos (G_PI / 4)), 1e-6);
  /* Monotone non-increasing over the whole decay. */
  for (int t = 1; t <= 100; t++)
    g_assert_cmpfloat (ps_schedule_lr (&s, t), <=, ps_schedule_lr (&s, t - 1));

  /* Warm-up in front: linear rise to the peak, then the schedule from s = 0. */
  s.warmup_steps = 10;
  g_assert_cmpfloat_with_epsilon (ps_schedule_lr (&s, 0), 0.1f, 1e-6);
  g_assert_cmpfloat_with_epsilon (ps_schedule_lr (&s, 4), 0.5f, 1e-6);
  g_assert_cmpfloat_with_epsilon (ps_schedule_lr (&s, 9), 1.f, 1e-6);
  g_assert_cmpfloat_with_epsilon (ps_schedule_lr (&s, 10), 1.f, 1e-6);
  g_assert_cmpfloat_with_epsilon (ps_schedule_lr (&s, 60), 0.55f, 1e-6);
  g_assert_cmpfloat_with_epsilon (ps_schedule_lr (&s, 110), 0.1f, 1e-6);

  s.kind = PS_SCHED_STEP;
  s.warmup_steps = 5;
  g_assert_cmpfloat_with_epsilon (ps_schedule_lr (&s, 2), 0.6f, 1e-6);
  g_assert_cmpfloat_with_epsilon (ps_schedule_lr (&s, 14), 1.f, 1e-6);
  g_assert_cmpfloat_with_epsilon (ps_schedule_lr (&s, 15), 0.5f, 1e-6);
}

static void
test_ema (void)
{
  enum { N = 3 };
  float start[N] = { 10.f, -10.f, 0.f }, target[N] = { 1.f, 2.f, 3.f };
  PsOptimConfig cfg;
  ps_optim_config_init (&cfg, PS_OPTIM_SGD, 0.f);
  PsOptim *opt = ps_optim_new (&cfg, N);
  g_assert_null (ps_optim_ema (opt));
  ps_optim_ema_enable (opt, 0.9f, start);
  g_assert_cmpmem (ps_optim_ema (opt), sizeof start, start, sizeof start);

  /* One update is the formula; many converge geometrically to the target. */
  ps_optim_ema_update (opt, target);
  for (int i = 0; i < N; i++)
    g_assert_cmpfloat_with_epsilon (ps_optim_ema (opt)[i], 0.9f * start[i] + 0.1f * target[i],
                                    1e-5);
  for (int k = 1; k < 30; k++)
    ps_optim_ema_update (opt, target);
  for (int i = 0; i < N; i++)
    g_assert_cmpfloat_with_epsilon (ps_optim_ema (opt)[i],
                                    target[i] + (start[i] - target[i]) * pow (0.9, 30), 1e-4);
  for (int k = 0; k < 300; k++)
    ps_optim_ema_update (opt, target);
  for (int i = 0; i < N; i++)
    g_assert_cmpfloat_with_epsilon (ps_optim_ema (opt)[i], target[i], 1e-5);

  /* The optimizer updates the EMA from the stepped parameters (lr 0: the
   * parameters stay, so the EMA must stay too). */
  float g[N] = { 1.f, 1.f, 1.f };
  ps_optim_step (opt, target, g);
  for (int i = 0; i < N; i++)
    g_assert_cmpfloat_with_epsilon (ps_optim_ema (opt)[i], target[i], 1e-5);
  ps_optim_free (opt);
}

/* ------------------------------------------------------------------ */
/* Training: determinism, checkpoints, learning                        */
/* ------------------------------------------------------------------ */

/* XOR of four noisy clusters at (+-1, +-1): class = (x > 0) != (y > 0). */
static void
make_xor (guint64 seed, int n, float *x, int *y)
{
  PsRng rng;
  ps_rng_init (&rng, seed, 3);
  for (int i = 0; i < n; i++)
    {
      int qx = ps_rng_below (&rng, 2), qy = ps_rng_below (&rng, 2);
      x[2 * i] = (qx ? 1.f : -1.f) + 0.25f * ps_rng_normal (&rng);
      x[2 * i + 1] = (qy ? 1.f : -1.f) + 0.25f * ps_rng_normal (&rng);
      y[i] = qx != qy;
    }
}

#define XOR_N 256
#define BATCH 32

static PsModel *
make_trainer (const char *spec, guint64 seed)
{
  g_autoptr (GError) error = NULL;
  PsModel *m = ps_model_new (spec, &error);
  g_assert_no_error (error);
  PsRng rng;
  ps_rng_init (&rng, seed, 0);
  ps_model_init (m, &rng);
  PsOptimConfig cfg;
  ps_optim_config_init (&cfg, PS_OPTIM_ADAMW, 0.01f);
  cfg.clip_norm = 5.f;
  cfg.sched.kind = PS_SCHED_COSINE;
  cfg.sched.warmup_steps = 5;
  cfg.sched.total_steps = 200;
  cfg.sched.min_lr = 1e-3f;
  ps_model_set_optimizer (m, &cfg);
  ps_optim_ema_enable (ps_model_get_optimizer (m), 0.95f, ps_model_params (m));
  return m;
}

/* Runs steps [from, to) over the data in a fixed order; returns the last loss. */
static float
train_steps (PsModel *m, const float *x, const int *y, int from, int to)
{
  float loss = 0.f;
  for (int s = from; s < to; s++)
    {
      int off = (s * BATCH) % XOR_N;
      g_autoptr (GError) error = NULL;
      gboolean ok = ps_model_train_xent_batch (m, x + 2 * off, y + off, BATCH, 0.f, &loss,
                                               &error);
      g_assert_no_error (error);
      g_assert_true (ok);
    }
  return loss;
}

static void
test_same_seed (void)
{
  float x[2 * XOR_N];
  int y[XOR_N];
  make_xor (5, XOR_N, x, y);
  const char *spec = "2-16rd0.2-8t-2";
  g_autoptr (PsModel) a = make_trainer (spec, 42);
  g_autoptr (PsModel) b = make_trainer (spec, 42);
  g_autoptr (PsModel) c = make_trainer (spec, 43);
  train_steps (a, x, y, 0, 40);
  train_steps (b, x, y, 0, 40);
  train_steps (c, x, y, 0, 40);
  gsize bytes = ps_model_n_params (a) * sizeof (float);
  g_assert_cmpmem (ps_model_params (a), bytes, ps_model_params (b), bytes);
  g_assert_true (memcmp (ps_model_params (a), ps_model_params (c), bytes) != 0);
}

static void
test_checkpoint_roundtrip (void)
{
  float x[2 * XOR_N];
  int y[XOR_N];
  make_xor (6, XOR_N, x, y);
  /* Dropout in the model so the saved RNG stream matters. */
  const char *spec = "2-16rd0.2-8nt-2";
  g_autoptr (PsModel) whole = make_trainer (spec, 7);
  g_autoptr (PsModel) first = make_trainer (spec, 7);
  train_steps (whole, x, y, 0, 30);
  train_steps (first, x, y, 0, 15);

  g_autoptr (GBytes) blob = ps_model_save (first);
  g_autoptr (GError) error = NULL;
  g_autoptr (PsModel) resumed = ps_model_load (blob, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ps_model_spec (resumed), ==, spec);

  /* Bit-identical outputs in evaluation mode. */
  gsize out_bytes = (gsize) XOR_N * 2 * sizeof (float);
  ps_model_set_training (first, FALSE);
  ps_model_set_training (resumed, FALSE);
  g_autofree float *o1 = g_memdup2 (ps_model_forward (first, x, XOR_N), out_bytes);
  const float *o2 = ps_model_forward (resumed, x, XOR_N);
  g_assert_cmpmem (o1, out_bytes, o2, out_bytes);
  gsize bytes = ps_model_n_params (first) * sizeof (float);
  g_assert_cmpmem (ps_optim_ema (ps_model_get_optimizer (first)), bytes,
                   ps_optim_ema (ps_model_get_optimizer (resumed)), bytes);

  /* Continued training equals uninterrupted training, bit for bit. */
  ps_model_set_training (resumed, TRUE);
  train_steps (resumed, x, y, 15, 30);
  g_assert_cmpmem (ps_model_params (whole), bytes, ps_model_params (resumed), bytes);
  g_assert_cmpmem (ps_optim_ema (ps_model_get_optimizer (whole)), bytes,
                   ps_optim_ema (ps_model_get_optimizer (resumed)), bytes);
  g_assert_cmpint (ps_model_get_optimizer (resumed)->t, ==, 30);

  /* load_into an existing model with the same spec does the same. */
  g_autoptr (PsModel) other = make_trainer (spec, 99);
  g_assert_true (ps_model_load_into (other, blob, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (ps_model_params (first), bytes, ps_model_params (other), bytes);
}

static GBytes *
patched (GBytes *blob, gsize offset, const void *bytes, gsize n, gssize new_len)
{
  gsize size;
  const guint8 *d = g_bytes_get_data (blob, &size);
  gsize len = new_len >= 0 ? (gsize) new_len : size;
  guint8 *copy = g_malloc0 (MAX (len, 1));
  memcpy (copy, d, MIN (len, size));
  if (bytes != NULL)
    memcpy (copy + offset, bytes, n);
  return g_bytes_new_take (copy, len);
}

static void
expect_load_error (GBytes *blob, const char *mention)
{
  g_autoptr (GError) error = NULL;
  PsModel *m = ps_model_load (blob, &error);
  g_assert_null (m);
  g_assert_error (error, PS_ERROR, PS_ERROR_FORMAT);
  if (strstr (error->message, mention) == NULL)
    g_error ("load error \"%s\" does not mention \"%s\"", error->message, mention);
}

static void
test_checkpoint_errors (void)
{
  const char *spec = "4-16rd0.2-3";
  g_autoptr (PsModel) m = make_trainer (spec, 1);
  g_autoptr (GBytes) blob = ps_model_save (m);
  gsize size = g_bytes_get_size (blob);

  g_autoptr (GBytes) bad_magic = patched (blob, 0, "XSMODEL\n", 8, -1);
  expect_load_error (bad_magic, "magic");

  guint32 v = GUINT32_TO_LE (2);
  g_autoptr (GBytes) newer = patched (blob, 8, &v, 4, -1);
  expect_load_error (newer, "newer");

  g_autoptr (GBytes) truncated = patched (blob, 0, NULL, 0, (gssize) size - 3);
  expect_load_error (truncated, "truncated");

  g_autoptr (GBytes) longer = patched (blob, 0, NULL, 0, (gssize) size + 4);
  expect_load_error (longer, "unexpected bytes");

  /* Same length spec, different sizes: "4-17rd0.2-3". */
  g_autoptr (GBytes) resized = patched (blob, 16 + 3, "7", 1, -1);
  expect_load_error (resized, "parameters");

  g_autoptr (GBytes) bad_spec = patched (blob, 16 + 4, "q", 1, -1);
  expect_load_error (bad_spec, "bad spec");

  g_autoptr (GBytes) empty = g_bytes_new (NULL, 0);
  expect_load_error (empty, "magic");

  /* load_into refuses another spec and leaves the model alone. */
  g_autoptr (PsModel) other = make_trainer ("4-16r-3", 2);
  gsize bytes = ps_model_n_params (other) * sizeof (float);
  g_autofree float *before = g_memdup2 (ps_model_params (other), bytes);
  g_autoptr (GError) error = NULL;
  g_assert_false (ps_model_load_into (other, blob, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_FORMAT);
  g_assert_cmpmem (before, bytes, ps_model_params (other), bytes);
}

static void
test_learns_xor (void)
{
  float x[2 * XOR_N], xt[2 * XOR_N];
  int y[XOR_N], yt[XOR_N];
  make_xor (8, XOR_N, x, y);
  make_xor (9, XOR_N, xt, yt);

  g_autoptr (PsModel) m = make_trainer ("2-16r-16r-2", 3);
  double acc0 = ps_model_accuracy (m, xt, yt, XOR_N, 0);
  float loss0 = train_steps (m, x, y, 0, 1);
  float loss = train_steps (m, x, y, 1, 300);
  double acc = ps_model_accuracy (m, xt, yt, XOR_N, 0);
  g_test_message ("XOR: loss %.3f -> %.3f, held-out accuracy %.3f -> %.3f", loss0, loss,
                  acc0, acc);
  /* A linear or untrained model cannot separate XOR. */
  g_assert_cmpfloat (acc0, <, 0.9);
  g_assert_cmpfloat (acc, >=, 0.95);
  g_assert_cmpfloat (loss, <, 0.5f * loss0);

  /* The EMA of the weights (decay 0.95) is a working model too, and swapping
   * twice restores the parameters bit for bit. */
  gsize bytes = ps_model_n_params (m) * sizeof (float);
  g_autofree float *live = g_memdup2 (ps_model_params (m), bytes);
  g_assert_true (ps_model_swap_ema (m));
  g_assert_cmpmem (live, bytes, ps_optim_ema (ps_model_get_optimizer (m)), bytes);
  g_assert_true (memcmp (live, ps_model_params (m), bytes) != 0);
  g_assert_cmpfloat (ps_model_accuracy (m, xt, yt, XOR_N, 0), >=, 0.95);
  g_assert_true (ps_model_swap_ema (m));
  g_assert_cmpmem (live, bytes, ps_model_params (m), bytes);

  /* Predictions do not depend on the batch size used to compute them. */
  int p1[XOR_N], p2[XOR_N];
  ps_model_predict (m, xt, XOR_N, 7, p1);
  ps_model_predict (m, xt, XOR_N, 1000, p2);
  g_assert_cmpmem (p1, sizeof p1, p2, sizeof p2);
  g_assert_true (ps_model_get_training (m));

  /* The penultimate layer (16 ReLU units) is readable after a forward. */
  ps_model_forward (m, xt, 5);
  const float *emb = ps_model_layer_output (m, 3);
  g_assert_cmpint (ps_model_layer (m, 3)->out_size, ==, 16);
  for (int i = 0; i < 5 * 16; i++)
    g_assert_cmpfloat (emb[i], >=, 0.f);
}

static void
test_diverged (void)
{
  g_autoptr (PsModel) m = make_trainer ("2-4-2", 1);
  float x[4] = { NAN, 1.f, 2.f, 3.f };
  int y[2] = { 0, 1 };
  gsize bytes = ps_model_n_params (m) * sizeof (float);
  g_autofree float *before = g_memdup2 (ps_model_params (m), bytes);
  g_autoptr (GError) error = NULL;
  float loss;
  g_assert_false (ps_model_train_xent_batch (m, x, y, 2, 0.f, &loss, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_DIVERGED);
  g_assert_cmpmem (before, bytes, ps_model_params (m), bytes);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/model/spec/good", test_spec_good);
  g_test_add_func ("/model/spec/bad", test_spec_bad);
  g_test_add_func ("/model/gradcheck/catches", test_gradcheck_catches);
  g_test_add_func ("/model/gradcheck/dense", test_gradcheck_dense);
  g_test_add_func ("/model/gradcheck/conv", test_gradcheck_conv);
  g_test_add_func ("/model/conv-block-matches-kernels", test_conv_block_matches_kernels);
  g_test_add_func ("/model/conv-block-two-threads", test_conv_block_two_threads);
  g_test_add_func ("/model/train-step-matches-zero-backward",
                   test_train_step_matches_zero_backward);
  g_test_add_func ("/model/optim/quadratic", test_optim_quadratic);
  g_test_add_func ("/model/optim/adamw-decay", test_optim_adamw_decay);
  g_test_add_func ("/model/optim/clip", test_optim_clip);
  g_test_add_func ("/model/optim/schedules", test_schedules);
  g_test_add_func ("/model/optim/ema", test_ema);
  g_test_add_func ("/model/train/same-seed", test_same_seed);
  g_test_add_func ("/model/checkpoint/roundtrip", test_checkpoint_roundtrip);
  g_test_add_func ("/model/checkpoint/errors", test_checkpoint_errors);
  g_test_add_func ("/model/train/learns-xor", test_learns_xor);
  g_test_add_func ("/model/train/diverged", test_diverged);
  return g_test_run ();
}
