/* ps-overview-view.h: the Overview of one run.
 *
 * Metric curves (one small figure per series, drawn by ui/plot with a
 * smoothing slider and the raw curve kept faint), the final metrics, the
 * parameters, and the run's status with the reason of a failure.
 */
#pragma once

#include <gtk/gtk.h>

#include "ps-plot.h"
#include "ps-store.h"

G_BEGIN_DECLS

#define PS_TYPE_OVERVIEW_VIEW (ps_overview_view_get_type ())
G_DECLARE_FINAL_TYPE (PsOverviewView, ps_overview_view, PS, OVERVIEW_VIEW, GtkWidget)

GtkWidget *ps_overview_view_new     (void);
/* Shows run `run_id` of `store` (borrowed; must outlive the view's use of
 * it or be replaced by set_run (NULL, 0)). */
void       ps_overview_view_set_run (PsOverviewView *self, PsStore *store, gint64 run_id);
gint64     ps_overview_view_get_run (PsOverviewView *self);
/* Reads the run again (new metrics, a new status). */
void       ps_overview_view_reload  (PsOverviewView *self);
/* The curves of every series as one figure (for export), or NULL. */
PsFigure  *ps_overview_view_build_figure (PsOverviewView *self);
/* The status text shown ("Failed: ..."), for tests. */
const char *ps_overview_view_get_status_text (PsOverviewView *self);

G_END_DECLS
