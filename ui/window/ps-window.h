/* ps-window.h: the Protoscope main window.
 *
 * Header bar (new run, open store, pause, view switcher, export, menu), the
 * runs sidebar, and a stack of views of the selected run (Overview,
 * Embedding).  The window owns one run store connection for reading and one
 * PsRunner for the jobs it starts; job events arrive on the main context.
 * Errors (a bad file, a failed run, a locked store) are shown in an info
 * bar naming the file and the reason.
 */
#pragma once

#include <gtk/gtk.h>

#include "ps-dataset.h"
#include "ps-method.h"
#include "ps-params.h"
#include "ps-run-list.h"
#include "ps-compare-view.h"
#include "ps-embedding-view.h"
#include "ps-overview-view.h"
#include "ps-ood-view.h"
#include "ps-diffusion-view.h"
#include "ps-gallery-view.h"
#include "ps-cluster-view.h"
#include "ps-robust-view.h"
#include "ps-new-run-dialog.h"

G_BEGIN_DECLS

#define PS_TYPE_WINDOW (ps_window_get_type ())
G_DECLARE_FINAL_TYPE (PsWindow, ps_window, PS, WINDOW, GtkApplicationWindow)

/* `app` and `settings` may be NULL (tests build windows without either). */
PsWindow   *ps_window_new             (GtkApplication *app, GSettings *settings);

/* Opens (or creates) the run store at `path` and lists its runs.  Returns
 * FALSE and shows the reason in the window when it cannot be opened. */
gboolean    ps_window_open_store      (PsWindow *self, const char *path);
const char *ps_window_get_store_path  (PsWindow *self);
/* A run store, or a .npy/.csv dataset: checked at once and offered in the
 * new-run dialog; a file that cannot be read shows its error in the window. */
void        ps_window_open_file       (PsWindow *self, GFile *file);

/* Starts the live demo (an MLP on 2-D moons) and shows its embedding. */
void        ps_window_start_demo      (PsWindow *self);
/* Starts the demo when the store has no run yet (a first start). */
void        ps_window_maybe_start_first_demo (PsWindow *self);

/* Submits a run request (one job per seed); the runs appear in the list,
 * the first is selected.  Returns the first run id, or 0 with an error. */
gint64      ps_window_submit          (PsWindow *self, const PsRunRequest *request, GError **error);

/* Shows an error in the window's info bar (title and detail). */
void        ps_window_show_error      (PsWindow *self, const char *title, const char *detail);
/* The text of the visible error ("title\ndetail"), or NULL; g_free. */
char       *ps_window_get_error_text  (PsWindow *self);

/* Opens the new-run dialog (a borrowed pointer, valid while it is open). */
PsNewRunDialog *ps_window_show_new_run_dialog (PsWindow *self);

/* Writes the figure of the visible view (.png, .svg, .pdf). */
gboolean    ps_window_export_figure   (PsWindow *self, const char *path, GError **error);

/* Accessors, mainly for tests (borrowed). */
PsRunList       *ps_window_get_run_list       (PsWindow *self);
PsEmbeddingView *ps_window_get_embedding_view (PsWindow *self);
PsOverviewView  *ps_window_get_overview_view  (PsWindow *self);
PsOodView       *ps_window_get_ood_view       (PsWindow *self);
PsDiffusionView *ps_window_get_diffusion_view (PsWindow *self);
PsGalleryView   *ps_window_get_gallery_view   (PsWindow *self);
PsClusterView   *ps_window_get_cluster_view   (PsWindow *self);
PsRobustView    *ps_window_get_robust_view    (PsWindow *self);
/* TRUE when the view `name` is listed (its page is visible in the switcher). */
gboolean         ps_window_has_view           (PsWindow *self, const char *name);
PsCompareView   *ps_window_get_compare_view   (PsWindow *self);
/* "overview", "embedding" or "compare" (with two or more runs selected). */
void             ps_window_set_view           (PsWindow *self, const char *name);
/* The run shown in the views, or 0. */
gint64           ps_window_get_current_run    (PsWindow *self);

G_END_DECLS
