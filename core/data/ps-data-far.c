/* ps-data-far.c: a far out-of-distribution set appended to an image
 * dataset (the spec option far=digits, e.g. "fashion-mnist:far=digits").
 *
 * The bundled 8x8 digits are scaled up bilinearly to the dataset's image
 * size and appended to its test split as one extra class.  Training code
 * never sees them (they are test rows); a method that holds that class out
 * (ood_classes=...,10 for Fashion-MNIST) scores them as OOD, and its
 * per-class report (auroc_<score>_c10) is the far-OOD number, next to a
 * near class such as Fashion-MNIST's shirts (c6).
 */
#define G_LOG_DOMAIN "ps-data"

#include "ps-dataset.h"

#include <math.h>
#include <string.h>

/* Bilinear resampling of img[h, w] to out[H, W] with pixel centres
 * aligned ((i + 0.5) H-units map to (i + 0.5) h / H - 0.5 input units),
 * edges clamped. */
void
ps_image_resize_bilinear (float *out, const float *img, int h, int w, int H, int W)
{
  g_return_if_fail (h > 0 && w > 0 && H > 0 && W > 0);
  for (int i = 0; i < H; i++)
    {
      double sy = CLAMP ((i + 0.5) * h / H - 0.5, 0.0, h - 1.0);
      int y0 = (int) floor (sy), y1 = MIN (y0 + 1, h - 1);
      double fy = sy - y0;
      for (int j = 0; j < W; j++)
        {
          double sx = CLAMP ((j + 0.5) * w / W - 0.5, 0.0, w - 1.0);
          int x0 = (int) floor (sx), x1 = MIN (x0 + 1, w - 1);
          double fx = sx - x0;
          double top = (1 - fx) * img[y0 * w + x0] + fx * img[y0 * w + x1];
          double bot = (1 - fx) * img[y1 * w + x0] + fx * img[y1 * w + x1];
          out[i * W + j] = (float) ((1 - fy) * top + fy * bot);
        }
    }
}

PsDataset *
ps_dataset_with_far_set (PsDataset *ds, const char *kind, GError **error)
{
  g_return_val_if_fail (ds != NULL && kind != NULL, NULL);
  if (!g_str_equal (kind, "digits"))
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                   "%s: unknown far set '%s' (the one there is: digits)", ds->name, kind);
      return NULL;
    }
  if (ds->img_c != 1 || ds->img_h < 8 || ds->img_w < 8 || ds->img_h * ds->img_w != ds->d)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                   "%s: far=digits needs single-channel images of at least 8x8 pixels", ds->name);
      return NULL;
    }
  if (!ds->has_split)
    {
      g_set_error (error, PS_ERROR, PS_ERROR_PARAM,
                   "%s: far=digits needs a dataset with its own test split", ds->name);
      return NULL;
    }
  g_autoptr (PsDataset) dg = ps_dataset_load_digits (NULL, error);
  if (dg == NULL)
    return NULL;
  const guint n = ds->n + dg->n, d = ds->d;
  g_autofree char *name = g_strdup_printf ("%s+digits", ds->name);
  PsDataset *out = ps_dataset_new (name, n, d);
  memcpy (out->x, ds->x, (gsize) ds->n * d * sizeof (float));
  memcpy (out->y, ds->y, ds->n * sizeof (gint32));
  memcpy (out->split, ds->split, ds->n);
  const guint far_class = ds->n_classes;
  for (guint i = 0; i < dg->n; i++)
    {
      ps_image_resize_bilinear (out->x + (gsize) (ds->n + i) * d, dg->x + (gsize) i * dg->d,
                                (int) dg->img_h, (int) dg->img_w, (int) ds->img_h, (int) ds->img_w);
      out->y[ds->n + i] = (gint32) far_class;
      out->split[ds->n + i] = PS_SPLIT_TEST;
    }
  out->n_classes = far_class + 1;
  out->img_c = 1;
  out->img_h = ds->img_h;
  out->img_w = ds->img_w;
  out->has_split = TRUE;
  g_free (out->source);
  out->source = g_strdup_printf ("%s with the 8x8 digits scaled to %ux%u as test class %u",
                                 ds->source ? ds->source : ds->name, ds->img_h, ds->img_w, far_class);
  g_autofree char **names = g_new0 (char *, far_class + 2);
  for (guint c = 0; c < far_class; c++)
    names[c] = ds->class_names && ds->class_names[c] ? ds->class_names[c] : NULL;
  g_autofree char **nums = g_new0 (char *, far_class + 1);
  for (guint c = 0; c < far_class; c++)
    if (names[c] == NULL)
      names[c] = nums[c] = g_strdup_printf ("%u", c);
  names[far_class] = (char *) "digit (8x8, scaled up)";
  ps_dataset_set_class_names (out, (const char *const *) names, far_class + 1);
  for (guint c = 0; c < far_class; c++)
    g_free (nums[c]);
  return out;
}
