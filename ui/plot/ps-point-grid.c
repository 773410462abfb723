/* ps-point-grid.c: uniform-grid hit testing over 2-D points.
 *
 * The grid is a counting sort of the points by cell: `start` holds each
 * cell's first slot in `idx`, so a cell's points are contiguous and the
 * whole structure is three flat arrays.  About two points per cell keeps a
 * hover query to a handful of cells and distance checks.
 */
#define G_LOG_DOMAIN "ps-plot"

#include <math.h>
#include <stdlib.h>

#include "ps-point-grid.h"

#define POINTS_PER_CELL 2.0
#define MAX_CELLS_PER_AXIS 4096

struct _PsPointGrid
{
  gsize n;
  float *x, *y;        /* [n], copies */
  double x0, y0;       /* grid origin */
  double inv_cw, inv_ch; /* cells per data unit */
  int nx, ny;
  guint32 *start;      /* [nx*ny + 1] */
  guint32 *idx;        /* [n_valid] point indices sorted by cell */
};

static inline int
cell_clamp (double f, int n)
{
  /* Clamp in double first: f may be huge or infinite for wide queries. */
  if (!(f > 0))
    return 0;
  if (f >= n - 1)
    return n - 1;
  return (int) f;
}

static inline int
cell_x (const PsPointGrid *g, double x)
{
  return cell_clamp ((x - g->x0) * g->inv_cw, g->nx);
}

static inline int
cell_y (const PsPointGrid *g, double y)
{
  return cell_clamp ((y - g->y0) * g->inv_ch, g->ny);
}

PsPointGrid *
ps_point_grid_new (const float *x, const float *y, gsize n)
{
  g_return_val_if_fail (n == 0 || (x != NULL && y != NULL), NULL);
  g_return_val_if_fail (n < G_MAXUINT32, NULL);

  PsPointGrid *g = g_new0 (PsPointGrid, 1);
  g->n = n;
  g->x = g_memdup2 (x, n * sizeof (float));
  g->y = g_memdup2 (y, n * sizeof (float));

  double ax = INFINITY, bx = -INFINITY, ay = INFINITY, by = -INFINITY;
  gsize valid = 0;
  for (gsize i = 0; i < n; i++)
    if (isfinite (x[i]) && isfinite (y[i]))
      {
        ax = MIN (ax, x[i]);
        bx = MAX (bx, x[i]);
        ay = MIN (ay, y[i]);
        by = MAX (by, y[i]);
        valid++;
      }
  if (valid == 0)
    {
      ax = ay = 0;
      bx = by = 1;
    }
  double w = MAX (bx - ax, 1e-12), h = MAX (by - ay, 1e-12);
  /* Square-ish cells: split the cell budget by the aspect ratio. */
  double cells = MAX (1.0, valid / POINTS_PER_CELL);
  double fnx = sqrt (cells * w / h);
  g->nx = CLAMP ((int) ceil (fnx), 1, MAX_CELLS_PER_AXIS);
  g->ny = CLAMP ((int) ceil (cells / g->nx), 1, MAX_CELLS_PER_AXIS);
  g->x0 = ax;
  g->y0 = ay;
  g->inv_cw = g->nx / w;
  g->inv_ch = g->ny / h;

  gsize nc = (gsize) g->nx * g->ny;
  g->start = g_new0 (guint32, nc + 1);
  g->idx = g_new (guint32, MAX (valid, 1));
  g_autofree guint32 *cell = g_new (guint32, MAX (n, 1));
  for (gsize i = 0; i < n; i++)
    {
      if (!(isfinite (x[i]) && isfinite (y[i])))
        {
          cell[i] = G_MAXUINT32;
          continue;
        }
      cell[i] = (guint32) cell_y (g, y[i]) * g->nx + cell_x (g, x[i]);
      g->start[cell[i] + 1]++;
    }
  for (gsize c = 0; c < nc; c++)
    g->start[c + 1] += g->start[c];
  g_autofree guint32 *fill = g_memdup2 (g->start, nc * sizeof (guint32));
  for (gsize i = 0; i < n; i++)
    if (cell[i] != G_MAXUINT32)
      g->idx[fill[cell[i]]++] = (guint32) i;
  return g;
}

void
ps_point_grid_free (PsPointGrid *g)
{
  if (g == NULL)
    return;
  g_free (g->x);
  g_free (g->y);
  g_free (g->start);
  g_free (g->idx);
  g_free (g);
}

gsize
ps_point_grid_get_n (const PsPointGrid *g)
{
  g_return_val_if_fail (g != NULL, 0);
  return g->n;
}

gssize
ps_point_grid_nearest (const PsPointGrid *g, double x, double y,
                       double sx, double sy, double radius)
{
  g_return_val_if_fail (g != NULL, -1);
  g_return_val_if_fail (sx > 0 && sy > 0, -1);

  if (g->n == 0 || !(radius >= 0) || !isfinite (x) || !isfinite (y))
    return -1;
  double rx = radius / sx, ry = radius / sy;
  int cx0 = cell_x (g, x - rx), cx1 = cell_x (g, x + rx);
  int cy0 = cell_y (g, y - ry), cy1 = cell_y (g, y + ry);
  double best = radius * radius;
  gssize best_i = -1;

  for (int cy = cy0; cy <= cy1; cy++)
    for (int cx = cx0; cx <= cx1; cx++)
      {
        gsize c = (gsize) cy * g->nx + cx;
        for (guint32 j = g->start[c]; j < g->start[c + 1]; j++)
          {
            guint32 i = g->idx[j];
            double dx = (g->x[i] - x) * sx, dy = (g->y[i] - y) * sy;
            double d2 = dx * dx + dy * dy;
            /* Ties go to the lower index so the answer is deterministic. */
            if (d2 < best || (d2 == best && (best_i < 0 || (gssize) i < best_i)))
              {
                best = d2;
                best_i = i;
              }
          }
      }
  return best_i;
}

gssize
ps_point_grid_nearest_pixel (const PsPointGrid *g, const PsPlotView *view,
                             double px, double py, double radius_px)
{
  g_return_val_if_fail (g != NULL && view != NULL, -1);
  double x, y, sx, sy;
  ps_plot_view_to_data (view, px, py, &x, &y);
  ps_plot_view_scale (view, &sx, &sy);
  return ps_point_grid_nearest (g, x, y, sx, sy, radius_px);
}

static int
cmp_u32 (const void *a, const void *b)
{
  guint32 x = *(const guint32 *) a, y = *(const guint32 *) b;
  return x < y ? -1 : x > y;
}

typedef gboolean (*Accept) (const PsPointGrid *g, guint32 i, gconstpointer data);

static guint32 *
collect (const PsPointGrid *g, double x0, double y0, double x1, double y1,
         Accept accept, gconstpointer data, gsize *n_out)
{
  /* Sized so the returned block is never NULL, even when empty. */
  GArray *out = g_array_sized_new (FALSE, FALSE, sizeof (guint32), 16);
  if (g->n > 0 && x0 <= x1 && y0 <= y1)
    {
      int cx0 = cell_x (g, x0), cx1 = cell_x (g, x1);
      int cy0 = cell_y (g, y0), cy1 = cell_y (g, y1);
      for (int cy = cy0; cy <= cy1; cy++)
        for (int cx = cx0; cx <= cx1; cx++)
          {
            gsize c = (gsize) cy * g->nx + cx;
            for (guint32 j = g->start[c]; j < g->start[c + 1]; j++)
              {
                guint32 i = g->idx[j];
                if (g->x[i] >= x0 && g->x[i] <= x1 && g->y[i] >= y0 && g->y[i] <= y1
                    && (accept == NULL || accept (g, i, data)))
                  g_array_append_val (out, i);
              }
          }
    }
  qsort (out->data, out->len, sizeof (guint32), cmp_u32);
  *n_out = out->len;
  return (guint32 *) g_array_free (out, FALSE);
}

guint32 *
ps_point_grid_in_rect (const PsPointGrid *g, double x0, double y0, double x1, double y1,
                       gsize *n_out)
{
  g_return_val_if_fail (g != NULL && n_out != NULL, NULL);
  return collect (g, MIN (x0, x1), MIN (y0, y1), MAX (x0, x1), MAX (y0, y1),
                  NULL, NULL, n_out);
}

gboolean
ps_point_in_polygon (const double *poly, gsize nv, double x, double y)
{
  gboolean inside = FALSE;
  for (gsize i = 0, j = nv - 1; i < nv; j = i++)
    {
      double xi = poly[2 * i], yi = poly[2 * i + 1];
      double xj = poly[2 * j], yj = poly[2 * j + 1];
      /* Half-open in y so a vertex on the ray is counted once. */
      if ((yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi)
        inside = !inside;
    }
  return inside;
}

typedef struct
{
  const double *poly;
  gsize nv;
} PolyData;

static gboolean
accept_poly (const PsPointGrid *g, guint32 i, gconstpointer data)
{
  const PolyData *pd = data;
  return ps_point_in_polygon (pd->poly, pd->nv, g->x[i], g->y[i]);
}

guint32 *
ps_point_grid_in_polygon (const PsPointGrid *g, const double *poly, gsize nv,
                          gsize *n_out)
{
  g_return_val_if_fail (g != NULL && n_out != NULL, NULL);
  g_return_val_if_fail (nv == 0 || poly != NULL, NULL);

  if (nv < 3)
    {
      *n_out = 0;
      return g_new0 (guint32, 1);
    }
  double ax = INFINITY, bx = -INFINITY, ay = INFINITY, by = -INFINITY;
  for (gsize i = 0; i < nv; i++)
    {
      ax = MIN (ax, poly[2 * i]);
      bx = MAX (bx, poly[2 * i]);
      ay = MIN (ay, poly[2 * i + 1]);
      by = MAX (by, poly[2 * i + 1]);
    }
  PolyData pd = { poly, nv };
  return collect (g, ax, ay, bx, by, accept_poly, &pd, n_out);
}
