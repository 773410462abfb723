/* ps-layers.c: dense layers, row-wise normalisations, dropout and the
 * sinusoidal time embedding.
 *
 * The dense layer is nothing but GEMM calls through ps_sgemm so that its
 * speed is OpenBLAS's.  The row-wise ops keep one pass per statistic and
 * accumulate their reductions in float lanes the compiler can vectorise;
 * rows are short (a few hundred to a few thousand), which keeps float
 * reductions accurate enough for training.
 */
#include <math.h>
#include <string.h>

#include "ps-layers.h"

/* ---- Dense ---------------------------------------------------------- */

void
ps_linear_forward (float *out, const float *inp, const float *weight, const float *bias,
                   int B, int C, int OC)
{
  g_return_if_fail (B >= 0 && C >= 0 && OC >= 0);
  /* Seeding out with the bias lets the GEMM add the product in the same
   * pass (beta = 1) instead of a second sweep over out. */
  float beta = 0.f;
  if (bias != NULL)
    {
      for (int b = 0; b < B; b++)
        {
          float *o = out + (gsize) b * OC;
          for (int oc = 0; oc < OC; oc++)
            o[oc] = bias[oc];
        }
      beta = 1.f;
    }
  /* out[B,OC] = inp[B,C] @ weight[OC,C]^T */
  ps_sgemm (FALSE, TRUE, B, OC, C, 1.f, inp, C, weight, C, beta, out, OC);
}

void
ps_linear_backward (float *dinp, float *dweight, float *dbias,
                    const float *dout, const float *inp, const float *weight,
                    int B, int C, int OC)
{
  g_return_if_fail (B >= 0 && C >= 0 && OC >= 0);
  /* dinp[B,C] += dout[B,OC] @ weight[OC,C] */
  if (dinp != NULL)
    ps_sgemm (FALSE, FALSE, B, C, OC, 1.f, dout, OC, weight, C, 1.f, dinp, C);
  /* dweight[OC,C] += dout[B,OC]^T @ inp[B,C] */
  if (dweight != NULL)
    ps_sgemm (TRUE, FALSE, OC, C, B, 1.f, dout, OC, inp, C, 1.f, dweight, C);
  /* dbias[OC] += column sums of dout; row by row so the inner loop is a
   * contiguous, vectorisable add. */
  if (dbias != NULL)
    for (int b = 0; b < B; b++)
      {
        const float *d = dout + (gsize) b * OC;
        for (int oc = 0; oc < OC; oc++)
          dbias[oc] += d[oc];
      }
}

void
ps_linear_backward_acc (float *dinp, float *dweight, float *dbias,
                        const float *dout, const float *inp, const float *weight,
                        int B, int C, int OC, gboolean acc_inp, gboolean acc_params)
{
  g_return_if_fail (B >= 0 && C >= 0 && OC >= 0);
  /* The GEMMs overwrite with beta = 0, which saves zeroing the output and
   * reading it back; the sums are the ones ps_linear_backward adds into
   * zeros (0 + x = x), so the values are the same. */
  if (dinp != NULL)
    ps_sgemm (FALSE, FALSE, B, C, OC, 1.f, dout, OC, weight, C, acc_inp ? 1.f : 0.f, dinp, C);
  if (dweight != NULL)
    ps_sgemm (TRUE, FALSE, OC, C, B, 1.f, dout, OC, inp, C, acc_params ? 1.f : 0.f,
              dweight, C);
  if (dbias != NULL)
    {
      if (!acc_params)
        memset (dbias, 0, sizeof (float) * OC);
      for (int b = 0; b < B; b++)
        {
          const float *d = dout + (gsize) b * OC;
          for (int oc = 0; oc < OC; oc++)
            dbias[oc] += d[oc];
        }
    }
}

/* ---- Softmax ---------------------------------------------------------- */

void
ps_softmax_forward (float *out, const float *inp, int B, int C)
{
  for (int b = 0; b < B; b++)
    {
      const float *x = inp + (gsize) b * C;
      float *o = out + (gsize) b * C;
      /* Subtracting the row maximum keeps every exponent <= 0, so a logit
       * of 1e4 cannot overflow. */
      /* A select rather than fmaxf, which gcc -O2 leaves as a libm call. */
      float maxv = -INFINITY;
      for (int c = 0; c < C; c++)
        maxv = isgreater (x[c], maxv) ? x[c] : maxv;
      float sum = 0.f;
      for (int c = 0; c < C; c++)
        {
          o[c] = expf (x[c] - maxv);
          sum += o[c];
        }
      float inv = 1.f / sum;
      for (int c = 0; c < C; c++)
        o[c] *= inv;
    }
}

void
ps_softmax_backward (float *dinp, const float *dout, const float *out, int B, int C)
{
  if (dinp == NULL)
    return;
  for (int b = 0; b < B; b++)
    {
      const float *d = dout + (gsize) b * C;
      const float *y = out + (gsize) b * C;
      float *dx = dinp + (gsize) b * C;
      /* dx_i = y_i (d_i - sum_j d_j y_j) */
      float dot = 0.f;
      for (int c = 0; c < C; c++)
        dot += d[c] * y[c];
      for (int c = 0; c < C; c++)
        dx[c] += y[c] * (d[c] - dot);
    }
}

/* ---- Layer norm --------------------------------------------------------- */

void
ps_layernorm_forward (float *out, float *mean, float *rstd, const float *inp,
                      const float *gamma, const float *beta, int B, int C, float eps)
{
  g_return_if_fail (C > 0 || B == 0);
  for (int b = 0; b < B; b++)
    {
      const float *x = inp + (gsize) b * C;
      float *o = out + (gsize) b * C;
      float m = 0.f;
      for (int c = 0; c < C; c++)
        m += x[c];
      m /= C;
      /* Two passes (mean, then squared deviations) avoid the cancellation
       * of E[x^2] - E[x]^2 on rows with a large offset. */
      float v = 0.f;
      for (int c = 0; c < C; c++)
        {
          float dev = x[c] - m;
          v += dev * dev;
        }
      v /= C;
      float s = 1.f / sqrtf (v + eps);
      for (int c = 0; c < C; c++)
        {
          float n = (x[c] - m) * s;
          float g = gamma != NULL ? gamma[c] : 1.f;
          float bb = beta != NULL ? beta[c] : 0.f;
          o[c] = n * g + bb;
        }
      if (mean != NULL)
        mean[b] = m;
      if (rstd != NULL)
        rstd[b] = s;
    }
}

void
ps_layernorm_backward (float *dinp, float *dgamma, float *dbeta, const float *dout,
                       const float *inp, const float *gamma, const float *mean,
                       const float *rstd, int B, int C)
{
  g_return_if_fail (C > 0 || B == 0);
  for (int b = 0; b < B; b++)
    {
      const float *d = dout + (gsize) b * C;
      const float *x = inp + (gsize) b * C;
      float m = mean[b];
      float s = rstd[b];
      if (dbeta != NULL)
        for (int c = 0; c < C; c++)
          dbeta[c] += d[c];
      if (dgamma != NULL)
        for (int c = 0; c < C; c++)
          dgamma[c] += (x[c] - m) * s * d[c];
      if (dinp == NULL)
        continue;
      /* With g = dout * gamma and n the normalised input:
       * dx = s * (g - mean(g) - n * mean(g * n)). */
      float sum_g = 0.f, sum_gn = 0.f;
      for (int c = 0; c < C; c++)
        {
          float g = d[c] * (gamma != NULL ? gamma[c] : 1.f);
          float n = (x[c] - m) * s;
          sum_g += g;
          sum_gn += g * n;
        }
      float mg = sum_g / C, mgn = sum_gn / C;
      float *dx = dinp + (gsize) b * C;
      for (int c = 0; c < C; c++)
        {
          float g = d[c] * (gamma != NULL ? gamma[c] : 1.f);
          float n = (x[c] - m) * s;
          dx[c] += s * (g - mg - n * mgn);
        }
    }
}

/* ---- L2 normalisation ----------------------------------------------------- */

/* norm[b] caches the divisor actually used, max(||x||, eps), so that the
 * backward pass divides by the same number.  Whether the clamp was active
 * shows in the output: an unclamped row has unit length, a clamped one is
 * strictly shorter. */
void
ps_l2norm_forward (float *out, float *norm, const float *inp, int B, int C, float eps)
{
  for (int b = 0; b < B; b++)
    {
      const float *x = inp + (gsize) b * C;
      float *o = out + (gsize) b * C;
      float ss = 0.f;
      for (int c = 0; c < C; c++)
        ss += x[c] * x[c];
      float nrm = fmaxf (sqrtf (ss), eps);
      float inv = 1.f / nrm;
      for (int c = 0; c < C; c++)
        o[c] = x[c] * inv;
      if (norm != NULL)
        norm[b] = nrm;
    }
}

void
ps_l2norm_backward (float *dinp, const float *dout, const float *out, const float *norm,
                    int B, int C)
{
  if (dinp == NULL)
    return;
  for (int b = 0; b < B; b++)
    {
      const float *d = dout + (gsize) b * C;
      const float *y = out + (gsize) b * C;
      float *dx = dinp + (gsize) b * C;
      float dot = 0.f, yy = 0.f;
      for (int c = 0; c < C; c++)
        {
          dot += d[c] * y[c];
          yy += y[c] * y[c];
        }
      /* A clamped row was divided by the constant eps, so its Jacobian is
       * the plain scaling without the projection term.  Float rounding
       * leaves |y|^2 of an unclamped row within ~1e-6 of 1; the margin of
       * 1e-4 separates the cases without misreading rounding as a clamp. */
      if (yy < 1.f - 1e-4f)
        dot = 0.f;
      float inv = 1.f / norm[b];
      for (int c = 0; c < C; c++)
        dx[c] += (d[c] - y[c] * dot) * inv;
    }
}

/* ---- Dropout ---------------------------------------------------------------- */

void
ps_dropout_forward (float *out, float *mask, const float *inp, gsize n, float p, PsRng *rng)
{
  g_return_if_fail (p >= 0.f && p < 1.f);
  g_return_if_fail (rng != NULL || p == 0.f);
  if (p == 0.f)
    {
      /* No draws at all, so evaluation with p = 0 leaves the caller's RNG
       * stream untouched. */
      for (gsize i = 0; i < n; i++)
        {
          mask[i] = 1.f;
          out[i] = inp[i];
        }
      return;
    }
  float keep_scale = 1.f / (1.f - p);
  /* The draws come first, in their own loop, so the multiply below stays
   * a simple pass.  The keep test compares raw 32-bit draws with p scaled
   * to 2^32 and selects the mask value with integer bit masks: written as
   * a float select, gcc turns it into a branch mispredicted at a rate of
   * about p. */
  guint32 threshold = (guint32) MIN ((double) p * 4294967296.0, 4294967295.0);
  guint32 keep_bits;
  memcpy (&keep_bits, &keep_scale, sizeof keep_bits);
  for (gsize i = 0; i < n; i++)
    {
      guint32 bits = keep_bits & -(guint32) (ps_rng_u32 (rng) >= threshold);
      memcpy (&mask[i], &bits, sizeof bits);
    }
  for (gsize i = 0; i < n; i++)
    out[i] = inp[i] * mask[i];
}

void
ps_dropout_backward (float *dinp, const float *dout, const float *mask, gsize n)
{
  if (dinp == NULL)
    return;
  for (gsize i = 0; i < n; i++)
    dinp[i] += dout[i] * mask[i];
}

/* ---- Sinusoidal time embedding ------------------------------------------------ */

/* An odd dim leaves its last column at zero (the sin/cos pairs fill
 * 2 * (dim / 2) columns). */
void
ps_time_embed_forward (float *out, const float *t, int B, int dim, float max_period)
{
  g_return_if_fail (dim >= 0 && max_period > 0.f);
  int half = dim / 2;
  float log_period = logf (max_period);
  for (int b = 0; b < B; b++)
    {
      float *o = out + (gsize) b * dim;
      for (int i = 0; i < half; i++)
        {
          float freq = expf (-log_period * (float) i / (float) half);
          float arg = t[b] * freq;
          o[i] = sinf (arg);
          o[half + i] = cosf (arg);
        }
      if (dim % 2 == 1)
        o[dim - 1] = 0.f;
    }
}

void
ps_time_embed_backward (float *dt, const float *dout, const float *t, int B, int dim,
                        float max_period)
{
  g_return_if_fail (dim >= 0 && max_period > 0.f);
  if (dt == NULL)
    return;
  int half = dim / 2;
  float log_period = logf (max_period);
  for (int b = 0; b < B; b++)
    {
      const float *d = dout + (gsize) b * dim;
      double acc = 0.0;
      for (int i = 0; i < half; i++)
        {
          float freq = expf (-log_period * (float) i / (float) half);
          float arg = t[b] * freq;
          acc += (double) freq * (d[i] * cosf (arg) - d[half + i] * sinf (arg));
        }
      dt[b] += (float) acc;
    }
}
