/* ps-cluster-view.h: category discovery (gpc, gcd): clusters on the
 * embedding with 1- and 2-sigma covariance ellipses, old and new classes
 * told apart, Hungarian accuracy on all, old and new classes, and the
 * estimated K over the iterations with the split and merge moves marked.
 *
 * The window lists this view (stack page "clusters") only when
 * ps_cluster_view_set_snapshot() returns TRUE for the current run's snapshot:
 * it needs `clusters`, `labels` and `old_classes`; it uses `assignments`
 * (responsibilities, for a mixture with `cluster_cov`), `cluster_known`,
 * `split`, `k_history` and `events` when present.
 */
#pragma once

#include <gtk/gtk.h>

#include "ps-store.h"

G_BEGIN_DECLS

#define PS_TYPE_CLUSTER_VIEW (ps_cluster_view_get_type ())
G_DECLARE_FINAL_TYPE (PsClusterView, ps_cluster_view, PS, CLUSTER_VIEW, GtkWidget)

GtkWidget *ps_cluster_view_new          (void);
/* TRUE when a snapshot (PsArray items) has what this view draws. */
gboolean   ps_cluster_view_supports     (GPtrArray *arrays);
/* Shows a snapshot (PsArray items, borrowed) of run `run` of `store`
 * (borrowed; may be NULL).  A newer snapshot of the same run keeps the pan
 * and zoom.  Returns FALSE (and clears the view) when the arrays lack what
 * the view needs. */
gboolean   ps_cluster_view_set_snapshot (PsClusterView *self, PsStore *store, gint64 run,
                                         GPtrArray *arrays);
/* Writes what the view shows to `path` (.png at `scale`, .svg, .pdf): the
 * clusters with their ellipses and, for gpc, the K timeline below. */
gboolean   ps_cluster_view_export       (PsClusterView *self, const char *path, double scale,
                                         GError **error);

/* For tests: clusters drawn with an ellipse pair (1 and 2 sigma). */
guint      ps_cluster_view_get_n_ellipses (PsClusterView *self);
/* K after each iteration ([n], borrowed), NULL when the method gave none. */
const gint32 *ps_cluster_view_get_k_history (PsClusterView *self, gsize *n);
/* Hungarian accuracy of the rows shown (the test split when marked);
 * FALSE when no row is labelled. */
gboolean   ps_cluster_view_get_accuracy (PsClusterView *self, double *all, double *old_acc,
                                         double *new_acc);

G_END_DECLS
