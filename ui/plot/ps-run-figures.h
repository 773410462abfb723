/* ps-run-figures.h: figures built from stored runs (no GTK).
 *
 * The window's overview, compare and embedding views and
 * `protoscope-cli plot` build their figures here, so an exported figure
 * and the one on screen are the same drawing. */
#pragma once

#include <glib.h>

#include "ps-plot.h"
#include "ps-scatter-data.h"
#include "ps-store.h"

G_BEGIN_DECLS

/* ---- Metric series of several runs, grouped by seed ------------------- */

/* The metric series of a set of runs, with the runs whose record differs
 * only by the seed gathered in groups (drawn as mean +- std). */
typedef struct _PsRunSeries PsRunSeries;

/* Loads runs ids[n].  Unknown ids are an error (PS_ERROR_NOT_FOUND).
 * `shared_only` keeps only the metrics every run has (compare); otherwise
 * every metric of any run is kept. */
PsRunSeries *ps_run_series_load (PsStore *store, const gint64 *ids, guint n,
                                 gboolean shared_only, GError **error);
void         ps_run_series_free (PsRunSeries *series);

guint        ps_run_series_get_n_runs    (PsRunSeries *series);
PsRunInfo   *ps_run_series_get_run       (PsRunSeries *series, guint index);  /* borrowed */
guint        ps_run_series_get_n_groups  (PsRunSeries *series);
const char  *ps_run_series_get_group_label (PsRunSeries *series, guint group);
guint        ps_run_series_get_n_metrics (PsRunSeries *series);
const char  *ps_run_series_get_metric    (PsRunSeries *series, guint metric);
/* Index of a metric by name, or -1. */
int          ps_run_series_find_metric   (PsRunSeries *series, const char *name);

/* One metric: a curve per group (mean +- std band for a group of seeds).
 * Smoothing in [0, 1) applies to single curves longer than 20 points. */
PsFigure *ps_run_series_metric_figure (PsRunSeries *series, guint metric, double smoothing,
                                       PsThemeKind theme, const char *title);
/* Every metric of the first run overlaid, one curve each, with a legend. */
PsFigure *ps_run_series_all_figure    (PsRunSeries *series, double smoothing, PsThemeKind theme,
                                       const char *title);

/* ---- Convenience: one call from a store to a figure -------------------- */

/* Training curves of one run: `metric` alone, or every metric when NULL. */
PsFigure *ps_run_figure_curves (PsStore *store, gint64 run, const char *metric,
                                double smoothing, PsThemeKind theme, GError **error);
/* Two or more runs: one metric (NULL: the first shared one) overlaid, seeds
 * as mean +- std bands. */
PsFigure *ps_run_figure_compare (PsStore *store, const gint64 *runs, guint n, const char *metric,
                                 PsThemeKind theme, GError **error);
/* The embedding scatter of a run's snapshot at `step` (< 0: the last one). */
PsFigure *ps_run_figure_embedding (PsStore *store, gint64 run, gint64 step, PsColorBy color_by,
                                   PsThemeKind theme, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PsRunSeries, ps_run_series_free)

G_END_DECLS
