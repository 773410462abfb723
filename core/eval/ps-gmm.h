/* ps-gmm.h: Gaussian mixtures with full covariances, fitted by EM, with
 * optional clamped (labelled) samples for semi-supervised use.
 *
 * Parameters are kept in double; the per-component Mahalanobis terms of
 * the E-step and the scatter matrices of the M-step go through ps_sgemm
 * in float over the data, which is where the time goes.  The convention
 * follows scikit-learn's GaussianMixture: reg is added to each
 * covariance's diagonal, and fitting stops when the mean log-likelihood
 * per sample changes by less than tol.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  int K, D;
  double reg;
  double *weights;   /* [K] */
  double *means;     /* [K, D] */
  double *covs;      /* [K, D, D] */
} PsGaussMix;

PsGaussMix  *ps_gaussmix_new  (int K, int D, double reg);
void    ps_gaussmix_free (PsGaussMix *g);
PsGaussMix  *ps_gaussmix_copy (const PsGaussMix *g);

/* Mean log-likelihood per sample of x[n, D].  logp[n, K] (optional)
 * receives log w_k + log N(x_i | k).  Returns -INFINITY when a covariance
 * is not positive definite. */
double  ps_gaussmix_log_likelihood (const PsGaussMix *g, const float *x, guint n, float *logp);
/* One EM iteration: the E-step under the current parameters, then the
 * M-step.  clamp[n] (may be NULL): a sample with clamp[i] >= 0 belongs to
 * component clamp[i] with certainty (its likelihood is w_k N(x | k)).
 * resp[n, K] (may be NULL) receives the responsibilities.  Returns the mean
 * log-likelihood of the parameters before the update; a component left
 * without mass keeps its parameters and gets weight 0. */
double  ps_gaussmix_em_step (PsGaussMix *g, const float *x, guint n, const int *clamp, float *resp);
/* EM until the mean log-likelihood changes by less than tol or max_iter
 * iterations; returns the final mean log-likelihood, *n_iter the count. */
double  ps_gaussmix_fit (PsGaussMix *g, const float *x, guint n, const int *clamp, int max_iter,
                    double tol, int *n_iter);
/* M-step alone from responsibilities resp[n, K]. */
void    ps_gaussmix_m_step (PsGaussMix *g, const float *x, guint n, const float *resp);
/* Most likely component per sample. */
void    ps_gaussmix_predict (const PsGaussMix *g, const float *x, guint n, gint32 *assign);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PsGaussMix, ps_gaussmix_free)

G_END_DECLS
