/* ps-dense.c: one matrix product with its elementwise epilogue in one pass.
 *
 * The small MLPs of the diffusion lab (rows x 128 x 128) spend most of
 * their time in matrix products too small for a BLAS to pay back its
 * packing, followed by a pass over the result for the bias and the SiLU.
 * ps_gemm_fused computes C = A B with the product's tiles still in
 * registers when the bias, SiLU (forward, or the SiLU derivative in
 * backward) and the column sums are applied, so the result is written
 * once and never read back.
 *
 * The AVX-512 kernel holds a 6 x 64 tile of C in 24 registers; for each k
 * it loads 64 floats of B's row k and broadcasts 6 elements of A's column
 * k (A is read through its two strides, so A or its transpose is used in
 * place, without packing).  B's rows are read in place too: 64 columns of
 * K rows (32 KB at K = 128) stay in L1 while the row tiles stream past.
 * The sum over k runs in order, one fused multiply-add per step, so every
 * element is the same sequence of FMAs whatever its position in the tile.
 * Without AVX-512 (or with PS_NO_AVX512 set) the product goes to
 * ps_sgemm and the epilogue runs as plain loops.
 *
 * Measured (bench-diffusion, 2-D denoiser 2+32 -> 128 x 3 SiLU -> 2): see
 * docs/PERFORMANCE.md "Diffusion". */
#include <math.h>
#include <string.h>

#include "ps-layers.h"
#include "ps-simd-private.h"

/* ---- Generic path -------------------------------------------------------- */

static inline float
sigmoid1 (float x)
{
  return 1.f / (1.f + expf (-x));
}

static void
epilogue_generic (float *C, gsize ldc, int M, int N, const PsGemmEpilogue *e)
{
  for (int i = 0; i < M; i++)
    {
      float *c = C + (gsize) i * ldc;
      for (int j = 0; j < N; j++)
        {
          float x = c[j];
          if (e->bias != NULL)
            x += e->bias[j];
          if (e->pre != NULL)
            e->pre[(gsize) i * ldc + j] = x;
          if (e->silu)
            {
              float s = sigmoid1 (x);
              if (e->sig != NULL)
                e->sig[(gsize) i * ldc + j] = s;
              x *= s;
            }
          if (e->dsilu_pre != NULL)
            {
              float p = e->dsilu_pre[(gsize) i * ldc + j];
              float s = e->dsilu_sig != NULL ? e->dsilu_sig[(gsize) i * ldc + j] : sigmoid1 (p);
              x *= s * (1.f + p * (1.f - s));
            }
          if (e->colsum != NULL)
            e->colsum[j] += x;
          c[j] = x;
        }
    }
}

static void
gemm_fused_generic (int M, int N, int K, const float *A, gsize a_rs, gsize a_cs,
                    const float *B, gsize ldb, float *C, gsize ldc, const PsGemmEpilogue *e)
{
  /* With one row or one column both strides may be 1; choose the
   * reading whose leading dimension BLAS accepts. */
  if (a_cs == 1 && a_rs >= (gsize) K)
    ps_sgemm (FALSE, FALSE, M, N, K, 1.f, A, (int) a_rs, B, (int) ldb, 0.f, C, (int) ldc);
  else
    ps_sgemm (TRUE, FALSE, M, N, K, 1.f, A, (int) a_cs, B, (int) ldb, 0.f, C, (int) ldc);
  if (e != NULL)
    epilogue_generic (C, ldc, M, N, e);
}

/* ---- AVX-512 path -------------------------------------------------------- */

#ifdef PS_HAVE_AVX512_PATH

/* In a debug (-O0) build the kernels are still compiled at -O2: at -O0
 * every intrinsic is a call and the 24 accumulators live in memory, which
 * made the sanitizer build's diffusion tests several times slower.  An
 * optimised build keeps its own level (forcing O2 there cost 2-3%). */
#ifdef __OPTIMIZE__
#define PS_AVX512_FMA __attribute__ ((target ("avx512f,fma")))
#else
#define PS_AVX512_FMA __attribute__ ((target ("avx512f,fma"), optimize ("O2")))
#endif
#define MR 6
#define NV 4

/* One tile: rows [0, mr) x vectors [0, nv) of C (mr, nv compile-time
 * constants after inlining), masks[nv - 1] for a partial last vector;
 * `padded`: B's rows are readable to the full vector (a packed panel). */
static inline __attribute__ ((always_inline)) PS_AVX512_FMA void
tile (const int mr, const int nv, const gboolean padded, int K, const float *A, gsize a_rs,
      gsize a_cs, const float *B, gsize ldb, float *C, gsize ldc, const __mmask16 *masks,
      const PsGemmEpilogue *e, gsize e_off, int j0)
{
  __m512 c[MR][NV];
#pragma GCC unroll 6
  for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++)
      c[i][v] = _mm512_setzero_ps ();
  for (int k = 0; k < K; k++)
    {
      const float *bk = B + (gsize) k * ldb;
      const float *ak = A + (gsize) k * a_cs;
      __m512 b[NV];
#pragma GCC unroll 4
      for (int v = 0; v < nv; v++)
        b[v] = v == nv - 1 && !padded ? _mm512_maskz_loadu_ps (masks[v], bk + 16 * v)
                                      : _mm512_loadu_ps (bk + 16 * v);
#pragma GCC unroll 6
      for (int i = 0; i < mr; i++)
        {
          __m512 a = _mm512_set1_ps (ak[(gsize) i * a_rs]);
#pragma GCC unroll 4
          for (int v = 0; v < nv; v++)
            c[i][v] = _mm512_fmadd_ps (a, b[v], c[i][v]);
        }
    }

  const gboolean plain = e == NULL;
#pragma GCC unroll 4
  for (int v = 0; v < nv; v++)
    {
      const __mmask16 m = masks[v];
      const int j = j0 + 16 * v;
      __m512 bias = _mm512_setzero_ps ();
      if (!plain && e->bias != NULL)
        bias = _mm512_maskz_loadu_ps (m, e->bias + j);
      __m512 sum = _mm512_setzero_ps ();
#pragma GCC unroll 6
      for (int i = 0; i < mr; i++)
        {
          __m512 x = c[i][v];
          float *ci = C + (gsize) i * ldc + 16 * v;
          if (!plain)
            {
              const gsize o = e_off + (gsize) i * ldc + j;
              x = _mm512_add_ps (x, bias);
              if (e->pre != NULL)
                _mm512_mask_storeu_ps (e->pre + o, m, x);
              if (e->silu)
                {
                  __m512 s = ps_sigmoid16 (x);
                  if (e->sig != NULL)
                    _mm512_mask_storeu_ps (e->sig + o, m, s);
                  x = _mm512_mul_ps (x, s);
                }
              if (e->dsilu_pre != NULL)
                {
                  __m512 p = _mm512_maskz_loadu_ps (m, e->dsilu_pre + o);
                  __m512 s = e->dsilu_sig != NULL ? _mm512_maskz_loadu_ps (m, e->dsilu_sig + o)
                                                  : ps_sigmoid16 (p);
                  __m512 one = _mm512_set1_ps (1.f);
                  x = _mm512_mul_ps (x, _mm512_mul_ps (s, _mm512_fmadd_ps (p, _mm512_sub_ps (one, s), one)));
                }
              sum = _mm512_add_ps (sum, x);
            }
          if (m == (__mmask16) 0xffff)
            _mm512_storeu_ps (ci, x);
          else
            _mm512_mask_storeu_ps (ci, m, x);
        }
      if (!plain && e->colsum != NULL)
        _mm512_mask_storeu_ps (e->colsum + j, m,
                               _mm512_add_ps (_mm512_maskz_loadu_ps (m, e->colsum + j), sum));
    }
}

#define TILE_CASE(mr_, nv_)                                                                  \
  case (mr_) * 8 + (nv_):                                                                    \
    tile ((mr_), (nv_), FALSE, K, A, a_rs, a_cs, B, ldb, C, ldc, masks, e, e_off, j0);      \
    break

#define TILE_ROW(mr_) TILE_CASE (mr_, 1); TILE_CASE (mr_, 2); TILE_CASE (mr_, 3); TILE_CASE (mr_, 4)

/* One tile of mr <= 6 rows and nv <= 4 vectors, specialised. */
static PS_AVX512_FMA void
tile_any (int mr, int nv, int K, const float *A, gsize a_rs, gsize a_cs, const float *B,
          gsize ldb, float *C, gsize ldc, const __mmask16 *masks, const PsGemmEpilogue *e,
          gsize e_off, int j0)
{
  switch (mr * 8 + nv)
    {
      TILE_ROW (1);
      TILE_ROW (2);
      TILE_ROW (3);
      TILE_ROW (4);
      TILE_ROW (5);
      TILE_ROW (6);
    default:
      g_assert_not_reached ();
    }
}

/* N <= 4 outputs (a denoiser's last layer): the tiled kernel would fill
 * 16 lanes to use N of them, so each output is instead a dot product over
 * k, 16 lanes at a time, from B's column copied contiguous (bt[N, K]),
 * and the epilogue runs on scalars.  A must be read in place (a_cs = 1). */
#define SMALL_N 4
#define SMALL_N_K 1024

static PS_AVX512_FMA void
gemm_small_n_avx512 (int M, int N, int K, const float *A, gsize a_rs, const float *B, gsize ldb,
                     float *C, gsize ldc, const PsGemmEpilogue *e)
{
  float bt[SMALL_N * SMALL_N_K];
  for (int k = 0; k < K; k++)
    for (int j = 0; j < N; j++)
      bt[(gsize) j * K + k] = B[(gsize) k * ldb + j];
  for (int i = 0; i < M; i++)
    {
      const float *a = A + (gsize) i * a_rs;
      float *c = C + (gsize) i * ldc;
      for (int j = 0; j < N; j++)
        {
          const float *b = bt + (gsize) j * K;
          __m512 acc = _mm512_setzero_ps ();
          for (int k = 0; k < K; k += 16)
            {
              __mmask16 m = ps_tail_mask ((gsize) (K - k));
              acc = _mm512_fmadd_ps (_mm512_maskz_loadu_ps (m, a + k),
                                     _mm512_maskz_loadu_ps (m, b + k), acc);
            }
          c[j] = _mm512_reduce_add_ps (acc);
        }
    }
  if (e != NULL)
    epilogue_generic (C, ldc, M, N, e);
}

/* B's 64-column panels are copied contiguous ([K][64], 256-byte rows)
 * when enough row tiles reuse them: read in place at a row stride of 512
 * bytes (a 128-wide B), a panel's lines fall into half of L1's sets and
 * evict each other (perf: the B loads were the kernel's hottest lines). */
#define PACK_MAX_K 256
#define PACK_MIN_M (4 * MR)

static PS_AVX512_FMA void
gemm_fused_avx512 (int M, int N, int K, const float *A, gsize a_rs, gsize a_cs,
                   const float *B, gsize ldb, float *C, gsize ldc, const PsGemmEpilogue *e)
{
  float panel[PACK_MAX_K * 16 * NV] __attribute__ ((aligned (64)));
  const gboolean pack = K <= PACK_MAX_K && M >= PACK_MIN_M;
  for (int j0 = 0; j0 < N; j0 += 16 * NV)
    {
      const int w = MIN (16 * NV, N - j0);
      const int nv = (w + 15) / 16;
      __mmask16 masks[NV];
      for (int v = 0; v < NV; v++)
        masks[v] = v < nv ? ps_tail_mask ((gsize) (w - 16 * v)) : 0;
      int i0 = 0;
      if (pack && nv == NV)
        {
          /* w may be 49..63: the padding columns are zero. */
          for (int k = 0; k < K; k++)
            {
              float *row = panel + (gsize) k * 16 * NV;
              memcpy (row, B + (gsize) k * ldb + j0, w * sizeof (float));
              memset (row + w, 0, (16 * NV - w) * sizeof (float));
            }
          for (; i0 + MR <= M; i0 += MR)
            tile (MR, NV, TRUE, K, A + (gsize) i0 * a_rs, a_rs, a_cs, panel, 16 * NV,
                  C + (gsize) i0 * ldc + j0, ldc, masks, e, (gsize) i0 * ldc, j0);
        }
      else if (nv == NV)
        for (; i0 + MR <= M; i0 += MR)
          tile (MR, NV, FALSE, K, A + (gsize) i0 * a_rs, a_rs, a_cs, B + j0, ldb,
                C + (gsize) i0 * ldc + j0, ldc, masks, e, (gsize) i0 * ldc, j0);
      for (; i0 < M; i0 += MR)
        tile_any (MIN (MR, M - i0), nv, K, A + (gsize) i0 * a_rs, a_rs, a_cs, B + j0, ldb,
                  C + (gsize) i0 * ldc + j0, ldc, masks, e, (gsize) i0 * ldc, j0);
    }
}
#endif

/* ---- Entry point --------------------------------------------------------- */

void
ps_gemm_fused (int M, int N, int K, const float *A, gsize a_rs, gsize a_cs, const float *B,
               gsize ldb, float *C, gsize ldc, const PsGemmEpilogue *epi)
{
  g_return_if_fail (M >= 0 && N >= 0 && K >= 0);
  g_return_if_fail (a_rs == 1 || a_cs == 1);
  g_return_if_fail (epi == NULL || epi->sig == NULL || epi->silu);
  if (M == 0 || N == 0)
    return;
#ifdef PS_HAVE_AVX512_PATH
  if (ps_use_avx512 ())
    {
      if (N <= SMALL_N && a_cs == 1 && K <= SMALL_N_K)
        gemm_small_n_avx512 (M, N, K, A, a_rs, B, ldb, C, ldc, epi);
      else
        gemm_fused_avx512 (M, N, K, A, a_rs, a_cs, B, ldb, C, ldc, epi);
      return;
    }
#endif
  gemm_fused_generic (M, N, K, A, a_rs, a_cs, B, ldb, C, ldc, epi);
}

void
ps_transpose (float *dst, const float *src, int rows, int cols)
{
  /* 16 x 16 blocks keep both sides' lines in L1. */
  for (int i0 = 0; i0 < rows; i0 += 16)
    for (int j0 = 0; j0 < cols; j0 += 16)
      for (int i = i0; i < MIN (i0 + 16, rows); i++)
        for (int j = j0; j < MIN (j0 + 16, cols); j++)
          dst[(gsize) j * rows + i] = src[(gsize) i * cols + j];
}
