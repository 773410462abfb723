/* ps-compare-view.h: two or more runs side by side.
 *
 * One figure per metric the runs share, with a curve per run; runs that
 * differ only by their seed are drawn as one mean +- std band.  Below, a
 * row of the runs' embeddings with linked selection, and a table of the
 * parameters that differ and of the final metrics.
 */
#pragma once

#include <gtk/gtk.h>

#include "ps-plot.h"
#include "ps-scatter-view.h"
#include "ps-store.h"

G_BEGIN_DECLS

#define PS_TYPE_COMPARE_VIEW (ps_compare_view_get_type ())
G_DECLARE_FINAL_TYPE (PsCompareView, ps_compare_view, PS, COMPARE_VIEW, GtkWidget)

GtkWidget *ps_compare_view_new      (void);
/* Compares runs ids[0..n) of `store` (borrowed); n < 2 clears the view. */
void       ps_compare_view_set_runs (PsCompareView *self, PsStore *store,
                                     const gint64 *ids, guint n);
/* The number of groups drawn (runs differing only by seed count once). */
guint      ps_compare_view_get_n_groups (PsCompareView *self);
/* The figure of the first shared metric (the key metric when shared), or NULL. */
PsFigure  *ps_compare_view_build_figure (PsCompareView *self);
/* The embeddings side by side: one scatter per run with a snapshot (at
 * most four), their selections linked by sample (`sample_index`, else
 * the row): selecting in one selects the same samples in the others. */
guint          ps_compare_view_get_n_embeddings (PsCompareView *self);
PsScatterView *ps_compare_view_get_embedding    (PsCompareView *self, guint index);

G_END_DECLS
