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

/* ---- SiLU with AVX-512 ----------------------------------------------------
 *
 * The generic loops above reach about 1 ns per element (gcc's AVX2 clone has
 * no FMA and selects the range cases with blends); SiLU after every hidden
 * layer was then a quarter of a diffusion sampler's time.  On CPUs with
 * AVX-512F the same exp (the same reduction and Taylor polynomial) runs 16
 * lanes at a time with fused multiply-adds, and vscalefps puts 2^k into the
 * exponent with exact overflow to +inf and underflow to 0, so no range
 * selects are needed.  Results differ from the generic path by rounding
 * only (FMA); saturation is the same (sigmoid exactly 0 and 1 far out).
 * __builtin_cpu_supports picks the path once, at the first call. */
#include "ps-simd-private.h"

#ifdef PS_HAVE_AVX512_PATH
gboolean
ps_use_avx512 (void)
{
  static int have = -1;
  if (G_UNLIKELY (have < 0))
    {
      /* PS_NO_AVX512 (any value) forces the generic loops, so that they
       * can be tested on a machine that has AVX-512. */
      __builtin_cpu_init ();
      have = __builtin_cpu_supports ("avx512f") && g_getenv ("PS_NO_AVX512") == NULL ? 1 : 0;
    }
  return have == 1;
}

static PS_AVX512 void
silu_forward_avx512 (float *out, const float *inp, gsize n)
{
  for (gsize i = 0; i < n; i += 16)
    {
      __mmask16 m = ps_tail_mask (n - i);
      __m512 x = _mm512_maskz_loadu_ps (m, inp + i);
      _mm512_mask_storeu_ps (out + i, m, _mm512_mul_ps (x, ps_sigmoid16 (x)));
    }
}

static PS_AVX512 void
sigmoid_forward_avx512 (float *out, const float *inp, gsize n)
{
  for (gsize i = 0; i < n; i += 16)
    {
      __mmask16 m = ps_tail_mask (n - i);
      _mm512_mask_storeu_ps (out + i, m, ps_sigmoid16 (_mm512_maskz_loadu_ps (m, inp + i)));
    }
}

/* dinp (+)= dout * s (1 + x (1 - s)); `add` chooses adding or writing; sig
 * (may be NULL: recomputed) holds s = sigmoid(inp) from the forward. */
static PS_AVX512 void
silu_backward_avx512 (float *dinp, const float *dout, const float *inp, const float *sig,
                      gsize n, gboolean add)
{
  const __m512 one = _mm512_set1_ps (1.f);
  for (gsize i = 0; i < n; i += 16)
    {
      __mmask16 m = ps_tail_mask (n - i);
      __m512 x = _mm512_maskz_loadu_ps (m, inp + i);
      __m512 s = sig != NULL ? _mm512_maskz_loadu_ps (m, sig + i) : ps_sigmoid16 (x);
      __m512 g = _mm512_mul_ps (s, _mm512_fmadd_ps (x, _mm512_sub_ps (one, s), one));
      g = _mm512_mul_ps (_mm512_maskz_loadu_ps (m, dout + i), g);
      if (add)
        g = _mm512_add_ps (_mm512_maskz_loadu_ps (m, dinp + i), g);
      _mm512_mask_storeu_ps (dinp + i, m, g);
    }
}

/* One row of ps_bias_silu_forward. */
static PS_AVX512 void
bias_silu_row_avx512 (float *out, float *pre, float *sig, const float *inp, const float *bias,
                      int C)
{
  for (int c = 0; c < C; c += 16)
    {
      __mmask16 m = ps_tail_mask ((gsize) (C - c));
      __m512 x = _mm512_maskz_loadu_ps (m, inp + c);
      if (bias != NULL)
        x = _mm512_add_ps (x, _mm512_maskz_loadu_ps (m, bias + c));
      if (pre != NULL)
        _mm512_mask_storeu_ps (pre + c, m, x);
      __m512 s = ps_sigmoid16 (x);
      if (sig != NULL)
        _mm512_mask_storeu_ps (sig + c, m, s);
      _mm512_mask_storeu_ps (out + c, m, _mm512_mul_ps (x, s));
    }
}

static PS_AVX512 void
small_dense_silu_avx512 (float *out, const float *x, const float *wt, const float *c, int B,
                         int K, int C, gboolean silu)
{
  for (int b = 0; b < B; b++)
    {
      const float *xb = x + (gsize) b * K;
      float *ob = out + (gsize) b * C;
      for (int j = 0; j < C; j += 16)
        {
          __mmask16 m = ps_tail_mask ((gsize) (C - j));
          __m512 acc = _mm512_maskz_loadu_ps (m, c + j);
          for (int k = 0; k < K; k++)
            acc = _mm512_fmadd_ps (_mm512_set1_ps (xb[k]),
                                   _mm512_maskz_loadu_ps (m, wt + (gsize) k * C + j), acc);
          if (silu)
            acc = _mm512_mul_ps (acc, ps_sigmoid16 (acc));
          _mm512_mask_storeu_ps (ob + j, m, acc);
        }
    }
}
#endif

static void
silu_forward_generic (float *out, const float *inp, gsize n)
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

PS_KERNEL_CLONES PS_KERNEL_VECTORIZE static void
silu_forward_clones (float *out, const float *inp, gsize n)
{
  silu_forward_generic (out, inp, n);
}

void
ps_silu_forward (float *out, const float *inp, gsize n)
{
#ifdef PS_HAVE_AVX512_PATH
  if (ps_use_avx512 ())
    {
      silu_forward_avx512 (out, inp, n);
      return;
    }
#endif
  silu_forward_clones (out, inp, n);
}

PS_KERNEL_CLONES PS_KERNEL_VECTORIZE static void
silu_backward_clones (float *dinp, const float *dout, const float *inp, gsize n)
{
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

/* The same, writing: dinp may be dout (each element is read first). */
PS_KERNEL_CLONES PS_KERNEL_VECTORIZE static void
silu_backward_set_clones (float *dinp, const float *dout, const float *inp, gsize n)
{
  float s[PS_ACT_CHUNK];
  for (gsize c = 0; c < n; c += PS_ACT_CHUNK)
    {
      gsize m = MIN (PS_ACT_CHUNK, n - c);
      sigmoid_block (s, inp + c, m);
      for (gsize i = 0; i < m; i++)
        {
          float x = inp[c + i];
          dinp[c + i] = dout[c + i] * s[i] * (1.f + x * (1.f - s[i]));
        }
    }
}

/* `add`: dinp += the gradient, else dinp = the gradient. */
static void
silu_backward_any (float *dinp, const float *dout, const float *inp, gsize n, gboolean add)
{
#ifdef PS_HAVE_AVX512_PATH
  if (ps_use_avx512 ())
    {
      silu_backward_avx512 (dinp, dout, inp, NULL, n, add);
      return;
    }
#endif
  if (add)
    silu_backward_clones (dinp, dout, inp, n);
  else
    silu_backward_set_clones (dinp, dout, inp, n);
}

void
ps_silu_backward (float *dinp, const float *dout, const float *inp, gsize n)
{
  if (dinp == NULL)
    return;
  silu_backward_any (dinp, dout, inp, n, TRUE);
}

PS_KERNEL_CLONES PS_KERNEL_VECTORIZE static void sigmoid_forward_clones (float *out,
                                                                       const float *inp,
                                                                       gsize n);

void
ps_bias_silu_forward (float *out, float *pre, float *sig, const float *inp, const float *bias,
                      int B, int C)
{
  g_return_if_fail (B >= 0 && C >= 0);
  for (int b = 0; b < B; b++)
    {
      gsize o = (gsize) b * C;
#ifdef PS_HAVE_AVX512_PATH
      if (ps_use_avx512 ())
        {
          bias_silu_row_avx512 (out + o, pre != NULL ? pre + o : NULL,
                                sig != NULL ? sig + o : NULL, inp + o, bias, C);
          continue;
        }
#endif
      /* The generic path: the sum into pre (or into out, which SiLU then
       * overwrites in place: each element is read before it is written). */
      float *sum = pre != NULL ? pre + o : out + o;
      for (int c = 0; c < C; c++)
        sum[c] = inp[o + c] + (bias != NULL ? bias[c] : 0.f);
      if (sig != NULL)
        {
          sigmoid_forward_clones (sig + o, sum, C);
          for (int c = 0; c < C; c++)
            out[o + c] = sum[c] * sig[o + c];
        }
      else
        silu_forward_clones (out + o, sum, C);
    }
}

void
ps_small_dense_silu_forward (float *out, const float *x, const float *wt, const float *c, int B,
                             int K, int C, gboolean silu)
{
  g_return_if_fail (B >= 0 && K >= 0 && C >= 0);
#ifdef PS_HAVE_AVX512_PATH
  if (ps_use_avx512 ())
    {
      small_dense_silu_avx512 (out, x, wt, c, B, K, C, silu);
      return;
    }
#endif
  for (int b = 0; b < B; b++)
    {
      float *ob = out + (gsize) b * C;
      memcpy (ob, c, C * sizeof (float));
      for (int k = 0; k < K; k++)
        {
          const float xk = x[(gsize) b * K + k];
          const float *wk = wt + (gsize) k * C;
          for (int j = 0; j < C; j++)
            ob[j] += xk * wk[j];
        }
      if (silu)
        silu_forward_clones (ob, ob, C);
    }
}

void
ps_silu_backward_bias (float *dpre, float *dbias, const float *dout, const float *pre,
                       const float *sig, int B, int C)
{
  g_return_if_fail (B >= 0 && C >= 0);
  for (int b = 0; b < B; b++)
    {
      gsize o = (gsize) b * C;
#ifdef PS_HAVE_AVX512_PATH
      if (ps_use_avx512 ())
        silu_backward_avx512 (dpre + o, dout + o, pre + o, sig != NULL ? sig + o : NULL, C,
                              FALSE);
      else
#endif
      if (sig != NULL)
        for (int c = 0; c < C; c++)
          {
            float x = pre[o + c], sc = sig[o + c];
            dpre[o + c] = dout[o + c] * sc * (1.f + x * (1.f - sc));
          }
      else
        silu_backward_set_clones (dpre + o, dout + o, pre + o, C);
      /* Row by row, as ps_linear_backward sums its bias gradient, so the
       * fused and unfused sums are the same additions in the same order. */
      if (dbias != NULL)
        for (int c = 0; c < C; c++)
          dbias[c] += dpre[o + c];
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

PS_KERNEL_CLONES PS_KERNEL_VECTORIZE static void
sigmoid_forward_clones (float *out, const float *inp, gsize n)
{
  sigmoid_block (out, inp, n);
}

void
ps_sigmoid_forward (float *out, const float *inp, gsize n)
{
#ifdef PS_HAVE_AVX512_PATH
  if (ps_use_avx512 ())
    {
      sigmoid_forward_avx512 (out, inp, n);
      return;
    }
#endif
  sigmoid_forward_clones (out, inp, n);
}

void
ps_sigmoid_backward (float *dinp, const float *dout, const float *out, gsize n)
{
  if (dinp == NULL)
    return;
  for (gsize i = 0; i < n; i++)
    dinp[i] += dout[i] * out[i] * (1.f - out[i]);
}
