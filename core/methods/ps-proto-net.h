/* ps-proto-net.h: what the prototype methods share beyond the head: the
 * OOD set-up (held-out classes, test rows with OOD rows and a box) and the
 * embedding network with its training rows, inference, snapshot and
 * checkpoint. */
#pragma once

#include "ps-ood.h"

G_BEGIN_DECLS

/* ---- The shared OOD set-up ------------------------------------------- */

/* Which dataset classes are in distribution, and their slots 0..n_id-1
 * (the class order with the held-out classes removed). */
typedef struct
{
  guint n_classes;   /* of the dataset */
  guint n_id;
  int *slot;         /* [n_classes]: ID slot, or -1 for a held-out class */
  int *cls;          /* [n_id]: the dataset class of each slot */
  gboolean active;   /* some class is held out, or a box is used */
} PsOodClasses;

/* Parses "6,7,8,9" (empty: none held out).  Fails with PS_ERROR_PARAM on a
 * bad number, a class outside the dataset, or fewer than two ID classes. */
gboolean ps_ood_classes_init  (PsOodClasses *oc, PsDataset *ds, const char *spec, GError **error);
void     ps_ood_classes_clear (PsOodClasses *oc);

/* The evaluation rows: ID rows of one split (with slot labels), OOD rows of
 * the held-out classes in that split, and for 2-D data n_box uniform points
 * in the data's bounding box widened by a quarter (drawn from `seed`). */
typedef struct
{
  PsSplit split;     /* TEST, or VAL when the dataset has no test rows */
  guint n, n_ood;
  int d;
  float *x;          /* [n, d] */
  int *y;            /* [n] ID slot, -1 for OOD rows */
  gint32 *rows;      /* [n] dataset row, -1 for box points */
  guint8 *is_ood;    /* [n] */
} PsOodTestSet;

void ps_ood_test_set_init  (PsOodTestSet *t, PsDataset *ds, PsSplit split,
                            const PsOodClasses *oc, guint n_box, guint64 seed);
void ps_ood_test_set_clear (PsOodTestSet *t);

/* ---- The embedding network both prototype methods train ---------------
 *
 * ProtoNet and PALM share everything but their loss and prototypes: a
 * network from a spec whose output is the embedding z (the input of its
 * last linear layer gives the penultimate features for Mahalanobis), the
 * training rows of the in-distribution classes in seeded epoch order, the
 * OOD set-up and the checkpointed training state.  Their parameter tables
 * start with PS_EMBED_NET_PARAMS. */

#define PS_EMBED_NET_PARAMS(default_dim) \
  { "spec", PS_PARAM_STRING, 0, 0, 0, "auto", \
    "Embedding network spec; auto is D-256r-128r-E for images and D-128r-64r-E otherwise " \
    "(E = embed_dim; PALM adds 'u', unit length)" }, \
  { "embed_dim", PS_PARAM_INT, default_dim, 2, 1024, NULL, "Embedding width E for the auto spec" }, \
  { "epochs", PS_PARAM_INT, 20, 1, 1000, NULL, "Passes over the training data" }, \
  { "batch_size", PS_PARAM_INT, 128, 2, 8192, NULL, "Samples per step" }, \
  { "lr", PS_PARAM_FLOAT, 1e-3, 1e-6, 1.0, NULL, "Learning rate (Adam)", TRUE }, \
  { "weight_decay", PS_PARAM_FLOAT, 0, 0, 1, NULL, "Weight decay (AdamW when > 0)" }, \
  { "max_train", PS_PARAM_INT, 0, 0, 10000000, NULL, \
    "Use at most this many training samples (a fixed seeded subset; 0: all)" }, \
  { "ood_classes", PS_PARAM_STRING, 0, 0, 0, "", \
    "Classes held out of training and used as OOD at evaluation, e.g. 6,7,8,9 (empty: none)" }, \
  { "ood_box", PS_PARAM_INT, 0, 0, 100000, NULL, \
    "2-D data: this many uniform points in the data's box (widened by a quarter) as OOD test set" }, \
  { "ood_score", PS_PARAM_CHOICE, 0, 0, 0, PS_OOD_SCORE_CHOICES, \
    "The OOD score shown in snapshots (scores) and explanations; evaluate reports all five" }, \
  { "knn_k", PS_PARAM_INT, 10, 1, 1000, NULL, "k of the KNN OOD score" }

typedef struct
{
  PsDataset *data;
  PsModel *net;
  PsRng rng;                 /* data order (and episodes) */
  PsOodClasses oc;
  guint *train_idx;          /* [n_train] dataset rows of ID training samples */
  int *train_y;              /* [n_train] their ID slots */
  guint n_train;
  guint *perm;               /* this epoch's order of positions in train_idx */
  guint64 step, total;
  guint steps_per_epoch;
  int batch;
  float *xb;                 /* [batch, d] */
  int *yb;                   /* [batch] ID slots */
  PsOodTestSet test;         /* ID test rows + OOD rows (+ box) */
  int feat_layer;            /* layer whose output is the feature, -1 = input */
  int E, F;                  /* embedding and feature widths */
  PsOodScore ood_score;
  int knn_k;
} PsEmbedNet;

/* Parses the common parameters, builds and initialises the network (seed
 * stream 2), the training rows (without held-out classes) and the test set.
 * `unit` appends 'u' to the auto spec.  Epoch length: steps_per_epoch =
 * ceil(n_train / batch); the caller may change it before training. */
gboolean ps_embed_net_init  (PsEmbedNet *b, const PsParams *params, PsDataset *data,
                             guint64 seed, gboolean unit, GError **error);
void     ps_embed_net_clear (PsEmbedNet *b);
/* Gathers the next batch of this epoch (drawing a new permutation at the
 * start of an epoch) into xb/yb; returns its size. */
int      ps_embed_net_next_batch (PsEmbedNet *b);
/* z[n, E] and (optional) feat[n, F] for x[n, d], in evaluation mode. */
void     ps_embed_net_infer (PsEmbedNet *b, const float *x, guint n, float *z, float *feat);
/* z and feat of at most 10000 training rows (a fixed prefix of train_idx);
 * *y receives their slots (free with g_free).  logits are left for the
 * caller (allocated with C columns). */
void     ps_embed_net_bank (PsEmbedNet *b, PsOodInputs *bank, int **y, int C);
/* z and feat of the test set, logits allocated with C columns. */
void     ps_embed_net_test_inputs (PsEmbedNet *b, PsOodInputs *in, int C);
/* test_acc on ID test rows (argmax of logits), and when the set-up has OOD
 * rows, auroc/fpr95/aupr for every score.  A caller fills the logits first. */
void     ps_embed_net_report (PsEmbedNet *b, PsMetrics *out, const PsOodInputs *test,
                              const PsOodInputs *bank, const int *bank_y,
                              const float *protos, int K, PsSimilarity kind);
/* One training step's bookkeeping after the loss: advances step, sets
 * info->loss / done. */
void     ps_embed_net_finish_step (PsEmbedNet *b, PsStepInfo *info, float loss);

/* Adds to a snapshot: sample_index, labels, split, points (2-D), embedding,
 * predictions (dataset classes), confidence, and three kinds beyond the
 * DESIGN.md table:
 *   scores      f32 [N]  the chosen OOD score (higher = more OOD)
 *   score_name  u8 [L]   its name as UTF-8 bytes without a NUL, "ood_proto",
 *                        "ood_knn", "ood_mahalanobis", "ood_msp", "ood_energy"
 *   ood         u8 [N]   1 for rows of a held-out class, else 0
 * The rows are ps_snapshot_rows; logits/z of those rows come from the
 * caller's `infer` output in `rows_in` (with C = n_id columns). */
void     ps_embed_net_snapshot (PsEmbedNet *b, GPtrArray *out, const guint *rows, guint n,
                                const PsOodInputs *rows_in, const PsOodInputs *bank,
                                const int *bank_y, const float *protos, int K,
                                PsSimilarity kind);

/* 2-D data: a G x G grid over the data's box (10% margin): ext[4]
 * receives the extent, grid the inputs' z/feat (logits allocated with C
 * columns for the caller to fill). */
void     ps_embed_net_grid (PsEmbedNet *b, int G, float ext[4], PsOodInputs *grid, int C);
/* Adds decision_field [G, G, C] (softmax of the grid's logits),
 * field_extent [4] and score_field [G, G] (the chosen OOD score over the
 * plane, the same name as `scores`). */
void     ps_embed_net_add_fields (PsEmbedNet *b, GPtrArray *out, int G, const float ext[4],
                                  const PsOodInputs *grid, const PsOodInputs *bank,
                                  const int *bank_y, const float *protos, int K,
                                  PsSimilarity kind);

void     ps_embed_net_save (PsEmbedNet *b, PsBlobWriter *w);
gboolean ps_embed_net_load (PsEmbedNet *b, PsBlobReader *r, GError **error);

G_END_DECLS
