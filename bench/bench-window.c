/* bench-window.c: whole-frame timings of the window (run under Xvfb).
 *
 *   bench-window pan N [REPS]        redraw after a pan of a scatter of N points at
 *                                    1600x1000: time from the pan request to the end of
 *                                    the next frame's paint (frame clock "after-paint"),
 *                                    and the frame's own work (before-paint -> after-paint)
 *   bench-window loop-gap [SECONDS [JOBS]]  (JOBS 0: the same window idle, a baseline;
 *                                    -1: an empty GtkWindow, the machine's own floor)
 *                                    the largest gap between main-loop iterations of the
 *                                    real window while two jobs train (a 5 ms timeout
 *                                    source records timestamps)
 *   bench-window cold-start T0_NS    process start (realtime ns, taken by the caller
 *                                    just before exec) to the first painted frame of
 *                                    the application window
 *
 * Prints one line "name value unit ..." per measure, for run-window.sh.
 */
#include <gtk/gtk.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ps-application.h"
#include "ps-base.h"
#include "ps-dataset.h"
#include "ps-embedding-view.h"
#include "ps-method.h"
#include "ps-new-run-dialog.h"
#include "ps-run-list.h"
#include "ps-scatter-view.h"
#include "ps-window.h"

static gboolean
wake_cb (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

static void
iterate_until (const gboolean *flag, double seconds)
{
  gint64 end = g_get_monotonic_time () + (gint64) (seconds * G_USEC_PER_SEC);
  guint wake = g_timeout_add (50, wake_cb, NULL);
  while (!*flag && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (wake);
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

/* ---- pan ----------------------------------------------------------------- */

typedef struct
{
  gboolean painted;
  gint64 before, after;
} Frame;

/* CPU time of the whole process (all threads, llvmpipe's included), in
 * ms: on a loaded machine it says what a frame costs better than wall time. */
static double
cpu_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
before_paint_cb (GdkFrameClock *clock, Frame *f)
{
  if (f->before == 0)
    f->before = g_get_monotonic_time ();
}

static void
after_paint_cb (GdkFrameClock *clock, Frame *f)
{
  /* The first frame painted after the request is the one that shows it. */
  if (f->before == 0)
    return;
  f->after = g_get_monotonic_time ();
  f->painted = TRUE;
}

static GPtrArray *
synthetic_snapshot (gsize n)
{
  GPtrArray *arrays = g_ptr_array_new_with_free_func ((GDestroyNotify) ps_array_unref);
  g_autofree float *pts = g_new (float, n * 2);
  g_autofree gint32 *lab = g_new (gint32, n);
  PsRng rng;

  ps_rng_init (&rng, 7, 0);
  for (gsize i = 0; i < n; i++)
    {
      int c = (int) (i % 10);
      double a = 2 * G_PI * c / 10;
      lab[i] = c;
      pts[2 * i] = (float) (4 * cos (a) + ps_rng_normal (&rng));
      pts[2 * i + 1] = (float) (4 * sin (a) + ps_rng_normal (&rng));
    }
  g_ptr_array_add (arrays, ps_array_new_f32 ("points", pts, n, 2));
  g_ptr_array_add (arrays, ps_array_new_i32 ("labels", lab, n));
  return arrays;
}

static int
bench_pan (gsize n, guint reps)
{
  GtkWidget *window = gtk_window_new ();
  GtkWidget *scatter = ps_scatter_view_new ();
  g_autoptr (GPtrArray) arrays = synthetic_snapshot (n);
  g_autoptr (GError) error = NULL;

  gtk_window_set_default_size (GTK_WINDOW (window), 1600, 1000);
  gtk_window_set_decorated (GTK_WINDOW (window), FALSE);
  gtk_window_set_child (GTK_WINDOW (window), scatter);
  if (!ps_scatter_view_set_snapshot (PS_SCATTER_VIEW (scatter), arrays, FALSE, &error))
    {
      g_printerr ("bench-window: %s\n", error->message);
      return 1;
    }
  gtk_window_present (GTK_WINDOW (window));

  /* Warm up: the first frames map the window and build the texture. */
  for (guint w = 0; w < 3; w++)
    {
      Frame f = { 0 };
      GdkFrameClock *clock;
      while ((clock = gtk_widget_get_frame_clock (scatter)) == NULL)
        g_main_context_iteration (NULL, TRUE);
      gulong b = g_signal_connect (clock, "before-paint", G_CALLBACK (before_paint_cb), &f);
      gulong a = g_signal_connect (clock, "after-paint", G_CALLBACK (after_paint_cb), &f);
      ps_scatter_view_pan (PS_SCATTER_VIEW (scatter), w ? 2 : 0, 0);
      gtk_widget_queue_draw (scatter);
      iterate_until (&f.painted, 30);
      g_signal_handler_disconnect (clock, b);
      g_signal_handler_disconnect (clock, a);
    }
  int width = gtk_widget_get_width (scatter), height = gtk_widget_get_height (scatter);

  g_autofree double *latency = g_new (double, reps);
  g_autofree double *work = g_new (double, reps);
  g_autofree double *cpu = g_new (double, reps);
  guint builds0 = ps_scatter_view_get_texture_builds (PS_SCATTER_VIEW (scatter));
  GdkFrameClock *clock = gtk_widget_get_frame_clock (scatter);
  for (guint r = 0; r < reps; r++)
    {
      Frame f = { 0 };
      gulong b = g_signal_connect (clock, "before-paint", G_CALLBACK (before_paint_cb), &f);
      gulong a = g_signal_connect (clock, "after-paint", G_CALLBACK (after_paint_cb), &f);
      double c0 = cpu_ms ();
      gint64 t0 = g_get_monotonic_time ();
      if (g_getenv ("BENCH_STATIC"))
        gtk_widget_queue_draw (scatter); /* the cost of a frame that changes nothing */
      else
        ps_scatter_view_pan (PS_SCATTER_VIEW (scatter), (r % 2) ? -7 : 7, (r % 3) ? 3 : -3);
      iterate_until (&f.painted, 30);
      g_signal_handler_disconnect (clock, b);
      g_signal_handler_disconnect (clock, a);
      latency[r] = (f.after - t0) / 1000.0;
      work[r] = (f.after - f.before) / 1000.0;
      cpu[r] = cpu_ms () - c0;
    }
  guint builds = ps_scatter_view_get_texture_builds (PS_SCATTER_VIEW (scatter)) - builds0;
  qsort (latency, reps, sizeof (double), cmp_double);
  qsort (work, reps, sizeof (double), cmp_double);
  qsort (cpu, reps, sizeof (double), cmp_double);
  const char *renderer = g_getenv ("GSK_RENDERER");
  printf ("pan n=%" G_GSIZE_FORMAT " renderer=%s size=%dx%d reps=%u rebuilds=%u "
          "latency_median_ms=%.2f latency_p90_ms=%.2f latency_max_ms=%.2f "
          "frame_median_ms=%.2f frame_p90_ms=%.2f cpu_median_ms=%.2f\n",
          n, renderer ? renderer : "default", width, height, reps, builds,
          latency[reps / 2], latency[(reps * 9) / 10], latency[reps - 1],
          work[reps / 2], work[(reps * 9) / 10], cpu[reps / 2]);
  gtk_window_destroy (GTK_WINDOW (window));
  return 0;
}

/* ---- loop gap ------------------------------------------------------------ */

typedef struct
{
  gint64 last;
  gint64 max_gap;
  guint64 ticks;
  GArray *gaps;     /* double ms */
  gint64 first;     /* the first tick */
  gint64 max_at;    /* when the largest gap ended, after the first tick */
} Gaps;

static gboolean
tick_cb (gpointer data)
{
  Gaps *g = data;
  gint64 now = g_get_monotonic_time ();
  if (g->last > 0)
    {
      double gap = (now - g->last) / 1000.0;
      g_array_append_val (g->gaps, gap);
      if (now - g->last > g->max_gap)
        {
          g->max_gap = now - g->last;
          g->max_at = now - g->first;
        }
    }
  else
    g->first = now;
  g->last = now;
  g->ticks++;
  return G_SOURCE_CONTINUE;
}

static void
count_frame_cb (guint *frames)
{
  (*frames)++;
}

/* The same measure on an empty GtkWindow: what the machine alone allows. */
static int
bench_loop_gap_plain (double seconds)
{
  GtkWidget *window = gtk_window_new ();
  gboolean never = FALSE;
  Gaps g = { 0, 0, 0, g_array_new (FALSE, FALSE, sizeof (double)), 0, 0 };

  gtk_window_set_default_size (GTK_WINDOW (window), 1600, 1000);
  gtk_window_present (GTK_WINDOW (window));
  iterate_until (&never, 1.0);
  guint src = g_timeout_add_full (G_PRIORITY_DEFAULT, 5, tick_cb, &g, NULL);
  iterate_until (&never, seconds);
  g_source_remove (src);
  double *v = (double *) g.gaps->data;
  qsort (v, g.gaps->len, sizeof (double), cmp_double);
  printf ("loop-gap plain-window seconds=%.0f ticks=%" G_GUINT64_FORMAT " max_gap_ms=%.1f p99_gap_ms=%.1f median_gap_ms=%.1f\n",
          seconds, g.ticks, g.max_gap / 1000.0, g.gaps->len ? v[(g.gaps->len * 99) / 100] : 0,
          g.gaps->len ? v[g.gaps->len / 2] : 0);
  g_array_unref (g.gaps);
  gtk_window_destroy (GTK_WINDOW (window));
  return 0;
}

static int
bench_loop_gap (double seconds, gboolean with_jobs)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("ps-bench-window-XXXXXX", &error);
  g_autofree char *store = g_build_filename (dir, "runs.sqlite", NULL);
  PsWindow *window = ps_window_new (NULL, NULL);

  g_object_ref (window);
  gtk_window_set_default_size (GTK_WINDOW (window), 1600, 1000);
  if (!ps_window_open_store (window, store))
    return 1;
  gtk_window_present (GTK_WINDOW (window));

  /* Two jobs at once: an MLP on 20k moons, two seeds, with live snapshots
   * (so the embedding view redraws as they arrive). */
  g_autoptr (PsRunRequest) req = g_new0 (PsRunRequest, 1);
  req->method = ps_method_find ("mlp");
  if (req->method == NULL)
    {
      g_printerr ("bench-window: no mlp method\n");
      return 1;
    }
  req->params = ps_method_default_params (req->method);
  ps_params_set (req->params, "epochs", "40", NULL);
  req->dataset = ps_run_request_load_dataset ("moons", 20000, -1, NULL, NULL, &req->dataset_name, &error);
  if (req->dataset == NULL)
    {
      g_printerr ("bench-window: %s\n", error->message);
      return 1;
    }
  req->n_seeds = 2;
  req->snapshot_every = g_getenv ("BENCH_NO_SNAPSHOTS") ? 0 : 50;
  req->eval_every = g_getenv ("BENCH_NO_SNAPSHOTS") ? 0 : 50;

  Gaps g = { 0, 0, 0, g_array_new (FALSE, FALSE, sizeof (double)), 0, 0 };
  /* Let the window settle before measuring. */
  gboolean never = FALSE;
  iterate_until (&never, 1.0);
  if (with_jobs && ps_window_submit (window, req, &error) <= 0)
    {
      g_printerr ("bench-window: %s\n", error ? error->message : "submit failed");
      return 1;
    }
  ps_window_set_view (window, g_getenv ("BENCH_VIEW") ? g_getenv ("BENCH_VIEW") : "embedding");
  /* Frames painted meanwhile, and the process's CPU time (all threads,
   * training included): what the window costs, whatever the load. */
  guint frames = 0;
  GdkFrameClock *clock = gtk_widget_get_frame_clock (GTK_WIDGET (window));
  gulong fid = g_signal_connect_swapped (clock, "after-paint", G_CALLBACK (count_frame_cb), &frames);
  /* The first half second holds the view's first paint of the new run (a
   * person's click, not training): its largest gap is reported apart. */
  guint src = g_timeout_add_full (G_PRIORITY_DEFAULT, 5, tick_cb, &g, NULL);
  iterate_until (&never, 0.5);
  double first_paint_gap = g.max_gap / 1000.0;
  g.max_gap = g.max_at = 0;
  g.first = g.last = g_get_monotonic_time ();
  g_array_set_size (g.gaps, 0);
  g.ticks = 0;
  frames = 0;
  double c0 = cpu_ms ();
  iterate_until (&never, seconds);
  g_source_remove (src);
  double cpu = cpu_ms () - c0;
  g_signal_handler_disconnect (clock, fid);

  double *v = (double *) g.gaps->data;
  qsort (v, g.gaps->len, sizeof (double), cmp_double);
  printf ("loop-gap jobs=%d seconds=%.0f ticks=%" G_GUINT64_FORMAT " max_gap_ms=%.1f max_at_s=%.2f p99_gap_ms=%.1f median_gap_ms=%.1f "
          "frames_per_s=%.1f cpu_s_per_s=%.2f first_paint_gap_ms=%.1f\n",
          with_jobs ? 2 : 0, seconds, g.ticks, g.max_gap / 1000.0, g.max_at / 1e6, g.gaps->len ? v[(g.gaps->len * 99) / 100] : 0,
          g.gaps->len ? v[g.gaps->len / 2] : 0, frames / seconds, cpu / 1000.0 / seconds, first_paint_gap);
  g_array_unref (g.gaps);
  gtk_window_destroy (GTK_WINDOW (window));
  g_object_unref (window);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name (d)))
    {
      g_autofree char *p = g_build_filename (dir, name, NULL);
      g_remove (p);
    }
  g_rmdir (dir);
  return 0;
}

/* ---- cold start ---------------------------------------------------------- */

static gint64 cold_t0_ns;

static void
first_paint_cb (GdkFrameClock *clock, GApplication *app)
{
  static gboolean done;
  if (done)
    return;
  done = TRUE;
  double ms = (g_get_real_time () * 1000.0 - (double) cold_t0_ns) / 1e6;
  printf ("cold-start first_frame_ms=%.0f\n", ms);
  fflush (stdout);
  g_application_quit (app);
}

static void
window_realized_cb (GtkWidget *window, GApplication *app)
{
  g_signal_connect (gtk_widget_get_frame_clock (window), "after-paint", G_CALLBACK (first_paint_cb), app);
}

static void
window_added_cb (GtkApplication *app, GtkWindow *window)
{
  if (gtk_widget_get_realized (GTK_WIDGET (window)))
    window_realized_cb (GTK_WIDGET (window), G_APPLICATION (app));
  else
    g_signal_connect (window, "realize", G_CALLBACK (window_realized_cb), app);
}

static int
bench_cold_start (const char *t0, const char *store)
{
  cold_t0_ns = g_ascii_strtoll (t0, NULL, 10);
  g_autoptr (PsApplication) app = ps_application_new ();
  g_signal_connect (app, "window-added", G_CALLBACK (window_added_cb), NULL);
  char *args[] = { "protoscope", "--db", (char *) store, NULL };
  return g_application_run (G_APPLICATION (app), 3, args);
}

int
main (int argc, char **argv)
{
  if (argc >= 3 && g_str_equal (argv[1], "cold-start"))
    return bench_cold_start (argv[2], argc > 3 ? argv[3] : "/tmp/ps-bench-cold.sqlite");

  gtk_init ();
  /* The renderer the application itself would choose (cairo when the only
   * OpenGL is a software rasteriser), unless GSK_RENDERER is set. */
  ps_pick_renderer (gdk_display_get_default ());
  ps_style_init (gdk_display_get_default ());
  if (g_getenv ("BENCH_NO_BLINK"))
    g_object_set (gtk_settings_get_default (), "gtk-cursor-blink", FALSE, NULL);
  if (argc >= 3 && g_str_equal (argv[1], "pan"))
    return bench_pan ((gsize) g_ascii_strtoull (argv[2], NULL, 10), argc > 3 ? atoi (argv[3]) : 30);
  if (argc >= 4 && g_str_equal (argv[1], "loop-gap") && atoi (argv[3]) < 0)
    return bench_loop_gap_plain (g_ascii_strtod (argv[2], NULL));
  if (argc >= 2 && g_str_equal (argv[1], "loop-gap"))
    return bench_loop_gap (argc > 2 ? g_ascii_strtod (argv[2], NULL) : 15,
                           argc > 3 ? atoi (argv[3]) != 0 : TRUE);
  g_printerr ("usage: bench-window pan N [REPS] | loop-gap [SECONDS] | cold-start T0_NS [STORE]\n");
  return 2;
}
