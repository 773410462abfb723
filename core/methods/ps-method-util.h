/* ps-method-util.h: machinery every method shares: evaluation sets,
 * snapshot rows, nearest-sample evidence and checkpoint blobs. */
#pragma once

#include "ps-method.h"
#include "../nn/ps-optim.h"

G_BEGIN_DECLS

/* The labelled rows of one split, gathered contiguously. */
typedef struct
{
  PsSplit split;
  guint n;
  guint *rows;   /* [n] dataset rows */
  float *x;      /* [n, d] */
  int *y;        /* [n] */
} PsEvalSet;

void   ps_eval_set_init  (PsEvalSet *set, PsDataset *ds, PsSplit split);
void   ps_eval_set_clear (PsEvalSet *set);

/* Rows of `split` (labelled ones only when asked); free with g_free. */
guint *ps_split_indices (PsDataset *ds, PsSplit split, gboolean labelled_only, guint *n);
/* Rows[n, d] copied from the dataset; free with g_free. */
float *ps_gather_rows   (PsDataset *ds, const guint *rows, guint n);

/* Which rows a snapshot shows: every row of a dataset of at most 20000,
 * else the test split (all of it: the views draw every point).  Free with
 * g_free. */
guint *ps_snapshot_rows (PsDataset *ds, guint *n);
/* Adds sample_index, labels, split and (for 2-D data) points. */
void   ps_snapshot_add_common (GPtrArray *out, PsDataset *ds, const guint *rows, guint n,
                               const float *x);

/* xmin, xmax, ymin, ymax of 2-D points, widened by `margin` of the span. */
void   ps_extent_2d (const float *x, guint n, float margin, float ext[4]);

/* Appends the k nearest rows of emb[n, e] to q (cosine similarity mapped
 * to [0, 1]) as evidence; rows[] maps to dataset rows, y[] their labels. */
void   ps_nearest_evidence (PsExplanation *ex, const float *q, const float *emb, guint n, int e,
                            const guint *rows, const gint32 *y, guint k);

/* The `new_classes` parameter of category discovery: is_old[C] is 0 for
 * the listed classes ("3,4" or "3 4") and 1 for the others; empty: the
 * upper half of the classes are new; "all" (only with allow_all): every
 * class is new.  A name that is not a class of `data` is an error. */
gboolean ps_parse_new_classes (const char *spec, PsDataset *data, guint C, gboolean allow_all,
                               guint8 *is_old, GError **error);

/* "3" or the dataset's class name; static or owned by the dataset. */
const char *ps_class_name (PsDataset *ds, int c);

/* ---- Checkpoint blobs ------------------------------------------------ */

/* A little-endian byte stream: magic (u32), version (u32 = 1), fields. */
typedef struct
{
  GByteArray *buf;
} PsBlobWriter;

void    ps_blob_writer_init  (PsBlobWriter *w, guint32 magic);
void    ps_blob_put          (PsBlobWriter *w, gconstpointer data, gsize n);
void    ps_blob_put_u32      (PsBlobWriter *w, guint32 v);
void    ps_blob_put_u64      (PsBlobWriter *w, guint64 v);
void    ps_blob_put_f64      (PsBlobWriter *w, double v);
void    ps_blob_put_rng      (PsBlobWriter *w, const PsRng *rng);
/* A length-prefixed nested blob. */
void    ps_blob_put_bytes    (PsBlobWriter *w, GBytes *bytes);
GBytes *ps_blob_writer_finish (PsBlobWriter *w);

typedef struct
{
  const guint8 *data;
  gsize size, pos;
  const char *what;   /* for messages: "mlp checkpoint" */
} PsBlobReader;

gboolean ps_blob_reader_init (PsBlobReader *r, GBytes *blob, guint32 magic, const char *what,
                              GError **error);
gboolean ps_blob_get         (PsBlobReader *r, gpointer out, gsize n, GError **error);
gboolean ps_blob_get_u32     (PsBlobReader *r, guint32 *v, GError **error);
gboolean ps_blob_get_u64     (PsBlobReader *r, guint64 *v, GError **error);
gboolean ps_blob_get_f64     (PsBlobReader *r, double *v, GError **error);
gboolean ps_blob_get_rng     (PsBlobReader *r, PsRng *rng, GError **error);
GBytes  *ps_blob_get_bytes   (PsBlobReader *r, GError **error);

/* An optional Adam optimizer of `n` parameters: a presence flag, then its
 * step count and state.  Reading creates it (learning rate `lr`) when the
 * blob has one and *opt is NULL, and frees *opt when the blob has none. */
void     ps_blob_put_optim   (PsBlobWriter *w, PsOptim *opt);
gboolean ps_blob_get_optim   (PsBlobReader *r, PsOptim **opt, gsize n, float lr, GError **error);

G_END_DECLS
