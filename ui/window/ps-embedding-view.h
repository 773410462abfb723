/* ps-embedding-view.h: the Embedding view of one run.
 *
 * A toolbar (colour by, fit), the scatter of the run's snapshot
 * (PsScatterView), a timeline scrubbing the stored snapshot steps, and an
 * explanation panel for the selected sample: true and predicted class,
 * confidence, and its nearest training samples (or prototypes) with
 * similarity bars.  While the run trains, live snapshots replace the shown
 * one as long as the timeline sits at its end.
 */
#pragma once

#include <gtk/gtk.h>

#include "ps-plot.h"
#include "ps-scatter-view.h"
#include "ps-store.h"

G_BEGIN_DECLS

#define PS_TYPE_EMBEDDING_VIEW (ps_embedding_view_get_type ())
G_DECLARE_FINAL_TYPE (PsEmbeddingView, ps_embedding_view, PS, EMBEDDING_VIEW, GtkWidget)

GtkWidget     *ps_embedding_view_new     (void);
/* Shows the last snapshot of run `run_id` (store borrowed). */
void           ps_embedding_view_set_run (PsEmbeddingView *self, PsStore *store, gint64 run_id);
gint64         ps_embedding_view_get_run (PsEmbeddingView *self);
/* A live snapshot from the runner (arrays borrowed; referenced). */
void           ps_embedding_view_add_snapshot (PsEmbeddingView *self, gint64 run_id,
                                               gint64 step, GPtrArray *arrays);
/* With external pacing, a live snapshot (after the first) waits for
 * ps_embedding_view_show_pending() instead of a timer of its own: the
 * window shows all its live updates in one frame. */
void           ps_embedding_view_set_external_pacing (PsEmbeddingView *self, gboolean external);
/* Shows the newest live snapshot held back, if any; TRUE if one was shown. */
gboolean       ps_embedding_view_show_pending (PsEmbeddingView *self);
PsScatterView *ps_embedding_view_get_scatter (PsEmbeddingView *self);
/* The step of the snapshot shown (-1 if none). */
gint64         ps_embedding_view_get_step (PsEmbeddingView *self);
/* The figure as shown (for export), or NULL without data. */
PsFigure      *ps_embedding_view_build_figure (PsEmbeddingView *self);
/* The selected points, or all when nothing is selected, as CSV. */
gboolean       ps_embedding_view_export_csv (PsEmbeddingView *self, const char *path,
                                             GError **error);
/* The explanation panel's headline ("Sample 12: true 1, predicted 1 (97%)"),
 * NULL when nothing is selected; and the number of neighbour rows shown. */
const char    *ps_embedding_view_get_explanation_title (PsEmbeddingView *self);
guint          ps_embedding_view_get_n_neighbours (PsEmbeddingView *self);
/* TRUE once the run's model has been reloaded from its checkpoint, so the
 * panel shows the method's own explanation. */
gboolean       ps_embedding_view_has_model (PsEmbeddingView *self);

/* Projection of a wide embedding: PCA (instant) or t-SNE (a worker
 * thread reporting its layout every 50 iterations; progress and a stop
 * button in the toolbar; the last layout stays visible).  Data whose
 * coordinates are already 2-D ignore it. */
void           ps_embedding_view_set_projection (PsEmbeddingView *self, PsProjection projection);
void           ps_embedding_view_cancel_tsne (PsEmbeddingView *self);
gboolean       ps_embedding_view_is_tsne_running (PsEmbeddingView *self);
/* The iteration of the last layout shown (0 before the first report). */
guint          ps_embedding_view_get_tsne_iteration (PsEmbeddingView *self);
/* Iterations of later t-SNE runs (0: core's default, 1000). */
void           ps_embedding_view_set_tsne_iterations (PsEmbeddingView *self, guint n_iter);

G_END_DECLS
