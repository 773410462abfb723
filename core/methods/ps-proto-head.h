/* ps-proto-head.h: the prototype head shared by every prototype method.
 *
 * A prototype method is (a) an embedding, (b) an assignment rule that says
 * how strongly each sample belongs to each prototype and (c) an update rule
 * that moves the prototypes.  This header holds (b), (c), the similarities
 * they are built on and the prototype losses, as llm.c-style functions over
 * plain row-major arrays:
 *
 *   z[N, E]       embeddings (one row per sample)
 *   protos[K, E]  prototypes (one row per prototype)
 *   sim[N, K]     similarity of each sample to each prototype
 *   w[N, K]       assignment weights
 *
 * Outputs come first.  Backward functions and losses ADD into their
 * gradient arguments (NULL gradients are skipped): several paths (a query
 * and the class mean it belongs to, the EMA update of a prototype) meet in
 * the same embedding, so accumulation is the natural contract here.  Losses
 * return the mean over samples (or prototypes).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  PS_SIM_COSINE = 0,       /* z.p / (|z| |p|), in [-1, 1] */
  PS_SIM_NEG_SQEUCLID = 1, /* -|z - p|^2, ProtoNet's logit */
} PsSimilarity;

/* "cosine" / "euclidean". */
const char *ps_similarity_name (PsSimilarity kind);

/* ---- Similarities --------------------------------------------------- */

/* sim[N, K] for every sample against every prototype. */
void ps_proto_similarity (float *sim, const float *z, const float *protos,
                          int N, int K, int E, PsSimilarity kind);
/* Adds dL/dz[N, E] and dL/dprotos[K, E] given dL/dsim[N, K]. */
void ps_proto_similarity_backward (float *dz, float *dprotos, const float *dsim,
                                   const float *z, const float *protos,
                                   int N, int K, int E, PsSimilarity kind);

/* ---- Assignment rules ---------------------------------------------- */

/* mask[N, K] = 1 where proto_labels[k] == y[i] (y < 0: the whole row is 1,
 * an unlabelled sample may go anywhere). */
void ps_proto_class_mask (guint8 *mask, const int *y, const int *proto_labels, int N, int K);

/* Hard assignment: assign[i] = argmax_k sim[i, k] over the allowed entries
 * (mask may be NULL); -1 when a row allows nothing. */
void ps_proto_assign_argmax (int *assign, const float *sim, const guint8 *mask, int N, int K);

/* w[i, :] = softmax(sim[i, :] / temperature); rows sum to 1. */
void ps_proto_assign_softmax (float *w, const float *sim, int N, int K, float temperature);

/* Sinkhorn-Knopp equipartition (SwAV / PALM): starts from
 * exp(sim / epsilon) and alternately scales prototype columns to mass 1/K
 * and sample rows to mass 1/N for `iters` rounds, then multiplies by N, so
 * that every row sums to 1 (a soft assignment) and every column to N/K (all
 * prototypes used equally).  Computed in double precision with the maximum
 * subtracted first, so epsilon = 0.05 does not overflow. */
void ps_proto_sinkhorn (float *q, const float *sim, int N, int K, float epsilon, int iters);

/* In place on w[N, K]: zero the entries outside mask (may be NULL), keep the
 * `topk` largest remaining entries of each row (topk <= 0 keeps all), and
 * rescale each row to sum 1 (a row left with no mass stays zero).  This is
 * PALM's class mask plus reciprocal-neighbour cut. */
void ps_proto_mask_topk (float *w, const guint8 *mask, int N, int K, int topk);

/* ---- Update rules -------------------------------------------------- */

/* PALM's EMA update on the unit sphere:
 *   w_hat[:, k] = w[:, k] / sum_i w[i, k]          (0 for an unused prototype)
 *   u_k = alpha * p_k + (1 - alpha) * sum_i w_hat[i, k] z_i
 *   p_k = u_k / |u_k|
 * `protos` is updated in place.  When non-NULL, norms[K] receives |u_k| and
 * w_hat[N, K] the column-normalised weights: what ps_proto_ema_backward
 * needs to pass a gradient on the new prototypes back to z. */
void ps_proto_ema_update (float *protos, float *norms, float *w_hat, const float *w,
                          const float *z, int N, int K, int E, float alpha);
/* Adds to dz[N, E] the gradient that flows from dL/dprotos_new[K, E]
 * through the EMA update above (the old prototypes and the weights are
 * constants, as in PALM, where both are detached). */
void ps_proto_ema_backward (float *dz, const float *dprotos, const float *protos_new,
                            const float *norms, const float *w_hat,
                            int N, int K, int E, float alpha);

/* Class means: protos[C, E] = mean of z over samples with y == c, counts[C]
 * their numbers (a class without samples gets a zero row, count 0; y < 0
 * rows are skipped). */
void ps_proto_class_means (float *protos, int *counts, const float *z, const int *y,
                           int N, int C, int E);
/* Adds to dz[N, E] the gradient through ps_proto_class_means. */
void ps_proto_class_means_backward (float *dz, const float *dprotos, const int *y,
                                    const int *counts, int N, int C, int E);

/* ---- Losses -------------------------------------------------------- */

/* Cross-entropy over prototype logits sim(z_i, p_k) / temperature with
 * target prototype y[i] (ProtoNet with PS_SIM_NEG_SQEUCLID and temperature
 * 1).  valid[K] (may be NULL) excludes prototypes, e.g. classes absent from
 * an episode; rows with y < 0 or an invalid target are skipped.  Adds the
 * gradient of the mean into dz and dprotos. */
float ps_proto_ce_loss (float *dz, float *dprotos, const float *z, const int *y,
                        const float *protos, const guint8 *valid,
                        int N, int K, int E, PsSimilarity kind, float temperature);

/* PALM's MLE loss on unit embeddings with constant (detached) prototypes
 * and weights w[N, K] (rows sum to 1):
 *   L = -mean_i [ sum_k w_ik z_i.p_k / tau - log sum_k exp(z_i.p_k / tau) ]
 * Adds dL/dz.  With probs non-NULL, writes softmax_k(z_i.p_k / tau). */
float ps_palm_mle_loss (float *dz, float *probs, const float *z, const float *protos,
                        const float *w, int N, int K, int E, float tau);

/* PALM's prototype-level contrastive loss over unit prototypes:
 *   L = -mean_p [ mean_{q != p, same class} p.q / T - log sum_{q != p} exp(p.q / T) ]
 * (a prototype without a same-class partner, e.g. K = 1, has no positive
 * term).  Adds dL/dprotos. */
float ps_palm_proto_contrast_loss (float *dprotos, const float *protos, const int *proto_labels,
                                   int K, int E, float temperature);

/* ---- Small helpers -------------------------------------------------- */

/* Normalise each row of x[N, E] to unit length (rows of zeros stay zero). */
void ps_proto_normalize_rows (float *x, int N, int E);

G_END_DECLS
