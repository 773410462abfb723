/* ps-probpsenn-private.h: the Prob-PSENN model, shared by its training
 * file (ps-method-probpsenn.c) and its evaluation, snapshot and explanation
 * file (ps-probpsenn-view.c).  Not for other modules. */
#pragma once

#include "ps-method.h"
#include "ps-method-util.h"
#include "ps-protopnet.h"
#include "ps-probpsenn.h"

G_BEGIN_DECLS

#define PPS_CHUNK 256        /* images per push / cache step */
#define PPS_PRED_CHUNK 64    /* images per prediction block */

struct _PsPpsModel
{
  PsDataset *data;
  PsModel *net;
  int D, fh, fw, HW, C, K, per_class, feat_layer;
  float *pp;               /* [2, K, D]: the means, then the log-variances */
  float *mu, *lv;          /* views into pp */
  float *dpp;              /* [2, K, D] */
  float *protos, *eps;     /* [K, D]: the current draw and its noise */
  int *pclass, *pkind;     /* [K] */
  float *last, *dlast;     /* [C, K] */
  PsOptim *opt_pp, *opt_last, *opt_ft;
  PsRng rng;
  int S;                   /* prediction draws */
  float *pred_eps;         /* [S, K, D], fixed per run seed */
  float threshold;         /* normalised entropy above which a prediction is flagged */
  float kl, prior_mean, prior_std, lv_min, lv_max;
  guint *train_idx;
  guint n_train;
  guint *perm;
  guint steps_per_epoch, push_chunks, cache_chunks;
  guint64 step, total, s_warm, s_joint, s_push, s_cache;
  int batch, cap;
  float w_clst, w_sep, l1, lr_last_ft;
  /* scratch for training */
  float *xb, *feat, *dfeat, *sim, *mind, *logits, *dlogits, *dsim, *dmind, *probs;
  int *yb, *argmin;
  PsPpnPush push;
  gboolean push_active;
  int *src_row, *src_pos;  /* [K] push record, -1 before push */
  PsEvalSet test;
  float *far_x;            /* [n_far, d] far out-of-distribution images */
  guint n_far;
  const char *far_kind;    /* static: "fashion", "digits", "noise" */
  float *cache_sim, *cache_mind;  /* [n_train, K] to the means, after the cache pass */
  double acc_joint, acc_push, acc_final;
};

/* What a prediction fills; any pointer may be NULL. */
typedef struct
{
  float *mean;       /* [n, C] predictive mean probabilities */
  float *logits;     /* [n, C] mean logits over the draws */
  float *entropy;    /* [n] entropy of the mean / log C */
  float *mi;         /* [n] mutual information / log C */
  float *pstd;       /* [n] std over draws of the predicted class's probability */
  float *estd;       /* [n] std over draws of the top prototype's similarity */
  int *pred;         /* [n] argmax of the mean */
  int *pred_point;   /* [n] prediction with the prototype means */
  float *emb;        /* [n, D] the patch nearest to any prototype mean */
  float *sims;       /* [S, n, K] similarities per draw */
  float *sim_point;  /* [n, K] similarities to the means */
  float *mind_point; /* [n, K] */
  int *argmin_point; /* [n, K] */
} PpsOut;

/* Evaluation-mode features (after the sigmoid add-on) of x[n]: feat[n, D, HW]. */
void pps_features (PsPpsModel *m, const float *x, int n, float *feat);
/* The S-draw predictive distribution of x[n]. */
void pps_predict (PsPpsModel *m, const float *x, int n, const PpsOut *out);
/* MC test accuracy (NaN without a test set). */
double pps_test_acc (PsPpsModel *m);
/* The receptive-field box of map position pos (-1: all -1). */
void pps_pos_box (PsPpsModel *m, int pos, int box[4]);

PsMetrics *pps_evaluate (gpointer model);
GPtrArray *pps_snapshot (gpointer model);
PsExplanation *pps_explain (gpointer model, guint sample, GError **error);

G_END_DECLS
