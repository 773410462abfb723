/* bench-plot.c: how fast the plot library draws large point sets.
 *
 * Rasterises 100k and 1M Gaussian-blob points into a 1600x1000 buffer
 * (the window's worst case), renders a whole figure around them, exports
 * SVG and times the point grid.  Prints one line per measurement, the
 * median of several repetitions.
 *
 *   bench-plot [repetitions]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib/gstdio.h>

#include "ps-base.h"
#include "ps-plot.h"
#include "ps-point-grid.h"

#define W 1600
#define H 1000

/* CPU time of the whole process: on a shared machine wall time also
 * counts other people's work, CPU time does not. */
static double
cpu_now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
median (double *t, int n)
{
  qsort (t, n, sizeof (double), cmp_double);
  return t[n / 2];
}

static void
make_points (float *x, float *y, gint32 *lab, gsize n)
{
  PsRng rng;
  ps_rng_init (&rng, 42, 0);
  for (gsize i = 0; i < n; i++)
    {
      int c = (int) ps_rng_below (&rng, 10);
      double ang = c * 2 * G_PI / 10;
      x[i] = 4 * cos (ang) + ps_rng_normal (&rng);
      y[i] = 4 * sin (ang) + ps_rng_normal (&rng);
      lab[i] = c;
    }
}

int
main (int argc, char **argv)
{
  int reps = argc > 1 ? atoi (argv[1]) : 7;
  reps = CLAMP (reps, 1, 100);
  gsize sizes[] = { 100000, 1000000 };
  double t[100], tc[100];

  cairo_surface_t *surf = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, W, H);
  guint32 *pix = (guint32 *) cairo_image_surface_get_data (surf);
  int stride = cairo_image_surface_get_stride (surf);
  PsPlotView view = { -7, 7, -7, 7, 0, 0, W, H };

  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
    {
      gsize n = sizes[s];
      float *x = g_new (float, n), *y = g_new (float, n);
      gint32 *lab = g_new (gint32, n);
      float *score = g_new (float, n);
      make_points (x, y, lab, n);
      for (gsize i = 0; i < n; i++)
        score[i] = hypotf (x[i], y[i]);

      struct { const char *name; double radius; gboolean scores; int threads; } cases[] = {
        { "labels r=2.2 1T", 2.2, FALSE, 1 },
        { "labels r=2.2", 2.2, FALSE, 0 },
        { "labels r=1.5 1T", 1.5, FALSE, 1 },
        { "labels r=1.5", 1.5, FALSE, 0 },
        { "labels r=3.0", 3.0, FALSE, 0 },
        { "scores r=2.2", 2.2, TRUE, 0 },
      };
      for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
        {
          PsScatterSpec spec = { .x = x, .y = y, .n = n, .radius = cases[c].radius };
          if (cases[c].scores)
            spec.scores = score;
          else
            spec.labels = lab;
          ps_plot_set_raster_threads (cases[c].threads);
          for (int r = 0; r < reps; r++)
            {
              memset (pix, 0xff, (gsize) stride * H);
              double t0 = ps_now (), c0 = cpu_now ();
              ps_scatter_rasterize (pix, W, H, stride, &view, &spec, 1.0);
              t[r] = ps_now () - t0;
              tc[r] = cpu_now () - c0;
            }
          double med = median (t, reps), best = t[0];
          printf ("raster %-16s n=%-8zu %dx%d: median %7.2f ms, best %7.2f ms wall; cpu %7.2f ms\n",
                  cases[c].name, n, W, H, med * 1e3, best * 1e3, median (tc, reps) * 1e3);
        }

      ps_plot_set_raster_threads (0);
      /* A whole figure (axes, legend, points) into a 1600x1000 surface. */
      PsFigure *fig = ps_figure_new ();
      PsScatterSpec spec = { .x = x, .y = y, .n = n, .labels = lab };
      ps_figure_add_scatter (fig, &spec);
      ps_figure_set_title (fig, "bench");
      for (int r = 0; r < reps; r++)
        {
          cairo_t *cr = cairo_create (surf);
          double t0 = ps_now ();
          ps_figure_render (fig, cr, W, H);
          cairo_surface_flush (surf);
          t[r] = ps_now () - t0;
          cairo_destroy (cr);
        }
      printf ("figure render      n=%-8zu %dx%d: %7.2f ms\n", n, W, H, median (t, reps) * 1e3);
      ps_figure_free (fig);

      double t0 = ps_now ();
      PsPointGrid *grid = ps_point_grid_new (x, y, n);
      double tb = ps_now () - t0;
      PsRng rng;
      ps_rng_init (&rng, 7, 0);
      t0 = ps_now ();
      gsize hits = 0;
      for (int q = 0; q < 100000; q++)
        hits += ps_point_grid_nearest_pixel (grid, &view, ps_rng_uniform (&rng) * W,
                                             ps_rng_uniform (&rng) * H, 6.0) >= 0;
      double tq = ps_now () - t0;
      printf ("point grid         n=%-8zu build %6.2f ms, nearest %6.3f us/query (%zu hits)\n",
              n, tb * 1e3, tq / 100000 * 1e6, hits);
      ps_point_grid_free (grid);

      g_free (x);
      g_free (y);
      g_free (lab);
      g_free (score);
    }

  /* SVG size of 10k points. */
  {
    gsize n = 10000;
    float *x = g_new (float, n), *y = g_new (float, n);
    gint32 *lab = g_new (gint32, n);
    make_points (x, y, lab, n);
    PsFigure *fig = ps_figure_new ();
    PsScatterSpec spec = { .x = x, .y = y, .n = n, .labels = lab };
    ps_figure_add_scatter (fig, &spec);
    g_autofree char *path = g_build_filename (g_get_tmp_dir (), "bench-plot-10k.svg", NULL);
    double t0 = ps_now ();
    GError *error = NULL;
    if (!ps_figure_export (fig, path, 800, 600, 1, &error))
      {
        fprintf (stderr, "%s\n", error->message);
        return 1;
      }
    double te = ps_now () - t0;
    GStatBuf st;
    g_stat (path, &st);
    printf ("svg export         n=%-8zu %7.2f ms, %lld bytes\n", n, te * 1e3,
            (long long) st.st_size);
    g_unlink (path);
    ps_figure_free (fig);
    g_free (x);
    g_free (y);
    g_free (lab);
  }

  cairo_surface_destroy (surf);
  return 0;
}
