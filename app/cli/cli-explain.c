/* cli-explain.c: `protoscope-cli explain RUN --sample N --out FILE`.
 *
 * Rebuilds the run's model from its latest checkpoint, asks the method to
 * explain one dataset row and draws an explanation sheet: the image, its
 * top prototypes ("this looks like that": the image's similarity heatmap
 * with the matching box, above the prototype's source patch on its training
 * image), each one's similarity x weight = points, and the points per
 * class.  PNG, SVG or PDF by the extension of FILE.  Without --out the
 * explanation is printed as text.
 *
 * Declaration for cli.h:
 *
 *   // Explanation sheet of one sample of a stored run (cli-explain.c;
 *   // needs the plot library, so only built with the ui option).
 *   int cli_cmd_explain  (int argc, char **argv);
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cairo.h>
#include <cairo-pdf.h>
#include <cairo-svg.h>

#include "ps-method.h"
#include "ps-plot.h"
#include "ps-store.h"

static const PsArray *
find_array (PsExplanation *ex, const char *kind)
{
  for (guint i = 0; ex->arrays && i < ex->arrays->len; i++)
    {
      PsArray *a = g_ptr_array_index (ex->arrays, i);
      if (g_str_equal (a->kind, kind))
        return a;
    }
  return NULL;
}

static const char *
class_name (PsDataset *ds, int c, char *buf, gsize n)
{
  if (ds->class_names != NULL && c >= 0 && (guint) c < ds->n_classes && ds->class_names[c])
    return ds->class_names[c];
  g_snprintf (buf, n, "%d", c);
  return buf;
}

/* Draws one grayscale image (+ optional heatmap normalised to [0, 1] and a
 * pixel box y0, x0, y1, x1) into the rectangle at (x, y) of size s x s. */
static void
draw_panel (cairo_t *cr, double x, double y, double s, const float *img, int H, int W,
            const float *heat, const gint32 *box)
{
  g_autoptr (PsFigure) fig = ps_figure_new ();
  ps_figure_set_show_axes (fig, FALSE);
  ps_figure_set_show_grid (fig, FALSE);
  ps_figure_set_show_legend (fig, FALSE);
  ps_figure_set_equal_aspect (fig, TRUE);
  ps_figure_set_x_range (fig, 0, W);
  ps_figure_set_y_range (fig, 0, H);
  g_autofree float *norm = NULL;
  if (heat != NULL)
    {
      float lo = INFINITY, hi = -INFINITY;
      for (int i = 0; i < H * W; i++)
        {
          lo = MIN (lo, heat[i]);
          hi = MAX (hi, heat[i]);
        }
      norm = g_new (float, (gsize) H * W);
      for (int i = 0; i < H * W; i++)
        norm[i] = hi > lo ? (heat[i] - lo) / (hi - lo) : 0.0f;
    }
  /* Images come in [0, 1] from the loaders; clamp anything else. */
  g_autofree float *pix = g_new (float, (gsize) H * W);
  for (int i = 0; i < H * W; i++)
    pix[i] = CLAMP (img[i], 0.0f, 1.0f);
  double b[4];
  gboolean has_box = box != NULL && box[0] >= 0;
  if (has_box)
    {
      /* Pixel rows count from the top; the data y axis points up. */
      b[0] = box[1];
      b[1] = H - (box[2] + 1);
      b[2] = box[3] + 1;
      b[3] = H - box[0];
    }
  ps_figure_add_image (fig, pix, W, H, 0, W, 0, H, norm, norm ? W : 0, norm ? H : 0, 0.55,
                       has_box ? b : NULL);
  cairo_save (cr);
  cairo_translate (cr, x, y);
  ps_figure_render (fig, cr, s, s);
  cairo_restore (cr);
}

static void
text (cairo_t *cr, double x, double y, double size, gboolean bold, const char *s)
{
  cairo_select_font_face (cr, "Sans", CAIRO_FONT_SLANT_NORMAL,
                          bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, size);
  cairo_move_to (cr, x, y);
  cairo_show_text (cr, s);
}

static void
draw_sheet (cairo_t *cr, double width, double height, PsExplanation *ex, PsDataset *ds,
            const char *title)
{
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
  text (cr, 20, 30, 16, TRUE, title);
  char b1[32], b2[32];
  g_autofree char *head = g_strdup_printf ("true class %s, predicted %s (p = %.2f)",
                                           class_name (ds, ex->true_label, b1, sizeof b1),
                                           class_name (ds, ex->predicted, b2, sizeof b2),
                                           ex->confidence);
  text (cr, 20, 52, 12, FALSE, head);

  const int H = (int) ds->img_h, W = (int) (ds->d / MAX (ds->img_h, 1u));
  const PsArray *image = find_array (ex, "image");
  const float *x1 = image ? ps_array_data (image, NULL) : ds->x + (gsize) ex->sample * ds->d;
  draw_panel (cr, 20, 70, 200, x1, H, W, NULL, NULL);
  cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
  text (cr, 20, 290, 11, FALSE, "input image");

  const PsArray *heat = find_array (ex, "heatmaps"), *boxes = find_array (ex, "boxes");
  const PsArray *simg = find_array (ex, "source_images"), *sbox = find_array (ex, "source_boxes");
  const PsArray *kinds = find_array (ex, "prototype_kind");
  guint T = MIN (ex->evidence->len, 5u);
  const double col0 = 250, cw = (width - col0 - 20) / MAX (T, 1u), s = MIN (cw - 12, 140);
  text (cr, col0, 70, 12, TRUE, "this part of the image ...");
  text (cr, col0, 70 + s + 44, 12, TRUE, "... looks like this prototype (its source patch)");
  for (guint t = 0; t < T; t++)
    {
      const PsEvidence *e = &g_array_index (ex->evidence, PsEvidence, t);
      double x = col0 + t * cw;
      if (heat != NULL)
        draw_panel (cr, x, 80, s, x1, H, W, (const float *) ps_array_data (heat, NULL) + (gsize) t * H * W,
                    boxes ? (const gint32 *) ps_array_data (boxes, NULL) + t * 4 : NULL);
      if (simg != NULL)
        draw_panel (cr, x, 80 + s + 50, s,
                    (const float *) ps_array_data (simg, NULL) + (gsize) t * H * W, H, W, NULL,
                    sbox ? (const gint32 *) ps_array_data (sbox, NULL) + t * 4 : NULL);
      cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
      const char *kind = "";
      if (kinds != NULL)
        kind = ((const gint32 *) ps_array_data (kinds, NULL))[t] == 1 ? " support" : "";
      g_autofree char *l1 = g_strdup_printf ("prototype %d%s, class %s", e->index, kind,
                                             class_name (ds, e->cls, b1, sizeof b1));
      g_autofree char *l2 = g_strdup_printf ("%.2f x %.2f = %.2f points", e->similarity,
                                             e->weight, e->evidence);
      text (cr, x, 80 + 2 * s + 68, 10, FALSE, l1);
      text (cr, x, 80 + 2 * s + 82, 10, FALSE, l2);
    }

  /* Points per class as horizontal bars; the predicted class in colour. */
  const PsArray *pts = find_array (ex, "class_points");
  if (pts != NULL)
    {
      const float *p = ps_array_data (pts, NULL);
      guint C = (guint) pts->shape[0];
      double top = 80 + 2 * s + 110, bh = MIN (16.0, (height - top - 20) / MAX (C, 1u));
      float lo = 0, hi = 0;
      for (guint c = 0; c < C; c++)
        {
          lo = MIN (lo, p[c]);
          hi = MAX (hi, p[c]);
        }
      double x0 = 160, span = width - x0 - 120;
      double zero = x0 + (hi > lo ? (0 - lo) / (hi - lo) * span : 0);
      cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
      text (cr, 20, top - 6, 12, TRUE, "points per class (sum of similarity x weight = logit)");
      for (guint c = 0; c < C; c++)
        {
          double y = top + c * bh;
          double xe = x0 + (hi > lo ? (p[c] - lo) / (hi - lo) * span : 0);
          PsColor col = ps_palette_color ((int) c);
          if ((int) c == ex->predicted)
            cairo_set_source_rgb (cr, col.r, col.g, col.b);
          else
            cairo_set_source_rgb (cr, 0.7, 0.7, 0.7);
          cairo_rectangle (cr, MIN (zero, xe), y + 2, fabs (xe - zero), bh - 4);
          cairo_fill (cr);
          cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
          text (cr, 20, y + bh - 4, 10, (int) c == ex->predicted, class_name (ds, (int) c, b1, sizeof b1));
          char v[32];
          g_snprintf (v, sizeof v, "%.2f", p[c]);
          text (cr, width - 110, y + bh - 4, 10, FALSE, v);
        }
    }
}

static gboolean
write_sheet (const char *path, PsExplanation *ex, PsDataset *ds, const char *title,
             GError **error)
{
  const double width = 1000, height = 720;
  cairo_surface_t *surface;
  g_autofree char *lower = g_ascii_strdown (path, -1);
  gboolean png = g_str_has_suffix (lower, ".png");
  if (png)
    surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, (int) width * 2, (int) height * 2);
  else if (g_str_has_suffix (lower, ".svg"))
    surface = cairo_svg_surface_create (path, width, height);
  else if (g_str_has_suffix (lower, ".pdf"))
    surface = cairo_pdf_surface_create (path, width, height);
  else
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                   "%s: the sheet is written as .png, .svg or .pdf", path);
      return FALSE;
    }
  cairo_t *cr = cairo_create (surface);
  if (png)
    cairo_scale (cr, 2, 2);
  draw_sheet (cr, width, height, ex, ds, title);
  cairo_destroy (cr);
  cairo_status_t st;
  if (png)
    st = cairo_surface_write_to_png (surface, path);
  else
    {
      cairo_surface_finish (surface);
      st = cairo_surface_status (surface);
    }
  cairo_surface_destroy (surface);
  if (st != CAIRO_STATUS_SUCCESS)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_IO, "%s: cannot write the sheet: %s", path,
                   cairo_status_to_string (st));
      return FALSE;
    }
  return TRUE;
}

int
cli_cmd_explain (int argc, char **argv)
{
  char *db = NULL, *out = NULL, *labels = NULL, *label_column = NULL;
  gint sample = -1;
  GOptionEntry entries[] = {
    { "db", 0, 0, G_OPTION_ARG_FILENAME, &db, "Run store file", "FILE" },
    { "sample", 'n', 0, G_OPTION_ARG_INT, &sample, "Dataset row to explain", "N" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Write the sheet here (.png, .svg, .pdf)", "FILE" },
    { "labels", 0, 0, G_OPTION_ARG_FILENAME, &labels, "Labels .npy for a .npy dataset", "FILE" },
    { "label-column", 0, 0, G_OPTION_ARG_STRING, &label_column, "Label column of a CSV dataset", "NAME" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("RUN - explain one sample of a stored run");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      cli_fail ("explain: %s", error->message);
      return CLI_EXIT_USAGE;
    }
  if (argc != 2 || sample < 0)
    {
      cli_fail ("explain: usage: explain RUN --sample N [--out FILE]");
      return CLI_EXIT_USAGE;
    }
  char *end = NULL;
  errno = 0;
  gint64 id = g_ascii_strtoll (argv[1], &end, 10);
  if (errno != 0 || end == argv[1] || *end != '\0')
    {
      cli_fail ("explain: RUN must be a run id, got '%s'", argv[1]);
      return CLI_EXIT_USAGE;
    }

  g_autofree char *path = cli_store_path (db);
  PsStore *store = ps_store_open (path, &error);
  if (store == NULL)
    {
      cli_fail ("%s", error->message);
      return CLI_EXIT_FAIL;
    }
  g_autoptr (PsRunInfo) info = ps_store_get_run (store, id, &error);
  gint64 ck_step = 0;
  g_autoptr (GBytes) ck = info ? ps_store_get_checkpoint (store, id, &ck_step, &error) : NULL;
  ps_store_close (store);
  if (info == NULL || ck == NULL)
    {
      cli_fail ("explain: run %" G_GINT64_FORMAT ": %s", id,
                error ? error->message : "it has no checkpoint");
      return CLI_EXIT_FAIL;
    }
  const PsMethod *method = ps_method_find (info->method);
  if (method == NULL || method->explain == NULL)
    {
      cli_fail ("explain: run %" G_GINT64_FORMAT ": method '%s' %s", id, info->method,
                method == NULL ? "is not known to this build" : "has no explanations");
      return CLI_EXIT_FAIL;
    }
  g_autoptr (PsDataset) ds = NULL;
  if (!cli_prepare_dataset (info->dataset, labels, label_column, &ds, &error))
    {
      cli_fail ("explain: run %" G_GINT64_FORMAT ": %s", id, error->message);
      return CLI_EXIT_FAIL;
    }
  if ((guint) sample >= ds->n)
    {
      cli_fail ("explain: sample %d is out of range (%s has %u rows)", sample, ds->name, ds->n);
      return CLI_EXIT_FAIL;
    }
  g_autoptr (PsParams) params = ps_method_default_params (method);
  if (info->params_json && !ps_params_load_json (params, info->params_json, &error))
    {
      cli_fail ("explain: run %" G_GINT64_FORMAT ": %s", id, error->message);
      return CLI_EXIT_FAIL;
    }
  gpointer model = method->create (method, params, ds, info->seed, &error);
  if (model == NULL || !method->load (model, ck, &error))
    {
      cli_fail ("explain: run %" G_GINT64_FORMAT ": %s", id, error->message);
      if (model)
        method->free (model);
      return CLI_EXIT_FAIL;
    }
  g_autoptr (PsExplanation) ex = method->explain (model, (guint) sample, &error);
  int rc = CLI_EXIT_OK;
  if (ex == NULL)
    {
      cli_fail ("explain: %s", error->message);
      rc = CLI_EXIT_FAIL;
    }
  else if (out != NULL)
    {
      if (ds->img_h == 0)
        {
          cli_fail ("explain: %s is not an image dataset; the sheet needs images", ds->name);
          rc = CLI_EXIT_FAIL;
        }
      else
        {
          g_autofree char *title = g_strdup_printf ("Run %" G_GINT64_FORMAT " (%s on %s, step %"
                                                    G_GINT64_FORMAT "), sample %d",
                                                    id, info->method, info->dataset, ck_step, sample);
          if (!write_sheet (out, ex, ds, title, &error))
            {
              cli_fail ("explain: %s", error->message);
              rc = CLI_EXIT_FAIL;
            }
          else
            printf ("%s\n", out);
        }
    }
  if (ex != NULL && rc == CLI_EXIT_OK)
    {
      printf ("sample %d: true %d, predicted %d (p = %.3f)\n", ex->sample, ex->true_label,
              ex->predicted, ex->confidence);
      for (guint i = 0; i < ex->evidence->len; i++)
        {
          const PsEvidence *e = &g_array_index (ex->evidence, PsEvidence, i);
          printf ("  %s %d (class %d): similarity %.3f x weight %.3f = %.3f\n",
                  ex->by_prototypes ? "prototype" : "sample", e->index, e->cls, e->similarity,
                  e->weight, e->evidence);
        }
      if (ex->text)
        printf ("%s\n", ex->text);
    }
  method->free (model);
  g_free (db);
  g_free (out);
  g_free (labels);
  g_free (label_column);
  return rc;
}
