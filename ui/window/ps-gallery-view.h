/* ps-gallery-view.h: the prototype gallery and this-looks-like-that explanations of part-prototype runs.
 *
 * Scaffolding: the window lists this view (stack page "prototypes") only when
 * ps_gallery_view_set_snapshot() returns TRUE for the current run's snapshot.
 */
#pragma once

#include <gtk/gtk.h>

#include "ps-store.h"

G_BEGIN_DECLS

#define PS_TYPE_GALLERY_VIEW (ps_gallery_view_get_type ())
G_DECLARE_FINAL_TYPE (PsGalleryView, ps_gallery_view, PS, GALLERY_VIEW, GtkWidget)

GtkWidget *ps_gallery_view_new          (void);
/* Shows a snapshot (PsArray items, borrowed) of run `run` of `store`
 * (borrowed; may be NULL).  Returns FALSE (and clears the view) when the
 * arrays lack what the view needs. */
gboolean   ps_gallery_view_set_snapshot (PsGalleryView *self, PsStore *store, gint64 run,
                                     GPtrArray *arrays);
/* Writes what the view shows to `path` (.png at `scale`, .svg, .pdf). */
gboolean   ps_gallery_view_export       (PsGalleryView *self, const char *path, double scale,
                                     GError **error);

G_END_DECLS
