/* ps-ood-view.h: the OOD view of one run.
 *
 * For snapshots with `scores`, `score_name` and `ood` (1 = held-out class):
 * the embedding coloured by score, ID and OOD histograms of the score with
 * a threshold dragged on the histogram (TPR, FPR and the confusion counts
 * follow it), the ROC curve with the threshold's operating point, and the
 * run's final AUROC / FPR95.  With `prototypes` + `prototype_labels` a
 * prototype health panel: the pairwise cosine-similarity heatmap,
 * duplicates (cos > 0.99) and, with `assignments`, unused components
 * (< 1% of the assignment mass).
 *
 * Scores are "higher = more OOD"; in-distribution is the positive class,
 * so TPR is the share of ID rows below the threshold and FPR the share of
 * OOD rows below it (as FPR95 counts them).  Rows of the test split are
 * used when the snapshot marks splits, else all rows.
 */
#pragma once

#include <gtk/gtk.h>

#include "ps-plot.h"
#include "ps-store.h"

G_BEGIN_DECLS

#define PS_TYPE_OOD_VIEW (ps_ood_view_get_type ())
G_DECLARE_FINAL_TYPE (PsOodView, ps_ood_view, PS, OOD_VIEW, GtkWidget)

GtkWidget *ps_ood_view_new            (void);
/* TRUE when a snapshot has what the view needs. */
gboolean   ps_ood_view_supports       (GPtrArray *arrays);
/* Shows a snapshot (PsArray) of run `run` of `store` (borrowed, read for
 * the final metrics; may be NULL).  Returns FALSE (and clears the view)
 * when the arrays lack what the view needs. */
gboolean   ps_ood_view_set_snapshot   (PsOodView *self, PsStore *store, gint64 run,
                                       GPtrArray *arrays);
void       ps_ood_view_clear          (PsOodView *self);
void       ps_ood_view_set_threshold  (PsOodView *self, double threshold);
double     ps_ood_view_get_threshold  (PsOodView *self);
/* The texts shown, for tests. */
const char *ps_ood_view_get_tpr_text  (PsOodView *self);
const char *ps_ood_view_get_health_text (PsOodView *self);
/* The histogram drawing area (the threshold is dragged there). */
GtkWidget *ps_ood_view_get_histogram  (PsOodView *self);
/* The histograms with the threshold as a figure (export), or NULL. */
PsFigure  *ps_ood_view_build_figure   (PsOodView *self);

G_END_DECLS
