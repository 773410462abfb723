/* ps-point-grid.h: a uniform grid over 2-D points for hit testing.
 *
 * Built once per point set in data space (a counting sort, O(n)); answers
 * "which point is nearest to here within r" in O(1) on average, and which
 * points lie inside a rectangle or a lasso polygon.  Distances may be
 * measured in pixels through per-axis scales, since a plot usually
 * stretches x and y differently.
 */
#pragma once

#include <glib.h>

#include "ps-plot.h"

G_BEGIN_DECLS

typedef struct _PsPointGrid PsPointGrid;

/* Copies the coordinates.  Non-finite points are never found. */
PsPointGrid *ps_point_grid_new  (const float *x, const float *y, gsize n);
void         ps_point_grid_free (PsPointGrid *grid);
gsize        ps_point_grid_get_n (const PsPointGrid *grid);

/* Index of the point nearest to (x, y) whose distance
 * sqrt((dx*sx)^2 + (dy*sy)^2) is at most `radius`, or -1.  Use sx = sy = 1
 * for data-space distances or the view's pixels-per-unit for pixels. */
gssize ps_point_grid_nearest (const PsPointGrid *grid, double x, double y,
                              double sx, double sy, double radius);

/* Nearest point to the pixel (px, py) of `view`, within radius_px pixels. */
gssize ps_point_grid_nearest_pixel (const PsPointGrid *grid, const PsPlotView *view,
                                    double px, double py, double radius_px);

/* Indices (ascending, newly allocated, g_free) of the points inside the
 * data rectangle spanned by the two corners (any order), bounds inclusive. */
guint32 *ps_point_grid_in_rect (const PsPointGrid *grid, double x0, double y0,
                                double x1, double y1, gsize *n_out);

/* Indices (ascending, g_free) of the points inside the polygon
 * poly[n_vertices][2] (data space, implicitly closed, even-odd rule). */
guint32 *ps_point_grid_in_polygon (const PsPointGrid *grid, const double *poly,
                                   gsize n_vertices, gsize *n_out);

/* Even-odd point-in-polygon test used by the lasso (exposed for tests). */
gboolean ps_point_in_polygon (const double *poly, gsize n_vertices, double x, double y);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PsPointGrid, ps_point_grid_free)

G_END_DECLS
