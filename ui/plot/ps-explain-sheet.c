/* ps-explain-sheet.c: the "this looks like that" explanation sheet (see the
 * header).  Layout, top to bottom: title and verdict; the image beside its
 * points per class; column headings; one row per top prototype. */
#include "ps-explain-sheet.h"

#include <math.h>
#include <string.h>


#include "ps-base.h"
#include "ps-plot.h"

#define MARGIN 20.0
#define TEXT_MIN 290.0         /* the text column of a prototype row */
#define MAX_CLASS_BARS 12      /* more classes: the strongest, and the true one */
#define N_BECAUSE 6

static const char *const because_names[N_BECAUSE] = {
  "contrast", "brightness", "blur", "erosion", "noise", "shift",
};

static const double ink[3] = { 0.1, 0.1, 0.1 };
static const double box_rgb[3] = { 0.1, 0.85, 0.95 };

void
ps_explain_sheet_options_init (PsExplainSheetOptions *opts)
{
  memset (opts, 0, sizeof *opts);
  opts->max_prototypes = 5;
  opts->sanity = TRUE;
  opts->highlight = -1;
}

const PsArray *
ps_explain_sheet_find_array (PsExplanation *ex, const char *kind)
{
  for (guint i = 0; ex != NULL && ex->arrays != NULL && i < ex->arrays->len; i++)
    {
      PsArray *a = g_ptr_array_index (ex->arrays, i);
      if (g_str_equal (a->kind, kind))
        return a;
    }
  return NULL;
}

/* An array of `dtype` whose first dimension is at least `rows`, else NULL. */
static const PsArray *
find_rows (PsExplanation *ex, const char *kind, PsDtype dtype, gsize rows)
{
  const PsArray *a = ps_explain_sheet_find_array (ex, kind);
  if (a == NULL || a->dtype != dtype || a->ndim < 1 || a->shape[0] < rows)
    return NULL;
  return a;
}

static gsize
row_size (const PsArray *a)
{
  gsize n = 1;
  for (guint d = 1; d < a->ndim; d++)
    n *= a->shape[d];
  return n;
}

static const char *
class_name (PsDataset *ds, int c, char *buf, gsize n)
{
  if (ds != NULL && ds->class_names != NULL && c >= 0 && (guint) c < ds->n_classes
      && ds->class_names[c] != NULL)
    return ds->class_names[c];
  g_snprintf (buf, n, "%d", c);
  return buf;
}

/* ---- Images ----------------------------------------------------------- */

cairo_surface_t *
ps_explain_gray_surface (const float *img, int w, int h)
{
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, MAX (w, 1), MAX (h, 1));
  cairo_surface_flush (s);
  guint8 *data = cairo_image_surface_get_data (s);
  int stride = cairo_image_surface_get_stride (s);
  for (int r = 0; r < h; r++)
    for (int c = 0; c < w; c++)
      {
        float v = img[(gsize) r * w + c];
        guint32 g = (guint32) lrintf (255.0f * (isfinite (v) ? CLAMP (v, 0.0f, 1.0f) : 0.0f));
        ((guint32 *) (data + (gsize) r * stride))[c] = 0xff000000u | g << 16 | g << 8 | g;
      }
  cairo_surface_mark_dirty (s);
  return s;
}

/* A heatmap normalised to its own range, as an inferno overlay whose alpha
 * grows with the value (low similarity shows the image through). */
static cairo_surface_t *
heat_surface (const float *heat, int w, int h)
{
  float lo = INFINITY, hi = -INFINITY;
  for (int i = 0; i < w * h; i++)
    if (isfinite (heat[i]))
      {
        lo = MIN (lo, heat[i]);
        hi = MAX (hi, heat[i]);
      }
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, MAX (w, 1), MAX (h, 1));
  cairo_surface_flush (s);
  guint8 *data = cairo_image_surface_get_data (s);
  int stride = cairo_image_surface_get_stride (s);
  for (int r = 0; r < h; r++)
    for (int c = 0; c < w; c++)
      {
        float v = heat[(gsize) r * w + c];
        double t = hi > lo && isfinite (v) ? (v - lo) / (hi - lo) : 0.0;
        PsColor col = ps_colormap_color (PS_COLORMAP_INFERNO, 0.45 + 0.55 * t);
        col.a = 0.65 * t;
        ((guint32 *) (data + (gsize) r * stride))[c] = ps_color_to_argb32 (col);
      }
  cairo_surface_mark_dirty (s);
  return s;
}

void
ps_explain_draw_image (cairo_t *cr, cairo_surface_t *image, cairo_surface_t *heat,
                       double x, double y, double size, const gint32 *box, const double rgb[3])
{
  int w = cairo_image_surface_get_width (image), h = cairo_image_surface_get_height (image);
  double k = size / MAX (w, h);
  double ox = x + (size - w * k) / 2, oy = y + (size - h * k) / 2;

  cairo_save (cr);
  cairo_rectangle (cr, ox, oy, w * k, h * k);
  cairo_clip (cr);
  cairo_translate (cr, ox, oy);
  cairo_scale (cr, k, k);
  cairo_set_source_surface (cr, image, 0, 0);
  cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_NEAREST);
  cairo_paint (cr);
  if (heat != NULL)
    {
      int hw = cairo_image_surface_get_width (heat), hh = cairo_image_surface_get_height (heat);
      cairo_save (cr);
      cairo_scale (cr, (double) w / hw, (double) h / hh);
      cairo_set_source_surface (cr, heat, 0, 0);
      cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_BILINEAR);
      cairo_pattern_set_extend (cairo_get_source (cr), CAIRO_EXTEND_PAD);
      cairo_paint (cr);
      cairo_restore (cr);
    }
  cairo_restore (cr);
  if (box != NULL && box[0] >= 0 && box[1] >= 0)
    {
      double lw = CLAMP (size / 60, 1.5, 3.0);
      cairo_set_source_rgb (cr, rgb[0], rgb[1], rgb[2]);
      cairo_set_line_width (cr, lw);
      cairo_rectangle (cr, ox + box[1] * k + lw / 2, oy + box[0] * k + lw / 2,
                       (box[3] + 1 - box[1]) * k - lw, (box[2] + 1 - box[0]) * k - lw);
      cairo_stroke (cr);
    }
}

/* One panel of an image row array (a [.., H, W] float array) with an
 * optional heatmap row and box. */
static void
panel (cairo_t *cr, double x, double y, double s, const float *img, int H, int W,
       const float *heat, const gint32 *box)
{
  cairo_surface_t *is = ps_explain_gray_surface (img, W, H);
  cairo_surface_t *hs = heat ? heat_surface (heat, W, H) : NULL;
  ps_explain_draw_image (cr, is, hs, x, y, s, box, box_rgb);
  cairo_surface_destroy (is);
  if (hs)
    cairo_surface_destroy (hs);
}

/* ---- Text --------------------------------------------------------------- */

static void
text (cairo_t *cr, double x, double y, double size, gboolean bold, const char *s)
{
  cairo_select_font_face (cr, "Sans", CAIRO_FONT_SLANT_NORMAL,
                          bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, size);
  cairo_move_to (cr, x, y);
  cairo_show_text (cr, s);
}

static double
text_width (cairo_t *cr, double size, gboolean bold, const char *s)
{
  cairo_text_extents_t e;
  cairo_select_font_face (cr, "Sans", CAIRO_FONT_SLANT_NORMAL,
                          bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, size);
  cairo_text_extents (cr, s, &e);
  return e.x_advance;
}

/* Text wrapped at spaces into `width`; returns the lines drawn (cr NULL:
 * counts only, assuming about 0.55 em per character). */
static int
wrapped (cairo_t *cr, double x, double y, double width, double size, double leading,
         const char *s)
{
  g_auto (GStrv) words = g_strsplit (s, " ", -1);
  g_autoptr (GString) line = g_string_new (NULL);
  int lines = 0;
  for (guint i = 0; words[i] != NULL; i++)
    {
      g_autofree char *next = line->len ? g_strdup_printf ("%s %s", line->str, words[i])
                                        : g_strdup (words[i]);
      double w = cr ? text_width (cr, size, FALSE, next) : 0.55 * size * g_utf8_strlen (next, -1);
      if (w > width && line->len > 0)
        {
          if (cr)
            text (cr, x, y + lines * leading, size, FALSE, line->str);
          lines++;
          g_string_assign (line, words[i]);
        }
      else
        g_string_assign (line, next);
    }
  if (line->len > 0)
    {
      if (cr)
        text (cr, x, y + lines * leading, size, FALSE, line->str);
      lines++;
    }
  return lines;
}

/* ---- Layout --------------------------------------------------------------- */

typedef struct
{
  int H, W;                 /* image rows and columns */
  guint T;                  /* prototype rows */
  guint cells;              /* image cells per row */
  gboolean sanity;
  double s;                 /* image cell size */
  double s0;                /* input image size */
  double top;               /* y of the first prototype row */
  double row_h;
  double text_x;
  double text_lines;        /* lines of the closing sentence */
  double dy;                /* vertical shift: the title's line when there is none */
} Layout;

static void
layout (Layout *L, PsExplanation *ex, PsDataset *ds, const PsExplainSheetOptions *o,
        double width)
{
  const PsArray *image = ps_explain_sheet_find_array (ex, "image");
  if (image != NULL && image->ndim == 2)
    {
      L->H = (int) image->shape[0];
      L->W = (int) image->shape[1];
    }
  else if (ds != NULL && ds->img_h > 0)
    {
      L->H = (int) ds->img_h;
      L->W = (int) (ds->d / ds->img_h);
    }
  else
    L->H = L->W = 1;
  guint max_t = o->max_prototypes > 0 ? o->max_prototypes : 5;
  L->T = ex->evidence != NULL ? MIN (ex->evidence->len, max_t) : 0;
  gsize P = (gsize) L->H * L->W;
  L->sanity = o->sanity && find_rows (ex, "heatmaps_random_conv", PS_DTYPE_F32, L->T) != NULL
              && find_rows (ex, "heatmaps_random", PS_DTYPE_F32, L->T) != NULL
              && row_size (find_rows (ex, "heatmaps_random", PS_DTYPE_F32, L->T)) == P
              && row_size (find_rows (ex, "heatmaps_random_conv", PS_DTYPE_F32, L->T)) == P;
  /* Evidence by nearest training samples (not prototypes): one column,
   * the sample itself. */
  if (!ex->by_prototypes)
    L->sanity = FALSE;
  L->cells = !ex->by_prototypes ? 1 : L->sanity ? 4 : 2;
  gboolean because = ps_explain_sheet_find_array (ex, "because_local") != NULL || o->because_global != NULL;
  L->s = floor (CLAMP ((width - 2 * MARGIN - TEXT_MIN) / L->cells - 14, 56, 150));
  L->s0 = floor (CLAMP (width * 0.2, 100, 190));
  L->top = 70 + L->s0 + 26 + 40;
  L->dy = o->title ? 0 : -24;
  L->row_h = MAX (L->s, because ? 122 : 40) + 14;
  L->text_x = MARGIN + L->cells * (L->s + 14) + 6;
  L->text_lines = ex->text ? wrapped (NULL, 0, 0, width - 2 * MARGIN, 11, 15, ex->text) : 0;
}

double
ps_explain_sheet_get_height (PsExplanation *ex, PsDataset *ds, const PsExplainSheetOptions *opts,
                             double width)
{
  PsExplainSheetOptions defaults;
  if (opts == NULL)
    {
      ps_explain_sheet_options_init (&defaults);
      opts = &defaults;
    }
  g_return_val_if_fail (ex != NULL, 0);
  Layout L;
  layout (&L, ex, ds, opts, width);
  return ceil (L.top + L.dy + L.T * L.row_h + 12 + L.text_lines * 15 + MARGIN);
}

/* ---- Parts ----------------------------------------------------------------- */

/* The points per class as bars from zero (the predicted class coloured),
 * with the model's logit beside each: they are equal when the explanation
 * accounts for the whole decision. */
static void
draw_class_points (cairo_t *cr, PsExplanation *ex, PsDataset *ds, double x0, double y0,
                   double width, double height)
{
  const PsArray *pts = find_rows (ex, "class_points", PS_DTYPE_F32, 1);
  if (pts == NULL)
    return;
  const float *p = ps_array_data (pts, NULL);
  const guint C = (guint) pts->shape[0];
  const PsArray *lg = find_rows (ex, "logits", PS_DTYPE_F32, C);
  const float *logit = lg ? ps_array_data (lg, NULL) : NULL;

  /* Which classes: all, or the strongest and the true one. */
  g_autofree guint *show = g_new (guint, C);
  guint n = 0;
  for (guint c = 0; c < C; c++)
    show[n++] = c;
  if (C > MAX_CLASS_BARS)
    {
      for (guint i = 0; i < C; i++)
        for (guint j = i + 1; j < C; j++)
          if (p[show[j]] > p[show[i]])
            {
              guint t = show[i];
              show[i] = show[j];
              show[j] = t;
            }
      n = MAX_CLASS_BARS;
      gboolean has_true = FALSE;
      for (guint i = 0; i < n; i++)
        has_true |= (int) show[i] == ex->true_label;
      if (!has_true && ex->true_label >= 0 && (guint) ex->true_label < C)
        show[n - 1] = (guint) ex->true_label;
    }

  char buf[48];
  double name_w = 0;
  for (guint i = 0; i < n; i++)
    name_w = MAX (name_w, text_width (cr, 11, TRUE, class_name (ds, (int) show[i], buf, sizeof buf)));
  name_w = MIN (name_w, 130);
  cairo_set_source_rgb (cr, ink[0], ink[1], ink[2]);
  double num_w = 62;
  const char *head = "points per class (sum of similarity \xc3\x97 weight)";
  if (text_width (cr, 12, TRUE, head) > width - 2 * num_w - 8)
    head = "points per class";
  text (cr, x0, y0 + 10, 12, TRUE, head);
  if (logit)
    {
      text (cr, x0 + width - 2 * num_w + 4, y0 + 10, 10, FALSE, "points");
      text (cr, x0 + width - num_w + 4, y0 + 10, 10, FALSE, "logit");
    }
  double top = y0 + 20, bh = MIN (18.0, (height - 22) / MAX (n, 1u));
  double bx = x0 + name_w + 10, span = width - name_w - 10 - 2 * num_w - 8;
  float lo = 0, hi = 0;
  for (guint i = 0; i < n; i++)
    if (isfinite (p[show[i]]))
      {
        lo = MIN (lo, p[show[i]]);
        hi = MAX (hi, p[show[i]]);
      }
  double zero = bx + (hi > lo ? (0 - lo) / (hi - lo) * span : 0);
  for (guint i = 0; i < n; i++)
    {
      guint c = show[i];
      double y = top + i * bh;
      double xe = bx + (hi > lo && isfinite (p[c]) ? (p[c] - lo) / (hi - lo) * span : 0);
      gboolean pred = (int) c == ex->predicted;
      if (pred)
        cairo_set_source_rgb (cr, 0.21, 0.52, 0.89);
      else
        cairo_set_source_rgb (cr, 0.75, 0.75, 0.75);
      cairo_rectangle (cr, MIN (zero, xe), y + 2, MAX (fabs (xe - zero), 1), bh - 4);
      cairo_fill (cr);
      cairo_set_source_rgb (cr, ink[0], ink[1], ink[2]);
      g_autofree char *name = g_strdup_printf ("%s%s", class_name (ds, (int) c, buf, sizeof buf),
                                               (int) c == ex->true_label ? " \xe2\x9c\x93" : "");
      text (cr, x0, y + bh - 5, 11, pred, name);
      g_snprintf (buf, sizeof buf, "%.2f", p[c]);
      text (cr, x0 + width - 2 * num_w + 4, y + bh - 5, 11, pred, buf);
      if (logit)
        {
          g_snprintf (buf, sizeof buf, "%.2f", logit[c]);
          text (cr, x0 + width - num_w + 4, y + bh - 5, 11, FALSE, buf);
        }
    }
  cairo_set_source_rgb (cr, 0.35, 0.35, 0.35);
  cairo_set_line_width (cr, 1);
  cairo_move_to (cr, round (zero) + 0.5, top);
  cairo_line_to (cr, round (zero) + 0.5, top + n * bh);
  cairo_stroke (cr);
}

/* Six "because" bars: the drop in similarity under each change, for this
 * image (filled) and over the prototype's nearest training images
 * (outlined), on one scale `amax` shared by the sheet. */
void
ps_explain_draw_because (cairo_t *cr, double x, double y, double width, const float *local,
                         const float *global, double amax)
{
  const double name_w = 68, bh = 11;
  double span = width - name_w - 6, zero = x + name_w + span * 0.25;
  double unit = span * 0.75 / MAX (amax, 1e-6);
  /* Names and the caption in the caller's colour (dark or light theme). */
  cairo_pattern_t *ink_src = cairo_pattern_reference (cairo_get_source (cr));
  cairo_save (cr);
  for (int i = 0; i < N_BECAUSE; i++)
    {
      double yy = y + i * bh;
      cairo_set_source (cr, ink_src);
      text (cr, x, yy + bh - 2, 9, FALSE, because_names[i]);
      if (local != NULL && isfinite (local[i]))
        {
          double v = CLAMP (local[i], -amax / 3, amax);
          cairo_set_source_rgb (cr, 0.85, 0.45, 0.1);
          cairo_rectangle (cr, MIN (zero, zero + v * unit), yy + 2, MAX (fabs (v * unit), 1), bh - 4);
          cairo_fill (cr);
        }
      if (global != NULL && isfinite (global[i]))
        {
          double v = CLAMP (global[i], -amax / 3, amax);
          cairo_set_source_rgb (cr, 0.15, 0.35, 0.75);
          cairo_set_line_width (cr, 1.2);
          cairo_rectangle (cr, MIN (zero, zero + v * unit) + 0.5, yy + 1.5,
                           MAX (fabs (v * unit), 1) - 1, bh - 3);
          cairo_stroke (cr);
        }
    }
  cairo_set_source (cr, ink_src);
  text (cr, zero + 3, y + N_BECAUSE * bh + 9, 8, FALSE, "similarity drop");
  cairo_set_line_width (cr, 1);
  cairo_move_to (cr, round (zero) + 0.5, y);
  cairo_line_to (cr, round (zero) + 0.5, y + N_BECAUSE * bh);
  cairo_stroke (cr);
  cairo_restore (cr);
  cairo_pattern_destroy (ink_src);
}

void
ps_explain_sheet_draw (cairo_t *cr, double width, double height, PsExplanation *ex,
                       PsDataset *ds, const PsExplainSheetOptions *opts)
{
  PsExplainSheetOptions defaults;
  if (opts == NULL)
    {
      ps_explain_sheet_options_init (&defaults);
      opts = &defaults;
    }
  g_return_if_fail (cr != NULL && ex != NULL);
  Layout L;
  layout (&L, ex, ds, opts, width);
  const int H = L.H, W = L.W;
  const gsize P = (gsize) H * W;
  char b1[48], b2[48];

  cairo_save (cr);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_rectangle (cr, 0, 0, width, height);
  cairo_fill (cr);
  cairo_translate (cr, 0, L.dy);
  cairo_set_source_rgb (cr, ink[0], ink[1], ink[2]);
  if (opts->title)
    text (cr, MARGIN, 30, 16, TRUE, opts->title);
  g_autoptr (GString) head = g_string_new (NULL);
  g_string_printf (head, "true class %s, predicted %s (p = %.2f)",
                   class_name (ds, ex->true_label, b1, sizeof b1),
                   class_name (ds, ex->predicted, b2, sizeof b2), ex->confidence);
  if (ex->true_label >= 0 && ex->true_label != ex->predicted)
    g_string_append (head, " \xe2\x80\x94 misclassified");
  if (isfinite (ex->uncertainty))
    g_string_append_printf (head, ", explanation uncertainty %.3f", ex->uncertainty);
  if (isfinite (ex->ood_score))
    g_string_append_printf (head, ", OOD score %.3f", ex->ood_score);
  text (cr, MARGIN, 52, 12, FALSE, head->str);

  /* The image and the decision. */
  const PsArray *image = ps_explain_sheet_find_array (ex, "image");
  const float *x1 = NULL;
  if (image != NULL && image->dtype == PS_DTYPE_F32 && ps_array_n_elements (image) == P)
    x1 = ps_array_data (image, NULL);
  else if (ds != NULL && ex->sample >= 0 && (guint) ex->sample < ds->n && ds->d == P)
    x1 = ds->x + (gsize) ex->sample * ds->d;
  if (x1 != NULL)
    panel (cr, MARGIN, 70, L.s0, x1, H, W, NULL, NULL);
  cairo_set_source_rgb (cr, ink[0], ink[1], ink[2]);
  g_snprintf (b1, sizeof b1, "input image (row %d)", ex->sample);
  text (cr, MARGIN, 70 + L.s0 + 18, 11, FALSE, b1);
  double cx = MARGIN + L.s0 + 30;
  draw_class_points (cr, ex, ds, cx, 64, width - MARGIN - cx, L.s0 + 10);

  /* Column headings. */
  const PsArray *heat = find_rows (ex, "heatmaps", PS_DTYPE_F32, L.T);
  const PsArray *boxes = find_rows (ex, "boxes", PS_DTYPE_I32, L.T);
  const PsArray *simg = find_rows (ex, "source_images", PS_DTYPE_F32, L.T);
  const PsArray *sbox = find_rows (ex, "source_boxes", PS_DTYPE_I32, L.T);
  const PsArray *kinds = find_rows (ex, "prototype_kind", PS_DTYPE_I32, L.T);
  const PsArray *hrc = L.sanity ? find_rows (ex, "heatmaps_random_conv", PS_DTYPE_F32, L.T) : NULL;
  const PsArray *hrn = L.sanity ? find_rows (ex, "heatmaps_random", PS_DTYPE_F32, L.T) : NULL;
  const PsArray *bl = find_rows (ex, "because_local", PS_DTYPE_F32, L.T);
  const PsArray *sstd = find_rows (ex, "similarity_std", PS_DTYPE_F32, L.T);
  const PsArray *share = find_rows (ex, "top_share", PS_DTYPE_F32, L.T);
  if (share && row_size (share) != 1)
    share = NULL;
  const PsArray *bg = opts->because_global;
  if (heat && row_size (heat) != P)
    heat = NULL;
  if (simg && row_size (simg) != P)
    simg = NULL;
  if (bl && row_size (bl) != N_BECAUSE)
    bl = NULL;
  if (bg && (bg->dtype != PS_DTYPE_F32 || bg->ndim != 2 || bg->shape[1] != N_BECAUSE))
    bg = NULL;
  if (boxes && row_size (boxes) != 4)
    boxes = NULL;
  if (sbox && row_size (sbox) != 4)
    sbox = NULL;

  double hy = L.top - 12;
  const char *heads[4] = { ex->by_prototypes ? "this part of the image \xe2\x80\xa6" : "a near training sample", "\xe2\x80\xa6 looks like this prototype",
                           "last conv randomised", "random attribution" };
  for (guint c = 0; c < L.cells; c++)
    {
      double x = MARGIN + c * (L.s + 14);
      cairo_set_source_rgb (cr, c >= 2 ? 0.55 : ink[0], c >= 2 ? 0.25 : ink[1], c >= 2 ? 0.1 : ink[2]);
      /* Headings wider than their column break at the space nearest
       * their middle. */
      if (text_width (cr, 11, TRUE, heads[c]) > L.s + 10)
        {
          const char *h = heads[c], *best = NULL;
          gsize len = strlen (h);
          for (const char *q = strchr (h, ' '); q != NULL; q = strchr (q + 1, ' '))
            if (best == NULL || labs ((long) (q - h) - (long) len / 2) < labs ((long) (best - h) - (long) len / 2))
              best = q;
          g_autofree char *first = g_strndup (h, best ? (gsize) (best - h) : len);
          text (cr, x, hy - 13, 11, TRUE, first);
          text (cr, x, hy, 11, TRUE, best ? best + 1 : "");
        }
      else
        text (cr, x, hy, 11, TRUE, heads[c]);
    }
  cairo_set_source_rgb (cr, ink[0], ink[1], ink[2]);
  text (cr, L.text_x, hy - 13, 11, TRUE, bl || bg ? "points it adds; why it matches" : "points it adds");
  if (bl != NULL)
    {
      cairo_set_source_rgb (cr, 0.85, 0.45, 0.1);
      cairo_rectangle (cr, L.text_x, hy - 8, 9, 8);
      cairo_fill (cr);
      cairo_set_source_rgb (cr, 0.3, 0.3, 0.3);
      text (cr, L.text_x + 12, hy, 9, FALSE, "this image");
    }
  if (bg != NULL)
    {
      double gx = L.text_x + 14 + text_width (cr, 9, FALSE, "this image") + 12;
      cairo_set_source_rgb (cr, 0.15, 0.35, 0.75);
      cairo_set_line_width (cr, 1.2);
      cairo_rectangle (cr, gx + 0.5, hy - 7.5, 8, 7);
      cairo_stroke (cr);
      cairo_set_source_rgb (cr, 0.3, 0.3, 0.3);
      text (cr, gx + 12, hy, 9, FALSE, "its nearest training images");
    }

  /* Kinds are named only beside a support prototype (ST-ProtoPNet): kind 0
   * is ProtoPNet's plain prototype elsewhere. */
  gboolean any_support = FALSE;
  for (guint t = 0; kinds != NULL && t < L.T; t++)
    any_support |= ((const gint32 *) ps_array_data (kinds, NULL))[t] == 1;

  /* One scale for every "because" bar on the sheet. */
  double amax = 0;
  for (guint t = 0; t < L.T; t++)
    {
      const PsEvidence *e = &g_array_index (ex->evidence, PsEvidence, t);
      for (int i = 0; i < N_BECAUSE; i++)
        {
          if (bl)
            amax = MAX (amax, fabs (((const float *) ps_array_data (bl, NULL))[t * N_BECAUSE + i]));
          if (bg && e->index >= 0 && (gsize) e->index < bg->shape[0])
            amax = MAX (amax, fabs (((const float *) ps_array_data (bg, NULL))[(gsize) e->index * N_BECAUSE + i]));
        }
    }

  for (guint t = 0; t < L.T; t++)
    {
      const PsEvidence *e = &g_array_index (ex->evidence, PsEvidence, t);
      double y = L.top + t * L.row_h;
      if (e->index == opts->highlight)
        {
          cairo_set_source_rgb (cr, 0.93, 0.95, 1.0);
          cairo_rectangle (cr, MARGIN - 8, y - 6, width - 2 * MARGIN + 16, L.row_h - 4);
          cairo_fill (cr);
          cairo_set_source_rgb (cr, 0.2, 0.4, 0.85);
          cairo_set_line_width (cr, 2);
          cairo_rectangle (cr, MARGIN - 8, y - 6, width - 2 * MARGIN + 16, L.row_h - 4);
          cairo_stroke (cr);
        }
      const gint32 *bx = boxes ? (const gint32 *) ps_array_data (boxes, NULL) + t * 4 : NULL;
      if (heat && x1)
        panel (cr, MARGIN, y, L.s, x1, H, W, (const float *) ps_array_data (heat, NULL) + t * P, bx);
      else if (!ex->by_prototypes && ds != NULL && e->index >= 0 && (guint) e->index < ds->n && ds->d == P)
        panel (cr, MARGIN, y, L.s, ds->x + (gsize) e->index * ds->d, H, W, NULL, NULL);
      if (simg)
        panel (cr, MARGIN + (L.s + 14), y, L.s, (const float *) ps_array_data (simg, NULL) + t * P, H,
               W, NULL, sbox ? (const gint32 *) ps_array_data (sbox, NULL) + t * 4 : NULL);
      if (hrc && x1)
        panel (cr, MARGIN + 2 * (L.s + 14), y, L.s, x1, H, W,
               (const float *) ps_array_data (hrc, NULL) + t * P, NULL);
      if (hrn && x1)
        panel (cr, MARGIN + 3 * (L.s + 14), y, L.s, x1, H, W,
               (const float *) ps_array_data (hrn, NULL) + t * P, NULL);

      double tx = L.text_x, tw = width - MARGIN - tx;
      cairo_set_source_rgb (cr, ink[0], ink[1], ink[2]);
      const char *kind = "";
      if (kinds != NULL && any_support)
        kind = ((const gint32 *) ps_array_data (kinds, NULL))[t] == 1 ? " \xc2\xb7 support" : " \xc2\xb7 trivial";
      g_autofree char *l1 = g_strdup_printf ("#%u  %s %d \xc2\xb7 class %s%s", t + 1,
                                             ex->by_prototypes ? "prototype" : "training sample", e->index,
                                             class_name (ds, e->cls, b1, sizeof b1), kind);
      text (cr, tx, y + 12, 12, TRUE, l1);
      g_autofree char *sim = NULL;
      if (sstd != NULL)
        {
          const float *sd = (const float *) ps_array_data (sstd, NULL) + t * row_size (sstd);
          double m = 0;
          for (gsize i = 0; i < row_size (sstd); i++)
            m += sd[i];
          sim = g_strdup_printf ("%.2f \xc2\xb1 %.2f", e->similarity, m / row_size (sstd));
        }
      else
        sim = g_strdup_printf ("%.2f", e->similarity);
      g_autofree char *l2 = g_strdup_printf ("similarity %s \xc3\x97 weight %.2f = %+.2f points", sim,
                                             e->weight, e->evidence);
      if (share != NULL)
        {
          /* Prob-PSENN: how often this prototype was the strongest
           * evidence over the sampled prototypes. */
          g_autofree char *l3 = g_strdup_printf ("the strongest in %.0f%% of the draws",
                                                 100.0 * ((const float *) ps_array_data (share, NULL))[t]);
          cairo_set_source_rgb (cr, 0.35, 0.35, 0.35);
          text (cr, tx, y + 44, 10.5, FALSE, l3);
          cairo_set_source_rgb (cr, ink[0], ink[1], ink[2]);
        }
      text (cr, tx, y + 29, 11.5, FALSE, l2);
      const float *lv = bl ? (const float *) ps_array_data (bl, NULL) + t * N_BECAUSE : NULL;
      const float *gv = bg && e->index >= 0 && (gsize) e->index < bg->shape[0]
                        ? (const float *) ps_array_data (bg, NULL) + (gsize) e->index * N_BECAUSE : NULL;
      cairo_set_source_rgb (cr, 0.3, 0.3, 0.3);
      if (lv || gv)
        ps_explain_draw_because (cr, tx, y + (share ? 52 : 40), MIN (tw, 360), lv, gv, amax);
    }

  if (ex->text)
    {
      cairo_set_source_rgb (cr, 0.25, 0.25, 0.25);
      wrapped (cr, MARGIN, L.top + L.T * L.row_h + 12, width - 2 * MARGIN, 11, 15, ex->text);
    }
  cairo_restore (cr);
}

typedef struct
{
  PsExplanation *ex;
  PsDataset *ds;
  const PsExplainSheetOptions *opts;
} SheetPage;

static void
draw_sheet_page (cairo_t *cr, double width, double height, gpointer data)
{
  SheetPage *p = data;
  ps_explain_sheet_draw (cr, width, height, p->ex, p->ds, p->opts);
}

gboolean
ps_explain_sheet_write (const char *path, PsExplanation *ex, PsDataset *ds,
                        const PsExplainSheetOptions *opts, double scale, GError **error)
{
  g_return_val_if_fail (path != NULL && ex != NULL, FALSE);
  const double width = PS_EXPLAIN_SHEET_WIDTH;
  const double height = ps_explain_sheet_get_height (ex, ds, opts, width);
  SheetPage page = { ex, ds, opts };

  if (!(scale > 0 && scale <= 16))
    scale = 2;
  return ps_plot_write_page (path, "sheet", width, height, scale, draw_sheet_page, &page, error);
}

char *
ps_explain_sheet_points_sentence (PsExplanation *ex, PsDataset *ds, int n_prototypes, guint n_shown)
{
  g_return_val_if_fail (ex != NULL, NULL);
  const PsArray *pts = find_rows (ex, "class_points", PS_DTYPE_F32, 1);
  const PsArray *lg = find_rows (ex, "logits", PS_DTYPE_F32, 1);
  if (pts == NULL || ex->predicted < 0 || (gsize) ex->predicted >= pts->shape[0] || ex->evidence == NULL)
    return NULL;
  char b1[48];
  float total = ((const float *) ps_array_data (pts, NULL))[ex->predicted];
  guint T = MIN (ex->evidence->len, n_shown);
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "Class %s gets", class_name (ds, ex->predicted, b1, sizeof b1));
  double shown = 0;
  for (guint t = 0; t < T; t++)
    {
      const PsEvidence *e = &g_array_index (ex->evidence, PsEvidence, t);
      g_string_append_printf (s, " %+.2f", e->evidence);
      shown += e->evidence;
    }
  g_string_append_printf (s, " from the %u prototypes shown, %+.2f from the other %d: %.2f points",
                          T, total - shown, MAX (n_prototypes - (int) T, 0), total);
  if (lg != NULL && (gsize) ex->predicted < lg->shape[0])
    g_string_append_printf (s, " = logit %.2f", ((const float *) ps_array_data (lg, NULL))[ex->predicted]);
  g_string_append_printf (s, " (p = %.2f).", ex->confidence);
  return g_string_free (s, FALSE);
}
