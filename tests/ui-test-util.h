/* ui-test-util.h: what the ui tests share (header only, static): waiting
 * on the main loop for a condition or a painted frame, and the start-up
 * every ui test program makes. */
#pragma once

#include <gtk/gtk.h>
#include <string.h>

#include "ps-application.h"
#include "ps-dataset.h"
#include "ps-method.h"

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

/* Trains method `id` on `ds` with the "name=value" settings (seed 1) and
 * returns its snapshot and, through `metrics` (may be NULL), its
 * evaluation. */
static G_GNUC_UNUSED GPtrArray *
train_snapshot (const char *id, PsDataset *ds, const char *const *sets, PsMetrics **metrics)
{
  const PsMethod *m = ps_method_find (id);
  g_autoptr (PsParams) p = ps_method_default_params (m);
  g_autoptr (GError) error = NULL;

  for (const char *const *s = sets; s && *s; s++)
    g_assert_true (ps_params_set_string (p, *s, &error));
  gpointer model = m->create (m, p, ds, 1, &error);
  g_assert_no_error (error);
  guint64 total = m->total_steps (model);
  for (guint64 s = 0; s < total; s++)
    {
      PsStepInfo info = { .step = s, .total_steps = total };
      g_assert_true (m->step (model, &info, &error));
      if (info.done)
        break;
    }
  if (metrics)
    *metrics = m->evaluate (model);
  GPtrArray *snap = m->snapshot (model);
  m->free (model);
  return snap;
}

/* 600 points of the 2-D generator `name` (seed 3), split 70/10/20. */
static G_GNUC_UNUSED PsDataset *
generated_600 (const char *name)
{
  g_autoptr (GError) error = NULL;
  PsDataset *ds = ps_dataset_generate_2d (name, 600, -1, 3, &error);
  g_assert_no_error (error);
  ps_dataset_assign_split (ds, 0.1, 0.2, 0);
  return ds;
}

/* Checks the file starts with `magic` and is larger than `min_size`. */
static G_GNUC_UNUSED void
check_file (const char *path, const char *magic, gsize min_size)
{
  g_autofree char *contents = NULL;
  gsize len = 0;
  g_autoptr (GError) error = NULL;

  g_assert_true (g_file_get_contents (path, &contents, &len, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (len, >, min_size);
  g_assert_true (len >= strlen (magic) && memcmp (contents, magic, strlen (magic)) == 0);
}
