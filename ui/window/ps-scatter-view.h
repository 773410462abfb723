/* ps-scatter-view.h: the embedding scatter widget (CSS name "scatterview").
 *
 * Shows a snapshot: `points` (2-D data) directly, else `embedding`
 * projected to 2-D by PCA; `decision_field` behind 2-D data; prototypes as
 * stars; colour by class, prediction, correctness or score with a legend
 * or colour bar.  All points are drawn into one pixel buffer by ui/plot's
 * rasteriser and shown as a single cached GdkMemoryTexture, rebuilt only
 * when the data, the view or the selection change; hover, the box being
 * dragged and the selection ring are overlays drawn in snapshot().
 *
 * Pan: drag.  Zoom: scroll, pinch, + / - / 0 keys.  Click selects the
 * nearest point (PsPointGrid); Shift-drag selects a box, Ctrl-drag a lasso;
 * Escape clears.
 *
 * Signals: "selection-changed"; "view-changed" when the person pans or
 * zooms.
 */
#pragma once

#include <gtk/gtk.h>

#include "ps-plot.h"
#include "ps-scatter-data.h"

G_BEGIN_DECLS

#define PS_TYPE_SCATTER_VIEW (ps_scatter_view_get_type ())
G_DECLARE_FINAL_TYPE (PsScatterView, ps_scatter_view, PS, SCATTER_VIEW, GtkWidget)

GtkWidget *ps_scatter_view_new          (void);
/* Shows the arrays of one snapshot (PsArray, referenced).  `keep_view`
 * keeps the pan/zoom (a newer snapshot of the same run) and the selection;
 * otherwise the view fits the data and the selection is cleared.
 * Returns FALSE with an error when the arrays have nothing to draw. */
gboolean   ps_scatter_view_set_snapshot (PsScatterView *self, GPtrArray *arrays,
                                         gboolean keep_view, GError **error);
void       ps_scatter_view_clear        (PsScatterView *self);
/* Draw the embedding (projected) even when the snapshot has 2-D points;
 * applies from the next set_snapshot. */
void       ps_scatter_view_set_prefer_embedding (PsScatterView *self, gboolean prefer);
void       ps_scatter_view_set_class_names (PsScatterView *self, const char * const *names);
void       ps_scatter_view_set_color_by (PsScatterView *self, PsColorBy mode);
PsColorBy  ps_scatter_view_get_color_by (PsScatterView *self);
gsize      ps_scatter_view_get_n_points (PsScatterView *self);
/* The 2-D coordinates drawn (borrowed, [n] each), NULL when empty. */
const float *ps_scatter_view_get_x      (PsScatterView *self);
const float *ps_scatter_view_get_y      (PsScatterView *self);
/* Replaces the drawn coordinates by a layout xy [n, 2] of the same points
 * (t-SNE of the source); `fit` refits the visible range.  Ignored when n
 * differs from the points shown. */
void       ps_scatter_view_set_layout   (PsScatterView *self, const float *xy, gsize n,
                                         PsProjection projection, gboolean fit);
PsProjection ps_scatter_view_get_projection (PsScatterView *self);
/* The high-dimensional rows behind a projection ([n, d], borrowed), or
 * NULL when the coordinates are the data's own. */
const float *ps_scatter_view_get_source (PsScatterView *self, gsize *d);
/* The dataset row of each point ([n], borrowed) or NULL. */
const gint64 *ps_scatter_view_get_sample_index (PsScatterView *self);
/* TRUE when the coordinates are a projection (PCA or t-SNE) of the embedding. */
gboolean   ps_scatter_view_is_projected (PsScatterView *self);

/* Selection: point indices (into the snapshot's rows), ascending. */
void       ps_scatter_view_select       (PsScatterView *self, const guint32 *indices, gsize n);
const guint32 *ps_scatter_view_get_selection (PsScatterView *self, gsize *n);
/* Selects the point nearest to the widget pixel (x, y); -1 if none. */
gssize     ps_scatter_view_select_at    (PsScatterView *self, double x, double y);
/* With one point selected, lines join it to the prototypes, each as
 * opaque as the point's soft assignment to that prototype.  Returns how
 * many lines are drawn (weights below 1% are not) and fills weights
 * [n_protos] (or NULL) and *approximate (TRUE when the snapshot had no
 * `assignments` and the weights are the view's approximation, see
 * ps_scatter_data_prototype_weights). */
gsize      ps_scatter_view_get_prototype_lines (PsScatterView *self, float *weights,
                                                gboolean *approximate);
/* The widget pixel of prototype k, FALSE when not drawn. */
gboolean   ps_scatter_view_prototype_to_widget (PsScatterView *self, gsize k, double *x, double *y);
/* The widget pixel of point i (for tests and overlays). */
gboolean   ps_scatter_view_point_to_widget (PsScatterView *self, gsize i, double *x, double *y);

void       ps_scatter_view_zoom_fit     (PsScatterView *self);
/* Zooms by `factor` (> 1 in) about the widget centre. */
void       ps_scatter_view_zoom         (PsScatterView *self, double factor);
/* Pans by a displacement in widget pixels (as a drag would). */
void       ps_scatter_view_pan          (PsScatterView *self, double dx, double dy);

/* The figure as shown (visible range, colours, regions, prototypes,
 * legend), for export.  NULL when empty.  Free with ps_figure_free. */
PsFigure  *ps_scatter_view_build_figure (PsScatterView *self, const char *title);
/* How many times the points texture was rebuilt (tests check that hover
 * does not rebuild it). */
guint      ps_scatter_view_get_texture_builds (PsScatterView *self);

G_END_DECLS
