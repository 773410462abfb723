/* ps-run-list.h: the runs sidebar.
 *
 * A GtkColumnView over a GListStore of PsRunItem (name, status with live
 * progress, key metric, method, dataset, created), a filter entry that
 * matches name, method, dataset and tags, multi-select and a context menu
 * (the menu model comes from the window; its actions act on the selection).
 * Delete and Space on the list activate win.delete-runs and win.pause-resume.
 */
#pragma once

#include <gtk/gtk.h>

#include "ps-run-item.h"

G_BEGIN_DECLS

#define PS_TYPE_RUN_LIST (ps_run_list_get_type ())
G_DECLARE_FINAL_TYPE (PsRunList, ps_run_list, PS, RUN_LIST, GtkWidget)

GtkWidget  *ps_run_list_new            (void);
/* The unfiltered model of PsRunItem (borrowed). */
GListStore *ps_run_list_get_model      (PsRunList *self);
/* Selected items in display order: a new array of new references. */
GPtrArray  *ps_run_list_get_selected   (PsRunList *self);
/* Selects only the run `id` (if it is shown) and scrolls to it. */
void        ps_run_list_select_run     (PsRunList *self, gint64 id);
/* Selects exactly the shown runs among ids[0..n). */
void        ps_run_list_select_runs    (PsRunList *self, const gint64 *ids, guint n);
/* The item of run `id` (borrowed) and its position in the model, or NULL. */
PsRunItem  *ps_run_list_find           (PsRunList *self, gint64 id, guint *position);
void        ps_run_list_set_filter_text (PsRunList *self, const char *text);
void        ps_run_list_focus_filter   (PsRunList *self);
/* The list of runs itself (the window's initial focus). */
GtkWidget  *ps_run_list_get_runs_widget (PsRunList *self);
/* The number of rows the filter lets through. */
guint       ps_run_list_get_n_visible  (PsRunList *self);
void        ps_run_list_set_context_menu (PsRunList *self, GMenuModel *menu);
/* The id of the run shown at row `position` (in the sorted, filtered
 * order), or 0. */
gint64      ps_run_list_get_id_at      (PsRunList *self, guint position);
/* Sorts by a column as a click on its header would: "name", "status",
 * "metric", "method", "dataset" or "created". */
void        ps_run_list_sort_by        (PsRunList *self, const char *column, GtkSortType order);
/* The cell text shown in the status column of run `id` ("Running 40%"), for
 * tests; NULL when the run is not shown.  Free with g_free. */
char       *ps_run_list_get_status_text (PsRunList *self, gint64 id);

G_END_DECLS
