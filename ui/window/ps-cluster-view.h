/* ps-cluster-view.h: category discovery: clusters with covariance ellipses, estimated K and split/merge events.
 *
 * Scaffolding: the window lists this view (stack page "clusters") only when
 * ps_cluster_view_set_snapshot() returns TRUE for the current run's snapshot.
 */
#pragma once

#include <gtk/gtk.h>

#include "ps-store.h"

G_BEGIN_DECLS

#define PS_TYPE_CLUSTER_VIEW (ps_cluster_view_get_type ())
G_DECLARE_FINAL_TYPE (PsClusterView, ps_cluster_view, PS, CLUSTER_VIEW, GtkWidget)

GtkWidget *ps_cluster_view_new          (void);
/* Shows a snapshot (PsArray items, borrowed) of run `run` of `store`
 * (borrowed; may be NULL).  Returns FALSE (and clears the view) when the
 * arrays lack what the view needs. */
gboolean   ps_cluster_view_set_snapshot (PsClusterView *self, PsStore *store, gint64 run,
                                     GPtrArray *arrays);
/* Writes what the view shows to `path` (.png at `scale`, .svg, .pdf). */
gboolean   ps_cluster_view_export       (PsClusterView *self, const char *path, double scale,
                                     GError **error);

G_END_DECLS
