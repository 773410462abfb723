/* ui-test-util.h: what the ui tests share (header only, static): waiting
 * on the main loop for a condition or a painted frame, and the start-up
 * every ui test program makes. */
#pragma once

#include <gtk/gtk.h>

#include "ps-application.h"

static G_GNUC_UNUSED gboolean
wake_cb (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

/* Iterates the main loop until `done` holds or `seconds` pass (a 20 ms
 * timer keeps the loop from sleeping past the deadline). */
static G_GNUC_UNUSED gboolean
wait_for (gboolean (*done) (gpointer), gpointer data, double seconds)
{
  gint64 end = g_get_monotonic_time () + (gint64) (seconds * G_USEC_PER_SEC);
  guint wake = g_timeout_add (20, wake_cb, NULL);
  gboolean ok;

  while (!(ok = done (data)) && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (wake);
  return ok;
}

/* Runs what is ready now, without blocking. */
static G_GNUC_UNUSED void
drain (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static G_GNUC_UNUSED void
painted_cb (GdkFrameClock *clock, guint *count)
{
  (*count)++;
}

static G_GNUC_UNUSED gboolean
painted_once (gpointer data)
{
  return *(guint *) data > 0;
}

/* Queues a redraw of `widget` and waits (at most 20 s) until a frame has
 * been painted. */
static G_GNUC_UNUSED void
wait_painted (GtkWidget *widget)
{
  GdkFrameClock *clock = gtk_widget_get_frame_clock (widget);
  guint count = 0;
  gulong id = g_signal_connect (clock, "after-paint", G_CALLBACK (painted_cb), &count);

  gtk_widget_queue_draw (widget);
  g_assert_true (wait_for (painted_once, &count, 20));
  g_signal_handler_disconnect (clock, id);
}

/* GTK test set-up with the cairo renderer (pixel checks) and our style.
 * FALSE (after printing a TAP skip) when there is no display. */
static G_GNUC_UNUSED gboolean
ui_test_init (int *argc, char ***argv)
{
  if (g_getenv ("DISPLAY") == NULL && g_getenv ("WAYLAND_DISPLAY") == NULL)
    {
      g_print ("1..0 # SKIP no display\n");
      return FALSE;
    }
  g_setenv ("GSK_RENDERER", "cairo", TRUE);
  gtk_test_init (argc, argv, NULL);
  ps_style_init (gdk_display_get_default ());
  return TRUE;
}
