/* ps-eval.h: metrics and projections.
 *
 * Classification (accuracy, confusion matrix), out-of-distribution
 * detection (AUROC, FPR at 95% TPR, AUPR), cluster-to-class matching
 * (Hungarian assignment, clustering accuracy, the old/new accuracies of
 * generalized category discovery), PCA and k-means.
 *
 * Labels below 0 mean "unlabelled" everywhere and are skipped.
 */
#pragma once

#include <glib.h>
#include "../base/ps-base.h"

G_BEGIN_DECLS

/* ---- Classification ---------------------------------------------- */

/* Fraction of samples with y[i] >= 0 whose prediction equals the label;
 * NAN when no sample is labelled. */
double ps_accuracy (const gint32 *pred, const gint32 *y, guint n);

/* cm[t * k + p] = number of samples with label t predicted as p (rows are
 * the true class).  Samples whose label or prediction is outside 0..k-1
 * are skipped.  cm is [k, k] and is overwritten. */
void ps_confusion_matrix (guint *cm, const gint32 *pred, const gint32 *y, guint n, guint k);

/* ---- Out-of-distribution detection ------------------------------- */

/* Convention: a score is an OOD score, HIGHER = MORE LIKELY OOD (e.g.
 * negative max softmax, energy, distance to the nearest prototype).  Pass
 * -confidence for a confidence score.  is_ood[i] is nonzero for OOD
 * samples.  Which class is "positive" matters for FPR95 and AUPR:
 *
 *   PS_POSITIVE_OOD: positives are OOD samples, detected when the score is
 *     high.  FPR95 = fraction of ID samples scored at or above the threshold
 *     that keeps 95% of OOD samples detected.  AUPR = AUPR-Out.
 *   PS_POSITIVE_ID: positives are ID samples, accepted when the score is
 *     low (the convention of most OOD papers since Hendrycks & Gimpel and
 *     Liu et al.'s energy score).  FPR95 = fraction of OOD samples accepted
 *     at the threshold that accepts 95% of ID samples.  AUPR = AUPR-In.
 *
 * AUROC is the same under both.  All three return NAN when either class is
 * empty.  Ties count half (AUROC by average ranks); thresholds include every
 * sample with an equal score. */
typedef enum
{
  PS_POSITIVE_OOD,
  PS_POSITIVE_ID,
} PsPositive;

double ps_auroc (const float *score, const guint8 *is_ood, guint n);
double ps_fpr_at_tpr (const float *score, const guint8 *is_ood, guint n, PsPositive positive, double tpr);
double ps_fpr95 (const float *score, const guint8 *is_ood, guint n, PsPositive positive);
/* Average precision: sum over distinct thresholds of (R_i - R_{i-1}) P_i,
 * the step-wise area used by scikit-learn's average_precision_score. */
double ps_aupr (const float *score, const guint8 *is_ood, guint n, PsPositive positive);

/* ---- Assignment and clustering ----------------------------------- */

/* Minimum-cost assignment of rows to columns (Hungarian algorithm with
 * potentials, O(r^2 c)).  cost is [n_rows, n_cols] row-major; any shape
 * works: with more rows than columns some rows stay unassigned (-1).
 * row_to_col[n_rows] receives each row's column.  Returns the total cost. */
double ps_hungarian (const double *cost, guint n_rows, guint n_cols, gint *row_to_col);

/* Clustering accuracy: clusters are matched one-to-one to classes by the
 * Hungarian algorithm maximising agreement, then accuracy is computed with
 * that mapping over labelled samples.  pred are cluster ids (>= 0).
 * When cluster_to_class is non-NULL it receives [1 + max pred] entries
 * (-1 for a cluster left unmatched). */
double ps_cluster_accuracy (const gint32 *pred, const gint32 *y, guint n, gint32 *cluster_to_class);

/* Generalized category discovery: one Hungarian matching over all
 * labelled samples (the "v2" protocol of Vaze et al., 2022), then accuracy
 * on samples of old classes (is_old_class[y] nonzero; [n_classes]) and of
 * new classes.  Any output may be NULL; an empty group gives NAN. */
void ps_cluster_accuracy_old_new (const gint32 *pred, const gint32 *y, guint n,
                                  const guint8 *is_old_class, guint n_classes,
                                  double *all, double *old_acc, double *new_acc);

/* ---- PCA ----------------------------------------------------------- */

typedef struct
{
  guint d, k;
  float *mean;                      /* [d] */
  float *components;                /* [k, d], unit rows, by decreasing variance */
  float *explained_variance;        /* [k], eigenvalues of the covariance (n - 1) */
  float *explained_variance_ratio;  /* [k] */
  double total_variance;            /* sum of all feature variances */
} PsPca;

/* Top-k principal components of x [n, d].  The covariance is formed with
 * ps_sgemm (blocked, exploiting symmetry) and its top eigenvectors found
 * by subspace iteration with Rayleigh-Ritz (Jacobi on the small matrix),
 * iterated to convergence; for d > 2048 the covariance is applied
 * implicitly through passes over x instead (randomized PCA with power
 * iterations).  Each component's sign makes its largest entry positive.
 * Returns NULL with PS_ERROR_PARAM for k = 0, k > min(n, d) or n < 2, and
 * PS_ERROR_VALUE for non-finite input.  Free with ps_pca_free. */
PsPca *ps_pca_fit (const float *x, guint n, guint d, guint k, guint64 seed, GError **error);
/* out[n, k] = (x - mean) @ components^T. */
void   ps_pca_transform (const PsPca *pca, const float *x, guint n, float *out);
void   ps_pca_free (PsPca *pca);

/* Eigen-decomposition of a symmetric n x n matrix (cyclic Jacobi, in
 * double).  a is destroyed.  evals[n] are sorted decreasing and
 * evecs[n, n] holds the matching unit eigenvectors as ROWS. */
void ps_eig_sym (double *a, guint n, double *evals, double *evecs);

/* ---- k-means --------------------------------------------------------- */

/* k-means with greedy k-means++ seeding from a PsRng seeded by `seed`,
 * then Lloyd iterations whose distances come from ps_sgemm
 * (|x|^2 - 2 x.c + |c|^2, in row blocks).  Stops when the squared centre
 * shift falls below tol times the mean feature variance, or after
 * max_iter.  The best of n_init runs is kept.  centers [k, d] and
 * assign [n] (may be NULL) are written; returns the inertia (sum of squared
 * distances to the assigned centre), or a negative value with an error for
 * bad arguments (k = 0, k > n) or non-finite input.  n_iter (may be NULL)
 * receives the Lloyd iterations of the kept run. */
double ps_kmeans (const float *x, guint n, guint d, guint k,
                  guint n_init, guint max_iter, double tol, guint64 seed,
                  float *centers, gint32 *assign, guint *n_iter, GError **error);

/* Nearest centre for each row: assign[n] and, when non-NULL, the squared
 * distances dist2[n].  GEMM-based, for use after ps_kmeans. */
void ps_kmeans_predict (const float *x, guint n, guint d, const float *centers, guint k,
                        gint32 *assign, float *dist2);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PsPca, ps_pca_free)

G_END_DECLS
