/* ps-gallery-view.h: the prototype gallery and this-looks-like-that explanations of part-prototype runs.
 *
 * The window lists this view (stack page "prototypes") only when
 * ps_gallery_view_set_snapshot() returns TRUE for the current run's
 * snapshot: one with `prototype_images` and `prototype_labels` (protopnet,
 * stprotopnet, probpsenn).
 *
 * Left, the gallery: a card per prototype (its source patch boxed on its
 * training image, weight, nearest training images), grouped by kind
 * (trivial / support) and class; clicking a card selects the prototype and
 * shows it larger below.  Right, the explanation of one image: the run's
 * model is rebuilt from its last checkpoint on a worker thread, and each
 * explanation is computed on a worker thread too, then drawn with
 * ui/plot/ps-explain-sheet (the sheet the CLI and the export write).
 */
#pragma once

#include <gtk/gtk.h>

#include "ps-method.h"
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
/* Writes the explanation sheet shown to `path` (.png at `scale`, .svg,
 * .pdf), with the sanity heatmaps when the switch is on; the gallery of
 * prototypes while there is no explanation; an error without prototypes. */
gboolean   ps_gallery_view_export       (PsGalleryView *self, const char *path, double scale,
                                         GError **error);

/* The number of prototype cards in the gallery. */
guint      ps_gallery_view_get_n_cards  (PsGalleryView *self);
/* Selects prototype `k` (-1: none), as a click on its card does. */
void       ps_gallery_view_select_prototype (PsGalleryView *self, int k);
int        ps_gallery_view_get_selected_prototype (PsGalleryView *self);
/* Asks for the explanation of dataset row `row` (as the sample spin button
 * does); it arrives asynchronously.  FALSE when there is no model (yet). */
gboolean   ps_gallery_view_explain_sample (PsGalleryView *self, int row);
/* The Random and Random Misclassified buttons: explains a random test row
 * of the snapshot (one the model got wrong).  FALSE when there is none or
 * no model. */
gboolean   ps_gallery_view_pick_random  (PsGalleryView *self, gboolean misclassified);
/* TRUE once the run's model has been rebuilt (explanations can be asked). */
gboolean   ps_gallery_view_has_model    (PsGalleryView *self);
/* The explanation shown (borrowed), or NULL; and whether one is being
 * computed. */
PsExplanation *ps_gallery_view_get_explanation (PsGalleryView *self);
gboolean   ps_gallery_view_is_busy      (PsGalleryView *self);
/* The sentence under the sheet: the points of the top prototypes, the rest,
 * their sum and the model's logit. */
const char *ps_gallery_view_get_points_text (PsGalleryView *self);
/* The sanity switch. */
void       ps_gallery_view_set_sanity   (PsGalleryView *self, gboolean on);
/* Widgets, for tests and screenshots. */
GtkWidget *ps_gallery_view_get_sheet_area (PsGalleryView *self);
GtkWidget *ps_gallery_view_get_card     (PsGalleryView *self, int k);

G_END_DECLS
