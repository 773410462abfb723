/* ps-method-protopnet-private.h: the model struct and helpers shared by
 * the files of the protopnet / stprotopnet implementation:
 * ps-method-protopnet.c (create, stages, steps, the method),
 * ps-method-protopnet-view.c (evaluation, snapshot, explanation) and
 * ps-method-protopnet-io.c (checkpoints). */
#pragma once

#include "ps-method.h"
#include "ps-method-util.h"
#include "ps-protopnet.h"

G_BEGIN_DECLS

#define PPN_CHUNK 256   /* images per push / cache / inference step */
/* Epochs when pre_epochs / joint_epochs are -1, by image size. */
#define PPN_PRE_EPOCHS_LARGE 10
#define PPN_PRE_EPOCHS_SMALL 3
#define PPN_JOINT_EPOCHS_LARGE 5
#define PPN_JOINT_EPOCHS_SMALL 8
/* Joint epochs after a mid push when mid_push is -1, by image size. */
#define PPN_MID_PUSH_LARGE 2
#define PPN_MID_PUSH_SMALL 0

struct _PsPpnModel
{
  PsDataset *data;
  gboolean st;
  PsModel *net;
  PsModel *head;           /* pre-training classifier on the feature map, or NULL */
  int D, fh, fw, HW, C, K, per_class, support;
  int feat_layer;
  float *protos;           /* [K, D] */
  int *pclass, *pkind;     /* [K] */
  float *last;             /* [C, K] */
  float *dprotos, *dlast;
  PsOptim *opt_protos, *opt_last, *opt_ft;
  PsRng rng;
  guint *train_idx;
  guint n_train;
  guint *perm;
  guint steps_per_epoch, push_chunks, cache_chunks;
  guint64 step, total, s_pre, s_warm, s_joint, s_push, s_cache;
  /* Mid push (param mid_push): push chunks in [s_mid, s_mid_end) inside
   * joint training; the prototypes stay fixed after it (s_mid = s_mid_end
   * = s_joint without one). */
  guint64 s_mid, s_mid_end;
  int batch, cap;          /* batch size; scratch capacity in images */
  float w_clst, w_sep, l1, w_st, lr_last_ft;
  gboolean alternate;      /* ST: one bank per batch (param alternate) */
  /* scratch */
  float *xb, *feat, *dfeat, *sim, *mind, *logits, *dlogits, *dsim, *dmind, *probs;
  int *yb, *argmin;
  PsPpnPush push;
  gboolean push_active;
  int *src_row, *src_pos;  /* [K] push record, -1 before push */
  /* Pruning (params prune_k, prune_min): after the cache pass, a
   * prototype with fewer than prune_min of its class among its prune_k
   * nearest training images is pruned: its similarity column and
   * last-layer weights are zero from then on. */
  int prune_k, prune_min;
  int *pruned;             /* [K] 0/1 */
  PsEvalSet test;
  float *cache_sim, *cache_mind;  /* [(n_train + test.n), K] after push, else NULL */
  double acc_pre, acc_joint, acc_push, acc_final;
};

/* Grows the scratch buffers to hold B images. */
void   ps_ppn_grow (PsPpnModel *m, int B);
/* Backbone and sigmoid add-on: m->feat[B, D, HW]. */
void   ps_ppn_features (PsPpnModel *m, const float *x, int B);
int    ps_ppn_argmax (const float *v, int n);
/* Accuracy of the current last layer on the evaluation set. */
double ps_ppn_test_acc (PsPpnModel *m);
/* The same from one bank's points alone (kind: PS_PPN_KIND_*; -1 all). */
double ps_ppn_test_acc_bank (PsPpnModel *m, int kind);
/* Zeroes the pruned prototypes' last-layer weights and cached similarities. */
void   ps_ppn_apply_pruning (PsPpnModel *m);
int    ps_ppn_n_pruned (PsPpnModel *m);
/* Receptive-field box of map position pos (-1: all -1). */
void   ps_ppn_pos_box (PsPpnModel *m, int pos, int box[4]);

G_END_DECLS
