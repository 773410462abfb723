/* ps-base.h: errors, the seeded RNG, the BLAS wrapper and small helpers.
 *
 * Everything in core/ includes this header.  It depends on GLib only; the
 * BLAS wrapper hides cblas behind one function whose convention is written
 * once, here.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

#define PS_ERROR (ps_error_quark ())
GQuark ps_error_quark (void);

/* Errors caused by data, files, SQLite or a diverging model.  API misuse is
 * caught by g_return_if_fail and invariants by g_assert instead. */
typedef enum
{
  PS_ERROR_IO,          /* a file could not be read or written */
  PS_ERROR_FORMAT,      /* a file is not what it claims to be (magic, header, size) */
  PS_ERROR_VALUE,       /* NaN/Inf values, labels out of range, counts that differ */
  PS_ERROR_PARAM,       /* an absurd or unknown parameter */
  PS_ERROR_DIVERGED,    /* a NaN or Inf loss stopped training */
  PS_ERROR_CANCELLED,   /* the caller asked to stop */
  PS_ERROR_STORE,       /* the run store refused (foreign, newer, corrupt, read-only, full) */
  PS_ERROR_NOT_FOUND,   /* unknown method, dataset or run */
  PS_ERROR_UNSUPPORTED, /* a valid request this method or file kind cannot serve */
} PsErrorCode;

/* ------------------------------------------------------------------ */
/* RNG: PCG32 (O'Neill), 64-bit state, one stream per seed+stream id.   */
/* The same seed gives the same sequence on every machine.             */
/* ------------------------------------------------------------------ */

typedef struct
{
  guint64 state;
  guint64 inc;
  /* Box-Muller produces two normals; the second is cached here. */
  gboolean have_spare;
  float spare;
} PsRng;

void     ps_rng_init        (PsRng *rng, guint64 seed, guint64 stream);
guint32  ps_rng_u32         (PsRng *rng);
/* Uniform integer in [0, n), unbiased (rejection). */
guint32  ps_rng_below       (PsRng *rng, guint32 n);
/* Uniform float in [0, 1). */
float    ps_rng_uniform     (PsRng *rng);
/* Uniform double in [0, 1) with 53 random bits. */
double   ps_rng_uniform_d   (PsRng *rng);
/* Standard normal. */
float    ps_rng_normal      (PsRng *rng);
/* Index drawn with probability p[i] / sum(p); p need not be normalised. */
guint    ps_rng_categorical (PsRng *rng, const float *p, guint n);
/* Fills perm[0..n) with a uniform random permutation of 0..n-1. */
void     ps_rng_permutation (PsRng *rng, guint *perm, guint n);
/* Fisher-Yates shuffle in place. */
void     ps_rng_shuffle     (PsRng *rng, guint *items, guint n);
void     ps_rng_fill_normal (PsRng *rng, float *out, gsize n, float mean, float std);
void     ps_rng_fill_uniform (PsRng *rng, float *out, gsize n, float lo, float hi);

/* ------------------------------------------------------------------ */
/* BLAS                                                                 */
/* ------------------------------------------------------------------ */

/* C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C, all row-major.
 *
 * op(X) is X or X^T.  When trans_a is FALSE, A is stored as M rows of K
 * (lda >= K); when TRUE, A is stored as K rows of M (lda >= M) and used
 * transposed.  Likewise B is K x N (ldb >= N) or, transposed, N x K
 * (ldb >= K).  C is M x N with ldc >= N.  This is the only place in the
 * engine that calls cblas_sgemm. */
void ps_sgemm (gboolean trans_a, gboolean trans_b,
               int M, int N, int K,
               float alpha, const float *A, int lda,
               const float *B, int ldb,
               float beta, float *C, int ldc);

/* The same contract as ps_sgemm, as a plain triple loop with double
 * accumulation.  The test oracle for every BLAS path. */
void ps_sgemm_ref (gboolean trans_a, gboolean trans_b,
                   int M, int N, int K,
                   float alpha, const float *A, int lda,
                   const float *B, int ldb,
                   float beta, float *C, int ldc);

/* How many threads OpenBLAS may use from now on (process-wide). */
void ps_blas_set_threads (int n);
/* The count last set (the one wanted even inside a single-threaded region). */
int  ps_blas_get_threads (void);
/* A region in which OpenBLAS runs single-threaded, for callers that split
 * their work over threads of their own (each then calls BLAS with one
 * thread instead of two layers of threads competing).  Regions nest and
 * may overlap across threads; a ps_blas_set_threads inside one takes
 * effect when the last region ends.  _begin returns the thread count
 * wanted outside the region. */
int  ps_blas_single_begin (void);
void ps_blas_single_end   (void);
/* The kernel family OpenBLAS runs ("SkylakeX", "Haswell", ...).  A generic
 * choice on a capable CPU is corrected before main(): see ps-base.c. */
const char *ps_blas_corename (void);

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */
/* ------------------------------------------------------------------ */

/* 64-byte aligned, zeroed allocation; free with ps_free. */
gpointer ps_alloc0 (gsize n_bytes);
void     ps_free   (gpointer p);

/* TRUE when every value is finite. */
gboolean ps_all_finite (const float *x, gsize n);

/* Monotonic seconds, for timing and wall-time columns. */
double ps_now (void);

/* The program version string stored with every run. */
const char *ps_version (void);

G_END_DECLS
