/* test-nn-support.c: the finite-difference machinery of test-nn.c (a
 * per-test allocation arena, random inputs, the central-difference
 * gradient check) and, for each kernel, the objective L = sum(out * R)
 * that the checks differentiate. */
#include <math.h>
#include <string.h>

#include "test-nn-support.h"

/* Every buffer a test allocates comes from this per-test arena, which the
 * trampoline in main() frees after the test returns. */
static GPtrArray *arena;

gpointer
talloc (gsize n_bytes)
{
  gpointer p = g_malloc0 (MAX (n_bytes, 1));
  g_ptr_array_add (arena, p);
  return p;
}

float *
tdup (const float *x, gsize n)
{
  float *p = TNEW (float, n);
  memcpy (p, x, sizeof (float) * n);
  return p;
}

void
run_in_arena (gconstpointer test)
{
  arena = g_ptr_array_new_with_free_func (g_free);
  ((void (*) (void)) test) ();
  g_clear_pointer (&arena, g_ptr_array_unref);
}

float *
randn (PsRng *rng, gsize n, float std)
{
  float *x = TNEW (float, n);
  ps_rng_fill_normal (rng, x, n, 0.f, std);
  return x;
}

double
dot_d (const float *a, const float *b, gsize n)
{
  double s = 0.0;
  for (gsize i = 0; i < n; i++)
    s += (double) a[i] * b[i];
  return s;
}

/* Relative error between the analytic gradient grad[n] of f with respect
 * to x[n] and its central differences with step h. */
double
grad_error (Objective f, gpointer ctx, float *x, const float *grad, gsize n, float h)
{
  double diff2 = 0.0, num2 = 0.0, ana2 = 0.0;
  for (gsize i = 0; i < n; i++)
    {
      float save = x[i];
      float xp = save + h, xm = save - h;
      x[i] = xp;
      double lp = f (ctx);
      x[i] = xm;
      double lm = f (ctx);
      x[i] = save;
      /* The float steps are not exactly +-h; divide by what they were. */
      double num = (lp - lm) / ((double) xp - (double) xm);
      double d = num - grad[i];
      diff2 += d * d;
      num2 += num * num;
      ana2 += (double) grad[i] * grad[i];
    }
  /* Leave the forward's outputs and caches as they were at x. */
  f (ctx);
  double denom = sqrt (num2) + sqrt (ana2);
  return denom > 0.0 ? sqrt (diff2) / denom : 0.0;
}

void
check_grad (const char *what, Objective f, gpointer ctx, float *x, const float *grad,
            gsize n, float h, double tol)
{
  double err = grad_error (f, ctx, x, grad, n, h);
  g_test_message ("%s: relative error %.3g (tolerance %.3g)", what, err, tol);
  if (!(err < tol))
    g_error ("%s: gradient check failed, relative error %.3g >= %.3g", what, err, tol);
  /* An all-zero gradient would pass trivially; every check here has a
   * non-degenerate one. */
  double n2 = dot_d (grad, grad, n);
  g_assert_cmpfloat (n2, >, 0.0);
}

double
max_abs_diff (const float *a, const float *b, gsize n)
{
  double m = 0.0;
  for (gsize i = 0; i < n; i++)
    m = MAX (m, fabs ((double) a[i] - b[i]));
  return m;
}

/* twice[i] == 2 * once[i] up to the rounding of a different summation
 * order (a kernel may add row by row into the gradient).  An overwriting
 * backward gives once[i] and fails. */
void
assert_doubled (const float *twice, const float *once, gsize n)
{
  double scale = 0.0;
  for (gsize i = 0; i < n; i++)
    scale = MAX (scale, fabs (once[i]));
  g_assert_cmpfloat (scale, >, 0.0);
  for (gsize i = 0; i < n; i++)
    g_assert_cmpfloat (fabs ((double) twice[i] - 2.0 * once[i]), <=, 1e-5 * scale);
}

/* ---- Dense -------------------------------------------------------------- */

double
linear_obj (gpointer p)
{
  LinearCtx *c = p;
  ps_linear_forward (c->out, c->x, c->w, c->b, c->B, c->C, c->OC);
  return dot_d (c->out, c->R, (gsize) c->B * c->OC);
}

LinearCtx
linear_ctx_new (PsRng *rng, int B, int C, int OC)
{
  LinearCtx c = { B, C, OC };
  c.x = randn (rng, (gsize) B * C, 1.f);
  c.w = randn (rng, (gsize) OC * C, 0.5f);
  c.b = randn (rng, OC, 0.5f);
  c.out = TNEW (float, (gsize) B * OC);
  c.R = randn (rng, (gsize) B * OC, 1.f);
  return c;
}

/* ---- Convolution ------------------------------------------------------------ */

ConvCtx
conv_ctx_new (PsRng *rng, int B, int C, int H, int W, int OC, int K, int stride, int pad)
{
  ConvCtx c = { B, C, H, W, OC, K, stride, pad };
  c.OH = ps_conv_out_size (H, K, stride, pad);
  c.OW = ps_conv_out_size (W, K, stride, pad);
  c.x = randn (rng, (gsize) B * C * H * W, 1.f);
  c.w = randn (rng, (gsize) OC * C * K * K, 0.5f);
  c.b = randn (rng, OC, 0.5f);
  c.out = TNEW (float, (gsize) B * OC * c.OH * c.OW);
  c.R = randn (rng, (gsize) B * OC * c.OH * c.OW, 1.f);
  /* Filled with garbage: the kernels must not rely on zeroed scratch. */
  gsize ns = 2 * (gsize) C * K * K * c.OH * c.OW;
  c.scratch = TNEW (float, ns);
  for (gsize i = 0; i < ns; i++)
    c.scratch[i] = NAN;
  return c;
}

double
conv_obj (gpointer p)
{
  ConvCtx *c = p;
  ps_conv2d_forward (c->out, c->x, c->w, c->b, c->scratch, c->B, c->C, c->H, c->W,
                     c->OC, c->K, c->stride, c->pad);
  return dot_d (c->out, c->R, (gsize) c->B * c->OC * c->OH * c->OW);
}

/* ---- Pooling and upsampling ---------------------------------------------------- */

double
pool_obj (gpointer p)
{
  PoolCtx *c = p;
  if (c->max)
    ps_maxpool_forward (c->out, c->argmax, c->x, c->B, c->C, c->H, c->W, c->K, c->stride);
  else
    ps_avgpool_forward (c->out, c->x, c->B, c->C, c->H, c->W, c->K, c->stride);
  return dot_d (c->out, c->R, (gsize) c->B * c->C * c->OH * c->OW);
}

double
up_obj (gpointer p)
{
  UpCtx *c = p;
  ps_upsample_forward (c->out, c->x, c->B, c->C, c->H, c->W, c->f);
  return dot_d (c->out, c->R, (gsize) c->B * c->C * c->H * c->W * c->f * c->f);
}

/* ---- Elementwise activations ------------------------------------------------------ */

double
act_obj (gpointer p)
{
  ActCtx *c = p;
  c->fwd (c->out, c->x, c->n);
  return dot_d (c->out, c->R, c->n);
}

/* ---- Row-wise ops ----------------------------------------------------------------- */

RowCtx
row_ctx_new (PsRng *rng, int B, int C)
{
  RowCtx c = { B, C };
  gsize n = (gsize) B * C;
  c.x = randn (rng, n, 1.f);
  c.out = TNEW (float, n);
  c.R = randn (rng, n, 1.f);
  c.gamma = randn (rng, C, 1.f);
  c.beta = randn (rng, C, 1.f);
  c.mean = TNEW (float, B);
  c.rstd = TNEW (float, B);
  c.norm = TNEW (float, B);
  return c;
}

double
softmax_obj (gpointer p)
{
  RowCtx *c = p;
  ps_softmax_forward (c->out, c->x, c->B, c->C);
  return dot_d (c->out, c->R, (gsize) c->B * c->C);
}

double
layernorm_obj (gpointer p)
{
  RowCtx *c = p;
  ps_layernorm_forward (c->out, c->mean, c->rstd, c->x, c->gamma, c->beta, c->B, c->C, c->eps);
  return dot_d (c->out, c->R, (gsize) c->B * c->C);
}

double
l2norm_obj (gpointer p)
{
  RowCtx *c = p;
  ps_l2norm_forward (c->out, c->norm, c->x, c->B, c->C, c->eps);
  return dot_d (c->out, c->R, (gsize) c->B * c->C);
}

/* ---- Dropout ------------------------------------------------------------------------ */

double
dropout_obj (gpointer ptr)
{
  DropCtx *c = ptr;
  /* The same seed every call, so the finite differences see one mask. */
  PsRng rng;
  ps_rng_init (&rng, 60, 1);
  ps_dropout_forward (c->out, c->mask, c->x, c->n, c->p, &rng);
  return dot_d (c->out, c->R, c->n);
}

/* ---- Time embedding --------------------------------------------------------------- */

double
embed_obj (gpointer p)
{
  EmbedCtx *c = p;
  ps_time_embed_forward (c->out, c->t, c->B, c->dim, 1000.f);
  return dot_d (c->out, c->R, (gsize) c->B * c->dim);
}

/* ---- Losses -------------------------------------------------------------------------- */

double
xent_obj (gpointer p)
{
  LossCtx *c = p;
  return ps_softmax_xent (NULL, NULL, c->logits, c->labels, c->B, c->C, c->smoothing);
}

double
mse_obj (gpointer p)
{
  LossCtx *c = p;
  return ps_mse_loss (NULL, c->logits, c->target, c->n);
}

double
kl_obj (gpointer p)
{
  LossCtx *c = p;
  return ps_kl_loss (NULL, c->logits, c->target, c->B, c->C, c->temperature);
}

double
bce_obj (gpointer p)
{
  LossCtx *c = p;
  return ps_bce_logits_loss (NULL, c->logits, c->target, c->n);
}

float
max_abs (const float *a, gsize n)
{
  float m = 0.f;
  for (gsize i = 0; i < n; i++)
    m = MAX (m, fabsf (a[i]));
  return m;
}
