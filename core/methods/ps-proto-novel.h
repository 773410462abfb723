/* ps-proto-novel.h: what the methods that meet new classes after training
 * share (transductive few-shot, TEEN, FedRecon).
 *
 * An embedding network is trained with ProtoNet's batch loss on the base
 * classes only; the novel classes are the held-out classes of the OOD
 * set-up (the `ood_classes` parameter; empty means the last 40% of the
 * classes).  After training the network is frozen and the methods build
 * prototypes for the novel classes from a few labelled samples, never
 * touching the weights again.
 */
#pragma once

#include "ps-proto-net.h"

G_BEGIN_DECLS

typedef struct
{
  PsEmbedNet b;
  int n_novel;
  int *novel_cls;      /* [n_novel] dataset class of each novel slot */
  int *novel_slot;     /* [n_classes] novel slot of a class, -1 for a base class */
  float *base_protos;  /* [n_id, E] base class means of the training bank */
  int *base_counts;    /* [n_id] */
  float *dz, *dprotos, *bprotos;
} PsNovelNet;

/* Parses PS_EMBED_NET_PARAMS (filling an empty ood_classes with the last
 * 40% of the classes) and builds the network on the base classes. */
gboolean ps_novel_net_init  (PsNovelNet *m, const PsParams *params, PsDataset *data, guint64 seed,
                             GError **error);
void     ps_novel_net_clear (PsNovelNet *m);
/* One ProtoNet batch step on the base classes (class means of the batch
 * as prototypes, cross-entropy over negative squared distances). */
void     ps_novel_net_step  (PsNovelNet *m, PsStepInfo *info);
/* Recomputes base_protos from the training bank (unit rows when `unit`). */
void     ps_novel_net_base_protos (PsNovelNet *m, gboolean unit);
/* Accuracy of the nearest base class mean on the base classes' evaluation
 * rows: what training on the base classes achieves. */
double   ps_novel_net_base_acc (PsNovelNet *m);
/* Rows of `split` whose class is novel, with their novel slots in *slot
 * (both g_free'd by the caller). */
guint   *ps_novel_net_rows  (PsNovelNet *m, PsSplit split, int **slot, guint *n);
/* z[n, E] of dataset rows (g_free'd by the caller). */
float   *ps_novel_net_embed (PsNovelNet *m, const guint *rows, guint n);
/* The evaluation split: TEST, or VAL when the dataset has no test rows. */
PsSplit  ps_novel_net_eval_split (PsNovelNet *m);

/* A snapshot over ps_snapshot_rows: the common kinds, embedding,
 * predictions and confidence of the prototype classifier protos[K, E] with
 * dataset classes proto_cls[K] (cosine similarity with temperature tau, or
 * negative squared distance when tau <= 0), assignments [N, K],
 * prototypes, prototype_labels and `novel` (u8 [N], 1 for a novel-class
 * row). */
GPtrArray *ps_novel_net_snapshot (PsNovelNet *m, const float *protos, const int *proto_cls, int K,
                                  float tau);
/* An explanation by prototypes of the same classifier; `what` starts the
 * sentence. */
PsExplanation *ps_novel_net_explain (PsNovelNet *m, guint sample, const float *protos,
                                     const int *proto_cls, int K, float tau, const char *what,
                                     GError **error);
/* Classifier logits[n, K] of z[n, E] as above. */
void     ps_novel_logits (float *logits, const float *z, int n, const float *protos, int K, int E,
                          float tau);

/* TEEN's calibration: out[N, E] = (1 - alpha) novel_n + alpha unit (sum_j
 * w_nj base_j) with w_n = softmax (tau cos (novel_n, base_j)) over the C
 * unit base prototypes. */
void     ps_teen_calibrate (float *out, const float *novel, int N, const float *base, int C,
                            int E, float alpha, float tau);

/* Transductive soft k-means (Boudiaf et al.'s bound optimiser with
 * lambda = 0): prototypes start as the support means; each of `iters`
 * rounds sets query weights w[Q, K] = softmax (-|q - m_k|^2 / temperature)
 * and the prototypes to the mean of supports (weight 1 on their class) and
 * queries (weight w).  protos[K, E] receives the result, w the final
 * weights. */
void     ps_soft_kmeans (float *protos, float *w, const float *sup, const int *sup_y, int S,
                         const float *qry, int Q, int K, int E, float temperature, int iters);

/* FedRecon's merge: merged[K, E] = sum_c n_ck p_ck / sum_c n_ck over
 * client prototypes client[n_clients, K, E] with counts
 * client_n[n_clients, K]; count[K] receives the sums (a class no client
 * saw gets a zero row and count 0). */
void     ps_fed_merge (float *merged, double *count, const float *client, const double *client_n,
                       int n_clients, int K, int E);

G_END_DECLS
