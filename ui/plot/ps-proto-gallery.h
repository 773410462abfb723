/* ps-proto-gallery.h: the prototypes of a part-prototype run, read from its
 * snapshot and drawn with Cairo (no GTK): a card per prototype, the
 * selected prototype larger, training-image thumbnails.
 *
 * Reads `prototype_images` f32 [K, H, W] and `prototype_labels` i32 [K]
 * (required), and when present `prototype_kind`, `prototype_source`,
 * `prototype_box`, `prototype_weight`, `prototype_topk` (with
 * `prototype_topk_box` i32 [K, T, 4], where each neighbour matches),
 * `prototype_purity`, `prototype_pruned` (struck through), `prototype_sigma` (Prob-PSENN) and `because_global`.  Images become Cairo surfaces once: the prototypes'
 * when the gallery is made, a training image the first time it is drawn.
 * The window's Prototypes page draws its cards with this.
 */
#pragma once

#include <cairo.h>
#include <glib.h>

#include "ps-array.h"
#include "ps-dataset.h"

G_BEGIN_DECLS

/* A card's size in user units. */
#define PS_PROTO_CARD_WIDTH 108
#define PS_PROTO_CARD_HEIGHT 166
/* The detail drawing's height. */
#define PS_PROTO_DETAIL_HEIGHT 212

typedef struct _PsProtoGallery PsProtoGallery;

/* The prototypes of a snapshot (PsArray items; the arrays are referenced),
 * or NULL when the snapshot has none (another method). */
PsProtoGallery *ps_proto_gallery_new  (GPtrArray *arrays);
void            ps_proto_gallery_free (PsProtoGallery *g);

/* The run's dataset (referenced; NULL drops it): thumbnails of the nearest
 * training images and class names. */
void        ps_proto_gallery_set_dataset (PsProtoGallery *g, PsDataset *ds);

int         ps_proto_gallery_get_n       (PsProtoGallery *g);
int         ps_proto_gallery_get_n_classes (PsProtoGallery *g);
int         ps_proto_gallery_get_class   (PsProtoGallery *g, int k);
/* 0 plain (ProtoPNet) or trivial (ST-ProtoPNet), 1 support. */
int         ps_proto_gallery_get_kind    (PsProtoGallery *g, int k);
/* TRUE when some prototype is of the support kind (two banks). */
gboolean    ps_proto_gallery_has_banks   (PsProtoGallery *g);
/* Prototypes already pushed onto training patches. */
int         ps_proto_gallery_get_n_pushed (PsProtoGallery *g);
/* The snapshot's `because_global` [K, 6] (borrowed), or NULL. */
const PsArray *ps_proto_gallery_get_because (PsProtoGallery *g);
/* The class's name from the dataset, else its number, in buf. */
const char *ps_proto_gallery_class_name  (PsProtoGallery *g, int c, char *buf, gsize n);

/* "ProtoPNet · 30 prototypes for 10 classes", with the banks of
 * ST-ProtoPNet and "not pushed yet" when so.  Free with g_free(). */
char       *ps_proto_gallery_summary     (PsProtoGallery *g, const char *method_title);

/* The snapshot's test rows (`sample_index` with `split` test, all rows
 * without `split`), those whose `predictions` differ from their `labels`
 * first (*n_misclassified of them).  A GArray of gint32. */
GArray     *ps_proto_gallery_test_rows   (GPtrArray *arrays, guint *n_misclassified);

/* Card of prototype k in (0, 0, w, h): its source patch boxed on its
 * training image under a strip of its class colour, "#k w 1.23", and its
 * ten nearest training images.  `fg` is the theme's text colour. */
void        ps_proto_gallery_draw_card   (PsProtoGallery *g, cairo_t *cr, int k, double w,
                                          double h, gboolean selected, const double fg[3]);
/* Prototype k larger: its image, class, kind, weight, source, "because"
 * bars and its nearest training images (green: its class, red: another). */
void        ps_proto_gallery_draw_detail (PsProtoGallery *g, cairo_t *cr, int k, double w,
                                          double h, const double fg[3]);
/* Dataset row `row` as a square thumbnail (grey when there is no dataset). */
void        ps_proto_gallery_draw_thumb  (PsProtoGallery *g, cairo_t *cr, int row, double x,
                                          double y, double size);

/* Every card on a white page (by kind, then a row per class; as wide as
 * the largest class needs, at most 1000 units) to `path`: .png (at `scale`), .svg or .pdf.  `title` may be NULL.
 * Unknown extensions and write failures are PS_ERROR errors. */
gboolean    ps_proto_gallery_write       (PsProtoGallery *g, const char *path, const char *title,
                                          double scale, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PsProtoGallery, ps_proto_gallery_free)

G_END_DECLS
