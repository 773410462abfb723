/* ps-tsne.h: Barnes-Hut t-SNE to two dimensions, and trustworthiness.
 *
 * t-SNE (van der Maaten & Hinton, 2008) with the Barnes-Hut gradient (van
 * der Maaten, 2014), set up like scikit-learn's TSNE(method="barnes_hut"):
 * perplexity-calibrated input affinities over the floor(3 * perplexity + 1)
 * exact nearest neighbours, symmetrised and normalised; early exaggeration
 * (12 for 250 iterations) with momentum 0.5, then momentum 0.8; gains
 * (delta-bar-delta, +0.2 / x0.8, at least 0.01); learning rate "auto" =
 * max(n / early_exaggeration / 4, 50); initialisation by PCA scaled so the
 * first coordinate has standard deviation 1e-4, or seeded Gaussian noise.
 *
 * The state object is made for a background job: ps_tsne_new does the
 * expensive setup (optional PCA, neighbours, affinities), ps_tsne_step
 * runs a few iterations at a time, and ps_tsne_get_embedding hands out a
 * copy of the layout from any thread, even while a step runs elsewhere.
 * A borrowed cancel flag is polled inside every long loop.  The same seed
 * and parameters give a bit-identical layout (the optional second thread
 * splits the points by fixed ranges and its partial sums are combined in
 * a fixed order).
 */
#pragma once

#include <glib.h>
#include "../base/ps-base.h"

G_BEGIN_DECLS

typedef enum
{
  PS_TSNE_INIT_PCA,
  PS_TSNE_INIT_RANDOM,
} PsTsneInit;

typedef struct
{
  double perplexity;          /* 30 */
  double early_exaggeration;  /* 12 */
  guint exaggeration_iter;    /* 250 */
  guint n_iter;               /* 1000, including the exaggeration phase */
  double learning_rate;       /* <= 0: "auto", max(n / exaggeration / 4, 50) */
  double theta;               /* 0.5; 0 computes the repulsion exactly (O(n^2)) */
  double momentum_early;      /* 0.5 */
  double momentum_late;       /* 0.8 */
  PsTsneInit init;            /* PS_TSNE_INIT_PCA */
  guint pca_dims;             /* 50: inputs with more features are reduced by PCA first; 0 = never */
  guint kl_every;             /* 50: the KL divergence is computed every that many iterations */
  guint n_threads;            /* 1 or 2 threads for the gradient */
  guint64 seed;
  const gint *cancel;         /* borrowed; nonzero (read atomically) asks to stop; may be NULL */
} PsTsneParams;

typedef struct _PsTsne PsTsne;

/* Fills p with the defaults above. */
void ps_tsne_params_init (PsTsneParams *p);

/* Builds the t-SNE state for x [n, d] (copied as needed; not kept).
 * Returns NULL with PS_ERROR_PARAM for bad parameters (n < 3, perplexity
 * outside (0, n - 1), theta < 0, ...), PS_ERROR_VALUE for non-finite
 * input, PS_ERROR_CANCELLED when the cancel flag was raised during setup.
 * Free with ps_tsne_free. */
PsTsne *ps_tsne_new (const float *x, guint n, guint d, const PsTsneParams *params, GError **error);
void    ps_tsne_free (PsTsne *tsne);

/* Runs up to k more iterations (fewer at the end of the schedule).
 * Returns the latest KL divergence estimate KL(P || Q) with the
 * unexaggerated P and the Barnes-Hut normalisation, computed every
 * kl_every iterations and at the last one (NAN before the first).  On a
 * raised cancel flag it stops within one iteration, keeps the state
 * usable (a later call continues) and fails with PS_ERROR_CANCELLED; a
 * non-finite layout fails with PS_ERROR_DIVERGED.  Failures return NAN. */
double ps_tsne_step (PsTsne *tsne, guint k, GError **error);

/* The KL divergence of the current layout, computed now (one gradient
 * evaluation; not while ps_tsne_step runs on another thread). */
double ps_tsne_kl (PsTsne *tsne);

guint    ps_tsne_get_n          (PsTsne *tsne);
guint    ps_tsne_get_iteration  (PsTsne *tsne);   /* iterations done */
guint    ps_tsne_get_n_iter     (PsTsne *tsne);   /* iterations planned */
double   ps_tsne_get_progress   (PsTsne *tsne);   /* iteration / n_iter, in [0, 1] */
gboolean ps_tsne_is_done        (PsTsne *tsne);
/* The effective learning rate (after "auto"). */
double   ps_tsne_get_learning_rate (PsTsne *tsne);

/* A copy of the layout after the last completed iteration, [n, 2]
 * row-major; free with g_free.  Safe to call from any thread while
 * ps_tsne_step runs on another. */
float *ps_tsne_get_embedding (PsTsne *tsne);

/* Convenience: the whole schedule; writes y [n, 2].  FALSE with an error
 * as ps_tsne_new and ps_tsne_step. */
gboolean ps_tsne_run (const float *x, guint n, guint d, const PsTsneParams *params,
                      float *y, GError **error);

/* ---- Kernels (exposed for tests and benchmarks) -------------------- */

/* Unnormalised repulsion of a 2-D layout y [n, 2]:
 * rep[i] = sum_{j != i} q_ij^2 (y_i - y_j) with q_ij = 1 / (1 + |y_i - y_j|^2),
 * and the return value Z = sum_{i != j} q_ij.  The Barnes-Hut version
 * summarises a quadtree cell by its centre of mass when its side is below
 * theta times the distance from that centre to the bounding box of the
 * point's group (up to 32 neighbouring points sharing one interaction
 * list), so never coarser than per-point Barnes-Hut at the same theta;
 * theta = 0 gives the exact sums in a different summation order.
 * rep [n, 2] is overwritten. */
double ps_tsne_repulsion_bh    (float *rep, const float *y, guint n, double theta);
double ps_tsne_repulsion_exact (float *rep, const float *y, guint n);

/* The quadtree itself, reusable across iterations (it keeps its buffers).
 * ps_quadtree_repulsion computes rep and the partial Z for the points at
 * SORTED positions [s0, s1) (rep is indexed by the original point index),
 * so two threads can split the work by ranges deterministically. */
typedef struct _PsQuadTree PsQuadTree;
PsQuadTree *ps_quadtree_new       (void);
void        ps_quadtree_free      (PsQuadTree *t);
void        ps_quadtree_build     (PsQuadTree *t, const float *y, guint n);
guint       ps_quadtree_get_n     (const PsQuadTree *t);
double      ps_quadtree_repulsion (const PsQuadTree *t, float *rep, double theta, guint s0, guint s1);

/* Exact k nearest neighbours of each row of x [n, d] by squared Euclidean
 * distance, self excluded: nbr [n, k] sorted by increasing distance (ties
 * by index), dist2 [n, k] (may be NULL).  GEMM-based in row blocks, with
 * the kept distances recomputed directly.  FALSE only when cancelled. */
gboolean ps_knn_exact (guint32 *nbr, float *dist2, const float *x, guint n, guint d, guint k,
                       const gint *cancel);

/* ---- Trustworthiness ---------------------------------------------- */

/* Trustworthiness T(k) of Venna & Kaski (2001) of the embedding y [n, dy]
 * of x [n, d], as sklearn.manifold.trustworthiness(x, y, n_neighbors=k):
 *   T = 1 - 2 / (n k (2n - 3k - 1)) * sum_i sum_{j in N_k^y(i)} max(0, r(i, j) - k)
 * where r(i, j) is the rank of j among i's neighbours in x (1 = nearest;
 * equal distances ranked by index).  Exact: distances in x come from
 * GEMM row blocks, O(n^2 (d + k)).  Returns NAN with PS_ERROR_PARAM
 * unless 1 <= k < n / 2, PS_ERROR_VALUE for non-finite values,
 * PS_ERROR_CANCELLED when cancelled. */
double ps_trustworthiness (const float *x, guint n, guint d, const float *y, guint dy, guint k,
                           const gint *cancel, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PsTsne, ps_tsne_free)

G_END_DECLS
