/* test-ui-plot.c: the pure-Cairo plot library (no display needed).
 *
 * Ticks, transforms, the scatter rasteriser, the point grid against brute
 * force, export to PNG/SVG/PDF/CSV and curve smoothing.
 */
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>

#include "ps-base.h"
#include "ps-plot.h"
#include "ps-point-grid.h"

static char *tmp_dir;

static char *
tmp_path (const char *name)
{
  return g_build_filename (tmp_dir, name, NULL);
}

/* ------------------------------------------------------------------ */
/* Ticks and transforms                                                 */
/* ------------------------------------------------------------------ */

static void
test_ticks_nice (void)
{
  PsRng rng;
  ps_rng_init (&rng, 11, 0);

  for (int trial = 0; trial < 2000; trial++)
    {
      double scale = pow (10, ps_rng_uniform (&rng) * 16 - 8);
      double lo = (ps_rng_uniform (&rng) * 2 - 1) * scale * 10;
      double hi = lo + ps_rng_uniform (&rng) * scale * 10 + scale * 1e-3;
      guint target = 2 + ps_rng_below (&rng, 9);
      double ticks[64], step;
      guint n = ps_plot_nice_ticks (lo, hi, target, ticks, 64, &step);

      g_assert_cmpuint (n, >=, 1);
      g_assert_cmpfloat (step, >, 0);
      /* The step is 1, 2 or 5 times a power of ten. */
      double mant = step / pow (10, floor (log10 (step) + 1e-12));
      g_assert_true (fabs (mant - 1) < 1e-9 || fabs (mant - 2) < 1e-9
                     || fabs (mant - 5) < 1e-9 || fabs (mant - 10) < 1e-9);
      /* Never wildly more ticks than asked for. */
      g_assert_cmpuint (n, <=, 3 * target + 2);
      for (guint i = 0; i < n; i++)
        {
          /* Inside the range, multiples of the step, evenly spaced. */
          g_assert_cmpfloat (ticks[i], >=, lo - step * 1e-6);
          g_assert_cmpfloat (ticks[i], <=, hi + step * 1e-6);
          double k = ticks[i] / step;
          g_assert_cmpfloat (fabs (k - round (k)), <, 1e-6);
          if (i > 0)
            g_assert_cmpfloat (fabs (ticks[i] - ticks[i - 1] - step), <, step * 1e-6);
        }
      /* They cover the range: no gap of a whole step at either end. */
      g_assert_cmpfloat (ticks[0] - lo, <, step * (1 + 1e-6));
      g_assert_cmpfloat (hi - ticks[n - 1], <, step * (1 + 1e-6));
    }

  /* A reversed range gives the same ticks; a degenerate one gives one. */
  double a[64], b[64], sa, sb;
  guint na = ps_plot_nice_ticks (0, 10, 5, a, 64, &sa);
  guint nb = ps_plot_nice_ticks (10, 0, 5, b, 64, &sb);
  g_assert_cmpuint (na, ==, nb);
  g_assert_cmpfloat (sa, ==, 2);
  g_assert_cmpfloat (a[0], ==, 0);
  g_assert_cmpfloat (a[na - 1], ==, 10);
  g_assert_cmpuint (ps_plot_nice_ticks (3, 3, 5, a, 64, NULL), ==, 1);
  g_assert_cmpuint (ps_plot_nice_ticks (NAN, 3, 5, a, 64, NULL), ==, 0);
  /* The buffer bounds the count. */
  g_assert_cmpuint (ps_plot_nice_ticks (0, 1000, 500, a, 8, NULL), <=, 8);

  double lo = 0.13, hi = 9.7;
  ps_plot_nice_range (&lo, &hi, 5);
  g_assert_cmpfloat (lo, <=, 0.13);
  g_assert_cmpfloat (hi, >=, 9.7);
  g_assert_cmpfloat (lo, ==, 0);
  g_assert_cmpfloat (hi, ==, 10);
}

static void
test_ticks_format (void)
{
  char buf[64], prev[64];

  ps_plot_format_tick (buf, sizeof buf, 0.5, 0.5);
  g_assert_cmpstr (buf, ==, "0.5");
  ps_plot_format_tick (buf, sizeof buf, 200, 50);
  g_assert_cmpstr (buf, ==, "200");
  /* Rounding noise around zero prints as 0, never -0. */
  ps_plot_format_tick (buf, sizeof buf, -1e-17, 0.1);
  g_assert_cmpstr (buf, ==, "0");

  /* Neighbouring ticks always get different labels, at any magnitude. */
  for (int e = -9; e <= 9; e++)
    {
      double ticks[64], step;
      double lo = 3 * pow (10, e), hi = 7.5 * pow (10, e);
      guint n = ps_plot_nice_ticks (lo, hi, 6, ticks, 64, &step);
      for (guint i = 0; i < n; i++)
        {
          ps_plot_format_tick (buf, sizeof buf, ticks[i], step);
          g_assert_cmpuint (strlen (buf), <, 16);
          if (i > 0)
            g_assert_cmpstr (buf, !=, prev);
          memcpy (prev, buf, sizeof buf);
        }
    }
}

static void
test_view_roundtrip (void)
{
  PsRng rng;
  ps_rng_init (&rng, 12, 0);

  for (int trial = 0; trial < 500; trial++)
    {
      PsPlotView v = {
        ps_rng_normal (&rng) * 10, 0, ps_rng_normal (&rng) * 10, 0,
        ps_rng_uniform (&rng) * 100, ps_rng_uniform (&rng) * 100,
        50 + ps_rng_uniform (&rng) * 1000, 50 + ps_rng_uniform (&rng) * 1000,
      };
      /* Some views are flipped (matrices run top-down). */
      v.x1 = v.x0 + (ps_rng_uniform (&rng) + 0.01) * 20 * (trial % 3 == 0 ? -1 : 1);
      v.y1 = v.y0 + (ps_rng_uniform (&rng) + 0.01) * 20 * (trial % 4 == 0 ? -1 : 1);
      double x = ps_rng_normal (&rng) * 10, y = ps_rng_normal (&rng) * 10;
      double px, py, bx, by;
      ps_plot_view_to_pixel (&v, x, y, &px, &py);
      ps_plot_view_to_data (&v, px, py, &bx, &by);
      g_assert_cmpfloat (fabs (bx - x), <, 1e-9 * (1 + fabs (x)));
      g_assert_cmpfloat (fabs (by - y), <, 1e-9 * (1 + fabs (y)));

      /* Zoom keeps the data point under the anchor pixel. */
      PsPlotView z = v;
      ps_plot_view_zoom (&z, 1.7, px, py);
      double zx, zy;
      ps_plot_view_to_data (&z, px, py, &zx, &zy);
      g_assert_cmpfloat (fabs (zx - x), <, 1e-9 * (1 + fabs (x)));
      g_assert_cmpfloat (fabs (zy - y), <, 1e-9 * (1 + fabs (y)));
      g_assert_cmpfloat (fabs (fabs (z.x1 - z.x0) * 1.7 - fabs (v.x1 - v.x0)), <, 1e-9);

      /* Panning moves the point with the pointer. */
      PsPlotView p = v;
      ps_plot_view_pan (&p, 13, -7);
      double qx, qy;
      ps_plot_view_to_pixel (&p, x, y, &qx, &qy);
      g_assert_cmpfloat (fabs (qx - (px + 13)), <, 1e-6);
      g_assert_cmpfloat (fabs (qy - (py - 7)), <, 1e-6);
    }

  /* The extremes of the range land on the plot rectangle's edges. */
  PsPlotView v = { 0, 10, 0, 5, 20, 30, 200, 100 };
  double px, py;
  ps_plot_view_to_pixel (&v, 0, 0, &px, &py);
  g_assert_cmpfloat (px, ==, 20);
  g_assert_cmpfloat (py, ==, 130);
  ps_plot_view_to_pixel (&v, 10, 5, &px, &py);
  g_assert_cmpfloat (px, ==, 220);
  g_assert_cmpfloat (py, ==, 30);
}

/* ------------------------------------------------------------------ */
/* Colours                                                              */
/* ------------------------------------------------------------------ */

static void
test_palette (void)
{
  /* Every pair of the 20 class colours differs visibly. */
  for (int i = 0; i < PS_PALETTE_SIZE; i++)
    for (int j = i + 1; j < PS_PALETTE_SIZE; j++)
      {
        PsColor a = ps_palette_color (i), b = ps_palette_color (j);
        double d = sqrt ((a.r - b.r) * (a.r - b.r) + (a.g - b.g) * (a.g - b.g)
                         + (a.b - b.b) * (a.b - b.b));
        g_assert_cmpfloat (d, >, 0.12);
      }
  /* Cycled past the end; negative means "no class". */
  PsColor a = ps_palette_color (3), b = ps_palette_color (3 + PS_PALETTE_SIZE);
  g_assert_true (a.r == b.r && a.g == b.g && a.b == b.b);
  PsColor none = ps_palette_color (-1);
  g_assert_cmpfloat (fabs (none.r - none.g), <, 1e-9);

  /* Viridis runs dark to light with rising luminance. */
  double prev = -1;
  for (int i = 0; i <= 20; i++)
    {
      PsColor c = ps_colormap_color (PS_COLORMAP_VIRIDIS, i / 20.0);
      double lum = 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b;
      g_assert_cmpfloat (lum, >, prev);
      prev = lum;
    }
  PsColor lo = ps_colormap_color (PS_COLORMAP_VIRIDIS, -5);
  PsColor hi = ps_colormap_color (PS_COLORMAP_VIRIDIS, 5);
  g_assert_cmpfloat (fabs (lo.r - 0x44 / 255.0), <, 1e-9);
  g_assert_cmpfloat (fabs (hi.g - 0xe7 / 255.0), <, 1e-9);

  g_assert_cmphex (ps_color_to_argb32 ((PsColor) { 1, 0, 0, 1 }), ==, 0xffff0000);
  g_assert_cmphex (ps_color_to_argb32 ((PsColor) { 1, 1, 1, 0.5 }), ==, 0x80808080);
}

/* ------------------------------------------------------------------ */
/* Raster scatter                                                       */
/* ------------------------------------------------------------------ */

#define RW 200
#define RH 120

static guint32 *
white_buffer (void)
{
  guint32 *pix = g_new (guint32, RW * RH);
  for (int i = 0; i < RW * RH; i++)
    pix[i] = 0xffffffff;
  return pix;
}

static void
test_raster_colour (void)
{
  g_autofree guint32 *pix = white_buffer ();
  PsPlotView v = { 0, 20, 0, 12, 0, 0, RW, RH };
  float x[3] = { 5.0f, 15.0f, 50.0f }, y[3] = { 6.0f, 3.0f, 6.0f };
  gint32 lab[3] = { 2, 5, 1 };
  PsScatterSpec spec = { .x = x, .y = y, .n = 3, .labels = lab, .alpha = 1, .radius = 2.5 };

  ps_scatter_rasterize (pix, RW, RH, RW * 4, &v, &spec, 1.0);

  for (int k = 0; k < 2; k++)
    {
      double px, py;
      ps_plot_view_to_pixel (&v, x[k], y[k], &px, &py);
      guint32 got = pix[(int) py * RW + (int) px];
      guint32 want = ps_color_to_argb32 (ps_palette_color (lab[k]));
      g_assert_cmphex (got, ==, want);
    }
  /* Far from every point the background is untouched, and the point
   * outside the view drew nothing. */
  g_assert_cmphex (pix[10 * RW + 10], ==, 0xffffffff);
  g_assert_cmphex (pix[100 * RW + 190], ==, 0xffffffff);
  gsize changed = 0;
  for (int i = 0; i < RW * RH; i++)
    changed += pix[i] != 0xffffffff;
  /* Two discs of radius 2.5: about 2 * pi * 2.5^2 ~ 40 pixels. */
  g_assert_cmpuint (changed, >=, 2 * 15);
  g_assert_cmpuint (changed, <=, 2 * 40);

  /* A dimmed point blends: lighter than the full colour, not hidden. */
  g_autofree guint32 *pix2 = white_buffer ();
  guint8 dim[3] = { 1, 0, 0 };
  spec.dimmed = dim;
  ps_scatter_rasterize (pix2, RW, RH, RW * 4, &v, &spec, 1.0);
  guint32 d = pix2[60 * RW + 50];
  guint32 full = ps_color_to_argb32 (ps_palette_color (2));
  g_assert_cmphex (d, !=, 0xffffffff);
  g_assert_cmphex (d, !=, full);
  g_assert_cmpuint ((d >> 8) & 0xff, >, (full >> 8) & 0xff);

  /* Scores map through the colormap: the top score gets the top colour. */
  g_autofree guint32 *pix3 = white_buffer ();
  float sc[3] = { 0, 1, 0.5f };
  PsScatterSpec s3 = { .x = x, .y = y, .n = 3, .scores = sc, .score_min = 0, .score_max = 1,
                       .alpha = 1, .radius = 2.5 };
  ps_scatter_rasterize (pix3, RW, RH, RW * 4, &v, &s3, 1.0);
  guint32 top = pix3[90 * RW + 150];
  PsColor want = ps_colormap_color (PS_COLORMAP_VIRIDIS, 1.0);
  g_assert_cmpint (abs ((int) ((top >> 8) & 0xff) - (int) lround (want.g * 255)), <=, 3);
}

/* Stamps cut by the clip rectangle take a scalar path, the rest a SIMD
 * path; both must put the same values in the pixels they share. */
static void
test_raster_clip_paths (void)
{
  PsRng rng;
  ps_rng_init (&rng, 13, 0);
  for (int trial = 0; trial < 50; trial++)
    {
      float x = 100 + ps_rng_uniform (&rng), y = 60 + ps_rng_uniform (&rng);
      gint32 lab = trial % 7;
      guint8 dim = trial % 2; /* both alphas */
      PsScatterSpec spec = { .x = &x, .y = &y, .n = 1, .labels = &lab, .dimmed = &dim,
                             .radius = 1.5 + trial % 4, .dim_alpha = 0.3 };
      PsPlotView full = { 0, RW, 0, RH, 0, 0, RW, RH };
      g_autofree guint32 *a = white_buffer ();
      g_autofree guint32 *b = white_buffer ();
      ps_scatter_rasterize (a, RW, RH, RW * 4, &full, &spec, 1.0);
      /* The same mapping, clipped to start one pixel left of the point. */
      PsPlotView clip = { 99, RW, 0, RH, 99, 0, RW - 99, RH };
      ps_scatter_rasterize (b, RW, RH, RW * 4, &clip, &spec, 1.0);
      for (int r = 0; r < RH; r++)
        for (int c = 0; c < RW; c++)
          {
            if (c < 99)
              g_assert_cmphex (b[r * RW + c], ==, 0xffffffff);
            else
              g_assert_cmphex (b[r * RW + c], ==, a[r * RW + c]);
          }
    }
}

/* Large sets are drawn by several threads in bands; the pixels must not
 * depend on how many. */
static void
test_raster_threads (void)
{
  gsize n = 60000;
  g_autofree float *x = g_new (float, n);
  g_autofree float *y = g_new (float, n);
  g_autofree gint32 *lab = g_new (gint32, n);
  g_autofree guint8 *dim = g_new (guint8, n);
  PsRng rng;
  ps_rng_init (&rng, 14, 0);
  for (gsize i = 0; i < n; i++)
    {
      x[i] = ps_rng_normal (&rng) * 2;
      y[i] = ps_rng_normal (&rng) * 2;
      lab[i] = i % 9;
      dim[i] = i % 3 == 0;
    }
  int W = 640, H = 400;
  PsPlotView v = { -6, 6, -6, 6, 10, 10, W - 20, H - 20 };
  PsScatterSpec spec = { .x = x, .y = y, .n = n, .labels = lab, .dimmed = dim };
  g_autofree guint32 *a = g_new0 (guint32, W * H);
  g_autofree guint32 *b = g_new0 (guint32, W * H);
  ps_plot_set_raster_threads (1);
  ps_scatter_rasterize (a, W, H, W * 4, &v, &spec, 1.0);
  ps_plot_set_raster_threads (3);
  ps_scatter_rasterize (b, W, H, W * 4, &v, &spec, 1.0);
  ps_plot_set_raster_threads (0);
  g_assert_cmpmem (a, W * H * 4, b, W * H * 4);
  /* Nothing outside the plot rectangle. */
  for (int c = 0; c < W; c++)
    g_assert_cmphex (a[5 * W + c], ==, 0);
}

/* ------------------------------------------------------------------ */
/* Point grid                                                           */
/* ------------------------------------------------------------------ */

static gssize
brute_nearest (const float *x, const float *y, gsize n, double qx, double qy,
               double sx, double sy, double r, double *best_d2)
{
  double best = r * r;
  gssize bi = -1;
  for (gsize i = 0; i < n; i++)
    {
      double dx = (x[i] - qx) * sx, dy = (y[i] - qy) * sy, d2 = dx * dx + dy * dy;
      if (d2 < best || (d2 == best && bi < 0))
        {
          best = d2;
          bi = i;
        }
    }
  *best_d2 = best;
  return bi;
}

static void
make_cloud (PsRng *rng, float *x, float *y, gsize n)
{
  for (gsize i = 0; i < n; i++)
    {
      /* Clusters plus a uniform background, and a few exact duplicates. */
      if (i % 3 == 0)
        {
          x[i] = ps_rng_uniform (rng) * 20 - 10;
          y[i] = ps_rng_uniform (rng) * 4 - 2;
        }
      else
        {
          x[i] = (i % 5) * 3 + ps_rng_normal (rng) * 0.5;
          y[i] = ps_rng_normal (rng) * 0.3;
        }
      if (i % 97 == 1)
        {
          x[i] = x[i - 1];
          y[i] = y[i - 1];
        }
    }
}

static void
test_grid_nearest (void)
{
  PsRng rng;
  ps_rng_init (&rng, 15, 0);
  gsize n = 5000;
  g_autofree float *x = g_new (float, n);
  g_autofree float *y = g_new (float, n);
  make_cloud (&rng, x, y, n);
  x[7] = NAN; /* never found */
  g_autoptr (PsPointGrid) grid = ps_point_grid_new (x, y, n);
  g_assert_cmpuint (ps_point_grid_get_n (grid), ==, n);

  for (int q = 0; q < 3000; q++)
    {
      double qx = ps_rng_uniform (&rng) * 26 - 13, qy = ps_rng_uniform (&rng) * 6 - 3;
      if (q % 10 == 0)
        {
          qx = x[q];
          qy = y[q];
        }
      double sx = 1, sy = 1, r = ps_rng_uniform (&rng) * 1.5;
      if (q % 2)
        {
          /* Pixel distances under an anisotropic view. */
          sx = 30 + ps_rng_uniform (&rng) * 50;
          sy = 100 + ps_rng_uniform (&rng) * 200;
          r = ps_rng_uniform (&rng) * 20;
        }
      if (q % 50 == 0)
        r = INFINITY;
      double bd2;
      gssize want = brute_nearest (x, y, n, qx, qy, sx, sy, r, &bd2);
      gssize got = ps_point_grid_nearest (grid, qx, qy, sx, sy, r);
      g_assert_cmpint (got, ==, want);
    }

  /* Through a view, in pixels. */
  PsPlotView v = { -10, 20, -3, 3, 0, 0, 900, 300 };
  double px, py;
  ps_plot_view_to_pixel (&v, x[123], y[123], &px, &py);
  gssize hit = ps_point_grid_nearest_pixel (grid, &v, px + 0.5, py - 0.5, 3);
  g_assert_cmpint (hit, >=, 0);
  double hx, hy;
  ps_plot_view_to_pixel (&v, x[hit], y[hit], &hx, &hy);
  g_assert_cmpfloat (hypot (hx - px - 0.5, hy - py + 0.5), <=, hypot (0.5, 0.5) + 1e-9);
  g_assert_cmpint (ps_point_grid_nearest_pixel (grid, &v, -500, -500, 5), ==, -1);

  /* An empty grid finds nothing. */
  g_autoptr (PsPointGrid) empty = ps_point_grid_new (NULL, NULL, 0);
  g_assert_cmpint (ps_point_grid_nearest (empty, 0, 0, 1, 1, 100), ==, -1);
}

static void
test_grid_rect_lasso (void)
{
  PsRng rng;
  ps_rng_init (&rng, 16, 0);
  gsize n = 4000;
  g_autofree float *x = g_new (float, n);
  g_autofree float *y = g_new (float, n);
  make_cloud (&rng, x, y, n);
  g_autoptr (PsPointGrid) grid = ps_point_grid_new (x, y, n);

  for (int q = 0; q < 200; q++)
    {
      double x0 = ps_rng_uniform (&rng) * 24 - 12, x1 = ps_rng_uniform (&rng) * 24 - 12;
      double y0 = ps_rng_uniform (&rng) * 5 - 2.5, y1 = ps_rng_uniform (&rng) * 5 - 2.5;
      gsize m;
      g_autofree guint32 *got = ps_point_grid_in_rect (grid, x0, y0, x1, y1, &m);
      gsize k = 0;
      for (gsize i = 0; i < n; i++)
        if (x[i] >= MIN (x0, x1) && x[i] <= MAX (x0, x1)
            && y[i] >= MIN (y0, y1) && y[i] <= MAX (y0, y1))
          {
            g_assert_cmpuint (k, <, m);
            g_assert_cmpuint (got[k], ==, i);
            k++;
          }
      g_assert_cmpuint (k, ==, m);
    }

  for (int q = 0; q < 100; q++)
    {
      /* A random star-shaped lasso (non-convex). */
      double cx = ps_rng_uniform (&rng) * 16 - 8, cy = ps_rng_uniform (&rng) * 2 - 1;
      gsize nv = 3 + ps_rng_below (&rng, 30);
      g_autofree double *poly = g_new (double, 2 * nv);
      for (gsize j = 0; j < nv; j++)
        {
          double ang = 2 * G_PI * j / nv, rr = 0.5 + ps_rng_uniform (&rng) * 4;
          poly[2 * j] = cx + rr * cos (ang);
          poly[2 * j + 1] = cy + rr * 0.5 * sin (ang);
        }
      gsize m;
      g_autofree guint32 *got = ps_point_grid_in_polygon (grid, poly, nv, &m);
      gsize k = 0;
      for (gsize i = 0; i < n; i++)
        if (ps_point_in_polygon (poly, nv, x[i], y[i]))
          {
            g_assert_cmpuint (k, <, m);
            g_assert_cmpuint (got[k], ==, i);
            k++;
          }
      g_assert_cmpuint (k, ==, m);
    }

  /* The polygon test itself on a known shape: an L. */
  double L[] = { 0, 0, 2, 0, 2, 1, 1, 1, 1, 2, 0, 2 };
  g_assert_true (ps_point_in_polygon (L, 6, 0.5, 0.5));
  g_assert_true (ps_point_in_polygon (L, 6, 0.5, 1.5));
  g_assert_true (ps_point_in_polygon (L, 6, 1.5, 0.5));
  g_assert_false (ps_point_in_polygon (L, 6, 1.5, 1.5));
  g_assert_false (ps_point_in_polygon (L, 6, -0.5, 0.5));
}

/* ------------------------------------------------------------------ */
/* Export                                                               */
/* ------------------------------------------------------------------ */

static PsFigure *
one_point_figure (void)
{
  PsFigure *fig = ps_figure_new ();
  static float x[1] = { 0.0f }, y[1] = { 0.0f };
  static gint32 lab[1] = { 3 };
  PsScatterSpec spec = { .x = x, .y = y, .n = 1, .labels = lab, .alpha = 1, .radius = 6 };
  ps_figure_add_scatter (fig, &spec);
  ps_figure_set_x_range (fig, -1, 1);
  ps_figure_set_y_range (fig, -1, 1);
  ps_figure_set_title (fig, "One point");
  ps_figure_set_x_label (fig, "x");
  ps_figure_set_y_label (fig, "y");
  const char *names[] = { "a", "b", "c", "d" };
  ps_figure_set_class_names (fig, names, 4);
  return fig;
}

static gchar *
read_all (const char *path, gsize *len)
{
  gchar *data = NULL;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_file_get_contents (path, &data, len, &error));
  g_assert_no_error (error);
  return data;
}

static void
test_export_png (void)
{
  g_autoptr (PsFigure) fig = one_point_figure ();
  g_autofree char *path = tmp_path ("fig.png");
  g_autoptr (GError) error = NULL;

  g_assert_true (ps_figure_export (fig, path, 400, 300, 2, &error));
  g_assert_no_error (error);

  gsize len;
  g_autofree gchar *data = read_all (path, &len);
  g_assert_cmpuint (len, >, 8);
  g_assert_cmpmem (data, 8, "\x89PNG\r\n\x1a\n", 8);

  cairo_surface_t *s = cairo_image_surface_create_from_png (path);
  g_assert_cmpint (cairo_surface_status (s), ==, CAIRO_STATUS_SUCCESS);
  g_assert_cmpint (cairo_image_surface_get_width (s), ==, 800);
  g_assert_cmpint (cairo_image_surface_get_height (s), ==, 600);

  /* The point's pixel has the class colour, a corner the background. */
  PsPlotView v;
  ps_figure_get_view (fig, 400, 300, &v);
  double px, py;
  ps_plot_view_to_pixel (&v, 0, 0, &px, &py);
  guint8 *pix = cairo_image_surface_get_data (s);
  int stride = cairo_image_surface_get_stride (s);
  guint32 at = *(guint32 *) (pix + (int) (py * 2) * stride + (int) (px * 2) * 4);
  g_assert_cmphex (at, ==, ps_color_to_argb32 (ps_palette_color (3)));
  guint32 corner = *(guint32 *) (pix + 2 * stride + 2 * 4);
  g_assert_cmphex (corner, ==, 0xffffffff);
  cairo_surface_destroy (s);
}

/* Two ARGB32 pixels equal within `tol` per channel (Cairo and our palette
 * round 8-bit channels differently). */
static gboolean
argb_close (guint32 a, guint32 b, int tol)
{
  for (int sh = 0; sh < 32; sh += 8)
    if (ABS ((int) ((a >> sh) & 0xff) - (int) ((b >> sh) & 0xff)) > tol)
      return FALSE;
  return TRUE;
}

/* A series with a single value (a metric evaluated once) is drawn as a dot,
 * and so is the mean of a one-point band. */
static void
test_single_point_curve (void)
{
  g_autoptr (PsFigure) fig = ps_figure_new ();
  const double x[1] = { 100 }, y[1] = { 0.9 };
  const double bx[3] = { 0, 50, 100 }, by[3] = { NAN, NAN, 0.5 }, bsd[3] = { 0, 0, 0 };
  PsColor red = { 0.9, 0.1, 0.1, 1 }, blue = { 0.1, 0.2, 0.9, 1 };
  ps_figure_add_curve (fig, "once", x, y, 1, red, 0);
  ps_figure_add_band (fig, "band", bx, by, bsd, 3, blue);
  ps_figure_set_x_range (fig, 0, 120);
  ps_figure_set_y_range (fig, 0, 1);
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, 400, 300);
  cairo_t *cr = cairo_create (s);
  ps_figure_render (fig, cr, 400, 300);
  cairo_destroy (cr);
  cairo_surface_flush (s);
  PsPlotView v;
  ps_figure_get_view (fig, 400, 300, &v);
  guint8 *pix = cairo_image_surface_get_data (s);
  int stride = cairo_image_surface_get_stride (s);
  double px, py;
  ps_plot_view_to_pixel (&v, 100, 0.9, &px, &py);
  guint32 at = *(guint32 *) (pix + (int) py * stride + (int) px * 4);
  g_assert_true (argb_close (at, ps_color_to_argb32 (red), 2));
  ps_plot_view_to_pixel (&v, 100, 0.5, &px, &py);
  at = *(guint32 *) (pix + (int) py * stride + (int) px * 4);
  g_assert_true (argb_close (at, ps_color_to_argb32 (blue), 2));
  cairo_surface_destroy (s);
}

static void
test_export_vector (void)
{
  g_autoptr (PsFigure) fig = one_point_figure ();
  g_autoptr (GError) error = NULL;
  gsize len;

  g_autofree char *svg = tmp_path ("fig.svg");
  g_assert_true (ps_figure_export (fig, svg, 400, 300, 1, &error));
  g_assert_no_error (error);
  g_autofree gchar *sdata = read_all (svg, &len);
  g_assert_true (g_str_has_prefix (sdata, "<?xml"));
  g_assert_nonnull (strstr (sdata, "<svg"));
  g_assert_nonnull (strstr (sdata, "</svg>"));

  g_autofree char *pdf = tmp_path ("FIG.PDF");
  g_assert_true (ps_figure_export (fig, pdf, 400, 300, 1, &error));
  g_assert_no_error (error);
  g_autofree gchar *pdata = read_all (pdf, &len);
  g_assert_cmpuint (len, >, 100);
  g_assert_cmpmem (pdata, 5, "%PDF-", 5);
}

static void
test_export_errors (void)
{
  g_autoptr (PsFigure) fig = one_point_figure ();
  GError *error = NULL;

  g_autofree char *bad = tmp_path ("fig.bmp");
  g_assert_false (ps_figure_export (fig, bad, 400, 300, 1, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "bmp"));
  g_clear_error (&error);
  g_assert_false (g_file_test (bad, G_FILE_TEST_EXISTS));

  g_autofree char *none = tmp_path ("noextension");
  g_assert_false (ps_figure_export (fig, none, 400, 300, 1, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_UNSUPPORTED);
  g_clear_error (&error);

  const char *kinds[] = { "png", "svg", "pdf" };
  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
    {
      g_autofree char *name = g_strdup_printf ("missing-dir/fig.%s", kinds[i]);
      g_autofree char *path = tmp_path (name);
      g_assert_false (ps_figure_export (fig, path, 400, 300, 1, &error));
      g_assert_error (error, PS_ERROR, PS_ERROR_IO);
      g_assert_nonnull (strstr (error->message, path));
      g_clear_error (&error);
    }

  g_autofree char *ok = tmp_path ("size.png");
  g_assert_false (ps_figure_export (fig, ok, 0, 300, 1, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_PARAM);
  g_clear_error (&error);
}

static void
test_export_svg_size (void)
{
  gsize n = 10000;
  g_autofree float *x = g_new (float, n);
  g_autofree float *y = g_new (float, n);
  g_autofree gint32 *lab = g_new (gint32, n);
  PsRng rng;
  ps_rng_init (&rng, 17, 0);
  for (gsize i = 0; i < n; i++)
    {
      x[i] = ps_rng_normal (&rng);
      y[i] = ps_rng_normal (&rng);
      lab[i] = i % 10;
    }
  g_autoptr (PsFigure) fig = ps_figure_new ();
  PsScatterSpec spec = { .x = x, .y = y, .n = n, .labels = lab };
  ps_figure_add_scatter (fig, &spec);
  ps_figure_set_title (fig, "10k points");
  g_autofree char *path = tmp_path ("big.svg");
  g_autoptr (GError) error = NULL;
  g_assert_true (ps_figure_export (fig, path, 900, 600, 1, &error));
  g_assert_no_error (error);
  GStatBuf st;
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_test_message ("SVG of %zu points: %lld bytes", n, (long long) st.st_size);
  g_assert_cmpint (st.st_size, <, 2 * 1024 * 1024);
  /* Every point is in the file: one move per point. */
  gsize len;
  g_autofree gchar *data = read_all (path, &len);
  gsize moves = 0;
  for (const char *p = data; (p = strstr (p, "M ")) != NULL; p += 2)
    moves++;
  g_assert_cmpuint (moves, >=, n);

  /* Far more points than a vector file should hold are embedded as one
   * image instead, so the file stays small. */
  gsize big = 250000;
  g_autofree float *bx = g_new (float, big);
  g_autofree float *by = g_new (float, big);
  for (gsize i = 0; i < big; i++)
    {
      bx[i] = ps_rng_normal (&rng);
      by[i] = ps_rng_normal (&rng);
    }
  g_autoptr (PsFigure) bfig = ps_figure_new ();
  PsScatterSpec bspec = { .x = bx, .y = by, .n = big };
  ps_figure_add_scatter (bfig, &bspec);
  const char *exts[] = { "svg", "pdf" };
  for (guint e = 0; e < G_N_ELEMENTS (exts); e++)
    {
      g_autofree char *name = g_strdup_printf ("huge.%s", exts[e]);
      g_autofree char *bpath = tmp_path (name);
      g_assert_true (ps_figure_export (bfig, bpath, 900, 600, 1, &error));
      g_assert_no_error (error);
      g_assert_cmpint (g_stat (bpath, &st), ==, 0);
      g_test_message ("%s of %zu points: %lld bytes", exts[e], big, (long long) st.st_size);
      g_assert_cmpint (st.st_size, <, 2 * 1024 * 1024);
    }
  g_autofree char *hpath = tmp_path ("huge.svg");
  g_autofree gchar *hdata = read_all (hpath, &len);
  g_assert_nonnull (strstr (hdata, "<image"));
}

/* Every layer kind on one figure, in both themes and all formats. */
static void
test_figure_all_layers (void)
{
  PsRng rng;
  ps_rng_init (&rng, 18, 0);
  float x[200], y[200], sc[200], u[200], vv[200], traj[3 * 10 * 2], img[8 * 8];
  gint32 lab[200];
  for (int i = 0; i < 200; i++)
    {
      x[i] = ps_rng_normal (&rng);
      y[i] = ps_rng_normal (&rng);
      sc[i] = ps_rng_uniform (&rng);
      u[i] = -y[i];
      vv[i] = x[i];
      lab[i] = i % 3;
    }
  for (int i = 0; i < 60; i++)
    traj[i] = ps_rng_normal (&rng);
  for (int i = 0; i < 64; i++)
    img[i] = i / 64.0f;
  gint32 field[16 * 16];
  float conf[16 * 16];
  for (int i = 0; i < 256; i++)
    {
      field[i] = (i % 16) / 6;
      conf[i] = (i % 7) / 6.0f;
    }
  double cov[4] = { 1, 0.5, 0.5, 2 };
  double cx[50], cy[50], sd[50];
  for (int i = 0; i < 50; i++)
    {
      cx[i] = i;
      cy[i] = exp (-i / 10.0) + 0.05 * ps_rng_normal (&rng);
      sd[i] = 0.1;
    }

  for (int theme = 0; theme < 2; theme++)
    {
      g_autoptr (PsFigure) fig = ps_figure_new ();
      ps_figure_set_theme (fig, theme ? PS_THEME_DARK : PS_THEME_LIGHT);
      ps_figure_add_regions (fig, 16, 16, -3, 3, -3, 3, field, conf, NULL, 0, theme);
      PsScatterSpec spec = { .x = x, .y = y, .n = 200, .scores = sc };
      ps_figure_add_scatter (fig, &spec);
      ps_figure_add_prototypes (fig, x, y, 3, lab, NULL);
      ps_figure_add_links (fig, x, y, x + 3, y + 3, sc, 10, (PsColor) { 0 });
      ps_figure_add_ellipse (fig, 0, 0, cov, 2, (PsColor) { 0 });
      ps_figure_add_quiver (fig, x, y, u, vv, 50, 0, (PsColor) { 0 });
      ps_figure_add_trajectories (fig, traj, 3, 10, NULL, (PsColor) { 0 }, 0.2);
      ps_figure_add_curve (fig, "curve", cx, cy, 50, (PsColor) { 0 }, 0.6);
      ps_figure_add_band (fig, "band", cx, cy, sd, 50, (PsColor) { 0 });
      ps_figure_add_histogram (fig, "hist", sc, 200, 10, 0, 0, TRUE, (PsColor) { 0 });
      ps_figure_add_vline (fig, 0.5, (PsColor) { 0 }, "thr", TRUE);
      ps_figure_add_image (fig, img, 8, 8, 1, 2, 1, 2, img, 8, 8, 0.5,
                           (double[]) { 1.2, 1.2, 1.6, 1.8 });
      ps_figure_set_colorbar (fig, PS_COLORMAP_VIRIDIS, 0, 1, "score");

      const char *exts[] = { "png", "svg", "pdf" };
      for (guint e = 0; e < 3; e++)
        {
          g_autofree char *name = g_strdup_printf ("all-%d.%s", theme, exts[e]);
          g_autofree char *path = tmp_path (name);
          g_autoptr (GError) error = NULL;
          g_assert_true (ps_figure_export (fig, path, 640, 480, 1, &error));
          g_assert_no_error (error);
        }
      /* The PNG is not blank. */
      g_autofree char *png = tmp_path (theme ? "all-1.png" : "all-0.png");
      cairo_surface_t *s = cairo_image_surface_create_from_png (png);
      g_assert_cmpint (cairo_surface_status (s), ==, CAIRO_STATUS_SUCCESS);
      guint32 *pix = (guint32 *) cairo_image_surface_get_data (s);
      gsize distinct = 0;
      for (int i = 1; i < 640 * 480; i++)
        distinct += pix[i] != pix[0];
      g_assert_cmpuint (distinct, >, 640 * 480 / 10);
      cairo_surface_destroy (s);
    }

  /* More classes than the legend can hold still render. */
  g_autoptr (PsFigure) many = ps_figure_new ();
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; i < 60; i++)
    g_ptr_array_add (names, g_strdup_printf ("class %d", i));
  ps_figure_set_class_names (many, (const char *const *) names->pdata, names->len);
  ps_figure_add_legend_star (many, "prototype", ps_palette_color (0));
  PsScatterSpec ms = { .x = x, .y = y, .n = 200, .labels = lab };
  ps_figure_add_scatter (many, &ms);
  g_autofree char *many_path = tmp_path ("many.png");
  g_assert_true (ps_figure_export (many, many_path, 400, 300, 1, NULL));

  /* Matrix heatmap and image grid on their own figures. */
  g_autoptr (PsFigure) mat = ps_figure_new ();
  ps_figure_add_matrix (mat, img, 8, 8, PS_COLORMAP_COOLWARM, 0, 0, "similarity");
  PsPlotView v;
  ps_figure_get_view (mat, 500, 400, &v);
  /* Row 0 is at the top. */
  g_assert_cmpfloat (v.y0, >, v.y1);
  g_autofree char *mpath = tmp_path ("matrix.png");
  g_assert_true (ps_figure_export (mat, mpath, 500, 400, 1, NULL));

  g_autoptr (PsFigure) grid = ps_figure_new ();
  float imgs[4 * 64];
  for (int i = 0; i < 4 * 64; i++)
    imgs[i] = (i % 64) / 64.0f;
  const char *caps[] = { "a", "b", NULL, "d" };
  ps_figure_add_image_grid (grid, imgs, 4, 8, 8, 2, caps, imgs);
  g_autofree char *gpath = tmp_path ("grid.svg");
  g_assert_true (ps_figure_export (grid, gpath, 300, 300, 1, NULL));
}

static void
test_csv (void)
{
  float x[3] = { 1.5f, -2.25f, 1e-7f }, y[3] = { 0, 3, 4 }, s[3] = { 0.5f, 0.25f, 1 };
  gint32 lab[3] = { 0, 2, -1 };
  g_autofree char *path = tmp_path ("points.csv");
  g_autoptr (GError) error = NULL;
  g_assert_true (ps_points_write_csv (path, x, y, lab, s, 3, &error));
  g_assert_no_error (error);
  gsize len;
  g_autofree gchar *data = read_all (path, &len);
  g_auto (GStrv) lines = g_strsplit (data, "\n", -1);
  g_assert_cmpstr (lines[0], ==, "x,y,label,score");
  g_assert_cmpuint (g_strv_length (lines), ==, 5); /* header, 3 rows, empty tail */
  for (int i = 0; i < 3; i++)
    {
      g_auto (GStrv) f = g_strsplit (lines[i + 1], ",", -1);
      g_assert_cmpuint (g_strv_length (f), ==, 4);
      g_assert_cmpfloat ((float) g_ascii_strtod (f[0], NULL), ==, x[i]);
      g_assert_cmpfloat ((float) g_ascii_strtod (f[1], NULL), ==, y[i]);
      g_assert_cmpint (atoi (f[2]), ==, lab[i]);
      g_assert_cmpfloat ((float) g_ascii_strtod (f[3], NULL), ==, s[i]);
    }

  g_assert_true (ps_points_write_csv (path, x, y, NULL, NULL, 3, &error));
  g_autofree gchar *plain = read_all (path, &len);
  g_assert_true (g_str_has_prefix (plain, "x,y\n1.5,0\n"));

  g_autofree char *bad = tmp_path ("no-dir/points.csv");
  g_assert_false (ps_points_write_csv (bad, x, y, NULL, NULL, 3, &error));
  g_assert_error (error, PS_ERROR, PS_ERROR_IO);
}

/* ------------------------------------------------------------------ */
/* Smoothing                                                            */
/* ------------------------------------------------------------------ */

static void
test_smooth (void)
{
  double in[100], out[100];
  for (int i = 0; i < 100; i++)
    in[i] = 3.25;
  for (double w = 0; w < 1; w += 0.15)
    {
      ps_smooth_ema (out, in, 100, w);
      for (int i = 0; i < 100; i++)
        g_assert_cmpfloat (fabs (out[i] - 3.25), <, 1e-12);
    }

  PsRng rng;
  ps_rng_init (&rng, 19, 0);
  for (int i = 0; i < 100; i++)
    in[i] = ps_rng_normal (&rng) + i * 0.1;
  ps_smooth_ema (out, in, 100, 0.9);
  /* Debiased: the first value is the raw first value. */
  g_assert_cmpfloat (out[0], ==, in[0]);
  /* The second is the weighted mean of the first two. */
  g_assert_cmpfloat (fabs (out[1] - (0.9 * 0.1 * in[0] + 0.1 * in[1]) / (1 - 0.81)), <, 1e-12);
  /* Smoothing lowers the variance of the differences. */
  double rv = 0, sv = 0;
  for (int i = 1; i < 100; i++)
    {
      rv += (in[i] - in[i - 1]) * (in[i] - in[i - 1]);
      sv += (out[i] - out[i - 1]) * (out[i] - out[i - 1]);
    }
  g_assert_cmpfloat (sv, <, rv / 4);

  /* Weight 0 is the identity, and works in place. */
  double copy[100];
  memcpy (copy, in, sizeof in);
  ps_smooth_ema (in, in, 100, 0);
  g_assert_cmpmem (in, sizeof in, copy, sizeof copy);

  /* NaNs are skipped: the running value carries over them. */
  double gap[4] = { 1, NAN, 1, 1 }, g2[4];
  ps_smooth_ema (g2, gap, 4, 0.5);
  g_assert_cmpfloat (g2[0], ==, 1);
  g_assert_cmpfloat (fabs (g2[1] - 1), <, 1e-12);
  g_assert_cmpfloat (fabs (g2[3] - 1), <, 1e-12);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_autoptr (GError) error = NULL;
  tmp_dir = g_dir_make_tmp ("test-ui-plot-XXXXXX", &error);
  g_assert_no_error (error);

  g_test_add_func ("/plot/ticks/nice", test_ticks_nice);
  g_test_add_func ("/plot/ticks/format", test_ticks_format);
  g_test_add_func ("/plot/view/roundtrip", test_view_roundtrip);
  g_test_add_func ("/plot/palette", test_palette);
  g_test_add_func ("/plot/raster/colour", test_raster_colour);
  g_test_add_func ("/plot/raster/clip-paths", test_raster_clip_paths);
  g_test_add_func ("/plot/raster/threads", test_raster_threads);
  g_test_add_func ("/plot/grid/nearest", test_grid_nearest);
  g_test_add_func ("/plot/grid/rect-lasso", test_grid_rect_lasso);
  g_test_add_func ("/plot/export/png", test_export_png);
  g_test_add_func ("/plot/export/vector", test_export_vector);
  g_test_add_func ("/plot/export/errors", test_export_errors);
  g_test_add_func ("/plot/export/svg-size", test_export_svg_size);
  g_test_add_func ("/plot/figure/all-layers", test_figure_all_layers);
  g_test_add_func ("/plot/csv", test_csv);
  g_test_add_func ("/plot/smooth", test_smooth);
  g_test_add_func ("/plot/single-point-curve", test_single_point_curve);

  int ret = g_test_run ();

  /* Remove what the tests wrote. */
  GDir *dir = g_dir_open (tmp_dir, 0, NULL);
  if (dir != NULL)
    {
      const char *name;
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *p = g_build_filename (tmp_dir, name, NULL);
          g_unlink (p);
        }
      g_dir_close (dir);
    }
  g_rmdir (tmp_dir);
  g_free (tmp_dir);
  return ret;
}
