/* ps-robust-view.h: certified robustness (cbc): the points coloured by their
 * certified radius (colour bar) with the misclassified ones crossed out,
 * and the certified accuracy against the radius, from the clean accuracy
 * at r = 0.
 *
 * The window lists this view (stack page "robustness") only when
 * ps_robust_view_set_snapshot() returns TRUE for the current run's
 * snapshot: it needs `labels`, `predictions` and `certified_radius` (or
 * `scores` named certified_radius, from older runs); with a store it also
 * marks the run's reported acc_r* metrics on the curve.
 */
#pragma once

#include <gtk/gtk.h>

#include "ps-store.h"

G_BEGIN_DECLS

#define PS_TYPE_ROBUST_VIEW (ps_robust_view_get_type ())
G_DECLARE_FINAL_TYPE (PsRobustView, ps_robust_view, PS, ROBUST_VIEW, GtkWidget)

GtkWidget *ps_robust_view_new          (void);
/* TRUE when a snapshot (PsArray items) has what this view draws. */
gboolean   ps_robust_view_supports     (GPtrArray *arrays);
/* Shows a snapshot (PsArray items, borrowed) of run `run` of `store`
 * (borrowed; may be NULL).  A newer snapshot of the same run keeps the pan
 * and zoom.  Returns FALSE (and clears the view) when the arrays lack what
 * the view needs. */
gboolean   ps_robust_view_set_snapshot (PsRobustView *self, PsStore *store, gint64 run,
                                        GPtrArray *arrays);
/* Writes what the view shows to `path` (.png at `scale`, .svg, .pdf): the
 * coloured points beside the certified accuracy curve. */
gboolean   ps_robust_view_export       (PsRobustView *self, const char *path, double scale,
                                        GError **error);

/* For tests: the certified accuracy curve ([n] values, borrowed; the radii
 * through `radius`), NULL when empty. */
const double *ps_robust_view_get_curve (PsRobustView *self, const double **radius, gsize *n);
gsize      ps_robust_view_get_n_misclassified (PsRobustView *self);

G_END_DECLS
