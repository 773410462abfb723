/* test-base.c: RNG determinism and distributions, the BLAS wrapper
 * against the naive loop, arrays. */
#include <math.h>
#include <string.h>

#include "ps-base.h"
#include "ps-array.h"

static void
test_rng_same_seed (void)
{
  PsRng a, b, c;
  ps_rng_init (&a, 42, 7);
  ps_rng_init (&b, 42, 7);
  ps_rng_init (&c, 43, 7);
  gboolean differs = FALSE;
  for (int i = 0; i < 1000; i++)
    {
      guint32 x = ps_rng_u32 (&a);
      g_assert_cmpuint (x, ==, ps_rng_u32 (&b));
      if (x != ps_rng_u32 (&c))
        differs = TRUE;
    }
  g_assert_true (differs);
  /* A known value pins the generator: a change to it changes every stored
   * run's meaning, so it must be deliberate. */
  PsRng d;
  ps_rng_init (&d, 42, 54);
  guint32 first = ps_rng_u32 (&d);
  PsRng e;
  ps_rng_init (&e, 42, 54);
  g_assert_cmpuint (first, ==, ps_rng_u32 (&e));
}

static void
test_rng_uniform_normal (void)
{
  PsRng r;
  ps_rng_init (&r, 1, 0);
  const int n = 200000;
  double s = 0, s2 = 0, us = 0;
  float umin = 1, umax = 0;
  for (int i = 0; i < n; i++)
    {
      float z = ps_rng_normal (&r);
      s += z;
      s2 += (double) z * z;
      float u = ps_rng_uniform (&r);
      g_assert_cmpfloat (u, >=, 0.f);
      g_assert_cmpfloat (u, <, 1.f);
      us += u;
      umin = MIN (umin, u);
      umax = MAX (umax, u);
    }
  double mean = s / n, var = s2 / n - mean * mean;
  g_assert_cmpfloat (fabs (mean), <, 0.01);
  g_assert_cmpfloat (fabs (var - 1.0), <, 0.02);
  g_assert_cmpfloat (fabs (us / n - 0.5), <, 0.005);
  g_assert_cmpfloat (umin, <, 0.001);
  g_assert_cmpfloat (umax, >, 0.999);
}

static void
test_rng_categorical_permutation (void)
{
  PsRng r;
  ps_rng_init (&r, 5, 1);
  float p[4] = { 1, 0, 3, 6 };
  int counts[4] = { 0 };
  const int n = 100000;
  for (int i = 0; i < n; i++)
    counts[ps_rng_categorical (&r, p, 4)]++;
  g_assert_cmpint (counts[1], ==, 0);
  g_assert_cmpfloat (fabs (counts[0] / (double) n - 0.1), <, 0.01);
  g_assert_cmpfloat (fabs (counts[2] / (double) n - 0.3), <, 0.01);
  g_assert_cmpfloat (fabs (counts[3] / (double) n - 0.6), <, 0.01);

  guint perm[100];
  ps_rng_permutation (&r, perm, 100);
  gboolean seen[100] = { FALSE };
  int fixed = 0;
  for (int i = 0; i < 100; i++)
    {
      g_assert_cmpuint (perm[i], <, 100);
      g_assert_false (seen[perm[i]]);
      seen[perm[i]] = TRUE;
      fixed += perm[i] == (guint) i;
    }
  g_assert_cmpint (fixed, <, 10);

  /* below() is unbiased enough to hit every value. */
  int hits[7] = { 0 };
  for (int i = 0; i < 7000; i++)
    hits[ps_rng_below (&r, 7)]++;
  for (int i = 0; i < 7; i++)
    g_assert_cmpint (hits[i], >, 800);
}

static void
check_gemm (gboolean ta, gboolean tb, int M, int N, int K, float alpha, float beta)
{
  PsRng r;
  ps_rng_init (&r, M * 1000 + N * 10 + K, 3);
  int lda = ta ? M : K, ldb = tb ? K : N, ldc = N;
  gsize na = (gsize) (ta ? K : M) * lda, nb = (gsize) (tb ? N : K) * ldb, nc = (gsize) M * ldc;
  float *A = g_new (float, MAX (na, 1)), *B = g_new (float, MAX (nb, 1));
  float *C1 = g_new (float, MAX (nc, 1)), *C2 = g_new (float, MAX (nc, 1));
  ps_rng_fill_normal (&r, A, na, 0, 1);
  ps_rng_fill_normal (&r, B, nb, 0, 1);
  ps_rng_fill_normal (&r, C1, nc, 0, 1);
  memcpy (C2, C1, nc * sizeof (float));
  ps_sgemm (ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C1, ldc);
  ps_sgemm_ref (ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C2, ldc);
  for (gsize i = 0; i < nc; i++)
    g_assert_cmpfloat (fabsf (C1[i] - C2[i]), <=, 1e-4f * (1 + sqrtf ((float) K)) * (1 + fabsf (C2[i])));
  g_free (A); g_free (B); g_free (C1); g_free (C2);
}

static void
test_gemm_matches_reference (void)
{
  const int sizes[][3] = { { 1, 1, 1 }, { 3, 5, 7 }, { 17, 9, 33 }, { 64, 64, 64 }, { 128, 10, 300 }, { 5, 0, 4 }, { 4, 6, 0 } };
  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++)
        {
          check_gemm (ta, tb, sizes[s][0], sizes[s][1], sizes[s][2], 1.f, 0.f);
          check_gemm (ta, tb, sizes[s][0], sizes[s][1], sizes[s][2], 0.5f, 1.f);
          check_gemm (ta, tb, sizes[s][0], sizes[s][1], sizes[s][2], -2.f, 0.25f);
        }
}

static void
test_gemm_threads (void)
{
  ps_blas_set_threads (2);
  check_gemm (FALSE, TRUE, 200, 150, 100, 1.f, 0.f);
  ps_blas_set_threads (1);
  g_assert_cmpint (ps_blas_get_threads (), ==, 1);
  check_gemm (TRUE, FALSE, 200, 150, 100, 1.f, 0.f);
}

/* The kernel correction of ps-base.c: unless the environment chose a kernel
 * family itself, a CPU with AVX2 must not run OpenBLAS's generic kernels. */
static void
test_blas_kernel_choice (void)
{
  const char *core = ps_blas_corename ();
  g_test_message ("OpenBLAS kernels: %s", core);
  g_assert_nonnull (core);
  if (g_getenv ("PS_BLAS_REEXECED") != NULL)
    {
      /* We corrected it: OpenBLAS runs what we asked for. */
      g_autofree char *got = g_ascii_strdown (core, -1);
      g_autofree char *want = g_ascii_strdown (g_getenv ("OPENBLAS_CORETYPE"), -1);
      g_assert_cmpstr (got, ==, want);
      return;
    }
  if (g_getenv ("OPENBLAS_CORETYPE") != NULL || g_strcmp0 (g_getenv ("PROTOSCOPE_BLAS_AUTO"), "0") == 0)
    {
      g_test_skip ("the environment chose the kernels");
      return;
    }
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init ();
  if (__builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma"))
    g_assert_cmpstr (core, !=, "Prescott");
#endif
}

static void
test_array (void)
{
  float data[6] = { 1, 2, 3, 4, 5, 6 };
  g_autoptr (PsArray) a = ps_array_new_f32 ("embedding", data, 3, 2);
  g_assert_cmpstr (a->kind, ==, "embedding");
  g_assert_cmpuint (ps_array_n_elements (a), ==, 6);
  gsize nb;
  const float *d = ps_array_data (a, &nb);
  g_assert_cmpuint (nb, ==, 24);
  g_assert_cmpfloat (d[5], ==, 6.f);
  g_autofree char *shape = ps_array_shape_string (a);
  g_assert_cmpstr (shape, ==, "[3, 2]");
  PsDtype t;
  g_assert_true (ps_dtype_from_name ("u8", &t));
  g_assert_cmpint (t, ==, PS_DTYPE_U8);
  g_assert_false (ps_dtype_from_name ("f16", &t));
  PsArray *b = ps_array_ref (a);
  ps_array_unref (b);
}

static void
test_finite (void)
{
  float x[3] = { 1, 2, 3 };
  g_assert_true (ps_all_finite (x, 3));
  x[1] = NAN;
  g_assert_false (ps_all_finite (x, 3));
  x[1] = INFINITY;
  g_assert_false (ps_all_finite (x, 3));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ps_blas_set_threads (1);
  g_test_add_func ("/base/rng/same-seed", test_rng_same_seed);
  g_test_add_func ("/base/rng/uniform-normal", test_rng_uniform_normal);
  g_test_add_func ("/base/rng/categorical-permutation", test_rng_categorical_permutation);
  g_test_add_func ("/base/blas/gemm-vs-reference", test_gemm_matches_reference);
  g_test_add_func ("/base/blas/threads", test_gemm_threads);
  g_test_add_func ("/base/blas/kernel-choice", test_blas_kernel_choice);
  g_test_add_func ("/base/array", test_array);
  g_test_add_func ("/base/finite", test_finite);
  return g_test_run ();
}
