/* ps-base.c: errors, PCG32 RNG, the one BLAS wrapper and small helpers. */
#define G_LOG_DOMAIN "ps-base"

#include "ps-base.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

G_DEFINE_QUARK (protoscope-error-quark, ps_error)

/* Declared by OpenBLAS; not part of the cblas.h of every provider, so we
 * declare them ourselves rather than depend on openblas_config.h. */
extern void openblas_set_num_threads (int num_threads);
extern int  openblas_get_num_threads (void);

/* ------------------------------------------------------------------ */
/* RNG                                                                  */
/* ------------------------------------------------------------------ */

void
ps_rng_init (PsRng *rng, guint64 seed, guint64 stream)
{
  rng->state = 0;
  rng->inc = (stream << 1u) | 1u;
  rng->have_spare = FALSE;
  rng->spare = 0.f;
  ps_rng_u32 (rng);
  rng->state += seed;
  ps_rng_u32 (rng);
}

guint32
ps_rng_u32 (PsRng *rng)
{
  guint64 old = rng->state;
  rng->state = old * 6364136223846793005ULL + rng->inc;
  guint32 xorshifted = (guint32) (((old >> 18u) ^ old) >> 27u);
  guint32 rot = (guint32) (old >> 59u);
  return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

guint32
ps_rng_below (PsRng *rng, guint32 n)
{
  g_return_val_if_fail (n > 0, 0);
  /* Lemire-free simple rejection: discard the biased low range. */
  guint32 threshold = (-n) % n;
  for (;;)
    {
      guint32 r = ps_rng_u32 (rng);
      if (r >= threshold)
        return r % n;
    }
}

float
ps_rng_uniform (PsRng *rng)
{
  /* 24 random bits give every float in [0,1) with spacing 2^-24. */
  return (ps_rng_u32 (rng) >> 8) * (1.0f / 16777216.0f);
}

double
ps_rng_uniform_d (PsRng *rng)
{
  guint64 hi = ps_rng_u32 (rng) >> 5;  /* 27 bits */
  guint64 lo = ps_rng_u32 (rng) >> 6;  /* 26 bits */
  return (hi * 67108864.0 + lo) * (1.0 / 9007199254740992.0);
}

float
ps_rng_normal (PsRng *rng)
{
  if (rng->have_spare)
    {
      rng->have_spare = FALSE;
      return rng->spare;
    }
  double u1, u2;
  do
    u1 = ps_rng_uniform_d (rng);
  while (u1 <= 1e-300);
  u2 = ps_rng_uniform_d (rng);
  double r = sqrt (-2.0 * log (u1));
  double th = 2.0 * G_PI * u2;
  rng->spare = (float) (r * sin (th));
  rng->have_spare = TRUE;
  return (float) (r * cos (th));
}

guint
ps_rng_categorical (PsRng *rng, const float *p, guint n)
{
  g_return_val_if_fail (n > 0, 0);
  double total = 0;
  for (guint i = 0; i < n; i++)
    total += p[i] > 0 ? p[i] : 0;
  if (!(total > 0))
    return ps_rng_below (rng, n);
  double u = ps_rng_uniform_d (rng) * total;
  double acc = 0;
  for (guint i = 0; i < n; i++)
    {
      acc += p[i] > 0 ? p[i] : 0;
      if (u < acc)
        return i;
    }
  /* Rounding left u at the very end: take the last positive entry. */
  for (guint i = n; i-- > 0;)
    if (p[i] > 0)
      return i;
  return n - 1;
}

void
ps_rng_shuffle (PsRng *rng, guint *items, guint n)
{
  for (guint i = n; i > 1; i--)
    {
      guint j = ps_rng_below (rng, i);
      guint t = items[i - 1];
      items[i - 1] = items[j];
      items[j] = t;
    }
}

void
ps_rng_permutation (PsRng *rng, guint *perm, guint n)
{
  for (guint i = 0; i < n; i++)
    perm[i] = i;
  ps_rng_shuffle (rng, perm, n);
}

void
ps_rng_fill_normal (PsRng *rng, float *out, gsize n, float mean, float std)
{
  for (gsize i = 0; i < n; i++)
    out[i] = mean + std * ps_rng_normal (rng);
}

void
ps_rng_fill_uniform (PsRng *rng, float *out, gsize n, float lo, float hi)
{
  for (gsize i = 0; i < n; i++)
    out[i] = lo + (hi - lo) * ps_rng_uniform (rng);
}

/* ------------------------------------------------------------------ */
/* BLAS                                                                 */
/* ------------------------------------------------------------------ */

void
ps_sgemm (gboolean trans_a, gboolean trans_b,
          int M, int N, int K,
          float alpha, const float *A, int lda,
          const float *B, int ldb,
          float beta, float *C, int ldc)
{
  if (M == 0 || N == 0)
    return;
  if (K == 0)
    {
      /* cblas leaves C untouched for K = 0 only when beta = 1; do the
       * scaling ourselves so the contract is the same everywhere. */
      for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
          C[(gsize) i * ldc + j] = beta == 0.f ? 0.f : beta * C[(gsize) i * ldc + j];
      return;
    }
  cblas_sgemm (CblasRowMajor,
               trans_a ? CblasTrans : CblasNoTrans,
               trans_b ? CblasTrans : CblasNoTrans,
               M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void
ps_sgemm_ref (gboolean trans_a, gboolean trans_b,
              int M, int N, int K,
              float alpha, const float *A, int lda,
              const float *B, int ldb,
              float beta, float *C, int ldc)
{
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++)
      {
        double acc = 0;
        for (int k = 0; k < K; k++)
          {
            double a = trans_a ? A[(gsize) k * lda + i] : A[(gsize) i * lda + k];
            double b = trans_b ? B[(gsize) j * ldb + k] : B[(gsize) k * ldb + j];
            acc += a * b;
          }
        float *c = &C[(gsize) i * ldc + j];
        *c = (float) (alpha * acc + (beta == 0.f ? 0.0 : (double) beta * *c));
      }
}

static GMutex blas_lock;
static int blas_wanted;    /* 0: not set yet, OpenBLAS's own count applies */
static int blas_single;    /* open single-threaded regions */

void
ps_blas_set_threads (int n)
{
  g_mutex_lock (&blas_lock);
  blas_wanted = MAX (1, n);
  if (blas_single == 0)
    openblas_set_num_threads (blas_wanted);
  g_mutex_unlock (&blas_lock);
}

int
ps_blas_get_threads (void)
{
  g_mutex_lock (&blas_lock);
  int n = blas_wanted > 0 ? blas_wanted : openblas_get_num_threads ();
  g_mutex_unlock (&blas_lock);
  return n;
}

int
ps_blas_single_begin (void)
{
  g_mutex_lock (&blas_lock);
  if (blas_wanted == 0)
    blas_wanted = MAX (1, openblas_get_num_threads ());
  if (blas_single++ == 0 && blas_wanted > 1)
    openblas_set_num_threads (1);
  int n = blas_wanted;
  g_mutex_unlock (&blas_lock);
  return n;
}

void
ps_blas_single_end (void)
{
  g_mutex_lock (&blas_lock);
  if (blas_single <= 0)
    g_critical ("ps_blas_single_end without ps_blas_single_begin");
  else if (--blas_single == 0 && blas_wanted > 1)
    openblas_set_num_threads (blas_wanted);
  g_mutex_unlock (&blas_lock);
}

/* ------------------------------------------------------------------ */
/* Kernel choice                                                        */
/* ------------------------------------------------------------------ */

/* Make OpenBLAS use the kernels this CPU can run.
 *
 * OpenBLAS 0.3.21 (Debian 12) picks its kernels when the library loads, by
 * CPU model.  It does not know recent CPUs (Sapphire/Emerald Rapids, for
 * instance) and then falls back to its generic "Prescott" kernels, without
 * AVX: every GEMM runs 3 to 7 times slower than the hardware allows.  The
 * choice can only be overridden through OPENBLAS_CORETYPE in the
 * environment, read before main() runs.
 *
 * So, before main(), when OpenBLAS chose a generic kernel, the variable is
 * not set, and the CPU supports AVX-512 (SkylakeX kernels) or AVX2+FMA
 * (Haswell kernels), we set it and re-execute the program once.  A value
 * the user or the machine already set is never touched (on some machines it
 * is set on purpose, to avoid kernels that compute wrong results), and
 * PROTOSCOPE_BLAS_AUTO=0 turns this off.  The sgemm tests compare whatever
 * kernel runs against a naive loop.
 *
 * This lives in ps-base.c on purpose: every program that uses the engine
 * links this object from the static library, so the constructor below is
 * always in the binary (a separate object nothing references would be left
 * out by the linker).
 */
extern char *openblas_get_corename (void);

static const char *
better_coretype (void)
{
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init ();
  if (__builtin_cpu_supports ("avx512f") && __builtin_cpu_supports ("avx512bw")
      && __builtin_cpu_supports ("avx512dq") && __builtin_cpu_supports ("avx512vl")
      && __builtin_cpu_supports ("avx512cd"))
    return "SkylakeX";
  if (__builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma"))
    return "Haswell";
#endif
  return NULL;
}

static gboolean
is_generic (const char *core)
{
  static const char *generic[] = { "Prescott", "Core2", "Penryn", "Dunnington", "Nehalem",
                                   "Atom", "Katmai", "Coppermine", "Northwood", "Banias" };
  if (core == NULL)
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (generic); i++)
    if (g_ascii_strcasecmp (core, generic[i]) == 0)
      return TRUE;
  return FALSE;
}

/* Reads our own argv back from /proc, since a constructor does not get it. */
static char **
read_own_argv (void)
{
  gchar *contents = NULL;
  gsize len = 0;
  if (!g_file_get_contents ("/proc/self/cmdline", &contents, &len, NULL) || len == 0)
    return NULL;
  GPtrArray *args = g_ptr_array_new ();
  for (gsize i = 0; i < len; i += strlen (contents + i) + 1)
    g_ptr_array_add (args, contents + i);
  g_ptr_array_add (args, NULL);
  /* `contents` stays alive for the exec; it is never freed on success. */
  return (char **) g_ptr_array_free (args, FALSE);
}

__attribute__ ((constructor)) static void
ps_blas_fix_coretype (void)
{
  if (getenv ("OPENBLAS_CORETYPE") != NULL || getenv ("PS_BLAS_REEXECED") != NULL)
    return;
  const char *opt = getenv ("PROTOSCOPE_BLAS_AUTO");
  if (opt != NULL && strcmp (opt, "0") == 0)
    return;
  if (!is_generic (openblas_get_corename ()))
    return;
  const char *better = better_coretype ();
  if (better == NULL)
    return;
  char **argv = read_own_argv ();
  if (argv == NULL)
    return;
  setenv ("OPENBLAS_CORETYPE", better, 1);
  setenv ("PS_BLAS_REEXECED", "1", 1);
  execv ("/proc/self/exe", argv);
  /* The exec failed: carry on with the generic kernels. */
  unsetenv ("OPENBLAS_CORETYPE");
}

const char *
ps_blas_corename (void)
{
  return openblas_get_corename ();
}

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

gpointer
ps_alloc0 (gsize n_bytes)
{
  gsize rounded = (n_bytes + 63) & ~(gsize) 63;
  if (rounded == 0)
    rounded = 64;
  void *p = aligned_alloc (64, rounded);
  if (p == NULL)
    g_error ("out of memory allocating %" G_GSIZE_FORMAT " bytes", n_bytes);
  memset (p, 0, rounded);
  return p;
}

void
ps_free (gpointer p)
{
  free (p);
}

gboolean
ps_all_finite (const float *x, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (!isfinite (x[i]))
      return FALSE;
  return TRUE;
}

double
ps_now (void)
{
  return g_get_monotonic_time () / 1e6;
}

const char *
ps_version (void)
{
  return PS_VERSION;
}
