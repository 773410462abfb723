/* ps-kmeans.h: Lloyd's k-means from given starting centres.
 *
 * ps_kmeans (ps-eval.h) seeds with k-means++ and runs this same engine.
 * The engine gives the assignments of plain Lloyd iterations (every point
 * to its nearest centre, every centre to the mean of its points) but skips
 * most distance computations with Hamerly's bounds: an upper bound on the
 * distance to the assigned centre and a lower bound on the distance to any
 * other centre, both moved by how far the centres moved.  A point whose
 * bounds cannot decide is measured against every centre.  Stopping follows
 * scikit-learn's KMeans(algorithm="lloyd"): stop when no label changed, or
 * when the summed squared centre shift is at most tol times the mean
 * per-feature variance, or after max_iter iterations; without the first
 * kind of stop the labels are recomputed for the final centres.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* centers [k, d]: the start on entry, the final centres on return.
 * assign [n] (may be NULL) receives the labels and n_iter (may be NULL) the
 * iterations run.  Rows are split over ps_blas_get_threads () threads.
 * Returns the inertia (sum of squared distances to the assigned centre,
 * computed exactly in the end), or a negative value with an error for bad
 * arguments or non-finite data.  An empty cluster takes the point farthest
 * from its centre, as scikit-learn relocates them. */
double ps_kmeans_from_centres (const float *x, guint n, guint d, guint k,
                               guint max_iter, double tol,
                               float *centers, gint32 *assign, guint *n_iter,
                               GError **error);

/* The same iterations as a plain loop in double precision with every
 * distance computed (no bounds, one thread): the test oracle. */
double ps_kmeans_from_centres_ref (const float *x, guint n, guint d, guint k,
                                   guint max_iter, double tol,
                                   float *centers, gint32 *assign, guint *n_iter);

G_END_DECLS
