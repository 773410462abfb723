/* ps-window-private.h: the window's state, shared by ps-window.c (the
 * store, runs, views), ps-window-live.c (job events, live updates and the
 * snapshot pages) and ps-window-actions.c (its actions). */
#pragma once

#include "ps-window.h"
#include "ps-jobs.h"

G_BEGIN_DECLS

typedef enum
{
  ENTRY_RENAME,
  ENTRY_TAG,
} EntryMode;

struct _PsWindow
{
  GtkApplicationWindow parent_instance;

  /* Template. */
  GtkHeaderBar *header_bar;
  GtkWidget *pause_button;
  GtkWidget *view_switcher;
  GtkRevealer *toast_revealer;
  GtkLabel *toast_label;
  GtkInfoBar *error_bar;
  GtkLabel *error_title;
  GtkLabel *error_detail;
  GtkPaned *paned;
  PsRunList *run_list;
  GtkStack *main_stack;
  GtkStack *view_stack;
  PsOverviewView *overview;
  PsEmbeddingView *embedding;
  PsCompareView *compare;
  GtkStackPage *compare_page;
  PsOodView *ood;
  GtkStackPage *ood_page;
  PsDiffusionView *diffusion;
  GtkStackPage *diffusion_page;
  PsGalleryView *gallery;
  GtkStackPage *gallery_page;
  PsClusterView *cluster;
  GtkStackPage *cluster_page;
  PsRobustView *robust;
  GtkStackPage *robust_page;
  GtkPopover *entry_popover;
  GtkLabel *entry_popover_label;
  GtkEntry *entry_popover_entry;
  GMenuModel *run_menu;

  /* Owned. */
  GSettings *settings;
  PsStore *store;
  char *store_path;
  PsRunner *runner;
  GHashTable *jobs;              /* run id (gint64*) -> PsJob* of jobs this window started */
  GPtrArray *pending_delete;     /* PsRunItem removed from the list, deleted on expiry */
  guint delete_timeout;
  guint refresh_timeout;
  gboolean overview_stale;       /* the current run's curves have new points */
  EntryMode entry_mode;
  gint64 current_run;
  PsNewRunDialog *dialog;        /* weak */

  /* The snapshot pages (OOD, diffusion, prototypes, clusters, robustness)
   * follow the current run's live snapshots, at most every
   * PS_LIVE_TICK_MS; pages out of sight are brought up to date when they
   * are shown. */
  GPtrArray *views_arrays;       /* the snapshot the pages were last given */
  char *views_signature;         /* its array names, joined */
  guint views_stale;             /* mask of pages not given views_arrays yet */
  GPtrArray *live_arrays;        /* the newest live snapshot, not yet shown */
  guint live_view_updates;       /* how many page updates live snapshots made */

  /* Progress and key metrics of training runs, the embedding's and the
   * pages' live snapshots are shown at most every PS_LIVE_TICK_MS, all at
   * once: each change repaints the window. */
  GHashTable *live_pending;      /* run id (gint64*) -> LivePending* */
  guint live_tick_id;
  gint64 live_tick_last;
};

PsJob   *ps_window_job_for_run           (PsWindow *self, gint64 run);
gboolean ps_window_is_pending_delete     (PsWindow *self, gint64 id);
gboolean ps_window_status_is_live        (PsRunStatus status);
void     ps_window_refresh_runs          (PsWindow *self);
void     ps_window_update_actions        (PsWindow *self);
void     ps_window_commit_pending_delete (PsWindow *self);
void     ps_window_view_changed_cb       (PsWindow *self);
void     ps_window_class_install_actions (GtkWidgetClass *widget_class);
void     ps_window_load_key_metric       (PsWindow *self, PsRunItem *item);

/* ps-window-live.c */
/* How many times a live snapshot updated a snapshot page (for tests). */
guint    ps_window_get_live_view_updates (PsWindow *self);
void     ps_window_on_job_event          (const PsEvent *event, gpointer user_data);
void     ps_window_update_snapshot_views (PsWindow *self);
void     ps_window_drop_live_views       (PsWindow *self);
void     ps_window_live_view_stack_changed_cb (PsWindow *self);

G_END_DECLS
