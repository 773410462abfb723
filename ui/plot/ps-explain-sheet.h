/* ps-explain-sheet.h: the "this looks like that" explanation sheet of one
 * image, drawn with Cairo (no GTK).
 *
 * One drawing for `protoscope-cli explain --out`, the window's Prototypes
 * page and its export: the image with its points per class (the decision),
 * then one row per top prototype with the image's similarity heatmap and
 * matching box, the prototype's source patch on its training image,
 * optionally the sanity heatmaps (randomised last convolution, random
 * attribution), similarity x weight = points and the "because" bars (how
 * much the similarity drops when the image changes in one way: locally for
 * this image, globally over the prototype's nearest training images).
 *
 * It reads the arrays a part-prototype method puts in its explanation
 * (`image`, `heatmaps`, `boxes`, `source_images`, `source_boxes`,
 * `prototype_kind`, `heatmaps_random_conv`, `heatmaps_random`,
 * `class_points`, `logits`, `because_local`, `similarity_std`); any of
 * them may be missing and its part is left out.
 */
#pragma once

#include <cairo.h>
#include <glib.h>

#include "ps-array.h"
#include "ps-dataset.h"
#include "ps-method.h"

G_BEGIN_DECLS

/* The width the CLI and the window's export use (user units; a PNG has
 * width * scale pixels). */
#define PS_EXPLAIN_SHEET_WIDTH 1000.0

typedef struct
{
  const char *title;              /* first line, or NULL */
  guint max_prototypes;           /* rows of prototypes; 0: 5 */
  gboolean sanity;                /* add the sanity heatmaps when the explanation has them */
  const PsArray *because_global;  /* the snapshot's `because_global` [K, 6], or NULL */
  int highlight;                  /* prototype index whose row is framed, or -1 */
} PsExplainSheetOptions;

/* Defaults: no title, 5 prototypes, sanity heatmaps on, nothing highlighted. */
void     ps_explain_sheet_options_init (PsExplainSheetOptions *opts);

/* The height the sheet needs at `width` (it lays itself out to the width). */
double   ps_explain_sheet_get_height (PsExplanation *ex, PsDataset *ds,
                                      const PsExplainSheetOptions *opts, double width);

/* Draws the sheet into (0, 0, width, height) of `cr` on a white page.
 * `ds` (may be NULL) gives class names and, when the explanation lacks
 * `image`, the image itself. */
void     ps_explain_sheet_draw (cairo_t *cr, double width, double height, PsExplanation *ex,
                                PsDataset *ds, const PsExplainSheetOptions *opts);

/* Writes the sheet, PS_EXPLAIN_SHEET_WIDTH wide, to `path`: .png (scaled
 * by `scale`), .svg or .pdf.  Other extensions and write failures are
 * PS_ERROR errors naming the path. */
gboolean ps_explain_sheet_write (const char *path, PsExplanation *ex, PsDataset *ds,
                                 const PsExplainSheetOptions *opts, double scale,
                                 GError **error);

/* "Class 3 gets +3.00 +2.55 ... from the 5 prototypes shown, -23.88 from
 * the other 25: -17.24 points = logit -17.24 (p = 0.48)." for the first
 * `n_shown` evidence rows of `n_prototypes` (the logit when the
 * explanation has `logits`).  NULL without `class_points`.  Free with
 * g_free(). */
char    *ps_explain_sheet_points_sentence (PsExplanation *ex, PsDataset *ds, int n_prototypes,
                                           guint n_shown);

/* The explanation's array `kind` (borrowed), or NULL. */
const PsArray *ps_explain_sheet_find_array (PsExplanation *ex, const char *kind);

/* A grayscale image img[h, w] (values clamped to [0, 1]) as an RGB24
 * surface of w x h pixels, to be painted scaled. */
cairo_surface_t *ps_explain_gray_surface (const float *img, int w, int h);

/* Paints `image` (an h x w pixel surface) into the square (x, y, size) with
 * crisp pixels, then a heatmap surface (any size, smoothly scaled) and a
 * box y0, x0, y1, x1 (inclusive pixels; NULL or negative: none) in `rgb`. */
void     ps_explain_draw_image (cairo_t *cr, cairo_surface_t *image, cairo_surface_t *heat,
                                double x, double y, double size, const gint32 *box,
                                const double rgb[3]);

/* The six "because" bars (contrast, brightness, blur, erosion, noise,
 * shift) at (x, y), `width` wide and 6 x 11 + 10 high: the similarity drop
 * for one image (`local`, filled) and over a prototype's nearest training
 * images (`global`, outlined), either may be NULL, on the scale `amax`.
 * Names and caption take the current source colour. */
void     ps_explain_draw_because (cairo_t *cr, double x, double y, double width,
                                  const float *local, const float *global, double amax);

G_END_DECLS
