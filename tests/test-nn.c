/* test-nn.c: every layer kernel and loss against central finite
 * differences (input and parameter gradients), the im2col convolution
 * against the direct one, the dense layer against a plain loop, and the
 * contracts of core/nn/ps-layers.h: backward adds, NULL gradients are
 * skipped.  Losses, the optimiser and the denoiser's direct path are in
 * test-nn-train.c.
 *
 * A gradient check perturbs one float at a time, runs the forward and
 * reduces L = sum(out * R) for a fixed random R in double, so the only
 * float error left is the forward's own rounding.  The error reported is
 * ||numeric - analytic|| / (||numeric|| + ||analytic||): zero for a perfect
 * match, one for a gradient of the wrong sign.  The check and each
 * kernel's objective live in test-nn-support.c. */
#include <math.h>
#include <string.h>

#include "test-nn-support.h"

/* ---- Dense -------------------------------------------------------------- */

static void
test_linear_forward (void)
{
  PsRng rng;
  ps_rng_init (&rng, 1, 0);
  /* Odd sizes so no BLAS blocking lines up by accident. */
  int shapes[][3] = { { 1, 1, 1 }, { 5, 7, 3 }, { 33, 65, 17 } };
  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
    {
      LinearCtx c = linear_ctx_new (&rng, shapes[s][0], shapes[s][1], shapes[s][2]);
      float *expect = TNEW (float, (gsize) c.B * c.OC);
      /* The oracle: the naive GEMM under the same row-major contract, then
       * the bias by hand. */
      ps_sgemm_ref (FALSE, TRUE, c.B, c.OC, c.C, 1.f, c.x, c.C, c.w, c.C, 0.f, expect, c.OC);
      for (int b = 0; b < c.B; b++)
        for (int o = 0; o < c.OC; o++)
          expect[b * c.OC + o] += c.b[o];
      /* A direct triple loop checks the oracle's transpose convention. */
      for (int b = 0; b < c.B; b++)
        for (int o = 0; o < c.OC; o++)
          {
            double acc = c.b[o];
            for (int k = 0; k < c.C; k++)
              acc += (double) c.x[b * c.C + k] * c.w[o * c.C + k];
            g_assert_cmpfloat_with_epsilon (expect[b * c.OC + o], acc, 1e-4);
          }
      ps_linear_forward (c.out, c.x, c.w, c.b, c.B, c.C, c.OC);
      g_assert_cmpfloat (max_abs_diff (c.out, expect, (gsize) c.B * c.OC), <, 1e-4);

      /* Without bias. */
      ps_sgemm_ref (FALSE, TRUE, c.B, c.OC, c.C, 1.f, c.x, c.C, c.w, c.C, 0.f, expect, c.OC);
      ps_linear_forward (c.out, c.x, c.w, NULL, c.B, c.C, c.OC);
      g_assert_cmpfloat (max_abs_diff (c.out, expect, (gsize) c.B * c.OC), <, 1e-4);
    }
}

static void
test_linear_backward (void)
{
  PsRng rng;
  ps_rng_init (&rng, 2, 0);
  LinearCtx c = linear_ctx_new (&rng, 4, 7, 5);
  float *dx = TNEW (float, 4 * 7);
  float *dw = TNEW (float, 5 * 7);
  float *db = TNEW (float, 5);
  ps_linear_backward (dx, dw, db, c.R, c.x, c.w, c.B, c.C, c.OC);
  check_grad ("linear dinp", linear_obj, &c, c.x, dx, 4 * 7, 1e-2f, 1e-3);
  check_grad ("linear dweight", linear_obj, &c, c.w, dw, 5 * 7, 1e-2f, 1e-3);
  check_grad ("linear dbias", linear_obj, &c, c.b, db, 5, 1e-2f, 1e-3);
}

/* Backward adds: two calls from zero give twice one call's gradients. */
/* ps_linear_backward_acc against ps_linear_backward: overwriting equals
 * adding into zeros, accumulating equals adding into the old values. */
static void
test_linear_backward_acc (void)
{
  PsRng rng;
  ps_rng_init (&rng, 34, 0);
  enum { B = 5, C = 7, OC = 3 };
  float *x = randn (&rng, B * C, 1.f), *w = randn (&rng, OC * C, 1.f);
  float *d = randn (&rng, B * OC, 1.f);
  for (int acc = 0; acc <= 1; acc++)
    {
      float *dx = randn (&rng, B * C, 1.f), *dw = randn (&rng, OC * C, 1.f);
      float *db = randn (&rng, OC, 1.f);
      float *ex = TNEW (float, B * C), *ew = TNEW (float, OC * C), *eb = TNEW (float, OC);
      if (acc)
        {
          memcpy (ew, dw, sizeof (float) * OC * C);
          memcpy (eb, db, sizeof (float) * OC);
        }
      /* dinp always overwritten here; the weights as `acc` says. */
      ps_linear_backward (ex, ew, eb, d, x, w, B, C, OC);
      ps_linear_backward_acc (dx, dw, db, d, x, w, B, C, OC, FALSE, acc);
      for (int i = 0; i < B * C; i++)
        g_assert_cmpfloat (dx[i], ==, ex[i]);
      for (int i = 0; i < OC * C; i++)
        g_assert_cmpfloat (dw[i], ==, ew[i]);
      for (int i = 0; i < OC; i++)
        g_assert_cmpfloat (db[i], ==, eb[i]);
    }
}

static void
test_linear_accumulate (void)
{
  PsRng rng;
  ps_rng_init (&rng, 3, 0);
  LinearCtx c = linear_ctx_new (&rng, 6, 9, 4);
  float *dx1 = TNEW (float, 6 * 9), *dw1 = TNEW (float, 4 * 9), *db1 = TNEW (float, 4);
  float *dx2 = TNEW (float, 6 * 9), *dw2 = TNEW (float, 4 * 9), *db2 = TNEW (float, 4);
  ps_linear_backward (dx1, dw1, db1, c.R, c.x, c.w, c.B, c.C, c.OC);
  ps_linear_backward (dx2, dw2, db2, c.R, c.x, c.w, c.B, c.C, c.OC);
  ps_linear_backward (dx2, dw2, db2, c.R, c.x, c.w, c.B, c.C, c.OC);
  assert_doubled (dx2, dx1, 6 * 9);
  assert_doubled (dw2, dw1, 4 * 9);
  assert_doubled (db2, db1, 4);
}

static void
test_linear_null_grads (void)
{
  PsRng rng;
  ps_rng_init (&rng, 4, 0);
  LinearCtx c = linear_ctx_new (&rng, 6, 9, 4);
  float *dx1 = TNEW (float, 6 * 9), *dw1 = TNEW (float, 4 * 9), *db1 = TNEW (float, 4);
  float *dx2 = TNEW (float, 6 * 9), *dw2 = TNEW (float, 4 * 9);
  ps_linear_backward (dx1, dw1, db1, c.R, c.x, c.w, c.B, c.C, c.OC);
  /* Input gradient only, as guidance asks for it. */
  ps_linear_backward (dx2, NULL, NULL, c.R, c.x, c.w, c.B, c.C, c.OC);
  g_assert_cmpmem (dx1, sizeof (float) * 6 * 9, dx2, sizeof (float) * 6 * 9);
  /* Parameter gradients only. */
  ps_linear_backward (NULL, dw2, NULL, c.R, c.x, c.w, c.B, c.C, c.OC);
  g_assert_cmpmem (dw1, sizeof (float) * 4 * 9, dw2, sizeof (float) * 4 * 9);
}

/* ---- Convolution ------------------------------------------------------------ */

/* B, C, H, W, OC, K, stride, pad */
static const int conv_shapes[][8] = {
  { 2, 3, 7, 6, 4, 3, 1, 1 },
  { 2, 3, 7, 6, 4, 3, 2, 1 },
  { 2, 3, 7, 6, 4, 3, 2, 0 },
  { 1, 2, 5, 5, 3, 3, 1, 0 },
  { 2, 4, 5, 6, 3, 1, 1, 0 },   /* pointwise fast path */
  { 2, 4, 5, 6, 3, 1, 2, 0 },
  { 1, 2, 5, 5, 2, 5, 1, 2 },
  { 2, 2, 8, 9, 3, 4, 2, 1 },
  { 1, 3, 3, 3, 2, 3, 1, 0 },   /* one output pixel */
  { 1, 1, 4, 4, 2, 3, 1, 2 },   /* padding wider than needed */
};

static void
test_conv_vs_ref (void)
{
  PsRng rng;
  ps_rng_init (&rng, 10, 0);
  for (guint s = 0; s < G_N_ELEMENTS (conv_shapes); s++)
    {
      const int *q = conv_shapes[s];
      ConvCtx c = conv_ctx_new (&rng, q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]);
      gsize n_out = (gsize) c.B * c.OC * c.OH * c.OW;
      g_assert_cmpuint (n_out, >, 0);
      float *expect = TNEW (float, n_out);
      for (int with_bias = 0; with_bias < 2; with_bias++)
        {
          const float *bias = with_bias ? c.b : NULL;
          ps_conv2d_forward_ref (expect, c.x, c.w, bias, c.B, c.C, c.H, c.W, c.OC, c.K,
                                 c.stride, c.pad);
          ps_conv2d_forward (c.out, c.x, c.w, bias, c.scratch, c.B, c.C, c.H, c.W, c.OC, c.K,
                             c.stride, c.pad);
          double err = max_abs_diff (c.out, expect, n_out);
          if (err > 1e-4)
            g_error ("conv shape %u (bias %d): max error %g", s, with_bias, err);
        }
    }
}

static void
test_conv_ref_known (void)
{
  /* A hand-checked case pins the reference itself: a 3x3 all-ones kernel
   * with padding 1 over a 3x3 image of ones counts the in-image
   * neighbours (4 in a corner, 6 on an edge, 9 in the middle). */
  float x[9], w[9], out[9];
  for (int i = 0; i < 9; i++)
    x[i] = w[i] = 1.f;
  ps_conv2d_forward_ref (out, x, w, NULL, 1, 1, 3, 3, 1, 3, 1, 1);
  const float expect[9] = { 4, 6, 4, 6, 9, 6, 4, 6, 4 };
  g_assert_cmpmem (out, sizeof out, expect, sizeof expect);
  g_assert_cmpint (ps_conv_out_size (7, 3, 2, 1), ==, 4);
  g_assert_cmpint (ps_conv_out_size (7, 3, 2, 0), ==, 3);
  g_assert_cmpint (ps_conv_out_size (28, 2, 2, 0), ==, 14);
}

/* col2im is the adjoint of im2col: <cols, im2col(x)> = <col2im(cols), x>. */
static void
test_conv_col2im_adjoint (void)
{
  PsRng rng;
  ps_rng_init (&rng, 11, 0);
  for (guint s = 0; s < G_N_ELEMENTS (conv_shapes); s++)
    {
      const int *q = conv_shapes[s];
      int C = q[1], H = q[2], W = q[3], K = q[5], stride = q[6], pad = q[7];
      int OH = ps_conv_out_size (H, K, stride, pad), OW = ps_conv_out_size (W, K, stride, pad);
      gsize nc = (gsize) C * K * K * OH * OW, nx = (gsize) C * H * W;
      float *x = randn (&rng, nx, 1.f);
      float *r = randn (&rng, nc, 1.f);
      float *cols = TNEW (float, nc);
      float *back = TNEW (float, nx);
      ps_im2col (cols, x, C, H, W, K, stride, pad);
      ps_col2im (back, r, C, H, W, K, stride, pad);
      double lhs = dot_d (r, cols, nc), rhs = dot_d (back, x, nx);
      g_assert_cmpfloat (fabs (lhs - rhs), <, 1e-4 * (1.0 + fabs (lhs)));
      g_assert_cmpfloat (dot_d (back, back, nx), >, 0.0);
    }
}

static void
test_conv_backward (void)
{
  PsRng rng;
  ps_rng_init (&rng, 12, 0);
  const int pick[] = { 0, 1, 2, 4, 5, 6, 7 };
  for (guint s = 0; s < G_N_ELEMENTS (pick); s++)
    {
      const int *q = conv_shapes[pick[s]];
      /* Smaller batch and channels keep the check fast. */
      ConvCtx c = conv_ctx_new (&rng, MIN (q[0], 2), MIN (q[1], 2), q[2], q[3], MIN (q[4], 3),
                                q[5], q[6], q[7]);
      gsize nx = (gsize) c.B * c.C * c.H * c.W, nw = (gsize) c.OC * c.C * c.K * c.K;
      float *dx = TNEW (float, nx), *dw = TNEW (float, nw), *db = TNEW (float, c.OC);
      ps_conv2d_backward (dx, dw, db, c.R, c.x, c.w, c.scratch, c.B, c.C, c.H, c.W, c.OC, c.K,
                          c.stride, c.pad);
      g_autofree char *name = g_strdup_printf ("conv shape %d", pick[s]);
      check_grad (name, conv_obj, &c, c.x, dx, nx, 1e-2f, 1e-3);
      check_grad (name, conv_obj, &c, c.w, dw, nw, 1e-2f, 1e-3);
      check_grad (name, conv_obj, &c, c.b, db, c.OC, 1e-2f, 1e-3);

      /* Adds, and skips NULL: a second call with only dweight doubles dw
       * and leaves dx and db alone. */
      float *dx0 = tdup (dx, nx);
      float *dw0 = tdup (dw, nw);
      ps_conv2d_backward (NULL, dw, NULL, c.R, c.x, c.w, c.scratch, c.B, c.C, c.H, c.W, c.OC,
                          c.K, c.stride, c.pad);
      assert_doubled (dw, dw0, nw);
      g_assert_cmpmem (dx, sizeof (float) * nx, dx0, sizeof (float) * nx);
      ps_conv2d_backward (dx, NULL, NULL, c.R, c.x, c.w, c.scratch, c.B, c.C, c.H, c.W, c.OC,
                          c.K, c.stride, c.pad);
      assert_doubled (dx, dx0, nx);
    }
}

/* ---- Pooling and upsampling ---------------------------------------------------- */

static void
run_pool_check (int max, int B, int C, int H, int W, int K, int stride, guint64 seed)
{
  PsRng rng;
  ps_rng_init (&rng, seed, 0);
  PoolCtx c = { B, C, H, W, K, stride };
  c.max = max;
  c.OH = ps_conv_out_size (H, K, stride, 0);
  c.OW = ps_conv_out_size (W, K, stride, 0);
  gsize nx = (gsize) B * C * H * W, no = (gsize) B * C * c.OH * c.OW;
  /* Distinct values 0.05 apart: a step of 1e-2 never changes which
   * element of a window is the maximum. */
  guint *perm = TNEW (guint, nx);
  ps_rng_permutation (&rng, perm, nx);
  c.x = TNEW (float, nx);
  for (gsize i = 0; i < nx; i++)
    c.x[i] = 0.05f * (float) perm[i] - 1.f;
  c.out = TNEW (float, no);
  c.argmax = TNEW (int, no);
  c.R = randn (&rng, no, 1.f);
  pool_obj (&c);
  float *dx = TNEW (float, nx);
  if (max)
    ps_maxpool_backward (dx, c.R, c.argmax, B, C, H, W, K, stride);
  else
    ps_avgpool_backward (dx, c.R, B, C, H, W, K, stride);
  g_autofree char *name = g_strdup_printf ("%spool K%d s%d", max ? "max" : "avg", K, stride);
  check_grad (name, pool_obj, &c, c.x, dx, nx, 1e-2f, 1e-3);
}

static void
test_maxpool (void)
{
  /* The forward against the plain definition on a tiny plane. */
  const float x[16] = { 1, 5, 2, 0,
                        3, 4, 8, 7,
                        9, 0, 1, 1,
                        2, 6, 3, 4 };
  float out[4];
  int am[4];
  ps_maxpool_forward (out, am, x, 1, 1, 4, 4, 2, 2);
  const float expect[4] = { 5, 8, 9, 4 };
  const int expect_am[4] = { 1, 6, 8, 15 };
  g_assert_cmpmem (out, sizeof out, expect, sizeof expect);
  g_assert_cmpmem (am, sizeof am, expect_am, sizeof expect_am);

  /* Negative values (the kernel compares order keys, not floats) and a
   * tie, which goes to the first maximum in row-major order. */
  const float neg[16] = { -3, -2, -1, -1,
                          -4, -5, -7, -1,
                          -9, -8, -0.5f, 2,
                          -8, -8.5f, 3, -1 };
  ps_maxpool_forward (out, am, neg, 1, 1, 4, 4, 2, 2);
  const float expect_neg[4] = { -2, -1, -8, 3 };
  const int expect_neg_am[4] = { 1, 2, 9, 14 };
  g_assert_cmpmem (out, sizeof out, expect_neg, sizeof expect_neg);
  g_assert_cmpmem (am, sizeof am, expect_neg_am, sizeof expect_neg_am);

  run_pool_check (1, 2, 3, 6, 6, 2, 2, 20);
  run_pool_check (1, 2, 2, 7, 5, 3, 1, 21);   /* overlapping windows */
  run_pool_check (1, 1, 2, 7, 7, 3, 2, 22);   /* leftover border */
}

/* The plain definition of max-pooling with argmax (ties to the first
 * maximum in row-major order), the oracle for the kernel's 2x2 fast path.
 * The kernel compares total-order keys, in which -0 lies below +0, so the
 * oracle does too. */
static void
maxpool_naive (float *out, int *argmax, const float *x, int B, int C, int H, int W, int K,
               int stride)
{
  int OH = ps_conv_out_size (H, K, stride, 0), OW = ps_conv_out_size (W, K, stride, 0);
  for (int bc = 0; bc < B * C; bc++)
    for (int oh = 0; oh < OH; oh++)
      for (int ow = 0; ow < OW; ow++)
        {
          int best = -1;
          for (int kh = 0; kh < K; kh++)
            for (int kw = 0; kw < K; kw++)
              {
                int idx = (oh * stride + kh) * W + ow * stride + kw;
                float v = x[bc * H * W + idx], bv = best < 0 ? 0.f : x[bc * H * W + best];
                if (best < 0 || v > bv || (v == bv && signbit (bv) && !signbit (v)))
                  best = idx;
              }
          out[(bc * OH + oh) * OW + ow] = x[bc * H * W + best];
          argmax[(bc * OH + oh) * OW + ow] = best;
        }
}

static void
test_maxpool_fast (void)
{
  PsRng rng;
  ps_rng_init (&rng, 31, 0);
  /* Odd and even planes (7x9 leaves a row and a column outside every
   * window); values on a coarse grid, so ties are frequent, and of both
   * signs, including -0 next to +0. */
  const int shapes[][4] = { { 2, 3, 6, 8 }, { 1, 2, 7, 9 }, { 3, 1, 28, 28 } };
  for (guint t = 0; t < G_N_ELEMENTS (shapes); t++)
    {
      int B = shapes[t][0], C = shapes[t][1], H = shapes[t][2], W = shapes[t][3];
      int OH = H / 2, OW = W / 2;
      gsize nx = (gsize) B * C * H * W, no = (gsize) B * C * OH * OW;
      float *x = TNEW (float, nx);
      for (gsize i = 0; i < nx; i++)
        x[i] = (float) ((int) ps_rng_below (&rng, 7) - 3) * 0.5f;
      x[0] = -0.f;
      x[1] = 0.f;
      float *out = TNEW (float, no), *expect = TNEW (float, no);
      int *am = TNEW (int, no), *expect_am = TNEW (int, no);
      ps_maxpool_forward (out, am, x, B, C, H, W, 2, 2);
      maxpool_naive (expect, expect_am, x, B, C, H, W, 2, 2);
      g_assert_cmpmem (am, no * sizeof (int), expect_am, no * sizeof (int));
      g_assert_cmpmem (out, no * sizeof (float), expect, no * sizeof (float));
      /* A NULL argmax (inference) gives the same values. */
      float *out2 = TNEW (float, no);
      ps_maxpool_forward (out2, NULL, x, B, C, H, W, 2, 2);
      g_assert_cmpmem (out2, no * sizeof (float), expect, no * sizeof (float));
    }
}

static void
test_bias_relu (void)
{
  PsRng rng;
  ps_rng_init (&rng, 33, 0);
  enum { C = 3, P = 37 };
  float *x = randn (&rng, C * P, 1.f), *bias = randn (&rng, C, 1.f);
  float *pre = tdup (x, C * P), *out = TNEW (float, C * P);
  ps_bias_relu_forward (pre, out, bias, C, P);
  gsize positive = 0;
  for (int c = 0; c < C; c++)
    for (int p = 0; p < P; p++)
      {
        float v = x[c * P + p] + bias[c];
        g_assert_cmpfloat (pre[c * P + p], ==, v);
        g_assert_cmpfloat (out[c * P + p], ==, v > 0.f ? v : 0.f);
        positive += v > 0.f;
      }
  g_assert_cmpuint (positive, >, 0);
  g_assert_cmpuint (positive, <, C * P);
  /* Without a bias it is a ReLU that keeps its input. */
  float *pre2 = tdup (x, C * P), *expect = TNEW (float, C * P);
  ps_bias_relu_forward (pre2, out, NULL, C, P);
  ps_relu_forward (expect, x, C * P);
  g_assert_cmpmem (pre2, C * P * sizeof (float), x, C * P * sizeof (float));
  g_assert_cmpmem (out, C * P * sizeof (float), expect, C * P * sizeof (float));
}

/* The fused bias + SiLU against bias by hand and ps_silu_forward: the same
 * arithmetic, so the same bits; with and without pre, in place, with a
 * width that leaves a partial vector. */
static void
test_bias_silu (void)
{
  PsRng rng;
  ps_rng_init (&rng, 35, 0);
  enum { B = 5, C = 37 };
  float *x = randn (&rng, B * C, 3.f), *bias = randn (&rng, C, 1.f);
  float *v = TNEW (float, B * C), *expect = TNEW (float, B * C);
  for (int b = 0; b < B; b++)
    for (int c = 0; c < C; c++)
      v[b * C + c] = x[b * C + c] + bias[c];
  ps_silu_forward (expect, v, B * C);
  float *pre = TNEW (float, B * C), *out = TNEW (float, B * C);
  float *sig = TNEW (float, B * C), *expect_sig = TNEW (float, B * C);
  ps_sigmoid_forward (expect_sig, v, B * C);
  ps_bias_silu_forward (out, pre, sig, x, bias, B, C);
  g_assert_cmpmem (pre, B * C * sizeof (float), v, B * C * sizeof (float));
  g_assert_cmpmem (sig, B * C * sizeof (float), expect_sig, B * C * sizeof (float));
  g_assert_cmpmem (out, B * C * sizeof (float), expect, B * C * sizeof (float));
  ps_bias_silu_forward (out, pre, NULL, x, bias, B, C);
  g_assert_cmpmem (out, B * C * sizeof (float), expect, B * C * sizeof (float));
  /* In place, without pre. */
  float *io = tdup (x, B * C);
  ps_bias_silu_forward (io, NULL, NULL, io, bias, B, C);
  g_assert_cmpmem (io, B * C * sizeof (float), expect, B * C * sizeof (float));
  /* pre in place (the training layout). */
  float *io2 = tdup (x, B * C);
  ps_bias_silu_forward (out, io2, NULL, io2, bias, B, C);
  g_assert_cmpmem (io2, B * C * sizeof (float), v, B * C * sizeof (float));
  g_assert_cmpmem (out, B * C * sizeof (float), expect, B * C * sizeof (float));
  /* No bias: SiLU itself. */
  ps_silu_forward (expect, x, B * C);
  ps_bias_silu_forward (out, NULL, NULL, x, NULL, B, C);
  g_assert_cmpmem (out, B * C * sizeof (float), expect, B * C * sizeof (float));
}

/* The small dense layer with SiLU against the GEMM oracle, bias by hand
 * and ps_silu_forward (fused multiply-adds make it differ by rounding). */
static void
test_small_dense_silu (void)
{
  PsRng rng;
  ps_rng_init (&rng, 37, 0);
  enum { B = 7, K = 3, C = 37 };
  float *x = randn (&rng, B * K, 1.f), *wt = randn (&rng, K * C, 1.f);
  float *c = randn (&rng, C, 1.f);
  float *pre = TNEW (float, B * C), *expect = TNEW (float, B * C);
  float *out = TNEW (float, B * C);
  /* wt is the weight transposed: out = x @ wt, no transposes. */
  ps_sgemm_ref (FALSE, FALSE, B, C, K, 1.f, x, K, wt, C, 0.f, pre, C);
  for (int b = 0; b < B; b++)
    for (int j = 0; j < C; j++)
      pre[b * C + j] += c[j];
  ps_small_dense_silu_forward (out, x, wt, c, B, K, C, FALSE);
  g_assert_cmpfloat (max_abs_diff (out, pre, B * C), <=, 1e-5f);
  ps_silu_forward (expect, pre, B * C);
  ps_small_dense_silu_forward (out, x, wt, c, B, K, C, TRUE);
  g_assert_cmpfloat (max_abs_diff (out, expect, B * C), <=, 1e-5f);
  g_assert_cmpfloat (max_abs (expect, B * C), >, 0.5f);
}

typedef struct
{
  int B, C;
  float *x, *bias, *pre, *sig, *out, *R;
} BiasSiluCtx;

/* sum R * silu(x + bias) */
static double
bias_silu_obj (gpointer p)
{
  BiasSiluCtx *c = p;
  ps_bias_silu_forward (c->out, c->pre, c->sig, c->x, c->bias, c->B, c->C);
  return dot_d (c->out, c->R, (gsize) c->B * c->C);
}

/* The fused SiLU backward with the bias gradient: against the unfused
 * kernels (the same bits: the overwrite is the add into zero, the bias sum
 * the same order), in place, and against finite differences. */
static void
test_silu_backward_bias (void)
{
  PsRng rng;
  ps_rng_init (&rng, 36, 0);
  enum { B = 6, C = 21 };
  BiasSiluCtx c = { B, C };
  c.x = randn (&rng, B * C, 2.f);
  c.bias = randn (&rng, C, 1.f);
  c.pre = TNEW (float, B * C);
  c.sig = TNEW (float, B * C);
  c.out = TNEW (float, B * C);
  c.R = randn (&rng, B * C, 1.f);
  bias_silu_obj (&c);
  float *expect = TNEW (float, B * C);
  ps_silu_backward (expect, c.R, c.pre, B * C);
  float *db0 = randn (&rng, C, 1.f), *expect_db = tdup (db0, C);
  for (int b = 0; b < B; b++)
    for (int k = 0; k < C; k++)
      expect_db[k] += expect[b * C + k];
  float *dpre = randn (&rng, B * C, 1.f);   /* overwritten, whatever it held */
  float *db = tdup (db0, C);
  ps_silu_backward_bias (dpre, db, c.R, c.pre, NULL, B, C);
  g_assert_cmpmem (dpre, B * C * sizeof (float), expect, B * C * sizeof (float));
  g_assert_cmpmem (db, C * sizeof (float), expect_db, C * sizeof (float));
  /* With the forward's sigmoids: the same values without recomputing. */
  float *dpre2 = randn (&rng, B * C, 1.f);
  ps_silu_backward_bias (dpre2, NULL, c.R, c.pre, c.sig, B, C);
  g_assert_cmpmem (dpre2, B * C * sizeof (float), expect, B * C * sizeof (float));
  /* In place over dout, and without a bias gradient. */
  float *io = tdup (c.R, B * C);
  ps_silu_backward_bias (io, NULL, io, c.pre, c.sig, B, C);
  g_assert_cmpmem (io, B * C * sizeof (float), expect, B * C * sizeof (float));
  /* Finite differences for x (through pre) and for the bias. */
  float *zero_db = TNEW (float, C);
  ps_silu_backward_bias (dpre, zero_db, c.R, c.pre, c.sig, B, C);
  check_grad ("bias_silu dinp", bias_silu_obj, &c, c.x, dpre, B * C, 1e-2f, 1e-3);
  check_grad ("bias_silu dbias", bias_silu_obj, &c, c.bias, zero_db, C, 1e-2f, 1e-3);
}

typedef struct
{
  int B, C, H, W, K;
  float *x, *act, *out, *R;
  int *argmax;
} PoolReluCtx;

/* sum R * maxpool(relu(x)) */
static double
pool_relu_obj (gpointer p)
{
  PoolReluCtx *c = p;
  gsize nx = (gsize) c->B * c->C * c->H * c->W;
  int OH = c->H / c->K, OW = c->W / c->K;
  ps_relu_forward (c->act, c->x, nx);
  ps_maxpool_forward (c->out, c->argmax, c->act, c->B, c->C, c->H, c->W, c->K, c->K);
  return dot_d (c->out, c->R, (gsize) c->B * c->C * OH * OW);
}

static void
test_maxpool_relu_backward (void)
{
  PsRng rng;
  ps_rng_init (&rng, 32, 0);
  const int cases[][5] = { { 2, 3, 6, 6, 2 }, { 1, 2, 7, 5, 2 }, { 2, 2, 7, 7, 3 } };
  for (guint t = 0; t < G_N_ELEMENTS (cases); t++)
    {
      PoolReluCtx c = { cases[t][0], cases[t][1], cases[t][2], cases[t][3], cases[t][4] };
      int OH = c.H / c.K, OW = c.W / c.K;
      gsize nx = (gsize) c.B * c.C * c.H * c.W, no = (gsize) c.B * c.C * OH * OW;
      /* Distinct values 0.05 apart, none within 0.025 of the ReLU's kink:
       * a step of 1e-2 changes neither a window's maximum nor a sign. */
      guint *perm = TNEW (guint, nx);
      ps_rng_permutation (&rng, perm, nx);
      c.x = TNEW (float, nx);
      for (gsize i = 0; i < nx; i++)
        c.x[i] = 0.05f * (float) perm[i] - 0.05f * (float) (nx * 3 / 4) + 0.025f;
      c.act = TNEW (float, nx);
      c.out = TNEW (float, no);
      c.argmax = TNEW (int, no);
      c.R = randn (&rng, no, 1.f);
      pool_relu_obj (&c);

      /* Against the two kernels it replaces; dx starts as garbage since
       * the fused kernel overwrites. */
      float *dact = TNEW (float, nx), *expect = TNEW (float, nx), *dx = TNEW (float, nx);
      ps_maxpool_backward (dact, c.R, c.argmax, c.B, c.C, c.H, c.W, c.K, c.K);
      ps_relu_backward (expect, dact, c.x, nx);
      for (gsize i = 0; i < nx; i++)
        dx[i] = 123.f;
      ps_maxpool_relu_backward_set (dx, c.R, c.argmax, c.act, c.B, c.C, c.H, c.W, c.K, c.K);
      gsize nonzero = 0;
      for (gsize i = 0; i < nx; i++)
        {
          g_assert_cmpfloat (dx[i], ==, expect[i]);
          nonzero += dx[i] != 0.f;
        }
      /* Some windows pass a gradient, others are cut by the ReLU. */
      g_assert_cmpuint (nonzero, >, 0);
      g_assert_cmpuint (nonzero, <, no);
      g_autofree char *name = g_strdup_printf ("maxpool+relu K%d", c.K);
      check_grad (name, pool_relu_obj, &c, c.x, dx, nx, 1e-2f, 1e-3);
    }
}

static void
test_avgpool (void)
{
  const float x[4] = { 1, 2, 3, 6 };
  float out[1];
  ps_avgpool_forward (out, x, 1, 1, 2, 2, 2, 2);
  g_assert_cmpfloat (out[0], ==, 3.f);
  run_pool_check (0, 2, 3, 6, 6, 2, 2, 23);
  run_pool_check (0, 2, 2, 7, 5, 3, 1, 24);
}

static void
test_upsample (void)
{
  const float x[2] = { 1, 2 };
  float out[8];
  ps_upsample_forward (out, x, 1, 1, 1, 2, 2);
  const float expect[8] = { 1, 1, 2, 2, 1, 1, 2, 2 };
  g_assert_cmpmem (out, sizeof out, expect, sizeof expect);

  PsRng rng;
  ps_rng_init (&rng, 30, 0);
  for (int f = 1; f <= 3; f++)
    {
      UpCtx c = { 2, 2, 3, 4, f };
      gsize nx = 2 * 2 * 3 * 4, no = nx * f * f;
      c.x = randn (&rng, nx, 1.f);
      c.out = TNEW (float, no);
      c.R = randn (&rng, no, 1.f);
      float *dx = TNEW (float, nx);
      ps_upsample_backward (dx, c.R, c.B, c.C, c.H, c.W, f);
      check_grad ("upsample", up_obj, &c, c.x, dx, nx, 1e-2f, 1e-3);
    }
}

/* ---- Elementwise activations ------------------------------------------------------ */

static void
leaky_forward (float *out, const float *inp, gsize n)
{
  ps_leaky_relu_forward (out, inp, n, 0.1f);
}

static void
leaky_backward (float *dinp, const float *dout, const float *inp, gsize n)
{
  ps_leaky_relu_backward (dinp, dout, inp, n, 0.1f);
}

/* uses_out: the backward takes the forward's output (tanh, sigmoid)
 * rather than its input. */
static void
run_act_check (const char *name, ActForward fwd, ActBackward bwd, gboolean uses_out,
               gboolean kinked, double tol, guint64 seed)
{
  PsRng rng;
  ps_rng_init (&rng, seed, 0);
  const gsize n = 257;
  ActCtx c = { fwd };
  c.n = n;
  c.x = randn (&rng, n, 1.5f);
  /* Keep kinked functions away from their kink at 0. */
  if (kinked)
    for (gsize i = 0; i < n; i++)
      if (fabsf (c.x[i]) < 0.1f)
        c.x[i] = c.x[i] < 0.f ? -0.1f - c.x[i] : 0.1f + c.x[i];
  c.out = TNEW (float, n);
  c.R = randn (&rng, n, 1.f);
  fwd (c.out, c.x, n);
  float *dx = TNEW (float, n);
  bwd (dx, c.R, uses_out ? c.out : c.x, n);
  check_grad (name, act_obj, &c, c.x, dx, n, 1e-2f, tol);

  /* Adds: a second pass doubles the gradient. */
  float *dx0 = tdup (dx, n);
  bwd (dx, c.R, uses_out ? c.out : c.x, n);
  assert_doubled (dx, dx0, n);
  /* NULL is skipped. */
  bwd (NULL, c.R, uses_out ? c.out : c.x, n);
}

static void
test_act_relu (void)
{
  run_act_check ("relu", ps_relu_forward, ps_relu_backward, FALSE, TRUE, 1e-4, 40);
  const float x[4] = { -2, -0.f, 0.5f, 3 };
  float y[4];
  ps_relu_forward (y, x, 4);
  g_assert_cmpfloat (y[0], ==, 0.f);
  g_assert_false (signbit (y[1]));
  g_assert_cmpfloat (y[2], ==, 0.5f);
  g_assert_cmpfloat (y[3], ==, 3.f);
  /* At exactly 0 (of either sign) the gradient is 0, as in PyTorch. */
  const float z[4] = { 0.f, -0.f, 1e-30f, -1e-30f };
  const float ones[4] = { 1, 1, 1, 1 };
  float dz[4] = { 0 };
  ps_relu_backward (dz, ones, z, 4);
  const float expect_dz[4] = { 0, 0, 1, 0 };
  g_assert_cmpmem (dz, sizeof dz, expect_dz, sizeof expect_dz);
  float dl[4] = { 0 };
  ps_leaky_relu_backward (dl, ones, z, 4, 0.25f);
  const float expect_dl[4] = { 0.25f, 0.25f, 1, 0.25f };
  g_assert_cmpmem (dl, sizeof dl, expect_dl, sizeof expect_dl);
}

static void
test_act_leaky_relu (void)
{
  run_act_check ("leaky_relu", leaky_forward, leaky_backward, FALSE, TRUE, 1e-4, 41);
  const float x[2] = { -2, 3 };
  float y[2];
  ps_leaky_relu_forward (y, x, 2, 0.1f);
  g_assert_cmpfloat_with_epsilon (y[0], -0.2f, 1e-7);
  g_assert_cmpfloat (y[1], ==, 3.f);
}

static void
test_act_gelu (void)
{
  run_act_check ("gelu", ps_gelu_forward, ps_gelu_backward, FALSE, FALSE, 1e-3, 42);
  /* Values of the tanh approximation (computed with the formula in double). */
  const float x[3] = { -1.f, 0.5f, 2.f };
  float y[3];
  ps_gelu_forward (y, x, 3);
  for (int i = 0; i < 3; i++)
    {
      double v = x[i];
      double e = 0.5 * v * (1 + tanh (sqrt (2 / G_PI) * (v + 0.044715 * v * v * v)));
      g_assert_cmpfloat_with_epsilon (y[i], e, 1e-6);
    }
  g_assert_cmpfloat_with_epsilon (y[0], -0.158808, 1e-5);
}

static void
test_act_silu (void)
{
  run_act_check ("silu", ps_silu_forward, ps_silu_backward, FALSE, FALSE, 1e-3, 43);
  const float x[3] = { -1.f, 2.f, -200.f };
  float y[3];
  ps_silu_forward (y, x, 3);
  g_assert_cmpfloat_with_epsilon (y[0], -0.268941, 1e-5);
  g_assert_cmpfloat_with_epsilon (y[1], 1.761594, 1e-5);
  g_assert_true (isfinite (y[2]));
}

static void
test_act_tanh (void)
{
  run_act_check ("tanh", ps_tanh_forward, ps_tanh_backward, TRUE, FALSE, 1e-3, 44);
  /* The kernel does not call tanhf: check it against libm in double over
   * a sweep, absolutely and (near zero) relatively, and at saturation. */
  enum { N = 4001 };
  float x[N], y[N];
  for (int i = 0; i < N; i++)
    x[i] = (i - N / 2) * 0.005f;
  x[N / 2 + 1] = 1e-7f;
  x[N / 2 - 1] = -3e-4f;
  x[N / 2 + 2] = 0.0099f;          /* either side of the series cut-over */
  x[N / 2 - 2] = -0.0101f;
  ps_tanh_forward (y, x, N);
  for (int i = 0; i < N; i++)
    {
      double e = tanh ((double) x[i]);
      g_assert_cmpfloat (fabs (y[i] - e), <=, 3e-7);
      if (fabs (x[i]) < 0.05)
        g_assert_cmpfloat (fabs (y[i] - e), <=, 1e-5 * fabs (e));
    }
  const float big[4] = { 100.f, -100.f, INFINITY, -INFINITY };
  float yb[4];
  ps_tanh_forward (yb, big, 4);
  g_assert_cmpfloat (yb[0], ==, 1.f);
  g_assert_cmpfloat (yb[1], ==, -1.f);
  g_assert_cmpfloat (yb[2], ==, 1.f);
  g_assert_cmpfloat (yb[3], ==, -1.f);
}

/* SiLU and sigmoid use our own vectorised exp: compare with a double
 * reference over a wide range, across block boundaries (n not a multiple
 * of the 256-value block).  Values below 1e-30 are denormal territory,
 * where only absolute accuracy is meaningful. */
static void
test_act_silu_accuracy (void)
{
  const gsize n = 1000;
  PsRng rng;
  ps_rng_init (&rng, 12, 0);
  float *x = g_new (float, n), *y = g_new (float, n), *s = g_new (float, n);
  ps_rng_fill_uniform (&rng, x, n, -100.f, 100.f);
  x[0] = 0.f;
  x[1] = -87.5f;
  x[2] = 88.5f;
  ps_silu_forward (y, x, n);
  ps_sigmoid_forward (s, x, n);
  for (gsize i = 0; i < n; i++)
    {
      double sig = 1.0 / (1.0 + exp (-(double) x[i]));
      double silu = x[i] * sig;
      g_assert_cmpfloat (fabs (s[i] - sig), <=, 1e-6 * sig + 1e-30);
      g_assert_cmpfloat (fabs (y[i] - silu), <=, 1e-6 * fabs (silu) + 1e-30);
    }
  g_free (x);
  g_free (y);
  g_free (s);
}

static void
test_act_sigmoid (void)
{
  run_act_check ("sigmoid", ps_sigmoid_forward, ps_sigmoid_backward, TRUE, FALSE, 1e-3, 45);
  const float x[3] = { 0.f, -1000.f, 1000.f };
  float y[3];
  ps_sigmoid_forward (y, x, 3);
  g_assert_cmpfloat (y[0], ==, 0.5f);
  g_assert_cmpfloat (y[1], ==, 0.f);
  g_assert_cmpfloat (y[2], ==, 1.f);
}

/* ---- Row-wise ops ----------------------------------------------------------------- */

static void
test_softmax_forward (void)
{
  PsRng rng;
  ps_rng_init (&rng, 50, 0);
  RowCtx c = row_ctx_new (&rng, 7, 13);
  for (int i = 0; i < 7 * 13; i++)
    c.x[i] *= 5.f;
  ps_softmax_forward (c.out, c.x, 7, 13);
  for (int b = 0; b < 7; b++)
    {
      double s = 0.0;
      for (int j = 0; j < 13; j++)
        {
          g_assert_cmpfloat (c.out[b * 13 + j], >=, 0.f);
          s += c.out[b * 13 + j];
        }
      g_assert_cmpfloat_with_epsilon (s, 1.0, 1e-5);
      /* Shift invariance of each ratio: p_j / p_0 = e^(x_j - x_0). */
      for (int j = 1; j < 13; j++)
        {
          double lr = log (c.out[b * 13 + j]) - log (c.out[b * 13]);
          g_assert_cmpfloat_with_epsilon (lr, c.x[b * 13 + j] - c.x[b * 13], 1e-3);
        }
    }
  /* Large inputs: a naive exp(1e4) is inf and the result NaN. */
  const float big[6] = { 1e4f, 1e4f - 1.f, -1e4f, -1e4f, -1e4f, -1e4f + 1.f };
  float p[6];
  ps_softmax_forward (p, big, 2, 3);
  g_assert_true (ps_all_finite (p, 6));
  double e1 = exp (-1.0);
  g_assert_cmpfloat_with_epsilon (p[0], 1.0 / (1.0 + e1), 1e-6);
  g_assert_cmpfloat_with_epsilon (p[1], e1 / (1.0 + e1), 1e-6);
  g_assert_cmpfloat (p[2], ==, 0.f);
  g_assert_cmpfloat_with_epsilon (p[5], 1.0 / (1.0 + 2.0 * e1), 1e-6);
  g_assert_cmpfloat_with_epsilon (p[3] + p[4] + p[5], 1.0, 1e-6);
}

static void
test_softmax_backward (void)
{
  PsRng rng;
  ps_rng_init (&rng, 51, 0);
  RowCtx c = row_ctx_new (&rng, 5, 9);
  softmax_obj (&c);
  float *dx = TNEW (float, 5 * 9);
  ps_softmax_backward (dx, c.R, c.out, 5, 9);
  check_grad ("softmax", softmax_obj, &c, c.x, dx, 5 * 9, 1e-2f, 1e-3);
}

static void
test_layernorm (void)
{
  PsRng rng;
  ps_rng_init (&rng, 52, 0);
  RowCtx c = row_ctx_new (&rng, 4, 11);
  c.eps = 1e-5f;
  /* An offset row checks the two-pass variance. */
  for (int j = 0; j < 11; j++)
    c.x[j] += 100.f;
  layernorm_obj (&c);
  /* With gamma = 1, beta = 0 each row has mean 0 and variance ~1. */
  float *plain = TNEW (float, 4 * 11);
  ps_layernorm_forward (plain, NULL, NULL, c.x, NULL, NULL, 4, 11, c.eps);
  for (int b = 0; b < 4; b++)
    {
      double m = 0.0, v = 0.0;
      for (int j = 0; j < 11; j++)
        m += plain[b * 11 + j];
      m /= 11;
      for (int j = 0; j < 11; j++)
        v += (plain[b * 11 + j] - m) * (plain[b * 11 + j] - m);
      v /= 11;
      g_assert_cmpfloat_with_epsilon (m, 0.0, 1e-5);
      g_assert_cmpfloat_with_epsilon (v, 1.0, 1e-3);
    }

  float *dx = TNEW (float, 4 * 11), *dg = TNEW (float, 11), *dbeta = TNEW (float, 11);
  ps_layernorm_backward (dx, dg, dbeta, c.R, c.x, c.gamma, c.mean, c.rstd, 4, 11);
  check_grad ("layernorm dinp", layernorm_obj, &c, c.x, dx, 4 * 11, 1e-2f, 1e-3);
  check_grad ("layernorm dgamma", layernorm_obj, &c, c.gamma, dg, 11, 1e-2f, 1e-3);
  check_grad ("layernorm dbeta", layernorm_obj, &c, c.beta, dbeta, 11, 1e-2f, 1e-3);

  /* NULL parameter gradients leave dinp the same. */
  float *dx2 = TNEW (float, 4 * 11);
  ps_layernorm_backward (dx2, NULL, NULL, c.R, c.x, c.gamma, c.mean, c.rstd, 4, 11);
  g_assert_cmpmem (dx, sizeof (float) * 44, dx2, sizeof (float) * 44);
}

static void
test_l2norm (void)
{
  PsRng rng;
  ps_rng_init (&rng, 53, 0);
  RowCtx c = row_ctx_new (&rng, 5, 8);
  c.eps = 1e-6f;
  l2norm_obj (&c);
  for (int b = 0; b < 5; b++)
    g_assert_cmpfloat_with_epsilon (dot_d (c.out + b * 8, c.out + b * 8, 8), 1.0, 1e-5);
  float *dx = TNEW (float, 5 * 8);
  ps_l2norm_backward (dx, c.R, c.out, c.norm, 5, 8);
  check_grad ("l2norm", l2norm_obj, &c, c.x, dx, 5 * 8, 1e-2f, 1e-3);

  /* Rows shorter than eps are divided by eps, a plain scaling; a zero row
   * stays zero and finite. */
  c.eps = 1.f;
  for (int i = 0; i < 5 * 8; i++)
    c.x[i] *= 0.05f;
  for (int j = 0; j < 8; j++)
    c.x[j] = 0.f;
  l2norm_obj (&c);
  g_assert_true (ps_all_finite (c.out, 5 * 8));
  g_assert_cmpfloat (c.norm[0], ==, 1.f);
  memset (dx, 0, sizeof (float) * 5 * 8);
  ps_l2norm_backward (dx, c.R, c.out, c.norm, 5, 8);
  check_grad ("l2norm clamped", l2norm_obj, &c, c.x, dx, 5 * 8, 1e-3f, 1e-3);
}

/* ---- Dropout ------------------------------------------------------------------------ */

static void
test_dropout (void)
{
  PsRng rng;
  ps_rng_init (&rng, 61, 0);
  const gsize n = 20000;
  DropCtx c = { randn (&rng, n, 1.f), TNEW (float, n), TNEW (float, n), randn (&rng, n, 1.f) };
  c.n = n;
  c.p = 0.3f;
  dropout_obj (&c);
  gsize dropped = 0;
  for (gsize i = 0; i < n; i++)
    {
      if (c.mask[i] == 0.f)
        dropped++;
      else
        g_assert_cmpfloat_with_epsilon (c.mask[i], 1.f / 0.7f, 1e-6);
      g_assert_cmpfloat (c.out[i], ==, c.x[i] * c.mask[i]);
    }
  /* Binomial(20000, 0.3): sd ~ 65, so 400 is over six sigma. */
  g_assert_cmpint ((int) dropped, >, 6000 - 400);
  g_assert_cmpint ((int) dropped, <, 6000 + 400);
  /* The same seed gives the same mask; another seed another one. */
  float *mask1 = tdup (c.mask, n);
  dropout_obj (&c);
  g_assert_cmpmem (mask1, sizeof (float) * n, c.mask, sizeof (float) * n);
  PsRng other;
  ps_rng_init (&other, 62, 1);
  ps_dropout_forward (c.out, c.mask, c.x, n, c.p, &other);
  g_assert_true (memcmp (mask1, c.mask, sizeof (float) * n) != 0);

  /* Gradient on a small slice with a fixed mask. */
  c.n = 200;
  dropout_obj (&c);
  float *dx = TNEW (float, 200);
  ps_dropout_backward (dx, c.R, c.mask, 200);
  check_grad ("dropout", dropout_obj, &c, c.x, dx, 200, 1e-2f, 1e-4);

  /* p = 0 is the identity and draws nothing. */
  PsRng r0, r1;
  ps_rng_init (&r0, 63, 0);
  ps_rng_init (&r1, 63, 0);
  ps_dropout_forward (c.out, c.mask, c.x, 100, 0.f, &r0);
  g_assert_cmpmem (c.out, sizeof (float) * 100, c.x, sizeof (float) * 100);
  g_assert_cmpuint (ps_rng_u32 (&r0), ==, ps_rng_u32 (&r1));
}

/* ---- Time embedding --------------------------------------------------------------- */

static void
test_time_embed (void)
{
  PsRng rng;
  ps_rng_init (&rng, 70, 0);
  const int dims[] = { 16, 7 };
  for (guint k = 0; k < G_N_ELEMENTS (dims); k++)
    {
      EmbedCtx c = { 6, dims[k] };
      c.t = TNEW (float, 6);
      ps_rng_fill_uniform (&rng, c.t, 6, 0.f, 3.f);
      c.out = TNEW (float, 6 * c.dim);
      for (int i = 0; i < 6 * c.dim; i++)
        c.out[i] = NAN;           /* every column must be written */
      c.R = randn (&rng, 6 * c.dim, 1.f);
      embed_obj (&c);
      int half = c.dim / 2;
      for (int b = 0; b < 6; b++)
        {
          const float *o = c.out + b * c.dim;
          /* Frequency 1 first, max_period^(-(half-1)/half) last. */
          g_assert_cmpfloat_with_epsilon (o[0], sin (c.t[b]), 1e-6);
          g_assert_cmpfloat_with_epsilon (o[half], cos (c.t[b]), 1e-6);
          double fl = pow (1000.0, -(double) (half - 1) / half);
          g_assert_cmpfloat_with_epsilon (o[half - 1], sin (c.t[b] * fl), 1e-5);
          g_assert_cmpfloat_with_epsilon (o[2 * half - 1], cos (c.t[b] * fl), 1e-5);
          if (c.dim % 2)
            g_assert_cmpfloat (o[c.dim - 1], ==, 0.f);
        }
      float *dt = TNEW (float, 6);
      ps_time_embed_backward (dt, c.R, c.t, 6, c.dim, 1000.f);
      check_grad ("time embed", embed_obj, &c, c.t, dt, 6, 1e-2f, 1e-3);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_data_func ("/nn/linear/forward", test_linear_forward, run_in_arena);
  g_test_add_data_func ("/nn/linear/backward", test_linear_backward, run_in_arena);
  g_test_add_data_func ("/nn/linear/accumulate", test_linear_accumulate, run_in_arena);
  g_test_add_data_func ("/nn/linear/backward-acc", test_linear_backward_acc, run_in_arena);
  g_test_add_data_func ("/nn/linear/null-grads", test_linear_null_grads, run_in_arena);
  g_test_add_data_func ("/nn/conv/reference", test_conv_ref_known, run_in_arena);
  g_test_add_data_func ("/nn/conv/im2col-vs-ref", test_conv_vs_ref, run_in_arena);
  g_test_add_data_func ("/nn/conv/col2im-adjoint", test_conv_col2im_adjoint, run_in_arena);
  g_test_add_data_func ("/nn/conv/backward", test_conv_backward, run_in_arena);
  g_test_add_data_func ("/nn/pool/max", test_maxpool, run_in_arena);
  g_test_add_data_func ("/nn/pool/max-2x2-fast", test_maxpool_fast, run_in_arena);
  g_test_add_data_func ("/nn/act/bias-relu", test_bias_relu, run_in_arena);
  g_test_add_data_func ("/nn/act/bias-silu", test_bias_silu, run_in_arena);
  g_test_add_data_func ("/nn/act/small-dense-silu", test_small_dense_silu, run_in_arena);
  g_test_add_data_func ("/nn/act/silu-backward-bias", test_silu_backward_bias, run_in_arena);
  g_test_add_data_func ("/nn/pool/max-relu-backward", test_maxpool_relu_backward, run_in_arena);
  g_test_add_data_func ("/nn/pool/avg", test_avgpool, run_in_arena);
  g_test_add_data_func ("/nn/upsample", test_upsample, run_in_arena);
  g_test_add_data_func ("/nn/act/relu", test_act_relu, run_in_arena);
  g_test_add_data_func ("/nn/act/leaky-relu", test_act_leaky_relu, run_in_arena);
  g_test_add_data_func ("/nn/act/gelu", test_act_gelu, run_in_arena);
  g_test_add_data_func ("/nn/act/silu", test_act_silu, run_in_arena);
  g_test_add_data_func ("/nn/act/tanh", test_act_tanh, run_in_arena);
  g_test_add_data_func ("/nn/act/sigmoid", test_act_sigmoid, run_in_arena);
  g_test_add_func ("/nn/act/silu-accuracy", test_act_silu_accuracy);
  g_test_add_data_func ("/nn/softmax/forward", test_softmax_forward, run_in_arena);
  g_test_add_data_func ("/nn/softmax/backward", test_softmax_backward, run_in_arena);
  g_test_add_data_func ("/nn/layernorm", test_layernorm, run_in_arena);
  g_test_add_data_func ("/nn/l2norm", test_l2norm, run_in_arena);
  g_test_add_data_func ("/nn/dropout", test_dropout, run_in_arena);
  g_test_add_data_func ("/nn/time-embed", test_time_embed, run_in_arena);

  return g_test_run ();
}
