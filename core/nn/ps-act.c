/* ps-act.c: elementwise activations.
 *
 * Every loop here is a flat pass over n elements without data-dependent
 * branches (see the rectifiers' masks below), so it runs at a steady
 * rate whatever the signs of the data, and vectorises wherever the build
 * lets gcc (gcc 12 at plain -O2 only vectorises loops of known length).
 * The transcendental ones cost one expf per element.  Backward adds into
 * dinp. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ps-layers.h"

/* sqrt(2/pi), the constant of the tanh approximation to GELU. */
#define PS_GELU_SCALE 0.7978845608028654f
#define PS_GELU_CUBIC 0.044715f

/* The rectifiers select with integer masks instead of a float compare.
 * Under the default -ftrapping-math gcc -O2 compiles `x > 0 ? x : 0` to a
 * conditional jump, and on activations, whose signs are a coin toss, half
 * of those jumps are mispredicted: measured, ReLU over 1.6M floats took
 * 10 ms that way.  A float whose bits, read as int32, are positive is
 * exactly a float > 0 (or a positive NaN, which then passes through). */
static inline uint32_t
f2u (float x)
{
  uint32_t u;
  memcpy (&u, &x, sizeof u);
  return u;
}

static inline float
u2f (uint32_t u)
{
  float x;
  memcpy (&x, &u, sizeof x);
  return x;
}

/* All ones when x > 0, else all zeros. */
static inline uint32_t
positive_mask (float x)
{
  return (uint32_t) -(int32_t) ((int32_t) f2u (x) > 0);
}

/* 1 when x > 0, else slope, without a branch. */
static inline float
leaky_scale (float x, float slope)
{
  uint32_t m = positive_mask (x);
  return u2f ((f2u (1.f) & m) | (f2u (slope) & ~m));
}

PS_KERNEL_CLONES void
ps_relu_forward (float *out, const float *inp, gsize n)
{
  for (gsize i = 0; i < n; i++)
    out[i] = u2f (f2u (inp[i]) & positive_mask (inp[i]));
}

PS_KERNEL_CLONES void
ps_bias_relu_forward (float *restrict pre, float *restrict out, const float *restrict bias,
                      int C, gsize P)
{
  for (int c = 0; c < C; c++)
    {
      float *x = pre + (gsize) c * P;
      float *y = out + (gsize) c * P;
      float b = bias != NULL ? bias[c] : 0.f;
      for (gsize i = 0; i < P; i++)
        {
          float v = x[i] + b;
          x[i] = v;
          y[i] = u2f (f2u (v) & positive_mask (v));
        }
    }
}

PS_KERNEL_CLONES void
ps_relu_backward (float *dinp, const float *dout, const float *inp, gsize n)
{
  if (dinp == NULL)
    return;
  for (gsize i = 0; i < n; i++)
    dinp[i] += u2f (f2u (dout[i]) & positive_mask (inp[i]));
}

void
ps_leaky_relu_forward (float *out, const float *inp, gsize n, float slope)
{
  for (gsize i = 0; i < n; i++)
    out[i] = leaky_scale (inp[i], slope) * inp[i];
}

void
ps_leaky_relu_backward (float *dinp, const float *dout, const float *inp, gsize n, float slope)
{
  if (dinp == NULL)
    return;
  for (gsize i = 0; i < n; i++)
    dinp[i] += leaky_scale (inp[i], slope) * dout[i];
}

/* tanh from one expf: glibc's tanhf costs about 35 ns a call on this
 * class of machine, expf about 5, and GELU is the activation of every
 * transformer-style block.  1 - 2 / (1 + e^2u) is within 2e-7 of tanh
 * absolutely and saturates cleanly (e^2u = inf gives 1, 0 gives -1); near
 * zero, where that form loses relative accuracy to cancellation, the
 * series u - u^3/3 is exact to float precision. */
static inline float
ps_tanhf (float u)
{
  float series = u * (1.f - u * u * (1.f / 3.f));
  float viaexp = 1.f - 2.f / (1.f + expf (2.f * u));
  return fabsf (u) < 0.01f ? series : viaexp;
}

void
ps_gelu_forward (float *out, const float *inp, gsize n)
{
  for (gsize i = 0; i < n; i++)
    {
      float x = inp[i];
      float u = PS_GELU_SCALE * (x + PS_GELU_CUBIC * x * x * x);
      out[i] = 0.5f * x * (1.f + ps_tanhf (u));
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
      float th = ps_tanhf (u);
      float du = PS_GELU_SCALE * (1.f + 3.f * PS_GELU_CUBIC * x * x);
      float grad = 0.5f * (1.f + th) + 0.5f * x * (1.f - th * th) * du;
      dinp[i] += grad * dout[i];
    }
}

/* e^x without a library call, so the loops around it vectorise (glibc's
 * expf is a call per element; in a diffusion sampler SiLU was 60% of the
 * time).  x = k ln 2 + r with |r| <= ln 2 / 2, e^r by its Taylor series to
 * r^6 (truncation below 1.3e-7 relative), 2^k put into the exponent bits.
 * k is rounded with the 1.5 * 2^23 trick, which needs no rint call.  Like
 * expf, the result is 0 below -87.3 (where 2^k would leave the normal
 * range) and +inf above 88.7, so a sigmoid saturates to exactly 0 and 1. */
static inline __attribute__ ((always_inline)) float
ps_expf_fast (float x)
{
  float xc = x < -87.3f ? -87.3f : x;
  xc = xc > 88.3f ? 88.3f : xc;
  const float shifter = 12582912.f;  /* 1.5 * 2^23 */
  float kf = (xc * 1.44269504088896341f + shifter) - shifter;
  float r = xc - kf * 0.693145751953125f;
  r = r - kf * 1.428606765330187045e-06f;
  float p = 1.f / 720.f;
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  gint32 bits = ((gint32) kf + 127) << 23;
  float scale;
  memcpy (&scale, &bits, sizeof scale);
  float e = p * scale;
  e = x < -87.3f ? 0.f : e;
  return x > 88.7f ? INFINITY : e;
}

/* 1 / (1 + e^-x): for very negative x the exponential is +inf and the
 * quotient a clean 0, never NaN. */
static inline __attribute__ ((always_inline)) float
ps_sigmoidf (float x)
{
  return 1.f / (1.f + ps_expf_fast (-x));
}

/* The sigmoid of a block of at most PS_ACT_CHUNK values into s[].  Kept as
 * its own loop: gcc 12 vectorises it, but not a loop that also multiplies
 * the result by its input, so SiLU works in two passes over a block that
 * stays in L1. */
#define PS_ACT_CHUNK 256

static inline __attribute__ ((always_inline)) void
sigmoid_block (float *s, const float *x, gsize n)
{
  for (gsize i = 0; i < n; i++)
    s[i] = ps_sigmoidf (x[i]);
}

PS_KERNEL_CLONES PS_KERNEL_VECTORIZE void
ps_silu_forward (float *out, const float *inp, gsize n)
{
  float s[PS_ACT_CHUNK];
  for (gsize c = 0; c < n; c += PS_ACT_CHUNK)
    {
      gsize m = MIN (PS_ACT_CHUNK, n - c);
      sigmoid_block (s, inp + c, m);
      for (gsize i = 0; i < m; i++)
        out[c + i] = inp[c + i] * s[i];
    }
}

PS_KERNEL_CLONES PS_KERNEL_VECTORIZE void
ps_silu_backward (float *dinp, const float *dout, const float *inp, gsize n)
{
  if (dinp == NULL)
    return;
  float s[PS_ACT_CHUNK];
  for (gsize c = 0; c < n; c += PS_ACT_CHUNK)
    {
      gsize m = MIN (PS_ACT_CHUNK, n - c);
      sigmoid_block (s, inp + c, m);
      for (gsize i = 0; i < m; i++)
        {
          float x = inp[c + i];
          dinp[c + i] += dout[c + i] * s[i] * (1.f + x * (1.f - s[i]));
        }
    }
}

void
ps_tanh_forward (float *out, const float *inp, gsize n)
{
  for (gsize i = 0; i < n; i++)
    out[i] = ps_tanhf (inp[i]);
}

void
ps_tanh_backward (float *dinp, const float *dout, const float *out, gsize n)
{
  if (dinp == NULL)
    return;
  for (gsize i = 0; i < n; i++)
    dinp[i] += dout[i] * (1.f - out[i] * out[i]);
}

PS_KERNEL_CLONES PS_KERNEL_VECTORIZE void
ps_sigmoid_forward (float *out, const float *inp, gsize n)
{
  sigmoid_block (out, inp, n);
}

void
ps_sigmoid_backward (float *dinp, const float *dout, const float *out, gsize n)
{
  if (dinp == NULL)
    return;
  for (gsize i = 0; i < n; i++)
    dinp[i] += dout[i] * out[i] * (1.f - out[i]);
}
