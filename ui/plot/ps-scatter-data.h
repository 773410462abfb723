/* ps-scatter-data.h: reading snapshot arrays for the scatter, and the
 * small two-component PCA it projects embeddings with. */
#pragma once

#include <glib.h>

#include "ps-array.h"

G_BEGIN_DECLS

/* The array of `kind` in a snapshot (borrowed), or NULL. */
PsArray *ps_snapshot_find     (GPtrArray *arrays, const char *kind);
/* Copies of a 1-D array of n values converted to i32 / f32 (g_free), or
 * NULL when absent or of another length. */
gint32  *ps_snapshot_copy_i32 (PsArray *a, gsize n);
float   *ps_snapshot_copy_f32 (PsArray *a, gsize n);
/* The top two principal axes of x [n, d]: mean[d] and axes[2][d]. */
void     ps_pca2_fit   (const float *x, gsize n, gsize d, double *mean, double *axes);
/* ox[i], oy[i] = the projection of row i of x [n, d] on the two axes. */
void     ps_pca2_apply (const double *mean, const double *axes, gsize d, const float *x,
                        gsize n, float *ox, float *oy);

G_END_DECLS
