/* ps-probpsenn.h: the probabilistic pieces of Prob-PSENN (probabilistic
 * prototypes on top of the part-prototype machinery of ps-protopnet.h).
 *
 * Each prototype is a diagonal Gaussian N(mu_k, diag exp(logvar_k)) in the
 * feature space of the backbone.  Training draws one prototype set per step
 * by reparameterisation, p = mu + exp(logvar / 2) * eps, runs the ProtoPNet
 * layer on it and adds a KL term to a Gaussian prior; prediction draws S
 * sets and averages the class probabilities.  Plain arrays, outputs first;
 * backward functions ADD into gradients and skip NULL ones.
 */
#pragma once

#include <glib.h>
#include "ps-method.h"

G_BEGIN_DECLS

/* protos[n] = mu + exp (logvar / 2) * eps, element-wise over n values. */
void  ps_pps_sample (float *protos, const float *mu, const float *logvar, const float *eps,
                     gsize n);
/* Given dprotos[n], adds dmu += dprotos and
 * dlogvar += dprotos * eps * exp (logvar / 2) / 2. */
void  ps_pps_sample_backward (float *dmu, float *dlogvar, const float *dprotos,
                              const float *logvar, const float *eps, gsize n);

/* weight * sum over the n elements of KL (N (mu, e^logvar) || N (m0, s0^2)),
 *   KL = log s0 - logvar / 2 + (e^logvar + (mu - m0)^2) / (2 s0^2) - 1/2,
 * returned, and its gradient added into dmu and dlogvar. */
float ps_pps_kl (float *dmu, float *dlogvar, const float *mu, const float *logvar, gsize n,
                 float m0, float s0, float weight);

/* Squared distances of every prototype in protos[P, D] to every patch of
 * feat[B, D, HW] through one GEMM: dist[B, HW, P] (clamped at 0).  Scratch
 * `patches` holds B * HW * D floats and `pnorm` P floats. */
void  ps_pps_distances (float *dist, float *patches, float *pnorm, const float *feat,
                        const float *protos, int B, int D, int HW, int P);

/* From class probabilities of S draws probs[S, B, C]: the predictive mean
 * mean[B, C], its entropy divided by log C (in [0, 1]) entropy[B], the
 * mutual information between the prediction and the draw divided by log C
 * mi[B] (entropy of the mean minus the mean entropy), and the standard
 * deviation across draws of the probability of the predicted class
 * pstd[B].  Any output but mean may be NULL. */
void  ps_pps_predictive (float *mean, float *entropy, float *mi, float *pstd,
                         const float *probs, int S, int B, int C);

/* ---- Far out-of-distribution sets -------------------------------------- */

/* Resamples one image img[h, w] to out[H, W]: area averaging when
 * shrinking, bilinear (pixel centres aligned) when growing. */
void  ps_pps_resize (float *out, const float *img, int h, int w, int H, int W);

/* n images that are clearly not from `ds`, in ds's image shape (one
 * channel), values in [0, 1]:
 *   "fashion": the first n Fashion-MNIST test images, resized;
 *   "digits":  the first n 8x8 digits, resized;
 *   "noise":   uniform noise (seeded);
 *   "auto":    digits for 28x28 and larger images, Fashion-MNIST for
 *              smaller ones (noise when its folder is missing).
 * Writes the kind actually used into *used (static).  Returns [n, d] (free
 * with g_free), or NULL with an error naming the parameter or file. */
float *ps_pps_far_set (PsDataset *ds, const char *kind, guint n, guint64 seed,
                       const char **used, GError **error);

/* ---- The method's model, for tests ------------------------------------- */

typedef struct _PsPpsModel PsPpsModel;

int          ps_pps_model_n_protos (PsPpsModel *m);
int          ps_pps_model_depth (PsPpsModel *m);
void         ps_pps_model_map_size (PsPpsModel *m, int *h, int *w);
const float *ps_pps_model_mu (PsPpsModel *m);       /* [K, D] */
const float *ps_pps_model_logvar (PsPpsModel *m);   /* [K, D] */
const int   *ps_pps_model_proto_class (PsPpsModel *m);
/* Push record (-1 before push): dataset row and map position. */
const int   *ps_pps_model_push_row (PsPpsModel *m);
const int   *ps_pps_model_push_pos (PsPpsModel *m);
/* Evaluation-mode features of x[n]: feat[n, D, HW]. */
void         ps_pps_model_features (PsPpsModel *m, const float *x, int n, float *feat);
/* Predictive uncertainty of x[n] over the model's S draws: normalised
 * entropy of the mean and mutual information (either may be NULL), and the
 * prediction (may be NULL). */
void         ps_pps_model_uncertainty (PsPpsModel *m, const float *x, int n, float *entropy,
                                       float *mi, int *pred);
/* "warmup", "joint", "push", "cache", "last". */
const char  *ps_pps_model_stage (PsPpsModel *m, guint64 step);
/* The far set in use: "fashion", "digits" or "noise". */
const char  *ps_pps_model_far_kind (PsPpsModel *m);

G_END_DECLS
