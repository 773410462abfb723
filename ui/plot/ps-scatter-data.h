/* ps-scatter-data.h: what an embedding scatter draws, read from a snapshot
 * (no GTK).  The window's scatter view and `protoscope-cli plot` share it.
 *
 * `points` (2-D data) are drawn directly; an `embedding` of width 2 is
 * drawn as is (precomputed coordinates are never re-projected); wider
 * embeddings are projected by PCA (core/eval) and may later be given a
 * t-SNE layout with ps_scatter_data_set_layout. */
#pragma once

#include <glib.h>

#include "ps-array.h"
#include "ps-plot.h"

G_BEGIN_DECLS

/* The array of `kind` in a snapshot (borrowed), or NULL. */
PsArray *ps_snapshot_find     (GPtrArray *arrays, const char *kind);
/* Copies of a 1-D array of n values converted to i32 / f32 (g_free), or
 * NULL when absent or of another length. */
gint32  *ps_snapshot_copy_i32 (PsArray *a, gsize n);
float   *ps_snapshot_copy_f32 (PsArray *a, gsize n);

typedef enum
{
  PS_COLOR_BY_CLASS,
  PS_COLOR_BY_PREDICTION,
  PS_COLOR_BY_CORRECTNESS,
  PS_COLOR_BY_SCORE,       /* `scores`, else `confidence` */
} PsColorBy;

typedef enum
{
  PS_PROJECTION_NONE,      /* the coordinates are the data's own (2-D) */
  PS_PROJECTION_PCA,
  PS_PROJECTION_TSNE,
} PsProjection;

typedef struct
{
  gsize n;
  float *x, *y;                 /* [n] drawn coordinates */
  gint32 *labels;               /* [n] or NULL */
  gint32 *predictions;          /* [n] or NULL */
  gint64 *sample_index;         /* [n] or NULL: dataset row of each point */
  float *scores;                /* [n] or NULL: `scores`, else `confidence` */
  char *score_name;
  PsProjection projection;
  /* The high-dimensional source when projected (for t-SNE), else NULL. */
  float *source;                /* [n, d] */
  gsize d;
  gsize n_protos;
  float *proto_x, *proto_y;     /* [n_protos] */
  gint32 *proto_labels;         /* [n_protos] or NULL */
  float *proto_source;          /* [n_protos, d'] the prototypes in the drawn source space
                                 * (d' = d when projected, else the plane's 2) */
  float *assign;                /* [n, n_protos] or NULL: the snapshot's `assignments`,
                                 * each point's soft assignment to the prototypes */
  float *field;                 /* [G, G, C] or NULL */
  guint field_g, field_c;
  float extent[4];
} PsScatterData;

/* Reads a snapshot.  `prefer_embedding` draws the embedding even when 2-D
 * points exist.  NULL with PS_ERROR_NOT_FOUND when there is nothing to
 * draw, PS_ERROR_FORMAT for malformed arrays or a failed projection. */
PsScatterData *ps_scatter_data_new_from_snapshot (GPtrArray *arrays, gboolean prefer_embedding,
                                                  GError **error);
void           ps_scatter_data_free (PsScatterData *data);

/* Replaces the drawn coordinates by a 2-D layout xy [n, 2] computed from
 * `source` (t-SNE).  Prototypes have no place in such a layout (t-SNE
 * maps no new points), so they are dropped. */
void ps_scatter_data_set_layout (PsScatterData *data, const float *xy, PsProjection projection);

/* The soft assignment of point `i` to each prototype, in out [n_protos].
 * From the snapshot's `assignments` when it has them (*approximate FALSE);
 * otherwise approximated here (*approximate TRUE): a softmax over the
 * prototypes of cosine similarity / 0.1 in an embedding wider than 2-D (the
 * temperature of the cosine prototype heads), or of minus the squared
 * distance over its mean in the plane.  FALSE when there are no prototypes. */
gboolean ps_scatter_data_prototype_weights (const PsScatterData *data, gsize i, float *out,
                                            gboolean *approximate);

typedef struct
{
  PsColorBy color_by;
  PsThemeKind theme;
  const char *title;                 /* or NULL */
  const char *const *class_names;    /* or NULL */
  const guint8 *selected;            /* [n] or NULL: unselected points dimmed when any is set */
  gboolean have_range;
  double x0, x1, y0, y1;             /* visible range when have_range */
  gboolean skip_points;              /* no scatter layer (legend kept): overlays */
} PsScatterFigureOptions;

/* The scatter as a figure: regions behind 2-D data, points coloured as
 * asked with a legend or colour bar, prototypes as stars. */
PsFigure *ps_scatter_data_figure (const PsScatterData *data, const PsScatterFigureOptions *options);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PsScatterData, ps_scatter_data_free)

G_END_DECLS
