/* ps-ood.h: out-of-distribution scores for embedding methods.  The OOD set-up
 * (held-out classes, a uniform box for 2-D data) and the shared embedding
 * network are in ps-proto-net.h.
 *
 * Every score here is an OOD score: HIGHER = MORE LIKELY OOD, the
 * convention of core/eval/ps-eval.h.  The five scores:
 *
 *   proto        distance to the nearest prototype (1 - max cosine, or the
 *                smallest squared Euclidean distance)
 *   knn          distance from the unit-normalised embedding to its k-th
 *                nearest unit-normalised training embedding (Sun et al. 2022)
 *   mahalanobis  min over classes of the Mahalanobis distance to the class
 *                mean under one shared covariance (Lee et al. 2018), on the
 *                penultimate features
 *   msp          minus the maximum softmax probability of the logits
 *                (Hendrycks & Gimpel 2017)
 *   energy       -T logsumexp(logits / T) (Liu et al. 2020)
 */
#pragma once

#include "ps-method.h"
#include "ps-proto-head.h"
#include "ps-method-util.h"
#include "../nn/ps-model.h"

G_BEGIN_DECLS

typedef enum
{
  PS_OOD_PROTO = 0,
  PS_OOD_KNN,
  PS_OOD_MAHALANOBIS,
  PS_OOD_MSP,
  PS_OOD_ENERGY,
  PS_OOD_N_SCORES,
} PsOodScore;

/* The choice list for a CHOICE parameter, in PsOodScore order. */
#define PS_OOD_SCORE_CHOICES "proto|knn|mahalanobis|msp|energy"

const char *ps_ood_score_name (PsOodScore score);            /* "proto", ... */
gboolean    ps_ood_score_from_name (const char *name, PsOodScore *out);

/* ---- Scores -------------------------------------------------------- */

/* score[N] = distance of z[N, E] to the nearest of protos[K, E]. */
void ps_ood_proto_score (float *score, const float *z, int N, const float *protos, int K, int E,
                         PsSimilarity kind);
/* score[N] = Euclidean distance between unit(z_i) and its k-th nearest
 * unit(bank_j), bank[M, E] (k is clamped to M). */
void ps_ood_knn_score (float *score, const float *z, int N, const float *bank, int M, int E, int k);
/* score[N] = -max_c softmax(logits)[c]. */
void ps_ood_msp_score (float *score, const float *logits, int N, int C);
/* score[N] = -T logsumexp(logits / T). */
void ps_ood_energy_score (float *score, const float *logits, int N, int C, float temperature);

typedef struct _PsMahalanobis PsMahalanobis;

/* Class means of feat[N, F] (labels y in 0..C-1; others skipped) and the
 * shared within-class covariance plus ridge * (mean variance) * I,
 * factorised by Cholesky.  Fails with PS_ERROR_VALUE when a class has no
 * sample or the covariance is not positive definite.  Free with
 * ps_mahalanobis_free. */
PsMahalanobis *ps_mahalanobis_fit (const float *feat, const int *y, int N, int C, int F,
                                   double ridge, GError **error);
/* score[N] = min_c (f - mu_c)^T Sigma^-1 (f - mu_c). */
void           ps_mahalanobis_score (const PsMahalanobis *m, float *score, const float *feat, int N);
void           ps_mahalanobis_free (PsMahalanobis *m);

/* ---- Metrics --------------------------------------------------------- */

/* Adds auroc_<name>, fpr95_<name> and aupr_<name> for score[n] against
 * is_ood[n].  FPR95 and AUPR take in-distribution as the positive class
 * (PS_POSITIVE_ID: FPR95 is the share of OOD samples accepted when 95% of
 * ID samples are accepted, AUPR is AUPR-In), as the OOD papers report. */
void ps_ood_add_metrics (PsMetrics *out, const char *name, const float *score,
                         const guint8 *is_ood, guint n);

/* Everything an embedding method knows about a set of inputs. */
typedef struct
{
  guint n;
  int E, F, C;            /* embedding, feature and logit widths */
  float *z;               /* [n, E] the embedding prototypes live in */
  float *feat;            /* [n, F] penultimate features (Mahalanobis) */
  float *logits;          /* [n, C] class logits over ID slots */
} PsOodInputs;

void ps_ood_inputs_alloc (PsOodInputs *in, guint n, int E, int F, int C);
void ps_ood_inputs_clear (PsOodInputs *in);

/* All five scores of the test inputs into scores[PS_OOD_N_SCORES * n]
 * (score s at scores + s * n).  train (with slot labels train_y) is the
 * bank for KNN and the fit for Mahalanobis; protos[K, E] with `kind` give
 * the prototype score.  A Mahalanobis fit that fails leaves NaN scores. */
void ps_ood_all_scores (float *scores, const PsOodInputs *test, const PsOodInputs *train,
                        const int *train_y, const float *protos, int K, PsSimilarity kind,
                        int knn_k);


G_DEFINE_AUTOPTR_CLEANUP_FUNC (PsMahalanobis, ps_mahalanobis_free)

G_END_DECLS
