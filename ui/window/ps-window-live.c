/* ps-window-live.c: what the window shows while runs train: the job
 * events, the live tick that shows pending progress, key metrics and
 * snapshots together at most once a second, and the snapshot pages
 * (OOD, diffusion, prototypes, clusters, robustness). */
#define G_LOG_DOMAIN "ps-window"

#include <math.h>

#include "ps-jobs.h"
#include "ps-store.h"
#include "ps-window-private.h"

/* Live updates (progress, key metrics, the embedding's and the snapshot
 * pages' newest snapshot) are shown together at most this often: under a
 * software renderer each repaints the whole window. */
#define PS_LIVE_TICK_MS 1000

/* ---- Snapshot pages ----------------------------------------------------- */

/* The pages that need particular snapshot kinds; each is listed only
 * when the current run's snapshot has what it needs. */
enum
{
  SNAPSHOT_PAGE_OOD,
  SNAPSHOT_PAGE_DIFFUSION,
  SNAPSHOT_PAGE_GALLERY,
  SNAPSHOT_PAGE_CLUSTER,
  SNAPSHOT_PAGE_ROBUST,
  N_SNAPSHOT_PAGES
};

#define ALL_SNAPSHOT_PAGES ((1u << N_SNAPSHOT_PAGES) - 1)

static const char *const snapshot_page_names[N_SNAPSHOT_PAGES] = {
  "ood", "diffusion", "prototypes", "clusters", "robustness",
};

/* Gives page `page` the snapshot `arrays` (NULL: none) and lists it when it
 * can show it. */
static gboolean
set_page_snapshot (PsWindow *self, guint page, GPtrArray *arrays)
{
  gboolean ok = FALSE;
  GtkStackPage *stack_page = NULL;

  switch (page)
    {
    case SNAPSHOT_PAGE_OOD:
      ok = ps_ood_view_set_snapshot (self->ood, self->store, self->current_run, arrays);
      stack_page = self->ood_page;
      break;
    case SNAPSHOT_PAGE_DIFFUSION:
      ok = ps_diffusion_view_set_snapshot (self->diffusion, arrays);
      stack_page = self->diffusion_page;
      break;
    case SNAPSHOT_PAGE_GALLERY:
      ok = ps_gallery_view_set_snapshot (self->gallery, self->store, self->current_run, arrays);
      stack_page = self->gallery_page;
      break;
    case SNAPSHOT_PAGE_CLUSTER:
      ok = ps_cluster_view_set_snapshot (self->cluster, self->store, self->current_run, arrays);
      stack_page = self->cluster_page;
      break;
    case SNAPSHOT_PAGE_ROBUST:
      ok = ps_robust_view_set_snapshot (self->robust, self->store, self->current_run, arrays);
      stack_page = self->robust_page;
      break;
    default:
      g_assert_not_reached ();
    }
  gtk_stack_page_set_visible (stack_page, ok);
  return ok;
}

/* The snapshot page shown, or -1. */
static int
visible_snapshot_page (PsWindow *self)
{
  const char *name = gtk_stack_get_visible_child_name (self->view_stack);

  for (int i = 0; i < N_SNAPSHOT_PAGES; i++)
    if (g_strcmp0 (name, snapshot_page_names[i]) == 0)
      return i;
  return -1;
}

/* The names of a snapshot's arrays, joined: which pages can show a
 * snapshot depends only on these, so a live snapshot with the same names
 * as the last one lists the same pages. */
static char *
snapshot_signature (GPtrArray *arrays)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; arrays && i < arrays->len; i++)
    {
      const PsArray *a = g_ptr_array_index (arrays, i);
      g_string_append (s, a->kind);
      g_string_append_c (s, '\n');
    }
  return g_string_free (s, FALSE);
}

/* Gives the pages in `mask` the snapshot `arrays` (taken), and remembers
 * the others as stale; leaves a page that can no longer show anything. */
static void
apply_snapshot_views (PsWindow *self, GPtrArray *arrays, guint mask)
{
  int shown = visible_snapshot_page (self);
  gboolean shown_ok = TRUE;

  g_clear_pointer (&self->views_arrays, g_ptr_array_unref);
  g_free (self->views_signature);
  self->views_arrays = arrays;
  self->views_signature = snapshot_signature (arrays);
  self->views_stale = ALL_SNAPSHOT_PAGES & ~mask;
  for (guint i = 0; i < N_SNAPSHOT_PAGES; i++)
    if (mask & (1u << i))
      {
        gboolean ok = set_page_snapshot (self, i, arrays);
        if ((int) i == shown)
          shown_ok = ok;
      }
  if (!shown_ok)
    gtk_stack_set_visible_child_name (self->view_stack, "overview");
}

void
ps_window_drop_live_views (PsWindow *self)
{
  g_clear_pointer (&self->live_arrays, g_ptr_array_unref);
}

/* All pages from the current run's last stored snapshot (on a change of
 * run, and when a run ends). */
void
ps_window_update_snapshot_views (PsWindow *self)
{
  GPtrArray *arrays = NULL;

  ps_window_drop_live_views (self);
  if (self->current_run != 0 && self->store != NULL)
    arrays = ps_store_get_artifacts (self->store, self->current_run, -1, NULL);
  apply_snapshot_views (self, arrays, ALL_SNAPSHOT_PAGES);
}

/* The newest live snapshot of the current run, from the job's event (no
 * store read).  When its arrays have the names of the last one, the pages
 * listed stay the same: only the page in sight is updated now, the others
 * when they are shown. */
static void
show_live_views (PsWindow *self)
{
  GPtrArray *arrays = g_steal_pointer (&self->live_arrays);
  g_autofree char *signature = snapshot_signature (arrays);
  int shown = visible_snapshot_page (self);
  guint mask = ALL_SNAPSHOT_PAGES;

  if (g_strcmp0 (signature, self->views_signature) == 0)
    mask = shown >= 0 ? 1u << shown : 0;
  self->live_view_updates += mask != 0;
  apply_snapshot_views (self, arrays, mask);
}

static void kick_live_tick (PsWindow *self);

/* A live snapshot of the current run: shown with the next live tick. */
static void
queue_live_views (PsWindow *self, GPtrArray *arrays)
{
  g_clear_pointer (&self->live_arrays, g_ptr_array_unref);
  self->live_arrays = g_ptr_array_ref (arrays);
  kick_live_tick (self);
}

/* A page out of sight missed live snapshots: bring it up to date as it
 * is shown. */
static void reload_overview_if_shown (PsWindow *self);

void
ps_window_live_view_stack_changed_cb (PsWindow *self)
{
  int shown = visible_snapshot_page (self);

  reload_overview_if_shown (self);
  if (shown >= 0 && (self->views_stale & (1u << shown)))
    {
      self->views_stale &= ~(1u << shown);
      if (!set_page_snapshot (self, shown, self->views_arrays))
        gtk_stack_set_visible_child_name (self->view_stack, "overview");
    }
}

guint
ps_window_get_live_view_updates (PsWindow *self)
{
  g_return_val_if_fail (PS_IS_WINDOW (self), 0);
  return self->live_view_updates;
}

/* ---- Live progress ------------------------------------------------------ */

typedef struct
{
  double progress;              /* NAN: none pending */
  double metric;                /* NAN: none pending */
} LivePending;

static void
apply_pending (PsWindow *self, gint64 run, LivePending *p)
{
  PsRunItem *item = ps_run_list_find (self->run_list, run, NULL);

  if (item == NULL)
    return;
  if (!isnan (p->progress))
    ps_run_item_set_progress (item, p->progress);
  if (!isnan (p->metric))
    ps_run_item_set_key_metric (item, p->metric);
}

/* Reads the current run's curves again if they changed and the overview
 * is in sight. */
static void
reload_overview_if_shown (PsWindow *self)
{
  if (self->overview_stale
      && g_strcmp0 (gtk_stack_get_visible_child_name (self->view_stack), "overview") == 0)
    {
      self->overview_stale = FALSE;
      ps_overview_view_reload (self->overview);
    }
}

/* Shows every pending progress and metric (one repaint for all runs). */
static void
flush_live_pending (PsWindow *self)
{
  GHashTableIter iter;
  gpointer key, value;

  self->live_tick_last = g_get_monotonic_time ();
  g_hash_table_iter_init (&iter, self->live_pending);
  while (g_hash_table_iter_next (&iter, &key, &value))
    apply_pending (self, *(gint64 *) key, value);
  g_hash_table_remove_all (self->live_pending);
  gint64 t0 = g_get_monotonic_time ();
  ps_embedding_view_show_pending (self->embedding);
  gint64 t1 = g_get_monotonic_time ();
  if (self->live_arrays)
    show_live_views (self);
  gint64 t2 = g_get_monotonic_time ();
  reload_overview_if_shown (self);
  g_debug ("live tick: embedding %.1f ms, snapshot pages %.1f ms, overview %.1f ms",
           (t1 - t0) / 1e3, (t2 - t1) / 1e3, (g_get_monotonic_time () - t2) / 1e3);
}

/* Shows what is pending for one run now (it ended). */
static void
flush_live_run (PsWindow *self, gint64 run)
{
  LivePending *p = g_hash_table_lookup (self->live_pending, &run);

  if (p != NULL)
    {
      apply_pending (self, run, p);
      g_hash_table_remove (self->live_pending, &run);
    }
}

static gboolean
live_tick_cb (gpointer user_data)
{
  PsWindow *self = user_data;

  self->live_tick_id = 0;
  flush_live_pending (self);
  return G_SOURCE_REMOVE;
}

/* Queues a run's new progress or key metric (NAN: unchanged). */
static void
queue_live (PsWindow *self, gint64 run, double progress, double metric)
{
  LivePending *p = g_hash_table_lookup (self->live_pending, &run);

  if (p == NULL)
    {
      gint64 *key = g_new (gint64, 1);
      *key = run;
      p = g_new (LivePending, 1);
      p->progress = p->metric = NAN;
      g_hash_table_insert (self->live_pending, key, p);
    }
  if (!isnan (progress))
    p->progress = progress;
  if (!isnan (metric))
    p->metric = metric;
  kick_live_tick (self);
}

/* Something live is pending: shown at once when the last tick was long
 * enough ago, else with everything else at the next tick. */
static void
kick_live_tick (PsWindow *self)
{
  if (self->live_tick_id != 0)
    return;
  gint64 wait_ms = PS_LIVE_TICK_MS - (g_get_monotonic_time () - self->live_tick_last) / 1000;
  if (wait_ms <= 0)
    flush_live_pending (self);
  else
    self->live_tick_id = g_timeout_add ((guint) wait_ms, live_tick_cb, self);
}

/* ---- Job events ------------------------------------------------------- */

void
ps_window_on_job_event (const PsEvent *event, gpointer user_data)
{
  PsWindow *self = user_data;
  PsRunItem *item = event->run_id > 0 ? ps_run_list_find (self->run_list, event->run_id, NULL) : NULL;

  if (item == NULL && event->run_id > 0 && !ps_window_is_pending_delete (self, event->run_id))
    {
      /* A run this window submitted but has not listed yet. */
      ps_window_refresh_runs (self);
      item = ps_run_list_find (self->run_list, event->run_id, NULL);
    }

  switch (event->type)
    {
    case PS_EVENT_STARTED:
    case PS_EVENT_RESUMED:
      if (item)
        ps_run_item_set_status (item, PS_RUN_RUNNING);
      break;
    case PS_EVENT_PROGRESS:
      if (item)
        {
          ps_run_item_set_status (item, PS_RUN_RUNNING);
          if (event->total_steps > 0)
            queue_live (self, event->run_id, (double) event->step / event->total_steps, NAN);
        }
      break;
    case PS_EVENT_METRICS:
      if (item && event->metrics)
        {
          double v;
          const char *key = ps_run_item_get_key_metric_name (item);
          if (key && ps_metrics_get (event->metrics, key, &v))
            queue_live (self, event->run_id, NAN, v);
        }
      if (event->run_id == self->current_run)
        {
          /* The curves are read again with the next live tick, and only
           * while the overview is shown (else when it is shown). */
          self->overview_stale = TRUE;
          kick_live_tick (self);
        }
      break;
    case PS_EVENT_SNAPSHOT:
      if (event->run_id == self->current_run && event->arrays)
        {
          ps_embedding_view_add_snapshot (self->embedding, event->run_id, event->step, event->arrays);
          queue_live_views (self, event->arrays);
        }
      break;
    case PS_EVENT_PAUSED:
      if (item)
        ps_run_item_set_status (item, PS_RUN_PAUSED);
      break;
    case PS_EVENT_FINISHED:
    case PS_EVENT_FAILED:
    case PS_EVENT_CANCELLED:
      {
        gint64 id = event->run_id;
        flush_live_run (self, id);
        if (item)
          {
            PsRunStatus s = event->type == PS_EVENT_FINISHED ? PS_RUN_FINISHED
                            : event->type == PS_EVENT_FAILED ? PS_RUN_FAILED
                                                             : PS_RUN_CANCELLED;
            if (s == PS_RUN_FINISHED)
              ps_run_item_set_progress (item, 1.0);
            ps_run_item_set_status (item, s);
          }
        if (event->type == PS_EVENT_FAILED)
          {
            g_autofree char *title = g_strdup_printf ("Run “%s” failed",
                                                      item ? ps_run_item_get_name (item) : "?");
            ps_window_show_error (self, title, event->message);
          }
        g_hash_table_remove (self->jobs, &id);
        ps_window_refresh_runs (self);
        if (item)
          ps_window_load_key_metric (self, item);
        if (id == self->current_run)
          {
            self->overview_stale = FALSE;
            ps_overview_view_reload (self->overview);
            ps_window_update_snapshot_views (self);
          }
      }
      break;
    default:
      break;
    }
  ps_window_update_actions (self);
}
