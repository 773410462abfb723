/* ps-proto-gallery.c: prototype cards and details (see the header). */
#include "ps-proto-gallery.h"

#include <math.h>
#include <string.h>


#include "ps-base.h"
#include "ps-explain-sheet.h"
#include "ps-plot.h"

#define CARD_IMG 96.0

struct _PsProtoGallery
{
  GPtrArray *arrays;           /* PsArray refs */
  PsDataset *data;             /* or NULL */
  int K, H, W, C, topk_n;
  const gint32 *pclass, *pkind, *psrc, *pbox, *topk, *topk_box, *pruned;
  const float *pweight, *pimages, *purity, *sigma;
  const PsArray *because;
  cairo_surface_t **surf;      /* [K] */
  GHashTable *thumbs;          /* dataset row -> cairo_surface_t */
};

static const double box_rgb[3] = { 0.1, 0.85, 0.95 };

static PsArray *
find_array (GPtrArray *arrays, const char *kind, PsDtype dtype)
{
  for (guint i = 0; arrays && i < arrays->len; i++)
    {
      PsArray *a = g_ptr_array_index (arrays, i);
      if (g_str_equal (a->kind, kind))
        return a->dtype == dtype ? a : NULL;
    }
  return NULL;
}

PsProtoGallery *
ps_proto_gallery_new (GPtrArray *arrays)
{
  PsArray *imgs = find_array (arrays, "prototype_images", PS_DTYPE_F32);
  PsArray *lab = find_array (arrays, "prototype_labels", PS_DTYPE_I32);
  if (imgs == NULL || lab == NULL || imgs->ndim != 3 || imgs->shape[0] == 0
      || imgs->shape[1] == 0 || imgs->shape[2] == 0 || imgs->shape[0] != ps_array_n_elements (lab))
    return NULL;
  const gsize K = imgs->shape[0];
  const gint32 *pclass = ps_array_data (lab, NULL);
  for (gsize k = 0; k < K; k++)
    if (pclass[k] < 0)
      return NULL;

  PsProtoGallery *g = g_new0 (PsProtoGallery, 1);
  g->arrays = g_ptr_array_ref (arrays);
  g->K = (int) K;
  g->H = (int) imgs->shape[1];
  g->W = (int) imgs->shape[2];
  g->pimages = ps_array_data (imgs, NULL);
  g->pclass = pclass;
  for (gsize k = 0; k < K; k++)
    g->C = MAX (g->C, pclass[k] + 1);
  PsArray *a;
  if ((a = find_array (arrays, "prototype_kind", PS_DTYPE_I32)) && ps_array_n_elements (a) == K)
    {
      g->pkind = ps_array_data (a, NULL);
      for (gsize k = 0; k < K; k++)
        if (g->pkind[k] < 0 || g->pkind[k] > 1)
          g->pkind = NULL;
    }
  if ((a = find_array (arrays, "prototype_source", PS_DTYPE_I32)) && ps_array_n_elements (a) == K * 3)
    g->psrc = ps_array_data (a, NULL);
  if ((a = find_array (arrays, "prototype_box", PS_DTYPE_I32)) && ps_array_n_elements (a) == K * 4)
    g->pbox = ps_array_data (a, NULL);
  if ((a = find_array (arrays, "prototype_weight", PS_DTYPE_F32)) && ps_array_n_elements (a) == K)
    g->pweight = ps_array_data (a, NULL);
  if ((a = find_array (arrays, "prototype_purity", PS_DTYPE_F32)) && ps_array_n_elements (a) == K)
    g->purity = ps_array_data (a, NULL);
  if ((a = find_array (arrays, "prototype_pruned", PS_DTYPE_I32)) && ps_array_n_elements (a) == K)
    g->pruned = ps_array_data (a, NULL);
  if ((a = find_array (arrays, "prototype_sigma", PS_DTYPE_F32)) && ps_array_n_elements (a) == K)
    g->sigma = ps_array_data (a, NULL);
  if ((a = find_array (arrays, "prototype_topk", PS_DTYPE_I32)) && a->ndim == 2 && a->shape[0] == K
      && a->shape[1] > 0)
    {
      g->topk = ps_array_data (a, NULL);
      g->topk_n = (int) a->shape[1];
      /* Where in each neighbour the prototype matches, when the method
       * says: y0, x0, y1, x1 per neighbour. */
      PsArray *b = find_array (arrays, "prototype_topk_box", PS_DTYPE_I32);
      if (b != NULL && ps_array_n_elements (b) == K * g->topk_n * 4)
        g->topk_box = ps_array_data (b, NULL);
    }
  if ((a = find_array (arrays, "because_global", PS_DTYPE_F32)) && a->ndim == 2 && a->shape[0] == K
      && a->shape[1] == 6)
    g->because = a;
  g->surf = g_new (cairo_surface_t *, K);
  for (gsize k = 0; k < K; k++)
    g->surf[k] = ps_explain_gray_surface (g->pimages + k * g->H * g->W, g->W, g->H);
  g->thumbs = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) cairo_surface_destroy);
  return g;
}

void
ps_proto_gallery_free (PsProtoGallery *g)
{
  if (g == NULL)
    return;
  for (int k = 0; k < g->K; k++)
    cairo_surface_destroy (g->surf[k]);
  g_free (g->surf);
  g_hash_table_unref (g->thumbs);
  g_clear_pointer (&g->data, ps_dataset_unref);
  g_ptr_array_unref (g->arrays);
  g_free (g);
}

void
ps_proto_gallery_set_dataset (PsProtoGallery *g, PsDataset *ds)
{
  g_return_if_fail (g != NULL);
  if (ds == g->data)
    return;
  g_hash_table_remove_all (g->thumbs);
  g_clear_pointer (&g->data, ps_dataset_unref);
  if (ds != NULL && ds->d == (guint) (g->H * g->W))
    g->data = ps_dataset_ref (ds);
}

int ps_proto_gallery_get_n (PsProtoGallery *g) { return g->K; }
int ps_proto_gallery_get_n_classes (PsProtoGallery *g) { return g->C; }
const PsArray *ps_proto_gallery_get_because (PsProtoGallery *g) { return g->because; }

int
ps_proto_gallery_get_class (PsProtoGallery *g, int k)
{
  g_return_val_if_fail (k >= 0 && k < g->K, -1);
  return g->pclass[k];
}

int
ps_proto_gallery_get_kind (PsProtoGallery *g, int k)
{
  g_return_val_if_fail (k >= 0 && k < g->K, 0);
  return g->pkind ? g->pkind[k] : 0;
}

gboolean
ps_proto_gallery_has_banks (PsProtoGallery *g)
{
  for (int k = 0; g->pkind && k < g->K; k++)
    if (g->pkind[k] == 1)
      return TRUE;
  return FALSE;
}

static gboolean
pushed (PsProtoGallery *g, int k)
{
  return g->psrc == NULL || g->psrc[k * 3] >= 0;
}

int
ps_proto_gallery_get_n_pushed (PsProtoGallery *g)
{
  int n = 0;
  for (int k = 0; k < g->K; k++)
    n += pushed (g, k);
  return n;
}

const char *
ps_proto_gallery_class_name (PsProtoGallery *g, int c, char *buf, gsize n)
{
  PsDataset *ds = g->data;
  if (ds && ds->class_names && c >= 0 && (guint) c < ds->n_classes && ds->class_names[c])
    return ds->class_names[c];
  g_snprintf (buf, n, "%d", c);
  return buf;
}

GArray *
ps_proto_gallery_test_rows (GPtrArray *arrays, guint *n_misclassified)
{
  PsArray *idx = find_array (arrays, "sample_index", PS_DTYPE_I32);
  PsArray *lab = find_array (arrays, "labels", PS_DTYPE_I32);
  PsArray *pred = find_array (arrays, "predictions", PS_DTYPE_I32);
  PsArray *split = find_array (arrays, "split", PS_DTYPE_U8);
  GArray *rows = g_array_new (FALSE, FALSE, sizeof (gint32));
  *n_misclassified = 0;
  if (idx == NULL)
    return rows;
  gsize n = ps_array_n_elements (idx);
  const gint32 *ix = ps_array_data (idx, NULL);
  const gint32 *l = lab && ps_array_n_elements (lab) == n ? ps_array_data (lab, NULL) : NULL;
  const gint32 *p = pred && ps_array_n_elements (pred) == n ? ps_array_data (pred, NULL) : NULL;
  const guint8 *sp = split && ps_array_n_elements (split) == n ? ps_array_data (split, NULL) : NULL;
  g_autoptr (GArray) right = g_array_new (FALSE, FALSE, sizeof (gint32));
  for (gsize i = 0; i < n; i++)
    {
      if (sp != NULL && sp[i] != PS_SPLIT_TEST)
        continue;
      if (l && p && l[i] >= 0 && l[i] != p[i])
        g_array_append_val (rows, ix[i]);
      else
        g_array_append_val (right, ix[i]);
    }
  *n_misclassified = rows->len;
  g_array_append_vals (rows, right->data, right->len);
  return rows;
}

char *
ps_proto_gallery_summary (PsProtoGallery *g, const char *method_title)
{
  int n_support = 0, n_pushed = ps_proto_gallery_get_n_pushed (g);
  for (int k = 0; k < g->K; k++)
    n_support += ps_proto_gallery_get_kind (g, k) == 1;
  GString *s = g_string_new (NULL);
  if (method_title)
    g_string_append_printf (s, "%s \xc2\xb7 ", method_title);
  g_string_append_printf (s, "%d prototypes", g->K);
  if (n_support > 0)
    g_string_append_printf (s, " (%d trivial, %d support)", g->K - n_support, n_support);
  g_string_append_printf (s, " for %d classes", g->C);
  int n_pruned = 0;
  for (int k = 0; g->pruned != NULL && k < g->K; k++)
    n_pruned += g->pruned[k] != 0;
  if (n_pruned > 0)
    g_string_append_printf (s, " \xc2\xb7 %d pruned (struck through)", n_pruned);
  if (n_pushed < g->K)
    g_string_append (s, " \xc2\xb7 not pushed yet");
  return g_string_free (s, FALSE);
}

/* ---- Drawing ------------------------------------------------------------- */

static void draw_thumb_box (PsProtoGallery *g, cairo_t *cr, int row, double x, double y,
                            double size, const gint32 *box);

void
ps_proto_gallery_draw_thumb (PsProtoGallery *g, cairo_t *cr, int row, double x, double y,
                             double size)
{
  draw_thumb_box (g, cr, row, x, y, size, NULL);
}

/* The thumbnail of prototype k's j-th nearest training image, boxed where
 * the prototype matches it when the snapshot says. */
static void
neighbour (PsProtoGallery *g, cairo_t *cr, int k, int j, double x, double y, double size)
{
  const gint32 *box = g->topk_box ? g->topk_box + ((gsize) k * g->topk_n + j) * 4 : NULL;
  draw_thumb_box (g, cr, g->topk[(gsize) k * g->topk_n + j], x, y, size, box);
}

static void
draw_thumb_box (PsProtoGallery *g, cairo_t *cr, int row, double x, double y, double size,
                const gint32 *box)
{
  PsDataset *ds = g->data;
  cairo_surface_t *s = NULL;
  if (ds != NULL && row >= 0 && (guint) row < ds->n)
    {
      s = g_hash_table_lookup (g->thumbs, GINT_TO_POINTER (row));
      if (s == NULL)
        {
          s = ps_explain_gray_surface (ds->x + (gsize) row * ds->d, g->W, g->H);
          g_hash_table_insert (g->thumbs, GINT_TO_POINTER (row), s);
        }
    }
  if (s != NULL)
    ps_explain_draw_image (cr, s, NULL, x, y, size, box, box_rgb);
  else
    {
      cairo_set_source_rgba (cr, 0.5, 0.5, 0.5, 0.2);
      cairo_rectangle (cr, x, y, size, size);
      cairo_fill (cr);
    }
}

/* Text at baseline y, cut with an ellipsis to `width`. */
static void
text (cairo_t *cr, double x, double y, double size, gboolean bold, double width, const char *s)
{
  cairo_select_font_face (cr, "Sans", CAIRO_FONT_SLANT_NORMAL,
                          bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, size);
  g_autofree char *t = g_strdup (s);
  cairo_text_extents_t e;
  cairo_text_extents (cr, t, &e);
  glong len = g_utf8_strlen (t, -1);
  while (e.x_advance > width && len > 1)
    {
      len--;
      g_autofree char *cut = g_utf8_substring (s, 0, len);
      g_free (t);
      t = g_strconcat (cut, "\xe2\x80\xa6", NULL);
      cairo_text_extents (cr, t, &e);
    }
  cairo_move_to (cr, x, y);
  cairo_show_text (cr, t);
}

static void
source_image (PsProtoGallery *g, cairo_t *cr, int k, double x, double y, double size)
{
  ps_explain_draw_image (cr, g->surf[k], NULL, x, y, size,
                         g->pbox && pushed (g, k) ? g->pbox + k * 4 : NULL, box_rgb);
}

void
ps_proto_gallery_draw_card (PsProtoGallery *g, cairo_t *cr, int k, double w, double h,
                            gboolean selected, const double fg[3])
{
  g_return_if_fail (g != NULL && k >= 0 && k < g->K);
  cairo_save (cr);
  cairo_set_source_rgba (cr, fg[0], fg[1], fg[2], selected ? 0.10 : 0.04);
  cairo_rectangle (cr, 0.5, 0.5, w - 1, h - 1);
  cairo_fill_preserve (cr);
  if (selected)
    {
      cairo_set_source_rgb (cr, 0.21, 0.52, 0.89);
      cairo_set_line_width (cr, 2);
    }
  else
    {
      cairo_set_source_rgba (cr, fg[0], fg[1], fg[2], 0.15);
      cairo_set_line_width (cr, 1);
    }
  cairo_stroke (cr);
  PsColor c = ps_palette_color (g->pclass[k]);
  cairo_set_source_rgb (cr, c.r, c.g, c.b);
  cairo_rectangle (cr, 1, 1, w - 2, 3);
  cairo_fill (cr);

  const double x0 = floor ((w - CARD_IMG) / 2);
  source_image (g, cr, k, x0, 7, CARD_IMG);
  char buf[64];
  cairo_set_source_rgba (cr, fg[0], fg[1], fg[2], 0.9);
  g_snprintf (buf, sizeof buf, "#%d", k);
  text (cr, x0, 7 + CARD_IMG + 13, 10, TRUE, CARD_IMG, buf);
  if (g->pruned && g->pruned[k])
    text (cr, x0 + 34, 7 + CARD_IMG + 13, 10, FALSE, CARD_IMG - 34, "pruned");
  else if (g->pweight)
    {
      g_snprintf (buf, sizeof buf, "w %.2f", g->pweight[k]);
      text (cr, x0 + 34, 7 + CARD_IMG + 13, 10, FALSE, CARD_IMG - 34, buf);
    }
  double ty = 7 + CARD_IMG + 19, ts = (CARD_IMG - 4 * 1.5) / 5;
  if (g->topk == NULL)
    {
      cairo_set_source_rgba (cr, fg[0], fg[1], fg[2], 0.55);
      text (cr, x0, ty + 12, 10, FALSE, CARD_IMG, pushed (g, k) ? "no neighbours" : "not pushed yet");
    }
  for (int j = 0; g->topk && j < MIN (g->topk_n, 10); j++)
    neighbour (g, cr, k, j, x0 + (j % 5) * (ts + 1.5), ty + (j / 5) * (ts + 1.5), ts);
  if (g->pruned && g->pruned[k])
    {
      /* A pruned prototype adds nothing to any class: its card is struck
       * through. */
      cairo_set_source_rgba (cr, 0.85, 0.2, 0.2, 0.8);
      cairo_set_line_width (cr, 2);
      cairo_move_to (cr, x0, 7 + CARD_IMG);
      cairo_line_to (cr, x0 + CARD_IMG, 7);
      cairo_stroke (cr);
    }
  cairo_restore (cr);
}

void
ps_proto_gallery_draw_detail (PsProtoGallery *g, cairo_t *cr, int k, double w, double h,
                              const double fg[3])
{
  g_return_if_fail (g != NULL && k >= 0 && k < g->K);
  const double s = 110, x = 12 + s + 12, tw = w - x - 10;
  char b1[48], buf[256];
  cairo_save (cr);
  source_image (g, cr, k, 12, 10, s);
  /* Kind 0 is a plain ProtoPNet prototype unless there is a support bank. */
  const char *kind = !ps_proto_gallery_has_banks (g) ? ""
                     : g->pkind[k] == 1 ? " \xc2\xb7 support" : " \xc2\xb7 trivial";
  g_snprintf (buf, sizeof buf, "Prototype %d \xc2\xb7 class %s%s", k,
              ps_proto_gallery_class_name (g, g->pclass[k], b1, sizeof b1), kind);
  cairo_set_source_rgb (cr, fg[0], fg[1], fg[2]);
  text (cr, x, 22, 13, TRUE, tw, buf);
  g_autoptr (GString) w_txt = g_string_new (NULL);
  if (g->pruned && g->pruned[k])
    g_string_append (w_txt, "pruned (too few of its class among its nearest images) \xc2\xb7 ");
  else if (g->pweight)
    g_string_append_printf (w_txt, "weight %.2f \xc2\xb7 ", g->pweight[k]);
  if (g->purity)
    g_string_append_printf (w_txt, "purity %.2f \xc2\xb7 ", g->purity[k]);
  if (g->sigma)
    g_string_append_printf (w_txt, "\xcf\x83 %.3f \xc2\xb7 ", g->sigma[k]);
  if (g->psrc != NULL && pushed (g, k))
    g_snprintf (buf, sizeof buf, "%straining row %d, cell (%d, %d)", w_txt->str, g->psrc[k * 3],
                g->psrc[k * 3 + 1], g->psrc[k * 3 + 2]);
  else
    g_snprintf (buf, sizeof buf, "%snot pushed yet", w_txt->str);
  cairo_set_source_rgba (cr, fg[0], fg[1], fg[2], 0.7);
  text (cr, x, 40, 11, FALSE, tw, buf);
  if (g->because != NULL)
    {
      const float *gb = (const float *) ps_array_data (g->because, NULL) + (gsize) k * 6;
      double amax = 0;
      for (int i = 0; i < 6; i++)
        amax = MAX (amax, fabs (gb[i]));
      text (cr, x, 58, 10, FALSE, tw, "because (similarity drop when its images change):");
      /* The bars draw their names in grey, readable on light and dark. */
      ps_explain_draw_because (cr, x, 64, MIN (300, tw), NULL, gb, amax);
    }
  if (g->topk != NULL)
    {
      cairo_set_source_rgba (cr, fg[0], fg[1], fg[2], 0.7);
      /* Below the image and the "because" bars with their caption. */
      const double top = MAX (s + 10, 64 + 6 * 11 + 12);
      text (cr, 12, top + 14, 10, FALSE, w - 24, "nearest training images (green: its class, red: another)");
      int n = MIN (g->topk_n, 10);
      double ts = MIN (40, floor ((w - 24) / (double) n - 4));
      for (int j = 0; j < n; j++)
        {
          int row = g->topk[(gsize) k * g->topk_n + j];
          double tx = 12 + j * (ts + 4), ty = top + 20;
          neighbour (g, cr, k, j, tx, ty, ts);
          if (g->data != NULL && row >= 0 && (guint) row < g->data->n)
            {
              gboolean same = g->data->y[row] == g->pclass[k];
              cairo_set_source_rgb (cr, same ? 0.15 : 0.85, same ? 0.63 : 0.15, same ? 0.41 : 0.15);
              cairo_rectangle (cr, tx, ty + ts + 2, ts, 3);
              cairo_fill (cr);
            }
        }
    }
  cairo_restore (cr);
  (void) h;
}

/* ---- The gallery as a page ------------------------------------------------ */

#define PAGE_MARGIN 20.0
#define PAGE_LABEL 96.0
#define PAGE_GAP 6.0

/* Lays out (cr NULL: measures) every card, by kind then class, each class
 * a row of cards after its name; returns the height used. */
static double
page_layout (PsProtoGallery *g, cairo_t *cr, double width, const char *title)
{
  static const double ink[3] = { 0.1, 0.1, 0.1 };
  const double per_row = MAX (1, floor ((width - 2 * PAGE_MARGIN - PAGE_LABEL + PAGE_GAP)
                                        / (PS_PROTO_CARD_WIDTH + PAGE_GAP)));
  gboolean banks = ps_proto_gallery_has_banks (g);
  double y = PAGE_MARGIN;
  char buf[64];
  if (title != NULL)
    {
      if (cr)
        {
          cairo_set_source_rgb (cr, ink[0], ink[1], ink[2]);
          text (cr, PAGE_MARGIN, y + 16, 16, TRUE, width - 2 * PAGE_MARGIN, title);
        }
      y += 30;
    }
  for (int kind = 0; kind < (banks ? 2 : 1); kind++)
    {
      if (banks)
        {
          if (cr)
            {
              cairo_set_source_rgb (cr, ink[0], ink[1], ink[2]);
              text (cr, PAGE_MARGIN, y + 14, 13, TRUE, width, kind == 0 ? "Trivial prototypes" : "Support prototypes");
            }
          y += 24;
        }
      for (int c = 0; c < g->C; c++)
        {
          int n = 0;
          for (int k = 0; k < g->K; k++)
            {
              if (g->pclass[k] != c || (banks && g->pkind[k] != kind))
                continue;
              double x = PAGE_MARGIN + PAGE_LABEL + fmod (n, per_row) * (PS_PROTO_CARD_WIDTH + PAGE_GAP);
              double yy = y + floor (n / per_row) * (PS_PROTO_CARD_HEIGHT + PAGE_GAP);
              if (cr)
                {
                  cairo_save (cr);
                  cairo_translate (cr, x, yy);
                  ps_proto_gallery_draw_card (g, cr, k, PS_PROTO_CARD_WIDTH, PS_PROTO_CARD_HEIGHT, FALSE, ink);
                  cairo_restore (cr);
                }
              n++;
            }
          if (n == 0)
            continue;
          if (cr)
            {
              cairo_set_source_rgb (cr, ink[0], ink[1], ink[2]);
              text (cr, PAGE_MARGIN, y + 16, 12, TRUE, PAGE_LABEL - 8,
                    ps_proto_gallery_class_name (g, c, buf, sizeof buf));
            }
          y += ceil (n / per_row) * (PS_PROTO_CARD_HEIGHT + PAGE_GAP) + 4;
        }
    }
  return y + PAGE_MARGIN;
}

typedef struct
{
  PsProtoGallery *g;
  const char *title;
} GalleryPage;

static void
draw_gallery_page (cairo_t *cr, double width, double height, gpointer data)
{
  GalleryPage *p = data;
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  page_layout (p->g, cr, width, p->title);
}

gboolean
ps_proto_gallery_write (PsProtoGallery *g, const char *path, const char *title, double scale,
                        GError **error)
{
  g_return_val_if_fail (g != NULL && path != NULL, FALSE);
  /* As wide as the largest class needs, at most 1000 units. */
  int most = 1;
  gboolean banks = ps_proto_gallery_has_banks (g);
  for (int c = 0; c < g->C; c++)
    for (int kind = 0; kind < 2; kind++)
      {
        int n = 0;
        for (int k = 0; k < g->K; k++)
          n += g->pclass[k] == c && (!banks || g->pkind[k] == kind);
        most = MAX (most, n);
      }
  const double width = MIN (1000, 2 * PAGE_MARGIN + PAGE_LABEL + most * (PS_PROTO_CARD_WIDTH + PAGE_GAP));
  double height = page_layout (g, NULL, width, title);
  GalleryPage page = { g, title };
  if (!(scale > 0 && scale <= 16))
    scale = 2;
  return ps_plot_write_page (path, "gallery", width, height, scale, draw_gallery_page, &page, error);
}
