/* ps-robust-view.h: certified robustness: radius as colour and accuracy against radius.
 *
 * Scaffolding: the window lists this view (stack page "robustness") only when
 * ps_robust_view_set_snapshot() returns TRUE for the current run's snapshot.
 */
#pragma once

#include <gtk/gtk.h>

#include "ps-store.h"

G_BEGIN_DECLS

#define PS_TYPE_ROBUST_VIEW (ps_robust_view_get_type ())
G_DECLARE_FINAL_TYPE (PsRobustView, ps_robust_view, PS, ROBUST_VIEW, GtkWidget)

GtkWidget *ps_robust_view_new          (void);
/* Shows a snapshot (PsArray items, borrowed) of run `run` of `store`
 * (borrowed; may be NULL).  Returns FALSE (and clears the view) when the
 * arrays lack what the view needs. */
gboolean   ps_robust_view_set_snapshot (PsRobustView *self, PsStore *store, gint64 run,
                                     GPtrArray *arrays);
/* Writes what the view shows to `path` (.png at `scale`, .svg, .pdf). */
gboolean   ps_robust_view_export       (PsRobustView *self, const char *path, double scale,
                                     GError **error);

G_END_DECLS
