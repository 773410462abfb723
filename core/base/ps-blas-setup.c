/* ps-blas-setup.c: make OpenBLAS use the kernels this CPU can run.
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
 */
#define G_LOG_DOMAIN "ps-blas"

#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
