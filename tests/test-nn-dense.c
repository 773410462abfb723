/* test-nn-dense.c: ps_gemm_fused against a double-precision reference.
 *
 * Every shape class the tiled kernel treats apart (a full 6 x 64 tile,
 * partial row tiles, a partial last vector, N below 16, K = 0 and 1), both
 * ways of reading A (in place and transposed), and every epilogue step.
 * meson registers this test twice, the second time with PS_NO_AVX512=1,
 * so the generic path (ps_sgemm and loops) is held to the same answers. */
#include <math.h>
#include <string.h>

#include "test-nn-support.h"

typedef struct
{
  int M, N, K;
  gboolean trans;  /* A stored transposed: A[i, k] at a[k * M + i] */
  float *a, *b, *bias, *dpre, *dsig;
} Case;

static Case
case_new (PsRng *rng, int M, int N, int K, gboolean trans)
{
  Case c = { M, N, K, trans };
  c.a = randn (rng, (gsize) MAX (M * K, 1), 1.f);
  c.b = randn (rng, (gsize) MAX (K * N, 1), 1.f / sqrtf ((float) MAX (K, 1)));
  c.bias = randn (rng, (gsize) N, 1.f);
  c.dpre = randn (rng, (gsize) M * N, 2.f);
  c.dsig = TNEW (float, (gsize) M * N);
  for (int i = 0; i < M * N; i++)
    c.dsig[i] = 1.f / (1.f + expf (-c.dpre[i]));
  return c;
}

static double
a_at (const Case *c, int i, int k)
{
  return c->trans ? c->a[(gsize) k * c->M + i] : c->a[(gsize) i * c->K + k];
}

/* The reference of one element through the epilogue e (double). */
static void
reference (const Case *c, const PsGemmEpilogue *e, double *out, double *pre, double *sig,
           double *colsum)
{
  for (int j = 0; j < c->N; j++)
    colsum[j] = 0;
  for (int i = 0; i < c->M; i++)
    for (int j = 0; j < c->N; j++)
      {
        double x = 0;
        for (int k = 0; k < c->K; k++)
          x += a_at (c, i, k) * c->b[(gsize) k * c->N + j];
        const gsize o = (gsize) i * c->N + j;
        if (e->bias != NULL)
          x += e->bias[j];
        pre[o] = x;
        double s = 1.0 / (1.0 + exp (-x));
        sig[o] = s;
        if (e->silu)
          x *= s;
        if (e->dsilu_pre != NULL)
          {
            double p = c->dpre[o], q = c->dsig[o];
            x *= q * (1 + p * (1 - q));
          }
        colsum[j] += x;
        out[o] = x;
      }
}

static void
check (const char *what, const float *got, const double *want, gsize n, double tol)
{
  double worst = 0;
  for (gsize i = 0; i < n; i++)
    {
      double err = fabs (got[i] - want[i]) / (1.0 + fabs (want[i]));
      if (!(err <= worst))
        worst = err;
    }
  if (!(worst <= tol))
    g_error ("%s: relative error %.3g over %.3g", what, worst, tol);
}

static void
run_case (PsRng *rng, int M, int N, int K, gboolean trans, int epi_kind)
{
  Case c = case_new (rng, M, N, K, trans);
  const gsize n = (gsize) M * N;
  float *out = TNEW (float, n), *pre = TNEW (float, n), *sig = TNEW (float, n);
  float *colsum = TNEW (float, N);
  /* The column sums ADD: start from 1 and take it off below. */
  for (int j = 0; j < N; j++)
    colsum[j] = 1.f;
  PsGemmEpilogue e = { 0 };
  switch (epi_kind)
    {
    case 0:  /* plain product */
      break;
    case 1:  /* forward: bias, SiLU, keep pre and sig */
      e.bias = c.bias;
      e.silu = TRUE;
      e.pre = pre;
      e.sig = sig;
      break;
    case 2:  /* bias only, with the column sums */
      e.bias = c.bias;
      e.colsum = colsum;
      break;
    case 3:  /* backward through a SiLU with its saved sigmoid, bias gradient */
      e.dsilu_pre = c.dpre;
      e.dsilu_sig = c.dsig;
      e.colsum = colsum;
      break;
    case 4:  /* the same, sigmoid recomputed */
      e.dsilu_pre = c.dpre;
      e.colsum = colsum;
      break;
    }
  ps_gemm_fused (M, N, K, c.a, trans ? 1 : (gsize) K, trans ? (gsize) M : 1, c.b, (gsize) N, out,
                 (gsize) N, epi_kind == 0 ? NULL : &e);

  g_autofree double *w_out = g_new (double, MAX (n, 1));
  g_autofree double *w_pre = g_new (double, MAX (n, 1));
  g_autofree double *w_sig = g_new (double, MAX (n, 1));
  g_autofree double *w_sum = g_new (double, N);
  reference (&c, &e, w_out, w_pre, w_sig, w_sum);
  g_autofree char *what = g_strdup_printf ("M=%d N=%d K=%d %s epilogue %d", M, N, K,
                                           trans ? "A^T" : "A", epi_kind);
  check (what, out, w_out, n, 2e-5);
  if (e.pre != NULL)
    check (what, pre, w_pre, n, 2e-5);
  if (e.sig != NULL)
    check (what, sig, w_sig, n, 2e-5);
  if (e.colsum != NULL)
    {
      for (int j = 0; j < N; j++)
        colsum[j] -= 1.f;
      check (what, colsum, w_sum, N, 1e-4 * MAX (1, M));
    }
}

/* Every shape class and epilogue; fails with the kernel's tail handling
 * or any epilogue step broken. */
static void
test_shapes (void)
{
  PsRng rng;
  ps_rng_init (&rng, 11, 0);
  static const int Ms[] = { 1, 5, 6, 7, 13, 64 };
  /* 50: one panel of 49..63 columns (packed with zero padding). */
  static const int Ns[] = { 1, 2, 15, 16, 17, 50, 64, 100, 128 };
  static const int Ks[] = { 0, 1, 3, 34, 128 };
  for (guint m = 0; m < G_N_ELEMENTS (Ms); m++)
    for (guint nn = 0; nn < G_N_ELEMENTS (Ns); nn++)
      for (guint k = 0; k < G_N_ELEMENTS (Ks); k++)
        for (int trans = 0; trans < 2; trans++)
          for (int epi = 0; epi < 5; epi++)
            run_case (&rng, Ms[m], Ns[nn], Ks[k], trans, epi);
}

/* Strided output: ldc wider than N leaves the gap untouched. */
static void
test_strided_output (void)
{
  PsRng rng;
  ps_rng_init (&rng, 12, 0);
  const int M = 13, N = 40, K = 20, ldc = 57;
  float *a = randn (&rng, (gsize) M * K, 1.f), *b = randn (&rng, (gsize) K * N, 1.f);
  float *c = TNEW (float, (gsize) M * ldc);
  for (int i = 0; i < M * ldc; i++)
    c[i] = 7.f;
  ps_gemm_fused (M, N, K, a, K, 1, b, N, c, ldc, NULL);
  for (int i = 0; i < M; i++)
    for (int j = 0; j < ldc; j++)
      {
        float got = c[(gsize) i * ldc + j];
        if (j >= N)
          g_assert_cmpfloat (got, ==, 7.f);
        else
          {
            double want = 0;
            for (int k = 0; k < K; k++)
              want += (double) a[(gsize) i * K + k] * b[(gsize) k * N + j];
            g_assert_cmpfloat (fabs (got - want), <, 1e-4 * (1 + fabs (want)));
          }
      }
}

static void
test_transpose (void)
{
  PsRng rng;
  ps_rng_init (&rng, 13, 0);
  const int R = 37, C = 19;
  float *src = randn (&rng, (gsize) R * C, 1.f), *dst = TNEW (float, (gsize) R * C);
  ps_transpose (dst, src, R, C);
  for (int i = 0; i < R; i++)
    for (int j = 0; j < C; j++)
      g_assert_cmpfloat (dst[(gsize) j * R + i], ==, src[(gsize) i * C + j]);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/dense/shapes", test_shapes, run_in_arena);
  g_test_add_data_func ("/dense/strided-output", test_strided_output, run_in_arena);
  g_test_add_data_func ("/dense/transpose", test_transpose, run_in_arena);
  return g_test_run ();
}
