/* ps-act.c: elementwise activations.
 *
 * Every loop here is a flat pass over n elements with no branches that a
 * compiler cannot turn into a select, so gcc -O2 can vectorise the cheap
 * ones (ReLU, LeakyReLU, the backward products); the transcendental ones
 * are bound by expf/tanhf anyway.  Backward adds into dinp.
 */
#include <math.h>

#include "ps-layers.h"

/* sqrt(2/pi), the constant of the tanh approximation to GELU. */
#define PS_GELU_SCALE 0.7978845608028654f
#define PS_GELU_CUBIC 0.044715f

void
ps_relu_forward (float *out, const float *inp, gsize n)
{
  for (gsize i = 0; i < n; i++)
    out[i] = inp[i] > 0.f ? inp[i] : 0.f;
}

void
ps_relu_backward (float *dinp, const float *dout, const float *inp, gsize n)
{
  if (dinp == NULL)
    return;
  for (gsize i = 0; i < n; i++)
    dinp[i] += inp[i] > 0.f ? dout[i] : 0.f;
}

void
ps_leaky_relu_forward (float *out, const float *inp, gsize n, float slope)
{
  for (gsize i = 0; i < n; i++)
    out[i] = inp[i] > 0.f ? inp[i] : slope * inp[i];
}

void
ps_leaky_relu_backward (float *dinp, const float *dout, const float *inp, gsize n, float slope)
{
  if (dinp == NULL)
    return;
  for (gsize i = 0; i < n; i++)
    dinp[i] += inp[i] > 0.f ? dout[i] : slope * dout[i];
}

void
ps_gelu_forward (float *out, const float *inp, gsize n)
{
  for (gsize i = 0; i < n; i++)
    {
      float x = inp[i];
      float u = PS_GELU_SCALE * (x + PS_GELU_CUBIC * x * x * x);
      out[i] = 0.5f * x * (1.f + tanhf (u));
    }
}

void
ps_gelu_backward (float *dinp, const float *dout, const float *inp, gsize n)
{
  if (dinp == NULL)
    return;
  for (gsize i = 0; i < n; i++)
    {
      float x = inp[i];
      float u = PS_GELU_SCALE * (x + PS_GELU_CUBIC * x * x * x);
      float th = tanhf (u);
      float du = PS_GELU_SCALE * (1.f + 3.f * PS_GELU_CUBIC * x * x);
      float grad = 0.5f * (1.f + th) + 0.5f * x * (1.f - th * th) * du;
      dinp[i] += grad * dout[i];
    }
}

/* 1 / (1 + e^-x) never produces NaN: for very negative x the exponential
 * overflows to +inf and the quotient is a clean 0. */
static inline float
ps_sigmoidf (float x)
{
  return 1.f / (1.f + expf (-x));
}

void
ps_silu_forward (float *out, const float *inp, gsize n)
{
  for (gsize i = 0; i < n; i++)
    out[i] = inp[i] * ps_sigmoidf (inp[i]);
}

void
ps_silu_backward (float *dinp, const float *dout, const float *inp, gsize n)
{
  if (dinp == NULL)
    return;
  for (gsize i = 0; i < n; i++)
    {
      float x = inp[i];
      float s = ps_sigmoidf (x);
      dinp[i] += dout[i] * s * (1.f + x * (1.f - s));
    }
}

void
ps_tanh_forward (float *out, const float *inp, gsize n)
{
  for (gsize i = 0; i < n; i++)
    out[i] = tanhf (inp[i]);
}

void
ps_tanh_backward (float *dinp, const float *dout, const float *out, gsize n)
{
  if (dinp == NULL)
    return;
  for (gsize i = 0; i < n; i++)
    dinp[i] += dout[i] * (1.f - out[i] * out[i]);
}

void
ps_sigmoid_forward (float *out, const float *inp, gsize n)
{
  for (gsize i = 0; i < n; i++)
    out[i] = ps_sigmoidf (inp[i]);
}

void
ps_sigmoid_backward (float *dinp, const float *dout, const float *out, gsize n)
{
  if (dinp == NULL)
    return;
  for (gsize i = 0; i < n; i++)
    dinp[i] += dout[i] * out[i] * (1.f - out[i]);
}
