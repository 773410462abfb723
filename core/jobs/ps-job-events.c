/* ps-job-events.c: the runner's event queue and its delivery.
 *
 * Workers push events from their threads; a consumer either pops them
 * (ps_runner_pop_event) or attaches a GMainContext.  Delivery to a context
 * is coalesced the way sysprof hands worker progress to its window: at most
 * one idle source is pending at any time, and when it runs it takes the
 * whole queue at once.  A fast job therefore costs the main loop one
 * dispatch per iteration, never one per event.
 *
 * Progress events carry only "where the job is now", so a progress event
 * that is still waiting in the queue is replaced by the job's next one.  The
 * full per-step series is in the store; a live view sees the latest value at
 * every frame, which is what it can draw anyway.  Every other event
 * (metrics, snapshots, pause, end states) is delivered exactly once and in
 * order.
 */
#define G_LOG_DOMAIN "ps-jobs"

#include "ps-jobs-private.h"

#include <math.h>

void
ps_event_free (PsEvent *event)
{
  if (event == NULL)
    return;
  if (event->job)
    ps_job_unref (event->job);
  ps_metrics_free (event->metrics);
  if (event->arrays)
    g_ptr_array_unref (event->arrays);
  g_free (event->message);
  g_free (event);
}

PsEvent *
ps_event_new_for_job (PsEventType type, PsJob *job)
{
  PsEvent *event = g_new0 (PsEvent, 1);
  event->type = type;
  event->job = ps_job_ref (job);
  event->run_id = job->run_id;
  event->loss = NAN;
  return event;
}

/* Called with ev_lock held.  Finds a queued progress event of the same job
 * among the trailing progress events, so removing it never moves the new
 * event ahead of anything else this job emitted. */
static gboolean
collapse_progress_locked (PsRunner *runner, PsEvent *event)
{
  for (GList *l = runner->events.tail; l != NULL; l = l->prev)
    {
      PsEvent *queued = l->data;
      if (queued->type != PS_EVENT_PROGRESS)
        return FALSE;
      if (queued->job == event->job)
        {
          g_queue_delete_link (&runner->events, l);
          ps_event_free (queued);
          return TRUE;
        }
    }
  return FALSE;
}

static gboolean
deliver_idle (gpointer data)
{
  PsRunner *runner = data;
  GQueue batch = G_QUEUE_INIT;
  GSource *source;
  PsEventFunc func;
  gpointer user_data;

  g_mutex_lock (&runner->ev_lock);
  batch = runner->events;
  g_queue_init (&runner->events);
  source = g_steal_pointer (&runner->idle);
  runner->n_idle_dispatched++;
  runner->n_delivered += batch.length;
  func = runner->func;
  user_data = runner->user_data;
  g_mutex_unlock (&runner->ev_lock);

  /* The runner is not touched again below: a consumer may free it from
   * its handler (e.g. when the last job has ended). */
  if (source)
    g_source_unref (source);
  for (GList *l = batch.head; l != NULL; l = l->next)
    {
      PsEvent *event = l->data;
      if (func)
        func (event, user_data);
      ps_event_free (event);
    }
  g_list_free (batch.head);
  return G_SOURCE_REMOVE;
}

/* Called with ev_lock held. */
static void
schedule_delivery_locked (PsRunner *runner)
{
  if (runner->context == NULL || runner->idle != NULL || runner->events.length == 0)
    return;
  runner->idle = g_idle_source_new ();
  /* Above GTK's redraw priority: with a slow renderer (software GL) an
   * idle-priority source is starved and live views lag by seconds.  The
   * source is coalesced, so this cannot flood the loop. */
  g_source_set_priority (runner->idle, G_PRIORITY_DEFAULT);
  g_source_set_callback (runner->idle, deliver_idle, runner, NULL);
  g_source_set_static_name (runner->idle, "[protoscope] job events");
  g_source_attach (runner->idle, runner->context);
  runner->n_idle_scheduled++;
  runner->max_pending = MAX (runner->max_pending,
                             runner->n_idle_scheduled - runner->n_idle_dispatched);
}

void
ps_runner_push_event (PsRunner *runner, PsEvent *event)
{
  g_mutex_lock (&runner->ev_lock);
  runner->n_pushed++;
  if (event->type == PS_EVENT_PROGRESS && collapse_progress_locked (runner, event))
    runner->n_collapsed++;
  g_queue_push_tail (&runner->events, event);
  g_cond_broadcast (&runner->ev_cond);
  schedule_delivery_locked (runner);
  g_mutex_unlock (&runner->ev_lock);
}

void
ps_runner_attach (PsRunner *runner, GMainContext *context, PsEventFunc func, gpointer user_data)
{
  g_return_if_fail (runner != NULL);
  g_return_if_fail (func != NULL);

  g_mutex_lock (&runner->ev_lock);
  if (runner->idle)
    {
      g_source_destroy (runner->idle);
      g_clear_pointer (&runner->idle, g_source_unref);
      runner->n_idle_dispatched++;
    }
  g_clear_pointer (&runner->context, g_main_context_unref);
  runner->context = context ? g_main_context_ref (context) : g_main_context_ref_thread_default ();
  runner->func = func;
  runner->user_data = user_data;
  /* Events queued before attaching are delivered too. */
  schedule_delivery_locked (runner);
  g_mutex_unlock (&runner->ev_lock);
}

PsEvent *
ps_runner_pop_event (PsRunner *runner, int timeout_ms)
{
  g_return_val_if_fail (runner != NULL, NULL);

  gint64 end = timeout_ms >= 0 ? g_get_monotonic_time () + (gint64) timeout_ms * 1000 : 0;
  PsEvent *event = NULL;

  g_mutex_lock (&runner->ev_lock);
  while (runner->events.length == 0)
    {
      if (timeout_ms < 0)
        g_cond_wait (&runner->ev_cond, &runner->ev_lock);
      else if (!g_cond_wait_until (&runner->ev_cond, &runner->ev_lock, end))
        break;
    }
  event = g_queue_pop_head (&runner->events);
  if (event)
    runner->n_delivered++;
  g_mutex_unlock (&runner->ev_lock);
  return event;
}

void
ps_runner_get_delivery_stats (PsRunner *runner, PsDeliveryStats *stats)
{
  g_return_if_fail (runner != NULL);
  g_return_if_fail (stats != NULL);

  g_mutex_lock (&runner->ev_lock);
  stats->events_pushed = runner->n_pushed;
  stats->events_collapsed = runner->n_collapsed;
  stats->events_delivered = runner->n_delivered;
  stats->idle_scheduled = runner->n_idle_scheduled;
  stats->idle_dispatched = runner->n_idle_dispatched;
  stats->max_pending_idle = runner->max_pending;
  g_mutex_unlock (&runner->ev_lock);
}

void
ps_runner_events_clear (PsRunner *runner)
{
  g_mutex_lock (&runner->ev_lock);
  if (runner->idle)
    {
      g_source_destroy (runner->idle);
      g_clear_pointer (&runner->idle, g_source_unref);
    }
  g_queue_clear_full (&runner->events, (GDestroyNotify) ps_event_free);
  g_clear_pointer (&runner->context, g_main_context_unref);
  g_mutex_unlock (&runner->ev_lock);
}
