/* ps-simd-private.h: the AVX-512 building blocks shared by the kernels
 * of core/nn (ps-act.c, ps-dense.c): the run-time choice of path, e^x and
 * the sigmoid over 16 lanes, and the mask of a row's last partial vector.
 *
 * e^y: y = k ln2 + r with k = round(y / ln2), ln2 split in two for an
 * exact reduction, e^r by its degree-6 Taylor polynomial (|r| <= ln2/2,
 * relative error under 2e-7), then vscalefps puts 2^k into the exponent
 * with exact overflow to +inf and underflow to 0, so no range selects
 * are needed.  Private to core/nn. */
#pragma once

#include <glib.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PS_HAVE_AVX512_PATH 1
#include <immintrin.h>

#define PS_AVX512 __attribute__ ((target ("avx512f")))

/* TRUE when the CPU has AVX-512F and PS_NO_AVX512 is unset (ps-act.c). */
gboolean ps_use_avx512 (void);

/* e^y for 16 lanes; y above 100 is clamped first so the reduction stays
 * finite (the result there is +inf either way), and, as the generic
 * path's ps_expf_fast, the result is exactly 0 below -87.3, where it
 * would be a denormal: a denormal operand costs a microcode assist per
 * instruction (an untrained network's large activations made 1 + e^-x
 * hit it on most lanes: DDIM sampling ran at half speed).  max/min take
 * y as the second operand so a NaN passes through. */
static inline __attribute__ ((always_inline)) PS_AVX512 __m512
ps_exp16 (__m512 y)
{
  const __mmask16 normal = _mm512_cmp_ps_mask (y, _mm512_set1_ps (-87.3f), _CMP_NLT_UQ);
  y = _mm512_max_ps (_mm512_set1_ps (-87.3f), y);
  y = _mm512_min_ps (_mm512_set1_ps (100.f), y);
  __m512 k = _mm512_roundscale_ps (_mm512_mul_ps (y, _mm512_set1_ps (1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps (k, _mm512_set1_ps (0.693145751953125f), y);
  r = _mm512_fnmadd_ps (k, _mm512_set1_ps (1.428606765330187045e-06f), r);
  __m512 p = _mm512_set1_ps (1.f / 720.f);
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.f / 120.f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.f / 24.f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.f / 6.f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (0.5f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.f));
  return _mm512_maskz_mov_ps (normal, _mm512_scalef_ps (p, k));
}

/* 1 / (1 + e^-x): e^-x = +inf gives exactly 0, e^-x = 0 exactly 1. */
static inline __attribute__ ((always_inline)) PS_AVX512 __m512
ps_sigmoid16 (__m512 x)
{
  __m512 e = ps_exp16 (_mm512_sub_ps (_mm512_setzero_ps (), x));
  return _mm512_div_ps (_mm512_set1_ps (1.f), _mm512_add_ps (_mm512_set1_ps (1.f), e));
}

/* The lanes of a vector starting `left` elements before a row's end. */
static inline __mmask16
ps_tail_mask (gsize left)
{
  return left >= 16 ? (__mmask16) 0xffff : (__mmask16) ((1u << left) - 1u);
}
#endif
