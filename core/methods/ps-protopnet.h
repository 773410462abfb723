/* ps-protopnet.h: part-prototype machinery ("this looks like that").
 *
 * A backbone turns an image into a feature map feat[B, D, H, W] (NCHW, as
 * the sequential model produces it).  Each of K prototypes is a 1x1 patch
 * protos[K, D] in that feature space.  For every prototype and every map
 * position the squared L2 distance is taken; the smallest distance per
 * prototype (and where it is) gives the similarity
 *
 *   sim = log ((d + 1) / (d + eps))
 *
 * which is large for a near patch and tends to 0 far away.  A last layer
 * last[C, K] turns similarities into class logits (no bias), so the points a
 * prototype adds to class c are sim_k * last[c, k] and they sum to the logit.
 *
 * Plain arrays, outputs first; backward functions ADD into gradients and
 * skip NULL ones, like the kernels in core/nn.
 */
#pragma once

#include <glib.h>
#include "../nn/ps-model.h"
#include "ps-method.h"

G_BEGIN_DECLS

#define PS_PPN_EPS 1e-4f

/* Prototype kinds, emitted in the snapshot's `prototype_kind`. */
typedef enum
{
  PS_PPN_KIND_PLAIN = 0,    /* ProtoPNet prototype, or ST-ProtoPNet's trivial bank */
  PS_PPN_KIND_SUPPORT = 1,  /* ST-ProtoPNet's support bank */
} PsPpnKind;

/* The log-similarity activation of a squared distance, and its derivative
 * d sim / d dist. */
float ps_ppn_log_sim (float dist, float eps);
float ps_ppn_log_sim_grad (float dist, float eps);

/* dist[B, K, HW]: squared distance of every prototype to every patch. */
void ps_ppn_distances (float *dist, const float *feat, const float *protos,
                       int B, int K, int D, int HW);

/* The prototype layer: mind[B, K] the smallest distance over positions,
 * argmin[B, K] its position (row-major h * W + w) and sim[B, K] the
 * log-similarity of mind (max-pooling the similarity map, since the
 * activation falls with distance).  sim may be NULL. */
void ps_ppn_forward (float *sim, float *mind, int *argmin, const float *feat,
                     const float *protos, int B, int K, int D, int HW, float eps);

/* Adds dsim[B, K] * d sim / d mind into dmind[B, K]. */
void ps_ppn_sim_backward (float *dmind, const float *dsim, const float *mind, int n, float eps);

/* Adds the gradients of the minimum distances into dfeat[B, D, HW] and
 * dprotos[K, D] (either may be NULL): only the argmin patch receives one. */
void ps_ppn_backward (float *dfeat, float *dprotos, const float *dmind, const float *feat,
                      const float *protos, const int *argmin, int B, int K, int D, int HW);

/* logits[B, C] = sim[B, K] last[C, K]^T. */
void ps_ppn_last_forward (float *logits, const float *sim, const float *last, int B, int K, int C);
/* Adds dlast[C, K] and dsim[B, K] (either may be NULL). */
void ps_ppn_last_backward (float *dsim, float *dlast, const float *dlogits, const float *sim,
                           const float *last, int B, int K, int C);
/* ProtoPNet's initial last layer: 1 to the own class, `neg` (-0.5) elsewhere. */
void ps_ppn_last_init (float *last, const int *proto_class, int K, int C, float neg);
/* L1 on the wrong-class connections: returns lambda * sum |w| over them and
 * adds the subgradient into dlast. */
float ps_ppn_last_l1 (float *dlast, const float *last, const int *proto_class, int K, int C,
                      float lambda);

/* ProtoPNet's cluster and separation costs over the prototypes whose kind
 * equals `kind` (kinds NULL: all prototypes):
 *   cluster    = mean_i min_{k of class y_i} mind[i, k]
 *   separation = mean_i min_{k not of class y_i} mind[i, k]
 * The training loss adds w_clst * cluster - w_sep * separation; this adds
 * that combination's gradient into dmind (may be NULL).  Rows with y < 0
 * are skipped. */
void ps_ppn_cluster_sep (float *dmind, float *cluster, float *separation, const float *mind,
                         const int *y, const int *proto_class, const int *kinds, int kind,
                         int B, int K, float w_clst, float w_sep);

/* ST-ProtoPNet's bank losses on prototype cosines over the prototypes of
 * `kind`.  For each pair of classes (c, c') the largest cosine between a
 * prototype of c and one of c' is found (the nearest cross-class pair):
 *   sign = +1: discrimination (trivial bank), minimise that cosine;
 *   sign = -1: closeness (support bank), maximise it.
 * Returns weight * sign * mean over pairs and adds its gradient into dprotos. */
float ps_ppn_pair_cosine_loss (float *dprotos, const float *protos, const int *proto_class,
                               const int *kinds, int kind, int K, int D, int C,
                               float sign, float weight);

/* ---- Push ------------------------------------------------------------ */

/* The running state of a push: per prototype, the nearest patch of a
 * training image of its class seen so far. */
typedef struct
{
  int K, D;
  float *best_dist;   /* [K], +inf until found */
  int *best_row;      /* [K] dataset row, -1 */
  int *best_pos;      /* [K] map position h * W + w, -1 */
  float *best_feat;   /* [K, D] */
} PsPpnPush;

void ps_ppn_push_init  (PsPpnPush *p, int K, int D);
void ps_ppn_push_clear (PsPpnPush *p);
/* Considers a batch: feat[B, D, HW] of images with dataset rows rows[B] and
 * labels y[B]. */
void ps_ppn_push_update (PsPpnPush *p, const float *feat, const float *protos,
                         const guint *rows, const int *y, const int *proto_class,
                         int B, int HW);
/* The end of a push pass: copies the found patches into protos
 * (prototypes never matched keep their value), records each one's dataset
 * row and map position in src_row[K] / src_pos[K] (-1: not matched) and
 * clears p. */
void ps_ppn_push_finish (PsPpnPush *p, float *protos, int *src_row, int *src_pos);

/* ---- Heatmaps, boxes, measures ---------------------------------------- */

/* The similarity map of prototype k for one image: simmap[HW]. */
void ps_ppn_similarity_map (float *simmap, const float *feat1, const float *proto, int D, int HW,
                            float eps);
/* Bilinear upsampling (pixel centres aligned, edges clamped) of
 * map[h, w] to out[H, W]. */
void ps_ppn_upsample (float *out, const float *map, int h, int w, int H, int W);
/* The input-pixel receptive field of feature-map cell (fh, fw) at the
 * output of layer `last_layer` of `net`: box = y0, x0, y1, x1 (inclusive),
 * clipped to the image. */
void ps_ppn_receptive_field (PsModel *net, int last_layer, int fh, int fw, int box[4]);

/* Mean over prototypes of the share of each prototype's `topk` nearest
 * training images (by min distance, mind[n, K]) that have its class. */
double ps_ppn_purity (const float *mind, const int *y, const int *proto_class, int n, int K,
                      int topk);
/* For every prototype, the `topk` rows (indices into 0..n) with the
 * smallest mind, nearest first: out[K, topk]. */
void ps_ppn_topk_rows (int *out, const float *mind, int n, int K, int topk);

/* The prototypes of an explanation ranked by the points they add to one
 * class, sim[k] * w[k] (w: that class's row of the last layer), largest
 * first, ties by index. */
typedef struct
{
  int k;
  float evidence;
} PsPpnRanked;
void ps_ppn_rank_evidence (PsPpnRanked *out, const float *sim, const float *w, int K);
/* The model-randomisation sanity baseline: the sigmoid feature map
 * feat1[n_feat] of one image x1 through a copy of `net` whose last
 * convolution has fresh random weights (a heatmap that survives it does
 * not depend on what was learnt).  A copy that cannot be made gives zeros. */
void ps_ppn_random_conv_features (PsModel *net, const float *x1, guint64 seed, float *feat1,
                                  gsize n_feat);

/* The area under a deletion curve: pixels are removed (set to `fill`) in
 * `steps` equal fractions in the order given by order[B, P] (most important
 * first); acc[s] of `classify` at each fraction.  classify writes
 * predictions for B images.  Returns the mean accuracy over the steps + 1
 * points (the trapezoid-free AUC on an even grid). */
typedef void (*PsPpnClassify) (gpointer user, const float *x, int B, int *pred);
double ps_ppn_deletion_auc (PsPpnClassify classify, gpointer user, const float *x,
                            const int *y, const int *order, int B, int P, int steps, float fill,
                            double *curve);

/* Sorts pixel indices by score, largest first: order[P]. */
void ps_ppn_order_desc (int *order, const float *score, int P);

/* The stage and optimiser parameters protopnet and stprotopnet share, in
 * the order their forms show them (one list, so that a default such as
 * the Fashion-MNIST run H epochs cannot differ between the two). */
#define PS_PPN_STAGE_PARAMS                                                                   \
  { "pre_epochs", PS_PARAM_INT, -1, -1, 1000, NULL,                                         \
    "Pre-training epochs: the backbone learns as a plain classifier (max-pool and linear "  \
    "head) before the prototypes start from its patches; -1: 10 for images of 16x16 and "   \
    "larger, else 3" },                                                                      \
  { "warm_epochs", PS_PARAM_INT, 2, 0, 1000, NULL, "Warm-up epochs (last layer fixed)" },   \
  { "joint_epochs", PS_PARAM_INT, -1, -1, 1000, NULL,                                       \
    "Joint training epochs; -1: 5 for images of 16x16 and larger, else 8" },                \
  { "mid_push", PS_PARAM_INT, -1, -1, 1000, NULL,                                           \
    "Also push this many joint epochs before the end, then train the backbone and last "    \
    "layer with the prototypes fixed (0: push at the end only; -1: 2 for images of 16x16 "  \
    "and larger, else 0)" },                                                                 \
  { "last_epochs", PS_PARAM_INT, 5, 0, 1000, NULL, "Last-layer fine-tuning epochs after push" }, \
  { "prune_k", PS_PARAM_INT, 6, 0, 100, NULL,                                               \
    "Pruning after push: nearest training images to look at (0: no pruning)" },             \
  { "prune_min", PS_PARAM_INT, 3, 0, 100, NULL,                                             \
    "Pruning: a prototype with fewer of its class among its prune_k nearest images is "     \
    "dropped" },                                                                             \
  { "batch_size", PS_PARAM_INT, 64, 1, 4096, NULL, "Samples per step" },                    \
  { "lr", PS_PARAM_FLOAT, 1e-3, 1e-6, 1.0, NULL, "Learning rate of the backbone and last layer", \
    TRUE },                                                                                  \
  { "lr_protos", PS_PARAM_FLOAT, 3e-3, 1e-6, 1.0, NULL, "Learning rate of the prototypes", TRUE }, \
  { "lr_last", PS_PARAM_FLOAT, 1e-2, 1e-6, 1.0, NULL, "Learning rate of last-layer fine-tuning", \
    TRUE }

G_END_DECLS

/* ---- The method implementation shared by protopnet and stprotopnet ----
 * (ps-method-protopnet.c; the ST variant sets `support` > 0 prototypes per
 * class in a second bank). */
typedef struct _PsPpnModel PsPpnModel;

gpointer   ps_ppn_method_create (const PsMethod *method, const PsParams *params,
                                 PsDataset *data, guint64 seed, gboolean st, GError **error);
void       ps_ppn_method_free (gpointer model);
guint64    ps_ppn_method_total_steps (gpointer model);
gboolean   ps_ppn_method_step (gpointer model, PsStepInfo *info, GError **error);
PsMetrics *ps_ppn_method_evaluate (gpointer model);
GPtrArray *ps_ppn_method_snapshot (gpointer model);
PsExplanation *ps_ppn_method_explain (gpointer model, guint sample, GError **error);
GBytes    *ps_ppn_method_save (gpointer model);
gboolean   ps_ppn_method_load (gpointer model, GBytes *blob, GError **error);

/* For tests and the "because" analysis: the model's pieces (borrowed). */
PsModel     *ps_ppn_model_backbone (PsPpnModel *m);
int          ps_ppn_model_n_protos (PsPpnModel *m);
int          ps_ppn_model_depth    (PsPpnModel *m);   /* D */
void         ps_ppn_model_map_size (PsPpnModel *m, int *h, int *w);
float       *ps_ppn_model_protos   (PsPpnModel *m);   /* [K, D] */
const int   *ps_ppn_model_proto_class (PsPpnModel *m);
const int   *ps_ppn_model_proto_kind (PsPpnModel *m);   /* PS_PPN_KIND_* */
const float *ps_ppn_model_last     (PsPpnModel *m);   /* [C, K] */
/* Push record: dataset row and map position of each prototype (-1 before push). */
const int   *ps_ppn_model_push_row (PsPpnModel *m);
const int   *ps_ppn_model_push_pos (PsPpnModel *m);
/* Features (after the sigmoid add-on) of x[B, d] in evaluation mode:
 * feat[B, D, HW], and optionally sim[B, K], logits[B, C]. */
void         ps_ppn_model_infer (PsPpnModel *m, const float *x, int B, float *feat,
                                 float *sim, float *logits);
/* The stability check of "This looks like that, because ...": each
 * prototype's global importances (similarity-weighted Delta over its `topk`
 * nearest training images) computed on two disjoint halves of the training
 * rows (even and odd positions), each prototype's vector scaled to unit L1
 * norm (its size follows how near its nearest images are; the check is
 * about which characteristics matter).  Returns the mean over the characteristics
 * of the Spearman correlation across prototypes (do both halves rank the
 * prototypes alike by their reliance on it?).  *per_proto (may be NULL)
 * gets the mean over prototypes of the correlation of their own vectors
 * across characteristics, *shuffled (may be NULL) the returned measure when
 * each prototype of one half is paired with another prototype of the other
 * (the chance level).  NAN before push, on colour images or with fewer than
 * 2 * topk training rows. */
double       ps_ppn_because_stability (PsPpnModel *m, int topk, double *per_proto,
                                       double *shuffled);
/* The stage of step `step`: "pretrain", "warmup", "joint", "push", "last". */
const char  *ps_ppn_model_stage (PsPpnModel *m, guint64 step);
